//! The inputs of one training step: the batch's pixels (binarized if the recipe says so), the
//! reparameterization noise, and under the iwae objective the batch repeated `k` times as the
//! decoder's targets. Filling them draws from the epoch's random stream in a fixed order
//! (binarization, then noise), so a step's inputs depend only on the seed, the epoch and the
//! steps before, whichever thread fills them.

use super::{Objective, TrainConfig};
use crate::data::{ImageSet, fill_batch};
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};

/// One step's inputs, in buffers reused from step to step.
#[derive(Default)]
pub(super) struct StepInputs {
    /// `[b, d]` pixels.
    pub(super) pixels: Vec<f32>,
    /// `[k * b, latent]` standard normal draws.
    pub(super) eps: Vec<f32>,
    /// `[k * b, d]`: `pixels` repeated `k` times (iwae objective only).
    pub(super) tiled: Vec<f32>,
    /// Images in the batch (`b`).
    pub(super) images: usize,
}

impl StepInputs {
    /// Fills the inputs for the images at `indices` of `set`, drawing from `rng`.
    pub(super) fn fill(
        &mut self,
        set: &ImageSet,
        indices: &[usize],
        config: &TrainConfig,
        latent: usize,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<(), String> {
        let (b, d) = (indices.len(), set.dim());
        self.images = b;
        self.pixels.resize(b * d, 0.0);
        fill_batch(set, indices, &mut self.pixels, config.binarize, rng)
            .map_err(|e| e.to_string())?;
        let k = config.objective.samples();
        self.eps.clear();
        self.eps
            .extend((0..k * b * latent).map(|_| -> f32 { StandardNormal.sample(rng) }));
        self.tiled.clear();
        if let Objective::Iwae { k } = config.objective {
            for _ in 0..k {
                self.tiled.extend_from_slice(&self.pixels);
            }
        }
        Ok(())
    }
}
