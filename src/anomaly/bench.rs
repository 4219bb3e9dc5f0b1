//! The held-out-digit benchmark (`examples/anomaly_bench.rs`): for each digit, train a VAE on
//! the nine others, score the whole test set with every score, and tabulate AUROC and AUPRC
//! (the held-out digit positive) beside the published anchor. `--split train` scores the
//! training split instead, as the anchor does: the nine digits the model trained on against the
//! held-out digit's training images, which it never saw.
//!
//! Each digit's model lives in `<out>/digit-D/` (`checkpoint.safetensors`, `metrics.csv`,
//! `scores.csv`). A model at its last epoch is reused, a partial one resumes, one trained with
//! other settings is refused; so an interrupted run continues where it stopped.

use super::plot::{RocCurve, roc_plot};
use super::scores::{
    DEFAULT_BINARIZATIONS, ScoreKind, ScoreOptions, Scores, code_lengths, fit_reference, score_set,
};
use crate::checkpoint::{self, write_atomic};
use crate::data::{Binarize, ImageSet, load_dir};
use crate::eval::evaluate;
use crate::images::{Grid, save_grid_labeled};
use crate::metrics::{average_precision, roc_auc, roc_curve};
use crate::model::{Vae, VaeConfig};
use crate::run::{EpochRecord, checkpoint_extra, write_metrics};
use crate::train::{TrainConfig, Trainer};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Tonnaer (PhD thesis, TU Eindhoven 2023), Table 3.3: MLP VAE with a 2-D latent, negative ELBO
/// over 128 samples, AUROC by held-out digit 0..9.
pub const ANCHOR_2D_AUROC: [f64; 10] = [0.96, 0.73, 0.97, 0.94, 0.73, 0.92, 0.95, 0.77, 0.92, 0.66];
/// The same table's AUPRC for the 2-D latent.
pub const ANCHOR_2D_AUPRC: [f64; 10] = [0.75, 0.21, 0.76, 0.64, 0.23, 0.45, 0.69, 0.27, 0.47, 0.15];
/// The same table's AUROC for a 32-D latent (no AUPRC row was taken down for it).
pub const ANCHOR_32D_AUROC: [f64; 10] =
    [0.81, 0.09, 0.92, 0.87, 0.78, 0.86, 0.87, 0.51, 0.89, 0.58];

/// Train ten held-out-digit VAEs and measure anomaly detection with every score.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Args {
    /// The model and recipe: seed (784-512-2, RMSprop, batch 32), pytorch-example (784-400-20,
    /// Adam, batch 128) or iwae-paper (784-200-200-50 tanh, dynamic binarization, Adam, batch
    /// 20, output bias at the data mean, Burda et al.'s learning-rate schedule; 40 epochs unless --epochs says otherwise: the
    /// schedule's first four stages). Other flags override it.
    #[arg(long, default_value = "seed")]
    preset: String,
    /// Epochs per model.
    #[arg(long)]
    epochs: Option<usize>,
    /// Latent dimensions.
    #[arg(long)]
    latent: Option<usize>,
    /// Targets: none (grey levels) or dynamic (binarized); scoring follows the model.
    #[arg(long)]
    binarize: Option<String>,
    /// How the decoder's output bias starts: zero, or data-mean (the logit of each pixel's
    /// mean over the model's training images). The preset's by default: data-mean for
    /// iwae-paper, zero otherwise.
    #[arg(long)]
    output_bias: Option<String>,
    /// The scores to tabulate, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    scores: Option<Vec<String>>,
    /// The score drawn in roc.png and top_anomalies.png, fixed before any result is seen.
    #[arg(long, default_value = "complexity")]
    best: String,
    /// Posterior samples per image (K) for the importance-weighted scores and recon-prob.
    #[arg(long, default_value_t = 16)]
    samples: usize,
    /// Fixed binarizations per image (M) that iw-bits, complexity and ctx-ratio average over.
    #[arg(long, default_value_t = DEFAULT_BINARIZATIONS)]
    binarizations: usize,
    /// The held-out digits, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3,4,5,6,7,8,9")]
    digits: Vec<u8>,
    /// Output folder (one sub-folder per digit, the tables and figures at the top).
    #[arg(long, default_value = "runs/anomaly_bench")]
    out: PathBuf,
    /// Seed of the weights, data order, noise and scoring.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder with the four IDX files.
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// The images scored: test (the test set) or train (the training set, the anchor's
    /// protocol: the nine digits each model trained on, and the held-out digit it never saw).
    /// The tables and figures of the training split carry a `_train` suffix.
    #[arg(long, default_value = "test")]
    split: String,
    /// Score the first N images of the split only (quick runs).
    #[arg(long)]
    test_limit: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Parses the arguments (the first is the program name) and runs; `--help` prints and returns
