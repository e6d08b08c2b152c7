//! Fine-tuning jobs behind the service layer (MPFT with TAM).

use super::{labelled_paths, Engine};
use crate::detect::{Checkpoint, DetectorMeta, FileRecord, TrainingSummary};
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use crate::train::mpft::{build_trainable_with, train_loop, BlockStats, MpftSettings, TrainData};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// What `train --method mpft` needs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MpftRequest {
    pub real: Vec<PathBuf>,
    pub fake: Vec<PathBuf>,
    pub out: PathBuf,
    pub name: String,
    pub settings: MpftSettings,
    /// Continue from this checkpoint (its trained tensors and epoch count).
    pub resume: Option<PathBuf>,
    /// PiN-CLIP: train a noise generator jointly (method `pin`); None is MPFT.
    pub pin: Option<crate::train::pin::PinSettings>,
    /// Start the head from this probe on several blocks (a detector name or checkpoint path):
    /// linear probing, then fine-tuning (LP-FT). Needs `settings.blocks` equal to the probe's.
    #[serde(default)]
    pub head_from: Option<String>,
}

/// The head of a probe on several blocks, checked to fit an MPFT run that starts from it.
struct ProbeHead {
    name: String,
    tensors: std::collections::HashMap<String, candle_core::Tensor>,
    /// The probe's split, which the run must share (its head has seen the probe's training rows).
    holdout: f64,
    seed: u64,
}

/// Loads the probe `spec` and checks it can start a head on `blocks` of this base model, trained
/// on the images `files`.
fn probe_head(
    spec: &str,
    blocks: &[usize],
    files: &[FileRecord],
    base: &crate::model::BaseModel,
) -> Result<ProbeHead> {
    let (_, c) = crate::detect::resolve(spec)?;
    let name = &c.meta.name;
    if c.meta.method != "probe" {
        bail!(
            "--head-from {spec}: '{name}' is a '{}' detector, not a probe",
            c.meta.method
        );
    }
    let theirs = crate::detect::probe::blocks_setting(&c.meta.settings)?;
    if theirs.as_deref() != Some(blocks) {
        bail!(
            "--head-from {spec}: probe '{name}' reads blocks {theirs:?}, this run's head reads {blocks:?}"
        );
    }
    if crate::detect::probe::tokens_setting(&c.meta.settings)? != Default::default() {
        bail!("--head-from {spec}: probe '{name}' reads more than the class tokens");
    }
    if c.meta.base_model.weights_sha256 != base.info.weights_sha256() {
        bail!("--head-from {spec}: probe '{name}' was trained on other base-model weights");
    }
    let key = |f: &[FileRecord]| {
        let mut v: Vec<(String, bool)> = f.iter().map(|r| (r.sha256.clone(), r.fake)).collect();
        v.sort();
        v
    };
    if key(&c.meta.training.files) != key(files) {
        bail!(
            "--head-from {spec}: probe '{name}' was trained on other images ({} real, {} generated); \
             its head would have seen this run's held-out split",
            c.meta.training.real_count,
            c.meta.training.fake_count
        );
    }
    let num = |k: &str| c.meta.settings.get(k).and_then(|v| v.as_f64());
    let (Some(holdout), Some(seed)) = (num("holdout"), num("seed")) else {
        bail!("--head-from {spec}: probe '{name}' does not record its held-out split");
    };
    let mut tensors = std::collections::HashMap::new();
    tensors.insert(
        crate::detect::mpft::HEAD_W.to_string(),
        c.tensor(crate::detect::probe::WEIGHT)?.clone(),
    );
    tensors.insert(
        crate::detect::mpft::HEAD_B.to_string(),
        c.tensor(crate::detect::probe::BIAS)?.clone(),
    );
    Ok(ProbeHead {
        name: name.clone(),
        tensors,
        holdout,
        seed: seed as u64,
    })
}

/// Where a PiN run's class embeddings come from.
enum ClassSource {
    /// The text tower's embeddings of the prompts, [2, P], fixed.
    Text(candle_core::Tensor),
    /// Learnable prototypes from the mean projected image features.
    Prototypes,
}

