//! The service layer both shells call: open a base model, embed and scan images, train detectors.
//! Long work reports progress through a [`ProgressSink`] and stops on a [`CancelFlag`].

pub mod analyze;
pub mod calibrate;
pub mod case;
pub mod evaluate;
pub mod maps;
pub mod paste;
pub mod pipeline;
pub mod regions;
pub mod settings;
pub mod train;
pub mod train_process;

use crate::detect::{
    self, Checkpoint, Detector, DetectorMeta, FileRecord, TrainingSummary, Verdict,
};
use crate::device::{device_label, select_device, DeviceChoice};
use crate::imageio::{ImageFacts, LoadLimits};
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use crate::model::preprocess::{batch_tensor, CropMode};
use crate::model::store::{self, BaseModel, BaseModelInfo};
use crate::model::ClipVision;
use crate::train::probe::{train_probe_with, ExtraRows, ProbeSettings};
use crate::train::synthetic::{made_count, Made};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use pipeline::for_each_chunk;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Images prepared per chunk (decode overlaps with the forward pass of the previous chunk).
pub const CHUNK: usize = 8;

/// A loaded base model on a device.
pub struct Engine {
    pub base: BaseModel,
    pub device: Device,
    /// Set when the requested device was not available.
    pub device_note: Option<String>,
    pub limits: LoadLimits,
}

/// The result of scoring one image.
#[derive(Debug, Clone, Serialize)]
pub struct ScanRow {
    pub path: PathBuf,
    pub sha256: String,
    /// Raw detector logit (mean over crops).
    pub score: f32,
    /// Calibrated probability that the image is generated.
    pub probability: f32,
    pub verdict: Verdict,
    pub detector: String,
    pub crops: usize,
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub facts: ImageFacts,
}

/// An image's facts and its embedding.
pub type Embedded = (ImageFacts, Vec<f32>);

/// Per-input outcome: a value, or the loader's error naming the file.
pub type Outcome<T> = std::result::Result<T, String>;

impl Engine {
    /// Opens a base model: a directory holding `config.json` + `model.safetensors`, or the name of an
    /// installed model (the default model is fetched when missing).
    /// Inference runs in `precision` (weights cast as they load); training engines pass f32.
    pub fn open(
        model: &str,
        device: DeviceChoice,
        precision: crate::device::Precision,
        log: &mut dyn FnMut(&str),
    ) -> Result<Self> {
        let (device, device_note) = select_device(device);
        let dtype = crate::device::resolve_dtype(precision, &device);
        let p = Path::new(model);
        let base = if p.is_dir() {
            open_model_dir(p, &device, dtype)?
        } else {
            if model == store::DEFAULT_MODEL {
                store::ensure_model(model, log)?;
            }
            store::load_model(model, &device, dtype)?
        };
        Ok(Self {
            base,
            device,
            device_note,
            limits: LoadLimits::default(),
        })
    }

    pub fn image_size(&self) -> u32 {
        self.base.info.config.image_size as u32
    }

    /// How this engine prepares images.
    pub fn spec(
        &self,
        mode: CropMode,
        perturb: Option<crate::eval::perturb::Perturbation>,
    ) -> pipeline::PrepSpec {
        pipeline::PrepSpec {
            size: self.image_size(),
            mode,
            perturb,
            limits: self.limits,
        }
    }

    pub fn device_label(&self) -> String {
        device_label(&self.device)
    }

    pub fn pixels(&self, crops: &[&Vec<f32>]) -> Result<Tensor> {
        let owned: Vec<Vec<f32>> = crops.iter().map(|c| (*c).clone()).collect();
        Ok(batch_tensor(
            &owned,
            self.image_size() as usize,
            &self.device,
            self.base.vision.dtype(),
        )?)
    }

