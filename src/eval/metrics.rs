//! Detection metrics: accuracy, balanced accuracy, ROC AUC, average precision, calibration error.
//! Labels: true = generated (positive class).

/// Area under the ROC curve (ties count half). NaN when a class is missing.
pub fn auc(scores: &[f32], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (np, nn) = count(labels);
    if np == 0 || nn == 0 {
        return f64::NAN;
    }
    // Rank-sum (Mann-Whitney U) with average ranks for ties.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if labels[k] {
                rank_sum += avg;
            }
        }
        i = j + 1;
    }
    (rank_sum - (np * (np + 1)) as f64 / 2.0) / (np * nn) as f64
}

/// Average precision (area under the precision-recall curve, step-wise as in scikit-learn).
pub fn average_precision(scores: &[f32], labels: &[bool]) -> f64 {
    let (np, _) = count(labels);
    if np == 0 {
        return f64::NAN;
    }
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && scores[idx[j]] == scores[idx[i]] {
            if labels[idx[j]] {
                tp += 1
            } else {
                fp += 1
            }
            j += 1;
        }
        let recall = tp as f64 / np as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
        i = j;
    }
    ap
}

/// Fraction of correct decisions at `threshold` (score > threshold means generated).
pub fn accuracy(scores: &[f32], labels: &[bool], threshold: f32) -> f64 {
    if scores.is_empty() {
        return f64::NAN;
    }
    let ok = scores
        .iter()
        .zip(labels)
        .filter(|(&s, &l)| (s > threshold) == l)
        .count();
    ok as f64 / scores.len() as f64
}

/// Expected calibration error with equal-width bins over the probability of the predicted class.
pub fn ece(probs: &[f32], labels: &[bool], bins: usize) -> f64 {
    if probs.is_empty() {
        return f64::NAN;
    }
    let mut conf = vec![0f64; bins];
    let mut acc = vec![0f64; bins];
    let mut n = vec![0usize; bins];
    for (&p, &l) in probs.iter().zip(labels) {
        let pred = p > 0.5;
        let c = if pred { p } else { 1.0 - p } as f64;
        let b = ((c * bins as f64) as usize).min(bins - 1);
        conf[b] += c;
        acc[b] += (pred == l) as u8 as f64;
        n[b] += 1;
    }
    (0..bins)
        .filter(|&b| n[b] > 0)
        .map(|b| (acc[b] - conf[b]).abs() / probs.len() as f64)
        .sum()
}

fn count(labels: &[bool]) -> (usize, usize) {
    let p = labels.iter().filter(|&&l| l).count();
    (p, labels.len() - p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_ap_on_known_cases() {
        let labels = [false, false, true, true];
        assert_eq!(auc(&[0.1, 0.2, 0.8, 0.9], &labels), 1.0);
        assert_eq!(auc(&[0.9, 0.8, 0.2, 0.1], &labels), 0.0);
        assert_eq!(auc(&[0.5, 0.5, 0.5, 0.5], &labels), 0.5);
        assert!((auc(&[0.1, 0.4, 0.35, 0.8], &labels) - 0.75).abs() < 1e-12);
        assert_eq!(average_precision(&[0.1, 0.2, 0.8, 0.9], &labels), 1.0);
        // sklearn: average_precision_score([0,0,1,1],[0.1,0.4,0.35,0.8]) = 0.8333...
        assert!((average_precision(&[0.1, 0.4, 0.35, 0.8], &labels) - 0.833_333_333).abs() < 1e-6);
        assert!(auc(&[0.1], &[true]).is_nan());
    }

    #[test]
    fn accuracy_and_ece() {
        assert_eq!(accuracy(&[0.1, 0.9], &[false, true], 0.5), 1.0);
        assert_eq!(accuracy(&[0.1, 0.9], &[true, false], 0.5), 0.0);
        assert!(ece(&[1.0, 0.0], &[true, false], 10) < 1e-9);
        assert!((ece(&[0.9, 0.9], &[false, false], 10) - 0.9).abs() < 1e-6);
    }
}
