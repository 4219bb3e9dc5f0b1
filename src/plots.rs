//! Plots as PNG files, drawn with plotters: the loss curves and the latent
//! scatter.
//!
//! Text uses DejaVu Sans, bundled in `data/fonts/` and registered once as
//! the `sans-serif` family, so no system font is needed. Pictures are written
//! atomically (see [`crate::images::write_png`]).

use std::collections::BTreeMap;
use std::fmt::Display;
use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use image::ColorType;
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::images::{RenderError, write_png};

/// DejaVu Sans (see `data/fonts/LICENSE`).
static FONT: &[u8] = include_bytes!("../data/fonts/DejaVuSans.ttf");

/// The tab10 palette: ten distinct colours, one per digit.
pub const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Size of the loss plot, in pixels.
pub const LOSS_SIZE: (u32, u32) = (900, 560);
/// Size of the latent scatter, in pixels.
pub const SCATTER_SIZE: (u32, u32) = (820, 800);
/// The most legend entries the scatter shows (one per distinct label).
pub const MAX_LEGEND: usize = 20;

/// Registers the bundled font as `sans-serif` (once per process).
pub(crate) fn ensure_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| "the bundled font DejaVuSans.ttf is invalid".to_string())
    })
    .clone()
}

pub(crate) fn text<E: Display>(e: E) -> String {
    e.to_string()
}

/// Renders into an RGB buffer of `size` with `draw`, then writes the PNG.
pub(crate) fn render(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(
        DrawingArea<BitMapBackend<'_, RGBPixel>, plotters::coord::Shift>,
    ) -> Result<(), String>,
) -> Result<(), RenderError> {
    ensure_font().map_err(|m| RenderError::new(path, m))?;
    let (w, h) = (size.0 as usize, size.1 as usize);
    let mut buf = vec![255u8; w * h * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buf, size)
            .map_err(|e| RenderError::new(path, e.to_string()))?;
        draw(backend.into_drawing_area())
            .map_err(|m| RenderError::new(path, format!("cannot draw: {m}")))?;
    }
    write_png(path, &buf, w, h, ColorType::Rgb8)
}

/// A range around `min..max` with a 5% margin, never empty.
pub(crate) fn padded(min: f64, max: f64) -> Range<f64> {
    if !(min.is_finite() && max.is_finite()) {
        return 0.0..1.0;
    }
    let span = max - min;
    let margin = if span > 0.0 {
        span * 0.05
    } else {
        (min.abs() * 0.05).max(1.0)
    };
    (min - margin)..(max + margin)
}

/// Decimals enough to tell apart about ten ticks over `span`.
fn decimals_for(span: f64) -> usize {
    if span.is_finite() && span > 0.0 {
        (-(span / 10.0).log10().floor()).clamp(0.0, 6.0) as usize
    } else {
        1
    }
}

/// The finite values' minimum and maximum (infinite if there are none).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        })
}

