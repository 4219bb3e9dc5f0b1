//! The `sweep` command on a tiny grid: every configuration trains and is scored, sweep.csv and
//! sweep.png are written, a second run skips what finished, and a bad grid is refused before
//! any work.

use std::path::PathBuf;
use vae::classifier::{Classifier, ClassifierConfig, path_in};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn sweep(args: &[&str]) -> Result<(), String> {
    vae::sweep::run_from(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

#[test]
fn a_tiny_sweep_runs_resumes_and_ranks() {
    let out = tmp("run");
    let m = vae::data::load_dir(std::path::Path::new("data/mnist")).unwrap();
    let cfg = ClassifierConfig {
        hidden: vec![32],
        epochs: 1,
        ..ClassifierConfig::default()
    };
    let mut clf = Classifier::new(784, &cfg.hidden, 10, 0);
    clf.train(&cfg, &m.train.first(1000), &m.test.first(200))
        .unwrap();
    let clf_dir = out.join("clf");
    clf.save(&path_in(&clf_dir)).unwrap();
    let args = [
        "--grid",
        "latent=2,3",
        "--grid",
        "hidden=16:8,12",
        "--out",
        out.to_str().unwrap(),
        "--classifier",
        clf_dir.to_str().unwrap(),
        "--samples",
        "200",
        "--trust-points",
        "200",
        "--test-limit",
        "200",
        "--limit",
        "500",
        "--epochs",
        "2",
        "--validation",
        "100",
        "--patience",
        "1",
        "--iw-samples",
        "2",
    ];
    sweep(&args).expect("sweep");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("latent,hidden,epochs_run,best_epoch,test_neg_elbo"));
    assert_eq!(lines.len(), 5);
    assert!(lines[1].starts_with("2,16:8,"));
    assert!(lines[4].starts_with("3,12,"));
    for line in &lines[1..] {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 15);
        assert!(
            cells[2..].iter().all(|c| c.parse::<f64>().is_ok()),
            "{line}"
        );
    }
    assert!(out.join("sweep.png").is_file());
    let dir = out.join("latent-2_hidden-16x8");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["model"]["hidden"], serde_json::json!([16, 8]));
    assert_eq!(s["train_images"], 400);

    // Again: every configuration is skipped, the table is the same.
    let row = dir.join("row.json");
    let before = std::fs::metadata(&row).unwrap().modified().unwrap();
    sweep(&args).expect("second sweep");
    assert_eq!(std::fs::metadata(&row).unwrap().modified().unwrap(), before);
    assert_eq!(std::fs::read_to_string(out.join("sweep.csv")).unwrap(), csv);
}

#[test]
fn bad_grids_are_refused_before_any_work() {
    let out = tmp("bad");
    let o = out.to_str().unwrap();
    for (args, want) in [
        (vec!["--out", o], "the grid is empty"),
        (
            vec!["--out", o, "--grid", "depth=1,2"],
            "--grid depth: unknown axis",
        ),
        (vec!["--out", o, "--grid", "threads=1,2"], "not an axis"),
        (
            vec!["--out", o, "--grid", "latent=2,0"],
            "latent=0: --latent must be at least 1",
        ),
        (
            vec!["--out", o, "--grid", "lr=1e-3", "--optimizer", "lbfgs"],
            "unknown optimizer",
        ),
    ] {
        let err = sweep(&args).expect_err("accepted");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
    assert!(!out.exists(), "work started");
}
