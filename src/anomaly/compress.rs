//! Lossless code lengths of images, for the complexity-corrected score (Serrà et al., ICLR 2020).
//!
//! An image is laid out as a PNG stores it (each row prefixed by its filter byte), filtered with
//! each of PNG's five filters (None, Sub, Up, Average, Paeth; one filter for the whole image),
//! compressed with zlib (deflate) at level 9, and the shortest result counts. The length is
//! `8 · bytes · ln 2` nats. A bit image is packed eight pixels to a byte, most significant bit
//! first, each row padded to whole bytes, as in a 1-bit PNG. The PNG file's fixed chunks (a few
//! dozen bytes, the same for every image) are left out: they shift every length alike.
//!
//! The result depends only on the pixels, so it is deterministic.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::cell::RefCell;

/// The pixels of one image as the model scores them.
#[derive(Clone, Copy, Debug)]
pub enum ImageBits<'a> {
    /// Grey levels, one byte per pixel (`rows x cols`).
    Grey(&'a [u8]),
    /// Binary pixels (`rows x cols`): true is ink.
    Bits(&'a [bool]),
}

/// The image as PNG scanlines without filter bytes: `rows` rows of `stride` bytes.
fn scanlines(image: ImageBits<'_>, rows: usize, cols: usize) -> (Vec<u8>, usize) {
    match image {
        ImageBits::Grey(px) => (px[..rows * cols].to_vec(), cols),
        ImageBits::Bits(px) => {
            let stride = cols.div_ceil(8);
            let mut out = vec![0u8; rows * stride];
            for r in 0..rows {
                for c in 0..cols {
                    if px[r * cols + c] {
                        out[r * stride + c / 8] |= 0x80 >> (c % 8);
                    }
                }
            }
            (out, stride)
        }
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let (ia, ib, ic) = (a as i16, b as i16, c as i16);
    let p = ia + ib - ic;
    let (pa, pb, pc) = ((p - ia).abs(), (p - ib).abs(), (p - ic).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Scanlines filtered with PNG filter `kind` (0..=4), each row led by its filter byte; one
/// byte per pixel (or per eight bits), so the left neighbour is the previous byte.
fn filtered(lines: &[u8], stride: usize, kind: u8) -> Vec<u8> {
    let rows = lines.len() / stride.max(1);
    let mut out = Vec::with_capacity(rows * (stride + 1));
    for r in 0..rows {
        out.push(kind);
        let row = &lines[r * stride..(r + 1) * stride];
        let up = |c: usize| {
            if r == 0 {
                0
            } else {
                lines[(r - 1) * stride + c]
            }
        };
        for c in 0..stride {
            let a = if c == 0 { 0 } else { row[c - 1] };
            let b = up(c);
            let cc = if c == 0 { 0 } else { up(c - 1) };
            let pred = match kind {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                _ => paeth(a, b, cc),
            };
            out.push(row[c].wrapping_sub(pred));
        }
    }
    out
}

thread_local! {
    /// One zlib compressor per thread, reset between images: setting up deflate's tables
    /// costs more than compressing a digit.
    static ZLIB: RefCell<(Compress, Vec<u8>)> =
        RefCell::new((Compress::new(Compression::best(), true), Vec::new()));
}

/// Bytes of `data` compressed with zlib at level 9 (the same stream as `ZlibEncoder` writes).
fn zlib_len(data: &[u8]) -> usize {
    ZLIB.with(|z| {
        let (c, buf) = &mut *z.borrow_mut();
        c.reset();
        buf.clear();
        buf.reserve(data.len() + data.len() / 8 + 64);
        loop {
            let status = c
                .compress_vec(&data[c.total_in() as usize..], buf, FlushCompress::Finish)
                .expect("deflate into memory cannot fail");
            if status == Status::StreamEnd {
                return buf.len();
            }
            buf.reserve(buf.capacity().max(64));
        }
    })
}

/// The image's lossless code length in bytes: the shortest zlib stream over the five PNG filters.
pub fn code_length_bytes(image: ImageBits<'_>, rows: usize, cols: usize) -> usize {
    let (lines, stride) = scanlines(image, rows, cols);
    (0..=4u8)
        .map(|k| zlib_len(&filtered(&lines, stride, k)))
        .min()
        .expect("five filters")
}

/// [`code_length_bytes`] in nats (`8 ln 2` nats a byte).
pub fn code_length_nats(image: ImageBits<'_>, rows: usize, cols: usize) -> f64 {
    code_length_bytes(image, rows, cols) as f64 * 8.0 * std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use flate2::write::ZlibEncoder;
    use std::io::{Read, Write};

    fn digit_like(rows: usize, cols: usize) -> Vec<u8> {
        (0..rows * cols)
            .map(|i| {
                let (r, c) = (i / cols, i % cols);
                if (r as i32 - 14).abs() < 8 && (c as i32 - 14).abs() < 2 {
                    255
                } else {
                    0
                }
            })
            .collect()
    }

    #[test]
    fn deterministic_and_in_nats() {
        let img = digit_like(28, 28);
        let a = code_length_bytes(ImageBits::Grey(&img), 28, 28);
        let b = code_length_bytes(ImageBits::Grey(&img.clone()), 28, 28);
        assert_eq!(a, b);
        let nats = code_length_nats(ImageBits::Grey(&img), 28, 28);
        assert!((nats - a as f64 * 8.0 * 2f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn busier_images_cost_more() {
        let blank = vec![0u8; 784];
        let bar = digit_like(28, 28);
        let mut x = 99u64;
        let noise: Vec<u8> = (0..784)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect();
        let len = |p: &[u8]| code_length_bytes(ImageBits::Grey(p), 28, 28);
        assert!(len(&blank) < len(&bar), "{} {}", len(&blank), len(&bar));
        assert!(len(&bar) < len(&noise));
        // Noise does not compress: about its 784 bytes plus framing.
        assert!(len(&noise) >= 784);
    }

    #[test]
    fn the_shortest_filter_is_a_real_stream_of_the_packed_bits() {
        // Bits packed MSB first, rows padded: 10 columns take two bytes a row.
        let cols = 10;
        let bits: Vec<bool> = (0..3 * cols).map(|i| i % 3 == 0).collect();
        let (lines, stride) = scanlines(ImageBits::Bits(&bits), 3, cols);
        assert_eq!(stride, 2);
        assert_eq!(lines[..2], [0b1001_0010, 0b0100_0000]);
        // Each filtered stream decodes back to the filtered scanlines (lossless), and the
        // reported length is the shortest of the five.
        let mut best = usize::MAX;
        for k in 0..=4u8 {
            let f = filtered(&lines, stride, k);
            let mut e = ZlibEncoder::new(Vec::new(), Compression::best());
            e.write_all(&f).unwrap();
            let z = e.finish().unwrap();
            // The reused compressor writes the same stream as a fresh encoder.
            assert_eq!(zlib_len(&f), z.len());
            let mut back = Vec::new();
            ZlibDecoder::new(&z[..]).read_to_end(&mut back).unwrap();
            assert_eq!(back, f);
            best = best.min(z.len());
        }
        assert_eq!(code_length_bytes(ImageBits::Bits(&bits), 3, cols), best);
    }

    #[test]
    fn filters_invert() {
        // Undoing each filter recovers the scanlines: the filters are PNG's, not lossy.
        let img = digit_like(6, 5);
        for k in 0..=4u8 {
            let f = filtered(&img, 5, k);
            let mut rec = vec![0u8; img.len()];
            for r in 0..6 {
                assert_eq!(f[r * 6], k);
                for c in 0..5 {
                    let a = if c == 0 { 0 } else { rec[r * 5 + c - 1] };
                    let b = if r == 0 { 0 } else { rec[(r - 1) * 5 + c] };
                    let cc = if r == 0 || c == 0 {
                        0
                    } else {
                        rec[(r - 1) * 5 + c - 1]
                    };
                    let pred = match k {
                        0 => 0,
                        1 => a,
                        2 => b,
                        3 => ((a as u16 + b as u16) / 2) as u8,
                        _ => paeth(a, b, cc),
                    };
                    rec[r * 5 + c] = f[r * 6 + 1 + c].wrapping_add(pred);
                }
            }
            assert_eq!(rec, img, "filter {k}");
        }
    }
}
