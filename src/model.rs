//! The variational autoencoder, declared from engine ops.
//!
//! ```text
//! encoder:  h = act(x W₀ᵀ + b₀) …         μ = h W_μᵀ + b_μ,   log σ² = h W_σᵀ + b_σ
//! sample:   z = μ + exp(½ log σ²) ⊙ ε,     ε ~ N(0, I)
//! decoder:  h' = act(z V₀ᵀ + c₀) …         logits = h' V_outᵀ + c_out
//! loss:     ℓ(x) = Σ_pixels BCE(logits, x)  +  β · ½ Σ_latent (μ² + σ² - log σ² - 1)
//! ```
//! The batch loss is the mean of ℓ over the batch; reconstruction and KL are reported apart.

use crate::data::ImageSet;
use crate::train::OutputBias;
use autograd::{Init, Initializer, ParamId, ParamStore, Tape, Var};
use std::fmt;

/// The nonlinearity between layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `max(x, 0)`
    Relu,
    /// `tanh x`
    Tanh,
}

impl Activation {
    /// Applies the activation to a node.
    pub fn apply<'t>(self, x: Var<'t>) -> Var<'t> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
        }
    }

    /// The flag spelling (`relu`, `tanh`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
        }
    }

    /// Parses the flag spelling.
    pub fn parse(s: &str) -> Result<Activation, String> {
        match s {
            "relu" => Ok(Activation::Relu),
            "tanh" => Ok(Activation::Tanh),
            _ => Err(format!("unknown activation {s:?} (expected relu or tanh)")),
        }
    }
}

/// The architecture: everything needed to rebuild the model from a checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct VaeConfig {
    /// Pixels per image (784 for MNIST); taken from the data.
    pub input_dim: usize,
    /// Hidden layer sizes of the encoder; the decoder mirrors them.
    pub hidden: Vec<usize>,
    /// Size of the latent space.
    pub latent: usize,
    /// The nonlinearity.
    pub activation: Activation,
    /// How weights are initialised (biases start at zero).
    pub init: Init,
}

impl VaeConfig {
    /// The seed tutorial's model: 784 → 512 ReLU → 2.
    pub fn seed() -> VaeConfig {
        VaeConfig {
            input_dim: 784,
            hidden: vec![512],
            latent: 2,
            activation: Activation::Relu,
            init: Init::GlorotUniform,
        }
    }

    /// Checks the sizes, with a message saying which one is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.input_dim == 0 {
            return Err("input size must be at least 1".into());
        }
        if self.latent == 0 {
            return Err("latent size must be at least 1".into());
        }
        if self.hidden.contains(&0) {
            return Err(format!(
                "hidden sizes must be at least 1, got {:?}",
                self.hidden
            ));
        }
        Ok(())
    }

    /// The layer sizes as JSON, for checkpoint metadata.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input_dim": self.input_dim,
            "hidden": self.hidden,
            "latent": self.latent,
            "activation": self.activation.name(),
            "init": init_name(self.init),
        })
    }

    /// Reads [`VaeConfig::to_json`]'s output back.
    pub fn from_json(v: &serde_json::Value) -> Result<VaeConfig, String> {
        let num = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| format!("model config lacks a whole number {k:?}"))
        };
        let hidden = v
            .get("hidden")
            .and_then(|h| h.as_array())
            .ok_or("model config lacks \"hidden\"")?
            .iter()
            .map(|x| x.as_u64().map(|x| x as usize).ok_or("bad hidden size"))
            .collect::<Result<Vec<_>, _>>()?;
        let activation =
            Activation::parse(v.get("activation").and_then(|a| a.as_str()).unwrap_or(""))?;
        let init = parse_init(v.get("init").and_then(|a| a.as_str()).unwrap_or("glorot"))?;
        let c = VaeConfig {
            input_dim: num("input_dim")?,
            hidden,
            latent: num("latent")?,
            activation,
            init,
        };
        c.validate()?;
        Ok(c)
    }
}

impl fmt::Display for VaeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.input_dim)?;
        for h in &self.hidden {
            write!(f, "-{h}")?;
        }
        write!(f, "-{} {}", self.latent, self.activation.name())
    }
}

