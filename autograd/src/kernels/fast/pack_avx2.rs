//! The AVX2 packers of the AVX2 micro-kernel ([`super::avx2`]): the same packed layouts as
//! the plain [`crate::kernels::pack`] (so any packer may fill a panel the kernel reads), with
//! two layouts that the plain element-by-element copy handles slowly transposed in registers.

use crate::kernels::layout::MatRef;

/// Packs the `mc x kc` block `a` into 6-row panels like [`pack_a`](crate::kernels::pack::pack_a), the full panels of
/// a row-major `A` by 8 x 8 register transposes ([`pack_a_rowmajor6`]).
///
/// # Safety
/// As [`pack_a`](crate::kernels::pack::pack_a); AVX2 available.
pub(crate) unsafe fn pack_a6(mc: usize, kc: usize, a: MatRef, dst: &mut [f32]) {
    const MR: usize = 6;
    let full = if a.cs == 1 && a.rs != 1 { mc / MR } else { 0 };
    assert!(dst.len() >= mc.div_ceil(MR) * MR * kc);
    for panel in 0..full {
        // SAFETY: rows panel * 6 .. + 6 < mc of the block the caller vouched for; the panel's
        // 6 * kc floats are inside `dst` (asserted); AVX2 is the caller's promise.
        unsafe {
            let src = a.ptr.add(panel * MR * a.rs);
            pack_a_rowmajor6(kc, src, a.rs, dst.as_mut_ptr().add(panel * MR * kc));
        }
    }
    if full * MR < mc {
        // SAFETY: the rows left are inside the caller's block; their panels follow the full
        // ones in `dst`.
        unsafe {
            pack_a_strided::<MR>(
                mc - full * MR,
                kc,
                a.at(full * MR, 0),
                &mut dst[full * MR * kc..],
            )
        }
    }
}

/// Packs the `kc x nc` block `b` into 16-wide panels like [`pack_b`](crate::kernels::pack::pack_b), a column-major
/// `B` by 8 x 8 register transposes ([`pack_b_colmajor16`]).
///
/// # Safety
/// As [`pack_b`](crate::kernels::pack::pack_b); AVX2 available.
pub(crate) unsafe fn pack_b16(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if b.rs == 1 && b.cs != 1 {
        // SAFETY: same contract; AVX2 is the caller's promise.
        unsafe { pack_b_colmajor16(kc, nc, b.ptr, b.cs, dst) };
        return;
    }
    // SAFETY: same contract, forwarded.
    unsafe { pack_b_strided::<16>(kc, nc, b, dst) }
}

