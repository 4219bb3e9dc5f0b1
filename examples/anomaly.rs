//! Anomaly scores from a trained VAE: every test image's `-log p(x)`, estimated with `K`
//! importance samples, the highest-scoring images as a captioned grid, and all scores as CSV.
//!
//!     cargo run --release --example anomaly -- --checkpoint runs/no7/model.safetensors --digit 7
//!
//! With `--digit D` it reports the ROC AUC of the score for telling class `D` (positive) from the
//! rest: train with a digit left out, and the AUC says how well the likelihood spots it.
//!
//! Writes into `--out` (default `runs/anomaly`): `anomalies.png` (the top `--top` scores, each
//! captioned `#index score`) and `scores.csv` (`index,label,score`).

use clap::Parser;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use vae::checkpoint;
use vae::data::{Binarize, load_dir};
use vae::eval::iw_scores;
use vae::images::{Grid, save_grid_labeled};
use vae::metrics::roc_auc;

/// Score test images by their estimated negative log-likelihood under a VAE checkpoint.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The checkpoint (a .safetensors file written by training).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The folder with the IDX files (MNIST layout); its test set is scored.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The folder to write anomalies.png and scores.csv into (created if needed).
    #[arg(long, default_value = "runs/anomaly")]
    out: PathBuf,
    /// Importance samples per image (1 gives the one-sample negative ELBO).
    #[arg(long, default_value_t = 16)]
    samples: usize,
    /// How many of the highest-scoring images to draw.
    #[arg(long, default_value_t = 32)]
    top: usize,
    /// Report the ROC AUC of the score for telling this class (positive) from the rest.
    #[arg(long)]
    digit: Option<u8>,
    /// Seeds the importance samples (and the binarization, when the model was trained so).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// The `q`-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn run(args: &Args) -> Result<(), String> {
    if args.samples == 0 {
        return Err("--samples must be at least 1".into());
    }
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let model = &ck.model;
    let test = load_dir(&args.data)
        .map_err(|e| format!("cannot load the data: {e}"))?
        .test;
    if test.is_empty() {
        return Err(format!("the test set in {} is empty", args.data.display()));
    }
    if test.dim() != model.config.input_dim {
        return Err(format!(
            "the images in {} have {} x {} = {} pixels, the model {} takes {}",
            args.data.display(),
            test.rows,
            test.cols,
            test.dim(),
            model.config,
            model.config.input_dim
        ));
    }
    let labels = test.labels.clone();
    let positive = match (args.digit, &labels) {
        (None, _) => None,
        (Some(_), None) => return Err("--digit needs labels, and the test set has none".into()),
        (Some(d), Some(l)) => {
            let pos: Vec<bool> = l.iter().map(|&x| x == d).collect();
            match pos.iter().filter(|&&p| p).count() {
                0 => return Err(format!("no test image has label {d}: the AUC is undefined")),
                k if k == pos.len() => {
                    return Err(format!(
                        "every test image has label {d}: the AUC is undefined"
                    ));
                }
                _ => Some(pos),
            }
        }
    };
    // Score with the targets the model was trained on.
    let binarize = match ck.extra.get("binarize").and_then(|v| v.as_str()) {
        Some("dynamic") => Binarize::Dynamic,
        _ => Binarize::None,
    };
    println!(
        "model {} (epoch {}); scoring {} test images with {} importance samples ({})",
        model.config,
        ck.epoch,
        test.len(),
        args.samples,
        match binarize {
            Binarize::Dynamic => "binarized targets",
            Binarize::None => "grey-level targets",
        }
    );
    let scores = iw_scores(model, &test, args.samples, binarize, args.seed);
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(format!(
            "the score of image #{i} is not finite ({})",
            scores[i]
        ));
    }

    let mut sorted = scores.clone();
    sorted.sort_by(f64::total_cmp);
    let n = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / n;
    let sd = (scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n).sqrt();
    println!(
        "-log p(x) in nats: mean {mean:.2}  sd {sd:.2}  min {:.2}  median {:.2}  p99 {:.2}  max {:.2}",
        sorted[0],
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.99),
        sorted[sorted.len() - 1]
    );
    if let Some(l) = &labels {
        let mut by = std::collections::BTreeMap::<u8, (f64, usize)>::new();
        for (&c, &s) in l.iter().zip(&scores) {
            let e = by.entry(c).or_default();
            e.0 += s;
            e.1 += 1;
        }
        let line: Vec<String> = by
            .iter()
            .map(|(c, (s, k))| format!("{c}: {:.1}", s / *k as f64))
            .collect();
        println!("mean score by label: {}", line.join("  "));
    }
    if let (Some(d), Some(pos)) = (args.digit, &positive) {
        match roc_auc(&scores, pos) {
            Some(auc) => println!(
                "ROC AUC for telling digit {d} ({} images) from the rest by score: {auc:.4}",
                pos.iter().filter(|&&p| p).count()
            ),
            None => return Err(format!("the AUC for digit {d} is undefined")),
        }
    }

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(args.top.max(1));
    let pixels: Vec<f32> = order
        .iter()
        .flat_map(|&i| test.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect();
    let captions: Vec<String> = order
        .iter()
        .map(|&i| format!("#{i} {:.1}", scores[i]))
        .collect();
    let png = args.out.join("anomalies.png");
    let grid = Grid::new(test.rows, test.cols)
        .with_grid_cols(8)
        .with_scale(2);
    save_grid_labeled(&png, &pixels, &captions, &grid).map_err(|e| e.to_string())?;
    println!("{}", png.display());

    let mut csv = String::from("index,label,score\n");
    for (i, s) in scores.iter().enumerate() {
        let label = test.label(i).map(|l| l.to_string()).unwrap_or_default();
        let _ = writeln!(csv, "{i},{label},{s}");
    }
    let path = args.out.join("scores.csv");
    checkpoint::write_atomic(&path, csv.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

fn main() -> ExitCode {
    // A clap error (bad flag) prints its own message and exits 2 before this point.
    let args = Args::parse();
    vae::cli::run_command(|| run(&args))
}
