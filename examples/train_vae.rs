//! Trains the VAE on MNIST and leaves a checkpoint, metrics and pictures in `--out`.
//!
//!     cargo run --release --example train_vae                       # the seed recipe
//!     cargo run --release --example train_vae -- --preset pytorch-example
//!     cargo run --release --example train_vae -- --help
//!
//! The command line lives in `src/cli.rs`, so the tests can drive it.

fn main() -> std::process::ExitCode {
    vae::cli::main()
}
