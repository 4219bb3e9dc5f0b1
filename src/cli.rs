//! The `train_vae` command line: flags, presets, the epoch loop with progress and metrics,
//! checkpoints after every epoch, resume, and the pictures and evaluation at the end.
//! `examples/train_vae.rs` is a thin wrapper around [`main`].

use crate::data::{Binarize, ImageSet, load_dir};
use crate::eval::{EVAL_BATCH, evaluate, latent_stats};
use crate::model::{Activation, Vae, VaeConfig, parse_init};
use crate::run::{EpochRecord, write_metrics};
use crate::train::{LrSchedule, Objective, OptimizerKind, OutputBias, TrainConfig, Trainer};
use crate::{checkpoint, report};
use clap::Parser;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Train a variational autoencoder on MNIST (or any IDX image set of the same form).
#[derive(Parser, Debug)]
#[command(version, about, long_about = None, allow_negative_numbers = true)]
pub struct Args {
    /// Recipe to start from: seed (784-512-2, RMSprop, batch 32), pytorch-example
    /// (784-400-20, Adam, batch 128, PyTorch's default init), iwae-paper (784-200-200-50 tanh, dynamic binarization,
    /// Adam, batch 20, output bias at the data mean, Burda et al.'s 3^i learning-rate
    /// schedule). Other flags override it.
    #[arg(long, default_value = "seed")]
    preset: String,
    /// Folder with the four IDX files (gzipped or not).
    #[arg(long, default_value = "data/mnist")]
    data: PathBuf,
    /// Epochs to train in all (a resumed run continues up to this many).
    #[arg(long)]
    epochs: Option<usize>,
    /// Images per training step.
    #[arg(long)]
    batch_size: Option<usize>,
    /// rmsprop, adam or sgd.
    #[arg(long)]
    optimizer: Option<String>,
    /// Learning rate.
    #[arg(long)]
    lr: Option<f32>,
    /// Hidden layer sizes of the encoder, comma-separated (the decoder mirrors them).
    #[arg(long, value_delimiter = ',')]
    hidden: Option<Vec<usize>>,
    /// Latent dimensions.
    #[arg(long)]
    latent: Option<usize>,
    /// relu or tanh.
    #[arg(long)]
    activation: Option<String>,
    /// Weight initialiser: glorot, he, or torch (PyTorch nn.Linear default).
    #[arg(long)]
    init: Option<String>,
    /// Targets: none (grey levels in [0, 1]) or dynamic (a fresh Bernoulli draw per batch).
    #[arg(long)]
    binarize: Option<String>,
    /// Adam's β1 (default 0.9; Burda et al.'s released code uses 0.99).
    #[arg(long)]
    adam_beta1: Option<f32>,
    /// Adam's ε (default 1e-8, 1e-4 for iwae-paper).
    #[arg(long)]
    adam_eps: Option<f32>,
    /// How the decoder's output bias starts: zero, or data-mean (the logit of each pixel's
    /// mean over the training images, as Burda et al.'s released code starts it; the default
    /// for iwae-paper, zero otherwise).
    #[arg(long)]
    output_bias: Option<String>,
    /// Weight of the KL term.
    #[arg(long)]
    beta: Option<f32>,
    /// Epochs over which the KL weight rises linearly from 0 to beta.
    #[arg(long)]
    warmup_epochs: Option<usize>,
    /// Seed for weights, data order, noise and binarization.
    #[arg(long)]
    seed: Option<u64>,
    /// What training minimises: elbo (the negative ELBO, analytic KL, one sample) or iwae
    /// (Burda et al.'s k-sample importance-weighted bound; see --k).
    #[arg(long)]
    objective: Option<String>,
    /// With --objective iwae: posterior samples per image (default 1).
    #[arg(long)]
    k: Option<usize>,
    /// Threads for the matrix multiplies (rayon's global pool); default: all cores.
    #[arg(long)]
    threads: Option<usize>,
    /// Train on the first N training images only (quick runs).
    #[arg(long)]
    limit: Option<usize>,
    /// Train without this digit (for the anomaly demo: examples/anomaly.rs --digit D).
    #[arg(long)]
    exclude_digit: Option<u8>,
    /// Output folder.
    #[arg(long, default_value = "runs/latest")]
    out: PathBuf,
    /// Continue from a checkpoint (its model and settings; --epochs may extend the run).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// At the end, estimate the test log-likelihood with K importance samples (default: 5000
    /// at the end of the whole iwae-paper schedule, as Burda et al. evaluate; none otherwise).
    #[arg(long)]
    iw_samples: Option<usize>,
    /// Hold out the last N training images as a validation set: its negative ELBO is measured
    /// after every epoch, the best epoch's model is kept (best.safetensors) and evaluated at the end.
    #[arg(long)]
    validation: Option<usize>,
    /// With --validation: stop after this many epochs without a better validation loss.
    #[arg(long)]
    patience: Option<usize>,
    /// Evaluate the test set after every N epochs, or `stage`: at the end of each stage of the
    /// learning-rate schedule (epochs 1, 4, 13, ..., 3280 for iwae-paper). The last epoch is
    /// always evaluated. Default: `stage` for the iwae schedule, 1 otherwise.
    #[arg(long)]
    eval_every: Option<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// When the test set is evaluated during training (`--eval-every`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EvalEvery {
    /// After every `n` epochs.
    Epochs(usize),
    /// At the end of each stage of the learning-rate schedule.
    Stage,
}

