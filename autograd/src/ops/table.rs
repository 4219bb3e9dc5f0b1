//! The op table: every op, its forward, its derivative, and the test that checks it.
//!
//! [`Op::row`] is an exhaustive `match`, so an op cannot be added without its row (the crate
//! would not compile); `docs/OPS.md` is [`op_table_markdown`]'s output, and a test fails when
//! the two differ or when a named test does not exist.

use super::{Op, UnaryOp};

/// One row of the op table.
#[derive(Clone, Copy, Debug)]
pub struct OpRow {
    /// The op's name.
    pub name: &'static str,
    /// How to call it.
    pub call: &'static str,
    /// What it computes.
    pub forward: &'static str,
    /// Its backward rule, with `g` the gradient of the output.
    pub derivative: &'static str,
    /// The test that checks it (`file::function`).
    pub test: &'static str,
}

fn row(
    name: &'static str,
    call: &'static str,
    forward: &'static str,
    derivative: &'static str,
    test: &'static str,
) -> OpRow {
    OpRow {
        name,
        call,
        forward,
        derivative,
        test,
    }
}

impl Op {
    /// The op's row; an exhaustive match, so no op is without one. The second value is the op's
    /// index in [`Op::examples`] (checked by a test to cover every kind once).
    pub(crate) fn row(&self) -> (OpRow, usize) {
        // The ops after the unary ones are numbered from here.
        const U: usize = 11 + UnaryOp::ALL.len();
        match *self {
            Op::Leaf => (
                row(
                    "leaf",
                    "tape.var(t)",
                    "an input that needs a gradient",
                    "—",
                    "graph.rs::constants_need_no_gradient",
                ),
                0,
            ),
            Op::Constant => (
                row(
                    "constant",
                    "tape.constant(t)",
                    "data, targets, noise, detached values",
                    "none (skipped)",
                    "graph.rs::constants_need_no_gradient",
                ),
                1,
            ),
            Op::Param => (
                row(
                    "param",
                    "tape.param(&store, id)",
                    "a parameter, shared with the store (no copy)",
                    "collected by `grads.param(id)`",
                    "graph.rs::unused_parameter_has_zero_gradient",
                ),
                2,
            ),
            Op::Add => (
                row(
                    "add",
                    "a + b",
                    "a + b (broadcast)",
                    "da = g, db = g (summed over broadcast axes)",
                    "gradcheck.rs::binary_ops_with_broadcasting",
                ),
                3,
            ),
            Op::Sub => (
                row(
                    "sub",
                    "a - b",
                    "a - b (broadcast)",
                    "da = g, db = -g",
                    "gradcheck.rs::binary_ops_with_broadcasting",
                ),
                4,
            ),
            Op::Mul => (
                row(
                    "mul",
                    "a * b",
                    "a b (broadcast)",
                    "da = g b, db = g a",
                    "gradcheck.rs::binary_ops_with_broadcasting",
                ),
                5,
            ),
            Op::Div => (
                row(
                    "div",
                    "a / b",
                    "a / b (broadcast)",
                    "da = g / b, db = -g a / b²",
                    "gradcheck.rs::binary_ops_with_broadcasting",
                ),
                6,
            ),
            Op::AddScalar(_) => (
                row(
                    "add_scalar",
                    "x + c, c + x, x - c",
                    "x + c",
                    "dx = g",
                    "gradcheck.rs::scalar_ops",
                ),
                7,
            ),
            Op::MulScalar(_) => (
                row(
                    "mul_scalar",
                    "x * c, c * x, x / c",
                    "c x",
                    "dx = c g",
                    "gradcheck.rs::scalar_ops",
                ),
                8,
            ),
            Op::RDivScalar(_) => (
                row(
                    "rdiv_scalar",
                    "c / x",
                    "c / x",
                    "dx = -c g / x²",
                    "gradcheck.rs::scalar_ops",
                ),
                9,
            ),
            Op::PowF(_) => (
                row(
                    "powf",
                    "x.powf(p)",
                    "x^p",
                    "dx = p g x^(p-1)",
                    "gradcheck.rs::scalar_ops",
                ),
                10,
            ),
            Op::Unary(u) => {
                let (call, forward, test) = match u {
                    UnaryOp::Neg => ("-x", "-x", "gradcheck.rs::unary_ops"),
                    UnaryOp::Exp => ("x.exp()", "e^x", "gradcheck.rs::unary_ops"),
                    UnaryOp::Log => ("x.log()", "ln x", "gradcheck.rs::unary_ops"),
                    UnaryOp::Square => ("x.square()", "x²", "gradcheck.rs::unary_ops"),
                    UnaryOp::Sqrt => ("x.sqrt()", "√x", "gradcheck.rs::unary_ops"),
                    UnaryOp::Abs => ("x.abs()", "|x|", "gradcheck.rs::unary_ops"),
                    UnaryOp::Sigmoid => (
                        "x.sigmoid()",
                        "1/(1+e^-x), stable",
                        "stability.rs::sigmoid_limits",
                    ),
                    UnaryOp::Relu => ("x.relu()", "max(x, 0)", "gradcheck.rs::unary_ops"),
                    UnaryOp::Tanh => ("x.tanh()", "tanh x", "gradcheck.rs::unary_ops"),
                    UnaryOp::Softplus => (
                        "x.softplus()",
                        "max(x,0) + ln(1+e^-|x|)",
                        "stability.rs::softplus_limits",
                    ),
                    UnaryOp::LogSigmoid => (
                        "x.log_sigmoid()",
                        "min(x,0) - ln(1+e^-|x|)",
                        "stability.rs::log_sigmoid_limits",
                    ),
                };
                let index = 11 + UnaryOp::ALL.iter().position(|&v| v == u).expect("in ALL");
                (
                    row(u.name(), call, forward, u.derivative_formula_with_g(), test),
                    index,
                )
            }
            Op::Sum => (
                row(
                    "sum",
                    "x.sum()",
                    "Σ x",
                    "dx = g",
                    "gradcheck.rs::reductions",
                ),
                U,
            ),
            Op::Mean => (
                row(
                    "mean",
                    "x.mean()",
                    "Σ x / n",
                    "dx = g / n",
                    "gradcheck.rs::reductions",
                ),
                U + 1,
            ),
            Op::SumAxis { .. } => (
                row(
                    "sum_axis",
                    "x.sum_axis(axis, keep)",
                    "Σ_j x[.., j, ..]",
                    "dx[.., j, ..] = g",
                    "gradcheck.rs::reductions",
                ),
                U + 2,
            ),
            Op::MeanAxis { .. } => (
                row(
                    "mean_axis",
                    "x.mean_axis(axis, keep)",
                    "Σ_j x[.., j, ..] / len",
                    "dx = g / len",
                    "gradcheck.rs::reductions",
                ),
                U + 3,
            ),
            Op::MaxAxis { .. } => (
                row(
                    "max_axis",
                    "x.max_axis(axis, keep)",
                    "max_j x[.., j, ..]",
                    "dx = g at the first maximum, 0 elsewhere",
                    "gradcheck.rs::reductions",
                ),
                U + 4,
            ),
            Op::LogSumExpAxis { .. } => (
                row(
                    "logsumexp_axis",
                    "x.logsumexp_axis(axis, keep)",
                    "m + ln Σ e^(x-m), m = max",
                    "dx = g softmax(x)",
                    "stability.rs::logsumexp_limits",
                ),
                U + 5,
            ),
            Op::MatMul { .. } => (
                row(
                    "matmul",
                    "a.matmul(b), a.matmul_t(b, ta, tb)",
                    "op(A) op(B), transposes by strides",
                    "d op(A) = G op(B)ᵀ, d op(B) = op(A)ᵀ G",
                    "gradcheck.rs::matmul_and_linear",
                ),
                U + 6,
            ),
            Op::Linear => (
                row(
                    "linear",
                    "x.linear(w, b)",
                    "X Wᵀ + b, W is [out, in]",
                    "dX = G W, dW = Gᵀ X, db = Σ_rows G",
                    "gradcheck.rs::matmul_and_linear",
                ),
                U + 7,
            ),
            Op::Transpose => (
                row(
                    "transpose",
                    "x.transpose()",
                    "xᵀ (2-D, a copy)",
                    "dx = gᵀ",
                    "gradcheck.rs::matmul_and_linear",
                ),
                U + 8,
            ),
            Op::Reshape => (
                row(
                    "reshape",
                    "x.reshape(&dims)",
                    "same elements, new shape",
                    "dx = g reshaped",
                    "gradcheck.rs::shape_ops",
                ),
                U + 9,
            ),
            Op::BroadcastTo => (
                row(
                    "broadcast_to",
                    "x.broadcast_to(&dims)",
                    "x repeated along broadcast axes",
                    "dx = g summed over them",
                    "gradcheck.rs::shape_ops",
                ),
                U + 10,
            ),
            Op::Narrow { .. } => (
                row(
                    "narrow",
                    "x.narrow(axis, start, len)",
                    "x[.., start..start+len, ..]",
                    "dx = g in the window, 0 elsewhere",
                    "gradcheck.rs::shape_ops",
                ),
                U + 11,
            ),
            Op::Concat { .. } => (
                row(
                    "concat",
                    "Var::concat(&[a, b], axis)",
                    "[a, b] along axis",
                    "each input gets its window of g",
                    "gradcheck.rs::shape_ops",
                ),
                U + 12,
            ),
            Op::BceWithLogits => (
                row(
                    "bce_with_logits",
                    "x.bce_with_logits(t)",
                    "max(x,0) - x t + ln(1+e^-|x|)",
                    "dx = g (σ(x) - t), dt = -g x",
                    "stability.rs::bce_with_logits_limits",
                ),
                U + 13,
            ),
            Op::BceWithLogitsRowSum => (
                row(
                    "bce_with_logits_rowsum",
                    "x.bce_with_logits_rowsum(t)",
                    "Σ_j bce(x, t) over the last axis",
                    "dx = g_row (σ(x) - t), dt = -g_row x",
                    "gradcheck.rs::bce_with_logits_rowsum",
                ),
                U + 14,
            ),
            Op::SoftmaxCrossEntropy => (
                row(
                    "softmax_cross_entropy",
                    "x.softmax_cross_entropy(t)",
                    "Σ_j t_j (lse(x) - x_j) over the last axis",
                    "dx = g (softmax(x) Σt - t), dt = g (lse(x) - x)",
                    "softmax.rs::softmax_cross_entropy_gradients",
                ),
                U + 15,
            ),
        }
    }

