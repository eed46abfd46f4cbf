//! How well scores rank good above bad: the area under the ROC curve, with a 95% interval.
//!
//! The AUC is the Mann-Whitney statistic: the share of (positive, negative) pairs in which the
//! positive scores higher, a tie counting one half. It is 1 for a perfect ranking, 0.5 for
//! chance, and needs no threshold, which suits a PRM whose scores are read as a ranking (best
//! of N, step search) more than as calibrated probabilities.
//!
//! The interval is the normal one with DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988,
//! *Comparing the areas under two or more correlated receiver operating characteristic
//! curves: a nonparametric approach*, Biometrics 44:837-845): with `m` positives `x_i` and `n`
//! negatives `y_j`, `ψ(x, y)` = 1, ½ or 0 as `x` is above, level with or below `y`, the
//! structural components `V10(x_i) = mean_j ψ(x_i, y_j)` and `V01(y_j) = mean_i ψ(x_i, y_j)`,
//! and `Var(AUC) = S10 / m + S01 / n`, where `S10` and `S01` are the sample variances (divisor
//! `m - 1`, `n - 1`) of the components (a class of one contributes no variance term). The
//! interval `AUC ± 1.96 √Var` is clipped to `[0, 1]`. Components are counted by binary search
//! over the sorted scores, so `m + n` scores cost `O((m + n) log(m + n))`.
//!
//! Step AUCs pool the steps of many solutions, which are not independent: read their intervals
//! as a guide, narrower than a problem-level resampling would give.

/// An AUC with its interval and class sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Auc {
    /// The Mann-Whitney AUC, in `[0, 1]`.
    pub auc: f64,
    /// Lower end of the 95% interval (DeLong).
    pub low: f64,
    /// Upper end of the 95% interval (DeLong).
    pub high: f64,
    /// DeLong's variance of the AUC.
    pub variance: f64,
    /// Number of positive examples.
    pub positives: usize,
    /// Number of negative examples.
    pub negatives: usize,
}

/// The two-sided 95% normal quantile.
const Z95: f64 = 1.959_963_984_540_054;

/// ROC AUC of `scores` against `labels` (true = positive), ties counted half; `None` when a
/// class is empty, the lengths differ, or a score is NaN.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<Auc> {
    if scores.len() != labels.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut pos: Vec<f64> = Vec::new();
    let mut neg: Vec<f64> = Vec::new();
    for (&s, &l) in scores.iter().zip(labels) {
        if l { pos.push(s) } else { neg.push(s) }
    }
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    pos.sort_by(f64::total_cmp);
    neg.sort_by(f64::total_cmp);
    // ψ summed over the other class: values strictly below count 1, equal ones ½
    let wins = |x: f64, others: &[f64]| {
        let below = others.partition_point(|&o| o < x);
        let level = others.partition_point(|&o| o <= x) - below;
        below as f64 + 0.5 * level as f64
    };
    let (m, n) = (pos.len() as f64, neg.len() as f64);
    let v10: Vec<f64> = pos.iter().map(|&x| wins(x, &neg) / n).collect();
    // ψ(x, y) for a negative y: positives above it count 1, level ½
    let v01: Vec<f64> = neg.iter().map(|&y| (m - wins(y, &pos)) / m).collect();
    let auc = v10.iter().sum::<f64>() / m;
    let variance = sample_variance(&v10) / m + sample_variance(&v01) / n;
    let half = Z95 * variance.sqrt();
    Some(Auc {
        auc,
        low: (auc - half).max(0.0),
        high: (auc + half).min(1.0),
        variance,
        positives: pos.len(),
        negatives: neg.len(),
    })
}

/// Sample variance (divisor `len - 1`); 0 for fewer than two values.
fn sample_variance(values: &[f64]) -> f64 {
    if values.len() < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (values.len() - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} vs {b}");
    }

    #[test]
    fn auc_counts_ties_half_with_delong_variance_by_hand() {
        // positives 0.9, 0.8, 0.4; negatives 0.8, 0.3. Pairs: 0.9 beats both (2), 0.8 ties
        // 0.8 and beats 0.3 (1.5), 0.4 loses to 0.8 and beats 0.3 (1): 4.5 / 6.
        let a = roc_auc(
            &[0.9, 0.8, 0.8, 0.4, 0.3],
            &[true, true, false, true, false],
        )
        .unwrap();
        close(a.auc, 0.75);
        // V10 = [1, 0.75, 0.5] (var 0.0625), V01 = [0.5, 1] (var 0.125):
        // 0.0625 / 3 + 0.125 / 2 = 1/12
        close(a.variance, 1.0 / 12.0);
        close(a.low, 0.75 - Z95 * (1.0f64 / 12.0).sqrt());
        close(a.high, 1.0);
        assert_eq!((a.positives, a.negatives), (3, 2));
    }

    #[test]
    fn perfect_reversed_and_all_tied_rankings() {
        let labels = [true, true, false, false];
        let perfect = roc_auc(&[0.9, 0.7, 0.2, 0.1], &labels).unwrap();
        close(perfect.auc, 1.0);
        close(perfect.variance, 0.0);
        close(roc_auc(&[0.1, 0.2, 0.7, 0.9], &labels).unwrap().auc, 0.0);
        let tied = roc_auc(&[0.5; 4], &labels).unwrap();
        close(tied.auc, 0.5);
        close(tied.variance, 0.0);
        // 1 positive, 3 negatives, the positive second from the top: 2 of 3 pairs won
        let one = roc_auc(&[0.6, 0.9, 0.3, 0.1], &[true, false, false, false]).unwrap();
        close(one.auc, 2.0 / 3.0);
        // V01 = [0, 1, 1]: variance 1/3 over 3 negatives; the single positive adds none
        close(one.variance, 1.0 / 9.0);
    }

    #[test]
    fn auc_is_none_without_both_classes_or_with_nan() {
        assert!(roc_auc(&[0.1, 0.2], &[true, true]).is_none());
        assert!(roc_auc(&[0.1, 0.2], &[false, false]).is_none());
        assert!(roc_auc(&[], &[]).is_none());
        assert!(roc_auc(&[0.1, f64::NAN], &[true, false]).is_none());
        assert!(roc_auc(&[0.1], &[true, false]).is_none());
    }
}
