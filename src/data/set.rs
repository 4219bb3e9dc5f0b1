//! A set of same-size grayscale images, kept as bytes, with optional labels.

use super::error::DataError;

/// A set of `n` grayscale images of `rows` x `cols` bytes each, stored
/// contiguously (image after image, each row-major), with optional labels.
///
/// The fields are public for convenience; the loaders always produce a
/// consistent set (`images.len() == n * rows * cols`, labels, if any, one per
/// image). Methods that index return errors rather than panicking where they
/// return a `Result`; [`ImageSet::check`] tells whether a hand-built set is
/// consistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    /// The pixels, `n * rows * cols` bytes, 0 = background, 255 = ink.
    pub images: Vec<u8>,
    /// The number of images.
    pub n: usize,
    /// The rows of each image.
    pub rows: usize,
    /// The columns of each image.
    pub cols: usize,
    /// One label per image, if the labels were loaded.
    pub labels: Option<Vec<u8>>,
}

impl ImageSet {
    /// The number of pixels in one image (`rows * cols`): the model's input size.
    pub fn dim(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether the set holds no images.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Checks that the fields agree: `images.len() == n * rows * cols` and one
    /// label per image.
    pub fn check(&self) -> Result<(), DataError> {
        let expected = self.n.checked_mul(self.dim());
        if expected != Some(self.images.len()) {
            return Err(DataError::Inconsistent {
                message: format!(
                    "{} pixel bytes for {} images of {} x {}",
                    self.images.len(),
                    self.n,
                    self.rows,
                    self.cols
                ),
            });
        }
        match &self.labels {
            Some(labels) if labels.len() != self.n => Err(DataError::Inconsistent {
                message: format!("{} labels for {} images", labels.len(), self.n),
            }),
            _ => Ok(()),
        }
    }

    /// The pixels of image `i`, or `None` if `i` is out of range.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.n {
            return None;
        }
        let d = self.dim();
        self.images
            .get(i.checked_mul(d)?..i.checked_mul(d)?.checked_add(d)?)
    }

    /// The pixels of image `i`.
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing; use [`ImageSet::get`] for a
    /// checked access.
    pub fn image(&self, i: usize) -> &[u8] {
        match self.get(i) {
            Some(pixels) => pixels,
            None => panic!("image index {i} out of range for {} images", self.n),
        }
    }

    /// The label of image `i`, or `None` without labels or out of range.
    pub fn label(&self, i: usize) -> Option<u8> {
        self.labels.as_ref()?.get(i).copied()
    }

    /// How many images carry each label value: entry `v` counts label `v`;
    /// the vector runs up to the largest label present. `None` without labels.
    pub fn label_counts(&self) -> Option<Vec<usize>> {
        let labels = self.labels.as_ref()?;
        let top = labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| usize::from(m) + 1);
        let mut counts = vec![0; top];
        for &l in labels {
            counts[usize::from(l)] += 1;
        }
        Some(counts)
    }

    /// A new set of the images at `indices`, in that order (repeats allowed),
    /// with their labels if any.
    pub fn subset(&self, indices: &[usize]) -> Result<ImageSet, DataError> {
        self.check()?;
        let d = self.dim();
        let mut images = Vec::with_capacity(indices.len().saturating_mul(d));
        for &i in indices {
            let pixels = self.get(i).ok_or(DataError::IndexOutOfRange {
                index: i,
                len: self.n,
            })?;
            images.extend_from_slice(pixels);
        }
        let labels = self
            .labels
            .as_ref()
            .map(|l| indices.iter().map(|&i| l[i]).collect());
        Ok(ImageSet {
            images,
            n: indices.len(),
            rows: self.rows,
            cols: self.cols,
            labels,
        })
    }

    /// The first `count` images (all of them if there are fewer), for a
    /// `--limit` option.
    pub fn first(&self, count: usize) -> ImageSet {
        let n = count.min(self.n);
        let bytes = n.saturating_mul(self.dim()).min(self.images.len());
        ImageSet {
            images: self.images[..bytes].to_vec(),
            n,
            rows: self.rows,
            cols: self.cols,
            labels: self.labels.as_ref().map(|l| l[..n.min(l.len())].to_vec()),
        }
    }

    /// A new set of the images whose label satisfies `keep`, in order, for
    /// an `--exclude-digit` option. Needs labels. The result may be empty.
    pub fn filter_labels(&self, keep: impl Fn(u8) -> bool) -> Result<ImageSet, DataError> {
        let labels = self.labels.as_ref().ok_or(DataError::NoLabels {
            operation: "filtering by label",
        })?;
        let indices: Vec<usize> = labels
            .iter()
            .enumerate()
            .filter(|&(_, &l)| keep(l))
            .map(|(i, _)| i)
            .collect();
        self.subset(&indices)
    }
}
