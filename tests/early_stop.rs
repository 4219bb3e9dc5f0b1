//! train_vae's early stopping: the validation images come out of the training set, the best
//! epoch's model is saved and evaluated, and the run stops once patience runs out.

use std::path::PathBuf;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-early-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn stops_on_the_validation_split_and_keeps_the_best_model() {
    let out = tmp("run");
    // A learning rate far too high for the tiny model makes the validation loss wander, so
    // patience 1 ends the run well before 30 epochs.
    vae::cli::run_from([
        "train_vae",
        "--limit",
        "600",
        "--validation",
        "200",
        "--patience",
        "1",
        "--hidden",
        "16",
        "--lr",
        "0.03",
        "--epochs",
        "30",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .expect("run");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        s["train_images"], 400,
        "the validation images are not trained on"
    );
    let v = &s["validation"];
    assert_eq!(v["images"], 200);
    let run = v["epochs_run"].as_u64().unwrap();
    let best = v["best_epoch"].as_u64().unwrap();
    assert!(run < 30, "never stopped");
    assert_eq!(run, best + 1, "patience 1 stops one epoch after the best");
    let curve: Vec<f64> = serde_json::from_value(v["curve"].clone()).unwrap();
    assert_eq!(curve.len() as u64, run);
    let min = curve.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(v["best_neg_elbo"].as_f64().unwrap(), min);
    // best.safetensors holds the best epoch's model.
    let ck = vae::checkpoint::load(&out.join("best.safetensors")).unwrap();
    assert_eq!(ck.epoch as u64, best);
}

#[test]
fn bad_validation_flags_are_refused() {
    for (args, want) in [
        (vec!["--patience", "3"], "--patience needs --validation"),
        (
            vec!["--validation", "10", "--patience", "0"],
            "--patience must be at least 1",
        ),
        (
            vec!["--limit", "100", "--validation", "100"],
            "--validation 100 must be at least 1 and below the 100",
        ),
    ] {
        let mut v = vec!["train_vae", "--quiet", "--epochs", "1"];
        v.extend(args);
        let err = vae::cli::run_from(v).expect_err("accepted");
        assert!(err.contains(want), "{err}");
    }
}
