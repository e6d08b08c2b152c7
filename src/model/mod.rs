//! The CLIP ViT image encoder on candle: configuration, weights and their import, preprocessing,
//! and a forward pass with token keep-masks, a hidden-state hook and attention capture.

pub mod config;
pub mod cpu_linear;
pub mod onnx;
pub mod ops;
pub mod packed_gemm;
pub mod preprocess;
pub mod store;
pub mod text;
pub mod tokenizer;
pub mod vit;

pub use config::ClipVisionConfig;
pub use store::{BaseModel, BaseModelInfo, DEFAULT_MODEL};
pub use vit::{ClipVision, ForwardOptions, VisionOutput};
