//! The data layer: the real MNIST files, crafted malformed files (asserting on
//! the error text), and batching.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
mod common;

use common::largest_allocation;
use vae::data::{
    Batch, Batcher, Binarize, DataError, ImageSet, epoch_order, fill_batch, load_dir, read_idx,
    read_images, read_labels, shuffle_into,
};

// ---------------------------------------------------------------- helpers

fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let k = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vae-data-{}-{k}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An IDX file: `magic`, then `dims`, then `data`.
fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn images_file(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let data: Vec<u8> = (0..n * rows * cols).map(|i| (i * 37 % 256) as u8).collect();
    idx(0x803, &[n, rows, cols], &data)
}

fn labels_file(labels: &[u8]) -> Vec<u8> {
    idx(0x801, &[labels.len() as u32], labels)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// A small valid MNIST-like folder: 4 training and 3 test images of 2 x 3.
fn small_dir(name: &str, gz: bool, labels: bool) -> PathBuf {
    let dir = temp_dir(name);
    let ext = if gz { ".gz" } else { "" };
    let enc = |b: Vec<u8>| if gz { gzip(&b) } else { b };
    write(
        &dir,
        &format!("{TRAIN_IMAGES}{ext}"),
        &enc(images_file(4, 2, 3)),
    );
    write(
        &dir,
        &format!("{TEST_IMAGES}{ext}"),
        &enc(images_file(3, 2, 3)),
    );
    if labels {
        write(
            &dir,
            &format!("{TRAIN_LABELS}{ext}"),
            &enc(labels_file(&[3, 1, 4, 1])),
        );
        write(
            &dir,
            &format!("{TEST_LABELS}{ext}"),
            &enc(labels_file(&[5, 9, 2])),
        );
    }
    dir
}

/// The error's text, checked to name `path` and to contain `fault`.
fn assert_error(err: &DataError, path: &Path, fault: &str) {
    let text = err.to_string();
    assert!(
        text.contains(&path.display().to_string()),
        "error does not name {}: {text}",
        path.display()
    );
    assert!(text.contains(fault), "error lacks {fault:?}: {text}");
}

fn images_error(bytes: &[u8], name: &str) -> (DataError, PathBuf) {
    let dir = temp_dir(name);
    let path = write(&dir, &format!("{TRAIN_IMAGES}.gz"), bytes);
    (read_images(&path).unwrap_err(), path)
}

// ---------------------------------------------------------------- real files

#[test]
fn real_mnist_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let m = load_dir(&dir).unwrap();
    for (set, n) in [(&m.train, 60_000), (&m.test, 10_000)] {
        assert_eq!((set.len(), set.rows, set.cols, set.dim()), (n, 28, 28, 784));
        assert_eq!(set.images.len(), n * 784);
        set.check().unwrap();
    }
    let first = |s: &ImageSet| (0..10).map(|i| s.label(i).unwrap()).collect::<Vec<_>>();
    assert_eq!(first(&m.train), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(first(&m.test), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    assert_eq!(
        m.train.label_counts().unwrap(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(
        m.test.label_counts().unwrap(),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
    // A "5": background in the corner, ink somewhere.
    let img = m.train.image(0);
    assert_eq!(img[0], 0);
    assert_eq!(img.iter().copied().max(), Some(255));
}

// ---------------------------------------------------------------- malformed

#[test]
fn truncated_header() {
    let (err, path) = images_error(&[0, 0, 8, 3, 0, 0], "trunc-header");
    assert_error(
        &err,
        &path,
        "truncated header: the header needs 16 bytes, file holds 6",
    );
    let (err, path) = images_error(&[0, 0], "trunc-magic");
    assert_error(
        &err,
        &path,
        "truncated header: the header needs 4 bytes, file holds 2",
    );
    let (err, path) = images_error(&gzip(&[0, 0, 8, 3, 0, 0, 0, 2, 0]), "trunc-header-gz");
    assert_error(
        &err,
        &path,
        "truncated header: the header needs 16 bytes, file holds 9",
    );
}

#[test]
fn truncated_body() {
    let bytes = idx(0x803, &[2, 2, 2], &[1, 2, 3, 4, 5]);
    let (err, path) = images_error(&bytes, "trunc-body");
    assert_error(
        &err,
        &path,
        "truncated: header declares 8 bytes, file holds 5",
    );
    let (err, path) = images_error(&gzip(&bytes), "trunc-body-gz");
    assert_error(
        &err,
        &path,
        "truncated: header declares 8 bytes, file holds 5",
    );
}

#[test]
fn wrong_magic() {
    let (err, path) = images_error(&labels_file(&[1, 2, 3]), "magic-labels");
    assert_error(
        &err,
        &path,
        "wrong magic number 0x00000801, expected 0x00000803 (IDX images)",
    );
    let (err, path) = images_error(b"PK\x03\x04 not an idx file", "magic-zip");
    assert_error(
        &err,
        &path,
        "wrong magic number 0x504B0304, expected 0x00000803 (IDX images)",
    );
    let dir = temp_dir("magic-as-labels");
    let path = write(&dir, TRAIN_LABELS, &images_file(1, 2, 2));
    assert_error(
        &read_labels(&path).unwrap_err(),
        &path,
        "wrong magic number 0x00000803, expected 0x00000801 (IDX labels)",
    );
}

#[test]
fn wrong_type_byte() {
    let (err, path) = images_error(&idx(0x0D03, &[1, 1, 1], &[0; 4]), "type");
    assert_error(
        &err,
        &path,
        "unsupported data type 0x0D in magic number 0x00000D03: only 0x08 (unsigned byte) is supported",
    );
}

#[test]
fn wrong_rank() {
    let (err, path) = images_error(&idx(0x802, &[2, 2], &[0; 4]), "rank-images");
    assert_error(
        &err,
        &path,
        "wrong magic number 0x00000802, expected 0x00000803 (IDX images)",
    );
    let dir = temp_dir("rank-generic");
    let p5 = write(&dir, "rank5", &idx(0x805, &[1; 5], &[7]));
    assert_error(
        &read_idx(&p5).unwrap_err(),
        &p5,
        "unsupported rank 5 in magic number 0x00000805: IDX rank must be 1 to 4",
    );
    let p0 = write(&dir, "rank0", &idx(0x800, &[], &[7]));
    assert_error(&read_idx(&p0).unwrap_err(), &p0, "unsupported rank 0");
    // Ranks 1..=4 are fine for the generic reader.
    let p4 = write(&dir, "rank4", &idx(0x804, &[1, 2, 1, 2], &[1, 2, 3, 4]));
    let ok = read_idx(&p4).unwrap();
    assert_eq!((ok.dims, ok.data), (vec![1, 2, 1, 2], vec![1, 2, 3, 4]));
}

#[test]
fn dims_that_overflow() {
    let max = u32::MAX;
    let (err, path) = images_error(&idx(0x803, &[max, max, max], &[]), "overflow");
    assert_error(
        &err,
        &path,
        "dimensions 4294967295 x 4294967295 x 4294967295 overflow",
    );
    let dir = temp_dir("overflow-generic");
    let p = write(&dir, "r4", &gzip(&idx(0x804, &[max; 4], &[1, 2, 3])));
    assert_error(&read_idx(&p).unwrap_err(), &p, "overflow");
}

#[test]
fn huge_header_tiny_file_is_refused_without_allocating() {
    let dir = temp_dir("huge");
    let cases = [
        ("labels-plain", labels_header(4_000_000_000), false, 1 << 20),
        (
            "labels-gz",
            gzip(&labels_header(4_000_000_000)),
            true,
            65 << 20,
        ),
        (
            "images-plain",
            idx(0x803, &[100_000_000, 28, 28], &[1; 64]),
            false,
            1 << 20,
        ),
        (
            "images-gz",
            gzip(&idx(0x803, &[100_000_000, 28, 28], &[1; 64])),
            true,
            65 << 20,
        ),
    ];
    for (name, bytes, _gz, bound) in cases {
        let path = write(&dir, name, &bytes);
        let start = Instant::now();
        let (result, largest) = largest_allocation(|| {
            if name.starts_with("labels") {
                read_labels(&path).map(|l| l.len())
            } else {
                read_images(&path).map(|s| s.len())
            }
        });
        let err = result.unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(2), "{name} was slow");
        assert!(largest <= bound, "{name} allocated {largest} bytes");
        assert_error(&err, &path, "truncated: header declares");
        assert!(err.to_string().contains("file holds 64"), "{err}");
    }
}

fn labels_header(n: u32) -> Vec<u8> {
    idx(0x801, &[n], &[1; 64])
}

#[test]
fn zero_images() {
    let (err, path) = images_error(&idx(0x803, &[0, 4, 4], &[]), "zero");
    assert_error(
        &err,
        &path,
        "holds no items: header declares dimensions 0 x 4 x 4",
    );
    let (err, path) = images_error(&gzip(&idx(0x803, &[3, 0, 4], &[])), "zero-rows");
    assert_error(
        &err,
        &path,
        "holds no items: header declares dimensions 3 x 0 x 4",
    );
}

#[test]
fn corrupt_gzip() {
    let good = gzip(&images_file(50, 8, 8));
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    for b in &mut bad[mid..mid + 8] {
        *b ^= 0x5A;
    }
    let (err, path) = images_error(&bad, "corrupt-gz");
    assert_error(&err, &path, "cannot inflate gzip stream");

    // Gzip magic and then garbage.
    let (err, path) = images_error(b"\x1f\x8bthis is no deflate stream", "garbage-gz");
    assert_error(
        &err,
        &path,
        "cannot inflate gzip stream: invalid gzip header",
    );

    // A stream cut short.
    let (err, path) = images_error(&good[..good.len() / 2], "cut-gz");
    assert_error(
        &err,
        &path,
        "cannot inflate gzip stream: incomplete deflate stream",
    );
    // A damaged CRC.
    let mut crc = good.clone();
    let at = crc.len() - 8;
    crc[at] ^= 1;
    let (err, path) = images_error(&crc, "crc-gz");
    assert_error(
        &err,
        &path,
        "cannot inflate gzip stream: corrupt gzip stream does not have a matching checksum",
    );
}

#[test]
fn more_data_than_declared() {
    let bytes = idx(0x803, &[2, 2, 2], &[9; 12]);
    let (err, path) = images_error(&gzip(&bytes), "long-gz");
    assert_error(
        &err,
        &path,
        "holds more data than its header declares: header declares 8 bytes",
    );
    let (err, path) = images_error(&bytes, "long-plain");
    assert_error(
        &err,
        &path,
        "holds more data than its header declares: header declares 8 bytes, file holds 12",
    );
}

#[test]
fn image_and_label_counts_differ() {
    let dir = small_dir("count", true, true);
    let labels = write(
        &dir,
        &format!("{TRAIN_LABELS}.gz"),
        &gzip(&labels_file(&[1, 2, 3])),
    );
    let err = load_dir(&dir).unwrap_err();
    let images = dir.join(format!("{TRAIN_IMAGES}.gz"));
    assert_eq!(
        err.to_string(),
        format!(
            "{} holds 3 labels but {} holds 4 images",
            labels.display(),
            images.display()
        )
    );
}

#[test]
fn train_and_test_shapes_differ() {
    let dir = small_dir("shape", true, false);
    write(
        &dir,
        &format!("{TEST_IMAGES}.gz"),
        &gzip(&images_file(3, 3, 2)),
    );
    let err = load_dir(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "image sizes differ: {} holds 2 x 3 images, {} holds 3 x 2",
            dir.join(format!("{TRAIN_IMAGES}.gz")).display(),
            dir.join(format!("{TEST_IMAGES}.gz")).display()
        )
    );
}

#[test]
fn missing_file_and_folder() {
    let dir = small_dir("missing", true, true);
    std::fs::remove_file(dir.join(format!("{TEST_IMAGES}.gz"))).unwrap();
    let err = load_dir(&dir).unwrap_err();
    assert_error(
        &err,
        &dir.join(format!("{TEST_IMAGES}.gz")),
        "file not found (nor without .gz)",
    );

    let nowhere = dir.join("no-such-folder");
    let err = load_dir(&nowhere).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: data folder not found", nowhere.display())
    );

    let file = dir.join("no-such-file.gz");
    let err = read_images(&file).unwrap_err();
    assert_error(&err, &file, "No such file or directory");
}

#[test]
fn plain_files_load() {
    let m = load_dir(&small_dir("plain", false, true)).unwrap();
    assert_eq!((m.train.len(), m.train.rows, m.train.cols), (4, 2, 3));
    assert_eq!(m.test.labels.as_deref(), Some(&[5, 9, 2][..]));
    let gz = load_dir(&small_dir("gz", true, true)).unwrap();
    assert_eq!(m, gz);
    assert_eq!(m.train.image(1), &images_file(4, 2, 3)[16 + 6..16 + 12]);
}

#[test]
fn gzip_detected_by_content_not_name() {
    let dir = temp_dir("sniff");
    // Gzipped bytes under the plain name, plain bytes under the .gz name.
    write(&dir, TRAIN_IMAGES, &gzip(&images_file(4, 2, 3)));
    write(&dir, &format!("{TEST_IMAGES}.gz"), &images_file(3, 2, 3));
    let m = load_dir(&dir).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (4, 3));
}

#[test]
fn labels_absent() {
    let m = load_dir(&small_dir("nolabels", true, false)).unwrap();
    assert!(m.train.labels.is_none() && m.test.labels.is_none());
    assert_eq!(m.train.label(0), None);
    assert_eq!(m.train.label_counts(), None);
    let err = m.train.filter_labels(|l| l != 1).unwrap_err();
    assert_eq!(
        err.to_string(),
        "filtering by label needs labels, and the image set has none"
    );
}

#[test]
fn subsets() {
    let m = load_dir(&small_dir("subsets", true, true)).unwrap();
    let t = &m.train;
    let no_ones = t.filter_labels(|l| l != 1).unwrap();
    assert_eq!(no_ones.labels.as_deref(), Some(&[3, 4][..]));
    assert_eq!(no_ones.image(1), t.image(2));
    no_ones.check().unwrap();
    let first = t.first(2);
    assert_eq!(
        (first.len(), first.labels.as_deref()),
        (2, Some(&[3, 1][..]))
    );
    assert_eq!(t.first(99), *t);
    let sub = t.subset(&[3, 0, 3]).unwrap();
    assert_eq!(sub.labels.as_deref(), Some(&[1, 3, 1][..]));
    assert_eq!(sub.image(2), t.image(3));
    let err = t.subset(&[4]).unwrap_err();
    assert_eq!(err.to_string(), "image index 4 out of range for 4 images");
    assert_eq!(t.get(4), None);
}

// ---------------------------------------------------------------- batching

#[test]
fn epoch_order_is_a_seeded_permutation() {
    let n = 1000;
    let a = epoch_order(n, 42, 3);
    let mut sorted = a.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..n).collect::<Vec<_>>());
    assert_eq!(a, epoch_order(n, 42, 3));
    assert_ne!(a, epoch_order(n, 42, 4));
    assert_ne!(a, epoch_order(n, 43, 3));
    assert_ne!(a, (0..n).collect::<Vec<_>>());
    let mut buf = vec![7; 5];
    shuffle_into(&mut buf, n, 42, 3);
    assert_eq!(buf, a);
    assert!(epoch_order(0, 1, 0).is_empty());
    assert_eq!(epoch_order(1, 1, 0), [0]);
}

