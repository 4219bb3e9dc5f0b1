//! The door: which route [`Kernel::Auto`](crate::kernels::Kernel::Auto) sends a product
//! down, from its shape and strides alone (never from the thread count, so results stay
//! bitwise reproducible). [`route`] is the whole rule, one line per route, in order; each
//! constant below carries the measurement behind it (Zen3, one thread unless stated).

/// A route through the fast paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// The AVX2 no-pack path (`small.rs`, with `shallow.rs` for `k <= 4`).
    Small,
    /// The no-pack path on the transposed product `Cᵀ = Bᵀ·Aᵀ`: for a short
    /// row-major `A` times a wide column-major `B` (`x · Wᵀ` at batch 32), the
    /// big operand `W` is then read in place as the broadcast side, and only
    /// the small `x` is packed.
    SmallTransposed,
    /// The blocked kernel with the AVX2+FMA micro-kernel (`avx2.rs`), or on a CPU with
    /// AVX-512F its 12-row twin over the same packed panels (`avx512.rs`, bitwise the same
    /// result, so the route, and every value, is the same on both).
    Avx2Blocked,
    /// The portable blocked kernel of the reference build (CPU without AVX2+FMA).
    PortableBlocked,
    /// The AVX2 dot-product kernel (`dot.rs`), for few rows of `A` (`csa == 1`) times a
    /// column-major `B` (`rsb == 1`): no packing at all.
    Dot,
}

/// The route for an `m x k` times `k x n` product with strides `(rsa, csa)` for `A` and
/// `(rsb, csb)` for `B`: the first rule that matches.
///
/// | rule | route | why |
/// |---|---|---|
/// | no AVX2+FMA | `PortableBlocked` | the only kernel there is |
/// | `x·Wᵀ` into a narrow layer: `A` row-major, `B` column-major, `m <= 32`, `n <= 64`, `k >= 32` | `Dot` | reads both in place: 67 against 10 GFLOP/s at 32x512x2 (`DOT_MIN_K`); 5.4 against 8.8 us at 20x200x50 (`DOT_MAX_N`) |
/// | the same into a very wide layer (`n >= 512`) from a shallow one (`k <= 256`) | `Avx2Blocked` | `W` is small to repack: 49.5 against 66.8 us at 20x200x784 (`WIDE_N`) |
/// | the same into a wide layer (`n >= 64`, `k >= 64`) | `SmallTransposed` | `W` read in place: 89-93 against 62-76 GFLOP/s at 32x784x512 (`TRANSPOSE_MIN_N`) |
/// | tall, thin, `A` column-major: `n <= 8`, `m >= 64`, tiny | `SmallTransposed` | full 16-wide tiles: 1.5-1.7 against 5.3-5.8 us at 512x32x2 (`THIN_N`) |
/// | `B` not row-contiguous, not tiny | `Avx2Blocked` | the blocked kernel packs `B` panel by panel: 336 against 551 us at 32x512x784 (`auto_choice_for_layout`) |
/// | `B` row-major, `m <= 32`, `128 <= k <= 512`, `n >= 128` | `Avx2Blocked` | 20 against 26 us at 20x200x200 (`SQUARE_MIN`) |
/// | one 16-wide panel of `B`, or tiny, or short/narrow and not deep | `Small` | packing costs more than it saves (`use_small`) |
/// | anything else | `Avx2Blocked` | the textbook algorithm, at ~90% of the FMA peak |
pub fn route(
    m: usize,
    k: usize,
    n: usize,
    (rsa, csa): (usize, usize),
    (rsb, csb): (usize, usize),
) -> Route {
    if !super::avx2_available() {
        return Route::PortableBlocked;
    }
    let x_wt = csa == 1 && rsb == 1 && csb != 1 && m <= SMALL_MAX_M && k >= DOT_MIN_K;
    if x_wt && (rsa != 1 || m == 1) && n <= DOT_MAX_N {
        return Route::Dot;
    }
    if x_wt && rsa != 1 && n >= WIDE_N && k <= SHORT_W_K {
        return Route::Avx2Blocked;
    }
    if x_wt && rsa != 1 && n >= TRANSPOSE_MIN_N && k >= TRANSPOSE_MIN_K {
        return Route::SmallTransposed;
    }
    if rsa == 1
        && csa != 1
        && n <= THIN_N
        && m >= THIN_TRANSPOSE_MIN_M
        && volume(m, k, n) <= SMALL_MAX_VOLUME
    {
        return Route::SmallTransposed;
    }
    auto_choice_for_layout(m, k, n, csb == 1)
}

/// [`route`] for a product whose operands' strides are not known beyond whether `B`'s rows
/// are contiguous (`csb == 1`). The small path reads such rows in place; any other `B` it
/// must pack whole, and then the blocked kernel, which packs it panel by panel into
/// cache-sized blocks, is faster for all but tiny products (measured at 32x512x784 with `B`
/// column-major: 551 us small vs 336 us blocked, 1 thread).
pub(crate) fn auto_choice_for_layout(
    m: usize,
    k: usize,
    n: usize,
    b_rows_contiguous: bool,
) -> Route {
    if !super::avx2_available() {
        return Route::PortableBlocked;
    }
    let tiny = n <= TINY_N || volume(m, k, n) <= SMALL_MAX_VOLUME;
    if !b_rows_contiguous && !tiny {
        return Route::Avx2Blocked;
    }
    if b_rows_contiguous
        && m <= SMALL_MAX_M
        && k >= SQUARE_MIN
        && n >= SQUARE_MIN
        && k <= SMALL_MAX_K
    {
        return Route::Avx2Blocked;
    }
    if use_small(m, k, n) {
        Route::Small
    } else {
        Route::Avx2Blocked
    }
}

