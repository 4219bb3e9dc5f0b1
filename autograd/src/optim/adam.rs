//! Adam with PyTorch's semantics (betas 0.9, 0.999; eps 1e-8 outside the square root).

use super::{Optimizer, Slots, StateBuffer, for_each_param};
use crate::kernels::vectorized;
use crate::{Gradients, ParamStore};

/// `m = β1 m + (1-β1) g`, `v = β2 v + (1-β2) g²`,
/// `p -= lr (m / (1-β1^t)) / (√(v / (1-β2^t)) + ε)`.
#[derive(Clone)]
pub struct Adam {
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    steps: u64,
    m: Slots,
    v: Slots,
}

impl Adam {
    /// PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
    pub fn new(lr: f32) -> Adam {
        Adam::with(lr, 0.9, 0.999, 1e-8)
    }

    /// Every hyper-parameter chosen.
    pub fn with(lr: f32, beta1: f32, beta2: f32, eps: f32) -> Adam {
        Adam {
            lr,
            beta1,
            beta2,
            eps,
            steps: 0,
            m: Slots::default(),
            v: Slots::default(),
        }
    }
}

/// One element of the update, with the bias corrections folded into `step = lr / (1-β1^t)`
/// and `inv_sqrt_bc2 = 1 / √(1-β2^t)`: returns the new `(p, m, v)`.
///
/// `m = β1 m + (1-β1) g`,  `v = β2 v + (1-β2) g²`,  `p = p - step m / (√v inv_sqrt_bc2 + ε)`.
/// (A multiplication by the inverse, not a division by `√(1-β2^t)`: one division an element
/// fewer, which made the update of the `iwae-paper` model, bound by `sqrt` and division,
/// faster; the values differ from PyTorch's in the last bit at most.)
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn adam(
    p: f32,
    g: f32,
    m: f32,
    v: f32,
    (beta1, beta2): (f32, f32),
    step: f32,
    inv_sqrt_bc2: f32,
    eps: f32,
) -> (f32, f32, f32) {
    let m = beta1 * m + (1.0 - beta1) * g;
    let v = beta2 * v + (1.0 - beta2) * g * g;
    (p - step * m / (v.sqrt() * inv_sqrt_bc2 + eps), m, v)
}

impl Optimizer for Adam {
    fn step(&mut self, store: &mut ParamStore, grads: &Gradients) {
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2, eps) = (self.beta1, self.beta2, self.eps);
        let bc1 = 1.0 - (b1 as f64).powi(t);
        let bc2 = 1.0 - (b2 as f64).powi(t);
        let step = (self.lr as f64 / bc1) as f32;
        let inv_sqrt_bc2 = (1.0 / bc2.sqrt()) as f32;
        self.m.ensure(store);
        self.v.ensure(store);
        let (m, v) = (&mut self.m.bufs, &mut self.v.bufs);
        for_each_param(store, grads, |i, p, g| {
            g.update([p, &mut m[i], &mut v[i]], &|g, [p, m, v]| {
                vectorized(
                    #[inline(always)]
                    || {
                        let pmv = p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut());
                        for (((p, m), v), &g) in pmv.zip(g) {
                            (*p, *m, *v) = adam(*p, g, *m, *v, (b1, b2), step, inv_sqrt_bc2, eps);
                        }
                    },
                )
            })
        });
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
        "adam"
    }
    fn state(&self, store: &ParamStore) -> Vec<StateBuffer> {
        let mut out = Vec::new();
        self.m.save(store, "adam_m", &mut out);
        self.v.save(store, "adam_v", &mut out);
        out
    }
    fn load_state(
        &mut self,
        store: &ParamStore,
        steps: u64,
        b: &[StateBuffer],
    ) -> Result<(), String> {
        self.steps = steps;
        self.m.load(store, "adam_m", b)?;
        self.v.load(store, "adam_v", b)
    }
}
