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
/// (`dst.len() >= ceil(mc / MR) * MR * kc`, asserted).
///
/// # Safety
/// `a` must be valid for reads of every element of an `mc x kc` matrix.
pub(crate) unsafe fn pack_a<const MR: usize>(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
    // Specialise the two common layouts so the inner loop has a constant
    // stride (unit stride reads for column-major / transposed A).
    if a.cs == 1 {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_a_impl::<MR>(mc, kc, a.ptr, a.rs, 1, dst);
        }
    } else if a.rs == 1 {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_a_impl::<MR>(mc, kc, a.ptr, 1, a.cs, dst);
        }
    } else {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_a_impl::<MR>(mc, kc, a.ptr, a.rs, a.cs, dst);
        }
    }
}

/// # Safety
/// As [`pack_a`], with the view given as pointer and strides.
#[inline(always)]
unsafe fn pack_a_impl<const MR: usize>(
    mc: usize,
    kc: usize,
    a: *const f32,
    rs: usize,
    cs: usize,
    dst: &mut [f32],
) {
    assert!(dst.len() >= mc.div_ceil(MR) * MR * kc);
    let out = dst.as_mut_ptr();
    for panel in 0..mc.div_ceil(MR) {
        let i0 = panel * MR;
        let rows = MR.min(mc - i0);
        // SAFETY: the panel's kc * MR floats are inside `dst` (asserted);
        // source elements (i0 + r, p) with r < rows, p < kc are inside the
        // block the caller vouched for.
        unsafe {
            let o = out.add(panel * MR * kc);
            let src = a.add(i0 * rs);
            if rows == MR && rs == 1 {
                // Column-major / transposed A: each k step is MR contiguous.
                for p in 0..kc {
                    std::ptr::copy_nonoverlapping(src.add(p * cs), o.add(p * MR), MR);
                }
            } else if rows == MR {
                for p in 0..kc {
                    for r in 0..MR {
                        *o.add(p * MR + r) = *src.add(r * rs + p * cs);
                    }
                }
            } else {
                for p in 0..kc {
                    for r in 0..MR {
                        *o.add(p * MR + r) = if r < rows {
                            *src.add(r * rs + p * cs)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}

/// Packs the `kc x nc` block `b` into `NR`-column panels in `dst`
/// (`dst.len() >= ceil(nc / NR) * NR * kc`, asserted).
///
/// # Safety
/// `b` must be valid for reads of every element of a `kc x nc` matrix.
pub(crate) unsafe fn pack_b<const NR: usize>(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
    if b.cs == 1 {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_b_impl::<NR>(kc, nc, b.ptr, b.rs, 1, dst);
        }
    } else if b.rs == 1 {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_b_impl::<NR>(kc, nc, b.ptr, 1, b.cs, dst);
        }
    } else {
        // SAFETY: same contract, forwarded.
        unsafe {
            pack_b_impl::<NR>(kc, nc, b.ptr, b.rs, b.cs, dst);
        }
    }
}

/// How many rows ahead [`pack_b`] prefetches a row-major `B`: rows are
/// often a power-of-two stride apart, which defeats the hardware
/// prefetchers, and `B` usually comes from L3 or DRAM.
const PREFETCH_ROWS: usize = 6;

/// Panels a row-major `B` is packed into at a time (see [`pack_b`]): 4
/// write streams, well inside the 8 ways of an L1 set.
const PANEL_GROUP: usize = 4;

/// Prefetches the `len` floats at `row` into L1 (a hint: never faults).
#[inline(always)]
fn prefetch_row(row: *const f32, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..len).step_by(16) {
        // SAFETY: prefetching is a hint; it never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                row.wrapping_add(off) as *const i8,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (row, len);
}

/// # Safety
/// As [`pack_b`], with the view given as pointer and strides.
#[inline(always)]
unsafe fn pack_b_impl<const NR: usize>(
    kc: usize,
    nc: usize,
    b: *const f32,
    rs: usize,
    cs: usize,
    dst: &mut [f32],
) {
    assert!(dst.len() >= nc.div_ceil(NR) * NR * kc);
    let out = dst.as_mut_ptr();
    let full = nc / NR;
    if cs == 1 {
        // Row-major B: a group of PANEL_GROUP panels at a time, reading each
        // row's piece of the group front to back and writing one sequential
        // stream per panel. (All panels at once would write `nc / NR` streams
        // `kc * NR * 4` bytes apart, a multiple of 4 KiB, so all in one L1 set:
        // more streams than ways.)
        for g0 in (0..full).step_by(PANEL_GROUP) {
            let g1 = (g0 + PANEL_GROUP).min(full);
            for p in 0..kc {
                if p + PREFETCH_ROWS < kc {
                    let ahead = b.wrapping_add((p + PREFETCH_ROWS) * rs + g0 * NR);
                    prefetch_row(ahead, (g1 - g0) * NR);
                }
                // SAFETY: row p, columns < full * NR <= nc of the checked
                // block; writes stay in panel `panel` (kc * NR floats each) of
                // `dst` (asserted).
                unsafe {
                    let row = b.add(p * rs);
                    for panel in g0..g1 {
                        let o = out.add(panel * NR * kc + p * NR);
                        std::ptr::copy_nonoverlapping(row.add(panel * NR), o, NR);
                    }
                }
            }
        }
        let cols = nc - full * NR;
        if cols > 0 {
            for p in 0..kc {
                // SAFETY: the last, partial panel: columns full * NR .. nc of
                // row p; its kc * NR floats are inside `dst` (asserted).
                unsafe {
                    let o = out.add(full * NR * kc + p * NR);
                    std::ptr::copy_nonoverlapping(b.add(p * rs + full * NR), o, cols);
                    std::ptr::write_bytes(o.add(cols), 0, NR - cols);
                }
            }
        }
        return;
    }
    for panel in 0..nc.div_ceil(NR) {
        let j0 = panel * NR;
        let cols = NR.min(nc - j0);
        // SAFETY: the panel's kc * NR floats are inside `dst` (asserted);
        // source elements (p, j0 + j) with p < kc, j < cols are inside the
        // block the caller vouched for.
        unsafe {
            let o = out.add(panel * NR * kc);
            let src = b.add(j0 * cs);
            if cols == NR && rs == 1 {
                // Column-major / transposed B: read columns contiguously.
                for j in 0..NR {
                    let col = src.add(j * cs);
                    for p in 0..kc {
                        *o.add(p * NR + j) = *col.add(p);
                    }
                }
            } else {
                for p in 0..kc {
                    for j in 0..NR {
                        *o.add(p * NR + j) = if j < cols {
                            *src.add(p * rs + j * cs)
                        } else {
                            0.0
                        };
                    }
                }
            }
        }
    }
}
