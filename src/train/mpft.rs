//! MPFT training: fine-tune the CLIP tower (LoRA on q/k/v/out of every layer + LayerNorms + a
//! binary head, or full tuning of the last N blocks) while Texture-Aware Masking hides the most
//! textured patches, so the model must learn how generated images deviate from real ones.

use crate::detect::mpft::{apply_trained, head_logits, layer_norm_names, HEAD_B, HEAD_W, PROJS};
use crate::detect::tam::{keep_mask, MaskMode, TextureMeasure};
use crate::detect::Calibration;
use crate::eval::metrics;
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use crate::model::preprocess::{batch_tensor, preprocess, CropMode};
use crate::model::vit::{keep_indices, LoraDelta, VisionOutput};
use crate::model::{ClipVision, ForwardOptions};
use crate::rng::Rng;
use crate::train::augment::{augment, AugmentSettings};
use crate::train::synthetic::{made_count, Made};
use anyhow::{bail, Result};
use candle_core::{DType, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MpftSettings {
    pub lora_rank: usize,
    pub lora_alpha: f64,
    /// 0: parameter-efficient (LoRA + LayerNorms + head). N > 0: also tune the last N blocks fully.
    pub full_blocks: usize,
    /// Which patches are hidden during fine-tuning. Default `Random`: over three seeds it beat
    /// texture-aware masking on val (docs/EVALUATION.md); `pin+tam` and the ablation pick their own.
    pub mask_mode: MaskMode,
    pub texture_measure: TextureMeasure,
    /// Fraction of patch tokens hidden during fine-tuning.
    pub mask_ratio: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Fraction of the steps spent warming the learning rate up (then cosine decay to zero).
    pub warmup: f64,
    /// Fraction of each class held out for validation, checkpoint selection and calibration.
    pub holdout: f64,
    pub target_fpr: f32,
    pub seed: u64,
    pub augment: AugmentSettings,
    /// How images become model input at validation and inference time.
    pub crop: CropMode,
    /// How many encoder blocks feed the head: the class token after block `head_layer` goes
    /// through `post_layernorm` to the head, and later blocks are not run (None: all of them).
    #[serde(default)]
    pub head_layer: Option<usize>,
    /// Simulated upsampling fakes per training real photo and epoch (0: none; see
    /// `train::synthetic`). They join the generated class for training only: held-out
    /// validation and calibration see genuine images alone.
    #[serde(default)]
    pub synthetic_fakes: f64,
    /// Which simulator makes them (box: the first recipe; varied: `train::synthetic`).
    #[serde(default)]
    pub synthetic_kind: crate::train::synthetic::SyntheticKind,
    /// Low-passed copies of training real photos per real photo and epoch, trained as real
    /// (0: none; `train::synthetic::low_passed_real`). Training only, like `synthetic_fakes`.
    #[serde(default)]
    pub low_passed_reals: f64,
    /// Probability that a made image (simulated fake or low-passed real) ends with a JPEG save
    /// at quality 75-95 before augmentation (1: always, the first recipe).
    #[serde(default = "crate::train::synthetic::default_made_jpeg")]
    pub made_jpeg: f64,
    /// The head reads the raw class tokens after these blocks (1-based, increasing),
    /// concatenated, as a probe on several blocks does, instead of the pooled class token of the
    /// last block (None). Exclusive with `head_layer`; later blocks are not run. Trained in
    /// standardised space (`BlockStats`), stored folded back onto the raw tokens.
    #[serde(default)]
    pub blocks: Option<Vec<usize>>,
}

impl Default for MpftSettings {
    fn default() -> Self {
        Self {
            lora_rank: 8,
            lora_alpha: 16.0,
            full_blocks: 0,
            mask_mode: MaskMode::Random,
            texture_measure: TextureMeasure::Sobel,
            mask_ratio: 0.5,
            epochs: 3,
            batch_size: 16,
            lr: 3e-4,
            weight_decay: 0.01,
            warmup: 0.1,
            holdout: 0.2,
            target_fpr: 0.05,
            seed: 0,
            augment: AugmentSettings::default(),
            crop: CropMode::Center,
            head_layer: None,
            synthetic_fakes: 0.0,
            synthetic_kind: Default::default(),
            low_passed_reals: 0.0,
            made_jpeg: 1.0,
            blocks: None,
        }
    }
}

impl MpftSettings {
    pub fn lora_scale(&self) -> f64 {
        self.lora_alpha / self.lora_rank.max(1) as f64
    }
}

/// Decoded training images with labels (true = generated).
pub struct TrainData {
    pub images: Vec<RgbImage>,
    pub labels: Vec<bool>,
}

/// Per-feature statistics of the features a head on several blocks reads (mean and standard
/// deviation over the training images, each [1, F]). The head is trained on
/// z = (x - mean) / sd and stored folded back onto x: w·z + b = (w/sd)·x + (b - (w/sd)·mean).
#[derive(Debug, Clone)]
pub struct BlockStats {
    pub mean: Tensor,
    pub sd: Tensor,
}

impl BlockStats {
    /// Statistics of feature rows [N, F] (sd floored at 1e-6, as the probe's fit).
    pub fn of(rows: &Tensor) -> Result<Self> {
        let rows = rows.to_dtype(DType::F32)?;
        let mean = rows.mean_keepdim(0)?;
        let sd = rows
            .broadcast_sub(&mean)?
            .sqr()?
            .mean_keepdim(0)?
            .sqrt()?
            .clamp(1e-6f32, f32::MAX)?;
        Ok(Self { mean, sd })
    }

    /// Raw-feature head (w, b) to the standardised space: w·sd, b + w·mean.
    fn unfold(&self, w: &Tensor, b: &Tensor) -> Result<(Tensor, Tensor)> {
        let wz = w.broadcast_mul(&self.sd)?;
        let bz = (b + w.broadcast_mul(&self.mean)?.sum_all()?.reshape(1)?)?;
        Ok((wz, bz))
    }

    /// Standardised-space head back onto raw features: w/sd, b - (w/sd)·mean.
    fn fold(&self, wz: &Tensor, bz: &Tensor) -> Result<(Tensor, Tensor)> {
        let w = wz.broadcast_div(&self.sd)?;
        let b = (bz - w.broadcast_mul(&self.mean)?.sum_all()?.reshape(1)?)?;
        Ok((w, b))
    }
}

/// The trainable copy of the tower.
pub struct Trainable {
    pub varmap: VarMap,
    pub model: ClipVision,
    /// The head (in standardised space when it reads several blocks).
    pub head_w: Tensor,
    pub head_b: Tensor,
    /// The blocks the head reads and their statistics (None: the pooled class token).
    pub blocks: Option<(Vec<usize>, BlockStats)>,
}

/// Registers `t` (as f32) as a trainable variable named `name`; returns its tensor.
pub(crate) fn new_var(vm: &VarMap, name: &str, t: Tensor) -> Result<Tensor> {
    let v = Var::from_tensor(&t.to_dtype(DType::F32)?)?;
    let out = v.as_tensor().clone();
    vm.data()
        .lock()
        .expect("varmap")
        .insert(name.to_string(), v);
    Ok(out)
}

/// Builds the trainable parameters on a copy of `base`, from `init` when resuming.
pub fn build_trainable(
    base: &ClipVision,
    s: &MpftSettings,
    init: Option<&HashMap<String, Tensor>>,
) -> Result<Trainable> {
    build_trainable_with(base, s, init, None)
}

/// As `build_trainable`; a head on several blocks (`s.blocks`) needs their feature statistics.
/// A head in `init` is a raw-feature one (as checkpoints and probes store it).
pub fn build_trainable_with(
    base: &ClipVision,
    s: &MpftSettings,
    init: Option<&HashMap<String, Tensor>>,
    stats: Option<BlockStats>,
) -> Result<Trainable> {
    let vm = VarMap::new();
    let mut m = base.clone();
    let last = crate::detect::probe::last_block(
        s.blocks.as_deref(),
        s.head_layer,
        m.config.num_hidden_layers,
    )?;
    crate::detect::mpft::truncate_to_head(&mut m, last)?;
    let blocks = match (&s.blocks, stats) {
        (None, _) => None,
        (Some(b), Some(st)) => Some((b.clone(), st)),
        (Some(_), None) => bail!("a head on several blocks needs their feature statistics"),
    };
    let dev = m.device().clone();
    let layers = m.layers.len();
    let d = m.config.hidden_size;
    let mut rng = Rng::new(s.seed ^ 0x10A);
    let from = |name: &str| {
        init.and_then(|i| i.get(name))
            .map(|t| t.to_device(&dev))
            .transpose()
    };
    // LayerNorms (and whole blocks when fully tuning them).
    let mut names = layer_norm_names(layers);
    for i in layers.saturating_sub(s.full_blocks)..layers {
        for p in PROJS {
            names.push(format!(
                "vision_model.encoder.layers.{i}.self_attn.{p}.weight"
            ));
            names.push(format!(
                "vision_model.encoder.layers.{i}.self_attn.{p}.bias"
            ));
        }
        for f in ["fc1", "fc2"] {
            names.push(format!("vision_model.encoder.layers.{i}.mlp.{f}.weight"));
            names.push(format!("vision_model.encoder.layers.{i}.mlp.{f}.bias"));
        }
    }
    for name in &names {
        let slot = crate::detect::mpft::param_mut(&mut m, name)
            .ok_or_else(|| anyhow::anyhow!("no parameter {name}"))?;
        let t = match from(name)? {
            Some(t) => t,
            None => slot.clone(),
        };
        *slot = new_var(&vm, name, t)?;
    }
    // LoRA on the attention projections of the blocks that are not fully tuned.
    for i in 0..layers.saturating_sub(s.full_blocks) {
        for p in PROJS {
            let base_name = format!("vision_model.encoder.layers.{i}.self_attn.{p}");
            let (an, bn) = (format!("{base_name}.lora_a"), format!("{base_name}.lora_b"));
            let a = match from(&an)? {
                Some(t) => t,
                None => {
                    let v: Vec<f32> = (0..s.lora_rank * d)
                        .map(|_| (rng.normal() / (d as f64).sqrt()) as f32)
                        .collect();
                    Tensor::from_vec(v, (s.lora_rank, d), &dev)?
                }
            };
            let b = match from(&bn)? {
                Some(t) => t,
                None => Tensor::zeros((d, s.lora_rank), DType::F32, &dev)?,
            };
            let (a, b) = (new_var(&vm, &an, a)?, new_var(&vm, &bn, b)?);
            let lin = m.layers[i]
                .self_attn
                .proj_mut(p)
                .expect("PROJS names the projections");
            lin.lora = Some(LoraDelta {
                a,
                b,
                scale: s.lora_scale(),
            });
        }
        m.layers[i].self_attn.reset_fused();
    }
    let width = blocks.as_ref().map_or(d, |(b, _)| d * b.len());
    let (hw, hb) = match (from(HEAD_W)?, from(HEAD_B)?) {
        (Some(w), Some(b)) => {
            if w.dims() != [1, width] || b.dims() != [1] {
                bail!(
                    "the initial head is {:?} / {:?}; this head needs [1, {width}] / [1]",
                    w.dims(),
                    b.dims()
                );
            }
            let (w, b) = (w.to_dtype(DType::F32)?, b.to_dtype(DType::F32)?);
            match &blocks {
                Some((_, st)) => st.unfold(&w, &b)?,
                None => (w, b),
            }
        }
        _ => (
            Tensor::zeros((1, width), DType::F32, &dev)?,
            Tensor::zeros(1, DType::F32, &dev)?,
        ),
    };
    let head_w = new_var(&vm, HEAD_W, hw)?;
    let head_b = new_var(&vm, HEAD_B, hb)?;
    Ok(Trainable {
        varmap: vm,
        model: m,
        head_w,
        head_b,
        blocks,
    })
}

impl Trainable {
    /// The trained tensors (CPU, f32) as a checkpoint holds them (a head on several blocks
    /// folded back onto the raw class tokens).
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        let data = self.varmap.data().lock().expect("varmap");
        let mut out: HashMap<String, Tensor> = data
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    v.as_tensor()
                        .detach()
                        .to_device(&candle_core::Device::Cpu)?,
                ))
            })
            .collect::<Result<_>>()?;
        if let Some((_, st)) = &self.blocks {
            let (w, b) = st.fold(&self.head_w.detach(), &self.head_b.detach())?;
            let cpu = candle_core::Device::Cpu;
            out.insert(HEAD_W.into(), w.to_device(&cpu)?);
            out.insert(HEAD_B.into(), b.to_device(&cpu)?);
        }
        Ok(out)
    }

    /// Whether forward passes must return the hidden states (the head reads several blocks).
    pub fn needs_hidden_states(&self) -> bool {
        self.blocks.is_some()
    }

    /// Head logits [B] from a forward pass (with hidden states when the head reads several
    /// blocks); differentiable.
    pub fn head(&self, out: &VisionOutput) -> Result<Tensor> {
        Ok(match &self.blocks {
            Some((b, st)) => {
                let x = crate::detect::probe::class_tokens(out, b)?;
                let z = x.broadcast_sub(&st.mean)?.broadcast_div(&st.sd)?;
                head_logits(&z, &self.head_w, &self.head_b)?
            }
            None => head_logits(
                &out.pooled.to_dtype(DType::F32)?,
                &self.head_w,
                &self.head_b,
            )?,
        })
    }

    /// Logits (no gradient) for preprocessed crops, in batches.
    pub fn logits(&self, crops: &[Vec<f32>], batch: usize) -> Result<Vec<f32>> {
        self.logits_with(crops, batch, None)
    }

    /// Logits with PiN's inference-time noise (its mean) when `noise` asks for it.
    pub fn logits_with(
        &self,
        crops: &[Vec<f32>],
        batch: usize,
        noise: Option<&crate::train::pin::NoiseTraining>,
    ) -> Result<Vec<f32>> {
        use crate::detect::pin::NoiseAtInference;
        let size = self.model.config.image_size;
        let mut out = Vec::with_capacity(crops.len());
        let gen = noise.and_then(|n| {
            (n.settings.noise_at_inference == NoiseAtInference::Mean)
                .then_some(())
                .and(n.generator.as_ref().map(|g| (n.settings.noise_layer, g)))
        });
        let hook = |h: &Tensor| -> candle_core::Result<Tensor> {
            gen.expect("hook only set with a generator").1.mean_noise(h)
        };
        for part in crops.chunks(batch.max(1)) {
            let x = batch_tensor(part, size, self.model.device(), self.model.dtype())?;
            let o = self.model.forward_with(
                &x,
                ForwardOptions {
                    hook: gen.map(|(l, _)| (l, &hook as _)),
                    hidden_states: self.needs_hidden_states(),
                    ..Default::default()
                },
            )?;
            out.extend(self.head(&o)?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}

/// Numerically stable mean binary cross-entropy with logits (differentiable ops only).
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    let soft = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((z.relu()? - (z * y)?)? + soft)?.mean_all()
}

/// Learning rate at a step: linear warm-up, then cosine decay to zero.
pub fn lr_at(step: usize, total: usize, s: &MpftSettings) -> f64 {
    let warm = ((total as f64) * s.warmup).ceil().max(1.0) as usize;
    if step < warm {
        return s.lr * (step + 1) as f64 / warm as f64;
    }
    let t = (step - warm) as f64 / (total - warm).max(1) as f64;
    s.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
}

/// What one epoch's validation found.
#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub heldout_auc: f64,
    pub heldout_balanced_accuracy: f64,
    pub calibration: Calibration,
    pub seconds: f64,
}

