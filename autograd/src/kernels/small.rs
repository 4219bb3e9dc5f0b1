//! The no-pack path for small and skinny products.
//!
//! Packing copies `m x k + k x n` floats per call; when the product itself is
//! only a few microseconds (or one dimension is tiny, e.g. `n = 2` or
//! `k = 2`), that copy and the zero-padding to full panels cost more than
//! they save. Here the AVX2 tile reads `A` straight through its strides (it
//! only broadcasts scalars) and `B` rows straight from memory when they are
//! contiguous (`csb == 1`). A `B` with non-unit column stride is packed once,
//! whole (no `KC` blocking: the sum over `k` runs in registers in one go).

use super::avx2::{MR, NR, strided_tile};
use super::blocked;
use super::layout::{MatMut, MatRef};
use super::pack;
use super::parallel;

/// No-pack GEMM (AVX2+FMA), or the portable blocked kernel without AVX2.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: MatRef,
    beta: f32,
    c: MatMut,
) {
    if !super::avx2_available() {
        return blocked::gemm_portable(m, k, n, alpha, a, b, beta, c);
    }
    if b.cs == 1 {
        // B rows read in place: panel `j / NR` starts NR columns further.
        let panels = Panels {
            ptr: b.ptr,
            rs: b.rs,
            stride: NR,
            padded: false,
        };
        // SAFETY: B is valid for k x n reads (checked by `gemm_with`); unpadded
        // rows are read at columns j0 + jr .. j0 + jr + cols only (masked).
        unsafe { blocks(m, k, n, alpha, a, panels, beta, c) };
    } else {
        pack::with_b_buffer(k * n.next_multiple_of(NR), |pb| {
            // SAFETY: B is valid for k x n reads (checked by `gemm_with`).
            unsafe { pack::pack_b::<NR>(k, n, b, pb) };
            let panels = Panels {
                ptr: pb.as_ptr(),
                rs: NR,
                stride: NR * k,
                padded: true,
            };
            // SAFETY: every packed panel is k x NR, zero-padded, NR * k apart.
            unsafe { blocks(m, k, n, alpha, a, panels, beta, c) };
        });
    }
}

/// The column panels of `B` as the tiles read them: panel `j / NR` starts at
/// `ptr + (j / NR) * stride`, its rows `rs` apart; with `padded`, all 16
/// floats of a row may be read (otherwise only the valid columns are).
#[derive(Clone, Copy)]
struct Panels {
    ptr: *const f32,
    rs: usize,
    stride: usize,
    padded: bool,
}

impl Panels {
    /// Where the panel holding column `j` (a multiple of `NR`) starts.
    fn panel(self, j: usize) -> *const f32 {
        self.ptr.wrapping_add(j / NR * self.stride)
    }
}

// SAFETY: only read, by tasks of one parallel region while the caller keeps `B`
// (or its packed copy) alive.
unsafe impl Sync for Panels {}

/// Runs [`serial`] over the output blocks of the parallel split.
///
/// # Safety
/// AVX2+FMA available; `a` and `c` are checked `m x k` / `m x n` views; the
/// panels are as [`Panels`] describes for the whole `k x n` of `B`.
#[allow(clippy::too_many_arguments)]
unsafe fn blocks(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: Panels,
    beta: f32,
    c: MatMut,
) {
    parallel::for_each_block(m, n, k, MR, NR, c, &|i0, i1, j0, j1| {
        // SAFETY: block [i0, i1) x [j0, j1) of the checked views, disjoint
        // from other tasks; j0 is a multiple of NR, so its first panel is
        // panel j0 / NR (the caller's contract).
        unsafe {
            serial(
                i1 - i0,
                k,
                j1 - j0,
                alpha,
                a.at(i0, 0),
                Panels {
                    ptr: b.panel(j0),
                    ..b
                },
                beta,
                c.at(i0, j0),
            )
        }
    });
}

/// Tiles over one `m x n` block, `B`'s column panels as `b` describes.
///
/// # Safety
/// AVX2+FMA available; `a` readable `m x k`; the panels as described;
/// `c` writable `m x n`.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: Panels,
    beta: f32,
    c: MatMut,
) {
    for jr in (0..n).step_by(NR) {
        let cols = NR.min(n - jr);
        let bp = b.panel(jr);
        for ir in (0..m).step_by(MR) {
            let rows = MR.min(m - ir);
            // SAFETY: forwarded contract; tile (ir, jr) + rows x cols is
            // inside the block.
            unsafe {
                strided_tile(
                    k,
                    a.at(ir, 0),
                    bp,
                    b.rs,
                    b.padded,
                    alpha,
                    beta,
                    c.at(ir, jr),
                    rows,
                    cols,
                )
            };
        }
    }
}
