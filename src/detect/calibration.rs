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

impl Calibration {
    /// A calibration set on reference photos after training (`fauxscope calibrate`): the threshold
    /// for `target_fpr` on the reference reals. With reference generated images too, the temperature
    /// is fitted again as in [`Calibration::fit`]; with reals alone there is nothing to fit it on,
    /// and `temperature` (the previous one) is kept.
    pub fn for_reference(
        logits: &[f32],
        labels: &[bool],
        target_fpr: f32,
        temperature: f32,
    ) -> Self {
        let mut c = Self::fit(logits, labels, target_fpr);
        if c.heldout_fake == 0 {
            c.temperature = temperature;
        }
        c
    }

    /// The fraction of `reals` this calibration calls generated.
    pub fn false_positive_rate(&self, reals: &[f32]) -> f32 {
        if reals.is_empty() {
            return f32::NAN;
        }
        reals.iter().filter(|&&s| s > self.threshold).count() as f32 / reals.len() as f32
    }
}

/// The Wilson score interval (95%) of a rate observed as `k` of `n`.
pub fn wilson_interval(k: usize, n: usize) -> (f32, f32) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (n, p, z) = (n as f64, k as f64 / n as f64, 1.959_964f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (
        (centre - half).max(0.0) as f32,
        (centre + half).min(1.0) as f32,
    )
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
    fn reference_calibration_keeps_temperature_without_fakes() {
        // 40 reference reals at 0.0, 0.1, ... 3.9: the threshold for 5% leaves exactly 2 above it.
        let reals: Vec<f32> = (0..40).map(|i| i as f32 / 10.0).collect();
        let c = Calibration::for_reference(&reals, &[false; 40], 0.05, 2.5);
        assert_eq!(c.temperature, 2.5);
        assert_eq!(c.heldout_fake, 0);
        assert_eq!(c.heldout_real, 40);
        assert!((c.threshold - 3.7).abs() < 1e-6, "{c:?}");
        assert!((c.false_positive_rate(&reals) - 0.05).abs() < 1e-6);
        assert!((c.heldout_fpr - 0.05).abs() < 1e-6);
        // With generated reference images the temperature is fitted again.
        let mut logits = reals.clone();
        logits.extend((0..40).map(|i| 3.0 + i as f32 / 10.0));
        let labels: Vec<bool> = (0..80).map(|i| i >= 40).collect();
        let c = Calibration::for_reference(&logits, &labels, 0.05, 2.5);
        assert_ne!(c.temperature, 2.5);
        assert_eq!(c.heldout_fake, 40);
    }

    #[test]
    fn wilson_interval_brackets_the_rate() {
        let (lo, hi) = wilson_interval(5, 100);
        assert!(
            lo > 0.015 && lo < 0.05 && hi > 0.05 && hi < 0.12,
            "{lo} {hi}"
        );
        let (lo, hi) = wilson_interval(0, 20);
        assert_eq!(lo, 0.0);
        assert!(hi > 0.1 && hi < 0.2, "{hi}");
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
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
