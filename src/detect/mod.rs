//! Detectors: the [`Detector`] trait, checkpoints, calibration, and where detectors are found
//! (shipped in the binary, installed in the data directory, or a path).

pub mod calibration;
pub mod checkpoint;
pub mod mpft;
pub mod pin;
pub mod probe;
pub mod tam;
pub mod validation;

pub use calibration::{Calibration, Verdict};
pub use checkpoint::{
    BaseModelRef, Checkpoint, DetectorMeta, FileRecord, Recalibration, TrainingSummary,
};

use crate::model::vit::{ForwardOptions, VisionOutput};
use crate::model::{BaseModel, ClipVision};
use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use std::path::{Path, PathBuf};

/// A trained detector ready to score preprocessed crops.
pub trait Detector: Send + Sync {
    fn meta(&self) -> &DetectorMeta;
    /// The image tower this detector runs (with its trained parameters applied).
    fn vision(&self) -> &ClipVision;
    /// Raw logits (positive = generated) from a forward pass of [`Detector::vision`].
    fn head(&self, out: &VisionOutput) -> Result<Vec<f32>>;
    /// Whether [`Detector::head`] reads the hidden states (a head on several blocks).
    fn needs_hidden_states(&self) -> bool {
        false
    }
    /// Raw logits, one per crop in `pixels` [B, 3, S, S].
    fn logits(&self, pixels: &Tensor) -> Result<Vec<f32>> {
        let opts = ForwardOptions {
            hidden_states: self.needs_hidden_states(),
            ..Default::default()
        };
        self.head(&self.vision().forward_with(pixels, opts)?)
    }
    /// Raw logits plus every layer's attention probabilities (for explanation maps), in one pass.
    fn logits_with_attentions(&self, pixels: &Tensor) -> Result<(Vec<f32>, Vec<Tensor>)> {
        let opts = ForwardOptions {
            hidden_states: self.needs_hidden_states(),
            attentions: true,
            ..Default::default()
        };
        let out = self.vision().forward_with(pixels, opts)?;
        Ok((self.head(&out)?, out.attentions))
    }
    /// Warnings about this pairing of detector and base model (e.g. a different weights hash).
    fn warnings(&self) -> &[String];
}

/// Builds the detector a checkpoint describes on top of a loaded base model. A different
/// architecture is an error; the same architecture with other weights is a recorded warning.
pub fn build_detector(ckpt: Checkpoint, base: &BaseModel) -> Result<Box<dyn Detector>> {
    let want = &ckpt.meta.base_model;
    if want.config != base.info.config {
        bail!(
            "detector '{}' was trained on {} ({}) but the loaded base model is {} ({}): architectures differ",
            ckpt.meta.name, want.name, want.arch, base.info.name, base.info.arch
        );
    }
    let mut warnings = Vec::new();
    if want.weights_sha256 != base.info.weights_sha256() {
        warnings.push(format!(
            "detector '{}' was trained on base weights {} but {} has weights {}: scores may be unreliable",
            ckpt.meta.name,
            short(&want.weights_sha256),
            base.info.name,
            short(base.info.weights_sha256())
        ));
    }
    match ckpt.meta.method.as_str() {
        "probe" => Ok(Box::new(probe::ProbeDetector::new(ckpt, base, warnings)?)),
        "mpft" => Ok(Box::new(mpft::MpftDetector::new(ckpt, base, warnings)?)),
        "pin" => Ok(Box::new(pin::PinDetector::new(ckpt, base, warnings)?)),
        m => bail!(
            "detector '{}' uses method '{m}', which this version cannot run",
            ckpt.meta.name
        ),
    }
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Detectors compiled into the binary: (name, checkpoint bytes).
pub fn shipped() -> &'static [(&'static str, &'static [u8])] {
    &[
        (
            "mpft",
            include_bytes!("../../assets/detectors/mpft.safetensors"),
        ),
        (
            "pin",
            include_bytes!("../../assets/detectors/pin.safetensors"),
        ),
        (
            "probe",
            include_bytes!("../../assets/detectors/probe.safetensors"),
        ),
        (
            "probe-blocks",
            include_bytes!("../../assets/detectors/probe-blocks.safetensors"),
        ),
        (
            "probe-blocks-tiles",
            include_bytes!("../../assets/detectors/probe-blocks-tiles.safetensors"),
        ),
    ]
}

