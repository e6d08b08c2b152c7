//! Training the linear probe: class-balanced logistic regression with L2 regularisation on
//! L2-normalised frozen embeddings, or on standardised class tokens of several blocks
//! (full-batch Adam), then calibration on a held-out split.

use crate::detect::Calibration;
use crate::eval::metrics;
use crate::rng::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProbeSettings {
    /// L2 penalty on the weights.
    pub l2: f64,
    pub steps: usize,
    pub lr: f64,
    /// Fraction of each class held out for calibration.
    pub holdout: f64,
    pub target_fpr: f32,
    pub seed: u64,
    /// The probe reads the projected class token after this encoder block (1-based; later
    /// blocks are not run). None: the last block, as CLIP's own image embedding.
    #[serde(default)]
    pub head_layer: Option<usize>,
    /// Standardise each feature (z-score over the training rows) before the fit; the scaling is
    /// folded into the stored weight and bias, so the detector is unchanged. Off by default
    /// (docs/EVALUATION.md, "Which encoder block feeds the head").
    #[serde(default)]
    pub standardize: bool,
    /// Simulated upsampling fakes per training real photo (0: none; see `train::synthetic`).
    /// Their embeddings join the generated class for the fit only, never the held-out split.
    #[serde(default)]
    pub synthetic_fakes: f64,
    /// Which simulator makes them (box: the first recipe; varied: `train::synthetic`).
    #[serde(default)]
    pub synthetic_kind: crate::train::synthetic::SyntheticKind,
    /// Low-passed copies of training real photos per real photo, fitted as real (0: none).
    #[serde(default)]
    pub low_passed_reals: f64,
    /// Probability that a made image ends with a JPEG save (as `MpftSettings::made_jpeg`).
    #[serde(default = "crate::train::synthetic::default_made_jpeg")]
    pub made_jpeg: f64,
    /// Read the raw class tokens after these blocks (1-based, increasing), concatenated and
    /// standardised, instead of the projected embedding (None). Exclusive with `head_layer`.
    #[serde(default)]
    pub blocks: Option<Vec<usize>>,
    /// Which tokens of those blocks (`detect::probe::BlockTokens`): the class token by default.
    #[serde(default)]
    pub tokens: crate::detect::probe::BlockTokens,
    /// Each training image (never a held-out one) is embedded again under each of these
    /// perturbations and fitted with its own label: feature-level augmentation.
    #[serde(default)]
    pub perturbed_copies: Vec<crate::eval::perturb::Perturbation>,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        Self {
            l2: 1e-3,
            steps: 3000,
            lr: 0.05,
            holdout: 0.25,
            target_fpr: 0.05,
            seed: 0,
            head_layer: None,
            standardize: false,
            synthetic_fakes: 0.0,
            synthetic_kind: Default::default(),
            low_passed_reals: 0.0,
            made_jpeg: 1.0,
            blocks: None,
            tokens: Default::default(),
            perturbed_copies: Vec::new(),
        }
    }
}

/// Rows fitted in addition to the genuine training images, never held out.
#[derive(Debug, Clone, Default)]
pub struct ExtraRows {
    /// Simulated fakes (fitted as generated).
    pub fakes: Vec<Vec<f32>>,
    /// Low-passed real photos (fitted as real).
    pub reals: Vec<Vec<f32>>,
    /// Perturbed copies of training images, each with its image's label.
    pub perturbed: Vec<(Vec<f32>, bool)>,
}

#[derive(Debug, Clone)]
pub struct ProbeFit {
    pub weight: Vec<f32>,
    pub bias: f32,
    pub calibration: Calibration,
    pub metrics: serde_json::Value,
}

/// Stratified split: returns (train indices, held-out indices).
pub fn stratified_split(labels: &[bool], holdout: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new(seed);
    let (mut tr, mut ho) = (Vec::new(), Vec::new());
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut idx);
        let n_ho = ((idx.len() as f64) * holdout).round() as usize;
        let n_ho = if idx.len() >= 2 {
            n_ho.clamp(1, idx.len() - 1)
        } else {
            0
        };
        ho.extend_from_slice(&idx[..n_ho]);
        tr.extend_from_slice(&idx[n_ho..]);
    }
    tr.sort_unstable();
    ho.sort_unstable();
    (tr, ho)
}