impl EvalEvery {
    /// Parses `--eval-every`: a number of epochs (at least 1) or `stage`.
    fn parse(s: &str) -> Result<EvalEvery, String> {
        match s {
            "stage" => Ok(EvalEvery::Stage),
            _ => match s.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(EvalEvery::Epochs(n)),
                _ => Err(format!(
                    "--eval-every must be a number of epochs (at least 1) or stage, got {s:?}"
                )),
            },
        }
    }

    /// The flag's value, or its default for `schedule`: `stage` for the iwae schedule (its
    /// 3,280 epochs would otherwise spend ~0.25 s each on the test set), every epoch otherwise.
    fn of(flag: Option<&str>, schedule: LrSchedule) -> Result<EvalEvery, String> {
        match flag {
            Some(s) => EvalEvery::parse(s),
            None if schedule == LrSchedule::Iwae => Ok(EvalEvery::Stage),
            None => Ok(EvalEvery::Epochs(1)),
        }
    }

    /// Whether `epoch` (1-based) of `epochs` is evaluated.
    fn due(self, epoch: usize, epochs: usize, schedule: LrSchedule) -> bool {
        epoch == epochs
            || match self {
                EvalEvery::Epochs(n) => epoch.is_multiple_of(n),
                EvalEvery::Stage => schedule.stage_ends(epoch),
            }
    }
}

/// The epochs of Burda et al.'s schedule (`3^0 + ... + 3^7`).
const IWAE_EPOCHS: usize = 3280;
/// Importance samples of Burda et al.'s test log-likelihood estimate.
const IWAE_EVAL_K: usize = 5000;

/// Between evaluations, the checkpoint is rewritten once this many seconds have passed since the
/// last one: an interruption loses at most about a minute of training, and a 1.8 s epoch does
/// not pay for a 5 MB write every time.
const CHECKPOINT_SECONDS: f64 = 60.0;

