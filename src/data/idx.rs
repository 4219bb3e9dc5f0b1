//! Reading IDX files (the MNIST file format), plain or gzipped.
//!
//! An IDX file is a big-endian header — two zero bytes, a type byte (only
//! `0x08`, unsigned byte, is supported here), a rank byte, then one `u32` per
//! dimension — followed by the data, row-major. Images are magic `0x00000803`
//! (rank 3: count, rows, cols), labels `0x00000801` (rank 1: count).
//!
//! Everything in the header is checked before any large allocation: the
//! magic number, the rank, every dimension, their product (with checked
//! multiplication) and, for a plain file, the file's length. A gzip stream is
//! read with a bound of one byte past the declared size, into a buffer whose
//! initial capacity is capped, so a header that claims billions of items is
//! refused without allocating gigabytes.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use byteorder::{BigEndian, ByteOrder};
use flate2::bufread::MultiGzDecoder;

use super::error::{DataError, IdxFault};
use super::set::ImageSet;

/// The most bytes reserved up front for a gzip stream's data; a larger data
/// set grows its buffer as it inflates.
const MAX_INITIAL_CAPACITY: usize = 64 << 20;

/// The two magic bytes that start a gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The contents of an IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    /// The dimensions from the header, outermost first; none is zero.
    pub dims: Vec<usize>,
    /// The data, row-major; its length is the product of `dims`.
    pub data: Vec<u8>,
}

/// Which IDX files a read accepts.
#[derive(Debug, Clone, Copy)]
struct Kind {
    /// The required rank, or `None` for any rank in 1..=4.
    rank: Option<u8>,
    /// What the file should be, for messages.
    what: &'static str,
}

const ANY: Kind = Kind {
    rank: None,
    what: "an IDX file of unsigned bytes, 0x000008RR with rank RR in 1..=4",
};
const IMAGES: Kind = Kind {
    rank: Some(3),
    what: "IDX images",
};
const LABELS: Kind = Kind {
    rank: Some(1),
    what: "IDX labels",
};

/// Why a decode failed: the contents, or the reading itself.
enum Fail {
    Fault(IdxFault),
    Io(io::Error),
}

impl From<IdxFault> for Fail {
    fn from(f: IdxFault) -> Self {
        Fail::Fault(f)
    }
}

/// Reads an IDX file of unsigned bytes of any rank from 1 to 4, plain or
/// gzipped (detected by the gzip magic bytes, not the name).
pub fn read_idx(path: &Path) -> Result<Idx, DataError> {
    read_file(path, ANY)
}

/// Reads an IDX images file (magic `0x00000803`: count, rows, cols), plain or
/// gzipped, into an [`ImageSet`] without labels.
pub fn read_images(path: &Path) -> Result<ImageSet, DataError> {
    read_file(path, IMAGES).map(images_from)
}

/// Reads an IDX labels file (magic `0x00000801`: count), plain or gzipped.
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    read_file(path, LABELS).map(|idx| idx.data)
}

/// Decodes an IDX file of any rank from 1 to 4 held in memory, plain or
/// gzipped (detected by the gzip magic bytes).
pub fn decode_idx(bytes: &[u8]) -> Result<Idx, IdxFault> {
    decode_bytes(bytes, ANY)
}

/// Decodes an IDX images file held in memory, plain or gzipped, into an
/// [`ImageSet`] without labels.
pub fn decode_images(bytes: &[u8]) -> Result<ImageSet, IdxFault> {
    decode_bytes(bytes, IMAGES).map(images_from)
}

/// Decodes an IDX labels file held in memory, plain or gzipped.
pub fn decode_labels(bytes: &[u8]) -> Result<Vec<u8>, IdxFault> {
    decode_bytes(bytes, LABELS).map(|idx| idx.data)
}

fn images_from(idx: Idx) -> ImageSet {
    // `decode` checked the rank (3), so `dims` has three entries.
    ImageSet {
        n: idx.dims[0],
        rows: idx.dims[1],
        cols: idx.dims[2],
        images: idx.data,
        labels: None,
    }
}

fn decode_bytes(bytes: &[u8], kind: Kind) -> Result<Idx, IdxFault> {
    let result = if bytes.starts_with(&GZIP_MAGIC) {
        decode(MultiGzDecoder::new(bytes), None, kind)
    } else {
        decode(bytes, Some(bytes.len() as u64), kind)
    };
    result.map_err(|fail| match fail {
        Fail::Fault(fault) => fault,
        // Reading a slice cannot fail, so any I/O error is the inflater's.
        Fail::Io(e) => IdxFault::BadGzip {
            message: e.to_string(),
        },
    })
}

