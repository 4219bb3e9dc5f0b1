//! Weight gradients kept as their factors (`Gradients::defer_weight_products`) and streamed
//! into the optimizers (`elementwise::gemm_update`): every value must be bitwise the one a stored
//! gradient gives, on one thread and on two.
#![cfg(all(feature = "fast", feature = "internals"))]

mod common;

use autograd::kernels;
use autograd::kernels::fast::internals as elementwise;
use autograd::{Adam, Gradients, Optimizer, ParamId, ParamStore, RmsProp, Sgd, Tape, Tensor};
use common::{pool, values};

/// The update the streaming tests apply: reads the gradient and both buffers, writes both.
fn toy_update(g: &[f32], [p, v]: [&mut [f32]; 2]) {
    for i in 0..p.len() {
        v[i] = 0.5 * v[i] + g[i] * g[i];
        p[i] -= 0.25 * g[i] / (v[i] + 1.0);
    }
}

/// `gemm_update` over `A` (`m x k`, column-major, as `Gᵀ`) and `B` (`k x n`, row-major)
/// against the same update over the stored `gemm` result: the parameter and the state must
/// match bit for bit.
fn assert_streamed_is_stored((m, k, n): (usize, usize, usize), a: &[f32], b: &[f32], what: &str) {
    let mut c = vec![0.0; m * n];
    kernels::gemm(m, k, n, 1.0, a, 1, m, b, n, 1, 0.0, &mut c, n, 1);
    let (mut p1, mut v1) = (values(m * n, 3), values(m * n, 4));
    let (mut p2, mut v2) = (p1.clone(), v1.clone());
    elementwise::update_chunks(&c, [&mut p1, &mut v1], &toy_update);
    let state = [&mut p2[..], &mut v2[..]];
    elementwise::gemm_update(m, k, n, a, (1, m), b, (n, 1), state, &toy_update);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let same = bits(&p1) == bits(&p2) && bits(&v1) == bits(&v2);
    assert!(same, "streamed update differs from the stored one: {what}");
}

/// `gemm_update` against the same update over a stored `gemm` result, for `A` row- or
/// column-major, on 1 and 2 threads: bitwise equal buffers.
#[test]
fn streamed_update_is_bitwise_the_stored_one() {
    let shapes = [
        (1, 1, 1),
        (7, 5, 17),
        (48, 32, 784),
        (49, 32, 100),
        (97, 3, 33),
        (512, 32, 784),
        (784, 32, 512),
        (300, 256, 40),
        (64, 300, 64),
        (20, 8, 3100),
    ];
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &(m, k, n) in &shapes {
                for a_colmajor in [false, true] {
                    let a = values(m * k, 1);
                    let b = values(k * n, 2);
                    let (rsa, csa) = if a_colmajor { (1, m) } else { (k, 1) };
                    let mut c = vec![0.0; m * n];
                    kernels::gemm(m, k, n, 1.0, &a, rsa, csa, &b, n, 1, 0.0, &mut c, n, 1);
                    let (mut p1, mut v1) = (values(m * n, 3), values(m * n, 4));
                    let (mut p2, mut v2) = (p1.clone(), v1.clone());
                    elementwise::update_chunks(&c, [&mut p1, &mut v1], &toy_update);
                    elementwise::gemm_update(
                        m,
                        k,
                        n,
                        &a,
                        (rsa, csa),
                        &b,
                        (n, 1),
                        [&mut p2, &mut v2],
                        &toy_update,
                    );
                    let what = format!("{m}x{k}x{n}, A col-major {a_colmajor}, {threads}t");
                    assert!(p1 == p2 && v1 == v2, "streamed update differs at {what}");
                }
            }
        });
    }
}

