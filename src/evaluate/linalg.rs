//! Symmetric eigendecomposition in `f64`, and what it gives: the square root of a positive
//! semi-definite matrix.
//!
//! The method is the classical one for dense symmetric matrices (EISPACK's `tred2` and `tql2`,
//! as in the public-domain JAMA library): Householder reduction to tridiagonal form, then the
//! implicit QL algorithm with Wilkinson shifts, accumulating the rotations into the
//! eigenvectors. It costs about 9n³ flops (a 784 x 784 covariance takes about a second), needs
//! no extra crate, and is tested against matrices built from a known decomposition.

/// The eigendecomposition `A = V diag(values) Vᵀ` of a symmetric matrix.
#[derive(Clone, Debug)]
pub struct SymEigen {
    /// The size `n`.
    pub n: usize,
    /// Eigenvalues, in descending order.
    pub values: Vec<f64>,
    /// Eigenvectors as rows: row `i` (`vectors[i * n..(i + 1) * n]`) belongs to `values[i]`.
    pub vectors: Vec<f64>,
}

/// Eigendecomposition of the symmetric `n x n` matrix `a` (row-major; only its lower triangle is
/// read, so a matrix symmetric up to rounding is fine).
///
/// # Panics
/// If `a.len() != n * n`.
pub fn sym_eigen(a: &[f64], n: usize) -> SymEigen {
    assert_eq!(a.len(), n * n, "sym_eigen: the matrix must be n x n");
    if n == 0 {
        return SymEigen {
            n,
            values: Vec::new(),
            vectors: Vec::new(),
        };
    }
    // v[i][j] with v row-major; the lower triangle symmetrised.
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            v[i * n + j] = a[i * n + j];
            v[j * n + i] = a[i * n + j];
        }
    }
    let mut d = vec![0.0f64; n];
    let mut e = vec![0.0f64; n];
    tred2(n, &mut v, &mut d, &mut e);
    // tql2 rotates pairs of columns of V: work on Vᵀ so that those are contiguous rows.
    let mut w = transpose(&v, n);
    tql2(n, &mut w, &mut d, &mut e);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| d[j].total_cmp(&d[i]));
    let mut vectors = Vec::with_capacity(n * n);
    for &i in &order {
        vectors.extend_from_slice(&w[i * n..(i + 1) * n]);
    }
    SymEigen {
        n,
        values: order.iter().map(|&i| d[i]).collect(),
        vectors,
    }
}

fn transpose(a: &[f64], n: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            t[j * n + i] = a[i * n + j];
        }
    }
    t
}

