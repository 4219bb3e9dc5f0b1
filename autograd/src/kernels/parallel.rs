//! Splitting the output into blocks for rayon.
//!
//! The output `m x n` is cut into as many rectangular blocks as rayon's
//! current pool has threads, by recursive halving (into a fixed array: no
//! heap-allocated task list), and the blocks run on hot workers
//! ([`super::team`]) or through `rayon::join`. Cuts fall on multiples of the micro-tile
//! (`mr` rows, `nr` columns) and never split `k`, so every output element is
//! computed by exactly the same sequence of operations whatever the thread
//! count: results are bitwise identical for 1, 2, ... threads.
//!
//! Each block runs the whole serial algorithm (and packs its own panels), so
//! cutting along `n` re-packs `A` in every block and cutting along `m`
//! re-packs `B`: we cut the larger of `m` and `n`, which duplicates the
//! smaller operand.

use super::layout::{MatMut, disjoint};
use super::team::{self, MAX_PIECES};

/// Below this many flops (`2 m n k`) a product runs on the calling thread.
/// Waking a sleeping rayon worker costs ~20 us on the measured machine
/// (Zen3 VM, 2 vCPUs; `rayon::join` of two 5 us halves takes 10 us, i.e. the
/// second worker never arrives in time, and two 20 us halves are parallel
/// only some of the time). So a product must take ~100 us on one core
/// (8 MFLOP at ~85 GFLOP/s) before splitting it pays: measured at
/// 32x256x512 (8.4 MFLOP: 1.8x), 32x784x512 (25.7 MFLOP: 1.6-1.85x), no gain at
/// 128^3 (4.2 MFLOP).
const PAR_MIN_FLOP: usize = 8 << 20;
/// The same threshold when the calling thread has hot workers
/// ([`super::team`]), whose regions start within a microsecond: 1 MFLOP
/// (~12 us on one core). Timed inside a pytorch-example training epoch
/// (alternate steps, one run), the 2-MFLOP products of its 20-wide latent
/// layers went from 47-62 to 33-48 us each, ~135 us less per step.
const PAR_MIN_FLOP_HOT: usize = 1 << 20;

/// Operands of at most this many floats (`k x max(m, n)`: 256 KiB) are
/// cheap to pack twice, so the cut may follow `C`'s layout instead.
const SMALL_OPERAND: usize = 64 << 10;

/// Calls `f(i0, i1, j0, j1)` for disjoint blocks covering `[0, m) x [0, n)`,
/// in parallel on rayon's current pool when the product is large enough and
/// the blocks of `c` cannot overlap in memory: on the calling thread's hot
/// workers ([`super::team`]) when it has them, through `rayon::join` otherwise.
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
    let flop = flop(m, n, k);
    let min = MinLen {
        cold: PAR_MIN_FLOP,
        hot: PAR_MIN_FLOP_HOT,
    };
    let pieces = if flop >= min.now() && disjoint(m, n, c) {
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
    if !team::try_run(count, &run) {
        join_all(0, count, &run);
    }
}

/// The flops of an `m x k` times `k x n` product (`2 m n k`, saturating).
fn flop(m: usize, n: usize, k: usize) -> usize {
    m.saturating_mul(n).saturating_mul(k).saturating_mul(2)
}

/// Rows of `C` per piece in [`for_each_row_piece`]: 8 tiles of 6 rows.
pub(crate) const PIECE_ROWS: usize = 48;

/// Like [`for_each_block`] for a product whose operands cost nothing to share between
/// pieces (the small path: `A` read in place, `B` packed once before), and tall enough:
/// on hot workers, `C` is cut into pieces of [`PIECE_ROWS`] whole rows, each claimed by
/// whichever thread is free, so that a thread slowed down for a while does fewer pieces
/// instead of the other waiting for it at the end. Otherwise, as [`for_each_block`].
pub(crate) fn for_each_row_piece<F>(
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
    debug_assert_eq!(PIECE_ROWS % mr, 0);
    let flop = flop(m, n, k);
    let tall = m > 2 * PIECE_ROWS;
    if tall
        && flop >= PAR_MIN_FLOP_HOT
        && disjoint(m, n, c)
        && try_row_pieces(m, PIECE_ROWS, &|i0, i1| f(i0, i1, 0, n))
    {
        return;
    }
    for_each_block(m, n, k, mr, nr, c, f)
}

/// On the calling thread's hot workers ([`super::team`]), calls `f(i0, i1)` for the pieces
/// of `rows` whole rows (the last one shorter) covering `0..m`, each claimed by whichever
/// thread is free, and returns true. Returns false, having run nothing, without hot workers
/// or when `m` makes a single piece: the caller then splits as it would otherwise.
pub(crate) fn try_row_pieces(m: usize, rows: usize, f: &(dyn Fn(usize, usize) + Sync)) -> bool {
    let pieces = m.div_ceil(rows);
    pieces > 1
        && team::is_hot()
        && team::try_run(pieces, &|i: usize| f(i * rows, m.min((i + 1) * rows)))
}

/// The [`MinLen`] of a product counted in rows of `C`, each row costing
/// `row_flop` flops: a product of `m` rows is split over threads (by
/// [`for_each_chunk`]) when it reaches [`for_each_block`]'s flop thresholds.
pub(crate) fn product_rows(row_flop: usize) -> MinLen {
    let rows = |flop: usize| flop.div_ceil(row_flop.max(1));
    MinLen {
        cold: rows(PAR_MIN_FLOP),
        hot: rows(PAR_MIN_FLOP_HOT),
    }
}

/// The size from which work is split over threads (flops for a product,
/// elements or rows for a loop): `cold` when its threads must be woken
/// (`rayon::join`), `hot` when the calling thread has hot workers
/// ([`super::team`]), whose regions start within a microsecond. `usize::MAX`
/// never splits.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MinLen {
    /// Threshold without hot workers.
    pub cold: usize,
    /// Threshold with hot workers.
    pub hot: usize,
}

impl MinLen {
    /// The threshold for the calling thread, which has hot workers or not.
    fn now(self) -> usize {
        if team::is_hot() { self.hot } else { self.cold }
    }
}

/// Calls `f(lo, hi)` for disjoint chunks covering `0..n`, cut on multiples of
/// `align` (16 elements, a 64-byte line, for flat buffers; 1 for rows; `MR`
/// for the rows of a product's `C`, see [`product_rows`]), in
/// parallel as [`for_each_block`] does when `n` reaches the [`MinLen`] that
/// applies (each chunk then holds at least half of it).
pub(crate) fn for_each_chunk(
    n: usize,
    min_len: MinLen,
    align: usize,
    f: &(dyn Fn(usize, usize) + Sync),
) {
    let min_len = min_len.now();
    let pieces = if n < min_len {
        1
    } else {
        rayon::current_num_threads()
            .min(n / (min_len / 2).max(1))
            .clamp(1, MAX_PIECES)
    };
    if pieces <= 1 {
        return f(0, n);
    }
    let bound = |i: usize| {
        if i == pieces {
            n
        } else {
            n * i / pieces / align * align
        }
    };
    let run = |i: usize| f(bound(i), bound(i + 1));
    if !team::try_run(pieces, &run) {
        join_all(0, pieces, &run);
    }
}

/// Runs `f(lo..hi)` by recursive halving with `rayon::join`.
fn join_all(lo: usize, hi: usize, f: &(dyn Fn(usize) + Sync)) {
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
