//! # vae
//!
//! A variational autoencoder on MNIST, built on the from-scratch [`autograd`] engine: the model
//! and its loss ([`model`]), the importance-weighted bound ([`iwae`]), data ([`data`]), training ([`train`]), evaluation ([`eval`]),
//! checkpoints ([`checkpoint`]), metrics ([`metrics`]), pictures ([`images`], [`plots`]), the
//! latent explorer page ([`explorer`]) and anomaly detection ([`anomaly`]); judging and
//! choosing models: embedding and sample scores ([`evaluate`]), the MNIST classifier behind the
//! latter ([`classifier`]), early stopping ([`early_stop`]), grid sweeps ([`sweep`]).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod anomaly;
pub mod checkpoint;
pub mod classifier;
pub mod cli;
/// IDX files (plain or gzipped), the MNIST data set, and batches of `f32` pixels.
pub mod data;
pub mod early_stop;
pub mod eval;
pub mod evaluate;
pub mod explorer;
/// Image grids as PNG files (digits, samples, reconstructions, captioned grids).
pub mod images;
pub mod iwae;
/// Metrics over scores (ROC AUC and curve, average precision), for anomaly detection.
pub mod metrics;
pub mod model;
/// Plots: loss curves and latent scatter plots.
pub mod plots;
pub mod report;
pub mod run;
pub mod sweep;
/// The sweep's picture: each metric against the swept values.
pub mod sweep_plot;
pub mod train;
