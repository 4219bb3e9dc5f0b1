//! `softmax_cross_entropy`: its gradients against central finite differences, its value against
//! the plain formula, and its limits at extreme logits.

use autograd::check::check_gradients;
use autograd::{Tape, Tensor};

#[test]
fn softmax_cross_entropy_gradients() {
    // Soft targets (rows not summing to 1 as well), both inputs differentiated, rank 2 and 3.
    for (dims, seed) in [(vec![4usize, 5], 1u64), (vec![2, 3, 4], 2)] {
        let x = Tensor::rand_uniform(&dims, -2.0, 2.0, seed);
        let t = Tensor::rand_uniform(&dims, 0.0, 1.0, seed + 10);
        let rows = dims[..dims.len() - 1].to_vec();
        let w = Tensor::rand_uniform(&rows, -1.0, 1.0, 99);
        let report = check_gradients(
            |tape, v| (v[0].softmax_cross_entropy(v[1]) * tape.constant(w.clone())).sum(),
            &[x, t],
            1e-2,
        );
        assert!(report.passes(2e-2), "{dims:?}: {report}");
    }
}

#[test]
fn softmax_cross_entropy_is_the_plain_formula() {
    let tape = Tape::new();
    let xs = [0.5f32, -1.0, 2.0, 0.0, 3.0, 1.0];
    let ts = [0.0f32, 0.0, 1.0, 0.2, 0.3, 0.5];
    let x = tape.var(Tensor::from_vec(xs.to_vec(), &[2, 3]));
    let t = tape.constant(Tensor::from_vec(ts.to_vec(), &[2, 3]));
    let y = x.softmax_cross_entropy(t).value().data;
    for r in 0..2 {
        let row = &xs[r * 3..r * 3 + 3];
        let z: f64 = row.iter().map(|&v| (v as f64).exp()).sum();
        let want: f64 = (0..3)
            .map(|j| -(ts[r * 3 + j] as f64) * ((row[j] as f64).exp() / z).ln())
            .sum();
        assert!(
            (y[r] as f64 - want).abs() < 1e-5,
            "row {r}: {} vs {want}",
            y[r]
        );
    }
}

#[test]
fn softmax_cross_entropy_limits() {
    let tape = Tape::new();
    // Logits far beyond exp's range: a confident right answer costs 0, a confident wrong one
    // costs the logit gap; the gradient is softmax - t, exactly 0 or ±1 here.
    let x = tape.var(Tensor::from_vec(
        vec![1000.0, -1000.0, 0.0, 1e30, 0.0, -1e30],
        &[2, 3],
    ));
    let t = tape.constant(Tensor::from_vec(
        vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0],
        &[2, 3],
    ));
    let y = x.softmax_cross_entropy(t);
    let g = tape.backward(y.sum());
    assert_eq!(y.value().data, vec![0.0, 1e30]);
    assert_eq!(g.wrt(x).data, vec![0.0, 0.0, 0.0, 1.0, -1.0, 0.0]);
}