/// A preset's model and recipe (`seed`, `pytorch-example` or `iwae-paper`) for images of
/// `input_dim` pixels.
pub fn preset(name: &str, input_dim: usize) -> Result<(VaeConfig, TrainConfig), String> {
    let mut model = VaeConfig::seed();
    model.input_dim = input_dim;
    let mut train = TrainConfig::seed_recipe();
    match name {
        "seed" => {}
        "pytorch-example" => {
            model.hidden = vec![400];
            model.latent = 20;
            // As in PyTorch's examples/vae: nn.Linear's default initialisation.
            model.init = autograd::Init::TorchDefault;
            train.optimizer = OptimizerKind::Adam;
            train.batch_size = 128;
        }
        "iwae-paper" => {
            model.hidden = vec![200, 200];
            model.latent = 50;
            model.activation = Activation::Tanh;
            train.optimizer = OptimizerKind::Adam;
            train.batch_size = 20;
            train.binarize = Binarize::Dynamic;
            train.schedule = LrSchedule::Iwae;
            train.epochs = IWAE_EPOCHS;
            (train.adam_beta1, train.adam_eps) = crate::train::adam_defaults(LrSchedule::Iwae);
            // As Burda et al.'s released code does: the decoder's output bias starts at the
            // logit of each pixel's training mean (86.25 nats at k = 5,000 with it, 87.08
            // without, one full run each: the README's IWAE section).
            train.output_bias = OutputBias::DataMean;
        }
        _ => {
            return Err(format!(
                "unknown preset {name:?} (expected seed, pytorch-example or iwae-paper)"
            ));
        }
    }
    Ok((model, train))
}

/// Applies explicit flags over a preset, then checks every value.
fn configure(args: &Args, input_dim: usize) -> Result<(VaeConfig, TrainConfig), String> {
    let (mut m, mut t) = preset(&args.preset, input_dim)?;
    if let Some(h) = &args.hidden {
        m.hidden = h.clone();
    }
    if let Some(l) = args.latent {
        m.latent = l;
    }
    if let Some(a) = &args.activation {
        m.activation = Activation::parse(a)?;
    }
    if let Some(i) = &args.init {
        m.init = parse_init(i)?;
    }
    if let Some(e) = args.epochs {
        t.epochs = e;
    }
    if let Some(b) = args.batch_size {
        t.batch_size = b;
    }
    if let Some(o) = &args.optimizer {
        t.optimizer = OptimizerKind::parse(o)?;
    }
    if let Some(lr) = args.lr {
        t.lr = lr;
    }
    if let Some(b) = &args.binarize {
        t.binarize = Binarize::parse(b)?;
    }
    if let Some(b) = args.adam_beta1 {
        t.adam_beta1 = b;
    }
    if let Some(e) = args.adam_eps {
        t.adam_eps = e;
    }
    if let Some(o) = &args.output_bias {
        t.output_bias = OutputBias::parse(o)?;
    }
    if let Some(b) = args.beta {
        t.beta = b;
    }
    if let Some(w) = args.warmup_epochs {
        t.warmup_epochs = w;
    }
    if let Some(s) = args.seed {
        t.seed = s;
    }
    match (&args.objective, args.k) {
        (Some(o), k) => t.objective = Objective::parse(o, k)?,
        // Resuming, a lone --k is compared with the checkpoint's (`refuse_changes`).
        (None, Some(_)) if args.resume.is_none() => {
            return Err("--k needs --objective iwae".into());
        }
        (None, _) => {}
    }
    m.validate()?;
    t.validate()?;
    Ok((m, t))
}

/// Flag checks that need no data: refused before any work starts.
fn check_flags(args: &Args) -> Result<(), String> {
    let limits: [(&str, Option<usize>, usize); 7] = [
        ("--epochs", args.epochs, 1_000_000),
        ("--batch-size", args.batch_size, 1 << 16),
        ("--latent", args.latent, 4096),
        ("--threads", args.threads, 1024),
        ("--limit", args.limit, usize::MAX),
        ("--iw-samples", args.iw_samples, 100_000),
        ("--k", args.k, crate::train::MAX_K),
    ];
    if args.patience.is_some() && args.validation.is_none() {
        return Err("--patience needs --validation N (the images it watches)".into());
    }
    if args.patience == Some(0) {
        return Err("--patience must be at least 1".into());
    }
    for (flag, v, max) in limits {
        match v {
            Some(0) => return Err(format!("{flag} must be at least 1")),
            Some(v) if v > max => return Err(format!("{flag} {v} is absurd (at most {max})")),
            _ => {}
        }
    }
    if let Some(h) = &args.hidden
        && (h.is_empty() || h.iter().any(|&x| x == 0 || x > 1 << 16))
    {
        return Err(format!(
            "--hidden sizes must be between 1 and 65536, got {h:?}"
        ));
    }
    if let Some(lr) = args.lr
        && !(lr.is_finite() && lr > 0.0)
    {
        return Err(format!("--lr must be a positive finite number, got {lr}"));
    }
    if let Some(d) = args.exclude_digit
        && d > 9
    {
        return Err(format!("--exclude-digit must be 0 to 9, got {d}"));
    }
    if let Some(e) = &args.eval_every {
        EvalEvery::parse(e)?;
    }
    preset(&args.preset, 1)?;
    configure(args, 1)?;
    Ok(())
}

