//! `Tensor`: a flat `Vec<f32>` plus a [`Shape`], row-major and contiguous.

use crate::Shape;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Normal, Uniform};
use std::fmt;

/// A dense row-major tensor of `f32`.
#[derive(Clone, PartialEq)]
pub struct Tensor {
    /// The elements, row-major; `data.len() == shape.numel()`.
    pub data: Vec<f32>,
    /// The dimensions.
    pub shape: Shape,
}

impl Tensor {
    /// A tensor from its elements and shape. Panics if the sizes disagree.
    #[track_caller]
    pub fn from_vec(data: Vec<f32>, dims: &[usize]) -> Tensor {
        let shape = Shape::new(dims);
        assert_eq!(
            data.len(),
            shape.numel(),
            "Tensor::from_vec: {} elements do not fill shape {shape}",
            data.len()
        );
        Tensor { data, shape }
    }

    /// A rank-0 tensor holding `x`.
    pub fn scalar(x: f32) -> Tensor {
        Tensor {
            data: vec![x],
            shape: Shape::scalar(),
        }
    }

    /// All zeros.
    pub fn zeros(dims: &[usize]) -> Tensor {
        Tensor::full(dims, 0.0)
    }

    /// All ones.
    pub fn ones(dims: &[usize]) -> Tensor {
        Tensor::full(dims, 1.0)
    }

    /// Every element equal to `value`.
    pub fn full(dims: &[usize], value: f32) -> Tensor {
        let shape = Shape::new(dims);
        Tensor {
            data: vec![value; shape.numel()],
            shape,
        }
    }

    /// Standard-normal samples scaled by `std` and shifted by `mean`, from a seeded RNG
    /// (Xoshiro256++, so a seed gives the same numbers on every machine).
    pub fn randn(dims: &[usize], mean: f32, std: f32, seed: u64) -> Tensor {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let normal = Normal::new(mean, std).expect("std must be finite and >= 0");
        let shape = Shape::new(dims);
        let data = (0..shape.numel())
            .map(|_| normal.sample(&mut rng))
            .collect();
        Tensor { data, shape }
    }

    /// Uniform samples in `[low, high)` from a seeded RNG.
    pub fn rand_uniform(dims: &[usize], low: f32, high: f32, seed: u64) -> Tensor {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let uniform = Uniform::new(low, high).expect("low < high, both finite");
        let shape = Shape::new(dims);
        let data = (0..shape.numel())
            .map(|_| uniform.sample(&mut rng))
            .collect();
        Tensor { data, shape }
    }

    /// The dimensions.
    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The single value of a one-element tensor. Panics otherwise.
    #[track_caller]
    pub fn item(&self) -> f32 {
        assert_eq!(
            self.data.len(),
            1,
            "item() on a tensor of shape {}",
            self.shape
        );
        self.data[0]
    }

    /// True when every element is finite.
    pub fn all_finite(&self) -> bool {
        all_finite(&self.data)
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOW: usize = 8;
        write!(f, "Tensor{} [", self.shape)?;
        for (i, x) in self.data.iter().take(SHOW).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{x:.4}")?;
        }
        if self.data.len() > SHOW {
            write!(f, ", ... ({} more)", self.data.len() - SHOW)?;
        }
        write!(f, "]")
    }
}

/// True when no element is NaN or infinite (the trainer checks every gradient of every step
/// with it). The fast build runs a branch-free form, vectorised 8 wide and split over threads
/// (`kernels/fast/elementwise.rs`).
pub fn all_finite(v: &[f32]) -> bool {
    #[cfg(feature = "fast")]
    return crate::kernels::fast::elementwise::all_finite(v);
    #[cfg(not(feature = "fast"))]
    v.iter().all(|x| x.is_finite())
}
