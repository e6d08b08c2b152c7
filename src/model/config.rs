//! CLIP vision-tower configuration, read from a Hugging Face `config.json` or built from a preset.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Architecture of a CLIP ViT image tower with its visual projection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipVisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub projection_dim: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default = "default_channels")]
    pub num_channels: usize,
}

fn default_act() -> String {
    "quick_gelu".into()
}
fn default_channels() -> usize {
    3
}

impl ClipVisionConfig {
    /// OpenAI CLIP ViT-B/32.
    pub fn vit_b32() -> Self {
        Self::base(768, 3072, 12, 12, 224, 32, 512)
    }
    /// OpenAI CLIP ViT-B/16 (the default base model).
    pub fn vit_b16() -> Self {
        Self::base(768, 3072, 12, 12, 224, 16, 512)
    }
    /// OpenAI CLIP ViT-L/14.
    pub fn vit_l14() -> Self {
        Self::base(1024, 4096, 24, 16, 224, 14, 768)
    }
    /// OpenAI CLIP ViT-L/14 at 336 px.
    pub fn vit_l14_336() -> Self {
        Self::base(1024, 4096, 24, 16, 336, 14, 768)
    }
    /// A tiny configuration for tests (random weights).
    pub fn tiny() -> Self {
        Self::base(32, 64, 2, 4, 32, 8, 16)
    }

    fn base(
        hidden: usize,
        inter: usize,
        layers: usize,
        heads: usize,
        image: usize,
        patch: usize,
        proj: usize,
    ) -> Self {
        Self {
            hidden_size: hidden,
            intermediate_size: inter,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            image_size: image,
            patch_size: patch,
            projection_dim: proj,
            layer_norm_eps: 1e-5,
            hidden_act: default_act(),
            num_channels: 3,
        }
    }

    /// Preset by name: `vit-b32`, `vit-b16`, `vit-l14`, `vit-l14-336`, `tiny`.
    pub fn preset(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().replace(['/', '_'], "-").as_str() {
            "vit-b-32" | "vit-b32" | "b32" => Some(Self::vit_b32()),
            "vit-b-16" | "vit-b16" | "b16" => Some(Self::vit_b16()),
            "vit-l-14" | "vit-l14" | "l14" => Some(Self::vit_l14()),
            "vit-l-14-336" | "vit-l14-336" | "l14-336" => Some(Self::vit_l14_336()),
            "tiny" => Some(Self::tiny()),
            _ => None,
        }
    }

    /// Short human name such as `ViT-B/16`.
    pub fn arch_name(&self) -> String {
        let size = match self.hidden_size {
            768 => "B",
            1024 => "L",
            1280 => "H",
            _ => "custom",
        };
        if self.image_size == 224 {
            format!("ViT-{size}/{}", self.patch_size)
        } else {
            format!("ViT-{size}/{}@{}", self.patch_size, self.image_size)
        }
    }

    pub fn grid_size(&self) -> usize {
        self.image_size / self.patch_size
    }
    pub fn num_patches(&self) -> usize {
        self.grid_size() * self.grid_size()
    }
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the invariants the forward pass relies on.
    pub fn validate(&self) -> Result<(), String> {
        if self.hidden_size == 0 || self.num_attention_heads == 0 || self.patch_size == 0 {
            return Err("hidden_size, num_attention_heads and patch_size must be positive".into());
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.image_size.is_multiple_of(self.patch_size) {
            return Err(format!(
                "image_size {} is not a multiple of patch_size {}",
                self.image_size, self.patch_size
            ));
        }
        if !matches!(self.hidden_act.as_str(), "quick_gelu" | "gelu") {
            return Err(format!("unsupported activation '{}'", self.hidden_act));
        }
        Ok(())
    }

    /// Parses a Hugging Face `config.json`: either a `CLIPVisionConfig` (with `projection_dim`),
    /// or a full `CLIPConfig` whose `vision_config` is nested and `projection_dim` is top-level.
    pub fn from_hf_json(text: &str) -> Result<Self, String> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let vision = v.get("vision_config").unwrap_or(&v);
        let get = |k: &str| -> Option<u64> {
            vision
                .get(k)
                .and_then(|x| x.as_u64())
                .or_else(|| v.get(k).and_then(|x| x.as_u64()))
        };
        let need = |k: &str| {
            get(k)
                .map(|x| x as usize)
                .ok_or(format!("missing field '{k}'"))
        };
        let cfg = Self {
            hidden_size: need("hidden_size")?,
            intermediate_size: need("intermediate_size")?,
            num_hidden_layers: need("num_hidden_layers")?,
            num_attention_heads: need("num_attention_heads")?,
            image_size: need("image_size")?,
            patch_size: need("patch_size")?,
            projection_dim: need("projection_dim")?,
            layer_norm_eps: vision
                .get("layer_norm_eps")
                .and_then(|x| x.as_f64())
                .unwrap_or(1e-5),
            hidden_act: vision
                .get("hidden_act")
                .and_then(|x| x.as_str())
                .unwrap_or("quick_gelu")
                .to_string(),
            num_channels: get("num_channels").unwrap_or(3) as usize,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a `config.json` file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        Self::from_hf_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// The `config.json` we write: HF `CLIPVisionConfig` fields plus `projection_dim`.
    pub fn to_hf_json(&self) -> String {
        let v = serde_json::json!({
            "architectures": ["CLIPVisionModelWithProjection"],
            "model_type": "clip_vision_model",
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "projection_dim": self.projection_dim,
            "layer_norm_eps": self.layer_norm_eps,
            "hidden_act": self.hidden_act,
            "num_channels": self.num_channels,
        });
        serde_json::to_string_pretty(&v).expect("json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_round_trip() {
        for name in ["vit-b32", "ViT-B/16", "vit-l14", "vit-l14-336", "tiny"] {
            let c = ClipVisionConfig::preset(name).unwrap();
            c.validate().unwrap();
            let back = ClipVisionConfig::from_hf_json(&c.to_hf_json()).unwrap();
            assert_eq!(c, back);
        }
        assert_eq!(ClipVisionConfig::vit_b16().num_patches(), 196);
        assert_eq!(ClipVisionConfig::vit_b16().arch_name(), "ViT-B/16");
        assert!(ClipVisionConfig::preset("vit-q99").is_none());
    }

    #[test]
    fn nested_full_clip_config() {
        let text = r#"{"projection_dim": 512, "text_config": {"hidden_size": 512},
            "vision_config": {"hidden_size": 768, "intermediate_size": 3072,
            "num_hidden_layers": 12, "num_attention_heads": 12, "image_size": 224,
            "patch_size": 16, "layer_norm_eps": 1e-05, "hidden_act": "quick_gelu"}}"#;
        let c = ClipVisionConfig::from_hf_json(text).unwrap();
        assert_eq!(c, ClipVisionConfig::vit_b16());
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(ClipVisionConfig::from_hf_json("{").is_err());
        assert!(ClipVisionConfig::from_hf_json(r#"{"hidden_size": 768}"#).is_err());
        let mut c = ClipVisionConfig::tiny();
        c.num_attention_heads = 5;
        assert!(c.validate().is_err());
    }
}
