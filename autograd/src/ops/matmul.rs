//! Matrix products. A transposed operand is never copied: the kernel reads it through swapped
//! strides, and the backward products write each gradient straight into its operand's storage
//! layout, again through strides.

use super::Op;
use crate::error::Error;
use crate::grads::Gradients;
use crate::kernels::gemm;
use crate::tape::Node;
use crate::{Shape, Tensor, Var};
use std::panic::Location;

/// How a stored 2-D matrix is read as the operand `op(X)`: its logical rows and columns, and the
/// strides (in elements) of a row step and a column step in the storage.
#[derive(Clone, Copy)]
struct View {
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl View {
    /// `op(X)` for a stored `[r, c]` row-major matrix, transposed or not.
    fn of(shape: &Shape, transposed: bool) -> View {
        let (r, c) = (shape.dim(0), shape.dim(1));
        if transposed {
            View {
                rows: c,
                cols: r,
                rs: 1,
                cs: c,
            }
        } else {
            View {
                rows: r,
                cols: c,
                rs: c,
                cs: 1,
            }
        }
    }

    /// The same storage read as the transpose.
    fn t(self) -> View {
        View {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

impl<'t> Var<'t> {
    /// `Y = A B` for 2-D `A` `[m, k]` and `B` `[k, n]`;  `dA = G Bᵀ`, `dB = Aᵀ G`.
    #[track_caller]
    pub fn matmul(self, rhs: Var<'t>) -> Var<'t> {
        self.try_matmul_t(rhs, false, false)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `Y = op(A) op(B)` where `op` transposes when asked, by strides (no copy);
    /// `d op(A) = G op(B)ᵀ`, `d op(B) = op(A)ᵀ G`.
    #[track_caller]
    pub fn matmul_t(self, rhs: Var<'t>, transpose_lhs: bool, transpose_rhs: bool) -> Var<'t> {
        self.try_matmul_t(rhs, transpose_lhs, transpose_rhs)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// [`Var::matmul_t`] returning the shape error instead of panicking.
    #[track_caller]
    pub fn try_matmul_t(self, rhs: Var<'t>, ta: bool, tb: bool) -> Result<Var<'t>, Error> {
        let (sa, sb) = (self.shape(), rhs.shape());
        let mismatch = Error::ShapeMismatch {
            op: "matmul",
            lhs: sa,
            rhs: sb,
            location: Location::caller(),
        };
        if sa.rank() != 2 || sb.rank() != 2 {
            return Err(mismatch);
        }
        let (a, b) = (View::of(&sa, ta), View::of(&sb, tb));
        if a.cols != b.rows {
            return Err(mismatch);
        }
        let shape = Shape::new(&[a.rows, b.cols]);
        let mut y = self.tape.buffer_dirty(shape.numel());
        {
            let (av, bv) = (self.tape.value(self.id), self.tape.value(rhs.id));
            gemm_view(
                1.0,
                &av.data,
                a,
                &bv.data,
                b,
                0.0,
                &mut y,
                View::of(&shape, false),
            );
        }
        Ok(self.tape.push(
            Op::MatMul { ta, tb },
            &[self.id, rhs.id],
            Tensor { data: y, shape },
        ))
    }

    /// A dense layer, `Y = X Wᵀ + b` with `X` `[m, k]`, `W` `[n, k]` (PyTorch's layout) and
    /// `b` `[n]`, in one node: the bias is written first and the product accumulated onto it.
    /// `dX = G W`, `dW = Gᵀ X`, `db = Σ_rows G`.
    #[track_caller]
    pub fn linear(self, weight: Var<'t>, bias: Var<'t>) -> Var<'t> {
        let (sx, sw, sb) = (self.shape(), weight.shape(), bias.shape());
        let loc = Location::caller();
        if sx.rank() != 2 || sw.rank() != 2 || sx.dim(1) != sw.dim(1) {
            panic!(
                "{}",
                Error::ShapeMismatch {
                    op: "linear",
                    lhs: sx,
                    rhs: sw,
                    location: loc
                }
            );
        }
        if sb.dims() != [sw.dim(0)] {
            panic!(
                "{}",
                Error::ShapeMismatch {
                    op: "linear (bias)",
                    lhs: sw,
                    rhs: sb,
                    location: loc
                }
            );
        }
        let (m, n) = (sx.dim(0), sw.dim(0));
        let shape = Shape::new(&[m, n]);
        let mut y = self.tape.buffer_dirty(m * n);
        {
            let (x, w, b) = (
                self.tape.value(self.id),
                self.tape.value(weight.id),
                self.tape.value(bias.id),
            );
            for row in y.chunks_exact_mut(n) {
                row.copy_from_slice(&b.data);
            }
            let (xv, wv) = (View::of(&sx, false), View::of(&sw, true));
            gemm_view(
                1.0,
                &x.data,
                xv,
                &w.data,
                wv,
                1.0,
                &mut y,
                View::of(&shape, false),
            );
        }
        self.tape.push(
            Op::Linear,
            &[self.id, weight.id, bias.id],
            Tensor { data: y, shape },
        )
    }

    /// The transpose of a 2-D tensor (a copy);  `dx = gᵀ`. To multiply by a transpose, prefer
    /// [`Var::matmul_t`], which needs no copy.
    #[track_caller]
    pub fn transpose(self) -> Var<'t> {
        let s = self.shape();
        if s.rank() != 2 {
            panic!(
                "{}",
                Error::InvalidArgument {
                    op: "transpose",
                    shape: s,
                    reason: "transpose takes a 2-D tensor".into(),
                    location: Location::caller()
                }
            );
        }
        let (r, c) = (s.dim(0), s.dim(1));
        let mut y = self.tape.buffer_dirty(r * c);
        {
            let x = self.tape.value(self.id);
            for i in 0..r {
                for j in 0..c {
                    y[j * r + i] = x.data[i * c + j];
                }
            }
        }
        self.tape.push(
            Op::Transpose,
            &[self.id],
            Tensor {
                data: y,
                shape: Shape::new(&[c, r]),
            },
        )
    }
}

/// `C <- alpha op(A) op(B) + beta C`, all operands described by views.
#[allow(clippy::too_many_arguments)]
fn gemm_view(
    alpha: f32,
    a: &[f32],
    av: View,
    b: &[f32],
    bv: View,
    beta: f32,
    c: &mut [f32],
    cv: View,
) {
    debug_assert_eq!(av.cols, bv.rows);
    debug_assert_eq!((cv.rows, cv.cols), (av.rows, bv.cols));
    gemm(
        av.rows, av.cols, bv.cols, alpha, a, av.rs, av.cs, b, bv.rs, bv.cs, beta, c, cv.rs, cv.cs,
    );
}

/// A fresh gradient buffer is overwritten (beta 0, never read), an existing one accumulated.
fn beta(fresh: bool) -> f32 {
    if fresh { 0.0 } else { 1.0 }
}

pub(super) fn backward(id: usize, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let node = &nodes[id];
    let gv = View::of(&node.value.shape, false);
    match node.op {
        Op::MatMul { ta, tb } => {
            // Each gradient is computed for the *stored* matrix, so C is always row-major
            // (a gemm writing C column-major runs at half speed):
            //   dA = G op(B)ᵀ,  or for a transposed A, dA = op(B) Gᵀ;
            //   dB = op(A)ᵀ G,  or for a transposed B, dB = Gᵀ op(A).
            let (ia, ib) = (node.inputs[0], node.inputs[1]);
            let (a, b) = (&nodes[ia].value, &nodes[ib].value);
            let (av, bv) = (View::of(&a.shape, ta), View::of(&b.shape, tb));
            if nodes[ia].requires_grad {
                let (da, fresh) = grads.acc_fresh(ia, a.shape);
                let out = View::of(&a.shape, false);
                if ta {
                    gemm_view(1.0, &b.data, bv, g, gv.t(), beta(fresh), da, out);
                } else {
                    gemm_view(1.0, g, gv, &b.data, bv.t(), beta(fresh), da, out);
                }
            }
            if nodes[ib].requires_grad {
                let (db, fresh) = grads.acc_fresh(ib, b.shape);
                let out = View::of(&b.shape, false);
                if tb {
                    gemm_view(1.0, g, gv.t(), &a.data, av, beta(fresh), db, out);
                } else {
                    gemm_view(1.0, &a.data, av.t(), g, gv, beta(fresh), db, out);
                }
            }
        }
        Op::Linear => {
            let (ix, iw, ib) = (node.inputs[0], node.inputs[1], node.inputs[2]);
            let (x, w) = (&nodes[ix].value, &nodes[iw].value);
            let (xv, wv) = (View::of(&x.shape, false), View::of(&w.shape, true));
            if nodes[ix].requires_grad {
                let (dx, fresh) = grads.acc_fresh(ix, x.shape);
                gemm_view(1.0, g, gv, &w.data, wv.t(), beta(fresh), dx, xv);
            }
            // dW = Gᵀ X, written row-major into W's own [out, in] layout.
            //
            // The fast build may keep it as its two factors instead, when the store defers
            // weight products (G is this node's own gradient, which stays in the store): the
            // optimizer then streams it block by block (`kernels/fast/deferred.rs`).
            #[cfg(feature = "fast")]
            let deferred = nodes[iw].requires_grad
                && nodes[iw].param.is_some()
                && grads.try_defer(iw, id, &x.data, (gv.rows, gv.cols, xv.cols));
            #[cfg(not(feature = "fast"))]
            let deferred = false;
            if nodes[iw].requires_grad && !deferred {
                let (dw, fresh) = grads.acc_fresh(iw, w.shape);
                let out = View::of(&w.shape, false);
                gemm_view(1.0, g, gv.t(), &x.data, xv, beta(fresh), dw, out);
            }
            if nodes[ib].requires_grad {
                let db = grads.acc(ib, nodes[ib].value.shape);
                for row in g.chunks_exact(gv.cols) {
                    for (d, &g) in db.iter_mut().zip(row) {
                        *d += g;
                    }
                }
            }
        }
        Op::Transpose => {
            let i = node.inputs[0];
            if nodes[i].requires_grad {
                let x = &nodes[i].value;
                let (r, c) = (x.shape.dim(0), x.shape.dim(1));
                let dx = grads.acc(i, x.shape);
                for i in 0..r {
                    for j in 0..c {
                        dx[i * c + j] += g[j * r + i];
                    }
                }
            }
        }
        _ => unreachable!("not a matmul op"),
    }
}
