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

/// Scores cached on disk for one detector: key `<sha256>|<perturbation or clean>`.
struct ScoreCache {
    path: PathBuf,
    map: HashMap<String, f32>,
    dirty: bool,
}

impl ScoreCache {
    fn open(det: &dyn Detector, base_sha: &str) -> Self {
        let id = crate::imageio::sha256_hex(
            format!(
                "{}|{base_sha}",
                serde_json::to_string(det.meta()).unwrap_or_default()
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
    fn save(&self) -> Result<()> {
        if self.dirty {
            crate::fsutil::write_atomic(&self.path, &serde_json::to_vec(&self.map)?)?;
        }
        Ok(())
    }
}

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
        let hashes: Vec<Option<String>> = {
            use rayon::prelude::*;
            paths
                .par_iter()
                .map(|p| crate::fsutil::sha256_file(p).ok())
                .collect()
        };
        let mut cache = ScoreCache::open(det, self.base.info.weights_sha256());
        let mut skipped = Vec::new();
        let mut runs: Vec<Option<Perturbation>> = vec![None];
        runs.extend(perturbations.iter().copied().map(Some));
        let mut results = Vec::new();
        for run in &runs {
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
            let rows = self.scan_paths_perturbed(det, &todo_paths, *run, &sink, cancel)?;
            if cancel.is_cancelled() {
                cache.save()?;
                bail!("evaluation cancelled");
            }
            for r in rows {
                match r {
                    Ok(row) => {
                        cache.map.insert(key(&row.sha256), row.score);
                        cache.dirty = true;
                    }
                    Err(e) if run.is_none() => skipped.push(e),
                    Err(_) => {}
                }
            }
            let score = |i: usize| {
                hashes[i]
                    .as_ref()
                    .and_then(|h| cache.map.get(&key(h)).copied())
            };
            let reals: Vec<f32> = (0..set.reals.len()).filter_map(score).collect();
            let mut fakes = BTreeMap::new();
            let mut off = set.reals.len();
            for (g, v) in &set.fakes {
                fakes.insert(
                    g.clone(),
                    (off..off + v.len()).filter_map(score).collect::<Vec<f32>>(),
                );
                off += v.len();
            }
            results.push((tag, compute(&det.meta().calibration, &reals, &fakes)));
        }
        cache.save()?;
        let mut it = results.into_iter();
        let (_, clean) = it.next().expect("clean run");
        Ok(EvalReport {
            detector: det.meta().name.clone(),
            method: det.meta().method.clone(),
            dataset: dataset.to_string(),
            layout: set.layout.clone(),
            clean,
            perturbations: it.collect(),
            skipped,
        })
    }
}