#[test]
fn epoch_order_is_stable_across_versions() {
    // Pins the RNG stream: a change here breaks resuming old runs.
    assert_eq!(epoch_order(10, 0, 0), PINNED_ORDER);
}

const PINNED_ORDER: [usize; 10] = [1, 4, 5, 8, 6, 7, 0, 2, 9, 3];

fn tiny_set() -> ImageSet {
    ImageSet {
        images: vec![0, 51, 255, 102, 204, 153, 255, 0],
        n: 2,
        rows: 2,
        cols: 2,
        labels: None,
    }
}

#[test]
fn fill_batch_scales_to_unit_interval() {
    let set = tiny_set();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0);
    let mut out = [9.0f32; 8];
    fill_batch(&set, &[1, 0], &mut out, Binarize::None, &mut rng).unwrap();
    assert_eq!(out, [0.8, 0.6, 1.0, 0.0, 0.0, 0.2, 1.0, 0.4]);

    let err = fill_batch(&set, &[0], &mut out, Binarize::None, &mut rng).unwrap_err();
    assert_eq!(
        err.to_string(),
        "batch buffer holds 8 values, expected 4 (batch size x image size)"
    );
    let err = fill_batch(&set, &[0, 2], &mut out, Binarize::None, &mut rng).unwrap_err();
    assert_eq!(err.to_string(), "image index 2 out of range for 2 images");
    let mut broken = set.clone();
    broken.n = 3;
    let err = fill_batch(&broken, &[0, 1], &mut out, Binarize::None, &mut rng).unwrap_err();
    assert!(
        err.to_string().starts_with("inconsistent image set"),
        "{err}"
    );
}

