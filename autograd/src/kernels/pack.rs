//! Packing of `A` and `B` blocks into contiguous micro-panels, and the
//! reusable (thread-local, 64-byte aligned) buffers they are packed into.
//!
//! Packed `A` (an `mc x kc` block): `ceil(mc / MR)` panels, each `kc x MR`
//! stored `p`-major (`panel[p * MR + r]`), rows past `mc` zero-filled.
//! Packed `B` (a `kc x nc` block): `ceil(nc / NR)` panels, each `kc x NR`
//! stored `p`-major (`panel[p * NR + j]`), columns past `nc` zero-filled.
//! The micro-kernel then streams both with unit stride.

use std::cell::Cell;

use super::layout::MatRef;

/// Alignment of packed buffers, in `f32`s (64 bytes: a cache line, and a
/// multiple of the 32-byte ymm width).
const ALIGN_F32: usize = 16;

/// Smallest size of a packing buffer, in floats (1 MiB): every packed block
/// of the VAE's products fits, whichever thread packs it.
const MIN_BUFFER: usize = 1 << 18;

thread_local! {
    static BUF_A: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
    static BUF_B: Cell<Vec<f32>> = const { Cell::new(Vec::new()) };
}

/// A 64-byte aligned window of `len` elements inside `v`, growing `v` if
/// needed (growth happens only until the largest shape has been seen).
///
/// A buffer starts at [`MIN_BUFFER`] and grows to powers of two, so that
/// which thread happens to run which piece of a product (hot workers claim
/// pieces dynamically) almost never triggers a late allocation.
pub(crate) fn aligned(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len + ALIGN_F32 {
        let want = (len + ALIGN_F32).next_power_of_two().max(MIN_BUFFER);
        v.resize(want, 0.0);
    }
    let off = v.as_ptr().align_offset(ALIGN_F32 * 4).min(ALIGN_F32);
    &mut v[off..off + len]
}

/// Runs `f` with this thread's packing buffers for `A` (`a_len` elements)
/// and `B` (`b_len`). The buffers are taken out of the thread-local cells
/// for the duration (so a re-entrant call just gets fresh ones) and put
/// back afterwards, so steady-state calls do not allocate.
pub(crate) fn with_buffers<R>(
    a_len: usize,
    b_len: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> R,
) -> R {
    let mut va = BUF_A.take();
    let mut vb = BUF_B.take();
    let r = f(aligned(&mut va, a_len), aligned(&mut vb, b_len));
    BUF_A.set(va);
    BUF_B.set(vb);
    r
}

/// Packs the `mc x kc` block `a` into `MR`-row panels in `dst`
/// (`dst.len() >= ceil(mc / MR) * MR * kc`, asserted): panel `q` holds rows
/// `q MR .. q MR + MR`, stored `p`-major (`panel[p * MR + r]`), rows past `mc` zero.
///
/// # Safety
/// `a` must be valid for reads of every element of an `mc x kc` matrix.
pub(crate) unsafe fn pack_a<const MR: usize>(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
    assert!(dst.len() >= mc.div_ceil(MR) * MR * kc);
    for (q, panel) in dst
        .chunks_exact_mut(MR * kc)
        .take(mc.div_ceil(MR))
        .enumerate()
    {
        for p in 0..kc {
            for r in 0..MR {
                let i = q * MR + r;
                // SAFETY: (i, p) is inside the `mc x kc` block the caller vouched for.
                panel[p * MR + r] = if i < mc { unsafe { a.get(i, p) } } else { 0.0 };
            }
        }
    }
}

/// Packs the `kc x nc` block `b` into `NR`-column panels in `dst`
/// (`dst.len() >= ceil(nc / NR) * NR * kc`, asserted): panel `q` holds columns
/// `q NR .. q NR + NR`, stored `p`-major (`panel[p * NR + j]`), columns past `nc` zero.
///
/// # Safety
/// `b` must be valid for reads of every element of a `kc x nc` matrix.
pub(crate) unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
    assert!(dst.len() >= nc.div_ceil(NR) * NR * kc);
    for (q, panel) in dst
        .chunks_exact_mut(NR * kc)
        .take(nc.div_ceil(NR))
        .enumerate()
    {
        for p in 0..kc {
            for j in 0..NR {
                let col = q * NR + j;
                // SAFETY: (p, col) is inside the `kc x nc` block the caller vouched for.
                panel[p * NR + j] = if col < nc {
                    unsafe { b.get(p, col) }
                } else {
                    0.0
                };
            }
        }
    }
}
