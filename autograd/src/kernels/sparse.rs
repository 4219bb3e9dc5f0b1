//! Leaving zero rows out of packed operands.
//!
//! A packed operand is `panels` panels of `w` floats by `k` rows (`p`-major: row `p` of panel
//! `q` at `q * w * k + p * w`, see `pack.rs`). When a row `p` is zero in every panel, each
//! product term `a · 0` it brings is `±0`, and adding `±0` leaves a sum that started from
//! `+0` bitwise as it was, provided the other factor `a` is finite. The no-pack path then
//! packs the kept rows again, back to back, and runs a shallower product (the first layer of
//! the VAE: 41 % of a batch of 32 MNIST images' pixels are zero in every image).

use std::cell::Cell;

/// Rows are left out when at least `1 / MIN_SHARE` of them are zero.
pub(crate) const MIN_SHARE: usize = 8;

thread_local! {
    /// The kept rows of a packed operand, reused.
    static ROWS: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with this thread's row list, `k` entries long (grown once, then reused).
pub(crate) fn with_row_list<R>(k: usize, f: impl FnOnce(&mut [u32]) -> R) -> R {
    let mut v = ROWS.take();
    if v.len() < k {
        v.resize(k.next_power_of_two(), 0);
    }
    let r = f(&mut v[..k]);
    ROWS.set(v);
    r
}

/// Writes the rows of `packed` that are not zero in every panel into `ks` (in order) and
/// returns how many there are; `+0` and `-0` both count as zero.
pub(crate) fn kept_rows(
    w: usize,
    k: usize,
    panels: usize,
    packed: &[f32],
    ks: &mut [u32],
) -> usize {
    let mut kept = 0;
    for p in 0..k {
        // The bits of every value but the sign: zero for +0 and -0 only. (Folds without an
        // early exit, which vectorise.)
        let bits = (0..panels).fold(0u32, |acc, q| {
            packed[q * w * k + p * w..][..w]
                .iter()
                .fold(acc, |acc, &x| acc | (x.to_bits() << 1))
        });
        ks[kept] = p as u32;
        kept += usize::from(bits != 0);
    }
    kept
}

/// Whether enough rows are zero to leave them out: some kept, at least `1 / MIN_SHARE` not.
pub(crate) fn worth(k: usize, kept: usize) -> bool {
    kept > 0 && k - kept >= k / MIN_SHARE
}

/// Copies rows `ks` of `packed` (`k` rows a panel) into `dst`, panel by panel, back to back.
pub(crate) fn copy_rows(
    w: usize,
    k: usize,
    panels: usize,
    packed: &[f32],
    ks: &[u32],
    dst: &mut [f32],
) {
    let kept = ks.len();
    for q in 0..panels {
        for (t, &p) in ks.iter().enumerate() {
            let src = &packed[q * w * k + p as usize * w..][..w];
            dst[q * w * kept + t * w..][..w].copy_from_slice(src);
        }
    }
}

/// Per-panel form of [`kept_rows`] and [`copy_rows`], for a packed operand whose zero rows
/// differ from panel to panel (the `x` of a weight gradient `Gᵀ·x`: a 16-pixel stretch is
/// blank in some images and not in others). For each panel `q`, the rows not zero in that
/// panel go to `lists[q * k..][..counts[q]]` (in order) and are copied back to back into
/// `dst` at the panel's own offset `q * w * k`. Returns the total of kept rows; nothing is
/// copied (and the lists are not to be used) when that total is not at least `1 / MIN_SHARE`
/// short of `k * panels`.
pub(crate) fn compact_panels(
    w: usize,
    k: usize,
    panels: usize,
    packed: &[f32],
    lists: &mut [u32],
    counts: &mut [u32],
    dst: &mut [f32],
) -> usize {
    let mut total = 0;
    for q in 0..panels {
        let panel = &packed[q * w * k..][..w * k];
        let list = &mut lists[q * k..][..k];
        let mut kept = 0;
        for (p, row) in panel.chunks_exact(w).enumerate() {
            let bits = row.iter().fold(0u32, |acc, &x| acc | (x.to_bits() << 1));
            list[kept] = p as u32;
            kept += usize::from(bits != 0);
        }
        counts[q] = kept as u32;
        total += kept;
    }
    if !worth(k * panels, total) {
        return total;
    }
    for q in 0..panels {
        let kept = counts[q] as usize;
        let (src, out) = (&packed[q * w * k..], &mut dst[q * w * k..]);
        for (t, &p) in lists[q * k..][..kept].iter().enumerate() {
            out[t * w..][..w].copy_from_slice(&src[p as usize * w..][..w]);
        }
    }
    total
}