/// Called after every epoch with the trained tensors so far; returns whether they were kept (best).
pub type EpochSink<'a> = &'a mut dyn FnMut(&EpochReport, HashMap<String, Tensor>) -> Result<bool>;

/// Runs the training. `train`/`heldout` index into `data`. `start_epoch` > 0 when resuming.
#[allow(clippy::too_many_arguments)]
pub fn train_loop(
    t: &Trainable,
    data: &TrainData,
    train: &[usize],
    heldout: &[usize],
    s: &MpftSettings,
    start_epoch: usize,
    progress: ProgressSink,
    cancel: &CancelFlag,
    on_epoch: EpochSink,
    noise: Option<&crate::train::pin::NoiseTraining>,
) -> Result<Vec<EpochReport>> {
    use rayon::prelude::*;
    let cfg = &t.model.config;
    let (size, patch) = (cfg.image_size, cfg.patch_size);
    let reals: Vec<usize> = train.iter().copied().filter(|&i| !data.labels[i]).collect();
    let fakes: Vec<usize> = train.iter().copied().filter(|&i| data.labels[i]).collect();
    if reals.is_empty() || fakes.is_empty() {
        bail!(
            "training needs both classes ({} real, {} generated)",
            reals.len(),
            fakes.len()
        );
    }
    // Simulated fakes: each epoch draws this many training reals to turn into upsampling fakes.
    let n_synthetic = made_count(reals.len(), s.synthetic_fakes);
    let n_low_passed = made_count(reals.len(), s.low_passed_reals);
    let bs = s.batch_size.max(2);
    let steps_per_epoch = (train.len() + n_synthetic + n_low_passed).div_ceil(bs);
    let total = steps_per_epoch * s.epochs;
    let mut opt = AdamW::new(
        t.varmap.all_vars(),
        ParamsAdamW {
            lr: s.lr,
            weight_decay: s.weight_decay,
            ..Default::default()
        },
    )?;
    // Held-out crops are fixed (no augmentation), as at inference.
    let ho_crops: Vec<Vec<f32>> = heldout
        .iter()
        .map(|&i| preprocess(&data.images[i], size as u32, s.crop).swap_remove(0))
        .collect();
    let ho_labels: Vec<bool> = heldout.iter().map(|&i| data.labels[i]).collect();
    let mut reports = Vec::new();
    for epoch in start_epoch..s.epochs {
        let t0 = std::time::Instant::now();
        let mut erng = Rng::new(s.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        // Entries: (image, made from it: a simulated fake or a low-passed real?).
        let mut r_ord: Vec<(usize, bool)> = reals.iter().map(|&i| (i, false)).collect();
        let mut f_ord: Vec<(usize, bool)> = fakes.iter().map(|&i| (i, false)).collect();
        erng.shuffle(&mut r_ord);
        erng.shuffle(&mut f_ord);
        if n_synthetic + n_low_passed > 0 {
            // A separate stream, so runs without them are unchanged.
            let mut srng = Rng::new(erng.next_u64() ^ 0x5117);
            for (n, ord) in [(n_synthetic, &mut f_ord), (n_low_passed, &mut r_ord)] {
                if n > 0 {
                    let mut sources = reals.clone();
                    srng.shuffle(&mut sources);
                    ord.extend((0..n).map(|k| (sources[k % sources.len()], true)));
                    srng.shuffle(ord);
                }
            }
        }
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        for step in 0..steps_per_epoch {
            if cancel.is_cancelled() {
                return Ok(reports);
            }
            let g = epoch * steps_per_epoch + step;
            opt.set_learning_rate(lr_at(g, total, s));
            // Class-balanced batch: half real, half generated, cycling the smaller class.
            // Entries: (image, label, made from a real photo).
            let batch: Vec<(usize, bool, bool)> = (0..bs)
                .map(|j| {
                    let k = step * bs / 2 + j / 2;
                    let (i, made) = if j % 2 == 0 {
                        r_ord[k % r_ord.len()]
                    } else {
                        f_ord[k % f_ord.len()]
                    };
                    (i, j % 2 == 1, made)
                })
                .collect();
            let prepared: Vec<(Vec<f32>, Option<Vec<bool>>)> = batch
                .par_iter()
                .enumerate()
                .map(|(j, &(i, fake, made))| {
                    let mut rng = Rng::new(s.seed ^ ((g as u64) << 20) ^ ((j as u64) << 8) ^ 0xA5);
                    let kind = if fake {
                        s.synthetic_kind.made()
                    } else {
                        Made::LowPassedReal
                    };
                    let im = made
                        .then(|| kind.make(&data.images[i], (g + j) as u64, s.made_jpeg, &mut rng));
                    let crop = augment(
                        im.as_ref().unwrap_or(&data.images[i]),
                        size as u32,
                        &s.augment,
                        &mut rng,
                    );
                    let mask = keep_mask(
                        &crop,
                        size,
                        patch,
                        s.mask_mode,
                        s.texture_measure,
                        s.mask_ratio,
                        &mut rng,
                    );
                    (crop, mask)
                })
                .collect();
            let crops: Vec<Vec<f32>> = prepared.iter().map(|p| p.0.clone()).collect();
            let x = batch_tensor(&crops, size, t.model.device(), t.model.dtype())?;
            let masks: Option<Vec<Vec<bool>>> = prepared.iter().map(|p| p.1.clone()).collect();
            let keep = masks
                .map(|m| keep_indices(&m, t.model.device()))
                .transpose()?;
            let y: Vec<f32> = batch.iter().map(|b| b.1 as u8 as f32).collect();
            let y = Tensor::from_vec(y, bs, t.model.device())?;
            // PiN: noise after the configured layer, and the variational term.
            let kl = std::cell::RefCell::new(None);
            let hook = |h: &Tensor| -> candle_core::Result<Tensor> {
                noise
                    .expect("hook only set with noise")
                    .noise(h, g as u64, &kl)
            };
            let out = t.model.forward_with(
                &x,
                ForwardOptions {
                    keep: keep.as_ref(),
                    differentiable: true,
                    hidden_states: t.needs_hidden_states(),
                    hook: noise
                        .filter(|n| n.settings.noise != crate::detect::pin::NoiseMode::None)
                        .map(|n| (n.settings.noise_layer, &hook as _)),
                    ..Default::default()
                },
            )?;
            let z = t.head(&out)?;
            let mut loss = bce_with_logits(&z, &y)?;
            if let (Some(n), Some(k)) = (noise, kl.borrow_mut().take()) {
                loss = (loss + (k * n.settings.beta)?)?;
            }
            opt.backward_step(&loss)?;
            let lv = loss.to_scalar::<f32>()? as f64;
            loss_sum += lv * bs as f64;
            let zs: Vec<f32> = z.to_vec1()?;
            correct += zs
                .iter()
                .zip(&batch)
                .filter(|(z, b)| (**z > 0.0) == b.1)
                .count();
            seen += bs;
            progress(
                Progress::new(
                    &format!("epoch {}/{}", epoch + 1, s.epochs),
                    step + 1,
                    steps_per_epoch,
                    format!(
                        "loss {:.4} acc {:.3}",
                        loss_sum / seen as f64,
                        correct as f64 / seen as f64
                    ),
                )
                .with("loss", lv)
                .with("accuracy", correct as f64 / seen as f64)
                .with(
                    "epoch",
                    epoch as f64 + (step + 1) as f64 / steps_per_epoch as f64,
                ),
            );
        }
        progress(Progress::new(
            "validating",
            0,
            1,
            format!("{} held-out images", heldout.len()),
        ));
        let ho_logits = t.logits_with(&ho_crops, 16, noise)?;
        let calibration = Calibration::fit(&ho_logits, &ho_labels, s.target_fpr);
        let rep = EpochReport {
            epoch: epoch + 1,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            heldout_auc: metrics::auc(&ho_logits, &ho_labels),
            heldout_balanced_accuracy: crate::train::probe::balanced(
                &ho_logits,
                &ho_labels,
                calibration.threshold,
            ),
            calibration,
            seconds: t0.elapsed().as_secs_f64(),
        };
        progress(Progress::new(
            "epoch-summary",
            epoch + 1,
            s.epochs,
            format!(
                "epoch {}: train loss {:.4} acc {:.3}; held-out AUC {:.4}, balanced acc {:.3} ({:.0} s)",
                rep.epoch, rep.train_loss, rep.train_accuracy, rep.heldout_auc, rep.heldout_balanced_accuracy, rep.seconds
            ),
        )
        .with("heldout_auc", rep.heldout_auc)
        .with("heldout_balanced_accuracy", rep.heldout_balanced_accuracy));
        on_epoch(&rep, t.tensors()?)?;
        reports.push(rep);
    }
    Ok(reports)
}

/// Applies trained tensors onto a tower for inference (merged LoRA).
pub fn inference_model(
    base: &ClipVision,
    tensors: &HashMap<String, Tensor>,
    s: &MpftSettings,
) -> Result<ClipVision> {
    let mut m = base.clone();
    apply_trained(&mut m, tensors, s.lora_scale(), true)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let s = MpftSettings {
            lr: 1.0,
            warmup: 0.1,
            ..Default::default()
        };
        assert!(lr_at(0, 100, &s) < 0.2);
        assert!((lr_at(9, 100, &s) - 1.0).abs() < 1e-9);
        assert!(lr_at(50, 100, &s) < 1.0 && lr_at(50, 100, &s) > 0.3);
        assert!(lr_at(99, 100, &s) < 0.01);
    }

    #[test]
    fn bce_matches_formula() {
        let dev = candle_core::Device::Cpu;
        let z = Tensor::new(&[2.0f32, -1.0, 0.0], &dev).unwrap();
        let y = Tensor::new(&[1.0f32, 0.0, 1.0], &dev).unwrap();
        let l = bce_with_logits(&z, &y).unwrap().to_scalar::<f32>().unwrap();
        let want = ((1.0 + (-2.0f32).exp()).ln() + (1.0 + (-1.0f32).exp()).ln() + 2f32.ln()) / 3.0;
        assert!((l - want).abs() < 1e-5);
    }
}
