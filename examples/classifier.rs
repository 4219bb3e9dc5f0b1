//! Trains the MNIST classifier that scores generated images (examples/evaluate.rs), with the
//! engine, and saves it as `runs/classifier/classifier.safetensors` (or in `--out`).
//!
//!     cargo run --release --example classifier
//!     cargo run --release --example classifier -- --epochs 3 --out /tmp/clf

use clap::Parser;
use std::path::PathBuf;
use vae::classifier::{Classifier, ClassifierConfig, DEFAULT_DIR, path_in};
use vae::data::load_dir;

/// Train the MNIST classifier (an MLP, softmax cross-entropy, Adam) and save it.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Folder with the four IDX files.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Output folder.
    #[arg(long, default_value = DEFAULT_DIR)]
    out: PathBuf,
    /// Epochs (default: the recipe's).
    #[arg(long)]
    epochs: Option<usize>,
    /// Hidden layer sizes, comma-separated (default: the recipe's).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Threads; default: all cores.
    #[arg(long)]
    threads: Option<usize>,
}

fn run(args: &Args) -> Result<(), String> {
    vae::evaluate::cli::set_threads(args.threads)?;
    let mut cfg = ClassifierConfig::default();
    if let Some(e) = args.epochs {
        if e == 0 {
            return Err("--epochs must be at least 1".into());
        }
        cfg.epochs = e;
    }
    if let Some(h) = &args.hidden {
        if h.is_empty() || h.iter().any(|&x| x == 0 || x > 1 << 16) {
            return Err(format!(
                "--hidden sizes must be between 1 and 65536, got {h:?}"
            ));
        }
        cfg.hidden = h.clone();
    }
    if args.limit == Some(0) {
        return Err("--limit must be at least 1".into());
    }
    rayon::scope(|_| {
        let data = load_dir(&args.data).map_err(|e| e.to_string())?;
        let train = match args.limit {
            Some(n) => data.train.first(n.min(data.train.len())),
            None => data.train,
        };
        let mut c = Classifier::new(train.dim(), &cfg.hidden, 10, cfg.seed);
        println!(
            "classifier {}-{}-10 ({} parameters), {} training images, {} threads",
            train.dim(),
            cfg.hidden
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            c.params.numel(),
            train.len(),
            rayon::current_num_threads()
        );
        let start = std::time::Instant::now();
        let acc = c.train(&cfg, &train, &data.test)?;
        std::fs::create_dir_all(&args.out)
            .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
        let path = path_in(&args.out);
        c.save(&path)?;
        println!(
            "test accuracy {:.2}% after {:.0} s; wrote {}",
            100.0 * acc,
            start.elapsed().as_secs_f64(),
            path.display()
        );
        Ok(())
    })
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    vae::cli::run_command(|| run(&args))
}
