//! Goto/BLIS blocked GEMM driver, generic over the register micro-kernel.
//!
//! ```text
//! for jc in 0..n step NC            // B block kc x nc   -> L3
//!   for pc in 0..k step KC          // pack B[pc.., jc..] into NR-wide panels
//!     for ic in 0..m step MC        // pack A[ic.., pc..] into MR-tall panels -> L2
//!       for jr in 0..nc step NR     // one B micro-panel (kc x NR)           -> L1
//!         for ir in 0..mc step MR   // one A micro-panel (MR x kc)
//!           micro-kernel: C[MR x NR] (+)= A-panel * B-panel
//! ```
//!
//! Only `KC` cuts the `k` sum, and it depends on `k` alone, so the rounding
//! of every output element is independent of the thread split.

use super::layout::{MatMut, MatRef};
use super::pack::with_buffers;
use super::parallel;
use super::portable::Portable;

/// A register-blocked micro-kernel plus the cache blocking that feeds it.
pub(crate) trait MicroKernel {
    /// Rows of the register tile (height of a packed `A` panel).
    const MR: usize;
    /// Columns of the register tile (width of a packed `B` panel).
    const NR: usize;
    /// Rows of the packed `A` block (`ic` loop); `MC x KC` targets L2.
    const MC: usize;
    /// Depth of packed panels (`pc` loop); `KC x NR` targets L1.
    const KC: usize;
    /// Columns of the packed `B` block (`jc` loop); `KC x NC` targets L3.
    const NC: usize;

    /// Packs an `mc x kc` block of `A` into `MR`-tall panels
    /// (see [`super::pack::pack_a`]).
    ///
    /// # Safety
    /// `a` is valid for `mc x kc` reads.
    unsafe fn pack_a(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]);

    /// Packs a `kc x nc` block of `B` into `NR`-wide panels
    /// (see [`super::pack::pack_b`]).
    ///
    /// # Safety
    /// `b` is valid for `kc x nc` reads.
    unsafe fn pack_b(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]);

    /// `C[rows x cols] <- alpha * Apanel * Bpanel + beta * C` for one tile,
    /// where the panels are packed `kc x MR` / `kc x NR` (p-major).
    /// Must not read `C` when `beta == 0`.
    ///
    /// # Safety
    /// `a` / `b` point to `kc * MR` / `kc * NR` readable floats, `c` is valid
    /// for `rows x cols` (`rows <= MR`, `cols <= NR`) writes through its
    /// strides, and the CPU supports the kernel's target features.
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile(
        kc: usize,
        a: *const f32,
        b: *const f32,
        alpha: f32,
        beta: f32,
        c: MatMut,
        rows: usize,
        cols: usize,
    );
}

/// Size of the packed `B` block when `m <= MC` (a single `ic` iteration):
/// 192 KiB, so that it stays in the 512 KiB L2 next to the `A` block.
const SHORT_B_BYTES: usize = 192 << 10;

/// The `pc`-loop block depth for a given `k`: at most `kc_max`, and balanced
/// so the last block is not a sliver. Depends only on `k`.
pub(crate) fn kc_for(k: usize, kc_max: usize) -> usize {
    k.div_ceil(k.div_ceil(kc_max))
}

/// Portable blocked GEMM (always available).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_portable(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    // SAFETY: the portable kernel needs no CPU features; the views were
    // checked by `gemm_with`.
    unsafe { gemm_blocked::<Portable>(m, k, n, alpha, a, b, beta, c) }
}

/// Blocked GEMM with micro-kernel `K`, split into output blocks over rayon.
///
/// # Safety
/// The views are valid for `m x k`, `k x n`, `m x n` (checked by
/// `gemm_with`), `k > 0`, and the CPU supports `K`'s target features.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_blocked<K: MicroKernel>(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    parallel::for_each_block(m, n, k, K::MR, K::NR, c, &|i0, i1, j0, j1| {
        // SAFETY: [i0, i1) x [j0, j1) is a block of the checked m x n output,
        // disjoint from every other task's block.
        unsafe {
            gemm_serial::<K>(
                i1 - i0,
                k,
                j1 - j0,
                alpha,
                a.at(i0, 0),
                b.at(0, j0),
                beta,
                c.at(i0, j0),
            )
        }
    });
}

