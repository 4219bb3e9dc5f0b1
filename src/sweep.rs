//! The `sweep` command: trains the VAE for every combination of the grid's settings, one after
//! another, scores each run (the same figures as `evaluate`), and writes `sweep.csv`,
//! `sweep.png` and the best configuration for each metric. `examples/sweep.rs` is a thin
//! wrapper around [`main`].
//!
//! ```text
//! sweep --grid latent=2,5,10 --grid lr=1e-3,3e-4 --epochs 20 --validation 10000 --patience 3
//! ```
//! Every `--grid key=v1,v2,…` names a `train_vae` flag (without its dashes) and its values;
//! a list-valued setting writes its items with `:` inside the grid (`--grid hidden=512:256,400`
//! runs `--hidden 512,256` and `--hidden 400`). Every other flag is passed to `train_vae` as
//! it is (the same for every run), except `--out`, `--threads`, `--data`, `--classifier`,
//! `--samples`, `--trust-points` and `--test-limit`, which are the sweep's own. Each configuration trains in
//! its own folder under `--out`; one that finished (its `row.json` exists) is skipped when the
//! sweep runs again.
//!
//! `--reference METRIC=X:Y,...` (with `--reference-label`) puts published figures beside the
//! sweep's: drawn on that metric's panel of `sweep.png` and compared row by row at the end.

use crate::checkpoint;
use crate::classifier::{DEFAULT_DIR, load_or_train};
use crate::data::load_dir;
use crate::evaluate::cli::{read_summary, set_threads};
use crate::evaluate::embedding::vae_scores;
use crate::evaluate::generation::generation_report;
use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `train_vae` flags that cannot be grid axes: where a run writes, how many threads it uses,
/// and what the sweep decides itself.
const NOT_AXES: [&str; 5] = ["out", "threads", "resume", "quiet", "data"];
/// Importance samples for the test log-likelihood, unless `--iw-samples` is passed.
pub const DEFAULT_IW: &str = "50";

/// One axis of the grid: a `train_vae` flag and its values (as typed, `:` inside a list).
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// The flag without its dashes (`latent`, `batch-size`).
    pub key: String,
    /// Its values.
    pub values: Vec<String>,
}

/// Published figures to set beside one metric: a value per value of the first grid axis.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// The metric (a name from [`METRICS`]).
    pub metric: String,
    /// What to call it in the plot and the printout.
    pub label: String,
    /// (value of the first axis, as typed; the reference figure).
    pub points: Vec<(String, f64)>,
}

/// Parses `METRIC=X:Y,X:Y,...`.
fn parse_reference(spec: &str) -> Result<Reference, String> {
    let (metric, list) = spec
        .split_once('=')
        .ok_or_else(|| format!("--reference {spec:?} is not METRIC=X:Y,X:Y,..."))?;
    if !METRICS.iter().any(|(m, _)| *m == metric) {
        let names: Vec<&str> = METRICS.iter().map(|(m, _)| *m).collect();
        return Err(format!(
            "--reference: unknown metric {metric:?} (expected one of {})",
            names.join(", ")
        ));
    }
    let mut points = Vec::new();
    for item in list.split(',').filter(|t| !t.is_empty()) {
        let parsed = item
            .split_once(':')
            .and_then(|(x, y)| Some((x.to_string(), y.parse::<f64>().ok()?)));
        match parsed {
            Some((x, y)) if y.is_finite() && !x.is_empty() => points.push((x, y)),
            _ => {
                return Err(format!(
                    "--reference {metric}: {item:?} is not X:Y (an axis value and a finite number)"
                ));
            }
        }
    }
    if points.is_empty() {
        return Err(format!("--reference {metric}= has no points"));
    }
    Ok(Reference {
        metric: metric.to_string(),
        label: "reference".to_string(),
        points,
    })
}

/// The sweep's own settings and the flags passed on to `train_vae`.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepArgs {
    /// The axes, in the order given.
    pub grid: Vec<Axis>,
    /// Output folder.
    pub out: PathBuf,
    /// Threads for everything.
    pub threads: Option<usize>,
    /// The data folder.
    pub data: PathBuf,
    /// The classifier's folder.
    pub classifier: PathBuf,
    /// Prior samples scored per run.
    pub samples: usize,
    /// Training images for trustworthiness.
    pub trust_points: usize,
    /// Score on the first N test images only (quick runs).
    pub test_limit: Option<usize>,
    /// Published figures for one metric, drawn and compared beside the sweep's.
    pub reference: Option<Reference>,
    /// Flags passed to every `train_vae` run.
    pub pass: Vec<String>,
}

