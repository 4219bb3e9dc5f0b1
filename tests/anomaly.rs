//! Anomaly detection end to end, on small data: a held-out model remembers its digit and a
//! resume without it is refused; a binarized model is scored binarized; the `anomaly` and
//! `anomaly_bench` commands refuse bad input with one line, and the benchmark writes its tables
//! and figures, reuses finished models and resumes partial ones.

use std::path::{Path, PathBuf};
use vae::anomaly::scores::{ScoreKind, ScoreOptions, code_lengths, fit_reference, score_set};
use vae::data::{Binarize, load_dir};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-anomaly-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn idx(path: &Path, magic: u32, dims: &[u32], data: &[u8]) {
    let mut b = magic.to_be_bytes().to_vec();
    for d in dims {
        b.extend(d.to_be_bytes());
    }
    b.extend_from_slice(data);
    std::fs::write(path, b).expect("write idx");
}

/// The first `n_train` / `n_test` real MNIST images as IDX files in a fresh folder.
fn small_mnist(name: &str, n_train: usize, n_test: usize) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let m = load_dir(&root).expect("bundled MNIST loads");
    let dir = tmp(name);
    for (set, n, stem) in [(&m.train, n_train, "train"), (&m.test, n_test, "t10k")] {
        let s = set.first(n);
        let dims = [n as u32, 28, 28];
        idx(
            &dir.join(format!("{stem}-images-idx3-ubyte")),
            0x803,
            &dims,
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

fn train(args: &[&str]) -> Result<(), String> {
    let mut v = vec!["train_vae", "--quiet", "--hidden", "16"];
    v.extend_from_slice(args);
    vae::cli::run_from(v)
}

fn anomaly(args: &[&str]) -> Result<(), String> {
    let mut v = vec!["anomaly"];
    v.extend_from_slice(args);
    vae::anomaly::command::run_from(v)
}

fn bench(args: &[&str]) -> Result<(), String> {
    let mut v = vec!["anomaly_bench", "--quiet"];
    v.extend_from_slice(args);
    vae::anomaly::bench::run_from(v)
}

fn one_line(e: &str) -> bool {
    !e.trim_end().contains('\n')
}

#[test]
fn a_held_out_model_refuses_a_resume_without_its_digit() {
    let data = small_mnist("resume-data", 200, 50);
    let data = data.to_str().unwrap();
    let out = tmp("resume");
    let out_s = out.to_str().unwrap();
    train(&[
        "--data",
        data,
        "--epochs",
        "1",
        "--exclude-digit",
        "7",
        "--out",
        out_s,
    ])
    .expect("train without 7");
    let ck = out.join("checkpoint.safetensors");
    let saved = vae::checkpoint::load(&ck).expect("load");
    assert_eq!(saved.extra["exclude_digit"], 7);
    let ck_s = ck.to_str().unwrap();
    let resume = |extra: &[&str]| {
        let mut a = vec![
            "--data", data, "--epochs", "2", "--resume", ck_s, "--out", out_s,
        ];
        a.extend_from_slice(extra);
        train(&a)
    };
    let e = resume(&[]).expect_err("resumed on all ten digits");
    assert!(
        e.contains("was trained with --exclude-digit 7, this run has no --exclude-digit"),
        "{e}"
    );
    assert!(one_line(&e), "{e}");
    let e = resume(&["--exclude-digit", "3"]).expect_err("resumed without 3");
    assert!(e.contains("this run has --exclude-digit 3"), "{e}");
    resume(&["--exclude-digit", "7"]).expect("the same digit resumes");
    assert_eq!(vae::checkpoint::load(&ck).unwrap().epoch, 2);
}

#[test]
fn a_binarized_model_is_scored_binarized() {
    let data = small_mnist("bin-data", 200, 40);
    let out = tmp("bin");
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    train(&[
        "--data",
        data_s,
        "--epochs",
        "1",
        "--binarize",
        "dynamic",
        "--out",
        out_s,
    ])
    .expect("train binarized");
    let ck = out.join("checkpoint.safetensors");
    let scored = out.join("scored");
    anomaly(&[
        "--checkpoint",
        ck.to_str().unwrap(),
        "--data",
        data_s,
        "--samples",
        "3",
        "--seed",
        "5",
        "--digit",
        "1",
        "--out",
        scored.to_str().unwrap(),
    ])
    .expect("score");
    let csv = std::fs::read_to_string(scored.join("scores.csv")).expect("scores.csv");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|&h| h == "iw")
        .expect("an iw column");
    let from_csv: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    let model = vae::checkpoint::load(&ck).unwrap().model;
    let mnist = load_dir(&data).unwrap();
    let (test, reference) = (&mnist.test, fit_reference(&mnist.train, 5));
    let score = |binarize| {
        let opts = ScoreOptions {
            samples: 3,
            binarizations: 1,
            seed: 5,
            binarize,
        };
        let lengths = code_lengths(test, &opts, &reference);
        score_set(&model, test, &opts, &lengths, &mut |_| {})
            .get(ScoreKind::Iw)
            .to_vec()
    };
    assert_eq!(from_csv, score(Binarize::Dynamic), "scored as binarized");
    assert_ne!(from_csv, score(Binarize::None));
}

#[test]
fn the_anomaly_command_refuses_bad_input_in_one_line() {
    let dir = tmp("bad-anomaly");
    // A checkpoint of a model for 6-pixel images.
    let small = vae::model::Vae::new(
        vae::model::VaeConfig {
            input_dim: 6,
            ..vae::model::VaeConfig::seed()
        },
        0,
    );
    let ck = dir.join("six.safetensors");
    vae::checkpoint::save(&ck, &small, None, 1, 0, &serde_json::json!({})).unwrap();
    let ck = ck.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--checkpoint", ck, "--digit", "12"],
            "--digit must be 0 to 9, got 12",
        ),
        (
            &["--checkpoint", ck, "--score", "likelihood"],
            "unknown --score \"likelihood\"",
        ),
        (
            &["--checkpoint", ck, "--samples", "0"],
            "--samples must be between 1 and 100000",
        ),
        (
            &["--checkpoint", ck, "--binarizations", "0"],
            "--binarizations must be between 1 and 1000, got 0",
        ),
        (
            &["--checkpoint", ck],
            "have 28 x 28 = 784 pixels, the model 6-512-2 relu",
        ),
        (
            &["--checkpoint", "/no/such.safetensors"],
            "checkpoint /no/such.safetensors",
        ),
        (
            &["--checkpoint", ck, "--digit", "x"],
            "invalid value 'x' for '--digit",
        ),
    ];
    for (args, want) in cases {
        let e = anomaly(args).expect_err(&format!("{args:?} was accepted"));
        assert!(e.contains(want), "{args:?}: {e:?} does not say {want:?}");
        assert!(one_line(&e), "{args:?}: {e:?}");
    }
}

