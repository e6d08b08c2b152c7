//! The one checkpoint format: a safetensors file holding only the trained tensors, with the
//! detector's metadata (JSON) in the safetensors header under the key `fauxscope`.

use super::calibration::Calibration;
use crate::fsutil::write_atomic;
use crate::model::preprocess::CropMode;
use crate::model::{BaseModelInfo, ClipVisionConfig};
use anyhow::{anyhow, bail, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT_VERSION: u32 = 1;

/// The largest checkpoint file read: fully tuning every block of a ViT-L/14 stays well below it,
/// and a wrong path (a disk image, a device) is refused rather than read into memory.
pub const MAX_CHECKPOINT_BYTES: u64 = 4 << 30;
const META_KEY: &str = "fauxscope";

/// Which base model a detector was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BaseModelRef {
    pub name: String,
    pub arch: String,
    pub weights_sha256: String,
    pub config: ClipVisionConfig,
}

impl From<&BaseModelInfo> for BaseModelRef {
    fn from(i: &BaseModelInfo) -> Self {
        Self {
            name: i.name.clone(),
            arch: i.arch.clone(),
            weights_sha256: i.weights_sha256().to_string(),
            config: i.config.clone(),
        }
    }
}

/// One training file: its hash and label (true = generated).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    pub sha256: String,
    pub fake: bool,
}

/// What the detector was trained on.
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct TrainingSummary {
    pub real_count: usize,
    pub fake_count: usize,
    pub real_dirs: Vec<String>,
    pub fake_dirs: Vec<String>,
    /// sha256 over the sorted list of file hashes and labels.
    pub data_sha256: String,
    pub files: Vec<FileRecord>,
    pub seconds: f64,
    pub device: String,
}

impl TrainingSummary {
    /// Summary of a training set; counts come from the file records.
    pub fn new(
        real: &[std::path::PathBuf],
        fake: &[std::path::PathBuf],
        files: Vec<FileRecord>,
        seconds: f64,
        device: String,
    ) -> Self {
        let show = |v: &[std::path::PathBuf]| v.iter().map(|p| p.display().to_string()).collect();
        Self {
            real_count: files.iter().filter(|f| !f.fake).count(),
            fake_count: files.iter().filter(|f| f.fake).count(),
            real_dirs: show(real),
            fake_dirs: show(fake),
            data_sha256: Self::data_hash(&files),
            files,
            seconds,
            device,
        }
    }

    pub fn data_hash(files: &[FileRecord]) -> String {
        let mut lines: Vec<String> = files
            .iter()
            .map(|f| format!("{} {}", f.sha256, if f.fake { 1 } else { 0 }))
            .collect();
        lines.sort();
        crate::imageio::sha256_hex(lines.join("\n").as_bytes())
    }
}

/// A threshold set again on an examiner's own reference photos (`fauxscope calibrate`), with what
/// it replaced. The trained tensors are untouched.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Recalibration {
    /// The detector as trained: its name and calibration (kept through repeated recalibrations).
    pub trained_name: String,
    pub trained_calibration: Calibration,
    /// The calibration this one replaced (the trained one unless it was recalibrated before).
    pub previous: Calibration,
    /// The false-positive rate of the previous threshold on the reference real photos.
    pub previous_fpr: f32,
    /// The reference photos (known real, and known generated when given).
    pub reference: TrainingSummary,
    /// How many reference photos were also in the detector's training data.
    pub overlap_with_training: usize,
    pub created: String,
}

/// Everything a detector checkpoint says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DetectorMeta {
    pub format: u32,
    pub name: String,
    /// `probe`, `mpft` or `pin`.
    pub method: String,
    /// Method settings (every open choice of the paper, with its value).
    pub settings: serde_json::Value,
    pub crop: CropMode,
    pub base_model: BaseModelRef,
    pub training: TrainingSummary,
    pub calibration: Calibration,
    /// Figures measured at training time (held-out accuracy, AUC, ...).
    pub metrics: serde_json::Value,
    pub created: String,
    pub tool_version: String,
    /// Set when the calibration was redone on reference photos after training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recalibration: Option<Recalibration>,
    /// The SHA-256 of the checkpoint bytes this was read from (empty for a detector made in
    /// memory): what its known error rates are matched on. Not stored in the checkpoint.
    #[serde(skip)]
    pub checkpoint_sha256: String,
}

impl DetectorMeta {
    /// The metadata with any recalibration undone (and no file hash): what identifies the
    /// detector's raw scores (the score cache), which a new threshold does not change.
    pub fn scoring_identity(&self) -> DetectorMeta {
        let mut m = self.clone();
        // Which file the detector was read from does not change its scores either.
        m.checkpoint_sha256.clear();
        if let Some(r) = m.recalibration.take() {
            m.name = r.trained_name;
            m.calibration = r.trained_calibration;
        }
        m
    }

    /// Metadata for a freshly trained detector; calibration and metrics are filled by the caller.
    pub fn new(
        name: &str,
        method: &str,
        settings: serde_json::Value,
        crop: CropMode,
        base: &BaseModelInfo,
        training: TrainingSummary,
    ) -> Self {
        Self {
            format: FORMAT_VERSION,
            name: name.to_string(),
            method: method.to_string(),
            settings,
            crop,
            base_model: base.into(),
            training,
            calibration: Calibration::default(),
            metrics: serde_json::Value::Null,
            created: crate::fsutil::now_utc(),
            tool_version: crate::VERSION.to_string(),
            recalibration: None,
            checkpoint_sha256: String::new(),
        }
    }
}

/// Trained tensors (f32, CPU) plus metadata.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub meta: DetectorMeta,
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut meta = HashMap::new();
        meta.insert(META_KEY.to_string(), serde_json::to_string(&self.meta)?);
        let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (k, t) in &self.tensors {
            let t = t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?;
            let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
            named.push((
                k.clone(),
                t.dims().to_vec(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ));
        }
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let views = named
            .iter()
            .map(|(n, s, b)| {
                Ok((
                    n.clone(),
                    safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)?,
                ))
            })
            .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
        Ok(safetensors::serialize(views, Some(meta))?)
    }

    /// Parses checkpoint bytes; `label` names the source in errors.
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| anyhow!("{label}: not a detector checkpoint (bad safetensors: {e})"))?;
        let (_, header) =
            safetensors::SafeTensors::read_metadata(bytes).map_err(|e| anyhow!("{label}: {e}"))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| {
                anyhow!("{label}: safetensors file without Fauxscope detector metadata")
            })?;
        let mut meta: DetectorMeta = serde_json::from_str(json)
            .with_context(|| format!("{label}: detector metadata is invalid"))?;
        meta.checkpoint_sha256 = crate::imageio::sha256_hex(bytes);
        if meta.format > FORMAT_VERSION {
            bail!("{label}: checkpoint format {} is newer than this Fauxscope understands ({FORMAT_VERSION})", meta.format);
        }
        let mut tensors = HashMap::new();
        for (n, v) in st.tensors() {
            if v.dtype() != safetensors::Dtype::F32 {
                bail!("{label}: tensor {n} is {:?}, expected F32", v.dtype());
            }
            let t = Tensor::from_raw_buffer(v.data(), DType::F32, v.shape(), &Device::Cpu)?;
            tensors.insert(n, t);
        }
        Ok(Self { meta, tensors })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
            .with_context(|| format!("cannot write checkpoint {}", path.display()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::fsutil::read_regular(path, MAX_CHECKPOINT_BYTES)
            .with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| anyhow!("checkpoint '{}' lacks tensor {name}", self.meta.name))
    }
}