/// Householder reduction to tridiagonal form (JAMA's `tred2`): on return `d` is the diagonal,
/// `e[1..]` the sub-diagonal, and `v` the orthogonal transformation.
fn tred2(n: usize, v: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    let at = |i: usize, j: usize| i * n + j;
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
    }
    for i in (1..n).rev() {
        let mut scale = 0.0;
        let mut h = 0.0;
        for dk in d.iter().take(i) {
            scale += dk.abs();
        }
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
                v[at(j, i)] = 0.0;
            }
        } else {
            for dk in d.iter_mut().take(i) {
                *dk /= scale;
                h += *dk * *dk;
            }
            let mut f = d[i - 1];
            let mut g = h.sqrt();
            if f > 0.0 {
                g = -g;
            }
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for ej in e.iter_mut().take(i) {
                *ej = 0.0;
            }
            for j in 0..i {
                f = d[j];
                v[at(j, i)] = f;
                g = e[j] + v[at(j, j)] * f;
                for k in j + 1..i {
                    g += v[at(k, j)] * d[k];
                    e[k] += v[at(k, j)] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            for j in 0..i {
                f = d[j];
                g = e[j];
                for k in j..i {
                    v[at(k, j)] -= f * e[k] + g * d[k];
                }
                d[j] = v[at(i - 1, j)];
                v[at(i, j)] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[at(n - 1, i)] = v[at(i, i)];
        v[at(i, i)] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            for k in 0..=i {
                d[k] = v[at(k, i + 1)] / h;
            }
            for j in 0..=i {
                let mut g = 0.0;
                for k in 0..=i {
                    g += v[at(k, i + 1)] * v[at(k, j)];
                }
                for k in 0..=i {
                    v[at(k, j)] -= g * d[k];
                }
            }
        }
        for k in 0..=i {
            v[at(k, i + 1)] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[at(n - 1, j)];
        v[at(n - 1, j)] = 0.0;
    }
    v[at(n - 1, n - 1)] = 1.0;
    e[0] = 0.0;
}

/// The implicit QL algorithm on the tridiagonal matrix (JAMA's `tql2`). `w` holds the
/// transformation transposed (row `i` is column `i` of V); on return `d` holds the eigenvalues
/// and row `i` of `w` the eigenvector of `d[i]`.
fn tql2(n: usize, w: &mut [f64], d: &mut [f64], e: &mut [f64]) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let mut f = 0.0;
    let mut tst1: f64 = 0.0;
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            let mut iterations = 0;
            loop {
                iterations += 1;
                let mut g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let mut r = p.hypot(1.0);
                if p < 0.0 {
                    r = -r;
                }
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let mut h = g - d[l];
                for di in d.iter_mut().skip(l + 2) {
                    *di -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0, 1.0, 1.0);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0, 0.0);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    g = c * e[i];
                    h = c * p;
                    r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = w.split_at_mut((i + 1) * n);
                    let (wi, wi1) = (&mut lo[i * n..], &mut hi[..n]);
                    for (a, b) in wi.iter_mut().zip(wi1.iter_mut()) {
                        let h = *b;
                        *b = s * *a + c * h;
                        *a = c * *a - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 || iterations >= 60 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
}

/// The symmetric square root `V diag(√max(λ, 0)) Vᵀ` of a symmetric positive semi-definite
/// matrix (eigenvalues below zero, from rounding, count as zero).
pub fn sqrt_psd(a: &[f64], n: usize) -> Vec<f64> {
    let eig = sym_eigen(a, n);
    let mut out = vec![0.0; n * n];
    for (k, &lambda) in eig.values.iter().enumerate() {
        let s = lambda.max(0.0).sqrt();
        if s == 0.0 {
            continue;
        }
        let v = &eig.vectors[k * n..(k + 1) * n];
        for i in 0..n {
            let vi = s * v[i];
            if vi == 0.0 {
                continue;
            }
            for (o, &vj) in out[i * n..(i + 1) * n].iter_mut().zip(v) {
                *o += vi * vj;
            }
        }
    }
    out
}

/// `C = A B` for `n x n` row-major matrices.
pub fn matmul(a: &[f64], b: &[f64], n: usize) -> Vec<f64> {
    let mut c = vec![0.0; n * n];
    for i in 0..n {
        let ci = &mut c[i * n..(i + 1) * n];
        for k in 0..n {
            let aik = a[i * n + k];
            if aik == 0.0 {
                continue;
            }
            for (c, &b) in ci.iter_mut().zip(&b[k * n..(k + 1) * n]) {
                *c += aik * b;
            }
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng, rngs::Xoshiro256PlusPlus};

    /// A random orthogonal matrix (Gram-Schmidt on random rows).
    fn orthogonal(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut q: Vec<f64> = (0..n * n).map(|_| rng.random::<f64>() - 0.5).collect();
        for i in 0..n {
            for j in 0..i {
                let dot: f64 = (0..n).map(|k| q[i * n + k] * q[j * n + k]).sum();
                for k in 0..n {
                    q[i * n + k] -= dot * q[j * n + k];
                }
            }
            let norm = (0..n).map(|k| q[i * n + k].powi(2)).sum::<f64>().sqrt();
            for k in 0..n {
                q[i * n + k] /= norm;
            }
        }
        q
    }

    /// `Qᵀ diag(l) Q` with the rows of Q as eigenvectors.
    fn compose(q: &[f64], l: &[f64], n: usize) -> Vec<f64> {
        let mut a = vec![0.0; n * n];
        for (k, &lk) in l.iter().enumerate() {
            for i in 0..n {
                for j in 0..n {
                    a[i * n + j] += lk * q[k * n + i] * q[k * n + j];
                }
            }
        }
        a
    }

    #[test]
    fn recovers_a_known_decomposition() {
        for &n in &[1usize, 2, 3, 7, 40] {
            let q = orthogonal(n, n as u64);
            // Distinct values, some negative, one repeated pair when n allows.
            let mut l: Vec<f64> = (0..n).map(|i| 5.0 - 1.3 * i as f64).collect();
            if n > 3 {
                l[2] = l[1];
            }
            let a = compose(&q, &l, n);
            let eig = sym_eigen(&a, n);
            let mut want = l.clone();
            want.sort_by(|a, b| b.total_cmp(a));
            for (got, want) in eig.values.iter().zip(&want) {
                assert!((got - want).abs() < 1e-10, "n {n}: {got} vs {want}");
            }
            // A v = λ v and the vectors are orthonormal.
            for k in 0..n {
                let v = &eig.vectors[k * n..(k + 1) * n];
                for i in 0..n {
                    let av: f64 = (0..n).map(|j| a[i * n + j] * v[j]).sum();
                    assert!((av - eig.values[k] * v[i]).abs() < 1e-10);
                }
                for m in 0..n {
                    let dot: f64 = (0..n).map(|j| v[j] * eig.vectors[m * n + j]).sum();
                    let want = if m == k { 1.0 } else { 0.0 };
                    assert!((dot - want).abs() < 1e-10);
                }
            }
            // A distinct eigenvalue's vector is the known one, up to sign.
            let k = want.iter().position(|&x| x == l[0]).unwrap();
            let dot: f64 = (0..n).map(|j| eig.vectors[k * n + j] * q[j]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-10);
        }
    }

    #[test]
    fn zero_and_diagonal_matrices() {
        let eig = sym_eigen(&[0.0; 9], 3);
        assert!(eig.values.iter().all(|&v| v == 0.0));
        let eig = sym_eigen(&[1.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 2.0], 3);
        assert_eq!(eig.values, vec![3.0, 2.0, 1.0]);
        assert_eq!(
            eig.vectors[..3].iter().map(|x| x.abs()).collect::<Vec<_>>(),
            vec![0.0, 1.0, 0.0]
        );
    }

    #[test]
    fn square_root_squares_back() {
        let n = 12;
        let q = orthogonal(n, 9);
        let l: Vec<f64> = (0..n)
            .map(|i| if i < 3 { 0.0 } else { i as f64 * 0.7 })
            .collect();
        let a = compose(&q, &l, n);
        let r = sqrt_psd(&a, n);
        let back = matmul(&r, &r, n);
        for (x, y) in back.iter().zip(&a) {
            assert!((x - y).abs() < 1e-9);
        }
        // And it is the one with the known eigenvalues' roots.
        let want = compose(&q, &l.iter().map(|x| x.sqrt()).collect::<Vec<_>>(), n);
        for (x, y) in r.iter().zip(&want) {
            assert!((x - y).abs() < 1e-7);
        }
    }
}