/// The command line's entry point: parses `std::env::args`, runs, and turns every error into a
/// one-line message and exit code 1 (a panic, which would be a bug, prints a short message too).
pub fn main() -> ExitCode {
    run_command(|| run_from(std::env::args_os()))
}

/// How every command of this project ends: installs a panic hook that prints a one-line
/// message instead of a backtrace (and exits quietly when stdout was closed, as in
/// `train_vae | head`), then runs `body` and turns an error into `error: …` on stderr and exit
/// code 1. `train_vae`, `generate` and `anomaly` all go through it.
pub fn run_command(body: impl FnOnce() -> Result<(), String>) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        if info.to_string().contains("failed printing to stdout") {
            std::process::exit(141);
        }
        eprintln!("internal error: {info}");
        eprintln!("(this is a bug; please report it with the command you ran)");
    }));
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Parses the arguments (the first is the program name) and runs. `--help` and `--version`
/// print and return `Ok`; bad flags are an `Err` with clap's message.
pub fn run_from<I, T>(args: I) -> Result<(), String>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_then(args, run)
}

/// Parses `args` (the first is the program name) as the command `P` and hands it to `run`.
/// `--help` and `--version` print and return `Ok`; a bad flag is an `Err` with the first line
/// of clap's message (what is wrong; the usage lines after it are left out). Every command of
/// the project parses its flags this way.
pub fn parse_then<P, I, T>(
    args: I,
    run: impl FnOnce(&P) -> Result<(), String>,
) -> Result<(), String>
where
    P: Parser,
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    match P::try_parse_from(args) {
        Ok(a) => run(&a),
        Err(e) if !e.use_stderr() => {
            print!("{e}");
            Ok(())
        }
        Err(e) => Err(e
            .to_string()
            .lines()
            .next()
            .unwrap_or("bad arguments")
            .trim_start_matches("error: ")
            .to_string()),
    }
}

/// Parses and checks a command line (the first item is the program name) without running it:
/// the sweep checks every configuration before it starts any.
pub fn check_from(args: &[String]) -> Result<(), String> {
    let a = Args::try_parse_from(args)
        .map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())?;
    check_flags(&a)
}

/// Runs a parsed command line.
pub fn run(args: &Args) -> Result<(), String> {
    check_flags(args)?;
    if let Some(n) = args.threads {
        // The global pool can be built once per process; a second run (in tests) keeps it.
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            && rayon::current_num_threads() != n
        {
            return Err(format!("cannot set --threads {n}: {e}"));
        }
    }
    // The whole run executes on a worker of rayon's pool, so every gemm split is a join
    // inside the pool: no job crosses into it from outside, which would allocate now and then.
    rayon::scope(|_| train(args))
}

