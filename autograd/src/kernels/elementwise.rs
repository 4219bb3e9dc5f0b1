//! Elementwise loops (optimizer updates, the BCE-with-logits loss, the finiteness check)
//! compiled twice: once for AVX2+FMA, selected at run time, and once for the baseline
//! target (SSE2 on x86_64).
//!
//! The crate is built for baseline x86_64, so a plain loop is vectorised at most 4 wide, and
//! `sqrt` / division / the branch-free `exp` of [`crate::ops`] run as SSE code. Each loop here
//! is written once, as an `#[inline(always)]` body, and instantiated inside a
//! `#[target_feature(enable = "avx2,fma")]` function, where LLVM vectorises it 8 wide. The
//! math is the same in both (Rust never contracts `a * b + c` into an FMA, and nothing here
//! calls `mul_add`), so both paths give bitwise identical results; the tests check it.

use super::parallel::{self, MinLen};
use crate::ops::fastmath::{log1p_exp_neg_abs, sigmoid};

/// Defines `pub fn $name` that runs `$body` (an `#[inline(always)]` fn) through an AVX2+FMA
/// instance when the CPU has them, and through the baseline instance otherwise, plus
/// `$fallback`, the baseline instance on its own (for the tests).
macro_rules! dispatch {
    (
        $(#[$doc:meta])*
        fn $name:ident / $avx:ident / $fallback:ident = $body:ident
        ($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)?
    ) => {
        $(#[$doc])*
        #[allow(clippy::too_many_arguments)]
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if super::avx2_available() {
                // SAFETY: AVX2 and FMA were detected on this CPU, which is the only
                // requirement of the `target_feature` function.
                return unsafe { $avx($($arg),*) };
            }
            $body($($arg),*)
        }

        /// The AVX2+FMA instance.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn $avx($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }

        /// The baseline instance (what runs without AVX2+FMA).
        #[allow(dead_code, clippy::too_many_arguments)]
        pub(crate) fn $fallback($($arg: $ty),*) $(-> $ret)? {
            $body($($arg),*)
        }
    };
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

/// An elementwise update over a gradient and `N` buffers of the same length (the parameter
/// first, then its optimizer state): `update(g, [p, state...])`, called on matching ranges.
pub type Update<'a, const N: usize> = &'a (dyn Fn(&[f32], [&mut [f32]; N]) + Sync);

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
    parallel::for_each_chunk(n, OPT_SPLIT, LINE, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of 0..n, inside every buffer (checked above),
        // and the buffers are borrowed mutably for the whole call.
        let slices = ptrs.map(|p| unsafe { p.range(lo, hi) });
        update(&g[lo..hi], slices)
    });
}

/// [`rmsprop_update_serial`], split over rayon's current pool when `p` is large
/// (bitwise the same result).
///
/// # Panics
/// If `g` or `v` is shorter than `p`.
pub fn rmsprop_update(p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    let n = p.len();
    update_chunks(g, [p, &mut v[..n]], &|g, [p, v]| {
        rmsprop_update_serial(p, g, v, lr, rho, eps)
    });
}

/// [`adam_update_serial`], split over rayon's current pool when `p` is large
/// (bitwise the same result).
///
/// # Panics
/// If `g`, `m` or `v` is shorter than `p`.
#[allow(clippy::too_many_arguments)]
pub fn adam_update(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    beta1: f32,
    beta2: f32,
    step: f32,
    sqrt_bc2: f32,
    eps: f32,
) {
    let n = p.len();
    update_chunks(g, [p, &mut m[..n], &mut v[..n]], &|g, [p, m, v]| {
        adam_update_serial(p, g, m, v, beta1, beta2, step, sqrt_bc2, eps)
    });
}

dispatch! {
    /// RMSprop (Keras semantics) over one parameter, on the calling thread:
    /// `v = ρ v + (1 - ρ) g²`, `p -= lr g / √(v + ε)`.
    ///
    /// # Panics
    /// If `g` or `v` is shorter than `p`.
    fn rmsprop_update_serial / rmsprop_avx2 / rmsprop_fallback = rmsprop_body
    (p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32)
}

#[inline(always)]
fn rmsprop_body(p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    let n = p.len();
    let (g, v) = (&g[..n], &mut v[..n]);
    let c = 1.0 - rho;
    for i in 0..n {
        let gi = g[i];
        let vi = rho * v[i] + c * gi * gi;
        v[i] = vi;
        p[i] -= lr * gi / (vi + eps).sqrt();
    }
}

