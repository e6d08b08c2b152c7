//! UnivFD-style baseline: a frozen CLIP image tower and a linear probe on the L2-normalised
//! projected embedding, or (setting `blocks`) on the raw class tokens after several encoder
//! blocks, concatenated (the probe's standardisation is folded into its weights).

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
    /// The blocks whose class tokens the probe reads (None: the projected embedding).
    blocks: Option<Vec<usize>>,
    /// Which tokens of those blocks.
    tokens: BlockTokens,
    warnings: Vec<String>,
}

/// The `blocks` recorded in a probe's settings (None: it reads the projected embedding). A value
/// that is not a list of block numbers is an error, not a shorter list.
pub fn blocks_setting(settings: &serde_json::Value) -> Result<Option<Vec<usize>>> {
    let Some(v) = settings.get("blocks").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list = v.as_array().and_then(|a| {
        a.iter()
            .map(|b| b.as_u64().map(|b| b as usize))
            .collect::<Option<Vec<_>>>()
    });
    match list {
        Some(l) => Ok(Some(l)),
        None => bail!("setting 'blocks' is {v}, not a list of block numbers"),
    }
}

/// Checks a block list against a tower of `layers` blocks: non-empty, each from 1 to `layers`,
/// increasing without repeats.
pub fn check_blocks(blocks: &[usize], layers: usize) -> Result<()> {
    if blocks.is_empty() {
        bail!("the block list is empty");
    }
    for &b in blocks {
        if b == 0 || b > layers {
            bail!("block {b} does not exist (the tower has blocks 1 to {layers})");
        }
    }
    if blocks.windows(2).any(|w| w[0] >= w[1]) {
        bail!("blocks {blocks:?} must be increasing, without repeats");
    }
    Ok(())
}

/// What a probe reads, checked against a tower of `layers` blocks (a block list, or one head
/// layer, not both): the last block it needs, after which the tower is cut (None: all blocks).
/// Training and loading a probe both go through it.
pub fn last_block(
    blocks: Option<&[usize]>,
    head_layer: Option<usize>,
    layers: usize,
) -> Result<Option<usize>> {
    match blocks {
        Some(b) => {
            check_blocks(b, layers)?;
            if head_layer.is_some() {
                bail!("a probe reads either one head layer or a list of blocks, not both");
            }
            Ok(b.last().copied())
        }
        None => Ok(head_layer),
    }
}

/// Which tokens of each listed block a probe on several blocks reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockTokens {
    /// The class token (the first recipe, `probe-blocks`).
    #[default]
    Cls,
    /// The per-channel standard deviation of the patch tokens: how unevenly a block's features
    /// fall over the image (docs/EVALUATION.md, "Patch-token spread").
    Spread,
    /// Both, the class token first.
    ClsSpread,
}

impl BlockTokens {
    /// Features per block, in units of the tower's width.
    pub fn per_block(self) -> usize {
        match self {
            Self::Cls | Self::Spread => 1,
            Self::ClsSpread => 2,
        }
    }
}

impl std::str::FromStr for BlockTokens {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cls" => Ok(Self::Cls),
            "spread" => Ok(Self::Spread),
            "cls+spread" | "cls-spread" => Ok(Self::ClsSpread),
            _ => Err(format!("'{s}': expected cls, spread or cls+spread")),
        }
    }
}

/// The `tokens` recorded in a probe's settings (absent: the class token, as before the setting).
pub fn tokens_setting(settings: &serde_json::Value) -> Result<BlockTokens> {
    match settings.get("tokens").filter(|v| !v.is_null()) {
        None => Ok(BlockTokens::Cls),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| anyhow::anyhow!("setting 'tokens' is {v}, not cls, spread or cls-spread")),
    }
}

/// What a probe on several blocks reads: the blocks (1-based) and which of their tokens.
pub type BlockRead<'a> = (&'a [usize], BlockTokens);

