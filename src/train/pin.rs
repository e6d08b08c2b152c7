//! PiN-CLIP training pieces: the settings, the trainable noise generator, and the noise and
//! variational term added in the MPFT loop. The exact loss is in docs/METHODS.md:
//!
//! L = BCE(f(x; h_l + n), y) + beta * KL( N(mu, sigma^2) || N(0, p^2) ),
//! n = rms(h_l) * (mu + sigma * eps), eps ~ N(0, I),
//!
//! with (mu, sigma) from the generator per token and channel of layer l, rms the token's root
//! mean square (detached), p the prior scale, KL averaged over tokens and channels.

use crate::detect::pin::{
    NoiseAtInference, NoiseGenerator, NoiseMode, CLASS_PROJ, K, MU_B, MU_W, PROTOTYPES, Q, SIGMA_B,
    SIGMA_W, V,
};
use crate::rng::Rng;
use crate::train::mpft::new_var;
use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PinSettings {
    pub noise: NoiseMode,
    /// Noise is added to the hidden states after this layer (0-based).
    pub noise_layer: usize,
    /// Generator width = model width / reduction.
    pub reduction: usize,
    /// Weight of the variational (KL) term.
    pub beta: f64,
    /// Prior scale p, in units of each token's RMS; also the scale of the `random` ablation.
    pub prior_scale: f64,
    pub noise_at_inference: NoiseAtInference,
    /// Training images per class averaged to initialise the class prototypes.
    pub prototype_images: usize,
    /// Where the class embeddings come from.
    pub class_embeddings: ClassEmbeddings,
    /// The class prompts for the text tower (real first, then generated).
    pub prompts: [String; 2],
}

/// The source of the generator's class embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClassEmbeddings {
    /// The text tower's embeddings of the prompts when the base model has one, else prototypes.
    #[default]
    Auto,
    /// CLIP's text tower on the prompts (fixed during training); needs a full CLIP base model.
    Text,
    /// Learnable prototypes initialised from the mean projected image features of each class.
    Prototypes,
}

impl Default for PinSettings {
    fn default() -> Self {
        Self {
            noise: NoiseMode::Pin,
            noise_layer: 5,
            reduction: 4,
            beta: 0.1,
            prior_scale: 0.1,
            noise_at_inference: NoiseAtInference::Off,
            prototype_images: 64,
            class_embeddings: ClassEmbeddings::Auto,
            prompts: ["A real photo".into(), "A fake photo".into()],
        }
    }
}

/// The noise side of a PiN training run.
pub struct NoiseTraining {
    pub settings: PinSettings,
    /// The trainable generator (mode `pin`).
    pub generator: Option<NoiseGenerator>,
    pub seed: u64,
}

/// Builds the generator's variables in `vm`. `prototypes` [2, P] initialises the class
/// embeddings (or a checkpoint's tensors when resuming); with `learn_prototypes` false they are
/// fixed (the text tower's embeddings) and stay out of `vm`.
#[allow(clippy::too_many_arguments)]
pub fn build_generator(
    vm: &VarMap,
    config: &crate::model::ClipVisionConfig,
    prototypes: Tensor,
    learn_prototypes: bool,
    s: &PinSettings,
    seed: u64,
    init: Option<&HashMap<String, Tensor>>,
    device: &Device,
) -> Result<NoiseGenerator> {
    let (width, projection) = (config.hidden_size, config.projection_dim);
    let h = (width / s.reduction.max(1)).max(1);
    let mut rng = Rng::new(seed ^ 0x9E1);
    let mut randn = |rows: usize, cols: usize, std: f64| -> Result<Tensor> {
        let v: Vec<f32> = (0..rows * cols)
            .map(|_| (rng.normal() * std) as f32)
            .collect();
        Ok(Tensor::from_vec(v, (rows, cols), device)?)
    };
    // softplus^-1(p): the noise starts at the prior's scale.
    let p = s.prior_scale.max(1e-4);
    let sigma_bias = (p.exp() - 1.0).ln() as f32;
    let fresh: Vec<(&str, Tensor)> = vec![
        (PROTOTYPES, prototypes),
        (
            CLASS_PROJ,
            randn(width, projection, 1.0 / (projection as f64).sqrt())?,
        ),
        (Q, randn(h, width, 1.0 / (width as f64).sqrt())?),
        (K, randn(h, width, 1.0 / (width as f64).sqrt())?),
        (V, randn(h, width, 1.0 / (width as f64).sqrt())?),
        (MU_W, Tensor::zeros((width, h), DType::F32, device)?),
        (MU_B, Tensor::zeros(width, DType::F32, device)?),
        (SIGMA_W, Tensor::zeros((width, h), DType::F32, device)?),
        (SIGMA_B, Tensor::full(sigma_bias, width, device)?),
    ];
    let mut t = HashMap::new();
    for (name, fresh) in fresh {
        if name == PROTOTYPES && !learn_prototypes {
            t.insert(name.to_string(), fresh.to_device(device)?);
            continue;
        }
        let value = match init.and_then(|i| i.get(name)) {
            Some(x) => x.to_device(device)?,
            None => fresh,
        };
        t.insert(name.to_string(), new_var(vm, name, value)?);
    }
    NoiseGenerator::from_tensors(&t, device)
}