fn normalized(f: &[f32]) -> Vec<f64> {
    let n = f
        .iter()
        .map(|v| (*v as f64).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    f.iter().map(|v| *v as f64 / n).collect()
}

/// Fits w, b on rows `idx` of `x`, class-balanced. The inputs are multiplied by `scale` inside
/// the fit (so the penalty acts on larger effective weights); the returned weights include it.
fn fit_logreg(
    x: &[Vec<f64>],
    y: &[bool],
    idx: &[usize],
    s: &ProbeSettings,
    scale: f64,
) -> (Vec<f64>, f64) {
    let d = x.first().map(|r| r.len()).unwrap_or(0);
    let npos = idx.iter().filter(|&&i| y[i]).count().max(1) as f64;
    let nneg = idx.iter().filter(|&&i| !y[i]).count().max(1) as f64;
    let (mut w, mut b) = (vec![0f64; d], 0f64);
    let (mut mw, mut vw) = (vec![0f64; d], vec![0f64; d]);
    let (mut mb, mut vb) = (0f64, 0f64);
    let (b1, b2, eps) = (0.9, 0.999, 1e-8);
    for t in 1..=s.steps {
        let mut gw = vec![0f64; d];
        let mut gb = 0f64;
        for &i in idx {
            let z: f64 = b + scale * x[i].iter().zip(&w).map(|(a, b)| a * b).sum::<f64>();
            let p = 1.0 / (1.0 + (-z).exp());
            let wt = if y[i] { 0.5 / npos } else { 0.5 / nneg };
            let g = wt * (p - y[i] as u8 as f64);
            for (gj, xj) in gw.iter_mut().zip(&x[i]) {
                *gj += g * scale * xj;
            }
            gb += g;
        }
        for j in 0..d {
            gw[j] += s.l2 * w[j];
            mw[j] = b1 * mw[j] + (1.0 - b1) * gw[j];
            vw[j] = b2 * vw[j] + (1.0 - b2) * gw[j] * gw[j];
            let mh = mw[j] / (1.0 - b1.powi(t as i32));
            let vh = vw[j] / (1.0 - b2.powi(t as i32));
            w[j] -= s.lr * mh / (vh.sqrt() + eps);
        }
        mb = b1 * mb + (1.0 - b1) * gb;
        vb = b2 * vb + (1.0 - b2) * gb * gb;
        b -= s.lr * (mb / (1.0 - b1.powi(t as i32)))
            / ((vb / (1.0 - b2.powi(t as i32))).sqrt() + eps);
    }
    (w.iter().map(|v| v * scale).collect(), b)
}

/// Trains on embeddings (unnormalised, as the tower outputs them) with labels (true = generated).
pub fn train_probe(features: &[Vec<f32>], labels: &[bool], s: &ProbeSettings) -> ProbeFit {
    train_probe_with(features, labels, &ExtraRows::default(), s)
}

/// As `train_probe`, with `extra` rows (simulated fakes, low-passed reals, perturbed copies)
/// added to the training rows only: the held-out split, and so the calibration, is the same as
/// without them.
pub fn train_probe_with(
    features: &[Vec<f32>],
    labels: &[bool],
    extra: &ExtraRows,
    s: &ProbeSettings,
) -> ProbeFit {
    let (mut tr, ho) = stratified_split(labels, s.holdout, s.seed);
    let n_extra = extra.fakes.len() + extra.reals.len() + extra.perturbed.len();
    tr.extend(features.len()..features.len() + n_extra);
    // Class tokens are read raw (and standardised below); projected embeddings are unit-normed.
    let raw = s.blocks.is_some();
    let x: Vec<Vec<f64>> = features
        .iter()
        .chain(&extra.fakes)
        .chain(&extra.reals)
        .chain(extra.perturbed.iter().map(|(f, _)| f))
        .map(|f| {
            if raw {
                f.iter().map(|&v| v as f64).collect()
            } else {
                normalized(f)
            }
        })
        .collect();
    let labels: Vec<bool> = labels
        .iter()
        .copied()
        .chain(std::iter::repeat_n(true, extra.fakes.len()))
        .chain(std::iter::repeat_n(false, extra.reals.len()))
        .chain(extra.perturbed.iter().map(|(_, l)| *l))
        .collect();
    let labels = &labels[..];
    let d = x.first().map(|r| r.len()).unwrap_or(0);
    // The fit's own space: z = (x - mu) / sd, with the training rows' statistics when
    // standardising, else the unit rows scaled by √d (mu 0, sd 1/√d).
    let (mu, sd): (Vec<f64>, Vec<f64>) = if s.standardize || raw {
        let n = tr.len().max(1) as f64;
        let mu: Vec<f64> = (0..d)
            .map(|j| tr.iter().map(|&i| x[i][j]).sum::<f64>() / n)
            .collect();
        let sd = (0..d)
            .map(|j| {
                let v = tr.iter().map(|&i| (x[i][j] - mu[j]).powi(2)).sum::<f64>() / n;
                v.sqrt().max(1e-6)
            })
            .collect();
        (mu, sd)
    } else {
        (vec![0.0; d], vec![1.0 / (d as f64).sqrt(); d])
    };
    let (w, b) = if s.standardize || raw {
        // Fit on z-scores, then fold the scaling back:
        // w·(x - mu)/sd + b = (w/sd)·x + (b - sum w·mu/sd).
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|r| (0..d).map(|j| (r[j] - mu[j]) / sd[j]).collect())
            .collect();
        let (wz, bz) = fit_logreg(&z, labels, &tr, s, 1.0);
        let w: Vec<f64> = wz.iter().zip(&sd).map(|(w, s)| w / s).collect();
        let b = bz - w.iter().zip(&mu).map(|(w, m)| w * m).sum::<f64>();
        (w, b)
    } else {
        // Embeddings are unit-norm, so logits need a large weight norm; scale inputs instead.
        fit_logreg(&x, labels, &tr, s, (d as f64).sqrt())
    };
    let logit = |i: usize| (b + x[i].iter().zip(&w).map(|(a, c)| a * c).sum::<f64>()) as f32;
    let objective = objective(&x, labels, &tr, (&w, b), (&mu, &sd), s.l2);
    let ho_scores: Vec<f32> = ho.iter().map(|&i| logit(i)).collect();
    let ho_labels: Vec<bool> = ho.iter().map(|&i| labels[i]).collect();
    let tr_scores: Vec<f32> = tr.iter().map(|&i| logit(i)).collect();
    let tr_labels: Vec<bool> = tr.iter().map(|&i| labels[i]).collect();
    let calibration = Calibration::fit(&ho_scores, &ho_labels, s.target_fpr);
    let probs: Vec<f32> = ho_scores
        .iter()
        .map(|&z| calibration.probability(z))
        .collect();
    let metrics = serde_json::json!({
        "train_images": tr.len(),
        "heldout_images": ho.len(),
        "synthetic_fakes": extra.fakes.len(),
        "low_passed_reals": extra.reals.len(),
        "perturbed_copies": extra.perturbed.len(),
        "train_accuracy": metrics::accuracy(&tr_scores, &tr_labels, 0.0),
        "heldout_accuracy_at_threshold": metrics::accuracy(&ho_scores, &ho_labels, calibration.threshold),
        "heldout_balanced_accuracy": balanced(&ho_scores, &ho_labels, calibration.threshold),
        "heldout_auc": metrics::auc(&ho_scores, &ho_labels),
        "heldout_ap": metrics::average_precision(&ho_scores, &ho_labels),
        "heldout_ece": metrics::ece(&probs, &ho_labels, 10),
        "fit_objective": objective.0,
        "fit_gradient_norm": objective.1,
    });
    ProbeFit {
        weight: w.iter().map(|&v| v as f32).collect(),
        bias: b as f32,
        calibration,
        metrics,
    }
}

