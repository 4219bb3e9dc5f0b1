//! The `evaluate` command line, driven through `vae::evaluate::cli::run_from` on a tiny model:
//! it adds its figures to summary.json, and refuses bad input with a one-line error.

use std::path::PathBuf;
use vae::classifier::{Classifier, ClassifierConfig, path_in};
use vae::model::{Vae, VaeConfig};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-evaluate-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn evaluate(args: &[&str]) -> Result<(), String> {
    let mut v = vec!["evaluate"];
    v.extend_from_slice(args);
    vae::evaluate::cli::run_from(v)
}

/// A tiny VAE trained for ten epochs on 1,000 images, in `dir`.
fn tiny_run(dir: &std::path::Path, latent: &str) -> PathBuf {
    let out = dir.to_str().unwrap();
    vae::cli::run_from([
        "train_vae",
        "--limit",
        "1000",
        "--hidden",
        "32",
        "--latent",
        latent,
        "--epochs",
        "10",
        "--quiet",
        "--out",
        out,
    ])
    .expect("tiny training run");
    dir.join("checkpoint.safetensors")
}

#[test]
fn adds_embedding_scores_to_the_summary() {
    let dir = tmp("embed");
    let ck = tiny_run(&dir, "4");
    let ck = ck.to_str().unwrap();
    // A small classifier, saved where --classifier points.
    let m = vae::data::load_dir(std::path::Path::new("data/mnist")).unwrap();
    let cfg = ClassifierConfig {
        hidden: vec![32],
        epochs: 2,
        ..ClassifierConfig::default()
    };
    let mut clf = Classifier::new(784, &cfg.hidden, 10, 0);
    clf.train(&cfg, &m.train.first(2000), &m.test.first(300))
        .unwrap();
    let clf_dir = dir.join("clf");
    clf.save(&path_in(&clf_dir)).unwrap();
    evaluate(&[
        "--classifier",
        clf_dir.to_str().unwrap(),
        "--samples",
        "300",
        "--checkpoint",
        ck,
        "--limit",
        "600",
        "--test-limit",
        "200",
        "--trust-points",
        "300",
    ])
    .expect("evaluate");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    // train_vae's own figures stay; the new ones are added.
    assert!(s["test_neg_elbo"].as_f64().is_some());
    let e = &s["embedding"];
    assert_eq!(e["dims"], 4);
    assert_eq!(e["trust_points"], 300);
    for who in ["vae", "pca"] {
        for m in ["knn1", "knn5", "trust5"] {
            let v = e[who][m].as_f64().unwrap_or(-1.0);
            // Far better than chance (0.1 for k-NN, 0.5 for trustworthiness), short of perfect.
            assert!(v > 0.2 && v < 1.0, "{who} {m} = {v}");
        }
    }
    assert!(e["pca_explained_variance"].as_f64().unwrap() > 0.1);

    let g = &s["generation"];
    assert_eq!(g["classifier_test_accuracy"], clf.test_accuracy);
    assert_eq!(g["real_test"]["frechet"], 0.0);
    assert_eq!(g["prior_samples"]["images"], 300);
    assert_eq!(g["real_train"]["images"], 300);
    assert_eq!(g["real_test"]["images"], 200);
    for k in [
        "real_test",
        "real_train",
        "test_reconstructions",
        "prior_samples",
    ] {
        let score = g[k]["classifier_score"].as_f64().unwrap();
        let sure = g[k]["confident"].as_f64().unwrap();
        assert!(score > 1.0 && score < 10.0, "{k} score {score}");
        assert!((0.0..=1.0).contains(&sure), "{k} confident {sure}");
    }
    // Real training images are nearer the test images than a tiny model's samples are.
    let fd = |k: &str| g[k]["frechet"].as_f64().unwrap();
    assert!(fd("real_train") > 0.0 && fd("real_train") < fd("prior_samples"));
    assert!(g["prior_samples"]["label_agreement"].is_null());
    assert!(
        g["test_reconstructions"]["label_agreement"]
            .as_f64()
            .unwrap()
            > 0.1
    );
}

#[test]
fn bad_input_gets_a_one_line_error() {
    let dir = tmp("bad");
    // A checkpoint of another image size.
    let mut cfg = VaeConfig::seed();
    cfg.input_dim = 100;
    cfg.hidden = vec![8];
    let path = dir.join("small.safetensors");
    vae::checkpoint::save(&path, &Vae::new(cfg, 0), None, 1, 0, &serde_json::json!({})).unwrap();
    let p = path.to_str().unwrap();
    // A well-formed checkpoint, and a VAE checkpoint where the classifier should be.
    let good_path = dir.join("good.safetensors");
    let model = Vae::new(VaeConfig::seed(), 0);
    vae::checkpoint::save(&good_path, &model, None, 1, 0, &serde_json::json!({})).unwrap();
    std::fs::copy(&good_path, vae::classifier::path_in(&dir)).unwrap();
    let good = good_path.to_str().unwrap();
    let dir_s = dir.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--checkpoint", p],
            "trained on images of 100 pixels, the data in data/mnist has 784",
        ),
        (&["--checkpoint", "/no/such.safetensors"], "cannot read"),
        (
            &["--checkpoint", good, "--classifier", dir_s],
            "not a classifier",
        ),
        (
            &["--checkpoint", p, "--samples", "0"],
            "--samples must be at least 1",
        ),
        (
            &["--checkpoint", p, "--limit", "0"],
            "--limit must be at least 1",
        ),
        (
            &["--checkpoint", p, "--threads", "0"],
            "--threads must be between 1 and 1024",
        ),
        (
            &["--checkpoint", p, "--what"],
            "unexpected argument '--what'",
        ),
    ];
    for (args, want) in cases {
        let err = evaluate(args).expect_err(&format!("{args:?} was accepted"));
        assert!(
            err.contains(want),
            "{args:?}: {err:?} does not say {want:?}"
        );
        assert!(!err.contains('\n'), "{err:?} is more than one line");
    }
}

/// `evaluate --iw-samples K` from a checkpoint gives the figure `train_vae --iw-samples K`
/// printed at the end of the run (the same binarization draw, the same samples), and only that
/// figure with --no-embedding --no-generation.
#[test]
fn the_likelihood_estimate_from_a_checkpoint_is_the_training_runs() {
    let dir = tmp("iw");
    let out = dir.to_str().unwrap();
    vae::cli::run_from([
        "train_vae",
        "--limit",
        "500",
        "--hidden",
        "16",
        "--latent",
        "3",
        "--binarize",
        "dynamic",
        "--epochs",
        "2",
        "--iw-samples",
        "7",
        "--quiet",
        "--out",
        out,
    ])
    .expect("training run");
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
    };
    let trained = read(&dir.join("summary.json"));
    let ck = dir.join("checkpoint.safetensors");
    let summary = dir.join("from_checkpoint.json");
    evaluate(&[
        "--checkpoint",
        ck.to_str().unwrap(),
        "--iw-samples",
        "7",
        "--no-embedding",
        "--no-generation",
        "--quiet",
        "--summary",
        summary.to_str().unwrap(),
    ])
    .expect("evaluate");
    let got = read(&summary);
    assert_eq!(got["iw_samples"], 7);
    assert_eq!(got["test_iw_nll"], trained["test_iw_nll"]);
    assert!(got["test_iw_nll"].as_f64().unwrap() > 50.0);
    assert!(got.get("embedding").is_none() && got.get("generation").is_none());
    let err = evaluate(&["--checkpoint", ck.to_str().unwrap(), "--iw-samples", "0"]).unwrap_err();
    assert!(err.contains("--iw-samples must be at least 1"), "{err}");
}
