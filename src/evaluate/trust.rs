//! Trustworthiness of an embedding (Venna & Kaski 2001; scikit-learn's `trustworthiness`):
//!
//! ```text
//! T(k) = 1 - 2 / (n k (2n - 3k - 1)) · Σ_i Σ_{j ∈ N_k(i) in the embedding} max(0, r(i, j) - k)
//! ```
//! where `r(i, j)` is the rank of `j` among `i`'s neighbours in the original space (1 = nearest,
//! `i` itself left out; equal distances ranked by index). Points that are near in the embedding
//! but far in the data lower it; 1 is perfect.
//!
//! The original-space distances are computed a block of rows at a time with the engine's matrix
//! multiply (`|x|² + |y|² - 2 x·y`), and each row is ranked on its own, in parallel: memory is
//! one block of rows, never the `n x n` matrix.

use super::knn::nearest;
use rayon::prelude::*;

/// Rows of the original space whose distances are computed together.
const BLOCK: usize = 256;

/// Trustworthiness with `k` neighbours of the embedding `y` (rows `dy` wide) of the points `x`
/// (rows `dx` wide); both hold the same `n` points in the same order.
///
/// # Panics
/// If the sizes disagree or `k` is not below `n / 2` (the normalisation needs `2n - 3k - 1 > 0`).
pub fn trustworthiness(x: &[f32], dx: usize, y: &[f32], dy: usize, k: usize) -> f64 {
    assert!(dx > 0 && dy > 0 && x.len().is_multiple_of(dx));
    let n = x.len() / dx;
    assert_eq!(y.len(), n * dy, "the embedding must hold the same points");
    assert!(
        k >= 1 && 2 * n > 3 * k + 1 && k < n,
        "k = {k} is too large for {n} points"
    );
    let norms: Vec<f32> = x
        .chunks_exact(dx)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let mut dots = vec![0.0f32; BLOCK * n];
    let mut penalty = 0u64;
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        // dots[r, l] = x[start + r] · x[l]
        autograd::kernels::gemm(
            rows,
            dx,
            n,
            1.0,
            &x[start * dx..],
            dx,
            1,
            x,
            1,
            dx,
            0.0,
            &mut dots,
            n,
            1,
        );
        penalty += dots[..rows * n]
            .par_chunks_mut(n)
            .enumerate()
            .map(|(r, row)| {
                let i = start + r;
                for (d, &nl) in row.iter_mut().zip(&norms) {
                    *d = norms[i] + nl - 2.0 * *d;
                }
                let q = &y[i * dy..(i + 1) * dy];
                nearest(q, y, dy, k, Some(i))
                    .into_iter()
                    .map(|j| {
                        let dj = row[j];
                        let rank = 1 + row
                            .iter()
                            .enumerate()
                            .filter(|&(l, &d)| l != i && (d < dj || (d == dj && l < j)))
                            .count();
                        rank.saturating_sub(k) as u64
                    })
                    .sum::<u64>()
            })
            .sum::<u64>();
    }
    let (n, k) = (n as f64, k as f64);
    1.0 - penalty as f64 * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

    /// The definition, as scikit-learn computes it: the full distance matrices in `f64`, every
    /// row sorted (stable, so ties go by index), an inverted index of ranks.
    fn brute(x: &[f32], dx: usize, y: &[f32], dy: usize, k: usize) -> f64 {
        let n = x.len() / dx;
        let dist = |v: &[f32], d: usize, i: usize, j: usize| -> f64 {
            (0..d)
                .map(|c| (v[i * d + c] as f64 - v[j * d + c] as f64).powi(2))
                .sum()
        };
        let mut t = 0usize;
        for i in 0..n {
            let mut order_x: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            order_x.sort_by(|&a, &b| dist(x, dx, i, a).total_cmp(&dist(x, dx, i, b)));
            let mut rank = vec![0usize; n];
            for (r, &j) in order_x.iter().enumerate() {
                rank[j] = r + 1;
            }
            let mut order_y: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            order_y.sort_by(|&a, &b| dist(y, dy, i, a).total_cmp(&dist(y, dy, i, b)));
            for &j in &order_y[..k] {
                t += rank[j].saturating_sub(k);
            }
        }
        let (n, k) = (n as f64, k as f64);
        1.0 - t as f64 * 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))
    }

    #[test]
    fn matches_the_definition() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        // Several blocks' worth of points; small integers keep every f32 distance exact.
        let (n, dx, dy) = (600, 9, 2);
        let x: Vec<f32> = (0..n * dx)
            .map(|_| rng.random_range(0..50) as f32)
            .collect();
        // A noisy projection: neither perfect nor random.
        let y: Vec<f32> = x
            .chunks(dx)
            .flat_map(|r| [r[0] + r[1] + rng.random_range(0..20) as f32, r[2] - r[3]])
            .collect();
        for k in [1, 5, 12] {
            let got = trustworthiness(&x, dx, &y, dy, k);
            let want = brute(&x, dx, &y, dy, k);
            assert!((got - want).abs() < 1e-12, "k {k}: {got} vs {want}");
            assert!(got > 0.5 && got < 0.99);
        }
    }

    #[test]
    fn an_isometry_is_perfect_and_a_shuffle_is_not() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(6);
        let x: Vec<f32> = (0..200 * 3).map(|_| rng.random::<f32>()).collect();
        let scaled: Vec<f32> = x.iter().map(|v| v * 2.0).collect();
        assert_eq!(trustworthiness(&x, 3, &scaled, 3, 5), 1.0);
        // The embedding of point i is the data of point (i + 77) mod n: unrelated neighbours.
        let y: Vec<f32> = (0..200)
            .flat_map(|i| x[((i + 77) % 200) * 3..][..3].to_vec())
            .collect();
        let t = trustworthiness(&x, 3, &y, 3, 5);
        assert!(t < 0.65, "{t}");
        assert!((t - brute(&x, 3, &y, 3, 5)).abs() < 1e-6);
    }
}