/// Standard normal samples from the seeded generator (reproducible training).
fn normal_like(x: &Tensor, rng: &mut Rng) -> candle_core::Result<Tensor> {
    let n = x.elem_count();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
    Tensor::from_vec(v, x.shape(), x.device())
}

/// KL(N(mu, sigma^2) || N(0, p^2)), averaged over elements.
pub fn kl_to_prior(mu: &Tensor, sigma: &Tensor, p: f64) -> candle_core::Result<Tensor> {
    let p2 = p * p;
    let term = ((sigma.sqr()? + mu.sqr()?)? / (2.0 * p2))?;
    let log_ratio = (sigma.log()?.neg()? + p.ln())?;
    ((log_ratio + term)? - 0.5)?.mean_all()
}

impl NoiseTraining {
    /// The hook for one training step: returns the noise to add after the layer and records the
    /// KL term in `kl`.
    pub fn noise(
        &self,
        hidden: &Tensor,
        step_seed: u64,
        kl: &RefCell<Option<Tensor>>,
    ) -> candle_core::Result<Tensor> {
        let mut rng = Rng::new(self.seed ^ step_seed.wrapping_mul(0x2545F4914F6CDD1D));
        let s = &self.settings;
        match (s.noise, &self.generator) {
            (NoiseMode::Pin, Some(g)) => {
                let (mu, sigma, rms) = g.forward(hidden, true)?;
                let eps = normal_like(&mu, &mut rng)?;
                *kl.borrow_mut() = Some(kl_to_prior(&mu, &sigma, s.prior_scale)?);
                (mu + (sigma * eps)?)?
                    .broadcast_mul(&rms)?
                    .to_dtype(hidden.dtype())
            }
            (NoiseMode::Random, _) | (NoiseMode::Pin, None) => {
                let h = hidden.to_dtype(DType::F32)?;
                let rms = h
                    .detach()
                    .sqr()?
                    .mean_keepdim(candle_core::D::Minus1)?
                    .sqrt()?;
                let eps = normal_like(&h, &mut rng)?;
                (eps * s.prior_scale)?
                    .broadcast_mul(&rms)?
                    .to_dtype(hidden.dtype())
            }
            (NoiseMode::None, _) => hidden.zeros_like(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_at_the_prior_and_positive_elsewhere() {
        let d = Device::Cpu;
        let mu = Tensor::zeros((2, 3), DType::F32, &d).unwrap();
        let sigma = Tensor::full(0.1f32, (2, 3), &d).unwrap();
        let k: f32 = kl_to_prior(&mu, &sigma, 0.1).unwrap().to_scalar().unwrap();
        assert!(k.abs() < 1e-6, "{k}");
        let sigma = Tensor::full(0.3f32, (2, 3), &d).unwrap();
        let k: f32 = kl_to_prior(&mu, &sigma, 0.1).unwrap().to_scalar().unwrap();
        assert!(k > 0.5, "{k}");
    }
}
