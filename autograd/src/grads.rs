//! Gradients, stored by node id (not on tensors), filled by one reverse sweep of the tape.

use crate::kernels::{self, elementwise::Update};
use crate::params::ParamId;
use crate::pool::Pool;
use crate::{Shape, Tensor, Var};
use std::sync::OnceLock;

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
    /// Whether weight gradients may be kept as their factors ([`Gradients::defer_weight_products`]).
    defer: bool,
    /// Whether the backward pass under way defers them (`defer`, outside anomaly mode).
    deferring: bool,
    /// The weight gradients kept as factors, by node.
    products: Vec<WeightProduct>,
}

/// How many times larger than its two factors together a weight gradient must be to be
/// deferred. Timed on alternate training steps (2 threads): at 10x (784 x 512 at batch 32,
/// RMSprop) a step took 0.91-0.97 of the stored-gradient step; at 2x (784 x 400 at batch 128,
/// Adam) it took 1.02-1.06, copying the factors (both were copied then; now only `X` is)
/// costing more than the traffic saved.
const WORTH_DEFERRING: usize = 4;

/// A dense layer's weight gradient `dW = Gᵀ X` (`[out, in]`), kept as its factors until an
/// optimizer streams it ([`kernels::gemm_update`]) or somebody reads it (then it is computed
/// once, and kept): `G` (`[batch, out]`) is the gradient of the layer's output, which stays in
/// its slot of the store, and `X` (`[batch, in]`) a copy of the layer's input, whose tape is
/// cleared before the optimizer runs.
pub(crate) struct WeightProduct {
    node: usize,
    g_node: usize,
    x: Vec<f32>,
    batch: usize,
    out: usize,
    inp: usize,
    dense: OnceLock<Tensor>,
}

impl WeightProduct {
    /// `dW` stored, computed on first use from `G` (`g`).
    fn dense(&self, g: &[f32]) -> &Tensor {
        self.dense.get_or_init(|| {
            let (out, inp) = (self.out, self.inp);
            let mut d = vec![0.0; out * inp];
            self.compute_into(g, &mut d);
            Tensor {
                data: d,
                shape: Shape::new(&[out, inp]),
            }
        })
    }

    /// `d = Gᵀ X`, by the same kernel the layer's backward would have used.
    fn compute_into(&self, g: &[f32], d: &mut [f32]) {
        let (b, out, inp) = (self.batch, self.out, self.inp);
        kernels::gemm(out, b, inp, 1.0, g, 1, out, &self.x, inp, 1, 0.0, d, inp, 1);
    }

    /// Whether every element of `dW` is finite. Decided from the factors when they prove it:
    /// each element is a sum of `batch` products, so `|dW| <= batch max|G| max|X|`, and the
    /// rounding of a `batch`-term sum adds far less than a factor 2. Otherwise `dW` is
    /// computed and scanned.
    fn finite(&self, g: &[f32]) -> bool {
        if let Some(dense) = self.dense.get() {
            return dense.all_finite();
        }
        let bound = 2.0 * self.batch as f64 * max_abs(g) * max_abs(&self.x);
        bound < f32::MAX as f64 || self.dense(g).all_finite()
    }
}

/// The largest magnitude in `v` (infinite when `v` holds a NaN or an infinity).
fn max_abs(v: &[f32]) -> f64 {
    kernels::elementwise::max_abs(v) as f64
}

/// A parameter's gradient as an optimizer receives it: stored, or a weight product to stream.
pub(crate) enum ParamGrad<'a> {
    /// A stored gradient (zeros for a parameter that did not reach the loss).
    Dense(&'a [f32]),
    /// `Gᵀ X`, not stored yet, with `G`.
    Product(&'a WeightProduct, &'a [f32]),
}

impl ParamGrad<'_> {
    /// Whether every element is finite (a product decides from its factors when it can).
    fn finite(&self) -> bool {
        match self {
            ParamGrad::Dense(g) => kernels::elementwise::all_finite(g),
            ParamGrad::Product(w, g) => w.finite(g),
        }
    }

    /// Runs the elementwise `update(g, [p, state...])` over the whole gradient: over chunks of
    /// a stored one, over blocks of rows of a product as they are computed. Both see the same
    /// gradient values, so the result is bitwise the same.
    pub(crate) fn update<const N: usize>(&self, state: [&mut [f32]; N], update: Update<'_, N>) {
        match self {
            ParamGrad::Dense(g) => kernels::elementwise::update_chunks(g, state, update),
            ParamGrad::Product(w, g) => match w.dense.get() {
                Some(d) => kernels::elementwise::update_chunks(&d.data, state, update),
                None => kernels::gemm_update(
                    w.out,
                    w.batch,
                    w.inp,
                    g,
                    (1, w.out),
                    &w.x,
                    (w.inp, 1),
                    state,
                    update,
                ),
            },
        }
    }
}

impl Gradients {
    /// An empty gradient store.
    pub fn new() -> Gradients {
        Gradients::default()
    }