/// The name `default` resolves to: MPFT + TAM, whose calibrated threshold holds on real photos from
/// unseen sources (0.5% false positives on aigi-dev/val, against 9% for the probe; EVALUATION.md).
pub const DEFAULT_DETECTOR: &str = "mpft";

/// Where a detector named on the command line or in the GUI comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectorSource {
    Shipped(&'static str),
    Installed(PathBuf),
    File(PathBuf),
}

/// `spec` with `default` spelt out as the default detector's name.
pub fn named(spec: &str) -> &str {
    if spec == "default" {
        DEFAULT_DETECTOR
    } else {
        spec
    }
}

/// Where `spec` (`default`, a shipped name, an installed name, or a checkpoint path) is read from,
/// without reading it.
pub fn locate(spec: &str) -> Result<DetectorSource> {
    let name = named(spec);
    if let Some((n, _)) = shipped().iter().find(|(n, _)| *n == name) {
        return Ok(DetectorSource::Shipped(n));
    }
    let installed = crate::paths::installed_detector(name);
    if installed.is_file() {
        return Ok(DetectorSource::Installed(installed));
    }
    let p = Path::new(spec);
    if p.exists() {
        return Ok(DetectorSource::File(p.to_path_buf()));
    }
    let names: Vec<&str> = shipped().iter().map(|(n, _)| *n).collect();
    bail!(
        "no detector '{spec}': not a shipped detector ({}), not installed in {}, and no such file",
        names.join(", "),
        crate::paths::detectors_dir().display()
    )
}

/// Resolves `default`, a shipped name, an installed name, or a checkpoint path, and reads it.
pub fn resolve(spec: &str) -> Result<(DetectorSource, Checkpoint)> {
    let source = locate(spec)?;
    let ckpt = match &source {
        DetectorSource::Shipped(n) => {
            let (_, bytes) = shipped()
                .iter()
                .find(|(s, _)| s == n)
                .with_context(|| format!("no shipped detector '{n}'"))?;
            Checkpoint::from_bytes(bytes, &format!("shipped detector '{n}'"))?
        }
        DetectorSource::Installed(p) | DetectorSource::File(p) => Checkpoint::load(p)?,
    };
    Ok((source, ckpt))
}

/// Takes the installed detector `name` off the library: its file is moved (not deleted) to
/// `<data>/detectors/removed/<name>-<UTC time>.safetensors`, so a report that names it can still
/// be traced to the checkpoint. Returns where it went. Shipped detectors cannot be removed.
pub fn remove_installed(name: &str) -> Result<PathBuf> {
    let spec = named(name);
    if shipped().iter().any(|(n, _)| *n == spec) {
        bail!("'{spec}' is a shipped detector: it cannot be removed (choose another as the primary instead)");
    }
    let from = crate::paths::installed_detector(spec);
    if !from.is_file() {
        bail!(
            "no installed detector '{spec}' in {}",
            crate::paths::detectors_dir().display()
        );
    }
    let dir = crate::paths::detectors_dir().join("removed");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let stamp = crate::fsutil::now_utc().replace(':', "");
    let to = dir.join(format!("{spec}-{stamp}.safetensors"));
    if to.exists() {
        bail!("{} already exists: try again in a second", to.display());
    }
    std::fs::rename(&from, &to)
        .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    Ok(to)
}

/// Installed detectors (path, metadata), for `model list` and the GUI library.
pub fn list_installed() -> Vec<(PathBuf, Result<DetectorMeta>)> {
    let Ok(rd) = std::fs::read_dir(crate::paths::detectors_dir()) else {
        return vec![];
    };
    let mut v: Vec<_> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .map(|p| {
            let m = Checkpoint::load(&p).map(|c| c.meta);
            (p, m)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}
