//! Shallow products (`k <= 4`) into a row-major `C`: the decoder's first layer `z · Wᵀ` from
//! a 2-wide latent, and the gradient a 2-wide layer sends back to its input (`G · W`), both
//! 32x2x512 in the VAE.
//!
//! There the 6x16 tiles of the small path spend more on their set-up and on loading and
//! storing `C` than on the two multiply-adds of each element (5.7 us for 32x2x512). Here each
//! row of `C` is swept 8 floats at a time against the `k` rows of `B`, the `k` values of the
//! row of `A` held in registers.
//!
//! Every element goes through the same operations as in a tile: a fused multiply-add chain
//! from `+0` over `p = 0..k` in order, then `alpha · acc` (`beta = 0`) or
//! `fma(acc, alpha, beta · c)`; so the result is bitwise the small path's, on any number of
//! threads (the rows are split between them, never the sums).

use super::pieces;
use crate::kernels::layout::{MatMut, MatRef};
use crate::kernels::pack;

/// The deepest product this path takes.
pub(crate) const MAX_K: usize = 4;

/// `C <- alpha A B + beta C` for `1 <= k <= MAX_K` and `c.cs == 1`, on AVX2+FMA.
///
/// # Safety
/// AVX2+FMA available; the views are checked `m x k`, `k x n`, `m x n` (`gemm_with`), with
/// `1 <= k <= MAX_K` and `c.cs == 1`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    debug_assert!((1..=MAX_K).contains(&k) && c.cs == 1);
    let run = |b: MatRef| {
        pieces::for_each_chunk(m, pieces::product_rows(2 * k * n), 1, &|i0, i1| {
            for i in i0..i1 {
                // SAFETY: row i of the checked views (i < m); AVX2+FMA (the caller's contract).
                unsafe { row(k, n, alpha, a.at(i, 0), b, beta, c.at(i, 0)) };
            }
        });
    };
    if b.cs == 1 {
        return run(b);
    }
    // A strided B is copied row-major first (k x n floats: a few KiB).
    pack::with_buffers(0, k * n, |_, rows| {
        for p in 0..k {
            for (j, x) in rows[p * n..][..n].iter_mut().enumerate() {
                // SAFETY: (p, j) lies inside the checked k x n view of B.
                *x = unsafe { b.get(p, j) };
            }
        }
        run(MatRef::from_raw(rows.as_ptr(), n, 1));
    });
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// One row of `C` (`1 x n`, unit stride) from one row of `A` (`1 x k`, any stride) and `B`
/// (`k x n`, unit column stride).
///
/// # Safety
/// As [`gemm`], for a single row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn row(k: usize, n: usize, alpha: f32, a: MatRef, b: MatRef, beta: f32, c: MatMut) {
    // SAFETY (all arms): the caller's contract, with K == k.
    unsafe {
        match (k, beta) {
            (1, 0.0) => row_k::<1, BETA_ZERO>(n, alpha, a, b, beta, c),
            (1, 1.0) => row_k::<1, BETA_ONE>(n, alpha, a, b, beta, c),
            (1, _) => row_k::<1, BETA_ANY>(n, alpha, a, b, beta, c),
            (2, 0.0) => row_k::<2, BETA_ZERO>(n, alpha, a, b, beta, c),
            (2, 1.0) => row_k::<2, BETA_ONE>(n, alpha, a, b, beta, c),
            (2, _) => row_k::<2, BETA_ANY>(n, alpha, a, b, beta, c),
            (3, 0.0) => row_k::<3, BETA_ZERO>(n, alpha, a, b, beta, c),
            (3, 1.0) => row_k::<3, BETA_ONE>(n, alpha, a, b, beta, c),
            (3, _) => row_k::<3, BETA_ANY>(n, alpha, a, b, beta, c),
            (_, 0.0) => row_k::<4, BETA_ZERO>(n, alpha, a, b, beta, c),
            (_, 1.0) => row_k::<4, BETA_ONE>(n, alpha, a, b, beta, c),
            (_, _) => row_k::<4, BETA_ANY>(n, alpha, a, b, beta, c),
        }
    }
}

/// `C` is written without being read.
const BETA_ZERO: u8 = 0;
/// `C` is added to.
const BETA_ONE: u8 = 1;
/// `C` is scaled by `beta` and added to.
const BETA_ANY: u8 = 2;

/// [`row`] for `k == K`, the handling of `beta` fixed at compile time: the `k` sum unrolled
/// and no branch in the sweep.
///
/// # Safety
/// As [`row`], with `k == K`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn row_k<const K: usize, const BETA: u8>(
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    let mut av = [_mm256_setzero_ps(); K];
    for (p, v) in av.iter_mut().enumerate() {
        // SAFETY: (0, p) with p < k is inside the row of A.
        *v = _mm256_set1_ps(unsafe { a.get(0, p) });
    }
    let (va, vb) = (_mm256_set1_ps(alpha), _mm256_set1_ps(beta));
    // Full vectors, then a masked tail. (No closures here: they would not inherit the
    // target features, and every intrinsic would become a call.)
    macro_rules! sweep {
        ($j:expr, $load:ident, $store:ident $(, $mask:expr)?) => {{
            let j = $j;
            let mut acc = _mm256_setzero_ps();
            for (p, &ap) in av.iter().enumerate() {
                acc = _mm256_fmadd_ps(ap, $load(b.ptr.add(p * b.rs + j) $(, $mask)?), acc);
            }
            let dst = c.ptr_at(0, j);
            let out = match BETA {
                BETA_ZERO => _mm256_mul_ps(acc, va),
                BETA_ONE => _mm256_fmadd_ps(acc, va, $load(dst $(, $mask)?)),
                _ => _mm256_fmadd_ps(acc, va, _mm256_mul_ps($load(dst $(, $mask)?), vb)),
            };
            $store(dst $(, $mask)?, out);
        }};
    }
    let full = n / 8 * 8;
    for j in (0..full).step_by(8) {
        // SAFETY: columns j .. j + 8 of row p of B and of the row of C are inside the views.
        unsafe { sweep!(j, _mm256_loadu_ps, _mm256_storeu_ps) };
    }
    if full < n {
        let mask = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((n - full) as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        // SAFETY: columns full .. n are inside the views; the lanes past n are masked off
        // (neither read nor written).
        unsafe { sweep!(full, _mm256_maskload_ps, _mm256_maskstore_ps, mask) };
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn row(_k: usize, _n: usize, _alpha: f32, _a: MatRef, _b: MatRef, _beta: f32, _c: MatMut) {
    unreachable!("AVX2 kernel called on a non-x86_64 target")
}
