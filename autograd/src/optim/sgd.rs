//! Stochastic gradient descent with momentum (PyTorch semantics).

use super::{Optimizer, Slots, StateBuffer, for_each_param};
use crate::kernels::vectorized;
use crate::{Gradients, ParamStore};

/// `b = μ b + g` (on the first step `b = g`), `p -= lr b`; with `μ = 0`, plain `p -= lr g`.
#[derive(Clone)]
pub struct Sgd {
    lr: f32,
    momentum: f32,
    steps: u64,
    velocity: Slots,
}

impl Sgd {
    /// SGD with learning rate `lr` and momentum `momentum` (0 for none).
    pub fn new(lr: f32, momentum: f32) -> Sgd {
        Sgd {
            lr,
            momentum,
            steps: 0,
            velocity: Slots::default(),
        }
    }
}

/// One element of SGD with momentum: returns the new `(p, b)`.
///
/// `b = μ b + g` (`b = g` on the first step),  `p = p - lr b`.
#[inline(always)]
pub(crate) fn momentum(p: f32, g: f32, b: f32, lr: f32, mu: f32, first: bool) -> (f32, f32) {
    let b = if first { g } else { mu * b + g };
    (p - lr * b, b)
}

impl Optimizer for Sgd {
    fn step(&mut self, store: &mut ParamStore, grads: &Gradients) {
        let (lr, mu, first) = (self.lr, self.momentum, self.steps == 0);
        if mu != 0.0 {
            self.velocity.ensure(store);
        }
        let vel = &mut self.velocity.bufs;
        for_each_param(store, grads, |i, p, g| {
            if mu == 0.0 {
                g.update([p], &|g, [p]| {
                    vectorized(
                        #[inline(always)]
                        || {
                            for (p, &g) in p.iter_mut().zip(g) {
                                *p -= lr * g;
                            }
                        },
                    )
                });
            } else {
                g.update([p, &mut vel[i]], &|g, [p, b]| {
                    vectorized(
                        #[inline(always)]
                        || {
                            for ((p, b), &g) in p.iter_mut().zip(b.iter_mut()).zip(g) {
                                (*p, *b) = momentum(*p, g, *b, lr, mu, first);
                            }
                        },
                    )
                });
            }
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
        "sgd"
    }
    fn state(&self, store: &ParamStore) -> Vec<StateBuffer> {
        let mut out = Vec::new();
        self.velocity.save(store, "momentum", &mut out);
        out
    }
    fn load_state(
        &mut self,
        store: &ParamStore,
        steps: u64,
        b: &[StateBuffer],
    ) -> Result<(), String> {
        self.steps = steps;
        if self.momentum != 0.0 {
            self.velocity.load(store, "momentum", b)?;
        }
        Ok(())
    }
}
