//! Ops that move elements without arithmetic: reshape, broadcast_to, narrow, concat.

use super::Op;
use crate::error::Error;
use crate::grads::Gradients;
use crate::shape::for_each_broadcast;
use crate::tape::Node;
use crate::{Shape, Tensor, Var};
use std::panic::Location;

/// `(outer, len, inner)` of `shape` around `axis`.
fn split(shape: &Shape, axis: usize) -> (usize, usize, usize) {
    let d = shape.dims();
    (
        d[..axis].iter().product(),
        d[axis],
        d[axis + 1..].iter().product(),
    )
}

fn invalid(
    op: &'static str,
    shape: Shape,
    reason: String,
    location: &'static Location<'static>,
) -> Error {
    Error::InvalidArgument {
        op,
        shape,
        reason,
        location,
    }
}

impl<'t> Var<'t> {
    /// The same elements under another shape of equal size;  `dx = g` reshaped back.
    #[track_caller]
    pub fn reshape(self, dims: &[usize]) -> Var<'t> {
        self.try_reshape(dims).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::reshape`] returning the error instead of panicking.
    #[track_caller]
    pub fn try_reshape(self, dims: &[usize]) -> Result<Var<'t>, Error> {
        let s = self.shape();
        let shape = Shape::new(dims);
        if shape.numel() != s.numel() {
            return Err(invalid(
                "reshape",
                s,
                format!("cannot reshape {} elements to {shape}", s.numel()),
                Location::caller(),
            ));
        }
        let mut buf = self.tape.buffer(s.numel());
        self.with_value(|x| buf.copy_from_slice(&x.data));
        Ok(self
            .tape
            .push(Op::Reshape, &[self.id], Tensor { data: buf, shape }))
    }

    /// Repeats the tensor along broadcast axes (NumPy rules);  `dx = g` summed over those axes.
    #[track_caller]
    pub fn broadcast_to(self, dims: &[usize]) -> Var<'t> {
        self.try_broadcast_to(dims)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::broadcast_to`] returning the error instead of panicking.
    #[track_caller]
    pub fn try_broadcast_to(self, dims: &[usize]) -> Result<Var<'t>, Error> {
        let s = self.shape();
        let out = Shape::new(dims);
        if Shape::broadcast(&s, &out) != Some(out) {
            return Err(Error::ShapeMismatch {
                op: "broadcast_to",
                lhs: s,
                rhs: out,
                location: Location::caller(),
            });
        }
        let mut y = self.tape.buffer(out.numel());
        {
            let x = self.tape.value(self.id);
            let sx = s.broadcast_strides(&out);
            for_each_broadcast(&out, &sx, &sx, |o, i, _| y[o] = x.data[i]);
        }
        Ok(self.tape.push(
            Op::BroadcastTo,
            &[self.id],
            Tensor {
                data: y,
                shape: out,
            },
        ))
    }

    /// Elements `start..start + len` along `axis`;  `dx` is `g` placed back in that window,
    /// zero elsewhere.
    #[track_caller]
    pub fn narrow(self, axis: usize, start: usize, len: usize) -> Var<'t> {
        let s = self.shape();
        if axis >= s.rank() || start + len > s.dim(axis) {
            panic!(
                "{}",
                invalid(
                    "narrow",
                    s,
                    format!(
                        "window {start}..{} on axis {axis} is out of range",
                        start + len
                    ),
                    Location::caller()
                )
            );
        }
        let out = s.with_dim(axis, len);
        let (outer, full, inner) = split(&s, axis);
        let mut y = self.tape.buffer(out.numel());
        {
            let x = self.tape.value(self.id);
            for o in 0..outer {
                let src = &x.data[(o * full + start) * inner..(o * full + start + len) * inner];
                y[o * len * inner..(o + 1) * len * inner].copy_from_slice(src);
            }
        }
        self.tape.push(
            Op::Narrow { axis, start },
            &[self.id],
            Tensor {
                data: y,
                shape: out,
            },
        )
    }

    /// Joins tensors along `axis` (all other axes equal);  each input's gradient is its window
    /// of `g`.
    #[track_caller]
    pub fn concat(parts: &[Var<'t>], axis: usize) -> Var<'t> {
        Var::try_concat(parts, axis).unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::concat`] returning the error instead of panicking.
    #[track_caller]
    pub fn try_concat(parts: &[Var<'t>], axis: usize) -> Result<Var<'t>, Error> {
        let loc = Location::caller();
        let first = parts.first().expect("concat: no tensors given");
        let s0 = first.shape();
        if axis >= s0.rank() {
            return Err(invalid(
                "concat",
                s0,
                format!("axis {axis} is out of range"),
                loc,
            ));
        }
        let mut total = 0;
        for p in parts {
            let s = p.shape();
            if s.rank() != s0.rank() || s.with_dim(axis, 1) != s0.with_dim(axis, 1) {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: s0,
                    rhs: s,
                    location: loc,
                });
            }
            total += s.dim(axis);
        }
        let out = s0.with_dim(axis, total);
        let (outer, _, inner) = split(&out, axis);
        let tape = first.tape;
        let mut y = tape.buffer(out.numel());
        let mut ids = Vec::with_capacity(parts.len());
        let mut offset = 0;
        for p in parts {
            let x = tape.value(p.id);
            let len = x.shape.dim(axis);
            for o in 0..outer {
                let dst = (o * total + offset) * inner;
                y[dst..dst + len * inner]
                    .copy_from_slice(&x.data[o * len * inner..(o + 1) * len * inner]);
            }
            offset += len;
            ids.push(p.id);
        }
        Ok(tape.push(
            Op::Concat { axis },
            &ids,
            Tensor {
                data: y,
                shape: out,
            },
        ))
    }
}

pub(super) fn backward(
    node: &Node,
    nodes: &[Node],
    extra: &[usize],
    g: &[f32],
    grads: &mut Gradients,
) {
    let out = node.value.shape;
    match node.op {
        Op::Reshape | Op::BroadcastTo | Op::Narrow { .. } => {
            let i = node.inputs[0];
            if !nodes[i].requires_grad {
                return;
            }
            let xs = nodes[i].value.shape;
            let dx = grads.acc(i, xs);
            match node.op {
                Op::Reshape => dx.iter_mut().zip(g).for_each(|(d, &g)| *d += g),
                Op::BroadcastTo => {
                    let sx = xs.broadcast_strides(&out);
                    for_each_broadcast(&out, &sx, &sx, |o, i, _| dx[i] += g[o]);
                }
                Op::Narrow { axis, start } => {
                    let (outer, full, inner) = split(&xs, axis);
                    let len = out.dim(axis);
                    for o in 0..outer {
                        let dst =
                            &mut dx[(o * full + start) * inner..(o * full + start + len) * inner];
                        let src = &g[o * len * inner..(o + 1) * len * inner];
                        dst.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
                    }
                }
                _ => unreachable!(),
            }
        }
        Op::Concat { axis } => {
            let (outer, total, inner) = split(&out, axis);
            let mut offset = 0;
            for &i in node.inputs(extra) {
                let xs = nodes[i].value.shape;
                let len = xs.dim(axis);
                if nodes[i].requires_grad {
                    let dx = grads.acc(i, xs);
                    for o in 0..outer {
                        let src = (o * total + offset) * inner;
                        let dst = &mut dx[o * len * inner..(o + 1) * len * inner];
                        dst.iter_mut().zip(&g[src..]).for_each(|(d, &g)| *d += g);
                    }
                }
                offset += len;
            }
        }
        _ => unreachable!("not a shape op"),
    }
}
