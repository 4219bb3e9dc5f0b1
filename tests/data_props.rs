//! Property tests of the IDX reader: mutated, truncated and extended files
//! (plain and gzipped) never panic, and either parse to a consistent set or
//! return an error; headers claiming huge sizes are refused quickly without
//! large allocations.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
mod common;

use vae::data::{ImageSet, decode_idx, decode_images, read_images};

/// The reader's cap on the initial buffer of a gzip stream, plus slack.
const ALLOCATION_BOUND: usize = (64 << 20) + (1 << 20);

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// A valid IDX images file with its set.
fn valid_images() -> impl Strategy<Value = (Vec<u8>, ImageSet)> {
    (1usize..5, 1usize..6, 1usize..6).prop_flat_map(|(n, rows, cols)| {
        prop::collection::vec(any::<u8>(), n * rows * cols).prop_map(move |images| {
            let mut bytes = vec![0, 0, 8, 3];
            for d in [n, rows, cols] {
                bytes.extend_from_slice(&(d as u32).to_be_bytes());
            }
            bytes.extend_from_slice(&images);
            let set = ImageSet {
                images,
                n,
                rows,
                cols,
                labels: None,
            };
            (bytes, set)
        })
    })
}

/// A change to a file's bytes.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite bytes at (position modulo the length) with values.
    Mutate(Vec<(usize, u8)>),
    /// Keep only the first (position modulo the length + 1) bytes.
    Truncate(usize),
    /// Append bytes.
    Extend(Vec<u8>),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        prop::collection::vec((any::<usize>(), any::<u8>()), 1..6).prop_map(Edit::Mutate),
        any::<usize>().prop_map(Edit::Truncate),
        prop::collection::vec(any::<u8>(), 1..40).prop_map(Edit::Extend),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    match edit {
        Edit::Mutate(changes) if !bytes.is_empty() => {
            for &(at, v) in changes {
                let at = at % bytes.len();
                bytes[at] = v;
            }
        }
        Edit::Truncate(at) => bytes.truncate(at % (bytes.len() + 1)),
        Edit::Mutate(_) => {}
        Edit::Extend(more) => bytes.extend_from_slice(more),
    }
}

/// Decodes, checking that a success is a consistent set and the generic
/// reader agrees.
fn check_decode(bytes: &[u8]) -> Option<ImageSet> {
    let result = decode_images(bytes);
    if let Ok(set) = &result {
        assert!(set.n > 0 && set.rows > 0 && set.cols > 0);
        assert_eq!(set.images.len(), set.n * set.rows * set.cols);
        set.check().unwrap();
        let idx = decode_idx(bytes).unwrap();
        assert_eq!(idx.dims, [set.n, set.rows, set.cols]);
        assert_eq!(idx.data, set.images);
    }
    result.ok()
}

fn temp_file() -> std::path::PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let k = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vae-data-props-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("case-{k}"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn valid_files_parse((bytes, set) in valid_images(), gz in any::<bool>()) {
        let bytes = if gz { gzip(&bytes) } else { bytes };
        prop_assert_eq!(check_decode(&bytes), Some(set));
    }

    #[test]
    fn edited_plain_files_never_panic((bytes, _) in valid_images(), edits in prop::collection::vec(edit(), 1..4)) {
        let mut bytes = bytes;
        for e in &edits {
            apply(&mut bytes, e);
        }
        check_decode(&bytes);
        // The same edits, inflated from a valid gzip stream.
        check_decode(&gzip(&bytes));
    }

    #[test]
    fn edited_gzip_streams_never_panic((bytes, set) in valid_images(), edits in prop::collection::vec(edit(), 1..4)) {
        let mut gz = gzip(&bytes);
        for e in &edits {
            apply(&mut gz, e);
        }
        // A damaged stream can still decode (e.g. bytes appended after the
        // stream are read as a second member and fail, but edits to the
        // header's optional fields may pass); if it does, it is the original.
        if let Some(decoded) = check_decode(&gz) {
            prop_assert_eq!(decoded, set);
        }
    }

    #[test]
    fn files_agree_with_memory((bytes, _) in valid_images(), e in edit(), gz in any::<bool>()) {
        let mut bytes = if gz { gzip(&bytes) } else { bytes };
        apply(&mut bytes, &e);
        let path = temp_file();
        std::fs::write(&path, &bytes).unwrap();
        let from_file = read_images(&path);
        let from_memory = decode_images(&bytes);
        let _ = std::fs::remove_file(&path);
        match (from_file, from_memory) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => {
                let text = a.to_string();
                prop_assert!(text.starts_with(&path.display().to_string()), "{}", text);
                prop_assert!(text.ends_with(&b.to_string()), "{} vs {}", text, b);
            }
            (a, b) => prop_assert!(false, "file {:?} but memory {:?}", a, b),
        }
    }

    #[test]
    fn huge_headers_are_refused_without_allocating(
        rank in 1u8..=4,
        dims in prop::collection::vec(any::<u32>(), 4),
        body in prop::collection::vec(any::<u8>(), 0..64),
        gz in any::<bool>(),
    ) {
        let dims = &dims[..usize::from(rank)];
        let declared = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(u64::from(d)));
        // Only headers that claim more than the body holds, or zero items.
        prop_assume!(declared.is_none_or(|d| d != body.len() as u64));
        let mut bytes = vec![0, 0, 8, rank];
        for d in dims {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes.extend_from_slice(&body);
        let bytes = if gz { gzip(&bytes) } else { bytes };

        let start = Instant::now();
        let (result, largest) = common::largest_allocation(|| decode_idx(&bytes));
        let elapsed = start.elapsed();
        prop_assert!(result.is_err());
        prop_assert!(elapsed < Duration::from_secs(1), "took {:?}", elapsed);
        prop_assert!(largest <= ALLOCATION_BOUND, "allocated {} bytes", largest);
    }
}
