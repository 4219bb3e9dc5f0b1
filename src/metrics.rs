//! Metrics over scores: the ROC AUC by the rank-sum (Mann-Whitney U) formula, the ROC curve,
//! and the area under the precision-recall curve as average precision.

/// The area under the ROC curve of `scores` for telling the positives (`positive[i]` true) from
/// the negatives, higher scores meaning "more positive".
///
/// It equals the probability that a random positive scores above a random negative, ties
/// counting one half, and is computed from ranks in `O(n log n)`:
///
/// ```text
/// AUC = (R₊ - n₊ (n₊ + 1) / 2) / (n₊ n₋)
/// ```
///
/// where `R₊` is the sum of the positives' ranks (1-based, ascending score; tied scores all get
/// the mean of the ranks they span). `None` when either class is empty, when the two slices
/// differ in length, or when a score is NaN.
///
/// ```
/// use vae::metrics::roc_auc;
/// // Positive scores 3 and 2, negative scores 2 and 1: pairs (3,2) (3,1) (2,1) win, (2,2) ties.
/// let auc = roc_auc(&[3.0, 2.0, 2.0, 1.0], &[true, true, false, false]).unwrap();
/// assert!((auc - 3.5 / 4.0).abs() < 1e-12);
/// ```
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let (n_pos, n_neg) = classes(scores, positive)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        // The run order[i..j] shares one score; its ranks i+1 ..= j average to (i + 1 + j) / 2.
        let mut j = i + 1;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + 1 + j) as f64 / 2.0;
        let pos_in_run = order[i..j].iter().filter(|&&k| positive[k]).count();
        rank_sum += mean_rank * pos_in_run as f64;
        i = j;
    }
    let (p, n) = (n_pos as f64, n_neg as f64);
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * n))
}

/// Checks the inputs shared by the metrics; `(n₊, n₋)` when both classes are present.
fn classes(scores: &[f64], positive: &[bool]) -> Option<(usize, usize)> {
    if scores.len() != positive.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    (n_pos > 0 && n_neg > 0).then_some((n_pos, n_neg))
}

/// Cumulative `(true positives, false positives)` as the threshold falls through each distinct
/// score, highest first: one entry per distinct score, tied scores entering together.
fn cumulative_counts(scores: &[f64], positive: &[bool]) -> Vec<(usize, usize)> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0, 0);
    let mut out = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if positive[order[j]] {
                tp += 1;
            } else {
                fp += 1;
            }
            j += 1;
        }
        out.push((tp, fp));
        i = j;
    }
    out
}

/// The ROC curve: `(false positive rate, true positive rate)` from `(0, 0)` to `(1, 1)`, one
/// point per distinct score (tied scores move both rates at once, a diagonal step, so the
/// trapezoid area under these points equals [`roc_auc`]). `None` in the cases where
/// [`roc_auc`] is `None`.
pub fn roc_curve(scores: &[f64], positive: &[bool]) -> Option<Vec<(f64, f64)>> {
    let (p, n) = classes(scores, positive)?;
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(
        cumulative_counts(scores, positive)
            .into_iter()
            .map(|(tp, fp)| (fp as f64 / n as f64, tp as f64 / p as f64)),
    );
    Some(pts)
}

/// Average precision, the area under the precision-recall curve as scikit-learn computes it:
///
/// ```text
/// AP = Σ_k (R_k - R_{k-1}) P_k
/// ```
///
/// over the thresholds `k` at each distinct score, highest first, where `P_k` and `R_k` are the
/// precision and recall of calling every image scoring at or above the threshold positive (tied
/// scores enter together, so a tie contributes its pooled precision). A random score gives
/// about the positives' share; a perfect one gives 1. `None` in the cases where [`roc_auc`] is
/// `None`.
///
/// ```
/// use vae::metrics::average_precision;
/// // Ranked: 0.9 (+), 0.8 (-), 0.7 (+): AP = ½ · 1 + ½ · ⅔.
/// let ap = average_precision(&[0.9, 0.8, 0.7], &[true, false, true]).unwrap();
/// assert!((ap - (0.5 + 1.0 / 3.0)).abs() < 1e-12);
/// ```
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let (p, _) = classes(scores, positive)?;
    let mut ap = 0.0;
    let mut prev_tp = 0;
    for (tp, fp) in cumulative_counts(scores, positive) {
        if tp > prev_tp {
            ap += (tp - prev_tp) as f64 / p as f64 * (tp as f64 / (tp + fp) as f64);
        }
        prev_tp = tp;
    }
    Some(ap)
}

#[cfg(test)]
mod tests {
    use super::{average_precision, roc_auc, roc_curve};

