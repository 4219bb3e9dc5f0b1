//! The classifier score (the Inception-score recipe with an MNIST classifier): how confidently
//! and how evenly over the classes a classifier labels a set of images,
//! `exp(E_x KL(p(y|x) || p(y)))` with `p(y)` the mean of `p(y|x)` over the set. It lies between 1
//! (every image gets the same distribution) and the number of classes (every image is labelled
//! with certainty and the classes are equally frequent).

/// The classifier score of `probs` (rows of `classes` probabilities).
pub fn classifier_score(probs: &[f32], classes: usize) -> f64 {
    let n = probs.len() / classes.max(1);
    if n == 0 {
        return f64::NAN;
    }
    let mut marginal = vec![0.0f64; classes];
    for row in probs.chunks_exact(classes) {
        for (m, &p) in marginal.iter_mut().zip(row) {
            *m += p as f64 / n as f64;
        }
    }
    let kl: f64 = probs
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .zip(&marginal)
                .filter(|&(&p, _)| p > 0.0)
                .map(|(&p, &m)| p as f64 * (p as f64 / m).ln())
                .sum::<f64>()
        })
        .sum();
    (kl / n as f64).exp()
}

/// The share of rows whose largest probability exceeds `threshold`.
pub fn confident_share(probs: &[f32], classes: usize, threshold: f32) -> f64 {
    let n = probs.len() / classes.max(1);
    let sure = probs
        .chunks_exact(classes)
        .filter(|row| row.iter().any(|&p| p > threshold))
        .count();
    sure as f64 / n.max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_and_a_hand_computed_case() {
        // Certain and balanced over 4 classes: the number of classes.
        let eye = [
            1.0f32, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0,
        ];
        assert!((classifier_score(&eye, 4) - 4.0).abs() < 1e-12);
        // Every image the same distribution: 1.
        let same = [0.7f32, 0.3, 0.7, 0.3, 0.7, 0.3];
        assert!((classifier_score(&same, 2) - 1.0).abs() < 1e-12);
        // Two images, (0.9, 0.1) and (0.5, 0.5): marginal (0.7, 0.3).
        let p = [0.9f32, 0.1, 0.5, 0.5];
        let kl1 = 0.9 * (0.9f64 / 0.7).ln() + 0.1 * (0.1f64 / 0.3).ln();
        let kl2 = 0.5 * (0.5f64 / 0.7).ln() + 0.5 * (0.5f64 / 0.3).ln();
        let want = ((kl1 + kl2) / 2.0).exp();
        assert!((classifier_score(&p, 2) - want).abs() < 1e-6);
        assert_eq!(confident_share(&p, 2, 0.9), 0.0);
        assert_eq!(confident_share(&p, 2, 0.8), 0.5);
        assert_eq!(confident_share(&eye, 4, 0.9), 1.0);
    }
}
