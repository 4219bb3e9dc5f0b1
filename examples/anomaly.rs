//! Anomaly scores from a trained VAE: every test image scored (the one-sample negative ELBO,
//! the importance-weighted `-log p(x)`, An & Cho's reconstruction probability, Serrà et al.'s
//! complexity-corrected likelihood, and more; see `vae::anomaly::scores`), the highest-scoring
//! images as a captioned grid, and all scores as CSV.
//!
//!     cargo run --release --example train_vae -- --exclude-digit 7 --out runs/no7
//!     cargo run --release --example anomaly -- --checkpoint runs/no7/checkpoint.safetensors --digit 7
//!
//! With `--digit D` it reports, for every score, the AUROC and AUPRC (average precision) of
//! telling class `D` (positive) from the rest; `--score` picks the score that ranks the images
//! drawn. Writes into `--out` (default `runs/anomaly`): `anomalies.png` (the top `--top`
//! images, each captioned `label: score`) and `scores.csv` (`index,label,` then one column per
//! score). The command line lives in `src/anomaly/command.rs`, so the tests can drive it.

fn main() -> std::process::ExitCode {
    vae::cli::run_command(|| vae::anomaly::command::run_from(std::env::args_os()))
}
