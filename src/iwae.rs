//! The importance-weighted bound of Burda, Grosse & Salakhutdinov (2015), written from the
//! engine's ops: `k` posterior samples per image go through the decoder as one batch, and the
//! bound is a log-sum-exp over them.
//!
//! For an image `x` with posterior `q(z|x) = N(μ, σ²)` and samples `z_s = μ + σ ε_s`:
//!
//! ```text
//! log w_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)
//!         = -BCE(x, decoder(z_s)) - ½ Σ z_s² + ½ Σ (ε_s² + log σ²)      (the 2π terms cancel)
//! L_k(x)  = log (1/k) Σ_s w_s = logsumexp_s(log w_s) - log k
//! ```
//!
//! `L_1` is the one-sample ELBO (with a sampled KL where [`crate::model::loss`] uses the
//! analytic one); `L_k` rises towards `log p(x)` as `k` grows. Training minimises `-L_k`
//! averaged over the batch; the gradient reaches each sample in proportion to its normalised
//! weight, through the logsumexp's backward rule.

use crate::model::{Loss, Vae};
use autograd::{Tape, Var};

/// `-L_k` averaged over a batch of `b` images, with its parts.
///
/// `x` is the batch (`[b, d]`, what the encoder reads); `targets` the same images repeated `k`
/// times (`[k b, d]`, row `s b + j` is image `j`: the decoder's targets for sample `s`); `eps`
/// the standard normal draws (`[k b, latent]`, in the same order). In the returned [`Loss`],
/// `total` is `-mean_j L_k(x_j)`; `recon` and `kl` are the means over the `k b` samples of
/// `-log p(x|z_s)` and `log q(z_s|x) - log p(z_s)` (whose sum is `-mean log w_s`, the
/// averaged one-sample bound); the per-image parts are their means over the `k` samples.
///
/// # Panics
/// If the shapes do not match (`targets` and `eps` must have `k` times as many rows as `x`).
pub fn iwae_loss<'t>(
    model: &Vae,
    tape: &'t Tape,
    x: Var<'t>,
    targets: Var<'t>,
    eps: Var<'t>,
    k: usize,
) -> Loss<'t> {
    let (b, latent) = (x.shape().dim(0), model.config.latent);
    let (mu, logvar) = model.encode(tape, x);
    let sigma = (logvar * 0.5).exp();
    // z[s, j] = μ[j] + σ[j] ε[s, j]: the [1, b, latent] posteriors broadcast over the samples.
    let z =
        mu.reshape(&[1, b, latent]) + sigma.reshape(&[1, b, latent]) * eps.reshape(&[k, b, latent]);
    let z = z.reshape(&[k * b, latent]);
    let recon = model.decode(tape, z).bce_with_logits_rowsum(targets); // [k b]
    let prior_vs_noise = (eps.square() - z.square()).sum_axis(1, false) * 0.5; // [k b]
    let half_logvar = logvar.sum_axis(1, false) * 0.5; // [b]
    let log_w = (prior_vs_noise - recon).reshape(&[k, b]) + half_logvar.reshape(&[1, b]);
    let bound = log_w.logsumexp_axis(0, false).add_scalar(-(k as f32).ln()); // [b]
    let kl = -(log_w.reshape(&[k * b]) + recon); // log q - log p, per sample
    Loss {
        total: -bound.mean(),
        recon: recon.mean(),
        kl: kl.mean(),
        recon_per_image: recon.reshape(&[k, b]).mean_axis(0, false),
        kl_per_image: kl.reshape(&[k, b]).mean_axis(0, false),
    }
}
