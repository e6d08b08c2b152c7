//! Aggregating scores into the evaluation figures, and printing them.

use super::metrics::{accuracy, auc, average_precision, ece};
use crate::detect::Calibration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GeneratorMetrics {
    pub fake_accuracy: f64,
    /// (real accuracy + fake accuracy) / 2, against the pooled reals.
    pub balanced_accuracy: f64,
    pub ap: f64,
    pub auc: f64,
    pub images: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Summary {
    pub mean_balanced_accuracy: f64,
    pub real_accuracy: f64,
    pub mean_ap: f64,
    pub ece: f64,
    pub images: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EvalResult {
    pub summary: Summary,
    pub generators: BTreeMap<String, GeneratorMetrics>,
}

/// Computes the figures from raw logits of the pooled reals and of each generator's fakes.
pub fn compute(cal: &Calibration, reals: &[f32], fakes: &BTreeMap<String, Vec<f32>>) -> EvalResult {
    let t = cal.threshold;
    let real_acc =
        1.0 - reals.iter().filter(|&&s| s > t).count() as f64 / reals.len().max(1) as f64;
    let mut generators = BTreeMap::new();
    let (mut all_p, mut all_l) = (Vec::new(), Vec::new());
    all_p.extend(reals.iter().map(|&s| cal.probability(s)));
    all_l.extend(std::iter::repeat_n(false, reals.len()));
    for (g, f) in fakes {
        let scores: Vec<f32> = reals.iter().chain(f).copied().collect();
        let labels: Vec<bool> = std::iter::repeat_n(false, reals.len())
            .chain(std::iter::repeat_n(true, f.len()))
            .collect();
        let fake_acc = accuracy(f, &vec![true; f.len()], t);
        generators.insert(
            g.clone(),
            GeneratorMetrics {
                fake_accuracy: fake_acc,
                balanced_accuracy: (real_acc + fake_acc) / 2.0,
                ap: average_precision(&scores, &labels),
                auc: auc(&scores, &labels),
                images: f.len(),
            },
        );
        all_p.extend(f.iter().map(|&s| cal.probability(s)));
        all_l.extend(std::iter::repeat_n(true, f.len()));
    }
    let n = generators.len().max(1) as f64;
    EvalResult {
        summary: Summary {
            mean_balanced_accuracy: generators
                .values()
                .map(|m| m.balanced_accuracy)
                .sum::<f64>()
                / n,
            real_accuracy: real_acc,
            mean_ap: generators.values().map(|m| m.ap).sum::<f64>() / n,
            ece: ece(&all_p, &all_l, 15),
            images: all_p.len(),
        },
        generators,
    }
}

/// A Markdown table of one result.
pub fn markdown(title: &str, r: &EvalResult) -> String {
    let mut s = format!("### {title}\n\n| generator | images | fake acc | balanced acc | AP | AUC |\n|---|---:|---:|---:|---:|---:|\n");
    for (g, m) in &r.generators {
        s += &format!(
            "| {g} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            m.images, m.fake_accuracy, m.balanced_accuracy, m.ap, m.auc
        );
    }
    let m = &r.summary;
    s += &format!(
        "| **mean** | {} | real acc {:.3} | **{:.3}** | {:.3} | ECE {:.3} |\n",
        m.images, m.real_accuracy, m.mean_balanced_accuracy, m.mean_ap, m.ece
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_scores() {
        let cal = Calibration {
            threshold: 0.0,
            ..Default::default()
        };
        let reals = [-2.0, -1.0, -0.5, 0.5]; // 3 of 4 correct
        let mut fakes = BTreeMap::new();
        fakes.insert("a".to_string(), vec![1.0, 2.0]); // all correct
        fakes.insert("b".to_string(), vec![-1.5, 3.0]); // half correct
        let r = compute(&cal, &reals, &fakes);
        assert_eq!(r.summary.real_accuracy, 0.75);
        assert_eq!(r.generators["a"].balanced_accuracy, 0.875);
        assert_eq!(r.generators["b"].fake_accuracy, 0.5);
        assert_eq!(r.generators["a"].auc, 1.0);
        assert!((r.summary.mean_balanced_accuracy - (0.875 + 0.625) / 2.0).abs() < 1e-12);
        assert_eq!(r.summary.images, 8);
        assert!(markdown("x", &r).contains("| a | 2 | 1.000 | 0.875 |"));
    }
}
