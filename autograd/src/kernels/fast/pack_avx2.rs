//! The AVX2 packers of the AVX2 micro-kernel ([`super::avx2`]): the same packed layouts as
//! the plain [`crate::kernels::pack`] (so any packer may fill a panel the kernel reads), with
//! two layouts that the plain element-by-element copy handles slowly transposed in registers.

use crate::kernels::layout::MatRef;
use crate::kernels::pack;

/// Packs the `mc x kc` block `a` into 6-row panels like [`pack::pack_a`], the full panels of
/// a row-major `A` by 8 x 8 register transposes ([`pack_a_rowmajor6`]).
///
/// # Safety
/// As [`pack::pack_a`]; AVX2 available.
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
            pack::pack_a::<MR>(
                mc - full * MR,
                kc,
                a.at(full * MR, 0),
                &mut dst[full * MR * kc..],
            )
        }
    }
}

/// Packs the `kc x nc` block `b` into 16-wide panels like [`pack::pack_b`], a column-major
/// `B` by 8 x 8 register transposes ([`pack_b_colmajor16`]).
///
/// # Safety
/// As [`pack::pack_b`]; AVX2 available.
pub(crate) unsafe fn pack_b16(kc: usize, nc: usize, b: MatRef, dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if b.rs == 1 && b.cs != 1 {
        // SAFETY: same contract; AVX2 is the caller's promise.
        unsafe { pack_b_colmajor16(kc, nc, b.ptr, b.cs, dst) };
        return;
    }
    // SAFETY: same contract, forwarded.
    unsafe { pack::pack_b::<16>(kc, nc, b, dst) }
}

/// [`pack_b`] for a column-major `B` (`rs == 1`, columns `cs` apart) into
/// 16-wide panels: each group of 8 `k` steps of 16 columns is two 8 x 8
/// blocks, loaded as 16 contiguous 8-float column pieces (16 sequential
/// streams, prefetcher-friendly) and transposed in registers with the
/// unpack / shuffle / permute2f128 ladder, then stored as 8 full 16-float
/// panel rows. The scalar gather it replaces wrote one float per 64-byte
/// panel row. A last partial panel and `k` steps past a multiple of 8 are
/// copied element by element.
///
/// # Safety
/// As [`pack_b`] with `b` column-major (`b.add(p + j * cs)` readable for
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