const USAGE: &str = "usage: sweep --grid KEY=V1,V2,... [--grid ...] [--out DIR] [--threads N] [--data DIR] \
[--classifier DIR] [--samples N] [--trust-points N] [--test-limit N]
  [--reference METRIC=X:Y,X:Y,... [--reference-label TEXT]] [train_vae flags...]
  KEY is a train_vae flag without dashes (latent, lr, beta, batch-size, hidden, epochs, binarize, ...);
  a list value uses ':' inside the grid: --grid hidden=512:256,400;
  --reference sets published figures beside one metric, X being values of the first axis:
  --reference iw_nll=2:135.73,5:110.21 --reference-label 'Davidson et al. 2018'";

/// The flags `train_vae` knows, without dashes.
fn train_flags() -> Vec<String> {
    crate::cli::Args::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// Parses one `--grid` value.
pub fn parse_axis(spec: &str) -> Result<Axis, String> {
    let (key, values) = spec
        .split_once('=')
        .ok_or_else(|| format!("--grid {spec:?} is not KEY=V1,V2,..."))?;
    let key = key.trim().trim_start_matches("--").replace('_', "-");
    if NOT_AXES.contains(&key.as_str()) {
        return Err(format!(
            "--grid {key}: where a run writes, its threads and its data are the sweep's, not an axis"
        ));
    }
    if !train_flags().contains(&key) {
        return Err(format!(
            "--grid {key}: unknown axis (not a train_vae flag; see train_vae --help)"
        ));
    }
    let values: Vec<String> = values
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect();
    if values.is_empty() {
        return Err(format!("--grid {key}= has no values"));
    }
    Ok(Axis { key, values })
}

/// Parses the sweep's command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Option<SweepArgs>, String> {
    let mut s = SweepArgs {
        grid: Vec::new(),
        out: PathBuf::from("runs/sweep"),
        threads: None,
        data: PathBuf::from("data/mnist"),
        classifier: PathBuf::from(DEFAULT_DIR),
        samples: 10_000,
        trust_points: 10_000,
        test_limit: None,
        reference: None,
        pass: Vec::new(),
    };
    let mut label = None;
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--help" || a == "-h" {
            println!("{USAGE}");
            return Ok(None);
        }
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let own = [
            "--grid",
            "--out",
            "--threads",
            "--data",
            "--classifier",
            "--samples",
            "--trust-points",
            "--test-limit",
            "--reference",
            "--reference-label",
        ];
        if !own.contains(&flag.as_str()) {
            s.pass.push(a.clone());
            i += 1;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i)
                    .cloned()
                    .ok_or_else(|| format!("{flag} needs a value"))?
            }
        };
        let count = |v: &str| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} must be a whole number >= 1, got {v:?}")),
            }
        };
        match flag.as_str() {
            "--grid" => {
                let axis = parse_axis(&value)?;
                if s.grid.iter().any(|a| a.key == axis.key) {
                    return Err(format!("--grid {} is given twice", axis.key));
                }
                s.grid.push(axis);
            }
            "--out" => s.out = PathBuf::from(value),
            "--threads" => s.threads = Some(count(&value)?),
            "--data" => s.data = PathBuf::from(value),
            "--classifier" => s.classifier = PathBuf::from(value),
            "--samples" => s.samples = count(&value)?,
            "--test-limit" => s.test_limit = Some(count(&value)?),
            "--reference" => s.reference = Some(parse_reference(&value)?),
            "--reference-label" => label = Some(value),
            _ => s.trust_points = count(&value)?,
        }
        i += 1;
    }
    if s.grid.is_empty() {
        return Err("the grid is empty: give at least one --grid KEY=V1,V2,...".into());
    }
    match (&mut s.reference, label) {
        (Some(r), Some(l)) => r.label = l,
        (None, Some(_)) => return Err("--reference-label needs --reference".into()),
        _ => {}
    }
    if let Some(r) = &s.reference {
        let first = &s.grid[0];
        if let Some((x, _)) = r.points.iter().find(|(x, _)| !first.values.contains(x)) {
            return Err(format!(
                "--reference: {x} is not a value of the first grid axis ({})",
                first.key
            ));
        }
    }
    for bad in ["--out", "--threads", "--resume", "--data"] {
        if s.pass
            .iter()
            .any(|p| p == bad || p.starts_with(&format!("{bad}=")))
        {
            return Err(format!(
                "{bad} is the sweep's own setting, not a train_vae flag here"
            ));
        }
    }
    for axis in &s.grid {
        let flag = format!("--{}", axis.key);
        if s.pass
            .iter()
            .any(|p| *p == flag || p.starts_with(&format!("{flag}=")))
        {
            return Err(format!("{flag} is both a grid axis and a fixed flag"));
        }
    }
    Ok(Some(s))
}

