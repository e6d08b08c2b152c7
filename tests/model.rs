//! The vision tower: parity with the independent numpy reference, gradients, keep-masks, hooks.

mod common;

use candle_core::{DType, Device, Tensor, D};
use candle_nn::{VarBuilder, VarMap};
use fauxscope::device::Precision;
use fauxscope::jobs::{no_progress, CancelFlag};
use fauxscope::model::preprocess::CropMode;
use fauxscope::model::vit::keep_indices;
use fauxscope::model::{ClipVision, ClipVisionConfig, ForwardOptions};
use fauxscope::workstation::open_model_dir;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn cosine(a: &[f32], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * y).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn reference(path: &Path) -> Vec<(String, Vec<f64>)> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let name = Path::new(o["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .to_string();
            let e = o["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect();
            (name, e)
        })
        .collect()
}

fn check_parity(engine: &fauxscope::workstation::Engine, dir: &Path, refs: &[(String, Vec<f64>)]) {
    check_parity_to(engine, dir, refs, 0.9999);
}

fn check_parity_to(
    engine: &fauxscope::workstation::Engine,
    dir: &Path,
    refs: &[(String, Vec<f64>)],
    min_cosine: f64,
) {
    let paths: Vec<PathBuf> = refs.iter().map(|(n, _)| dir.join(n)).collect();
    let out = engine
        .embed_paths(&paths, CropMode::Clip, &no_progress, &CancelFlag::new())
        .unwrap();
    assert_eq!(out.len(), refs.len());
    for ((name, r), o) in refs.iter().zip(out) {
        let (_, e) = o.unwrap();
        let c = cosine(&e, r);
        assert!(
            c >= min_cosine,
            "{name}: cosine {c} with the numpy reference ({:?})",
            engine.base.vision.dtype()
        );
    }
}

#[test]
fn tiny_model_matches_numpy_reference() {
    let dir = fixtures().join("tiny");
    let base = open_model_dir(&dir, &Device::Cpu, DType::F32).unwrap();
    let engine = fauxscope::workstation::Engine {
        base,
        device: Device::Cpu,
        device_note: None,
        limits: Default::default(),
    };
    check_parity(&engine, &dir, &reference(&dir.join("reference.json")));
}

/// With the real ViT-B/16 weights installed (CI fetches them and sets FAUXSCOPE_REQUIRE_REAL=1).
#[test]
fn real_vit_b16_matches_numpy_reference() {
    let required = std::env::var("FAUXSCOPE_REQUIRE_REAL").is_ok_and(|v| v == "1");
    if fauxscope::model::store::model_info("clip-vit-base-patch16").is_err() {
        assert!(
            !required,
            "FAUXSCOPE_REQUIRE_REAL=1 but clip-vit-base-patch16 is not installed"
        );
        eprintln!("skipping: real weights not installed (run `fauxscope model fetch`)");
        return;
    }
    let dir = fixtures().join("parity");
    let refs = reference(&dir.join("reference_vit_b16.json"));
    // f32 against the reference; f16 (weights cast as they load; CUDA's default) must stay within
    // cosine 0.999 of it on the same images (it gives 0.99999). bf16 does not reach 0.999 (0.9984
    // on scene.png: its 8-bit mantissa on the residual stream's large values), so it is held to
    // 0.995 here and documented as the lesser choice (docs/BENCHMARKS.md).
    for (precision, min_cosine) in [
        (Precision::F32, 0.9999),
        (Precision::F16, 0.999),
        (Precision::Bf16, 0.995),
    ] {
        let engine = fauxscope::workstation::Engine::open(
            "clip-vit-base-patch16",
            fauxscope::device::DeviceChoice::Cpu,
            precision,
            &mut |_| {},
        )
        .unwrap();
        check_parity_to(&engine, &dir, &refs, min_cosine);
    }
}

fn tiny_varmap_model() -> (VarMap, ClipVision) {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
    let m = ClipVision::new(vb, &ClipVisionConfig::tiny()).unwrap();
    (vm, m)
}

