//! The error type of the data layer.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// What is wrong with the contents of an IDX file (or byte buffer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdxFault {
    /// The data ended inside the header.
    TruncatedHeader {
        /// Bytes the header needs (so far known).
        needed: usize,
        /// Bytes that were there.
        found: usize,
    },
    /// The magic number is not the one expected.
    WrongMagic {
        /// The magic number found.
        found: u32,
        /// The magic number expected, if one particular value is.
        expected: Option<u32>,
        /// What the expected magic number stands for ("IDX images").
        what: &'static str,
    },
    /// The type byte is not 0x08 (unsigned byte).
    WrongType {
        /// The type byte found.
        found: u8,
        /// The whole magic number.
        magic: u32,
    },
    /// The rank byte is outside 1..=4.
    WrongRank {
        /// The rank found.
        found: u8,
        /// The whole magic number.
        magic: u32,
    },
    /// A dimension is zero, so the file holds no items.
    Empty {
        /// The dimensions from the header.
        dims: Vec<usize>,
    },
    /// The product of the dimensions does not fit in `usize`.
    Overflow {
        /// The dimensions from the header.
        dims: Vec<usize>,
    },
    /// The data is shorter than the header declares.
    Truncated {
        /// Bytes of data the header declares.
        declared: usize,
        /// Bytes of data there are.
        found: u64,
    },
    /// The data is longer than the header declares.
    TooLong {
        /// Bytes of data the header declares.
        declared: usize,
        /// Bytes of data there are, if known (a gzip stream is read no further
        /// than one byte past the declared size).
        found: Option<u64>,
    },
    /// The gzip stream is corrupt.
    BadGzip {
        /// The decoder's message.
        message: String,
    },
}

fn dims_text(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(" x ")
}

impl fmt::Display for IdxFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedHeader { needed, found } => write!(
                f,
                "truncated header: the header needs {needed} bytes, file holds {found}"
            ),
            Self::WrongMagic {
                found,
                expected: Some(e),
                what,
            } => write!(
                f,
                "wrong magic number 0x{found:08X}, expected 0x{e:08X} ({what})"
            ),
            Self::WrongMagic {
                found,
                expected: None,
                what,
            } => write!(f, "wrong magic number 0x{found:08X}, expected {what}"),
            Self::WrongType { found, magic } => write!(
                f,
                "unsupported data type 0x{found:02X} in magic number 0x{magic:08X}: \
                 only 0x08 (unsigned byte) is supported"
            ),
            Self::WrongRank { found, magic } => write!(
                f,
                "unsupported rank {found} in magic number 0x{magic:08X}: IDX rank must be 1 to 4"
            ),
            Self::Empty { dims } => write!(
                f,
                "holds no items: header declares dimensions {}",
                dims_text(dims)
            ),
            Self::Overflow { dims } => write!(
                f,
                "dimensions {} overflow: their product does not fit in memory sizes",
                dims_text(dims)
            ),
            Self::Truncated { declared, found } => write!(
                f,
                "truncated: header declares {declared} bytes, file holds {found}"
            ),
            Self::TooLong {
                declared,
                found: Some(n),
            } => write!(
                f,
                "holds more data than its header declares: header declares {declared} bytes, \
                 file holds {n}"
            ),
            Self::TooLong {
                declared,
                found: None,
            } => write!(
                f,
                "holds more data than its header declares: header declares {declared} bytes"
            ),
            Self::BadGzip { message } => write!(f, "cannot inflate gzip stream: {message}"),
        }
    }
}

impl std::error::Error for IdxFault {}

/// An error of the data layer: loading, checking, subsetting or batching.
///
/// Every variant that concerns a file carries its path, and the message names
/// the file and the fault, e.g.
/// `data/mnist/train-images-idx3-ubyte.gz: wrong magic number 0x00000801, expected 0x00000803 (IDX images)`.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataError {
    /// A folder that should hold the data set does not exist or is not a folder.
    MissingDir {
        /// The folder.
        path: PathBuf,
    },
    /// A required file is absent (neither the `.gz` nor the plain name exists).
    MissingFile {
        /// The path looked for (the `.gz` name).
        path: PathBuf,
    },
    /// Reading a file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file's contents are malformed.
    Idx {
        /// The file.
        path: PathBuf,
        /// The fault.
        fault: IdxFault,
    },
    /// An images file and its labels file disagree on the count.
    CountMismatch {
        /// The images file.
        images: PathBuf,
        /// Its image count.
        n_images: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its label count.
        n_labels: usize,
    },
    /// The training and test images have different sizes.
    ShapeMismatch {
        /// The training images file.
        train: PathBuf,
        /// Its image size (rows, cols).
        train_shape: (usize, usize),
        /// The test images file.
        test: PathBuf,
        /// Its image size (rows, cols).
        test_shape: (usize, usize),
    },
    /// An operation needs labels, and the set has none.
    NoLabels {
        /// The operation.
        operation: &'static str,
    },
    /// An image index is out of range.
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The number of images.
        len: usize,
    },
    /// A batch buffer has the wrong length.
    BufferSize {
        /// The length needed (batch size times image size).
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// An `ImageSet` whose fields disagree with each other.
    Inconsistent {
        /// What disagrees.
        message: String,
    },
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingDir { path } => {
                write!(f, "{}: data folder not found", path.display())
            }
            Self::MissingFile { path } => {
                write!(f, "{}: file not found (nor without .gz)", path.display())
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Idx { path, fault } => write!(f, "{}: {fault}", path.display()),
            Self::CountMismatch {
                images,
                n_images,
                labels,
                n_labels,
            } => write!(
                f,
                "{} holds {n_labels} labels but {} holds {n_images} images",
                labels.display(),
                images.display()
            ),
            Self::ShapeMismatch {
                train,
                train_shape,
                test,
                test_shape,
            } => write!(
                f,
                "image sizes differ: {} holds {} x {} images, {} holds {} x {}",
                train.display(),
                train_shape.0,
                train_shape.1,
                test.display(),
                test_shape.0,
                test_shape.1
            ),
            Self::NoLabels { operation } => {
                write!(f, "{operation} needs labels, and the image set has none")
            }
            Self::IndexOutOfRange { index, len } => {
                write!(f, "image index {index} out of range for {len} images")
            }
            Self::BufferSize { expected, found } => write!(
                f,
                "batch buffer holds {found} values, expected {expected} (batch size x image size)"
            ),
            Self::Inconsistent { message } => write!(f, "inconsistent image set: {message}"),
        }
    }
}

impl std::error::Error for DataError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Idx { fault, .. } => Some(fault),
            _ => None,
        }
    }
}
