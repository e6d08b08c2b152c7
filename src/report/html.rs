//! The HTML report: one self-describing page (pictures beside it in `images/`).

use super::{CaseReport, ItemReport};
use crate::workstation::maps::colormap;

pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn legend(low: &str, high: &str) -> String {
    let stops: Vec<String> = (0..=4)
        .map(|i| {
            let [r, g, b] = colormap(i as f32 / 4.0);
            format!("rgb({r},{g},{b})")
        })
        .collect();
    format!(
        "<div class=legend><span>{}</span><span class=bar style=\"background:linear-gradient(to right,{})\"></span><span>{}</span></div>",
        esc(low),
        stops.join(","),
        esc(high)
    )
}

fn table(rows: &[(&str, String)]) -> String {
    let mut s = String::from("<table class=kv>");
    for (k, v) in rows {
        s.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(v)));
    }
    s.push_str("</table>");
    s
}

pub fn render(r: &CaseReport) -> String {
    let mut h = String::new();
    h.push_str(&format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Fauxscope report {}</title><style>{CSS}</style></head><body>",
        esc(&r.case.id)
    ));
    h.push_str(&format!(
        "<h1>Forensic image report</h1><p class=sub>Case {} · examiner {} · Fauxscope {} ({}) · {}{}</p>",
        esc(&r.case.id),
        esc(&r.case.examiner),
        esc(&r.tool.version),
        esc(&r.tool.commit),
        esc(&r.analysis_finished_utc),
        esc(&r.signed_by(" · "))
    ));
    h.push_str("<h2>Question</h2><p>Which of two propositions do the findings support?</p><ul>");
    for p in &r.case.propositions {
        h.push_str(&format!("<li>{}</li>", esc(p)));
    }
    h.push_str("</ul>");
    if !r.case.notes.is_empty() {
        h.push_str(&format!("<p><b>Case notes:</b> {}</p>", esc(&r.case.notes)));
    }
    // Summary table.
    h.push_str(&format!(
        "<h2>Summary</h2><p>{} image(s): {} with evidence of generation, {} without, {} unsure, detectors disagree on {}, C2PA present in {}, {} file(s) skipped{}.</p>",
        r.summary.images,
        r.summary.with_evidence_of_generation,
        r.summary.no_evidence,
        r.summary.unsure,
        r.summary.detectors_disagree,
        r.summary.c2pa_present,
        r.summary.skipped,
        super::not_examined_clause(r.summary.not_examined)
    ));
    // With region maps, a column of how many tiles each image had flagged.
    let regions = r.items.iter().any(|it| it.region_map.is_some());
    h.push_str("<table class=grid><tr><th>#</th><th>image</th><th>file</th><th>verdict</th><th>probability</th><th>agreement</th><th>stability</th><th>C2PA</th>");
    if regions {
        h.push_str("<th>regions</th>");
    }
    h.push_str("</tr>");
    for it in &r.items {
        let p = it.results.first();
        h.push_str(&format!(
            "<tr><td>{}</td><td><img class=thumb src=\"{}\" alt=\"\"></td><td><a href=\"#item{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            it.index,
            esc(&it.images.original),
            it.index,
            esc(&it.file.name),
            p.map_or(String::new(), |p| esc(p.verdict.label())),
            p.map_or(String::new(), |p| format!("{:.1}%", p.probability * 100.0)),
            esc(it.agreement.label()),
            if it.unsure { "UNSURE" } else { "stable" },
            esc(it.provenance.state.label())
        ));
        if regions {
            h.push_str(&format!(
                "<td>{}</td>",
                it.region_map
                    .as_ref()
                    .map_or(String::new(), |m| m.flagged_count())
            ));
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    for s in &r.skipped {
        h.push_str(&format!(
            "<p class=warn>Skipped {}: {}</p>",
            esc(&s.path),
            esc(&s.error)
        ));
    }
    if !r.not_examined.is_empty() {
        h.push_str(&format!("<p>{}:</p><ul>", super::NOT_EXAMINED_HEAD));
        for n in &r.not_examined {
            h.push_str(&format!("<li>{}</li>", esc(&n.label())));
        }
        h.push_str("</ul>");
    }
    for it in &r.items {
        item(&mut h, it);
    }
    // Detectors and environment.
    h.push_str("<h2>Detectors</h2>");
    for d in &r.detectors {
        h.push_str(&format!("<h3>{} ({})</h3>", esc(&d.name), esc(&d.method)));
        h.push_str(&table(&[
            ("source", d.source.clone()),
            ("checkpoint SHA-256", d.checkpoint_sha256.clone()),
            ("base model", format!("{} ({}), weights SHA-256 {}", d.base_model, d.base_arch, d.base_weights_sha256)),
            ("crop", d.crop.clone()),
            ("settings", d.settings.to_string()),
            ("training data", format!("{} real + {} generated, data SHA-256 {}, on {}", d.training_real, d.training_fake, d.training_data_sha256, d.training_device)),
            ("calibration", format!("threshold {:+.4}, temperature {:.4}, target false-positive rate {:.1}%, {} {:.1}% ({} real, {} generated)", d.calibration.threshold, d.calibration.temperature, d.calibration.target_fpr * 100.0, if d.recalibration.is_some() { "on the reference photos" } else { "held-out" }, d.calibration.heldout_fpr * 100.0, d.calibration.heldout_real, d.calibration.heldout_fake)),
            ("local threshold", d.recalibration_line(true).unwrap_or_else(|| "none (the threshold set at training)".into())),
            ("held-out figures", d.heldout.to_string()),
            ("known error rates", super::error_rates_line(d)),
            ("created", d.created.clone()),
        ]));
    }
    h.push_str("<h2>Environment</h2>");
    let e = &r.environment;
    h.push_str(&table(
        &[
            (
                "tool",
                format!(
                    "{} {} (commit {})",
                    r.tool.name, r.tool.version, r.tool.commit
                ),
            ),
            (
                "system",
                format!("{} ({}), {} ({} cores)", e.os, e.arch, e.cpu, e.cores),
            ),
            ("device", format!("{} — {}", e.device, e.backend)),
            (
                "analysis",
                format!(
                    "{} to {} (UTC)",
                    r.analysis_started_utc, r.analysis_finished_utc
                ),
            ),
        ]
        .into_iter()
        .chain(
            e.heif_decoder
                .as_ref()
                .map(|d| ("HEIF decoder", format!("{d} (the system's)"))),
        )
        .collect::<Vec<_>>(),
    ));
    if !r.examination_log.is_empty() {
        h.push_str("<h2>Examination log</h2><p class=sub>What was done in the Fauxscope window before this report, oldest first (UTC), as the window and the case file recorded it.</p><table><tr><th>UTC</th><th>action</th><th>detail</th></tr>");
        for e in &r.examination_log {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&e.utc),
                esc(e.action.label()),
                esc(&e.detail)
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Limitations</h2><ul>");
    for l in &r.limitations {
        h.push_str(&format!("<li>{}</li>", esc(l)));
    }
    h.push_str("</ul>");
    h.push_str(&format!(
        "<h2>Reproduce</h2><pre>{}</pre><p class=sub>The JSON sidecar report.json holds the same content and the SHA-256 of this page, the PDF, the CSV and every picture. <code>fauxscope verify</code> on the report folder checks them and the evidence files&#39; hashes. {}</p></body></html>",
        esc(&r.reproduce),
        esc(&r.signature_note())
    ));
    h
}

fn item(h: &mut String, it: &ItemReport) {
    h.push_str(&format!(
        "<h2 id=item{}>{}. {}</h2>",
        it.index,
        it.index,
        esc(&it.file.name)
    ));
    h.push_str(&format!("<p class=conclusion>{}</p>", esc(&it.conclusion)));
    let f = &it.file;
    let mut rows = vec![
        ("path", f.path.clone()),
        ("size", format!("{} bytes", f.size)),
        ("type (from the bytes)", f.format.clone()),
        ("dimensions", format!("{} × {}", f.width, f.height)),
    ];
    if let Some(which) = &f.analysed_frame {
        let unit = crate::animation::Animation::unit(&f.format);
        rows.push((unit, format!("{} {unit}; analysed: {which} only", f.frames)));
    }
    if let Some(d) = &f.data_damage {
        rows.push((
            "compressed data",
            format!("DAMAGED: {d}; part of the picture may be grey or garbled"),
        ));
    }
    rows.extend([
        ("colour model (as stored)", f.colour_model.clone()),
        (
            "colour profile",
            f.colour_profile
                .clone()
                .unwrap_or_else(|| "none embedded (read as sRGB)".into()),
        ),
        ("SHA-256", f.sha256.clone()),
        ("SHA-512", f.sha512.clone()),
        (
            "re-verified after analysis",
            if f.verified_unchanged {
                "yes, unchanged".into()
            } else {
                "NO: the file changed".into()
            },
        ),
        ("analysed (UTC)", it.analysed_utc.clone()),
    ]);
    h.push_str(&table(&rows));
    h.push_str("<h3>Results</h3><table class=grid><tr><th>detector</th><th>raw score</th><th>threshold</th><th>calibrated probability</th><th>verdict</th></tr>");
    for r in &it.results {
        h.push_str(&format!(
            "<tr><td>{} ({})</td><td>{:+.3}</td><td>{:+.3}</td><td>{:.1}%</td><td>{}</td></tr>",
            esc(&r.detector),
            esc(&r.method),
            r.score,
            r.threshold,
            r.probability * 100.0,
            esc(r.verdict.label())
        ));
    }
    h.push_str(&format!("</table><p>{}</p>", esc(it.agreement.label())));
    h.push_str("<h3>Stability under re-encoding</h3><table class=grid><tr><th>re-encoding</th><th>probability</th><th>verdict</th><th>decision</th></tr>");
    for s in &it.stability {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td></tr>",
            esc(&s.perturbation),
            s.probability * 100.0,
            esc(s.verdict.label()),
            if s.flips { "FLIPS" } else { "same" }
        ));
    }
    h.push_str("</table>");
    h.push_str(&format!(
        "<img class=chart src=\"{}\" alt=\"probability chart\">",
        esc(&it.images.chart)
    ));
    for w in &it.warnings {
        h.push_str(&format!("<p class=warn>⚠ {}</p>", esc(w)));
    }
    h.push_str("<h3>Pictures</h3><div class=pics>");
    h.push_str(&format!(
        "<figure><img src=\"{}\" alt=\"original\"><figcaption>Original (analysed region(s) are framed in the maps)</figcaption></figure>",
        esc(&it.images.original)
    ));
    h.push_str(&format!(
        "<figure><img src=\"{}\" alt=\"TAM map\"><figcaption>Texture-aware mask map: {} texture score per patch; texture-aware masking at the detector's mask ratio hides the {:.0}% most textured patches.{}</figcaption></figure>",
        esc(&it.images.tam),
        esc(&it.tam_measure),
        it.tam_ratio * 100.0,
        legend("smooth", "textured")
    ));
    h.push_str(&format!(
        "<figure><img src=\"{}\" alt=\"attention\"><figcaption>Attention rollout from the class token through the last layer of the primary detector.{}</figcaption></figure></div>",
        esc(&it.images.attention),
        legend("low attention", "high")
    ));
    if let (Some(src), Some(m)) = (&it.images.regions, &it.region_map) {
        h.truncate(h.len() - "</div>".len());
        h.push_str(&format!(
            "<figure><img src=\"{}\" alt=\"region map\"><figcaption>Region map: {}. Each tile is scored on its own at the detector's threshold (outlined: above it); the verdict stays the detector's own, and real photos have some tiles flagged.{}</figcaption></figure></div>",
            esc(src),
            esc(&m.summary),
            legend("p 0", "p 1")
        ));
    }
    h.push_str("<h3>Provenance (C2PA)</h3>");
    let p = &it.provenance;
    let mut rows = vec![("state", p.state.label().to_string())];
    if let Some(s) = &p.signer {
        rows.push(("signer", s.clone()));
    }
    if let Some(s) = &p.issuer {
        rows.push(("issuer", s.clone()));
    }
    if let Some(s) = &p.claim_generator {
        rows.push(("claim generator", s.clone()));
    }
    if let Some(s) = &p.signing_time {
        rows.push(("signed", s.clone()));
    }
    if !p.digital_source_types.is_empty() {
        rows.push(("digitalSourceType", p.digital_source_types.join(", ")));
    }
    if let Some(e) = &p.error {
        rows.push(("error", e.clone()));
    }
    rows.push((
        "trust list",
        format!(
            "{} ({} certificates, SHA-256 {})",
            p.trust_list, p.trust_list_certificates, p.trust_list_sha256
        ),
    ));
    h.push_str(&table(&rows));
    if !p.statuses.is_empty() {
        h.push_str(
            "<table class=grid><tr><th>kind</th><th>status code</th><th>explanation</th></tr>",
        );
        for s in &p.statuses {
            h.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                esc(&s.kind),
                esc(&s.code),
                esc(s.explanation.as_deref().unwrap_or(""))
            ));
        }
        h.push_str("</table>");
    }
    h.push_str("<h3>Metadata</h3>");
    let m = &it.metadata;
    if let Some(d) = &m.digital_source_type {
        h.push_str(&format!("<p><b>IPTC DigitalSourceType:</b> {}</p>", esc(d)));
    }
    for (k, v) in &m.generator_text {
        h.push_str(&format!(
            "<p class=warn><b>Generator text chunk '{}':</b> {}</p>",
            esc(k),
            esc(v)
        ));
    }
    if m.fields.is_empty() {
        h.push_str("<p>No EXIF, XMP or text metadata.</p>");
    } else {
        h.push_str("<table class=grid><tr><th>source</th><th>field</th><th>value</th></tr>");
        for f in &m.fields {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.source),
                esc(&f.name),
                esc(&f.value)
            ));
        }
        h.push_str("</table>");
    }
    if let Some(b) = &it.bookmark {
        h.push_str(&format!(
            "<h3>Examiner's note</h3><p><b>{}</b> ({}) {}</p>",
            esc(b.status.label()),
            esc(&b.updated),
            esc(&b.note)
        ));
    }
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}.sub{color:#666}table{border-collapse:collapse;margin:.5em 0}
.kv th{text-align:left;padding:2px 12px 2px 0;vertical-align:top;white-space:nowrap}.kv td{font-family:ui-monospace,monospace;word-break:break-all}
.grid th,.grid td{border:1px solid #ccc;padding:3px 8px;text-align:left}.thumb{max-width:64px;max-height:64px}
.conclusion{font-size:1.1em;font-weight:600}.warn{color:#a04000}.pics{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;max-width:310px}figure img{max-width:310px}.chart{max-width:100%}
.legend{display:flex;align-items:center;gap:6px;font-size:.85em}.bar{display:inline-block;width:120px;height:10px}
pre{background:#f4f4f4;padding:8px;white-space:pre-wrap}";
