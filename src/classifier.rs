//! An MNIST classifier built and trained with the engine: the judge of generated images.
//!
//! A multilayer perceptron (784 → 512 → 512 → 10 by default, ReLU), trained with Adam on the
//! engine's stable [`autograd::Var::softmax_cross_entropy`], its learning rate halved every
//! few epochs. Its last hidden layer is the feature space of the Fréchet distance
//! ([`crate::evaluate::frechet`]) and its softmax the distribution of the classifier score.
//! Saved as safetensors (`runs/classifier/classifier.safetensors` by default) with its sizes,
//! its test accuracy and a checksum in the metadata.

use crate::checkpoint::{checksum, write_atomic};
use crate::data::{Binarize, ImageSet, fill_batch, shuffle_into};
use autograd::{Adam, Gradients, Init, Initializer, Optimizer, ParamId, ParamStore, Tape, Var};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The `format` metadata value of a classifier file.
pub const FORMAT: &str = "autograd-mnist-classifier/1";
/// Where the tools look for the classifier, and train it when it is missing.
pub const DEFAULT_DIR: &str = "runs/classifier";
/// The file name inside that folder.
pub const FILE: &str = "classifier.safetensors";
/// Images per batch when classifying.
const PREDICT_BATCH: usize = 500;

/// How to train the classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierConfig {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Images per step.
    pub batch_size: usize,
    /// Adam's initial learning rate.
    pub lr: f32,
    /// The rate is halved after every this many epochs.
    pub halve_every: usize,
    /// Seeds the weights and the data order.
    pub seed: u64,
}

impl Default for ClassifierConfig {
    /// 784-512-512-10, 8 epochs of batch 128, Adam 1e-3 halved every 3 epochs.
    fn default() -> Self {
        ClassifierConfig {
            hidden: vec![512, 512],
            epochs: 8,
            batch_size: 128,
            lr: 1e-3,
            halve_every: 3,
            seed: 0,
        }
    }
}

/// The classifier: its sizes and parameters (`layer.<i>.weight` `[out, in]`, `layer.<i>.bias`).
pub struct Classifier {
    /// Pixels per image.
    pub input_dim: usize,
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Classes (10).
    pub classes: usize,
    /// The weights.
    pub params: ParamStore,
    layers: Vec<(ParamId, ParamId)>,
    /// Test accuracy measured after training (0 when unknown).
    pub test_accuracy: f64,
}

/// What the classifier makes of a set of images.
#[derive(Clone, Debug)]
pub struct Predictions {
    /// The last hidden layer's activations, `n x hidden.last()`.
    pub features: Vec<f32>,
    /// Width of a feature row.
    pub feature_dim: usize,
    /// Class probabilities, `n x classes`.
    pub probs: Vec<f32>,
}

impl Predictions {
    /// The most probable class of each image.
    pub fn labels(&self, classes: usize) -> Vec<u8> {
        self.probs
            .chunks_exact(classes)
            .map(|p| {
                let mut best = 0;
                for (i, &v) in p.iter().enumerate() {
                    if v > p[best] {
                        best = i;
                    }
                }
                best as u8
            })
            .collect()
    }
}

fn layer_sizes(input: usize, hidden: &[usize], classes: usize) -> Vec<usize> {
    let mut s = vec![input];
    s.extend_from_slice(hidden);
    s.push(classes);
    s
}

