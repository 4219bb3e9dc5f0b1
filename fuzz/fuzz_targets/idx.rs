//! Any bytes given to the IDX readers give a value or an error, never a panic or an unbounded
//! allocation (libFuzzer's -rss_limit_mb catches the latter).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(idx) = vae::data::decode_idx(data) {
        assert_eq!(idx.data.len(), idx.dims.iter().product::<usize>());
    }
    if let Ok(set) = vae::data::decode_images(data) {
        assert_eq!(set.images.len(), set.n * set.rows * set.cols);
    }
    let _ = vae::data::decode_labels(data);
});
