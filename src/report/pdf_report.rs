//! The PDF form of the report: the same sections as the HTML page.

use super::pdf::{Font, Pdf, MARGIN};
use super::{CaseReport, ItemReport};
use crate::workstation::maps::colormap;
use anyhow::Result;
use image::RgbImage;

const BODY: f32 = 9.5;
const GREY: [f32; 3] = [0.35, 0.35, 0.35];
const WARN: [f32; 3] = [0.65, 0.25, 0.0];

fn jpeg(img: &RgbImage) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88).encode_image(img)?;
    Ok(out)
}

/// `pictures[k]` = (item index, [original, TAM overlay, attention overlay]).
/// The most examination-log lines the PDF prints (the latest; the sidecar and HTML hold all).
const LOG_LINES: usize = 300;

pub fn render(
    r: &CaseReport,
    pictures: &[(usize, [RgbImage; 4], Option<RgbImage>)],
) -> Result<Vec<u8>> {
    let mut p = Pdf::new(&format!("Fauxscope report {}", r.case.id));
    p.para("Forensic image report", Font::Bold, 20.0, 0.0);
    p.para_rgb(
        &format!(
            "Case {} - examiner {} - Fauxscope {} (commit {}) - {} UTC{}",
            r.case.id,
            r.case.examiner,
            r.tool.version,
            r.tool.commit,
            r.analysis_finished_utc,
            r.signed_by(" - ")
        ),
        Font::Regular,
        BODY,
        0.0,
        GREY,
    );
    p.heading("Question", 13.0);
    p.para(
        "Which of two propositions do the findings support?",
        Font::Regular,
        BODY,
        0.0,
    );
    for prop in &r.case.propositions {
        p.para(&format!("- {prop}"), Font::Regular, BODY, 10.0);
    }
    if !r.case.notes.is_empty() {
        p.para(
            &format!("Case notes: {}", r.case.notes),
            Font::Regular,
            BODY,
            0.0,
        );
    }
    p.heading("Summary", 13.0);
    let s = &r.summary;
    p.para(
        &format!(
            "{} image(s): {} with evidence of generation, {} without, {} unsure, detectors disagree on {}, C2PA present in {}, {} file(s) skipped{}.",
            s.images, s.with_evidence_of_generation, s.no_evidence, s.unsure, s.detectors_disagree, s.c2pa_present, s.skipped,
            super::not_examined_clause(s.not_examined)
        ),
        Font::Regular,
        BODY,
        0.0,
    );
    // Summary table with thumbnails.
    let thumbs: Vec<usize> = pictures
        .iter()
        .map(|(_, [o, ..], _)| {
            let t = image::imageops::thumbnail(
                o,
                (o.width() * 64 / o.width().max(o.height())).max(1),
                (o.height() * 64 / o.width().max(o.height())).max(1),
            );
            jpeg(&t).map(|j| p.add_jpeg(j, t.width(), t.height()))
        })
        .collect::<Result<_>>()?;
    for (k, it) in r.items.iter().enumerate() {
        p.need(48.0);
        let top = p.y;
        if let Some(&ti) = thumbs.get(k) {
            p.image(ti, 0.0, 36.0, 36.0);
        }
        let res = it.results.first();
        p.text_at(
            MARGIN + 46.0,
            top - 12.0,
            &format!("{}. {}", it.index, it.file.name),
            Font::Bold,
            BODY,
            [0.0; 3],
        );
        p.text_at(
            MARGIN + 46.0,
            top - 25.0,
            &format!(
                "{} - {} - {} - C2PA {}",
                res.map_or(String::new(), |r| format!(
                    "{} (p = {:.1}%)",
                    r.verdict.label(),
                    r.probability * 100.0
                )),
                it.agreement.label(),
                if it.unsure {
                    "UNSURE"
                } else {
                    "stable under re-encoding"
                },
                it.provenance.state.label()
            ),
            Font::Regular,
            BODY,
            [0.0; 3],
        );
        p.y = top - 42.0;
        if let Some(m) = &it.region_map {
            p.text_at(
                MARGIN + 46.0,
                top - 38.0,
                &format!("region map: {}", m.flagged_count()),
                Font::Regular,
                BODY,
                [0.0; 3],
            );
            p.y = top - 46.0;
        }
    }
    for sk in &r.skipped {
        p.para_rgb(
            &format!("Skipped {}: {}", sk.path, sk.error),
            Font::Regular,
            BODY,
            0.0,
            WARN,
        );
    }
    if !r.not_examined.is_empty() {
        // Every name is in the sidecar; the PDF lists the first ones.
        const LISTED: usize = 40;
        let mut names: Vec<String> = r
            .not_examined
            .iter()
            .take(LISTED)
            .map(super::NotExamined::label)
            .collect();
        if r.not_examined.len() > LISTED {
            names.push(format!(
                "and {} more (all in report.json)",
                r.not_examined.len() - LISTED
            ));
        }
        p.para(
            &format!("{}: {}.", super::NOT_EXAMINED_HEAD, names.join("; ")),
            Font::Regular,
            BODY,
            0.0,
        );
    }
    for (k, it) in r.items.iter().enumerate() {
        p.new_page();
        let pics = pictures.get(k);
        item(
            &mut p,
            it,
            pics.map(|x| &x.1),
            pics.and_then(|x| x.2.as_ref()),
        )?;
    }
    p.new_page();
    p.heading("Detectors", 13.0);
    for d in &r.detectors {
        p.para(&format!("{} ({})", d.name, d.method), Font::Bold, 11.0, 0.0);
        p.rows(
            &[
                ("source".into(), d.source.clone()),
                ("base model".into(), format!("{} ({})", d.base_model, d.base_arch)),
                ("crop".into(), d.crop.clone()),
                (
                    "training".into(),
                    format!(
                        "{} real + {} generated, on {}",
                        d.training_real, d.training_fake, d.training_device
                    ),
                ),
                (
                    "calibration".into(),
                    format!(
                        "threshold {:+.4}, temperature {:.4}, target false-positive rate {:.1}%, {} {:.1}% ({} real, {} generated)",
                        d.calibration.threshold,
                        d.calibration.temperature,
                        d.calibration.target_fpr * 100.0,
                        if d.recalibration.is_some() {
                            "on the reference photos"
                        } else {
                            "held-out"
                        },
                        d.calibration.heldout_fpr * 100.0,
                        d.calibration.heldout_real,
                        d.calibration.heldout_fake
                    ),
                ),
                (
                    "local threshold".into(),
                    d.recalibration_line(false)
                        .unwrap_or_else(|| "none (the threshold set at training)".into()),
                ),
                ("held-out".into(), d.heldout.to_string()),
                ("known error rates".into(), super::error_rates_line(d)),
                ("settings".into(), d.settings.to_string()),
                ("created".into(), d.created.clone()),
            ],
            BODY,
            90.0,
        );
        p.para("checkpoint SHA-256", Font::Bold, BODY, 0.0);
        p.mono(&d.checkpoint_sha256, 8.0, 10.0);
        p.para("base weights SHA-256", Font::Bold, BODY, 0.0);
        p.mono(&d.base_weights_sha256, 8.0, 10.0);
        p.para("training data SHA-256", Font::Bold, BODY, 0.0);
        p.mono(&d.training_data_sha256, 8.0, 10.0);
        if let Some(r) = &d.recalibration {
            p.para(
                "reference data SHA-256 (local threshold)",
                Font::Bold,
                BODY,
                0.0,
            );
            p.mono(&r.reference.data_sha256, 8.0, 10.0);
        }
        p.space(6.0);
    }
    p.heading("Environment", 13.0);
    let e = &r.environment;
    p.rows(
        &[
            (
                "tool".into(),
                format!(
                    "{} {} (commit {})",
                    r.tool.name, r.tool.version, r.tool.commit
                ),
            ),
            ("system".into(), format!("{} ({})", e.os, e.arch)),
            ("CPU".into(), format!("{} ({} cores)", e.cpu, e.cores)),
            ("device".into(), format!("{} - {}", e.device, e.backend)),
            (
                "analysis (UTC)".into(),
                format!("{} to {}", r.analysis_started_utc, r.analysis_finished_utc),
            ),
        ]
        .into_iter()
        .chain(
            e.heif_decoder
                .as_ref()
                .map(|d| ("HEIF decoder".into(), format!("{d} (the system's)"))),
        )
        .collect::<Vec<_>>(),
        BODY,
        90.0,
    );
    if !r.examination_log.is_empty() {
        p.heading("Examination log", 13.0);
        p.para_rgb(
            "What was done in the Fauxscope window before this report, oldest first (UTC), as the window and the case file recorded it.",
            Font::Regular,
            BODY,
            0.0,
            GREY,
        );
        let n = r.examination_log.len();
        for e in r.examination_log.iter().skip(n.saturating_sub(LOG_LINES)) {
            p.para(&e.line(), Font::Mono, 7.5, 0.0);
        }
        if n > LOG_LINES {
            p.para_rgb(
                &format!(
                    "The {} earlier entries are in report.json and report.html.",
                    n - LOG_LINES
                ),
                Font::Regular,
                BODY,
                0.0,
                GREY,
            );
        }
    }
    p.heading("Limitations", 13.0);
    for l in &r.limitations {
        p.para(&format!("- {l}"), Font::Regular, BODY, 10.0);
    }
    p.heading("Reproduce", 13.0);
    p.para(&r.reproduce, Font::Mono, 8.0, 0.0);
    p.para_rgb(
        &format!("The JSON sidecar report.json holds the same content and the SHA-256 of this PDF, the HTML page, the CSV and every picture. `fauxscope verify` on the report folder checks them and the evidence files' hashes. {}", r.signature_note()),
        Font::Regular,
        BODY,
        0.0,
        GREY,
    );
    Ok(p.finish())
}

