//! Optimizers: first steps against hand-computed values, and a least-squares problem all solve.

use autograd::{Adam, Optimizer, ParamStore, RmsProp, Sgd, Tape, Tensor};

/// One step on `loss = Σ p * c` (gradient = c) from `p0`.
fn one_step(opt: &mut dyn Optimizer, p0: &[f32], c: &[f32], steps: usize) -> Vec<f32> {
    let mut store = ParamStore::new();
    let id = store.add("p", Tensor::from_vec(p0.to_vec(), &[p0.len()]));
    let tape = Tape::new();
    for _ in 0..steps {
        let p = tape.param(&store, id);
        let k = tape.constant(Tensor::from_vec(c.to_vec(), &[c.len()]));
        let g = tape.backward((p * k).sum());
        tape.clear();
        opt.step(&mut store, &g);
    }
    store.get(id).data.clone()
}

fn close(a: &[f32], b: &[f32]) {
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
    }
}

#[test]
fn sgd_by_hand() {
    // p = 1 - 0.1 * 2 = 0.8
    close(
        &one_step(&mut Sgd::new(0.1, 0.0), &[1.0], &[2.0], 1),
        &[0.8],
    );
    // Momentum 0.9: b1 = 2, p1 = 0.8; b2 = 0.9*2 + 2 = 3.8, p2 = 0.8 - 0.38 = 0.42
    close(
        &one_step(&mut Sgd::new(0.1, 0.9), &[1.0], &[2.0], 2),
        &[0.42],
    );
}

#[test]
fn rmsprop_by_hand() {
    // v = 0.1 * 4 = 0.4; p = 1 - 0.01 * 2 / sqrt(0.4 + 1e-7)
    let want = 1.0 - 0.01 * 2.0 / (0.4f32 + 1e-7).sqrt();
    close(
        &one_step(&mut RmsProp::new(0.01), &[1.0], &[2.0], 1),
        &[want],
    );
    // Second step: v = 0.9*0.4 + 0.1*4 = 0.76
    let want2 = want - 0.01 * 2.0 / (0.76f32 + 1e-7).sqrt();
    close(
        &one_step(&mut RmsProp::new(0.01), &[1.0], &[2.0], 2),
        &[want2],
    );
}

#[test]
fn adam_by_hand() {
    // First Adam step moves every coordinate by lr * sign(g) (up to eps).
    let p = one_step(&mut Adam::new(0.1), &[1.0, 1.0], &[2.0, -3.0], 1);
    close(&p, &[0.9, 1.1]);
    // Second step with a constant gradient: m̂ = g, v̂ = g², so again lr * sign(g).
    let p = one_step(&mut Adam::new(0.1), &[1.0, 1.0], &[2.0, -3.0], 2);
    close(&p, &[0.8, 1.2]);
}

/// Least squares: find w minimising mean (X w - y)², y = X w* exactly.
fn least_squares(opt: &mut dyn Optimizer, steps: usize) -> f32 {
    let x = Tensor::randn(&[64, 3], 0.0, 1.0, 1);
    let w_true = [1.5f32, -2.0, 0.5];
    let y: Vec<f32> = x
        .data
        .chunks(3)
        .map(|r| r.iter().zip(&w_true).map(|(a, b)| a * b).sum())
        .collect();
    let y = Tensor::from_vec(y, &[64, 1]);
    let mut store = ParamStore::new();
    let w = store.add("w", Tensor::zeros(&[3, 1]));
    let tape = Tape::new();
    let mut grads = autograd::Gradients::new();
    for _ in 0..steps {
        let xv = tape.constant(x.clone());
        let yv = tape.constant(y.clone());
        let loss = (xv.matmul(tape.param(&store, w)) - yv).square().mean();
        tape.backward_into(loss, &mut grads);
        tape.clear();
        opt.step(&mut store, &grads);
    }
    let got = &store.get(w).data;
    got.iter()
        .zip(&w_true)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

#[test]
fn all_optimizers_solve_least_squares() {
    assert!(least_squares(&mut Sgd::new(0.1, 0.9), 300) < 1e-3);
    assert!(least_squares(&mut RmsProp::with(0.01, 0.9, 1e-7), 2000) < 2e-2);
    assert!(least_squares(&mut Adam::new(0.05), 1000) < 1e-2);
}

#[test]
fn state_round_trips() {
    let mut a = Adam::new(0.1);
    let mut store = ParamStore::new();
    store.add("p", Tensor::ones(&[2]));
    let _ = one_step(&mut a, &[1.0, 1.0], &[2.0, -3.0], 1);
    let mut opt = Adam::new(0.1);
    let tape = Tape::new();
    let p = tape.param_named(&store, "p");
    let g = tape.backward(p.sum());
    tape.clear();
    opt.step(&mut store, &g);
    let state = opt.state(&store);
    let mut fresh = Adam::new(0.1);
    fresh.load_state(&store, opt.steps(), &state).unwrap();
    assert_eq!(fresh.state(&store), state);
    assert!(fresh.load_state(&store, 1, &state[..1]).is_err());
}

/// Every parameter of a store is updated exactly as if it were alone, whether its update is
/// split over threads (200,000 elements) or not, on hot workers; a parameter that did not
/// reach the loss is left as it was.
#[test]
fn every_parameter_is_updated_as_if_alone() {
    let sizes = |count: usize| -> Vec<usize> {
        (0..count)
            .map(|i| {
                if i % 7 == 1 {
                    200_000
                } else {
                    1 + (i * 37) % 50
                }
            })
            .collect()
    };
    let values = |n: usize, seed: usize| -> Vec<f32> {
        (0..n)
            .map(|j| ((j * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    };
    let used = |i: usize| i % 5 != 4;
    let optimizers: [fn() -> Box<dyn Optimizer>; 4] = [
        || Box::new(Sgd::new(0.1, 0.0)),
        || Box::new(Sgd::new(0.1, 0.9)),
        || Box::new(RmsProp::new(0.01)),
        || Box::new(Adam::new(0.1)),
    ];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for count in [9, 70] {
        let sizes = sizes(count);
        for (o, make) in optimizers.iter().enumerate() {
            // The store holds `Rc`s: it lives on the pool's thread.
            let updated = pool.install(|| {
                let mut store = ParamStore::new();
                let ids: Vec<_> = (sizes.iter().enumerate())
                    .map(|(i, &n)| {
                        store.add(&format!("p{i}"), Tensor::from_vec(values(n, i), &[n]))
                    })
                    .collect();
                let mut opt = make();
                let tape = Tape::new();
                for _ in 0..2 {
                    let mut loss = None;
                    for (i, &id) in ids.iter().enumerate().filter(|&(i, _)| used(i)) {
                        let c =
                            tape.constant(Tensor::from_vec(values(sizes[i], i + 100), &[sizes[i]]));
                        let term = (tape.param(&store, id) * c).sum();
                        loss = Some(match loss {
                            None => term,
                            Some(l) => l + term,
                        });
                    }
                    let g = tape.backward(loss.unwrap());
                    tape.clear();
                    autograd::kernels::with_hot_workers(|| opt.step(&mut store, &g));
                }
                let values: Vec<Vec<f32>> =
                    ids.iter().map(|&id| store.get(id).data.clone()).collect();
                values
            });
            for (i, got) in updated.iter().enumerate() {
                let want = if used(i) {
                    one_step(
                        &mut *make(),
                        &values(sizes[i], i),
                        &values(sizes[i], i + 100),
                        2,
                    )
                } else {
                    values(sizes[i], i)
                };
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{count} parameters, optimizer {o}, parameter {i}"
                );
            }
        }
    }
}