#[test]
fn the_bench_refuses_bad_flags_in_one_line() {
    let cases: &[(&[&str], &str)] = &[
        (&["--digits", "1,12"], "--digits must be 0 to 9, got 12"),
        (&["--best", "nope"], "unknown --best \"nope\""),
        (&["--scores", "iw,nope"], "unknown --score \"nope\""),
        (
            &["--preset", "iwae"],
            "unknown preset \"iwae\" (expected seed, pytorch-example or iwae-paper)",
        ),
        (
            &["--samples", "0"],
            "--samples must be between 1 and 100000",
        ),
        (
            &["--binarizations", "1001"],
            "--binarizations must be between 1 and 1000, got 1001",
        ),
        (&["--binarize", "static"], "unknown --binarize \"static\""),
        (&["--output-bias", "mean"], "unknown --output-bias \"mean\""),
        (&["--epochs", "0"], "--epochs must be at least 1"),
        (&["--split", "val"], "unknown --split \"val\""),
    ];
    for (args, want) in cases {
        let e = bench(args).expect_err(&format!("{args:?} was accepted"));
        assert!(e.contains(want), "{args:?}: {e:?} does not say {want:?}");
        assert!(one_line(&e), "{args:?}: {e:?}");
    }
}

#[test]
fn the_bench_writes_its_tables_and_continues_an_interrupted_run() {
    let data = small_mnist("bench-data", 300, 120);
    let out = tmp("bench");
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--data",
        data_s,
        "--out",
        out_s,
        "--digits",
        "1,7",
        "--samples",
        "2",
        "--latent",
        "2",
    ];
    let run = |epochs: &str| {
        let mut a = common.to_vec();
        a.extend(["--epochs", epochs]);
        bench(&a)
    };
    run("1").expect("first run");
    for f in [
        "anomaly_auroc.csv",
        "anomaly_auprc.csv",
        "anomaly_table.md",
        "roc.png",
        "top_anomalies.png",
        "digit-1/checkpoint.safetensors",
        "digit-7/scores.csv",
        "digit-7/metrics.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let auroc = std::fs::read_to_string(out.join("anomaly_auroc.csv")).unwrap();
    let lines: Vec<&str> = auroc.lines().collect();
    assert_eq!(lines.len(), 4, "{auroc}");
    assert!(lines[0].starts_with("digit,elbo,iw,recon-prob"), "{auroc}");
    assert!(
        lines[1].starts_with("1,") && lines[2].starts_with("7,") && lines[3].starts_with("mean,")
    );
    for v in lines[1..].iter().flat_map(|l| l.split(',').skip(1)) {
        let v: f64 = v.parse().unwrap();
        assert!((0.0..=1.0).contains(&v), "{auroc}");
    }
    let md = std::fs::read_to_string(out.join("anomaly_table.md")).unwrap();
    assert!(
        md.contains("| anchor: Tonnaer 2023, 2-D | 0.73 | 0.77 | 0.750 |"),
        "{md}"
    );
    assert!(md.contains("ours: complexity (best, fixed)"), "{md}");
    let held_out = |d: u8| {
        vae::checkpoint::load(&out.join(format!("digit-{d}/checkpoint.safetensors"))).unwrap()
    };
    assert_eq!(held_out(7).extra["exclude_digit"], 7);

    // A finished model is reused as it is; a longer run resumes it.
    let before = std::fs::read(out.join("digit-7/checkpoint.safetensors")).unwrap();
    run("1").expect("rerun");
    assert_eq!(
        before,
        std::fs::read(out.join("digit-7/checkpoint.safetensors")).unwrap()
    );
    run("2").expect("resume");
    assert_eq!(held_out(1).epoch, 2);
    let metrics = std::fs::read_to_string(out.join("digit-1/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "{metrics}");

    // The training split, the anchor's protocol: the same models, every training image scored,
    // its tables beside the test split's.
    let mut a = common.to_vec();
    a.extend(["--epochs", "2", "--split", "train"]);
    bench(&a).expect("training split");
    let scores = std::fs::read_to_string(out.join("digit-7/scores_train.csv")).unwrap();
    assert_eq!(
        scores.lines().count(),
        1 + 300,
        "one row per training image"
    );
    let header: Vec<&str> = scores.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|&h| h == "iw").expect("iw column");
    let rows: Vec<(bool, f64)> = scores
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1] == "7", f[col].parse().unwrap())
        })
        .collect();
    // AUROC by counting every (positive, negative) pair, ties as one half.
    let (mut wins, mut pairs) = (0.0, 0.0);
    for &(p, sp) in &rows {
        for &(n, sn) in &rows {
            if p && !n {
                pairs += 1.0;
                wins += if sp > sn {
                    1.0
                } else if sp == sn {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    let table = std::fs::read_to_string(out.join("anomaly_auroc_train.csv")).unwrap();
    let col = table
        .lines()
        .next()
        .unwrap()
        .split(',')
        .position(|h| h == "iw")
        .unwrap();
    let row7 = table.lines().find(|l| l.starts_with("7,")).unwrap();
    let auroc: f64 = row7.split(',').nth(col).unwrap().parse().unwrap();
    assert!(
        (auroc - wins / pairs).abs() <= 5e-5,
        "the CSV keeps 4 decimals: {auroc} vs {}",
        wins / pairs
    );
    for f in [
        "anomaly_table_train.md",
        "roc_train.png",
        "top_anomalies_train.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let md = std::fs::read_to_string(out.join("anomaly_table_train.md")).unwrap();
    assert!(md.contains("300 training images"), "{md}");
    // The test split's table is still the test split's.
    let md = std::fs::read_to_string(out.join("anomaly_table.md")).unwrap();
    assert!(md.contains("120 test images"), "{md}");

    // Other settings in the same folder are refused.
    let mut a = common.to_vec();
    a.extend(["--epochs", "2", "--binarize", "dynamic"]);
    let e = bench(&a).expect_err("other settings accepted");
    assert!(e.contains("trained with other settings"), "{e}");
    assert!(one_line(&e), "{e}");
}

#[test]
fn the_bench_trains_the_iwae_preset_for_the_schedules_first_four_stages() {
    let data = small_mnist("bench-iwae-data", 300, 120);
    let out = tmp("bench-iwae");
    let (data_s, out_s) = (data.to_str().unwrap(), out.to_str().unwrap());
    let common = [
        "--data",
        data_s,
        "--out",
        out_s,
        "--digits",
        "7",
        "--samples",
        "2",
        "--preset",
        "iwae-paper",
        "--latent",
        "2",
    ];
    bench(&common).expect("iwae-paper bench");
    let ck = vae::checkpoint::load(&out.join("digit-7/checkpoint.safetensors")).unwrap();
    assert_eq!(ck.epoch, 40, "1 + 3 + 9 + 27 epochs without --epochs");
    assert_eq!(ck.model.config.hidden, vec![200, 200]);
    assert_eq!(ck.model.config.latent, 2);
    assert_eq!(ck.extra["train"]["binarize"], "dynamic");
    assert_eq!(ck.extra["train"]["output_bias"], "data-mean");
    assert_eq!(ck.extra["exclude_digit"], 7);
    let metrics = std::fs::read_to_string(out.join("digit-7/metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 41, "{metrics}");
    let md = std::fs::read_to_string(out.join("anomaly_table.md")).unwrap();
    assert!(md.contains("784-200-200-2 tanh"), "{md}");
    // The preset starts the output bias at the data mean; `--output-bias zero` asks for
    // another recipe, which the finished model in the folder was not trained with.
    let mut zero = common.to_vec();
    zero.extend(["--output-bias", "zero"]);
    let zero = bench(&zero).expect_err("a zero-bias plan over a data-mean model");
    assert!(zero.contains("trained with other settings"), "{zero}");
}
