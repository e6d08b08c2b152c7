//! The inspector: verdict card (calibrated probability, verbal scale, every detector and whether
//! they agree, stability under re-encodings, warnings), file facts, metadata, and the examiner's
//! bookmark for the image.

use super::app::{verdict_color, App};
use crate::workstation::analyze::Agreement;
use crate::workstation::settings::BookmarkStatus;
use egui::{Color32, RichText};

pub fn show(app: &mut App, ui: &mut egui::Ui) {
    egui::ScrollArea::vertical().show(ui, |ui| {
        let Some(i) = app.selected else {
            ui.label("No image selected.");
            return;
        };
        verdict_card(app, i, ui);
        ui.separator();
        facts(app, i, ui);
        ui.separator();
        bookmark(app, i, ui);
    });
}

fn verdict_card(app: &App, i: usize, ui: &mut egui::Ui) {
    let e = &app.evidence[i];
    ui.heading("Verdict");
    if let Some(err) = &e.error {
        ui.label(RichText::new(err).color(Color32::RED));
        return;
    }
    let Some(a) = &e.analysis else {
        ui.horizontal(|ui| {
            ui.label("…");
            ui.label("analysing…");
        });
        return;
    };
    let Some(p) = a.primary() else { return };
    let unsure = a.unsure() == Some(true);
    ui.label(
        RichText::new(if unsure {
            format!("{} (unsure)", p.verdict.label().to_uppercase())
        } else {
            p.verdict.label().to_uppercase()
        })
        .size(22.0)
        .strong()
        .color(verdict_color(p.verdict)),
    );
    ui.label(format!(
        "Calibrated probability that the image was generated: {:.1}% ({})",
        p.probability * 100.0,
        p.detector
    ));
    ui.label(RichText::new(p.verdict.sentence()).italics());
    if unsure {
        ui.label(
            RichText::new(
                "Unsure: the decision changes under a re-encoding (see below); do not rely on it.",
            )
            .color(Color32::YELLOW),
        );
    }
    if a.facts.damage.is_some() {
        ui.label(
            RichText::new(crate::workstation::analyze::Analysis::DAMAGED_NOTE)
                .color(Color32::from_rgb(255, 120, 90)),
        );
    }
    ui.add_space(4.0);
    egui::Grid::new("detectors")
        .striped(true)
        .num_columns(4)
        .show(ui, |ui| {
            for h in ["detector", "score", "probability", "verdict"] {
                ui.strong(h);
            }
            ui.end_row();
            for r in &a.results {
                ui.label(format!("{} ({})", r.detector, r.method))
                    .on_hover_text(match &r.error_rates {
                        Some(e) => format!("Known error rates at its threshold, {e}"),
                        None => "No error rates were measured for this detector on sources outside its training data".into(),
                    });
                ui.label(format!("{:+.2} (thr {:+.2})", r.score, r.threshold));
                ui.label(format!("{:.1}%", r.probability * 100.0));
                ui.label(RichText::new(r.verdict.label()).color(verdict_color(r.verdict)));
                ui.end_row();
            }
        });
    // What the primary detector's verdict is worth on sources it never saw.
    ui.label(
        RichText::new(match &p.error_rates {
            Some(e) => format!("Known error rates of {} on unseen sources, {e}", p.detector),
            None => format!(
                "{}: no error rates measured on sources outside its training data",
                p.detector
            ),
        })
        .small()
        .weak(),
    );
    let agree_color = match a.agreement {
        Agreement::Disagree => Color32::YELLOW,
        _ => ui.visuals().text_color(),
    };
    ui.label(RichText::new(a.agreement.label()).color(agree_color));
    ui.add_space(4.0);
    ui.strong("Stability under re-encoding");
    if a.stability.is_empty() {
        ui.horizontal(|ui| {
            ui.label("…");
            ui.label("checking JPEG 90 / JPEG 75 / resize 0.5…");
        });
    } else {
        egui::Grid::new("stability").num_columns(3).show(ui, |ui| {
            for s in &a.stability {
                ui.label(&s.perturbation);
                ui.label(format!("{:.1}%", s.probability * 100.0));
                if s.flips {
                    ui.label(RichText::new("decision flips").color(Color32::YELLOW));
                } else {
                    ui.label("same decision");
                }
                ui.end_row();
            }
        });
    }
    // A copy of an earlier image in the list (the same bytes under another name) says so.
    let copy_of = app.evidence[..i]
        .iter()
        .find(|o| {
            o.analysis
                .as_ref()
                .is_some_and(|b| b.facts.sha256 == a.facts.sha256)
        })
        .map(|o| crate::workstation::copy_warning(&o.path.display().to_string()));
    let warnings: Vec<&String> = a.warnings.iter().chain(copy_of.as_ref()).collect();
    if !warnings.is_empty() {
        ui.add_space(4.0);
        ui.strong("Warnings");
        for w in warnings {
            ui.label(RichText::new(format!("• {w}")).color(Color32::from_rgb(255, 180, 90)));
        }
    }
    // The verdict as plain text; "copied" stays beside the button for a moment.
    let copied_id = egui::Id::unique("summary-copied");
    let now = ui.input(|inp| inp.time);
    ui.horizontal(|ui| {
        if ui
            .button("Copy summary")
            .on_hover_text("The verdict as plain text (file, SHA-256, every detector, re-encodings, warnings) for notes or a message")
            .clicked()
        {
            let extra: Vec<String> = copy_of.into_iter().collect();
            ui.ctx().copy_text(a.plain_summary(&extra));
            ui.ctx().data_mut(|d| d.insert_temp(copied_id, (i, now)));
        }
        if ui
            .button("Copy picture")
            .on_hover_text("The picture as the viewer shows it (the original, or the chosen overlay with the analysed region framed and its colour bar), at up to 2048 px, for a message or an article")
            .clicked()
        {
            app.copy_view(i);
        }
        let when = ui.ctx().data(|d| d.get_temp::<(usize, f64)>(copied_id));
        if let Some((_, t)) = when.filter(|(j, t)| *j == i && now - t < 2.5) {
            ui.label(RichText::new("copied to the clipboard").small());
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_secs_f64(2.5 - (now - t)));
        }
    });
    if let Some(s) = e.first_verdict_s {
        ui.label(
            RichText::new(format!("first verdict in {:.0} ms", s * 1000.0))
                .small()
                .weak(),
        );
    }
}

