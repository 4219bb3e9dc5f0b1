//! Deferred weight gradients: a dense layer's `dW = Gᵀ X` kept as its two factors during the
//! backward pass, and streamed into the optimizer block by block ([`super::gemm_update`])
//! instead of being stored, checked and read back (`Gradients::defer_weight_products`).
//! Every value is bitwise the one the stored gradient would give; `autograd/tests/deferred.rs`
//! checks it.

use super::elementwise::update_chunks;
use crate::grads::{ParamGrad, Update};
use crate::{Gradients, Shape, Tensor};
use std::sync::OnceLock;

/// The deferral state of a [`Gradients`].
#[derive(Default)]
pub(crate) struct Deferred {
    /// Whether weight gradients may be kept as factors ([`Gradients::defer_weight_products`]).
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
/// optimizer streams it ([`super::gemm_update`]) or somebody reads it (then it is computed
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
        crate::kernels::gemm(out, b, inp, 1.0, g, 1, out, &self.x, inp, 1, 0.0, d, inp, 1);
    }

    /// Whether every element of `dW` is finite. Decided from the factors when they prove it:
    /// each element is a sum of `batch` products, so `|dW| <= batch max|G| max|X|`, and the
    /// rounding of a `batch`-term sum adds far less than a factor 2. Otherwise `dW` is
    /// computed and scanned.
    pub(crate) fn finite(&self, g: &[f32]) -> bool {
        if let Some(dense) = self.dense.get() {
            return dense.all_finite();
        }
        let bound = 2.0 * self.batch as f64 * max_abs(g) * max_abs(&self.x);
        bound < f32::MAX as f64 || self.dense(g).all_finite()
    }
}

/// The largest magnitude in `v` (infinite when `v` holds a NaN or an infinity).
fn max_abs(v: &[f32]) -> f64 {
    super::elementwise::max_abs(v) as f64
}

/// Runs `update` over a parameter's gradient: over chunks of a stored one (split over
/// threads when large), over blocks of rows of a deferred product as they are computed. Both
/// see the same gradient values, so the result is bitwise the same.
pub(crate) fn update<const N: usize>(
    g: &ParamGrad<'_>,
    state: [&mut [f32]; N],
    update: Update<'_, N>,
) {
    match g {
        ParamGrad::Dense(g) => update_chunks(g, state, update),
        ParamGrad::Product(w, g) => match w.dense.get() {
            Some(d) => update_chunks(&d.data, state, update),
            None => super::gemm_update(
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

impl Gradients {
    /// Keeps each dense layer's weight gradient `dW = Gᵀ X` ([`crate::Var::linear`]) as its
    /// two factors (the layer's output gradient `G`, which the store holds anyway, and a copy of
    /// its input `X`) instead of computing it during the backward pass, when the weight is at
    /// least four times larger than its factors together (at batch 32, a 784 x 512 weight is
    /// about 9.7 times larger; at batch 128, a 784 x 400 one only twice, and is not deferred).
    /// An optimizer then computes it block by block and applies its update to each block while
    /// it is in cache; reading it ([`Gradients::get`], [`Gradients::param`]) computes and
    /// keeps it. Every value is bitwise the same either way.
    ///
    /// Off by default; only in the `fast` build. Never applies in anomaly mode, which checks
    /// every gradient as it is made, nor when `AUTOGRAD_KERNEL` names a kernel other than
    /// `auto` (the streamed product is one of `auto`'s routes).
    pub fn defer_weight_products(&mut self, on: bool) {
        self.deferred.defer = on;
    }

    /// Starts a backward pass: drops the deferred products (keeping their buffers).
    pub(crate) fn reset_deferred(&mut self, anomaly: bool) {
        let d = &mut self.deferred;
        d.deferring = d.defer && !anomaly;
        for w in d.products.drain(..) {
            self.pool.give(w.x);
        }
    }

    /// How many weight gradients are held as their factors, not computed yet.
    #[cfg(feature = "internals")]
    pub fn deferred_products(&self) -> usize {
        let products = &self.deferred.products;
        products.iter().filter(|w| w.dense.get().is_none()).count()
    }

    /// A deferred product of node `id`, computed (once) and kept.
    pub(crate) fn deferred_dense(&self, id: usize) -> Option<&Tensor> {
        self.product(id).map(|w| w.dense(self.factor(w)))
    }

    /// A deferred product of node `id`, as an optimizer receives it (not computed).
    pub(crate) fn deferred_grad(&self, id: usize) -> Option<ParamGrad<'_>> {
        self.product(id)
            .map(|w| ParamGrad::Product(w, self.factor(w)))
    }

    /// `G` of a deferred product: the gradient of the layer's output node.
    fn factor(&self, w: &WeightProduct) -> &[f32] {
        let g = self.slots[w.g_node].as_ref();
        &g.expect("a deferred product's G stays in its node's slot")
            .data
    }

    fn product(&self, id: usize) -> Option<&WeightProduct> {
        self.deferred.products.iter().find(|w| w.node == id)
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
            && super::gemm_update_streams(out, batch, inp, (1, out), (inp, 1));
        if !self.deferred.deferring
            || !worth
            || self.slots[node].is_some()
            || self.product(node).is_some()
        {
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
        self.deferred.products.push(w);
        true
    }

    /// Moves a deferred weight product of node `id`, if any, into its slot as a stored
    /// gradient (before another contribution is accumulated onto it).
    pub(crate) fn store_deferred(&mut self, id: usize) {
        let products = &mut self.deferred.products;
        let Some(i) = products.iter().position(|w| w.node == id) else {
            return;
        };
        let mut w = products.swap_remove(i);
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
}