impl Engine {
    /// Resolves `class_embeddings` against the base model: the text tower encodes the prompts when
    /// there is one (`auto`, `text`); `text` without one is an error.
    fn class_source(
        &self,
        p: &crate::train::pin::PinSettings,
        progress: &ProgressSink,
    ) -> Result<ClassSource> {
        use crate::train::pin::ClassEmbeddings;
        if p.class_embeddings == ClassEmbeddings::Prototypes {
            return Ok(ClassSource::Prototypes);
        }
        let text = crate::model::store::load_text(&self.base.info)?;
        let Some(text) = text else {
            if p.class_embeddings == ClassEmbeddings::Text {
                bail!(
                    "class embeddings 'text' need a base model with CLIP's text tower; '{}' is \
                     an image tower only (import a full Hugging Face CLIP with `fauxscope model \
                     import DIR`, or use --class-embeddings prototypes)",
                    self.base.info.name
                );
            }
            return Ok(ClassSource::Prototypes);
        };
        if text.config.projection_dim != self.base.info.config.projection_dim {
            bail!(
                "the text tower projects to {} dimensions, the image tower to {}",
                text.config.projection_dim,
                self.base.info.config.projection_dim
            );
        }
        progress(Progress::new(
            "prompts",
            0,
            1,
            format!("encoding \"{}\" and \"{}\"", p.prompts[0], p.prompts[1]),
        ));
        let prompts: Vec<&str> = p.prompts.iter().map(String::as_str).collect();
        Ok(ClassSource::Text(text.embed(&prompts)?))
    }

    /// Mean projected image features of each class over up to `per_class` training images
    /// (rows: real, generated): PiN's class prototypes.
    fn class_prototypes(
        &self,
        data: &TrainData,
        train: &[usize],
        crop: crate::model::preprocess::CropMode,
        per_class: usize,
    ) -> Result<candle_core::Tensor> {
        let size = self.image_size();
        let mut rows = Vec::new();
        for fake in [false, true] {
            let idx: Vec<usize> = train
                .iter()
                .copied()
                .filter(|&i| data.labels[i] == fake)
                .take(per_class.max(1))
                .collect();
            let crops: Vec<Vec<f32>> = idx
                .iter()
                .map(|&i| {
                    crate::model::preprocess::preprocess(&data.images[i], size, crop).swap_remove(0)
                })
                .collect();
            let mut sum: Option<candle_core::Tensor> = None;
            for part in crops.chunks(16) {
                let refs: Vec<&Vec<f32>> = part.iter().collect();
                let e = self
                    .base
                    .vision
                    .embed(&self.pixels(&refs)?)?
                    .to_dtype(candle_core::DType::F32)?
                    .sum(0)?;
                sum = Some(match sum {
                    Some(s) => (s + e)?,
                    None => e,
                });
            }
            let mean = (sum.expect("at least one image per class") / crops.len() as f64)?;
            rows.push(mean);
        }
        Ok(candle_core::Tensor::stack(&rows, 0)?)
    }

    /// Mean and standard deviation of the class tokens after `blocks` over the training images
    /// (frozen base, inference crops), for a head on several blocks.
    fn block_stats(
        &self,
        data: &TrainData,
        train: &[usize],
        blocks: &[usize],
        crop: crate::model::preprocess::CropMode,
        progress: ProgressSink,
    ) -> Result<BlockStats> {
        let mut m = self.base.vision.clone();
        crate::detect::mpft::truncate_to_head(&mut m, blocks.last().copied())?;
        let size = m.config.image_size as u32;
        let mut rows = Vec::new();
        for (k, part) in train.chunks(16).enumerate() {
            progress(Progress::new(
                "block statistics",
                k * 16,
                train.len(),
                "class tokens of the training images",
            ));
            let crops: Vec<Vec<f32>> = part
                .iter()
                .map(|&i| {
                    crate::model::preprocess::preprocess(&data.images[i], size, crop).swap_remove(0)
                })
                .collect();
            let x = crate::model::preprocess::batch_tensor(
                &crops,
                size as usize,
                m.device(),
                m.dtype(),
            )?;
            let out = m.forward_with(
                &x,
                crate::model::ForwardOptions {
                    hidden_states: true,
                    ..Default::default()
                },
            )?;
            rows.push(crate::detect::probe::class_tokens(&out, blocks)?);
        }
        BlockStats::of(&candle_core::Tensor::cat(&rows, 0)?)
    }

