//! `sweep.png`: one panel per metric (test -ELBO, importance-weighted NLL, 5-NN accuracy,
//! trustworthiness, Fréchet distance of the prior samples, seconds of the run), each against the values of
//! the first grid axis, one line per combination of the other axes' values; published figures
//! (`--reference`) as a dashed grey line on their metric's panel.

use crate::images::RenderError;
use crate::plots::{TAB10, padded, render};
use crate::sweep::{Axis, METRICS, Reference, Row};
use plotters::prelude::*;
use std::path::Path;

/// The panels: metric and its axis title.
const PANELS: [(&str, &str); 6] = [
    ("test_neg_elbo", "test -ELBO (nats)"),
    ("iw_nll", "test -log p(x), importance-weighted"),
    ("knn5", "5-NN accuracy of the latent means"),
    ("trust5", "trustworthiness (k = 5)"),
    ("frechet", "Fréchet distance, prior samples"),
    ("seconds", "seconds of the train_vae run"),
];

/// Size of the picture, in pixels.
pub const SWEEP_SIZE: (u32, u32) = (1500, 900);

/// Draws the sweep's rows (in configuration order) as [`SWEEP_SIZE`] PNG, with the reference
/// figures, if any, on their metric's panel.
pub fn sweep_plot(
    path: &Path,
    grid: &[Axis],
    rows: &[Row],
    reference: Option<&Reference>,
) -> Result<(), RenderError> {
    let first = grid
        .first()
        .ok_or_else(|| RenderError::new(path, "no grid axis"))?;
    let xs = &first.values;
    // Series: the other axes' values, as a label.
    let series_of = |r: &Row| {
        r.config[1..]
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut names: Vec<String> = Vec::new();
    for r in rows {
        let s = series_of(r);
        if !names.contains(&s) {
            names.push(s);
        }
    }
    let index = |name: &str| METRICS.iter().position(|(m, _)| *m == name);
    render(path, SWEEP_SIZE, |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((2, 3));
        for (area, (metric, title)) in panels.iter().zip(PANELS) {
            let Some(mi) = index(metric) else { continue };
            // The reference's points on this panel, at the first axis' positions.
            let theirs: Vec<(f64, f64)> = reference
                .filter(|r| r.metric == metric)
                .map(|r| {
                    r.points
                        .iter()
                        .filter_map(|(x, y)| Some((xs.iter().position(|v| v == x)? as f64, *y)))
                        .collect()
                })
                .unwrap_or_default();
            let points: Vec<(usize, f64, usize)> = rows
                .iter()
                .filter_map(|r| {
                    let x = xs.iter().position(|v| *v == r.config[0].1)?;
                    let s = names.iter().position(|n| *n == series_of(r))?;
                    let y = r.values[mi];
                    y.is_finite().then_some((x, y, s))
                })
                .collect();
            let ys = points.iter().map(|p| p.1).chain(theirs.iter().map(|p| p.1));
            let lo = ys.clone().fold(f64::INFINITY, f64::min);
            let hi = ys.fold(f64::NEG_INFINITY, f64::max);
            let y_range = padded(lo, hi);
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 18))
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(64)
                .build_cartesian_2d(-0.3f64..(xs.len() as f64 - 0.7), y_range)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc(first.key.as_str())
                .x_labels(xs.len() + 1)
                .x_label_formatter(&|v| {
                    let i = v.round();
                    if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < xs.len() {
                        xs[i as usize].clone()
                    } else {
                        String::new()
                    }
                })
                .y_labels(6)
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 14))
                .light_line_style(WHITE.mix(0.0))
                .bold_line_style(BLACK.mix(0.12))
                .draw()
                .map_err(|e| e.to_string())?;
            for (si, name) in names.iter().enumerate() {
                let color = TAB10[si % 10];
                let mut line: Vec<(f64, f64)> = points
                    .iter()
                    .filter(|p| p.2 == si)
                    .map(|p| (p.0 as f64, p.1))
                    .collect();
                line.sort_by(|a, b| a.0.total_cmp(&b.0));
                let style = color.stroke_width(2);
                let drawn = chart
                    .draw_series(LineSeries::new(line.clone(), style))
                    .map_err(|e| e.to_string())?;
                if !name.is_empty() {
                    drawn
                        .label(name.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                }
                chart
                    .draw_series(line.into_iter().map(|p| Circle::new(p, 4, color.filled())))
                    .map_err(|e| e.to_string())?;
            }
            if let Some(r) = reference.filter(|_| !theirs.is_empty()) {
                let grey = RGBColor(110, 110, 110);
                let style = grey.stroke_width(2);
                chart
                    .draw_series(DashedLineSeries::new(theirs.clone(), 8, 5, style))
                    .map_err(|e| e.to_string())?
                    .label(r.label.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                chart
                    .draw_series(
                        theirs
                            .iter()
                            .map(|&p| TriangleMarker::new(p, 5, grey.filled())),
                    )
                    .map_err(|e| e.to_string())?;
                if names.len() == 1 && names[0].is_empty() {
                    // One unnamed series: name it in the legend beside the reference.
                    chart
                        .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                        .map_err(|e| e.to_string())?
                        .label("ours")
                        .legend(|(x, y)| {
                            PathElement::new(vec![(x, y), (x + 20, y)], TAB10[0].stroke_width(2))
                        });
                }
            }
            if names.len() > 1 || !theirs.is_empty() {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font(("sans-serif", 12))
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK.mix(0.5))
                    .draw()
                    .map_err(|e| e.to_string())?;
            }
        }
        root.present().map_err(|e| e.to_string())
    })
}