dispatch! {
    /// Adam (PyTorch semantics) over one parameter, on the calling thread, with the bias corrections folded in by the
    /// caller: `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`,
    /// `p -= step m / (√v / sqrt_bc2 + ε)` where `step = lr / (1-β1^t)` and
    /// `sqrt_bc2 = √(1-β2^t)`.
    ///
    /// # Panics
    /// If `g`, `m` or `v` is shorter than `p`.
    fn adam_update_serial / adam_avx2 / adam_fallback = adam_body
    (
        p: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        beta1: f32,
        beta2: f32,
        step: f32,
        sqrt_bc2: f32,
        eps: f32,
    )
}

#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn adam_body(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    beta1: f32,
    beta2: f32,
    step: f32,
    sqrt_bc2: f32,
    eps: f32,
) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let (c1, c2) = (1.0 - beta1, 1.0 - beta2);
    for i in 0..n {
        let gi = g[i];
        let mi = beta1 * m[i] + c1 * gi;
        let vi = beta2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (vi.sqrt() / sqrt_bc2 + eps);
    }
}

dispatch! {
    /// Plain SGD over one parameter: `p -= lr g`.
    ///
    /// # Panics
    /// If `g` is shorter than `p`.
    fn sgd_update / sgd_avx2 / sgd_fallback = sgd_body
    (p: &mut [f32], g: &[f32], lr: f32)
}

#[inline(always)]
fn sgd_body(p: &mut [f32], g: &[f32], lr: f32) {
    let n = p.len();
    let g = &g[..n];
    for i in 0..n {
        p[i] -= lr * g[i];
    }
}

dispatch! {
    /// SGD with momentum (PyTorch semantics) over one parameter: `b = μ b + g` (`b = g` when
    /// `first`), `p -= lr b`.
    ///
    /// # Panics
    /// If `g` or `b` is shorter than `p`.
    fn sgd_momentum_update / sgd_momentum_avx2 / sgd_momentum_fallback = sgd_momentum_body
    (p: &mut [f32], g: &[f32], b: &mut [f32], lr: f32, mu: f32, first: bool)
}

#[inline(always)]
fn sgd_momentum_body(p: &mut [f32], g: &[f32], b: &mut [f32], lr: f32, mu: f32, first: bool) {
    let n = p.len();
    let (g, b) = (&g[..n], &mut b[..n]);
    if first {
        for i in 0..n {
            let gi = g[i];
            b[i] = gi;
            p[i] -= lr * gi;
        }
    } else {
        for i in 0..n {
            let bi = mu * b[i] + g[i];
            b[i] = bi;
            p[i] -= lr * bi;
        }
    }
}