fn train(args: &Args) -> Result<(), String> {
    let data = load_dir(&args.data).map_err(|e| e.to_string())?;
    let mut train_set = data.train;
    let test_set = data.test;
    if let Some(d) = args.exclude_digit {
        train_set = train_set
            .filter_labels(|l| l != d)
            .map_err(|e| format!("--exclude-digit needs labels: {e}"))?;
    }
    if let Some(n) = args.limit {
        train_set = train_set.first(n.min(train_set.len()));
    }
    let (rows, cols) = (train_set.rows, train_set.cols);
    let validation = match args.validation {
        Some(n) => {
            let (t, v) = crate::early_stop::split_validation(&train_set, n)?;
            train_set = t;
            Some(v)
        }
        None => None,
    };
    let mut stopper = crate::early_stop::EarlyStopping::new(args.patience);

    // A fresh run, or the checkpoint's model, optimizer, settings and history.
    let (mut trainer, start_epoch, mut history) = match &args.resume {
        None => {
            let (mcfg, tcfg) = configure(args, train_set.dim())?;
            let mut model = Vae::new(mcfg, tcfg.seed);
            model.start_output_bias(tcfg.output_bias, &train_set);
            (Trainer::new(model, tcfg), 0, Vec::new())
        }
        Some(path) => resume(path, args, train_set.dim())?,
    };
    let cfg = trainer.config.clone();
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create --out {}: {e}", args.out.display()))?;
    println!(
        "model {}  ({} parameters)  {} lr {}  batch {}  epochs {}  {} training / {} test images  {} threads",
        trainer.model.config,
        trainer.model.params.numel(),
        cfg.optimizer.name(),
        cfg.lr,
        cfg.batch_size,
        cfg.epochs,
        train_set.len(),
        test_set.len(),
        rayon::current_num_threads()
    );
    let ckpt = args.out.join("checkpoint.safetensors");
    if start_epoch < cfg.epochs && !args.quiet {
        println!(
            "checkpoints go to {0}; after an interruption, continue with --resume {0} --out {1}",
            ckpt.display(),
            args.out.display()
        );
    }
    let eval_every = EvalEvery::of(args.eval_every.as_deref(), cfg.schedule)?;
    let mut last_save = std::time::Instant::now();
    for epoch in start_epoch..cfg.epochs {
        let bar = progress_bar(
            args.quiet,
            train_set.len().div_ceil(cfg.batch_size),
            epoch,
            cfg.epochs,
        );
        let mut on_step = |step: usize, _steps: usize, loss: f64| {
            if step.is_multiple_of(25) {
                bar.set_position(step as u64);
                bar.set_message(format!("loss {loss:.2}"));
            }
        };
        let result = trainer.train_epoch(&train_set, epoch, &mut on_step);
        bar.finish_and_clear();
        let (train, seconds) = match result {
            Ok(r) => r,
            Err(e) => {
                let kept = if ckpt.exists() {
                    format!("the last good checkpoint is kept at {}", ckpt.display())
                } else {
                    "no checkpoint was written yet".to_string()
                };
                return Err(format!("{e}\n{kept}"));
            }
        };
        let evaluated = eval_every.due(epoch + 1, cfg.epochs, cfg.schedule);
        let test =
            evaluated.then(|| evaluate(&trainer.model, &test_set, cfg.binarize, 1.0, cfg.seed));
        let record = EpochRecord {
            epoch: epoch + 1,
            train,
            test,
            seconds,
            images_per_s: train_set.len() as f64 / seconds.max(1e-9),
        };
        let mut verdict = None;
        let val_note = match &validation {
            Some(v) => {
                let l = evaluate(&trainer.model, v, cfg.binarize, 1.0, cfg.seed).loss;
                verdict = Some(stopper.observe(epoch + 1, l, &trainer.model));
                format!("  val {l:.2}")
            }
            None => String::new(),
        };
        match crate::run::resident_mb() {
            Some(mb) => println!("{}{val_note}  rss {mb:.0} MB", record.line(cfg.epochs)),
            None => println!("{}{val_note}", record.line(cfg.epochs)),
        }
        history.push(record);
        let stop = verdict == Some(crate::early_stop::Verdict::Stop);
        let save = evaluated
            || stop
            || validation.is_some()
            || last_save.elapsed().as_secs_f64() >= CHECKPOINT_SECONDS;
        if save {
            let extra =
                crate::run::checkpoint_extra(&cfg, &history, (rows, cols), args.exclude_digit);
            checkpoint::save(
                &ckpt,
                &trainer.model,
                Some(trainer.opt.as_ref()),
                epoch + 1,
                cfg.seed,
                &extra,
            )
            .map_err(|e| e.to_string())?;
            write_metrics(&args.out.join("metrics.csv"), &history)
                .map_err(|e| format!("cannot write metrics.csv: {e}"))?;
            last_save = std::time::Instant::now();
        }
        if verdict == Some(crate::early_stop::Verdict::Improved) {
            let extra = serde_json::json!({ "train": cfg.to_json(), "best_epoch": epoch + 1 });
            let best = args.out.join("best.safetensors");
            checkpoint::save(&best, &trainer.model, None, epoch + 1, cfg.seed, &extra)
                .map_err(|e| e.to_string())?;
        }
        if stop {
            println!(
                "early stop after epoch {}: no better validation loss for {} epochs (best {:.2} at epoch {})",
                epoch + 1,
                epoch + 1 - stopper.best_epoch,
                stopper.best_loss,
                stopper.best_epoch
            );
            break;
        }
    }
    let mut validation_json = serde_json::Value::Null;
    if let Some(v) = &validation {
        if let Some(best) = stopper.best_model.take() {
            println!(
                "evaluating the best epoch's model (epoch {}, validation {:.2})",
                stopper.best_epoch, stopper.best_loss
            );
            trainer.model = best;
        }
        validation_json = serde_json::json!({
            "images": v.len(),
            "patience": args.patience,
            "best_epoch": stopper.best_epoch,
            "best_neg_elbo": stopper.best_loss,
            "epochs_run": history.len(),
            "curve": stopper.curve,
        });
    }
    finish(
        args,
        &trainer,
        &train_set,
        &test_set,
        &history,
        validation_json,
    )
}

