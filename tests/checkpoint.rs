//! Checkpoints: a save/load round trip is exact, and every kind of bad file is a clear error
//! naming the file and the fault, never a panic.

use autograd::{Init, Optimizer, RmsProp, Tape};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use vae::checkpoint::{self, FORMAT};
use vae::eval::decode_probs;
use vae::model::{Activation, Vae, VaeConfig, loss};

fn config(latent: usize) -> VaeConfig {
    VaeConfig {
        input_dim: 12,
        hidden: vec![5],
        latent,
        activation: Activation::Relu,
        init: Init::GlorotUniform,
    }
}

/// A scratch folder unique to this test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-ckpt-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A small model after two RMSprop steps, so the optimizer has state worth saving.
fn trained(latent: usize) -> (Vae, RmsProp) {
    let mut model = Vae::new(config(latent), 7);
    let mut opt = RmsProp::new(1e-2);
    let x: Vec<f32> = (0..3 * 12).map(|i| (i % 5) as f32 / 4.0).collect();
    let e: Vec<f32> = (0..3 * latent).map(|i| (i as f32 * 0.7).sin()).collect();
    for _ in 0..2 {
        let tape = Tape::new();
        let xv = tape.constant_from(&x, &[3, 12]);
        let ev = tape.constant_from(&e, &[3, latent]);
        let l = loss(&model.forward(&tape, xv, ev), xv, 1.0);
        let g = tape.backward(l.total);
        tape.clear();
        drop(tape);
        opt.step(&mut model.params, &g);
    }
    (model, opt)
}

fn save_trained(path: &Path) -> (Vae, RmsProp) {
    let (model, opt) = trained(2);
    let extra = serde_json::json!({"image_rows": 3, "image_cols": 4});
    checkpoint::save(path, &model, Some(&opt), 4, 99, &extra).unwrap();
    (model, opt)
}

/// Loads `path`, expecting an error whose message names the file and contains every `words`.
fn expect_err(path: &Path, words: &[&str]) -> String {
    let e = match checkpoint::load(path) {
        Ok(_) => panic!("{} loaded, expected an error", path.display()),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&path.display().to_string()),
        "message does not name the file: {e}"
    );
    for w in words {
        assert!(e.contains(w), "message lacks {w:?}: {e}");
    }
    e
}

