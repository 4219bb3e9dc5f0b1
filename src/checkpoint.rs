//! Checkpoints in the safetensors format: every weight under its PyTorch-style name
//! (`encoder.0.weight` is `[512, 784]`), the optimizer's moments under `optim.<name>.<moment>`,
//! and in the metadata the model configuration, the epoch, the seed, the optimizer's name, step
//! and learning rate, the training settings, and a checksum (see [`checksum`]) that covers every
//! other metadata entry and every tensor's name, dtype, shape and bytes, so a flipped byte
//! anywhere in the file is refused.
//!
//! Files are written atomically (a temporary file in the same folder, synced, then renamed), so a
//! process killed mid-save leaves the previous checkpoint intact.

use crate::model::{Vae, VaeConfig};
use autograd::optim::{Optimizer, StateBuffer};
use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The `format` metadata value this module writes and accepts.
pub const FORMAT: &str = "autograd-vae/1";

/// A checkpoint that could not be written or read; the message names the file.
#[derive(Debug)]
pub struct CheckpointError {
    /// The file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

impl fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "checkpoint {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for CheckpointError {}

fn err(path: &Path, reason: impl Into<String>) -> CheckpointError {
    CheckpointError {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The optimizer's saved state.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState {
    /// `sgd`, `rmsprop` or `adam`.
    pub name: String,
    /// Steps taken.
    pub steps: u64,
    /// Learning rate at the time of saving.
    pub lr: f32,
    /// Moment buffers, by `<param>.<moment>` name.
    pub buffers: Vec<StateBuffer>,
}

/// Everything a checkpoint holds.
#[derive(Clone)]
pub struct Checkpoint {
    /// The model, weights included.
    pub model: Vae,
    /// Epochs completed.
    pub epoch: usize,
    /// The run's seed.
    pub seed: u64,
    /// The optimizer state, when saved.
    pub optimizer: Option<OptimizerState>,
    /// Training settings and anything else the trainer wants back (JSON).
    pub extra: serde_json::Value,
}

/// FNV-1a over a byte slice, chained from `h`: cheap, and enough to catch a flipped byte.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Hashes a byte run as its length (u64, little-endian) then its bytes, so that runs cannot
/// trade bytes with their neighbours.
fn fnv1a_run(h: u64, bytes: &[u8]) -> u64 {
    fnv1a(fnv1a(h, &(bytes.len() as u64).to_le_bytes()), bytes)
}

/// The checksum stored under the `checksum` metadata key, as 16 lowercase hex digits: 64-bit
/// FNV-1a, starting from the offset basis, over
/// 1. every metadata entry except `checksum`, in key order: the key, then the value;
/// 2. every tensor, in name order: the name, the dtype's name (`F32`), the shape (each dimension
///    as a u64, little-endian), then the data bytes;
///
/// where every string and byte run is hashed as its length (u64, little-endian) then its bytes.
pub fn checksum<'a>(
    metadata: &HashMap<String, String>,
    tensors: impl IntoIterator<Item = (&'a str, Dtype, &'a [usize], &'a [u8])>,
) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    let mut keys: Vec<&String> = metadata.keys().filter(|k| *k != "checksum").collect();
    keys.sort();
    for k in keys {
        h = fnv1a_run(fnv1a_run(h, k.as_bytes()), metadata[k].as_bytes());
    }
    let mut tensors: Vec<_> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    for (name, dtype, shape, data) in tensors {
        h = fnv1a_run(h, name.as_bytes());
        h = fnv1a_run(h, dtype.to_string().as_bytes());
        let dims: Vec<u8> = shape
            .iter()
            .flat_map(|&d| (d as u64).to_le_bytes())
            .collect();
        h = fnv1a_run(h, &dims);
        h = fnv1a_run(h, data);
    }
    format!("{h:016x}")
}

/// Number of scalars the model of `config` holds, or `None` on overflow; computed without
/// building it, so a corrupted configuration cannot make [`decode`] allocate absurd sizes.
fn param_count(config: &VaeConfig) -> Option<usize> {
    let mut sizes = vec![config.input_dim];
    sizes.extend(&config.hidden);
    let dense = |i: usize, o: usize| i.checked_mul(o)?.checked_add(o);
    let mut total = 0usize;
    // Encoder and decoder mirror each other; the two heads (mu, logvar) map to the latent.
    for w in sizes.windows(2) {
        total = total
            .checked_add(dense(w[0], w[1])?)?
            .checked_add(dense(w[1], w[0])?)?;
    }
    let last = *sizes.last()?;
    total = total
        .checked_add(dense(last, config.latent)?.checked_mul(2)?)?
        .checked_add(dense(config.latent, last)?)?;
    Some(total)
}

fn to_bytes(data: &[f32]) -> Vec<u8> {
    data.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Saves the model (and optimizer state, when given) atomically to `path`.
pub fn save(
    path: &Path,
    model: &Vae,
    optimizer: Option<&dyn Optimizer>,
    epoch: usize,
    seed: u64,
    extra: &serde_json::Value,
) -> Result<(), CheckpointError> {
    let mut named: Vec<(String, Vec<usize>, Vec<u8>)> = model
        .params
        .iter()
        .map(|(_, name, t)| (name.to_string(), t.dims().to_vec(), to_bytes(&t.data)))
        .collect();
    let mut meta = HashMap::new();
    if let Some(opt) = optimizer {
        for (name, buf) in opt.state(&model.params) {
            named.push((format!("optim.{name}"), vec![buf.len()], to_bytes(&buf)));
        }
        meta.insert("optimizer".into(), opt.name().to_string());
        meta.insert("optimizer_steps".into(), opt.steps().to_string());
        meta.insert("lr".into(), opt.lr().to_string());
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    meta.insert("format".into(), FORMAT.into());
    meta.insert("config".into(), model.config.to_json().to_string());
    meta.insert("epoch".into(), epoch.to_string());
    meta.insert("seed".into(), seed.to_string());
    meta.insert("extra".into(), extra.to_string());
    let sum = checksum(
        &meta,
        named
            .iter()
            .map(|(n, shape, b)| (n.as_str(), Dtype::F32, shape.as_slice(), b.as_slice())),
    );
    meta.insert("checksum".into(), sum);
    let views = named
        .iter()
        .map(|(n, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (n.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(path, format!("cannot build tensor view: {e}")))?;
    let bytes = safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| err(path, format!("cannot serialise: {e}")))?;
    write_atomic(path, &bytes).map_err(|e| err(path, format!("cannot write: {e}")))
}

/// Writes `bytes` to `path` through a synced temporary file and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Reads a checkpoint, checking the format, the checksum, the configuration, and that every
/// weight the configuration needs is there with the right shape and finite values.
pub fn load(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
    decode(&bytes).map_err(|reason| err(path, reason))
}

/// [`load`] from bytes in memory; the error says what is wrong.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    if bytes.len() < 8 {
        return Err(format!(
            "the file is {} bytes long, too short for a safetensors header (empty or truncated)",
            bytes.len()
        ));
    }
    let claimed = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if claimed > (bytes.len() - 8) as u64 {
        return Err(format!(
            "the header claims {claimed} bytes but only {} follow: the file is truncated or not a safetensors file",
            bytes.len() - 8
        ));
    }
    let (header_len, header) = SafeTensors::read_metadata(bytes).map_err(|e| match e {
        SafeTensorError::MetadataIncompleteBuffer => {
            "the tensors listed in the header do not fill the file exactly: it is truncated or has trailing bytes"
                .to_string()
        }
        e => format!("not a safetensors file ({e})"),
    })?;
    // The safetensors crate checks that the offsets chain and match the shapes, but sums them
    // unchecked; refuse any tensor reaching past the end of the file before slicing by them.
    let data_len = bytes.len().saturating_sub(8).saturating_sub(header_len);
    for (name, info) in header.tensors() {
        if info.data_offsets.1 > data_len {
            return Err(format!(
                "tensor {name:?} ends at byte {} of a {data_len}-byte data section: the file is truncated or corrupted",
                info.data_offsets.1
            ));
        }
    }
    let st =
        SafeTensors::deserialize(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
    let meta = header
        .metadata()
        .as_ref()
        .ok_or("no metadata: not a checkpoint of this project")?;
    let get = |k: &str| {
        meta.get(k)
            .ok_or_else(|| format!("metadata lacks {k:?}: not a checkpoint of this project"))
    };
    let format = get("format")?;
    if format != FORMAT {
        return Err(format!("format {format:?}, expected {FORMAT:?}"));
    }
    let mut names: Vec<&str> = st.names();
    names.sort();
    let mut tensors = Vec::with_capacity(names.len());
    for n in &names {
        let t = st.tensor(n).map_err(|e| format!("tensor {n:?}: {e}"))?;
        tensors.push((*n, t));
    }
    let computed = checksum(
        meta,
        tensors
            .iter()
            .map(|(n, t)| (*n, t.dtype(), t.shape(), t.data())),
    );
    let want = get("checksum")?;
    if computed != *want {
        return Err(format!(
            "checksum mismatch (stored {want}, computed {computed}): the file is corrupted"
        ));
    }
    let config_json: serde_json::Value = serde_json::from_str(get("config")?)
        .map_err(|e| format!("model config is not JSON: {e}"))?;
    let config = VaeConfig::from_json(&config_json)?;
    let available = data_len / 4;
    match param_count(&config) {
        Some(n) if n <= available => {}
        n => {
            return Err(format!(
                "the model configuration {config} needs {} weights, the file holds at most {available}",
                n.map_or("more than 2^64".to_string(), |n| n.to_string())
            ));
        }
    }
    let parse_num = |k: &str| -> Result<u64, String> {
        get(k)?
            .parse::<u64>()
            .map_err(|_| format!("metadata {k:?} is not a whole number"))
    };
    let epoch = parse_num("epoch")? as usize;
    let seed = parse_num("seed")?;
    let extra = meta
        .get("extra")
        .map(|s| serde_json::from_str(s).unwrap_or(serde_json::Value::Null))
        .unwrap_or(serde_json::Value::Null);

    let read = |name: &str, dims: &[usize]| -> Result<Vec<f32>, String> {
        let t = st
            .tensor(name)
            .map_err(|_| format!("tensor {name:?} is missing (model {config})"))?;
        if t.dtype() != Dtype::F32 {
            return Err(format!("tensor {name:?} is {:?}, expected F32", t.dtype()));
        }
        if t.shape() != dims {
            return Err(format!(
                "tensor {name:?} has shape {:?}, the model configuration needs {dims:?}",
                t.shape()
            ));
        }
        let v: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(format!(
                "tensor {name:?} holds a non-finite value at element {i}"
            ));
        }
        Ok(v)
    };

    let mut model = Vae::new(config.clone(), 0);
    let ids: Vec<_> = model
        .params
        .iter()
        .map(|(id, n, t)| (id, n.to_string(), t.dims().to_vec()))
        .collect();
    for (id, name, dims) in &ids {
        let v = read(name, dims)?;
        model.params.get_mut(*id).data.copy_from_slice(&v);
    }
    let optimizer = match meta.get("optimizer") {
        None => None,
        Some(name) => {
            let steps = parse_num("optimizer_steps")?;
            let lr: f32 = get("lr")?
                .parse()
                .map_err(|_| "metadata \"lr\" is not a number")?;
            let mut buffers = Vec::new();
            for n in &names {
                if let Some(rest) = n.strip_prefix("optim.") {
                    let t = st.tensor(n).map_err(|e| e.to_string())?;
                    let v = read(n, t.shape())?;
                    buffers.push((rest.to_string(), v));
                }
            }
            Some(OptimizerState {
                name: name.clone(),
                steps,
                lr,
                buffers,
            })
        }
    };
    Ok(Checkpoint {
        model,
        epoch,
        seed,
        optimizer,
        extra,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Activation;
    use autograd::Init;

    #[test]
    fn param_count_matches_the_model() {
        for hidden in [vec![], vec![5], vec![7, 3]] {
            let config = VaeConfig {
                input_dim: 6,
                hidden,
                latent: 2,
                activation: Activation::Relu,
                init: Init::GlorotUniform,
            };
            let n = Vae::new(config.clone(), 0).params.numel();
            assert_eq!(param_count(&config), Some(n), "{config}");
        }
    }
}
