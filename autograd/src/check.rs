//! A finite-difference gradient checker for any scalar function of several tensors.
//!
//! Each input element is nudged by `±eps` and the central difference
//! `(f(x + eps) - f(x - eps)) / 2eps` compared with the gradient backward computed. The function
//! is evaluated in f32, so choose inputs in the op's safe range (log on [0.5, 2], not across 0).

use crate::{Tape, Tensor, Var};

/// What a gradient check found: the worst disagreement and where it was.
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// Largest `|analytic - numeric|` over all elements.
    pub max_abs_err: f32,
    /// Largest `|analytic - numeric| / max(1, |analytic|, |numeric|)`.
    pub max_rel_err: f32,
    /// `(input index, element index)` of the worst relative error.
    pub worst: (usize, usize),
    /// Backward's value there.
    pub analytic: f32,
    /// The central difference there.
    pub numeric: f32,
    /// Number of elements checked.
    pub checked: usize,
}

impl CheckReport {
    /// True when the worst relative error is at most `tol`.
    pub fn passes(&self, tol: f32) -> bool {
        self.max_rel_err <= tol
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} elements: max abs err {:.3e}, max rel err {:.3e} at input {} element {} (analytic {}, numeric {})",
            self.checked,
            self.max_abs_err,
            self.max_rel_err,
            self.worst.0,
            self.worst.1,
            self.analytic,
            self.numeric
        )
    }
}

/// Checks the gradient of `f(inputs)` (which must return a scalar) with respect to every input.
///
/// ```
/// use autograd::{check::check_gradients, Tensor};
/// let x = Tensor::from_vec(vec![0.5, 1.0, 2.0], &[3]);
/// let report = check_gradients(|_, v| (v[0].log() * v[0]).sum(), &[x], 1e-2);
/// assert!(report.passes(1e-2), "{report}");
/// ```
pub fn check_gradients<F>(f: F, inputs: &[Tensor], eps: f32) -> CheckReport
where
    F: for<'t> Fn(&'t Tape, &[Var<'t>]) -> Var<'t>,
{
    // Analytic gradients.
    let tape = Tape::new();
    let vars: Vec<Var> = inputs.iter().map(|t| tape.var(t.clone())).collect();
    let out = f(&tape, &vars);
    let grads = tape.backward(out);
    let analytic: Vec<Tensor> = vars.iter().map(|&v| grads.wrt(v)).collect();

    let eval = |xs: &[Tensor]| -> f64 {
        let tape = Tape::new();
        let vars: Vec<Var> = xs.iter().map(|t| tape.constant(t.clone())).collect();
        f(&tape, &vars).item() as f64
    };

    let mut report = CheckReport {
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        worst: (0, 0),
        analytic: 0.0,
        numeric: 0.0,
        checked: 0,
    };
    let mut xs: Vec<Tensor> = inputs.to_vec();
    for (i, a) in analytic.iter().enumerate() {
        for j in 0..xs[i].numel() {
            let orig = xs[i].data[j];
            xs[i].data[j] = orig + eps;
            let plus = eval(&xs);
            xs[i].data[j] = orig - eps;
            let minus = eval(&xs);
            xs[i].data[j] = orig;
            let numeric = ((plus - minus) / (2.0 * eps as f64)) as f32;
            let an = a.data[j];
            let abs = (an - numeric).abs();
            let rel = abs / 1f32.max(an.abs()).max(numeric.abs());
            let rel = if rel.is_nan() { f32::INFINITY } else { rel };
            report.checked += 1;
            report.max_abs_err = report.max_abs_err.max(abs);
            if rel > report.max_rel_err || report.checked == 1 {
                report.max_rel_err = rel;
                report.worst = (i, j);
                report.analytic = an;
                report.numeric = numeric;
            }
        }
    }
    report
}