impl Classifier {
    /// A freshly initialised classifier (He-normal weights for the ReLU layers, zero biases).
    pub fn new(input_dim: usize, hidden: &[usize], classes: usize, seed: u64) -> Classifier {
        let mut params = ParamStore::new();
        let mut init = Initializer::new(seed);
        let sizes = layer_sizes(input_dim, hidden, classes);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let weight = params.add(
                    &format!("layer.{i}.weight"),
                    init.weight(Init::HeNormal, w[1], w[0]),
                );
                let bias = params.add(
                    &format!("layer.{i}.bias"),
                    init.bias(Init::Zeros, w[1], w[0]),
                );
                (weight, bias)
            })
            .collect();
        Classifier {
            input_dim,
            hidden: hidden.to_vec(),
            classes,
            params,
            layers,
            test_accuracy: 0.0,
        }
    }

    /// `(features, logits)`: the last hidden layer's activations and the class logits.
    pub fn forward<'t>(&self, tape: &'t Tape, x: Var<'t>) -> (Var<'t>, Var<'t>) {
        let mut h = x;
        let last = self.layers.len() - 1;
        for &(w, b) in &self.layers[..last] {
            h = h
                .linear(tape.param(&self.params, w), tape.param(&self.params, b))
                .relu();
        }
        let (w, b) = self.layers[last];
        let logits = h.linear(tape.param(&self.params, w), tape.param(&self.params, b));
        (h, logits)
    }

    /// Features and class probabilities of `n` images given as pixels in [0, 1]
    /// (`n x input_dim`, row-major).
    pub fn predict(&self, pixels: &[f32]) -> Predictions {
        let d = self.input_dim;
        let f = *self.hidden.last().unwrap_or(&d);
        let n = pixels.len() / d;
        let mut out = Predictions {
            features: Vec::with_capacity(n * f),
            feature_dim: f,
            probs: Vec::with_capacity(n * self.classes),
        };
        let tape = Tape::new();
        for chunk in pixels.chunks(PREDICT_BATCH * d) {
            tape.no_grad(|| {
                let x = tape.constant_from(chunk, &[chunk.len() / d, d]);
                let (h, logits) = self.forward(&tape, x);
                out.features.extend_from_slice(&h.value().data);
                let lse = logits.logsumexp_axis(1, true);
                out.probs
                    .extend_from_slice(&(logits - lse).exp().value().data);
            });
            tape.clear();
        }
        out
    }

    /// The share of `set` classified right.
    pub fn accuracy(&self, set: &ImageSet) -> Result<f64, String> {
        let labels = set.labels.as_ref().ok_or("the set has no labels")?;
        let pixels: Vec<f32> = set.images.iter().map(|&p| p as f32 / 255.0).collect();
        let pred = self.predict(&pixels).labels(self.classes);
        let right = pred.iter().zip(labels).filter(|(a, b)| a == b).count();
        Ok(right as f64 / labels.len().max(1) as f64)
    }

    /// Trains on `train` (grey levels, no augmentation), printing a line per epoch with the
    /// accuracy on `test` (which is only measured, never trained on). Returns the final test
    /// accuracy, also kept in [`Classifier::test_accuracy`].
    pub fn train(
        &mut self,
        cfg: &ClassifierConfig,
        train: &ImageSet,
        test: &ImageSet,
    ) -> Result<f64, String> {
        let labels = train
            .labels
            .as_ref()
            .ok_or("the training set has no labels")?;
        if let Some(&bad) = labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(format!(
                "label {bad} is out of range for {} classes",
                self.classes
            ));
        }
        let (d, c, b) = (train.dim(), self.classes, cfg.batch_size.max(1));
        let mut opt = Adam::new(cfg.lr);
        let tape = Tape::new();
        let mut grads = Gradients::new();
        let (mut order, mut pixels, mut onehot) = (Vec::new(), Vec::new(), Vec::new());
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        for epoch in 0..cfg.epochs {
            let start = Instant::now();
            opt.set_lr(cfg.lr * 0.5f32.powi((epoch / cfg.halve_every.max(1)) as i32));
            shuffle_into(&mut order, train.len(), cfg.seed, epoch);
            let mut loss_sum = 0.0f64;
            autograd::kernels::with_hot_workers(|| -> Result<(), String> {
                for idx in order.chunks(b) {
                    pixels.resize(idx.len() * d, 0.0);
                    fill_batch(train, idx, &mut pixels, Binarize::None, &mut rng)
                        .map_err(|e| e.to_string())?;
                    onehot.clear();
                    onehot.resize(idx.len() * c, 0.0);
                    for (r, &i) in idx.iter().enumerate() {
                        onehot[r * c + labels[i] as usize] = 1.0;
                    }
                    tape.clear();
                    let x = tape.constant_from(&pixels, &[idx.len(), d]);
                    let t = tape.constant_from(&onehot, &[idx.len(), c]);
                    let (_, logits) = self.forward(&tape, x);
                    let loss = logits.softmax_cross_entropy(t).mean();
                    let l = loss.item();
                    if !l.is_finite() {
                        return Err(format!(
                            "classifier training diverged at epoch {}: loss {l}",
                            epoch + 1
                        ));
                    }
                    loss_sum += l as f64 * idx.len() as f64;
                    tape.backward_into(loss, &mut grads);
                    tape.clear();
                    opt.step(&mut self.params, &grads);
                }
                Ok(())
            })?;
            let seconds = start.elapsed().as_secs_f64();
            self.test_accuracy = self.accuracy(test)?;
            println!(
                "classifier epoch {:>2}/{}  loss {:.4}  test accuracy {:.2}%  {:.1} s",
                epoch + 1,
                cfg.epochs,
                loss_sum / train.len().max(1) as f64,
                100.0 * self.test_accuracy,
                seconds
            );
        }
        Ok(self.test_accuracy)
    }

    /// Writes the classifier to `path` atomically.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let named: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .params
            .iter()
            .map(|(_, name, t)| {
                let bytes = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
                (name.to_string(), t.dims().to_vec(), bytes)
            })
            .collect();
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), FORMAT.to_string());
        meta.insert(
            "config".to_string(),
            serde_json::json!({
                "input_dim": self.input_dim,
                "hidden": self.hidden,
                "classes": self.classes,
            })
            .to_string(),
        );
        meta.insert("test_accuracy".to_string(), self.test_accuracy.to_string());
        let sum = checksum(
            &meta,
            named
                .iter()
                .map(|(n, s, b)| (n.as_str(), Dtype::F32, s.as_slice(), b.as_slice())),
        );
        meta.insert("checksum".to_string(), sum);
        let views = named
            .iter()
            .map(|(n, s, b)| TensorView::new(Dtype::F32, s.clone(), b).map(|v| (n.clone(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let bytes = safetensors::tensor::serialize(views, Some(meta))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        write_atomic(path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    /// Reads a classifier written by [`Classifier::save`], checking its format, checksum and
    /// every weight's shape.
    pub fn load(path: &Path) -> Result<Classifier, String> {
        let fail = |m: String| format!("classifier {}: {m}", path.display());
        let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| fail(format!("not a safetensors file ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| fail(format!("not a safetensors file ({e})")))?;
        let meta = header
            .metadata()
            .clone()
            .ok_or_else(|| fail("no metadata".into()))?;
        let get = |k: &str| {
            meta.get(k)
                .cloned()
                .ok_or_else(|| fail(format!("metadata lacks {k:?}")))
        };
        if get("format")? != FORMAT {
            return Err(fail(format!(
                "not a classifier (format {:?})",
                get("format")?
            )));
        }
        let mut tensors = Vec::new();
        for n in st.names() {
            let t = st.tensor(n).map_err(|e| fail(e.to_string()))?;
            tensors.push((n, t));
        }
        let sum = checksum(
            &meta,
            tensors
                .iter()
                .map(|(n, t)| (*n, t.dtype(), t.shape(), t.data())),
        );
        if sum != get("checksum")? {
            return Err(fail("checksum mismatch: the file is corrupted".into()));
        }
        let cfg: serde_json::Value =
            serde_json::from_str(&get("config")?).map_err(|e| fail(e.to_string()))?;
        let num = |v: &serde_json::Value| v.as_u64().map(|x| x as usize);
        let (input_dim, classes) = match (num(&cfg["input_dim"]), num(&cfg["classes"])) {
            (Some(i), Some(c)) if i > 0 && c > 0 => (i, c),
            _ => return Err(fail("bad sizes in the metadata".into())),
        };
        let hidden: Vec<usize> = cfg["hidden"]
            .as_array()
            .map(|a| a.iter().filter_map(num).collect())
            .unwrap_or_default();
        let mut c = Classifier::new(input_dim, &hidden, classes, 0);
        let ids: Vec<(ParamId, String)> = c
            .params
            .iter()
            .map(|(id, n, _)| (id, n.to_string()))
            .collect();
        for (id, name) in ids {
            let t = st
                .tensor(&name)
                .map_err(|_| fail(format!("lacks {name}")))?;
            let p = c.params.get_mut(id);
            if t.dtype() != Dtype::F32 || t.shape() != p.dims() {
                return Err(fail(format!(
                    "{name} is {:?} {:?}, expected F32 {:?}",
                    t.dtype(),
                    t.shape(),
                    p.dims()
                )));
            }
            for (v, b) in p.data.iter_mut().zip(t.data().chunks_exact(4)) {
                *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            }
        }
        c.test_accuracy = get("test_accuracy")?.parse().unwrap_or(0.0);
        Ok(c)
    }
}

/// The classifier file inside `dir`.
pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The classifier saved in `dir`, or, when there is none, a new one trained with the default
/// recipe on `train` and saved there (saying so).
pub fn load_or_train(dir: &Path, train: &ImageSet, test: &ImageSet) -> Result<Classifier, String> {
    let path = path_in(dir);
    if path.exists() {
        let c = Classifier::load(&path)?;
        if c.input_dim != train.dim() {
            return Err(format!(
                "the classifier {} takes images of {} pixels, the data has {}",
                path.display(),
                c.input_dim,
                train.dim()
            ));
        }
        println!(
            "classifier: {} ({:.2}% test accuracy)",
            path.display(),
            100.0 * c.test_accuracy
        );
        return Ok(c);
    }
    println!(
        "classifier: {} is missing, training it first (about a minute)",
        path.display()
    );
    let cfg = ClassifierConfig::default();
    let mut c = Classifier::new(train.dim(), &cfg.hidden, 10, cfg.seed);
    c.train(&cfg, train, test)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    c.save(&path)?;
    println!("classifier: saved {}", path.display());
    Ok(c)
}
