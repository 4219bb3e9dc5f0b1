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
}

impl Gradients {
    /// An empty gradient store.
    pub fn new() -> Gradients {
        Gradients::default()
    }

    /// Drops all gradients (keeping their buffers for reuse) and sizes the store for `n` nodes.
    pub(crate) fn reset(&mut self, n: usize) {
        for slot in self.slots.iter_mut() {
            if let Some(t) = slot.take() {
                self.pool.give(t.data);
            }
        }
        self.slots.resize_with(n, || None);
        self.params.clear();
    }

    /// The gradient of the loss with respect to `v`, or `None` when no path leads from `v` to
    /// the loss (or `v` needs no gradient).
    pub fn get(&self, v: Var<'_>) -> Option<&Tensor> {
        self.slots.get(v.id).and_then(|s| s.as_ref())
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
            .find_map(|&(_, node)| self.slots[node].as_ref())
    }

    /// The gradient buffer of node `id` and whether it is fresh. A fresh buffer holds
    /// unspecified values and must be overwritten (`=`, or a gemm with beta 0); an existing one
    /// must be accumulated into (`+=`, beta 1). Saves zero-filling large gradients.
    pub(crate) fn acc_fresh(&mut self, id: usize, shape: Shape) -> (&mut [f32], bool) {
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
