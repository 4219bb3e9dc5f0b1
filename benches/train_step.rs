//! One full VAE training step (forward, backward, optimizer) and the no-grad forward, with
//! criterion. Throughput is in images. Each step is timed twice: "cold", called on its own
//! (each parallel product wakes a sleeping rayon worker), and "hot", inside
//! `autograd::kernels::with_hot_workers` as the training loop runs it.
//!
//! The steps train on the bundled MNIST training set (`data/mnist`), a new batch of a
//! shuffled order each step, as in an epoch: the data shape the step's cost (41 % of a batch's
//! pixels are zero in every image, which the first layer skips). Without the data files the
//! bench falls back to uniformly random pixels, and says so.
//!
//!     cargo bench --bench train_step

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use std::hint::black_box;
use std::time::Duration;
use vae::data::ImageSet;
use vae::model::{Vae, VaeConfig};
use vae::train::{OptimizerKind, TrainConfig, Trainer};

/// `n` synthetic 28x28 digits (deterministic noise blobs; speed does not depend on content).
/// The MNIST training images, or `n` random ones when `data/mnist` is not there.
fn training_images(n: usize) -> ImageSet {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    match vae::data::load_dir(&dir) {
        Ok(m) => m.train,
        Err(e) => {
            eprintln!("train_step: {e}; timing random pixels instead of MNIST");
            images(n)
        }
    }
}

/// `n` images of uniformly random pixels.
fn images(n: usize) -> ImageSet {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let data = (0..n * 784)
        .map(|_| rand::RngExt::random_range(&mut rng, 0..=255u8))
        .collect();
    ImageSet {
        images: data,
        n,
        rows: 28,
        cols: 28,
        labels: None,
    }
}

fn step(
    c: &mut Criterion,
    name: &str,
    hidden: usize,
    latent: usize,
    opt: OptimizerKind,
    batch: usize,
) {
    let set = training_images(60_000);
    let cfg = VaeConfig {
        hidden: vec![hidden],
        latent,
        ..VaeConfig::seed()
    };
    let tcfg = TrainConfig {
        batch_size: batch,
        optimizer: opt,
        ..TrainConfig::seed_recipe()
    };
    let mut trainer = Trainer::new(Vae::new(cfg, 0), tcfg);
    // A fixed permutation of the set (a step coprime with its size), one batch per step.
    let len = set.len();
    let order: Vec<usize> = (0..len).map(|i| i * 7919 % len).collect();
    let batches: Vec<&[usize]> = order.chunks_exact(batch).collect();
    let mut at = 0;
    let mut next = move || {
        at = (at + 1) % batches.len();
        batches[at]
    };
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(2);
    let mut g = c.benchmark_group("train_step");
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(format!("{name} cold"), |b| {
        b.iter(|| black_box(trainer.step(&set, next(), 1.0, &mut rng).expect("finite")))
    });
    // As the training loop runs its steps: rayon's other workers spin between products.
    // (Set up once around all of criterion's samples: a worker that is asleep when the team
    // starts takes a while to join it, and the first steps then run on one thread.)
    autograd::kernels::with_hot_workers(|| {
        g.bench_function(format!("{name} hot"), |b| {
            b.iter(|| black_box(trainer.step(&set, next(), 1.0, &mut rng).expect("finite")))
        });
    });
    g.finish();
}

fn train_steps(c: &mut Criterion) {
    step(
        c,
        "seed 784-512-2 rmsprop b32",
        512,
        2,
        OptimizerKind::RmsProp,
        32,
    );
    step(
        c,
        "pytorch-example 784-400-20 adam b128",
        400,
        20,
        OptimizerKind::Adam,
        128,
    );
}

fn inference(c: &mut Criterion) {
    let set = images(1000);
    let model = Vae::new(VaeConfig::seed(), 0);
    let pixels: Vec<f32> = set.images.iter().map(|&p| p as f32 / 255.0).collect();
    let mut g = c.benchmark_group("inference");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("seed reconstruct b1000 (no-grad)", |b| {
        b.iter(|| black_box(vae::eval::reconstruct(&model, &pixels)))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = train_steps, inference
}
criterion_main!(benches);
