//! Dot-product kernel for `A · Bᵀ`-shaped products with few rows and few
//! columns: `A` row-major (`csa == 1`) and `B` column-major (`rsb == 1`), i.e.
//! both operands store the `k` sum contiguously. This is `linear`'s forward
//! pass (`x · Wᵀ` with `W` stored `[out, in]`) into a narrow layer, where the
//! other paths would pack `Wᵀ` and pad it to 16 columns (see
//! [`route`](super::route) for when it is
//! used).
//!
//! A 4 x 3 tile of `C` keeps 12 ymm accumulators, each summing 8 lanes of one
//! dot product; per 8 `k` steps it loads 3 `B` columns and 4 `A` rows (7
//! loads) for 12 FMAs. At the end each accumulator is reduced horizontally
//! (in a fixed order), the `k % 8` tail is added with scalar FMAs, and
//! `alpha * s + beta * c` is stored. Every output element goes through
//! exactly that sequence whatever tile it falls in, so cutting the output
//! between threads never changes a bit. The three `B` columns (`3 k` floats)
//! stay in L1 while all row tiles of `A` (from L2) stream past them; `B` is
//! read once, straight from memory, without packing.

use crate::kernels::layout::{MatMut, MatRef};
use crate::kernels::parallel;

/// Tile rows (of `A` / `C`).
const DR: usize = 4;
/// Tile columns (of `B` / `C`).
const DC: usize = 3;

/// `C <- alpha * A * B + beta * C` for `A` with `cs == 1` and `B` with
/// `rs == 1`, over rayon's pool like the other kernels.
///
/// # Safety
/// Views checked by `gemm_with` with those strides, `k > 0`, AVX2+FMA
/// available.
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
    debug_assert!(a.cs == 1 && b.rs == 1);
    parallel::for_each_block(m, n, k, DR, DC, c, &|i0, i1, j0, j1| {
        for j in (j0..j1).step_by(DC) {
            let cols = DC.min(j1 - j);
            for i in (i0..i1).step_by(DR) {
                let rows = DR.min(i1 - i);
                // SAFETY: AVX2+FMA available; the tile (i, j) + rows x cols
                // lies in this task's block of the checked views.
                unsafe {
                    tile_dispatch(
                        k,
                        a.at(i, 0),
                        b.at(0, j),
                        alpha,
                        beta,
                        c.at(i, j),
                        rows,
                        cols,
                    )
                }
            }
        }
    });
}

/// Picks the const-generic tile for `rows x cols`.
///
/// # Safety
/// As [`tile`].
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_dispatch(
    k: usize,
    a: MatRef,
    b: MatRef,
    alpha: f32,
    beta: f32,
    c: MatMut,
    rows: usize,
    cols: usize,
) {
    macro_rules! go {
        ($r:literal) => {
            // SAFETY: forwarded; R == rows, C == cols.
            unsafe {
                match cols {
                    3 => tile::<$r, 3>(k, a, b, alpha, beta, c),
                    2 => tile::<$r, 2>(k, a, b, alpha, beta, c),
                    _ => tile::<$r, 1>(k, a, b, alpha, beta, c),
                }
            }
        };
    }
    match rows {
        4 => go!(4),
        3 => go!(3),
        2 => go!(2),
        _ => go!(1),
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile_dispatch(
    _k: usize,
    _a: MatRef,
    _b: MatRef,
    _alpha: f32,
    _beta: f32,
    _c: MatMut,
    _rows: usize,
    _cols: usize,
) {
    unreachable!("AVX2 kernel called on a non-x86_64 target")
}

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Horizontal sum of 8 lanes, in a fixed order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// One `R x C` tile: `C(i, j) <- alpha * dot(A row i, B column j) + beta * C(i, j)`.
///
/// # Safety
/// `a` readable for `R x k` (unit column stride), `b` for `k x C` (unit row
/// stride), `c` writable for `R x C`; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile<const R: usize, const C: usize>(
    k: usize,
    a: MatRef,
    b: MatRef,
    alpha: f32,
    beta: f32,
    c: MatMut,
) {
    let mut acc = [[_mm256_setzero_ps(); C]; R];
    let k8 = k / 8 * 8;
    let mut p = 0;
    while p < k8 {
        let mut bv = [_mm256_setzero_ps(); C];
        for (j, bj) in bv.iter_mut().enumerate() {
            // SAFETY: column j, rows p .. p + 8 <= k of B.
            *bj = unsafe { _mm256_loadu_ps(b.ptr.add(j * b.cs + p)) };
        }
        for (i, acc_i) in acc.iter_mut().enumerate() {
            // SAFETY: row i, columns p .. p + 8 <= k of A.
            let av = unsafe { _mm256_loadu_ps(a.ptr.add(i * a.rs + p)) };
            for j in 0..C {
                acc_i[j] = _mm256_fmadd_ps(av, bv[j], acc_i[j]);
            }
        }
        p += 8;
    }
    for (i, acc_i) in acc.iter().enumerate() {
        for (j, &v) in acc_i.iter().enumerate() {
            let mut s = hsum(v);
            for q in k8..k {
                // SAFETY: (i, q) of A and (q, j) of B are inside the views.
                unsafe { s = (*a.ptr.add(i * a.rs + q)).mul_add(*b.ptr.add(j * b.cs + q), s) };
            }
            // SAFETY: (i, j) is inside the tile of C.
            unsafe {
                let dst = c.ptr_at(i, j);
                *dst = if beta == 0.0 {
                    s * alpha
                } else if beta == 1.0 {
                    s.mul_add(alpha, *dst)
                } else {
                    s.mul_add(alpha, *dst * beta)
                };
            }
        }
    }
}
