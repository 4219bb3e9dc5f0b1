//! `AUTOGRAD_KERNEL` reaches every product of a training step, the streamed weight gradients
//! included: with `naive`, no other kernel or route runs. The variable is read once per
//! process, so the test runs a training step in a child process (this test binary again).
#![cfg(all(feature = "fast", feature = "internals"))]

use autograd::kernels::fast::internals::{calls, count_calls};
use autograd::kernels::with_hot_workers;
use autograd::{Gradients, Optimizer, ParamStore, RmsProp, Tape, Tensor};
use std::process::Command;

/// Set in the child process: which kernel it was started with.
const CHILD: &str = "KERNEL_OVERRIDE_CHILD";

/// Deterministic values in [-0.5, 0.5) (xorshift).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect()
}

/// Two training steps of the seed VAE's shapes (784 -> 512 -> 2 -> 512 -> 784, batch 32,
/// binary cross-entropy, RMSprop) on hot workers with deferred weight gradients, as the
/// trainer runs them.
fn training_steps() {
    count_calls();
    let mut store = ParamStore::new();
    let dims = [(784, 512), (512, 2), (2, 512), (512, 784)];
    let layers: Vec<_> = dims
        .iter()
        .enumerate()
        .map(|(i, &(inp, out))| {
            let w = Tensor::from_vec(values(out * inp, i as u64 + 1), &[out, inp]);
            let b = Tensor::from_vec(values(out, i as u64 + 11), &[out]);
            (
                store.add(&format!("l{i}.weight"), w),
                store.add(&format!("l{i}.bias"), b),
            )
        })
        .collect();
    let x: Vec<f32> = values(32 * 784, 99).iter().map(|v| v + 0.5).collect();
    let mut opt = RmsProp::new(1e-3);
    let mut grads = Gradients::new();
    grads.defer_weight_products(true);
    let tape = Tape::new();
    with_hot_workers(|| {
        for _ in 0..2 {
            let input = tape.constant_from(&x, &[32, 784]);
            let mut h = input;
            for (i, &(w, b)) in layers.iter().enumerate() {
                h = h.linear(tape.param(&store, w), tape.param(&store, b));
                if i + 1 < layers.len() {
                    h = h.relu();
                }
            }
            let loss = h.bce_with_logits_rowsum(input).mean();
            tape.backward_into(loss, &mut grads);
            tape.clear();
            opt.step(&mut store, &grads);
        }
    });
}

/// The counts of every path that ran, as `name=count` words.
fn ran() -> String {
    let ran: Vec<String> = calls()
        .into_iter()
        .filter(|&(_, n)| n > 0)
        .map(|(c, n)| format!("{c}={n}"))
        .collect();
    ran.join(" ")
}

/// In the child: a training step, then the paths that ran must be exactly the named kernel.
#[test]
fn child_runs_only_its_kernel() {
    let Ok(kernel) = std::env::var(CHILD) else {
        return; // Not the child: nothing to do here.
    };
    training_steps();
    let ran = ran();
    let only: Vec<&str> = ran
        .split(' ')
        .map(|w| w.split('=').next().unwrap())
        .collect();
    assert_eq!(only, [kernel.as_str()], "ran: {ran}");
}

/// Runs [`child_runs_only_its_kernel`] in a child process with `AUTOGRAD_KERNEL` set.
fn run_child(kernel: &str) {
    let exe = std::env::current_exe().expect("the test binary");
    let out = Command::new(exe)
        .args(["--exact", "child_runs_only_its_kernel", "--nocapture"])
        .env("AUTOGRAD_KERNEL", kernel)
        .env(CHILD, kernel)
        .output()
        .expect("the child process starts");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "AUTOGRAD_KERNEL={kernel}: {text}");
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

#[test]
fn naive_kernel_runs_every_product_of_a_training_step() {
    run_child("naive");
}

#[test]
fn blocked_kernel_runs_every_product_of_a_training_step() {
    run_child("blocked");
}

/// The counts can fail: by default the same step takes several of `auto`'s routes, and
/// streams the big weight gradients.
#[test]
fn by_default_a_training_step_takes_the_routes_and_streams() {
    let skip = !autograd::kernels::avx2_available();
    if skip || std::env::var(CHILD).is_ok() || std::env::var("AUTOGRAD_KERNEL").is_ok() {
        return;
    }
    training_steps();
    let ran = ran();
    for path in ["auto", "auto:small", "streamed"] {
        assert!(
            ran.split(' ').any(|w| w.starts_with(&format!("{path}="))),
            "{path} missing: {ran}"
        );
    }
    assert!(!ran.contains("naive="), "{ran}");
}
