//! The benchmark's ROC figure: one curve per held-out digit, AUROC in the legend.

use crate::images::RenderError;
use crate::plots::{TAB10, render, text};
use plotters::prelude::*;
use std::path::Path;

/// Size of the ROC plot, in pixels.
pub const ROC_SIZE: (u32, u32) = (820, 800);

/// One ROC curve: its name in the legend, its colour index, and its points.
pub struct RocCurve {
    /// Legend text, e.g. `digit 7 (AUROC 0.912)`.
    pub label: String,
    /// Index into the tab10 palette.
    pub color: usize,
    /// `(false positive rate, true positive rate)` points from `(0, 0)` to `(1, 1)`.
    pub points: Vec<(f64, f64)>,
}

/// Plots ROC curves with the chance diagonal as a PNG of [`ROC_SIZE`].
///
/// # Errors
/// If there is no curve, or drawing or writing fails.
pub fn roc_plot(path: &Path, title: &str, curves: &[RocCurve]) -> Result<(), RenderError> {
    if curves.is_empty() {
        return Err(RenderError::new(path, "no ROC curve to plot"));
    }
    render(path, ROC_SIZE, |root| {
        root.fill(&WHITE).map_err(text)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("false positive rate")
            .y_desc("true positive rate")
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_label_formatter(&|v| format!("{v:.1}"))
            .label_style(("sans-serif", 16))
            .axis_desc_style(("sans-serif", 18))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.mix(0.3).stroke_width(1),
            ))
            .map_err(text)?;
        for c in curves {
            let style = TAB10[c.color % TAB10.len()].stroke_width(2);
            chart
                .draw_series(LineSeries::new(c.points.iter().copied(), style))
                .map_err(text)?
                .label(c.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .label_font(("sans-serif", 15))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.5))
            .draw()
            .map_err(text)?;
        root.present().map_err(text)
    })
}
