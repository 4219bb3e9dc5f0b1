//! Per-image anomaly scores from a trained VAE, higher meaning "more anomalous".
//!
//! | name              | score |
//! |-------------------|-------|
//! | `elbo`            | one-sample negative ELBO: `-log p(x|z₁) + KL(q(z|x) ‖ p(z))` |
//! | `iw`              | importance-weighted `-log p(x) ≈ -log (1/K) Σ p(x|zₖ) p(zₖ) / q(zₖ|x)` |
//! | `recon-prob`      | An & Cho's reconstruction probability, `-log (1/K) Σ p(x|zₖ)` |
//! | `iw-bits`         | `iw` of the image's fixed binarization `b` (the mean over `M` of them) |
//! | `complexity`      | Serrà et al.'s complexity-corrected likelihood: `iw-bits` minus `L(b)` |
//! | `iw-8bit`         | `iw` of the 8-bit image on its grid of 256 levels |
//! | `complexity-8bit` | `iw-8bit` minus `L(x)` of the 8-bit image |
//! | `ctx-ratio`       | `iw-bits` minus `-log P(b)` under a context model fitted to the training images |
//! | `kl`              | `KL(q(z|x) ‖ p(z))`: how far the encoder moves the image from the prior |
//! | `latent`          | `-log p(μ(x))`: the prior density at the posterior mean |
//!
//! with `zₖ ~ q(z|x)`, the same `K` draws for every importance-weighted score and `recon-prob`
//! (one decoder pass each, shared), the first of them for `elbo`. Every score is in nats.
//! `elbo`, `iw` and `recon-prob` score the targets the model was trained on: `pixel/255` for a
//! grey-level model, the fixed binarization for a binarized one.
//!
//! **Which image the complexity correction measures.** Its two terms must be code lengths of
//! the same object. The Bernoulli decoder is a distribution over *bit* images, so `complexity`
//! scores `b`, one fixed stochastic binarization of each test image (each pixel is ink with
//! probability `pixel/255`, drawn once from a seeded stream per image; for a binarized model
//! it is the very image `iw` scores, for a grey-level model the encoder still sees the grey
//! image, which is only the proposal of the importance sampler), and `L(b)` is `b`'s code
//! length under an adaptive context model ([`context_code_length_nats`], a JBIG-style lossless
//! coder that knows nothing of digits). With `M` binarizations (`--binarizations`, default
//! [`DEFAULT_BINARIZATIONS`]), `iw-bits`, `complexity` and `ctx-ratio` are the means of their
//! values for `M` independent fixed binarizations `b₁ … b_M` (`b₁` the one above): the expected
//! score over the binarization, which one draw only estimates, so ranks depend less on which
//! pixels of faint strokes happened to become ink. The `K` decoder passes are shared by the `M`
//! bit images. `complexity-8bit` is the other reading: it puts the decoder on the 8-bit grid
//! the image lives on, `P(v | z) ∝ p^{v/255} (1 - p)^{1 - v/255}` for `v = 0..=255`
//! (`-log P(v) = S(l/255) - v l/255` with `l` the logit and
//! `S(a) = log Σ_v e^{a v}`), against the PNG-style zlib length of the 8-bit image
//! ([`code_length_nats`]). That decoder spreads an ink pixel's mass over dozens of grey levels,
//! so it is a poor 8-bit model and a generic compressor beats it by far.
//!
//! `ctx-ratio` is a likelihood ratio in the manner of Schirrmeister et al. (NeurIPS 2020): the
//! reference is not a generic compressor but [`ContextModel`], a JBIG-style context model whose
//! counts come from the model's own training images. It has learnt how strokes continue
//! locally, not what digits look like, so the ratio keeps what the VAE knows beyond local
//! stroke statistics.
//!
//! **Cost.** Scoring runs in no-grad mode in batches of [`EVAL_BATCH`] images. The `K` samples
//! are a loop with a running log-sum-exp per image, so memory does not grow with `K`; the `M`
//! bit images of a batch are held at once (`M` times the batch's pixels). The
//! noise of image `i` comes from its own seeded stream, so scores do not depend on batching.

