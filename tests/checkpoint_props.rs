//! Property tests of checkpoint decoding: random edits, insertions and truncations of a real
//! checkpoint never panic; whatever still decodes holds exactly the original weights (the
//! checksum covers the metadata and every tensor, so no edit can change them unnoticed).

use autograd::Init;
use proptest::prelude::*;
use std::sync::LazyLock;
use vae::checkpoint;
use vae::model::{Activation, Vae, VaeConfig};

/// A small real checkpoint, with optimizer-free weights and the usual metadata.
static ORIGINAL: LazyLock<(Vec<u8>, Vec<u32>)> = LazyLock::new(|| {
    let config = VaeConfig {
        input_dim: 10,
        hidden: vec![4],
        latent: 2,
        activation: Activation::Relu,
        init: Init::GlorotUniform,
    };
    let model = Vae::new(config, 5);
    let dir = std::env::temp_dir().join(format!("vae-ckpt-props-{}", std::process::id()));
    let path = dir.join("small.safetensors");
    let extra = serde_json::json!({"image_rows": 2, "image_cols": 5});
    checkpoint::save(&path, &model, None, 3, 11, &extra).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    (bytes, weights(&model))
});

fn weights(model: &Vae) -> Vec<u32> {
    model
        .params
        .iter()
        .flat_map(|(_, _, t)| t.data.iter().map(|x| x.to_bits()))
        .collect()
}

fn header_len(bytes: &[u8]) -> usize {
    u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

/// One edit, with positions as fractions of the file (or of the header) so they always land.
#[derive(Clone, Debug)]
enum Edit {
    /// Overwrite a byte anywhere.
    Set(f64, u8),
    /// XOR a byte inside the JSON header (the interesting part).
    FlipHeader(f64, u8),
    /// Overwrite one of the 8 length bytes.
    SetLength(usize, u8),
    /// Insert bytes.
    Insert(f64, Vec<u8>),
    /// Remove a run of bytes.
    Remove(f64, usize),
    /// Keep only a prefix.
    Truncate(f64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        (0.0..1.0f64, 1..=255u8).prop_map(|(p, b)| Edit::FlipHeader(p, b)),
        (0..8usize, any::<u8>()).prop_map(|(i, b)| Edit::SetLength(i, b)),
        (0.0..1.0f64, prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, v)| Edit::Insert(p, v)),
        (0.0..1.0f64, 1..64usize).prop_map(|(p, n)| Edit::Remove(p, n)),
        (0.0..1.0f64).prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len.saturating_sub(1));
    match e {
        Edit::Set(p, b) => {
            if !bytes.is_empty() {
                let i = at(*p, bytes.len());
                bytes[i] = *b;
            }
        }
        Edit::FlipHeader(p, b) => {
            if bytes.len() >= 8 {
                let h = header_len(bytes).min(bytes.len() - 8);
                if h > 0 {
                    bytes[8 + at(*p, h)] ^= b;
                }
            }
        }
        Edit::SetLength(i, b) => {
            if bytes.len() > *i {
                bytes[*i] = *b;
            }
        }
        Edit::Insert(p, v) => {
            let i = at(*p, bytes.len() + 1);
            bytes.splice(i..i, v.iter().copied());
        }
        Edit::Remove(p, n) => {
            let i = at(*p, bytes.len());
            let j = (i + n).min(bytes.len());
            bytes.drain(i..j);
        }
        Edit::Truncate(p) => bytes.truncate((p * bytes.len() as f64) as usize),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mutated_checkpoints_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        let (original, want) = &*ORIGINAL;
        let mut bytes = original.clone();
        for e in &edits {
            apply(&mut bytes, e);
        }
        match checkpoint::decode(&bytes) {
            Ok(ck) => prop_assert_eq!(&weights(&ck.model), want, "accepted with other weights"),
            Err(msg) => prop_assert!(!msg.is_empty()),
        }
    }

    #[test]
    fn every_prefix_is_refused(cut in 0.0..1.0f64) {
        let (original, _) = &*ORIGINAL;
        let n = (cut * original.len() as f64) as usize;
        prop_assert!(checkpoint::decode(&original[..n]).is_err());
    }
}

#[test]
fn the_original_decodes() {
    let (bytes, want) = &*ORIGINAL;
    let ck = checkpoint::decode(bytes).unwrap();
    assert_eq!(&weights(&ck.model), want);
    assert_eq!((ck.epoch, ck.seed), (3, 11));
}
