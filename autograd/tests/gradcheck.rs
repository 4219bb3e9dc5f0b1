//! Every op's backward against central finite differences, on random shapes, with inputs in the
//! op's safe domain, including every broadcasting case.

use autograd::check::check_gradients;
use autograd::ops::UnaryOp;
use autograd::{Tape, Tensor, Var};

const TOL: f32 = 2e-2;
const EPS: f32 = 1e-2;

/// Random values in `[lo, hi)` from a seed.
fn rand(dims: &[usize], lo: f32, hi: f32, seed: u64) -> Tensor {
    Tensor::rand_uniform(dims, lo, hi, seed)
}

/// A fixed random weighting, so a check sees every output element with a different weight
/// (a plain sum would hide errors that cancel).
fn weighted<'t>(tape: &'t Tape, y: Var<'t>) -> Var<'t> {
    let w = tape.constant(rand(&y.dims(), -1.0, 1.0, 99));
    (y * w).sum()
}

fn check(name: &str, inputs: &[Tensor], f: impl for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t>) {
    let report = check_gradients(|tape, v| weighted(tape, f(tape, v)), inputs, EPS);
    assert!(report.passes(TOL), "{name}: {report}");
}

#[test]
fn unary_ops() {
    for (k, op) in UnaryOp::ALL.iter().copied().enumerate() {
        // Safe domains: log and sqrt away from 0; abs and relu away from the kink.
        let (lo, hi) = match op {
            UnaryOp::Log | UnaryOp::Sqrt => (0.5, 2.0),
            UnaryOp::Abs | UnaryOp::Relu => (0.2, 1.5),
            _ => (-2.0, 2.0),
        };
        let mut x = rand(&[3, 4], lo, hi, k as u64);
        if matches!(op, UnaryOp::Abs | UnaryOp::Relu) {
            // Both sides of the kink, never near it.
            for (i, v) in x.data.iter_mut().enumerate() {
                if i % 2 == 0 {
                    *v = -*v;
                }
            }
        }
        check(op.name(), &[x], |_, v| v[0].unary(op));
    }
}

#[test]
fn scalar_ops() {
    let x = rand(&[2, 5], 0.5, 2.0, 1);
    check("add_scalar", std::slice::from_ref(&x), |_, v| v[0] + 3.0);
    check("sub_scalar", std::slice::from_ref(&x), |_, v| v[0] - 3.0);
    check("rsub_scalar", std::slice::from_ref(&x), |_, v| 3.0 - v[0]);
    check("mul_scalar", std::slice::from_ref(&x), |_, v| v[0] * -1.5);
    check("lmul_scalar", std::slice::from_ref(&x), |_, v| 2.5 * v[0]);
    check("div_scalar", std::slice::from_ref(&x), |_, v| v[0] / 4.0);
    check("rdiv_scalar", std::slice::from_ref(&x), |_, v| 2.0 / v[0]);
    check("powf", std::slice::from_ref(&x), |_, v| v[0].powf(1.7));
    check("neg", std::slice::from_ref(&x), |_, v| -v[0]);
}

/// Every broadcasting case: same shape, scalar on either side, row, column, both sides.
fn broadcast_pairs() -> Vec<(Vec<usize>, Vec<usize>)> {
    vec![
        (vec![3, 4], vec![3, 4]),
        (vec![3, 4], vec![]),
        (vec![], vec![3, 4]),
        (vec![3, 4], vec![4]),
        (vec![3, 4], vec![1, 4]),
        (vec![4], vec![3, 4]),
        (vec![3, 4], vec![3, 1]),
        (vec![3, 1], vec![3, 4]),
        (vec![3, 1], vec![1, 4]),
        (vec![2, 3, 1], vec![3, 4]),
    ]
}

#[test]
fn binary_ops_with_broadcasting() {
    for (i, (sa, sb)) in broadcast_pairs().into_iter().enumerate() {
        let a = rand(&sa, 0.5, 2.0, 10 + i as u64);
        let b = rand(&sb, 0.5, 2.0, 20 + i as u64);
        let inputs = [a, b];
        let tag = format!("{sa:?} op {sb:?}");
        check(&format!("add {tag}"), &inputs, |_, v| v[0] + v[1]);
        check(&format!("sub {tag}"), &inputs, |_, v| v[0] - v[1]);
        check(&format!("mul {tag}"), &inputs, |_, v| v[0] * v[1]);
        check(&format!("div {tag}"), &inputs, |_, v| v[0] / v[1]);
    }
}

#[test]
fn reductions() {
    let x = rand(&[3, 4, 5], -1.0, 1.0, 3);
    let one = std::slice::from_ref(&x);
    check("sum", one, |_, v| v[0].sum() * v[0].sum());
    check("mean", one, |_, v| v[0].mean() * v[0].mean());
    for axis in 0..3 {
        for keep in [false, true] {
            check("sum_axis", one, |_, v| v[0].sum_axis(axis, keep));
            check("mean_axis", one, |_, v| v[0].mean_axis(axis, keep));
            check("max_axis", one, |_, v| v[0].max_axis(axis, keep));
            check("logsumexp_axis", one, |_, v| {
                v[0].logsumexp_axis(axis, keep)
            });
        }
    }
}

