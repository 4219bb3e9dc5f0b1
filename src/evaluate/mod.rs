//! How good a model is, in numbers: its embedding as a map (k-NN accuracy, trustworthiness,
//! against PCA's), and its images as seen by a classifier (Fréchet distance, classifier score).
//!
//! | metric | file | checked against |
//! |---|---|---|
//! | k-NN accuracy | `knn.rs` | sorting every distance |
//! | trustworthiness | `trust.rs` | full distance matrices and sorted ranks |
//! | PCA | `pca.rs` | points built from known directions |
//! | symmetric eigendecomposition, matrix square root | `linalg.rs` | matrices built from known eigenpairs |
//! | Fréchet distance | `frechet.rs` | the closed forms for diagonal and 2 x 2 covariances |
//! | classifier score, confident share | `score.rs` | extreme cases and a hand-computed one |

pub mod knn;
pub mod linalg;
pub mod pca;
pub mod trust;

pub use knn::knn_accuracy;
pub use pca::Pca;
pub use trust::trustworthiness;
pub mod cli;
pub mod embedding;
pub mod frechet;
pub mod generation;
pub mod score;