use super::compress::{ContextModel, ImageBits, code_length_nats, context_code_length_nats};
use crate::data::{Binarize, ImageSet, epoch_rng, fill_batch};
use crate::eval::EVAL_BATCH;
use crate::model::Vae;
use autograd::Tape;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// One of the anomaly scores (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScoreKind {
    /// One-sample negative ELBO.
    Elbo,
    /// Importance-weighted `-log p(x)`.
    Iw,
    /// An & Cho's reconstruction probability, as `-log` of the mean of `p(x|z)`.
    ReconProb,
    /// Importance-weighted `-log p(b)` of the fixed binarization.
    IwBits,
    /// Serrà et al.'s complexity-corrected likelihood of the fixed binarization.
    Complexity,
    /// Importance-weighted `-log P(x)` of the 8-bit image on its grid.
    Iw8bit,
    /// The complexity-corrected likelihood of the 8-bit image.
    Complexity8bit,
    /// The likelihood ratio against a context model of the training images.
    CtxRatio,
    /// The KL term alone.
    Kl,
    /// The prior's negative log density at the posterior mean.
    Latent,
}

impl ScoreKind {
    /// Every score, in the order of tables and CSV columns.
    pub const ALL: [ScoreKind; 10] = [
        ScoreKind::Elbo,
        ScoreKind::Iw,
        ScoreKind::ReconProb,
        ScoreKind::IwBits,
        ScoreKind::Complexity,
        ScoreKind::Iw8bit,
        ScoreKind::Complexity8bit,
        ScoreKind::CtxRatio,
        ScoreKind::Kl,
        ScoreKind::Latent,
    ];

    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            ScoreKind::Elbo => "elbo",
            ScoreKind::Iw => "iw",
            ScoreKind::ReconProb => "recon-prob",
            ScoreKind::IwBits => "iw-bits",
            ScoreKind::Complexity => "complexity",
            ScoreKind::Iw8bit => "iw-8bit",
            ScoreKind::Complexity8bit => "complexity-8bit",
            ScoreKind::CtxRatio => "ctx-ratio",
            ScoreKind::Kl => "kl",
            ScoreKind::Latent => "latent",
        }
    }

    /// Parses the flag spelling.
    pub fn parse(s: &str) -> Result<ScoreKind, String> {
        ScoreKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ScoreKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown --score {s:?} (expected {})", names.join(", "))
            })
    }

    fn index(self) -> usize {
        ScoreKind::ALL
            .iter()
            .position(|&k| k == self)
            .expect("in ALL")
    }
}

/// The command lines' `M`: the bit-image scores' mean over 8 binarizations holds most of what
/// more would add (on the 250-epoch 20-D models, `ctx-ratio`'s mean AUROC is 0.899 with one,
/// 0.921 with 8 and 0.923 with 32).
pub const DEFAULT_BINARIZATIONS: usize = 8;

/// How to score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreOptions {
    /// Posterior samples per image (`K`, at least 1).
    pub samples: usize,
    /// Fixed binarizations per image (`M`, at least 1) that the bit-image scores average over.
    pub binarizations: usize,
    /// Seeds the posterior noise and the binarization.
    pub seed: u64,
    /// The targets the model was trained on (see [`trained_binarize`]).
    pub binarize: Binarize,
}

/// Every score of every image of a set.
#[derive(Clone, Debug)]
pub struct Scores {
    values: Vec<Vec<f64>>,
}

impl Scores {
    /// The scores of one kind, one per image.
    pub fn get(&self, kind: ScoreKind) -> &[f64] {
        &self.values[kind.index()]
    }

    /// The number of images scored.
    pub fn len(&self) -> usize {
        self.values[0].len()
    }