/// Every combination of the axes' values, the first axis varying slowest.
pub fn configurations(grid: &[Axis]) -> Vec<Vec<(String, String)>> {
    let mut out = vec![Vec::new()];
    for axis in grid {
        out = out
            .into_iter()
            .flat_map(|c: Vec<(String, String)>| {
                axis.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((axis.key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    out
}

/// A configuration's folder name: `latent-2_lr-0.001`, list items joined by `x`.
pub fn config_name(config: &[(String, String)]) -> String {
    config
        .iter()
        .map(|(k, v)| {
            let v: String = v
                .chars()
                .map(|c| match c {
                    ':' => 'x',
                    c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => c,
                    _ => '_',
                })
                .collect();
            format!("{k}-{v}")
        })
        .collect::<Vec<_>>()
        .join("_")
}

/// The `train_vae` command line of one configuration (program name first).
pub fn train_args(s: &SweepArgs, config: &[(String, String)], out: &Path) -> Vec<String> {
    let mut v = vec!["train_vae".to_string()];
    for (k, val) in config {
        v.push(format!("--{k}"));
        v.push(val.replace(':', ","));
    }
    v.extend(s.pass.iter().cloned());
    if !s.pass.iter().any(|p| p.starts_with("--iw-samples")) {
        v.extend(["--iw-samples".to_string(), DEFAULT_IW.to_string()]);
    }
    v.extend([
        "--data".to_string(),
        s.data.display().to_string(),
        "--out".to_string(),
        out.display().to_string(),
        "--quiet".to_string(),
    ]);
    v
}

/// The metrics of a row, in `sweep.csv` order: name, and whether lower is better.
pub const METRICS: [(&str, bool); 13] = [
    ("epochs_run", true),
    ("best_epoch", true),
    ("test_neg_elbo", true),
    ("test_recon", true),
    ("test_kl", true),
    ("iw_nll", true),
    ("active_units", false),
    ("knn1", false),
    ("knn5", false),
    ("trust5", false),
    ("frechet", true),
    ("classifier_score", false),
    ("seconds", true),
];

/// Metrics for which a best configuration is printed.
const RANKED: [&str; 7] = [
    "test_neg_elbo",
    "iw_nll",
    "knn5",
    "trust5",
    "frechet",
    "classifier_score",
    "seconds",
];

/// One finished configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The settings.
    pub config: Vec<(String, String)>,
    /// The metrics, in [`METRICS`] order (NaN when missing).
    pub values: Vec<f64>,
}

impl Row {
    fn get(&self, name: &str) -> f64 {
        METRICS
            .iter()
            .position(|(m, _)| *m == name)
            .map_or(f64::NAN, |i| self.values[i])
    }

    fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        for ((name, _), v) in METRICS.iter().zip(&self.values) {
            m.insert(name.to_string(), serde_json::json!(v));
        }
        serde_json::json!({ "config": self.config, "metrics": m })
    }

    fn from_json(v: &serde_json::Value) -> Option<Row> {
        let config: Vec<(String, String)> = serde_json::from_value(v["config"].clone()).ok()?;
        let values = METRICS
            .iter()
            .map(|(m, _)| v["metrics"][*m].as_f64().unwrap_or(f64::NAN))
            .collect();
        Some(Row { config, values })
    }
}

/// `sweep.csv`: the axes, then the metrics, one row per configuration.
pub fn csv(grid: &[Axis], rows: &[Row]) -> String {
    let mut s: Vec<String> = grid.iter().map(|a| a.key.clone()).collect();
    s.extend(METRICS.iter().map(|(m, _)| m.to_string()));
    let mut out = s.join(",") + "\n";
    for r in rows {
        let mut cells: Vec<String> = r.config.iter().map(|(_, v)| v.clone()).collect();
        cells.extend(r.values.iter().map(|v| {
            if v.is_finite() {
                format!("{v:.6}")
            } else {
                String::new()
            }
        }));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The best row for each ranked metric: `(metric, row index, value)`.
pub fn best_rows(rows: &[Row]) -> Vec<(&'static str, usize, f64)> {
    RANKED
        .iter()
        .filter_map(|&m| {
            let lower = METRICS.iter().find(|(n, _)| *n == m)?.1;
            rows.iter()
                .enumerate()
                .filter(|(_, r)| r.get(m).is_finite())
                .min_by(|a, b| {
                    let (x, y) = (a.1.get(m), b.1.get(m));
                    if lower {
                        x.total_cmp(&y)
                    } else {
                        y.total_cmp(&x)
                    }
                })
                .map(|(i, r)| (m, i, r.get(m)))
        })
        .collect()
}

/// The command's entry point (one-line errors, exit code 1).
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    crate::cli::run_command(|| run_from(&args))
}

/// Parses (without the program name) and runs.
pub fn run_from(args: &[String]) -> Result<(), String> {
    match parse_args(args)? {
        Some(s) => run(&s),
        None => Ok(()),
    }
}

/// Scores a finished run in `dir`: its summary's figures, the embedding and the samples.
fn score_run(
    s: &SweepArgs,
    dir: &Path,
    config: &[(String, String)],
    data: &crate::data::Mnist,
    classifier: &crate::classifier::Classifier,
    seconds: f64,
) -> Result<Row, String> {
    let best = dir.join("best.safetensors");
    let path = if best.exists() {
        best
    } else {
        dir.join("checkpoint.safetensors")
    };
    let ck = checkpoint::load(&path).map_err(|e| e.to_string())?;
    let summary = read_summary(&dir.join("summary.json"))?;
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let test = match s.test_limit {
        Some(n) => data.test.first(n),
        None => data.test.clone(),
    };
    let emb = vae_scores(&ck.model, &data.train, &test, s.trust_points)?;
    let generation = generation_report(&ck.model, classifier, &data.train, &test, s.samples, 0);
    let prior = generation.rows.last().expect("the prior samples' row");
    let epochs_run = summary["validation"]["epochs_run"]
        .as_f64()
        .unwrap_or(ck.epoch as f64);
    let best_epoch = summary["validation"]["best_epoch"]
        .as_f64()
        .unwrap_or(ck.epoch as f64);
    Ok(Row {
        config: config.to_vec(),
        values: vec![
            epochs_run,
            best_epoch,
            num(&summary["test_neg_elbo"]),
            num(&summary["test_recon"]),
            num(&summary["test_kl"]),
            num(&summary["test_iw_nll"]),
            num(&summary["active_units"]),
            emb.knn1,
            emb.knn5,
            emb.trust,
            prior.frechet,
            prior.score,
            seconds,
        ],
    })
}

fn describe(config: &[(String, String)]) -> String {
    config
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a parsed sweep.
pub fn run(s: &SweepArgs) -> Result<(), String> {
    set_threads(s.threads)?;
    let configs = configurations(&s.grid);
    // Every configuration's command line is checked before any work starts.
    for c in &configs {
        let args = train_args(s, c, &s.out.join(config_name(c)));
        crate::cli::check_from(&args).map_err(|e| format!("{}: {e}", describe(c)))?;
    }
    rayon::scope(|_| sweep(s, &configs))
}

fn sweep(s: &SweepArgs, configs: &[Vec<(String, String)>]) -> Result<(), String> {
    let data = load_dir(&s.data).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&s.out)
        .map_err(|e| format!("cannot create --out {}: {e}", s.out.display()))?;
    let classifier = load_or_train(&s.classifier, &data.train, &data.test)?;
    println!(
        "sweep: {} configurations into {}, {} threads",
        configs.len(),
        s.out.display(),
        rayon::current_num_threads()
    );
    let mut rows = Vec::new();
    for (i, c) in configs.iter().enumerate() {
        let dir = s.out.join(config_name(c));
        let row_path = dir.join("row.json");
        let head = format!("[{}/{}] {}", i + 1, configs.len(), describe(c));
        if let Some(row) = std::fs::read_to_string(&row_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .and_then(|v| Row::from_json(&v))
        {
            println!("{head}: finished before, skipped");
            rows.push(row);
            continue;
        }
        println!("{head}: training in {}", dir.display());
        let start = Instant::now();
        crate::cli::run_from(train_args(s, c, &dir)).map_err(|e| format!("{head}: {e}"))?;
        let row = score_run(
            s,
            &dir,
            c,
            &data,
            &classifier,
            start.elapsed().as_secs_f64(),
        )?;
        checkpoint::write_atomic(&row_path, row.to_json().to_string().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", row_path.display()))?;
        println!(
            "{head}: -ELBO {:.2}  IW NLL {:.2}  5-NN {:.3}  trust {:.3}  Fréchet {:.2}  ({:.0} s, {} epochs)",
            row.get("test_neg_elbo"),
            row.get("iw_nll"),
            row.get("knn5"),
            row.get("trust5"),
            row.get("frechet"),
            row.get("seconds"),
            row.get("epochs_run")
        );
        rows.push(row);
        // The table so far, so an interrupted sweep still leaves one.
        write_outputs(s, &rows)?;
    }
    write_outputs(s, &rows)?;
    println!("\nbest configuration per metric:");
    for (m, i, v) in best_rows(&rows) {
        println!("  {m:<17} {v:>10.3}  {}", describe(&rows[i].config));
    }
    if let Some(r) = &s.reference {
        println!("\n{} beside {}:", r.metric, r.label);
        for line in reference_lines(&rows, r) {
            println!("  {line}");
        }
    }
    println!("\nwrote {}/sweep.csv and sweep.png", s.out.display());
    Ok(())
}

/// One line per row that has a reference figure: ours, theirs, and ours minus theirs.
fn reference_lines(rows: &[Row], r: &Reference) -> Vec<String> {
    rows.iter()
        .filter_map(|row| {
            let (_, theirs) = r.points.iter().find(|(x, _)| *x == row.config[0].1)?;
            let ours = row.get(&r.metric);
            Some(format!(
                "{}: ours {ours:.2}, {} {theirs:.2}, difference {:+.2}",
                describe(&row.config),
                r.label,
                ours - theirs
            ))
        })
        .collect()
}

fn write_outputs(s: &SweepArgs, rows: &[Row]) -> Result<(), String> {
    let path = s.out.join("sweep.csv");
    checkpoint::write_atomic(&path, csv(&s.grid, rows).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    crate::sweep_plot::sweep_plot(
        &s.out.join("sweep.png"),
        &s.grid,
        rows,
        s.reference.as_ref(),
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_axes_and_passes_the_rest_on() {
        let s = parse_args(&strings(&[
            "--grid",
            "latent=2,5",
            "--epochs",
            "3",
            "--grid=hidden=512:256,400",
            "--out",
            "x",
            "--binarize",
            "dynamic",
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(s.grid.len(), 2);
        assert_eq!(s.grid[1].values, strings(&["512:256", "400"]));
        assert_eq!(s.pass, strings(&["--epochs", "3", "--binarize", "dynamic"]));
        assert_eq!(s.out, PathBuf::from("x"));
        let configs = configurations(&s.grid);
        assert_eq!(configs.len(), 4);
        assert_eq!(config_name(&configs[0]), "latent-2_hidden-512x256");
        assert_eq!(config_name(&configs[3]), "latent-5_hidden-400");
        let a = train_args(&s, &configs[0], Path::new("x/c"));
        assert!(
            a.windows(2)
                .any(|w| w[0] == "--hidden" && w[1] == "512,256")
        );
        assert!(
            a.windows(2)
                .any(|w| w[0] == "--iw-samples" && w[1] == DEFAULT_IW)
        );
        assert!(crate::cli::check_from(&a).is_ok());
    }

    /// Each argument list is refused with an error that contains its text.
    fn refused(cases: &[(&[&str], &str)]) {
        for (args, want) in cases {
            let err = parse_args(&strings(args)).unwrap_err();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }

    #[test]
    fn refuses_bad_grids() {
        let cases: &[(&[&str], &str)] = &[
            (&["--epochs", "3"], "the grid is empty"),
            (&["--grid", "width=3,4"], "--grid width: unknown axis"),
            (&["--grid", "out=a,b"], "not an axis"),
            (&["--grid", "threads=1,2"], "not an axis"),
            (&["--grid", "latent="], "has no values"),
            (&["--grid", "latent"], "is not KEY=V1,V2"),
            (&["--grid", "latent=2", "--grid", "latent=3"], "given twice"),
            (
                &["--grid", "latent=2", "--latent", "3"],
                "both a grid axis and a fixed flag",
            ),
            (
                &["--grid", "latent=2", "--threads", "0"],
                "--threads must be",
            ),
            (
                &["--grid", "latent=2", "--resume", "x"],
                "the sweep's own setting",
            ),
        ];
        refused(cases);
    }

    #[test]
    fn reference_figures_parse_check_and_compare() {
        let s = parse_args(&strings(&[
            "--grid",
            "latent=2,5",
            "--reference",
            "iw_nll=2:135.73,5:110.21",
            "--reference-label",
            "Davidson et al. 2018",
        ]))
        .unwrap()
        .unwrap();
        let r = s.reference.clone().unwrap();
        assert_eq!(r.metric, "iw_nll");
        assert_eq!(r.label, "Davidson et al. 2018");
        assert_eq!(r.points, vec![("2".into(), 135.73), ("5".into(), 110.21)]);
        let mut values = vec![f64::NAN; METRICS.len()];
        let iw_nll = METRICS.iter().position(|(m, _)| *m == "iw_nll").unwrap();
        values[iw_nll] = 133.78;
        let rows = vec![
            Row {
                config: vec![("latent".into(), "2".into())],
                values: values.clone(),
            },
            Row {
                config: vec![("latent".into(), "10".into())],
                values,
            },
        ];
        assert_eq!(
            reference_lines(&rows, &r),
            vec!["latent=2: ours 133.78, Davidson et al. 2018 135.73, difference -1.95"]
        );
        let cases: &[(&[&str], &str)] = &[
            (
                &["--grid", "latent=2", "--reference", "nll=2:1"],
                "unknown metric \"nll\"",
            ),
            (
                &["--grid", "latent=2", "--reference", "iw_nll=2:x"],
                "\"2:x\" is not X:Y",
            ),
            (
                &["--grid", "latent=2", "--reference", "iw_nll="],
                "no points",
            ),
            (
                &["--grid", "latent=2", "--reference", "iw_nll"],
                "METRIC=X:Y",
            ),
            (
                &["--grid", "latent=2", "--reference", "iw_nll=3:1.0"],
                "3 is not a value of the first grid axis (latent)",
            ),
            (
                &["--grid", "latent=2", "--reference-label", "x"],
                "needs --reference",
            ),
        ];
        refused(cases);
    }

    #[test]
    fn the_best_row_per_metric() {
        let row = |latent: &str, elbo: f64, knn: f64| {
            let mut values = vec![f64::NAN; METRICS.len()];
            values[2] = elbo;
            values[8] = knn;
            Row {
                config: vec![("latent".into(), latent.into())],
                values,
            }
        };
        let rows = vec![
            row("2", 150.0, 0.7),
            row("5", 120.0, 0.9),
            row("10", 100.0, 0.8),
        ];
        let best = best_rows(&rows);
        assert!(best.contains(&("test_neg_elbo", 2, 100.0)));
        assert!(best.contains(&("knn5", 1, 0.9)));
        assert!(
            !best.iter().any(|b| b.0 == "frechet"),
            "no finite value, no best"
        );
        let c = csv(
            &[Axis {
                key: "latent".into(),
                values: vec![],
            }],
            &rows,
        );
        assert!(c.starts_with("latent,epochs_run,best_epoch,test_neg_elbo"));
        assert_eq!(c.lines().count(), 4);
        let back = Row::from_json(&rows[1].to_json()).unwrap();
        assert_eq!(back.config, rows[1].config);
        assert_eq!(back.get("knn5"), 0.9);
    }
}