/// Runs of finite values, as `(epoch, value)` with epochs from 1: an infinity ends a run, a NaN
/// (an epoch not measured) is left out of it.
fn finite_runs(values: &[f64]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (i, &v) in values.iter().enumerate() {
        if v.is_finite() {
            if let Some(r) = runs.last_mut() {
                r.push((i as f64 + 1.0, v));
            }
        } else if v.is_infinite() && runs.last().is_some_and(|r| !r.is_empty()) {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

/// Plots training and test loss per epoch (x = epoch, from 1) with a
/// legend, as a PNG of [`LOSS_SIZE`]. One epoch shows as a single marker;
/// NaN marks an epoch not measured (the line joins the epochs around it), an
/// infinite value breaks the line. The two series may differ in length.
///
/// # Errors
/// If both series are empty, or drawing or writing fails.
pub fn loss_plot(path: &Path, train: &[f64], test: &[f64]) -> Result<(), RenderError> {
    let epochs = train.len().max(test.len());
    if epochs == 0 {
        return Err(RenderError::new(path, "no epochs to plot"));
    }
    let x_range = if epochs == 1 {
        0.5..1.5
    } else {
        let pad = (epochs - 1) as f64 * 0.02;
        (1.0 - pad)..(epochs as f64 + pad)
    };
    let (lo, hi) = bounds(train.iter().chain(test).copied());
    let y_range = padded(lo, hi);
    let decimals = decimals_for(y_range.end - y_range.start);
    let series = [("train", train, TAB10[0]), ("test", test, TAB10[1])];

    render(path, LOSS_SIZE, |root| {
        root.fill(&WHITE).map_err(text)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("VAE loss per epoch", ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(x_range, y_range)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (nats per image)")
            .x_labels(epochs.min(12) + 1)
            .y_labels(8)
            .x_label_formatter(&|v| {
                if (v - v.round()).abs() < 1e-9 {
                    format!("{}", v.round() as i64)
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.decimals$}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(text)?;
        for (name, values, color) in series {
            let style = color.stroke_width(2);
            chart
                .draw_series(LineSeries::new(std::iter::empty::<(f64, f64)>(), style))
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            for run in finite_runs(values) {
                chart
                    .draw_series(LineSeries::new(run.iter().copied(), style))
                    .map_err(text)?;
                if epochs <= 60 || run.len() == 1 {
                    let dots = run.into_iter().map(|p| Circle::new(p, 3, color.filled()));
                    chart.draw_series(dots).map_err(text)?;
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.5))
            .draw()
            .map_err(text)?;
        root.present().map_err(text)
    })
}

/// Plots points in the plane (`points` is `n x 2`, row-major: the latent
/// means of the test set), as small filled circles, as a PNG of
/// [`SCATTER_SIZE`]. With labels, points are coloured by label (the tab10
/// palette, label modulo 10) with one legend entry per distinct label (at
/// most [`MAX_LEGEND`]); without, they share one colour and there is no
/// legend. Non-finite points are skipped.
///
/// # Errors
/// If `points` has an odd length, if the labels are not one per point, or if
/// drawing or writing fails.
pub fn latent_scatter(
    path: &Path,
    points: &[f32],
    labels: Option<&[u8]>,
) -> Result<(), RenderError> {
    if !points.len().is_multiple_of(2) {
        return Err(RenderError::new(
            path,
            format!("{} coordinates do not make 2-d points", points.len()),
        ));
    }
    let n = points.len() / 2;
    if let Some(l) = labels.filter(|l| l.len() != n) {
        return Err(RenderError::new(
            path,
            format!("{} labels for {n} points", l.len()),
        ));
    }
    let mut groups: BTreeMap<Option<u8>, Vec<(f64, f64)>> = BTreeMap::new();
    for (i, p) in points.chunks_exact(2).enumerate() {
        let (x, y) = (f64::from(p[0]), f64::from(p[1]));
        if x.is_finite() && y.is_finite() {
            let key = labels.map(|l| l[i]);
            groups.entry(key).or_default().push((x, y));
        }
    }
    let (x_lo, x_hi) = bounds(groups.values().flatten().map(|p| p.0));
    let (y_lo, y_hi) = bounds(groups.values().flatten().map(|p| p.1));
    let radius = if n > 2000 { 2 } else { 3 };
    let (x_range, y_range) = (padded(x_lo, x_hi), padded(y_lo, y_hi));
    let x_decimals = decimals_for(x_range.end - x_range.start);
    let y_decimals = decimals_for(y_range.end - y_range.start);

    render(path, SCATTER_SIZE, |root| {
        root.fill(&WHITE).map_err(text)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("latent means of the test set", ("sans-serif", 26))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("z[0]")
            .y_desc("z[1]")
            .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
            .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(text)?;
        for (k, (key, pts)) in groups.iter().enumerate() {
            let color = key.map_or(TAB10[0], |l| TAB10[usize::from(l) % 10]);
            let style = color.mix(0.7).filled();
            let dots = pts.iter().map(|&p| Circle::new(p, radius, style));
            let drawn = chart.draw_series(dots).map_err(text)?;
            if let Some(l) = key.filter(|_| k < MAX_LEGEND) {
                drawn
                    .label(l.to_string())
                    .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
            }
        }
        if labels.is_some() && !groups.is_empty() {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 16))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .draw()
                .map_err(text)?;
        }
        root.present().map_err(text)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_join_across_nan_and_break_at_infinity() {
        let v = [1.0, f64::NAN, 3.0, f64::INFINITY, 5.0, f64::NAN];
        assert_eq!(
            super::finite_runs(&v),
            vec![vec![(1.0, 1.0), (3.0, 3.0)], vec![(5.0, 5.0)]]
        );
    }

    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    fn out_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vae-plots-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Decodes the PNG, checks its size, returns its number of distinct colours.
    fn check_png(path: &Path, size: (u32, u32)) -> usize {
        let img = image::open(path).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), size);
        img.pixels().map(|p| p.0).collect::<HashSet<_>>().len()
    }

    #[test]
    fn loss_curves() {
        let dir = out_dir("loss");
        let train: Vec<f64> = (0..30).map(|e| 100.0 + 300.0 / (1.0 + e as f64)).collect();
        let mut test: Vec<f64> = train.iter().map(|v| v + 4.0).collect();
        test[5] = f64::NAN;
        test[6] = f64::INFINITY;
        let path = dir.join("loss.png");
        loss_plot(&path, &train, &test).unwrap();
        assert!(check_png(&path, LOSS_SIZE) > 20);

        let one = dir.join("loss-one.png");
        loss_plot(&one, &[543.2], &[540.0]).unwrap();
        assert!(check_png(&one, LOSS_SIZE) > 20);

        let nan = dir.join("loss-nan.png");
        loss_plot(&nan, &[f64::NAN], &[]).unwrap();
        assert!(check_png(&nan, LOSS_SIZE) > 2);

        let err = loss_plot(&dir.join("none.png"), &[], &[]).unwrap_err();
        assert_eq!(err.message, "no epochs to plot");
    }

    /// 10,000 points in ten clusters on a circle, with a few non-finite ones.
    fn clusters() -> (Vec<f32>, Vec<u8>) {
        let mut points = Vec::new();
        let mut labels = Vec::new();
        for i in 0..10_000u32 {
            let l = (i % 10) as u8;
            let angle = f32::from(l) * std::f32::consts::TAU / 10.0;
            let (jx, jy) = (
                (i * 7919 % 1000) as f32 / 1000.0,
                (i * 104_729 % 997) as f32 / 997.0,
            );
            points.extend([2.5 * angle.cos() + jx - 0.5, 2.5 * angle.sin() + jy - 0.5]);
            labels.push(l);
        }
        points[10] = f32::NAN;
        points[21] = f32::INFINITY;
        (points, labels)
    }

    #[test]
    fn latent_scatter_with_and_without_labels() {
        let dir = out_dir("scatter");
        let (points, labels) = clusters();
        let path = dir.join("latent.png");
        let start = std::time::Instant::now();
        latent_scatter(&path, &points, Some(&labels)).unwrap();
        assert!(start.elapsed().as_secs_f64() < 5.0);
        assert!(check_png(&path, SCATTER_SIZE) > 20);

        let plain = dir.join("latent-nolabels.png");
        latent_scatter(&plain, &points, None).unwrap();
        assert!(check_png(&plain, SCATTER_SIZE) > 2);

        let err = latent_scatter(&plain, &points[1..], None).unwrap_err();
        assert_eq!(err.message, "19999 coordinates do not make 2-d points");
        let err = latent_scatter(&plain, &points, Some(&labels[1..])).unwrap_err();
        assert_eq!(err.message, "9999 labels for 10000 points");
    }
}
