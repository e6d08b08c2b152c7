//! Decode and preprocess on CPU threads while the model runs: a producer thread prepares chunks
//! of images (in parallel with rayon) into a bounded channel; the caller consumes them in order.

use crate::eval::perturb::Perturbation;
use crate::imageio::{load_image, ImageFacts, LoadLimits};
use crate::jobs::CancelFlag;
use crate::model::preprocess::{preprocess, CropMode};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// One image ready for the model.
#[derive(Debug)]
pub struct Prepared {
    pub path: PathBuf,
    pub facts: ImageFacts,
    /// Normalised CHW crops.
    pub crops: Vec<Vec<f32>>,
}

/// An input that could not be prepared: the loader's message names the file and the reason.
pub type PrepareError = String;

/// How images are turned into model input.
#[derive(Debug, Clone, Copy)]
pub struct PrepSpec {
    /// Model input size (pixels).
    pub size: u32,
    pub mode: CropMode,
    /// Applied to the decoded image first (robustness sweeps).
    pub perturb: Option<Perturbation>,
    pub limits: LoadLimits,
}

/// Loads, optionally perturbs, and preprocesses one image.
pub fn prepare(path: &Path, spec: &PrepSpec) -> Result<Prepared, PrepareError> {
    let img = load_image(path, &spec.limits).map_err(|e| e.to_string())?;
    let crops = match spec.perturb {
        Some(p) => preprocess(&p.apply(&img.rgb), spec.size, spec.mode),
        None => preprocess(&img.rgb, spec.size, spec.mode),
    };
    Ok(Prepared {
        path: path.to_path_buf(),
        facts: img.facts,
        crops,
    })
}

/// Runs `consume` on chunks of prepared images (index into `paths`, outcome) in input order.
/// Preparation of the next chunks overlaps with `consume`. Stops early when `cancel` is raised
/// or `consume` fails.
pub fn for_each_chunk<F>(
    paths: &[PathBuf],
    spec: PrepSpec,
    chunk: usize,
    cancel: &CancelFlag,
    mut consume: F,
) -> anyhow::Result<()>
where
    F: FnMut(Vec<(usize, Result<Prepared, PrepareError>)>) -> anyhow::Result<()>,
{
    let chunk = chunk.max(1);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        s.spawn(move || {
            for (ci, part) in paths.chunks(chunk).enumerate() {
                if cancel.is_cancelled() {
                    break;
                }
                let out: Vec<_> = part
                    .par_iter()
                    .enumerate()
                    .map(|(i, p)| (ci * chunk + i, prepare(p, &spec)))
                    .collect();
                if tx.send(out).is_err() {
                    break;
                }
            }
        });
        for batch in rx {
            if cancel.is_cancelled() {
                break;
            }
            consume(batch)?;
        }
        Ok(())
    })
}
