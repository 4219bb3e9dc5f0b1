//! # vae
//!
//! A variational autoencoder on MNIST, built on the from-scratch [`autograd`] engine: the model
//! and its loss ([`model`]), data ([`data`]), training ([`train`]), evaluation ([`eval`]),
//! checkpoints ([`checkpoint`]), pictures ([`images`], [`plots`], [`report`]).
#![warn(missing_docs)]

pub mod checkpoint;
pub mod eval;
pub mod model;
pub mod train;