/// [`pack_a`](crate::kernels::pack::pack_a) with the two common layouts specialised, so the inner loop has a
/// constant stride (unit-stride reads for a column-major / transposed `A`).
///
/// # Safety
/// `a` must be valid for reads of every element of an `mc x kc` matrix.
pub(crate) unsafe fn pack_a_strided<const MR: usize>(
    mc: usize,
    kc: usize,
    a: MatRef,
    dst: &mut [f32],
) {
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
/// As [`pack_a_strided`], with the view given as pointer and strides.
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

/// [`pack_b`](crate::kernels::pack::pack_b) with the common layouts specialised; a row-major `B` is packed a group
/// of panels at a time, with the rows ahead prefetched.
///
/// # Safety
/// `b` must be valid for reads of every element of a `kc x nc` matrix.
pub(crate) unsafe fn pack_b_strided<const NR: usize>(
    kc: usize,
    nc: usize,
    b: MatRef,
    dst: &mut [f32],
) {
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

/// How many rows ahead [`pack_b_strided`] prefetches a row-major `B`: rows are
/// often a power-of-two stride apart, which defeats the hardware
/// prefetchers, and `B` usually comes from L3 or DRAM.
const PREFETCH_ROWS: usize = 6;

/// Panels a row-major `B` is packed into at a time (see [`pack_b_strided`]): 4
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
/// As [`pack_b_strided`], with the view given as pointer and strides.
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

/// [`pack_b_strided`] for a column-major `B` (`rs == 1`, columns `cs` apart) into
/// 16-wide panels: each group of 8 `k` steps of 16 columns is two 8 x 8
/// blocks, loaded as 16 contiguous 8-float column pieces (16 sequential
/// streams, prefetcher-friendly) and transposed in registers with the
/// unpack / shuffle / permute2f128 ladder, then stored as 8 full 16-float
/// panel rows. The scalar gather it replaces wrote one float per 64-byte
/// panel row. A last partial panel and `k` steps past a multiple of 8 are
/// copied element by element.
///
/// # Safety
/// As [`pack_b`](crate::kernels::pack::pack_b) with `b` column-major (`b.add(p + j * cs)` readable for
/// `p < kc`, `j < nc`); AVX2 available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_b_colmajor16(kc: usize, nc: usize, b: *const f32, cs: usize, dst: &mut [f32]) {
    use std::arch::x86_64::*;
    const NR: usize = 16;
    assert!(dst.len() >= nc.div_ceil(NR) * NR * kc);
    let out = dst.as_mut_ptr();
    let full = nc / NR;
    let k8 = kc / 8 * 8;
    for panel in 0..full {
        // SAFETY: columns j0 .. j0 + 16 < nc, rows < kc of the checked
        // block; the panel's kc * 16 floats are inside `dst` (asserted).
        unsafe {
            let o = out.add(panel * NR * kc);
            let src = b.add(panel * NR * cs);
            for p in (0..k8).step_by(8) {
                for half in 0..2 {
                    let c = src.add(half * 8 * cs + p);
                    let rows = std::array::from_fn(|j| _mm256_loadu_ps(c.add(j * cs)));
                    let cols = transpose8x8(rows);
                    let d = o.add(p * NR + half * 8);
                    for (i, col) in cols.into_iter().enumerate() {
                        _mm256_storeu_ps(d.add(i * NR), col);
                    }
                }
            }
            for p in k8..kc {
                for j in 0..NR {
                    *o.add(p * NR + j) = *src.add(j * cs + p);
                }
            }
        }
    }
    if full * NR < nc {
        let j0 = full * NR;
        let cols = nc - j0;
        // SAFETY: as above, for the last (partial) panel; columns past `nc`
        // are zero-filled, never read.
        unsafe {
            let o = out.add(full * NR * kc);
            let src = b.add(j0 * cs);
            for p in 0..kc {
                for j in 0..NR {
                    *o.add(p * NR + j) = if j < cols { *src.add(j * cs + p) } else { 0.0 };
                }
            }
        }
    }
}

/// Transposes the 8 x 8 block held in `r` (row `i` in `r[i]`): returns its
/// columns, with the unpack / shuffle / permute2f128 ladder.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn transpose8x8(r: [std::arch::x86_64::__m256; 8]) -> [std::arch::x86_64::__m256; 8] {
    use std::arch::x86_64::*;
    let t0 = _mm256_unpacklo_ps(r[0], r[1]);
    let t1 = _mm256_unpackhi_ps(r[0], r[1]);
    let t2 = _mm256_unpacklo_ps(r[2], r[3]);
    let t3 = _mm256_unpackhi_ps(r[2], r[3]);
    let t4 = _mm256_unpacklo_ps(r[4], r[5]);
    let t5 = _mm256_unpackhi_ps(r[4], r[5]);
    let t6 = _mm256_unpacklo_ps(r[6], r[7]);
    let t7 = _mm256_unpackhi_ps(r[6], r[7]);
    let s0 = _mm256_shuffle_ps::<0x44>(t0, t2);
    let s1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
    let s2 = _mm256_shuffle_ps::<0x44>(t1, t3);
    let s3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
    let s4 = _mm256_shuffle_ps::<0x44>(t4, t6);
    let s5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
    let s6 = _mm256_shuffle_ps::<0x44>(t5, t7);
    let s7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
    [
        _mm256_permute2f128_ps::<0x20>(s0, s4),
        _mm256_permute2f128_ps::<0x20>(s1, s5),
        _mm256_permute2f128_ps::<0x20>(s2, s6),
        _mm256_permute2f128_ps::<0x20>(s3, s7),
        _mm256_permute2f128_ps::<0x31>(s0, s4),
        _mm256_permute2f128_ps::<0x31>(s1, s5),
        _mm256_permute2f128_ps::<0x31>(s2, s6),
        _mm256_permute2f128_ps::<0x31>(s3, s7),
    ]
}