/// The flag spelling of an initialiser.
pub fn init_name(i: Init) -> &'static str {
    match i {
        Init::GlorotUniform => "glorot",
        Init::HeNormal => "he",
        Init::Zeros => "zeros",
        Init::TorchDefault => "torch",
    }
}

/// Parses `glorot`, `he` or `zeros`.
pub fn parse_init(s: &str) -> Result<Init, String> {
    match s {
        "glorot" => Ok(Init::GlorotUniform),
        "he" => Ok(Init::HeNormal),
        "zeros" => Ok(Init::Zeros),
        "torch" => Ok(Init::TorchDefault),
        _ => Err(format!(
            "unknown initialiser {s:?} (expected glorot, he, torch or zeros)"
        )),
    }
}

/// A dense layer's two parameters.
#[derive(Clone, Copy, Debug)]
pub struct Dense {
    /// `[out, in]`
    pub weight: ParamId,
    /// `[out]`
    pub bias: ParamId,
}

impl Dense {
    fn add(
        store: &mut ParamStore,
        init: &mut Initializer,
        kind: Init,
        name: &str,
        fan_in: usize,
        fan_out: usize,
    ) -> Dense {
        let weight = store.add(
            &format!("{name}.weight"),
            init.weight(kind, fan_out, fan_in),
        );
        let bias = store.add(&format!("{name}.bias"), init.bias(kind, fan_out, fan_in));
        Dense { weight, bias }
    }

    /// `x Wᵀ + b` on the tape.
    pub fn apply<'t>(&self, tape: &'t Tape, store: &ParamStore, x: Var<'t>) -> Var<'t> {
        x.linear(tape.param(store, self.weight), tape.param(store, self.bias))
    }
}

/// The model: its configuration, its parameters, and which parameter is which layer.
#[derive(Clone)]
pub struct Vae {
    /// The architecture.
    pub config: VaeConfig,
    /// Every weight and bias, named like PyTorch's (`encoder.0.weight`, `decoder.out.bias`…).
    pub params: ParamStore,
    encoder: Vec<Dense>,
    mu: Dense,
    logvar: Dense,
    decoder: Vec<Dense>,
    out: Dense,
}

/// The nodes of one forward pass.
#[derive(Clone, Copy)]
pub struct Forward<'t> {
    /// Decoder output before the sigmoid, `[batch, input_dim]`.
    pub logits: Var<'t>,
    /// Posterior means, `[batch, latent]`.
    pub mu: Var<'t>,
    /// Posterior log-variances, `[batch, latent]`.
    pub logvar: Var<'t>,
    /// The sampled latent codes, `[batch, latent]`.
    pub z: Var<'t>,
}

/// The loss and its parts, each a scalar node (means over the batch).
#[derive(Clone, Copy)]
pub struct Loss<'t> {
    /// `recon + beta * kl`: what is minimised.
    pub total: Var<'t>,
    /// Mean reconstruction term (nats per image).
    pub recon: Var<'t>,
    /// Mean KL term, unweighted (nats per image).
    pub kl: Var<'t>,
    /// Per-image reconstruction, `[batch]`.
    pub recon_per_image: Var<'t>,
    /// Per-image KL, `[batch]`.
    pub kl_per_image: Var<'t>,
}

impl Vae {
    /// A freshly initialised model; `seed` fixes every weight.
    pub fn new(config: VaeConfig, seed: u64) -> Vae {
        let mut store = ParamStore::new();
        let mut init = Initializer::new(seed);
        let kind = config.init;
        let mut encoder = Vec::new();
        let mut fan_in = config.input_dim;
        for (i, &h) in config.hidden.iter().enumerate() {
            encoder.push(Dense::add(
                &mut store,
                &mut init,
                kind,
                &format!("encoder.{i}"),
                fan_in,
                h,
            ));
            fan_in = h;
        }
        let mu = Dense::add(
            &mut store,
            &mut init,
            kind,
            "encoder.mu",
            fan_in,
            config.latent,
        );
        let logvar = Dense::add(
            &mut store,
            &mut init,
            kind,
            "encoder.logvar",
            fan_in,
            config.latent,
        );
        let mut decoder = Vec::new();
        let mut fan_in = config.latent;
        for (i, &h) in config.hidden.iter().rev().enumerate() {
            decoder.push(Dense::add(
                &mut store,
                &mut init,
                kind,
                &format!("decoder.{i}"),
                fan_in,
                h,
            ));
            fan_in = h;
        }
        let out = Dense::add(
            &mut store,
            &mut init,
            kind,
            "decoder.out",
            fan_in,
            config.input_dim,
        );
        Vae {
            config,
            params: store,
            encoder,
            mu,
            logvar,
            decoder,
            out,
        }
    }

