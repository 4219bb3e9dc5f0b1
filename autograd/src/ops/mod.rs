//! Every op the engine knows, one family per file, each op's forward and backward side by side.
//!
//! | family | file | ops |
//! |---|---|---|
//! | elementwise with broadcasting | `binary.rs` | add, sub, mul, div |
//! | elementwise with a scalar | `scalar.rs` | x + c, x * c, c / x, powf |
//! | elementwise math | `unary.rs` | neg, exp, log, square, sqrt, abs, sigmoid, relu, tanh, softplus, log_sigmoid |
//! | reductions | `reduce.rs` | sum, mean, sum_axis, mean_axis, max_axis, logsumexp_axis |
//! | linear algebra | `matmul.rs` | matmul (transposes by strides), linear (x W + b), transpose |
//! | shape | `shape_ops.rs` | reshape, broadcast_to, narrow, concat |
//! | losses | `loss.rs` | bce_with_logits |
//! | classification loss | `softmax.rs` | softmax_cross_entropy |
//!
//! `backward` below dispatches a node to its family; each family adds `grad_out` times the local
//! derivative into the inputs' gradient buffers, skipping inputs that need no gradient.

mod binary;
pub(crate) mod fastmath;
pub(crate) mod loss;
mod matmul;
mod overload;
mod reduce;
mod scalar;
mod shape_ops;
mod softmax;
mod table;
mod unary;

pub use table::{OpRow, op_table, op_table_markdown};
pub use unary::UnaryOp;

use crate::grads::Gradients;
use crate::tape::Node;

/// What a node computes. Parameters of the op (axes, constants) live in the variant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Op {
    /// An input that needs a gradient.
    Leaf,
    /// An input that needs none (data, targets, noise, detached values).
    Constant,
    /// A parameter from a `ParamStore`.
    Param,
    Add,
    Sub,
    Mul,
    Div,
    AddScalar(f32),
    MulScalar(f32),
    /// `c / x`
    RDivScalar(f32),
    PowF(f32),
    Unary(UnaryOp),
    Sum,
    Mean,
    SumAxis {
        axis: usize,
        keep: bool,
    },
    MeanAxis {
        axis: usize,
        keep: bool,
    },
    MaxAxis {
        axis: usize,
        keep: bool,
    },
    LogSumExpAxis {
        axis: usize,
        keep: bool,
    },
    MatMul {
        ta: bool,
        tb: bool,
    },
    Linear,
    Transpose,
    Reshape,
    BroadcastTo,
    Narrow {
        axis: usize,
        start: usize,
    },
    Concat {
        axis: usize,
    },
    BceWithLogits,
    BceWithLogitsRowSum,
    SoftmaxCrossEntropy,
}

impl Op {
    /// The op's name, as used in error messages.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Op::Leaf => "leaf",
            Op::Constant => "constant",
            Op::Param => "param",
            Op::Add => "add",
            Op::Sub => "sub",
            Op::Mul => "mul",
            Op::Div => "div",
            Op::AddScalar(_) => "add_scalar",
            Op::MulScalar(_) => "mul_scalar",
            Op::RDivScalar(_) => "rdiv_scalar",
            Op::PowF(_) => "powf",
            Op::Unary(u) => u.name(),
            Op::Sum => "sum",
            Op::Mean => "mean",
            Op::SumAxis { .. } => "sum_axis",
            Op::MeanAxis { .. } => "mean_axis",
            Op::MaxAxis { .. } => "max_axis",
            Op::LogSumExpAxis { .. } => "logsumexp_axis",
            Op::MatMul { .. } => "matmul",
            Op::Linear => "linear",
            Op::Transpose => "transpose",
            Op::Reshape => "reshape",
            Op::BroadcastTo => "broadcast_to",
            Op::Narrow { .. } => "narrow",
            Op::Concat { .. } => "concat",
            Op::BceWithLogits => "bce_with_logits",
            Op::BceWithLogitsRowSum => "bce_with_logits_rowsum",
            Op::SoftmaxCrossEntropy => "softmax_cross_entropy",
        }
    }

    /// The name with the op's parameters, for printing a tape.
    pub(crate) fn label(&self) -> String {
        match self {
            Op::AddScalar(c) => format!("add_scalar[{c}]"),
            Op::MulScalar(c) => format!("mul_scalar[{c}]"),
            Op::RDivScalar(c) => format!("rdiv_scalar[{c}]"),
            Op::PowF(p) => format!("powf[{p}]"),
            Op::SumAxis { axis, keep }
            | Op::MeanAxis { axis, keep }
            | Op::MaxAxis { axis, keep }
            | Op::LogSumExpAxis { axis, keep } => {
                format!(
                    "{}[axis={axis}{}]",
                    self.name(),
                    if *keep { ",keep" } else { "" }
                )
            }
            Op::MatMul { ta, tb } => format!(
                "matmul{}",
                match (ta, tb) {
                    (false, false) => "",
                    (true, false) => "[Aᵀ]",
                    (false, true) => "[Bᵀ]",
                    (true, true) => "[Aᵀ,Bᵀ]",
                }
            ),
            Op::Narrow { axis, start } => format!("narrow[axis={axis},start={start}]"),
            Op::Concat { axis } => format!("concat[axis={axis}]"),
            _ => self.name().to_string(),
        }
    }
}

/// Adds node `id`'s contribution to its inputs' gradients, given `g` = d loss / d node.
pub(crate) fn backward(
    id: usize,
    nodes: &[Node],
    extra: &[usize],
    g: &[f32],
    grads: &mut Gradients,
) {
    let node = &nodes[id];
    match node.op {
        Op::Leaf | Op::Constant | Op::Param => {}
        Op::Add | Op::Sub | Op::Mul | Op::Div => binary::backward(node, nodes, g, grads),
        Op::AddScalar(_) | Op::MulScalar(_) | Op::RDivScalar(_) | Op::PowF(_) => {
            scalar::backward(node, nodes, g, grads)
        }
        Op::Unary(u) => unary::backward(u, node, nodes, g, grads),
        Op::Sum
        | Op::Mean
        | Op::SumAxis { .. }
        | Op::MeanAxis { .. }
        | Op::MaxAxis { .. }
        | Op::LogSumExpAxis { .. } => reduce::backward(node, nodes, g, grads),
        Op::MatMul { .. } | Op::Linear | Op::Transpose => matmul::backward(id, nodes, g, grads),
        Op::Reshape | Op::BroadcastTo | Op::Narrow { .. } | Op::Concat { .. } => {
            shape_ops::backward(node, nodes, extra, g, grads)
        }
        Op::BceWithLogits => loss::backward(node, nodes, g, grads),
        Op::BceWithLogitsRowSum => loss::backward_rowsum(node, nodes, g, grads),
        Op::SoftmaxCrossEntropy => softmax::backward(node, nodes, g, grads),
    }
}
