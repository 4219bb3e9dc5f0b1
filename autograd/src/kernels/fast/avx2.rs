//! AVX2+FMA micro-kernel (`std::arch`), 6 x 16 register tile.
//!
//! Per `k` step: two 8-wide loads of a `B` row, six `vbroadcastss` of an `A`
//! column, twelve `vfmadd231ps` into twelve ymm accumulators (6 rows x 2
//! vectors). Twelve independent FMA chains cover Zen3's 2 FMA pipes x 4-cycle
//! latency, and 12 + 2 + 1 of the 16 ymm registers are live. Packed tiles
//! prefetch their `C` tile before the `k` loop; full-height ones
//! ([`full_tile`]) also unroll it by 4 and prefetch the `A` panel ahead.
//!
//! The core ([`tile_core`]) reads `A` through arbitrary strides (it only
//! broadcasts scalars) and `B` rows with unit column stride, so it serves both
//! packed panels (blocked path) and unpacked operands (the small path).
//! Edge tiles use a row count specialised at compile time and masked column
//! loads/stores, so nothing outside the valid tile is read or written.

use super::pack_avx2;
use crate::kernels::blocked::{self, MicroKernel};
use crate::kernels::layout::{MatMut, MatRef};

/// Tile rows: six broadcast `A` values per `k` step.
pub(crate) const MR: usize = 6;
/// Tile columns: two ymm vectors of `B` per `k` step.
pub(crate) const NR: usize = 16;

/// The AVX2+FMA 6 x 16 micro-kernel with its cache blocking (Zen3).
pub(crate) struct Avx2;

impl MicroKernel for Avx2 {
    const MR: usize = MR;
    const NR: usize = NR;
    /// 144 x 256 x 4 B = 144 KiB packed `A` block (`ic` loop): stays in the
    /// 512 KiB L2 while every `B` micro-panel of the `jr` loop streams past.
    const MC: usize = 144;
    /// 256-deep panels (`pc` loop): a `B` micro-panel is 256 x 16 x 4 B =
    /// 16 KiB, half the 32 KiB L1d, with room for the 6 KiB `A` micro-panel.
    const KC: usize = 256;
    /// 256 x 3072 x 4 B = 3 MiB packed `B` block (`jc` loop): in the 32 MiB
    /// L3, shared by both cores.
    const NC: usize = 3072;

    unsafe fn pack_a(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract.
        unsafe { pack_avx2::pack_a6(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract.
        unsafe { pack_avx2::pack_b16(kc, nc, b, dst) }
    }

    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        alpha: f32,
        beta: f32,
        c: MatMut,
        rows: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe { packed_tile(kc, a, b, alpha, beta, c, rows, cols) }
    }
}

/// [`strided_tile`] specialised to packed panels, so that the strides are
/// compile-time constants in the inner loop.
///
/// # Safety
/// `a` / `b` point to packed `kc x MR` / `kc x NR` panels (zero-padded),
/// `c` is writable for `rows x cols`, and AVX2+FMA are available.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn packed_tile(
    kc: usize,
    a: *const f32,
    b: *const f32,
    alpha: f32,
    beta: f32,
    c: MatMut,
    rows: usize,
    cols: usize,
) {
    let a = MatRef::from_raw(a, 1, MR);
    // Start fetching the C tile now so that its lines (often a power-of-two
    // stride apart, hence conflicting in L1) arrive during the k loop.
    prefetch_c(c, rows, cols);
    // SAFETY: full NR-wide rows of the packed B panel are readable; the rest
    // is the caller's contract, with ROWS == rows.
    unsafe {
        match rows {
            6 => full_tile(kc, a.ptr, b, alpha, beta, c, cols),
            5 => tile_core::<5, 2, false, DENSE>(kc, &[], a, b, NR, alpha, beta, c, cols),
            4 => tile_core::<4, 2, false, DENSE>(kc, &[], a, b, NR, alpha, beta, c, cols),
            3 => tile_core::<3, 2, false, DENSE>(kc, &[], a, b, NR, alpha, beta, c, cols),
            2 => tile_core::<2, 2, false, DENSE>(kc, &[], a, b, NR, alpha, beta, c, cols),
            _ => tile_core::<1, 2, false, DENSE>(kc, &[], a, b, NR, alpha, beta, c, cols),
        }
    }
}