/// Below this many elements the BCE loops stay on the calling thread; above it they are split,
/// but only over hot workers (see [`super::with_hot_workers`]): at ~2 ns per element
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
    parallel::for_each_chunk(n, BCE_SPLIT, LINE, &|lo, hi| {
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
    parallel::for_each_chunk(n, BCE_SPLIT, LINE, &|lo, hi| {
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
    parallel::for_each_chunk(rows, bce_split_rows(d), 1, &|lo, hi| {
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
    parallel::for_each_chunk(rows, bce_split_rows(d), 1, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of rows, and `dx` is borrowed mutably for the
        // whole call.
        let dx = unsafe { dx.range(lo * d, hi * d) };
        let (x, t) = (&x[lo * d..hi * d], &t[lo * d..hi * d]);
        bce_rowsum_backward_serial(&g[lo..hi], x, t, d, dx, fresh)
    });
}

dispatch! {
    /// [`bce_rowsum_forward`] on the calling thread. Each row is summed in 16 interleaved
    /// partial sums (two 8-wide vectors), combined pairwise in a fixed order, then the tail.
    ///
    /// # Panics
    /// If `x` or `t` is shorter than `y.len() * d`.
    fn bce_rowsum_forward_serial / bce_rowsum_forward_avx2 / bce_rowsum_forward_fallback
        = bce_rowsum_forward_body
    (x: &[f32], t: &[f32], d: usize, y: &mut [f32])
}

/// Partial sums per row in [`bce_rowsum_forward_serial`].
const ROW_LANES: usize = 16;

#[inline(always)]
fn bce_rowsum_forward_body(x: &[f32], t: &[f32], d: usize, y: &mut [f32]) {
    let one = |x: f32, t: f32| x.max(0.0) - x * t + log1p_exp_neg_abs(x);
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

dispatch! {
    /// [`bce_rowsum_backward`] on the calling thread.
    ///
    /// # Panics
    /// If `x`, `t` or `dx` is shorter than `g.len() * d`.
    fn bce_rowsum_backward_serial / bce_rowsum_backward_avx2 / bce_rowsum_backward_fallback
        = bce_rowsum_backward_body
    (g: &[f32], x: &[f32], t: &[f32], d: usize, dx: &mut [f32], fresh: bool)
}

#[inline(always)]
fn bce_rowsum_backward_body(
    g: &[f32],
    x: &[f32],
    t: &[f32],
    d: usize,
    dx: &mut [f32],
    fresh: bool,
) {
    for (r, &gr) in g.iter().enumerate() {
        let span = r * d..(r + 1) * d;
        let (x, t, dx) = (&x[span.clone()], &t[span.clone()], &mut dx[span]);
        if fresh {
            for j in 0..d {
                dx[j] = gr * (sigmoid(x[j]) - t[j]);
            }
        } else {
            for j in 0..d {
                dx[j] += gr * (sigmoid(x[j]) - t[j]);
            }
        }
    }
}

dispatch! {
    /// Binary cross-entropy from logits, elementwise, on the calling thread:
    /// `y = max(x, 0) - x t + ln(1 + e^-|x|)`.
    ///
    /// # Panics
    /// If `x` or `t` is shorter than `y`.
    fn bce_forward_serial / bce_forward_avx2 / bce_forward_fallback = bce_forward_body
    (x: &[f32], t: &[f32], y: &mut [f32])
}

#[inline(always)]
fn bce_forward_body(x: &[f32], t: &[f32], y: &mut [f32]) {
    let n = y.len();
    let (x, t) = (&x[..n], &t[..n]);
    for i in 0..n {
        let xi = x[i];
        y[i] = xi.max(0.0) - xi * t[i] + log1p_exp_neg_abs(xi);
    }
}

dispatch! {
    /// Gradient of [`bce_forward`] with respect to the logits, on the calling thread:
    /// `dx = g (σ(x) - t)`, written when `fresh`, added to `dx` otherwise.
    ///
    /// # Panics
    /// If `g`, `x` or `t` is shorter than `dx`.
    fn bce_backward_serial / bce_backward_avx2 / bce_backward_fallback = bce_backward_body
    (g: &[f32], x: &[f32], t: &[f32], dx: &mut [f32], fresh: bool)
}

#[inline(always)]
fn bce_backward_body(g: &[f32], x: &[f32], t: &[f32], dx: &mut [f32], fresh: bool) {
    let n = dx.len();
    let (g, x, t) = (&g[..n], &x[..n], &t[..n]);
    if fresh {
        for i in 0..n {
            dx[i] = g[i] * (sigmoid(x[i]) - t[i]);
        }
    } else {
        for i in 0..n {
            dx[i] += g[i] * (sigmoid(x[i]) - t[i]);
        }
    }
}

/// True when no element is NaN or infinite: [`all_finite_serial`], split over rayon's
/// current pool when `v` is large (a gradient check over every parameter of a step).
pub fn all_finite(v: &[f32]) -> bool {
    let ok = std::sync::atomic::AtomicBool::new(true);
    parallel::for_each_chunk(v.len(), OPT_SPLIT, LINE, &|lo, hi| {
        if !all_finite_serial(&v[lo..hi]) {
            ok.store(false, std::sync::atomic::Ordering::Relaxed);
        }
    });
    ok.into_inner()
}

dispatch! {
    /// True when no element is NaN or infinite (branch-free: `x * 0` is 0 for finite `x` and
    /// NaN otherwise, and NaN survives a sum), on the calling thread.
    fn all_finite_serial / all_finite_avx2 / all_finite_fallback = all_finite_body
    (v: &[f32]) -> bool
}

dispatch! {
    /// The largest magnitude in `v`, or infinity when `v` holds a NaN or an infinity (one
    /// pass: the finiteness test of [`all_finite_serial`] rides along), on the calling thread.
    fn max_abs / max_abs_avx2 / max_abs_fallback = max_abs_body
    (v: &[f32]) -> f32
}

#[inline(always)]
fn max_abs_body(v: &[f32]) -> f32 {
    const LANES: usize = 32;
    let (mut top, mut nan) = ([0.0f32; LANES], [0.0f32; LANES]);
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            let x = c[i];
            // Not `f32::max`, whose NaN handling keeps LLVM from vectorising this loop.
            let a = x.abs();
            top[i] = if a > top[i] { a } else { top[i] };
            nan[i] += x * 0.0;
        }
    }
    let mut m = top.iter().fold(0.0f32, |m, &a| if a > m { a } else { m });
    let mut z = nan.iter().sum::<f32>();
    for &x in rest {
        let a = x.abs();
        m = if a > m { a } else { m };
        z += x * 0.0;
    }
    if z == 0.0 { m } else { f32::INFINITY }
}

#[inline(always)]
fn all_finite_body(v: &[f32]) -> bool {
    const LANES: usize = 32;
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i] * 0.0;
        }
    }
    let tail: f32 = rest.iter().map(|x| x * 0.0).sum();
    (acc.iter().sum::<f32>() + tail) == 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn optimizers_match_fallback_bitwise() {
        for &n in &LENS {
            let g = values(n, 1, 3.0);
            let p0 = values(n, 2, 1.0);
            let m0 = values(n, 3, 0.1);
            let v0: Vec<f32> = values(n, 4, 1.0).iter().map(|x| x * x).collect();

            let (mut p1, mut v1, mut p2, mut v2) = (p0.clone(), v0.clone(), p0.clone(), v0.clone());
            rmsprop_update(&mut p1, &g, &mut v1, 1e-3, 0.9, 1e-7);
            rmsprop_fallback(&mut p2, &g, &mut v2, 1e-3, 0.9, 1e-7);
            assert_eq!(
                (bits(&p1), bits(&v1)),
                (bits(&p2), bits(&v2)),
                "rmsprop n={n}"
            );

            let (mut p1, mut m1, mut v1) = (p0.clone(), m0.clone(), v0.clone());
            let (mut p2, mut m2, mut v2) = (p0.clone(), m0.clone(), v0.clone());
            adam_update(&mut p1, &g, &mut m1, &mut v1, 0.9, 0.999, 1e-2, 0.05, 1e-8);
            adam_fallback(&mut p2, &g, &mut m2, &mut v2, 0.9, 0.999, 1e-2, 0.05, 1e-8);
            assert_eq!(bits(&p1), bits(&p2), "adam p n={n}");
            assert_eq!((bits(&m1), bits(&v1)), (bits(&m2), bits(&v2)), "adam n={n}");

            let (mut p1, mut p2) = (p0.clone(), p0.clone());
            sgd_update(&mut p1, &g, 0.1);
            sgd_fallback(&mut p2, &g, 0.1);
            assert_eq!(bits(&p1), bits(&p2), "sgd n={n}");

            for first in [true, false] {
                let (mut p1, mut b1, mut p2, mut b2) =
                    (p0.clone(), m0.clone(), p0.clone(), m0.clone());
                sgd_momentum_update(&mut p1, &g, &mut b1, 0.1, 0.9, first);
                sgd_momentum_fallback(&mut p2, &g, &mut b2, 0.1, 0.9, first);
                assert_eq!(
                    (bits(&p1), bits(&b1)),
                    (bits(&p2), bits(&b2)),
                    "momentum n={n}"
                );
            }
        }
    }

    #[test]
    fn bce_matches_fallback_bitwise() {
        for &n in &LENS {
            let mut x = values(n, 5, 40.0);
            if n > 3 {
                x[0] = -100.0;
                x[1] = 100.0;
                x[2] = 0.0;
            }
            let t: Vec<f32> = values(n, 6, 0.5).iter().map(|v| v + 0.5).collect();
            let g = values(n, 7, 2.0);
            let (mut y1, mut y2) = (vec![0.0; n], vec![0.0; n]);
            bce_forward(&x, &t, &mut y1);
            bce_forward_fallback(&x, &t, &mut y2);
            assert_eq!(bits(&y1), bits(&y2), "bce forward n={n}");
            for fresh in [true, false] {
                let (mut d1, mut d2) = (values(n, 8, 1.0), values(n, 8, 1.0));
                bce_backward(&g, &x, &t, &mut d1, fresh);
                bce_backward_fallback(&g, &x, &t, &mut d2, fresh);
                assert_eq!(bits(&d1), bits(&d2), "bce backward n={n} fresh={fresh}");
            }
        }
    }

    #[test]
    fn all_finite_matches_fallback() {
        for &n in &LENS {
            let mut v = values(n, 9, 1e30);
            assert!(all_finite(&v) && all_finite_fallback(&v), "n={n}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                if n > 0 {
                    v[n - 1] = bad;
                    assert!(!all_finite(&v) && !all_finite_fallback(&v), "n={n} {bad}");
                    v[n - 1] = 1.0;
                    v[n / 2] = bad;
                    assert!(!all_finite(&v) && !all_finite_fallback(&v), "n={n} {bad}");
                    v[n / 2] = 1.0;
                }
            }
        }
    }

    #[test]
    fn max_abs_matches_a_plain_fold_and_flags_non_finite() {
        for &n in &LENS {
            let mut v = values(n, 10, 1e30);
            let want = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert_eq!(max_abs(&v), want, "n={n}");
            assert_eq!(max_abs_fallback(&v), want, "n={n}");
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [n / 2, n.saturating_sub(1)] {
                    if n > 0 {
                        let keep = v[at];
                        v[at] = bad;
                        assert_eq!(max_abs(&v), f32::INFINITY, "n={n} {bad} at {at}");
                        assert_eq!(max_abs_fallback(&v), f32::INFINITY, "n={n} {bad} at {at}");
                        v[at] = keep;
                    }
                }
            }
        }
    }
}
