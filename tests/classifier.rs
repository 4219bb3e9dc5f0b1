//! The engine-trained MNIST classifier: it learns, it survives a save and a load bit for bit,
//! a damaged or foreign file is refused, and a missing one is trained and saved once.

use std::path::{Path, PathBuf};
use vae::classifier::{Classifier, ClassifierConfig, load_or_train, path_in};
use vae::data::{ImageSet, load_dir};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vae-classifier-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

fn small() -> (ImageSet, ImageSet) {
    let m = load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")).unwrap();
    (m.train.first(3000), m.test.first(500))
}

fn quick() -> ClassifierConfig {
    ClassifierConfig {
        hidden: vec![64],
        epochs: 3,
        ..ClassifierConfig::default()
    }
}

#[test]
fn learns_saves_and_loads() {
    let (train, test) = small();
    let cfg = quick();
    let mut c = Classifier::new(784, &cfg.hidden, 10, 0);
    let acc = c.train(&cfg, &train, &test).unwrap();
    assert!(acc > 0.8, "test accuracy {acc}");
    assert_eq!(acc, c.accuracy(&test).unwrap());
    let dir = tmp("save");
    let path = path_in(&dir);
    c.save(&path).unwrap();
    let back = Classifier::load(&path).unwrap();
    assert_eq!(back.hidden, vec![64]);
    assert_eq!(back.test_accuracy, acc);
    let px: Vec<f32> = test.images[..784 * 20]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let (a, b) = (c.predict(&px), back.predict(&px));
    assert_eq!(a.features, b.features);
    assert_eq!(a.probs, b.probs);
    assert_eq!(a.feature_dim, 64);
    for row in a.probs.chunks(10) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }

    // A flipped byte in the weights, and a VAE checkpoint, are refused.
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 1;
    let bad = dir.join("bad.safetensors");
    std::fs::write(&bad, &bytes).unwrap();
    let err = Classifier::load(&bad).err().unwrap();
    assert!(err.contains("checksum mismatch"), "{err}");
    let vae = dir.join("vae.safetensors");
    let model = vae::model::Vae::new(vae::model::VaeConfig::seed(), 0);
    vae::checkpoint::save(&vae, &model, None, 1, 0, &serde_json::json!({})).unwrap();
    let err = Classifier::load(&vae).err().unwrap();
    assert!(err.contains("not a classifier"), "{err}");
}

#[test]
fn a_missing_classifier_is_trained_once() {
    let (train, test) = small();
    let (train, test) = (train.first(600), test.first(200));
    let dir = tmp("missing");
    assert!(!path_in(&dir).exists());
    let a = load_or_train(&dir, &train, &test).unwrap();
    assert!(path_in(&dir).is_file());
    let modified = std::fs::metadata(path_in(&dir))
        .unwrap()
        .modified()
        .unwrap();
    let b = load_or_train(&dir, &train, &test).unwrap();
    assert_eq!(a.test_accuracy, b.test_accuracy);
    assert_eq!(
        std::fs::metadata(path_in(&dir))
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "the saved classifier was reused, not retrained"
    );
}