    /// Fine-tunes with MPFT + TAM. After every epoch whose held-out AUC is the best so far, the
    /// checkpoint is written atomically, so a cancelled run keeps its best state.
    pub fn train_mpft(
        &self,
        req: &MpftRequest,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Checkpoint> {
        let start = std::time::Instant::now();
        let mut settings = req.settings.clone();
        let method = if req.pin.is_some() { "pin" } else { "mpft" };
        if settings.blocks.is_some() && req.pin.is_some() {
            bail!("a head on several blocks is an MPFT setting; PiN reads the last class token");
        }
        if req.head_from.is_some() && settings.blocks.is_none() {
            bail!("--head-from starts a head on several blocks: add --blocks LIST");
        }
        let s = &settings;
        let blocks = s
            .head_layer
            .unwrap_or(self.base.info.config.num_hidden_layers);
        if blocks == 0 || blocks > self.base.info.config.num_hidden_layers {
            bail!(
                "head layer {blocks} does not exist ({} has blocks 1 to {})",
                self.base.info.arch,
                self.base.info.config.num_hidden_layers
            );
        }
        if let Some(p) = &req.pin {
            if p.noise_layer >= blocks {
                bail!(
                    "noise layer {} does not exist ({} runs {} layers before the head)",
                    p.noise_layer,
                    self.base.info.arch,
                    blocks
                );
            }
        }
        let (paths, labels) = labelled_paths(&req.real, &req.fake)?;
        progress(Progress::new(
            "loading",
            0,
            paths.len(),
            "decoding training images",
        ));
        let loaded: Vec<_> = {
            use rayon::prelude::*;
            paths
                .par_iter()
                .map(|p| crate::imageio::load_image(p, &self.limits))
                .collect()
        };
        let (mut images, mut labs, mut files, mut skipped) = (vec![], vec![], vec![], vec![]);
        for (r, &l) in loaded.into_iter().zip(&labels) {
            match r {
                Ok(img) => {
                    files.push(FileRecord {
                        sha256: img.facts.sha256.clone(),
                        fake: l,
                    });
                    images.push(img.rgb);
                    labs.push(l);
                }
                Err(e) => skipped.push(e.to_string()),
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
        let data = TrainData {
            images,
            labels: labs,
        };
        // LP-FT: the probe's head, and its split (its head has fitted the probe's training rows).
        // A resumed run keeps that split too; only its tensors come from the checkpoint.
        let head = match (&req.head_from, &s.blocks) {
            (Some(spec), Some(b)) => {
                let h = probe_head(spec, b, &files, &self.base)?;
                if h.seed != s.seed {
                    bail!(
                        "--head-from {spec}: probe '{}' split its images with seed {}, this run with seed {}: use --seed {}",
                        h.name, h.seed, s.seed, h.seed
                    );
                }
                settings.holdout = h.holdout;
                Some(h)
            }
            _ => None,
        };
        let s = &settings;
        let (train, heldout) =
            crate::train::probe::stratified_split(&data.labels, s.holdout, s.seed);
        let train_reals = train.iter().filter(|&&i| !data.labels[i]).count();
        let (init, start_epoch) = match &req.resume {
            Some(p) => {
                let c = Checkpoint::load(p)?;
                if c.meta.method != method {
                    bail!(
                        "{}: cannot resume a '{method}' run from a '{}' checkpoint",
                        p.display(),
                        c.meta.method
                    );
                }
                let done = c
                    .meta
                    .metrics
                    .get("epochs_done")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0) as usize;
                (Some(c.tensors), done)
            }
            None => (None, 0),
        };
        let class_source = match &req.pin {
            Some(p) if p.noise == crate::detect::pin::NoiseMode::Pin => {
                self.class_source(p, &progress)?
            }
            _ => ClassSource::Prototypes,
        };
        let stats = match &s.blocks {
            Some(b) => Some(self.block_stats(&data, &train, b, s.crop, &progress)?),
            None => None,
        };
        let init = init.or_else(|| head.as_ref().map(|h| h.tensors.clone()));
        let t = build_trainable_with(&self.base.vision, s, init.as_ref(), stats)?;
        let noise = match &req.pin {
            Some(p) => {
                let generator = if p.noise == crate::detect::pin::NoiseMode::Pin {
                    let (protos, learn) = match &class_source {
                        ClassSource::Text(e) => (e.clone(), false),
                        ClassSource::Prototypes => {
                            progress(Progress::new(
                                "prototypes",
                                0,
                                1,
                                "class prototypes from mean projected features",
                            ));
                            let p =
                                self.class_prototypes(&data, &train, s.crop, p.prototype_images)?;
                            (p, true)
                        }
                    };
                    Some(crate::train::pin::build_generator(
                        &t.varmap,
                        &self.base.info.config,
                        protos,
                        learn,
                        p,
                        s.seed,
                        init.as_ref(),
                        &self.device,
                    )?)
                } else {
                    None
                };
                Some(crate::train::pin::NoiseTraining {
                    settings: p.clone(),
                    generator,
                    seed: s.seed,
                })
            }
            None => None,
        };
        let settings_json = {
            let mut v = serde_json::to_value(s)?;
            if let (Some(h), Some(o)) = (&head, v.as_object_mut()) {
                o.insert("head_from".into(), h.name.clone().into());
            }
            if let Some(p) = &req.pin {
                if let (Some(o), serde_json::Value::Object(po)) =
                    (v.as_object_mut(), serde_json::to_value(p)?)
                {
                    o.extend(po);
                    match &class_source {
                        ClassSource::Text(_) => {
                            o.insert("class_embeddings".into(), "text".into());
                            o.insert(
                                "text_tower_sha256".into(),
                                self.base
                                    .info
                                    .text
                                    .as_ref()
                                    .and_then(|t| t.files.get("text.safetensors"))
                                    .cloned()
                                    .unwrap_or_default()
                                    .into(),
                            );
                        }
                        ClassSource::Prototypes => {
                            o.insert("class_embeddings".into(), "prototypes".into());
                            o.remove("prompts");
                        }
                    }
                }
            }
            v
        };
        let mut best: Option<(f64, Checkpoint)> = None;
        let mut history: Vec<serde_json::Value> = Vec::new();
        let device = self.device_label();
        // Fixed class embeddings are not trained variables, but the detector needs them.
        let fixed = match (
            &class_source,
            noise.as_ref().and_then(|n| n.generator.as_ref()),
        ) {
            (ClassSource::Text(_), Some(g)) => {
                Some(g.prototypes.to_device(&candle_core::Device::Cpu)?)
            }
            _ => None,
        };
        let mut on_epoch = |rep: &crate::train::mpft::EpochReport,
                            mut tensors: std::collections::HashMap<String, candle_core::Tensor>|
         -> Result<bool> {
            if let Some(f) = &fixed {
                tensors.insert(crate::detect::pin::PROTOTYPES.into(), f.clone());
            }
            history.push(serde_json::to_value(rep)?);
            let score = rep.heldout_auc + 1e-3 * rep.heldout_balanced_accuracy;
            if best.as_ref().is_some_and(|(b, _)| *b > score) {
                return Ok(false);
            }
            let training = TrainingSummary::new(
                &req.real,
                &req.fake,
                files.clone(),
                start.elapsed().as_secs_f64(),
                device.clone(),
            );
            let mut meta = DetectorMeta::new(
                &req.name,
                method,
                settings_json.clone(),
                s.crop,
                &self.base.info,
                training,
            );
            meta.calibration = rep.calibration;
            meta.metrics = serde_json::json!({
                // The epoch these tensors come from: `--resume` continues after it.
                "epochs_done": rep.epoch,
                "best_epoch": rep.epoch,
                "train_images": train.len(),
                "heldout_images": heldout.len(),
                // Simulated upsampling fakes drawn per epoch (training only).
                "synthetic_fakes_per_epoch": crate::train::synthetic::made_count(train_reals, s.synthetic_fakes),
                "low_passed_reals_per_epoch": crate::train::synthetic::made_count(train_reals, s.low_passed_reals),
                "heldout_auc": rep.heldout_auc,
                "heldout_balanced_accuracy": rep.heldout_balanced_accuracy,
                "history": history,
                "skipped_files": skipped,
            });
            let ckpt = Checkpoint { meta, tensors };
            ckpt.save(&req.out)?;
            progress(Progress::new(
                "saved",
                rep.epoch,
                s.epochs,
                format!("epoch {} held-out AUC {:.4}", rep.epoch, rep.heldout_auc),
            ));
            best = Some((score, ckpt));
            Ok(true)
        };
        let reports = train_loop(
            &t,
            &data,
            &train,
            &heldout,
            s,
            start_epoch,
            progress,
            cancel,
            &mut on_epoch,
            noise.as_ref(),
        )?;
        match best {
            Some((_, mut c)) => {
                // The kept checkpoint records every epoch of the run, not only those before it.
                c.meta.metrics["history"] = serde_json::to_value(&reports)?;
                c.meta.metrics["epochs_run"] = serde_json::json!(start_epoch + reports.len());
                c.save(&req.out)?;
                Ok(c)
            }
            None if cancel.is_cancelled() => {
                bail!("training cancelled before the first epoch ended; nothing was saved")
            }
            None => bail!(
                "no epoch was run (resumed at epoch {start_epoch} of {})",
                s.epochs
            ),
        }
    }
}
