//! Optimizers over a [`ParamStore`]: each reads the gradients of one backward pass and updates
//! every parameter in one fused pass over its elements.
//!
//! A parameter that did not reach the loss has gradient zero (not "missing"): it is updated as
//! such, so momentum and moment estimates keep decaying exactly as the formulas say.

pub(crate) mod adam;
pub(crate) mod rmsprop;
pub(crate) mod sgd;

pub use adam::Adam;
pub use rmsprop::RmsProp;
pub use sgd::Sgd;

use crate::grads::ParamGrad;
use crate::{Gradients, ParamId, ParamStore};

/// A named optimizer state buffer (one per parameter and moment), for checkpoints.
pub type StateBuffer = (String, Vec<f32>);

/// The interface every optimizer implements.
pub trait Optimizer {
    /// Updates every parameter in `store` from `grads`. The tape that produced `grads` must have
    /// been cleared (it holds the parameters).
    fn step(&mut self, store: &mut ParamStore, grads: &Gradients);
    /// The learning rate.
    fn lr(&self) -> f32;
    /// Sets the learning rate (for schedules).
    fn set_lr(&mut self, lr: f32);
    /// Steps taken so far.
    fn steps(&self) -> u64;
    /// Short name (`"sgd"`, `"rmsprop"`, `"adam"`).
    fn name(&self) -> &'static str;
    /// The state, as named buffers (`"<param>.<moment>"`), for saving.
    fn state(&self, store: &ParamStore) -> Vec<StateBuffer>;
    /// Restores a saved state: the step count and the named buffers.
    fn load_state(
        &mut self,
        store: &ParamStore,
        steps: u64,
        buffers: &[StateBuffer],
    ) -> Result<(), String>;
}

/// Per-parameter buffers, allocated on the first step and reused after.
#[derive(Default, Clone)]
pub(crate) struct Slots {
    pub(crate) bufs: Vec<Vec<f32>>,
}

impl Slots {
    /// Makes sure there is a zeroed buffer per parameter, sized like it.
    pub(crate) fn ensure(&mut self, store: &ParamStore) {
        if self.bufs.len() != store.len() {
            self.bufs = store.iter().map(|(_, _, t)| vec![0.0; t.numel()]).collect();
        }
    }

    pub(crate) fn save(&self, store: &ParamStore, suffix: &str, out: &mut Vec<StateBuffer>) {
        for (i, b) in self.bufs.iter().enumerate() {
            out.push((format!("{}.{suffix}", store.name(ParamId(i))), b.clone()));
        }
    }

    pub(crate) fn load(
        &mut self,
        store: &ParamStore,
        suffix: &str,
        buffers: &[StateBuffer],
    ) -> Result<(), String> {
        self.ensure(store);
        for (i, b) in self.bufs.iter_mut().enumerate() {
            let name = format!("{}.{suffix}", store.name(ParamId(i)));
            let (_, v) = buffers
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| format!("optimizer state {name:?} is missing"))?;
            if v.len() != b.len() {
                return Err(format!(
                    "optimizer state {name:?} has {} values, the parameter has {}",
                    v.len(),
                    b.len()
                ));
            }
            b.copy_from_slice(v);
        }
        Ok(())
    }
}

/// Calls `f(index, param, grad)` for every parameter, with an all-zero gradient for parameters
/// that did not reach the loss. The gradient applies an optimizer's elementwise update
/// ([`ParamGrad::update`]) whether it is stored or a weight product still to be computed.
///
/// The parameters go last to first. A model's first layer is the one the next forward pass reads
/// first, so it is best updated last, when its rows are left in the cache; and the last layer's
/// gradient is the one a finiteness check over the gradients in order has just read. Measured
/// inside training (seed model, alternate steps): forward + backward 1,030-1,369 µs after a
/// reversed update against 1,036-1,396 µs after one in order, and the update itself 156-300 µs
/// against 171-310 µs. Each update is elementwise, so the order changes no result.
pub(crate) fn for_each_param(
    store: &mut ParamStore,
    grads: &Gradients,
    mut f: impl FnMut(usize, &mut [f32], ParamGrad<'_>),
) {
    for i in (0..store.len()).rev() {
        let id = ParamId(i);
        let p = &mut store.get_mut(id).data;
        match grads.param_grad(id) {
            Some(g) => f(i, p, g),
            None => {
                let zeros = vec![0.0; p.len()];
                f(i, p, ParamGrad::Dense(&zeros))
            }
        }
    }
}
