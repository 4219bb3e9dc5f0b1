//! RMSprop with Keras' semantics (rho 0.9, eps 1e-7, eps inside the square root).

use super::{Optimizer, Slots, StateBuffer, for_each_param};
use crate::kernels::vectorized;
use crate::{Gradients, ParamStore};

/// `v = ρ v + (1 - ρ) g²`,  `p -= lr g / √(v + ε)`.
#[derive(Clone)]
pub struct RmsProp {
    lr: f32,
    rho: f32,
    eps: f32,
    steps: u64,
    v: Slots,
}

impl RmsProp {
    /// Keras' defaults: `rho = 0.9`, `eps = 1e-7`.
    pub fn new(lr: f32) -> RmsProp {
        RmsProp::with(lr, 0.9, 1e-7)
    }

    /// Every hyper-parameter chosen.
    pub fn with(lr: f32, rho: f32, eps: f32) -> RmsProp {
        RmsProp {
            lr,
            rho,
            eps,
            steps: 0,
            v: Slots::default(),
        }
    }
}

/// One element of the update: returns the new `(p, v)`.
///
/// `v = ρ v + (1 - ρ) g²`,  `p = p - lr g / √(v + ε)`.
#[inline(always)]
pub(crate) fn rmsprop(p: f32, g: f32, v: f32, lr: f32, rho: f32, eps: f32) -> (f32, f32) {
    let v = rho * v + (1.0 - rho) * g * g;
    (p - lr * g / (v + eps).sqrt(), v)
}

/// [`rmsprop`] over a slice of a parameter, its gradient and its state.
pub fn update(p: &mut [f32], g: &[f32], v: &mut [f32], lr: f32, rho: f32, eps: f32) {
    vectorized(
        #[inline(always)]
        || {
            for ((p, v), &g) in p.iter_mut().zip(v.iter_mut()).zip(g) {
                (*p, *v) = rmsprop(*p, g, *v, lr, rho, eps);
            }
        },
    )
}

impl Optimizer for RmsProp {
    fn step(&mut self, store: &mut ParamStore, grads: &Gradients) {
        let (lr, rho, eps) = (self.lr, self.rho, self.eps);
        self.v.ensure(store);
        let v = &mut self.v.bufs;
        for_each_param(store, grads, |i, p, g| {
            g.update([p, &mut v[i]], &|g, [p, v]| update(p, g, v, lr, rho, eps))
        });
        self.steps += 1;
    }
    fn lr(&self) -> f32 {
        self.lr
    }
    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn name(&self) -> &'static str {
        "rmsprop"
    }
    fn state(&self, store: &ParamStore) -> Vec<StateBuffer> {
        let mut out = Vec::new();
        self.v.save(store, "rms", &mut out);
        out
    }
    fn load_state(
        &mut self,
        store: &ParamStore,
        steps: u64,
        b: &[StateBuffer],
    ) -> Result<(), String> {
        self.steps = steps;
        self.v.load(store, "rms", b)
    }
}