/// The full-height packed tile: the `k` loop unrolled by 4, with the `A`
/// panel prefetched a few steps ahead.
///
/// # Safety
/// `a` / `b` point to packed `kc x 6` / `kc x 16` panels, `c` is writable
/// for `6 x cols`, and AVX2+FMA are available.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn full_tile(
    kc: usize,
    a: *const f32,
    b: *const f32,
    alpha: f32,
    beta: f32,
    c: MatMut,
    cols: usize,
) {
    let mut acc = [[_mm256_setzero_ps(); 2]; MR];
    let (mut ap, mut bp) = (a, b);
    macro_rules! step {
        ($u:expr) => {
            // SAFETY: step p < kc of both packed panels.
            unsafe {
                let b0 = _mm256_loadu_ps(bp.add($u * NR));
                let b1 = _mm256_loadu_ps(bp.add($u * NR + 8));
                for (r, acc_r) in acc.iter_mut().enumerate() {
                    let av = _mm256_broadcast_ss(&*ap.add($u * MR + r));
                    acc_r[0] = _mm256_fmadd_ps(av, b0, acc_r[0]);
                    acc_r[1] = _mm256_fmadd_ps(av, b1, acc_r[1]);
                }
            }
        };
    }
    for _ in 0..kc / 4 {
        // A hint (safe here): it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(PF_A) as *const i8);
        step!(0);
        step!(1);
        step!(2);
        step!(3);
        ap = ap.wrapping_add(4 * MR);
        bp = bp.wrapping_add(4 * NR);
    }
    for _ in 0..kc % 4 {
        step!(0);
        ap = ap.wrapping_add(MR);
        bp = bp.wrapping_add(NR);
    }
    if cols == NR && c.cs == 1 && (beta == 0.0 || beta == 1.0) {
        // The common case, straight-line with the accumulators in registers:
        // the generic `store` costs ~5% of a 1024 product in branches.
        let va = _mm256_set1_ps(alpha);
        for (r, acc_r) in acc.iter().enumerate() {
            // SAFETY: row r, columns 0..16 are inside the tile (caller
            // contract, cols == 16, unit column stride).
            unsafe {
                let dst = c.ptr_at(r, 0);
                if beta == 0.0 {
                    _mm256_storeu_ps(dst, _mm256_mul_ps(acc_r[0], va));
                    _mm256_storeu_ps(dst.add(8), _mm256_mul_ps(acc_r[1], va));
                } else {
                    let (c0, c1) = (_mm256_loadu_ps(dst), _mm256_loadu_ps(dst.add(8)));
                    _mm256_storeu_ps(dst, _mm256_fmadd_ps(acc_r[0], va, c0));
                    _mm256_storeu_ps(dst.add(8), _mm256_fmadd_ps(acc_r[1], va, c1));
                }
            }
        }
        return;
    }
    let mut masks = [_mm256_setzero_si256(); 2];
    for (v, m) in masks.iter_mut().enumerate() {
        // SAFETY: AVX2 is available (caller contract).
        *m = unsafe { lane_mask(cols.saturating_sub(8 * v).min(8)) };
    }
    // SAFETY: forwarded contract.
    unsafe { store::<MR, 2>(acc, masks, alpha, beta, c, cols) }
}

/// How far ahead (in floats) [`full_tile`] prefetches the packed `A` panel.
const PF_A: usize = 64;

