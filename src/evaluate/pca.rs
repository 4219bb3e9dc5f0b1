//! Principal component analysis: the baseline embedding. The covariance (`d x d`) is accumulated
//! in `f64` from blocks of centred rows multiplied with the engine's matrix multiply, and its top
//! eigenvectors come from [`super::linalg::sym_eigen`].

use super::linalg::sym_eigen;

/// Rows per block of the covariance sum.
const BLOCK: usize = 2048;

/// A fitted PCA: the data's mean and its leading principal directions.
#[derive(Clone, Debug)]
pub struct Pca {
    /// Width of a data row.
    pub dim: usize,
    /// The mean row.
    pub mean: Vec<f32>,
    /// The components as rows (`components x dim`), by decreasing variance.
    pub components: Vec<f32>,
    /// The variance along each component (the covariance's eigenvalue, divided by `n - 1`).
    pub variance: Vec<f64>,
    /// The total variance (the covariance's trace).
    pub total_variance: f64,
}

/// The mean row and the covariance (divided by `n - 1`, at least 1) of `n` rows `dim` wide, in
/// `f64`.
pub fn mean_and_covariance(x: &[f32], dim: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(dim > 0 && x.len().is_multiple_of(dim));
    let n = x.len() / dim;
    let mut mean = vec![0.0f64; dim];
    for row in x.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let mut cov = vec![0.0f64; dim * dim];
    let mut centred = Vec::with_capacity(BLOCK * dim);
    let mut part = vec![0.0f32; dim * dim];
    for block in x.chunks(BLOCK * dim) {
        centred.clear();
        for row in block.chunks_exact(dim) {
            centred.extend(row.iter().zip(&mean32).map(|(v, m)| v - m));
        }
        let rows = block.len() / dim;
        // part = centredᵀ centred
        autograd::kernels::gemm(
            dim, rows, dim, 1.0, &centred, 1, dim, &centred, dim, 1, 0.0, &mut part, dim, 1,
        );
        for (c, &p) in cov.iter_mut().zip(&part) {
            *c += p as f64;
        }
    }
    let denom = (n.max(2) - 1) as f64;
    cov.iter_mut().for_each(|c| *c /= denom);
    (mean, cov)
}

impl Pca {
    /// Fits `components` principal directions to the rows of `x` (`dim` wide).
    ///
    /// # Panics
    /// If `components` exceeds `dim` or the sizes disagree.
    pub fn fit(x: &[f32], dim: usize, components: usize) -> Pca {
        assert!(components <= dim, "more components than dimensions");
        let (mean, cov) = mean_and_covariance(x, dim);
        let total_variance = (0..dim).map(|i| cov[i * dim + i]).sum();
        let eig = sym_eigen(&cov, dim);
        Pca {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            components: eig.vectors[..components * dim]
                .iter()
                .map(|&v| v as f32)
                .collect(),
            variance: eig.values[..components].to_vec(),
            total_variance,
        }
    }

    /// Projects the rows of `x` on the components: `(x - mean) Vᵀ`, `n x components`.
    pub fn transform(&self, x: &[f32]) -> Vec<f32> {
        let k = self.components.len() / self.dim.max(1);
        let mut out = Vec::with_capacity(x.len() / self.dim * k);
        for row in x.chunks_exact(self.dim) {
            for c in self.components.chunks_exact(self.dim) {
                out.push(
                    row.iter()
                        .zip(&self.mean)
                        .zip(c)
                        .map(|((v, m), c)| (v - m) * c)
                        .sum(),
                );
            }
        }
        out
    }

    /// The share of the total variance the components keep.
    pub fn explained(&self) -> f64 {
        self.variance.iter().sum::<f64>() / self.total_variance.max(f64::MIN_POSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_known_decomposition() {
        // Orthonormal directions q1 = (1, 1, 0, 0)/√2, q2 = (0, 0, 1, -1)/√2, q3 = (1, -1, 0, 0)/√2,
        // and the points m ± s_k q_k: the covariance is Σ_k 2 s_k² / (n - 1) q_k q_kᵀ exactly.
        let r = std::f32::consts::FRAC_1_SQRT_2;
        let q = [[r, r, 0.0, 0.0], [0.0, 0.0, r, -r], [r, -r, 0.0, 0.0]];
        let s = [3.0f32, 2.0, 0.5];
        let m = [1.0f32, -2.0, 0.5, 4.0];
        let mut x = Vec::new();
        // Shuffled order: the second direction first.
        for &k in &[1usize, 0, 2] {
            for sign in [1.0f32, -1.0] {
                x.extend((0..4).map(|j| m[j] + sign * s[k] * q[k][j]));
            }
        }
        let pca = Pca::fit(&x, 4, 3);
        for (j, &mj) in m.iter().enumerate() {
            assert!((pca.mean[j] - mj).abs() < 1e-6);
        }
        for k in 0..3 {
            let c = &pca.components[k * 4..(k + 1) * 4];
            let dot: f32 = c.iter().zip(&q[k]).map(|(a, b)| a * b).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-5, "component {k}: {c:?}");
            let want = 2.0 * (s[k] as f64).powi(2) / 5.0;
            assert!((pca.variance[k] - want).abs() < 1e-5);
        }
        assert!((pca.explained() - 1.0).abs() < 1e-6);
        // The points project onto ±s_k along their own component and 0 along the others.
        let y = Pca::fit(&x, 4, 2).transform(&x);
        assert_eq!(y.len(), 12);
        let near = |a: f32, b: f32| (a - b).abs() < 1e-5;
        // Rows 0-1 lie along q2 (second component), rows 2-3 along q1, rows 4-5 along q3.
        assert!(near(y[0], 0.0) && near(y[1].abs(), 2.0) && near(y[1], -y[3]));
        assert!(near(y[4].abs(), 3.0) && near(y[5], 0.0) && near(y[4], -y[6]));
        assert!(near(y[8], 0.0) && near(y[9], 0.0) && near(y[11], 0.0));
    }

    #[test]
    fn covariance_matches_the_definition_across_blocks() {
        let (n, d) = (BLOCK + 37, 3);
        let x: Vec<f32> = (0..n * d)
            .map(|i| ((i * 7919) % 101) as f32 / 10.0)
            .collect();
        let (mean, cov) = mean_and_covariance(&x, d);
        for a in 0..d {
            for b in 0..d {
                let want: f64 = (0..n)
                    .map(|i| (x[i * d + a] as f64 - mean[a]) * (x[i * d + b] as f64 - mean[b]))
                    .sum::<f64>()
                    / (n - 1) as f64;
                assert!((cov[a * d + b] - want).abs() < 1e-4 * want.abs().max(1.0));
            }
        }
    }
}