    /// Whether no image was scored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The targets a checkpoint's model was trained on, from its `extra["train"]["binarize"]`
/// (as training writes it); grey levels when the entry is missing.
pub fn trained_binarize(extra: &serde_json::Value) -> Binarize {
    match extra["train"]["binarize"].as_str() {
        Some("dynamic") => Binarize::Dynamic,
        _ => Binarize::None,
    }
}

const NOISE_SALT: u64 = 0x5c0e_a11e_0000_0001;
const TEST_BITS_SALT: u64 = 0xb175_a11e_0000_0002;
const TRAIN_BITS_SALT: u64 = 0xb175_a11e_0000_0003;

/// The stream of the `m`-th fixed binarization of the scored images; the 0th is the one a
/// binarized model's targets use.
fn bits_stream(seed: u64, m: usize) -> u64 {
    seed ^ TEST_BITS_SALT ^ (m as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The image's targets, `set.dim()` values: `pixel/255`, or one fixed binarization drawn from
/// image `i`'s own stream `stream` (a [`bits_stream`]).
fn targets(set: &ImageSet, i: usize, binarize: Binarize, stream: u64, out: &mut [f32]) {
    let mut rng = epoch_rng(stream, i);
    fill_batch(set, &[i], out, binarize, &mut rng).expect("the index is in range");
}

/// A running `log Σ exp`, for averaging probabilities without overflow.
#[derive(Clone, Copy)]
struct LogSumExp {
    max: f64,
    sum: f64,
}

impl LogSumExp {
    const EMPTY: LogSumExp = LogSumExp {
        max: f64::NEG_INFINITY,
        sum: 0.0,
    };

    fn add(&mut self, x: f64) {
        if x > self.max {
            self.sum = self.sum * (self.max - x).exp() + 1.0;
            self.max = x;
        } else {
            self.sum += (x - self.max).exp();
        }
    }

    /// `log (1/k) Σ exp`.
    fn log_mean(&self, k: usize) -> f64 {
        self.max + self.sum.ln() - (k as f64).ln()
    }
}

/// `log(1 + e^l)` in `f32`, stable for any `l`.
fn softplus(l: f32) -> f32 {
    l.max(0.0) + (-l.abs()).exp().ln_1p()
}

/// `S(a) = log Σ_{v=0}^{255} e^{a v}`, the log-normaliser of the 8-bit grid distribution.
fn grid_log_norm(a: f64) -> f64 {
    if a.abs() < 1e-12 {
        256f64.ln() + 127.5 * a
    } else if a > 0.0 {
        255.0 * a + (-(-256.0 * a).exp_m1()).ln() - (-(-a).exp_m1()).ln()
    } else {
        (-(256.0 * a).exp_m1()).ln() - (-a.exp_m1()).ln()
    }
}

/// The logits whose [`grid_log_norm`]`(l/255)` is read from [`GRID_TABLE`]; outside, it is
/// computed.
const GRID_RANGE: f32 = 64.0;
/// Table points per unit of logit.
const GRID_STEPS: f32 = 256.0;

/// `grid_log_norm(l/255)` at `l = -64, -64 + 1/256, …, 64`. Linear interpolation between points
/// errs by at most `h² max|S''| / 8 ≈ 5e-7` nats a pixel (`S''` is a variance of `v/255`, at
/// most ¼, per logit², with the table step `h = 1/256`).
static GRID_TABLE: std::sync::LazyLock<Vec<f64>> = std::sync::LazyLock::new(|| {
    let n = (2.0 * GRID_RANGE * GRID_STEPS) as usize;
    (0..=n)
        .map(|i| grid_log_norm((i as f64 / GRID_STEPS as f64 - GRID_RANGE as f64) / 255.0))
        .collect()
});

/// `-log P(v | l)` on the 8-bit grid: `S(l/255) - v l/255`.
fn grid_nll(table: &[f64], l: f32, v: u8) -> f64 {
    let a = f64::from(l) / 255.0;
    let norm = if l.abs() < GRID_RANGE {
        let t = (f64::from(l) + f64::from(GRID_RANGE)) * f64::from(GRID_STEPS);
        let i = (t as usize).min(table.len() - 2);
        let f = t - i as f64;
        table[i] + (table[i + 1] - table[i]) * f
    } else {
        grid_log_norm(a)
    };
    norm - a * f64::from(v)
}

/// `log p(x|z)` of one image, the Bernoulli log-likelihood of the targets given the logits,
/// as `Σ l x - Σ softplus(l)`; `softplus_sum` is the second sum, which depends on the logits
/// only, so the several target images of one decoder pass share it.
fn bernoulli_ll(logits: &[f32], x: &[f32], softplus_sum: f64) -> f64 {
    let dot: f64 = logits.iter().zip(x).map(|(&l, &t)| f64::from(l * t)).sum();
    dot - softplus_sum
}

/// `log P(v|z)` of one 8-bit image on the grid of 256 levels.
fn grid_ll(logits: &[f32], bytes: &[u8]) -> f64 {
    let table = &GRID_TABLE[..];
    -logits
        .iter()
        .zip(bytes)
        .map(|(&l, &v)| grid_nll(table, l, v))
        .sum::<f64>()
}

/// The lossless code lengths of every image of a set, in nats.
#[derive(Clone, Debug)]
pub struct CodeLengths {
    /// Of each image's fixed binarizations, by the adaptive context model (their mean).
    pub bits: Vec<f64>,
    /// Of each 8-bit image, PNG-style with zlib.
    pub grey: Vec<f64>,
    /// Of each image's fixed binarizations, under the context model of the training images
    /// (their mean).
    pub reference: Vec<f64>,
}

/// The code lengths of every image of `set` as the complexity scores and `ctx-ratio` measure
/// them (over `opts.binarizations` fixed binarizations seeded by `opts.seed`), `reference`
/// being [`fit_reference`] of the model's training images. They depend on the images, those
/// options and the reference only, not on the VAE, so they can be computed once for several
/// models.
pub fn code_lengths(set: &ImageSet, opts: &ScoreOptions, reference: &ContextModel) -> CodeLengths {
    let m_count = opts.binarizations.max(1);
    let all: Vec<[f64; 3]> = (0..set.len())
        .into_par_iter()
        .map(|i| {
            let (mut bits, mut reference_len) = (0.0, 0.0);
            for m in 0..m_count {
                let b = bit_image(set, i, bits_stream(opts.seed, m));
                bits += context_code_length_nats(&b, set.rows, set.cols);
                reference_len += reference.code_length_nats(&b, set.rows, set.cols);
            }
            [
                bits / m_count as f64,
                code_length_nats(ImageBits::Grey(set.image(i)), set.rows, set.cols),
                reference_len / m_count as f64,
            ]
        })
        .collect();
    CodeLengths {
        bits: all.iter().map(|a| a[0]).collect(),
        grey: all.iter().map(|a| a[1]).collect(),
        reference: all.iter().map(|a| a[2]).collect(),
    }
}

/// The context model of `train`'s images, each binarized once from its own seeded stream.
pub fn fit_reference(train: &ImageSet, seed: u64) -> ContextModel {
    let bits: Vec<Vec<bool>> = (0..train.len())
        .into_par_iter()
        .map(|i| bit_image(train, i, seed ^ TRAIN_BITS_SALT))
        .collect();
    ContextModel::fit(bits.iter().map(|b| &b[..]), train.rows, train.cols)
}

/// Image `i`'s fixed binarization from the stream `salted_seed`.
fn bit_image(set: &ImageSet, i: usize, salted_seed: u64) -> Vec<bool> {
    let mut t = vec![0.0f32; set.dim()];
    let mut rng = epoch_rng(salted_seed, i);
    fill_batch(set, &[i], &mut t, Binarize::Dynamic, &mut rng).expect("the index is in range");
    t.iter().map(|&v| v > 0.5).collect()
}

/// Scores every image of `set` with every [`ScoreKind`], calling `progress(done)` with the count
/// of images scored after each batch. `lengths` are [`code_lengths`]`(set, opts, …)`.
///
/// # Panics
/// If `lengths` does not hold one value per image.
pub fn score_set(
    model: &Vae,
    set: &ImageSet,
    opts: &ScoreOptions,
    lengths: &CodeLengths,
    progress: &mut dyn FnMut(usize),
) -> Scores {
    let (n, d, latent) = (set.len(), set.dim(), model.config.latent);
    let k = opts.samples.max(1);
    let m_count = opts.binarizations.max(1);
    let mut values = vec![vec![0.0f64; n]; ScoreKind::ALL.len()];
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();

    assert!(
        lengths.bits.len() == n && lengths.grey.len() == n && lengths.reference.len() == n,
        "one code length per image"
    );
    let tape = Tape::new();
    let mut x = Vec::new();
    let mut bits = Vec::new();
    let mut z = Vec::new();
    let mut eps = Vec::new();
    // No `with_hot_workers` here: its spinning workers would not take the per-image sums below,
    // which run on rayon's pool between the decoder's products.
    {
        for start in (0..n).step_by(EVAL_BATCH) {
            let b = EVAL_BATCH.min(n - start);
            x.resize(b * d, 0.0);
            for (j, row) in x.chunks_exact_mut(d).enumerate() {
                targets(
                    set,
                    start + j,
                    opts.binarize,
                    bits_stream(opts.seed, 0),
                    row,
                );
            }
            // The bit images the `-bits` scores measure, `M` per image, binarization `m` of image
            // `j` in row `m b + j` (the 0th is a binarized model's own targets).
            bits.resize(m_count * b * d, 0.0);
            for (r, row) in bits.chunks_exact_mut(d).enumerate() {
                let stream = bits_stream(opts.seed, r / b);
                targets(set, start + r % b, Binarize::Dynamic, stream, row);
            }
            let (mu, logvar) = tape.no_grad(|| {
                let xv = tape.constant_from(&x, &[b, d]);
                let (mu, logvar) = model.encode(&tape, xv);
                (mu.value().data, logvar.value().data)
            });
            tape.clear();
            let mut rngs: Vec<_> = (start..start + b)
                .map(|i| epoch_rng(opts.seed ^ NOISE_SALT, i))
                .collect();
            let kl: Vec<f64> = (0..b)
                .map(|j| {
                    (0..latent)
                        .map(|q| {
                            let (m, l) = (
                                f64::from(mu[j * latent + q]),
                                f64::from(logvar[j * latent + q]),
                            );
                            0.5 * (m * m + l.exp() - l - 1.0)
                        })
                        .sum()
                })
                .collect();
            let mut iw = vec![LogSumExp::EMPTY; b];
            let mut recon = vec![LogSumExp::EMPTY; b];
            let mut iw_bits = vec![LogSumExp::EMPTY; m_count * b];
            let mut grid = vec![LogSumExp::EMPTY; b];
            let mut first_recon = vec![0.0f64; b];
            for s in 0..k {
                eps.clear();
                z.clear();
                for (j, rng) in rngs.iter_mut().enumerate() {
                    for q in 0..latent {
                        let e: f32 = StandardNormal.sample(rng);
                        let (m, l) = (mu[j * latent + q], logvar[j * latent + q]);
                        eps.push(e);
                        z.push(m + (0.5 * l).exp() * e);
                    }
                }
                let logits = tape.no_grad(|| {
                    let zv = tape.constant_from(&z, &[b, latent]);
                    model.decode(&tape, zv).value().data
                });
                tape.clear();
                let ll: Vec<(f64, f64, Vec<f64>)> = (0..b)
                    .into_par_iter()
                    .map(|j| {
                        let l = &logits[j * d..(j + 1) * d];
                        let softplus_sum: f64 = l.iter().map(|&v| f64::from(softplus(v))).sum();
                        let log_px = bernoulli_ll(l, &x[j * d..(j + 1) * d], softplus_sum);
                        let log_pb = (0..m_count)
                            .map(|m| {
                                let t = &bits[(m * b + j) * d..(m * b + j + 1) * d];
                                bernoulli_ll(l, t, softplus_sum)
                            })
                            .collect();
                        (log_px, grid_ll(l, set.image(start + j)), log_pb)
                    })
                    .collect();
                for (j, (log_px, log_grid, log_pb)) in ll.iter().enumerate() {
                    let (log_px, log_grid) = (*log_px, *log_grid);
                    let zs = &z[j * latent..(j + 1) * latent];
                    let es = &eps[j * latent..(j + 1) * latent];
                    let ls = &logvar[j * latent..(j + 1) * latent];
                    let log_pz: f64 = zs
                        .iter()
                        .map(|&v| -0.5 * f64::from(v) * f64::from(v) - half_log_2pi)
                        .sum();
                    let log_qz: f64 = es
                        .iter()
                        .zip(ls)
                        .map(|(&e, &l)| {
                            -0.5 * (f64::from(e) * f64::from(e) + f64::from(l)) - half_log_2pi
                        })
                        .sum();
                    iw[j].add(log_px + log_pz - log_qz);
                    recon[j].add(log_px);
                    for (m, &lpb) in log_pb.iter().enumerate() {
                        iw_bits[m * b + j].add(lpb + log_pz - log_qz);
                    }
                    grid[j].add(log_grid + log_pz - log_qz);
                    if s == 0 {
                        first_recon[j] = log_px;
                    }
                }
            }
            for j in 0..b {
                let i = start + j;
                let mean_sq: f64 = mu[j * latent..(j + 1) * latent]
                    .iter()
                    .map(|&m| f64::from(m) * f64::from(m))
                    .sum();
                let iw8 = -grid[j].log_mean(k);
                let iwb = -(0..m_count)
                    .map(|m| iw_bits[m * b + j].log_mean(k))
                    .sum::<f64>()
                    / m_count as f64;
                let put = |values: &mut Vec<Vec<f64>>, kind: ScoreKind, v: f64| {
                    values[kind.index()][i] = v;
                };
                put(&mut values, ScoreKind::Elbo, -first_recon[j] + kl[j]);
                put(&mut values, ScoreKind::Iw, -iw[j].log_mean(k));
                put(&mut values, ScoreKind::ReconProb, -recon[j].log_mean(k));
                put(&mut values, ScoreKind::IwBits, iwb);
                put(&mut values, ScoreKind::Complexity, iwb - lengths.bits[i]);
                put(&mut values, ScoreKind::Iw8bit, iw8);
                put(
                    &mut values,
                    ScoreKind::Complexity8bit,
                    iw8 - lengths.grey[i],
                );
                put(&mut values, ScoreKind::CtxRatio, iwb - lengths.reference[i]);
                put(&mut values, ScoreKind::Kl, kl[j]);
                put(
                    &mut values,
                    ScoreKind::Latent,
                    0.5 * mean_sq + latent as f64 * half_log_2pi,
                );
            }
            progress(start + b);
        }
    }
    Scores { values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::decode_probs;
    use crate::model::{Activation, VaeConfig};
    use autograd::Init;

    fn tiny_set() -> ImageSet {
        let images: Vec<u8> = vec![
            0, 255, 128, 7, 0, 200, //
            255, 255, 0, 0, 31, 90, //
            12, 0, 0, 250, 255, 1, //
            100, 100, 100, 100, 100, 100, //
            0, 0, 0, 0, 0, 255,
        ];
        ImageSet {
            n: 5,
            rows: 2,
            cols: 3,
            images,
            labels: Some(vec![0, 1, 2, 3, 4]),
        }
    }

    /// The reference context model of the tests: fitted to the tiny set's images themselves.
    fn tiny_reference(seed: u64) -> ContextModel {
        fit_reference(&tiny_set(), seed)
    }

    fn score(model: &Vae, set: &ImageSet, opts: &ScoreOptions) -> Scores {
        let lengths = code_lengths(set, opts, &tiny_reference(opts.seed));
        score_set(model, set, opts, &lengths, &mut |_| {})
    }

    fn tiny_model() -> Vae {
        Vae::new(
            VaeConfig {
                input_dim: 6,
                hidden: vec![5],
                latent: 2,
                activation: Activation::Tanh,
                init: Init::GlorotUniform,
            },
            3,
        )
    }

    /// Each score recomputed image by image in `f64` from the model's probabilities, with plain
    /// sums, a plain mean of exponentials, and the grid normaliser summed over 256 levels.
    fn reference(model: &Vae, set: &ImageSet, opts: &ScoreOptions) -> Vec<[f64; 10]> {
        let (d, latent, k) = (set.dim(), model.config.latent, opts.samples);
        let c = (2.0 * std::f64::consts::PI).ln() / 2.0;
        (0..set.len())
            .map(|i| {
                let mut x = vec![0.0f32; d];
                targets(set, i, opts.binarize, bits_stream(opts.seed, 0), &mut x);
                let tape = Tape::new();
                let (mu, lv) = tape.no_grad(|| {
                    let (m, l) = model.encode(&tape, tape.constant_from(&x, &[1, d]));
                    (m.value().data, l.value().data)
                });
                let m_count = opts.binarizations;
                let bs: Vec<Vec<f32>> = (0..m_count)
                    .map(|m| {
                        let mut b = vec![0.0f32; d];
                        targets(set, i, Binarize::Dynamic, bits_stream(opts.seed, m), &mut b);
                        b
                    })
                    .collect();
                let mut rng = epoch_rng(opts.seed ^ NOISE_SALT, i);
                let (mut w, mut r, mut g) = (Vec::new(), Vec::new(), Vec::new());
                let mut wb = vec![Vec::new(); m_count];
                for _ in 0..k {
                    let e: Vec<f32> = (0..latent)
                        .map(|_| StandardNormal.sample(&mut rng))
                        .collect();
                    let z: Vec<f32> = (0..latent)
                        .map(|q| mu[q] + (0.5 * lv[q]).exp() * e[q])
                        .collect();
                    let p = decode_probs(model, &z);
                    let (mut log_px, mut log_grid) = (0.0, 0.0);
                    let mut log_pb = vec![0.0; m_count];
                    for (pix, &pr) in p.iter().enumerate() {
                        let pr = f64::from(pr);
                        let t = f64::from(x[pix]);
                        log_px += t * pr.ln() + (1.0 - t) * (1.0 - pr).ln();
                        for (lp, b) in log_pb.iter_mut().zip(&bs) {
                            *lp += if b[pix] == 1.0 {
                                pr.ln()
                            } else {
                                (1.0 - pr).ln()
                            };
                        }
                        let v = f64::from(set.image(i)[pix]) / 255.0;
                        let un = |v: f64| pr.powf(v) * (1.0 - pr).powf(1.0 - v);
                        let z: f64 = (0..256).map(|u| un(u as f64 / 255.0)).sum();
                        log_grid += (un(v) / z).ln();
                    }
                    let log_pz: f64 = z.iter().map(|&v| -0.5 * (v as f64).powi(2) - c).sum();
                    let log_qz: f64 = (0..latent)
                        .map(|q| -0.5 * ((e[q] as f64).powi(2) + lv[q] as f64) - c)
                        .sum();
                    w.push(log_px + log_pz - log_qz);
                    r.push(log_px);
                    for (wb, lp) in wb.iter_mut().zip(&log_pb) {
                        wb.push(lp + log_pz - log_qz);
                    }
                    g.push(log_grid + log_pz - log_qz);
                }
                let log_mean = |v: &[f64]| (v.iter().map(|x| x.exp()).sum::<f64>() / k as f64).ln();
                let kl: f64 = (0..latent)
                    .map(|q| {
                        let (m, l) = (mu[q] as f64, lv[q] as f64);
                        0.5 * (m * m + l.exp() - l - 1.0)
                    })
                    .sum();
                // Means over the M bit images.
                let per_image = |f: &dyn Fn(&[bool]) -> f64| {
                    bs.iter()
                        .map(|b| f(&b.iter().map(|&v| v == 1.0).collect::<Vec<bool>>()))
                        .sum::<f64>()
                        / m_count as f64
                };
                let bits_len = per_image(&|b| context_code_length_nats(b, 2, 3));
                let grey_len = code_length_nats(ImageBits::Grey(set.image(i)), 2, 3);
                let ref_len = per_image(&|b| tiny_reference(opts.seed).code_length_nats(b, 2, 3));
                let iw_bits = wb.iter().map(|v| -log_mean(v)).sum::<f64>() / m_count as f64;
                let latent_nll: f64 = mu.iter().map(|&m| 0.5 * (m as f64).powi(2) + c).sum();
                [
                    -r[0] + kl,
                    -log_mean(&w),
                    -log_mean(&r),
                    iw_bits,
                    iw_bits - bits_len,
                    -log_mean(&g),
                    -log_mean(&g) - grey_len,
                    iw_bits - ref_len,
                    kl,
                    latent_nll,
                ]
            })
            .collect()
    }

    fn check(binarize: Binarize, samples: usize, binarizations: usize) {
        let model = tiny_model();
        let set = tiny_set();
        let opts = ScoreOptions {
            samples,
            binarizations,
            seed: 11,
            binarize,
        };
        let mut seen = Vec::new();
        let got = score_set(
            &model,
            &set,
            &opts,
            &code_lengths(&set, &opts, &tiny_reference(opts.seed)),
            &mut |done| seen.push(done),
        );
        assert_eq!(seen, vec![5]);
        let want = reference(&model, &set, &opts);
        for (i, w) in want.iter().enumerate() {
            for (kind, &w) in ScoreKind::ALL.iter().zip(w) {
                let g = got.get(*kind)[i];
                assert!(
                    (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                    "{binarize:?} K={samples} M={binarizations} image {i} {}: {g} vs {w}",
                    kind.name()
                );
            }
        }
    }

    #[test]
    fn grey_scores_match_a_direct_computation() {
        check(Binarize::None, 7, 1);
        check(Binarize::None, 3, 4);
    }

    #[test]
    fn binarized_scores_match_a_direct_computation() {
        check(Binarize::Dynamic, 5, 1);
        check(Binarize::Dynamic, 2, 3);
    }

    #[test]
    fn a_binarized_model_scores_its_own_bits() {
        // For a binarized model the fixed binarization is both its targets and the bit image.
        let model = tiny_model();
        let set = tiny_set();
        let opts = ScoreOptions {
            samples: 4,
            binarizations: 1,
            seed: 9,
            binarize: Binarize::Dynamic,
        };
        let s = score(&model, &set, &opts);
        assert_eq!(s.get(ScoreKind::Iw), s.get(ScoreKind::IwBits));
        let grey = score(
            &model,
            &set,
            &ScoreOptions {
                binarize: Binarize::None,
                ..opts
            },
        );
        assert_ne!(grey.get(ScoreKind::Iw), grey.get(ScoreKind::IwBits));
    }

    #[test]
    fn one_sample_iw_is_the_elbo_in_expectation_form() {
        // With K = 1 the IW estimate is log w of the one sample, which is the one-sample ELBO
        // with the KL estimated by that sample; recon-prob is its reconstruction term.
        let model = tiny_model();
        let set = tiny_set();
        let opts = ScoreOptions {
            samples: 1,
            binarizations: 1,
            seed: 4,
            binarize: Binarize::None,
        };
        let s = score(&model, &set, &opts);
        for i in 0..set.len() {
            let elbo = s.get(ScoreKind::Elbo)[i];
            let recon = s.get(ScoreKind::ReconProb)[i];
            let kl = s.get(ScoreKind::Kl)[i];
            assert!((elbo - (recon + kl)).abs() < 1e-9);
        }
    }

    #[test]
    fn scores_do_not_depend_on_batching_or_k_for_the_targets() {
        // Image i's noise is its own stream: scoring a prefix gives the same scores.
        let model = tiny_model();
        let set = tiny_set();
        let opts = ScoreOptions {
            samples: 3,
            binarizations: 2,
            seed: 2,
            binarize: Binarize::Dynamic,
        };
        let all = score(&model, &set, &opts);
        let some = score(&model, &set.first(2), &opts);
        for kind in ScoreKind::ALL {
            assert_eq!(&all.get(kind)[..2], some.get(kind));
        }
    }

    #[test]
    fn more_binarizations_average_other_draws() {
        // Binarization 0 is the one a single draw uses; the others are new draws, so the mean
        // moves for an image with grey pixels, and not for one with none.
        let model = tiny_model();
        let set = tiny_set();
        let one = ScoreOptions {
            samples: 3,
            binarizations: 1,
            seed: 5,
            binarize: Binarize::None,
        };
        let four = ScoreOptions {
            binarizations: 4,
            ..one
        };
        assert_eq!(bits_stream(5, 0), 5 ^ TEST_BITS_SALT);
        let (a, b) = (score(&model, &set, &one), score(&model, &set, &four));
        // Image 3 is all grey (100/255); image 4 is black and white.
        assert_ne!(a.get(ScoreKind::IwBits)[3], b.get(ScoreKind::IwBits)[3]);
        let (x, y) = (
            a.get(ScoreKind::Complexity)[4],
            b.get(ScoreKind::Complexity)[4],
        );
        assert!((x - y).abs() < 1e-9, "{x} vs {y}");
    }

    #[test]
    fn grid_normaliser_matches_the_sum() {
        for a in [-3.0, -0.1, -1e-7, 0.0, 1e-7, 0.02, 0.5, 2.5] {
            let direct = (0..256).map(|v| (a * v as f64).exp()).sum::<f64>().ln();
            assert!(
                (grid_log_norm(a) - direct).abs() < 1e-9 * direct.abs().max(1.0),
                "{a}"
            );
        }
    }

    #[test]
    fn the_table_matches_the_formula() {
        let table = &GRID_TABLE[..];
        for l in [
            -70.0f32, -63.99, -20.3, -1.0, -0.001, 0.0, 0.37, 5.5, 63.9, 64.0, 90.0,
        ] {
            for v in [0u8, 1, 128, 255] {
                let a = f64::from(l) / 255.0;
                let exact = grid_log_norm(a) - a * f64::from(v);
                assert!((grid_nll(table, l, v) - exact).abs() < 1e-6, "{l} {v}");
            }
        }
    }

    #[test]
    fn names_parse_back_and_bad_names_are_refused() {
        for k in ScoreKind::ALL {
            assert_eq!(ScoreKind::parse(k.name()), Ok(k));
        }
        let e = ScoreKind::parse("likelihood").unwrap_err();
        assert!(
            e.starts_with("unknown --score \"likelihood\" (expected elbo, iw,"),
            "{e}"
        );
    }

    #[test]
    fn the_binarization_is_read_where_training_writes_it() {
        let j = serde_json::json!({"train": {"binarize": "dynamic"}});
        assert_eq!(trained_binarize(&j), Binarize::Dynamic);
        let j = serde_json::json!({"train": {"binarize": "none"}});
        assert_eq!(trained_binarize(&j), Binarize::None);
        assert_eq!(trained_binarize(&serde_json::Value::Null), Binarize::None);
    }
}
