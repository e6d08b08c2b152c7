//! UnivFD-style baseline: a frozen CLIP image tower and a linear probe on the L2-normalised
//! projected embedding.

use super::{Checkpoint, Detector, DetectorMeta};
use crate::model::vit::VisionOutput;
use crate::model::{BaseModel, ClipVision};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor, D};

pub const WEIGHT: &str = "probe.weight";
pub const BIAS: &str = "probe.bias";

pub struct ProbeDetector {
    meta: DetectorMeta,
    vision: ClipVision,
    weight: Tensor,
    bias: Tensor,
    warnings: Vec<String>,
}

impl ProbeDetector {
    pub fn new(ckpt: Checkpoint, base: &BaseModel, warnings: Vec<String>) -> Result<Self> {
        let dev = base.vision.device().clone();
        let p = base.info.config.projection_dim;
        let weight = ckpt.tensor(WEIGHT)?.to_device(&dev)?;
        let bias = ckpt.tensor(BIAS)?.to_device(&dev)?;
        if weight.dims() != [1, p] || bias.dims() != [1] {
            bail!(
                "probe '{}': weight {:?} / bias {:?} do not fit projection size {p}",
                ckpt.meta.name,
                weight.dims(),
                bias.dims()
            );
        }
        let mut vision = base.vision.clone();
        super::mpft::truncate_to_head(
            &mut vision,
            super::mpft::head_layer_setting(&ckpt.meta.settings),
        )
        .with_context(|| format!("detector '{}'", ckpt.meta.name))?;
        Ok(Self {
            meta: ckpt.meta,
            vision,
            weight,
            bias,
            warnings,
        })
    }
}

/// L2-normalised rows.
pub fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    let n = x
        .sqr()?
        .sum_keepdim(D::Minus1)?
        .sqrt()?
        .clamp(1e-12, f64::MAX)?;
    x.broadcast_div(&n)
}

impl Detector for ProbeDetector {
    fn meta(&self) -> &DetectorMeta {
        &self.meta
    }
    fn vision(&self) -> &ClipVision {
        &self.vision
    }
    fn head(&self, out: &VisionOutput) -> Result<Vec<f32>> {
        let e = out.embeds.to_dtype(DType::F32)?;
        let f = l2_normalize(&e)?;
        let z = f.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        Ok(z.flatten_all()?.to_vec1()?)
    }
    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
