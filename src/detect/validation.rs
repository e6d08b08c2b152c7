//! Known error rates: what each shipped detector did on a labelled data set whose real photos and
//! generators are not in its training data (`fauxscope eval`'s JSON, made by
//! `bench/validate_shipped.sh` and embedded in the binary). A record belongs to the checkpoint
//! whose SHA-256 it names, so a detector retrained or recalibrated since has none.

use crate::eval::report::EvalResult;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One detector's figures on a labelled set (the fields of `fauxscope eval --json` it needs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Validation {
    /// The detector's name when it was evaluated.
    pub detector: String,
    /// The SHA-256 of the checkpoint evaluated.
    pub detector_sha256: String,
    /// The data set, as named on the command line (`aigi-dev/val`).
    pub dataset: String,
    #[serde(flatten)]
    pub clean: EvalResult,
    /// The same under each perturbation, applied to both classes (`jpeg:75`, `blur:1.0`, ...).
    #[serde(default)]
    pub perturbations: BTreeMap<String, EvalResult>,
}

/// The records compiled into the binary: (shipped detector, `fauxscope eval` JSON).
fn embedded() -> &'static [(&'static str, &'static str)] {
    &[
        (
            "mpft",
            include_str!("../../assets/detectors/validation/mpft.json"),
        ),
        (
            "pin",
            include_str!("../../assets/detectors/validation/pin.json"),
        ),
        (
            "probe",
            include_str!("../../assets/detectors/validation/probe.json"),
        ),
        (
            "probe-blocks",
            include_str!("../../assets/detectors/validation/probe-blocks.json"),
        ),
        (
            "probe-blocks-tiles",
            include_str!("../../assets/detectors/validation/probe-blocks-tiles.json"),
        ),
    ]
}

/// Every embedded record, parsed once: (shipped detector, record or why it does not parse).
pub fn shipped() -> &'static [(&'static str, Result<Validation, String>)] {
    static PARSED: std::sync::OnceLock<Vec<(&'static str, Result<Validation, String>)>> =
        std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        embedded()
            .iter()
            .map(|(n, json)| {
                (
                    *n,
                    serde_json::from_str(json)
                        .map_err(|e| format!("validation record of '{n}' does not parse: {e}")),
                )
            })
            .collect()
    })
}

/// The record of the checkpoint with this SHA-256, if one was measured.
pub fn for_checkpoint(sha256: &str) -> Option<&'static Validation> {
    if sha256.is_empty() {
        return None;
    }
    shipped()
        .iter()
        .filter_map(|(_, v)| v.as_ref().ok())
        .find(|v| v.detector_sha256.eq_ignore_ascii_case(sha256))
}

impl Validation {
    /// Real photos in the set (the images not counted under a generator).
    pub fn real_images(&self) -> usize {
        let fakes: usize = self.clean.generators.values().map(|g| g.images).sum();
        self.clean.summary.images.saturating_sub(fakes)
    }

    /// Generated images in the set.
    pub fn fake_images(&self) -> usize {
        self.clean.generators.values().map(|g| g.images).sum()
    }

    /// The share of generated images found, over all generators (weighted by their images).
    pub fn found(r: &EvalResult) -> f64 {
        let n: usize = r.generators.values().map(|g| g.images).sum();
        if n == 0 {
            return 0.0;
        }
        r.generators
            .values()
            .map(|g| g.fake_accuracy * g.images as f64)
            .sum::<f64>()
            / n as f64
    }

    /// "called 0.5% of 210 real photos generated and found 34% of 98 generated images (BigGAN 5%,
    /// ...); mean balanced accuracy 0.669": the figures at the detector's threshold.
    pub fn sentence(&self) -> String {
        let per: Vec<String> = self
            .clean
            .generators
            .iter()
            .map(|(g, m)| format!("{g} {:.0}%", m.fake_accuracy * 100.0))
            .collect();
        format!(
            "called {:.1}% of {} real photos generated and found {:.0}% of {} generated images ({}); mean balanced accuracy {:.3}",
            (1.0 - self.clean.summary.real_accuracy) * 100.0,
            self.real_images(),
            Self::found(&self.clean) * 100.0,
            self.fake_images(),
            per.join(", "),
            self.clean.summary.mean_balanced_accuracy
        )
    }

    /// The same figures under each perturbation, one short clause each.
    pub fn perturbed_sentence(&self) -> Option<String> {
        if self.perturbations.is_empty() {
            return None;
        }
        let parts: Vec<String> = self
            .perturbations
            .iter()
            .map(|(k, r)| {
                let k = k
                    .parse::<crate::eval::perturb::Perturbation>()
                    .map(|p| p.describe())
                    .unwrap_or_else(|_| k.clone());
                format!(
                    "{k}: {:.1}% of reals called generated, {:.0}% of generated found",
                    (1.0 - r.summary.real_accuracy) * 100.0,
                    Self::found(r) * 100.0
                )
            })
            .collect();
        Some(parts.join("; "))
    }

    /// A short line for the detector library: false positives and detections.
    pub fn short(&self) -> String {
        format!(
            "{:.1}% false pos., {:.0}% of generated found, bal. acc {:.3}",
            (1.0 - self.clean.summary.real_accuracy) * 100.0,
            Self::found(&self.clean) * 100.0,
            self.clean.summary.mean_balanced_accuracy
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_detector_has_the_record_of_its_own_checkpoint() {
        let records = shipped();
        for (name, bytes) in crate::detect::shipped() {
            let (_, v) = records
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("no validation record for shipped '{name}'"));
            let v = v.as_ref().unwrap();
            assert_eq!(
                v.detector_sha256,
                crate::imageio::sha256_hex(bytes),
                "the record of '{name}' was measured on another checkpoint: run bench/validate_shipped.sh"
            );
            assert_eq!(&v.detector, name);
            assert_eq!(v.dataset, "aigi-dev/val");
            assert!(!v.clean.generators.is_empty() && v.real_images() > 0);
            assert_eq!(for_checkpoint(&crate::imageio::sha256_hex(bytes)), Some(v));
        }
        assert!(for_checkpoint(&"0".repeat(64)).is_none());
    }

    #[test]
    fn the_sentence_gives_the_rates_at_the_threshold() {
        let json = r#"{"detector": "d", "detector_sha256": "ab", "method": "probe",
            "dataset": "set", "layout": "real/ + fake/<generator>/",
            "summary": {"mean_balanced_accuracy": 0.6, "real_accuracy": 0.95, "mean_ap": 0.5,
                        "ece": 0.1, "images": 40},
            "generators": {
                "A": {"fake_accuracy": 0.1, "balanced_accuracy": 0.525, "ap": 0.3, "auc": 0.6, "images": 10},
                "B": {"fake_accuracy": 0.4, "balanced_accuracy": 0.675, "ap": 0.6, "auc": 0.8, "images": 10}},
            "perturbations": {}, "skipped": []}"#;
        let v: Validation = serde_json::from_str(json).unwrap();
        assert_eq!(v.real_images(), 20);
        assert_eq!(v.fake_images(), 20);
        assert_eq!(
            v.sentence(),
            "called 5.0% of 20 real photos generated and found 25% of 20 generated images (A 10%, B 40%); mean balanced accuracy 0.600"
        );
        assert!(v.perturbed_sentence().is_none());
        let mut w = v.clone();
        w.perturbations.insert("jpeg:75".into(), v.clean.clone());
        assert_eq!(
            w.perturbed_sentence().unwrap(),
            "JPEG quality 75: 5.0% of reals called generated, 25% of generated found"
        );
    }
}
