//! Elementwise ops with a scalar constant.

use super::Op;
use crate::grads::Gradients;
use crate::tape::Node;
use crate::{Tensor, Var};

impl<'t> Var<'t> {
    fn scalar_op(self, op: Op, f: impl Fn(f32) -> f32) -> Var<'t> {
        let tape = self.tape;
        let shape = self.shape();
        let mut y = tape.buffer(shape.numel());
        {
            let x = tape.value(self.id);
            for (y, &x) in y.iter_mut().zip(&x.data) {
                *y = f(x);
            }
        }
        tape.push(op, &[self.id], Tensor { data: y, shape })
    }

    /// `y = x + c`;  `dx = g`.
    pub fn add_scalar(self, c: f32) -> Var<'t> {
        self.scalar_op(Op::AddScalar(c), |x| x + c)
    }

    /// `y = x * c`;  `dx = g * c`.
    pub fn mul_scalar(self, c: f32) -> Var<'t> {
        self.scalar_op(Op::MulScalar(c), |x| x * c)
    }

    /// `y = c / x`;  `dx = -g * c / x²`.
    pub fn rdiv_scalar(self, c: f32) -> Var<'t> {
        self.scalar_op(Op::RDivScalar(c), |x| c / x)
    }

    /// `y = x^p` for a constant exponent;  `dx = g * p * x^(p-1)`.
    pub fn powf(self, p: f32) -> Var<'t> {
        self.scalar_op(Op::PowF(p), |x| x.powf(p))
    }
}

pub(super) fn backward(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let i = node.inputs[0];
    if !nodes[i].requires_grad {
        return;
    }
    let x = &nodes[i].value;
    let dx = grads.acc(i, x.shape);
    let it = dx.iter_mut().zip(g).zip(&x.data);
    match node.op {
        Op::AddScalar(_) => it.for_each(|((d, &g), _)| *d += g),
        Op::MulScalar(c) => it.for_each(|((d, &g), _)| *d += g * c),
        Op::RDivScalar(c) => it.for_each(|((d, &g), &x)| *d -= g * c / (x * x)),
        Op::PowF(p) => it.for_each(|((d, &g), &x)| *d += g * p * x.powf(p - 1.0)),
        _ => unreachable!("not a scalar op"),
    }
}
