//! The data layer: IDX files (plain or gzipped), the MNIST data set, and
//! batches of `f32` pixels for training.
//!
//! ```no_run
//! use std::path::Path;
//! use vae::data::{Binarize, epoch_order, fill_batch, load_dir};
//! use rand::SeedableRng;
//!
//! let mnist = load_dir(Path::new("data/mnist"))?;
//! let train = &mnist.train;
//! let batch = 128;
//! let mut buf = vec![0.0f32; batch * train.dim()];
//! let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
//! let order = epoch_order(train.len(), 42, 0);
//! for indices in order.chunks_exact(batch) {
//!     fill_batch(train, indices, &mut buf, Binarize::Dynamic, &mut rng)?;
//!     // ... train on `buf` (batch x dim, row-major) ...
//! }
//! # Ok::<(), vae::data::DataError>(())
//! ```

mod batch;
mod error;
mod idx;
mod mnist;
mod set;

pub use batch::{Batch, Batcher, Binarize, epoch_order, epoch_rng, fill_batch, shuffle_into};
pub use error::{DataError, IdxFault};
pub use idx::{Idx, decode_idx, decode_images, decode_labels, read_idx, read_images, read_labels};
pub use mnist::{Mnist, TEST_FILES, TRAIN_FILES, load_dir};
pub use set::ImageSet;