/// `Ok`, a bad flag is an `Err` with clap's first line.
pub fn run_from<I, T>(args: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::cli::parse_then(args, |a: &Args| rayon::scope(|_| run(a)))
}

/// The images a benchmark ranks.
#[derive(Clone, Copy, PartialEq)]
enum Split {
    /// The test set.
    Test,
    /// The training set: the nine digits each model trained on, and the held-out one.
    Train,
}

impl Split {
    /// The split in the tables' words ("test", "training").
    fn words(self) -> &'static str {
        match self {
            Split::Test => "test",
            Split::Train => "training",
        }
    }

    /// Added to the names of the split's outputs, so the two sit side by side.
    fn suffix(self) -> &'static str {
        match self {
            Split::Test => "",
            Split::Train => "_train",
        }
    }
}

/// Epochs per model for `--preset iwae-paper` without `--epochs`: the learning-rate schedule's
/// first four stages (1 + 3 + 9 + 27), about a minute a model on two cores.
const IWAE_BENCH_EPOCHS: usize = 40;

/// What the flags ask for.
struct Plan {
    model: VaeConfig,
    train: TrainConfig,
    scores: Vec<ScoreKind>,
    best: ScoreKind,
    digits: Vec<u8>,
    split: Split,
}

fn plan(args: &Args, input_dim: usize) -> Result<Plan, String> {
    // `preset` refuses an unknown name, with the same message as `train_vae`'s.
    let (mut model, mut train) = crate::cli::preset(&args.preset, input_dim)?;
    if args.preset == "iwae-paper" {
        // Ten models of the whole 3,280-epoch schedule would take days here.
        train.epochs = IWAE_BENCH_EPOCHS;
    }
    if let Some(e) = args.epochs {
        if e == 0 {
            return Err("--epochs must be at least 1".into());
        }
        train.epochs = e;
    }
    if let Some(l) = args.latent {
        model.latent = l;
    }
    if let Some(b) = &args.binarize {
        train.binarize = Binarize::parse(b)?;
    }
    if let Some(o) = &args.output_bias {
        train.output_bias = crate::train::OutputBias::parse(o)?;
    }
    train.seed = args.seed;
    model.validate()?;
    train.validate()?;
    let scores = match &args.scores {
        None => ScoreKind::ALL.to_vec(),
        Some(list) => list
            .iter()
            .map(|s| ScoreKind::parse(s))
            .collect::<Result<Vec<_>, _>>()?,
    };
    let best = ScoreKind::parse(&args.best).map_err(|e| e.replace("--score", "--best"))?;
    let mut scores: Vec<ScoreKind> = ScoreKind::ALL
        .into_iter()
        .filter(|k| scores.contains(k) || *k == best)
        .collect();
    scores.dedup();
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
    if let Some(&d) = args.digits.iter().find(|&&d| d > 9) {
        return Err(format!("--digits must be 0 to 9, got {d}"));
    }
    let mut digits = args.digits.clone();
    digits.sort_unstable();
    digits.dedup();
    if digits.is_empty() {
        return Err("--digits names no digit".into());
    }
    let split = match args.split.as_str() {
        "test" => Split::Test,
        "train" => Split::Train,
        other => {
            return Err(format!(
                "unknown --split {other:?} (expected test or train)"
            ));
        }
    };
    if args.limit == Some(0) || args.test_limit == Some(0) {
        return Err("--limit and --test-limit must be at least 1".into());
    }
    Ok(Plan {
        model,
        train,
        scores,
        best,
        digits,
        split,
    })
}

/// A digit's model: where it stands before this run.
struct Start {
    trainer: Trainer,
    epoch: usize,
    history: Vec<EpochRecord>,
}

