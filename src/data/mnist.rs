//! Loading the four MNIST files from a folder.

use std::path::{Path, PathBuf};

use super::error::DataError;
use super::idx::{read_images, read_labels};
use super::set::ImageSet;

/// The MNIST training and test sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The training set (60,000 images in MNIST).
    pub train: ImageSet,
    /// The test set (10,000 images in MNIST).
    pub test: ImageSet,
}

/// The file names, without `.gz`, of the training images and labels.
pub const TRAIN_FILES: (&str, &str) = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte");
/// The file names, without `.gz`, of the test images and labels.
pub const TEST_FILES: (&str, &str) = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte");

/// Loads MNIST from `dir`: `train-images-idx3-ubyte`, `t10k-images-idx3-ubyte`
/// and, if present, `train-labels-idx1-ubyte` and `t10k-labels-idx1-ubyte`,
/// each gzipped (`.gz`, preferred when both exist) or plain.
///
/// The image files are required; a missing labels file leaves that set's
/// labels `None`. Labels, when present, must match the image count, and the
/// training and test images must have the same size. The size comes from the
/// files, not from a constant.
pub fn load_dir(dir: &Path) -> Result<Mnist, DataError> {
    if !dir.is_dir() {
        return Err(DataError::MissingDir {
            path: dir.to_path_buf(),
        });
    }
    let (train, train_path) = load_pair(dir, TRAIN_FILES)?;
    let (test, test_path) = load_pair(dir, TEST_FILES)?;
    if (train.rows, train.cols) != (test.rows, test.cols) {
        return Err(DataError::ShapeMismatch {
            train: train_path,
            train_shape: (train.rows, train.cols),
            test: test_path,
            test_shape: (test.rows, test.cols),
        });
    }
    Ok(Mnist { train, test })
}

/// Loads one images file and its optional labels file; returns the set and
/// the images file's path.
fn load_pair(dir: &Path, (images, labels): (&str, &str)) -> Result<(ImageSet, PathBuf), DataError> {
    let images_path = find(dir, images).ok_or_else(|| DataError::MissingFile {
        path: dir.join(format!("{images}.gz")),
    })?;
    let mut set = read_images(&images_path)?;
    if let Some(labels_path) = find(dir, labels) {
        let labels = read_labels(&labels_path)?;
        if labels.len() != set.n {
            return Err(DataError::CountMismatch {
                images: images_path,
                n_images: set.n,
                labels: labels_path,
                n_labels: labels.len(),
            });
        }
        set.labels = Some(labels);
    }
    Ok((set, images_path))
}

/// `dir/name.gz` if it exists, else `dir/name` if it exists.
fn find(dir: &Path, name: &str) -> Option<PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}
