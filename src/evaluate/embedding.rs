//! The embedding report: a VAE's posterior means against PCA to the same number of dimensions,
//! scored by k-NN accuracy (test points among training points) and trustworthiness.

use super::{Pca, knn_accuracy, trustworthiness};
use crate::data::ImageSet;
use crate::eval::latent_stats;
use crate::model::Vae;

/// The neighbours counted by the k-NN accuracies.
pub const KNN_KS: [usize; 2] = [1, 5];
/// The neighbours counted by trustworthiness.
pub const TRUST_K: usize = 5;

/// One embedding's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingScores {
    /// Accuracy of the 1-NN vote.
    pub knn1: f64,
    /// Accuracy of the 5-NN vote.
    pub knn5: f64,
    /// Trustworthiness with 5 neighbours.
    pub trust: f64,
}

impl EmbeddingScores {
    /// As JSON, for `summary.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "knn1": self.knn1, "knn5": self.knn5, "trust5": self.trust })
    }
}

/// The VAE's and PCA's scores side by side.
#[derive(Clone, Debug)]
pub struct EmbeddingReport {
    /// Dimensions of both embeddings (the latent size).
    pub dims: usize,
    /// Training points the trustworthiness was computed on.
    pub trust_points: usize,
    /// The VAE's posterior means.
    pub vae: EmbeddingScores,
    /// PCA fitted on the training images.
    pub pca: EmbeddingScores,
    /// The share of the pixels' variance PCA's components keep.
    pub pca_explained: f64,
}

impl EmbeddingReport {
    /// As JSON, for `summary.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "dims": self.dims,
            "knn_train_as_reference": true,
            "trust_points": self.trust_points,
            "vae": self.vae.to_json(),
            "pca": self.pca.to_json(),
            "pca_explained_variance": self.pca_explained,
        })
    }

    /// The table printed by `examples/evaluate.rs`.
    pub fn table(&self) -> String {
        let row = |name: &str, s: &EmbeddingScores| {
            format!(
                "{name:<28} {:>6.3} {:>6.3} {:>9.3}\n",
                s.knn1, s.knn5, s.trust
            )
        };
        format!(
            "{:<28} {:>6} {:>6} {:>9}\n{}{}",
            format!("embedding ({}-D)", self.dims),
            "1-NN",
            "5-NN",
            "trust(5)",
            row("VAE posterior means", &self.vae),
            row(
                &format!("PCA ({:.1}% of variance)", 100.0 * self.pca_explained),
                &self.pca
            ),
        )
    }
}

/// Pixels in [0, 1] as one row per image.
pub fn pixels(set: &ImageSet) -> Vec<f32> {
    set.images.iter().map(|&p| p as f32 / 255.0).collect()
}

fn labels(set: &ImageSet, which: &str) -> Result<Vec<u8>, String> {
    set.labels
        .clone()
        .ok_or_else(|| format!("the {which} set has no labels: k-NN accuracy needs them"))
}

/// Scores of one embedding of the training and test sets; trustworthiness on the first
/// `trust_points` training points.
/// `embedded` is (training rows, test rows, width); `labels` (training, test).
fn scores(
    train_x: &[f32],
    dim: usize,
    embedded: (&[f32], &[f32], usize),
    labels: (&[u8], &[u8]),
    trust_points: usize,
) -> EmbeddingScores {
    let (train_e, test_e, e_dim) = embedded;
    let (train_labels, test_labels) = labels;
    let acc = knn_accuracy(train_e, train_labels, test_e, test_labels, e_dim, &KNN_KS);
    let trust = trustworthiness(
        &train_x[..trust_points * dim],
        dim,
        &train_e[..trust_points * e_dim],
        e_dim,
        TRUST_K,
    );
    EmbeddingScores {
        knn1: acc[0],
        knn5: acc[1],
        trust,
    }
}

fn vae_scores_of(
    model: &Vae,
    train: &ImageSet,
    test: &ImageSet,
    train_x: &[f32],
    labels: (&[u8], &[u8]),
    trust_points: usize,
) -> EmbeddingScores {
    let vae_train = latent_stats(model, train).mu;
    let vae_test = latent_stats(model, test).mu;
    let e = (
        vae_train.as_slice(),
        vae_test.as_slice(),
        model.config.latent,
    );
    scores(train_x, train.dim(), e, labels, trust_points)
}

/// The VAE's scores alone (no PCA), as the sweep records them.
pub fn vae_scores(
    model: &Vae,
    train: &ImageSet,
    test: &ImageSet,
    trust_points: usize,
) -> Result<EmbeddingScores, String> {
    let (train_labels, test_labels) = (labels(train, "training")?, labels(test, "test")?);
    let trust_points = trust_points.min(train.len());
    check_sizes(train.len(), trust_points)?;
    let labels = (train_labels.as_slice(), test_labels.as_slice());
    Ok(vae_scores_of(
        model,
        train,
        test,
        &pixels(train),
        labels,
        trust_points,
    ))
}

fn check_sizes(train: usize, trust_points: usize) -> Result<(), String> {
    if 2 * trust_points <= 3 * TRUST_K + 1 {
        return Err(format!(
            "trustworthiness with k = {TRUST_K} needs at least {} points, got {trust_points}",
            (3 * TRUST_K).div_ceil(2) + 1
        ));
    }
    if train < KNN_KS[1] {
        return Err(format!("k-NN needs at least {} training images", KNN_KS[1]));
    }
    Ok(())
}

/// Embeds both sets by the posterior means and by PCA (fitted on `train`), and scores both.
/// `trust_points` is capped at the training set's size.
pub fn embedding_report(
    model: &Vae,
    train: &ImageSet,
    test: &ImageSet,
    trust_points: usize,
) -> Result<EmbeddingReport, String> {
    let (train_labels, test_labels) = (labels(train, "training")?, labels(test, "test")?);
    let trust_points = trust_points.min(train.len());
    check_sizes(train.len(), trust_points)?;
    let dims = model.config.latent;
    if dims > train.dim() {
        return Err(format!(
            "a {dims}-D latent space is wider than the {} pixels: no PCA to compare with",
            train.dim()
        ));
    }
    let d = train.dim();
    let train_x = pixels(train);
    let test_x = pixels(test);
    let labels = (train_labels.as_slice(), test_labels.as_slice());
    let vae = vae_scores_of(model, train, test, &train_x, labels, trust_points);
    let pca = Pca::fit(&train_x, d, dims);
    let pca_train = pca.transform(&train_x);
    let pca_test = pca.transform(&test_x);
    let pca_scores = scores(
        &train_x,
        d,
        (&pca_train, &pca_test, dims),
        labels,
        trust_points,
    );
    Ok(EmbeddingReport {
        dims,
        trust_points,
        vae,
        pca: pca_scores,
        pca_explained: pca.explained(),
    })
}
