//! Elementwise ops between two tensors, with NumPy broadcasting.
//!
//! Backward sums the gradient back over every broadcast axis: an input read at one index by many
//! outputs receives the sum of their gradients. Visiting the output in order with the input's
//! broadcast strides (0 along broadcast axes) does exactly that with a single `+=`.

use super::Op;
use crate::error::Error;
use crate::grads::Gradients;
use crate::shape::for_each_broadcast;
use crate::tape::Node;
use crate::{Shape, Tensor, Var};
use std::panic::Location;

/// `y = f(a, b)` and the two partial derivatives, side by side.
///
/// | op  | y      | dy/da  | dy/db     |
/// |-----|--------|--------|-----------|
/// | add | a + b  | 1      | 1         |
/// | sub | a - b  | 1      | -1        |
/// | mul | a * b  | b      | a         |
/// | div | a / b  | 1 / b  | -a / b²   |
#[inline(always)]
fn forward(op: Op, a: f32, b: f32) -> f32 {
    match op {
        Op::Add => a + b,
        Op::Sub => a - b,
        Op::Mul => a * b,
        Op::Div => a / b,
        _ => unreachable!("not a binary op"),
    }
}

#[inline(always)]
fn d_da(op: Op, _a: f32, b: f32) -> f32 {
    match op {
        Op::Add | Op::Sub => 1.0,
        Op::Mul => b,
        Op::Div => 1.0 / b,
        _ => unreachable!(),
    }
}

#[inline(always)]
fn d_db(op: Op, a: f32, b: f32) -> f32 {
    match op {
        Op::Add => 1.0,
        Op::Sub => -1.0,
        Op::Mul => a,
        Op::Div => -a / (b * b),
        _ => unreachable!(),
    }
}

impl<'t> Var<'t> {
    /// `self + rhs` with broadcasting; `d/dself = 1`, `d/drhs = 1` (summed over broadcast axes).
    #[track_caller]
    pub fn try_add(self, rhs: Var<'t>) -> Result<Var<'t>, Error> {
        self.binary(rhs, Op::Add, Location::caller())
    }

    /// `self - rhs` with broadcasting; `d/dself = 1`, `d/drhs = -1`.
    #[track_caller]
    pub fn try_sub(self, rhs: Var<'t>) -> Result<Var<'t>, Error> {
        self.binary(rhs, Op::Sub, Location::caller())
    }

    /// `self * rhs` with broadcasting; `d/dself = rhs`, `d/drhs = self`.
    #[track_caller]
    pub fn try_mul(self, rhs: Var<'t>) -> Result<Var<'t>, Error> {
        self.binary(rhs, Op::Mul, Location::caller())
    }

    /// `self / rhs` with broadcasting; `d/dself = 1/rhs`, `d/drhs = -self/rhs²`.
    #[track_caller]
    pub fn try_div(self, rhs: Var<'t>) -> Result<Var<'t>, Error> {
        self.binary(rhs, Op::Div, Location::caller())
    }

    pub(crate) fn binary(
        self,
        rhs: Var<'t>,
        op: Op,
        location: &'static Location<'static>,
    ) -> Result<Var<'t>, Error> {
        let tape = self.tape;
        assert!(
            std::ptr::eq(tape, rhs.tape),
            "{}: operands live on different tapes",
            op.name()
        );
        let (sa, sb) = (self.shape(), rhs.shape());
        let out = Shape::broadcast(&sa, &sb).ok_or(Error::ShapeMismatch {
            op: op.name(),
            lhs: sa,
            rhs: sb,
            location,
        })?;
        let mut y = tape.buffer(out.numel());
        {
            let a = tape.value(self.id);
            let b = tape.value(rhs.id);
            if sa == out && sb == out {
                for ((y, &a), &b) in y.iter_mut().zip(&a.data).zip(&b.data) {
                    *y = forward(op, a, b);
                }
            } else if sa == out && sb.numel() == 1 {
                let b = b.data[0];
                for (y, &a) in y.iter_mut().zip(&a.data) {
                    *y = forward(op, a, b);
                }
            } else {
                let (ta, tb) = (sa.broadcast_strides(&out), sb.broadcast_strides(&out));
                for_each_broadcast(&out, &ta, &tb, |o, i, j| {
                    y[o] = forward(op, a.data[i], b.data[j])
                });
            }
        }
        Ok(tape.push(
            op,
            &[self.id, rhs.id],
            Tensor {
                data: y,
                shape: out,
            },
        ))
    }
}

pub(super) fn backward(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let op = node.op;
    let (ia, ib) = (node.inputs[0], node.inputs[1]);
    let (a, b) = (&nodes[ia].value, &nodes[ib].value);
    let out = node.value.shape;
    let (ta, tb) = (
        a.shape.broadcast_strides(&out),
        b.shape.broadcast_strides(&out),
    );
    if nodes[ia].requires_grad {
        let da = grads.acc(ia, a.shape);
        if a.shape == out && b.shape == out {
            for (((da, &g), &a), &b) in da.iter_mut().zip(g).zip(&a.data).zip(&b.data) {
                *da += g * d_da(op, a, b);
            }
        } else {
            for_each_broadcast(&out, &ta, &tb, |o, i, j| {
                da[i] += g[o] * d_da(op, a.data[i], b.data[j])
            });
        }
    }
    if nodes[ib].requires_grad {
        let db = grads.acc(ib, b.shape);
        if a.shape == out && b.shape == out {
            for (((db, &g), &a), &b) in db.iter_mut().zip(g).zip(&a.data).zip(&b.data) {
                *db += g * d_db(op, a, b);
            }
        } else {
            for_each_broadcast(&out, &ta, &tb, |o, i, j| {
                db[j] += g[o] * d_db(op, a.data[i], b.data[j])
            });
        }
    }
}
