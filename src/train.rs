//! Training: one step is forward, loss, backward, optimizer; an epoch is a seeded shuffle of the
//! training set in batches. The tape, the gradients and every buffer are reused from step to
//! step, so a steady-state step does not allocate.

mod inputs;

use crate::data::{Binarize, ImageSet, epoch_rng, shuffle_into};
use crate::iwae::iwae_loss;
use crate::model::{Vae, loss};
use autograd::{Adam, Gradients, Optimizer, RmsProp, Sgd, Tape};
use inputs::StepInputs;
use rand::rngs::Xoshiro256PlusPlus;
use std::fmt;
use std::time::Instant;

/// Which optimizer to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD with momentum 0.9.
    Sgd,
    /// RMSprop, Keras semantics.
    RmsProp,
    /// Adam, PyTorch semantics.
    Adam,
}

impl OptimizerKind {
    /// Parses `sgd`, `rmsprop` or `adam`.
    pub fn parse(s: &str) -> Result<OptimizerKind, String> {
        match s {
            "sgd" => Ok(OptimizerKind::Sgd),
            "rmsprop" => Ok(OptimizerKind::RmsProp),
            "adam" => Ok(OptimizerKind::Adam),
            _ => Err(format!(
                "unknown optimizer {s:?} (expected rmsprop, adam or sgd)"
            )),
        }
    }

    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::RmsProp => "rmsprop",
            OptimizerKind::Adam => "adam",
        }
    }

    /// A fresh optimizer of this kind; `adam` is Adam's `(β1, ε)` (β2 is 0.999), which the
    /// other kinds ignore.
    pub fn build(self, lr: f32, adam: (f32, f32)) -> Box<dyn Optimizer> {
        match self {
            OptimizerKind::Sgd => Box::new(Sgd::new(lr, 0.9)),
            OptimizerKind::RmsProp => Box::new(RmsProp::new(lr)),
            OptimizerKind::Adam => Box::new(Adam::with(lr, adam.0, 0.999, adam.1)),
        }
    }
}

/// Adam's default `(β1, ε)` for a schedule: PyTorch's `(0.9, 1e-8)`, or `(0.9, 1e-4)` with
/// Burda et al.'s schedule, whose paper gives ε = 1e-4. (Checkpoints from before the two
/// were settings hold these.)
pub fn adam_defaults(schedule: LrSchedule) -> (f32, f32) {
    match schedule {
        LrSchedule::Constant => (0.9, 1e-8),
        LrSchedule::Iwae => (0.9, 1e-4),
    }
}

/// How the decoder's output bias starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputBias {
    /// At zero, like every other bias: every pixel starts at probability 1/2.
    Zero,
    /// At the logit of each pixel's mean over the training images (clipped to
    /// [0.001, 0.999]), as Burda et al.'s released code starts it: the untrained decoder
    /// already draws the average image.
    DataMean,
}

impl OutputBias {
    /// Parses `zero` or `data-mean`.
    pub fn parse(s: &str) -> Result<OutputBias, String> {
        match s {
            "zero" => Ok(OutputBias::Zero),
            "data-mean" => Ok(OutputBias::DataMean),
            _ => Err(format!(
                "unknown --output-bias {s:?} (expected zero or data-mean)"
            )),
        }
    }

    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            OutputBias::Zero => "zero",
            OutputBias::DataMean => "data-mean",
        }
    }
}

/// The learning rate over epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LrSchedule {
    /// The same rate throughout.
    Constant,
    /// Burda et al. (2015): `lr · 10^(-i/7)` for `3^i` epochs, `i = 0..=7` (3,280 epochs).
    Iwae,
}

impl LrSchedule {
    /// Whether `epoch` (1-based) is the last of a stage of the schedule: every epoch for
    /// [`LrSchedule::Constant`]; epochs 1, 4, 13, 40, 121, 364, 1093 and 3280 (the sums of
    /// `3^i`) for [`LrSchedule::Iwae`], and every 3^7 = 2187 epochs after the last stage's start.
    pub fn stage_ends(self, epoch: usize) -> bool {
        match self {
            LrSchedule::Constant => true,
            LrSchedule::Iwae => {
                let (mut i, mut end) = (0u32, 1usize);
                while epoch > end && i < 7 {
                    i += 1;
                    end += 3usize.pow(i);
                }
                epoch == end || (epoch > end && (epoch - end).is_multiple_of(3usize.pow(7)))
            }
        }
    }