#[test]
fn matmul_and_linear() {
    let a = rand(&[3, 4], -1.0, 1.0, 4);
    let b = rand(&[4, 5], -1.0, 1.0, 5);
    check("matmul", &[a.clone(), b.clone()], |_, v| v[0].matmul(v[1]));
    let at = rand(&[4, 3], -1.0, 1.0, 6);
    let bt = rand(&[5, 4], -1.0, 1.0, 7);
    check("matmul Aᵀ", &[at.clone(), b.clone()], |_, v| {
        v[0].matmul_t(v[1], true, false)
    });
    check("matmul Bᵀ", &[a.clone(), bt.clone()], |_, v| {
        v[0].matmul_t(v[1], false, true)
    });
    check("matmul AᵀBᵀ", &[at, bt.clone()], |_, v| {
        v[0].matmul_t(v[1], true, true)
    });
    check("transpose", std::slice::from_ref(&a), |_, v| {
        v[0].transpose()
    });
    let bias = rand(&[5], -1.0, 1.0, 8);
    check("linear", &[a, bt, bias], |_, v| v[0].linear(v[1], v[2]));
}

#[test]
fn shape_ops() {
    let x = rand(&[3, 4], -1.0, 1.0, 9);
    let one = std::slice::from_ref(&x);
    check("reshape", one, |_, v| v[0].reshape(&[2, 6]));
    check("broadcast_to", &[rand(&[1, 4], -1.0, 1.0, 1)], |_, v| {
        v[0].broadcast_to(&[3, 4])
    });
    check(
        "broadcast_to col",
        &[rand(&[3, 1], -1.0, 1.0, 2)],
        |_, v| v[0].broadcast_to(&[2, 3, 5]),
    );
    check("narrow 0", one, |_, v| v[0].narrow(0, 1, 2));
    check("narrow 1", one, |_, v| v[0].narrow(1, 1, 3));
    let y = rand(&[3, 2], -1.0, 1.0, 10);
    check("concat 1", &[x.clone(), y], |_, v| {
        Var::concat(&[v[0], v[1]], 1)
    });
    let z = rand(&[1, 4], -1.0, 1.0, 11);
    check("concat 0", &[x, z], |_, v| {
        Var::concat(&[v[0], v[1], v[0]], 0)
    });
}

#[test]
fn bce_with_logits() {
    let x = rand(&[4, 6], -4.0, 4.0, 12);
    let t = rand(&[4, 6], 0.0, 1.0, 13);
    check("bce_with_logits", &[x, t], |_, v| {
        v[0].bce_with_logits(v[1])
    });
}

#[test]
fn bce_with_logits_rowsum() {
    // Rows longer than the kernel's 16 partial sums, plus a tail; rank 2 and 3.
    let x = rand(&[3, 37], -4.0, 4.0, 18);
    let t = rand(&[3, 37], 0.0, 1.0, 19);
    check("bce_with_logits_rowsum", &[x, t], |_, v| {
        v[0].bce_with_logits_rowsum(v[1])
    });
    let x = rand(&[2, 2, 5], -4.0, 4.0, 20);
    let t = rand(&[2, 2, 5], 0.0, 1.0, 21);
    check("bce_with_logits_rowsum rank 3", &[x, t], |_, v| {
        v[0].bce_with_logits_rowsum(v[1])
    });
}

#[test]
fn bce_with_logits_rowsum_equals_the_unfused_graph() {
    let tape = Tape::new();
    for (rows, d) in [(1, 1), (4, 15), (5, 16), (3, 17), (32, 784), (2, 1000)] {
        let x = tape.var(rand(&[rows, d], -30.0, 30.0, (rows * d) as u64));
        let t = tape.var(rand(&[rows, d], 0.0, 1.0, 7));
        let g = tape.constant(rand(&[rows], -1.0, 1.0, 8));
        let fused = x.bce_with_logits_rowsum(t);
        let plain = x.bce_with_logits(t).sum_axis(1, false);
        let (fv, pv) = (fused.value().data, plain.value().data);
        for (a, b) in fv.iter().zip(&pv) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{rows}x{d}: {a} vs {b}"
            );
        }
        let gf = tape.backward((fused * g).sum());
        let gp = tape.backward((plain * g).sum());
        for v in [x, t] {
            let (a, b) = (gf.wrt(v).data, gp.wrt(v).data);
            for (a, b) in a.iter().zip(&b) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                    "{rows}x{d}: {a} vs {b}"
                );
            }
        }
        tape.clear();
    }
}

#[test]
fn composite_vae_like_loss() {
    // A tiny VAE-shaped loss: linear, relu, reparameterisation, bce + KL.
    let x = rand(&[2, 5], 0.0, 1.0, 14);
    let w1 = rand(&[3, 5], -0.5, 0.5, 15);
    let b1 = rand(&[3], -0.1, 0.1, 16);
    let eps = rand(&[2, 3], -1.0, 1.0, 17);
    let report = check_gradients(
        |tape, v| {
            let x = tape.constant(Tensor::rand_uniform(&[2, 5], 0.0, 1.0, 14));
            let h = x.linear(v[0], v[1]);
            let logvar = h.tanh();
            let z = h + (logvar * 0.5).exp() * v[2];
            let logits = z.matmul(v[0]);
            let rec = logits.bce_with_logits(x).sum_axis(1, false);
            let kl = ((h.square() + logvar.exp() - logvar - 1.0) * 0.5).sum_axis(1, false);
            (rec + kl).mean()
        },
        &[w1, b1, eps],
        EPS,
    );
    let _ = x;
    assert!(report.passes(TOL), "{report}");
}
