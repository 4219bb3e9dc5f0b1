//! The Fréchet distance between two Gaussians fitted to feature sets (the FID recipe, here on an
//! MNIST classifier's features):
//!
//! ```text
//! d² = |μ₁ - μ₂|² + tr Σ₁ + tr Σ₂ - 2 tr (Σ₁^½ Σ₂ Σ₁^½)^½
//! ```
//! `tr (Σ₁ Σ₂)^½` equals `tr (Σ₁^½ Σ₂ Σ₁^½)^½` (the two matrices are similar), and the second
//! form is the square root of a symmetric positive semi-definite matrix, so both roots come from
//! symmetric eigendecompositions ([`super::linalg`]).

use super::linalg::{matmul, sqrt_psd, sym_eigen};
use super::pca::mean_and_covariance;

/// A Gaussian fitted to feature rows: the mean and the covariance (divided by `n - 1`).
#[derive(Clone, Debug)]
pub struct Gaussian {
    /// Dimensions.
    pub dim: usize,
    /// Mean.
    pub mean: Vec<f64>,
    /// Covariance, `dim x dim` row-major.
    pub cov: Vec<f64>,
}

impl Gaussian {
    /// Fits the rows of `features` (`dim` wide).
    pub fn fit(features: &[f32], dim: usize) -> Gaussian {
        let (mean, cov) = mean_and_covariance(features, dim);
        Gaussian { dim, mean, cov }
    }
}

/// The squared Fréchet distance between `a` and `b` (what FID reports).
///
/// # Panics
/// If the dimensions differ.
pub fn frechet_distance(a: &Gaussian, b: &Gaussian) -> f64 {
    assert_eq!(
        a.dim, b.dim,
        "Fréchet distance between different dimensions"
    );
    let n = a.dim;
    let mean: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y).powi(2))
        .sum();
    let trace = |m: &[f64]| (0..n).map(|i| m[i * n + i]).sum::<f64>();
    let r = sqrt_psd(&a.cov, n);
    let m = matmul(&matmul(&r, &b.cov, n), &r, n);
    let cross: f64 = sym_eigen(&m, n)
        .values
        .iter()
        .map(|&l| l.max(0.0).sqrt())
        .sum();
    (mean + trace(&a.cov) + trace(&b.cov) - 2.0 * cross).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaussian(mean: Vec<f64>, cov: Vec<f64>) -> Gaussian {
        Gaussian {
            dim: mean.len(),
            mean,
            cov,
        }
    }

    #[test]
    fn diagonal_covariances_give_the_closed_form() {
        // Commuting covariances: d² = |Δμ|² + Σ (√a_i - √b_i)².
        let a = gaussian(
            vec![1.0, 2.0, 0.0],
            vec![4.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.25],
        );
        let b = gaussian(
            vec![0.0, 2.0, 3.0],
            vec![1.0, 0.0, 0.0, 0.0, 9.0, 0.0, 0.0, 0.0, 0.25],
        );
        let want = 1.0 + 9.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9);
        assert!(frechet_distance(&a, &a).abs() < 1e-9);
        assert!((frechet_distance(&b, &a) - want).abs() < 1e-9);
    }

    #[test]
    fn non_commuting_2d_covariances_give_the_closed_form() {
        // For 2 x 2 matrices, tr √M = √(tr M + 2 √det M) when M = Σ₁Σ₂ has positive eigenvalues.
        let s1 = [2.0, 0.8, 0.8, 1.0];
        let s2 = [0.5, -0.3, -0.3, 3.0];
        let m = [
            s1[0] * s2[0] + s1[1] * s2[2],
            s1[0] * s2[1] + s1[1] * s2[3],
            s1[2] * s2[0] + s1[3] * s2[2],
            s1[2] * s2[1] + s1[3] * s2[3],
        ];
        let tr = m[0] + m[3];
        let det: f64 = m[0] * m[3] - m[1] * m[2];
        let cross = (tr + 2.0 * det.sqrt()).sqrt();
        let want = 0.5f64.powi(2) + (s1[0] + s1[3]) + (s2[0] + s2[3]) - 2.0 * cross;
        let a = gaussian(vec![0.5, 0.0], s1.to_vec());
        let b = gaussian(vec![0.0, 0.0], s2.to_vec());
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9);
    }

    #[test]
    fn fits_the_sample_mean_and_covariance() {
        let rows = [1.0f32, 2.0, 3.0, 6.0, 5.0, 4.0];
        let g = Gaussian::fit(&rows, 2);
        assert_eq!(g.mean, vec![3.0, 4.0]);
        // Deviations (-2, -2), (0, 2), (2, 0): sums of products 8, 4, 8, over n - 1 = 2.
        assert_eq!(g.cov, vec![4.0, 2.0, 2.0, 4.0]);
    }
}