/// The features after each of `blocks` (1-based), concatenated block by block: [B, len * k * D]
/// in f32 (k = `tokens.per_block()`). `out` must hold the hidden states.
pub fn block_features(out: &VisionOutput, (blocks, tokens): BlockRead<'_>) -> Result<Tensor> {
    let mut parts = Vec::with_capacity(blocks.len() * tokens.per_block());
    for &b in blocks {
        let h = out.hidden_states.get(b).with_context(|| {
            format!(
                "block {b}: the forward pass returned {} hidden states",
                out.hidden_states.len()
            )
        })?;
        if tokens != BlockTokens::Spread {
            parts.push(h.narrow(1, 0, 1)?.squeeze(1)?.to_dtype(DType::F32)?);
        }
        if tokens != BlockTokens::Cls {
            let n = h.dim(1)?;
            let patches = h.narrow(1, 1, n - 1)?.to_dtype(DType::F32)?;
            let centred = patches.broadcast_sub(&patches.mean_keepdim(1)?)?;
            parts.push(centred.sqr()?.mean(1)?.sqrt()?);
        }
    }
    Ok(Tensor::cat(&parts, 1)?)
}

/// The class tokens after each of `blocks` (1-based), concatenated: [B, len * D] in f32. `out`
/// must hold the hidden states (`ForwardOptions::hidden_states`).
pub fn class_tokens(out: &VisionOutput, blocks: &[usize]) -> Result<Tensor> {
    block_features(out, (blocks, BlockTokens::Cls))
}

impl ProbeDetector {
    pub fn new(ckpt: Checkpoint, base: &BaseModel, warnings: Vec<String>) -> Result<Self> {
        let dev = base.vision.device().clone();
        let name = ckpt.meta.name.clone();
        let blocks =
            blocks_setting(&ckpt.meta.settings).with_context(|| format!("probe '{name}'"))?;
        let tokens =
            tokens_setting(&ckpt.meta.settings).with_context(|| format!("probe '{name}'"))?;
        let head_layer = super::mpft::head_layer_setting(&ckpt.meta.settings);
        // Blocks after the last one read are never run.
        let last = last_block(
            blocks.as_deref(),
            head_layer,
            base.info.config.num_hidden_layers,
        )
        .with_context(|| format!("probe '{name}'"))?;
        let (p, what) = match &blocks {
            Some(b) => (
                base.info.config.hidden_size * b.len() * tokens.per_block(),
                "tokens of the listed blocks",
            ),
            None => (base.info.config.projection_dim, "projection size"),
        };
        let weight = ckpt.tensor(WEIGHT)?.to_device(&dev)?;
        let bias = ckpt.tensor(BIAS)?.to_device(&dev)?;
        if weight.dims() != [1, p] || bias.dims() != [1] {
            bail!(
                "probe '{name}': weight {:?} / bias {:?} do not fit the {what} ({p})",
                weight.dims(),
                bias.dims()
            );
        }
        let mut vision = base.vision.clone();
        super::mpft::truncate_to_head(&mut vision, last)
            .with_context(|| format!("detector '{name}'"))?;
        Ok(Self {
            meta: ckpt.meta,
            vision,
            weight,
            bias,
            blocks,
            tokens,
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
        let f = match &self.blocks {
            Some(b) => block_features(out, (b, self.tokens))?,
            None => l2_normalize(&out.embeds.to_dtype(DType::F32)?)?,
        };
        let z = f.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)?;
        Ok(z.flatten_all()?.to_vec1()?)
    }
    fn needs_hidden_states(&self) -> bool {
        self.blocks.is_some()
    }
    fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClipVisionConfig, ForwardOptions};
    use candle_core::Device;
    use candle_nn::{VarBuilder, VarMap};

