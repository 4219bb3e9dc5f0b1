//! Reductions: over everything, or along one axis (optionally keeping it as size 1).
//!
//! An axis reduction views the input as `[outer, len, inner]` (the axis in the middle); output
//! element `(o, i)` reduces input elements `(o, 0..len, i)`.

use super::Op;
use crate::error::Error;
use crate::grads::Gradients;
use crate::tape::Node;
use crate::{Shape, Tensor, Var};
use std::panic::Location;

/// `(outer, len, inner)` for reducing `shape` along `axis`.
fn split(shape: &Shape, axis: usize) -> (usize, usize, usize) {
    let d = shape.dims();
    (
        d[..axis].iter().product(),
        d[axis],
        d[axis + 1..].iter().product(),
    )
}

impl<'t> Var<'t> {
    /// `y = Σ x` (a scalar);  `dx = g` everywhere.
    pub fn sum(self) -> Var<'t> {
        let s: f32 = self.with_value(|x| x.data.iter().sum());
        self.reduced(Op::Sum, Shape::scalar(), |y| y[0] = s)
    }

    /// `y = Σ x / n` (a scalar);  `dx = g / n` everywhere.
    pub fn mean(self) -> Var<'t> {
        let m: f32 = self.with_value(|x| x.data.iter().sum::<f32>() / x.numel().max(1) as f32);
        self.reduced(Op::Mean, Shape::scalar(), |y| y[0] = m)
    }

    /// Sum along `axis`;  `dx[o, j, i] = g[o, i]`. With `keep` the axis stays with size 1.
    #[track_caller]
    pub fn sum_axis(self, axis: usize, keep: bool) -> Var<'t> {
        self.reduce_axis(Op::SumAxis { axis, keep }, axis, keep)
    }

    /// Mean along `axis`;  `dx[o, j, i] = g[o, i] / len`.
    #[track_caller]
    pub fn mean_axis(self, axis: usize, keep: bool) -> Var<'t> {
        self.reduce_axis(Op::MeanAxis { axis, keep }, axis, keep)
    }

    /// Maximum along `axis`;  the gradient flows to the first maximal element only.
    #[track_caller]
    pub fn max_axis(self, axis: usize, keep: bool) -> Var<'t> {
        self.reduce_axis(Op::MaxAxis { axis, keep }, axis, keep)
    }

    /// `y = ln Σ_j e^{x_j}` along `axis`, computed as `m + ln Σ e^{x_j - m}` with `m = max x_j`
    /// so it never overflows;  `dx_j = g e^{x_j - y}` (the softmax).
    #[track_caller]
    pub fn logsumexp_axis(self, axis: usize, keep: bool) -> Var<'t> {
        self.reduce_axis(Op::LogSumExpAxis { axis, keep }, axis, keep)
    }

    fn reduced(self, op: Op, shape: Shape, fill: impl FnOnce(&mut [f32])) -> Var<'t> {
        let mut y = self.tape.buffer(shape.numel());
        fill(&mut y);
        self.tape.push(op, &[self.id], Tensor { data: y, shape })
    }

    #[track_caller]
    fn reduce_axis(self, op: Op, axis: usize, keep: bool) -> Var<'t> {
        let shape = self.shape();
        if axis >= shape.rank() {
            panic!(
                "{}",
                Error::InvalidArgument {
                    op: op.name(),
                    shape,
                    reason: format!("axis {axis} is out of range for rank {}", shape.rank()),
                    location: Location::caller(),
                }
            );
        }
        let out = if keep {
            shape.with_dim(axis, 1)
        } else {
            shape.without_dim(axis)
        };
        let (outer, len, inner) = split(&shape, axis);
        let mut y = self.tape.buffer(out.numel());
        {
            let x = self.tape.value(self.id);
            let x = &x.data;
            for o in 0..outer {
                for i in 0..inner {
                    let at = |j: usize| x[(o * len + j) * inner + i];
                    y[o * inner + i] = match op {
                        Op::SumAxis { .. } => (0..len).map(at).sum(),
                        Op::MeanAxis { .. } => (0..len).map(at).sum::<f32>() / len as f32,
                        Op::MaxAxis { .. } => (0..len).map(at).fold(f32::NEG_INFINITY, f32::max),
                        Op::LogSumExpAxis { .. } => logsumexp((0..len).map(at)),
                        _ => unreachable!(),
                    };
                }
            }
        }
        self.tape.push(
            op,
            &[self.id],
            Tensor {
                data: y,
                shape: out,
            },
        )
    }
}

/// `m + ln Σ e^(x - m)` with `m` the largest value: no exponential overflows (`-inf` for no
/// values, `±inf` when `m` is infinite).
pub(crate) fn logsumexp(values: impl Iterator<Item = f32> + Clone) -> f32 {
    let m = values.clone().fold(f32::NEG_INFINITY, f32::max);
    if m.is_infinite() {
        return m;
    }
    m + values.map(|x| (x - m).exp()).sum::<f32>().ln()
}

pub(super) fn backward(node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let i = node.inputs[0];
    if !nodes[i].requires_grad {
        return;
    }
    let x = &nodes[i].value;
    let dx = grads.acc(i, x.shape);
    let n = x.numel().max(1) as f32;
    let axis = match node.op {
        Op::Sum => return dx.iter_mut().for_each(|d| *d += g[0]),
        Op::Mean => return dx.iter_mut().for_each(|d| *d += g[0] / n),
        Op::SumAxis { axis, .. }
        | Op::MeanAxis { axis, .. }
        | Op::MaxAxis { axis, .. }
        | Op::LogSumExpAxis { axis, .. } => axis,
        _ => unreachable!("not a reduction"),
    };
    let (outer, len, inner) = split(&x.shape, axis);
    let y = &node.value.data;
    for o in 0..outer {
        for i in 0..inner {
            let (go, yo) = (g[o * inner + i], y[o * inner + i]);
            let at = |j: usize| (o * len + j) * inner + i;
            match node.op {
                Op::SumAxis { .. } => (0..len).for_each(|j| dx[at(j)] += go),
                Op::MeanAxis { .. } => (0..len).for_each(|j| dx[at(j)] += go / len as f32),
                Op::MaxAxis { .. } => {
                    if let Some(j) = (0..len).find(|&j| x.data[at(j)] == yo) {
                        dx[at(j)] += go;
                    }
                }
                Op::LogSumExpAxis { .. } => {
                    // The softmax, from the max rather than from y: e^{x - y} loses the low
                    // bits of y when |y| is large.
                    let m = (0..len)
                        .map(|j| x.data[at(j)])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let s: f32 = (0..len).map(|j| (x.data[at(j)] - m).exp()).sum();
                    (0..len).for_each(|j| dx[at(j)] += go * (x.data[at(j)] - m).exp() / s)
                }
                _ => unreachable!(),
            }
        }
    }
}
