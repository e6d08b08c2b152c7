//! MPFT + TAM on the tiny model: what is trained, that it learns, that the checkpoint is small and
//! reloads to the same scores, and that resume continues a run.

mod common;

use candle_core::{DType, Device, Tensor};
use fauxscope::detect::tam::MaskMode;
use fauxscope::jobs::{no_progress, CancelFlag};
use fauxscope::model::{ClipVision, ForwardOptions};
use fauxscope::train::mpft::{bce_with_logits, build_trainable, inference_model, MpftSettings};
use fauxscope::workstation::train::MpftRequest;
use fauxscope::workstation::train_process::{run_in_child, TrainRequest, TrainSpec};
use fauxscope::workstation::{open_model_dir, Engine};
use std::path::{Path, PathBuf};

fn tiny_engine() -> Engine {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny");
    let base = open_model_dir(&dir, &Device::Cpu, DType::F32).unwrap();
    Engine {
        base,
        device: Device::Cpu,
        device_note: None,
        limits: Default::default(),
    }
}

fn make_data(dir: &Path) -> (PathBuf, PathBuf) {
    common::make_data(dir, 16)
}

fn settings() -> MpftSettings {
    MpftSettings {
        epochs: 3,
        batch_size: 8,
        lr: 3e-3,
        mask_ratio: 0.25,
        ..Default::default()
    }
}

