//! Losses fused into one numerically stable node.

use super::Op;
use super::fastmath::{log1p_exp_neg_abs, sigmoid};
use crate::error::Error;
use crate::grads::Gradients;
use crate::tape::Node;
use crate::{Tensor, Var};
use std::panic::Location;

/// Binary cross-entropy of one logit `x` against a target `t` in [0, 1], in the stable form
/// `ℓ(x, t) = max(x, 0) - x t + ln(1 + e^-|x|)`: never `log(0)`, never overflowing.
#[inline(always)]
pub(crate) fn bce(x: f32, t: f32) -> f32 {
    x.max(0.0) - x * t + log1p_exp_neg_abs(x)
}

/// `∂ℓ/∂x = σ(x) - t`.
#[inline(always)]
pub(crate) fn bce_dx(x: f32, t: f32) -> f32 {
    sigmoid(x) - t
}

impl<'t> Var<'t> {
    /// Elementwise binary cross-entropy between `sigmoid(self)` and `targets` in [0, 1], from
    /// the logits, in the stable form
    /// `ℓ(x, t) = max(x, 0) - x t + ln(1 + e^-|x|)` (never `log(0)`, never overflowing);
    /// `dx = g (σ(x) - t)`, `dt = -g x`.
    #[track_caller]
    pub fn bce_with_logits(self, targets: Var<'t>) -> Var<'t> {
        let (sx, st) = (self.shape(), targets.shape());
        if sx != st {
            panic!(
                "{}",
                Error::ShapeMismatch {
                    op: "bce_with_logits",
                    lhs: sx,
                    rhs: st,
                    location: Location::caller(),
                }
            );
        }
        let mut y = self.tape.buffer_dirty(sx.numel());
        {
            let (x, t) = (self.tape.value(self.id), self.tape.value(targets.id));
            bce_forward(&x.data, &t.data, &mut y);
        }
        self.tape.push(
            Op::BceWithLogits,
            &[self.id, targets.id],
            Tensor { data: y, shape: sx },
        )
    }

    /// Row sums of [`Var::bce_with_logits`] over the last axis, in one node:
    /// `y[..] = Σ_j ℓ(x[.., j], t[.., j])`, shape `[..., D] -> [...]`. The same value as
    /// `x.bce_with_logits(t).sum_axis(last, false)` (up to the order of the sum), without
    /// storing the elementwise losses or broadcasting the gradient back over them:
    /// `dx = g (σ(x) - t)`, `dt = -g x`, with `g` the row's gradient.
    #[track_caller]
    pub fn bce_with_logits_rowsum(self, targets: Var<'t>) -> Var<'t> {
        let (sx, st) = (self.shape(), targets.shape());
        if sx != st || sx.rank() == 0 {
            panic!(
                "{}",
                Error::ShapeMismatch {
                    op: "bce_with_logits_rowsum",
                    lhs: sx,
                    rhs: st,
                    location: Location::caller(),
                }
            );
        }
        let d = sx.dim(sx.rank() - 1);
        let out = sx.without_dim(sx.rank() - 1);
        let mut y = self.tape.buffer_dirty(out.numel());
        {
            let (x, t) = (self.tape.value(self.id), self.tape.value(targets.id));
            bce_rowsum_forward(&x.data, &t.data, d, &mut y);
        }
        self.tape.push(
            Op::BceWithLogitsRowSum,
            &[self.id, targets.id],
            Tensor {
                data: y,
                shape: out,
            },
        )
    }
}

pub(super) fn backward(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let (ix, it) = (node.inputs[0], node.inputs[1]);
    let (x, t) = (&nodes[ix].value, &nodes[it].value);
    if nodes[ix].requires_grad {
        let (dx, fresh) = grads.acc_fresh(ix, x.shape);
        bce_backward(g, &x.data, &t.data, dx, fresh);
    }
    if nodes[it].requires_grad {
        let dt = grads.acc(it, t.shape);
        for ((d, &g), &x) in dt.iter_mut().zip(g).zip(&x.data) {
            *d -= g * x;
        }
    }
}

pub(super) fn backward_rowsum(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let (ix, it) = (node.inputs[0], node.inputs[1]);
    let (x, t) = (&nodes[ix].value, &nodes[it].value);
    let d = x.shape.dim(x.shape.rank() - 1);
    if nodes[ix].requires_grad {
        let (dx, fresh) = grads.acc_fresh(ix, x.shape);
        bce_rowsum_backward(g, &x.data, &t.data, d, dx, fresh);
    }
    if nodes[it].requires_grad {
        let dt = grads.acc(it, t.shape);
        for ((dt, x), &g) in dt.chunks_mut(d).zip(x.data.chunks(d)).zip(g) {
            for (d, &x) in dt.iter_mut().zip(x) {
                *d -= g * x;
            }
        }
    }
}

// The loops over whole buffers. The fast build runs the same `bce` and `bce_dx` compiled for
// AVX2 and split over threads, and sums each row in 16 interleaved partial sums
// (`kernels/fast/elementwise.rs`).
#[cfg(feature = "fast")]
use crate::kernels::fast::elementwise::{
    bce_backward, bce_forward, bce_rowsum_backward, bce_rowsum_forward,
};

/// `y = ℓ(x, t)` elementwise.
#[cfg(not(feature = "fast"))]
fn bce_forward(x: &[f32], t: &[f32], y: &mut [f32]) {
    for ((y, &x), &t) in y.iter_mut().zip(x).zip(t) {
        *y = bce(x, t);
    }
}

/// `dx (+)= g ∂ℓ/∂x` elementwise: written when `fresh`, added otherwise.
#[cfg(not(feature = "fast"))]
fn bce_backward(g: &[f32], x: &[f32], t: &[f32], dx: &mut [f32], fresh: bool) {
    for ((d, &g), (&x, &t)) in dx.iter_mut().zip(g).zip(x.iter().zip(t)) {
        let v = g * bce_dx(x, t);
        *d = if fresh { v } else { *d + v };
    }
}

/// `y[r] = Σ_j ℓ(x[r, j], t[r, j])` over rows of length `d`.
#[cfg(not(feature = "fast"))]
fn bce_rowsum_forward(x: &[f32], t: &[f32], d: usize, y: &mut [f32]) {
    for ((y, x), t) in y.iter_mut().zip(x.chunks(d)).zip(t.chunks(d)) {
        *y = x.iter().zip(t).map(|(&x, &t)| bce(x, t)).sum();
    }
}

/// `dx[r, j] (+)= g[r] ∂ℓ/∂x[r, j]`: written when `fresh`, added otherwise.
#[cfg(not(feature = "fast"))]
fn bce_rowsum_backward(g: &[f32], x: &[f32], t: &[f32], d: usize, dx: &mut [f32], fresh: bool) {
    for (r, &g) in g.iter().enumerate() {
        let span = r * d..(r + 1) * d;
        let (x, t) = (&x[span.clone()], &t[span.clone()]);
        for ((d, &x), &t) in dx[span].iter_mut().zip(x).zip(t) {
            let v = g * bce_dx(x, t);
            *d = if fresh { v } else { *d + v };
        }
    }
}