    /// The rate for `epoch` (0-based) given the base rate.
    pub fn lr(self, base: f32, epoch: usize) -> f32 {
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Iwae => {
                let (mut i, mut end) = (0u32, 1usize);
                while epoch >= end && i < 7 {
                    i += 1;
                    end += 3usize.pow(i);
                }
                base * 10f32.powf(-(i as f32) / 7.0)
            }
        }
    }
}

/// What training minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    /// The negative ELBO with the analytic KL and one posterior sample ([`crate::model::loss`]).
    Elbo,
    /// The negative `k`-sample importance-weighted bound ([`crate::iwae::iwae_loss`]).
    Iwae {
        /// Posterior samples per image.
        k: usize,
    },
}

impl Objective {
    /// `elbo`, or `iwae` with its `k`.
    pub fn parse(name: &str, k: Option<usize>) -> Result<Objective, String> {
        match (name, k) {
            ("elbo", None) => Ok(Objective::Elbo),
            ("elbo", Some(_)) => Err("--k needs --objective iwae".into()),
            ("iwae", k) => Ok(Objective::Iwae { k: k.unwrap_or(1) }),
            _ => Err(format!(
                "unknown --objective {name:?} (expected elbo or iwae)"
            )),
        }
    }

    /// `elbo` or `iwae`.
    pub fn name(self) -> &'static str {
        match self {
            Objective::Elbo => "elbo",
            Objective::Iwae { .. } => "iwae",
        }
    }

    /// Posterior samples per image: `k`, or 1 for the ELBO.
    pub fn samples(self) -> usize {
        match self {
            Objective::Elbo => 1,
            Objective::Iwae { k } => k,
        }
    }
}

/// The most posterior samples per image `--objective iwae` trains with (each step decodes
/// `k` times the batch).
pub const MAX_K: usize = 5000;

/// Everything about how to train (the model's own shape is in [`crate::model::VaeConfig`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Epochs to run in all.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Base learning rate.
    pub lr: f32,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// Weight of the KL term.
    pub beta: f32,
    /// Epochs over which the KL weight rises linearly from 0 to `beta` (0 for none).
    pub warmup_epochs: usize,
    /// Targets: grey levels or dynamic binarization.
    pub binarize: Binarize,
    /// Seeds the data order, the noise and the binarization.
    pub seed: u64,
    /// What is minimised.
    pub objective: Objective,
    /// Adam's β1 (ignored by the other optimizers).
    pub adam_beta1: f32,
    /// Adam's ε (ignored by the other optimizers).
    pub adam_eps: f32,
    /// How the decoder's output bias starts (applied once, before the first step).
    pub output_bias: OutputBias,
}

impl TrainConfig {
    /// The seed tutorial's recipe: RMSprop 1e-3, batch 32, 10 epochs.
    pub fn seed_recipe() -> TrainConfig {
        let (adam_beta1, adam_eps) = adam_defaults(LrSchedule::Constant);
        TrainConfig {
            epochs: 10,
            batch_size: 32,
            optimizer: OptimizerKind::RmsProp,
            lr: 1e-3,
            schedule: LrSchedule::Constant,
            beta: 1.0,
            warmup_epochs: 0,
            binarize: Binarize::None,
            seed: 0,
            objective: Objective::Elbo,
            adam_beta1,
            adam_eps,
            output_bias: OutputBias::Zero,
        }
    }

    /// A fresh optimizer for this recipe.
    pub fn new_optimizer(&self) -> Box<dyn Optimizer> {
        self.optimizer
            .build(self.lr, (self.adam_beta1, self.adam_eps))
    }

