//! Evaluation in no-grad mode: the test negative ELBO and its parts, the importance-weighted
//! log-likelihood bound, per-dimension KL and active units, per-image scores.

use crate::data::{Binarize, ImageSet, epoch_rng, fill_batch};
use crate::model::{Vae, loss};
use crate::train::Losses;
use autograd::{Tape, Var};
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};

/// Images per evaluation batch.
pub const EVAL_BATCH: usize = 250;

/// A fixed noise stream for evaluation, so the same model always gets the same test loss.
fn eval_rng(seed: u64) -> Xoshiro256PlusPlus {
    epoch_rng(seed ^ 0xe7a1_0000, usize::MAX)
}

/// Calls `f(tape, x, eps, indices)` for each batch of `set` inside `no_grad`, clearing the tape
/// between batches. `x` holds the targets (binarized once with a fixed seed when asked).
fn for_batches(
    model: &Vae,
    set: &ImageSet,
    binarize: Binarize,
    rng: &mut Xoshiro256PlusPlus,
    mut f: impl FnMut(&Tape, &[f32], &[usize], &mut Xoshiro256PlusPlus),
) {
    let tape = Tape::new();
    let d = set.dim();
    let idx: Vec<usize> = (0..set.len()).collect();
    let mut pixels = Vec::new();
    // As in training, the pool's other workers spin between the batches' products.
    autograd::kernels::with_hot_workers(|| {
        for chunk in idx.chunks(EVAL_BATCH) {
            pixels.resize(chunk.len() * d, 0.0);
            fill_batch(set, chunk, &mut pixels, binarize, rng).expect("indices are in range");
            tape.no_grad(|| f(&tape, &pixels, chunk, rng));
            tape.clear();
        }
    });
    let _ = model;
}

fn normal(n: usize, rng: &mut Xoshiro256PlusPlus) -> Vec<f32> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// Mean test loss with one posterior sample per image (the negative ELBO when `beta` = 1).
pub fn evaluate(model: &Vae, set: &ImageSet, binarize: Binarize, beta: f32, seed: u64) -> Losses {
    let mut rng = eval_rng(seed);
    let latent = model.config.latent;
    let mut sum = Losses::default();
    for_batches(
        model,
        set,
        binarize,
        &mut rng,
        |tape, pixels, chunk, rng| {
            let b = chunk.len();
            let x = tape.constant_from(pixels, &[b, set.dim()]);
            let eps = tape.constant_from(&normal(b * latent, rng), &[b, latent]);
            let l = loss(&model.forward(tape, x, eps), x, beta);
            let w = b as f64;
            sum.loss += l.total.item() as f64 * w;
            sum.recon += l.recon.item() as f64 * w;
            sum.kl += l.kl.item() as f64 * w;
        },
    );
    let n = set.len().max(1) as f64;
    Losses {
        loss: sum.loss / n,
        recon: sum.recon / n,
        kl: sum.kl / n,
    }
}

/// Per-image `-log p(x)` estimates from `k` importance samples:
/// `log p(x) ≈ log (1/k) Σ_i p(x|z_i) p(z_i) / q(z_i|x)`, accumulated with a running
/// log-sum-exp so it never overflows. With `k = 1` this is the one-sample negative ELBO.
///
/// Each image is binarized once (with `Binarize::Dynamic`, by a draw seeded from `seed`) and
/// its `k` samples are all scored against that one draw. Memory does not grow with `k`: the
/// images go through in batches of [`EVAL_BATCH`], and each batch's samples one at a time, on a
/// fresh tape, folded into a running log-sum-exp per image.
pub fn iw_scores(model: &Vae, set: &ImageSet, k: usize, binarize: Binarize, seed: u64) -> Vec<f64> {
    iw_scores_with_progress(model, set, k, binarize, seed, &mut |_| {})
}

