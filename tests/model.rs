//! The VAE model: its loss against an independent f64 computation, its gradient against finite
//! differences, training on real MNIST, and bit-exact resumption from a checkpoint.

use autograd::check::check_gradients;
use autograd::{Init, Tape, Tensor, Var};
use std::path::Path;
use std::sync::LazyLock;
use vae::checkpoint;
use vae::data::{Binarize, ImageSet, Mnist, load_dir};
use vae::eval::evaluate;
use vae::model::{Activation, Vae, VaeConfig, loss};
use vae::train::{LrSchedule, Objective, OptimizerKind, TrainConfig, Trainer};

// ------------------------------------------------------------------ a tiny model, by hand

const IN: usize = 6;
const HID: usize = 4;
const LAT: usize = 2;
const BATCH: usize = 3;

fn tiny(activation: Activation) -> Vae {
    let config = VaeConfig {
        input_dim: IN,
        hidden: vec![HID],
        latent: LAT,
        activation,
        init: Init::GlorotUniform,
    };
    let mut model = Vae::new(config, 42);
    // Biases start at zero; give them values so the reference checks them too.
    let ids: Vec<_> = model
        .params
        .iter()
        .map(|(id, n, _)| (id, n.to_string()))
        .collect();
    for (k, (id, name)) in ids.iter().enumerate() {
        if name.ends_with(".bias") {
            for (j, b) in model.params.get_mut(*id).data.iter_mut().enumerate() {
                *b = 0.1 * ((k * 7 + j * 3) % 5) as f32 - 0.2;
            }
        }
    }
    model
}

/// Grey-level targets in [0, 1], including both ends.
fn tiny_x() -> Vec<f32> {
    (0..BATCH * IN)
        .map(|i| [0.0, 1.0, 0.25, 0.5, 0.9, 0.05][(i * 5 + i / IN) % 6])
        .collect()
}

fn tiny_eps() -> Vec<f32> {
    vec![0.3, -1.2, 0.8, 0.1, -0.5, 1.7]
}

/// A parameter as f64, by name.
fn p64(model: &Vae, name: &str) -> (Vec<f64>, Vec<usize>) {
    let id = model.params.id(name).unwrap_or_else(|| panic!("no {name}"));
    let t = model.params.get(id);
    (
        t.data.iter().map(|&v| v as f64).collect(),
        t.dims().to_vec(),
    )
}

/// `y[b][o] = Σ_i x[b][i] W[o][i] + bias[o]`, by loops.
fn linear64(model: &Vae, layer: &str, x: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let (w, dims) = p64(model, &format!("{layer}.weight"));
    let (b, _) = p64(model, &format!("{layer}.bias"));
    let (out, inp) = (dims[0], dims[1]);
    x.iter()
        .map(|row| {
            assert_eq!(row.len(), inp);
            (0..out)
                .map(|o| (0..inp).map(|i| row[i] * w[o * inp + i]).sum::<f64>() + b[o])
                .collect()
        })
        .collect()
}

fn act64(a: Activation, x: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    x.into_iter()
        .map(|r| {
            r.into_iter()
                .map(|v| match a {
                    Activation::Relu => v.max(0.0),
                    Activation::Tanh => v.tanh(),
                })
                .collect()
        })
        .collect()
}