    #[test]
    fn block_features_read_the_class_token_and_the_patch_spread_per_block() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let m = ClipVision::new(vb, &ClipVisionConfig::tiny()).unwrap();
        let pixels = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &dev).unwrap();
        let opts = ForwardOptions {
            hidden_states: true,
            ..Default::default()
        };
        let out = m.forward_with(&pixels, opts).unwrap();
        let width = 32;
        let both: Vec<Vec<f32>> = block_features(&out, (&[1, 2], BlockTokens::ClsSpread))
            .unwrap()
            .to_vec2()
            .unwrap();
        let spread: Vec<Vec<f32>> = block_features(&out, (&[1, 2], BlockTokens::Spread))
            .unwrap()
            .to_vec2()
            .unwrap();
        let cls: Vec<Vec<f32>> = block_features(&out, (&[1, 2], BlockTokens::Cls))
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(
            (both[0].len(), spread[0].len(), cls[0].len()),
            (128, 64, 64)
        );
        for (i, b) in [1usize, 2].into_iter().enumerate() {
            // The spread by hand: the population standard deviation of each channel over the
            // patch tokens (every token but the first).
            let h: Vec<Vec<Vec<f32>>> = out.hidden_states[b].to_vec3().unwrap();
            for (row, tokens) in h.iter().enumerate() {
                let patches = &tokens[1..];
                for c in 0..width {
                    let mean = patches.iter().map(|t| t[c]).sum::<f32>() / patches.len() as f32;
                    let var = patches.iter().map(|t| (t[c] - mean).powi(2)).sum::<f32>()
                        / patches.len() as f32;
                    let got = spread[row][i * width + c];
                    assert!((got - var.sqrt()).abs() < 1e-4, "block {b} channel {c}");
                    assert_eq!(both[row][2 * i * width + width + c], got);
                    assert_eq!(both[row][2 * i * width + c], tokens[0][c]);
                    assert_eq!(cls[row][i * width + c], tokens[0][c]);
                }
            }
        }
        assert_eq!(
            "cls+spread".parse::<BlockTokens>(),
            Ok(BlockTokens::ClsSpread)
        );
        assert!("mean".parse::<BlockTokens>().is_err());
        let s = serde_json::json!({"tokens": "cls-spread"});
        assert_eq!(tokens_setting(&s).unwrap(), BlockTokens::ClsSpread);
        assert_eq!(
            tokens_setting(&serde_json::json!({})).unwrap(),
            BlockTokens::Cls
        );
        assert!(tokens_setting(&serde_json::json!({"tokens": 3})).is_err());
    }

    #[test]
    fn class_tokens_are_the_listed_blocks_first_tokens_in_order() {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        let m = ClipVision::new(vb, &ClipVisionConfig::tiny()).unwrap();
        let pixels = Tensor::randn(0f32, 1.0, (3, 3, 32, 32), &dev).unwrap();
        let out = m
            .forward_with(
                &pixels,
                ForwardOptions {
                    hidden_states: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let t = class_tokens(&out, &[1, 2]).unwrap();
        assert_eq!(t.dims(), [3, 64]);
        let rows: Vec<Vec<f32>> = t.to_vec2().unwrap();
        for (b, range) in [(1usize, 0..32), (2, 32..64)] {
            let want: Vec<Vec<f32>> = out.hidden_states[b]
                .narrow(1, 0, 1)
                .unwrap()
                .squeeze(1)
                .unwrap()
                .to_vec2()
                .unwrap();
            for (r, w) in rows.iter().zip(&want) {
                assert_eq!(&r[range.clone()], &w[..]);
            }
        }
        // Block 2's class token is not block 1's (the blocks are really different states).
        assert_ne!(rows[0][..32], rows[0][32..]);
        let err = class_tokens(&out, &[3]).unwrap_err().to_string();
        assert!(err.contains("block 3"), "{err}");
    }

    #[test]
    fn block_lists_are_checked() {
        assert!(check_blocks(&[1, 2], 2).is_ok());
        for (b, msg) in [
            (&[][..], "empty"),
            (&[0][..], "block 0 does not exist"),
            (&[1, 3][..], "block 3 does not exist"),
            (&[2, 1][..], "increasing"),
            (&[1, 1][..], "increasing"),
        ] {
            let e = check_blocks(b, 2).unwrap_err().to_string();
            assert!(e.contains(msg), "{b:?}: {e}");
        }
        let s = serde_json::json!({"blocks": [6, 9, 12]});
        assert_eq!(blocks_setting(&s).unwrap(), Some(vec![6, 9, 12]));
        assert_eq!(
            blocks_setting(&serde_json::json!({"blocks": null})).unwrap(),
            None
        );
        assert_eq!(blocks_setting(&serde_json::json!({})).unwrap(), None);
        for bad in [serde_json::json!([1, "x"]), serde_json::json!(3)] {
            let e = blocks_setting(&serde_json::json!({ "blocks": bad }))
                .unwrap_err()
                .to_string();
            assert!(e.contains("not a list of block numbers"), "{e}");
        }
        assert_eq!(last_block(Some(&[1, 2]), None, 2).unwrap(), Some(2));
        assert_eq!(last_block(None, Some(1), 2).unwrap(), Some(1));
        assert_eq!(last_block(None, None, 2).unwrap(), None);
        let e = last_block(Some(&[1]), Some(1), 2).unwrap_err().to_string();
        assert!(e.contains("not both"), "{e}");
    }
}
