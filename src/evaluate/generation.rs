//! The generation report: a VAE's prior samples and test reconstructions, scored by the
//! classifier (Fréchet distance of its features to the real test images', classifier score,
//! share of confident labels), beside the same figures for real images.

use super::embedding::pixels;
use super::frechet::{Gaussian, frechet_distance};
use super::score::{classifier_score, confident_share};
use crate::classifier::{Classifier, Predictions};
use crate::data::ImageSet;
use crate::eval::{decode_probs, reconstruct};
use crate::model::Vae;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, StandardNormal};

/// The probability above which a label counts as confident.
pub const CONFIDENT: f32 = 0.9;

/// One set of images, scored.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationRow {
    /// What the images are.
    pub name: String,
    /// How many.
    pub images: usize,
    /// Squared Fréchet distance of the classifier features to the real test images'.
    pub frechet: f64,
    /// `exp(E KL(p(y|x) || p(y)))`.
    pub score: f64,
    /// Share with `max p(y|x) > 0.9`.
    pub confident: f64,
    /// For images with a known label: the share the classifier labels so.
    pub label_agreement: Option<f64>,
}

impl GenerationRow {
    /// As JSON, for `summary.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "images": self.images,
            "frechet": self.frechet,
            "classifier_score": self.score,
            "confident": self.confident,
            "label_agreement": self.label_agreement,
        })
    }
}

/// Every row of the report.
#[derive(Clone, Debug)]
pub struct GenerationReport {
    /// The classifier's test accuracy.
    pub classifier_accuracy: f64,
    /// Real test images (the ceiling), training images (train vs test), test reconstructions,
    /// prior samples.
    pub rows: Vec<GenerationRow>,
}

/// The keys of the rows in `summary.json`, in order.
const KEYS: [&str; 4] = [
    "real_test",
    "real_train",
    "test_reconstructions",
    "prior_samples",
];

impl GenerationReport {
    /// As JSON, for `summary.json`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "classifier_test_accuracy": self.classifier_accuracy,
            "confident_threshold": CONFIDENT,
        });
        for (k, r) in KEYS.iter().zip(&self.rows) {
            v[*k] = r.to_json();
        }
        v
    }

    /// The table printed by `examples/evaluate.rs`.
    pub fn table(&self) -> String {
        let mut s = format!(
            "{:<34} {:>9} {:>9} {:>10} {:>10}\n",
            "images (scored by the classifier)", "Fréchet", "score", "max p>0.9", "label ok"
        );
        for r in &self.rows {
            s.push_str(&format!(
                "{:<34} {:>9.2} {:>9.3} {:>10.3} {:>10}\n",
                r.name,
                r.frechet,
                r.score,
                r.confident,
                r.label_agreement
                    .map_or("".to_string(), |a| format!("{a:.3}"))
            ));
        }
        s
    }
}

fn row(
    name: String,
    p: &Predictions,
    classes: usize,
    reference: &Gaussian,
    labels: Option<&[u8]>,
) -> GenerationRow {
    let n = p.probs.len() / classes;
    let g = Gaussian::fit(&p.features, p.feature_dim);
    let label_agreement = labels.map(|l| {
        let pred = p.labels(classes);
        pred.iter().zip(l).filter(|(a, b)| a == b).count() as f64 / n.max(1) as f64
    });
    GenerationRow {
        name,
        images: n,
        frechet: frechet_distance(&g, reference),
        score: classifier_score(&p.probs, classes),
        confident: confident_share(&p.probs, classes, CONFIDENT),
        label_agreement,
    }
}

/// Scores `samples` prior samples of `model` (decoded to pixel probabilities, noise from `seed`),
/// its reconstructions of `test`, the first `samples` training images and `test` itself, each
/// against the real test images' features.
pub fn generation_report(
    model: &Vae,
    classifier: &Classifier,
    train: &ImageSet,
    test: &ImageSet,
    samples: usize,
    seed: u64,
) -> GenerationReport {
    let c = classifier.classes;
    let test_x = pixels(test);
    let real = classifier.predict(&test_x);
    let reference = Gaussian::fit(&real.features, real.feature_dim);
    let mut rows = vec![row(
        "real test images (the ceiling)".into(),
        &real,
        c,
        &reference,
        test.labels.as_deref(),
    )];
    let train_part = train.first(samples.min(train.len()));
    let train_pred = classifier.predict(&pixels(&train_part));
    rows.push(row(
        format!("real training images (first {})", train_part.len()),
        &train_pred,
        c,
        &reference,
        train_part.labels.as_deref(),
    ));
    let recon = classifier.predict(&reconstruct(model, &test_x));
    rows.push(row(
        "test reconstructions".into(),
        &recon,
        c,
        &reference,
        test.labels.as_deref(),
    ));
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5a3b_1e00);
    let z: Vec<f32> = (0..samples * model.config.latent)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let prior = classifier.predict(&decode_probs(model, &z));
    rows.push(row(
        format!("prior samples ({samples})"),
        &prior,
        c,
        &reference,
        None,
    ));
    GenerationReport {
        classifier_accuracy: classifier.test_accuracy,
        rows,
    }
}