/// `(total, recon, kl)` computed in f64 with plain loops.
fn reference_loss(model: &Vae, x: &[f32], eps: &[f32], beta: f64) -> (f64, f64, f64) {
    let act = model.config.activation;
    let xs: Vec<Vec<f64>> = x
        .chunks(IN)
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    let h = act64(act, linear64(model, "encoder.0", &xs));
    let mu = linear64(model, "encoder.mu", &h);
    let lv = linear64(model, "encoder.logvar", &h);
    let z: Vec<Vec<f64>> = (0..BATCH)
        .map(|b| {
            (0..LAT)
                .map(|j| mu[b][j] + (0.5 * lv[b][j]).exp() * eps[b * LAT + j] as f64)
                .collect()
        })
        .collect();
    let hd = act64(act, linear64(model, "decoder.0", &z));
    let logits = linear64(model, "decoder.out", &hd);
    let (mut recon, mut kl) = (0.0, 0.0);
    for b in 0..BATCH {
        for p in 0..IN {
            // -[x log σ(a) + (1 - x) log(1 - σ(a))], written directly.
            let (a, t) = (logits[b][p], xs[b][p]);
            let s = 1.0 / (1.0 + (-a).exp());
            recon += -(t * s.ln() + (1.0 - t) * (1.0 - s).ln());
        }
        for j in 0..LAT {
            kl += 0.5 * (mu[b][j] * mu[b][j] + lv[b][j].exp() - lv[b][j] - 1.0);
        }
    }
    let n = BATCH as f64;
    ((recon + beta * kl) / n, recon / n, kl / n)
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn loss_matches_an_independent_f64_computation() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let model = tiny(activation);
        let (x, eps) = (tiny_x(), tiny_eps());
        for beta in [1.0f32, 0.3] {
            let tape = Tape::new();
            let xv = tape.constant_from(&x, &[BATCH, IN]);
            let ev = tape.constant_from(&eps, &[BATCH, LAT]);
            let l = loss(&model.forward(&tape, xv, ev), xv, beta);
            let (total, recon, kl) = reference_loss(&model, &x, &eps, beta as f64);
            let got = (
                l.total.item() as f64,
                l.recon.item() as f64,
                l.kl.item() as f64,
            );
            let ctx = format!("{activation:?} beta {beta}: got {got:?}, want {total} {recon} {kl}");
            assert!(close(got.0, total, 1e-5), "total, {ctx}");
            assert!(close(got.1, recon, 1e-5), "recon, {ctx}");
            assert!(close(got.2, kl, 1e-5), "kl, {ctx}");
            assert!(kl > 1e-3 && recon > 1.0, "degenerate example: {ctx}");
            assert_eq!(l.recon_per_image.dims(), vec![BATCH]);
            assert_eq!(l.kl_per_image.dims(), vec![BATCH]);
        }
    }
}

// ------------------------------------------------------------------ gradients

/// The model's forward and loss written over explicit leaves `p` (the model's parameters in
/// store order), so that `check_gradients` can perturb every one of them.
fn loss_over_leaves<'t>(
    tape: &'t Tape,
    p: &[Var<'t>],
    names: &[String],
    act: Activation,
    x: &[f32],
    eps: &[f32],
) -> Var<'t> {
    let get = |n: &str| p[names.iter().position(|m| m == n).unwrap()];
    let lin = |v: Var<'t>, layer: &str| {
        v.linear(
            get(&format!("{layer}.weight")),
            get(&format!("{layer}.bias")),
        )
    };
    let xv = tape.constant_from(x, &[BATCH, IN]);
    let ev = tape.constant_from(eps, &[BATCH, LAT]);
    let h = act.apply(lin(xv, "encoder.0"));
    let (mu, lv) = (lin(h, "encoder.mu"), lin(h, "encoder.logvar"));
    let z = mu + (lv * 0.5).exp() * ev;
    let logits = lin(act.apply(lin(z, "decoder.0")), "decoder.out");
    let recon = logits.bce_with_logits(xv).sum_axis(1, false);
    let kl = ((mu.square() + lv.exp() - lv - 1.0) * 0.5).sum_axis(1, false);
    (recon + kl).mean()
}

