//! Calibration (temperature scaling and a threshold for a target false-positive rate on real photos)
//! and the four-level verbal scale.

use serde::{Deserialize, Serialize};

/// How raw detector logits become calibrated probabilities and a decision.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// p = sigmoid((logit - threshold) / temperature).
    pub temperature: f32,
    /// Logits above this are called generated (p > 0.5 exactly there).
    pub threshold: f32,
    /// The false-positive rate on real photos the threshold was chosen for.
    pub target_fpr: f32,
    /// The false-positive rate measured on the held-out reals at that threshold.
    pub heldout_fpr: f32,
    /// Held-out images used (real, fake).
    pub heldout_real: usize,
    pub heldout_fake: usize,
}

impl Default for Calibration {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            threshold: 0.0,
            target_fpr: 0.05,
            heldout_fpr: f32::NAN,
            heldout_real: 0,
            heldout_fake: 0,
        }
    }
}

/// The four-level verbal scale (wording in docs/METHODS.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    NoEvidence,
    Weak,
    Moderate,
    Strong,
}

impl Verdict {
    /// Short label used in tables and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NoEvidence => "no evidence",
            Verdict::Weak => "weak evidence",
            Verdict::Moderate => "moderate evidence",
            Verdict::Strong => "strong evidence",
        }
    }
    /// The sentence a report uses.
    pub fn sentence(self) -> &'static str {
        match self {
            Verdict::NoEvidence => "The detector found no evidence that this image was generated. This does not prove that it is an authentic photograph.",
            Verdict::Weak => "The detector found weak evidence that this image was generated: the score is above the decision threshold but close to it.",
            Verdict::Moderate => "The detector found moderate evidence that this image was generated.",
            Verdict::Strong => "The detector found strong evidence that this image was generated.",
        }
    }
}

/// Probability bands above the threshold: (0.5, 0.75) weak, [0.75, 0.95) moderate, >= 0.95 strong.
pub const MODERATE_FROM: f32 = 0.75;
pub const STRONG_FROM: f32 = 0.95;

impl Calibration {
    pub fn probability(&self, logit: f32) -> f32 {
        crate::model::ops::sigmoid_f32((logit - self.threshold) / self.temperature.max(1e-6))
    }
    pub fn verdict(&self, logit: f32) -> Verdict {
        if logit <= self.threshold {
            return Verdict::NoEvidence;
        }
        let p = self.probability(logit);
        if p >= STRONG_FROM {
            Verdict::Strong
        } else if p >= MODERATE_FROM {
            Verdict::Moderate
        } else {
            Verdict::Weak
        }
    }

    /// Picks the threshold for `target_fpr` on the held-out reals, then fits the temperature on the
    /// held-out logits centred on it (labels: true = generated) by minimising the negative
    /// log-likelihood. The probability is 0.5 exactly at the decision threshold.
    pub fn fit(logits: &[f32], labels: &[bool], target_fpr: f32) -> Self {
        let mut reals: Vec<f32> = logits
            .iter()
            .zip(labels)
            .filter(|(_, &l)| !l)
            .map(|(&s, _)| s)
            .collect();
        reals.sort_by(|a, b| b.total_cmp(a));
        let threshold = threshold_for_fpr(&reals, target_fpr);
        let centred: Vec<f32> = logits.iter().map(|s| s - threshold).collect();
        let temperature = fit_temperature(&centred, labels);
        let fp = reals.iter().filter(|&&s| s > threshold).count();
        Self {
            temperature,
            threshold,
            target_fpr,
            heldout_fpr: if reals.is_empty() {
                f32::NAN
            } else {
                fp as f32 / reals.len() as f32
            },
            heldout_real: reals.len(),
            heldout_fake: labels.iter().filter(|&&l| l).count(),
        }
    }
}

/// `reals_desc` sorted descending; returns t so that at most floor(fpr * n) reals are above t.
fn threshold_for_fpr(reals_desc: &[f32], fpr: f32) -> f32 {
    if reals_desc.is_empty() {
        return 0.0;
    }
    let k = ((fpr.clamp(0.0, 1.0) * reals_desc.len() as f32).floor() as usize)
        .min(reals_desc.len() - 1);
    reals_desc[k]
}

fn nll(logits: &[f32], labels: &[bool], t: f64) -> f64 {
    logits
        .iter()
        .zip(labels)
        .map(|(&s, &y)| {
            let z = s as f64 / t;
            // log(1 + e^-z) for y = 1, log(1 + e^z) for y = 0, computed stably.
            let z = if y { -z } else { z };
            z.max(0.0) + (-z.abs()).exp().ln_1p()
        })
        .sum::<f64>()
}

fn fit_temperature(logits: &[f32], labels: &[bool]) -> f32 {
    if logits.is_empty() || labels.iter().all(|&l| l) || labels.iter().all(|&l| !l) {
        return 1.0;
    }
    // Golden-section search over log T in [-4, 4].
    let (mut a, mut b) = (-4.0f64, 4.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if nll(logits, labels, c.exp()) < nll(logits, labels, d.exp()) {
            b = d;
        } else {
            a = c;
        }
    }
    ((a + b) / 2.0).exp() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_respects_target_fpr() {
        let reals: Vec<f32> = (0..100).map(|i| i as f32 / 10.0 - 5.0).collect();
        let fakes: Vec<f32> = (0..100).map(|i| i as f32 / 10.0).collect();
        let logits: Vec<f32> = reals.iter().chain(&fakes).copied().collect();
        let labels: Vec<bool> = (0..200).map(|i| i >= 100).collect();
        let c = Calibration::fit(&logits, &labels, 0.05);
        assert!(c.heldout_fpr <= 0.05, "{c:?}");
        assert!(c.heldout_fpr >= 0.03);
        assert_eq!(c.heldout_real, 100);
    }

    #[test]
    fn temperature_shrinks_overconfident_logits() {
        // Perfectly overlapping classes with huge logits: the best temperature is large.
        let logits = [10.0, -10.0, 10.0, -10.0];
        let labels = [true, true, false, false];
        assert!(fit_temperature(&logits, &labels) > 20.0);
        // Well-separated classes with small logits: T < 1 sharpens them.
        let logits = [1.0, 1.0, -1.0, -1.0];
        assert!(fit_temperature(&logits, &[true, true, false, false]) < 0.5);
    }

    #[test]
    fn verdict_levels() {
        let c = Calibration {
            threshold: 0.5,
            ..Default::default()
        };
        assert_eq!(c.verdict(0.0), Verdict::NoEvidence);
        assert_eq!(c.verdict(0.6), Verdict::Weak);
        assert_eq!(c.verdict(2.0), Verdict::Moderate);
        assert_eq!(c.verdict(4.0), Verdict::Strong);
    }
}