    /// One op of every kind, in table order.
    pub(crate) fn examples() -> Vec<Op> {
        let mut v = vec![
            Op::Leaf,
            Op::Constant,
            Op::Param,
            Op::Add,
            Op::Sub,
            Op::Mul,
            Op::Div,
            Op::AddScalar(0.0),
            Op::MulScalar(0.0),
            Op::RDivScalar(0.0),
            Op::PowF(0.0),
        ];
        v.extend(UnaryOp::ALL.iter().map(|&u| Op::Unary(u)));
        let (axis, keep) = (0, false);
        v.extend([
            Op::Sum,
            Op::Mean,
            Op::SumAxis { axis, keep },
            Op::MeanAxis { axis, keep },
            Op::MaxAxis { axis, keep },
            Op::LogSumExpAxis { axis, keep },
            Op::MatMul {
                ta: false,
                tb: false,
            },
            Op::Linear,
            Op::Transpose,
            Op::Reshape,
            Op::BroadcastTo,
            Op::Narrow { axis, start: 0 },
            Op::Concat { axis },
            Op::BceWithLogits,
            Op::BceWithLogitsRowSum,
            Op::SoftmaxCrossEntropy,
        ]);
        v
    }
}

/// Every row of the op table, one per kind of op.
pub fn op_table() -> Vec<OpRow> {
    Op::examples().iter().map(|op| op.row().0).collect()
}

/// The op table as Markdown (the content of `docs/OPS.md`).
pub fn op_table_markdown() -> String {
    let mut s = String::from(
        "# The op table\n\nEvery op of the engine: how to call it, what it computes, its backward rule \
         (`g` is the gradient arriving at the op's output), and the test that checks it \
         (in `autograd/tests/`). Generated by `cargo run --example op_table`; a test fails when \
         this file and the code disagree.\n\n\
         | op | call | forward | backward | checked by |\n|---|---|---|---|---|\n",
    );
    for r in op_table() {
        s.push_str(&format!(
            "| `{}` | `{}` | {} | {} | `{}` |\n",
            r.name, r.call, r.forward, r.derivative, r.test
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_op_has_exactly_one_row() {
        let ex = Op::examples();
        let mut seen = vec![false; ex.len()];
        for op in &ex {
            let (_, i) = op.row();
            assert!(i < seen.len(), "{} has index {i} past the table", op.name());
            assert!(!seen[i], "two examples share index {i}");
            seen[i] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
