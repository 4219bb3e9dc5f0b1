//! Gradients, stored by node id (not on tensors), filled by one reverse sweep of the tape.

use crate::params::ParamId;
use crate::pool::Pool;
use crate::{Shape, Tensor, Var};

/// The gradients of one backward pass: one optional tensor per tape node, plus the map from
/// parameters to the nodes that entered them.
///
/// Reuse one `Gradients` across steps with [`Tape::backward_into`](crate::Tape::backward_into):
/// its buffers are recycled, so a steady-state step does not allocate.
#[derive(Default)]
pub struct Gradients {
    pub(crate) slots: Vec<Option<Tensor>>,
    pub(crate) params: Vec<(ParamId, usize)>,
    pub(crate) pool: Pool,
    /// The `fast` build's weight gradients kept as their factors (`kernels/fast/deferred.rs`).
    #[cfg(feature = "fast")]
    pub(crate) deferred: crate::kernels::fast::Deferred,
}

/// A parameter's gradient as an optimizer receives it.
pub(crate) enum ParamGrad<'a> {
    /// A stored gradient (zeros for a parameter that did not reach the loss).
    Dense(&'a [f32]),
    /// In the `fast` build, a weight gradient `Gᵀ X` not computed yet, with `G`.
    #[cfg(feature = "fast")]
    Product(&'a crate::kernels::fast::WeightProduct, &'a [f32]),
}

/// An elementwise update over a gradient and `N` buffers of the same length (the parameter
/// first, then its optimizer state): `update(g, [p, state...])`, called on matching ranges.
pub type Update<'a, const N: usize> = &'a (dyn Fn(&[f32], [&mut [f32]; N]) + Sync);

impl ParamGrad<'_> {
    /// Whether every element is finite.
    fn finite(&self) -> bool {
        match self {
            ParamGrad::Dense(g) => crate::all_finite(g),
            #[cfg(feature = "fast")]
            ParamGrad::Product(w, g) => w.finite(g),
        }
    }

    /// Runs the elementwise `update(g, [p, state...])` over the whole gradient.
    pub(crate) fn update<const N: usize>(&self, state: [&mut [f32]; N], update: Update<'_, N>) {
        match self {
            #[cfg(not(feature = "fast"))]
            ParamGrad::Dense(g) => update(g, state),
            // The fast build splits the update over threads, or streams a deferred product.
            #[cfg(feature = "fast")]
            g => crate::kernels::fast::update(g, state, update),
        }
    }
}

impl Gradients {
    /// An empty gradient store.
    pub fn new() -> Gradients {
        Gradients::default()
    }

    /// Drops all gradients (keeping their buffers for reuse) and sizes the store for `n` nodes,
    /// for a backward pass in anomaly mode or not.
    pub(crate) fn reset(&mut self, n: usize, anomaly: bool) {
        for slot in self.slots.iter_mut() {
            if let Some(t) = slot.take() {
                self.pool.give(t.data);
            }
        }
        #[cfg(feature = "fast")]
        self.reset_deferred(anomaly);
        #[cfg(not(feature = "fast"))]
        let _ = anomaly;
        self.slots.resize_with(n, || None);
        self.params.clear();
    }

    /// The gradient of the loss with respect to `v`, or `None` when no path leads from `v` to
    /// the loss (or `v` needs no gradient).
    pub fn get(&self, v: Var<'_>) -> Option<&Tensor> {
        self.node(v.id)
    }

    /// The gradient of node `id`.
    fn node(&self, id: usize) -> Option<&Tensor> {
        match self.slots.get(id).and_then(|s| s.as_ref()) {
            Some(t) => Some(t),
            #[cfg(feature = "fast")]
            None => self.deferred_dense(id),
            #[cfg(not(feature = "fast"))]
            None => None,
        }
    }

    /// The gradient of node `id` as an optimizer receives it.
    fn node_grad(&self, id: usize) -> Option<ParamGrad<'_>> {
        match self.slots.get(id).and_then(|s| s.as_ref()) {
            Some(t) => Some(ParamGrad::Dense(&t.data)),
            #[cfg(feature = "fast")]
            None => self.deferred_grad(id),
            #[cfg(not(feature = "fast"))]
            None => None,
        }
    }

    /// Whether every parameter's gradient is finite (NaN and infinities are not).
    pub fn params_finite(&self) -> bool {
        self.params
            .iter()
            .all(|&(_, node)| self.node_grad(node).is_none_or(|g| g.finite()))
    }

    /// The gradient of parameter `id` for an optimizer: `None` when it did not reach the loss.
    pub(crate) fn param_grad(&self, id: ParamId) -> Option<ParamGrad<'_>> {
        self.params
            .iter()
            .filter(|(p, _)| *p == id)
            .find_map(|&(_, node)| self.node_grad(node))
    }

    /// The gradient with respect to `v`, zeros when no path leads from `v` to the loss.
    pub fn wrt(&self, v: Var<'_>) -> Tensor {
        match self.get(v) {
            Some(t) => t.clone(),
            None => Tensor::zeros(v.shape().dims()),
        }
    }

    /// The gradient with respect to a parameter entered on the tape with
    /// [`Tape::param`](crate::Tape::param). `None` means the parameter did not reach the loss:
    /// its gradient is zero.
    pub fn param(&self, id: ParamId) -> Option<&Tensor> {
        self.params
            .iter()
            .filter(|(p, _)| *p == id)
            .find_map(|&(_, node)| self.node(node))
    }

    /// The gradient buffer of node `id` and whether it is fresh. A fresh buffer holds
    /// unspecified values and must be overwritten (`=`, or a gemm with beta 0); an existing one
    /// must be accumulated into (`+=`, beta 1). Saves zero-filling large gradients.
    pub(crate) fn acc_fresh(&mut self, id: usize, shape: Shape) -> (&mut [f32], bool) {
        #[cfg(feature = "fast")]
        self.store_deferred(id);
        let slot = &mut self.slots[id];
        let fresh = slot.is_none();
        if fresh {
            *slot = Some(Tensor {
                data: self.pool.take_dirty(shape.numel()),
                shape,
            });
        }
        (&mut slot.as_mut().expect("just filled").data, fresh)
    }

    /// The accumulation buffer for node `id`, created zero-filled on first use.
    pub(crate) fn acc(&mut self, id: usize, shape: Shape) -> &mut [f32] {
        #[cfg(feature = "fast")]
        self.store_deferred(id);
        let slot = &mut self.slots[id];
        if slot.is_none() {
            *slot = Some(Tensor {
                data: self.pool.take(shape.numel()),
                shape,
            });
        }
        &mut slot.as_mut().expect("just filled").data
    }
}
