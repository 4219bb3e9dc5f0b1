//! The held-out-digit anomaly benchmark in one command: trains ten VAEs, each without one digit
//! (the seed recipe by default: 784-512-2, 10 epochs), scores the whole test set with every
//! score, and writes AUROC/AUPRC tables beside the published anchor, `roc.png` and
//! `top_anomalies.png`.
//!
//!     cargo run --release --example anomaly_bench
//!     cargo run --release --example anomaly_bench -- --preset pytorch-example --out runs/bench20
//!     cargo run --release --example anomaly_bench -- --help
//!
//! An interrupted run continues: finished models are reused, partial ones resume. The command
//! line lives in `src/anomaly/bench.rs`.

fn main() -> std::process::ExitCode {
    vae::cli::run_command(|| vae::anomaly::bench::run_from(std::env::args_os()))
}