#[test]
fn gradient_of_every_parameter_passes_the_finite_difference_check() {
    for activation in [Activation::Relu, Activation::Tanh] {
        let model = tiny(activation);
        let (x, eps) = (tiny_x(), tiny_eps());
        let names: Vec<String> = model.params.iter().map(|(_, n, _)| n.to_string()).collect();
        let inputs: Vec<Tensor> = model.params.iter().map(|(_, _, t)| t.clone()).collect();
        assert_eq!(inputs.len(), 10, "{names:?}");

        // The model's own gradients, through the parameter store.
        let tape = Tape::new();
        let xv = tape.constant_from(&x, &[BATCH, IN]);
        let ev = tape.constant_from(&eps, &[BATCH, LAT]);
        let total = loss(&model.forward(&tape, xv, ev), xv, 1.0).total;
        let model_loss = total.item();
        let grads = tape.backward(total);

        // The same graph over explicit leaves: same value, same gradients...
        let leaves = Tape::new();
        let vars: Vec<Var> = inputs.iter().map(|t| leaves.var(t.clone())).collect();
        let l = loss_over_leaves(&leaves, &vars, &names, activation, &x, &eps);
        assert_eq!(l.item().to_bits(), model_loss.to_bits());
        let leaf_grads = leaves.backward(l);
        for ((id, name, _), v) in model.params.iter().zip(&vars) {
            let g = grads
                .param(id)
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            assert_eq!(g.data, leaf_grads.wrt(*v).data, "{name}");
        }

        // ...and those gradients agree with central differences, for every element.
        let report = check_gradients(
            |tape, p| loss_over_leaves(tape, p, &names, activation, &x, &eps),
            &inputs,
            1e-3,
        );
        eprintln!("{activation:?}: {report}");
        let numel: usize = inputs.iter().map(|t| t.numel()).sum();
        assert_eq!(report.checked, numel);
        assert!(
            report.passes(3e-3),
            "{activation:?}: {report} ({})",
            names[report.worst.0]
        );
    }
}

// ------------------------------------------------------------------ training on MNIST

static MNIST: LazyLock<Mnist> = LazyLock::new(|| {
    load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")).expect("MNIST loads")
});

fn mnist_config(hidden: usize) -> VaeConfig {
    VaeConfig {
        hidden: vec![hidden],
        ..VaeConfig::seed()
    }
}

fn recipe(epochs: usize, optimizer: OptimizerKind, binarize: Binarize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 32,
        optimizer,
        lr: 1e-3,
        schedule: LrSchedule::Constant,
        beta: 1.0,
        warmup_epochs: 0,
        binarize,
        seed: 17,
        objective: Objective::Elbo,
        ..TrainConfig::seed_recipe()
    }
}

#[test]
fn training_lowers_the_test_loss() {
    let train = MNIST.train.first(2000);
    let test = MNIST.test.first(1000);
    let model = Vae::new(mnist_config(128), 3);
    let before = evaluate(&model, &test, Binarize::None, 1.0, 0);
    let mut trainer = Trainer::new(model, recipe(3, OptimizerKind::RmsProp, Binarize::None));
    let mut train_losses = Vec::new();
    for epoch in 0..3 {
        let (l, _) = trainer
            .train_epoch(&train, epoch, &mut |_, _, _| {})
            .unwrap();
        train_losses.push(l.loss);
    }
    let after = evaluate(&trainer.model, &test, Binarize::None, 1.0, 0);
    eprintln!("test loss {before:?} -> {after:?}; train {train_losses:?}");
    // Untrained, the loss is about 784 ln 2 = 543 nats; a few epochs reach well under 250.
    assert!(before.loss > 450.0, "{before:?}");
    assert!(after.loss < 0.6 * before.loss, "{before:?} -> {after:?}");
    assert!(after.recon < before.recon && after.kl > 0.0, "{after:?}");
    assert!(train_losses[2] < train_losses[0], "{train_losses:?}");
}

fn bits(model: &Vae) -> Vec<(String, Vec<u32>)> {
    model
        .params
        .iter()
        .map(|(_, n, t)| (n.to_string(), t.data.iter().map(|x| x.to_bits()).collect()))
        .collect()
}