/// The fitted objective (class-balanced mean log-loss + l2/2 |w'|², w' = w·sd the weights in the
/// fit's own space z = (x - mu) / sd) and the norm of its gradient there, on the training rows:
/// how far the optimiser got from the optimum (recorded in the checkpoint's metrics).
fn objective(
    x: &[Vec<f64>],
    y: &[bool],
    idx: &[usize],
    (w, b): (&[f64], f64),
    (mu, sd): (&[f64], &[f64]),
    l2: f64,
) -> (f64, f64) {
    let d = w.len();
    let wf: Vec<f64> = w.iter().zip(sd).map(|(w, s)| w * s).collect();
    let npos = idx.iter().filter(|&&i| y[i]).count().max(1) as f64;
    let nneg = idx.iter().filter(|&&i| !y[i]).count().max(1) as f64;
    let (mut loss, mut gw, mut gb) = (0.0, vec![0.0; d], 0.0);
    for &i in idx {
        let z: f64 = b + x[i].iter().zip(w).map(|(a, c)| a * c).sum::<f64>();
        let t = y[i] as u8 as f64;
        let wt = if y[i] { 0.5 / npos } else { 0.5 / nneg };
        loss += wt * (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p());
        let g = wt * (1.0 / (1.0 + (-z).exp()) - t);
        for j in 0..d {
            gw[j] += g * (x[i][j] - mu[j]) / sd[j];
        }
        gb += g;
    }
    let reg: f64 = wf.iter().map(|v| v * v).sum::<f64>() * l2 / 2.0;
    let gnorm = gw
        .iter()
        .zip(&wf)
        .map(|(g, w)| (g + l2 * w).powi(2))
        .sum::<f64>()
        + gb * gb;
    (loss + reg, gnorm.sqrt())
}

