//! The `fauxscope` binary as a user runs it: train a probe on a tiny model, scan, exit codes, JSON.

use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fauxscope"));
    c.env(
        "FAUXSCOPE_CACHE_DIR",
        std::env::temp_dir().join("fauxscope-cli-test-cache"),
    );
    c.env(
        "FAUXSCOPE_DATA_DIR",
        std::env::temp_dir().join("fauxscope-cli-test-data"),
    );
    c
}

fn tiny() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny")
}

/// Two visibly different classes of small images: smooth gradients ("real") and noisy checkers ("fake").
fn make_data(dir: &Path) -> (PathBuf, PathBuf) {
    let real = dir.join("real");
    let fake = dir.join("fake/gen");
    std::fs::create_dir_all(&real).unwrap();
    std::fs::create_dir_all(&fake).unwrap();
    for i in 0..12u32 {
        let r = image::RgbImage::from_fn(40, 40, |x, y| {
            image::Rgb([(x * 6 + i) as u8, (y * 6) as u8, 120])
        });
        r.save(real.join(format!("r{i}.png"))).unwrap();
        let f = image::RgbImage::from_fn(40, 40, |x, y| {
            let v = if (x / 2 + y / 2 + i) % 2 == 0 {
                230
            } else {
                20
            };
            image::Rgb([v, 255 - v, v / 2])
        });
        f.save(fake.join(format!("f{i}.png"))).unwrap();
    }
    (real, dir.join("fake"))
}

