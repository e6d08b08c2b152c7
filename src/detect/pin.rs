//! PiN-CLIP (Yan et al., arXiv 2511.16136), our reconstruction: a noise generator, cross-attention
//! from the visual tokens of one layer to the class embeddings ("real", "fake"), outputs a mean
//! and a scale per token and channel; reparameterised Gaussian noise is added to that layer's
//! hidden states while the detector (LoRA + LayerNorms + head, as MPFT) trains jointly with it.
//! At inference the noise is off or its mean (a setting).
//!
//! Class embeddings (`pin.prototypes`, [2, P]): CLIP's text-tower embeddings of the prompts
//! ("A real photo", "A fake photo"; fixed) when the base model has a text tower, else learnable
//! prototypes initialised from the mean projected image features of each class. The checkpoint
//! records which (`class_embeddings: "text" | "prototypes"`).

use super::mpft::MpftDetector;
use super::{Checkpoint, Detector, DetectorMeta};
use crate::model::ops::softmax_last_dim;
use crate::model::vit::{ForwardOptions, VisionOutput};
use crate::model::{BaseModel, ClipVision};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const PROTOTYPES: &str = "pin.prototypes";
pub const CLASS_PROJ: &str = "pin.class_proj.weight";
pub const Q: &str = "pin.q.weight";
pub const K: &str = "pin.k.weight";
pub const V: &str = "pin.v.weight";
pub const MU_W: &str = "pin.mu.weight";
pub const MU_B: &str = "pin.mu.bias";
pub const SIGMA_W: &str = "pin.sigma.weight";
pub const SIGMA_B: &str = "pin.sigma.bias";

/// What is injected during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseMode {
    /// Noise from the generator (PiN).
    #[default]
    Pin,
    /// Gaussian noise of the prior's scale, no generator (ablation).
    Random,
    /// No noise (ablation; this is MPFT).
    None,
}

/// What the detector does with the noise at inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseAtInference {
    /// No noise: the tuned encoder alone.
    #[default]
    Off,
    /// Add the generator's mean (deterministic).
    Mean,
}

/// The noise generator's weights (all f32, on the model's device).
#[derive(Debug, Clone)]
pub struct NoiseGenerator {
    /// Class embeddings in projection space, [2, P] (row 0 real, row 1 fake).
    pub prototypes: Tensor,
    /// Projection space to the encoder width, [D, P].
    pub class_proj: Tensor,
    /// [H, D] each (H = D / reduction).
    pub q: Tensor,
    pub k: Tensor,
    pub v: Tensor,
    /// [D, H] and [D].
    pub mu_w: Tensor,
    pub mu_b: Tensor,
    pub sigma_w: Tensor,
    pub sigma_b: Tensor,
}

/// softplus(x) = log(1 + e^x), stable, with a backward pass.
pub fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

fn linear(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_matmul(&w.t()?)
}

impl NoiseGenerator {
    /// The noise distribution for hidden states h [B, N, D]: (mu, sigma, rms), where the noise is
    /// rms * (mu + sigma * eps), eps ~ N(0, I), and rms [B, N, 1] is each token's root mean
    /// square (detached), so mu and sigma are in units of the token's own scale.
    pub fn forward(
        &self,
        hidden: &Tensor,
        differentiable: bool,
    ) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        let h = hidden.to_dtype(DType::F32)?;
        let rms = h.detach().sqr()?.mean_keepdim(D::Minus1)?.sqrt()?;
        let classes = linear(&self.prototypes, &self.class_proj)?; // [2, D]
        let q = linear(&h.broadcast_div(&(&rms + 1e-6)?)?, &self.q)?; // [B, N, H]
        let k = linear(&classes, &self.k)?; // [2, H]
        let v = linear(&classes, &self.v)?; // [2, H]
        let scale = 1.0 / (q.dim(D::Minus1)? as f64).sqrt();
        let att = (q.broadcast_matmul(&k.t()?)? * scale)?; // [B, N, 2]
        let att = softmax_last_dim(&att, differentiable)?;
        let ctx = att.broadcast_matmul(&v)?; // [B, N, H]
        let mu = linear(&ctx, &self.mu_w)?.broadcast_add(&self.mu_b)?;
        let sigma =
            (softplus(&linear(&ctx, &self.sigma_w)?.broadcast_add(&self.sigma_b)?)? + 1e-4)?;
        Ok((mu, sigma, rms))
    }

    /// The mean noise (inference with `mean`), in the hidden states' dtype.
    pub fn mean_noise(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let (mu, _, rms) = self.forward(hidden, false)?;
        mu.broadcast_mul(&rms)?.to_dtype(hidden.dtype())
    }

    pub fn from_tensors(t: &HashMap<String, Tensor>, device: &candle_core::Device) -> Result<Self> {
        let get = |n: &str| -> Result<Tensor> {
            Ok(t.get(n)
                .with_context(|| format!("PiN checkpoint lacks {n}"))?
                .to_device(device)?)
        };
        Ok(Self {
            prototypes: get(PROTOTYPES)?,
            class_proj: get(CLASS_PROJ)?,
            q: get(Q)?,
            k: get(K)?,
            v: get(V)?,
            mu_w: get(MU_W)?,
            mu_b: get(MU_B)?,
            sigma_w: get(SIGMA_W)?,
            sigma_b: get(SIGMA_B)?,
        })
    }
}