#[test]
fn every_trainable_tensor_gets_a_gradient_under_tam() {
    let e = tiny_engine();
    let s = settings();
    let t = build_trainable(&e.base.vision, &s, None).unwrap();
    let names: Vec<String> = t.varmap.data().lock().unwrap().keys().cloned().collect();
    // 2 layers x 4 projections x (A, B) LoRA, 4 + 2x4 LayerNorm tensors, head weight and bias.
    assert_eq!(names.len(), 16 + 12 + 2, "{names:?}");
    // The head and LoRA B start at zero: step 0 trains the head, step 1 reaches B, step 2 reaches A.
    let x = Tensor::randn(0f32, 1.0, (4, 3, 32, 32), &Device::Cpu).unwrap();
    let keep = fauxscope::model::vit::keep_indices(
        &vec![(0..16).map(|i| i % 4 != 0).collect::<Vec<bool>>(); 4],
        &Device::Cpu,
    )
    .unwrap();
    let y = Tensor::new(&[0f32, 1.0, 0.0, 1.0], &Device::Cpu).unwrap();
    let mut opt = candle_nn::AdamW::new(t.varmap.all_vars(), Default::default()).unwrap();
    use candle_nn::Optimizer;
    for step in 0..3 {
        let out = t
            .model
            .forward_with(
                &x,
                ForwardOptions {
                    keep: Some(&keep),
                    differentiable: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let z = fauxscope::detect::mpft::head_logits(&out.pooled, &t.head_w, &t.head_b).unwrap();
        let loss = bce_with_logits(&z, &y).unwrap();
        let grads = loss.backward().unwrap();
        if step == 2 {
            for (n, v) in t.varmap.data().lock().unwrap().iter() {
                let g = grads
                    .get(v.as_tensor())
                    .unwrap_or_else(|| panic!("no gradient for {n}"));
                let s = g
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(s > 0.0, "zero gradient for {n}");
            }
        }
        opt.step(&grads).unwrap();
    }
    // The frozen base weights are not variables.
    assert!(!names.iter().any(|n| n.ends_with("q_proj.weight")));
}

#[test]
fn merged_inference_equals_adapter_forward() {
    let e = tiny_engine();
    let s = settings();
    let t = build_trainable(&e.base.vision, &s, None).unwrap();
    // Give LoRA B non-zero values so the adapter matters.
    for (n, v) in t.varmap.data().lock().unwrap().iter() {
        if n.ends_with("lora_b") {
            v.set(&Tensor::randn(0f32, 0.05, v.as_tensor().shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let x = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &Device::Cpu).unwrap();
    let a = t.model.forward_with(&x, Default::default()).unwrap().pooled;
    let merged: ClipVision = inference_model(&e.base.vision, &t.tensors().unwrap(), &s).unwrap();
    let b = merged.forward_with(&x, Default::default()).unwrap().pooled;
    let base = e
        .base
        .vision
        .forward_with(&x, Default::default())
        .unwrap()
        .pooled;
    let d = common::max_diff(&a, &b);
    assert!(d < 1e-4, "merged differs by {d}");
    let d0 = common::max_diff(&a, &base);
    assert!(d0 > 1e-3, "adapter had no effect");
}

/// An MPFT request on one real and one generated folder, named after the output file.
fn request(real: &Path, fake: &Path, out: &Path, settings: MpftSettings) -> MpftRequest {
    MpftRequest {
        real: vec![real.to_path_buf()],
        fake: vec![fake.to_path_buf()],
        out: out.to_path_buf(),
        name: out.file_stem().unwrap().to_string_lossy().into_owned(),
        settings,
        resume: None,
        head_from: None,
        pin: None,
    }
}

/// Loads a checkpoint through the detector registry and scans the 16 + 16 training images with
/// it: (the blocks its tower runs, the AUC of its scores).
fn reload_and_scan(e: &Engine, ckpt: &Path, real: &Path, fake: &Path) -> (usize, f64) {
    let (layers, s) = scores_of(e, ckpt, real, fake);
    let labels: Vec<bool> = (0..32).map(|i| i >= 16).collect();
    (layers, fauxscope::eval::metrics::auc(&s, &labels))
}

/// Loads a checkpoint through the detector registry: (the blocks its tower runs, its scores of
/// the 16 + 16 training images).
fn scores_of(e: &Engine, ckpt: &Path, real: &Path, fake: &Path) -> (usize, Vec<f32>) {
    let det = fauxscope::detect::build_detector(
        fauxscope::detect::Checkpoint::load(ckpt).unwrap(),
        &e.base,
    )
    .unwrap();
    let paths: Vec<PathBuf> = (0..16)
        .map(|i| real.join(format!("r{i}.png")))
        .chain((0..16).map(|i| fake.join(format!("f{i}.png"))))
        .collect();
    let rows = e
        .scan_paths(det.as_ref(), &paths, &no_progress, &CancelFlag::new())
        .unwrap();
    let s = rows.iter().map(|r| r.as_ref().unwrap().score).collect();
    (det.vision().layers.len(), s)
}

#[test]
fn mpft_learns_saves_small_checkpoint_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let e = tiny_engine();
    for mode in [MaskMode::Texture, MaskMode::Random, MaskMode::None] {
        let out = dir.path().join(format!("m-{mode:?}.safetensors"));
        let req = request(
            &real,
            &fake,
            &out,
            MpftSettings {
                mask_mode: mode,
                ..settings()
            },
        );
        let c = e
            .train_mpft(&req, &no_progress, &CancelFlag::new())
            .unwrap();
        assert_eq!(c.meta.method, "mpft");
        assert!(
            c.meta.metrics["heldout_auc"].as_f64().unwrap() >= 0.9,
            "{mode:?}: {}",
            c.meta.metrics
        );
        // Only trained tensors: no frozen weight is stored.
        assert!(c.tensors.keys().all(|k| k.contains("lora_")
            || k.contains("norm")
            || k.contains("layrnorm")
            || k.starts_with("head.")));
        // Reloaded through the detector registry, the scores separate the classes.
        let (_, auc) = reload_and_scan(&e, &out, &real, &fake);
        assert!(auc > 0.9, "{mode:?}: AUC {auc}");
    }
    // Resume: a finished 3-epoch run resumed with 4 epochs runs exactly one more.
    let out = dir.path().join("m-Texture.safetensors");
    let req = MpftRequest {
        real: vec![real],
        fake: vec![fake],
        out: dir.path().join("resumed.safetensors"),
        name: "tiny-mpft".into(),
        settings: MpftSettings {
            epochs: 4,
            ..settings()
        },
        resume: Some(out),
        head_from: None,
        pin: None,
    };
    let c = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .unwrap();
    assert_eq!(c.meta.metrics["epochs_done"], 4);
    assert_eq!(c.meta.metrics["history"].as_array().unwrap().len(), 1);
}

#[test]
fn head_on_an_earlier_block_trains_only_that_far_and_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let e = tiny_engine();
    let out = dir.path().join("h1.safetensors");
    let mut req = request(
        &real,
        &fake,
        &out,
        MpftSettings {
            head_layer: Some(1),
            ..settings()
        },
    );
    let c = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .unwrap();
    assert_eq!(c.meta.settings["head_layer"], 1);
    // Block 1 (index 1) of the 2-block tower is dropped: nothing of it is trained or stored.
    assert!(c.tensors.keys().any(|k| k.contains("layers.0.")));
    assert!(
        c.tensors.keys().all(|k| !k.contains("layers.1.")),
        "{:?}",
        c.tensors.keys().collect::<Vec<_>>()
    );
    let (blocks, auc) = reload_and_scan(&e, &out, &real, &fake);
    assert_eq!(blocks, 1);
    assert!(auc > 0.9, "AUC {auc}");
    // A block the tower does not have, or PiN noise after the head, is a clear error.
    for (layer, noise_layer) in [(Some(3), None), (Some(0), None), (Some(1), Some(1))] {
        req.settings.head_layer = layer;
        req.pin = noise_layer.map(|l| fauxscope::train::pin::PinSettings {
            noise_layer: l,
            ..Default::default()
        });
        let err = e
            .train_mpft(&req, &no_progress, &CancelFlag::new())
            .err()
            .unwrap_or_else(|| panic!("{layer:?}/{noise_layer:?} trained"));
        assert!(format!("{err:#}").contains("layer"), "{err:#}");
    }
}

#[test]
fn made_images_join_training_only_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let e = tiny_engine();
    let plain = e
        .train_mpft(
            &request(&real, &fake, &dir.path().join("p.safetensors"), settings()),
            &no_progress,
            &CancelFlag::new(),
        )
        .unwrap();
    let out = dir.path().join("s.safetensors");
    let c = e
        .train_mpft(
            &request(
                &real,
                &fake,
                &out,
                MpftSettings {
                    synthetic_fakes: 1.0,
                    low_passed_reals: 0.5,
                    ..settings()
                },
            ),
            &no_progress,
            &CancelFlag::new(),
        )
        .unwrap();
    assert_eq!(c.meta.settings["synthetic_fakes"], 1.0);
    // 16 + 16 images, 20% held out: 13 training reals give 13 simulated fakes per epoch, and
    // the held-out split (checkpoint choice and calibration) is the same genuine images.
    assert_eq!(c.meta.metrics["synthetic_fakes_per_epoch"], 13);
    assert_eq!(c.meta.metrics["low_passed_reals_per_epoch"], 7);
    assert_eq!(c.meta.settings["low_passed_reals"], 0.5);
    assert_eq!(plain.meta.metrics["synthetic_fakes_per_epoch"], 0);
    assert_eq!(
        c.meta.metrics["heldout_images"],
        plain.meta.metrics["heldout_images"]
    );
    // The made images change what is learnt, and the detector still separates the classes.
    let diff = common::max_diff(&c.tensors["head.weight"], &plain.tensors["head.weight"]);
    assert!(diff > 1e-4, "head unchanged by the made images ({diff})");
    let (_, auc) = reload_and_scan(&e, &out, &real, &fake);
    assert!(auc > 0.9, "AUC {auc}");
}

#[test]
fn cancelled_run_saves_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let cancel = CancelFlag::new();
    cancel.cancel();
    let out = dir.path().join("x.safetensors");
    let req = MpftRequest {
        real: vec![real],
        fake: vec![fake],
        out: out.clone(),
        name: "x".into(),
        settings: settings(),
        resume: None,
        head_from: None,
        pin: None,
    };
    let e = tiny_engine()
        .train_mpft(&req, &no_progress, &cancel)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cancelled"), "{e}");
    assert!(!out.exists());
}

#[test]
fn pin_trains_its_generator_jointly_and_reloads() {
    use fauxscope::detect::pin::{NoiseAtInference, NoiseMode};
    use fauxscope::train::pin::PinSettings;
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let e = tiny_engine();
    let paths: Vec<PathBuf> = (0..16)
        .map(|i| real.join(format!("r{i}.png")))
        .chain((0..16).map(|i| fake.join(format!("f{i}.png"))))
        .collect();
    let labels: Vec<bool> = (0..32).map(|i| i >= 16).collect();
    for (noise, inference) in [
        (NoiseMode::Pin, NoiseAtInference::Off),
        (NoiseMode::Pin, NoiseAtInference::Mean),
        (NoiseMode::Random, NoiseAtInference::Off),
    ] {
        let out = dir
            .path()
            .join(format!("pin-{noise:?}-{inference:?}.safetensors"));
        let pin = PinSettings {
            noise,
            noise_layer: 1,
            noise_at_inference: inference,
            ..Default::default()
        };
        let req = MpftRequest {
            real: vec![real.clone()],
            fake: vec![fake.clone()],
            out: out.clone(),
            name: "tiny-pin".into(),
            settings: settings(),
            resume: None,
            head_from: None,
            pin: Some(pin.clone()),
        };
        let c = e
            .train_mpft(&req, &no_progress, &CancelFlag::new())
            .unwrap();
        assert_eq!(c.meta.method, "pin");
        assert_eq!(c.meta.settings["noise_layer"], 1);
        assert_eq!(c.meta.settings["class_embeddings"], "prototypes");
        let has_generator = c.tensors.contains_key("pin.prototypes");
        assert_eq!(has_generator, noise == NoiseMode::Pin);
        if has_generator {
            // The generator trained jointly: its output layers moved from their zero start.
            let mu_w = c.tensors["pin.mu.weight"].abs().unwrap().max_all().unwrap();
            assert!(
                mu_w.to_scalar::<f32>().unwrap() > 0.0,
                "mu head did not train"
            );
            let sig_w = c.tensors["pin.sigma.weight"]
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            assert!(
                sig_w.to_scalar::<f32>().unwrap() > 0.0,
                "sigma head did not train"
            );
        }
        let det = fauxscope::detect::build_detector(
            fauxscope::detect::Checkpoint::load(&out).unwrap(),
            &e.base,
        )
        .unwrap();
        let rows = e
            .scan_paths(det.as_ref(), &paths, &no_progress, &CancelFlag::new())
            .unwrap();
        let s: Vec<f32> = rows.iter().map(|r| r.as_ref().unwrap().score).collect();
        let auc = fauxscope::eval::metrics::auc(&s, &labels);
        assert!(auc > 0.9, "{noise:?}/{inference:?}: AUC {auc}");
    }
    // A noise layer the model lacks is refused before any work.
    let req = MpftRequest {
        real: vec![real],
        fake: vec![fake],
        out: dir.path().join("bad.safetensors"),
        name: "bad".into(),
        settings: settings(),
        resume: None,
        head_from: None,
        pin: Some(PinSettings {
            noise_layer: 7,
            ..Default::default()
        }),
    };
    let err = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("noise layer 7"), "{err}");
}

