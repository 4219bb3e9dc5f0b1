//! # autograd
//!
//! A tape-based reverse-mode automatic-differentiation engine over flat `f32` buffers, with its
//! own blocked SIMD matrix multiply.
//!
//! * [`Tensor`]: a `Vec<f32>` plus a [`Shape`], row-major.
//! * [`Tape`] records every op as a node, in creation order (a topological order); [`Var`] is a
//!   `Copy` handle to a node, with operators and methods for every op.
//! * [`Tape::backward`] sweeps the tape once in reverse and returns [`Gradients`] by node id.
//! * Parameters live in a [`ParamStore`] and enter each step as leaves ([`Tape::param`]);
//!   [`optim`] updates them.
//! * [`check::check_gradients`] compares backward with central finite differences.
//! * [`kernels::gemm`] is the matrix multiply behind `matmul`.
//!
//! ```
//! use autograd::{Tape, Tensor};
//!
//! // One logistic-regression loss: mean BCE of sigmoid(x w) against targets.
//! let tape = Tape::new();
//! let x = tape.constant(Tensor::from_vec(vec![1.0, 2.0, -1.0, 0.5], &[2, 2]));
//! let w = tape.var(Tensor::from_vec(vec![0.3, -0.2], &[2, 1]));
//! let t = tape.constant(Tensor::from_vec(vec![1.0, 0.0], &[2, 1]));
//! let loss = x.matmul(w).bce_with_logits(t).mean();
//! let grads = tape.backward(loss);
//! assert_eq!(grads.wrt(w).dims(), &[2, 1]);
//! println!("{tape}"); // one line per node
//! ```
#![warn(missing_docs)]
// `unsafe` lives in the kernels alone (each block with a `// SAFETY:` comment).
#![deny(unsafe_code)]

pub mod check;
#[doc = include_str!("../../docs/ENGINE.md")]
pub mod guide {}
mod error;
mod grads;
pub mod init;
#[allow(unsafe_code)]
pub mod kernels;
pub mod ops;
pub mod optim;
mod params;
mod pool;
mod print;
mod shape;
mod tape;
mod tensor;

pub use error::Error;
pub use grads::Gradients;
pub use init::{Init, Initializer};
pub use optim::{Adam, Optimizer, RmsProp, Sgd};
pub use params::{ParamId, ParamStore};
pub use shape::{MAX_RANK, Shape};
pub use tape::{Tape, Var};
pub use tensor::{Tensor, all_finite};
