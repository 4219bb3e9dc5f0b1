//! The `train_vae` command line, driven through `vae::cli::run_from`: bad flags are refused
//! before any work with a clear message; a short run leaves every file; a run resumed from its
//! checkpoint ends bitwise equal to one that was never interrupted.

use std::path::{Path, PathBuf};
use vae::cli::run_from;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn run(args: &[&str]) -> Result<(), String> {
    let mut v = vec!["train_vae"];
    v.extend_from_slice(args);
    run_from(v)
}

fn idx(path: &Path, magic: u32, dims: &[u32], data: &[u8]) {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(data);
    std::fs::write(path, b).expect("write idx");
}

/// A small data set in IDX form: the first `n_train` / `n_test` real MNIST images (plain files).
fn small_mnist(n_train: usize, n_test: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let m = vae::data::load_dir(&root).expect("bundled MNIST loads");
    let dir = tmp(&format!("data-{n_train}"));
    for (set, n, stem) in [(&m.train, n_train, "train"), (&m.test, n_test, "t10k")] {
        let s = set.first(n);
        idx(
            &dir.join(format!("{stem}-images-idx3-ubyte")),
            0x803,
            &[n as u32, 28, 28],
            &s.images,
        );
        let labels = s.labels.clone().expect("labels");
        idx(
            &dir.join(format!("{stem}-labels-idx1-ubyte")),
            0x801,
            &[n as u32],
            &labels,
        );
    }
    dir
}

#[test]
fn bad_flags_are_refused_with_a_clear_message() {
    let cases: &[(&[&str], &str)] = &[
        (&["--batch-size", "0"], "--batch-size must be at least 1"),
        (&["--latent", "0"], "--latent must be at least 1"),
        (&["--epochs", "0"], "--epochs must be at least 1"),
        (&["--lr", "0"], "--lr must be a positive finite number"),
        (&["--lr", "-1"], "--lr must be a positive finite number"),
        (&["--lr", "NaN"], "--lr must be a positive finite number"),
        (
            &["--hidden", "512,0"],
            "--hidden sizes must be between 1 and 65536",
        ),
        (
            &["--batch-size", "100000000"],
            "--batch-size 100000000 is absurd",
        ),
        (&["--optimizer", "lbfgs"], "unknown optimizer \"lbfgs\""),
        (&["--activation", "gelu"], "unknown activation \"gelu\""),
        (&["--binarize", "static"], "unknown --binarize \"static\""),
        (&["--preset", "huge"], "unknown preset \"huge\""),
        (&["--exclude-digit", "12"], "--exclude-digit must be 0 to 9"),
        (&["--threads", "0"], "--threads must be at least 1"),
        (&["--beta", "-1"], "--beta must be a finite number >= 0"),
        (
            &["--adam-beta1", "1"],
            "--adam-beta1 must be at least 0 and below 1",
        ),
        (
            &["--adam-beta1", "-0.1"],
            "--adam-beta1 must be at least 0 and below 1",
        ),
        (
            &["--adam-eps", "0"],
            "--adam-eps must be a positive finite number",
        ),
        (
            &["--adam-eps", "inf"],
            "--adam-eps must be a positive finite number",
        ),
        (&["--output-bias", "mean"], "unknown --output-bias \"mean\""),
        (&["--epochs", "many"], "invalid value 'many' for '--epochs"),
        (
            &["--eval-every", "0"],
            "--eval-every must be a number of epochs",
        ),
        (
            &["--eval-every", "often"],
            "--eval-every must be a number of epochs",
        ),
        (&["--no-such-flag"], "unexpected argument '--no-such-flag'"),
        (
            &["--data", "/no/such/folder"],
            "/no/such/folder: data folder not found",
        ),
    ];
    for (args, want) in cases {
        let err = run(args).expect_err(&format!("{args:?} was accepted"));
        assert!(
            err.contains(want),
            "{args:?}: {err:?} does not say {want:?}"
        );
    }
}

