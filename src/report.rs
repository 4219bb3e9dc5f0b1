//! The pictures a run leaves behind, drawn from a model (and the test set where one is needed).

use crate::data::ImageSet;
use crate::eval::{decode_probs, encode_means, reconstruct};
use crate::images::{Grid, RenderError, save_grid};
use crate::model::Vae;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};
use std::path::Path;

/// The pixel grid of one image, `(rows, cols)`.
pub type ImageShape = (usize, usize);

/// The image shape for a flat size when nothing else is known: square if it can be, else one row.
pub fn guess_shape(dim: usize) -> ImageShape {
    let r = (dim as f64).sqrt().round() as usize;
    if r * r == dim { (r, r) } else { (1, dim) }
}

fn to_f32(set: &ImageSet, idx: &[usize]) -> Vec<f32> {
    idx.iter()
        .flat_map(|&i| set.image(i).iter().map(|&p| p as f32 / 255.0))
        .collect()
}

/// `reconstructions.png`: `n` test digits (top row) above their reconstructions (bottom row).
pub fn reconstructions(
    path: &Path,
    model: &Vae,
    set: &ImageSet,
    n: usize,
) -> Result<(), RenderError> {
    let idx: Vec<usize> = (0..n.min(set.len())).collect();
    let x = to_f32(set, &idx);
    let mut both = x.clone();
    both.extend(reconstruct(model, &x));
    let grid = Grid::new(set.rows, set.cols)
        .with_grid_cols(idx.len().max(1))
        .with_scale(3);
    save_grid(path, &both, 2 * idx.len(), &grid)
}

/// `samples.png`: an `side x side` grid decoded from `z ~ N(0, I)`.
pub fn samples(
    path: &Path,
    model: &Vae,
    shape: ImageShape,
    side: usize,
    seed: u64,
) -> Result<(), RenderError> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let z: Vec<f32> = (0..side * side * model.config.latent)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let grid = Grid::new(shape.0, shape.1)
        .with_grid_cols(side)
        .with_scale(2);
    save_grid(path, &decode_probs(model, &z), side * side, &grid)
}

/// The standard normal quantile function (Acklam's rational approximation, |error| < 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// `manifold.png` (2-D latent only): a `side x side` grid decoded at the Gaussian quantiles
/// `Φ⁻¹(0.05 … 0.95)` of each latent axis, `z[1]` growing upwards.
pub fn manifold(
    path: &Path,
    model: &Vae,
    shape: ImageShape,
    side: usize,
) -> Result<(), RenderError> {
    let q: Vec<f32> = (0..side)
        .map(|i| normal_quantile(0.05 + 0.9 * i as f64 / (side.max(2) - 1) as f64) as f32)
        .collect();
    let mut z = Vec::with_capacity(side * side * 2);
    for row in 0..side {
        for col in 0..side {
            z.push(q[col]);
            z.push(q[side - 1 - row]);
        }
    }
    let grid = Grid::new(shape.0, shape.1)
        .with_grid_cols(side)
        .with_pad(0)
        .with_scale(1);
    save_grid(path, &decode_probs(model, &z), side * side, &grid)
}

/// `latent.png`: the posterior means of `set` in the plane of the first two latent dimensions,
/// coloured by label when there are labels. Returns the means (`n x latent`).
pub fn latent(path: &Path, model: &Vae, set: &ImageSet) -> Result<Vec<f32>, RenderError> {
    let latent = model.config.latent;
    let mut mu = Vec::with_capacity(set.len() * latent);
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(crate::eval::EVAL_BATCH) {
        mu.extend(encode_means(model, &to_f32(set, chunk)));
    }
    let plane: Vec<f32> = mu
        .chunks(latent)
        .flat_map(|m| [m[0], if latent > 1 { m[1] } else { 0.0 }])
        .collect();
    crate::plots::latent_scatter(path, &plane, set.labels.as_deref())?;
    Ok(mu)
}

/// `interpolation.png`: for each pair of test images, `steps` decodes along the straight line
/// between their posterior means (one row per pair; the ends are the two images' codes).
pub fn interpolation(
    path: &Path,
    model: &Vae,
    set: &ImageSet,
    pairs: &[(usize, usize)],
    steps: usize,
) -> Result<(), RenderError> {
    let latent = model.config.latent;
    let ends: Vec<usize> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
    let mu = encode_means(model, &to_f32(set, &ends));
    let mut z = Vec::new();
    for p in 0..pairs.len() {
        let (a, b) = (
            &mu[2 * p * latent..(2 * p + 1) * latent],
            &mu[(2 * p + 1) * latent..(2 * p + 2) * latent],
        );
        for s in 0..steps {
            let t = s as f32 / (steps.max(2) - 1) as f32;
            z.extend(a.iter().zip(b).map(|(a, b)| a + t * (b - a)));
        }
    }
    let grid = Grid::new(set.rows, set.cols)
        .with_grid_cols(steps)
        .with_scale(2);
    save_grid(path, &decode_probs(model, &z), pairs.len() * steps, &grid)
}

/// Interpolation from codes alone (no data): between pairs of prior samples.
pub fn interpolation_from_prior(
    path: &Path,
    model: &Vae,
    shape: ImageShape,
    rows: usize,
    steps: usize,
    seed: u64,
) -> Result<(), RenderError> {
    let latent = model.config.latent;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut z = Vec::new();
    for _ in 0..rows {
        let a: Vec<f32> = (0..latent)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let b: Vec<f32> = (0..latent)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        for s in 0..steps {
            let t = s as f32 / (steps.max(2) - 1) as f32;
            z.extend(a.iter().zip(&b).map(|(a, b)| a + t * (b - a)));
        }
    }
    let grid = Grid::new(shape.0, shape.1)
        .with_grid_cols(steps)
        .with_scale(2);
    save_grid(path, &decode_probs(model, &z), rows * steps, &grid)
}