fn pixels(b: usize) -> Tensor {
    Tensor::randn(0f32, 1.0, (b, 3, 32, 32), &Device::Cpu).unwrap()
}

#[test]
fn every_parameter_receives_a_gradient() {
    let (vm, m) = tiny_varmap_model();
    let names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
    assert!(names.contains(&"vision_model.embeddings.class_embedding".to_string()));
    assert_eq!(
        names.len(),
        fauxscope::model::store::expected_tensors(&ClipVisionConfig::tiny()).len()
    );
    let x = pixels(3);
    // Keep 10 of 16 patches per sample, and add a hook after layer 0: gradients must still reach all.
    let masks: Vec<Vec<bool>> = (0..3)
        .map(|s| (0..16).map(|i| (i + s) % 8 < 5).collect())
        .collect();
    let keep = keep_indices(&masks, &Device::Cpu).unwrap();
    let hook = |h: &Tensor| h.affine(0.1, 0.0);
    let out = m
        .forward_with(
            &x,
            ForwardOptions {
                keep: Some(&keep),
                hook: Some((0, &hook)),
                differentiable: true,
                ..Default::default()
            },
        )
        .unwrap();
    let target = Tensor::randn(0f32, 1.0, out.embeds.shape(), &Device::Cpu).unwrap();
    let loss = (&out.embeds - &target)
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap();
    let grads = loss.backward().unwrap();
    let data = vm.data().lock().unwrap();
    for (name, var) in data.iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let n = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(n > 0.0, "zero gradient for {name}");
    }
}

#[test]
fn differentiable_and_fused_paths_agree() {
    let (_, m) = tiny_varmap_model();
    let x = pixels(2);
    let a = m
        .forward_with(&x, ForwardOptions::default())
        .unwrap()
        .embeds;
    let b = m
        .forward_with(
            &x,
            ForwardOptions {
                differentiable: true,
                ..Default::default()
            },
        )
        .unwrap()
        .embeds;
    let d = common::max_diff(&a, &b);
    assert!(d < 1e-4, "max diff {d}");
}