/// `B` with columns that are zero in every row (MNIST's border pixels as the input of a first
/// layer), and `A` with or without a NaN (whose products with those zeros are NaN): every bit
/// must match the stored product's.
#[test]
fn streamed_update_with_zero_columns_is_bitwise_the_stored_one() {
    let shapes = [(512, 32, 784), (100, 7, 70), (48, 32, 300)];
    let patterns: [fn(usize, usize) -> bool; 4] = [
        |j, n| j < n / 5 || j >= n - n / 5 || j % 28 < 3,
        |j, _| j % 2 == 1,
        |j, n| j != n / 2,
        |_, _| true,
    ];
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &(m, k, n) in &shapes {
                for (z, zero) in patterns.iter().enumerate() {
                    for nan_in_a in [false, true] {
                        let mut a = values(m * k, 1);
                        if nan_in_a {
                            a[m * k / 2] = f32::NAN;
                        }
                        let mut b = values(k * n, 2);
                        for (i, x) in b.iter_mut().enumerate() {
                            if zero(i % n, n) {
                                *x = 0.0;
                            }
                        }
                        let what =
                            format!("{m}x{k}x{n}, pattern {z}, NaN in A {nan_in_a}, {threads}t");
                        assert_streamed_is_stored((m, k, n), &a, &b, &what);
                    }
                }
            }
        });
    }
}

/// `B` whose zero stretches differ from row to row (images with blank stretches in different
/// places) and `A` with zero rows and scattered zeros (the gradient of a ReLU layer whose
/// units are mostly silent), with `+0` and `-0`: the streamed product then sums each tile over
/// the rows where both operands hold a non-zero. With a NaN or an infinity in `A` or in `B`
/// every term counts. Every bit must match the stored product's.
#[test]
fn streamed_update_with_zero_terms_is_bitwise_the_stored_one() {
    let shapes = [
        (512, 32, 784),
        (50, 32, 100),
        (48, 5, 40),
        (13, 32, 16),
        (30, 64, 20),
    ];
    let b_zero: [fn(usize, usize) -> bool; 4] = [
        |_, _| false,
        |r, j| (j / 16 + r) % 3 != 0,
        |r, j| (r * 31 + j / 7 * 17) % 5 < 4,
        |r, j| r % 2 == 1 || j % 16 < 8,
    ];
    // A is m x k: row i (a hidden unit), column p (an image).
    let a_zero: [fn(usize, usize) -> bool; 3] = [
        |_, _| false,
        |i, _| i % 4 != 1,
        |i, p| (i * 7 + p * 13) % 10 != 0,
    ];
    for threads in [1, 2] {
        pool(threads).install(|| {
            for &(m, k, n) in &shapes {
                for (zb, b_zero) in b_zero.iter().enumerate() {
                    for (za, a_zero) in a_zero.iter().enumerate() {
                        for (bad, in_a) in [(0.0, true), (f32::NAN, true), (f32::INFINITY, false)] {
                            let mut a = values(m * k, 1);
                            for (e, x) in a.iter_mut().enumerate() {
                                // Column-major: element e is (e % m, e / m).
                                if a_zero(e % m, e / m) {
                                    *x = if e % 3 == 0 { -0.0 } else { 0.0 };
                                }
                            }
                            let mut b = values(k * n, 2);
                            for (e, x) in b.iter_mut().enumerate() {
                                if b_zero(e / n, e % n) {
                                    *x = if e % 5 == 0 { -0.0 } else { 0.0 };
                                }
                            }
                            if bad != 0.0 {
                                if in_a {
                                    a[m * k / 3] = bad;
                                } else {
                                    b[k * n / 2] = bad;
                                }
                            }
                            let what = format!(
                                "{m}x{k}x{n}, B zeros {zb}, A zeros {za}, {bad} in {}, {threads}t",
                                if in_a { "A" } else { "B" }
                            );
                            assert_streamed_is_stored((m, k, n), &a, &b, &what);
                        }
                    }
                }
            }
        });
    }
}

/// On hot workers every block of rows is a piece claimed by whichever thread is free, each
/// thread packing `B` once per call: the result must still be bitwise the stored product's,
/// call after call (with operands that change between calls, and zero terms to leave out).
#[test]
fn streamed_update_on_hot_workers_is_bitwise_the_stored_one() {
    let shapes = [(784, 32, 512), (512, 32, 784), (100, 7, 70), (50, 32, 100)];
    pool(2).install(|| {
        kernels::with_hot_workers(|| {
            for round in 0..3 {
                for &(m, k, n) in &shapes {
                    let mut a = values(m * k, 1 + round);
                    for (e, x) in a.iter_mut().enumerate() {
                        if (e % m) % 3 != 0 {
                            *x = 0.0;
                        }
                    }
                    let mut b = values(k * n, 2 + round);
                    for (e, x) in b.iter_mut().enumerate() {
                        if (e % n / 16 + e / n) % 2 == 0 {
                            *x = 0.0;
                        }
                    }
                    let what = format!("{m}x{k}x{n}, round {round}");
                    assert_streamed_is_stored((m, k, n), &a, &b, &what);
                }
            }
        })
    });
}

