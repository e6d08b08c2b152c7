//! MPFT detector: the CLIP tower with trained parameters applied (LoRA on q/k/v/out of every
//! layer, every LayerNorm, optionally whole last blocks) and a binary head on the pooled class
//! token. At inference the LoRA updates are merged into the weights, so the fast path applies.

use super::{Checkpoint, Detector, DetectorMeta};
use crate::model::vit::VisionOutput;
use crate::model::{BaseModel, ClipVision};
use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor};
use std::collections::HashMap;

pub const HEAD_W: &str = "head.weight";
pub const HEAD_B: &str = "head.bias";

/// Names of the LayerNorm parameters of a tower.
pub fn layer_norm_names(layers: usize) -> Vec<String> {
    let mut v = Vec::new();
    for ln in ["pre_layrnorm", "post_layernorm"] {
        v.push(format!("vision_model.{ln}.weight"));
        v.push(format!("vision_model.{ln}.bias"));
    }
    for i in 0..layers {
        for ln in ["layer_norm1", "layer_norm2"] {
            v.push(format!("vision_model.encoder.layers.{i}.{ln}.weight"));
            v.push(format!("vision_model.encoder.layers.{i}.{ln}.bias"));
        }
    }
    v
}

pub const PROJS: [&str; 4] = ["q_proj", "k_proj", "v_proj", "out_proj"];

/// Mutable access to a named parameter of the tower (HF names), for applying trained tensors.
pub fn param_mut<'a>(m: &'a mut ClipVision, name: &str) -> Option<&'a mut Tensor> {
    let rest = name.strip_prefix("vision_model.")?;
    match rest {
        "pre_layrnorm.weight" => return Some(&mut m.pre_layrnorm.weight),
        "pre_layrnorm.bias" => return Some(&mut m.pre_layrnorm.bias),
        "post_layernorm.weight" => return Some(&mut m.post_layernorm.weight),
        "post_layernorm.bias" => return Some(&mut m.post_layernorm.bias),
        _ => {}
    }
    let rest = rest.strip_prefix("encoder.layers.")?;
    let (i, p) = rest.split_once('.')?;
    let l = m.layers.get_mut(i.parse::<usize>().ok()?)?;
    let lin = |a: &'a mut crate::model::vit::Linear, field: &str| -> Option<&'a mut Tensor> {
        match field {
            "weight" => Some(&mut a.weight),
            "bias" => a.bias.as_mut(),
            _ => None,
        }
    };
    let (module, field) = p.rsplit_once('.')?;
    match module {
        "layer_norm1" => Some(if field == "weight" {
            &mut l.layer_norm1.weight
        } else {
            &mut l.layer_norm1.bias
        }),
        "layer_norm2" => Some(if field == "weight" {
            &mut l.layer_norm2.weight
        } else {
            &mut l.layer_norm2.bias
        }),
        "self_attn.q_proj" => lin(&mut l.self_attn.q_proj, field),
        "self_attn.k_proj" => lin(&mut l.self_attn.k_proj, field),
        "self_attn.v_proj" => lin(&mut l.self_attn.v_proj, field),
        "self_attn.out_proj" => lin(&mut l.self_attn.out_proj, field),
        "mlp.fc1" => lin(&mut l.mlp.fc1, field),
        "mlp.fc2" => lin(&mut l.mlp.fc2, field),
        _ => None,
    }
}

/// Applies trained tensors to a copy of the tower. LoRA pairs (`<linear>.lora_a/.lora_b`) are attached
/// as adapters when `merge` is false (training) or merged into the weights when true (inference).
pub fn apply_trained(
    m: &mut ClipVision,
    tensors: &HashMap<String, Tensor>,
    lora_scale: f64,
    merge: bool,
) -> Result<()> {
    let dev = m.device().clone();
    let dtype = m.dtype();
    for (name, t) in tensors {
        if name.starts_with("head.")
            || name.starts_with("pin.")
            || name.ends_with(".lora_a")
            || name.ends_with(".lora_b")
        {
            continue;
        }
        let slot = param_mut(m, name)
            .with_context(|| format!("checkpoint tensor {name} has no place in the model"))?;
        if slot.dims() != t.dims() {
            bail!(
                "checkpoint tensor {name} has shape {:?}, the model {:?}",
                t.dims(),
                slot.dims()
            );
        }
        *slot = t.to_device(&dev)?.to_dtype(dtype)?;
    }
    for i in 0..m.layers.len() {
        for p in PROJS {
            let base = format!("vision_model.encoder.layers.{i}.self_attn.{p}");
            let (Some(a), Some(b)) = (
                tensors.get(&format!("{base}.lora_a")),
                tensors.get(&format!("{base}.lora_b")),
            ) else {
                continue;
            };
            let a = a.to_device(&dev)?.to_dtype(dtype)?;
            let b = b.to_device(&dev)?.to_dtype(dtype)?;
            let lin = m.layers[i]
                .self_attn
                .proj_mut(p)
                .expect("PROJS names the projections");
            if merge {
                lin.weight = (&lin.weight + (b.matmul(&a)? * lora_scale)?)?;
            } else {
                lin.lora = Some(crate::model::vit::LoraDelta {
                    a,
                    b,
                    scale: lora_scale,
                });
            }
        }
        m.layers[i].self_attn.reset_fused();
    }
    Ok(())
}