/// Rebuilds the trainer from a checkpoint.
fn resume(
    path: &Path,
    args: &Args,
    input_dim: usize,
) -> Result<(Trainer, usize, Vec<EpochRecord>), String> {
    let ck = checkpoint::load(path).map_err(|e| e.to_string())?;
    if ck.model.config.input_dim != input_dim {
        return Err(format!(
            "{} was trained on images of {} pixels, the data has {input_dim}",
            path.display(),
            ck.model.config.input_dim
        ));
    }
    let mut tcfg = TrainConfig::from_json(&ck.extra["train"], ck.seed)?;
    if let Some(e) = args.epochs {
        tcfg.epochs = e;
    }
    refuse_changes(path, args, &ck.model.config, &tcfg)?;
    check_excluded(path, &ck.extra, args.exclude_digit)?;
    let mut opt = tcfg.new_optimizer();
    if let Some(state) = &ck.optimizer {
        if state.name != opt.name() {
            return Err(format!(
                "checkpoint optimizer is {}, settings say {}",
                state.name,
                opt.name()
            ));
        }
        opt.load_state(&ck.model.params, state.steps, &state.buffers)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let history: Vec<EpochRecord> = ck.extra["history"]
        .as_array()
        .map(|a| a.iter().filter_map(EpochRecord::from_json).collect())
        .unwrap_or_default();
    println!(
        "resuming {} at epoch {} of {}",
        path.display(),
        ck.epoch + 1,
        tcfg.epochs
    );
    let epoch = ck.epoch;
    Ok((Trainer::with_optimizer(ck.model, opt, tcfg), epoch, history))
}

/// A resumed run continues the saved one exactly, so an explicit flag that contradicts the
/// checkpoint's model or recipe is an error rather than silently ignored (`--epochs` may extend).
fn refuse_changes(
    path: &Path,
    args: &Args,
    model: &VaeConfig,
    t: &TrainConfig,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    let mut check = |flag: &str, given: Option<String>, saved: String| {
        if let Some(g) = given
            && g != saved
        {
            wrong.push(format!("{flag} {g} (the checkpoint has {saved})"));
        }
    };
    let list = |h: &[usize]| {
        h.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    check(
        "--hidden",
        args.hidden.as_deref().map(list),
        list(&model.hidden),
    );
    check(
        "--latent",
        args.latent.map(|x| x.to_string()),
        model.latent.to_string(),
    );
    check(
        "--activation",
        args.activation.clone(),
        model.activation.name().into(),
    );
    check(
        "--init",
        args.init.clone(),
        crate::model::init_name(model.init).into(),
    );
    check(
        "--batch-size",
        args.batch_size.map(|x| x.to_string()),
        t.batch_size.to_string(),
    );
    check(
        "--optimizer",
        args.optimizer.clone(),
        t.optimizer.name().into(),
    );
    check("--lr", args.lr.map(|x| x.to_string()), t.lr.to_string());
    check(
        "--adam-beta1",
        args.adam_beta1.map(|x| x.to_string()),
        t.adam_beta1.to_string(),
    );
    check(
        "--adam-eps",
        args.adam_eps.map(|x| x.to_string()),
        t.adam_eps.to_string(),
    );
    check(
        "--output-bias",
        args.output_bias.clone(),
        t.output_bias.name().into(),
    );
    check(
        "--beta",
        args.beta.map(|x| x.to_string()),
        t.beta.to_string(),
    );
    check(
        "--warmup-epochs",
        args.warmup_epochs.map(|x| x.to_string()),
        t.warmup_epochs.to_string(),
    );
    check(
        "--seed",
        args.seed.map(|x| x.to_string()),
        t.seed.to_string(),
    );
    check(
        "--binarize",
        args.binarize.clone(),
        t.binarize.name().into(),
    );
    check(
        "--objective",
        args.objective.clone(),
        t.objective.name().into(),
    );
    check(
        "--k",
        args.k.map(|k| k.to_string()),
        t.objective.samples().to_string(),
    );
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "--resume {} continues that run with its own model and settings; these flags differ: {}",
            path.display(),
            wrong.join(", ")
        ))
    }
}