    /// Projected, unnormalised embeddings (mean over crops) for each path.
    pub fn embed_paths(
        &self,
        paths: &[PathBuf],
        mode: CropMode,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Outcome<Embedded>>> {
        self.embed_paths_with(&self.base.vision, paths, mode, progress, cancel)
    }

    /// As [`Engine::embed_paths`], with another tower (e.g. one cut after an earlier block).
    pub fn embed_paths_with(
        &self,
        vision: &ClipVision,
        paths: &[PathBuf],
        mode: CropMode,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Outcome<Embedded>>> {
        self.features_of_paths(vision, paths, (mode, None), None, progress, cancel)
    }

    /// The features a probe reads, one row per crop: the projected embedding, or with `blocks`
    /// the class tokens after those blocks, concatenated (`detect::probe::class_tokens`).
    fn features(
        &self,
        vision: &ClipVision,
        crops: &[&Vec<f32>],
        blocks: Option<detect::probe::BlockRead<'_>>,
    ) -> Result<Vec<Vec<f32>>> {
        let pixels = self.pixels(crops)?;
        Ok(match blocks {
            None => vision.embed(&pixels)?.to_dtype(DType::F32)?.to_vec2()?,
            Some(b) => {
                let out = vision.forward_with(
                    &pixels,
                    crate::model::vit::ForwardOptions {
                        hidden_states: true,
                        ..Default::default()
                    },
                )?;
                detect::probe::block_features(&out, b)?.to_vec2()?
            }
        })
    }

    /// Probe features (mean over crops) for each path, each image first perturbed when asked.
    fn features_of_paths(
        &self,
        vision: &ClipVision,
        paths: &[PathBuf],
        (mode, perturb): (CropMode, Option<crate::eval::perturb::Perturbation>),
        blocks: Option<detect::probe::BlockRead<'_>>,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Outcome<Embedded>>> {
        let mut out: Vec<Outcome<Embedded>> = Vec::with_capacity(paths.len());
        let mut done = 0;
        let stage = match perturb {
            None => "embedding".to_string(),
            Some(p) => format!("embedding ({p})"),
        };
        for_each_chunk(paths, self.spec(mode, perturb), CHUNK, cancel, |batch| {
            let ok: Vec<&pipeline::Prepared> =
                batch.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
            let crops: Vec<&Vec<f32>> = ok.iter().flat_map(|p| p.crops.iter()).collect();
            let emb: Vec<Vec<f32>> = if crops.is_empty() {
                vec![]
            } else {
                self.features(vision, &crops, blocks)?
            };
            let mut k = 0;
            for (_, r) in batch {
                done += 1;
                match r {
                    Ok(p) => {
                        let n = p.crops.len();
                        let mean = mean_rows(&emb[k..k + n]);
                        k += n;
                        progress(Progress::new(
                            &stage,
                            done,
                            paths.len(),
                            p.path.display().to_string(),
                        ));
                        out.push(Ok((p.facts, mean)));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Scores each path with a detector.
    pub fn scan_paths(
        &self,
        det: &dyn Detector,
        paths: &[PathBuf],
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Outcome<ScanRow>>> {
        self.scan_paths_perturbed(det, paths, None, progress, cancel)
    }

    /// Scores each path after applying `perturb` to the decoded image (robustness sweeps).
    pub fn scan_paths_perturbed(
        &self,
        det: &dyn Detector,
        paths: &[PathBuf],
        perturb: Option<crate::eval::perturb::Perturbation>,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Outcome<ScanRow>>> {
        let meta = det.meta();
        let mode = meta.crop;
        let size = self.image_size();
        let mut out = Vec::with_capacity(paths.len());
        let mut done = 0;
        for_each_chunk(paths, self.spec(mode, perturb), CHUNK, cancel, |batch| {
            let ok: Vec<&pipeline::Prepared> =
                batch.iter().filter_map(|(_, r)| r.as_ref().ok()).collect();
            let crops: Vec<&Vec<f32>> = ok.iter().flat_map(|p| p.crops.iter()).collect();
            let logits = if crops.is_empty() {
                vec![]
            } else {
                det.logits(&self.pixels(&crops)?)?
            };
            let mut k = 0;
            for (_, r) in batch {
                done += 1;
                match r {
                    Ok(p) => {
                        let n = p.crops.len();
                        let score = logits[k..k + n].iter().sum::<f32>() / n as f32;
                        k += n;
                        let mut warnings: Vec<String> = det.warnings().to_vec();
                        warnings.extend(coverage_warning(
                            &meta.name,
                            p.facts.width,
                            p.facts.height,
                            size,
                            mode,
                        ));
                        warnings.extend(input_warnings(&p.facts, size));
                        warnings.extend(paste::pasted_warning(&p.path));
                        progress(Progress::new(
                            "scanning",
                            done,
                            paths.len(),
                            p.path.display().to_string(),
                        ));
                        out.push(Ok(ScanRow {
                            sha256: p.facts.sha256.clone(),
                            path: p.path,
                            score,
                            probability: meta.calibration.probability(score),
                            verdict: meta.calibration.verdict(score),
                            detector: meta.name.clone(),
                            crops: n,
                            warnings,
                            facts: p.facts,
                        }));
                    }
                    Err(e) => out.push(Err(e)),
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Loads a detector by name or path onto this engine's base model.
    pub fn detector(&self, spec: &str) -> Result<Box<dyn Detector>> {
        let (_, ckpt) = detect::resolve(spec)?;
        detect::build_detector(ckpt, &self.base)
    }

    /// Trains a linear probe on frozen embeddings and writes the checkpoint atomically.
    pub fn train_probe(
        &self,
        req: &ProbeRequest,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Checkpoint> {
        let start = std::time::Instant::now();
        let (paths, labels) = labelled_paths(&req.real, &req.fake)?;
        let s = &req.settings;
        let blocks = s.blocks.as_deref().map(|b| (b, s.tokens));
        let mut vision = self.base.vision.clone();
        let last = detect::probe::last_block(
            s.blocks.as_deref(),
            s.head_layer,
            self.base.info.config.num_hidden_layers,
        )?;
        detect::mpft::truncate_to_head(&mut vision, last)?;
        let results =
            self.features_of_paths(&vision, &paths, (req.crop, None), blocks, progress, cancel)?;
        if cancel.is_cancelled() {
            bail!("training cancelled");
        }
        let (mut feats, mut labs, mut files, mut skipped) = (vec![], vec![], vec![], vec![]);
        let mut kept = Vec::new();
        for ((r, &l), path) in results.into_iter().zip(&labels).zip(&paths) {
            match r {
                Ok((facts, e)) => {
                    files.push(FileRecord {
                        sha256: facts.sha256,
                        fake: l,
                    });
                    feats.push(e);
                    labs.push(l);
                    kept.push(path);
                }
                Err(e) => skipped.push(e),
            }
        }
        let (nr, nf) = (
            labs.iter().filter(|&&l| !l).count(),
            labs.iter().filter(|&&l| l).count(),
        );
        if nr < 2 || nf < 2 {
            bail!(
                "need at least two readable images of each class (have {nr} real, {nf} generated)"
            );
        }
        // Made images come from the training reals only (the held-out split is the same as
        // `train_probe_with` draws).
        let (tr, _) = crate::train::probe::stratified_split(&labs, s.holdout, s.seed);
        let sources: Vec<&PathBuf> = tr.iter().filter(|&&i| !labs[i]).map(|&i| kept[i]).collect();
        let count = |r: f64| made_count(sources.len(), r);
        let made = (req.crop, s.seed, s.made_jpeg, blocks);
        let mut extra = ExtraRows {
            fakes: self.embed_made(
                &vision,
                &sources,
                count(s.synthetic_fakes),
                s.synthetic_kind.made(),
                made,
                progress,
                cancel,
            )?,
            reals: self.embed_made(
                &vision,
                &sources,
                count(s.low_passed_reals),
                Made::LowPassedReal,
                made,
                progress,
                cancel,
            )?,
            perturbed: Vec::new(),
        };
        // Perturbed copies of the training images only (the held-out split stays genuine).
        let tr_paths: Vec<PathBuf> = tr.iter().map(|&i| kept[i].clone()).collect();
        for &pert in &s.perturbed_copies {
            let rows = self.features_of_paths(
                &vision,
                &tr_paths,
                (req.crop, Some(pert)),
                blocks,
                progress,
                cancel,
            )?;
            if cancel.is_cancelled() {
                bail!("training cancelled");
            }
            for (r, &i) in rows.into_iter().zip(&tr) {
                let (_, f) = r.map_err(|e| anyhow::anyhow!("perturbed copy ({pert}): {e}"))?;
                extra.perturbed.push((f, labs[i]));
            }
        }
        progress(Progress::new(
            "fitting",
            0,
            1,
            format!("{nr} real, {nf} generated"),
        ));
        let fit = train_probe_with(&feats, &labs, &extra, s);
        let p = fit.weight.len();
        let mut tensors = std::collections::HashMap::new();
        tensors.insert(
            detect::probe::WEIGHT.to_string(),
            Tensor::from_vec(fit.weight.clone(), (1, p), &Device::Cpu)?,
        );
        tensors.insert(
            detect::probe::BIAS.to_string(),
            Tensor::from_vec(vec![fit.bias], 1, &Device::Cpu)?,
        );
        let mut metrics = fit.metrics.clone();
        metrics["skipped_files"] = serde_json::json!(skipped);
        let training = TrainingSummary::new(
            &req.real,
            &req.fake,
            files,
            start.elapsed().as_secs_f64(),
            self.device_label(),
        );
        let mut meta = DetectorMeta::new(
            &req.name,
            "probe",
            serde_json::to_value(&req.settings)?,
            req.crop,
            &self.base.info,
            training,
        );
        meta.calibration = fit.calibration;
        meta.metrics = metrics;
        let ckpt = Checkpoint { meta, tensors };
        ckpt.save(&req.out)?;
        progress(Progress::new(
            "fitting",
            1,
            1,
            format!("saved {}", req.out.display()),
        ));
        Ok(ckpt)
    }
}

impl Engine {
    /// Embeddings of `n` images made from `sources` (cycled), each from its own seeded
    /// generator (`train::synthetic`).
    #[allow(clippy::too_many_arguments)]
    fn embed_made(
        &self,
        vision: &ClipVision,
        sources: &[&PathBuf],
        n: usize,
        made: Made,
        (mode, seed, jpeg_p, blocks): (CropMode, u64, f64, Option<detect::probe::BlockRead<'_>>),
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Vec<Vec<f32>>> {
        use rayon::prelude::*;
        let mut out = Vec::with_capacity(n);
        if sources.is_empty() {
            return Ok(out);
        }
        for start in (0..n).step_by(CHUNK) {
            if cancel.is_cancelled() {
                bail!("training cancelled");
            }
            let prepared: Vec<Vec<Vec<f32>>> = (start..(start + CHUNK).min(n))
                .into_par_iter()
                .map(|k| {
                    let path = sources[k % sources.len()];
                    let img = crate::imageio::load_image(path, &self.limits)
                        .with_context(|| format!("{}", path.display()))?;
                    // Each kind its own stream (simulated fakes keep the one they always had).
                    let kind = if made.is_fake() { 0 } else { 1u64 << 40 };
                    let mut rng = crate::rng::Rng::new(seed ^ 0x5117_0000 ^ kind ^ (k as u64) << 1);
                    let im = made.make(&img.rgb, k as u64, jpeg_p, &mut rng);
                    Ok(crate::model::preprocess::preprocess(
                        &im,
                        self.image_size(),
                        mode,
                    ))
                })
                .collect::<Result<_>>()?;
            let crops: Vec<&Vec<f32>> = prepared.iter().flatten().collect();
            let emb = self.features(vision, &crops, blocks)?;
            let mut k = 0;
            for p in &prepared {
                out.push(mean_rows(&emb[k..k + p.len()]));
                k += p.len();
            }
            progress(Progress::new(
                made.stage(),
                out.len(),
                n,
                format!("embedding {}", made.stage()),
            ));
        }
        Ok(out)
    }
}

/// What `train --method probe` needs.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ProbeRequest {
    pub real: Vec<PathBuf>,
    pub fake: Vec<PathBuf>,
    pub out: PathBuf,
    pub name: String,
    pub crop: CropMode,
    pub settings: ProbeSettings,
}

/// Real and generated image paths with labels (true = generated).
pub fn labelled_paths(real: &[PathBuf], fake: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<bool>)> {
    let mut paths = Vec::new();
    let mut labels = Vec::new();
    for (dirs, label) in [(real, false), (fake, true)] {
        for d in dirs {
            let class = if label {
                "generated images"
            } else {
                "real photos"
            };
            let v = crate::train::data::list_images(d).with_context(|| class.to_string())?;
            if v.is_empty() {
                bail!("{class}: {}: no images found", d.display());
            }
            labels.extend(std::iter::repeat_n(label, v.len()));
            paths.extend(v);
        }
    }
    Ok((paths, labels))
}

/// Opens a model directory (config.json + model.safetensors) without installing it.
pub fn open_model_dir(dir: &Path, device: &Device, dtype: DType) -> Result<BaseModel> {
    let cfg_path = dir.join("config.json");
    let w = dir.join("model.safetensors");
    let config = crate::model::ClipVisionConfig::from_file(&cfg_path)?;
    let vision = store::load_vision_from_file(&w, &config, device, dtype)?;
    let mut files = std::collections::BTreeMap::new();
    files.insert(
        "model.safetensors".to_string(),
        crate::fsutil::sha256_file(&w)?,
    );
    files.insert(
        "config.json".to_string(),
        crate::fsutil::sha256_file(&cfg_path)?,
    );
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("model")
        .to_string();
    let info = BaseModelInfo {
        name,
        arch: config.arch_name(),
        config,
        files,
        source: format!("dir:{}", dir.display()),
        source_sha256: None,
        created: crate::fsutil::now_utc(),
        text: None,
    };
    Ok(BaseModel { info, vision })
}

fn mean_rows(rows: &[Vec<f32>]) -> Vec<f32> {
    let n = rows.len().max(1) as f32;
    let mut m = vec![0f32; rows.first().map(|r| r.len()).unwrap_or(0)];
    for r in rows {
        for (a, b) in m.iter_mut().zip(r) {
            *a += b / n;
        }
    }
    m
}

/// Warnings for inputs outside what the detectors were built for.
/// Screen resolutions (landscape) of common monitors, laptops and phones.
const SCREENS: &[(u32, u32)] = &[
    (1280, 720),
    (1280, 800),
    (1366, 768),
    (1440, 900),
    (1536, 864),
    (1600, 900),
    (1680, 1050),
    (1920, 1080),
    (1920, 1200),
    (2560, 1080),
    (2560, 1440),
    (2560, 1600),
    (2880, 1800),
    (3024, 1964),
    (3440, 1440),
    (3840, 2160),
    (2532, 1170),
    (2556, 1179),
    (2796, 1290),
    (2400, 1080),
    (2340, 1080),
    (3200, 1440),
];

/// A lossless image whose size is a screen's: the usual shape of a screenshot.
fn looks_like_screen(f: &ImageFacts) -> bool {
    let lossless = matches!(
        f.format.to_ascii_lowercase().as_str(),
        "png" | "bmp" | "webp"
    );
    let (a, b) = (f.width.max(f.height), f.width.min(f.height));
    lossless && SCREENS.contains(&(a, b))
}

/// Below this fraction of the image read by a detector, the verdict says how little it saw. A
/// detector reading one native 224-px crop passes it up to about 820x610 px; a 12 MP photo
/// read that way is 0.4% seen.
pub const LOW_COVERAGE: f64 = 0.1;

const ANALYSED: &str = " analysed ";

/// For each SHA-256 in turn, the position of the first earlier one equal to it: the file is a
/// copy of that one (the same bytes under another name).
pub fn earlier_copies<'a>(shas: impl IntoIterator<Item = &'a str>) -> Vec<Option<usize>> {
    let mut first = std::collections::HashMap::new();
    shas.into_iter()
        .enumerate()
        .map(|(k, sha)| {
            let f = *first.entry(sha).or_insert(k);
            (f != k).then_some(f)
        })
        .collect()
}

/// The warning of a file that is a copy of `original` (a path or a name).
pub fn copy_warning(original: &str) -> String {
    format!("the same bytes as {original} (equal SHA-256): a copy of that file")
}

/// Adds `w` to `list` unless it is there. Two detectors' coverage warnings that say the same
/// thing become one that names both ("mpft, pin analysed 0.4% of ...").
pub fn merge_warning(list: &mut Vec<String>, w: &str) {
    if list.iter().any(|x| x == w) {
        return;
    }
    if let Some((name, body)) = w.split_once(ANALYSED) {
        for x in list.iter_mut() {
            if let Some((names, b)) = x.split_once(ANALYSED) {
                if b == body {
                    if !names.split(", ").any(|n| n == name) {
                        *x = format!("{names}, {name}{ANALYSED}{body}");
                    }
                    return;
                }
            }
        }
    }
    list.push(w.to_string());
}

/// A warning when `detector`, reading crops of `size` px in `mode`, analyses less than
/// [`LOW_COVERAGE`] of a `w` x `h` image: a panorama's centre, or one native-resolution square
/// of a camera photo. The verdict then speaks for that region only.
pub fn coverage_warning(
    detector: &str,
    w: u32,
    h: u32,
    size: u32,
    mode: crate::model::preprocess::CropMode,
) -> Option<String> {
    use crate::model::preprocess::{covered_fraction, crop_rects, CropMode};
    let rects = crop_rects(w, h, size, mode);
    let frac = covered_fraction(&rects, w, h);
    if frac >= LOW_COVERAGE {
        return None;
    }
    let pct = if frac < 0.01 {
        format!("{:.1}%", frac * 100.0)
    } else {
        format!("{:.0}%", frac * 100.0)
    };
    let what = match (mode, rects.as_slice()) {
        (_, [r]) if r.w != size || mode == CropMode::Clip => {
            format!("its centre {}x{} square, resized to {size} px", r.w, r.h)
        }
        (_, [r]) => format!("one {}x{} region at native resolution", r.w, r.h),
        (_, rs) => format!("{} {size}-px tiles at native resolution", rs.len()),
    };
    Some(format!(
        "{detector}{ANALYSED}{pct} of the {w}x{h} image ({what}, framed in the maps): the rest was not examined, so the verdict says nothing about it"
    ))
}

pub fn input_warnings(f: &ImageFacts, size: u32) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(d) = &f.damage {
        w.push(format!(
            "damaged {} data ({d}): the decoder read past the damage, so part of the picture may be grey or garbled blocks, and the verdict scores them as if they were the picture",
            f.format
        ));
    }
    if f.width.min(f.height) < size {
        w.push(format!(
            "small image ({}x{}): upscaled to {size} px, detection is less reliable",
            f.width, f.height
        ));
    }
    if let Some(m) = &f.extension_mismatch {
        w.push(m.clone());
    }
    if looks_like_screen(f) {
        w.push(format!(
            "{}x{} {} matches a common screen size: probably a screenshot, which is out of scope (it re-renders whatever was on screen)",
            f.width, f.height, f.format
        ));
    }
    if crate::imageio::is_heif_format(&f.format) {
        w.push(format!(
            "{} file ({}): the detectors learnt from JPEG photos; in our tests re-encoding images as HEIC made them flag more real photos and miss more generated ones (EVALUATION.md, \"HEIC photos\"), so the verdict is less reliable",
            f.format,
            match f.format.as_str() {
                "AVIF" => "AV1 compression",
                "HEIC" => "HEVC compression",
                _ => "not JPEG compression",
            }
        ));
    }
    if f.color_type.starts_with("Cmyk") {
        w.push(format!(
            "stored as CMYK ({}), a print colour model: converted to RGB without colour management, so colours are approximate, and the detectors learnt from RGB photos",
            f.color_type
        ));
    }
    if f.color_type.starts_with("Indexed") {
        w.push(format!(
            "stored with a colour palette ({}, at most {} colours): quantising colours erases the fine detail the detectors read, so the verdict is less reliable",
            f.color_type,
            f.color_type["Indexed".len()..].parse::<u32>().map_or(256, |d| 1u32 << d.min(8))
        ));
    }
    if let Some(c) = f.color_profile.as_ref().filter(|c| c.needs_notice()) {
        w.push(c.note.clone());
    }
    if let Some(a) = f.animation {
        w.push(a.warning(&f.format));
    }
    if f.has_alpha {
        w.push("image has an alpha channel (often a screenshot or an edited graphic): alpha was dropped".into());
    }
    w
}

#[cfg(test)]
mod warning_tests {
    use super::*;

    #[test]
    fn copies_name_the_first_file_with_their_bytes() {
        assert_eq!(
            earlier_copies(["a", "b", "a", "c", "b", "a"]),
            [None, None, Some(0), None, Some(1), Some(0)]
        );
        assert!(earlier_copies([]).is_empty());
    }

    fn facts(format: &str, w: u32, h: u32) -> ImageFacts {
        ImageFacts {
            file_size: 1,
            sha256: String::new(),
            format: format.into(),
            extension_mismatch: None,
            stored_width: w,
            stored_height: h,
            width: w,
            height: h,
            color_type: "Rgb8".into(),
            has_alpha: false,
            orientation: 1,
            color_profile: None,
            animation: None,
            damage: None,
        }
    }

    #[test]
    fn heif_files_say_their_codec_and_how_many_images_were_left_out() {
        let mut f = facts("HEIC", 4032, 3024);
        f.color_type = "YCbCr10".into();
        let w = input_warnings(&f, 224);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("HEIC file (HEVC compression)"), "{w:?}");
        f.animation = Some(crate::animation::Animation {
            frames: 3,
            first_frame_analysed: true,
        });
        let w = input_warnings(&f, 224);
        assert!(
            w.iter()
                .any(|w| w.contains("holding 3 images: only its primary image")),
            "{w:?}"
        );
        assert!(!w.iter().any(|w| w.contains("animated")), "{w:?}");
        assert!(input_warnings(&facts("AVIF", 800, 600), 224)[0].contains("AV1"));
        assert!(input_warnings(&facts("JPEG", 800, 600), 224).is_empty());
    }

    #[test]
    fn a_detector_that_reads_little_of_the_image_says_so_once_for_all_that_agree() {
        use crate::model::preprocess::CropMode;
        // A 12 MP photo: one native crop is 0.4% of it, CLIP's resized centre square 75%.
        let w = coverage_warning("mpft", 4000, 3000, 224, CropMode::Center).unwrap();
        assert!(
            w.starts_with("mpft analysed 0.4% of the 4000x3000 image (one 224x224 region at native resolution"),
            "{w}"
        );
        assert_eq!(
            coverage_warning("probe", 4000, 3000, 224, CropMode::Clip),
            None
        );
        let t = coverage_warning("pbt", 4000, 3000, 224, CropMode::Tiles(9)).unwrap();
        assert!(t.contains(" 4% ") && t.contains("9 224-px tiles"), "{t}");
        // A panorama's CLIP crop is its centre square.
        let p = coverage_warning("probe", 12000, 300, 224, CropMode::Clip).unwrap();
        assert!(
            p.contains("centre 300x300 square, resized to 224 px"),
            "{p}"
        );
        // Small images are read whole, or nearly: no warning.
        assert_eq!(
            coverage_warning("mpft", 640, 427, 224, CropMode::Center),
            None
        );
        assert_eq!(
            coverage_warning("mpft", 100, 80, 224, CropMode::Center),
            None
        );
        // Two detectors with the same view: one line naming both; another view stays apart.
        let mut list = vec!["some other warning".to_string(), w.clone()];
        merge_warning(&mut list, &w.replacen("mpft", "pin", 1));
        merge_warning(&mut list, &w.replacen("mpft", "pin", 1));
        merge_warning(&mut list, &t);
        merge_warning(&mut list, "some other warning");
        assert_eq!(list.len(), 3, "{list:?}");
        assert!(list[1].starts_with("mpft, pin analysed 0.4%"), "{list:?}");
        assert_eq!(list[2], t);
    }

    #[test]
    fn screenshots_and_tiny_images_are_flagged() {
        let shot = input_warnings(&facts("PNG", 1920, 1080), 224);
        assert!(shot.iter().any(|w| w.contains("screenshot")), "{shot:?}");
        let phone = input_warnings(&facts("PNG", 1170, 2532), 224);
        assert!(phone.iter().any(|w| w.contains("screenshot")), "{phone:?}");
        // A camera JPEG of the same size is not a screenshot by this rule.
        assert!(input_warnings(&facts("JPEG", 1920, 1080), 224).is_empty());
        let tiny = input_warnings(&facts("JPEG", 100, 80), 224);
        assert!(tiny.iter().any(|w| w.contains("small image")), "{tiny:?}");
    }

    #[test]
    fn a_converted_or_unapplied_colour_profile_is_noted_and_srgb_is_not() {
        let mut f = facts("JPEG", 640, 480);
        let mut img = image::RgbImage::from_pixel(4, 4, image::Rgb([200, 30, 30]));
        let p3 = moxcms::ColorProfile::new_display_p3().encode().unwrap();
        f.color_profile = Some(crate::colour::apply_icc(&mut img, &p3, "Rgb8"));
        let w = input_warnings(&f, 224);
        assert!(w.iter().any(|w| w.contains("converted to sRGB")), "{w:?}");
        let srgb = moxcms::ColorProfile::new_srgb().encode().unwrap();
        f.color_profile = Some(crate::colour::apply_icc(&mut img, &srgb, "Rgb8"));
        assert!(input_warnings(&f, 224).is_empty());
        f.color_profile = Some(crate::colour::apply_icc(&mut img, &p3, "Cmyk8"));
        let w = input_warnings(&f, 224);
        assert!(w.iter().any(|w| w.contains("not applied")), "{w:?}");
        assert!(!w.iter().any(|w| w.contains("stored as CMYK")), "{w:?}");
        f.color_type = "Cmyk8".into();
        let w = input_warnings(&f, 224);
        assert!(
            w.iter().any(|w| w.contains("stored as CMYK (Cmyk8)")),
            "{w:?}"
        );
    }
}
