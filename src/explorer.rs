//! `explorer.html`: one self-contained page to walk a trained model's latent space.
//!
//! The page holds the decoder's weights (base64 of little-endian `f32`), the test set's posterior
//! means and digits, and the figures shown in its corner; its script (`explorer/explorer.js`)
//! decodes any latent point with the same arithmetic as [`crate::model::Vae::decode`] followed
//! by a sigmoid. It loads nothing: a Content-Security-Policy in the page forbids every request,
//! so it opens from `file://` offline and can be mailed as it is.
//!
//! The page is `explorer/template.html` with its `{{NAME}}` placeholders filled in: the script,
//! the title, and the model as JSON.

use crate::checkpoint::write_atomic;
use crate::data::ImageSet;
use crate::eval::{EVAL_BATCH, encode_means};
use crate::model::Vae;
use crate::report::ImageShape;
use crate::train::Losses;
use std::path::Path;

const TEMPLATE: &str = include_str!("explorer/template.html");
const SCRIPT: &str = include_str!("explorer/explorer.js");

/// The Content-Security-Policy the page declares: nothing may be fetched, only the page's own
/// inline script and style run.
pub const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// Everything the page shows besides the decoder.
#[derive(Clone, Copy)]
pub struct Explorer<'a> {
    /// The model whose decoder the page runs.
    pub model: &'a Vae,
    /// Posterior means of the test images, `n x latent`, row-major.
    pub means: &'a [f32],
    /// The test images' digits, when the data has labels.
    pub labels: Option<&'a [u8]>,
    /// The image shape (rows, cols), `rows * cols` = the model's input size.
    pub shape: ImageShape,
    /// The model's test losses (shown in the page's corner).
    pub test: Losses,
    /// Epochs the model was trained for.
    pub epoch: usize,
}

/// The posterior means of every image of `set`, `set.len() x latent`.
pub fn test_means(model: &Vae, set: &ImageSet) -> Vec<f32> {
    let mut mu = Vec::with_capacity(set.len() * model.config.latent);
    let idx: Vec<usize> = (0..set.len()).collect();
    for chunk in idx.chunks(EVAL_BATCH) {
        let x: Vec<f32> = chunk
            .iter()
            .flat_map(|&i| set.image(i).iter().map(|&p| p as f32 / 255.0))
            .collect();
        mu.extend(encode_means(model, &x));
    }
    mu
}

