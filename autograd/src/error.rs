//! The engine's one error type: every variant names the op and the shapes involved, and where in
//! the caller's code the op was built.

use crate::Shape;
use std::fmt;
use std::panic::Location;

/// Everything that can go wrong when building or differentiating a graph.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// Two operands whose shapes do not fit the op (broadcasting, matmul inner sizes, concat).
    ShapeMismatch {
        /// The op being built, e.g. `"add"` or `"matmul"`.
        op: &'static str,
        /// Shape of the left operand.
        lhs: Shape,
        /// Shape of the right operand.
        rhs: Shape,
        /// Where the op was called from.
        location: &'static Location<'static>,
    },
    /// An argument outside the op's domain (an axis past the rank, a reshape to another size...).
    InvalidArgument {
        /// The op being built.
        op: &'static str,
        /// Shape of the input.
        shape: Shape,
        /// What is wrong, in words.
        reason: String,
        /// Where the op was called from.
        location: &'static Location<'static>,
    },
    /// A value or gradient stopped being finite (found by anomaly mode or by the trainer).
    NonFinite {
        /// The op whose output or gradient held NaN or infinity.
        op: &'static str,
        /// Node id on the tape.
        node: usize,
        /// Shape of the offending tensor.
        shape: Shape,
        /// `"value"` or `"gradient"`.
        what: &'static str,
        /// Shapes of the op's inputs.
        inputs: Vec<Shape>,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ShapeMismatch {
                op,
                lhs,
                rhs,
                location,
            } => write!(
                f,
                "{op}: incompatible shapes {lhs} and {rhs} (called at {}:{})",
                location.file(),
                location.line()
            ),
            Error::InvalidArgument {
                op,
                shape,
                reason,
                location,
            } => write!(
                f,
                "{op}: {reason} (input shape {shape}, called at {}:{})",
                location.file(),
                location.line()
            ),
            Error::NonFinite {
                op,
                node,
                shape,
                what,
                inputs,
            } => {
                write!(
                    f,
                    "non-finite {what} at node %{node} ({op}, shape {shape}, inputs"
                )?;
                for s in inputs {
                    write!(f, " {s}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl std::error::Error for Error {}
