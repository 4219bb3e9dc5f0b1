//! The importance-weighted objective (`vae::iwae::iwae_loss`) against the k-sample formula
//! written out independently in f64 with plain loops: its value, and every parameter's gradient
//! against central differences of that formula.

use autograd::{Init, Tape};
use vae::iwae::iwae_loss;
use vae::model::{Activation, Vae, VaeConfig};

const IN: usize = 5;
const HID: usize = 4;
const LAT: usize = 2;
const B: usize = 2;

fn tiny() -> Vae {
    let config = VaeConfig {
        input_dim: IN,
        hidden: vec![HID],
        latent: LAT,
        activation: Activation::Tanh,
        init: Init::GlorotUniform,
    };
    let mut model = Vae::new(config, 7);
    let ids: Vec<_> = model
        .params
        .iter()
        .map(|(id, n, _)| (id, n.to_string()))
        .collect();
    for (k, (id, name)) in ids.iter().enumerate() {
        if name.ends_with(".bias") {
            for (j, b) in model.params.get_mut(*id).data.iter_mut().enumerate() {
                *b = 0.1 * ((k * 5 + j * 3) % 7) as f32 - 0.3;
            }
        }
    }
    model
}

/// Binary targets (as the iwae preset trains on), both values in every image.
fn images() -> Vec<f32> {
    vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0]
}

/// Standard-normal-looking draws, `k * B * LAT` of them, sample-major.
fn noise(k: usize) -> Vec<f32> {
    (0..k * B * LAT)
        .map(|i| (i as f32 * 1.7 + 0.3).sin() * 1.6)
        .collect()
}

/// A parameter as f64, by name.
fn param(model: &Vae, name: &str) -> Vec<f64> {
    let t = model.params.get(model.params.id(name).unwrap());
    t.data.iter().map(|&v| v as f64).collect()
}

/// `W x + b` for one row.
fn dense(model: &Vae, layer: &str, x: &[f64]) -> Vec<f64> {
    let w = param(model, &format!("{layer}.weight"));
    let b = param(model, &format!("{layer}.bias"));
    let inp = x.len();
    (0..b.len())
        .map(|o| (0..inp).map(|i| w[o * inp + i] * x[i]).sum::<f64>() + b[o])
        .collect()
}

/// `-mean_j L_k(x_j)`, with `L_k = log (1/k) Σ_s p(x|z_s) p(z_s) / q(z_s|x)`, by loops in f64.
fn reference(model: &Vae, x: &[f32], eps: &[f32], k: usize) -> f64 {
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let mut total = 0.0;
    for j in 0..B {
        let xj: Vec<f64> = x[j * IN..(j + 1) * IN].iter().map(|&v| v as f64).collect();
        let h: Vec<f64> = dense(model, "encoder.0", &xj)
            .into_iter()
            .map(f64::tanh)
            .collect();
        let (mu, lv) = (
            dense(model, "encoder.mu", &h),
            dense(model, "encoder.logvar", &h),
        );
        let mut log_w = Vec::new();
        for s in 0..k {
            let e = &eps[(s * B + j) * LAT..(s * B + j + 1) * LAT];
            let z: Vec<f64> = (0..LAT)
                .map(|d| mu[d] + (0.5 * lv[d]).exp() * e[d] as f64)
                .collect();
            let hd: Vec<f64> = dense(model, "decoder.0", &z)
                .into_iter()
                .map(f64::tanh)
                .collect();
            let logits = dense(model, "decoder.out", &hd);
            let log_px: f64 = (0..IN)
                .map(|p| {
                    let q = 1.0 / (1.0 + (-logits[p]).exp());
                    xj[p] * q.ln() + (1.0 - xj[p]) * (1.0 - q).ln()
                })
                .sum();
            let log_pz: f64 = z.iter().map(|z| -0.5 * (ln2pi + z * z)).sum();
            let log_qz: f64 = (0..LAT)
                .map(|d| -0.5 * (ln2pi + lv[d] + (e[d] as f64).powi(2)))
                .sum();
            log_w.push(log_px + log_pz - log_qz);
        }
        let m = log_w.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + log_w.iter().map(|w| (w - m).exp()).sum::<f64>().ln();
        total -= lse - (k as f64).ln();
    }
    total / B as f64
}

/// The engine's loss and its gradient with respect to every parameter, in store order.
fn engine(model: &Vae, x: &[f32], eps: &[f32], k: usize) -> (f64, Vec<Vec<f32>>) {
    let tape = Tape::new();
    let xv = tape.constant_from(x, &[B, IN]);
    let tiled: Vec<f32> = (0..k).flat_map(|_| x.iter().copied()).collect();
    let targets = tape.constant_from(&tiled, &[k * B, IN]);
    let ev = tape.constant_from(eps, &[k * B, LAT]);
    let l = iwae_loss(model, &tape, xv, targets, ev, k);
    let value = l.total.item() as f64;
    let grads = tape.backward(l.total);
    let g = model
        .params
        .iter()
        .map(|(id, _, _)| grads.param(id).expect("a gradient").data.clone())
        .collect();
    (value, g)
}

#[test]
fn the_bound_is_the_k_sample_formula() {
    let model = tiny();
    let x = images();
    for k in [1, 3, 8] {
        let eps = noise(k);
        let want = reference(&model, &x, &eps, k);
        let (got, _) = engine(&model, &x, &eps, k);
        assert!(
            (got - want).abs() <= 2e-5 * want.abs(),
            "k = {k}: engine {got}, formula {want}"
        );
    }
    // The k-sample bound is tighter than the mean of its k one-sample bounds (Jensen): checked
    // on the formula itself, so the example is not degenerate.
    let eps = noise(8);
    let one_sample: f64 = (0..8)
        .map(|s| reference(&model, &x, &eps[s * B * LAT..(s + 1) * B * LAT], 1))
        .sum::<f64>()
        / 8.0;
    assert!(reference(&model, &x, &eps, 8) < one_sample);
}

#[test]
fn every_gradient_matches_central_differences_of_the_formula() {
    let x = images();
    for k in [1, 4] {
        let eps = noise(k);
        let mut model = tiny();
        let (_, grads) = engine(&model, &x, &eps, k);
        let ids: Vec<_> = model
            .params
            .iter()
            .map(|(id, n, _)| (id, n.to_string()))
            .collect();
        let h = 1e-3f32;
        let mut checked = 0;
        for ((id, name), g) in ids.iter().zip(&grads) {
            for (i, &gi) in g.iter().enumerate() {
                let p0 = model.params.get(*id).data[i];
                model.params.get_mut(*id).data[i] = p0 + h;
                let up = reference(&model, &x, &eps, k);
                model.params.get_mut(*id).data[i] = p0 - h;
                let down = reference(&model, &x, &eps, k);
                model.params.get_mut(*id).data[i] = p0;
                // The step actually taken in f32.
                let step = ((p0 + h) as f64) - ((p0 - h) as f64);
                let fd = (up - down) / step;
                let err = (gi as f64 - fd).abs();
                assert!(
                    err <= 2e-3 * fd.abs().max(1e-2),
                    "k = {k}, {name}[{i}]: engine {gi}, central difference {fd}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, model.params.numel());
    }
}