#[test]
fn resuming_from_a_checkpoint_is_bit_exact() {
    let train: ImageSet = MNIST.train.first(600);
    let dir = std::env::temp_dir().join(format!("vae-resume-{}", std::process::id()));
    for kind in [OptimizerKind::RmsProp, OptimizerKind::Adam] {
        let cfg = recipe(2, kind, Binarize::Dynamic);
        let fresh = || Vae::new(mnist_config(64), 5);
        let quiet = &mut |_: usize, _: usize, _: f64| {};

        let mut straight = Trainer::new(fresh(), cfg.clone());
        straight.train_epoch(&train, 0, quiet).unwrap();
        straight.train_epoch(&train, 1, quiet).unwrap();

        let mut first = Trainer::new(fresh(), cfg.clone());
        first.train_epoch(&train, 0, quiet).unwrap();
        let path = dir.join(format!("{}.safetensors", kind.name()));
        let extra = cfg.to_json();
        checkpoint::save(&path, &first.model, Some(&*first.opt), 1, cfg.seed, &extra).unwrap();
        drop(first);

        let ck = checkpoint::load(&path).unwrap();
        assert_eq!(ck.epoch, 1);
        let state = ck.optimizer.expect("optimizer state");
        assert_eq!(state.name, kind.name());
        let mut opt = OptimizerKind::parse(&state.name)
            .unwrap()
            .build(state.lr, (cfg.adam_beta1, cfg.adam_eps));
        opt.load_state(&ck.model.params, state.steps, &state.buffers)
            .unwrap();
        let mut resumed = Trainer::with_optimizer(ck.model, opt, cfg.clone());
        resumed.train_epoch(&train, ck.epoch, quiet).unwrap();

        assert_eq!(resumed.opt.steps(), straight.opt.steps());
        let (a, b) = (bits(&straight.model), bits(&resumed.model));
        for ((name, x), (_, y)) in a.iter().zip(&b) {
            let diff = x.iter().zip(y).filter(|(p, q)| p != q).count();
            assert_eq!(
                diff,
                0,
                "{}: {name} differs in {diff} of {} values",
                kind.name(),
                x.len()
            );
        }
        // And the run actually moved the weights (the comparison is not vacuous).
        assert_ne!(bits(&fresh()), a);
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_data_mean_output_bias_is_the_clipped_logit_of_each_pixels_mean() {
    // Three 2x2 images: pixel 0 always blank, pixel 1 always full ink, pixel 2 at 0, 255 and
    // 255 (mean 2/3), pixel 3 at 51 each time (mean 0.2).
    let images = ImageSet {
        images: vec![0, 255, 0, 51, 0, 255, 255, 51, 0, 255, 255, 51],
        n: 3,
        rows: 2,
        cols: 2,
        labels: None,
    };
    let logit = |m: f64| (m / (1.0 - m)).ln();
    let want = [logit(0.001), logit(0.999), logit(2.0 / 3.0), logit(0.2)];
    let got = vae::model::data_mean_logits(&images);
    for (g, w) in got.iter().zip(want) {
        assert!((f64::from(*g) - w).abs() < 1e-6, "{got:?} against {want:?}");
    }
    assert!((want[2] - 2f64.ln()).abs() < 1e-12 && (want[3] + 4f64.ln()).abs() < 1e-12);

    let config = VaeConfig {
        input_dim: 4,
        hidden: vec![3],
        latent: 2,
        activation: Activation::Tanh,
        init: Init::GlorotUniform,
    };
    let bias = |m: &Vae| {
        let id = m.params.id("decoder.out.bias").expect("output bias");
        m.params.get(id).data.clone()
    };
    let mut zero = Vae::new(config.clone(), 1);
    zero.start_output_bias(vae::train::OutputBias::Zero, &images);
    assert_eq!(bias(&zero), vec![0.0; 4]);
    let mut mean = Vae::new(config, 1);
    mean.start_output_bias(vae::train::OutputBias::DataMean, &images);
    assert_eq!(bias(&mean), got);
    // Nothing else moved.
    for ((_, name, a), (_, _, b)) in zero.params.iter().zip(mean.params.iter()) {
        if name != "decoder.out.bias" {
            assert_eq!(a.data, b.data, "{name}");
        }
    }
}
