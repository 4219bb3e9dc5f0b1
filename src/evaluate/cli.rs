//! The `evaluate` command line: scores a VAE checkpoint's embedding (and, with the classifier,
//! its samples) and adds the figures to the run's `summary.json`. `examples/evaluate.rs` is a
//! thin wrapper around [`main`].

use super::embedding::embedding_report;
use super::generation::generation_report;
use crate::checkpoint;
use crate::data::load_dir;
use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Score a trained VAE: its latent space as a map (k-NN accuracy, trustworthiness, beside PCA's)
/// and its samples and reconstructions as a classifier sees them (Fréchet distance, score).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
pub struct Args {
    /// The VAE checkpoint (checkpoint.safetensors, written by train_vae).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Folder with the four IDX files (gzipped or not).
    #[arg(long, default_value = "data/mnist")]
    pub data: PathBuf,
    /// Training images whose embedding is scored by trustworthiness (the first N).
    #[arg(long, default_value_t = 10_000)]
    pub trust_points: usize,
    /// Use only the first N training images (quick runs: k-NN reference, PCA fit).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Use only the first N test images (quick runs).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// The summary to add the figures to (default: summary.json beside the checkpoint).
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// Prior samples to score (and training images to compare with the test set).
    #[arg(long, default_value_t = 10_000)]
    pub samples: usize,
    /// Folder of the classifier that scores images (trained there first when missing).
    #[arg(long, default_value = crate::classifier::DEFAULT_DIR)]
    pub classifier: PathBuf,
    /// Only the embedding scores (no classifier, no samples).
    #[arg(long)]
    pub no_generation: bool,
    /// Seeds the prior samples.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads (rayon's global pool); default: all cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also estimate the test set's -log p(x) with K importance samples per image, each image
    /// binarized as the checkpoint's run was (the same seeded draw `train_vae --iw-samples`
    /// scores against).
    #[arg(long)]
    pub iw_samples: Option<usize>,
    /// Skip the embedding scores (k-NN, trustworthiness).
    #[arg(long)]
    pub no_embedding: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// The command's entry point (one-line errors, exit code 1).
pub fn main() -> ExitCode {
    crate::cli::run_command(|| run_from(std::env::args_os()))
}

/// Parses the arguments (the first is the program name) and runs.
pub fn run_from<I, T>(args: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::cli::parse_then(args, run)
}

/// Sets rayon's global pool to `threads` (once per process; a later equal request is fine).
pub fn set_threads(threads: Option<usize>) -> Result<(), String> {
    let Some(n) = threads else { return Ok(()) };
    if n == 0 || n > 1024 {
        return Err(format!("--threads must be between 1 and 1024, got {n}"));
    }
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        && rayon::current_num_threads() != n
    {
        return Err(format!("cannot set --threads {n}: {e}"));
    }
    Ok(())
}

/// Reads `path` as a JSON object (an empty one when the file does not exist).
pub fn read_summary(path: &Path) -> Result<serde_json::Value, String> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let v: serde_json::Value = serde_json::from_str(&s)
                .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
            if v.is_object() {
                Ok(v)
            } else {
                Err(format!("{} is not a JSON object", path.display()))
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes `summary` to `path` atomically.
pub fn write_summary(path: &Path, summary: &serde_json::Value) -> Result<(), String> {
    checkpoint::write_atomic(
        path,
        serde_json::to_string_pretty(summary)
            .expect("json")
            .as_bytes(),
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs a parsed command line.
pub fn run(args: &Args) -> Result<(), String> {
    set_threads(args.threads)?;
    for (flag, v) in [
        ("--limit", args.limit),
        ("--test-limit", args.test_limit),
        ("--trust-points", Some(args.trust_points)),
        ("--samples", Some(args.samples)),
        ("--iw-samples", args.iw_samples),
    ] {
        if v == Some(0) {
            return Err(format!("{flag} must be at least 1"));
        }
    }
    if args.iw_samples.is_some_and(|k| k > 100_000) {
        return Err("--iw-samples is absurd (at most 100000)".into());
    }
    // As in training: the work runs on a worker of rayon's pool.
    rayon::scope(|_| evaluate(args))
}

fn evaluate(args: &Args) -> Result<(), String> {
    let ck = checkpoint::load(&args.checkpoint).map_err(|e| e.to_string())?;
    let summary_path = args.summary.clone().unwrap_or_else(|| {
        args.checkpoint
            .parent()
            .unwrap_or(Path::new("."))
            .join("summary.json")
    });
    let mut summary = read_summary(&summary_path)?;
    let data = load_dir(&args.data).map_err(|e| e.to_string())?;
    if ck.model.config.input_dim != data.train.dim() {
        return Err(format!(
            "{} was trained on images of {} pixels, the data in {} has {}",
            args.checkpoint.display(),
            ck.model.config.input_dim,
            args.data.display(),
            data.train.dim()
        ));
    }
    let train = match args.limit {
        Some(n) => data.train.first(n.min(data.train.len())),
        None => data.train.clone(),
    };
    let test = match args.test_limit {
        Some(n) => data.test.first(n.min(data.test.len())),
        None => data.test.clone(),
    };
    println!(
        "model {} (epoch {}), {} training / {} test images, {} threads",
        ck.model.config,
        ck.epoch,
        train.len(),
        test.len(),
        rayon::current_num_threads()
    );
    // The classifier first, so a bad file is refused before the work starts.
    let classifier = if args.no_generation {
        None
    } else {
        // A missing one is trained on the whole data, whatever --limit says: it is kept.
        Some(crate::classifier::load_or_train(
            &args.classifier,
            &data.train,
            &data.test,
        )?)
    };
    if let Some(k) = args.iw_samples {
        let binarize = match ck.extra["train"]["binarize"].as_str() {
            Some("dynamic") => crate::data::Binarize::Dynamic,
            _ => crate::data::Binarize::None,
        };
        let (nll, seconds) =
            crate::cli::test_nll(&ck.model, &test, k, binarize, ck.seed, args.quiet);
        summary["iw_samples"] = k.into();
        summary["test_iw_nll"] = nll.into();
        summary["test_iw_seconds"] = seconds.into();
    }
    if !args.no_embedding {
        let start = Instant::now();
        let report = embedding_report(&ck.model, &train, &test, args.trust_points)?;
        println!(
            "\nk-NN: test points voted by their nearest training points; trustworthiness on the first {} training images\n{}({:.1} s)",
            report.trust_points,
            report.table(),
            start.elapsed().as_secs_f64()
        );
        summary["embedding"] = report.to_json();
    }
    if let Some(clf) = &classifier {
        let start = Instant::now();
        let report = generation_report(&ck.model, clf, &train, &test, args.samples, args.seed);
        println!(
            "\nFréchet distance of the classifier's penultimate features to the real test images'; classifier score exp(E KL(p(y|x) || p(y)))\n{}({:.1} s)",
            report.table(),
            start.elapsed().as_secs_f64()
        );
        summary["generation"] = report.to_json();
    }
    write_summary(&summary_path, &summary)?;
    println!("\nadded the figures to {}", summary_path.display());
    Ok(())
}