    /// Keeps each dense layer's weight gradient `dW = Gᵀ X` ([`Var::linear`]) as its two
    /// factors (the layer's output gradient `G`, which the store holds anyway, and a copy of its
    /// input `X`) instead of computing it during the backward pass, when the weight is at
    /// least four times larger than its factors together (at batch 32, a 784 x 512 weight is
    /// ten times larger; at batch 128, a 784 x 400 one only twice, and is not deferred). An
    /// optimizer then computes it block by block and applies its update to each block while
    /// it is in cache ([`kernels::gemm_update`]); reading it ([`Gradients::get`],
    /// [`Gradients::param`]) computes and keeps it. Every value is bitwise the same either way.
    ///
    /// Off by default. Never applies in anomaly mode, which checks every gradient as it is made.
    pub fn defer_weight_products(&mut self, on: bool) {
        self.defer = on;
    }

    /// Drops all gradients (keeping their buffers for reuse) and sizes the store for `n` nodes,
    /// for a backward pass in anomaly mode or not.
    pub(crate) fn reset(&mut self, n: usize, anomaly: bool) {
        self.deferring = self.defer && !anomaly;
        for slot in self.slots.iter_mut() {
            if let Some(t) = slot.take() {
                self.pool.give(t.data);
            }
        }
        for w in self.products.drain(..) {
            self.pool.give(w.x);
        }
        self.slots.resize_with(n, || None);
        self.params.clear();
    }

    /// The gradient of the loss with respect to `v`, or `None` when no path leads from `v` to
    /// the loss (or `v` needs no gradient).
    pub fn get(&self, v: Var<'_>) -> Option<&Tensor> {
        self.node(v.id)
    }

    /// The gradient of node `id`, computing a deferred weight product on first use.
    fn node(&self, id: usize) -> Option<&Tensor> {
        match self.slots.get(id).and_then(|s| s.as_ref()) {
            Some(t) => Some(t),
            None => self.product(id).map(|w| w.dense(self.factor(w))),
        }
    }

    /// The gradient of node `id` as stored, or as a deferred product (not computed).
    fn node_grad(&self, id: usize) -> Option<ParamGrad<'_>> {
        match self.slots.get(id).and_then(|s| s.as_ref()) {
            Some(t) => Some(ParamGrad::Dense(&t.data)),
            None => self
                .product(id)
                .map(|w| ParamGrad::Product(w, self.factor(w))),
        }
    }

    /// How many weight gradients are held as their factors, not computed yet
    /// (see [`Gradients::defer_weight_products`]).
    pub fn deferred_products(&self) -> usize {
        self.products
            .iter()
            .filter(|w| w.dense.get().is_none())
            .count()
    }

    /// `G` of a deferred product: the gradient of the layer's output node.
    fn factor(&self, w: &WeightProduct) -> &[f32] {
        let g = self.slots[w.g_node].as_ref();
        &g.expect("a deferred product's G stays in its node's slot")
            .data
    }

    fn product(&self, id: usize) -> Option<&WeightProduct> {
        self.products.iter().find(|w| w.node == id)
    }

    /// Whether every parameter's gradient is finite (NaN and infinities are not). A deferred
    /// weight product is decided from its factors when they prove it, which is the rule for
    /// any layer that is not about to overflow; otherwise it is computed and scanned.
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

    /// Records `dW = Gᵀ X` for parameter node `node` as its factors (`G` `[batch, out]`, the
    /// gradient of node `g_node`, and `x` `[batch, inp]`) if deferral is on, the node has no
    /// gradient yet, the weight is [`WORTH_DEFERRING`] times larger than the factors together,
    /// and the product can be streamed. Returns whether it did.
    pub(crate) fn try_defer(
        &mut self,
        node: usize,
        g_node: usize,
        x: &[f32],
        (batch, out, inp): (usize, usize, usize),
    ) -> bool {
        let worth = out * inp >= WORTH_DEFERRING * batch * (out + inp)
            && kernels::gemm_update_streams(out, batch, inp, (1, out), (inp, 1));
        if !self.deferring || !worth || self.slots[node].is_some() || self.product(node).is_some() {
            return false;
        }
        let w = WeightProduct {
            node,
            g_node,
            x: self.pool.take_copy(&x[..batch * inp]),
            batch,
            out,
            inp,
            dense: OnceLock::new(),
        };
        self.products.push(w);
        true
    }

    /// Moves a deferred weight product of node `id`, if any, into its slot as a stored
    /// gradient (before another contribution is accumulated onto it).
    fn store_product(&mut self, id: usize) {
        let Some(i) = self.products.iter().position(|w| w.node == id) else {
            return;
        };
        let mut w = self.products.swap_remove(i);
        let data = match w.dense.take() {
            Some(t) => t.data,
            None => {
                let mut d = self.pool.take_dirty(w.out * w.inp);
                w.compute_into(self.factor(&w), &mut d);
                d
            }
        };
        self.pool.give(std::mem::take(&mut w.x));
        self.slots[id] = Some(Tensor {
            data,
            shape: Shape::new(&[w.out, w.inp]),
        });
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
        self.store_product(id);
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
        self.store_product(id);
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
