//! The elementwise loops of the fast build: the optimizers' updates and the BCE loops
//! compiled for AVX2+FMA and split over threads, from the same scalar formulas the reference
//! build runs (`optim/*.rs`, `ops/loss.rs`), plus the finiteness check.
//!
//! The crate is built for baseline x86_64, so a plain loop is vectorised at most 4 wide, and
//! `sqrt` / division / the branch-free `exp` of [`crate::ops`] run as SSE code. [`vectorized`]
//! compiles a loop a second time inside a `#[target_feature(enable = "avx2,fma")]` function,
//! where LLVM vectorises it 8 wide, and runs that copy when the CPU has AVX2+FMA. The math is
//! the same in both (Rust never contracts `a * b + c` into an FMA, and nothing here calls
//! `mul_add`), so both give bitwise identical results; the tests check it.

use super::pieces::{self, MinLen};
use crate::grads::Update;
use crate::ops::loss::{bce, bce_dx};

/// Runs `body` (a loop over flat buffers) compiled for AVX2+FMA when the CPU has them, and as
/// it is otherwise: bitwise the same values either way. Pass the closure as
/// `#[inline(always)] || ...`: a closure left to LLVM's inlining heuristics is compiled on its
/// own for the baseline target when its loop is long (measured: the BCE row sums and the
/// finiteness check ran SSE code, and a training step took 10 % longer).
#[inline(always)]
pub(crate) fn vectorized<R>(body: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if super::avx2_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU, which is the only requirement of the
        // `target_feature` function.
        return unsafe { avx2(body) };
    }
    body()
}

/// `body` compiled with AVX2+FMA enabled (it is inlined here, so its loops are vectorised
/// 8 wide).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(body: impl FnOnce() -> R) -> R {
    body()
}

/// Below this many elements an optimizer update runs on the calling thread: at ~0.3 ns per
/// element (AVX2 `sqrt` and division), 128 Ki elements take ~40 us, twice the ~20 us it costs to
/// wake a sleeping rayon worker. Larger updates are halved recursively over rayon's current pool.
/// Elementwise, so the split never changes a result.
const PAR_MIN_LEN: usize = 1 << 17;

/// When optimizer updates and the finiteness check are split ([`PAR_MIN_LEN`] either way).
const OPT_SPLIT: MinLen = MinLen {
    cold: PAR_MIN_LEN,
    hot: PAR_MIN_LEN,
};

/// Chunks of flat buffers start on whole 64-byte lines (16 floats).
const LINE: usize = 16;

/// A raw pointer handed to the pieces of a parallel region, each of which turns its own
/// disjoint range into a slice.
#[derive(Clone, Copy)]
pub(super) struct Shared(*mut f32);

// SAFETY: every piece of a region touches only its own range `[lo, hi)`, and the ranges are
// disjoint, so no element is shared.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    /// A pointer to the start of `s`.
    pub(super) fn of(s: &mut [f32]) -> Shared {
        Shared(s.as_mut_ptr())
    }

    /// Elements `lo..hi`.
    ///
    /// # Safety
    /// `lo..hi` is inside the slice this pointer came from, and no other live
    /// reference covers it while the returned one (of a lifetime the caller picks) lives.
    pub(super) unsafe fn range<'a>(self, lo: usize, hi: usize) -> &'a mut [f32] {
        // SAFETY: the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(lo), hi - lo) }
    }
}

/// Runs `update` over matching chunks of `g` and of every buffer in `state`, split over
/// rayon's current pool when the buffers are large (the update is elementwise, so the split
/// never changes a result). Every buffer must be as long as the first.
///
/// # Panics
/// If `g` or a state buffer is shorter than the first state buffer.
pub fn update_chunks<const N: usize>(g: &[f32], state: [&mut [f32]; N], update: Update<'_, N>) {
    let n = state.first().map_or(0, |s| s.len());
    assert!(
        g.len() >= n && state.iter().all(|s| s.len() >= n),
        "update_chunks: a buffer is shorter than the parameter ({n} elements)"
    );
    let g = &g[..n];
    let ptrs = state.map(Shared::of);
    pieces::for_each_chunk(n, OPT_SPLIT, LINE, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of 0..n, inside every buffer (checked above),
        // and the buffers are borrowed mutably for the whole call.
        let slices = ptrs.map(|p| unsafe { p.range(lo, hi) });
        update(&g[lo..hi], slices)
    });
}