#[test]
fn streaming_covers_the_vae_weight_gradients() {
    if !kernels::avx2_available() {
        return;
    }
    // dW = Gᵀ X of the seed model's two big layers at batch 32: streamed, not stored first.
    assert!(elementwise::gemm_update_streams(
        512,
        32,
        784,
        (1, 512),
        (784, 1)
    ));
    assert!(elementwise::gemm_update_streams(
        784,
        32,
        512,
        (1, 784),
        (512, 1)
    ));
    // Too deep for one packed block: computed whole first.
    assert!(!elementwise::gemm_update_streams(
        512,
        300,
        784,
        (1, 512),
        (784, 1)
    ));
}

#[test]
#[should_panic(expected = "state buffer")]
fn streamed_update_rejects_a_short_state_buffer() {
    let (a, b) = (values(4 * 3, 1), values(3 * 5, 2));
    let (mut p, mut v) = (vec![0.0; 20], vec![0.0; 19]);
    elementwise::gemm_update(
        4,
        3,
        5,
        &a,
        (3, 1),
        &b,
        (5, 1),
        [&mut p, &mut v],
        &toy_update,
    );
}

/// A two-layer model whose first weight gets a deferred gradient at batch 8 (512 x 300 is 4x
/// larger than its factors, 8 x 812), and whose second weight is used twice, so its
/// gradient is accumulated.
struct Model {
    store: ParamStore,
    w1: ParamId,
    b1: ParamId,
    w2: ParamId,
    b2: ParamId,
}

impl Model {
    fn new() -> Model {
        let mut store = ParamStore::new();
        let w1 = store.add(
            "w1",
            Tensor::from_vec(scaled(512 * 300, 5, 0.05), &[512, 300]),
        );
        let b1 = store.add("b1", Tensor::from_vec(values(512, 6), &[512]));
        let w2 = store.add(
            "w2",
            Tensor::from_vec(scaled(512 * 512, 7, 0.05), &[512, 512]),
        );
        let b2 = store.add("b2", Tensor::from_vec(values(512, 8), &[512]));
        Model {
            store,
            w1,
            b1,
            w2,
            b2,
        }
    }

    /// Forward and backward on batch `x` (`[8, 300]`) into `grads`; returns the loss.
    fn backward(&self, tape: &Tape, x: &[f32], grads: &mut Gradients) -> f32 {
        let x = tape.constant(Tensor::from_vec(x.to_vec(), &[8, 300]));
        let (w1, b1) = (
            tape.param(&self.store, self.w1),
            tape.param(&self.store, self.b1),
        );
        let (w2, b2) = (
            tape.param(&self.store, self.w2),
            tape.param(&self.store, self.b2),
        );
        let h = x.linear(w1, b1).tanh();
        let y = h.linear(w2, b2).tanh().linear(w2, b2);
        let loss = (y * y).mean();
        tape.backward_into(loss, grads);
        loss.item()
    }
}

fn scaled(n: usize, seed: u32, s: f32) -> Vec<f32> {
    values(n, seed).into_iter().map(|v| v * s).collect()
}

/// Trains `steps` steps with deferral on or off; returns every parameter.
fn train(opt: &mut dyn Optimizer, defer: bool, steps: usize) -> Vec<Vec<f32>> {
    let mut model = Model::new();
    let tape = Tape::new();
    let mut grads = Gradients::new();
    grads.defer_weight_products(defer);
    for s in 0..steps {
        let x = values(8 * 300, 100 + s as u32);
        model.backward(&tape, &x, &mut grads);
        assert_eq!(
            grads.deferred_products(),
            usize::from(defer && kernels::avx2_available())
        );
        assert!(grads.params_finite());
        tape.clear();
        opt.step(&mut model.store, &grads);
    }
    model.store.iter().map(|(_, _, t)| t.data.clone()).collect()
}

