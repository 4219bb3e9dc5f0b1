//! Checkpoints in the safetensors format: every weight under its PyTorch-style name
//! (`encoder.0.weight` is `[512, 784]`), the optimizer's moments under `optim.<name>.<moment>`,
//! and in the metadata the model configuration, the epoch, the seed, the optimizer's name, step
//! and learning rate, the training settings, and a checksum of every tensor's bytes.
//!
//! Files are written atomically (a temporary file in the same folder, synced, then renamed), so a
//! process killed mid-save leaves the previous checkpoint intact.

use crate::model::{Vae, VaeConfig};
use autograd::Tensor;
use autograd::optim::{Optimizer, StateBuffer};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
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
    let checksum = named.iter().fold(0xcbf2_9ce4_8422_2325, |h, (n, _, b)| {
        fnv1a(fnv1a(h, n.as_bytes()), b)
    });
    meta.insert("format".into(), FORMAT.into());
    meta.insert("config".into(), model.config.to_json().to_string());
    meta.insert("epoch".into(), epoch.to_string());
    meta.insert("seed".into(), seed.to_string());
    meta.insert("extra".into(), extra.to_string());
    meta.insert("checksum".into(), format!("{checksum:016x}"));
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
    let (_, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not a safetensors file ({e})"))?;
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
    // Checksum over the tensors in name order, as written.
    let mut names: Vec<&str> = st.names();
    names.sort();
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for n in &names {
        let t = st.tensor(n).map_err(|e| format!("tensor {n:?}: {e}"))?;
        h = fnv1a(fnv1a(h, n.as_bytes()), t.data());
    }
    let want = get("checksum")?;
    if format!("{h:016x}") != *want {
        return Err(format!(
            "checksum mismatch (stored {want}, computed {h:016x}): the file is corrupted"
        ));
    }
    let config_json: serde_json::Value = serde_json::from_str(get("config")?)
        .map_err(|e| format!("model config is not JSON: {e}"))?;
    let config = VaeConfig::from_json(&config_json)?;
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

/// Copies a tensor's values into a `Tensor` (for callers that want one).
pub fn tensor_of(model: &Vae, name: &str) -> Option<Tensor> {
    model.params.id(name).map(|id| model.params.get(id).clone())
}