    /// Starts the decoder's output bias as `how` says ([`OutputBias`]): unchanged at zero, or
    /// at `logit(clip(m, 0.001, 0.999))` of each pixel's mean grey level `m` over `images`.
    pub fn start_output_bias(&mut self, how: OutputBias, images: &ImageSet) {
        if how == OutputBias::Zero || images.is_empty() {
            return;
        }
        let bias = data_mean_logits(images);
        self.params
            .get_mut(self.out.bias)
            .data
            .copy_from_slice(&bias);
    }

    /// `(μ, log σ²)` of q(z | x).
    pub fn encode<'t>(&self, tape: &'t Tape, x: Var<'t>) -> (Var<'t>, Var<'t>) {
        let act = self.config.activation;
        let mut h = x;
        for layer in &self.encoder {
            h = act.apply(layer.apply(tape, &self.params, h));
        }
        (
            self.mu.apply(tape, &self.params, h),
            self.logvar.apply(tape, &self.params, h),
        )
    }

    /// The logits of p(x | z).
    pub fn decode<'t>(&self, tape: &'t Tape, z: Var<'t>) -> Var<'t> {
        let act = self.config.activation;
        let mut h = z;
        for layer in &self.decoder {
            h = act.apply(layer.apply(tape, &self.params, h));
        }
        self.out.apply(tape, &self.params, h)
    }

    /// Encode, sample with the reparameterisation `z = μ + exp(½ log σ²) ⊙ ε`, decode.
    pub fn forward<'t>(&self, tape: &'t Tape, x: Var<'t>, eps: Var<'t>) -> Forward<'t> {
        let (mu, logvar) = self.encode(tape, x);
        let z = mu + (logvar * 0.5).exp() * eps;
        let logits = self.decode(tape, z);
        Forward {
            logits,
            mu,
            logvar,
            z,
        }
    }
}

/// Per pixel, the logit of its mean grey level over `images`, the mean clipped to
/// [0.001, 0.999] so that a pixel blank in every image gets a finite bias (-6.9).
pub fn data_mean_logits(images: &ImageSet) -> Vec<f32> {
    let dim = images.dim();
    let mut sums = vec![0u64; dim];
    for image in images.images.chunks_exact(dim) {
        for (s, &p) in sums.iter_mut().zip(image) {
            *s += u64::from(p);
        }
    }
    let n = (images.len() * 255) as f64;
    sums.iter()
        .map(|&s| {
            let m = (s as f64 / n).clamp(0.001, 0.999);
            (m / (1.0 - m)).ln() as f32
        })
        .collect()
}

/// The negative ELBO of a batch: per image, the summed pixel BCE plus `beta` times the analytic
/// KL divergence of N(μ, σ²) from N(0, I); the batch loss is the mean over images.
pub fn loss<'t>(f: &Forward<'t>, x: Var<'t>, beta: f32) -> Loss<'t> {
    let recon_per_image = f.logits.bce_with_logits_rowsum(x);
    let kl_per_image = ((f.mu.square() + f.logvar.exp() - f.logvar - 1.0) * 0.5).sum_axis(1, false);
    let weighted_kl = if beta == 1.0 {
        kl_per_image
    } else {
        kl_per_image * beta
    };
    let total = (recon_per_image + weighted_kl).mean();
    Loss {
        total,
        recon: recon_per_image.mean(),
        kl: kl_per_image.mean(),
        recon_per_image,
        kl_per_image,
    }
}