    /// Refuses sizes and rates that cannot train, with a message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_size == 0 {
            return Err("--batch-size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(format!(
                "--lr must be a positive finite number, got {}",
                self.lr
            ));
        }
        if !(self.beta.is_finite() && self.beta >= 0.0) {
            return Err(format!(
                "--beta must be a finite number >= 0, got {}",
                self.beta
            ));
        }
        if !(self.adam_beta1.is_finite() && (0.0..1.0).contains(&self.adam_beta1)) {
            return Err(format!(
                "--adam-beta1 must be at least 0 and below 1, got {}",
                self.adam_beta1
            ));
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return Err(format!(
                "--adam-eps must be a positive finite number, got {}",
                self.adam_eps
            ));
        }
        if let Objective::Iwae { k } = self.objective {
            if !(1..=MAX_K).contains(&k) {
                return Err(format!("--k must be 1 to {MAX_K}, got {k}"));
            }
            if self.beta != 1.0 || self.warmup_epochs != 0 {
                return Err(
                    "--beta and --warmup-epochs weight the ELBO's KL term: not with --objective iwae"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// As JSON, for checkpoint metadata.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "optimizer": self.optimizer.name(),
            "lr": short(self.lr),
            "schedule": match self.schedule { LrSchedule::Constant => "constant", LrSchedule::Iwae => "iwae" },
            "beta": short(self.beta),
            "warmup_epochs": self.warmup_epochs,
            "binarize": self.binarize.name(),
            "seed": self.seed,
            "objective": self.objective.name(),
            "k": self.objective.samples(),
            "adam_beta1": short(self.adam_beta1),
            "adam_eps": short(self.adam_eps),
            "output_bias": self.output_bias.name(),
        })
    }

    /// Reads [`TrainConfig::to_json`]'s form back (a checkpoint's `extra["train"]`); `seed` is
    /// the checkpoint's own. Settings that older checkpoints lack take the values those runs
    /// trained with.
    pub fn from_json(t: &serde_json::Value, seed: u64) -> Result<TrainConfig, String> {
        let get_str = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("");
        let get_num = |k: &str| t.get(k).and_then(|v| v.as_f64());
        let schedule = if get_str("schedule") == "iwae" {
            LrSchedule::Iwae
        } else {
            LrSchedule::Constant
        };
        let adam = adam_defaults(schedule);
        Ok(TrainConfig {
            epochs: get_num("epochs").ok_or("checkpoint lacks its training settings")? as usize,
            batch_size: get_num("batch_size").unwrap_or(32.0) as usize,
            optimizer: OptimizerKind::parse(get_str("optimizer"))?,
            lr: get_num("lr").unwrap_or(1e-3) as f32,
            schedule,
            beta: get_num("beta").unwrap_or(1.0) as f32,
            warmup_epochs: get_num("warmup_epochs").unwrap_or(0.0) as usize,
            binarize: Binarize::parse(get_str("binarize"))?,
            seed,
            // Checkpoints from before the iwae objective trained the ELBO.
            objective: match get_str("objective") {
                "" => Objective::Elbo,
                o => Objective::parse(
                    o,
                    (o == "iwae").then(|| get_num("k").unwrap_or(1.0) as usize),
                )?,
            },
            adam_beta1: get_num("adam_beta1").map_or(adam.0, |x| x as f32),
            adam_eps: get_num("adam_eps").map_or(adam.1, |x| x as f32),
            output_bias: match get_str("output_bias") {
                "" => OutputBias::Zero,
                o => OutputBias::parse(o)?,
            },
        })
    }

    /// The KL weight at a fractional epoch (linear warm-up).
    pub fn beta_at(&self, epoch: usize, step: usize, steps: usize) -> f32 {
        if self.warmup_epochs == 0 {
            return self.beta;
        }
        let t = (epoch as f32 + step as f32 / steps.max(1) as f32) / self.warmup_epochs as f32;
        self.beta * t.min(1.0)
    }
}

/// An `f32` as the `f64` with the same shortest decimal form (`0.001`, not `0.0010000000474…`),
/// so JSON shows what the user typed and reading it back as `f32` gives the same bits.
fn short(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

/// Mean losses over an epoch or a data set (nats per image).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Losses {
    /// Reconstruction + beta · KL.
    pub loss: f64,
    /// Reconstruction.
    pub recon: f64,
    /// KL (unweighted).
    pub kl: f64,
}

/// Why training stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainError {
    /// The loss or a gradient stopped being finite.
    Diverged {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based step within the epoch.
        step: usize,
        /// The first op (with shapes) whose value or gradient went non-finite.
        detail: String,
    },
    /// The data could not be batched.
    Data(String),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::Diverged {
                epoch,
                step,
                detail,
            } => write!(
                f,
                "training diverged at epoch {epoch}, step {step}: {detail}. Try a smaller --lr."
            ),
            TrainError::Data(m) => write!(f, "data error: {m}"),
        }
    }
}

impl std::error::Error for TrainError {}

