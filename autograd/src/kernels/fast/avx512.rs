//! AVX-512F micro-kernel (`std::arch`), 12 x 16 register tile, for CPUs that have it.
//!
//! It reads the same packed panels as the AVX2 kernel ([`super::avx2`]): a 12-row tile is two
//! consecutive 6-row `A` panels, and each 16-wide `B` panel row is one zmm register. Per `k`
//! step: one 16-wide load of `B`, twelve broadcasts of `A`, twelve `vfmadd231ps` into twelve
//! zmm accumulators: as many independent FMA chains as the AVX2 tile, each twice as wide. A
//! tile of at most 6 rows is the AVX2 tile itself.
//!
//! Every element of `C` is the same FMA chain over `k`, from zero, in the same order, as in
//! the AVX2 tile, and is stored by the same formula (`alpha·acc`, `alpha·acc + C` or
//! `alpha·acc + beta·C`, each a single rounding of the same operands), so the two kernels
//! give bitwise the same `C` (tested below). Two places use it: the route `Avx2Blocked` of
//! [`Kernel::Auto`](crate::kernels::Kernel::Auto), and the dense blocks of the weight gradients
//! an optimizer streams (`fused.rs`). `Kernel::Avx2Fma` stays AVX2. (On the no-pack path,
//! twelve rows of a strided `A` measured slower than two 6-row tiles; see the kernel log.)

use super::avx2::{Avx2, MR as MR6, NR};
use crate::kernels::blocked::{self, MicroKernel};
use crate::kernels::layout::{MatMut, MatRef};
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// How far ahead (in floats) [`tile12`] prefetches each packed `A` panel.
const PF_A: usize = 64;

/// Tile rows: two 6-row packed `A` panels.
const MR: usize = 2 * MR6;

/// The 12 x 16 AVX-512F micro-kernel, with the AVX2 kernel's packers and cache blocking.
pub(crate) struct Avx512;

impl MicroKernel for Avx512 {
    const MR: usize = MR;
    const NR: usize = NR;
    /// A multiple of 12 (and of 6): the AVX2 kernel's 144.
    const MC: usize = Avx2::MC;
    const KC: usize = Avx2::KC;
    const NC: usize = Avx2::NC;

    unsafe fn pack_a(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract. 6-row panels, so rows 12i..12i+12 are panels 2i and
        // 2i + 1, the second one zero-padded when the block ends inside it.
        unsafe { Avx2::pack_a(mc, kc, a, dst) }
    }

    unsafe fn pack_b(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
        // SAFETY: forwarded contract.
        unsafe { Avx2::pack_b(kc, nc, b, dst) }
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
        if rows <= MR6 {
            // SAFETY: forwarded contract; the first 6-row panel is a whole AVX2 panel.
            return unsafe { Avx2::tile(kc, a, b, alpha, beta, c, rows, cols) };
        }
        // SAFETY: forwarded contract: two packed 6-row panels at `a` (rows > 6), AVX-512F
        // available (the only caller, `gemm_blocked`, checks it).
        unsafe { tile12(kc, a, b, alpha, beta, c, rows, cols) }
    }
}

/// Whether this CPU has AVX-512F (and AVX2+FMA, whose tile serves the short tiles).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        super::avx2_available() && is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Blocked GEMM with the 12 x 16 tile. The caller checked [`available`] and the views.
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
    assert!(available(), "the AVX-512 kernel needs AVX-512F");
    // SAFETY: AVX-512F and AVX2+FMA detected (above); views checked by the caller.
    unsafe { blocked::gemm_blocked::<Avx512>(m, k, n, alpha, a, b, beta, c) }
}

