//! Softmax cross-entropy from logits, fused into one numerically stable node.

use super::Op;
use super::reduce::logsumexp;
use crate::error::Error;
use crate::grads::Gradients;
use crate::tape::Node;
use crate::{Tensor, Var};
use std::panic::Location;

impl<'t> Var<'t> {
    /// Cross-entropy between `softmax(self)` over the last axis and `targets` (same shape, each
    /// row a distribution such as a one-hot label), one value per row:
    /// `y = Σ_j t_j (lse(x) - x_j)` with `lse(x) = m + ln Σ_j e^(x_j - m)`, `m = max_j x_j`, so
    /// no exponential overflows and no `log(0)` is taken. Shape `[..., C] -> [...]`;
    /// `dx = g (softmax(x) Σ_j t_j - t)`, `dt = g (lse(x) - x)`.
    #[track_caller]
    pub fn softmax_cross_entropy(self, targets: Var<'t>) -> Var<'t> {
        let (sx, st) = (self.shape(), targets.shape());
        if sx != st || sx.rank() == 0 || sx.dim(sx.rank() - 1) == 0 {
            panic!(
                "{}",
                Error::ShapeMismatch {
                    op: "softmax_cross_entropy",
                    lhs: sx,
                    rhs: st,
                    location: Location::caller(),
                }
            );
        }
        let c = sx.dim(sx.rank() - 1);
        let out = sx.without_dim(sx.rank() - 1);
        let mut y = self.tape.buffer_dirty(out.numel());
        {
            let (x, t) = (self.tape.value(self.id), self.tape.value(targets.id));
            for ((y, x), t) in y.iter_mut().zip(x.data.chunks(c)).zip(t.data.chunks(c)) {
                let lse = logsumexp(x.iter().copied());
                *y = x
                    .iter()
                    .zip(t)
                    .map(|(&x, &t)| if t == 0.0 { 0.0 } else { t * (lse - x) })
                    .sum();
            }
        }
        self.tape.push(
            Op::SoftmaxCrossEntropy,
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
    let c = x.shape.dim(x.shape.rank() - 1);
    if nodes[ix].requires_grad {
        let (dx, fresh) = grads.acc_fresh(ix, x.shape);
        let rows = dx.chunks_mut(c).zip(x.data.chunks(c)).zip(t.data.chunks(c));
        for (((dx, x), t), &g) in rows.zip(g) {
            let lse = logsumexp(x.iter().copied());
            let mass: f32 = t.iter().sum();
            for ((d, &x), &t) in dx.iter_mut().zip(x).zip(t) {
                let v = g * ((x - lse).exp() * mass - t);
                if fresh {
                    *d = v;
                } else {
                    *d += v;
                }
            }
        }
    }
    if nodes[it].requires_grad {
        let dt = grads.acc(it, t.shape);
        for ((dt, x), &g) in dt.chunks_mut(c).zip(x.data.chunks(c)).zip(g) {
            let lse = logsumexp(x.iter().copied());
            for (d, &x) in dt.iter_mut().zip(x) {
                *d += g * (lse - x);
            }
        }
    }
}
