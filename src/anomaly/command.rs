//! The `anomaly` command (`examples/anomaly.rs`): scores the test set with one checkpoint,
//! reports AUROC and AUPRC for a held-out digit, draws the highest-scoring images and writes
//! every score as CSV.

use super::scores::{
    DEFAULT_BINARIZATIONS, ScoreKind, ScoreOptions, code_lengths, fit_reference, score_set,
    trained_binarize,
};
use crate::checkpoint::{self, write_atomic};
use crate::data::{Binarize, load_dir};
use crate::images::{Grid, save_grid_labeled};
use crate::metrics::{average_precision, roc_auc};
use clap::Parser;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Score test images for anomaly detection with a VAE checkpoint.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// The checkpoint (a .safetensors file written by training).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The folder with the IDX files (MNIST layout); its test set is scored.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// The folder to write anomalies.png and scores.csv into (created if needed).
    #[arg(long, default_value = "runs/anomaly")]
    out: PathBuf,
    /// The score that ranks the images drawn: elbo, iw, recon-prob, iw-bits, complexity, iw-8bit,
    /// complexity-8bit, ctx-ratio, kl or latent.
    #[arg(long, default_value = "complexity")]
    score: String,
    /// Posterior samples per image (K) for the importance-weighted scores and recon-prob.
    #[arg(long, default_value_t = 16)]
    samples: usize,
    /// Fixed binarizations per image (M) that iw-bits, complexity and ctx-ratio average over.
    #[arg(long, default_value_t = DEFAULT_BINARIZATIONS)]
    binarizations: usize,
    /// How many of the highest-scoring images to draw.
    #[arg(long, default_value_t = 32)]
    top: usize,
    /// Report AUROC and AUPRC of the scores for telling this digit (positive) from the rest.
    #[arg(long)]
    digit: Option<u8>,
    /// Score only the first N test images (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Seeds the posterior samples (and the binarization, when the model was trained so).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Parses the arguments (the first is the program name) and runs; `--help` prints and returns
/// `Ok`, a bad flag is an `Err` with clap's message.
pub fn run_from<I, T>(args: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::cli::parse_then(args, run)
}

