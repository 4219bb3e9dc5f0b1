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
        // SAFETY: B is valid for k x n reads (checked by `gemm_with`); unpadded
        // rows are read at columns j0 + jr .. j0 + jr + cols only (masked).
        unsafe { blocks(m, k, n, alpha, a, b.ptr, b.rs, NR, false, beta, c) };
    } else {
        pack::with_b_buffer(k * n.next_multiple_of(NR), |pb| {
            // SAFETY: B is valid for k x n reads (checked by `gemm_with`).
            unsafe { pack::pack_b::<NR>(k, n, b, pb) };
            // SAFETY: every packed panel is k x NR, zero-padded, NR * k apart.
            unsafe { blocks(m, k, n, alpha, a, pb.as_ptr(), NR, NR * k, true, beta, c) };
        });
    }
}

/// Runs [`serial`] over the output blocks of the parallel split, `B` panel
/// `j / NR` starting at `b + (j / NR) * panel_stride`.
///
/// # Safety
/// AVX2+FMA available; `a` and `c` are checked `m x k` / `m x n` views; the
/// panels are as [`serial`] describes for the whole `k x n` of `B`.
#[allow(clippy::too_many_arguments)]
unsafe fn blocks(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: *const f32,
    rsb: usize,
    panel_stride: usize,
    b_padded: bool,
    beta: f32,
    c: MatMut,
) {
    // A view of the panels with unit column stride: "column" `j / NR * panel_stride`
    // is where panel `j / NR` starts.
    let panels = MatRef::from_raw(b, panel_stride, 1);
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
                panels.at(0, j0 / NR * panel_stride).ptr,
                rsb,
                panel_stride,
                b_padded,
                beta,
                c.at(i0, j0),
            )
        }
    });
}

/// Tiles over one `m x n` block: `B` column panel `jr / NR` starts at
/// `b + (jr / NR) * panel_stride`, its rows `rsb` apart.
///
/// # Safety
/// AVX2+FMA available; `a` readable `m x k`; the panels as described
/// (readable 16 wide per row when `b_padded`); `c` writable `m x n`.
#[allow(clippy::too_many_arguments)]
unsafe fn serial(
    m: usize,
    k: usize,
    n: usize,
    alpha: f32,
    a: MatRef,
    b: *const f32,
    rsb: usize,
    panel_stride: usize,
    b_padded: bool,
    beta: f32,
    c: MatMut,
) {
    for jr in (0..n).step_by(NR) {
        let cols = NR.min(n - jr);
        let bp = b.wrapping_add(jr / NR * panel_stride);
        for ir in (0..m).step_by(MR) {
            let rows = MR.min(m - ir);
            // SAFETY: forwarded contract; tile (ir, jr) + rows x cols is
            // inside the block.
            unsafe {
                strided_tile(
                    k,
                    a.at(ir, 0),
                    bp,
                    rsb,
                    b_padded,
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