/// A held-out model resumed without its `--exclude-digit` (or with another) would silently train
/// on the digit it must not see: refused. A checkpoint from before the digit was recorded (no
/// `exclude_digit` entry) cannot be checked and is accepted.
pub fn check_excluded(
    path: &Path,
    extra: &serde_json::Value,
    asked: Option<u8>,
) -> Result<(), String> {
    let Some(saved) = extra.get("exclude_digit") else {
        return Ok(());
    };
    let saved = saved.as_u64();
    let text = |d: Option<u64>| match d {
        Some(d) => format!("--exclude-digit {d}"),
        None => "no --exclude-digit".to_string(),
    };
    let asked = asked.map(u64::from);
    if saved == asked {
        Ok(())
    } else {
        Err(format!(
            "--resume {} was trained with {}, this run has {}: give the same flag",
            path.display(),
            text(saved),
            text(asked)
        ))
    }
}

fn progress_bar(quiet: bool, steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}  ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("epoch {}/{epochs}", epoch + 1));
    bar
}

/// The importance-weighted estimate of the test set's mean `-log p(x)` with `k` samples per
/// image ([`crate::eval::iw_scores`]), with a progress bar on stderr unless `quiet`; prints the
/// result with its wall time and returns `(nats, seconds)`.
pub fn test_nll(
    model: &Vae,
    test: &ImageSet,
    k: usize,
    binarize: Binarize,
    seed: u64,
    quiet: bool,
) -> (f64, f64) {
    let start = std::time::Instant::now();
    let total = test.len() * k;
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {percent}%  ETA {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("-log p(x), K = {k}"));
    let mut last = 0;
    let scores =
        crate::eval::iw_scores_with_progress(model, test, k, binarize, seed, &mut |done| {
            // Redraw at most every 0.1 % (the bar itself also limits its rate).
            if done - last >= total / 1000 || done == total {
                bar.set_position(done as u64);
                last = done;
            }
        });
    bar.finish_and_clear();
    let nll = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "test -log p(x) ≈ {nll:.2} nats (importance-weighted, K = {k}, {} images, {seconds:.0} s)",
        test.len()
    );
    (nll, seconds)
}