fn child_spec(dir: &Path, real: PathBuf, fake: PathBuf, epochs: usize) -> TrainSpec {
    TrainSpec {
        model: Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tiny")
            .display()
            .to_string(),
        device: fauxscope::device::DeviceChoice::Cpu,
        request: TrainRequest::Mpft(Box::new(MpftRequest {
            real: vec![real],
            fake: vec![fake],
            out: dir.join("child.safetensors"),
            name: "child".into(),
            settings: MpftSettings {
                epochs,
                ..settings()
            },
            resume: None,
            head_from: None,
            pin: None,
        })),
    }
}

/// The window trains in a child `fauxscope train-worker`: progress comes back over the pipe, the
/// checkpoint is the child's, a cancel reaches it, and a failed job says why.
#[test]
fn training_in_a_child_process_reports_progress_cancels_and_fails_clearly() {
    let exe = Path::new(env!("CARGO_BIN_EXE_fauxscope"));
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());

    // A whole run.
    let spec = child_spec(dir.path(), real.clone(), fake.clone(), 2);
    let seen = std::sync::Mutex::new(Vec::new());
    let sink = |p: fauxscope::jobs::Progress| seen.lock().unwrap().push(p);
    let c = run_in_child(exe, &spec, &sink, &CancelFlag::new()).unwrap();
    assert_eq!(c.meta.name, "child");
    assert_eq!(c.meta.metrics["epochs_run"].as_u64(), Some(2));
    let seen = seen.into_inner().unwrap();
    assert!(
        seen.iter().any(|p| p.value("loss").is_some()),
        "no loss reported: {seen:?}"
    );
    assert!(seen.iter().any(|p| p.stage == "saved"), "{seen:?}");

    // Cancelled after the first epoch is saved: fewer epochs ran, the best one is kept.
    std::fs::remove_file(spec.request.out()).unwrap();
    let spec = child_spec(dir.path(), real.clone(), fake.clone(), 10_000);
    let cancel = CancelFlag::new();
    let sink = |p: fauxscope::jobs::Progress| {
        if p.stage == "saved" {
            cancel.cancel();
        }
    };
    let t = std::time::Instant::now();
    let c = run_in_child(exe, &spec, &sink, &cancel).unwrap();
    let run = c.meta.metrics["epochs_run"].as_u64().unwrap();
    assert!(
        run < 10_000,
        "the cancel did not reach the child ({run} epochs)"
    );
    assert!(t.elapsed().as_secs() < 120);

    // A job that fails in the child: its error comes back, naming the problem.
    let mut spec = child_spec(dir.path(), real, fake, 1);
    spec.model = dir.path().join("no-such-model").display().to_string();
    let e = run_in_child(
        exe,
        &spec,
        &fauxscope::jobs::no_progress,
        &CancelFlag::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no-such-model"), "{e}");
}