/// Below this many elements the BCE loops stay on the calling thread; above it they are split,
/// but only over hot workers (see [`crate::kernels::with_hot_workers`]): at ~2 ns per element
/// (`exp`, `ln`, two divisions), 8 Ki elements take ~16 us, against ~1 us to start a hot region
/// (a cold one costs more than the loop). Timed inside a seed training epoch (32 x 784 logits),
/// the fused BCE went from 53 to 29-31 us forward and from 30 to 23 us backward per step.
const BCE_PAR_MIN_LEN: usize = 1 << 13;

/// When the BCE loops are split: only over hot workers.
const BCE_SPLIT: MinLen = MinLen {
    cold: usize::MAX,
    hot: BCE_PAR_MIN_LEN,
};

/// [`BCE_SPLIT`] counted in rows of `d` elements.
fn bce_split_rows(d: usize) -> MinLen {
    MinLen {
        cold: usize::MAX,
        hot: BCE_PAR_MIN_LEN
            .checked_div(d)
            .map_or(usize::MAX, |r| r.max(2)),
    }
}

/// Binary cross-entropy from logits, elementwise: `y = max(x, 0) - x t + ln(1 + e^-|x|)`
/// ([`bce_forward_serial`], split over hot workers when `y` is large).
///
/// # Panics
/// If `x` or `t` is shorter than `y`.
pub fn bce_forward(x: &[f32], t: &[f32], y: &mut [f32]) {
    let n = y.len();
    let (x, t) = (&x[..n], &t[..n]);
    let y = Shared(y.as_mut_ptr());
    pieces::for_each_chunk(n, BCE_SPLIT, LINE, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of 0..n, and `y` is borrowed mutably for the
        // whole call.
        let y = unsafe { y.range(lo, hi) };
        bce_forward_serial(&x[lo..hi], &t[lo..hi], y)
    });
}

/// Gradient of [`bce_forward`] with respect to the logits, `dx = g (σ(x) - t)`, written when
/// `fresh`, added to `dx` otherwise ([`bce_backward_serial`], split over hot workers when `dx`
/// is large).
///
/// # Panics
/// If `g`, `x` or `t` is shorter than `dx`.
pub fn bce_backward(g: &[f32], x: &[f32], t: &[f32], dx: &mut [f32], fresh: bool) {
    let n = dx.len();
    let (g, x, t) = (&g[..n], &x[..n], &t[..n]);
    let dx = Shared(dx.as_mut_ptr());
    pieces::for_each_chunk(n, BCE_SPLIT, LINE, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of 0..n, and `dx` is borrowed mutably for the
        // whole call.
        let dx = unsafe { dx.range(lo, hi) };
        bce_backward_serial(&g[lo..hi], &x[lo..hi], &t[lo..hi], dx, fresh)
    });
}

/// Row sums of binary cross-entropy from logits: `y[r] = Σ_j ℓ(x[r, j], t[r, j])` over rows of
/// length `d` ([`bce_forward`]'s `ℓ`), without writing the elementwise losses; split by rows over
/// hot workers when large.
///
/// # Panics
/// If `x` or `t` is shorter than `y.len() * d`.
pub fn bce_rowsum_forward(x: &[f32], t: &[f32], d: usize, y: &mut [f32]) {
    let rows = y.len();
    let (x, t) = (&x[..rows * d], &t[..rows * d]);
    let y = Shared(y.as_mut_ptr());
    pieces::for_each_chunk(rows, bce_split_rows(d), 1, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of rows, and `y` is borrowed mutably for the
        // whole call.
        let y = unsafe { y.range(lo, hi) };
        bce_rowsum_forward_serial(&x[lo * d..hi * d], &t[lo * d..hi * d], d, y)
    });
}

