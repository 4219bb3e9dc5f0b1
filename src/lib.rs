//! placeholder
#![warn(missing_docs)]

/// Loading MNIST (IDX files, plain or gzipped) and filling training batches.
pub mod data;
/// Saving grids of images as PNG files.
pub mod images;
/// Loss curves and latent-space scatter plots as PNG files.
pub mod plots;
