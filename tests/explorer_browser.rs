//! The latent explorer in a real browser: small models trained here write `explorer.html`,
//! headless Chromium opens it at given latent points (`?z=…`), and the pixels the page decoded
//! (read from its DOM with `--dump-dom`) must match the engine's own decoder within 1e-4. The
//! page must also draw every test point, declare a Content-Security-Policy that forbids every
//! request, and run without a script error.
//!
//! A `harness = false` test, so that what it says reaches the person running it: without
//! Chromium it prints one line saying the browser tests did not run and how to install the
//! browser, and passes; under `CI=true` a missing browser is a failure. It ends with a line
//! `N passed, M failed`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};
use vae::data::{ImageSet, load_dir};
use vae::eval::{decode_probs, evaluate};
use vae::explorer::{CSP, Explorer};
use vae::model::{Activation, Vae, VaeConfig};
use vae::train::{TrainConfig, Trainer};

/// Test images the pages show.
const TEST_POINTS: usize = 500;
/// Epochs the models train for (enough to decode digit-like strokes).
const EPOCHS: usize = 4;
/// Largest difference allowed between a pixel decoded in the page and by the engine.
const TOLERANCE: f64 = 1e-4;

/// A browser test: gets the browser and the data, panics on failure.
type Case = fn(&Path, &Data);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("explorer_browser: test");
        return ExitCode::SUCCESS;
    }
    // A name filter from `cargo test NAME`; libtest's flags (and their values) are ignored.
    let mut filters: Vec<&String> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if [
            "--test-threads",
            "--skip",
            "--format",
            "--color",
            "--logfile",
            "-Z",
        ]
        .contains(&a.as_str())
        {
            it.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let cases: [(&str, Case); 2] = [
        ("relu_2d_latent", relu_2d_latent),
        ("tanh_two_layers_5d_latent", tanh_two_layers_5d_latent),
    ];
    let chosen: Vec<_> = cases
        .iter()
        .filter(|(name, _)| {
            let full = format!("explorer_browser::{name}");
            filters.is_empty() || filters.iter().any(|f| full.contains(f.as_str()))
        })
        .collect();
    if chosen.is_empty() {
        println!("0 passed, 0 failed ({} filtered out)", cases.len());
        return ExitCode::SUCCESS;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let Some(browser) = find_browser() else {
        if ci {
            println!("browser tests FAILED: chromium not found and CI=true (.ci/run installs it)");
            println!("0 passed, {} failed", chosen.len());
            return ExitCode::FAILURE;
        }
        println!(
            "browser tests did not run: chromium not found; install with `apt-get install chromium`"
        );
        return ExitCode::SUCCESS;
    };
    let data = Data::load();
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in chosen {
        let result = std::panic::catch_unwind(|| case(&browser, &data));
        match result {
            Ok(()) => {
                println!("test explorer_browser::{name} ... ok");
                passed += 1;
            }
            Err(_) => {
                println!("test explorer_browser::{name} ... FAILED");
                failed += 1;
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `$CHROMIUM` if set, else the first of Chromium's usual names on the `PATH`.
fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(p.into());
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|p| p.is_file())
}

/// The bundled MNIST: a few training images and the first test images.
struct Data {
    train: ImageSet,
    test: ImageSet,
}

impl Data {
    fn load() -> Data {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
        let m = load_dir(&root).expect("bundled MNIST loads");
        Data {
            train: m.train.first(3000),
            test: m.test.first(TEST_POINTS),
        }
    }
}

/// A model of the given shape trained for a few epochs on the training images.
fn trained(hidden: Vec<usize>, latent: usize, activation: Activation, data: &Data) -> Vae {
    let mut c = VaeConfig::seed();
    c.hidden = hidden;
    c.latent = latent;
    c.activation = activation;
    let mut t = Trainer::new(Vae::new(c, 7), TrainConfig::seed_recipe());
    for epoch in 0..EPOCHS {
        t.train_epoch(&data.train, epoch, &mut |_, _, _| {})
            .expect("trains");
    }
    t.model
}

/// Writes the model's explorer page into a fresh folder and checks the file itself.
fn write_page(model: &Vae, data: &Data, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vae-explorer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let means = vae::explorer::test_means(model, &data.test);
    let page = Explorer {
        model,
        means: &means,
        labels: data.test.labels.as_deref(),
        shape: (28, 28),
        test: evaluate(model, &data.test, vae::data::Binarize::None, 1.0, 0),
        epoch: EPOCHS,
    };
    let path = dir.join("explorer.html");
    vae::explorer::write(&path, &page).expect("writes explorer.html");
    let html = std::fs::read_to_string(&path).expect("reads explorer.html");
    // The policy forbids every fetch, and comes before anything that could make one.
    let meta = format!(r#"<meta http-equiv="Content-Security-Policy" content="{CSP}">"#);
    let at = html.find(&meta).expect("the page declares its CSP");
    assert!(
        at < html.find("<script").expect("a script"),
        "the CSP comes first"
    );
    assert!(CSP.starts_with("default-src 'none';"), "{CSP}");
    for other in [
        "connect-src",
        "img-src",
        "font-src",
        "media-src",
        "frame-src",
        "*",
    ] {
        assert!(!CSP.contains(other), "the CSP allows {other}");
    }
    let lower = html.to_ascii_lowercase();
    for needle in [
        "src=", "href=", "http:", "https:", "url(", "@import", "fetch(",
    ] {
        assert!(!lower.contains(needle), "the page contains {needle:?}");
    }
    path
}

/// Opens `page` (with `query`) in headless Chromium and returns the DOM after its script ran.
fn dump_dom(browser: &Path, page: &Path, query: &str) -> String {
    let dir = page.parent().expect("folder");
    let profile = dir.join(format!("profile-{}", query.len()));
    let (out, err) = (dir.join("dom.html"), dir.join("chromium.log"));
    let url = format!("file://{}{query}", page.display());
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("dom file"))
        .stderr(std::fs::File::create(&err).expect("log file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s on {url}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut dom = String::new();
    std::fs::File::open(&out)
        .and_then(|mut f| f.read_to_string(&mut dom))
        .expect("read the DOM");
    let log = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.success() && dom.contains("</html>"),
        "chromium failed on {url} ({status}):\n{log}"
    );
    let _ = std::fs::remove_dir_all(&profile);
    dom
}

/// The attributes and the text of the element with this id in a DOM dump.
fn element<'d>(dom: &'d str, id: &str) -> (&'d str, &'d str) {
    let at = dom
        .find(&format!(r#"id="{id}""#))
        .unwrap_or_else(|| panic!("no element #{id}"));
    let open = dom[..at].rfind('<').expect("tag start");
    let end = at + dom[at..].find('>').expect("tag end");
    let text_end = end + dom[end..].find("</").expect("closing tag");
    (&dom[open..end], &dom[end + 1..text_end])
}

/// Opens the page at `z` and checks the decoded pixels against the engine's decoder.
fn check_at(browser: &Path, page: &Path, model: &Vae, z: &[f32], extra_query: &str) -> String {
    let zs: Vec<String> = z.iter().map(|v| v.to_string()).collect();
    let query = format!("?z={}{extra_query}", zs.join(","));
    check_page(browser, page, model, z, &query)
}

/// Opens the page with `query` and checks that it decoded `z`, as the engine's decoder does.
fn check_page(browser: &Path, page: &Path, model: &Vae, z: &[f32], query: &str) -> String {
    let zs: Vec<String> = z.iter().map(|v| v.to_string()).collect();
    let dom = dump_dom(browser, page, query);
    let (_, error) = element(&dom, "error");
    assert_eq!(error, "", "the page reported an error at {query}");
    let (attrs, count) = element(&dom, "points");
    assert_eq!(count, TEST_POINTS.to_string(), "test points drawn");
    assert!(
        attrs.contains(&format!(r#"data-count="{TEST_POINTS}""#)),
        "{attrs}"
    );
    let (attrs, text) = element(&dom, "pixels");
    let at = attrs.find("data-z=\"").expect("data-z") + 8;
    let page_z: Vec<f32> = attrs[at..attrs[at..].find('"').unwrap() + at]
        .split(',')
        .map(|v| v.parse().expect("a number"))
        .collect();
    assert_eq!(page_z, z, "the point the page decoded, at {query}");
    let page_pixels: Vec<f64> = text
        .split_whitespace()
        .map(|v| v.parse().expect("a number"))
        .collect();
    let want = decode_probs(model, z);
    assert_eq!(page_pixels.len(), want.len(), "pixel count");
    let worst = page_pixels
        .iter()
        .zip(&want)
        .map(|(a, &b)| (a - b as f64).abs())
        .fold(0.0, f64::max);
    let (_, ms) = element(&dom, "first-decode-ms");
    let ms: f64 = ms.parse().expect("first-decode-ms is a number");
    println!(
        "  {} at z = ({}): max abs error {worst:.2e} over {} pixels; first decode at {ms:.0} ms",
        model.config,
        zs.join(", "),
        want.len()
    );
    assert!(worst < TOLERANCE, "max abs error {worst} at {query}");
    // Not all grey: the comparison saw a digit's range of values.
    let (lo, hi) = want
        .iter()
        .fold((1.0f32, 0.0f32), |(l, h), &p| (l.min(p), h.max(p)));
    assert!(hi - lo > 0.5, "decoded pixels span only {lo}..{hi}");
    dom
}

fn relu_2d_latent(browser: &Path, data: &Data) {
    let model = trained(vec![64], 2, Activation::Relu, data);
    let page = write_page(&model, data, "relu");
    check_at(browser, &page, &model, &[0.5, -1.2], "");
    check_at(browser, &page, &model, &[-2.25, 3.0], "");
    // Without ?z= the page decodes the first test image's code; ?pair= draws the
    // interpolation strip between two test points.
    let first = &vae::explorer::test_means(&model, &data.test)[..2];
    let dom = check_page(browser, &page, &model, first, "?pair=0,1");
    let (_, status) = element(&dom, "status");
    assert!(status.starts_with("from test image #0"), "{status}");
    let strip = &dom[dom.find(r#"id="strip""#).unwrap()..];
    let strip = &strip[..strip.find("</div>").unwrap()];
    assert_eq!(strip.matches("<canvas").count(), 10, "{strip}");
    let _ = std::fs::remove_dir_all(page.parent().expect("folder"));
}

fn tanh_two_layers_5d_latent(browser: &Path, data: &Data) {
    let model = trained(vec![48, 32], 5, Activation::Tanh, data);
    let page = write_page(&model, data, "tanh");
    let dom = check_at(browser, &page, &model, &[0.5, -1.2, 2.0, -0.3, 1.1], "");
    // A slider for every dimension and a choice of the plane's two.
    let sliders = &dom[dom.find(r#"id="sliders""#).unwrap()..];
    assert_eq!(sliders.matches(r#"type="range""#).count(), 5);
    assert_eq!(dom.matches("<select").count(), 2);
    check_at(browser, &page, &model, &[-1.5, 0.25, 0.0, 3.0, -2.0], "");
    // A shorter ?z= leaves the other dimensions at 0; a malformed one is reported in the page.
    check_page(
        browser,
        &page,
        &model,
        &[0.5, -1.2, 0.0, 0.0, 0.0],
        "?z=0.5,-1.2",
    );
    let dom = dump_dom(browser, &page, "?z=1,x");
    let (_, error) = element(&dom, "error");
    assert!(error.contains("?z= needs up to 5 numbers"), "{error:?}");
    let _ = std::fs::remove_dir_all(page.parent().expect("folder"));
}