#[test]
fn dynamic_binarization_is_bernoulli() {
    let set = tiny_set();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
    let rounds = 20_000;
    let mut out = [0.0f32; 4];
    let mut sums = [0.0f64; 4];
    for _ in 0..rounds {
        fill_batch(&set, &[0], &mut out, Binarize::Dynamic, &mut rng).unwrap();
        for (s, &v) in sums.iter_mut().zip(&out) {
            assert!(v == 0.0 || v == 1.0, "{v}");
            *s += f64::from(v);
        }
    }
    let means: Vec<f64> = sums.iter().map(|s| s / rounds as f64).collect();
    assert_eq!(means[0], 0.0);
    assert_eq!(means[2], 1.0);
    // 51/255 = 0.2 and 102/255 = 0.4; the standard error is below 0.004.
    assert!((means[1] - 0.2).abs() < 0.015, "{means:?}");
    assert!((means[3] - 0.4).abs() < 0.015, "{means:?}");
}

#[test]
fn batcher_visits_every_image_once_per_epoch() {
    let m = load_dir(&small_dir("batcher", true, true)).unwrap();
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
    let mut b = Batcher::new(3, Binarize::None);
    b.start_epoch(m.train.len(), 9, 0);
    assert_eq!(b.batches_per_epoch(), 2);
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    while let Some(batch) = b.next_batch(&m.train, &mut rng) {
        let Batch { indices, pixels } = batch.unwrap();
        assert_eq!(pixels.len(), indices.len() * m.train.dim());
        let expect: Vec<f32> = m
            .train
            .image(indices[0])
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect();
        assert_eq!(&pixels[..6], &expect[..]);
        sizes.push(indices.len());
        seen.extend_from_slice(indices);
    }
    assert_eq!(sizes, [3, 1]);
    assert_eq!(seen, epoch_order(4, 9, 0));
}