/// The fit's L2 penalty and Adam step: (1, 0.005) for a probe on several blocks' class tokens,
/// else the defaults (1e-3, 0.05). Full-batch Adam at 0.05 does not settle on thousands of
/// standardised features under L2 1; 0.005 reaches the optimum there (docs/METHODS.md, "Probe on
/// several blocks").
pub fn fit_defaults(blocks: bool) -> (f64, f64) {
    if blocks {
        (1.0, 0.005)
    } else {
        let d = ProbeSettings::default();
        (d.l2, d.lr)
    }
}

/// (real accuracy + fake accuracy) / 2 at a threshold.
pub fn balanced(scores: &[f32], labels: &[bool], t: f32) -> f64 {
    let acc = |class: bool| {
        let v: Vec<_> = scores
            .iter()
            .zip(labels)
            .filter(|(_, &l)| l == class)
            .collect();
        v.iter().filter(|(&s, _)| (s > t) == class).count() as f64 / v.len().max(1) as f64
    };
    (acc(false) + acc(true)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_data_is_learnt_and_calibrated() {
        let mut rng = Rng::new(5);
        let mut f = Vec::new();
        let mut l = Vec::new();
        for i in 0..200 {
            let fake = i % 3 == 0;
            let mut v: Vec<f32> = (0..8).map(|_| rng.normal() as f32 * 0.3).collect();
            v[0] += if fake { 1.0 } else { -1.0 };
            v[1] += 2.0;
            f.push(v);
            l.push(fake);
        }
        let fit = train_probe(
            &f,
            &l,
            &ProbeSettings {
                steps: 400,
                ..Default::default()
            },
        );
        assert!(
            fit.metrics["heldout_auc"].as_f64().unwrap() > 0.95,
            "{}",
            fit.metrics
        );
        assert!(fit.calibration.heldout_fpr <= 0.05);
        assert!(fit.weight[0] > 0.0);
    }

    #[test]
    fn standardising_finds_a_weak_direction_and_folds_back_exactly() {
        // The class shows only in a feature whose spread is 1000 times smaller than the others'.
        let mut rng = Rng::new(9);
        let (mut f, mut l) = (Vec::new(), Vec::new());
        for i in 0..240 {
            let fake = i % 2 == 0;
            let mut v: Vec<f32> = (0..6).map(|_| 1.0 + rng.normal() as f32).collect();
            v[5] = 1e-3 * (rng.normal() as f32 * 0.3 + if fake { 1.0 } else { -1.0 });
            f.push(v);
            l.push(fake);
        }
        let s = ProbeSettings {
            steps: 600,
            standardize: true,
            ..Default::default()
        };
        let fit = train_probe(&f, &l, &s);
        assert!(
            fit.metrics["heldout_auc"].as_f64().unwrap() > 0.95,
            "{}",
            fit.metrics
        );
        // The folded weight and bias score raw (L2-normalised) features as the detector does.
        let (_, ho) = stratified_split(&l, s.holdout, s.seed);
        let scores: Vec<f32> = ho
            .iter()
            .map(|&i| {
                let x = normalized(&f[i]);
                fit.bias
                    + x.iter()
                        .zip(&fit.weight)
                        .map(|(a, w)| *a as f32 * w)
                        .sum::<f32>()
            })
            .collect();
        let labels: Vec<bool> = ho.iter().map(|&i| l[i]).collect();
        let auc = metrics::auc(&scores, &labels);
        assert!((auc - fit.metrics["heldout_auc"].as_f64().unwrap()).abs() < 1e-9);
    }

    #[test]
    fn extra_fakes_train_but_never_calibrate() {
        // Genuine fakes differ in feature 0; the extra fakes only in feature 2.
        let mut rng = Rng::new(11);
        let (mut f, mut l) = (Vec::new(), Vec::new());
        for i in 0..120 {
            let fake = i % 2 == 0;
            let mut v: Vec<f32> = (0..6).map(|_| rng.normal() as f32 * 0.3).collect();
            v[0] += if fake { 1.0 } else { -1.0 };
            v[5] += 3.0;
            f.push(v);
            l.push(fake);
        }
        let extra: Vec<Vec<f32>> = (0..60)
            .map(|_| {
                let mut v: Vec<f32> = (0..6).map(|_| rng.normal() as f32 * 0.3).collect();
                v[0] -= 1.0;
                v[2] += 1.5;
                v[5] += 3.0;
                v
            })
            .collect();
        let s = ProbeSettings {
            steps: 400,
            ..Default::default()
        };
        let plain = train_probe(&f, &l, &s);
        let with = train_probe_with(
            &f,
            &l,
            &ExtraRows {
                fakes: extra,
                ..Default::default()
            },
            &s,
        );
        assert_eq!(
            with.metrics["heldout_images"],
            plain.metrics["heldout_images"]
        );
        assert_eq!(with.metrics["synthetic_fakes"], 60);
        assert_eq!(
            with.metrics["train_images"].as_u64().unwrap(),
            plain.metrics["train_images"].as_u64().unwrap() + 60
        );
        assert!(
            with.weight[2] > 0.5 + plain.weight[2].abs(),
            "{:?}",
            with.weight
        );
        // The held-out split holds genuine images only: the genuine direction still separates it.
        assert!(with.metrics["heldout_auc"].as_f64().unwrap() > 0.9);
    }

    #[test]
    fn raw_block_features_are_fitted_standardised_to_the_optimum() {
        // Raw (not unit-normed) features of very different scales, as class tokens are; the class
        // shows in the small-scale feature 3. Perturbed copies join training with their labels.
        let mut rng = Rng::new(21);
        let mut row = |fake: bool| -> Vec<f32> {
            let mut v: Vec<f32> = (0..8)
                .map(|j| (j as f32 + 1.0) * 40.0 * rng.normal() as f32)
                .collect();
            v[3] = 0.05 * (rng.normal() as f32 + if fake { 1.5 } else { -1.5 });
            v
        };
        let (mut f, mut l) = (Vec::new(), Vec::new());
        for i in 0..160 {
            let fake = i % 2 == 1;
            f.push(row(fake));
            l.push(fake);
        }
        let perturbed: Vec<(Vec<f32>, bool)> =
            (0..40).map(|i| (row(i % 2 == 1), i % 2 == 1)).collect();
        let s = ProbeSettings {
            blocks: Some(vec![1]),
            l2: 1.0,
            lr: 0.005,
            ..Default::default()
        };
        let fit = train_probe_with(
            &f,
            &l,
            &ExtraRows {
                perturbed,
                ..Default::default()
            },
            &s,
        );
        let m = &fit.metrics;
        assert_eq!(m["perturbed_copies"], 40);
        assert_eq!(m["train_images"], 120 + 40);
        assert!(m["heldout_auc"].as_f64().unwrap() > 0.95, "{m}");
        // Converged: the gradient of the objective at the returned weights is (near) zero.
        assert!(m["fit_gradient_norm"].as_f64().unwrap() < 1e-4, "{m}");
        // Stopping early leaves a measurably larger gradient (the check can fail).
        let early = train_probe_with(
            &f,
            &l,
            &ExtraRows::default(),
            &ProbeSettings {
                steps: 3,
                ..s.clone()
            },
        );
        assert!(early.metrics["fit_gradient_norm"].as_f64().unwrap() > 1e-2);
        // Feature 3 carries the class: its standardised weight dominates.
        let sd3 = 0.05 * 1.8;
        assert!(
            fit.weight[3] * sd3 > 5.0 * (fit.weight[0] * 40.0).abs(),
            "{:?}",
            fit.weight
        );
    }

    #[test]
    fn split_is_stratified_and_deterministic() {
        let labels: Vec<bool> = (0..40).map(|i| i < 10).collect();
        let (tr, ho) = stratified_split(&labels, 0.2, 1);
        assert_eq!(ho.iter().filter(|&&i| labels[i]).count(), 2);
        assert_eq!(ho.len(), 8);
        assert_eq!(tr.len(), 32);
        assert_eq!(stratified_split(&labels, 0.2, 1), (tr, ho));
    }
}
