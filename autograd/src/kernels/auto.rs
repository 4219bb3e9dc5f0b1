//! What [`Kernel::Auto`](super::Kernel::Auto) runs for a given shape.

/// The implementation [`Kernel::Auto`](super::Kernel::Auto) picks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AutoChoice {
    /// The AVX2 no-pack path ([`gemm_small`](super::gemm_small)).
    Small,
    /// The no-pack path on the transposed product `Cᵀ = Bᵀ·Aᵀ`: for a short
    /// row-major `A` times a wide column-major `B` (`x · Wᵀ` at batch 32), the
    /// big operand `W` is then read in place as the broadcast side, and only
    /// the small `x` is packed.
    SmallTransposed,
    /// The blocked kernel with the AVX2+FMA micro-kernel.
    Avx2Blocked,
    /// The portable blocked kernel (CPU without AVX2+FMA).
    PortableBlocked,
    /// The AVX2 dot-product kernel, for few rows of `A` (`csa == 1`) times a
    /// column-major `B` (`rsb == 1`): no packing at all.
    Dot,
}

/// The choice [`Kernel::Auto`](super::Kernel::Auto) makes for an
/// `m x k` times `k x n` product on this CPU. Depends only on the shape
/// (never on the thread count), so results stay bitwise reproducible.
pub fn auto_choice(m: usize, k: usize, n: usize) -> AutoChoice {
    auto_choice_for_layout(m, k, n, true)
}

/// [`auto_choice`] knowing whether `B`'s rows are contiguous (`csb == 1`). The small path
/// reads such rows in place; any other `B` it must pack whole, and then the blocked kernel,
/// which packs it panel by panel into cache-sized blocks, is faster for all but tiny products
/// (measured at 32x512x784 with `B` column-major: 551 us small vs 336 us blocked, 1 thread).
pub fn auto_choice_for_layout(m: usize, k: usize, n: usize, b_rows_contiguous: bool) -> AutoChoice {
    if !super::avx2_available() {
        return AutoChoice::PortableBlocked;
    }
    let tiny = n <= TINY_N || volume(m, k, n) <= SMALL_MAX_VOLUME;
    if !b_rows_contiguous && !tiny {
        return AutoChoice::Avx2Blocked;
    }
    if use_small(m, k, n) {
        AutoChoice::Small
    } else {
        AutoChoice::Avx2Blocked
    }
}

/// [`auto_choice_for_layout`] knowing all the strides of `A` and `B`: a short
/// (`m <= 32`), narrow (`n <= 16`) product of a row-major `A` and a
/// column-major `B` (`x · Wᵀ` into a small layer, e.g. the 2-wide latent
/// heads) at depth `k >= 32` takes the dot-product kernel, which reads both
/// operands in place: 67 GFLOP/s at 32x512x2 against 10 for the small path,
/// which must pack (and pad to 16 columns) the whole `B`. On wide outputs
/// (`n >= 64`, e.g. 32x784x512) the product runs transposed instead
/// ([`AutoChoice::SmallTransposed`]); the dot kernel would re-read all of `A`
/// from L2 for every three columns of `B`.
pub fn auto_choice_for_strides(
    m: usize,
    k: usize,
    n: usize,
    (rsa, csa): (usize, usize),
    (rsb, csb): (usize, usize),
) -> AutoChoice {
    if super::avx2_available()
        && csa == 1
        && rsb == 1
        && csb != 1
        && (rsa != 1 || m == 1)
        && m <= SMALL_MAX_M
        && k >= DOT_MIN_K
        && n <= TINY_N
    {
        return AutoChoice::Dot;
    }
    if super::avx2_available()
        && csa == 1
        && rsb == 1
        && csb != 1
        && rsa != 1
        && m <= SMALL_MAX_M
        && n >= TRANSPOSE_MIN_N
        && k >= DOT_MIN_K
    {
        return AutoChoice::SmallTransposed;
    }
    if super::avx2_available()
        && rsa == 1
        && csa != 1
        && n <= THIN_N
        && m >= THIN_TRANSPOSE_MIN_M
        && volume(m, k, n) <= SMALL_MAX_VOLUME
    {
        return AutoChoice::SmallTransposed;
    }
    auto_choice_for_layout(m, k, n, csb == 1)
}

/// At most this wide, a tall product with a column-major `A` (a weight
/// gradient `Gᵀ·z` into a 2-wide layer, 512x32x2) runs transposed: its
/// 16-wide tiles would hold 2 useful columns, while `zᵀ·G` fills them, reads
/// `G`'s rows in place and sums the same terms in the same order (bitwise
/// the same result): 8.0 against 1.2 us at 512x32x2.
const THIN_N: usize = 8;
/// ... and at least this tall (four 16-wide panels once transposed).
const THIN_TRANSPOSE_MIN_M: usize = 64;

/// From this width on, a short `x · Wᵀ` runs transposed (see
/// [`AutoChoice::SmallTransposed`]): measured at 32x784x512 and 32x512x784,
/// 89-93 GFLOP/s against 62-76 for the blocked kernel, which must re-pack
/// the whole `W` (1.6 MB) on every call and wastes a third of its last
/// 6-row tile on 32 rows (1 thread, Zen3).
const TRANSPOSE_MIN_N: usize = 64;

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