    /// Counts pairs directly: the definition the rank formula must agree with.
    fn auc_by_pairs(scores: &[f64], positive: &[bool]) -> f64 {
        let (mut wins, mut pairs) = (0.0, 0.0);
        for (i, &si) in scores.iter().enumerate() {
            for (j, &sj) in scores.iter().enumerate() {
                if positive[i] && !positive[j] {
                    pairs += 1.0;
                    wins += if si > sj {
                        1.0
                    } else if si == sj {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn hand_computed_example_with_ties() {
        // Positives: 0.9, 0.5, 0.5; negatives: 0.5, 0.2, 0.1, 0.9.
        // Pairs won (of 12): 0.9 beats 0.5, 0.2, 0.1 and ties 0.9 -> 3.5;
        // each 0.5 beats 0.2, 0.1, ties 0.5 -> 2.5 each. Total 8.5 / 12.
        let s = [0.9, 0.5, 0.5, 0.5, 0.2, 0.1, 0.9];
        let p = [true, true, true, false, false, false, false];
        let auc = roc_auc(&s, &p).unwrap();
        assert!((auc - 8.5 / 12.0).abs() < 1e-12, "{auc}");
        // Ranks: 0.1→1, 0.2→2, the three 0.5s→4, the two 0.9s→6.5.
        // R+ = 6.5 + 4 + 4 = 14.5; (14.5 - 6) / 12 = 8.5 / 12.
        assert!((auc - auc_by_pairs(&s, &p)).abs() < 1e-12);
    }

    #[test]
    fn perfect_reversed_and_constant() {
        let p = [true, true, false, false];
        assert_eq!(roc_auc(&[4.0, 3.0, 2.0, 1.0], &p), Some(1.0));
        assert_eq!(roc_auc(&[1.0, 2.0, 3.0, 4.0], &p), Some(0.0));
        assert_eq!(roc_auc(&[7.0; 4], &p), Some(0.5));
    }

    #[test]
    fn agrees_with_pair_counting() {
        // A deterministic pseudo-random set with many ties.
        let mut x = 12345u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let s: Vec<f64> = (0..200).map(|_| (next() % 17) as f64).collect();
        let p: Vec<bool> = (0..200).map(|_| next() % 3 == 0).collect();
        let auc = roc_auc(&s, &p).unwrap();
        assert!((auc - auc_by_pairs(&s, &p)).abs() < 1e-12);
    }

    #[test]
    fn undefined_cases() {
        assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(roc_auc(&[1.0, 2.0], &[false, false]), None);
        assert_eq!(roc_auc(&[1.0], &[true, false]), None);
        assert_eq!(roc_auc(&[f64::NAN, 1.0], &[true, false]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }

    /// The trapezoid area under a curve of points sorted by x.
    fn trapezoid(pts: &[(f64, f64)]) -> f64 {
        pts.windows(2)
            .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
            .sum()
    }

    #[test]
    fn roc_curve_by_hand_with_ties() {
        // Scores 0.9+ 0.9- 0.5+ 0.5+ 0.5- 0.2- 0.1-: p = 3, n = 4.
        let s = [0.9, 0.5, 0.5, 0.5, 0.2, 0.1, 0.9];
        let p = [true, true, true, false, false, false, false];
        let c = roc_curve(&s, &p).unwrap();
        let want = [
            (0.0, 0.0),
            (0.25, 1.0 / 3.0),
            (0.5, 1.0),
            (0.75, 1.0),
            (1.0, 1.0),
        ];
        assert_eq!(c.len(), want.len());
        for (a, b) in c.iter().zip(want) {
            assert!(
                (a.0 - b.0).abs() < 1e-12 && (a.1 - b.1).abs() < 1e-12,
                "{c:?}"
            );
        }
        // The trapezoid under the tie-diagonal curve is the midrank AUC (8.5 / 12).
        assert!((trapezoid(&c) - 8.5 / 12.0).abs() < 1e-12);
    }

    #[test]
    fn trapezoid_agrees_with_ranks_on_many_ties() {
        let mut x = 777u64;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 33
        };
        let s: Vec<f64> = (0..300).map(|_| (next() % 11) as f64).collect();
        let p: Vec<bool> = (0..300).map(|_| next() % 4 == 0).collect();
        let c = roc_curve(&s, &p).unwrap();
        assert!((trapezoid(&c) - roc_auc(&s, &p).unwrap()).abs() < 1e-12);
    }

    #[test]
    fn average_precision_by_hand() {
        // Ranked + - + - -: precision at each positive 1/1 and 2/3, recall steps 1/2 each.
        let s = [5.0, 4.0, 3.0, 2.0, 1.0];
        let p = [true, false, true, false, false];
        let ap = average_precision(&s, &p).unwrap();
        assert!((ap - (0.5 * 1.0 + 0.5 * 2.0 / 3.0)).abs() < 1e-12, "{ap}");
        // Perfect and fully reversed rankings.
        assert_eq!(
            average_precision(&[2.0, 1.0, 0.0], &[true, false, false]),
            Some(1.0)
        );
        let rev = average_precision(&[0.0, 1.0, 2.0], &[true, false, false]).unwrap();
        assert!((rev - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn average_precision_pools_ties() {
        // Scores 0.9+ 0.9- | 0.5+ 0.5+ 0.5- | 0.2- 0.1- (p = 3).
        // Threshold 0.9: tp 1, fp 1, precision 1/2, recall 1/3.
        // Threshold 0.5: tp 3, fp 2, precision 3/5, recall 1.
        // AP = 1/3 · 1/2 + 2/3 · 3/5 = 1/6 + 2/5 = 17/30.
        let s = [0.9, 0.5, 0.5, 0.5, 0.2, 0.1, 0.9];
        let p = [true, true, true, false, false, false, false];
        let ap = average_precision(&s, &p).unwrap();
        assert!((ap - 17.0 / 30.0).abs() < 1e-12, "{ap}");
        // All scores tied: the precision is the positives' share at full recall.
        let ap = average_precision(&[1.0; 5], &[true, false, false, true, false]).unwrap();
        assert!((ap - 0.4).abs() < 1e-12);
    }

    #[test]
    fn average_precision_undefined_cases() {
        assert_eq!(average_precision(&[1.0, 2.0], &[true, true]), None);
        assert_eq!(average_precision(&[1.0, 2.0], &[false, false]), None);
        assert_eq!(average_precision(&[1.0], &[true, false]), None);
        assert_eq!(average_precision(&[f64::NAN, 1.0], &[true, false]), None);
    }
}