/// The state of a training run: model, optimizer, and reusable buffers.
pub struct Trainer {
    /// The model being trained.
    pub model: Vae,
    /// Its optimizer.
    pub opt: Box<dyn Optimizer>,
    /// The recipe.
    pub config: TrainConfig,
    tape: Tape,
    grads: Gradients,
    order: Vec<usize>,
    /// The inputs of the step under way.
    inputs: StepInputs,
    /// The next step's inputs, filled while this one runs ([`Trainer::train_epoch`]).
    next: StepInputs,
}

/// Progress after each step: `(step, steps, running mean loss)`.
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f64);

impl Trainer {
    /// A trainer for `model` with a fresh optimizer.
    pub fn new(model: Vae, config: TrainConfig) -> Trainer {
        let opt = config.new_optimizer();
        Trainer::with_optimizer(model, opt, config)
    }

    /// A trainer with a given (for instance restored) optimizer.
    ///
    /// With the engine's fast paths (feature `fast`), turns on flush-to-zero for subnormal
    /// floats on this thread and the rayon pool (`autograd::kernels::flush_subnormals`), so
    /// late epochs never slow down, and lets the big weight gradients reach the optimizer as
    /// their factors, computed block by block while it updates (bitwise the same values,
    /// less memory traffic). The reference engine computes every gradient in its rule.
    pub fn with_optimizer(model: Vae, opt: Box<dyn Optimizer>, config: TrainConfig) -> Trainer {
        #[cfg(feature = "fast")]
        autograd::kernels::flush_subnormals();
        #[cfg_attr(not(feature = "fast"), allow(unused_mut))]
        let mut grads = Gradients::new();
        #[cfg(feature = "fast")]
        grads.defer_weight_products(true);
        Trainer {
            model,
            opt,
            config,
            tape: Tape::new(),
            grads,
            order: Vec::new(),
            inputs: StepInputs::default(),
            next: StepInputs::default(),
        }
    }

