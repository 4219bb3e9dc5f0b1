//! Anomaly detection with a VAE: per-image scores ([`scores`]), the lossless code lengths the
//! complexity-corrected score needs ([`compress`]), the single-checkpoint command
//! ([`command`], `examples/anomaly.rs`) and the held-out-digit benchmark ([`bench`](mod@bench),
//! `examples/anomaly_bench.rs`).

pub mod bench;
pub mod command;
pub mod compress;
pub mod plot;
pub mod scores;
