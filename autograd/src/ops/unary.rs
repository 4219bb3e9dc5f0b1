//! Elementwise math: each op's value `y = f(x)` and its derivative `dy/dx`, written in terms of
//! `x` and the already-computed `y`, next to each other.
//!
//! The logistic family is computed in its stable forms: no `exp` of a large positive number, no
//! `log(0)`, so |x| = 100 or 1e30 gives the right limits.

use super::Op;
use crate::grads::Gradients;
use crate::tape::Node;
use crate::{Tensor, Var};

/// Declares [`UnaryOp`] and [`UnaryOp::ALL`] from one list, so that no op can be left out of
/// the op table, the gradient checks and `docs/OPS.md`, which all iterate `ALL`.
macro_rules! unary_ops {
    ($($(#[doc = $doc:literal])* $name:ident,)*) => {
        /// The elementwise functions of one argument.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum UnaryOp {
            $($(#[doc = $doc])* $name,)*
        }

        impl UnaryOp {
            /// Every unary op, for tables and tests.
            pub const ALL: &'static [UnaryOp] = &[$(UnaryOp::$name,)*];
        }
    };
}

unary_ops! {
    /// `y = -x`
    Neg,
    /// `y = e^x`
    Exp,
    /// `y = ln x`
    Log,
    /// `y = x²`
    Square,
    /// `y = √x`
    Sqrt,
    /// `y = |x|`
    Abs,
    /// `y = 1 / (1 + e^-x)`
    Sigmoid,
    /// `y = max(x, 0)`
    Relu,
    /// `y = tanh x`
    Tanh,
    /// `y = ln(1 + e^x)`
    Softplus,
    /// `y = ln σ(x) = -softplus(-x)`
    LogSigmoid,
}

use super::fastmath::log1p_exp_neg_abs;
pub(crate) use super::fastmath::sigmoid;

impl UnaryOp {
    /// The op's name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Square => "square",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Abs => "abs",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Relu => "relu",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Softplus => "softplus",
            UnaryOp::LogSigmoid => "log_sigmoid",
        }
    }

    /// `y = f(x)`.
    #[inline(always)]
    pub fn forward(self, x: f32) -> f32 {
        match self {
            UnaryOp::Neg => -x,
            UnaryOp::Exp => x.exp(),
            UnaryOp::Log => x.ln(),
            UnaryOp::Square => x * x,
            UnaryOp::Sqrt => x.sqrt(),
            UnaryOp::Abs => x.abs(),
            UnaryOp::Sigmoid => sigmoid(x),
            UnaryOp::Relu => x.max(0.0),
            UnaryOp::Tanh => x.tanh(),
            UnaryOp::Softplus => x.max(0.0) + log1p_exp_neg_abs(x),
            UnaryOp::LogSigmoid => x.min(0.0) - log1p_exp_neg_abs(x),
        }
    }

    /// `dy/dx`, given `x` and `y = f(x)`.
    #[inline(always)]
    pub fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            UnaryOp::Neg => -1.0,
            UnaryOp::Exp => y,                       // d e^x = e^x
            UnaryOp::Log => 1.0 / x,                 // d ln x = 1/x
            UnaryOp::Square => 2.0 * x,              // d x² = 2x
            UnaryOp::Sqrt => 0.5 / y,                // d √x = 1 / (2√x)
            UnaryOp::Abs => sign(x),                 // d |x| = sign x (0 at 0)
            UnaryOp::Sigmoid => y * (1.0 - y),       // d σ = σ (1 - σ)
            UnaryOp::Relu => (x > 0.0) as u8 as f32, // 1 where x > 0
            UnaryOp::Tanh => 1.0 - y * y,            // d tanh = 1 - tanh²
            UnaryOp::Softplus => sigmoid(x),         // d softplus = σ(x)
            UnaryOp::LogSigmoid => sigmoid(-x),      // d ln σ(x) = 1 - σ(x) = σ(-x)
        }
    }

    /// The backward rule as a formula (`g` is the output's gradient, `y` the output).
    pub fn derivative_formula_with_g(self) -> &'static str {
        match self {
            UnaryOp::Neg => "dx = -g",
            UnaryOp::Exp => "dx = g y",
            UnaryOp::Log => "dx = g / x",
            UnaryOp::Square => "dx = 2 g x",
            UnaryOp::Sqrt => "dx = g / (2y)",
            UnaryOp::Abs => "dx = g sign(x)",
            UnaryOp::Sigmoid => "dx = g y (1 - y)",
            UnaryOp::Relu => "dx = g [x > 0]",
            UnaryOp::Tanh => "dx = g (1 - y²)",
            UnaryOp::Softplus => "dx = g σ(x)",
            UnaryOp::LogSigmoid => "dx = g σ(-x)",
        }
    }
}

fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// Expands `$body` once per op with `$op` bound to that op as a constant, so each loop is
/// compiled (and vectorised) for one function instead of branching on the op per element.
/// (The list of names must be [`UnaryOp`]'s: the `match` is exhaustive, so a missing one does
/// not compile.)
macro_rules! per_op {
    ($f:expr, $op:ident => $body:block) => {
        per_op!(@ $f, $op, $body, Neg Exp Log Square Sqrt Abs Sigmoid Relu Tanh Softplus LogSigmoid)
    };
    (@ $f:expr, $op:ident, $body:block, $($name:ident)*) => {
        match $f {
            $(UnaryOp::$name => {
                const $op: UnaryOp = UnaryOp::$name;
                $body
            })*
        }
    };
}

impl<'t> Var<'t> {
    /// Applies an elementwise function, recording it for backward.
    pub fn unary(self, f: UnaryOp) -> Var<'t> {
        let tape = self.tape;
        let shape = self.shape();
        let mut y = tape.buffer_dirty(shape.numel());
        {
            let x = tape.value(self.id);
            // The fast build's one difference: tanh by a vectorised formula (`kernels/fast/tanh.rs`).
            #[cfg(feature = "fast")]
            let done = f == UnaryOp::Tanh && crate::kernels::fast::tanh_into(&x.data, &mut y);
            #[cfg(not(feature = "fast"))]
            let done = false;
            if !done {
                per_op!(f, F => {
                    for (y, &x) in y.iter_mut().zip(&x.data) {
                        *y = F.forward(x);
                    }
                });
            }
        }
        tape.push(Op::Unary(f), &[self.id], Tensor { data: y, shape })
    }

    /// `y = e^x`;  `dx = g * y`.
    pub fn exp(self) -> Var<'t> {
        self.unary(UnaryOp::Exp)
    }
    /// `y = ln x`;  `dx = g / x`.
    pub fn log(self) -> Var<'t> {
        self.unary(UnaryOp::Log)
    }
    /// `y = x²`;  `dx = 2 g x`.
    pub fn square(self) -> Var<'t> {
        self.unary(UnaryOp::Square)
    }
    /// `y = √x`;  `dx = g / (2y)`.
    pub fn sqrt(self) -> Var<'t> {
        self.unary(UnaryOp::Sqrt)
    }
    /// `y = |x|`;  `dx = g sign(x)`.
    pub fn abs(self) -> Var<'t> {
        self.unary(UnaryOp::Abs)
    }
    /// `y = σ(x) = 1/(1+e^-x)`, stable;  `dx = g y (1 - y)`.
    pub fn sigmoid(self) -> Var<'t> {
        self.unary(UnaryOp::Sigmoid)
    }
    /// `y = max(x, 0)`;  `dx = g [x > 0]`.
    pub fn relu(self) -> Var<'t> {
        self.unary(UnaryOp::Relu)
    }
    /// `y = tanh x`;  `dx = g (1 - y²)`.
    pub fn tanh(self) -> Var<'t> {
        self.unary(UnaryOp::Tanh)
    }
    /// `y = ln(1 + e^x) = max(x,0) + ln(1 + e^-|x|)`, stable;  `dx = g σ(x)`.
    pub fn softplus(self) -> Var<'t> {
        self.unary(UnaryOp::Softplus)
    }
    /// `y = ln σ(x) = min(x,0) - ln(1 + e^-|x|)`, stable;  `dx = g σ(-x)`.
    pub fn log_sigmoid(self) -> Var<'t> {
        self.unary(UnaryOp::LogSigmoid)
    }
}

pub(super) fn backward(f: UnaryOp, node: &Node, nodes: &[Node], g: &[f32], grads: &mut Gradients) {
    let i = node.inputs[0];
    if !nodes[i].requires_grad {
        return;
    }
    let x = &nodes[i].value;
    let y = &node.value.data;
    let (dx, fresh) = grads.acc_fresh(i, x.shape);
    per_op!(f, F => {
        let it = dx.iter_mut().zip(g).zip(&x.data).zip(y);
        if fresh {
            it.for_each(|(((dx, &g), &x), &y)| *dx = g * F.derivative(x, y));
        } else {
            it.for_each(|(((dx, &g), &x), &y)| *dx += g * F.derivative(x, y));
        }
    });
}
