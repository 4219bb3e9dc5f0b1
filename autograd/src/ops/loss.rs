//! Losses fused into one numerically stable node.

use super::Op;
use crate::error::Error;
use crate::grads::Gradients;
use crate::kernels::elementwise;
use crate::tape::Node;
use crate::{Tensor, Var};
use std::panic::Location;

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
            elementwise::bce_forward(&x.data, &t.data, &mut y);
        }
        self.tape.push(
            Op::BceWithLogits,
            &[self.id, targets.id],
            Tensor { data: y, shape: sx },
        )
    }
}

pub(super) fn backward(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let (ix, it) = (node.inputs[0], node.inputs[1]);
    let (x, t) = (&nodes[ix].value, &nodes[it].value);
    if nodes[ix].requires_grad {
        let (dx, fresh) = grads.acc_fresh(ix, x.shape);
        elementwise::bce_backward(g, &x.data, &t.data, dx, fresh);
    }
    if nodes[it].requires_grad {
        let dt = grads.acc(it, t.shape);
        for ((d, &g), &x) in dt.iter_mut().zip(g).zip(&x.data) {
            *d -= g * x;
        }
    }
}