fn read_file(path: &Path, kind: Kind) -> Result<Idx, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    let mut reader = BufReader::new(file);
    let is_gzip = reader.fill_buf().map_err(io_err)?.starts_with(&GZIP_MAGIC);
    let result = if is_gzip {
        decode(MultiGzDecoder::new(reader), None, kind).map_err(|fail| match fail {
            Fail::Io(e) if is_decoder_error(&e) => Fail::Fault(IdxFault::BadGzip {
                message: e.to_string(),
            }),
            other => other,
        })
    } else {
        decode(reader, Some(len), kind)
    };
    result.map_err(|fail| match fail {
        Fail::Fault(fault) => DataError::Idx {
            path: path.to_path_buf(),
            fault,
        },
        Fail::Io(source) => io_err(source),
    })
}

/// Whether an I/O error from the gzip decoder is about the stream's contents.
fn is_decoder_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
    )
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, Fail> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fail::Io(e)),
        }
    }
    Ok(filled)
}

/// Decodes an IDX stream. `total_len` is the stream's length when known (a
/// plain file), so that the body can be checked before it is allocated.
fn decode(mut r: impl Read, total_len: Option<u64>, kind: Kind) -> Result<Idx, Fail> {
    let mut magic_bytes = [0u8; 4];
    let got = read_up_to(&mut r, &mut magic_bytes)?;
    if got < 4 {
        return Err(IdxFault::TruncatedHeader {
            needed: 4,
            found: got,
        }
        .into());
    }
    let magic = BigEndian::read_u32(&magic_bytes);
    let [z0, z1, type_byte, rank] = magic_bytes;
    let expected = kind.rank.map(|r| 0x0800 | u32::from(r));
    if z0 != 0 || z1 != 0 {
        return Err(wrong_magic(magic, expected, kind).into());
    }
    if type_byte != 0x08 {
        return Err(IdxFault::WrongType {
            found: type_byte,
            magic,
        }
        .into());
    }
    match kind.rank {
        Some(r) if r != rank => return Err(wrong_magic(magic, expected, kind).into()),
        None if !(1..=4).contains(&rank) => {
            return Err(IdxFault::WrongRank { found: rank, magic }.into());
        }
        _ => {}
    }

    let rank = usize::from(rank);
    let header_len = 4 + 4 * rank;
    let mut dim_bytes = [0u8; 16];
    let got = read_up_to(&mut r, &mut dim_bytes[..4 * rank])?;
    if got < 4 * rank {
        return Err(IdxFault::TruncatedHeader {
            needed: header_len,
            found: 4 + got,
        }
        .into());
    }
    let dims: Vec<usize> = dim_bytes[..4 * rank]
        .chunks_exact(4)
        .map(|c| BigEndian::read_u32(c) as usize)
        .collect();
    let declared = checked_size(&dims)?;

    if let Some(total) = total_len {
        let found = total.saturating_sub(header_len as u64);
        if found < declared as u64 {
            return Err(IdxFault::Truncated { declared, found }.into());
        }
        if found > declared as u64 {
            return Err(IdxFault::TooLong {
                declared,
                found: Some(found),
            }
            .into());
        }
    }

    let mut data = Vec::with_capacity(declared.min(MAX_INITIAL_CAPACITY));
    let bound = declared as u64 + 1;
    loop {
        match (&mut r).take(bound).read_to_end(&mut data) {
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fail::Io(e)),
        }
    }
    if data.len() < declared {
        return Err(IdxFault::Truncated {
            declared,
            found: data.len() as u64,
        }
        .into());
    }
    if data.len() > declared {
        return Err(IdxFault::TooLong {
            declared,
            found: None,
        }
        .into());
    }
    Ok(Idx { dims, data })
}

fn wrong_magic(found: u32, expected: Option<u32>, kind: Kind) -> IdxFault {
    IdxFault::WrongMagic {
        found,
        expected,
        what: kind.what,
    }
}

/// The product of the dimensions, refusing zero dimensions and overflow.
fn checked_size(dims: &[usize]) -> Result<usize, IdxFault> {
    if dims.contains(&0) {
        return Err(IdxFault::Empty {
            dims: dims.to_vec(),
        });
    }
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        // Keep the size addressable as a slice (and as a u64 with the header).
        .filter(|&n| n <= isize::MAX as usize - 64)
        .ok_or_else(|| IdxFault::Overflow {
            dims: dims.to_vec(),
        })
}
