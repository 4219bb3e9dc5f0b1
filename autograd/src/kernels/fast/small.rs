//! The no-pack path for small and skinny products.
//!
//! Packing copies `m x k + k x n` floats per call; when the product itself is
//! only a few microseconds (or one dimension is tiny, e.g. `n = 2` or
//! `k = 2`), that copy and the zero-padding to full panels cost more than
//! they save. Here the AVX2 tile reads `A` straight through its strides (it
//! only broadcasts scalars) and `B` rows straight from memory when they are
//! contiguous (`csb == 1`). A `B` with non-unit column stride is packed once,
//! whole (no `KC` blocking: the sum over `k` runs in registers in one go).
//!
//! A packed `B` whose rows are zero in every column (at least an eighth of
//! them) is packed again without those rows, and the tiles sum over the kept
//! rows only. The VAE's first layer runs as `W·xᵀ` with `xᵀ` packed, and in a
//! batch of 32 MNIST images 41 % of the pixels are zero in every image, so
//! that product does 41 % fewer multiply-adds. It is bitwise the full sum:
//! each left-out term is `a · 0 = ±0`, which leaves a sum started from `+0`
//! as it was, for finite `a`. Each strip of `A` is checked finite first, and a
//! strip that is not sums over every row, so a NaN or an infinity still
//! meets its zero and makes the NaN it must.
//!
//! Products with `k <= 4` into a row-major `C` go to the row sweep of
//! `shallow.rs` instead (same arithmetic per element, fewer instructions
//! around it). On hot workers, tall products are cut into 48-row pieces that
//! the threads claim as they come free (`pieces::for_each_row_piece`).

use super::avx2::{MR, NR, strided_tile};
use super::pack_avx2;
use super::pieces;
use super::shallow;
use super::sparse;
use crate::kernels::blocked;
use crate::kernels::layout::{MatMut, MatRef};
use crate::kernels::pack;

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
    if k <= shallow::MAX_K && c.cs == 1 {
        // SAFETY: AVX2+FMA available, 1 <= k <= MAX_K (k == 0 never reaches a kernel), unit
        // column stride of C, views checked by the caller.
        return unsafe { shallow::gemm(m, k, n, alpha, a, b, beta, c) };
    }
    if b.cs == 1 {
        // B rows read in place: panel `j / NR` starts NR columns further.
        let panels = Panels {
            ptr: b.ptr,
            rs: b.rs,
            stride: NR,
            padded: false,
            ks: &[],
            dense: b.ptr,
            dense_stride: NR,
        };
        // SAFETY: B is valid for k x n reads (checked by `gemm_with`); unpadded
        // rows are read at columns j0 + jr .. j0 + jr + cols only (masked).
        unsafe { blocks(m, k, n, alpha, a, panels, beta, c) };
    } else {
        let len = k * n.next_multiple_of(NR);
        pack::with_buffers(len, len, |pc, pb| {
            // SAFETY: B is valid for k x n reads (checked by `gemm_with`).
            unsafe { pack_avx2::pack_b16(k, n, b, pb) };
            let panels = Panels {
                ptr: pb.as_ptr(),
                rs: NR,
                stride: NR * k,
                padded: true,
                ks: &[],
                dense: pb.as_ptr(),
                dense_stride: NR * k,
            };
            if a.cs != 1 || k < SPARSE_MIN_K {
                // SAFETY: every packed panel is k x NR, zero-padded, NR * k apart.
                return unsafe { blocks(m, k, n, alpha, a, panels, beta, c) };
            }
            sparse::with_row_list(k, |ks| {
                let kept = leave_out_zero_rows(k, n, pb, pc, ks);
                let panels = if kept > 0 {
                    Panels {
                        ptr: pc.as_ptr(),
                        stride: NR * kept,
                        ks: &ks[..kept],
                        ..panels
                    }
                } else {
                    panels
                };
                // SAFETY: the packed panels as described (the kept rows of each,
                // NR * kept apart, with the full ones in `dense`).
                unsafe { blocks(m, k, n, alpha, a, panels, beta, c) };
            });
        });
    }
}

/// From this depth on, a packed `B` is checked for zero rows (an `x` whose
/// columns are zero across the batch: the border pixels of MNIST).
const SPARSE_MIN_K: usize = 64;

