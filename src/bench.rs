//! Benchmarks (`fauxscope bench`): decode + preprocess throughput and forward-pass latency and
//! throughput per ViT size and batch, on the selected device. Figures go to docs/BENCHMARKS.md.

use crate::imageio::LoadLimits;
use crate::model::preprocess::CropMode;
use crate::model::{ClipVision, ClipVisionConfig};
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Clone, Serialize)]
pub struct ForwardResult {
    pub arch: String,
    pub weights: String,
    pub dtype: String,
    pub batch: usize,
    pub iters: usize,
    /// Median seconds per forward call.
    pub seconds_per_batch: f64,
    /// Fastest forward call (the host may be shared; the minimum is the least disturbed figure).
    pub min_seconds_per_batch: f64,
    pub images_per_second: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DecodeResult {
    pub images: usize,
    pub seconds: f64,
    pub images_per_second: f64,
    pub threads: usize,
    /// The JPEGs among them, and the median milliseconds the damage check
    /// ([`crate::jpeg_check`], part of every JPEG's load) took on one of them, on one thread.
    pub jpegs: usize,
    pub jpeg_check_ms: f64,
}

/// A model with random weights for a preset (same compute as the real one).
pub fn random_model(cfg: &ClipVisionConfig, device: &Device, dtype: DType) -> Result<ClipVision> {
    let vm = VarMap::new();
    let vb = VarBuilder::from_varmap(&vm, dtype, device);
    Ok(ClipVision::new(vb, cfg)?)
}

fn sync(t: &Tensor) -> Result<()> {
    // Reading one value forces queued device work to finish.
    let _ = t
        .flatten_all()?
        .narrow(0, 0, 1)?
        .to_dtype(DType::F32)?
        .to_vec1::<f32>()?;
    Ok(())
}

/// Times `model.embed` at a batch size: one warm-up call, then at least `iters` timed calls and
/// at least `min_seconds` of them (median and best).
pub fn time_forward(
    model: &ClipVision,
    batch: usize,
    iters: usize,
    min_seconds: f64,
    weights: &str,
) -> Result<ForwardResult> {
    let s = model.config.image_size;
    let x = Tensor::randn(0f32, 1.0, (batch, 3, s, s), model.device())?.to_dtype(model.dtype())?;
    sync(&model.embed(&x)?)?;
    let mut times = Vec::with_capacity(iters);
    while times.len() < iters.max(1) || times.iter().sum::<f64>() < min_seconds {
        let t = Instant::now();
        sync(&model.embed(&x)?)?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let med = times[times.len() / 2];
    Ok(ForwardResult {
        arch: model.config.arch_name(),
        weights: weights.to_string(),
        dtype: format!("{:?}", model.dtype()).to_lowercase(),
        batch,
        iters: times.len(),
        seconds_per_batch: med,
        min_seconds_per_batch: times[0],
        images_per_second: batch as f64 / med,
    })
}

/// Decode + preprocess throughput over image files (rayon pool, as the scan pipeline does).
pub fn time_decode(paths: &[PathBuf], size: u32, mode: CropMode) -> Result<DecodeResult> {
    use rayon::prelude::*;
    let spec = crate::workstation::pipeline::PrepSpec {
        size,
        mode,
        perturb: None,
        limits: LoadLimits::default(),
    };
    let t = Instant::now();
    let ok = paths
        .par_iter()
        .filter(|p| crate::workstation::pipeline::prepare(p, &spec).is_ok())
        .count();
    let secs = t.elapsed().as_secs_f64();
    // The damage check alone, file by file, the bytes read beforehand.
    let mut check = Vec::new();
    for p in paths {
        let Ok(bytes) = std::fs::read(p) else {
            continue;
        };
        if bytes.starts_with(&[0xFF, 0xD8]) {
            let t = Instant::now();
            std::hint::black_box(crate::jpeg_check::damage(&bytes));
            check.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    check.sort_by(|a, b| a.total_cmp(b));
    Ok(DecodeResult {
        images: ok,
        seconds: secs,
        images_per_second: ok as f64 / secs,
        threads: rayon::current_num_threads(),
        jpegs: check.len(),
        jpeg_check_ms: check.get(check.len() / 2).copied().unwrap_or(f64::NAN),
    })
}

/// Times opening one image as the window does, `iters` times after a warm-up: (stage, median s,
/// min s) for loading, the first verdict with both maps (what the window waits for), the second
/// detector, and the stability check.
pub fn time_open(
    engine: &crate::workstation::Engine,
    path: &std::path::Path,
    iters: usize,
) -> Result<Vec<(String, f64, f64)>> {
    use crate::workstation::analyze::default_stability;
    let primary = engine.detector(crate::detect::DEFAULT_DETECTOR)?;
    let second = engine.detector("probe")?;
    let mut rows: Vec<(String, Vec<f64>)> = [
        "load (read, hash, decode)",
        "primary verdict + TAM + rollout",
        "first verdict with both maps (total)",
        "second detector",
        "stability (3 re-encodings)",
    ]
    .iter()
    .map(|s| (s.to_string(), vec![]))
    .collect();
    for i in 0..=iters {
        let t = Instant::now();
        let img = engine.load_evidence(path)?;
        let t_load = t.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let mut a = engine.analyze_primary(&img, primary.as_ref())?;
        let t_primary = t1.elapsed().as_secs_f64();
        let t_first = t.elapsed().as_secs_f64();
        let t2 = Instant::now();
        engine.add_detector(&mut a, &img, second.as_ref())?;
        let t_second = t2.elapsed().as_secs_f64();
        let t3 = Instant::now();
        engine.add_stability(&mut a, &img, primary.as_ref(), &default_stability())?;
        let t_stab = t3.elapsed().as_secs_f64();
        if i == 0 {
            continue; // warm-up
        }
        for (row, v) in rows
            .iter_mut()
            .zip([t_load, t_primary, t_first, t_second, t_stab])
        {
            row.1.push(v);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(s, mut v)| {
            v.sort_by(f64::total_cmp);
            let med = v.get(v.len() / 2).copied().unwrap_or(f64::NAN);
            let min = v.first().copied().unwrap_or(f64::NAN);
            (s, med, min)
        })
        .collect())
}
