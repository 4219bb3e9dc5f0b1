//! Any bytes given to the checkpoint reader give a model or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ck) = vae::checkpoint::decode(data) {
        assert!(ck.model.params.iter().all(|(_, _, t)| t.all_finite()));
    }
});
