//! `fauxscope calibrate`: set a trained detector's threshold again on an examiner's own reference
//! photos. A threshold chosen on one collection of real photos need not hold on another (on
//! aigi-dev/val, `probe-blocks-tiles` calls 3% of ImageNet photos generated but 17% of ForenSynths',
//! docs/EVALUATION.md); photos known to be real from the source under examination set it where
//! it holds there. Only the calibration changes: the trained tensors are copied untouched.

use super::evaluate::{file_hashes, ScoreCache};
use super::Engine;
use crate::detect::calibration::wilson_interval;
use crate::detect::{Calibration, Checkpoint, FileRecord, Recalibration, TrainingSummary};
use crate::jobs::{CancelFlag, ProgressSink};
use anyhow::{bail, Result};
use std::collections::HashSet;
use std::path::PathBuf;

/// Reference sets smaller than this get a warning: their false-positive rate is loosely known.
pub const RECOMMENDED_REALS: usize = 100;

/// What recalibrating produced: the new checkpoint and what the examiner should be told.
pub struct CalibrateOutcome {
    pub checkpoint: Checkpoint,
    /// Raw scores of the reference reals and generated images that could be scored.
    pub real_scores: Vec<f32>,
    pub fake_scores: Vec<f32>,
    /// Files that could not be scored, with the reason (left out of the reference set).
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
}

impl CalibrateOutcome {
    /// Lines for the terminal (and the GUI): the old and the new threshold on the reference set.
    pub fn summary(&self) -> Vec<String> {
        let meta = &self.checkpoint.meta;
        let rec = meta
            .recalibration
            .as_ref()
            .expect("a recalibrated checkpoint");
        let new = &meta.calibration;
        let n = self.real_scores.len();
        let above =
            |scores: &[f32], c: &Calibration| scores.iter().filter(|&&s| s > c.threshold).count();
        let rates = |c: &Calibration| {
            let k = above(&self.real_scores, c);
            let (lo, hi) = wilson_interval(k, n);
            let mut line = format!(
                "{:.1}% of {n} reference real photos called generated ({k}; 95% interval {:.1}-{:.1}%)",
                100.0 * k as f32 / n.max(1) as f32,
                100.0 * lo,
                100.0 * hi
            );
            let m = self.fake_scores.len();
            if m > 0 {
                line += &format!(
                    ", {:.1}% of {m} reference generated images detected",
                    100.0 * above(&self.fake_scores, c) as f32 / m as f32
                );
            }
            line
        };
        vec![
            format!(
                "previous threshold {:+.4}: {}",
                rec.previous.threshold,
                rates(&rec.previous)
            ),
            format!("new threshold      {:+.4}: {}", new.threshold, rates(new)),
            format!(
                "temperature {:.4} ({})",
                new.temperature,
                if self.fake_scores.is_empty() {
                    "kept: no generated reference images to fit it on"
                } else {
                    "fitted on the reference set"
                }
            ),
        ]
    }
}

impl Engine {
    /// Recalibrates `ckpt` (its detector loaded on this engine) on reference folders of known
    /// real photos and, optionally, known generated images, for `target_fpr` false positives on
    /// the reals. The new checkpoint is named `name` and records the reference set and what it
    /// replaced; nothing is written here.
    #[allow(clippy::too_many_arguments)]
    pub fn recalibrate(
        &self,
        ckpt: &Checkpoint,
        real: &[PathBuf],
        fake: &[PathBuf],
        target_fpr: f32,
        name: &str,
        progress: ProgressSink,
        cancel: &CancelFlag,
    ) -> Result<CalibrateOutcome> {
        if !(target_fpr > 0.0 && target_fpr < 1.0) {
            bail!("target false-positive rate {target_fpr} must lie strictly between 0 and 1");
        }
        let started = std::time::Instant::now();
        let det = crate::detect::build_detector(ckpt.clone(), &self.base)?;
        let (paths, labels) = super::labelled_paths(real, fake)?;
        let hashes = file_hashes(&paths);
        let mut cache = ScoreCache::open(det.as_ref(), self.base.info.weights_sha256());
        let (scores, skipped) = self.cached_scores(
            det.as_ref(),
            &paths,
            &hashes,
            None,
            &mut cache,
            progress,
            cancel,
        )?;
        // The reference set: each scored file once (a photo given twice would count twice).
        let mut seen = HashSet::new();
        let (mut logits, mut ok_labels, mut files) = (Vec::new(), Vec::new(), Vec::new());
        for ((s, h), &fake) in scores.iter().zip(&hashes).zip(&labels) {
            let (Some(s), Some(h)) = (s, h) else { continue };
            if !seen.insert(h.clone()) {
                continue;
            }
            logits.push(*s);
            ok_labels.push(fake);
            files.push(FileRecord {
                sha256: h.clone(),
                fake,
            });
        }
        let (fakes, reals): (Vec<(&f32, &bool)>, Vec<_>) =
            logits.iter().zip(&ok_labels).partition(|(_, &f)| f);
        let real_scores: Vec<f32> = reals.into_iter().map(|(&s, _)| s).collect();
        let fake_scores: Vec<f32> = fakes.into_iter().map(|(&s, _)| s).collect();
        let n = real_scores.len();
        let needed = (1.0 / target_fpr).ceil() as usize;
        if n < needed {
            bail!(
                "{n} distinct reference real photo(s) could be scored ({}): a threshold for {:.1}% false positives needs at least {needed} (at least {RECOMMENDED_REALS} recommended)",
                real.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                target_fpr * 100.0
            );
        }
        let mut warnings = Vec::new();
        if n < RECOMMENDED_REALS {
            warnings.push(format!(
                "only {n} reference real photos: the false-positive rate at the new threshold is loosely known (see its interval); {RECOMMENDED_REALS} or more are recommended"
            ));
        }
        let old = &ckpt.meta;
        let training: HashSet<&str> = old
            .training
            .files
            .iter()
            .map(|f| f.sha256.as_str())
            .collect();
        let overlap = files
            .iter()
            .filter(|f| training.contains(f.sha256.as_str()))
            .count();
        if overlap > 0 {
            warnings.push(format!(
                "{overlap} reference image(s) were in the detector's training data: their scores are optimistic, and the threshold set on them may not hold on new photos"
            ));
        }
        let calibration = Calibration::for_reference(
            &logits,
            &ok_labels,
            target_fpr,
            old.calibration.temperature,
        );
        if calibration.threshold < old.calibration.threshold {
            warnings.push(format!(
                "the new threshold ({:+.4}) is below the previous one ({:+.4}): the detector will call more images generated than it did, on these sources and on any other",
                calibration.threshold, old.calibration.threshold
            ));
        }
        let (trained_name, trained_calibration) = match &old.recalibration {
            Some(r) => (r.trained_name.clone(), r.trained_calibration),
            None => (old.name.clone(), old.calibration),
        };
        let reference = TrainingSummary::new(
            real,
            fake,
            files,
            started.elapsed().as_secs_f64(),
            self.device_label(),
        );
        let mut meta = old.clone();
        meta.name = name.to_string();
        meta.calibration = calibration;
        meta.recalibration = Some(Recalibration {
            trained_name,
            trained_calibration,
            previous: old.calibration,
            previous_fpr: old.calibration.false_positive_rate(&real_scores),
            reference,
            overlap_with_training: overlap,
            created: crate::fsutil::now_utc(),
        });
        Ok(CalibrateOutcome {
            checkpoint: Checkpoint {
                meta,
                tensors: ckpt.tensors.clone(),
            },
            real_scores,
            fake_scores,
            skipped,
            warnings,
        })
    }
}