/// One tile of 7 to 12 rows: `C <- alpha * A * B + beta * C` over two packed 6-row `A` panels
/// (`a`, `a + 6 kc`) and one packed 16-wide `B` panel.
///
/// # Safety
/// `a` points to two packed `kc x 6` panels, `b` to a packed `kc x 16` panel, `c` is writable
/// for `rows x cols` (`6 < rows <= 12`, `cols <= 16`), and AVX-512F is available.
#[allow(clippy::too_many_arguments)]
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn tile12(
    kc: usize,
    a: *const f32,
    b: *const f32,
    alpha: f32,
    beta: f32,
    c: MatMut,
    rows: usize,
    cols: usize,
) {
    // Start fetching the C tile's rows now, so that they arrive during the k loop.
    for r in 0..rows {
        let row = c.ptr.wrapping_add(r * c.rs);
        // A hint (safe here): it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(row as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add((cols - 1) * c.cs) as *const i8);
    }
    let mut acc = [_mm512_setzero_ps(); MR];
    let (mut a0, mut a1, mut bp) = (a, a.wrapping_add(kc * MR6), b);
    macro_rules! step {
        ($u:expr) => {
            // SAFETY: step p < kc of the three packed panels.
            unsafe {
                let bv = _mm512_loadu_ps(bp.add($u * NR));
                for r in 0..MR6 {
                    let x0 = _mm512_set1_ps(*a0.add($u * MR6 + r));
                    acc[r] = _mm512_fmadd_ps(x0, bv, acc[r]);
                    let x1 = _mm512_set1_ps(*a1.add($u * MR6 + r));
                    acc[MR6 + r] = _mm512_fmadd_ps(x1, bv, acc[MR6 + r]);
                }
            }
        };
    }
    // The k loop unrolled by 4, each A panel prefetched a few steps ahead, as in the AVX2
    // kernel's full-height tile.
    for _ in 0..kc / 4 {
        // Hints (safe here): they never fault, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(a0.wrapping_add(PF_A) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(a1.wrapping_add(PF_A) as *const i8);
        step!(0);
        step!(1);
        step!(2);
        step!(3);
        a0 = a0.wrapping_add(4 * MR6);
        a1 = a1.wrapping_add(4 * MR6);
        bp = bp.wrapping_add(4 * NR);
    }
    for _ in 0..kc % 4 {
        step!(0);
        a0 = a0.wrapping_add(MR6);
        a1 = a1.wrapping_add(MR6);
        bp = bp.wrapping_add(NR);
    }
    let va = _mm512_set1_ps(alpha);
    let vb = _mm512_set1_ps(beta);
    if c.cs == 1 {
        // Lanes outside the tile are neither read nor written.
        let mask: __mmask16 = if cols >= NR { !0 } else { (1u16 << cols) - 1 };
        for (r, &acc_r) in acc.iter().enumerate().take(rows) {
            // SAFETY: row r, columns 0..cols are inside the tile.
            unsafe {
                let dst = c.ptr_at(r, 0);
                let out = if beta == 0.0 {
                    _mm512_mul_ps(acc_r, va)
                } else {
                    let old = _mm512_maskz_loadu_ps(mask, dst);
                    let old = if beta == 1.0 {
                        old
                    } else {
                        _mm512_mul_ps(old, vb)
                    };
                    _mm512_fmadd_ps(acc_r, va, old)
                };
                _mm512_mask_storeu_ps(dst, mask, out);
            }
        }
        return;
    }
    let mut tile = [[0.0f32; NR]; MR];
    for (t, &acc_r) in tile.iter_mut().zip(&acc) {
        // SAFETY: t holds 16 floats.
        unsafe { _mm512_storeu_ps(t.as_mut_ptr(), acc_r) };
    }
    for (r, t) in tile.iter().enumerate().take(rows) {
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

/// Non-x86 stub (never called: [`available`] is false there).
///
/// # Safety
/// Never safe to call.
#[allow(clippy::too_many_arguments)]
#[cfg(not(target_arch = "x86_64"))]
unsafe fn tile12(
    _kc: usize,
    _a: *const f32,
    _b: *const f32,
    _alpha: f32,
    _beta: f32,
    _c: MatMut,
    _rows: usize,
    _cols: usize,
) {
    unreachable!("AVX-512 kernel called on a non-x86_64 target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::layout::{MatMut, MatRef};

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 12) as f32 / 1_048_576.0 - 0.5
            })
            .collect()
    }

    /// The 12-row tiles give bitwise the AVX2 kernel's `C`: every row count modulo 12, edge
    /// columns, `k` past one `KC` block, transposed operands, a column-major `C`, and the
    /// three store formulas (`beta` 0, 1 and other).
    #[test]
    fn the_avx512_kernel_is_the_avx2_kernel_bitwise() {
        if !available() {
            eprintln!("no AVX-512F here: nothing to compare");
            return;
        }
        for &(m, k, n) in &[
            (1, 3, 5),
            (7, 9, 16),
            (12, 64, 17),
            (13, 1, 33),
            (20, 200, 784),
            (23, 300, 31),
            (24, 257, 48),
            (150, 70, 40),
            (301, 520, 70),
        ] {
            for &(ta, tb, c_col_major) in &[
                (false, false, false),
                (true, false, false),
                (false, true, false),
                (false, false, true),
            ] {
                for &(alpha, beta) in &[(1.0f32, 0.0f32), (0.5, 1.0), (1.5, -0.75)] {
                    let a = values(m * k, 1);
                    let b = values(k * n, 2);
                    let c0 = values(m * n, 3);
                    let (rsa, csa) = if ta { (1, m) } else { (k, 1) };
                    let (rsb, csb) = if tb { (1, k) } else { (n, 1) };
                    let (rsc, csc) = if c_col_major { (1, m) } else { (n, 1) };
                    let (mut c1, mut c2) = (c0.clone(), c0.clone());
                    let run = |c: &mut Vec<f32>, wide: bool| {
                        let (av, bv) = (MatRef::new(&a, rsa, csa), MatRef::new(&b, rsb, csb));
                        let cv = MatMut::new(c, rsc, csc);
                        if wide {
                            gemm_blocked(m, k, n, alpha, av, bv, beta, cv);
                        } else {
                            super::super::avx2::gemm_blocked(m, k, n, alpha, av, bv, beta, cv);
                        }
                    };
                    run(&mut c1, true);
                    run(&mut c2, false);
                    let same = c1.iter().zip(&c2).all(|(x, y)| x.to_bits() == y.to_bits());
                    assert!(
                        same,
                        "{m}x{k}x{n} ta {ta} tb {tb} C col-major {c_col_major} alpha {alpha} beta {beta}"
                    );
                }
            }
        }
    }
}
