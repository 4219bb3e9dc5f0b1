//! Scores a trained VAE from its checkpoint and adds the figures to its `summary.json`:
//! k-NN accuracy (k = 1, 5) and trustworthiness (k = 5) of the posterior means, beside PCA's.
//!
//!     cargo run --release --example evaluate -- --checkpoint runs/latest/checkpoint.safetensors
//!     cargo run --release --example evaluate -- --help
//!
//! The command line lives in `src/evaluate/cli.rs`, so the tests can drive it.

fn main() -> std::process::ExitCode {
    vae::evaluate::cli::main()
}
