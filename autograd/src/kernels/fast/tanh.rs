//! `tanh` in branch-free f32 arithmetic, so a layer's activations are computed 8 at a time.
//!
//! The reference build calls libm's scalar `tanhf` per element. On the `iwae-paper` model
//! (784-200-200-50, four tanh layers of 200 units, batch 20) those calls were a quarter of the
//! main thread's time in a training step. This replaces them in the tape's `tanh` op only; the
//! derivative `1 - y²` is computed from whichever `y` the forward pass produced.
//!
//! The formula: with `a = |x|` and `E = e^(2a) - 1`,
//! `tanh a = E / (E + 2)`, and the sign of `x` copied onto the result. `E` is computed as an
//! `expm1`, never as `e^(2a) - 1`, so small `|x|` keeps its relative accuracy: `2a = n ln2 + r`
//! with `|r| <= ln2 / 2`, `e^r - 1` by its Taylor polynomial to degree 8 written as `r (1 + r/2
//! + ...)`, then `E = 2^n (e^r - 1) + (2^n - 1)`, a sum of two terms of the same sign
//! (or, for `n = 1` and `r < 0`, a difference no smaller than a fifth of either). Above
//! `|x| = 9`, `tanh` rounds to ±1 in f32, so `a` is clamped there. A NaN stays NaN.
//!
//! **Accuracy**: relative error below [`TANH_MAX_REL_ERR`] = 3e-7 (measured: 2.4e-7, at
//! x = 1.5e-5; libm's `tanhf` is within about 1.2e-7) against the
//! exact value, over a dense sweep of the f32 values in `[-9, 9]` (the tests below).

use super::elementwise::Shared;
use super::pieces::{self, MinLen};

// The range reduction of `ops/fastmath.rs`'s `exp`: `ln 2` split in two, and the rounding
// constant whose mantissa bits hold `n`.
use crate::ops::fastmath::{LN2_HI, LN2_LO, LOG2E, ROUND};
/// `tanh x` is within half an ulp of ±1 beyond this.
const CLAMP: f32 = 9.0;

/// The stated bound on the relative error of [`tanh`] (the tests hold it to this).
#[cfg(test)]
pub(crate) const TANH_MAX_REL_ERR: f64 = 3e-7;

/// `e^y - 1` for `y` in `[0, 18]`.
#[inline(always)]
fn expm1_0_18(y: f32) -> f32 {
    let t = y * LOG2E + ROUND;
    let n = t - ROUND;
    let r = y - n * LN2_HI - n * LN2_LO;
    // e^r - 1 = r (1 + r/2 + r²/6 + ... + r^7/8!): no cancellation for small r.
    let q = 1.0
        + r * (0.5
            + r * (1.0 / 6.0
                + r * (1.0 / 24.0
                    + r * (1.0 / 120.0
                        + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0)))))));
    let em_r = r * q;
    // `t` lies in [2^23, 2^24), where the ulp is 1: its low mantissa bits hold `n` (see
    // `ops/fastmath.rs`, whose `exp` builds 2^n the same way).
    let ni = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits(((ni + 127) << 23) as u32);
    scale * em_r + (scale - 1.0)
}

/// `tanh x`, relative error below 3e-7; NaN for NaN.
#[inline(always)]
pub(crate) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    // Not `min`, which would turn a NaN into 9.
    let a = if a > CLAMP { CLAMP } else { a };
    let e = expm1_0_18(2.0 * a);
    let t = e / (e + 2.0);
    t.copysign(x)
}

/// Below this many elements `tanh_into` stays on the calling thread; above it, it is split
/// over hot workers only (as the BCE loops are, `elementwise.rs`): a training step's 20 x 200
/// activations stay whole, an evaluation batch's 250 x 200 are halved.
const SPLIT: MinLen = MinLen {
    cold: usize::MAX,
    hot: 1 << 13,
};

/// `y[i] = tanh x[i]` by [`tanh`], compiled for AVX2+FMA when the CPU has them and split over
/// hot workers when long; returns true (the tape's `tanh` op calls it as
/// `done = ... && tanh_into(..)`).
///
/// # Panics
/// If `x` is shorter than `y`.
pub(crate) fn tanh_into(x: &[f32], y: &mut [f32]) -> bool {
    let n = y.len();
    let x = &x[..n];
    let y = Shared::of(y);
    pieces::for_each_chunk(n, SPLIT, 16, &|lo, hi| {
        // SAFETY: the chunks are disjoint ranges of 0..n, and `y` is borrowed mutably for the
        // whole call.
        let y = unsafe { y.range(lo, hi) };
        tanh_serial(&x[lo..hi], y)
    });
    true
}

/// [`tanh_into`] on the calling thread.
fn tanh_serial(x: &[f32], y: &mut [f32]) {
    super::elementwise::vectorized(
        #[inline(always)]
        || {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = tanh(x);
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 37th f32 bit pattern in [0, 9] (about 30 million values: all exponents, a dense
    /// sample of mantissas), and its negation, against f64's tanh.
    #[test]
    fn tanh_is_within_its_bound_of_the_exact_value() {
        let hi = CLAMP.to_bits();
        let mut worst = (0.0f64, 0.0f32);
        let mut bits = 0u32;
        let mut xs = Vec::with_capacity(1 << 16);
        let mut ys = vec![0.0f32; 1 << 16];
        while bits <= hi {
            xs.clear();
            while xs.len() < (1 << 16) && bits <= hi {
                let x = f32::from_bits(bits);
                xs.push(x);
                xs.push(-x);
                bits += 37;
            }
            tanh_into(&xs, &mut ys[..xs.len()]);
            for (&x, &y) in xs.iter().zip(&ys) {
                let want = (x as f64).tanh();
                let err = if want == 0.0 {
                    y.abs() as f64
                } else {
                    ((y as f64 - want) / want).abs()
                };
                if err > worst.0 {
                    worst = (err, x);
                }
            }
        }
        assert!(
            worst.0 <= TANH_MAX_REL_ERR,
            "worst relative error {:e} at x = {}",
            worst.0,
            worst.1
        );
    }

    #[test]
    fn tanh_limits_signs_and_nan() {
        for x in [9.0f32, 9.5, 20.0, 1e30, f32::INFINITY] {
            assert_eq!(tanh(x), 1.0, "tanh({x})");
            assert_eq!(tanh(-x), -1.0, "tanh(-{x})");
        }
        assert_eq!(tanh(0.0).to_bits(), 0.0f32.to_bits());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(1e-30), 1e-30);
        assert!(tanh(f32::NAN).is_nan());
    }

    /// The vectorised loop computes the scalar formula, bitwise, for any length.
    #[test]
    fn tanh_into_is_the_scalar_formula() {
        for n in [0usize, 1, 7, 8, 9, 31, 1001] {
            let x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.731).sin() * 6.0).collect();
            let mut y = vec![0.0; n];
            tanh_into(&x, &mut y);
            for (&x, &y) in x.iter().zip(&y) {
                assert_eq!(y.to_bits(), tanh(x).to_bits(), "x = {x}");
            }
        }
    }
}