#[test]
fn round_trip_is_exact() {
    let dir = scratch("round");
    let path = dir.join("model.safetensors");
    let (model, opt) = save_trained(&path);
    let ck = checkpoint::load(&path).unwrap();
    assert_eq!(ck.model.config, model.config);
    assert_eq!(ck.epoch, 4);
    assert_eq!(ck.seed, 99);
    assert_eq!(ck.extra["image_rows"], 3);
    assert_eq!(ck.model.params.len(), model.params.len());
    for ((_, na, a), (_, nb, b)) in model.params.iter().zip(ck.model.params.iter()) {
        assert_eq!(na, nb);
        assert_eq!(a.dims(), b.dims(), "{na}");
        let bits = |t: &autograd::Tensor| t.data.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(a), bits(b), "{na} differs");
    }
    let z: Vec<f32> = (0..10).map(|i| i as f32 * 0.3 - 1.5).collect();
    let (pa, pb) = (decode_probs(&model, &z), decode_probs(&ck.model, &z));
    assert_eq!(
        pa.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        pb.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    let state = ck.optimizer.expect("optimizer state saved");
    assert_eq!(state.name, "rmsprop");
    assert_eq!(state.steps, 2);
    assert_eq!(state.lr, opt.lr());
    let mut want = opt.state(&model.params);
    want.sort_by(|a, b| a.0.cmp(&b.0));
    let mut got = state.buffers.clone();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want);
    // And it restores into a fresh optimizer.
    let mut fresh = RmsProp::new(1e-2);
    fresh
        .load_state(&ck.model.params, state.steps, &state.buffers)
        .unwrap();
    assert_eq!(fresh.steps(), 2);
    // A model without optimizer state.
    let bare = dir.join("bare.safetensors");
    checkpoint::save(&bare, &model, None, 0, 1, &serde_json::Value::Null).unwrap();
    assert!(checkpoint::load(&bare).unwrap().optimizer.is_none());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn truncated_files_are_refused() {
    let dir = scratch("trunc");
    let path = dir.join("model.safetensors");
    save_trained(&path);
    let bytes = std::fs::read(&path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let cut = dir.join("cut.safetensors");
    for at in [
        1,
        7,
        8,
        9,
        8 + header / 2,
        8 + header - 1,
        8 + header,
        8 + header + 1,
        bytes.len() / 2 + 3,
        bytes.len() - 4,
        bytes.len() - 1,
    ] {
        std::fs::write(&cut, &bytes[..at]).unwrap();
        let e = expect_err(&cut, &[]);
        assert!(
            e.contains("truncated") || e.contains("too short"),
            "cut at {at}: {e}"
        );
    }
    // Trailing garbage is refused too.
    let mut long = bytes.clone();
    long.extend_from_slice(b"xyz");
    std::fs::write(&cut, &long).unwrap();
    expect_err(&cut, &["trailing"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn flipped_bytes_are_refused() {
    let dir = scratch("flip");
    let path = dir.join("model.safetensors");
    save_trained(&path);
    let bytes = std::fs::read(&path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let bad = dir.join("bad.safetensors");
    // In the tensor data: the checksum catches it.
    for at in [8 + header, 8 + header + 17, bytes.len() - 1] {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        std::fs::write(&bad, &b).unwrap();
        expect_err(&bad, &["checksum mismatch", "corrupted"]);
    }
    // In the header: whichever byte, the file is refused (broken JSON, a changed value the
    // checksum covers, or a changed offset/shape).
    let text = std::str::from_utf8(&bytes[8..8 + header]).unwrap();
    for needle in [
        "\"epoch\"",
        "\"seed\":\"99\"",
        "\"lr\"",
        "image_rows",
        "F32",
        "{",
    ] {
        let at = 8 + text.find(needle).unwrap_or_else(|| panic!("{needle}")) + needle.len() - 1;
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        std::fs::write(&bad, &b).unwrap();
        expect_err(&bad, &[]);
    }
    for at in 8..8 + header {
        let mut b = bytes.clone();
        b[at] ^= 0x01;
        assert!(
            checkpoint::decode(&b).is_err(),
            "a flipped bit at header byte {at} ({:?}) went unnoticed",
            bytes[at] as char
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes a safetensors file with this project's metadata and a valid checksum.
fn write_raw(path: &Path, tensors: &[(String, Vec<usize>, Vec<u8>)], config: &VaeConfig) {
    let mut meta: HashMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("config", config.to_json().to_string()),
        ("epoch", "1".into()),
        ("seed", "0".into()),
        ("extra", "null".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sum = checkpoint::checksum(
        &meta,
        tensors
            .iter()
            .map(|(n, s, b)| (n.as_str(), Dtype::F32, s.as_slice(), b.as_slice())),
    );
    meta.insert("checksum".into(), sum);
    let views = tensors.iter().map(|(n, s, b)| {
        (
            n.clone(),
            TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
        )
    });
    let bytes = safetensors::tensor::serialize(views, Some(meta)).unwrap();
    std::fs::write(path, bytes).unwrap();
    SafeTensors::deserialize(&std::fs::read(path).unwrap()).unwrap();
}

fn tensors_of(model: &Vae) -> Vec<(String, Vec<usize>, Vec<u8>)> {
    model
        .params
        .iter()
        .map(|(_, n, t)| {
            let b = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (n.to_string(), t.dims().to_vec(), b)
        })
        .collect()
}

#[test]
fn another_configuration_names_the_tensor_and_both_shapes() {
    let dir = scratch("config");
    let path = dir.join("other.safetensors");
    // Latent-3 weights under a latent-2 configuration.
    let weights = tensors_of(&Vae::new(config(3), 1));
    write_raw(&path, &weights, &config(2));
    let e = expect_err(&path, &["\"encoder.mu.weight\"", "[3, 5]", "[2, 5]"]);
    assert!(e.contains("shape"), "{e}");
    // The crafted writer itself is right: the same weights under their own configuration load.
    write_raw(&path, &weights, &config(3));
    checkpoint::load(&path).unwrap();
    // A missing tensor (here renamed) is named.
    let renamed: Vec<_> = weights
        .iter()
        .cloned()
        .map(|mut t| {
            if t.0 == "decoder.out.weight" {
                t.0 = "decoder.output.weight".into();
            }
            t
        })
        .collect();
    write_raw(&path, &renamed, &config(3));
    expect_err(&path, &["\"decoder.out.weight\"", "missing"]);
    // Too few weights for the configuration: refused before the model is built.
    let fewer: Vec<_> = weights
        .into_iter()
        .filter(|t| t.0 != "decoder.out.weight")
        .collect();
    write_raw(&path, &fewer, &config(3));
    expect_err(&path, &["12-5-3 relu", "needs 193 weights"]);
    // A configuration whose size cannot be in the file is refused before anything is built.
    let mut huge = config(2);
    huge.hidden = vec![1 << 40];
    write_raw(&path, &tensors_of(&Vae::new(config(2), 1)), &huge);
    expect_err(&path, &["needs", "weights"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn not_checkpoints_at_all() {
    let dir = scratch("junk");
    let empty = dir.join("empty.safetensors");
    std::fs::write(&empty, b"").unwrap();
    expect_err(&empty, &["0 bytes", "too short"]);

    let random = dir.join("random.safetensors");
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let junk: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(&random, &junk).unwrap();
    expect_err(&random, &[]);

    let png = dir.join("picture.png");
    let grid = vae::images::Grid::new(4, 4);
    vae::images::save_grid(&png, &[0.5; 16], 1, &grid).unwrap();
    expect_err(&png, &["not a safetensors file"]);

    // A safetensors file from elsewhere: no metadata of ours.
    let foreign = dir.join("foreign.safetensors");
    let data = vec![0u8; 8];
    let v = TensorView::new(Dtype::F32, vec![2], &data).unwrap();
    std::fs::write(
        &foreign,
        safetensors::tensor::serialize([("w", v)], None).unwrap(),
    )
    .unwrap();
    expect_err(&foreign, &["not a checkpoint of this project"]);

    let missing = dir.join("nope.safetensors");
    expect_err(&missing, &["cannot read"]);
    let folder = dir.clone();
    expect_err(&folder, &["cannot read"]);
    std::fs::remove_dir_all(dir).unwrap();
}
