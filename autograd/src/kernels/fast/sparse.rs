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
        let bits = (0..panels).fold(0u32, |acc, q| {
            magnitude_bits(acc, &packed[q * w * k + p * w..][..w])
        });
        ks[kept] = p as u32;
        kept += usize::from(bits != 0);
    }
    kept
}

/// `acc` or'ed with the bits of every value of `row` but the sign: zero for `+0` and `-0`
/// only. (A fold without an early exit, which vectorises.)
fn magnitude_bits(acc: u32, row: &[f32]) -> u32 {
    row.iter().fold(acc, |acc, &x| acc | (x.to_bits() << 1))
}

/// Whether at least `1 / MIN_SHARE` of `all` rows are zero (`kept` are not).
fn enough_zero(all: usize, kept: usize) -> bool {
    all - kept >= all / MIN_SHARE
}

/// Whether enough rows are zero to leave them out: some kept, at least `1 / MIN_SHARE` not.
pub(crate) fn worth(k: usize, kept: usize) -> bool {
    kept > 0 && enough_zero(k, kept)
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

/// Rows of a packed operand that [`panel_masks`] can describe: one bit each in a `u64`.
pub(crate) const MASK_ROWS: usize = 64;

/// For each `w`-wide panel `q` of a packed operand (`k <= MASK_ROWS` rows a panel, `p`-major),
/// sets bit `p` of `masks[q]` when row `p` of that panel is not zero (`+0` and `-0` count as
/// zero). Returns whether leaving the zero rows out is worth it: at least `1 / MIN_SHARE` of
/// the rows of all panels together are zero.
pub(crate) fn panel_masks(w: usize, k: usize, packed: &[f32], masks: &mut [u64]) -> bool {
    debug_assert!(k <= MASK_ROWS);
    let mut kept = 0;
    for (q, mask) in masks.iter_mut().enumerate() {
        let panel = &packed[q * w * k..][..w * k];
        let mut m = 0u64;
        for (p, row) in panel.chunks_exact(w).enumerate() {
            m |= u64::from(magnitude_bits(0, row) != 0) << p;
        }
        *mask = m;
        kept += m.count_ones() as usize;
    }
    enough_zero(k * masks.len(), kept)
}

/// The mask with the bits of rows `0..k` set (`k <= MASK_ROWS`).
pub(crate) fn full_mask(k: usize) -> u64 {
    if k >= 64 { u64::MAX } else { (1u64 << k) - 1 }
}

/// Writes the indices of the set bits of `mask` into `ks`, lowest first; returns how many.
pub(crate) fn mask_rows(mut mask: u64, ks: &mut [u32; MASK_ROWS]) -> usize {
    let mut kept = 0;
    while mask != 0 {
        ks[kept] = mask.trailing_zeros();
        kept += 1;
        mask &= mask - 1;
    }
    kept
}