#[test]
fn a_short_run_leaves_every_file_and_resumes_bitwise() {
    let data = small_mnist(300, 100);
    let data = data.to_str().expect("utf-8");
    let common = [
        "--data",
        data,
        "--hidden",
        "64",
        "--batch-size",
        "32",
        "--quiet",
    ];

    // Uninterrupted: 3 epochs.
    let a = tmp("a");
    let mut args = common.to_vec();
    args.extend(["--epochs", "3", "--out", a.to_str().unwrap()]);
    run(&args).expect("run a");
    for f in [
        "checkpoint.safetensors",
        "metrics.csv",
        "summary.json",
        "loss.png",
        "reconstructions.png",
        "samples.png",
        "manifold.png",
        "latent.png",
        "interpolation.png",
        "explorer.html",
    ] {
        assert!(a.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(a.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "epoch,train_loss,train_recon,train_kl,test_loss,test_recon,test_kl,seconds,images_per_s"
        )
    );
    assert_eq!(lines.count(), 3);

    // Interrupted after 2 epochs (as a kill would leave it), then resumed to 3.
    let b = tmp("b");
    let mut args = common.to_vec();
    args.extend(["--epochs", "2", "--out", b.to_str().unwrap()]);
    run(&args).expect("run b");
    let ck = b.join("checkpoint.safetensors");
    let resume_args = [
        "--data",
        data,
        "--quiet",
        "--epochs",
        "3",
        "--out",
        b.to_str().unwrap(),
        "--resume",
        ck.to_str().unwrap(),
    ];
    // Contradicting the checkpoint's model or recipe is refused, naming the flags.
    let mut conflicting = resume_args.to_vec();
    conflicting.extend(["--hidden", "32", "--lr", "0.5"]);
    let err = run(&conflicting).expect_err("conflicting flags accepted");
    assert!(
        err.contains("--hidden 32 (the checkpoint has 64)") && err.contains("--lr 0.5"),
        "{err}"
    );
    run(&resume_args).expect("resume b");

    let ma = vae::checkpoint::load(&a.join("checkpoint.safetensors")).unwrap();
    let mb = vae::checkpoint::load(&ck).unwrap();
    assert_eq!(ma.epoch, 3);
    assert_eq!(mb.epoch, 3);
    for ((_, name, ta), (_, _, tb)) in ma.model.params.iter().zip(mb.model.params.iter()) {
        let bits = |t: &autograd::Tensor| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(ta) == bits(tb), "{name} differs after resume");
    }
    assert_eq!(
        ma.optimizer, mb.optimizer,
        "optimizer state differs after resume"
    );
    // The resumed run's metrics cover the whole run, with the same losses.
    let csv_b = std::fs::read_to_string(b.join("metrics.csv")).unwrap();
    let losses = |s: &str| -> Vec<String> {
        s.lines()
            .skip(1)
            .map(|l| l.split(',').take(7).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(&csv), losses(&csv_b));
}

#[test]
fn eval_every_leaves_the_other_epochs_unevaluated_and_evaluates_the_last() {
    let data = small_mnist(200, 50);
    let out = tmp("eval_every");
    let args = [
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "32",
        "--epochs",
        "5",
        "--eval-every",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    run(&args).expect("run");
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let evaluated: Vec<bool> = csv
        .lines()
        .skip(1)
        .map(|l| !l.split(',').nth(4).unwrap().is_empty())
        .collect();
    assert_eq!(evaluated, [false, true, false, true, true], "{csv}");
    // The checkpoint keeps the same history, and a resumed run reads it back.
    let ck = vae::checkpoint::load(&out.join("checkpoint.safetensors")).unwrap();
    let history = ck.extra["history"].as_array().unwrap();
    assert!(history[0][4].is_null() && history[1][4].is_f64());
}

#[test]
fn the_iwae_objective_is_kept_in_the_checkpoint_and_checked_on_resume() {
    let data = small_mnist(100, 40);
    let out = tmp("iwae_objective");
    let (data, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--data", data, "--hidden", "16", "--latent", "3", "--quiet", "--out", o,
    ];
    let mut args = common.to_vec();
    args.extend(["--epochs", "1", "--objective", "iwae", "--k", "3"]);
    run(&args).expect("iwae run");
    let ck_path = out.join("checkpoint.safetensors");
    let ck = vae::checkpoint::load(&ck_path).unwrap();
    assert_eq!(ck.extra["train"]["objective"], "iwae");
    assert_eq!(ck.extra["train"]["k"], 3);
    let resume = |extra: &[&str]| {
        let mut a = common.to_vec();
        a.extend(["--epochs", "2", "--resume", ck_path.to_str().unwrap()]);
        a.extend(extra);
        run(&a)
    };
    let err = resume(&["--k", "5"]).expect_err("a different k accepted");
    assert!(err.contains("--k 5 (the checkpoint has 3)"), "{err}");
    let err = resume(&["--objective", "elbo"]).expect_err("another objective accepted");
    assert!(
        err.contains("--objective elbo (the checkpoint has iwae)"),
        "{err}"
    );
    resume(&[]).expect("resume with the saved objective");
    let ck = vae::checkpoint::load(&ck_path).unwrap();
    assert_eq!((ck.epoch, ck.extra["train"]["k"].as_u64()), (2, Some(3)));
}

#[test]
fn adams_settings_and_the_output_bias_are_kept_in_the_checkpoint_and_checked_on_resume() {
    let data = small_mnist(100, 40);
    let out = tmp("adam_settings");
    let (data, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--data", data, "--hidden", "16", "--latent", "3", "--quiet", "--out", o,
    ];
    let mut args = common.to_vec();
    args.extend([
        "--epochs",
        "1",
        "--optimizer",
        "adam",
        "--adam-beta1",
        "0.99",
        "--adam-eps",
        "5e-6",
        "--output-bias",
        "data-mean",
    ]);
    run(&args).expect("run with Adam's settings");
    let ck_path = out.join("checkpoint.safetensors");
    let ck = vae::checkpoint::load(&ck_path).unwrap();
    let t = &ck.extra["train"];
    assert_eq!(
        (t["adam_beta1"].as_f64(), t["adam_eps"].as_f64()),
        (Some(0.99), Some(5e-6))
    );
    assert_eq!(t["output_bias"], "data-mean");
    let resume = |extra: &[&str]| {
        let mut a = common.to_vec();
        a.extend(["--epochs", "2", "--resume", ck_path.to_str().unwrap()]);
        a.extend(extra);
        run(&a)
    };
    let err = resume(&["--adam-beta1", "0.9"]).expect_err("another beta1 accepted");
    assert!(
        err.contains("--adam-beta1 0.9 (the checkpoint has 0.99)"),
        "{err}"
    );
    let err = resume(&["--adam-eps", "1e-8"]).expect_err("another eps accepted");
    assert!(
        err.contains("--adam-eps 0.00000001 (the checkpoint has 0.000005)"),
        "{err}"
    );
    let err = resume(&["--output-bias", "zero"]).expect_err("another output bias accepted");
    assert!(
        err.contains("--output-bias zero (the checkpoint has data-mean)"),
        "{err}"
    );
    resume(&[]).expect("resume with the saved settings");
    let ck = vae::checkpoint::load(&ck_path).unwrap();
    assert_eq!(ck.epoch, 2);
    assert_eq!(ck.extra["train"]["adam_beta1"].as_f64(), Some(0.99));
}

#[test]
fn divergence_stops_with_the_epoch_step_and_op() {
    let data = small_mnist(200, 50);
    let out = tmp("div");
    let err = run(&[
        "--data",
        data.to_str().unwrap(),
        "--hidden",
        "64",
        "--lr",
        "1e6",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_err("lr 1e6 must diverge");
    assert!(err.contains("training diverged at epoch 1, step"), "{err}");
    assert!(err.contains("non-finite"), "{err}");
    assert!(err.contains("shape ["), "no op shape in: {err}");
    assert!(err.contains("no checkpoint was written yet"), "{err}");
}