/// The saved model of `digit` if there is one, checked against the plan; a fresh one, started
/// on `train` (its output bias, if the plan says so), otherwise.
fn start(path: &Path, plan: &Plan, digit: u8, train: &ImageSet) -> Result<Start, String> {
    let fresh = || {
        let mut model = Vae::new(plan.model.clone(), plan.train.seed);
        model.start_output_bias(plan.train.output_bias, train);
        Start {
            trainer: Trainer::new(model, plan.train.clone()),
            epoch: 0,
            history: Vec::new(),
        }
    };
    if !path.exists() {
        return Ok(fresh());
    }
    let ck = checkpoint::load(path).map_err(|e| e.to_string())?;
    // The saved recipe, read as a resumed run reads it, with the plan's epochs (a finished
    // model may be trained on).
    let saved = TrainConfig::from_json(&ck.extra["train"], ck.seed).map(|t| TrainConfig {
        epochs: plan.train.epochs,
        ..t
    });
    let same = ck.model.config == plan.model
        && saved.as_ref() == Ok(&plan.train)
        && ck.extra["exclude_digit"].as_u64() == Some(u64::from(digit));
    if !same {
        return Err(format!(
            "{} holds a model {} trained with other settings ({}, without digit {}); use another --out",
            path.display(),
            ck.model.config,
            ck.extra["train"],
            ck.extra["exclude_digit"]
        ));
    }
    let mut opt = plan.train.new_optimizer();
    if let Some(state) = &ck.optimizer {
        opt.load_state(&ck.model.params, state.steps, &state.buffers)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let history = ck.extra["history"]
        .as_array()
        .map(|a| a.iter().filter_map(EpochRecord::from_json).collect())
        .unwrap_or_default();
    Ok(Start {
        epoch: ck.epoch,
        trainer: Trainer::with_optimizer(ck.model, opt, plan.train.clone()),
        history,
    })
}

/// One digit's results.
struct DigitResult {
    digit: u8,
    scores: Scores,
    auroc: Vec<f64>,
    auprc: Vec<f64>,
}

fn csv_table(
    plan: &Plan,
    results: &[DigitResult],
    pick: impl Fn(&DigitResult) -> &[f64],
) -> String {
    let mut s = String::from("digit");
    for k in &plan.scores {
        let _ = write!(s, ",{}", k.name());
    }
    s.push('\n');
    for r in results {
        let _ = write!(s, "{}", r.digit);
        for v in pick(r) {
            let _ = write!(s, ",{v:.4}");
        }
        s.push('\n');
    }
    s.push_str("mean");
    for i in 0..plan.scores.len() {
        let _ = write!(s, ",{:.4}", mean(results.iter().map(|r| pick(r)[i])));
    }
    s.push('\n');
    s
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    s / n.max(1) as f64
}

/// The Markdown table of one metric: our scores' rows, then the anchor's.
fn md_table(
    plan: &Plan,
    results: &[DigitResult],
    metric: &str,
    pick: impl Fn(&DigitResult) -> &[f64],
    anchor: Option<(&str, &[f64; 10])>,
) -> String {
    let mut s = format!("| {metric} | ");
    for r in results {
        let _ = write!(s, "{} | ", r.digit);
    }
    s.push_str("mean |\n|---|");
    for _ in 0..=results.len() {
        s.push_str("---:|");
    }
    s.push('\n');
    for (i, k) in plan.scores.iter().enumerate() {
        let mark = if *k == plan.best {
            " (best, fixed)"
        } else {
            ""
        };
        let _ = write!(s, "| ours: {}{mark} | ", k.name());
        for r in results {
            let _ = write!(s, "{:.3} | ", pick(r)[i]);
        }
        let _ = writeln!(s, "{:.3} |", mean(results.iter().map(|r| pick(r)[i])));
    }
    if let Some((name, row)) = anchor {
        let _ = write!(s, "| {name} | ");
        for r in results {
            let _ = write!(s, "{:.2} | ", row[r.digit as usize]);
        }
        let _ = writeln!(
            s,
            "{:.3} |",
            mean(results.iter().map(|r| row[r.digit as usize]))
        );
    }
    s
}

/// Runs a parsed command line.
pub fn run(args: &Args) -> Result<(), String> {
    let wall = Instant::now();
    // Flag errors come before the data is read.
    plan(args, 784)?;
    let data = load_dir(&args.data).map_err(|e| e.to_string())?;
    // `test` measures each model's test loss as it trains; `scored` is the split ranked.
    let test = data.test;
    let plan = plan(args, data.train.dim())?;
    let mut scored = match plan.split {
        Split::Train => data.train.clone(),
        Split::Test => test.clone(),
    };
    if let Some(n) = args.test_limit {
        scored = scored.first(n);
    }
    let labels = scored
        .labels
        .clone()
        .ok_or("the benchmark needs labels, and the scored set has none")?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create --out {}: {e}", args.out.display()))?;

    // Every digit's training set and saved state first, so a mismatch stops the run at once and
    // the progress bar knows the whole amount of work.
    let mut work = Vec::new();
    let mut total = 0u64;
    let score_units = |n: usize| (n * plan.train.batch_size.max(1) * args.samples) as u64 / 256;
    for &d in &plan.digits {
        let mut train = data
            .train
            .filter_labels(|l| l != d)
            .map_err(|e| e.to_string())?;
        if let Some(n) = args.limit {
            train = train.first(n);
        }
        let dir = args.out.join(format!("digit-{d}"));
        let s = start(&dir.join("checkpoint.safetensors"), &plan, d, &train)?;
        let steps = train.len().div_ceil(plan.train.batch_size) as u64;
        total +=
            plan.train.epochs.saturating_sub(s.epoch) as u64 * steps + score_units(scored.len());
        work.push((d, train, dir, s));
    }
    println!(
        "held-out-digit benchmark: model {} ({} {}, batch {}, {} epochs, {} targets, seed {}), digits {:?}; {} {} images scored with {} posterior samples and {} binarization{}; best score fixed to {}",
        plan.model,
        plan.train.optimizer.name(),
        plan.train.lr,
        plan.train.batch_size,
        plan.train.epochs,
        if plan.train.binarize == Binarize::Dynamic {
            "binarized"
        } else {
            "grey-level"
        },
        plan.train.seed,
        plan.digits,
        scored.len(),
        plan.split.words(),
        args.samples,
        args.binarizations,
        if args.binarizations == 1 { "" } else { "s" },
        plan.best.name()
    );
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {percent:>3}% {msg}  elapsed {elapsed}  ETA {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    };
    let opts = ScoreOptions {
        samples: args.samples,
        binarizations: args.binarizations,
        seed: args.seed,
        binarize: plan.train.binarize,
    };
    let (mut train_s, mut score_s) = (0.0f64, 0.0f64);
    let mut results = Vec::new();
    let mut trained_count = 0;
    for (d, train, dir, s) in work {
        bar.set_prefix(format!("digit {d}"));
        let t0 = Instant::now();
        trained_count += usize::from(s.epoch < plan.train.epochs);
        let trained = train_digit(&plan, d, &train, &test, &dir, s, &bar)?;
        let t_train = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        bar.set_message("scoring");
        let base = bar.position();
        let n = scored.len();
        // The code lengths, with the context model of this digit's training images.
        let lengths = code_lengths(&scored, &opts, &fit_reference(&train, opts.seed));
        let scores = score_set(&trained.0, &scored, &opts, &lengths, &mut |done| {
            bar.set_position(base + score_units(done));
        });
        bar.set_position(base + score_units(n));
        let t_score = t1.elapsed().as_secs_f64();
        train_s += t_train;
        score_s += t_score;
        let positive: Vec<bool> = labels.iter().map(|&l| l == d).collect();
        let (mut auroc, mut auprc) = (Vec::new(), Vec::new());
        for k in &plan.scores {
            let v = scores.get(*k);
            auroc.push(roc_auc(v, &positive).ok_or_else(|| {
                format!(
                    "digit {d}: the {} score is undefined (a NaN, or one class only)",
                    k.name()
                )
            })?);
            auprc.push(average_precision(v, &positive).unwrap_or(f64::NAN));
        }
        let name = format!("scores{}.csv", plan.split.suffix());
        write_scores(&dir.join(name), &scored, &scores)?;
        let line: Vec<String> = plan
            .scores
            .iter()
            .zip(&auroc)
            .map(|(k, a)| format!("{} {a:.3}", k.name()))
            .collect();
        bar.suspend(|| {
            println!(
                "digit {d}: {} ({t_train:.1} s), scored in {t_score:.1} s; AUROC {}",
                trained.1,
                line.join("  ")
            )
        });
        results.push(DigitResult {
            digit: d,
            scores,
            auroc,
            auprc,
        });
    }
    bar.finish_and_clear();
    write_outputs(
        args,
        &plan,
        &scored,
        &results,
        (
            wall.elapsed().as_secs_f64(),
            train_s,
            score_s,
            trained_count,
        ),
    )
}

/// Trains (or resumes, or reuses) the model without `digit`; returns it and a short account.
fn train_digit(
    plan: &Plan,
    digit: u8,
    train: &ImageSet,
    test: &ImageSet,
    dir: &Path,
    s: Start,
    bar: &ProgressBar,
) -> Result<(Vae, String), String> {
    let Start {
        mut trainer,
        epoch: first,
        mut history,
    } = s;
    let epochs = plan.train.epochs;
    if first >= epochs {
        return Ok((trainer.model, format!("model reused (epoch {first})")));
    }
    let ckpt = dir.join("checkpoint.safetensors");
    for epoch in first..epochs {
        bar.set_message(format!("training epoch {}/{epochs}", epoch + 1));
        let mut last = 0usize;
        let mut on_step = |step: usize, _steps: usize, _loss: f64| {
            if step.is_multiple_of(25) {
                bar.inc((step - last) as u64);
                last = step;
            }
        };
        let (tr, seconds) = trainer
            .train_epoch(train, epoch, &mut on_step)
            .map_err(|e| format!("digit {digit}: {e}"))?;
        bar.inc((train.len().div_ceil(plan.train.batch_size) - last) as u64);
        let te = evaluate(
            &trainer.model,
            test,
            plan.train.binarize,
            1.0,
            plan.train.seed,
        );
        history.push(EpochRecord {
            epoch: epoch + 1,
            train: tr,
            test: Some(te),
            seconds,
            images_per_s: train.len() as f64 / seconds.max(1e-9),
        });
        let extra = checkpoint_extra(&plan.train, &history, (train.rows, train.cols), Some(digit));
        checkpoint::save(
            &ckpt,
            &trainer.model,
            Some(trainer.opt.as_ref()),
            epoch + 1,
            plan.train.seed,
            &extra,
        )
        .map_err(|e| e.to_string())?;
        write_metrics(&dir.join("metrics.csv"), &history)
            .map_err(|e| format!("cannot write metrics.csv: {e}"))?;
    }
    let last = history
        .last()
        .and_then(|h| h.test)
        .map_or(f64::NAN, |t| t.loss);
    let what = if first == 0 {
        "trained"
    } else {
        "resumed and trained"
    };
    Ok((
        trainer.model,
        format!(
            "{what} epochs {}..{epochs}, test -ELBO {last:.2}",
            first + 1
        ),
    ))
}

fn write_scores(path: &Path, scored: &ImageSet, scores: &Scores) -> Result<(), String> {
    let mut csv = String::from("index,label");
    for k in ScoreKind::ALL {
        let _ = write!(csv, ",{}", k.name());
    }
    csv.push('\n');
    for i in 0..scores.len() {
        let _ = write!(
            csv,
            "{i},{}",
            scored.label(i).map(|l| l.to_string()).unwrap_or_default()
        );
        for k in ScoreKind::ALL {
            let _ = write!(csv, ",{}", scores.get(k)[i]);
        }
        csv.push('\n');
    }
    write_atomic(path, csv.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The tables, the figures and the closing summary.
fn write_outputs(
    args: &Args,
    plan: &Plan,
    scored: &ImageSet,
    results: &[DigitResult],
    (wall, train_s, score_s, trained): (f64, f64, f64, usize),
) -> Result<(), String> {
    let out = &args.out;
    // The training split's outputs sit beside the test split's, with a suffix.
    let named = |stem: &str, ext: &str| format!("{stem}{}.{ext}", plan.split.suffix());
    let put = |name: &str, text: &str| {
        let p = out.join(name);
        write_atomic(&p, text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", p.display()))
    };
    put(
        &named("anomaly_auroc", "csv"),
        &csv_table(plan, results, |r| &r.auroc),
    )?;
    put(
        &named("anomaly_auprc", "csv"),
        &csv_table(plan, results, |r| &r.auprc),
    )?;
    let two_d = plan.model.latent == 2;
    let (auroc_anchor, auprc_anchor) = if two_d {
        (
            Some(("anchor: Tonnaer 2023, 2-D", &ANCHOR_2D_AUROC)),
            Some(("anchor: Tonnaer 2023, 2-D", &ANCHOR_2D_AUPRC)),
        )
    } else {
        (
            Some(("anchor: Tonnaer 2023, 32-D", &ANCHOR_32D_AUROC)),
            None,
        )
    };
    let mut md = format!(
        "Held-out-digit anomaly detection: model {} ({} targets), {} epochs, seed {}, K = {} posterior samples, M = {} binarization{} of each image for the bit scores, {} {} images; the held-out digit is the positive class. Best score fixed in advance: {}.\n\n",
        plan.model,
        if plan.train.binarize == Binarize::Dynamic {
            "binarized"
        } else {
            "grey-level"
        },
        plan.train.epochs,
        plan.train.seed,
        args.samples,
        args.binarizations,
        if args.binarizations == 1 { "" } else { "s" },
        scored.len(),
        plan.split.words(),
        plan.best.name()
    );
    md.push_str(&md_table(
        plan,
        results,
        "AUROC",
        |r| &r.auroc,
        auroc_anchor,
    ));
    md.push('\n');
    md.push_str(&md_table(
        plan,
        results,
        "AUPRC",
        |r| &r.auprc,
        auprc_anchor,
    ));
    md.push_str("\nThe anchor (Tonnaer, PhD thesis, TU Eindhoven 2023, Table 3.3) scores with the negative ELBO over 128 samples, draws its anomalies from the training split and uses a Gaussian decoder; ");
    md.push_str(match plan.split {
        Split::Train => "ours score the training split too (the normal images are the ones each model trained on), with a Bernoulli decoder.\n",
        Split::Test => "ours score the test split with a Bernoulli decoder.\n",
    });
    let _ = writeln!(
        md,
        "\nThis invocation: {wall:.0} s wall (training {train_s:.0} s for {trained} of {} models, the rest reused; scoring {score_s:.0} s).",
        results.len()
    );
    put(&named("anomaly_table", "md"), &md)?;

    let b = plan
        .scores
        .iter()
        .position(|&k| k == plan.best)
        .expect("the best score is among the scores");
    let curves: Vec<RocCurve> = results
        .iter()
        .map(|r| {
            let positive: Vec<bool> = scored
                .labels
                .as_ref()
                .expect("labels")
                .iter()
                .map(|&l| l == r.digit)
                .collect();
            RocCurve {
                label: format!("digit {} (AUROC {:.3})", r.digit, r.auroc[b]),
                color: r.digit as usize,
                points: roc_curve(r.scores.get(plan.best), &positive).unwrap_or_default(),
            }
        })
        .collect();
    let title = format!(
        "held-out digit vs the rest, score {} ({}, mean AUROC {:.3})",
        plan.best.name(),
        plan.model,
        mean(results.iter().map(|r| r.auroc[b]))
    );
    roc_plot(&out.join(named("roc", "png")), &title, &curves).map_err(|e| e.to_string())?;

    // Each row: the model without one digit, its eight highest-scoring test images.
    let per_row = 8;
    let (mut pixels, mut captions) = (Vec::new(), Vec::new());
    for r in results {
        let s = r.scores.get(plan.best);
        let mut order: Vec<usize> = (0..s.len()).collect();
        order.sort_by(|&a, &b| s[b].total_cmp(&s[a]).then(a.cmp(&b)));
        for &i in order.iter().take(per_row) {
            pixels.extend(scored.image(i).iter().map(|&p| p as f32 / 255.0));
            let label = scored.label(i).map(|l| l.to_string()).unwrap_or_default();
            captions.push(format!("no {}: {label} ({:.0})", r.digit, s[i]));
        }
    }
    let grid = Grid::new(scored.rows, scored.cols)
        .with_grid_cols(per_row)
        .with_scale(2);
    save_grid_labeled(
        &out.join(named("top_anomalies", "png")),
        &pixels,
        &captions,
        &grid,
    )
    .map_err(|e| e.to_string())?;

    print!("\n{md}");
    println!(
        "wrote {}/: {} {} {} {} {} digit-*/",
        out.display(),
        named("anomaly_auroc", "csv"),
        named("anomaly_auprc", "csv"),
        named("anomaly_table", "md"),
        named("roc", "png"),
        named("top_anomalies", "png")
    );
    Ok(())
}