/// Gradient of [`bce_rowsum_forward`] with respect to the logits: `dx[r, j] = g[r] (σ(x[r, j]) -
/// t[r, j])`, written when `fresh`, added to `dx` otherwise; split by rows over hot workers when
/// large.
///
/// # Panics
/// If `x`, `t` or `dx` is shorter than `g.len() * d`.
pub fn bce_rowsum_backward(g: &[f32], x: &[f32], t: &[f32], d: usize, dx: &mut [f32], fresh: bool) {
    let rows = g.len();
    let (x, t, dx) = (&x[..rows * d], &t[..rows * d], &mut dx[..rows * d]);
    let dx = Shared(dx.as_mut_ptr());
    pieces::for_each_chunk(rows, bce_split_rows(d), 1, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of rows, and `dx` is borrowed mutably for the
        // whole call.
        let dx = unsafe { dx.range(lo * d, hi * d) };
        let (x, t) = (&x[lo * d..hi * d], &t[lo * d..hi * d]);
        bce_rowsum_backward_serial(&g[lo..hi], x, t, d, dx, fresh)
    });
}

/// [`bce_forward`] on the calling thread.
fn bce_forward_serial(x: &[f32], t: &[f32], y: &mut [f32]) {
    vectorized(
        #[inline(always)]
        || {
            for ((y, &x), &t) in y.iter_mut().zip(x).zip(t) {
                *y = bce(x, t);
            }
        },
    )
}

/// [`bce_backward`] on the calling thread.
fn bce_backward_serial(g: &[f32], x: &[f32], t: &[f32], dx: &mut [f32], fresh: bool) {
    vectorized(
        #[inline(always)]
        || {
            let terms = dx.iter_mut().zip(g).zip(x.iter().zip(t));
            if fresh {
                for ((d, &g), (&x, &t)) in terms {
                    *d = g * bce_dx(x, t);
                }
            } else {
                for ((d, &g), (&x, &t)) in terms {
                    *d += g * bce_dx(x, t);
                }
            }
        },
    )
}

/// [`bce_rowsum_forward`] on the calling thread. Each row is summed in 16 interleaved
/// partial sums (two 8-wide vectors), combined pairwise in a fixed order, then the tail.
fn bce_rowsum_forward_serial(x: &[f32], t: &[f32], d: usize, y: &mut [f32]) {
    vectorized(
        #[inline(always)]
        || bce_rowsum_forward_body(x, t, d, y),
    )
}

/// Partial sums per row in [`bce_rowsum_forward_serial`].
const ROW_LANES: usize = 16;

#[inline(always)]
fn bce_rowsum_forward_body(x: &[f32], t: &[f32], d: usize, y: &mut [f32]) {
    let one = bce;
    for (r, y) in y.iter_mut().enumerate() {
        let (x, t) = (&x[r * d..(r + 1) * d], &t[r * d..(r + 1) * d]);
        let mut acc = [0.0f32; ROW_LANES];
        let (xc, tc) = (x.chunks_exact(ROW_LANES), t.chunks_exact(ROW_LANES));
        let (xr, tr) = (xc.remainder(), tc.remainder());
        for (xc, tc) in xc.zip(tc) {
            for j in 0..ROW_LANES {
                acc[j] += one(xc[j], tc[j]);
            }
        }
        let mut width = ROW_LANES;
        while width > 1 {
            width /= 2;
            for j in 0..width {
                acc[j] += acc[j + width];
            }
        }
        let mut sum = acc[0];
        for (&x, &t) in xr.iter().zip(tr) {
            sum += one(x, t);
        }
        *y = sum;
    }
}

/// [`bce_rowsum_backward`] on the calling thread.
fn bce_rowsum_backward_serial(
    g: &[f32],
    x: &[f32],
    t: &[f32],
    d: usize,
    dx: &mut [f32],
    fresh: bool,
) {
    vectorized(
        #[inline(always)]
        || {
            for (r, &gr) in g.iter().enumerate() {
                let span = r * d..(r + 1) * d;
                let (x, t, dx) = (&x[span.clone()], &t[span.clone()], &mut dx[span]);
                let terms = dx.iter_mut().zip(x.iter().zip(t));
                if fresh {
                    for (d, (&x, &t)) in terms {
                        *d = gr * bce_dx(x, t);
                    }
                } else {
                    for (d, (&x, &t)) in terms {
                        *d += gr * bce_dx(x, t);
                    }
                }
            }
        },
    )
}