/// A short product with a row-major `B` at least this deep and wide takes the blocked
/// kernel, even within [`SMALL_MAX_K`]: `G · W` into a 200-wide layer at batch 20 (20x200x200)
/// took 20 against 26 us on the no-pack path (2 threads, timed inside an `iwae-paper`
/// training epoch).
const SQUARE_MIN: usize = 128;

/// At most this wide, a tall product with a column-major `A` (a weight
/// gradient `Gᵀ·z` into a 2-wide layer, 512x32x2) runs transposed: its
/// 16-wide tiles would hold 2 useful columns, while `zᵀ·G` fills them, reads
/// `G`'s rows in place and sums the same terms in the same order (bitwise
/// the same result): 1.5-1.7 against 5.3-5.8 us at 512x32x2 (one thread).
const THIN_N: usize = 8;
/// ... and at least this tall (four 16-wide panels once transposed).
const THIN_TRANSPOSE_MIN_M: usize = 64;

/// From this width on, a short `x · Wᵀ` runs transposed (see
/// [`Route::SmallTransposed`]): measured at 32x784x512 and 32x512x784,
/// 89-93 GFLOP/s against 62-76 for the blocked kernel, which must re-pack
/// the whole `W` (1.6 MB) on every call and wastes a third of its last
/// 6-row tile on 32 rows (1 thread, Zen3).
const TRANSPOSE_MIN_N: usize = 64;

/// ... and from this depth: shallower, the plain no-pack path is faster (20x50x200, the
/// `iwae-paper` decoder's first layer: 4.9-6.1 against 7.4-7.5 us, 2 threads, timed inside a
/// training epoch).
const TRANSPOSE_MIN_K: usize = 64;

/// At most this wide, a short `x · Wᵀ` runs as dot products (`Route::Dot`): 20x200x50 (the
/// `iwae-paper` encoder's mean and log-variance layers) took 5.4 us, against 8.8 transposed
/// and 10.1 on the no-pack path (2 threads, timed inside a training epoch).
const DOT_MAX_N: usize = 64;

/// From this width, a short `x · Wᵀ` from a shallow input (`k <= SHORT_W_K`) takes the
/// blocked kernel, whose repacking of `W` is cheap when `W` is small: the `iwae-paper`
/// decoder's output layer, 20x200x784, took 49.5 against 66.8 us transposed (2 threads,
/// timed inside a training epoch). The seed's 32x512x784 stays transposed (see
/// [`TRANSPOSE_MIN_N`]).
const WIDE_N: usize = 512;
/// See [`WIDE_N`].
const SHORT_W_K: usize = 256;

/// Shallower than this, the dot-product kernel's 8-wide `k` loop is mostly
/// its scalar tail.
const DOT_MIN_K: usize = 32;

/// The multiply-adds of an `m x k` times `k x n` product (`m k n`, saturating).
fn volume(m: usize, k: usize, n: usize) -> usize {
    m.saturating_mul(k).saturating_mul(n)
}

/// Products up to this many multiply-adds (64^3) always take the no-pack
/// path: packing both operands costs more than the product saves.
const SMALL_MAX_VOLUME: usize = 64 * 64 * 64;
/// Up to this depth, a short (`m <= SMALL_MAX_M`) or narrow
/// (`n <= SMALL_MAX_N`) product reads `B` unpacked; deeper, the `k x 16`
/// column panel of `B` no longer stays in L2 (worse with power-of-two row
/// strides, where it maps onto few cache sets) and packing wins again.
const SMALL_MAX_K: usize = 512;
/// "Short": a batch of at most 32 rows. Each packed `B` element would be
/// used only `m` times, too few to amortise packing it.
const SMALL_MAX_M: usize = 32;
/// "Narrow": at most four 16-wide `B` panels.
const SMALL_MAX_N: usize = 64;
/// At most one 16-wide panel: blocked would pad `B` to 16 columns and
/// waste most of every tile (e.g. the 2-wide latent layer).
const TINY_N: usize = 16;
/// Depth below which packing is so cheap relative to the `C` traffic that
/// the blocked kernel is a little faster on wide outputs (`k = 2` layers).
const SHALLOW_K: usize = 16;

/// The measured rule (Zen3, one thread; ratios are small-path speed over
/// blocked speed, from a grid of m in 4..256, k in 2..512, n in 2..784):
/// the no-pack path wins by 1.5-7x when `n <= 16` or `m <= 8`, by 1.1-2x
/// for `m <= 32` or `n <= 64` with `k <= 512`, and is 5-15% slower for
/// `m >= 64` with `n >= 256` and `k >= 128` (and for `k = 784, n = 512` at
/// `m = 32`, where `B`'s 2 KiB row stride thrashes L2). Shallow (`k < 16`)
/// wide products go blocked only above batch 32: at 32x2x512 the small path
/// was faster in every report (16.3-19.5 against 14.0-17.2 GFLOP/s).
fn use_small(m: usize, k: usize, n: usize) -> bool {
    if n <= TINY_N {
        return true;
    }
    if k < SHALLOW_K && m > SMALL_MAX_M && n >= 256 {
        return false;
    }
    if volume(m, k, n) <= SMALL_MAX_VOLUME {
        return true;
    }
    k <= SMALL_MAX_K && (m <= SMALL_MAX_M || n <= SMALL_MAX_N)
}
