//! Fauxscope: tells whether an image was made by a generative model.
//!
//! Layers, bottom to top: `imageio` and `model` (CLIP ViT on candle), `detect` (detectors and
//! checkpoints), `workstation` (the service layer both shells call), and the shells `cli` and `gui`.

pub mod animation;
pub mod bench;
pub mod charts;
pub mod cli;
pub mod colour;
pub mod csvout;
pub mod detect;
pub mod device;
pub mod eval;
pub mod forensics;
pub mod fsutil;
#[cfg(feature = "gui")]
pub mod gui;
pub mod heif;
pub mod imageio;
pub mod jobs;
pub mod jpeg_check;
pub mod model;
pub mod paths;
pub mod report;
pub mod rng;
pub mod train;
pub mod workstation;

/// Tool version recorded in checkpoints and reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from (`unknown` outside a git checkout).
pub const COMMIT: &str = env!("FAUXSCOPE_COMMIT");