fn facts(app: &App, i: usize, ui: &mut egui::Ui) {
    let e = &app.evidence[i];
    ui.collapsing("File", |ui| {
        egui::Grid::new("facts").num_columns(2).show(ui, |ui| {
            ui.label("path");
            ui.label(e.path.display().to_string());
            ui.end_row();
            if let Some(a) = &e.analysis {
                let f = &a.facts;
                let rows = [
                    ("size", format!("{} bytes", f.file_size)),
                    ("type (from bytes)", f.format.clone()),
                    ("dimensions", format!("{} × {}", f.width, f.height)),
                    ("colour", f.color_type.clone()),
                    ("SHA-256", f.sha256.clone()),
                ];
                for (k, v) in rows {
                    ui.label(k);
                    ui.add(egui::Label::new(RichText::new(v).monospace()).wrap());
                    ui.end_row();
                }
                if let Some(an) = f.animation {
                    let unit = crate::animation::Animation::unit(&f.format);
                    ui.label(unit);
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!(
                                "{} {unit}; analysed: {} only",
                                an.frames,
                                an.analysed(&f.format)
                            ))
                            .color(Color32::YELLOW),
                        )
                        .wrap(),
                    );
                    ui.end_row();
                }
                if let Some(c) = &f.color_profile {
                    ui.label("colour profile");
                    let t = RichText::new(&c.note);
                    ui.add(
                        egui::Label::new(if c.needs_notice() {
                            t.color(Color32::YELLOW)
                        } else {
                            t
                        })
                        .wrap(),
                    );
                    ui.end_row();
                }
                if let Some(d) = &f.damage {
                    ui.label("compressed data");
                    ui.add(
                        egui::Label::new(
                            RichText::new(format!(
                                "DAMAGED: {d}; part of the picture may be grey or garbled"
                            ))
                            .color(Color32::from_rgb(255, 120, 90)),
                        )
                        .wrap(),
                    );
                    ui.end_row();
                }
                if let Some(m) = &f.extension_mismatch {
                    ui.label("extension");
                    ui.label(RichText::new(m).color(Color32::YELLOW));
                    ui.end_row();
                }
            }
        });
    });
    if let Some(m) = &e.metadata {
        ui.collapsing(format!("Metadata ({} fields)", m.fields.len()), |ui| {
            if let Some(d) = &m.digital_source_type {
                ui.label(RichText::new(format!("IPTC DigitalSourceType: {d}")).strong());
            }
            for (k, v) in &m.generator_text {
                ui.label(
                    RichText::new(format!("Generator text '{k}': {v}"))
                        .color(Color32::from_rgb(255, 160, 80)),
                );
            }
            if m.fields.is_empty() {
                ui.label("No EXIF, XMP or text metadata.");
            }
            egui::Grid::new("meta")
                .striped(true)
                .num_columns(3)
                .show(ui, |ui| {
                    for f in m.fields.iter().take(200) {
                        ui.label(&f.source);
                        ui.label(&f.name);
                        ui.add(egui::Label::new(&f.value).truncate());
                        ui.end_row();
                    }
                });
        });
    }
}

fn bookmark(app: &mut App, i: usize, ui: &mut egui::Ui) {
    let Some(sha) = app.evidence[i]
        .analysis
        .as_ref()
        .map(|a| a.facts.sha256.clone())
    else {
        return;
    };
    ui.strong("Examiner bookmark");
    let mut b = app.bookmarks.get(&sha).cloned().unwrap_or_default();
    let before = b.clone();
    ui.horizontal(|ui| {
        for s in BookmarkStatus::ALL {
            ui.radio_value(&mut b.status, s, s.label());
        }
    });
    let note = ui.add(
        egui::TextEdit::multiline(&mut b.note)
            .hint_text("notes for the report")
            .desired_rows(3),
    );
    if b.note != before.note {
        // Kept in memory while typing; written when the field loses focus.
        app.bookmarks.0.insert(sha.clone(), b.clone());
    }
    if b.status != before.status || note.lost_focus() {
        app.set_bookmark(i, b.status, Some(&b.note));
    }
    let keys = "keys 0-3 set it for the selected image";
    ui.label(
        RichText::new(if before.updated.is_empty() {
            keys.to_string()
        } else {
            format!("updated {} · {keys}", before.updated)
        })
        .small()
        .weak(),
    );
}