/// One full 6-row panel of a row-major `A` (rows `rs` apart, unit column
/// stride) packed `p`-major: each group of 8 `k` steps loads 8 floats of
/// each row (6 sequential streams), transposes them as an 8 x 8 block whose
/// last two rows are zero, and writes the 8 six-float columns with
/// overlapping 8-wide stores in increasing order (each store's last two
/// lanes are overwritten by the next), the last one as 4 + 2 floats so that
/// nothing past the step is written. `k` steps past a multiple of 8 are
/// copied element by element. It replaces a scalar gather that cost 3-4% of
/// a square product.
///
/// # Safety
/// `src.add(r * rs + p)` readable for `r < 6`, `p < kc`; `o` writable for
/// `6 * kc` floats; AVX2 available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_a_rowmajor6(kc: usize, src: *const f32, rs: usize, o: *mut f32) {
    use std::arch::x86_64::*;
    const MR: usize = 6;
    // Steps p .. p + 8 of the 6 rows, transposed: column i holds step p + i.
    let columns = |p: usize| {
        let zero = _mm256_setzero_ps();
        transpose8x8(std::array::from_fn(|r| {
            if r < MR {
                // SAFETY: rows < 6 and columns p .. p + 8 <= kc are readable
                // (the loop bounds below).
                unsafe { _mm256_loadu_ps(src.add(r * rs + p)) }
            } else {
                zero
            }
        }))
    };
    // Writes steps p .. p + 8; the last one 8 wide (its 2 extra floats land
    // on step p + 8, written next) when `more` steps follow, else 4 + 2.
    let store = |p: usize, cols: [__m256; 8], more: bool| {
        // SAFETY: floats (p + i) * 6 .. + 8 for i < 7 lie below
        // (p + 8) * 6 <= 6 * kc; the last store is 6 floats unless step
        // p + 8 < kc follows, whose 6 floats cover its 2 extra ones.
        unsafe {
            let d = o.add(p * MR);
            for (i, col) in cols.iter().enumerate().take(7) {
                _mm256_storeu_ps(d.add(i * MR), *col);
            }
            let last = d.add(7 * MR);
            if more {
                _mm256_storeu_ps(last, cols[7]);
            } else {
                _mm_storeu_ps(last, _mm256_castps256_ps128(cols[7]));
                let hi = _mm_castps_si128(_mm256_extractf128_ps::<1>(cols[7]));
                _mm_storel_epi64(last.add(4) as *mut __m128i, hi);
            }
        }
    };
    let k8 = kc / 8 * 8;
    for p in (0..k8).step_by(8) {
        store(p, columns(p), p + 8 < kc);
    }
    for p in k8..kc {
        for r in 0..MR {
            // SAFETY: (r, p) inside the panel; o has 6 * kc floats.
            unsafe { *o.add(p * MR + r) = *src.add(r * rs + p) };
        }
    }
}

/// Non-x86 stub (never called: `avx2_available()` is false there).
///
/// # Safety
/// Never safe to call.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn pack_a_rowmajor6(_kc: usize, _src: *const f32, _rs: usize, _o: *mut f32) {
    unreachable!("AVX2 packing called on a non-x86_64 target")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::pack::{pack_a, pack_b};

    /// Distinct values, so a misplaced element cannot go unnoticed.
    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 * 0.5 - 7.0).collect()
    }

    /// The AVX2 packers against the plain ones, bit for bit, for row-major, column-major and
    /// padded operands of full and partial panels.
    #[test]
    fn avx2_packers_fill_the_plain_layouts() {
        if !super::super::avx2_available() {
            return;
        }
        for (rows, cols) in [(1, 1), (6, 8), (7, 9), (13, 17), (32, 33), (48, 16)] {
            let pad = 3;
            let src = values((rows + pad) * (cols + pad));
            // (row stride, column stride): row-major, column-major, both padded.
            for (rs, cs) in [(cols, 1), (1, rows), (cols + pad, 1), (1, rows + pad)] {
                let view = MatRef::new(&src, rs, cs);
                let len_a = rows.div_ceil(6) * 6 * cols;
                let (mut fast, mut plain) = (vec![f32::NAN; len_a], vec![f32::NAN; len_a]);
                // SAFETY: `src` holds every element of the `rows x cols` view; AVX2 checked.
                unsafe {
                    pack_a6(rows, cols, view, &mut fast);
                    pack_a::<6>(rows, cols, view, &mut plain);
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&plain), "A {rows}x{cols} ({rs}, {cs})");
                let len_b = cols.div_ceil(16) * 16 * rows;
                let (mut fast, mut plain) = (vec![f32::NAN; len_b], vec![f32::NAN; len_b]);
                // SAFETY: as above, the view read as a `rows x cols` B.
                unsafe {
                    pack_b16(rows, cols, view, &mut fast);
                    pack_b::<16>(rows, cols, view, &mut plain);
                }
                assert_eq!(bits(&fast), bits(&plain), "B {rows}x{cols} ({rs}, {cs})");
            }
        }
    }
}