#[test]
fn keep_mask_hidden_states_attentions_and_hook() {
    let (_, m) = tiny_varmap_model();
    let x = pixels(2);
    let full = m
        .forward_with(
            &x,
            ForwardOptions {
                hidden_states: true,
                attentions: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(full.hidden_states.len(), 3);
    assert_eq!(full.hidden_states[0].dims(), &[2, 17, 32]);
    assert_eq!(full.attentions.len(), 2);
    assert_eq!(full.attentions[1].dims(), &[2, 4, 17, 17]);
    let row_sums = full.attentions[0]
        .sum(D::Minus1)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(row_sums.iter().all(|s| (s - 1.0).abs() < 1e-5));

    // Keeping every patch is the same as no mask.
    let all = keep_indices(&vec![vec![true; 16]; 2], &Device::Cpu).unwrap();
    let kept = m
        .forward_with(
            &x,
            ForwardOptions {
                keep: Some(&all),
                ..Default::default()
            },
        )
        .unwrap();
    let d = common::max_diff(&kept.embeds, &full.embeds);
    assert!(d < 1e-5);

    // Dropping patches shortens the sequence and changes the embedding.
    let half: Vec<Vec<bool>> = vec![(0..16).map(|i| i % 2 == 0).collect(); 2];
    let idx = keep_indices(&half, &Device::Cpu).unwrap();
    let masked = m
        .forward_with(
            &x,
            ForwardOptions {
                keep: Some(&idx),
                hidden_states: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(masked.hidden_states[0].dims(), &[2, 9, 32]);
    let d = common::max_diff(&masked.embeds, &full.embeds);
    assert!(d > 1e-4);

    // Unequal keep counts are a clear error, not a panic.
    let bad = vec![vec![true; 16], vec![false; 16]];
    assert!(keep_indices(&bad, &Device::Cpu).is_err());

    // The hook's output is added after the chosen layer: a zero hook changes nothing, another does.
    let zero = |h: &Tensor| h.zeros_like();
    let z = m
        .forward_with(
            &x,
            ForwardOptions {
                hook: Some((1, &zero)),
                ..Default::default()
            },
        )
        .unwrap();
    let d = common::max_diff(&z.embeds, &full.embeds);
    assert!(d < 1e-6);
    let shift = |h: &Tensor| h.ones_like();
    let s = m
        .forward_with(
            &x,
            ForwardOptions {
                hook: Some((1, &shift)),
                hidden_states: true,
                ..Default::default()
            },
        )
        .unwrap();
    let diff = (&s.hidden_states[2] - &full.hidden_states[2])
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((diff - 1.0).abs() < 1e-5);
}

#[test]
fn wrong_input_size_is_an_error() {
    let (_, m) = tiny_varmap_model();
    let x = Tensor::zeros((1, 3, 48, 48), DType::F32, &Device::Cpu).unwrap();
    let e = m
        .forward_with(&x, ForwardOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match"), "{e}");
}

/// The packed CPU kernel (inference path) against the differentiable path on fixed weights, and
/// a replaced weight in a copy is packed again without touching the original.
#[test]
fn packed_inference_follows_replaced_weights() {
    let dir = fixtures().join("tiny");
    let base = open_model_dir(&dir, &Device::Cpu, DType::F32).unwrap();
    let x = pixels(3);
    let run = |m: &ClipVision, differentiable: bool| {
        m.forward_with(
            &x,
            ForwardOptions {
                differentiable,
                ..Default::default()
            },
        )
        .unwrap()
        .embeds
    };
    let before = run(&base.vision, false);
    assert!(common::max_diff(&before, &run(&base.vision, true)) < 1e-4);
    let mut copy = base.vision.clone();
    for l in &mut copy.layers {
        l.mlp.fc1.weight = (&l.mlp.fc1.weight * 1.5).unwrap();
        l.self_attn.q_proj.weight = (&l.self_attn.q_proj.weight * 0.5).unwrap();
        l.self_attn.reset_fused();
    }
    let changed = run(&copy, false);
    assert!(common::max_diff(&changed, &run(&copy, true)) < 1e-4);
    assert!(
        common::max_diff(&changed, &before) > 1e-3,
        "the copy's new weights were ignored"
    );
    // The original still computes with its own weights.
    assert!(common::max_diff(&run(&base.vision, false), &before) < 1e-6);
}

/// Every detector compiled into the binary loads on the real base model and scores the sample
/// images through `scan`, as a user would call it by name.
#[test]
fn every_shipped_detector_scans_the_samples_on_the_real_model() {
    if !common::real_model_available() {
        eprintln!("skipping: real weights not installed");
        return;
    }
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/samples");
    for (name, _) in fauxscope::detect::shipped() {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fauxscope"))
            .args(["scan", "--json", "--detector", name])
            .arg(&samples)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let all = rows.as_array().unwrap();
        // The folder's README is named, not scanned.
        let rows: Vec<_> = all.iter().filter(|r| r["status"] == "scanned").collect();
        assert_eq!(rows.len(), 4, "{name}: {all:?}");
        assert_eq!(all.len(), 5, "{name}: {all:?}");
        assert_eq!(all[4]["status"], "not_examined", "{name}: {all:?}");
        for r in rows {
            assert_eq!(r["detector"], *name);
            let p = r["probability"].as_f64().unwrap();
            assert!(r["score"].as_f64().unwrap().is_finite() && (0.0..=1.0).contains(&p));
        }
    }
    // The table's footer gives the default's known error rates on unseen sources.
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_fauxscope"))
        .arg("scan")
        .arg(samples.join("photo-rocket.jpg"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{text}");
    assert!(
        text.contains("on unseen sources (aigi-dev/val): ") && text.contains("% false pos."),
        "{text}"
    );
}
