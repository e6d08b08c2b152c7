//! CLIP's text tower, for the class prompts of PiN-CLIP ("A real photo", "A fake photo"). It is
//! only ever run forward (the class embeddings are fixed), so candle-transformers' CLIP text
//! model serves: its LayerNorm and softmax lack a backward pass, which does not matter here.
//! The embedding of a prompt is the final-LayerNorm state at its end token, projected by
//! `text_projection`, as in CLIP.

use super::tokenizer::ClipTokenizer;
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor};
use candle_nn::{Module, VarBuilder};
use candle_transformers::models::clip::text_model::{
    Activation, ClipTextConfig, ClipTextTransformer,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The architecture of a CLIP text tower with its projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub projection_dim: usize,
}

impl TextConfig {
    /// From the tensor shapes; the head count comes from a full CLIP `config.json`'s
    /// `text_config` when it has one, else width / 64 as in every OpenAI CLIP.
    pub fn infer(shapes: &HashMap<String, Vec<usize>>, heads: Option<usize>) -> Result<Self> {
        let shape = |n: &str| {
            shapes
                .get(n)
                .ok_or_else(|| anyhow!("text tensor '{n}' is missing"))
        };
        let tok = shape("text_model.embeddings.token_embedding.weight")?;
        let pos = shape("text_model.embeddings.position_embedding.weight")?;
        let fc1 = shape("text_model.encoder.layers.0.mlp.fc1.weight")?;
        let proj = shape("text_projection.weight")?;
        if tok.len() != 2 || pos.len() != 2 || fc1.len() != 2 || proj.len() != 2 {
            bail!("text tensors are not matrices");
        }
        let hidden = tok[1];
        let layers = (0..)
            .take_while(|i| {
                shapes.contains_key(&format!("text_model.encoder.layers.{i}.mlp.fc1.weight"))
            })
            .count();
        let c = Self {
            vocab_size: tok[0],
            hidden_size: hidden,
            intermediate_size: fc1[0],
            max_position_embeddings: pos[0],
            num_hidden_layers: layers,
            num_attention_heads: heads.unwrap_or((hidden / 64).max(1)),
            projection_dim: proj[0],
        };
        if c.num_attention_heads == 0
            || !c.hidden_size.is_multiple_of(c.num_attention_heads)
            || pos[1] != hidden
            || proj[1] != hidden
        {
            bail!("inconsistent text tower shapes ({c:?})");
        }
        Ok(c)
    }

    fn candle(&self) -> ClipTextConfig {
        ClipTextConfig {
            vocab_size: self.vocab_size,
            embed_dim: self.hidden_size,
            activation: Activation::QuickGelu,
            intermediate_size: self.intermediate_size,
            max_position_embeddings: self.max_position_embeddings,
            pad_with: None,
            num_hidden_layers: self.num_hidden_layers,
            num_attention_heads: self.num_attention_heads,
            projection_dim: self.projection_dim,
        }
    }
}

/// The text tower with its tokenizer, on the CPU in f32 (a few prompts, encoded once).
pub struct ClipText {
    pub config: TextConfig,
    tokenizer: ClipTokenizer,
    transformer: ClipTextTransformer,
    projection: candle_nn::Linear,
}

impl ClipText {
    /// Loads `text.safetensors` (`text_model.*`, `text_projection.weight`) and the tokenizer
    /// files from a model directory.
    pub fn load(weights: &Path, tokenizer_dir: &Path, config: &TextConfig) -> Result<Self> {
        let tokenizer = ClipTokenizer::from_dir(tokenizer_dir)?;
        // Safety: the file is ours, written atomically and not modified while mapped.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &Device::Cpu) }
                .with_context(|| format!("{}: not a valid safetensors file", weights.display()))?;
        Self::from_varbuilder(vb, tokenizer, config)
            .with_context(|| format!("{}: weights do not fit the text tower", weights.display()))
    }

    pub fn from_varbuilder(
        vb: VarBuilder,
        tokenizer: ClipTokenizer,
        config: &TextConfig,
    ) -> Result<Self> {
        let transformer = ClipTextTransformer::new(vb.pp("text_model"), &config.candle())?;
        let projection = candle_nn::linear_no_bias(
            config.hidden_size,
            config.projection_dim,
            vb.pp("text_projection"),
        )?;
        Ok(Self {
            config: config.clone(),
            tokenizer,
            transformer,
            projection,
        })
    }

    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer
            .encode(text, self.config.max_position_embeddings)
    }

    /// Projected embeddings of the prompts, [n, projection_dim] (not normalised).
    pub fn embed(&self, prompts: &[&str]) -> Result<Tensor> {
        let mut rows = Vec::with_capacity(prompts.len());
        for p in prompts {
            let ids = self.tokenize(p)?;
            if let Some(bad) = ids.iter().find(|&&i| i as usize >= self.config.vocab_size) {
                bail!("token id {bad} is outside the text tower's vocabulary");
            }
            let n = ids.len();
            let input = Tensor::from_vec(ids, (1, n), &Device::Cpu)?;
            // Causal attention: the end token (last) sees the whole prompt, so no padding.
            let states = self.transformer.forward_with_mask(&input, usize::MAX)?;
            let pooled = states.i((0, n - 1))?.unsqueeze(0)?;
            rows.push(self.projection.forward(&pooled)?);
        }
        Ok(Tensor::cat(&rows, 0)?)
    }
}
