//! Scalar metrics over scores: the ROC AUC by the rank-sum (Mann-Whitney U) formula.

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
    if scores.len() != positive.len() || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
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

#[cfg(test)]
mod tests {
    use super::roc_auc;

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
}
