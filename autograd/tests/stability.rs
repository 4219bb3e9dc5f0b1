//! Numerically delicate ops at extreme inputs: finite values and gradients equal to the limits.

use autograd::{Tape, Tensor};

/// Value and gradient of `f` at each point in `xs`.
fn eval(
    xs: &[f32],
    f: impl for<'t> Fn(autograd::Var<'t>) -> autograd::Var<'t>,
) -> (Vec<f32>, Vec<f32>) {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_vec(xs.to_vec(), &[xs.len()]));
    let y = f(x);
    let g = tape.backward(y.sum());
    (y.value().data, g.wrt(x).data)
}

const XS: [f32; 6] = [-1e30, -1000.0, -100.0, 100.0, 1000.0, 1e30];

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}[{i}] = {g} is not finite");
        let tol = 1e-6 * w.abs().max(1.0);
        assert!((g - w).abs() <= tol, "{what}[{i}]: got {g}, want {w}");
    }
}

#[test]
fn sigmoid_limits() {
    let (y, g) = eval(&XS, |x| x.sigmoid());
    assert_close(&y, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], "sigmoid");
    assert_close(&g, &[0.0; 6], "sigmoid'");
}

#[test]
fn softplus_limits() {
    let (y, g) = eval(&XS, |x| x.softplus());
    assert_close(&y, &[0.0, 0.0, 0.0, 100.0, 1000.0, 1e30], "softplus");
    assert_close(&g, &[0.0, 0.0, 0.0, 1.0, 1.0, 1.0], "softplus'");
}

#[test]
fn log_sigmoid_limits() {
    let (y, g) = eval(&XS, |x| x.log_sigmoid());
    assert_close(&y, &[-1e30, -1000.0, -100.0, 0.0, 0.0, 0.0], "log_sigmoid");
    assert_close(&g, &[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "log_sigmoid'");
}

#[test]
fn bce_with_logits_limits() {
    for t in [0.0f32, 1.0, 0.25] {
        let tape = Tape::new();
        let x = tape.var(Tensor::from_vec(XS.to_vec(), &[6]));
        let tt = tape.constant(Tensor::full(&[6], t));
        let y = x.bce_with_logits(tt);
        let g = tape.backward(y.sum());
        // Limits: for x -> -inf, loss ~ -x t, grad -> -t; for x -> +inf, loss ~ x (1 - t),
        // grad -> 1 - t.
        let want: Vec<f32> = XS
            .iter()
            .map(|&x| if x < 0.0 { -x * t } else { x * (1.0 - t) })
            .collect();
        assert_close(&y.value().data, &want, &format!("bce(t={t})"));
        let want_g: Vec<f32> = XS
            .iter()
            .map(|&x| if x < 0.0 { -t } else { 1.0 - t })
            .collect();
        assert_close(&g.wrt(x).data, &want_g, &format!("bce'(t={t})"));
        // The fused row sum: the sum of the same limits, the same gradient.
        let s = x.bce_with_logits_rowsum(tt);
        let gs = tape.backward(s);
        let total: f32 = want.iter().sum();
        assert_close(&s.value().data, &[total], &format!("bce rowsum(t={t})"));
        assert_close(&gs.wrt(x).data, &want_g, &format!("bce rowsum'(t={t})"));
    }
}

#[test]
fn logsumexp_limits() {
    let tape = Tape::new();
    let x = tape.var(Tensor::from_vec(
        vec![1000.0, 1000.0, -1000.0, 100.0, 0.0, -100.0],
        &[2, 3],
    ));
    let y = x.logsumexp_axis(1, false);
    let g = tape.backward(y.sum());
    let v = y.value().data;
    assert_close(&v, &[1000.0 + 2f32.ln(), 100.0], "logsumexp");
    assert_close(
        &g.wrt(x).data,
        &[0.5, 0.5, 0.0, 1.0, 0.0, 0.0],
        "logsumexp'",
    );
}

#[test]
fn tiny_inputs_stay_finite() {
    // 1e-30 is near the bottom of f32's normal range: log and sqrt must still be finite.
    let (y, g) = eval(&[1e-30, 1e-20], |x| x.log());
    assert!(
        y.iter().chain(&g).all(|v| v.is_finite()),
        "log: {y:?} {g:?}"
    );
    let (y, _) = eval(&[1e-30, 1e-20], |x| x.sqrt());
    assert!(y.iter().all(|v| v.is_finite() && *v > 0.0));
}