#[test]
fn optimizers_step_bitwise_alike_with_deferred_gradients() {
    for threads in [1, 2] {
        pool(threads).install(|| {
            let opts: [fn() -> Box<dyn Optimizer>; 4] = [
                || Box::new(RmsProp::new(1e-3)),
                || Box::new(Adam::new(1e-3)),
                || Box::new(Sgd::new(0.1, 0.0)),
                || Box::new(Sgd::new(0.1, 0.9)),
            ];
            for make in opts {
                let (mut a, mut b) = (make(), make());
                let stored = train(a.as_mut(), false, 3);
                let streamed = train(b.as_mut(), true, 3);
                assert!(
                    stored == streamed,
                    "{} differs on {threads} thread(s)",
                    a.name()
                );
                assert_ne!(
                    stored,
                    Model::new()
                        .store
                        .iter()
                        .map(|(_, _, t)| t.data.clone())
                        .collect::<Vec<_>>()
                );
            }
        });
    }
}

#[test]
fn a_deferred_gradient_reads_as_the_stored_one() {
    let model = Model::new();
    let x = values(8 * 300, 9);
    let tape = Tape::new();
    let (mut stored, mut deferred) = (Gradients::new(), Gradients::new());
    deferred.defer_weight_products(true);
    model.backward(&tape, &x, &mut stored);
    tape.clear();
    model.backward(&tape, &x, &mut deferred);
    // w1 stays a product; w2, used twice, has been computed to take its second part.
    assert_eq!(
        (stored.deferred_products(), deferred.deferred_products()),
        (0, 1)
    );
    for id in [model.w1, model.b1, model.w2, model.b2] {
        let (s, d) = (stored.param(id).unwrap(), deferred.param(id).unwrap());
        assert_eq!(s.dims(), d.dims());
        assert!(s.data == d.data, "{}", model.store.name(id));
    }
    // Reading it computed it.
    assert_eq!(deferred.deferred_products(), 0);
    assert!(stored.params_finite() && deferred.params_finite());
}

/// The gradients of `loss = Σ (x Wᵀ + b) * g_scale` for a zero `W` `[512, 300]` (so the
/// forward values stay finite) at batch 8: `G` is `g_scale` everywhere, `dW = Gᵀ x`, deferred.
fn layer_grads(x: Vec<f32>, g_scale: f32, anomaly: bool) -> Result<Gradients, String> {
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::zeros(&[512, 300]));
    let b = store.add("b", Tensor::from_vec(values(512, 6), &[512]));
    let tape = Tape::new();
    tape.set_anomaly_mode(anomaly);
    let mut grads = Gradients::new();
    grads.defer_weight_products(true);
    let x = tape.constant(Tensor::from_vec(x, &[8, 300]));
    let (w, b) = (tape.param(&store, w), tape.param(&store, b));
    let loss = (x.linear(w, b) * g_scale).sum();
    tape.try_backward_into(loss, &mut grads)
        .map_err(|e| e.to_string())?;
    Ok(grads)
}

#[test]
fn finiteness_of_a_deferred_gradient_is_exact() {
    // Finite factors whose bound (2 batch max|G| max|X|) overflows but whose product does
    // not: X has one huge element, so dW is at most 1e8 * 1e30 = 1e38.
    let mut x = values(8 * 300, 11);
    x[5] = 1e30;
    let grads = layer_grads(x.clone(), 1e8, false).unwrap();
    assert_eq!(
        grads.deferred_products(),
        usize::from(kernels::avx2_available())
    );
    assert!(grads.params_finite());
    // The same factors with a product past f32::MAX.
    assert!(!layer_grads(x, 1e9, false).unwrap().params_finite());
    // A NaN in the input.
    let mut x = values(8 * 300, 12);
    x[17] = f32::NAN;
    assert!(!layer_grads(x, 1.0, false).unwrap().params_finite());
}

#[test]
fn anomaly_mode_does_not_defer() {
    // Finite values, but dW = Gᵀ X overflows: anomaly mode must catch it as the layer runs
    // backward, which it could not if the product were deferred.
    let mut x = values(8 * 300, 13);
    x[0] = 1e30;
    let e = layer_grads(x, 1e20, true).err().expect("an anomaly");
    assert!(e.contains("gradient"), "{e}");
}

#[test]
fn gradients_stay_send_and_sync_with_deferred_products() {
    // A compile-time check: a deferred product computes itself on first read through a
    // `OnceLock`, which keeps `&Gradients` shareable across threads.
    fn shareable<T: Send + Sync>() {}
    shareable::<Gradients>();
}