/// End of training: evaluation, pictures, summary.
fn finish(
    args: &Args,
    trainer: &Trainer,
    train_set: &ImageSet,
    test: &ImageSet,
    history: &[EpochRecord],
    validation: serde_json::Value,
) -> Result<(), String> {
    let out = &args.out;
    let model = &trainer.model;
    let cfg = &trainer.config;
    let shape = (test.rows, test.cols);
    let r = |e: crate::images::RenderError| e.to_string();
    let train_curve: Vec<f64> = history.iter().map(|h| h.train.loss).collect();
    // NaN for the epochs that were not evaluated: the plot joins the evaluated ones.
    let test_curve: Vec<f64> = history
        .iter()
        .map(|h| h.test.map_or(f64::NAN, |t| t.loss))
        .collect();
    crate::plots::loss_plot(&out.join("loss.png"), &train_curve, &test_curve).map_err(r)?;
    report::reconstructions(&out.join("reconstructions.png"), model, test, 8).map_err(r)?;
    report::samples(&out.join("samples.png"), model, shape, 8, cfg.seed).map_err(r)?;
    if model.config.latent == 2 {
        report::manifold(&out.join("manifold.png"), model, shape, 20).map_err(r)?;
    }
    let stats = latent_stats(model, test);
    let means = report::latent(&out.join("latent.png"), model, test).map_err(r)?;
    let pairs: Vec<(usize, usize)> = (0..4)
        .map(|i| (2 * i, 2 * i + 1))
        .filter(|&(_, b)| b < test.len())
        .collect();
    report::interpolation(&out.join("interpolation.png"), model, test, &pairs, 10).map_err(r)?;

    let elbo = evaluate(model, test, cfg.binarize, 1.0, cfg.seed);
    println!(
        "\ntest negative ELBO: {:.2} nats (reconstruction {:.2}, KL {:.2})",
        elbo.loss, elbo.recon, elbo.kl
    );
    let page = crate::explorer::Explorer {
        model,
        means: &means,
        labels: test.labels.as_deref(),
        shape,
        test: elbo,
        epoch: history.last().map_or(0, |h| h.epoch),
    };
    crate::explorer::write(&out.join("explorer.html"), &page)?;
    let kl: Vec<String> = stats.kl_per_dim.iter().map(|k| format!("{k:.2}")).collect();
    println!("KL per latent dimension: [{}]", kl.join(", "));
    println!(
        "active latent units (Cov > 0.01): {} of {}",
        stats.active_units, model.config.latent
    );
    let mut summary = serde_json::json!({
        "model": model.config.to_json(),
        "train": cfg.to_json(),
        "train_images": train_set.len(),
        "test_neg_elbo": elbo.loss,
        "test_recon": elbo.recon,
        "test_kl": elbo.kl,
        "kl_per_dim": stats.kl_per_dim,
        "active_units": stats.active_units,
        "eval_batch": EVAL_BATCH,
    });
    if !validation.is_null() {
        summary["validation"] = validation;
    }
    let paper_end = cfg.schedule == LrSchedule::Iwae && cfg.epochs >= IWAE_EPOCHS;
    if let Some(k) = args.iw_samples.or(paper_end.then_some(IWAE_EVAL_K)) {
        let (nll, seconds) = test_nll(model, test, k, cfg.binarize, cfg.seed, args.quiet);
        summary["iw_samples"] = k.into();
        summary["test_iw_nll"] = nll.into();
        summary["test_iw_seconds"] = seconds.into();
    }
    checkpoint::write_atomic(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)
            .expect("json")
            .as_bytes(),
    )
    .map_err(|e| format!("cannot write summary.json: {e}"))?;
    println!(
        "\nwrote {}/: checkpoint.safetensors metrics.csv summary.json loss.png reconstructions.png samples.png{} latent.png interpolation.png explorer.html",
        out.display(),
        if model.config.latent == 2 {
            " manifold.png"
        } else {
            ""
        }
    );
    Ok(())
}
