//! Splitting the output into blocks for rayon.
//!
//! The output `m x n` is cut into as many rectangular blocks as rayon's
//! current pool has threads, by recursive halving with `rayon::join` (no
//! heap-allocated task list). Cuts fall on multiples of the micro-tile
//! (`mr` rows, `nr` columns) and never split `k`, so every output element is
//! computed by exactly the same sequence of operations whatever the thread
//! count: results are bitwise identical for 1, 2, ... threads.
//!
//! Each block runs the whole serial algorithm (and packs its own panels), so
//! cutting along `n` re-packs `A` in every block and cutting along `m`
//! re-packs `B`: we cut the larger of `m` and `n`, which duplicates the
//! smaller operand.

use super::layout::{MatMut, disjoint};

/// Below this many flops (`2 m n k`) a product runs on the calling thread.
/// Waking a sleeping rayon worker costs ~20 us on the measured machine
/// (Zen3 VM, 2 vCPUs; `rayon::join` of two 5 us halves takes 10 us, i.e. the
/// second worker never arrives in time, and two 20 us halves are parallel
/// only some of the time). So a product must take ~100 us on one core
/// (8 MFLOP at ~85 GFLOP/s) before splitting it pays: measured at
/// 32x256x512 (8.4 MFLOP: 1.8x), 32x784x512 (25.7 MFLOP: 1.6-1.85x), no gain at
/// 128^3 (4.2 MFLOP).
pub(crate) const PAR_MIN_FLOP: usize = 8 << 20;

/// Calls `f(i0, i1, j0, j1)` for disjoint blocks covering `[0, m) x [0, n)`,
/// in parallel on rayon's current pool when the product is large enough and
/// the blocks of `c` cannot overlap in memory.
pub(crate) fn for_each_block<F>(
    m: usize,
    n: usize,
    k: usize,
    mr: usize,
    nr: usize,
    c: MatMut,
    f: &F,
) where
    F: Fn(usize, usize, usize, usize) + Sync,
{
    let flop = m.saturating_mul(n).saturating_mul(k).saturating_mul(2);
    let pieces = if flop >= PAR_MIN_FLOP && disjoint(m, n, c) {
        rayon::current_num_threads()
    } else {
        1
    };
    split(0, m, 0, n, pieces, mr, nr, f);
}

#[allow(clippy::too_many_arguments)]
fn split<F>(i0: usize, i1: usize, j0: usize, j1: usize, pieces: usize, mr: usize, nr: usize, f: &F)
where
    F: Fn(usize, usize, usize, usize) + Sync,
{
    let (rows, cols) = (i1 - i0, j1 - j0);
    let (row_units, col_units) = (rows.div_ceil(mr), cols.div_ceil(nr));
    if pieces <= 1 || (row_units < 2 && col_units < 2) {
        return f(i0, i1, j0, j1);
    }
    let left = pieces / 2;
    let by_rows = if rows > cols {
        row_units >= 2
    } else {
        col_units < 2
    };
    if by_rows {
        let cut = i0 + (row_units * left / pieces).max(1) * mr;
        rayon::join(
            || split(i0, cut, j0, j1, left, mr, nr, f),
            || split(cut, i1, j0, j1, pieces - left, mr, nr, f),
        );
    } else {
        let cut = j0 + (col_units * left / pieces).max(1) * nr;
        rayon::join(
            || split(i0, i1, j0, cut, left, mr, nr, f),
            || split(i0, i1, cut, j1, pieces - left, mr, nr, f),
        );
    }
}