/// [`iw_scores`], calling `progress(done)` after each sample of each batch with the number of
/// (image, sample) pairs scored so far, out of `set.len() * k`.
pub fn iw_scores_with_progress(
    model: &Vae,
    set: &ImageSet,
    k: usize,
    binarize: Binarize,
    seed: u64,
    progress: &mut dyn FnMut(usize),
) -> Vec<f64> {
    let mut rng = eval_rng(seed);
    let latent = model.config.latent;
    let k = k.max(1);
    let mut scores = vec![0.0; set.len()];
    for_batches(
        model,
        set,
        binarize,
        &mut rng,
        |tape, pixels, chunk, rng| {
            let (b, d) = (chunk.len(), set.dim());
            let x = tape.constant_from(pixels, &[b, d]);
            let (mu, logvar) = model.encode(tape, x);
            let (mu, logvar) = (mu.value(), logvar.value());
            let (mut m, mut s) = (vec![f64::NEG_INFINITY; b], vec![0.0f64; b]);
            let done_before = chunk[0] * k;
            for sample in 0..k {
                // A fresh tape per sample: memory stays that of one forward pass for any k.
                tape.clear();
                let x = tape.constant_from(pixels, &[b, d]);
                let mu = tape.constant_from(&mu.data, &[b, latent]);
                let logvar = tape.constant_from(&logvar.data, &[b, latent]);
                let e = normal(b * latent, rng);
                let eps = tape.constant_from(&e, &[b, latent]);
                let z = mu + (logvar * 0.5).exp() * eps;
                let recon = model.decode(tape, z).bce_with_logits_rowsum(x);
                // log w = log p(x|z) + log p(z) - log q(z|x); the 2π terms cancel.
                let log_pz = z.square().sum_axis(1, false) * -0.5;
                let log_qz = (eps.square() + logvar).sum_axis(1, false) * -0.5;
                let log_w = (-recon + log_pz - log_qz).value();
                for (j, &lw) in log_w.data.iter().enumerate() {
                    let lw = lw as f64;
                    if lw > m[j] {
                        s[j] = s[j] * (m[j] - lw).exp() + 1.0;
                        m[j] = lw;
                    } else {
                        s[j] += (lw - m[j]).exp();
                    }
                }
                progress(done_before + (sample + 1) * b);
            }
            for (j, &i) in chunk.iter().enumerate() {
                scores[i] = -(m[j] + s[j].ln() - (k as f64).ln());
            }
        },
    );
    scores
}

/// What the encoder does with its latent dimensions over a data set.
#[derive(Clone, Debug)]
pub struct LatentStats {
    /// Posterior means, `n x latent`, row-major.
    pub mu: Vec<f32>,
    /// Mean KL per latent dimension (nats).
    pub kl_per_dim: Vec<f64>,
    /// Variance over the data of each dimension's posterior mean.
    pub activity: Vec<f64>,
    /// Dimensions whose activity exceeds 0.01 (Burda et al.'s criterion).
    pub active_units: usize,
}

/// Posterior means and per-dimension statistics over `set`.
pub fn latent_stats(model: &Vae, set: &ImageSet) -> LatentStats {
    let latent = model.config.latent;
    let mut rng = eval_rng(0);
    let mut mus = vec![0.0f32; set.len() * latent];
    let mut kl = vec![0.0f64; latent];
    for_batches(
        model,
        set,
        Binarize::None,
        &mut rng,
        |tape, pixels, chunk, _| {
            let b = chunk.len();
            let x = tape.constant_from(pixels, &[b, set.dim()]);
            let (mu, logvar) = model.encode(tape, x);
            let (mu, lv) = (mu.value(), logvar.value());
            for (j, &i) in chunk.iter().enumerate() {
                for d in 0..latent {
                    let (m, l) = (mu.data[j * latent + d], lv.data[j * latent + d]);
                    mus[i * latent + d] = m;
                    kl[d] += 0.5 * (m as f64 * m as f64 + (l as f64).exp() - l as f64 - 1.0);
                }
            }
        },
    );
    let n = set.len().max(1) as f64;
    kl.iter_mut().for_each(|k| *k /= n);
    let mut activity = vec![0.0f64; latent];
    for (d, a) in activity.iter_mut().enumerate() {
        let mean = (0..set.len())
            .map(|i| mus[i * latent + d] as f64)
            .sum::<f64>()
            / n;
        *a = (0..set.len())
            .map(|i| (mus[i * latent + d] as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
    }
    let active_units = activity.iter().filter(|&&a| a > 0.01).count();
    LatentStats {
        mu: mus,
        kl_per_dim: kl,
        activity,
        active_units,
    }
}

/// Enters `rows` (rows of `width` values) as a constant on a fresh no-grad tape and returns the
/// values of the node `f` builds from it.
fn no_grad_rows(
    rows: &[f32],
    width: usize,
    f: impl for<'t> FnOnce(&'t Tape, Var<'t>) -> Var<'t>,
) -> Vec<f32> {
    let tape = Tape::new();
    tape.no_grad(|| {
        let x = tape.constant_from(rows, &[rows.len() / width, width]);
        f(&tape, x).value().data
    })
}

/// Decodes latent codes `z` (`n x latent`) to pixel probabilities (`n x input_dim`).
pub fn decode_probs(model: &Vae, z: &[f32]) -> Vec<f32> {
    no_grad_rows(z, model.config.latent, |tape, z| {
        model.decode(tape, z).sigmoid()
    })
}

/// Reconstructs images (`n x input_dim`, values in [0, 1]) through the posterior means.
pub fn reconstruct(model: &Vae, pixels: &[f32]) -> Vec<f32> {
    no_grad_rows(pixels, model.config.input_dim, |tape, x| {
        model.decode(tape, model.encode(tape, x).0).sigmoid()
    })
}

/// Posterior means of images (`n x input_dim`).
pub fn encode_means(model: &Vae, pixels: &[f32]) -> Vec<f32> {
    no_grad_rows(pixels, model.config.input_dim, |tape, x| {
        model.encode(tape, x).0
    })
}