fn legend(p: &mut Pdf, low: &str, high: &str) {
    p.need(16.0);
    p.y -= 14.0;
    let y = p.y;
    p.text_at(MARGIN, y + 2.0, low, Font::Regular, 8.0, GREY);
    let x0 = MARGIN + super::pdf::text_width(low, Font::Regular, 8.0) + 6.0;
    for i in 0..40 {
        p.rect(x0 + i as f32 * 3.0, y, 3.0, 8.0, colormap(i as f32 / 39.0));
    }
    p.text_at(x0 + 126.0, y + 2.0, high, Font::Regular, 8.0, GREY);
}

fn item(
    p: &mut Pdf,
    it: &ItemReport,
    pics: Option<&[RgbImage; 4]>,
    regions: Option<&RgbImage>,
) -> Result<()> {
    p.heading(&format!("{}. {}", it.index, it.file.name), 14.0);
    p.para(&it.conclusion, Font::Bold, 10.0, 0.0);
    p.space(4.0);
    let f = &it.file;
    p.rows(
        &[
            ("path".to_string(), f.path.clone()),
            ("size".into(), format!("{} bytes", f.size)),
            (
                "type".into(),
                format!("{} (detected from the bytes)", f.format),
            ),
            ("dimensions".into(), format!("{} x {}", f.width, f.height)),
        ]
        .into_iter()
        .chain(f.analysed_frame.as_ref().map(|which| {
            let unit = crate::animation::Animation::unit(&f.format);
            (
                unit.into(),
                format!("{} {unit}; analysed: {which} only", f.frames),
            )
        }))
        .chain(f.data_damage.as_ref().map(|d| {
            (
                "compressed data".into(),
                format!("DAMAGED: {d}; part of the picture may be grey or garbled"),
            )
        }))
        .chain([
            (
                "colour model".into(),
                format!("{} (as stored)", f.colour_model),
            ),
            (
                "colour profile".into(),
                f.colour_profile
                    .clone()
                    .unwrap_or_else(|| "none embedded (read as sRGB)".into()),
            ),
            (
                "re-verified".into(),
                if f.verified_unchanged {
                    "yes: both hashes match after the analysis".into()
                } else {
                    "NO: the file changed during the analysis".into()
                },
            ),
            ("analysed (UTC)".into(), it.analysed_utc.clone()),
        ])
        .collect::<Vec<(String, String)>>(),
        BODY,
        90.0,
    );
    p.para("SHA-256", Font::Bold, BODY, 0.0);
    p.mono(&f.sha256, 9.0, 10.0);
    p.para("SHA-512", Font::Bold, BODY, 0.0);
    p.mono(&f.sha512, 8.0, 10.0);
    p.heading("Results", 11.0);
    for r in &it.results {
        p.para(
            &format!(
                "{} ({}): raw score {:+.3} (threshold {:+.3}), calibrated probability {:.1}%, {}",
                r.detector,
                r.method,
                r.score,
                r.threshold,
                r.probability * 100.0,
                r.verdict.label()
            ),
            Font::Regular,
            BODY,
            10.0,
        );
    }
    p.para(it.agreement.label(), Font::Regular, BODY, 10.0);
    p.heading("Stability under re-encoding", 11.0);
    for s in &it.stability {
        p.para(
            &format!(
                "{}: {:.1}%, {} - {}",
                s.perturbation,
                s.probability * 100.0,
                s.verdict.label(),
                if s.flips {
                    "decision FLIPS"
                } else {
                    "same decision"
                }
            ),
            Font::Regular,
            BODY,
            10.0,
        );
    }
    if let Some([.., chart]) = pics {
        p.space(4.0);
        let ic = p.add_jpeg(jpeg(chart)?, chart.width(), chart.height());
        let w = p.width();
        p.image(ic, 0.0, w * 0.8, 200.0);
    }
    for w in &it.warnings {
        p.para_rgb(&format!("Warning: {w}"), Font::Regular, BODY, 0.0, WARN);
    }
    if let Some([orig, tam, att, _]) = pics {
        p.new_page();
        p.heading("Pictures", 11.0);
        let half = (p.width() - 10.0) / 2.0;
        let top = p.y;
        let io = p.add_jpeg(jpeg(orig)?, orig.width(), orig.height());
        let (_, h1) = p.image(io, 0.0, half, 230.0);
        p.y = top;
        let it_ = p.add_jpeg(jpeg(tam)?, tam.width(), tam.height());
        let (_, h2) = p.image(it_, half + 10.0, half, 230.0);
        p.y = top - h1.max(h2);
        p.para_rgb(
            &format!(
                "Left: original. Right: texture-aware mask map ({} texture score per patch over the analysed region, framed; texture-aware masking at the detector's mask ratio hides the {:.0}% most textured patches).",
                it.tam_measure,
                it.tam_ratio * 100.0
            ),
            Font::Regular,
            8.5,
            0.0,
            GREY,
        );
        legend(p, "smooth", "textured");
        p.space(8.0);
        let ia = p.add_jpeg(jpeg(att)?, att.width(), att.height());
        p.image(ia, 0.0, half, 230.0);
        p.para_rgb(
            "Attention rollout from the class token through the last layer of the primary detector.",
            Font::Regular,
            8.5,
            0.0,
            GREY,
        );
        legend(p, "low attention", "high");
        if let (Some(pic), Some(m)) = (regions, &it.region_map) {
            p.space(8.0);
            let ir = p.add_jpeg(jpeg(pic)?, pic.width(), pic.height());
            p.image(ir, 0.0, half, 230.0);
            p.para_rgb(
                &format!(
                    "Region map: {}. Each tile is scored on its own at the detector's threshold (outlined: above it); the verdict stays the detector's own, and real photos have some tiles flagged (EVALUATION.md, \"Region maps\").",
                    m.summary
                ),
                Font::Regular,
                8.5,
                0.0,
                GREY,
            );
            legend(p, "p 0", "p 1");
        }
    }
    p.heading("Provenance (C2PA Content Credentials)", 11.0);
    let pv = &it.provenance;
    let mut rows = vec![("state".to_string(), pv.state.label().to_string())];
    for (k, v) in [
        ("signer", &pv.signer),
        ("issuer", &pv.issuer),
        ("claim generator", &pv.claim_generator),
        ("signed", &pv.signing_time),
        ("error", &pv.error),
    ] {
        if let Some(v) = v {
            rows.push((k.into(), v.clone()));
        }
    }
    if !pv.digital_source_types.is_empty() {
        rows.push(("source type".into(), pv.digital_source_types.join(", ")));
    }
    rows.push((
        "trust list".into(),
        format!(
            "{} ({} certificates)",
            pv.trust_list, pv.trust_list_certificates
        ),
    ));
    p.rows(&rows, BODY, 90.0);
    for s in &pv.statuses {
        p.para(
            &format!(
                "[{}] {}{}",
                s.kind,
                s.code,
                s.explanation
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            ),
            Font::Regular,
            8.5,
            10.0,
        );
    }
    p.heading("Metadata", 11.0);
    let m = &it.metadata;
    if let Some(d) = &m.digital_source_type {
        p.para(
            &format!("IPTC DigitalSourceType: {d}"),
            Font::Bold,
            BODY,
            0.0,
        );
    }
    for (k, v) in &m.generator_text {
        p.para_rgb(
            &format!("Generator text chunk '{k}': {v}"),
            Font::Regular,
            BODY,
            0.0,
            WARN,
        );
    }
    if m.fields.is_empty() {
        p.para("No EXIF, XMP or text metadata.", Font::Regular, BODY, 0.0);
    }
    for fl in m.fields.iter().take(80) {
        p.para(
            &format!("{} {}: {}", fl.source, fl.name, fl.value),
            Font::Regular,
            8.5,
            10.0,
        );
    }
    if m.fields.len() > 80 {
        p.para(
            &format!("... {} more fields in report.json", m.fields.len() - 80),
            Font::Regular,
            8.5,
            10.0,
        );
    }
    if let Some(b) = &it.bookmark {
        p.heading("Examiner's note", 11.0);
        p.para(
            &format!("{} ({}): {}", b.status.label(), b.updated, b.note),
            Font::Regular,
            BODY,
            0.0,
        );
    }
    Ok(())
}
