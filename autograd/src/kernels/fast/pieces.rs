//! How the fast paths split work over threads: on the calling thread's hot workers
//! ([`super::team`]) when it has them, with lower thresholds, and in pieces of rows that the
//! threads claim as they come free. [`crate::kernels::parallel`] is the textbook split; these
//! are its additions.

use super::team;
use crate::kernels::layout::{MatMut, disjoint};
use crate::kernels::parallel::{MAX_PIECES, PAR_MIN_FLOP, flop, for_each_block, join_all};

/// [`PAR_MIN_FLOP`] when the calling thread has hot workers ([`super::team`]), whose regions
/// start within a microsecond: 1 MFLOP (~12 us on one core). Timed inside a pytorch-example
/// training epoch (alternate steps, one run), the 2-MFLOP products of its 20-wide latent
/// layers went from 47-62 to 33-48 us each, ~135 us less per step.
const PAR_MIN_FLOP_HOT: usize = 1 << 20;

/// The flops from which [`for_each_block`] splits a product on the calling thread.
pub(crate) fn min_flop() -> usize {
    MinLen {
        cold: PAR_MIN_FLOP,
        hot: PAR_MIN_FLOP_HOT,
    }
    .now()
}

/// Runs `f(0..pieces)` on the calling thread's hot workers and returns true; false, having
/// run nothing, without them.
pub(crate) fn hot_run(pieces: usize, f: &(dyn Fn(usize) + Sync)) -> bool {
    team::try_run(pieces, f)
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