/// Copies the rows of the packed `B` in `pb` (`k` rows, `ceil(n / NR)`
/// panels) that are not zero in every column into `pc`, panel by panel, and
/// their indices into `ks`; returns how many there are, or 0 when too few
/// rows are zero to be worth it. A zero row adds `a · 0 = ±0` to every sum,
/// which leaves the sum bitwise as it was, as long as `a` is finite
/// (`serial` checks that).
fn leave_out_zero_rows(k: usize, n: usize, pb: &[f32], pc: &mut [f32], ks: &mut [u32]) -> usize {
    let panels = n.div_ceil(NR);
    let kept = sparse::kept_rows(NR, k, panels, pb, ks);
    if !sparse::worth(k, kept) {
        return 0;
    }
    sparse::copy_rows(NR, k, panels, pb, &ks[..kept], pc);
    kept
}

/// The column panels of `B` as the tiles read them: panel `j / NR` starts at
/// `ptr + (j / NR) * stride`, its rows `rs` apart; with `padded`, all 16
/// floats of a row may be read (otherwise only the valid columns are).
///
/// With `ks` not empty, the panels hold only `B`'s rows `ks` (its other rows
/// are zero), and `dense` / `dense_stride` the same panels with every row, for
/// tiles whose `A` rows are not all finite.
#[derive(Clone, Copy)]
struct Panels<'a> {
    ptr: *const f32,
    rs: usize,
    stride: usize,
    padded: bool,
    ks: &'a [u32],
    dense: *const f32,
    dense_stride: usize,
}

impl Panels<'_> {
    /// Where the panel holding column `j` (a multiple of `NR`) starts.
    fn panel(self, j: usize) -> *const f32 {
        self.ptr.wrapping_add(j / NR * self.stride)
    }

    /// The panels from column `j` (a multiple of `NR`) on.
    fn from(self, j: usize) -> Self {
        Panels {
            ptr: self.panel(j),
            dense: self.dense.wrapping_add(j / NR * self.dense_stride),
            ..self
        }
    }
}

// SAFETY: only read, by tasks of one parallel region while the caller keeps `B`
// (or its packed copy) alive.
unsafe impl Sync for Panels<'_> {}

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
    pieces::for_each_row_piece(m, n, k, MR, NR, c, &|i0, i1, j0, j1| {
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
                b.from(j0),
                beta,
                c.at(i0, j0),
            )
        }
    });
}

/// Tiles over one `m x n` block, `B`'s column panels as `b` describes.
///
/// When the panels leave out `B`'s zero rows (`b.ks` not empty), each `MR`-row
/// strip of `A` (row-major, `a.cs == 1`) is checked finite first. A finite
/// strip sums over the kept rows only, bitwise the full sum (see
/// [`leave_out_zero_rows`]); a strip holding a NaN or an infinity sums over
/// every row of `b.dense`, so that `inf · 0` gives the NaN it must.
///
/// # Safety
/// AVX2+FMA available; `a` readable `m x k` (row-major when `b.ks` is not
/// empty); the panels as described; `c` writable `m x n`.
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
    if b.ks.is_empty() {
        // SAFETY: forwarded contract.
        return unsafe { tiles(m, k, n, alpha, a, b, beta, c) };
    }
    debug_assert_eq!(a.cs, 1);
    let dense = Panels {
        ptr: b.dense,
        stride: b.dense_stride,
        ks: &[],
        ..b
    };
    for ir in (0..m).step_by(MR) {
        let rows = MR.min(m - ir);
        let finite = if a.rs == k {
            // SAFETY: rows ir .. ir + rows of A, back to back.
            let strip = unsafe { std::slice::from_raw_parts(a.at(ir, 0).ptr, rows * k) };
            super::elementwise::all_finite_serial(strip)
        } else {
            (ir..ir + rows).all(|i| {
                // SAFETY: row i of A, k contiguous floats.
                let row = unsafe { std::slice::from_raw_parts(a.at(i, 0).ptr, k) };
                super::elementwise::all_finite_serial(row)
            })
        };
        let panels = if finite { b } else { dense };
        // SAFETY: forwarded contract, for the strip's rows.
        unsafe { tiles(rows, k, n, alpha, a.at(ir, 0), panels, beta, c.at(ir, 0)) };
    }
}

/// The tiles of one `m x n` block, panel by panel (summing over `b.ks` when
/// it is not empty).
///
/// # Safety
/// As [`serial`].
#[allow(clippy::too_many_arguments)]
unsafe fn tiles(
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
                    b.ks,
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
