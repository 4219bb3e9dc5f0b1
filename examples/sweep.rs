//! Trains the VAE for every combination of a grid of settings and scores each run:
//!
//!     cargo run --release --example sweep -- --grid latent=2,5,10,20 --grid lr=1e-3,3e-4 \
//!         --epochs 30 --validation 10000 --patience 3 --binarize dynamic
//!
//! Any train_vae flag (without dashes) can be an axis, except --out, --threads, --data and
//! --resume (the sweep's own); a list value uses ':' inside the grid (--grid hidden=512:256,400).
//! Other flags go to every run. Writes <out>/<configuration>/ (each run's files and row.json),
//! <out>/sweep.csv and <out>/sweep.png, and prints the best configuration per metric; a
//! configuration that finished is skipped when the sweep runs again. See src/sweep.rs.

fn main() -> std::process::ExitCode {
    vae::sweep::main()
}