/// Writes the page to `path` (atomically); the error names the file.
pub fn write(path: &Path, page: &Explorer<'_>) -> Result<(), String> {
    let html = render(page)?;
    write_atomic(path, html.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The page as one HTML string.
pub fn render(page: &Explorer<'_>) -> Result<String, String> {
    let cfg = &page.model.config;
    let (rows, cols) = page.shape;
    if rows * cols != cfg.input_dim {
        return Err(format!(
            "explorer: images of {rows} x {cols} pixels do not match the model's input size {}",
            cfg.input_dim
        ));
    }
    let n = page.means.len() / cfg.latent;
    if page.means.len() != n * cfg.latent {
        return Err(format!(
            "explorer: {} means is not a whole number of {}-dimensional codes",
            page.means.len(),
            cfg.latent
        ));
    }
    if let Some(l) = page.labels
        && l.len() != n
    {
        return Err(format!("explorer: {} labels for {n} test points", l.len()));
    }
    let layers = decoder_layers(page.model)?
        .iter()
        .map(|(w, b)| {
            serde_json::json!({
                "in": w.len() / b.len(),
                "out": b.len(),
                "w": base64_f32(w),
                "b": base64_f32(b),
            })
        })
        .collect::<Vec<_>>();
    let data = serde_json::json!({
        "config": cfg.to_string(),
        "input_dim": cfg.input_dim,
        "hidden": cfg.hidden,
        "latent": cfg.latent,
        "activation": cfg.activation.name(),
        "parameters": page.model.params.numel(),
        "rows": rows,
        "cols": cols,
        "epoch": page.epoch,
        "test": { "loss": page.test.loss, "recon": page.test.recon, "kl": page.test.kl },
        "layers": layers,
        "n": n,
        "means": base64_f32(page.means),
        "labels": page.labels.map(base64),
    });
    // Inside a <script> element, `</script` would end it: JSON can only hold `<` in strings,
    // where `\u003c` means the same.
    let json = data.to_string().replace('<', "\\u003c");
    fill(
        TEMPLATE,
        &[
            ("CSP", CSP),
            ("TITLE", &format!("VAE latent explorer: {cfg}")),
            ("MODEL", &json),
            ("SCRIPT", SCRIPT),
        ],
    )
}

/// A dense layer's `(weight [out, in] row-major, bias [out])`.
type Layer<'a> = (&'a [f32], &'a [f32]);

/// The decoder's dense layers in order.
fn decoder_layers(model: &Vae) -> Result<Vec<Layer<'_>>, String> {
    let p = &model.params;
    let names = (0..model.config.hidden.len())
        .map(|i| format!("decoder.{i}"))
        .chain(["decoder.out".to_string()]);
    let mut fan_in = model.config.latent;
    let mut layers = Vec::new();
    for name in names {
        let get = |suffix: &str| {
            p.id(&format!("{name}.{suffix}"))
                .map(|id| &p.get(id).data[..])
                .ok_or_else(|| format!("explorer: the model has no {name}.{suffix}"))
        };
        let (w, b) = (get("weight")?, get("bias")?);
        if b.is_empty() || w.len() != b.len() * fan_in {
            return Err(format!(
                "explorer: {name} has {} weights and {} biases, expected {fan_in} inputs",
                w.len(),
                b.len()
            ));
        }
        fan_in = b.len();
        layers.push((w, b));
    }
    Ok(layers)
}

/// Replaces each `{{NAME}}` of `template` by its value, in one pass (inserted text is never
/// read again). Every placeholder must have a value and every value must be used.
fn fill(template: &str, values: &[(&str, &str)]) -> Result<String, String> {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut used = vec![false; values.len()];
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or("explorer template: a {{ without its }}")?;
        let name = &after[..end];
        let k = values
            .iter()
            .position(|(n, _)| *n == name)
            .ok_or_else(|| format!("explorer template: no value for {{{{{name}}}}}"))?;
        out.push_str(values[k].1);
        used[k] = true;
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    if let Some(k) = used.iter().position(|u| !u) {
        return Err(format!(
            "explorer template: it has no {{{{{}}}}}",
            values[k].0
        ));
    }
    Ok(out)
}

/// Standard base64 (RFC 4648, with `=` padding) of `f32`s as little-endian bytes: what the
/// page's script reads back with a `DataView`.
fn base64_f32(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64(&bytes)
}

/// Standard base64 (RFC 4648, with `=` padding), as the browser's `atob` reads it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activation, VaeConfig};

    /// The reverse of [`base64`], written the plain way, for round trips.
    fn unbase64(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        };
        let mut out = Vec::new();
        for q in s.as_bytes().chunks(4) {
            let pad = q.iter().filter(|&&c| c == b'=').count();
            let mut n = 0u32;
            for &c in q {
                n = n << 6 | if c == b'=' { 0 } else { val(c) as u32 };
            }
            out.extend(&n.to_be_bytes()[1..4 - pad]);
        }
        out
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), coded, "{plain:?}");
        }
        // Every byte value, every length mod 3.
        let all: Vec<u8> = (0..=255).collect();
        for len in [0, 1, 2, 3, 254, 255, 256] {
            assert_eq!(unbase64(&base64(&all[..len])), &all[..len]);
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn floats_are_little_endian_f32() {
        // 1.0f32 is 0x3f800000: little-endian bytes 00 00 80 3f.
        assert_eq!(base64_f32(&[1.0]), base64(&[0, 0, 0x80, 0x3f]));
        let v = [0.0, -1.5, f32::MIN_POSITIVE, 3.4e38, 1e-7];
        let back: Vec<f32> = unbase64(&base64_f32(&v))
            .chunks(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(back, v);
    }

    #[test]
    fn fill_replaces_each_placeholder_once_and_checks_both_ways() {
        let t = "<a>{{X}}</a>{{Y}}{{X}}";
        assert_eq!(
            fill(t, &[("X", "1"), ("Y", "{{X}}")]).unwrap(),
            "<a>1</a>{{X}}1",
            "inserted text is not filled again"
        );
        let missing = fill(t, &[("X", "1")]).unwrap_err();
        assert!(missing.contains("no value for {{Y}}"), "{missing}");
        let unused = fill(t, &[("X", "1"), ("Y", ""), ("Z", "")]).unwrap_err();
        assert!(unused.contains("has no {{Z}}"), "{unused}");
        let open = fill("a {{X", &[("X", "1")]).unwrap_err();
        assert!(open.contains("without its }}"), "{open}");
    }

    fn page_for(model: &Vae, means: &[f32], labels: Option<&[u8]>) -> String {
        render(&Explorer {
            model,
            means,
            labels,
            shape: (28, 28),
            test: Losses {
                loss: 150.0,
                recon: 140.0,
                kl: 10.0,
            },
            epoch: 3,
        })
        .expect("renders")
    }

    fn small(hidden: Vec<usize>, latent: usize, activation: Activation) -> Vae {
        let mut c = VaeConfig::seed();
        c.hidden = hidden;
        c.latent = latent;
        c.activation = activation;
        Vae::new(c, 1)
    }

    /// The JSON the page carries, read back out of it.
    fn embedded(html: &str) -> serde_json::Value {
        let start = html
            .find(r#"<script type="application/json" id="model">"#)
            .unwrap();
        let body = &html[start..];
        let body = &body[body.find('>').unwrap() + 1..body.find("</script>").unwrap()];
        serde_json::from_str(body).expect("valid JSON")
    }

    #[test]
    fn the_page_carries_the_decoder_and_the_codes() {
        let model = small(vec![8, 6], 3, Activation::Tanh);
        let means: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
        let labels = [1u8, 7, 3, 9];
        let html = page_for(&model, &means, Some(&labels));
        let d = embedded(&html);
        assert_eq!(d["latent"], 3);
        assert_eq!(d["activation"], "tanh");
        assert_eq!(d["n"], 4);
        assert_eq!(d["means"], base64_f32(&means));
        assert_eq!(d["labels"], base64(&labels));
        // Decoder order: latent -> 6 -> 8 -> 784, weights as stored ([out, in]).
        let layers = d["layers"].as_array().unwrap();
        let shapes: Vec<(u64, u64)> = layers
            .iter()
            .map(|l| (l["in"].as_u64().unwrap(), l["out"].as_u64().unwrap()))
            .collect();
        assert_eq!(shapes, [(3, 6), (6, 8), (8, 784)]);
        let p = &model.params;
        let w0 = &p.get(p.id("decoder.0.weight").unwrap()).data;
        assert_eq!(layers[0]["w"], base64_f32(w0));
        let bout = &p.get(p.id("decoder.out.bias").unwrap()).data;
        assert_eq!(layers[2]["b"], base64_f32(bout));
        assert!(!html.contains("{{"), "a placeholder was left");
        assert!(html.contains(SCRIPT.trim()), "the script is inline");
    }

    #[test]
    fn the_page_fetches_nothing() {
        let model = small(vec![4], 2, Activation::Relu);
        let html = page_for(&model, &[0.0, 1.0], None);
        let csp = format!(r#"<meta http-equiv="Content-Security-Policy" content="{CSP}">"#);
        let at = html.find(&csp).expect("the CSP meta tag");
        assert!(at < html.find("<script").unwrap(), "the CSP comes first");
        assert!(CSP.starts_with("default-src 'none';"));
        let lower = html.to_ascii_lowercase();
        for needle in [
            "src=",
            "href=",
            "http:",
            "https:",
            "url(",
            "@import",
            "fetch(",
            "xmlhttprequest",
            "websocket",
            "import(",
        ] {
            assert!(!lower.contains(needle), "the page contains {needle:?}");
        }
    }

    #[test]
    fn mismatched_inputs_are_refused() {
        let model = small(vec![4], 2, Activation::Relu);
        let bad_means = render(&Explorer {
            model: &model,
            means: &[1.0, 2.0, 3.0],
            labels: None,
            shape: (28, 28),
            test: Losses::default(),
            epoch: 0,
        })
        .unwrap_err();
        assert!(bad_means.contains("whole number"), "{bad_means}");
        let bad_shape = render(&Explorer {
            model: &model,
            means: &[],
            labels: None,
            shape: (20, 20),
            test: Losses::default(),
            epoch: 0,
        })
        .unwrap_err();
        assert!(bad_shape.contains("20 x 20"), "{bad_shape}");
        let bad_labels = render(&Explorer {
            model: &model,
            means: &[0.0, 0.0],
            labels: Some(&[1, 2]),
            shape: (28, 28),
            test: Losses::default(),
            epoch: 0,
        })
        .unwrap_err();
        assert!(bad_labels.contains("2 labels for 1"), "{bad_labels}");
    }
}
