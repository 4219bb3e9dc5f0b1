//! Pictures from a trained VAE's checkpoint alone (no training data needed).
//!
//!     cargo run --release --example generate -- --checkpoint runs/seed/model.safetensors --out runs/gen
//!
//! Writes into `--out`:
//! * `samples.png`: an 8 x 8 grid decoded from `z ~ N(0, I)`;
//! * `manifold.png`: a 20 x 20 grid over the Gaussian quantiles of the latent plane (2-D latent
//!   spaces only);
//! * `interpolation.png`: rows of decodes along straight lines between pairs of prior samples.
//!
//! The image shape comes from the checkpoint's `image_rows` / `image_cols` (in its `extra`
//! metadata) when present, else it is guessed from the input size (square if it can be).

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vae::checkpoint::{self, Checkpoint};
use vae::report::{self, ImageShape};

/// Draw samples, the latent manifold and interpolations from a VAE checkpoint.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The checkpoint (a .safetensors file written by training).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The folder to write the pictures into (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Seeds the prior samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The image shape recorded in the checkpoint, or a guess from the input size.
fn image_shape(ck: &Checkpoint) -> ImageShape {
    let dim = ck.model.config.input_dim;
    let get = |k: &str| ck.extra.get(k).and_then(|v| v.as_u64()).map(|v| v as usize);
    match (get("image_rows"), get("image_cols")) {
        (Some(r), Some(c)) if r.checked_mul(c) == Some(dim) => (r, c),
        (Some(r), Some(c)) => {
            let guess = report::guess_shape(dim);
            eprintln!(
                "warning: the checkpoint says images are {r} x {c}, which is not its input size \
                 {dim}; drawing them as {} x {}",
                guess.0, guess.1
            );
            guess
        }
        _ => report::guess_shape(dim),
    }
}

fn run(args: &Args) -> Result<(), String> {
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let model = &ck.model;
    let shape = image_shape(&ck);
    println!(
        "model {} (epoch {}), images {} x {}",
        model.config, ck.epoch, shape.0, shape.1
    );
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let out = |name: &str| -> PathBuf { args.out.join(name) };
    let done = |p: &Path| println!("{}", p.display());

    let p = out("samples.png");
    report::samples(&p, model, shape, 8, args.seed).map_err(|e| e.to_string())?;
    done(&p);

    if model.config.latent == 2 {
        let p = out("manifold.png");
        report::manifold(&p, model, shape, 20).map_err(|e| e.to_string())?;
        done(&p);
    } else {
        println!(
            "manifold.png skipped: the latent space has {} dimensions (the manifold needs 2)",
            model.config.latent
        );
    }

    let p = out("interpolation.png");
    report::interpolation_from_prior(&p, model, shape, 8, 10, args.seed ^ 0x1e7)
        .map_err(|e| e.to_string())?;
    done(&p);
    Ok(())
}

fn main() -> ExitCode {
    // A clap error (bad flag) prints its own message and exits 2 before this point.
    let args = Args::parse();
    vae::cli::run_command(|| run(&args))
}
