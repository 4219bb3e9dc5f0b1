//! Splitting the output into blocks for rayon.
//!
//! The output `m x n` is cut into as many rectangular blocks as rayon's
//! current pool has threads, by recursive halving (into a fixed array: no
//! heap-allocated task list), and the blocks run through `rayon::join` (in the
//! `fast` build, on the calling thread's hot workers when it has them: see
//! [`hot_run`]). Cuts fall on multiples of the micro-tile
//! (`mr` rows, `nr` columns) and never split `k`, so every output element is
//! computed by exactly the same sequence of operations whatever the thread
//! count: results are bitwise identical for 1, 2, ... threads.
//!
//! Each block runs the whole serial algorithm (and packs its own panels), so
//! cutting along `n` re-packs `A` in every block and cutting along `m`
//! re-packs `B`: we cut the larger of `m` and `n`, which duplicates the
//! smaller operand.

use super::layout::{MatMut, disjoint};

/// The most blocks a product is cut into.
pub(crate) const MAX_PIECES: usize = 64;

/// Below this many flops (`2 m n k`) a product runs on the calling thread.
/// Waking a sleeping rayon worker costs ~20 us on the measured machine
/// (Zen3 VM, 2 vCPUs; `rayon::join` of two 5 us halves takes 10 us, i.e. the
/// second worker never arrives in time, and two 20 us halves are parallel
/// only some of the time). So a product must take ~100 us on one core
/// (8 MFLOP at ~85 GFLOP/s) before splitting it pays: measured at
/// 32x256x512 (8.4 MFLOP: 1.8x), 32x784x512 (25.7 MFLOP: 1.6-1.85x), no gain at
/// 128^3 (4.2 MFLOP).
pub(crate) const PAR_MIN_FLOP: usize = 8 << 20;

/// Operands of at most this many floats (`k x max(m, n)`: 256 KiB) are
/// cheap to pack twice, so the cut may follow `C`'s layout instead.
const SMALL_OPERAND: usize = 64 << 10;

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
    let pieces = if flop(m, n, k) >= min_flop() && disjoint(m, n, c) {
        rayon::current_num_threads().min(MAX_PIECES)
    } else {
        1
    };
    if pieces <= 1 {
        return f(0, m, 0, n);
    }
    let mut blocks = [(0, 0, 0, 0); MAX_PIECES];
    // When both operands are small (shallow `k`, e.g. the weight gradients
    // `Gᵀ·X` at batch 32), duplicating either costs nothing, and cutting
    // across C's rows (or columns, for a column-major C) gives each thread
    // one contiguous range of C to write.
    let along = (k.saturating_mul(m.max(n)) <= SMALL_OPERAND).then_some(c.rs >= c.cs);
    let count = cut((0, m, 0, n), pieces, (mr, nr), along, &mut blocks, 0);
    let blocks = &blocks[..count];
    let run = |i: usize| {
        let (i0, i1, j0, j1) = blocks[i];
        f(i0, i1, j0, j1)
    };
    if !hot_run(count, &run) {
        join_all(0, count, &run);
    }
}

// The one place the `fast` build's thread team plugs into the textbook split: a lower
// threshold and hot workers when the calling thread has them (`fast/pieces.rs`).
#[cfg(feature = "fast")]
use super::fast::pieces::{hot_run, min_flop};

/// The flops from which a product is split ([`PAR_MIN_FLOP`]).
#[cfg(not(feature = "fast"))]
fn min_flop() -> usize {
    PAR_MIN_FLOP
}

/// Runs the pieces on hot workers, which the reference build has none of: runs nothing.
#[cfg(not(feature = "fast"))]
fn hot_run(_pieces: usize, _f: &(dyn Fn(usize) + Sync)) -> bool {
    false
}

/// The flops of an `m x k` times `k x n` product (`2 m n k`, saturating).
pub(crate) fn flop(m: usize, n: usize, k: usize) -> usize {
    m.saturating_mul(n).saturating_mul(k).saturating_mul(2)
}

/// Runs `f(lo..hi)` by recursive halving with `rayon::join`.
pub(crate) fn join_all(lo: usize, hi: usize, f: &(dyn Fn(usize) + Sync)) {
    if hi - lo == 1 {
        return f(lo);
    }
    let mid = lo + (hi - lo) / 2;
    rayon::join(|| join_all(lo, mid, f), || join_all(mid, hi, f));
}

/// An output block `(i0, i1, j0, j1)`: rows `i0..i1`, columns `j0..j1`.
type Block = (usize, usize, usize, usize);

/// Appends to `out` (from `at`) the blocks of `block` cut into `pieces` by
/// recursive halving on tile multiples (`mr` rows, `nr` columns): along the
/// rows when `along_rows` says so (and there are two tiles to cut between),
/// otherwise along the longer side. Returns the new count.
fn cut(
    (i0, i1, j0, j1): Block,
    pieces: usize,
    (mr, nr): (usize, usize),
    along_rows: Option<bool>,
    out: &mut [Block; MAX_PIECES],
    at: usize,
) -> usize {
    let (rows, cols) = (i1 - i0, j1 - j0);
    let (row_units, col_units) = (rows.div_ceil(mr), cols.div_ceil(nr));
    if pieces <= 1 || (row_units < 2 && col_units < 2) {
        out[at] = (i0, i1, j0, j1);
        return at + 1;
    }
    let left = pieces / 2;
    let by_rows = match along_rows {
        Some(true) if row_units >= 2 => true,
        Some(false) if col_units >= 2 => false,
        _ if rows > cols => row_units >= 2,
        _ => col_units < 2,
    };
    let (first, second) = if by_rows {
        let mid = i0 + (row_units * left / pieces).max(1) * mr;
        ((i0, mid, j0, j1), (mid, i1, j0, j1))
    } else {
        let mid = j0 + (col_units * left / pieces).max(1) * nr;
        ((i0, i1, j0, mid), (i0, i1, mid, j1))
    };
    let at = cut(first, left, (mr, nr), along_rows, out, at);
    cut(second, pieces - left, (mr, nr), along_rows, out, at)
}