/// Prefetches the first and last line of each of the `rows` rows of the
/// `C` tile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn prefetch_c(c: MatMut, rows: usize, cols: usize) {
    for r in 0..rows {
        let row = c.ptr.wrapping_add(r * c.rs);
        // A hint (safe here): it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add((cols - 1) * c.cs) as *const i8);
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
unsafe fn packed_tile(
    _kc: usize,
    _a: *const f32,
    _b: *const f32,
    _alpha: f32,
    _beta: f32,
    _c: MatMut,
    _rows: usize,
    _cols: usize,
) {
    unreachable!("AVX2 kernel called on a non-x86_64 target")
}

/// Blocked GEMM with the AVX2 micro-kernel, or the portable one if the CPU
/// lacks AVX2/FMA.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_blocked(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    if super::avx2_available() {
        // SAFETY: AVX2+FMA detected; views checked by `gemm_with`.
        unsafe { blocked::gemm_blocked::<Avx2>(m, k, n, alpha, a, b, beta, c) }
    } else {
        blocked::gemm_portable(m, k, n, alpha, a, b, beta, c)
    }
}

/// One `rows x cols` tile (`rows <= 6`, `cols <= 16`):
/// `C <- alpha * A * B + beta * C` with `A` read as `a(i, p)` through its
/// strides and `B` row `p` at `b + p * rsb` (unit column stride).
/// With `b_padded`, all 16 (or 8 when `cols <= 8`) floats of each `B` row
/// may be read; otherwise only the first `cols` are (masked loads).
///
/// With `ks` not empty, the sum runs over `p` in `ks` only (its length
/// replaces `k`), `B` row `t` (at `b + t * rsb`) standing for row `ks[t]`:
/// a `B` whose zero rows were left out (see `small.rs`).
///
/// # Safety
/// `a` readable for `rows x k` (every `ks[t] < k`), `b` as described, `c`
/// writable for `rows x cols`, and the CPU supports AVX2 and FMA.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn strided_tile(
    k: usize,
    ks: &[u32],
    a: MatRef,
    b: *const f32,
    rsb: usize,
    b_padded: bool,
    alpha: f32,
    beta: f32,
    c: MatMut,
    rows: usize,
    cols: usize,
) {
    debug_assert!((1..=MR).contains(&rows) && (1..=NR).contains(&cols));
    macro_rules! go {
        ($nv:literal, $masked:literal, $ix:ident) => {
            // SAFETY: forwarded contract; ROWS == rows.
            unsafe {
                match rows {
                    6 => tile_core::<6, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                    5 => tile_core::<5, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                    4 => tile_core::<4, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                    3 => tile_core::<3, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                    2 => tile_core::<2, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                    _ => tile_core::<1, $nv, $masked, $ix>(k, ks, a, b, rsb, alpha, beta, c, cols),
                }
            }
        };
    }
    match (
        cols <= 8,
        b_padded || cols.is_multiple_of(8),
        !ks.is_empty(),
    ) {
        (false, true, false) => go!(2, false, DENSE),
        (false, false, false) => go!(2, true, DENSE),
        (true, true, false) => go!(1, false, DENSE),
        (true, false, false) => go!(1, true, DENSE),
        (false, true, true) => go!(2, false, A_INDEXED),
        (false, false, true) => go!(2, true, A_INDEXED),
        (true, true, true) => go!(1, false, A_INDEXED),
        (true, false, true) => go!(1, true, A_INDEXED),
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn strided_tile(
    _k: usize,
    _ks: &[u32],
    _a: MatRef,
    _b: *const f32,
    _rsb: usize,
    _b_padded: bool,
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

/// Lane mask with the first `valid` (0..=8) lanes set.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn lane_mask(valid: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(valid as i32), idx)
}

/// [`tile_core`] sums over every `p` in `0..k`.
const DENSE: u8 = 0;
/// [`tile_core`] sums over `p` in `ks`, `B` row `t` standing for row `ks[t]`.
const A_INDEXED: u8 = 1;
/// [`tile_core`] sums over `p` in `ks`, reading row `ks[t]` of both operands.
const BOTH_INDEXED: u8 = 2;

/// One tile of packed panels summed over the rows `ks` only (`alpha` 1,
/// `beta` 0): `C <- Σ_{p in ks} A[:, p] B[p, :]`, in the order of `ks`.
///
/// # Safety
/// `a` / `b` point to packed `k x MR` / `k x NR` panels (full rows readable)
/// with every `ks[t] < k`; `ks` is not empty; `c` is writable for
/// `rows x cols` (`rows <= MR`, `cols <= NR`); AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn indexed_tile(
    ks: &[u32],
    a: *const f32,
    b: *const f32,
    c: MatMut,
    rows: usize,
    cols: usize,
) {
    debug_assert!(!ks.is_empty() && (1..=MR).contains(&rows) && (1..=NR).contains(&cols));
    let a = MatRef::from_raw(a, 1, MR);
    let k = ks.len();
    // SAFETY: forwarded contract, with ROWS == rows.
    unsafe {
        match rows {
            6 => tile_core::<6, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
            5 => tile_core::<5, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
            4 => tile_core::<4, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
            3 => tile_core::<3, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
            2 => tile_core::<2, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
            _ => tile_core::<1, 2, false, BOTH_INDEXED>(k, ks, a, b, NR, 1.0, 0.0, c, cols),
        }
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) unsafe fn indexed_tile(
    _ks: &[u32],
    _a: *const f32,
    _b: *const f32,
    _c: MatMut,
    _rows: usize,
    _cols: usize,
) {
    unreachable!("AVX2 kernel called on a non-x86_64 target")
}

/// The register tile: `ROWS x (8 * NV)` accumulators; `MASKED` loads only
/// the first `cols` floats of each `B` row; `IX` says which rows are summed:
/// all of `0..k` ([`DENSE`]), or `p` in `ks` only, reading `B` row `t` for
/// it ([`A_INDEXED`], a compacted `B`) or `B` row `ks[t]` ([`BOTH_INDEXED`]).
///
/// # Safety
/// As [`strided_tile`], with `rows == ROWS` and `cols <= 8 * NV`.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tile_core<const ROWS: usize, const NV: usize, const MASKED: bool, const IX: u8>(
    k: usize,
    ks: &[u32],
    a: MatRef,
    b: *const f32,
    rsb: usize,
    alpha: f32,
    beta: f32,
    c: MatMut,
    cols: usize,
) {
    let mut masks = [_mm256_setzero_si256(); NV];
    for (v, m) in masks.iter_mut().enumerate() {
        // SAFETY: AVX2 is available (caller contract).
        *m = unsafe { lane_mask(cols.saturating_sub(8 * v).min(8)) };
    }
    let mut acc = [[_mm256_setzero_ps(); NV]; ROWS];
    let (mut ap, mut bp) = (a.ptr, b);
    let steps = if IX == DENSE { k } else { ks.len() };
    for t in 0..steps {
        if IX != DENSE {
            // `A` column ks[t] (< k, the caller's contract).
            // SAFETY: t < ks.len().
            let p = unsafe { *ks.get_unchecked(t) } as usize;
            ap = a.ptr.wrapping_add(p * a.cs);
            if IX == BOTH_INDEXED {
                bp = b.wrapping_add(p * rsb);
            }
        }
        let mut bv = [_mm256_setzero_ps(); NV];
        for v in 0..NV {
            // SAFETY: row p of B has 8 * NV readable floats (padded) or the
            // masked-off lanes are not accessed.
            bv[v] = unsafe {
                if MASKED {
                    _mm256_maskload_ps(bp.add(8 * v), masks[v])
                } else {
                    _mm256_loadu_ps(bp.add(8 * v))
                }
            };
        }
        for (r, acc_r) in acc.iter_mut().enumerate() {
            // SAFETY: (r, p) is inside the rows x k view of A.
            let av = _mm256_set1_ps(unsafe { *ap.add(r * a.rs) });
            for v in 0..NV {
                acc_r[v] = _mm256_fmadd_ps(av, bv[v], acc_r[v]);
            }
        }
        // Wrapping: the final increment may point past the data; it is never
        // dereferenced.
        ap = ap.wrapping_add(a.cs);
        bp = bp.wrapping_add(rsb);
    }
    if cols == 8 * NV && c.cs == 1 && (beta == 0.0 || beta == 1.0) {
        // Full rows of a row-major `C`, straight-line as in `full_tile`: the
        // out-of-line `store` costs more than a shallow tile's whole `k` loop
        // (5.7 against 1.6 us for 32x2x512). Same roundings as `store`.
        let va = _mm256_set1_ps(alpha);
        for (r, acc_r) in acc.iter().enumerate() {
            for (v, &x) in acc_r.iter().enumerate() {
                // SAFETY: row r, columns 8v .. 8v + 8 are inside the tile
                // (cols == 8 * NV, unit column stride).
                unsafe {
                    let dst = c.ptr_at(r, 8 * v);
                    let out = if beta == 0.0 {
                        _mm256_mul_ps(x, va)
                    } else {
                        _mm256_fmadd_ps(x, va, _mm256_loadu_ps(dst))
                    };
                    _mm256_storeu_ps(dst, out);
                }
            }
        }
        return;
    }
    // SAFETY: forwarded contract.
    unsafe { store::<ROWS, NV>(acc, masks, alpha, beta, c, cols) }
}

/// Writes `alpha * acc + beta * C` (`alpha * acc` when `beta == 0`, without
/// reading `C`) to the valid `ROWS x cols` part of the tile. Every path
/// computes `fma(acc, alpha, beta * c)`, so the rounding is the same whatever
/// the layout of `C` or the position of the tile.
///
/// # Safety
/// `c` writable for `ROWS x cols`; AVX2+FMA available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store<const ROWS: usize, const NV: usize>(
    acc: [[__m256; NV]; ROWS],
    masks: [__m256i; NV],
    alpha: f32,
    beta: f32,
    c: MatMut,
    cols: usize,
) {
    let va = _mm256_set1_ps(alpha);
    let vb = _mm256_set1_ps(beta);
    if c.cs == 1 {
        for (r, acc_r) in acc.iter().enumerate() {
            for v in 0..NV {
                let valid = cols.saturating_sub(8 * v).min(8);
                if valid == 0 {
                    continue;
                }
                // SAFETY: row r, columns 8v .. 8v + valid are inside the tile;
                // masked lanes are neither read nor written.
                unsafe {
                    let dst = c.ptr_at(r, 8 * v);
                    let full = valid == 8;
                    let out = if beta == 0.0 {
                        _mm256_mul_ps(acc_r[v], va)
                    } else {
                        let old = if full {
                            _mm256_loadu_ps(dst)
                        } else {
                            _mm256_maskload_ps(dst, masks[v])
                        };
                        let old = if beta == 1.0 {
                            old
                        } else {
                            _mm256_mul_ps(old, vb)
                        };
                        _mm256_fmadd_ps(acc_r[v], va, old)
                    };
                    if full {
                        _mm256_storeu_ps(dst, out)
                    } else {
                        _mm256_maskstore_ps(dst, masks[v], out)
                    }
                }
            }
        }
    } else {
        let mut tile = [[0.0f32; 16]; ROWS];
        for (t, acc_r) in tile.iter_mut().zip(&acc) {
            for (v, &x) in acc_r.iter().enumerate() {
                // SAFETY: t has 16 >= 8 * NV floats.
                unsafe { _mm256_storeu_ps(t.as_mut_ptr().add(8 * v), x) };
            }
        }
        for (r, t) in tile.iter().enumerate() {
            for (j, &x) in t.iter().enumerate().take(cols) {
                // SAFETY: (r, j) inside the tile.
                unsafe {
                    let dst = c.ptr_at(r, j);
                    *dst = if beta == 0.0 {
                        x * alpha
                    } else if beta == 1.0 {
                        x.mul_add(alpha, *dst)
                    } else {
                        x.mul_add(alpha, *dst * beta)
                    };
                }
            }
        }
    }
}