/// Runs `train --method probe` on the tiny model with extra flags.
fn train_probe(real: &Path, fake: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(["train", "--method", "probe", "--model"])
        .arg(tiny())
        .args(extra)
        .arg("--real")
        .arg(real)
        .arg("--fake")
        .arg(fake)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// `train_probe` that must succeed; the checkpoint it wrote.
fn trained_probe(
    real: &Path,
    fake: &Path,
    out: &Path,
    extra: &[&str],
) -> fauxscope::detect::Checkpoint {
    let o = train_probe(real, fake, out, extra);
    assert!(
        o.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    fauxscope::detect::Checkpoint::load(out).unwrap()
}

/// `scan --json` of `inputs` on the tiny model with `ckpt`, run by `c`, which must succeed.
fn scan_json(mut c: Command, ckpt: &Path, inputs: &[&Path]) -> serde_json::Value {
    let out = c
        .args(["scan", "--json", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(ckpt)
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Scans the 12 + 12 training images with a checkpoint and checks that the generated ones score
/// higher on average.
fn assert_separates(ckpt: &Path, real: &Path, fake: &Path) {
    let rows = scan_json(bin(), ckpt, &[real, fake]);
    let rows = rows.as_array().unwrap();
    let mean = |fake: bool| {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| r["path"].as_str().unwrap().contains("/fake/") == fake)
            .map(|r| r["score"].as_f64().unwrap())
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert_eq!(rows.len(), 24);
    let (real_mean, fake_mean) = (mean(false), mean(true));
    assert!(
        fake_mean > real_mean,
        "fake mean {fake_mean} <= real mean {real_mean}"
    );
}

#[test]
fn train_then_scan_with_bad_files_in_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("tiny-probe.safetensors");
    let out = train_probe(&real, &fake, &ckpt, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = fauxscope::detect::Checkpoint::load(&ckpt).unwrap().meta;
    assert_eq!(
        (meta.training.real_count, meta.training.fake_count),
        (12, 12)
    );
    assert_eq!(meta.training.files.len(), 24);
    assert_eq!(meta.method, "probe");
    assert_eq!(meta.base_model.config.hidden_size, 32);

    // A folder with one good image, a text file with an image extension, and a truncated PNG.
    let scan_dir = dir.path().join("evidence");
    std::fs::create_dir_all(&scan_dir).unwrap();
    std::fs::copy(fake.join("gen/f1.png"), scan_dir.join("good.png")).unwrap();
    std::fs::write(scan_dir.join("notes.jpg"), b"not an image").unwrap();
    let png = std::fs::read(real.join("r1.png")).unwrap();
    std::fs::write(scan_dir.join("cut.png"), &png[..png.len() / 2]).unwrap();
    // A picture without an extension (found by its bytes) and a file that is no picture (named
    // as not examined).
    std::fs::copy(fake.join("gen/f2.png"), scan_dir.join("download_0001")).unwrap();
    std::fs::write(scan_dir.join("readme.txt"), b"chain of custody form").unwrap();
    // A copy of good.png under another name says whose copy it is.
    std::fs::copy(fake.join("gen/f1.png"), scan_dir.join("zz-copy.png")).unwrap();
    let out = bin()
        .args(["scan", "--json", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt)
        .arg(&scan_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = all.as_array().unwrap();
    // Every file is accounted for: the three scanned, the two that could not be read with the
    // reason, and the one that is no picture.
    let status =
        |s: &str| -> Vec<&serde_json::Value> { all.iter().filter(|r| r["status"] == s).collect() };
    assert_eq!(all.len(), 6, "{all:?}");
    let errors = status("error");
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (e, (name, why)) in errors.iter().zip([
        ("cut.png", "truncated"),
        ("notes.jpg", "not a recognised image format"),
    ]) {
        let msg = e["error"].as_str().unwrap();
        assert!(e["path"].as_str().unwrap().ends_with(name), "{e}");
        assert!(msg.contains(name) && msg.contains(why), "{e}");
        assert!(e.get("score").is_none(), "{e}");
    }
    let skipped = status("not_examined");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0]["path"].as_str().unwrap().ends_with("readme.txt"));
    assert_eq!(skipped[0]["size_bytes"], 21);
    let rows = status("scanned");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let copy = rows[2]["warnings"].to_string();
    assert!(
        copy.contains("the same bytes as") && copy.contains("good.png"),
        "{copy}"
    );
    assert!(!rows[1]["warnings"].to_string().contains("same bytes"));
    assert!(rows[0]["path"].as_str().unwrap().ends_with("download_0001"));
    assert!(
        stderr.contains("not examined: 1 file(s)") && stderr.contains("readme.txt"),
        "{stderr}"
    );
    let r = rows[1];
    for k in [
        "path",
        "sha256",
        "score",
        "probability",
        "verdict",
        "detector",
    ] {
        assert!(r.get(k).is_some(), "missing {k}: {r}");
    }
    let p = r["probability"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&p));
    assert_eq!(r["detector"], "tiny-probe");
    assert_eq!(r["sha256"].as_str().unwrap().len(), 64);
    assert!(
        stderr.contains("notes.jpg") && stderr.contains("not a recognised image format"),
        "{stderr}"
    );
    assert!(
        stderr.contains("cut.png") && stderr.contains("truncated"),
        "{stderr}"
    );

    // The trained probe separates the two classes it saw.
    assert_separates(&ckpt, &real, &fake);

    // eval on the real/ + fake/<generator>/ layout, with a perturbation; the JSON has the agreed shape.
    let json = dir.path().join("eval.json");
    let out = bin()
        .args(["eval", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt)
        .args(["--perturb", "jpeg:75,resize:0.5", "--json"])
        .arg(&json)
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| gen | 12 |"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    for k in [
        "mean_balanced_accuracy",
        "real_accuracy",
        "mean_ap",
        "ece",
        "images",
    ] {
        let x = v["summary"][k]
            .as_f64()
            .unwrap_or_else(|| panic!("summary.{k} missing: {v}"));
        assert!(x >= 0.0 && (k == "images" || x <= 1.0), "{k} = {x}");
    }
    assert_eq!(v["summary"]["images"], 24);
    for k in ["fake_accuracy", "balanced_accuracy", "ap", "auc", "images"] {
        assert!(
            v["generators"]["gen"][k].is_number(),
            "generators.gen.{k} missing: {v}"
        );
    }
    assert!(v["perturbations"]["jpeg:75"]["summary"]["mean_balanced_accuracy"].is_number());
    assert!(v["perturbations"]["resize:0.5"]["generators"]["gen"]["auc"].is_number());
    // The fakes are separable on the clean data the probe was trained on.
    assert!(v["generators"]["gen"]["auc"].as_f64().unwrap() > 0.9, "{v}");
    // A second run is served from the score cache and gives the same figures.
    let json2 = dir.path().join("eval2.json");
    let out = bin()
        .args(["eval", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt)
        .arg("--json")
        .arg(&json2)
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let v2: serde_json::Value = serde_json::from_slice(&std::fs::read(&json2).unwrap()).unwrap();
    assert_eq!(v2["summary"], v["summary"]);

    // Nothing scannable: non-zero exit.
    let out = bin()
        .args(["scan", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt)
        .arg(scan_dir.join("notes.jpg"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn usage_and_detector_errors() {
    // A detector for another architecture (the shipped ViT-B/16 probe on the tiny model) is an error.
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("x.png");
    image::RgbImage::new(40, 40).save(&img).unwrap();
    let out = bin()
        .args(["scan", "--model"])
        .arg(tiny())
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("architectures differ"));

    // A corrupt checkpoint names the file.
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"garbage").unwrap();
    let out = bin()
        .args(["scan", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&bad)
        .arg(&img)
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        e.contains("bad.safetensors") && e.contains("not a detector checkpoint"),
        "{e}"
    );

    // Usage errors exit non-zero too.
    assert!(!bin().args(["scan"]).output().unwrap().status.success());
    assert!(!bin()
        .args(["scan", "/definitely/not/here"])
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn probe_on_an_earlier_block_trains_scans_and_rejects_a_missing_block() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let train = |layer: &str, out: &Path| train_probe(&real, &fake, out, &["--head-layer", layer]);
    let ckpt = dir.path().join("h1.safetensors");
    let out = train("1", &ckpt);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = fauxscope::detect::Checkpoint::load(&ckpt).unwrap().meta;
    assert_eq!(meta.settings["head_layer"], 1);
    assert_separates(&ckpt, &real, &fake);
    // The tiny tower has 2 blocks: block 5 is a clear error, and nothing is written.
    let missing = dir.path().join("h5.safetensors");
    let out = train("5", &missing);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("head layer 5 does not exist"), "{stderr}");
    assert!(!missing.exists());
}

#[test]
fn probe_with_simulated_fakes_trains_on_them_and_bad_values_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("s.safetensors");
    let o = train_probe(
        &real,
        &fake,
        &ckpt,
        &[
            "--synthetic-fakes",
            "1",
            "--low-passed-reals",
            "1",
            "--made-jpeg",
            "0.5",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta = fauxscope::detect::Checkpoint::load(&ckpt).unwrap().meta;
    assert_eq!(meta.settings["synthetic_fakes"], 1.0);
    // 12 reals, a quarter held out: one simulated fake and one low-passed copy for each of the
    // 9 training reals.
    assert_eq!(meta.metrics["synthetic_fakes"], 9);
    assert_eq!(meta.metrics["low_passed_reals"], 9);
    assert_eq!(meta.settings["low_passed_reals"], 1.0);
    assert_eq!(meta.settings["made_jpeg"], 0.5);
    assert_eq!(meta.settings["synthetic_kind"], "box");
    assert_eq!(meta.metrics["heldout_images"], 6);
    assert_separates(&ckpt, &real, &fake);
    // The varied simulator: recorded in the checkpoint, and its fakes change the fit.
    let v = trained_probe(
        &real,
        &fake,
        &dir.path().join("v.safetensors"),
        &["--synthetic-fakes", "1", "--synthetic-kind", "varied"],
    );
    assert_eq!(v.meta.settings["synthetic_kind"], "varied");
    assert_eq!(v.meta.metrics["synthetic_fakes"], 9);
    let b = trained_probe(
        &real,
        &fake,
        &dir.path().join("b1.safetensors"),
        &["--synthetic-fakes", "1"],
    );
    let w = |c: &fauxscope::detect::Checkpoint| {
        c.tensors[fauxscope::detect::probe::WEIGHT]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    assert_ne!(w(&v), w(&b));
    // Bad values are refused with a message naming the flag, and nothing is written.
    let out = dir.path().join("bad.safetensors");
    let refused = |extra: &[&str], says: &str| {
        let o = train_probe(&real, &fake, &out, extra);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
        assert!(!out.exists());
    };
    refused(&["--synthetic-kind", "varied"], "--synthetic-fakes");
    refused(&["--synthetic-fakes=-1"], "from 0 to 10");
    refused(&["--synthetic-fakes", "NaN"], "from 0 to 10");
    refused(&["--low-passed-reals", "11"], "from 0 to 10");
    refused(&["--made-jpeg", "1.5"], "--made-jpeg 1.5");
}

#[test]
fn probe_on_several_blocks_with_perturbed_copies_trains_scans_and_refuses_bad_lists() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("b.safetensors");
    let c = trained_probe(
        &real,
        &fake,
        &ckpt,
        &["--blocks", "1-2", "--perturbed-copies", "blur:0.7,jpeg:85"],
    );
    assert_eq!(c.meta.settings["blocks"], serde_json::json!([1, 2]));
    assert_eq!(c.meta.settings["l2"], 1.0);
    assert_eq!(
        c.meta.settings["perturbed_copies"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Two class tokens of width 32; 18 training images, each copied under two perturbations.
    assert_eq!(c.tensors["probe.weight"].dims(), [1, 64]);
    assert_eq!(c.meta.metrics["perturbed_copies"], 36);
    assert_eq!(c.meta.metrics["heldout_images"], 6);
    assert_separates(&ckpt, &real, &fake);
    // The patch tokens' spread beside the class tokens: twice the features, and it still scans.
    let spread = dir.path().join("s.safetensors");
    let c = trained_probe(
        &real,
        &fake,
        &spread,
        &["--blocks", "1-2", "--tokens", "cls+spread"],
    );
    assert_eq!(c.meta.settings["tokens"], "cls-spread");
    assert_eq!(c.tensors["probe.weight"].dims(), [1, 128]);
    assert_separates(&spread, &real, &fake);
    let out = dir.path().join("bad.safetensors");
    for (extra, msg) in [
        (&["--tokens", "spread"][..], "add --blocks"),
        (
            &["--blocks", "1", "--tokens", "mean"][..],
            "expected cls, spread",
        ),
        (&["--blocks", "3"][..], "block 3 does not exist"),
        (&["--blocks", "0-1"][..], "block 0 does not exist"),
        (&["--blocks", "2-1"][..], "--blocks '2-1'"),
        (&["--blocks", "1", "--head-layer", "1"][..], "not both"),
        (&["--perturbed-copies", "blur:x"][..], "--perturbed-copies"),
        (&["--l2=-1"][..], "--l2 -1"),
    ] {
        let o = train_probe(&real, &fake, &out, extra);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr.contains(msg), "{extra:?}: {stderr}");
        assert!(!out.exists());
    }
    // LP-FT from the command line: MPFT whose head starts from the probe on the same blocks.
    let fine_tune = |out: &Path, extra: &[&str]| {
        bin()
            .args(["train", "--model"])
            .arg(tiny())
            .args(["--epochs", "1", "--batch-size", "4"])
            .args(extra)
            .arg("--real")
            .arg(&real)
            .arg("--fake")
            .arg(&fake)
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    };
    let tuned = dir.path().join("lpft.safetensors");
    let head = ckpt.display().to_string();
    let o = fine_tune(
        &tuned,
        &["--method", "mpft", "--blocks", "1-2", "--head-from", &head],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = fauxscope::detect::Checkpoint::load(&tuned).unwrap();
    assert_eq!(c.meta.settings["blocks"], serde_json::json!([1, 2]));
    assert_eq!(c.meta.settings["head_from"], "b");
    assert_eq!(c.tensors["head.weight"].dims(), [1, 64]);
    assert_separates(&tuned, &real, &fake);
    // MPFT takes --holdout as the probe does (its own default is 0.2).
    let half = dir.path().join("half.safetensors");
    let o = fine_tune(&half, &["--method", "mpft", "--holdout", "0.5"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = fauxscope::detect::Checkpoint::load(&half).unwrap();
    assert_eq!(c.meta.settings["holdout"], 0.5);
    assert_eq!(c.meta.metrics["heldout_images"], 12);
    for (extra, msg) in [
        (
            &["--method", "mpft", "--holdout", "1.5"][..],
            "--holdout 1.5",
        ),
        (&["--method", "probe", "--holdout", "0"][..], "--holdout 0"),
        (
            &["--method", "pin", "--blocks", "1-2"][..],
            "probe and mpft only",
        ),
        (
            &["--method", "mpft", "--head-from", &head][..],
            "--head-from applies",
        ),
        (
            &["--method", "mpft", "--blocks", "1-2", "--tokens", "spread"][..],
            "--tokens applies",
        ),
        (
            &["--method", "mpft", "--blocks", "2", "--head-from", &head][..],
            "reads blocks",
        ),
    ] {
        let o = fine_tune(&out, extra);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} was accepted");
        assert!(stderr.contains(msg), "{extra:?}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn calibrate_sets_the_threshold_on_reference_reals_and_records_what_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt_path = dir.path().join("trained.safetensors");
    let trained = trained_probe(&real, &fake, &ckpt_path, &[]);
    // 25 reference "real" photos from another source, one training photo among them, and a
    // file that is not an image.
    let refs = dir.path().join("reference");
    std::fs::create_dir_all(&refs).unwrap();
    for i in 0..25u32 {
        image::RgbImage::from_fn(44, 36, |x, y| {
            image::Rgb([
                (x * 3 + y + i * 7) as u8,
                (200 - y * 2) as u8,
                (i * 9) as u8,
            ])
        })
        .save(refs.join(format!("ref{i:02}.png")))
        .unwrap();
    }
    std::fs::copy(real.join("r0.png"), refs.join("from-training.png")).unwrap();
    std::fs::write(refs.join("broken.jpg"), b"\xff\xd8\xff not an image").unwrap();
    let evidence_before: Vec<Vec<u8>> = fauxscope::train::data::list_images(&refs)
        .unwrap()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let out = dir.path().join("local.safetensors");
    let o = bin()
        .args(["calibrate", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt_path)
        .arg("--real")
        .arg(&refs)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("broken.jpg"), "{stderr}");
    assert!(
        stderr.contains("1 reference image(s) were in the detector's training data"),
        "{stderr}"
    );
    assert!(stderr.contains("only 26 reference real photos"), "{stderr}");
    assert!(stdout.contains("new threshold"), "{stdout}");
    assert!(
        stdout.contains("temperature") && stdout.contains("kept"),
        "{stdout}"
    );
    let local = fauxscope::detect::Checkpoint::load(&out).unwrap();
    let rec = local
        .meta
        .recalibration
        .clone()
        .expect("recalibration recorded");
    assert_eq!(local.meta.name, "local");
    assert_eq!(rec.trained_name, "trained");
    assert_eq!(rec.trained_calibration, trained.meta.calibration);
    assert_eq!(rec.previous, trained.meta.calibration);
    assert_eq!(rec.reference.real_count, 26);
    assert_eq!(rec.reference.fake_count, 0);
    assert_eq!(rec.overlap_with_training, 1);
    assert_eq!(local.meta.calibration.heldout_real, 26);
    assert_eq!(
        local.meta.calibration.temperature,
        trained.meta.calibration.temperature
    );
    // Only the calibration changed: the raw scores are the trained detector's (and share its
    // score cache), the tensors are the same.
    assert_eq!(
        local.meta.scoring_identity(),
        trained.meta.scoring_identity()
    );
    assert_ne!(local.meta.checkpoint_sha256, trained.meta.checkpoint_sha256);
    assert_eq!(trained.meta.scoring_identity().name, trained.meta.name);
    assert_eq!(local.tensors.len(), trained.tensors.len());
    for (k, t) in &trained.tensors {
        let a: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = local.tensors[k].flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a, b, "{k}");
    }
    // The evidence is untouched.
    let evidence_after: Vec<Vec<u8>> = fauxscope::train::data::list_images(&refs)
        .unwrap()
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(evidence_before, evidence_after);

    // Scanned with the new detector, exactly floor(5% of 26) = 1 reference photo is called
    // generated, and the scan says where its threshold comes from.
    let scan = |det: &Path, json: bool| {
        let mut c = bin();
        c.args(["scan", "--model"])
            .arg(tiny())
            .arg("--detector")
            .arg(det);
        if json {
            c.arg("--json");
        }
        c.arg(&refs).output().unwrap()
    };
    let o = scan(&out, true);
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let called = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "scanned" && r["verdict"] != "no_evidence")
        .count();
    assert_eq!(called, 1, "{rows:#}");
    let o = scan(&out, false);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("set on 26 reference real photos; trained as 'trained'"),
        "{text}"
    );
    // A recalibrated detector has no error rates measured on other sources, and the scan says so.
    assert!(
        text.contains("no error rates measured on sources outside its training data"),
        "{text}"
    );

    // Again from the recalibrated one, with generated references: the temperature is refitted
    // and the trained name and calibration are carried through.
    let again = dir.path().join("again.safetensors");
    let o = bin()
        .args(["calibrate", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&out)
        .arg("--real")
        .arg(&refs)
        .arg("--fake")
        .arg(&fake)
        .args(["--target-fpr", "0.1", "--out"])
        .arg(&again)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    // 10% of the same reference reals sit below 5% of them: the examiner is told.
    assert!(stderr.contains("is below the previous one"), "{stderr}");
    let again = fauxscope::detect::Checkpoint::load(&again).unwrap();
    let rec = again.meta.recalibration.clone().unwrap();
    assert_eq!(rec.trained_name, "trained");
    assert_eq!(rec.previous, local.meta.calibration);
    // make_data's 12 checkerboards are 2 distinct images: each counts once.
    assert_eq!(rec.reference.fake_count, 2);
    assert_eq!(again.meta.calibration.target_fpr, 0.1);
    assert_ne!(
        again.meta.calibration.temperature,
        trained.meta.calibration.temperature
    );
    assert_eq!(
        again.meta.scoring_identity(),
        trained.meta.scoring_identity()
    );

    // Too few reference reals for the target, a bad target and a missing folder are refused,
    // naming the problem, and nothing is written.
    let few = dir.path().join("few");
    std::fs::create_dir_all(&few).unwrap();
    for i in 0..5 {
        std::fs::copy(
            refs.join(format!("ref{i:02}.png")),
            few.join(format!("{i}.png")),
        )
        .unwrap();
    }
    let refused = dir.path().join("refused.safetensors");
    for (args, want) in [
        (vec!["--real", few.to_str().unwrap()], "needs at least 20"),
        (
            vec!["--real", refs.to_str().unwrap(), "--target-fpr", "1.5"],
            "strictly between 0 and 1",
        ),
        (
            vec!["--real", dir.path().join("nope").to_str().unwrap()],
            "no such file or directory",
        ),
    ] {
        let o = bin()
            .args(["calibrate", "--model"])
            .arg(tiny())
            .arg("--detector")
            .arg(&ckpt_path)
            .args(&args)
            .arg("--out")
            .arg(&refused)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!refused.exists());
    }
}

#[test]
fn region_maps_read_every_tile_and_find_the_generated_half() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("center.safetensors");
    trained_probe(&real, &fake, &ckpt, &["--crop", "center"]);
    // Left half like the "real" class, right half like the "fake" one.
    let img = image::RgbImage::from_fn(160, 40, |x, y| {
        if x < 80 {
            image::Rgb([(x * 6 % 200) as u8, (y * 6) as u8, 120])
        } else {
            let v = if (x / 2 + y / 2) % 2 == 0 { 230 } else { 20 };
            image::Rgb([v, 255 - v, v / 2])
        }
    });
    let half = dir.path().join("half.png");
    img.save(&half).unwrap();
    let scan = |extra: &[&str]| {
        let o = bin()
            .args(["scan", "--json", "--regions", "--model"])
            .arg(tiny())
            .arg("--detector")
            .arg(&ckpt)
            .args(extra)
            .arg(&half)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0].clone()
    };
    let row = scan(&[]);
    let r = &row["regions"];
    let tiles = r["map"].as_array().unwrap();
    // 160 x 40 in 32-px tiles: 5 x 2, covering all of it.
    assert_eq!((r["tiles"].as_u64(), tiles.len()), (Some(10), 10));
    assert_eq!(r["coverage"], 1.0);
    let thr = r["threshold"].as_f64().unwrap();
    let mut flagged = 0;
    for t in tiles {
        let s = t["score"].as_f64().unwrap();
        assert_eq!(t["flagged"].as_bool().unwrap(), s > thr, "{t}");
        flagged += (s > thr) as u64;
        assert_eq!(t["rect"]["w"], 32);
    }
    assert_eq!(r["flagged"].as_u64(), Some(flagged));
    let mean = |left: bool| {
        let v: Vec<f64> = tiles
            .iter()
            .filter(|t| {
                let x = t["rect"]["x"].as_u64().unwrap();
                if left {
                    x + 32 <= 80
                } else {
                    x >= 80
                }
            })
            .map(|t| t["score"].as_f64().unwrap())
            .collect();
        assert_eq!(v.len(), 4);
        v.iter().sum::<f64>() / 4.0
    };
    assert!(mean(false) > mean(true), "{tiles:?}");
    // One tile is the detector's own centre crop: the same score as the verdict's.
    let one = scan(&["--max-tiles", "1"]);
    let t = &one["regions"]["map"][0];
    assert_eq!(one["regions"]["tiles"], 1);
    assert!(
        (t["score"].as_f64().unwrap() - one["score"].as_f64().unwrap()).abs() < 1e-5,
        "{one}"
    );
    assert_eq!(
        (t["rect"]["x"].as_u64(), t["rect"]["y"].as_u64()),
        (Some(64), Some(4))
    );

    // A detector that reads a resized image cannot give a region map; nor can zero tiles.
    let clip = dir.path().join("clip.safetensors");
    trained_probe(&real, &fake, &clip, &[]);
    for (det, extra, want) in [(&clip, "400", "crop mode clip"), (&ckpt, "0", "at least 1")] {
        let o = bin()
            .args(["scan", "--regions", "--model"])
            .arg(tiny())
            .arg("--detector")
            .arg(det)
            .args(["--max-tiles", extra])
            .arg(&half)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(want), "{err}");
    }
}

#[test]
fn heic_photos_are_read_and_a_missing_libheif_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let heic = dir.path().join("IMG_0001.HEIC");
    let png = dir.path().join("same.png");
    img.save(&png).unwrap();
    let embed = |lib: Option<&str>| {
        let mut c = bin();
        c.args(["embed", "--model"])
            .arg(tiny())
            .arg(&heic)
            .arg(&png);
        if let Some(l) = lib {
            c.env("FAUXSCOPE_LIBHEIF", l);
        }
        c.output().unwrap()
    };
    // Without libheif the HEIC file is refused with what to install; the PNG beside it is
    // still read (the exit code is 1 only when nothing could be read).
    std::fs::write(&heic, b"\0\0\0\x18ftypheic\0\0\0\0mif1heic").unwrap();
    let out = embed(Some("/nonexistent/libheif.so.1"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("IMG_0001.HEIC") && err.contains("libheif") && err.contains("apt install"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("same.png"));
    if !fauxscope::heif::available_for_tests() {
        return;
    }
    std::fs::write(
        &heic,
        fauxscope::heif::encode(&img, fauxscope::heif::Codec::Hevc, 95).unwrap(),
    )
    .unwrap();
    let out = embed(None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    // The HEIC copy and the lossless original give nearly the same embedding.
    let v = |i: usize| -> Vec<f64> {
        lines[i]["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (v(0), v(1));
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
    let norm = |x: &[f64]| x.iter().map(|v| v * v).sum::<f64>().sqrt();
    assert!(
        dot / (norm(&a) * norm(&b)) > 0.98,
        "{}",
        dot / (norm(&a) * norm(&b))
    );
}

/// Splits CSV text into rows of cells (RFC 4180 quoting), as a spreadsheet reads it.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (vec![], vec![], String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[test]
fn scan_csv_has_a_row_per_file_and_odd_names_neither_break_nor_inject() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("tiny-probe.safetensors");
    assert!(train_probe(&real, &fake, &ckpt, &[]).status.success());
    let ev = dir.path().join("evidence");
    std::fs::create_dir_all(&ev).unwrap();
    let good = fake.join("gen/f1.png");
    // A name a spreadsheet would run as a formula, one with a comma and a quote, and (on Linux)
    // one that is not UTF-8.
    std::fs::copy(&good, ev.join("=HYPERLINK(\"x\").png")).unwrap();
    std::fs::copy(real.join("r1.png"), ev.join("a, \"b\".png")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.png");
        std::fs::copy(real.join("r2.png"), ev.join(name)).unwrap();
    }
    std::fs::write(ev.join("broken.png"), b"\x89PNG\r\n\x1a\n").unwrap();
    std::fs::write(ev.join("notes.txt"), b"custody").unwrap();
    let scan = |format: &str| {
        let o = bin()
            .args(["scan", format, "--compare"])
            .arg(&ckpt)
            .arg("--model")
            .arg(tiny())
            .arg("--detector")
            .arg(&ckpt)
            // Named on its own first (so its path starts with '='), then the whole folder.
            .args(["=HYPERLINK(\"x\").png", "."])
            .current_dir(&ev)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };
    let text = String::from_utf8(scan("--csv")).unwrap();
    let rows = parse_csv(&text);
    let head = &rows[0];
    let col = |name: &str| head.iter().position(|h| h == name).expect(name);
    for r in &rows {
        assert_eq!(r.len(), head.len(), "{r:?}");
    }
    let named = |end: &str| -> &Vec<String> {
        rows.iter()
            .find(|r| r[col("path")].ends_with(end))
            .unwrap_or_else(|| panic!("no row for {end}: {rows:?}"))
    };
    // Every file has a row: the header, 3 (or 2) scanned, the broken one, the text file.
    let scanned = if cfg!(unix) { 3 } else { 2 };
    assert_eq!(rows.len(), 1 + scanned + 2, "{text}");
    let formula = named("=HYPERLINK(\"x\").png");
    assert_eq!(formula[col("status")], "scanned");
    assert_eq!(formula[col("path")], "'=HYPERLINK(\"x\").png");
    let comma = named("a, \"b\".png");
    assert_eq!(comma[col("status")], "scanned");
    for r in [formula, comma] {
        let p: f64 = r[col("probability")].parse().unwrap();
        assert!((0.0..=1.0).contains(&p), "{r:?}");
        assert_eq!(r[col("sha256")].len(), 64);
        assert_eq!(r[col("agreement")], "agree");
        assert_eq!(r[col("p_tiny-probe")], r[col("probability")]);
    }
    #[cfg(unix)]
    assert_eq!(named("caf\u{fffd}.png")[col("status")], "scanned");
    let broken = named("broken.png");
    assert_eq!(broken[col("status")], "error");
    assert!(broken[col("error")].contains("broken.png"), "{broken:?}");
    assert!(broken[col("score")].is_empty());
    let notes = named("notes.txt");
    assert_eq!(
        (
            notes[col("status")].as_str(),
            notes[col("size_bytes")].as_str()
        ),
        ("not_examined", "7")
    );
    // No text cell starts as a formula would (numbers such as -6.05 are numbers).
    for r in &rows {
        for k in ["path", "error", "warnings"] {
            let c = &r[col(k)];
            assert!(!c.starts_with(['=', '+', '-', '@']), "{c}");
        }
    }
    // The same files as JSON: one entry each, the name that is not UTF-8 with U+FFFD.
    let all: serde_json::Value = serde_json::from_slice(&scan("--json")).unwrap();
    let paths: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths.len(), rows.len() - 1, "{paths:?}");
    #[cfg(unix)]
    assert!(
        paths.iter().any(|p| p.ends_with("caf\u{fffd}.png")),
        "{paths:?}"
    );
}

/// `model remove`: an installed detector leaves the library, its file moved aside (not deleted);
/// a shipped one and an unknown name are refused.
#[test]
fn model_remove_moves_an_installed_detector_aside_and_refuses_shipped_ones() {
    let data = tempfile::tempdir().unwrap();
    let detectors = data.path().join("detectors");
    std::fs::create_dir_all(&detectors).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/detectors/probe.safetensors");
    std::fs::copy(&shipped, detectors.join("mine.safetensors")).unwrap();
    let model = |args: &[&str]| {
        bin()
            .env("FAUXSCOPE_DATA_DIR", data.path())
            .arg("model")
            .args(args)
            .output()
            .unwrap()
    };
    let listed = String::from_utf8_lossy(&model(&["list"]).stdout).to_string();
    assert!(listed.contains("mine"), "{listed}");
    let o = model(&["remove", "mine"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!detectors.join("mine.safetensors").exists());
    let moved: Vec<PathBuf> = std::fs::read_dir(detectors.join("removed"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(
        std::fs::read(&moved[0]).unwrap(),
        std::fs::read(&shipped).unwrap()
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains(&moved[0].display().to_string()));
    let listed = String::from_utf8_lossy(&model(&["list"]).stdout).to_string();
    assert!(!listed.contains("mine"), "{listed}");
    for (name, says) in [
        ("mpft", "shipped detector"),
        ("default", "shipped detector"),
        ("mine", "no installed detector 'mine'"),
    ] {
        let o = model(&["remove", name]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(says), "{name}: {err}");
    }
}

#[test]
fn a_picture_saved_from_the_clipboard_is_said_to_be_pasted_in_scans_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let ckpt = dir.path().join("tiny-probe.safetensors");
    trained_probe(&real, &fake, &ckpt, &[]);
    // The window saves pasted pictures in <data>/pasted/.
    let data = dir.path().join("data");
    let pasted = data.join("pasted");
    std::fs::create_dir_all(&pasted).unwrap();
    let saved = pasted.join("pasted-2026-12-04T120000Z.png");
    std::fs::copy(real.join("r3.png"), &saved).unwrap();
    let in_data = || {
        let mut c = bin();
        c.env("FAUXSCOPE_DATA_DIR", &data);
        c
    };
    let rows = scan_json(in_data(), &ckpt, &[&saved, &real.join("r3.png")]);
    let pasted_warning = |r: &serde_json::Value| {
        r["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("pasted from the clipboard"))
    };
    assert!(pasted_warning(&rows[0]), "{}", rows[0]);
    assert!(!pasted_warning(&rows[1]), "{}", rows[1]);
    // Reached through a relative spelling of its folder, it is the same file.
    let mut c = in_data();
    c.current_dir(&data);
    let rows = scan_json(
        c,
        &ckpt,
        &[Path::new("pasted/../pasted/pasted-2026-12-04T120000Z.png")],
    );
    assert!(pasted_warning(&rows[0]), "{rows}");

    let report = dir.path().join("report");
    let out = in_data()
        .args(["report", "--model"])
        .arg(tiny())
        .arg("--detector")
        .arg(&ckpt)
        .args(["--compare", ""])
        .arg(&saved)
        .arg("--out")
        .arg(&report)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sidecar = std::fs::read_to_string(report.join("report.json")).unwrap();
    assert!(sidecar.contains("pasted from the clipboard"), "{sidecar}");
}
