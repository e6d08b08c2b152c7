//! The workstation window driven headless with egui_kittest: real app state, real service thread.
#![cfg(feature = "gui")]

mod common;

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;
use fauxscope::detect::tam::MaskMode;
use fauxscope::gui::worker::TrainMethod;
use fauxscope::gui::{App, Paths};
use fauxscope::workstation::settings::{BookmarkStatus, OverlayKind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One private config/data directory for this test binary (the env is process-wide).
fn sandbox() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        std::env::set_var("FAUXSCOPE_CONFIG_DIR", d.path().join("config"));
        std::env::set_var("FAUXSCOPE_DATA_DIR", d.path().join("data"));
        d
    })
    .path()
}

fn paths(tag: &str) -> Paths {
    let d = sandbox().join(tag);
    Paths {
        settings: d.join("settings.json"),
        bookmarks: d.join("bookmarks.json"),
    }
}

/// The whole window at its default size, driven headless.
fn window(app: App) -> Harness<'static, App> {
    Harness::builder()
        .with_size([1400.0, 860.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app)
}

/// Steps the UI until `done` holds (the service thread works in the background).
fn step_until(h: &mut Harness<'_, App>, what: &str, secs: u64, done: impl Fn(&App) -> bool) {
    let t = Instant::now();
    while !done(h.state()) {
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}; status: {}; engine: {:?}",
            h.state().status,
            h.state().engine
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

/// The texts the last frame put on the clipboard.
fn copied_texts(h: &Harness<'_, App>) -> Vec<String> {
    h.output()
        .platform_output
        .commands
        .iter()
        .filter_map(|c| match c {
            egui::OutputCommand::CopyText(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

/// The picture the last frame put on the clipboard, if any.
fn copied_image(h: &Harness<'_, App>) -> Option<egui::ColorImage> {
    h.output()
        .platform_output
        .commands
        .iter()
        .find_map(|c| match c {
            egui::OutputCommand::CopyImage(i) => Some(i.clone()),
            _ => None,
        })
}

/// Whether the analysis of evidence `i` has a warning containing `text`.
fn warned(h: &Harness<'_, App>, i: usize, text: &str) -> bool {
    h.state().evidence[i]
        .analysis
        .as_ref()
        .unwrap()
        .warnings
        .iter()
        .any(|w| w.contains(text))
}

#[test]
fn open_sample_shows_verdict_and_overlays() {
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let app = App::new(paths("verdict"), None, None);
    let mut h = window(app);
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples/photo-coffee.png");
    h.state_mut().add_path(&sample);
    step_until(&mut h, "the analysis", 120, |a| {
        a.evidence.first().is_some_and(|e| e.complete)
    });
    let (label, sha) = {
        let e = &h.state().evidence[0];
        assert!(e.error.is_none(), "{:?}", e.error);
        let a = e.analysis.as_ref().unwrap();
        assert_eq!(a.results.len(), 2, "primary + comparison detector");
        assert_eq!(a.stability.len(), 3);
        assert!(!a.tam.is_empty() && !a.rollout.is_empty());
        (
            a.results[0].verdict.label().to_uppercase(),
            a.facts.sha256.clone(),
        )
    };
    // The verdict card shows the verbal scale and the file's hash.
    assert!(
        h.query_by_label_contains(&label).is_some(),
        "verdict '{label}' not shown"
    );
    h.get_by_label("File").click();
    h.step();
    assert!(
        h.query_by_label_contains(&sha).is_some(),
        "sha256 not shown"
    );
    // "Copy summary" puts the verdict on the clipboard as plain text.
    h.get_by_label("Copy summary").click_accesskit();
    h.step();
    let copied = copied_texts(&h);
    assert_eq!(copied.len(), 1, "{copied:?}");
    for part in [
        "photo-coffee.png",
        sha.as_str(),
        label.as_str(),
        "Other detectors: pin",
        "After re-encoding: jpeg:90",
        "not proof",
        "Known error rates of mpft on sources outside its training data, aigi-dev/val: ",
    ] {
        assert!(copied[0].contains(part), "{part} not in {}", copied[0]);
    }
    // The card says what the shipped default's verdict is worth on sources it never saw.
    assert!(h
        .query_by_label_contains("Known error rates of mpft on unseen sources, aigi-dev/val: ")
        .is_some());
    h.step();
    assert!(h.query_by_label("copied to the clipboard").is_some());
    // "Copy picture" puts the view on the clipboard: the picture with the TAM overlay and the
    // colour bar below it, made from the file on a helper thread.
    h.get_by_label("Copy picture").click_accesskit();
    let t = Instant::now();
    let copied = loop {
        h.step();
        if let Some(i) = copied_image(&h) {
            break i;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no picture copied; notice: {:?}",
            h.state().notice
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let (w, ht) = image::image_dimensions(&sample).unwrap();
    assert_eq!(copied.size, [w as usize, ht as usize + 14]);
    assert!(
        h.state()
            .status
            .starts_with("copied photo-coffee.png with its TAM texture map"),
        "{}",
        h.state().status
    );
    // Its top-left corner is the picture's own, outside the analysed centre crop.
    let original = image::open(&sample).unwrap().into_rgb8();
    let p = original.get_pixel(0, 0);
    assert_eq!(copied.pixels[0], egui::Color32::from_rgb(p[0], p[1], p[2]));
    // The TAM overlay is on by default: one texture per analysed crop.
    assert_eq!(h.state().settings.overlay.kind, OverlayKind::Tam);
    assert_eq!(h.state().evidence[0].overlays.len(), 1);
    // Toggle to the attention overlay, then to the original.
    h.get_by_label("Attention").click();
    h.step();
    h.step();
    assert_eq!(h.state().settings.overlay.kind, OverlayKind::Attention);
    assert!(h
        .query_all_by_label_contains("rollout through layer")
        .next()
        .is_some());
    assert_eq!(h.state().evidence[0].overlays.len(), 1);
    h.get_by_label("Original").click();
    h.step();
    h.step();
    assert_eq!(h.state().settings.overlay.kind, OverlayKind::None);
    assert!(h.state().evidence[0].overlays.is_empty());
    // The overlay choice is persisted.
    let saved = std::fs::read_to_string(&h.state().paths.settings).unwrap();
    assert!(saved.contains("\"none\""), "{saved}");

    // The region map: asked for, made on the service thread, drawn and summarised.
    h.get_by_label("Regions").click();
    h.step();
    h.step();
    assert!(h.state().evidence[0].regions.is_none());
    // 600 x 400 in 224-px tiles: 3 x 2. A map being made can be stopped: the bar then offers
    // the button again (on this tiny model the map may also finish before the stop lands, and
    // is then kept).
    h.get_by_label("Read every tile (6)").click();
    h.step();
    if let Some(stop) = h.query_by_label("Stop") {
        stop.click();
        h.step();
        step_until(&mut h, "the region map to stop", 120, |a| {
            !matches!(a.evidence[0].regions, Some(None))
        });
        match &h.state().evidence[0].regions {
            None => {
                assert_eq!(h.state().status, "region map stopped");
                h.step();
                assert!(h.query_by_label("Read every tile (6)").is_some());
            }
            Some(Some(Ok(m))) => assert_eq!(m.tiles.len(), 6),
            other => panic!("after a stop: {other:?}"),
        }
        h.state_mut().evidence[0].regions = None;
        h.step();
    }
    h.get_by_label("Read every tile (6)").click();
    h.step();
    step_until(&mut h, "the region map", 120, |a| {
        matches!(a.evidence[0].regions, Some(Some(_)))
    });
    let summary = match &h.state().evidence[0].regions {
        Some(Some(Ok(m))) => {
            assert_eq!(m.tiles.len(), 6);
            assert_eq!(m.cells(600, 400).unwrap().len(), 6);
            m.summary()
        }
        other => panic!("region map failed: {other:?}"),
    };
    assert!(
        summary.contains("of 6 tiles above the threshold"),
        "{summary}"
    );
    assert!(
        h.query_by_label_contains(&summary).is_some(),
        "region summary not shown"
    );
    h.get_by_label("Original").click();
    h.step();

    // Export: the button opens the dialog; the chosen folder (the native dialog is skipped
    // here) receives the report files.
    h.get_by_label("Export report…").click();
    h.step();
    h.step();
    h.step();
    assert!(h.state().export.open);
    assert!(h
        .query_by_label_contains("Choose folder and export")
        .is_some());
    // A folder with no picture in it: nothing added, and its file is listed in the report as
    // not examined.
    let notes_dir = sandbox().join("case-notes");
    std::fs::create_dir_all(&notes_dir).unwrap();
    std::fs::write(notes_dir.join("custody.txt"), b"received 2026-12-01").unwrap();
    h.state_mut().add_path(&notes_dir);
    assert_eq!(h.state().evidence.len(), 1);
    let out = sandbox().join("export");
    {
        let app = h.state_mut();
        app.export.case_id = "GUI-1".into();
        app.export.regions = true;
        app.export_to(out.clone());
    }
    step_until(&mut h, "the report", 120, |a| a.export.result.is_some());
    match &h.state().export.result {
        Some(Ok((dir, outs))) => {
            assert_eq!(dir, &out);
            assert_eq!(outs.len(), 3);
        }
        other => panic!("export failed: {other:?}"),
    }
    let json = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert!(json.contains("GUI-1") && json.contains(&sha));
    // The region map was asked for: one per image, with its picture.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["items"][0]["region_map"]["tiles"], 6, "{}", v["items"][0]);
    assert!(out
        .join(v["items"][0]["images"]["regions"].as_str().unwrap())
        .is_file());
    assert!(v["reproduce"].as_str().unwrap().contains("--regions"));
    assert_eq!(v["summary"]["not_examined"], 1);
    assert!(v["not_examined"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("custody.txt"));
    assert!(out.join("report.pdf").is_file());

    // The written report verifies from the export dialog; a changed page is caught.
    h.step();
    h.get_by_label("Verify this report").click();
    step_until(&mut h, "the verification", 60, |a| {
        a.verify.result.is_some()
    });
    match &h.state().verify.result {
        Some(Ok(v)) => assert!(v.verified, "{}", v.text()),
        other => panic!("verification failed: {other:?}"),
    }
    h.step();
    assert!(h.query_by_label_contains("Report verified").is_some());
    let mut page = std::fs::read(out.join("report.html")).unwrap();
    page.extend_from_slice(b"<!-- edited -->");
    std::fs::write(out.join("report.html"), page).unwrap();
    h.state_mut().verify_report(out.clone());
    step_until(&mut h, "the second verification", 60, |a| {
        a.verify.result.is_some()
    });
    match &h.state().verify.result {
        Some(Ok(v)) => {
            assert!(!v.verified);
            assert!(v.text().contains("CHANGED   report.html"), "{}", v.text());
        }
        other => panic!("verification failed: {other:?}"),
    }
    h.step();
    assert!(h.query_by_label_contains("Report not verified").is_some());
}

#[test]
fn a_display_p3_photo_is_shown_converted_and_says_so() {
    use image::ImageEncoder;
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let dir = sandbox().join("p3");
    std::fs::create_dir_all(&dir).unwrap();
    let img = image::RgbImage::from_fn(96, 64, |x, y| image::Rgb([200, x as u8 * 2, y as u8 * 3]));
    let mut buf = Vec::new();
    let mut e = image::codecs::png::PngEncoder::new(&mut buf);
    e.set_icc_profile(moxcms::ColorProfile::new_display_p3().encode().unwrap())
        .unwrap();
    e.write_image(img.as_raw(), 96, 64, image::ExtendedColorType::Rgb8)
        .unwrap();
    let path = dir.join("wide-gamut.png");
    std::fs::write(&path, &buf).unwrap();

    let app = App::new(paths("p3"), None, None);
    let mut h = window(app);
    h.state_mut().add_path(&path);
    step_until(&mut h, "the analysis", 120, |a| {
        a.evidence.first().is_some_and(|e| e.complete)
    });
    let e = &h.state().evidence[0];
    assert!(e.error.is_none(), "{:?}", e.error);
    let a = e.analysis.as_ref().unwrap();
    let c = a.facts.color_profile.as_ref().expect("profile read");
    assert!(c.converted, "{c:?}");
    // The verdict card's warnings carry the conversion, and so does the File section.
    assert!(h
        .query_all_by_label_contains("converted to sRGB before the analysis")
        .next()
        .is_some());
    h.get_by_label("File").click();
    h.step();
    assert!(h.query_by_label("colour profile").is_some());

    // An unreadable file beside it: its row shows the error, drawn with glyphs the bundled
    // fonts have (the harness panics on a missing glyph, where a window would draw a box).
    let bad = dir.join("broken.jpg");
    std::fs::write(&bad, b"not a picture").unwrap();
    h.state_mut().add_path(&bad);
    step_until(&mut h, "the error", 60, |a| {
        a.evidence.get(1).is_some_and(|e| e.error.is_some())
    });
    h.step();
    h.step();
    let err = h.state().evidence[1].error.clone().unwrap();
    assert!(err.contains("broken.jpg"), "{err}");

    // A folder: its picture without an extension is added, and the notice names the file that
    // is not a picture.
    let folder = dir.join("download");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("photo_0001"), &buf).unwrap();
    std::fs::write(folder.join("notes.txt"), b"chain of custody").unwrap();
    h.state_mut().add_path(&folder);
    h.step();
    assert_eq!(h.state().evidence.len(), 3);
    assert!(h.state().evidence[2].path.ends_with("photo_0001"));
    let notice = h.state().notice.clone().unwrap_or_default();
    assert!(
        notice.starts_with("Not examined: 1 file(s)") && notice.contains("notes.txt"),
        "{notice}"
    );
    assert!(h.query_by_label_contains("Not examined").is_some());
    // The same picture by another spelling of its path is not added again.
    h.state_mut()
        .add_path(&folder.join("../download/photo_0001"));
    assert_eq!(h.state().evidence.len(), 3);
    assert_eq!(h.state().selected, Some(2));
    // It is a copy of the first image: its verdict card says so, the first one's does not.
    step_until(&mut h, "the copy's analysis", 120, |a| {
        a.evidence.get(2).is_some_and(|e| e.complete)
    });
    h.step();
    assert!(h
        .query_by_label_contains("wide-gamut.png (equal SHA-256): a copy of that file")
        .is_some());
    h.state_mut().selected = Some(0);
    h.step();
    assert!(h.query_by_label_contains("the same bytes as").is_none());

    // A JPEG with damaged compressed data: the card, the list row and the File section say so.
    let (_, bytes) = common::intact_and_damaged_jpeg();
    let damaged = dir.join("damaged.jpg");
    std::fs::write(&damaged, &bytes).unwrap();
    h.state_mut().add_path(&damaged);
    step_until(&mut h, "the damaged file's analysis", 120, |a| {
        a.evidence.get(3).is_some_and(|e| e.complete)
    });
    h.state_mut().selected = Some(3);
    h.step();
    h.step();
    assert!(h
        .query_by_label_contains("compressed data is damaged")
        .is_some());
    assert!(h.query_by_label_contains("· damaged file").is_some());
    h.state_mut().selected = Some(0);
    h.step();
    assert!(h
        .query_by_label_contains("compressed data is damaged")
        .is_none());
}

fn write_examples(dir: &Path, n: usize) -> (PathBuf, PathBuf) {
    let real = dir.join("real");
    let fake = dir.join("fake");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    for i in 0..n {
        let smooth = image::RgbImage::from_fn(40, 40, |x, y| {
            image::Rgb([(x * 6 + i as u32) as u8, (y * 6) as u8, 128])
        });
        smooth.save(real.join(format!("r{i}.png"))).unwrap();
        let noisy = image::RgbImage::from_fn(40, 40, |x, y| {
            let v = ((x * 7919 + y * 104729 + i as u32 * 31) % 251) as u8;
            image::Rgb([v, v.wrapping_mul(3), 255 - v])
        });
        noisy.save(fake.join(format!("f{i}.png"))).unwrap();
    }
    (real, fake)
}

#[test]
fn training_starts_shows_progress_and_cancels() {
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let p = paths("train");
    // The tiny random model has no shipped detector: analysis is off, training works.
    let app = App::new(p, None, Some(tiny.display().to_string()));
    let mut h = window(app);
    step_until(&mut h, "the engine", 60, |a| a.engine.ready);
    let data = sandbox().join("examples");
    let (real, fake) = write_examples(&data, 12);
    h.get_by_label("Fine-tune").click();
    h.step();
    // Each method starts with its own masking: MPFT with random masking (the recipe default,
    // decided by experiment), PiN-CLIP + TAM with texture-aware masking.
    assert_eq!(h.state().train.mpft.mask_mode, MaskMode::Random);
    for (label, mode) in [
        (TrainMethod::Pin.label(), MaskMode::Texture),
        (TrainMethod::Mpft.label(), MaskMode::Random),
    ] {
        // The combo box is labelled "Method" (its value is the selected method).
        h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Method")
            .click();
        h.step();
        h.step();
        // Open, the combo shows the selected method and the list: pick the list's entry.
        h.get_all_by_label(label).last().unwrap().click();
        h.step();
        assert_eq!(h.state().train.method.label(), label);
        assert_eq!(h.state().train.mpft.mask_mode, mode, "{label}");
    }
    {
        let t = &mut h.state_mut().train;
        t.real.push(real);
        t.fake.push(fake);
        t.name = "tiny-test".into();
        t.mpft.epochs = 500;
        t.mpft.batch_size = 4;
        // As the window does: in a child `fauxscope train-worker`.
        t.executable = Some(PathBuf::from(env!("CARGO_BIN_EXE_fauxscope")));
    }
    h.step();
    // Each chosen folder says how many pictures it holds (counted on a helper thread).
    for _ in 0..200 {
        if h.query_all_by_label("12 pictures").count() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        h.step();
    }
    assert_eq!(h.query_all_by_label("12 pictures").count(), 2);
    // "Head reads block": unticking "last" offers a block number; the tiny tower has 2 blocks.
    h.get_by_label("last").click();
    h.step();
    assert_eq!(h.state().train.mpft.head_layer, Some(9));
    h.state_mut().train.mpft.head_layer = Some(1);
    h.step();
    h.get_by_label("Start training").click();
    h.step();
    assert!(h.state().train.running());
    step_until(&mut h, "training progress", 120, |a| {
        a.train.loss.len() >= 2
    });
    assert!(h.query_by_label_contains("left").is_some(), "no ETA shown");
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the cancel", 60, |a| !a.train.running());
    let t = &h.state().train;
    assert!(t.cancelled, "the run was not marked cancelled");
    match &t.result {
        // Cancelled after an epoch: the best epoch so far is installed, and fewer epochs ran.
        Some(Ok((path, meta))) => {
            assert!(path.is_file());
            assert_eq!(meta.settings["head_layer"], 1);
            let run = meta.metrics["epochs_run"].as_u64().unwrap();
            assert!(run < 500, "ran all {run} epochs");
        }
        // Cancelled within the first epoch: nothing saved, and the error says so.
        Some(Err(e)) => assert!(e.contains("cancelled"), "{e}"),
        None => panic!("no result"),
    }
    // Frames stayed cheap while training ran in the background.
    let worst = h.state().frame_ms.iter().cloned().fold(0.0f32, f32::max);
    assert!(worst < 250.0, "a frame took {worst} ms");
}

/// The detector library sets a local threshold: known-real folders in, a recalibrated detector
/// installed, the library saying so, and "use as primary" switching to it.
#[test]
fn library_sets_a_local_threshold_and_installs_it() {
    let tiny = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let data = sandbox().join("calibrate-examples");
    let (real, fake) = write_examples(&data, 24);
    // A detector for the tiny model, trained as a user would.
    let ckpt = data.join("tiny-probe.safetensors");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_fauxscope"))
        .env("FAUXSCOPE_CACHE_DIR", sandbox().join("cache"))
        .args(["train", "--method", "probe", "--model"])
        .arg(&tiny)
        .arg("--real")
        .arg(&real)
        .arg("--fake")
        .arg(&fake)
        .arg("--out")
        .arg(&ckpt)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut app = App::new(paths("calibrate"), None, Some(tiny.display().to_string()));
    app.settings.detector = ckpt.display().to_string();
    app.configure();
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    step_until(&mut h, "the engine", 60, |a| a.engine.ready);
    h.get_by_label("Detectors").click();
    h.step();
    let button = "Set the threshold of '".to_string() + &ckpt.display().to_string() + "'";
    // Disabled until there are known-real photos.
    h.get_by_label(&button).click();
    h.step();
    assert!(!h.state().calibrate.running);
    h.state_mut().calibrate.real.push(real.clone());
    h.step();
    assert_eq!(h.state().calibrate_name(), "tiny-probe-local");
    h.get_by_label(&button).click();
    h.step();
    step_until(&mut h, "the local threshold", 60, |a| {
        a.calibrate.result.is_some()
    });
    let (name, lines) = match h.state().calibrate.result.clone().unwrap() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(name, "tiny-probe-local");
    assert!(
        lines.iter().any(|l| l.starts_with("new threshold")),
        "{lines:?}"
    );
    // The training photos were the reference: the window warns about it.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("were in the detector's training data")),
        "{lines:?}"
    );
    let installed = fauxscope::paths::detectors_dir().join("tiny-probe-local.safetensors");
    let meta = fauxscope::detect::Checkpoint::load(&installed)
        .unwrap()
        .meta;
    assert_eq!(meta.recalibration.unwrap().reference.real_count, 24);
    step_until(&mut h, "the library", 30, |a| {
        a.library.iter().any(|d| d.spec == "tiny-probe-local")
    });
    assert!(h
        .query_by_label_contains("threshold recalibrated on 24 reference real photos")
        .is_some());
    // The shipped detectors show their known error rates on unseen sources; the one made here
    // has none, and says so.
    let lib = &h.state().library;
    let local = lib.iter().find(|d| d.spec == "tiny-probe-local").unwrap();
    assert!(local.validation.is_none());
    let mpft = lib.iter().find(|d| d.spec == "mpft").unwrap();
    let v = mpft
        .validation
        .as_ref()
        .expect("the shipped default's error rates");
    assert!(h.query_all_by_label(&v.short()).next().is_some());
    assert!(h.query_all_by_label("not measured").next().is_some());
    h.get_by_label("Use 'tiny-probe-local' as the primary detector")
        .click();
    h.step();
    assert_eq!(h.state().settings.detector, "tiny-probe-local");
    // Removed from the library (asked, then confirmed): its file is moved aside, not deleted,
    // and the shipped default is the primary again. Shipped detectors offer no removal.
    h.get_by_label("Detectors").click();
    for _ in 0..5 {
        h.step();
    }
    h.get_by_label("remove…").click_accesskit();
    h.step();
    h.step();
    assert!(installed.is_file(), "removed before the confirmation");
    h.get_by_label("Keep").click();
    h.step();
    assert!(installed.is_file() && h.state().removing.is_none());
    h.get_by_label("remove…").click_accesskit();
    h.step();
    h.step();
    h.get_by_label("Remove").click();
    h.step();
    assert!(!installed.exists());
    let removed: Vec<PathBuf> =
        std::fs::read_dir(fauxscope::paths::detectors_dir().join("removed"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
    assert_eq!(removed.len(), 1, "{removed:?}");
    assert!(removed[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("tiny-probe-local-"));
    assert_eq!(h.state().settings.detector, "default");
    assert!(!h
        .state()
        .library
        .iter()
        .any(|d| d.spec == "tiny-probe-local"));
    h.step();
    assert!(h.query_by_label("remove…").is_none());
    assert!(h
        .query_by_label_contains("'tiny-probe-local' removed")
        .is_some());
}

/// The evidence list for many images: the counts line, sorting by probability, a filter, the
/// arrow keys along the shown order, and taking an image off the list (the file stays).
#[test]
fn the_evidence_list_sorts_filters_walks_and_takes_images_off() {
    use fauxscope::gui::triage::{ListFilter, ListSort};
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let app = App::new(paths("triage"), None, None);
    let mut h = window(app);
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let broken = sandbox().join("triage-broken.jpg");
    std::fs::write(&broken, b"\xff\xd8\xff\xe0 not a picture").unwrap();
    // The broken file first, so that taking it off shifts the others.
    h.state_mut().add_path(&broken);
    for name in [
        "photo-coffee.png",
        "procedural-scene.png",
        "photo-rocket.jpg",
    ] {
        h.state_mut().add_path(&samples.join(name));
    }
    step_until(&mut h, "the analyses", 180, |a| {
        a.evidence.len() == 4 && a.evidence.iter().all(|e| e.complete)
    });
    let probs: Vec<Option<f32>> = h
        .state()
        .evidence
        .iter()
        .map(|e| {
            e.analysis
                .as_ref()
                .and_then(|a| a.primary())
                .map(|r| r.probability)
        })
        .collect();
    assert!(probs[0].is_none() && h.state().evidence[0].error.is_some());
    assert!(h.query_by_label_contains("4 images: ").is_some());
    assert!(h.query_by_label_contains("1 error").is_some());

    // Most likely generated first, the unreadable file last.
    h.state_mut().list_sort = ListSort::Probability;
    let shown = h.state().shown();
    assert_eq!(shown.len(), 4);
    assert_eq!(shown[3], 0);
    for w in shown[..3].windows(2) {
        assert!(
            probs[w[0]].unwrap() >= probs[w[1]].unwrap(),
            "{probs:?} {shown:?}"
        );
    }
    // Only the errors: one of four.
    h.state_mut().list_filter = ListFilter::Errors;
    h.step();
    assert_eq!(h.state().shown(), [0]);
    assert!(h.query_by_label_contains("1 of 4").is_some());
    h.state_mut().list_filter = ListFilter::All;

    // The arrow keys follow the shown order.
    h.state_mut().selected = None;
    h.step();
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(h.state().selected, Some(shown[0]));
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(h.state().selected, Some(shown[1]));
    let kept = h.state().evidence[shown[1]].path.clone();

    // Keys 0-3 bookmark the selected image (its note kept), and the bookmark is saved.
    let sha1 = h.state().evidence[shown[1]]
        .analysis
        .as_ref()
        .unwrap()
        .facts
        .sha256
        .clone();
    h.state_mut().set_bookmark(
        shown[1],
        BookmarkStatus::Unreviewed,
        Some("seen on a forum"),
    );
    h.key_press(egui::Key::Num3);
    h.step();
    let b = h.state().bookmarks.get(&sha1).cloned().unwrap();
    assert_eq!(
        (b.status, b.note.as_str()),
        (BookmarkStatus::Warning, "seen on a forum")
    );
    let saved =
        fauxscope::workstation::settings::Bookmarks::load(&h.state().paths.bookmarks).unwrap();
    assert_eq!(saved.get(&sha1).unwrap().status, BookmarkStatus::Warning);
    h.key_press(egui::Key::Num1);
    h.step();
    assert_eq!(
        h.state().bookmarks.get(&sha1).unwrap().status,
        BookmarkStatus::Ok
    );
    assert!(h.query_by_label_contains("bookmarked OK").is_some());
    h.key_press(egui::Key::Num0);
    h.step();
    assert_eq!(
        h.state().bookmarks.get(&sha1).unwrap().status,
        BookmarkStatus::Unreviewed
    );

    // Right-click a row: its path and SHA-256 go to the clipboard (the broken file, never
    // read as a picture, has a path but no SHA-256 to copy).
    let copies = |h: &mut Harness<'_, App>, row: &str, item: &str| -> Vec<String> {
        h.get_by_label(row).click_secondary();
        h.step();
        h.step();
        h.get_by_label(item).click();
        h.step();
        copied_texts(h)
    };
    let kept_name = kept.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        copies(&mut h, &kept_name, "Copy its SHA-256"),
        std::slice::from_ref(&sha1)
    );
    assert_eq!(
        copies(&mut h, "triage-broken.jpg", "Copy the file's path"),
        [broken.display().to_string()]
    );
    h.step();
    h.get_by_label("triage-broken.jpg").click_secondary();
    h.step();
    h.step();
    assert!(h
        .get_by_label("Copy its SHA-256")
        .accesskit_node()
        .is_disabled());
    h.key_press(egui::Key::Escape);
    h.step();

    // Right-click the broken file: taken off the list, the file itself untouched; the
    // selection stays on the same image.
    h.get_by_label("triage-broken.jpg").click_secondary();
    h.step();
    h.step();
    h.get_by_label("Take off the list (the file is not touched)")
        .click();
    h.step();
    h.step();
    assert_eq!(h.state().evidence.len(), 3);
    assert!(h.state().evidence.iter().all(|e| e.path != broken));
    assert!(broken.is_file());
    let sel = h.state().selected.unwrap();
    assert_eq!(h.state().evidence[sel].path, kept);
    assert!(h.query_by_label_contains("3 images: ").is_some());

    // One image bookmarked "to check": the filter shows it alone, and the export dialog's
    // "only the images the list shows" reports on it alone.
    let sha = {
        let a = h.state_mut();
        let e = &a.evidence[sel];
        let sha = e.analysis.as_ref().unwrap().facts.sha256.clone();
        a.bookmarks.set(
            &sha,
            fauxscope::workstation::settings::BookmarkStatus::ToCheck,
            "",
        );
        a.list_filter = ListFilter::Marked;
        sha
    };
    h.step();
    assert_eq!(h.state().shown(), [sel]);
    h.get_by_label("Export report…").click();
    h.step();
    h.step();
    h.get_by_label_contains("only the 1 image(s) the list shows")
        .click();
    h.step();
    assert!(h.state().export.shown_only);
    let out = sandbox().join("triage-export");
    h.state_mut().export_to(out.clone());
    step_until(&mut h, "the report", 120, |a| a.export.result.is_some());
    assert!(
        matches!(h.state().export.result, Some(Ok(_))),
        "{:?}",
        h.state().export.result
    );
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(items[0]["file"]["sha256"], sha.as_str());
}

/// A case file: the evidence list saved with its SHA-256, bookmarks and case details, opened in
/// a fresh window (another machine's bookmarks), which says which file changed since.
#[test]
fn a_case_saves_and_opens_the_evidence_list_and_names_a_changed_file() {
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let dir = sandbox().join("case-evidence");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["photo-coffee.png", "photo-rocket.jpg"] {
        std::fs::copy(samples.join(name), dir.join(name)).unwrap();
    }
    let app = App::new(paths("case-a"), None, None);
    let mut h = window(app);
    h.state_mut().add_path(&dir);
    step_until(&mut h, "the analyses", 120, |a| {
        a.evidence.len() == 2 && a.evidence.iter().all(|e| e.complete)
    });
    let case = sandbox().join("case-1.json");
    {
        let a = h.state_mut();
        assert!(a.set_bookmark(0, BookmarkStatus::Warning, Some("cloned sky")));
        // The same again is not a change: not logged twice.
        assert!(a.set_bookmark(0, BookmarkStatus::Warning, Some("cloned sky")));
        a.export.case_id = "CASE-9".into();
    }
    // Through the case window.
    h.get_by_label("Case…").click();
    h.step();
    h.state_mut().case.path = case.display().to_string();
    h.step();
    h.get_by_label("Save the list as this case").click();
    h.step();
    assert!(
        matches!(h.state().case.message, Some(Ok(_))),
        "{:?}",
        h.state().case.message
    );
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&case).unwrap()).unwrap();
    assert_eq!(saved["case_id"], "CASE-9");
    assert_eq!(saved["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(saved["evidence"][0]["bookmark"]["note"], "cloned sky");
    // The examination log is saved with the case, its own saving last.
    let actions = |log: &serde_json::Value| -> Vec<String> {
        log.as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        actions(&saved["log"]),
        ["added", "analysed", "analysed", "bookmarked", "case_saved"],
        "{}",
        saved["log"]
    );
    assert!(saved["log"][3]["detail"]
        .as_str()
        .unwrap()
        .contains("warning (note: cloned sky)"));

    // The rocket photo changes; a fresh window (empty bookmarks) opens the case.
    let rocket = dir.join("photo-rocket.jpg");
    let mut bytes = std::fs::read(&rocket).unwrap();
    bytes.extend_from_slice(b"appended");
    std::fs::write(&rocket, bytes).unwrap();
    let app = App::new(paths("case-b"), None, None);
    let mut h = window(app);
    h.state_mut()
        .add_path(&samples.join("procedural-scene.png"));
    let msg = h.state_mut().open_case(&case).unwrap();
    assert!(
        msg.contains("CASE-9") && msg.contains("1 bookmark(s) taken"),
        "{msg}"
    );
    step_until(&mut h, "the case's analyses", 120, |a| {
        a.evidence.len() == 2 && a.evidence.iter().all(|e| e.complete)
    });
    let names: Vec<String> = h.state().evidence.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        ["photo-coffee.png", "photo-rocket.jpg"],
        "the list is replaced"
    );
    assert_eq!(h.state().export.case_id, "CASE-9");
    let sha = saved["evidence"][0]["sha256"].as_str().unwrap();
    assert_eq!(h.state().bookmarks.get(sha).unwrap().note, "cloned sky");
    let notice = h.state().notice.clone().unwrap_or_default();
    assert!(
        notice.contains("photo-rocket.jpg: CHANGED since the case was saved"),
        "{notice}"
    );
    assert!(!notice.contains("photo-coffee.png: CHANGED"), "{notice}");
    // The changed file's verdict card says so too, and only that file's.
    let warned = |i: usize| warned(&h, i, "CHANGED since the case was saved");
    assert!(warned(1) && !warned(0));
    // The log goes on from the case's: its five entries, the opening, then the analyses, the
    // changed file's saying so. The entries of this window from before the case are not in it.
    let log: Vec<String> = h.state().exam_log.iter().map(|e| e.line()).collect();
    assert_eq!(log.len(), 8, "{log:#?}");
    assert!(
        log[5].contains("case opened") && log[5].contains("CASE-9"),
        "{log:#?}"
    );
    assert!(
        log.iter().all(|l| !l.contains("procedural-scene")),
        "{log:#?}"
    );
    let rocket_line = log[6..]
        .iter()
        .find(|l| l.contains("photo-rocket.jpg"))
        .unwrap();
    assert!(
        rocket_line.contains("CHANGED since the case was saved"),
        "{rocket_line}"
    );
    // A file that is not a case: an error naming it.
    let bad = sandbox().join("not-a-case.json");
    std::fs::write(&bad, b"[1, 2]").unwrap();
    let e = format!("{:#}", h.state_mut().open_case(&bad).unwrap_err());
    assert!(
        e.contains("not-a-case.json") && e.contains("not a Fauxscope case file"),
        "{e}"
    );
    assert_eq!(
        h.state().evidence.len(),
        2,
        "a bad case leaves the list as it was"
    );
}

/// A long evidence list lays out only the rows in view, and the arrow keys scroll it to the
/// selection (files that do not exist, so that it runs without the real weights).
#[test]
fn a_long_list_lays_out_only_the_rows_in_view_and_follows_the_arrow_keys() {
    let app = App::new(paths("long-list"), None, None);
    let mut h = window(app);
    let dir = sandbox().join("long-list-evidence");
    for i in 0..200 {
        h.state_mut()
            .add_path(&dir.join(format!("missing-{i:03}.jpg")));
    }
    step_until(&mut h, "the errors", 60, |a| {
        a.evidence.iter().all(|e| e.complete)
    });
    assert!(h.query_by_label("missing-000.jpg").is_some());
    assert!(
        h.query_by_label("missing-150.jpg").is_none(),
        "a row far out of view was laid out"
    );
    h.state_mut().selected = None;
    for _ in 0..120 {
        h.key_press(egui::Key::ArrowDown);
        h.step();
    }
    h.step();
    assert_eq!(h.state().selected, Some(119));
    assert!(
        h.query_by_label("missing-119.jpg").is_some(),
        "the selection was not scrolled into view"
    );
    assert!(h.query_by_label("missing-000.jpg").is_none());
    for _ in 0..119 {
        h.key_press(egui::Key::ArrowUp);
        h.step();
    }
    h.step();
    assert_eq!(h.state().selected, Some(0));
    assert!(h.query_by_label("missing-000.jpg").is_some());
}

#[test]
fn a_pasted_picture_is_saved_and_examined_and_pasted_paths_are_added() {
    let app = App::new(paths("paste"), None, None);
    let mut h = window(app);
    // A picture on the clipboard (as an image editor or a browser copies one).
    let (w, hgt) = (64usize, 48usize);
    let pixels: Vec<egui::Color32> = (0..w * hgt)
        .map(|i| egui::Color32::from_rgb((i % 256) as u8, (i / 3 % 256) as u8, 90))
        .collect();
    let img = egui::ColorImage::new([w, hgt], pixels.clone());
    h.event(egui::Event::PasteImage(std::sync::Arc::new(img)));
    step_until(&mut h, "the pasted picture", 60, |a| a.evidence.len() == 1);
    let saved = h.state().evidence[0].path.clone();
    let pasted_dir = sandbox().join("data").join("pasted");
    assert_eq!(saved.parent(), Some(pasted_dir.as_path()), "{saved:?}");
    let back = image::open(&saved).unwrap().into_rgb8();
    assert_eq!((back.width(), back.height()), (64, 48));
    let want: Vec<u8> = pixels.iter().flat_map(|c| [c.r(), c.g(), c.b()]).collect();
    assert_eq!(
        back.into_raw(),
        want,
        "the saved PNG holds the pasted pixels"
    );
    let log: Vec<String> = h.state().exam_log.iter().map(|e| e.line()).collect();
    assert!(
        log.iter()
            .any(|l| l.contains("64x48 picture pasted from the clipboard, saved as")),
        "{log:?}"
    );

    // Text naming a file (a file manager's copy, as a file:// address) adds it; a web address
    // adds nothing and says why.
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    let photo = samples.join("photo-coffee.png");
    h.event(egui::Event::Paste(format!(
        "x-special/gnome-copied-files\ncopy\nfile://{}\n",
        photo.display()
    )));
    h.step();
    assert_eq!(h.state().evidence.len(), 2);
    assert_eq!(h.state().evidence[1].path, photo);
    h.event(egui::Event::Paste("https://example.org/picture.jpg".into()));
    h.step();
    assert_eq!(h.state().evidence.len(), 2);
    assert!(
        h.state()
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("does not download")),
        "{:?}",
        h.state().notice
    );
    // The Paste button with nothing on the clipboard (the headless window has none) says so.
    h.state_mut().notice = None;
    h.get_by_label("Paste").click_accesskit();
    step_until(&mut h, "the empty clipboard's notice", 10, |a| {
        a.notice.is_some()
    });
    assert_eq!(
        h.state().notice.as_deref(),
        Some("Nothing to paste: the clipboard holds no picture and no text")
    );
    assert_eq!(h.state().evidence.len(), 2);

    if !common::real_model_available() {
        eprintln!("skipping the analysis: real weights not installed");
        return;
    }
    step_until(&mut h, "the analyses", 180, |a| {
        a.evidence.iter().all(|e| e.complete)
    });
    let warned = |i: usize| warned(&h, i, "pasted from the clipboard");
    assert!(
        warned(0),
        "the pasted picture's analysis says it was pasted"
    );
    assert!(
        !warned(1),
        "a file added from its own place is not called pasted"
    );
    // A picture of the view is made from the file as analysed, not from one changed since.
    image::RgbImage::from_pixel(64, 48, image::Rgb([9, 9, 9]))
        .save(&saved)
        .unwrap();
    h.state_mut().selected = Some(0);
    h.state_mut().notice = None;
    h.step();
    h.get_by_label("Copy picture").click_accesskit();
    step_until(&mut h, "the refusal", 30, |a| a.notice.is_some());
    let notice = h.state().notice.clone().unwrap();
    assert!(
        notice.contains("the file changed since it was analysed"),
        "{notice}"
    );
    h.state_mut().notice = None;
    // A paste into a text field is the field's: the bookmark notes take it.
    h.state_mut().selected = Some(1);
    h.step();
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .focus();
    h.step();
    h.event(egui::Event::Paste("/etc".into()));
    h.step();
    assert_eq!(
        h.state().evidence.len(),
        2,
        "a paste into a text field added evidence"
    );
    let sha = &h.state().evidence[1]
        .analysis
        .as_ref()
        .unwrap()
        .facts
        .sha256;
    assert_eq!(
        h.state().bookmarks.0.get(sha).map(|b| b.note.as_str()),
        Some("/etc")
    );
}

#[test]
fn on_a_narrow_window_the_viewer_toolbar_wraps_left_of_the_inspector() {
    let app = App::new(paths("narrow"), None, None);
    let mut h = Harness::builder()
        .with_size([1024.0, 700.0])
        .build_ui_state(|ui, app: &mut App| app.show(ui), app);
    let samples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    h.state_mut().add_path(&samples.join("photo-chelsea.png"));
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    // With the verdict card, the inspector is at its full width.
    step_until(&mut h, "the analysis", 120, |a| {
        a.evidence.iter().all(|e| e.complete)
    });
    h.step();
    let inspector = h.get_by_label("Verdict").rect().min.x;
    let toolbar: Vec<(&str, egui::Rect)> = ["Overlay:", "Regions", "masked patches", "Fit", "100%"]
        .into_iter()
        .flat_map(|l| h.query_all_by_label(l).map(move |n| (l, n.rect())))
        // The opacity slider.
        .chain(
            h.query_all_by_label_contains("opacity")
                .map(|n| ("opacity", n.rect())),
        )
        .collect();
    assert!(toolbar.len() >= 6, "{toolbar:?}");
    for (label, rect) in toolbar {
        assert!(
            rect.max.x < inspector,
            "{label} at {rect:?} runs under the inspector (from x = {inspector})"
        );
    }
}

/// Not a test: the window's frame cost with N (env, default 2000) images in the evidence list
/// (files that do not exist, so every row is an error row). Figures in docs/BENCHMARKS.md.
#[test]
#[ignore]
fn bench_evidence_list_frame_cost() {
    let n: usize = std::env::var("N").map_or(2000, |v| v.parse().unwrap());
    let app = App::new(paths("bench-list"), None, None);
    let mut h = window(app);
    let dir = sandbox().join("bench-list-evidence");
    for i in 0..n {
        h.state_mut()
            .add_path(&dir.join(format!("missing-{i}.jpg")));
    }
    step_until(&mut h, "the errors", 300, |a| {
        a.evidence.iter().all(|e| e.complete)
    });
    for _ in 0..5 {
        h.step();
    }
    let t = Instant::now();
    for _ in 0..50 {
        h.step();
    }
    eprintln!(
        "{n} images: {:.2} ms per frame (UI logic, no painting)",
        t.elapsed().as_secs_f64() * 1000.0 / 50.0
    );
}

/// The export dialog makes the examiner key when there is none, signs the report with it, and
/// the Verify window, given the public key, says who signed it.
#[test]
fn the_export_dialog_makes_a_key_and_signs_the_report() {
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let sample = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/samples/photo-coffee.png");
    let mut h = window(App::new(paths("signing"), None, None));
    h.state_mut().add_path(&sample);
    step_until(&mut h, "the analysis", 120, |a| {
        a.evidence.first().is_some_and(|e| e.complete)
    });
    h.get_by_label("Export report…").click();
    h.step();
    h.step();
    assert!(h.query_by_label_contains("no examiner key yet").is_some());
    h.state_mut().export.examiner = "Dana Reyes".into();
    // A passphrase too short, then two that differ: the button stays off and says why.
    h.state_mut().export.passphrase.0 = "short".into();
    h.step();
    assert!(h.query_by_label_contains("at least 8 characters").is_some());
    h.state_mut().export.passphrase.0 = "dana's passphrase".into();
    h.state_mut().export.passphrase_again.0 = "dana's passphrasf".into();
    h.step();
    assert!(h
        .query_by_label_contains("the two passphrases differ")
        .is_some());
    h.get_by_label("Create my examiner key").click();
    h.step();
    let key = fauxscope::report::signing::default_key_path();
    assert!(!key.exists());
    h.state_mut().export.passphrase_again.0 = "dana's passphrase".into();
    h.step();
    h.get_by_label("Create my examiner key").click();
    h.step();
    // The key is made and sealed on a background thread; the button stays off meanwhile.
    assert!(h.state().export.unlocking.is_some());
    assert!(h.state().export.passphrase.0.is_empty());
    step_until(&mut h, "the key to be made", 30, |a| {
        a.export.unlocking.is_none()
    });
    h.step();
    let public = fauxscope::report::signing::public_path_for(&key);
    assert!(key.is_file() && public.is_file());
    assert!(
        fauxscope::report::signing::key_info(&key)
            .unwrap()
            .protected
    );
    assert!(h.state().export.passphrase.0.is_empty());
    assert!(h.state().export.sign);
    assert!(h
        .query_by_label_contains("sign with my examiner key (Dana Reyes")
        .is_some());
    // As in a later session: the key is read again, sealed; a wrong passphrase writes nothing.
    h.state_mut().export.key = None;
    h.step();
    h.step();
    assert!(h.query_by_label("Key passphrase").is_some());
    let out = sandbox().join("signed-export");
    h.state_mut().export.passphrase.0 = "not the passphrase".into();
    h.state_mut().export_to(out.clone());
    // The key opens on a background thread: the window goes on drawing meanwhile.
    assert!(h.state().export.unlocking.is_some());
    assert!(h.state().export.passphrase.0.is_empty());
    h.step();
    step_until(&mut h, "the key to fail to open", 30, |a| {
        a.export.result.is_some()
    });
    match &h.state().export.result {
        Some(Err(e)) => assert!(e.contains("wrong passphrase"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert!(!out.exists());
    h.state_mut().export.passphrase.0 = "dana's passphrase".into();
    h.get_by_label("Unlock").click();
    h.step();
    step_until(&mut h, "the key to open", 30, |a| {
        a.export.unlocking.is_none()
    });
    h.step();
    assert!(h.query_by_label("Key passphrase").is_none());
    assert!(h.state().export.passphrase.0.is_empty());
    // Locked again, it asks for the passphrase again; unlocked with it, it signs.
    h.get_by_label("Lock").click();
    h.step();
    h.step();
    assert!(h.query_by_label("Key passphrase").is_some());
    h.state_mut().export.passphrase.0 = "dana's passphrase".into();
    h.state_mut().export_to(out.clone());
    step_until(&mut h, "the report", 120, |a| a.export.result.is_some());
    assert!(
        matches!(h.state().export.result, Some(Ok(_))),
        "{:?}",
        h.state().export.result
    );
    assert!(out.join("report.json.sig").is_file());
    // The examination log so far is in the report, and keeps to the schema's actions.
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/report-schema.json"))
            .unwrap(),
    )
    .unwrap();
    let actions = &schema["properties"]["examination_log"]["items"]["properties"]["action"]["enum"];
    let log = v["examination_log"].as_array().unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["added", "analysed"], "{log:?}");
    for e in log {
        assert!(actions.as_array().unwrap().contains(&e["action"]), "{e}");
        assert_eq!(e["utc"].as_str().unwrap().len(), 20);
    }
    assert!(log[1]["detail"]
        .as_str()
        .unwrap()
        .contains(v["items"][0]["file"]["sha256"].as_str().unwrap()));
    let pdf = fauxscope::report::pdf::extract_text(&std::fs::read(out.join("report.pdf")).unwrap());
    assert!(pdf.contains("Examination log"), "{pdf}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<h2>Examination log</h2>"));
    // Writing the report is logged with the sidecar's hash and the signer.
    let sidecar_sha = fauxscope::fsutil::sha256_file(&out.join("report.json")).unwrap();
    let last = h.state().exam_log.last().unwrap().line();
    assert!(
        last.contains("report written")
            && last.contains(&sidecar_sha)
            && last.contains("signed by Dana Reyes"),
        "{last}"
    );

    h.state_mut().verify.key = public.display().to_string();
    h.state_mut().verify_report(out.clone());
    step_until(&mut h, "the verification", 60, |a| {
        a.verify.result.is_some()
    });
    match &h.state().verify.result {
        Some(Ok(v)) => {
            assert!(v.verified, "{}", v.text());
            assert!(
                v.text()
                    .contains("signature: good, by Dana Reyes with the trusted key"),
                "{}",
                v.text()
            );
        }
        other => panic!("verification failed: {other:?}"),
    }
    h.step();
    assert!(h.query_by_label_contains("Examiner's public key").is_some());
    assert!(h.query_by_label_contains("Report verified").is_some());
    let last = h.state().exam_log.last().unwrap().line();
    assert!(
        last.contains("report verified")
            && last.contains(": verified")
            && last.contains("trusted key"),
        "{last}"
    );
}
