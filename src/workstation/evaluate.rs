//! `fauxscope eval`: score a labelled data set (clean and under perturbations) with a detector,
//! with scores cached per (image hash, detector, perturbation).

use super::Engine;
use crate::detect::Detector;
use crate::eval::dataset::EvalSet;
use crate::eval::perturb::Perturbation;
use crate::eval::report::{compute, EvalResult};
use crate::jobs::{CancelFlag, Progress, ProgressSink};
use anyhow::{bail, Result};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub detector: String,
    /// The SHA-256 of the checkpoint evaluated.
    pub detector_sha256: String,
    pub method: String,
    pub dataset: String,
    pub layout: String,
    #[serde(flatten)]
    pub clean: EvalResult,
    /// Results under each perturbation (keys like `jpeg:75`).
    pub perturbations: BTreeMap<String, EvalResult>,
    /// Files that could not be read, with the reason.
    pub skipped: Vec<String>,
}

/// Scores cached on disk for one detector: key `<sha256>|<perturbation or clean>`. Raw logits
/// do not depend on the calibration, so a recalibrated detector shares its trained one's cache.
pub(crate) struct ScoreCache {
    path: PathBuf,
    map: HashMap<String, f32>,
    dirty: bool,
}

impl ScoreCache {
    pub(crate) fn open(det: &dyn Detector, base_sha: &str) -> Self {
        let id = crate::imageio::sha256_hex(
            format!(
                "{}|{base_sha}",
                serde_json::to_string(&det.meta().scoring_identity()).unwrap_or_default()
            )
            .as_bytes(),
        );
        let path = crate::paths::cache_dir()
            .join("scores")
            .join(format!("{}.json", &id[..24]));
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            path,
            map,
            dirty: false,
        }
    }
    pub(crate) fn save(&mut self) -> Result<()> {
        if self.dirty {
            crate::fsutil::write_atomic(&self.path, &serde_json::to_vec(&self.map)?)?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// The SHA-256 of each file (None where it cannot be read), on the thread pool: what the score
/// cache is keyed on.
pub(crate) fn file_hashes(paths: &[PathBuf]) -> Vec<Option<String>> {
    use rayon::prelude::*;
    paths
        .par_iter()
        .map(|p| crate::fsutil::sha256_file(p).ok())
        .collect()
}

/// Raw scores of `paths` (None where a file could not be scored) and the errors of the files
/// that could not be read.
pub(crate) type Scored = (Vec<Option<f32>>, Vec<String>);

impl Engine {
    /// Evaluates a detector on a data set, clean and under each perturbation.
    pub fn evaluate(
        &self,
        det: &dyn Detector,
        set: &EvalSet,
        dataset: &str,
        perturbations: &[Perturbation],
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<EvalReport> {
        let mut paths: Vec<PathBuf> = set.reals.clone();
        for v in set.fakes.values() {
            paths.extend(v.iter().cloned());
        }
        // Hash every file first (cheap) so cached scores skip decoding and the forward pass.
        let hashes = file_hashes(&paths);
        let mut cache = ScoreCache::open(det, self.base.info.weights_sha256());
        let mut skipped = Vec::new();
        let mut runs: Vec<Option<Perturbation>> = vec![None];
        runs.extend(perturbations.iter().copied().map(Some));
        let mut results = Vec::new();
        for run in &runs {
            let tag = run.map(|p| p.to_string()).unwrap_or_else(|| "clean".into());
            let (scores, errors) =
                self.cached_scores(det, &paths, &hashes, *run, &mut cache, progress, cancel)?;
            if run.is_none() {
                skipped = errors;
            }
            let reals: Vec<f32> = scores[..set.reals.len()]
                .iter()
                .flatten()
                .copied()
                .collect();
            let mut fakes = BTreeMap::new();
            let mut off = set.reals.len();
            for (g, v) in &set.fakes {
                fakes.insert(
                    g.clone(),
                    scores[off..off + v.len()]
                        .iter()
                        .flatten()
                        .copied()
                        .collect::<Vec<f32>>(),
                );
                off += v.len();
            }
            results.push((tag, compute(&det.meta().calibration, &reals, &fakes)));
        }
        let mut it = results.into_iter();
        let (_, clean) = it.next().expect("clean run");
        Ok(EvalReport {
            detector: det.meta().name.clone(),
            detector_sha256: det.meta().checkpoint_sha256.clone(),
            method: det.meta().method.clone(),
            dataset: dataset.to_string(),
            layout: set.layout.clone(),
            clean,
            perturbations: it.collect(),
            skipped,
        })
    }

    /// Raw scores of `paths` under `run` (None: clean), from `cache` where it has them; the others
    /// are scored and added to it. `hashes` are the files' SHA-256 (None where unreadable).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn cached_scores(
        &self,
        det: &dyn Detector,
        paths: &[PathBuf],
        hashes: &[Option<String>],
        run: Option<Perturbation>,
        cache: &mut ScoreCache,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<Scored> {
        let tag = run.map(|p| p.to_string()).unwrap_or_else(|| "clean".into());
        let key = |h: &str| format!("{h}|{tag}");
        let todo: Vec<usize> = (0..paths.len())
            .filter(|&i| {
                hashes[i]
                    .as_ref()
                    .is_none_or(|h| !cache.map.contains_key(&key(h)))
            })
            .collect();
        let todo_paths: Vec<PathBuf> = todo.iter().map(|&i| paths[i].clone()).collect();
        let stage = format!("eval {tag}");
        let sink = |p: Progress| progress(Progress::new(&stage, p.done, p.total, p.message));
        let rows = self.scan_paths_perturbed(det, &todo_paths, run, &sink, cancel)?;
        if cancel.is_cancelled() {
            cache.save()?;
            bail!("scoring cancelled");
        }
        let mut errors = Vec::new();
        for r in rows {
            match r {
                Ok(row) => {
                    cache.map.insert(key(&row.sha256), row.score);
                    cache.dirty = true;
                }
                Err(e) => errors.push(e),
            }
        }
        cache.save()?;
        let scores = hashes
            .iter()
            .map(|h| h.as_ref().and_then(|h| cache.map.get(&key(h)).copied()))
            .collect();
        Ok((scores, errors))
    }
}