/// The PiN-CLIP detector: the tuned tower and head (as MPFT's) and, for `mean` inference, the
/// generator.
pub struct PinDetector {
    tuned: MpftDetector,
    /// Absent for the `random` and `none` ablations (no generator was trained).
    generator: Option<NoiseGenerator>,
    layer: usize,
    inference: NoiseAtInference,
}

impl PinDetector {
    pub fn new(ckpt: Checkpoint, base: &BaseModel, warnings: Vec<String>) -> Result<Self> {
        let s = &ckpt.meta.settings;
        let layer = s.get("noise_layer").and_then(|l| l.as_u64()).unwrap_or(0) as usize;
        let inference: NoiseAtInference = s
            .get("noise_at_inference")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let blocks =
            super::mpft::head_layer_setting(s).unwrap_or(base.info.config.num_hidden_layers);
        if layer >= blocks {
            bail!(
                "detector '{}': noise layer {layer} does not exist in {}",
                ckpt.meta.name,
                base.info.arch
            );
        }
        if super::probe::blocks_setting(s)?.is_some() {
            bail!(
                "detector '{}': a PiN head reads the last class token, not several blocks",
                ckpt.meta.name
            );
        }
        let dev = base.vision.device().clone();
        let generator = if ckpt.tensors.contains_key(PROTOTYPES) {
            Some(NoiseGenerator::from_tensors(&ckpt.tensors, &dev)?)
        } else {
            None
        };
        Ok(Self {
            tuned: MpftDetector::new(ckpt, base, warnings)?,
            generator,
            layer,
            inference,
        })
    }

    fn forward(&self, pixels: &Tensor, attentions: bool) -> Result<VisionOutput> {
        let gen = self
            .generator
            .as_ref()
            .filter(|_| self.inference == NoiseAtInference::Mean);
        let hook = |h: &Tensor| -> candle_core::Result<Tensor> {
            gen.expect("hook only set with a generator").mean_noise(h)
        };
        let opts = ForwardOptions {
            attentions,
            hook: gen.map(|_| (self.layer, &hook as _)),
            ..Default::default()
        };
        Ok(self.tuned.vision.forward_with(pixels, opts)?)
    }
}

impl Detector for PinDetector {
    fn meta(&self) -> &DetectorMeta {
        &self.tuned.meta
    }
    fn vision(&self) -> &ClipVision {
        &self.tuned.vision
    }
    fn head(&self, out: &VisionOutput) -> Result<Vec<f32>> {
        self.tuned.head(out)
    }
    fn logits(&self, pixels: &Tensor) -> Result<Vec<f32>> {
        self.head(&self.forward(pixels, false)?)
    }
    fn logits_with_attentions(&self, pixels: &Tensor) -> Result<(Vec<f32>, Vec<Tensor>)> {
        let out = self.forward(pixels, true)?;
        Ok((self.head(&out)?, out.attentions))
    }
    fn warnings(&self) -> &[String] {
        &self.tuned.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn softplus_is_stable_and_positive() {
        let x = Tensor::new(&[-100f32, -1.0, 0.0, 1.0, 100.0], &Device::Cpu).unwrap();
        let y: Vec<f32> = softplus(&x).unwrap().to_vec1().unwrap();
        assert!(y.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!((y[2] - std::f32::consts::LN_2).abs() < 1e-6);
        assert!((y[4] - 100.0).abs() < 1e-4);
    }
}