/// True when no element is NaN or infinite: [`all_finite_serial`], split over rayon's
/// current pool when `v` is large (a gradient check over every parameter of a step).
pub fn all_finite(v: &[f32]) -> bool {
    let ok = std::sync::atomic::AtomicBool::new(true);
    pieces::for_each_chunk(v.len(), OPT_SPLIT, LINE, &|lo, hi| {
        if !all_finite_serial(&v[lo..hi]) {
            ok.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    });
    ok.into_inner()
}

/// True when no element is NaN or infinite (branch-free: no `|x|` reaches the bits of
/// infinity), on the calling thread.
pub(crate) fn all_finite_serial(v: &[f32]) -> bool {
    vectorized(
        #[inline(always)]
        || all_finite_body(v),
    )
}

/// The largest magnitude in `v`, or infinity when `v` holds a NaN or an infinity (one
/// pass: the finiteness test of [`all_finite_serial`] rides along), on the calling thread.
pub(crate) fn max_abs(v: &[f32]) -> f32 {
    vectorized(
        #[inline(always)]
        || max_abs_body(v),
    )
}

/// The bits of `|x|`: for non-negative floats, the integer order of the bits is the order of
/// the values, and every NaN or infinity is at or above [`NON_FINITE`].
#[inline(always)]
fn abs_bits(x: f32) -> u32 {
    x.to_bits() & 0x7fff_ffff
}

/// The smallest `abs_bits` of an infinity or a NaN (all exponent bits set).
const NON_FINITE: u32 = 0x7f80_0000;

/// The largest [`abs_bits`] in `v`. An integer maximum: LLVM reduces its vector lanes as a
/// tree, where a float sum must be reduced one lane after another (that chain made the finiteness
/// checks of small panels a tenth of an `iwae-paper` training step).
#[inline(always)]
fn max_abs_bits(v: &[f32]) -> u32 {
    v.iter().fold(0, |m, &x| m.max(abs_bits(x)))
}

#[inline(always)]
fn max_abs_body(v: &[f32]) -> f32 {
    let top = max_abs_bits(v);
    if top >= NON_FINITE {
        f32::INFINITY
    } else {
        f32::from_bits(top)
    }
}

#[inline(always)]
fn all_finite_body(v: &[f32]) -> bool {
    max_abs_bits(v) < NON_FINITE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optim::{adam::adam, rmsprop::rmsprop, sgd::momentum};

    /// Deterministic values spanning signs and magnitudes (xorshift).
    fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
            })
            .collect()
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    const LENS: [usize; 8] = [0, 1, 7, 9, 31, 33, 1001, 300_007];

    /// The optimizers' loops, vectorised and split over threads as the fast build runs them,
    /// against the scalar formula applied element by element.
    #[test]
    fn optimizer_loops_are_their_scalar_formulas_bitwise() {
        for &n in &LENS {
            let g = values(n, 1, 3.0);
            let p0 = values(n, 2, 1.0);
            let m0 = values(n, 3, 0.1);
            let v0: Vec<f32> = values(n, 4, 1.0).iter().map(|x| x * x).collect();

            let (mut p, mut v) = (p0.clone(), v0.clone());
            update_chunks(&g, [&mut p, &mut v], &|g, [p, v]| {
                crate::optim::rmsprop::update(p, g, v, 1e-3, 0.9, 1e-7)
            });
            let want: Vec<(f32, f32)> = (0..n)
                .map(|i| rmsprop(p0[i], g[i], v0[i], 1e-3, 0.9, 1e-7))
                .collect();
            assert_eq!(
                bits(&p),
                bits(&want.iter().map(|w| w.0).collect::<Vec<_>>())
            );
            assert_eq!(
                bits(&v),
                bits(&want.iter().map(|w| w.1).collect::<Vec<_>>())
            );

            let (mut p, mut m, mut v) = (p0.clone(), m0.clone(), v0.clone());
            vectorized(
                #[inline(always)]
                || {
                    let pmv = p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
                    for (((p, m), v), &g) in pmv.zip(&g) {
                        (*p, *m, *v) = adam(*p, g, *m, *v, (0.9, 0.999), 1e-2, 0.05, 1e-8);
                    }
                },
            );
            for i in 0..n {
                let w = adam(p0[i], g[i], m0[i], v0[i], (0.9, 0.999), 1e-2, 0.05, 1e-8);
                assert_eq!(
                    bits(&[p[i], m[i], v[i]]),
                    bits(&[w.0, w.1, w.2]),
                    "adam n={n}"
                );
            }

            for first in [true, false] {
                let (mut p, mut b) = (p0.clone(), m0.clone());
                vectorized(
                    #[inline(always)]
                    || {
                        for ((p, b), &g) in p.iter_mut().zip(b.iter_mut()).zip(&g) {
                            (*p, *b) = momentum(*p, g, *b, 0.1, 0.9, first);
                        }
                    },
                );
                for i in 0..n {
                    let w = momentum(p0[i], g[i], m0[i], 0.1, 0.9, first);
                    assert_eq!(bits(&[p[i], b[i]]), bits(&[w.0, w.1]), "momentum n={n}");
                }
            }
        }
    }

    /// The BCE loops against `bce` and `bce_dx` element by element; the row sums against a
    /// plain sum in f64 (their order differs).
    #[test]
    fn bce_loops_are_their_scalar_formulas() {
        for &n in &LENS {
            let mut x = values(n, 5, 40.0);
            if n > 3 {
                x[0] = -100.0;
                x[1] = 100.0;
                x[2] = 0.0;
            }
            let t: Vec<f32> = values(n, 6, 0.5).iter().map(|v| v + 0.5).collect();
            let g = values(n, 7, 2.0);
            let mut y = vec![0.0; n];
            bce_forward(&x, &t, &mut y);
            let want: Vec<f32> = (0..n).map(|i| bce(x[i], t[i])).collect();
            assert_eq!(bits(&y), bits(&want), "bce forward n={n}");
            for fresh in [true, false] {
                let mut d = values(n, 8, 1.0);
                let d0 = d.clone();
                bce_backward(&g, &x, &t, &mut d, fresh);
                let want: Vec<f32> = (0..n)
                    .map(|i| {
                        let v = g[i] * bce_dx(x[i], t[i]);
                        if fresh { v } else { d0[i] + v }
                    })
                    .collect();
                assert_eq!(bits(&d), bits(&want), "bce backward n={n} fresh={fresh}");
            }
        }
        let (rows, d) = (5, 784);
        let x = values(rows * d, 9, 20.0);
        let t: Vec<f32> = values(rows * d, 10, 0.5).iter().map(|v| v + 0.5).collect();
        let mut y = vec![0.0; rows];
        bce_rowsum_forward(&x, &t, d, &mut y);
        for (r, &y) in y.iter().enumerate() {
            let want: f64 = (r * d..(r + 1) * d).map(|i| bce(x[i], t[i]) as f64).sum();
            assert!((y as f64 - want).abs() <= 1e-5 * want.abs(), "row {r}");
        }
    }

    #[test]
    fn all_finite_and_max_abs_flag_non_finite() {
        for &n in &LENS {
            let mut v = values(n, 9, 1e30);
            assert!(all_finite(&v), "n={n}");
            let want = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(max_abs(&v), want, "n={n}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [n / 2, n.saturating_sub(1)] {
                    if n > 0 {
                        let keep = v[at];
                        v[at] = bad;
                        assert!(!all_finite(&v), "n={n} {bad} at {at}");
                        assert_eq!(max_abs(&v), f32::INFINITY, "n={n} {bad} at {at}");
                        v[at] = keep;
                    }
                }
            }
        }
    }
}