#[test]
fn lp_ft_starts_from_the_probe_on_several_blocks_fine_tunes_and_reloads() {
    use fauxscope::model::preprocess::CropMode;
    let dir = tempfile::tempdir().unwrap();
    let (real, fake) = make_data(dir.path());
    let e = tiny_engine();
    // Linear probing: a probe on the class tokens of both blocks.
    let probe = dir.path().join("probe.safetensors");
    let preq = fauxscope::workstation::ProbeRequest {
        real: vec![real.clone()],
        fake: vec![fake.clone()],
        out: probe.clone(),
        name: "tiny-probe-blocks".into(),
        crop: CropMode::Center,
        settings: fauxscope::train::probe::ProbeSettings {
            blocks: Some(vec![1, 2]),
            l2: 1.0,
            lr: 0.005,
            ..Default::default()
        },
    };
    e.train_probe(&preq, &no_progress, &CancelFlag::new())
        .unwrap();
    let lp_ft = |out: &Path, lr: f64, blocks: Vec<usize>, seed: u64| {
        let mut req = request(
            &real,
            &fake,
            out,
            MpftSettings {
                blocks: Some(blocks),
                crop: CropMode::Center,
                lr,
                seed,
                ..settings()
            },
        );
        req.head_from = Some(probe.display().to_string());
        e.train_mpft(&req, &no_progress, &CancelFlag::new())
    };
    // With a zero learning rate nothing moves: the fine-tuned detector is the probe, so the head
    // was taken over exactly and folded back exactly, and the run took the probe's split.
    let still = dir.path().join("still.safetensors");
    let c = lp_ft(&still, 0.0, vec![1, 2], 0).unwrap();
    assert_eq!(c.meta.settings["head_from"], "tiny-probe-blocks");
    assert_eq!(c.meta.settings["holdout"], 0.25);
    assert_eq!(c.meta.metrics["heldout_images"], 8);
    assert_eq!(c.tensor("head.weight").unwrap().dims(), [1, 2 * 32]);
    let (a, b) = (
        scores_of(&e, &probe, &real, &fake).1,
        scores_of(&e, &still, &real, &fake).1,
    );
    let d = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(
        d < 1e-4,
        "the unmoved LP-FT detector differs from its probe by {d}"
    );
    // Fine-tuning moves the tower and the head, and the result still separates the classes.
    let tuned = dir.path().join("tuned.safetensors");
    let c = lp_ft(&tuned, 3e-3, vec![1, 2], 0).unwrap();
    assert!(c.tensors.keys().any(|k| k.ends_with("lora_b")));
    let t = scores_of(&e, &tuned, &real, &fake).1;
    assert!(t.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
    let labels: Vec<bool> = (0..32).map(|i| i >= 16).collect();
    let auc = fauxscope::eval::metrics::auc(&t, &labels);
    assert!(auc > 0.9, "AUC {auc}");
    // Resumed, the run keeps the probe's split (a quarter held out, not MPFT's fifth).
    let mut req = request(
        &real,
        &fake,
        &dir.path().join("resumed.safetensors"),
        MpftSettings {
            blocks: Some(vec![1, 2]),
            crop: CropMode::Center,
            epochs: 4,
            ..settings()
        },
    );
    req.head_from = Some(probe.display().to_string());
    req.resume = Some(tuned.clone());
    let c = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .unwrap();
    assert_eq!(c.meta.metrics["epochs_done"], 4);
    assert_eq!(c.meta.metrics["heldout_images"], 8);
    // A probe that does not fit the run is refused, naming why.
    let bad = dir.path().join("bad.safetensors");
    for (blocks, seed, want) in [(vec![2], 0, "reads blocks"), (vec![1, 2], 1, "seed")] {
        let err = lp_ft(&bad, 1e-3, blocks, seed).expect_err("trained");
        assert!(format!("{err:#}").contains(want), "{err:#}");
    }
    let mut req = request(&real, &fake, &bad, settings());
    req.head_from = Some(tuned.display().to_string());
    let err = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("--blocks"), "{err:#}");
    req.settings.blocks = Some(vec![1, 2]);
    let err = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("not a probe"), "{err:#}");
    req.head_from = None;
    req.pin = Some(Default::default());
    let err = e
        .train_mpft(&req, &no_progress, &CancelFlag::new())
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("several blocks"), "{err:#}");
    assert!(!bad.exists());
}
