//! Pictures from a trained VAE's checkpoint alone, and with `--data` its latent explorer page.
//!
//!     cargo run --release --example generate -- --checkpoint runs/latest/checkpoint.safetensors --out runs/gen
//!     cargo run --release --example generate -- --checkpoint runs/latest/checkpoint.safetensors --out runs/gen --data data/mnist
//!
//! Writes into `--out`:
//! * `samples.png`: an 8 x 8 grid decoded from `z ~ N(0, I)`;
//! * `manifold.png`: a 20 x 20 grid over the Gaussian quantiles of the latent plane (2-D latent
//!   spaces only);
//! * `interpolation.png`: rows of decodes along straight lines between pairs of prior samples;
//! * `explorer.html` (with `--data DIR`, whose test set it shows): the page to walk the latent
//!   space in a browser (see `vae::explorer`).
//!
//! The image shape comes from the checkpoint's `image_rows` / `image_cols` (in its `extra`
//! metadata) when present, else it is guessed from the input size (square if it can be).

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use vae::checkpoint::{self, Checkpoint};
use vae::data::{Binarize, ImageSet, load_dir};
use vae::eval::evaluate;
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
    /// A data folder (the four IDX files): also write explorer.html, with its test set.
    #[arg(long)]
    data: Option<PathBuf>,
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
    // The test set for explorer.html, read first so that a bad --data fails before any output.
    let test = args.data.as_deref().map(|d| test_set(&ck, d)).transpose()?;
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

    match &test {
        Some(test) => {
            let p = out("explorer.html");
            explorer(&ck, test, &p)?;
            done(&p);
        }
        None => println!("explorer.html skipped: it shows the test set; pass --data DIR"),
    }
    Ok(())
}

/// The test set of the data in `dir`, checked against the model's input size.
fn test_set(ck: &Checkpoint, dir: &Path) -> Result<ImageSet, String> {
    let test = load_dir(dir).map_err(|e| e.to_string())?.test;
    if test.dim() != ck.model.config.input_dim {
        return Err(format!(
            "{} has images of {} pixels, the model takes {}",
            dir.display(),
            test.dim(),
            ck.model.config.input_dim
        ));
    }
    Ok(test)
}

/// Writes the explorer page for `ck` with `test`, and the model's test loss on it (with the
/// checkpoint's binarization and seed, as training reports it).
fn explorer(ck: &Checkpoint, test: &ImageSet, path: &Path) -> Result<(), String> {
    let model = &ck.model;
    let binarize = match ck.extra["train"]["binarize"].as_str() {
        Some("dynamic") => Binarize::Dynamic,
        _ => Binarize::None,
    };
    let means = vae::explorer::test_means(model, test);
    let page = vae::explorer::Explorer {
        model,
        means: &means,
        labels: test.labels.as_deref(),
        shape: (test.rows, test.cols),
        test: evaluate(model, test, binarize, 1.0, ck.seed),
        epoch: ck.epoch,
    };
    vae::explorer::write(path, &page)
}

fn main() -> ExitCode {
    // A clap error (bad flag) prints its own message and exits 2 before this point.
    let args = Args::parse();
    vae::cli::run_command(|| run(&args))
}