/// Keeps only the first `head_layer` encoder blocks (all when None), so the pooled output is
/// `post_layernorm` of the class token after that block. Errors when the tower has fewer blocks.
pub fn truncate_to_head(m: &mut ClipVision, head_layer: Option<usize>) -> Result<()> {
    if let Some(k) = head_layer {
        if k == 0 || k > m.layers.len() {
            bail!(
                "head layer {k} does not exist (the tower has blocks 1 to {})",
                m.layers.len()
            );
        }
        m.layers.truncate(k);
    }
    Ok(())
}

/// The `head_layer` recorded in a detector's settings (None: the last block).
pub fn head_layer_setting(settings: &serde_json::Value) -> Option<usize> {
    settings
        .get("head_layer")
        .and_then(|v| v.as_u64())
        .map(|v| v as usize)
}

/// Head logits from pooled features.
pub fn head_logits(pooled: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    pooled.matmul(&w.t()?)?.broadcast_add(b)?.squeeze(1)
}

pub struct MpftDetector {
    pub(super) meta: DetectorMeta,
    pub(super) vision: ClipVision,
    head_w: Tensor,
    head_b: Tensor,
    /// The blocks whose raw class tokens the head reads (None: the pooled last class token).
    blocks: Option<Vec<usize>>,
    pub(super) warnings: Vec<String>,
}

impl MpftDetector {
    pub fn new(ckpt: Checkpoint, base: &BaseModel, warnings: Vec<String>) -> Result<Self> {
        let scale = ckpt
            .meta
            .settings
            .get("lora_alpha")
            .and_then(|a| a.as_f64())
            .unwrap_or(16.0)
            / ckpt
                .meta
                .settings
                .get("lora_rank")
                .and_then(|r| r.as_f64())
                .unwrap_or(8.0)
                .max(1.0);
        let name = ckpt.meta.name.clone();
        let blocks = super::probe::blocks_setting(&ckpt.meta.settings)
            .with_context(|| format!("detector '{name}'"))?;
        let last = super::probe::last_block(
            blocks.as_deref(),
            head_layer_setting(&ckpt.meta.settings),
            base.info.config.num_hidden_layers,
        )
        .with_context(|| format!("detector '{name}'"))?;
        let mut vision = base.vision.clone();
        truncate_to_head(&mut vision, last).with_context(|| format!("detector '{name}'"))?;
        apply_trained(&mut vision, &ckpt.tensors, scale, true)?;
        vision.prepare_inference()?;
        let dev = vision.device().clone();
        let head_w = ckpt.tensor(HEAD_W)?.to_device(&dev)?;
        let head_b = ckpt.tensor(HEAD_B)?.to_device(&dev)?;
        let width = base.info.config.hidden_size * blocks.as_ref().map_or(1, |b| b.len());
        if head_w.dims() != [1, width] || head_b.dims() != [1] {
            bail!(
                "detector '{name}': head {:?} / {:?} does not fit width {width}",
                head_w.dims(),
                head_b.dims(),
            );
        }
        Ok(Self {
            meta: ckpt.meta,
            vision,
            head_w,
            head_b,
            blocks,
            warnings,
        })
    }
}

impl Detector for MpftDetector {
    fn meta(&self) -> &DetectorMeta {
        &self.meta
    }
    fn vision(&self) -> &ClipVision {
        &self.vision
    }
    fn head(&self, out: &VisionOutput) -> Result<Vec<f32>> {
        let f = match &self.blocks {
            Some(b) => super::probe::class_tokens(out, b)?,
            None => out.pooled.to_dtype(DType::F32)?,
        };
        Ok(head_logits(&f, &self.head_w, &self.head_b)?.to_vec1()?)
    }
    fn needs_hidden_states(&self) -> bool {
        self.blocks.is_some()
    }
    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