/// One thread's Goto loops over an `m x n` output block.
///
/// # Safety
/// As [`gemm_blocked`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_serial<K: MicroKernel>(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    debug_assert!(k > 0 && m > 0 && n > 0);
    let kc_max = kc_for(k, K::KC);
    // With a single `ic` block the packed B block is used only once, so
    // there is no point keeping a big one in L3: cut `n` so it stays in L2.
    let nc_blk = if m <= K::MC {
        (SHORT_B_BYTES / 4 / kc_max / K::NR).max(1) * K::NR
    } else {
        K::NC
    };
    let mc_max = K::MC.min(m.next_multiple_of(K::MR));
    let nc_max = nc_blk.min(n.next_multiple_of(K::NR));
    if m <= K::MC {
        // A single `ic` block: make `pc` the outer loop so each `A` block is
        // packed once, not once per `jc` block. Every output element still
        // receives the `pc` blocks in increasing order, so the rounding is
        // that of the general loop order below.
        with_buffers(mc_max * kc_max, nc_max * kc_max, |pa, pb| {
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let beta = if pc == 0 { beta } else { 1.0 };
                // SAFETY: (0, pc) + m x kc is inside the checked A.
                unsafe { K::pack_a(m, kc, a.at(0, pc), pa) };
                for jc in (0..n).step_by(nc_blk) {
                    let nc = nc_blk.min(n - jc);
                    // SAFETY: (pc, jc) + kc x nc is inside the checked B.
                    unsafe { K::pack_b(kc, nc, b.at(pc, jc), pb) };
                    for jr in (0..nc).step_by(K::NR) {
                        let bp = pb[jr * kc..].as_ptr();
                        // SAFETY: forwarded; tile origin inside this block.
                        unsafe {
                            row_of_tiles::<K>(
                                m,
                                kc,
                                pa,
                                bp,
                                alpha,
                                beta,
                                c.at(0, jc + jr),
                                K::NR.min(nc - jr),
                            )
                        };
                    }
                }
            }
        });
        return;
    }
    with_buffers(mc_max * kc_max, nc_max * kc_max, |pa, pb| {
        for jc in (0..n).step_by(nc_blk) {
            let nc = nc_blk.min(n - jc);
            for pc in (0..k).step_by(kc_max) {
                let kc = kc_max.min(k - pc);
                let beta = if pc == 0 { beta } else { 1.0 };
                // SAFETY: (pc, jc) + kc x nc is inside the checked B.
                unsafe { K::pack_b(kc, nc, b.at(pc, jc), pb) };
                for ic in (0..m).step_by(K::MC) {
                    let mc = K::MC.min(m - ic);
                    // SAFETY: (ic, pc) + mc x kc is inside the checked A.
                    unsafe { K::pack_a(mc, kc, a.at(ic, pc), pa) };
                    for jr in (0..nc).step_by(K::NR) {
                        let bp = pb[jr * kc..].as_ptr();
                        // SAFETY: forwarded; tile origin inside this block.
                        unsafe {
                            row_of_tiles::<K>(
                                mc,
                                kc,
                                pa,
                                bp,
                                alpha,
                                beta,
                                c.at(ic, jc + jr),
                                K::NR.min(nc - jr),
                            )
                        };
                    }
                }
            }
        }
    });
}

/// The `ir` loop: all `MR`-row tiles of a packed `A` block against one packed
/// `B` micro-panel, writing the `mc x cols` strip of `C` at `c`.
///
/// # Safety
/// `pa` holds `ceil(mc / MR)` packed panels of depth `kc`, `bp` one packed
/// `B` panel of depth `kc`, `c` is writable for `mc x cols`, and the CPU
/// supports `K`'s features.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn row_of_tiles<K: MicroKernel>(
    mc: usize,
    kc: usize,
    pa: &[f32],
    bp: *const f32,
    alpha: f32,
    beta: f32,
    c: MatMut,
    cols: usize,
) {
    for ir in (0..mc).step_by(K::MR) {
        let rows = K::MR.min(mc - ir);
        // SAFETY: panel ir / MR of `pa`; tile (ir, 0) + rows x cols of `c`.
        unsafe {
            K::tile(
                kc,
                pa[ir * kc..].as_ptr(),
                bp,
                alpha,
                beta,
                c.at(ir, 0),
                rows,
                cols,
            )
        };
    }
}