    /// Trains one epoch (`epoch` is 0-based) over `train`, calling `progress` after every step.
    /// Returns the epoch's mean losses and its wall time in seconds.
    pub fn train_epoch(
        &mut self,
        train: &ImageSet,
        epoch: usize,
        progress: Progress<'_>,
    ) -> Result<(Losses, f64), TrainError> {
        let start = Instant::now();
        let cfg = self.config.clone();
        self.opt.set_lr(cfg.schedule.lr(cfg.lr, epoch));
        shuffle_into(&mut self.order, train.len(), cfg.seed, epoch);
        // A second stream for noise and binarization, also a function of (seed, epoch) only,
        // so a run resumed at an epoch boundary continues bit for bit.
        let mut rng = epoch_rng(cfg.seed ^ 0x05ee_d0f4_015e, epoch);
        let steps = train.len().div_ceil(cfg.batch_size);
        let (mut sum, mut n) = (Losses::default(), 0usize);
        let order = std::mem::take(&mut self.order);
        let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).collect();
        let latent = self.model.config.latent;
        let diverged = |step: usize| {
            move |detail| TrainError::Diverged {
                epoch: epoch + 1,
                step: step + 1,
                detail,
            }
        };
        // The steps run with rayon's other workers spinning, so that each parallel product
        // starts at once instead of waking a sleeping thread; and while a step runs, a worker
        // with nothing else to do fills the next step's inputs (`overlap`). They are drawn
        // from `rng` in the order of the steps either way, so every value is the same.
        // A batch that cannot be filled is reported when its step comes.
        let data_error = |step: usize| {
            move |e| TrainError::Data(format!("epoch {}, step {}: {e}", epoch + 1, step + 1))
        };
        let run = autograd::kernels::with_hot_workers(|| {
            let mut filled = batches.first().map_or(Ok(()), |first| {
                self.inputs.fill(train, first, &cfg, latent, &mut rng)
            });
            for (step, indices) in batches.iter().enumerate() {
                std::mem::replace(&mut filled, Ok(())).map_err(data_error(step))?;
                let beta = cfg.beta_at(epoch, step, steps);
                let mut next = std::mem::take(&mut self.next);
                let upcoming = batches.get(step + 1);
                let rng = &mut rng;
                let cfg = &cfg;
                let ((next, next_filled), l) = autograd::kernels::overlap(
                    move || {
                        let filled =
                            upcoming.map_or(Ok(()), |ix| next.fill(train, ix, cfg, latent, rng));
                        (next, filled)
                    },
                    || self.step_on_inputs(train.dim(), beta),
                );
                self.next = next;
                filled = next_filled;
                let l = l.map_err(diverged(step))?;
                std::mem::swap(&mut self.inputs, &mut self.next);
                let b = indices.len() as f64;
                sum.loss += l.loss * b;
                sum.recon += l.recon * b;
                sum.kl += l.kl * b;
                n += indices.len();
                progress(step + 1, steps, sum.loss / n as f64);
            }
            Ok(())
        });
        self.order = order;
        run?;
        let n = n.max(1) as f64;
        let mean = Losses {
            loss: sum.loss / n,
            recon: sum.recon / n,
            kl: sum.kl / n,
        };
        Ok((mean, start.elapsed().as_secs_f64()))
    }

    /// One training step on the images at `indices` of `set`, with KL weight `beta`, drawing
    /// noise (and binarization) from `rng`. On a non-finite loss or gradient the parameters are
    /// left untouched and the step is replayed in anomaly mode; the error names the first op
    /// whose value or gradient went non-finite.
    pub fn step(
        &mut self,
        set: &ImageSet,
        indices: &[usize],
        beta: f32,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Losses, String> {
        let latent = self.model.config.latent;
        self.inputs.fill(set, indices, &self.config, latent, rng)?;
        self.step_on_inputs(set.dim(), beta)
    }

    /// [`Trainer::step`] on the inputs already filled (`d` pixels an image).
    fn step_on_inputs(&mut self, d: usize, beta: f32) -> Result<Losses, String> {
        let (b, latent) = (self.inputs.images, self.model.config.latent);
        let out = self.forward_backward(b, d, latent, beta, false);
        let finite = out.loss.is_finite() && self.grads.params_finite();
        if !finite {
            // Replay the same batch and noise with every value and gradient checked.
            self.forward_backward(b, d, latent, beta, true);
            let detail = self
                .tape
                .first_anomaly()
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("loss = {}", out.loss));
            self.tape.set_anomaly_mode(false);
            self.tape.clear();
            return Err(detail);
        }
        self.opt.step(&mut self.model.params, &self.grads);
        Ok(out)
    }

    fn forward_backward(
        &mut self,
        b: usize,
        d: usize,
        latent: usize,
        beta: f32,
        anomaly: bool,
    ) -> Losses {
        let tape = &self.tape;
        tape.clear();
        tape.set_anomaly_mode(anomaly);
        let inputs = &self.inputs;
        let x = tape.constant_from(&inputs.pixels, &[b, d]);
        let l = match self.config.objective {
            Objective::Elbo => {
                let eps = tape.constant_from(&inputs.eps, &[b, latent]);
                loss(&self.model.forward(tape, x, eps), x, beta)
            }
            Objective::Iwae { k } => {
                let targets = tape.constant_from(&inputs.tiled, &[k * b, d]);
                let eps = tape.constant_from(&inputs.eps, &[k * b, latent]);
                iwae_loss(&self.model, tape, x, targets, eps, k)
            }
        };
        let out = Losses {
            loss: l.total.item() as f64,
            recon: l.recon.item() as f64,
            kl: l.kl.item() as f64,
        };
        // In anomaly mode an error is also kept by the tape (first_anomaly), which the caller
        // reads before clearing; otherwise the tape is cleared now, releasing the parameters.
        let _ = tape.try_backward_into(l.total, &mut self.grads);
        if !anomaly {
            tape.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::LrSchedule;

    #[test]
    fn iwae_stages_end_where_the_learning_rate_changes() {
        let ends: Vec<usize> = (1..=3280)
            .filter(|&e| LrSchedule::Iwae.stage_ends(e))
            .collect();
        assert_eq!(ends, [1, 4, 13, 40, 121, 364, 1093, 3280]);
        // The last epoch of each stage has the stage's rate; the next epoch, the next rate.
        for &e in &ends[..7] {
            let (last, next) = (LrSchedule::Iwae.lr(1.0, e - 1), LrSchedule::Iwae.lr(1.0, e));
            assert!(next < last, "epoch {e}: {last} then {next}");
        }
        assert!(LrSchedule::Iwae.stage_ends(3280 + 2187));
        assert!(!LrSchedule::Iwae.stage_ends(3281));
        assert!((1..50).all(|e| LrSchedule::Constant.stage_ends(e)));
    }
}
