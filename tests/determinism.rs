//! The same seed gives bitwise the same model for any number of threads: gemm never splits k,
//! and every random draw comes from (seed, epoch) streams in the order of the steps, whichever
//! thread makes it (a hot worker fills the next step's batch while a step runs).

use vae::data::ImageSet;
use vae::model::{Vae, VaeConfig};
use vae::train::{TrainConfig, Trainer};

fn images(n: usize) -> ImageSet {
    ImageSet {
        images: (0..n * 784).map(|i| ((i * 7919) % 256) as u8).collect(),
        n,
        rows: 28,
        cols: 28,
        labels: None,
    }
}

/// Every parameter's bits after one short epoch on `threads` threads.
fn train_bits(threads: usize, hidden: usize, latent: usize, batch: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let cfg = VaeConfig {
            hidden: vec![hidden],
            latent,
            ..VaeConfig::seed()
        };
        let tcfg = TrainConfig {
            batch_size: batch,
            ..TrainConfig::seed_recipe()
        };
        let mut t = Trainer::new(Vae::new(cfg, 5), tcfg);
        t.train_epoch(&images(4 * batch), 0, &mut |_, _, _| {})
            .expect("finite");
        t.model
            .params
            .iter()
            .flat_map(|(_, _, p)| p.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            .collect()
    })
}

#[test]
fn one_and_two_threads_train_bitwise_equal() {
    for (hidden, latent, batch) in [(512, 2, 32), (400, 20, 128)] {
        let one = train_bits(1, hidden, latent, batch);
        let two = train_bits(2, hidden, latent, batch);
        assert!(
            one == two,
            "{hidden}/{latent}/b{batch}: 1 and 2 threads differ"
        );
    }
}

#[test]
fn same_seed_same_model() {
    assert!(train_bits(2, 64, 2, 16) == train_bits(2, 64, 2, 16));
}

/// Every parameter's bits after one short epoch of the `iwae-paper` preset (784-200-200-50
/// tanh, Adam, batch 20, dynamic binarization) with `objective`, on `threads` threads.
fn iwae_preset_bits(threads: usize, objective: vae::train::Objective) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("pool");
    pool.install(|| {
        let (model, mut train) = vae::cli::preset("iwae-paper", 784).expect("preset");
        train.objective = objective;
        let mut t = Trainer::new(Vae::new(model, 3), train);
        t.train_epoch(&images(200), 0, &mut |_, _, _| {})
            .expect("finite");
        t.model
            .params
            .iter()
            .flat_map(|(_, _, p)| p.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            .collect()
    })
}

#[test]
fn the_iwae_preset_trains_bitwise_equal_on_one_and_two_threads() {
    use vae::train::Objective;
    for objective in [Objective::Elbo, Objective::Iwae { k: 3 }] {
        let one = iwae_preset_bits(1, objective);
        assert!(one == iwae_preset_bits(2, objective), "{objective:?}");
    }
}

/// An epoch is its steps one after another: `train_epoch`, which fills each next batch on a
/// hot worker while a step runs, gives bitwise the parameters of `Trainer::step` called on
/// each batch in turn with the epoch's order and random stream (dynamic binarization and the
/// noise both draw from it).
#[test]
fn an_epoch_on_two_threads_is_its_steps_in_turn() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("pool");
    let set = images(130); // batches of 20, the last one of 10
    let bits = |t: &Trainer| -> Vec<u32> {
        let p = t.model.params.iter();
        p.flat_map(|(_, _, p)| p.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            .collect()
    };
    let fresh = || {
        let (model, train) = vae::cli::preset("iwae-paper", 784).expect("preset");
        Trainer::new(Vae::new(model, 9), train)
    };
    let (epoch, steps) = pool.install(|| {
        let mut t = fresh();
        t.train_epoch(&set, 1, &mut |_, _, _| {}).expect("finite");
        let epoch = bits(&t);
        let mut t = fresh();
        let cfg = t.config.clone();
        t.opt.set_lr(cfg.schedule.lr(cfg.lr, 1));
        let mut order = Vec::new();
        vae::data::shuffle_into(&mut order, set.len(), cfg.seed, 1);
        let mut rng = vae::data::epoch_rng(cfg.seed ^ 0x05ee_d0f4_015e, 1);
        let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).collect();
        for (step, indices) in batches.iter().enumerate() {
            let beta = cfg.beta_at(1, step, batches.len());
            t.step(&set, indices, beta, &mut rng).expect("finite");
        }
        (epoch, bits(&t))
    });
    assert!(epoch == steps);
}

/// A set whose pixels do not match its shape cannot be batched: the epoch stops with a data
/// error naming the step, on one thread and on hot workers alike, and no step runs.
#[test]
fn a_set_that_cannot_be_batched_is_a_data_error() {
    let mut bad = images(50);
    bad.images.pop();
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("pool");
        let (e, steps) = pool.install(|| {
            let (model, train) = vae::cli::preset("iwae-paper", 784).expect("preset");
            let mut t = Trainer::new(Vae::new(model, 1), train);
            let mut steps = 0;
            let e = t
                .train_epoch(&bad, 0, &mut |_, _, _| steps += 1)
                .expect_err("a bad set trains");
            (e, steps)
        });
        assert_eq!(steps, 0, "{threads} threads");
        let e = e.to_string();
        assert!(
            e.starts_with("data error: epoch 1, step 1:") && e.contains("pixel bytes"),
            "{e}"
        );
    }
}
