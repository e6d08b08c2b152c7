//! Decode and preprocess on CPU threads while the model runs: a producer thread prepares chunks
//! of images (in parallel with rayon) into a bounded channel; the caller consumes them in order.

use crate::eval::perturb::Perturbation;
use crate::imageio::{load_image, ImageFacts, LoadLimits};
use crate::jobs::CancelFlag;
use crate::model::preprocess::{preprocess, CropMode};
use rayon::prelude::*;
use std::path::PathBuf;

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

/// Loads, optionally perturbs (as the robustness sweep does), and preprocesses one image.
pub fn prepare(
    path: &PathBuf,
    size: u32,
    mode: CropMode,
    limits: &LoadLimits,
    perturb: Option<Perturbation>,
) -> Result<Prepared, PrepareError> {
    let img = load_image(path, limits).map_err(|e| e.to_string())?;
    let crops = match perturb {
        Some(p) => preprocess(&p.apply(&img.rgb), size, mode),
        None => preprocess(&img.rgb, size, mode),
    };
    Ok(Prepared {
        path: path.clone(),
        facts: img.facts,
        crops,
    })
}

/// Runs `consume` on chunks of prepared images (index into `paths`, outcome) in input order.
/// Preparation of the next chunks overlaps with `consume`. Stops early when `cancel` is raised
/// or `consume` fails.
pub fn for_each_chunk<F>(
    paths: &[PathBuf],
    size: u32,
    mode: CropMode,
    perturb: Option<Perturbation>,
    limits: LoadLimits,
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
                    .map(|(i, p)| (ci * chunk + i, prepare(p, size, mode, &limits, perturb)))
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
