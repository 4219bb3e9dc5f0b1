//! Weight initialisers on a seeded, portable RNG (Xoshiro256++): a seed gives the same weights on
//! every machine.

use crate::Tensor;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Normal, Uniform};

/// How to fill a weight matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// Glorot/Xavier uniform: `U(-a, a)` with `a = √(6 / (fan_in + fan_out))` (Keras' default).
    GlorotUniform,
    /// He/Kaiming normal: `N(0, 2 / fan_in)`, suited to ReLU layers.
    HeNormal,
    /// All zeros (biases).
    Zeros,
    /// PyTorch's `nn.Linear` default: weights and biases `U(-a, a)` with `a = 1/√fan_in`
    /// (Kaiming-uniform with `a = √5`).
    TorchDefault,
}

/// A seeded stream of initial weights.
pub struct Initializer {
    rng: Xoshiro256PlusPlus,
}

impl Initializer {
    /// A stream from a seed.
    pub fn new(seed: u64) -> Initializer {
        Initializer {
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
        }
    }

    /// A `[fan_out, fan_in]` weight matrix (PyTorch's `Linear` layout) drawn from `init`.
    pub fn weight(&mut self, init: Init, fan_out: usize, fan_in: usize) -> Tensor {
        let n = fan_in * fan_out;
        let data = match init {
            Init::GlorotUniform => {
                let a = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
                let u = Uniform::new_inclusive(-a, a).expect("finite bounds");
                (0..n).map(|_| u.sample(&mut self.rng)).collect()
            }
            Init::HeNormal => {
                let std = (2.0 / fan_in.max(1) as f64).sqrt() as f32;
                let d = Normal::new(0.0, std).expect("finite std");
                (0..n).map(|_| d.sample(&mut self.rng)).collect()
            }
            Init::Zeros => vec![0.0; n],
            Init::TorchDefault => self.uniform(n, fan_in),
        };
        Tensor::from_vec(data, &[fan_out, fan_in])
    }

    /// A `[fan_out]` bias for a layer initialised with `init`: zeros, except PyTorch's default,
    /// which draws biases like its weights.
    pub fn bias(&mut self, init: Init, fan_out: usize, fan_in: usize) -> Tensor {
        let data = match init {
            Init::TorchDefault => self.uniform(fan_out, fan_in),
            _ => vec![0.0; fan_out],
        };
        Tensor::from_vec(data, &[fan_out])
    }

    /// `n` draws from `U(-1/√fan_in, 1/√fan_in)`.
    fn uniform(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let a = (1.0 / fan_in.max(1) as f64).sqrt() as f32;
        let u = Uniform::new_inclusive(-a, a).expect("finite bounds");
        (0..n).map(|_| u.sample(&mut self.rng)).collect()
    }
}