/// The `q`-quantile of sorted values (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Runs a parsed command line.
pub fn run(args: &Args) -> Result<(), String> {
    let kind = ScoreKind::parse(&args.score)?;
    if args.samples == 0 || args.samples > 100_000 {
        return Err(format!(
            "--samples must be between 1 and 100000, got {}",
            args.samples
        ));
    }
    if args.binarizations == 0 || args.binarizations > 1000 {
        return Err(format!(
            "--binarizations must be between 1 and 1000, got {}",
            args.binarizations
        ));
    }
    if let Some(d) = args.digit
        && d > 9
    {
        return Err(format!("--digit must be 0 to 9, got {d}"));
    }
    if args.limit == Some(0) {
        return Err("--limit must be at least 1".into());
    }
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let model = &ck.model;
    let data = load_dir(&args.data).map_err(|e| format!("cannot load the data: {e}"))?;
    let mut test = data.test;
    if let Some(n) = args.limit {
        test = test.first(n);
    }
    if test.is_empty() {
        return Err(format!("the test set in {} is empty", args.data.display()));
    }
    if test.dim() != model.config.input_dim {
        return Err(format!(
            "the images in {} have {} x {} = {} pixels, the model {} in {} takes {}",
            args.data.display(),
            test.rows,
            test.cols,
            test.dim(),
            model.config,
            args.checkpoint.display(),
            model.config.input_dim
        ));
    }
    let positive = match (args.digit, &test.labels) {
        (None, _) => None,
        (Some(_), None) => return Err("--digit needs labels, and the test set has none".into()),
        (Some(d), Some(l)) => {
            let pos: Vec<bool> = l.iter().map(|&x| x == d).collect();
            match pos.iter().filter(|&&p| p).count() {
                0 => return Err(format!("no test image has label {d}: AUROC is undefined")),
                k if k == pos.len() => {
                    return Err(format!(
                        "every test image has label {d}: AUROC is undefined"
                    ));
                }
                _ => Some(pos),
            }
        }
    };
    let binarize = trained_binarize(&ck.extra);
    println!(
        "model {} (epoch {}); scoring {} test images, {} posterior samples and {} binarization(s) each, on {}",
        model.config,
        ck.epoch,
        test.len(),
        args.samples,
        args.binarizations,
        match binarize {
            Binarize::Dynamic => "binarized images (the model was trained binarized)",
            Binarize::None => "grey levels (the model was trained on grey levels)",
        }
    );
    let opts = ScoreOptions {
        samples: args.samples,
        binarizations: args.binarizations,
        seed: args.seed,
        binarize,
    };
    // ctx-ratio's reference: a context model of the images the VAE was trained on (the training
    // set without the digit the checkpoint records as left out).
    let mut train = data.train;
    if let Some(d) = ck.extra["exclude_digit"].as_u64() {
        train = train
            .filter_labels(|l| u64::from(l) != d)
            .map_err(|e| format!("the checkpoint left out digit {d}: {e}"))?;
    }
    let lengths = code_lengths(&test, &opts, &fit_reference(&train, opts.seed));
    let all = score_set(model, &test, &opts, &lengths, &mut |_| {});
    let scores = all.get(kind);
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        return Err(format!(
            "the {} score of image #{i} is not finite ({})",
            kind.name(),
            scores[i]
        ));
    }

    let mut sorted = scores.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = scores.len() as f64;
    let mean = scores.iter().sum::<f64>() / n;
    println!(
        "{} score in nats: mean {mean:.2}  min {:.2}  median {:.2}  p99 {:.2}  max {:.2}",
        kind.name(),
        sorted[0],
        quantile(&sorted, 0.5),
        quantile(&sorted, 0.99),
        sorted[sorted.len() - 1]
    );
    if let (Some(d), Some(pos)) = (args.digit, &positive) {
        println!(
            "telling digit {d} ({} of {} images) from the rest; the chosen score is marked *",
            pos.iter().filter(|&&p| p).count(),
            pos.len()
        );
        println!("{:<16} {:>7} {:>7}", "score", "AUROC", "AUPRC");
        for k in ScoreKind::ALL {
            let s = all.get(k);
            let (Some(auroc), Some(ap)) = (roc_auc(s, pos), average_precision(s, pos)) else {
                return Err(format!(
                    "the {} score has a NaN: AUROC is undefined",
                    k.name()
                ));
            };
            let mark = if k == kind { "*" } else { "" };
            println!(
                "{:<16} {auroc:>7.4} {ap:>7.4}",
                format!("{}{mark}", k.name())
            );
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
        .map(|&i| match test.label(i) {
            Some(l) => format!("{l}: {:.1}", scores[i]),
            None => format!("#{i} {:.1}", scores[i]),
        })
        .collect();
    let png = args.out.join("anomalies.png");
    let grid = Grid::new(test.rows, test.cols)
        .with_grid_cols(8)
        .with_scale(2);
    save_grid_labeled(&png, &pixels, &captions, &grid).map_err(|e| e.to_string())?;
    println!("{}", png.display());

    let mut csv = String::from("index,label");
    for k in ScoreKind::ALL {
        csv.push(',');
        csv.push_str(k.name());
    }
    csv.push('\n');
    for i in 0..all.len() {
        let label = test.label(i).map(|l| l.to_string()).unwrap_or_default();
        let _ = write!(csv, "{i},{label}");
        for k in ScoreKind::ALL {
            let _ = write!(csv, ",{}", all.get(k)[i]);
        }
        csv.push('\n');
    }
    let path = args.out.join("scores.csv");
    write_atomic(&path, csv.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}
