//! Axis-based figures: histogram grids, line charts and grouped bar charts.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    BarChart, CAPTION_PX, HistogramGrid, HistogramPanel, LABEL_PX, LineChart, PlotError, drawing_error, finite_range,
    grid_shape, px, series_color, stroke, text_style, widen,
};

/// Grid lines at the labelled ticks only, light enough not to compete with the data.
const GRID: RGBColor = RGBColor(225, 225, 225);
/// Curves of at most this many points get a marker on each point: a curve of one point (a
/// one-layer network in a per-layer chart) is otherwise a line of length zero, drawn as nothing.
const MARKED_POINTS: usize = 12;

/// Draws the panels row-major; unused cells of the last row stay blank.
pub(super) fn draw_histogram_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    grid: &HistogramGrid,
    s: f64,
) -> Result<(), PlotError> {
    let shape = grid_shape(grid.panels.len(), grid.cols);
    for (cell, panel) in area.split_evenly(shape).iter().zip(&grid.panels) {
        draw_histogram_panel(cell, panel, grid.bins, &grid.x_label, s)?;
    }
    Ok(())
}

fn draw_histogram_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &HistogramPanel,
    bins: usize,
    x_label: &str,
    s: f64,
) -> Result<(), PlotError> {
    let all = panel.series.iter().flat_map(|series| series.samples.iter().copied());
    let Some((lo, hi)) = finite_range(all) else {
        return draw_no_data(area, &panel.title, s);
    };
    let (lo, hi) = widen(f64::from(lo), f64::from(hi));
    let counts: Vec<Vec<u32>> =
        panel.series.iter().map(|series| histogram_counts(&series.samples, lo, hi, bins)).collect();
    let top = counts.iter().flatten().copied().max().unwrap_or(0).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, text_style(CAPTION_PX, s))
        .margin(px(8.0, s))
        .x_label_area_size(px(36.0, s))
        .y_label_area_size(px(48.0, s))
        .build_cartesian_2d(lo..hi, 0.0..f64::from(top) * 1.15)
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .disable_x_mesh()
        .label_style(text_style(LABEL_PX, s))
        .axis_desc_style(text_style(LABEL_PX, s))
        .x_desc(x_label)
        .y_desc("count")
        .y_label_formatter(&|count| format!("{count:.0}"))
        .draw()
        .map_err(drawing_error)?;
    let bin_width = (hi - lo) / bins as f64;
    for (index, (series, counts)) in panel.series.iter().zip(&counts).enumerate() {
        let color = series_color(index);
        let bars = counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(bin, &c)| {
            let x0 = lo + bin as f64 * bin_width;
            Rectangle::new([(x0, 0.0), (x0 + bin_width, f64::from(c))], color.mix(0.3).filled())
        });
        let r = px(5.0, s);
        chart
            .draw_series(bars)
            .map_err(drawing_error)?
            .label(stats_label(&series.name, &series.samples))
            .legend(move |(x, y)| Rectangle::new([(x, y - r), (x + 2 * r, y + r)], color.mix(0.6).filled()));
        let outline = step_outline(lo, bin_width, counts);
        chart.draw_series(LineSeries::new(outline, color.stroke_width(stroke(1.5, s)))).map_err(drawing_error)?;
    }
    draw_legend(&mut chart, s)
}

/// Counts of the finite samples in `bins` equal bins over [lo, hi]; the last bin includes `hi`.
pub(super) fn histogram_counts(samples: &[f32], lo: f64, hi: f64, bins: usize) -> Vec<u32> {
    let mut counts = vec![0u32; bins];
    let width = (hi - lo) / bins as f64;
    for &v in samples.iter().filter(|v| v.is_finite()) {
        let v = f64::from(v);
        if v < lo || v > hi {
            continue;
        }
        let bin = (((v - lo) / width) as usize).min(bins - 1);
        counts[bin] += 1;
    }
    counts
}

/// Mean and population standard deviation of the finite samples (`None` if there is none).
pub(super) fn mean_std(samples: &[f32]) -> Option<(f64, f64)> {
    let finite: Vec<f64> = samples.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
    if finite.is_empty() {
        return None;
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    let variance = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    Some((mean, variance.sqrt()))
}

/// Legend text: the series name with its mean ± standard deviation.
fn stats_label(name: &str, samples: &[f32]) -> String {
    match mean_std(samples) {
        Some((mean, std)) => format!("{name}: {mean:.3} ± {std:.3}"),
        None => format!("{name}: no finite data"),
    }
}

/// The staircase along the top of a histogram, closed down to zero at both ends.
fn step_outline(lo: f64, bin_width: f64, counts: &[u32]) -> Vec<(f64, f64)> {
    let mut points = vec![(lo, 0.0)];
    for (bin, &c) in counts.iter().enumerate() {
        let x0 = lo + bin as f64 * bin_width;
        points.push((x0, f64::from(c)));
        points.push((x0 + bin_width, f64::from(c)));
    }
    points.push((lo + counts.len() as f64 * bin_width, 0.0));
    points
}

/// Draws named curves, with a marker on each point of short ones; non-finite points are left
/// out of their curve.
pub(super) fn draw_line_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart_data: &LineChart,
    s: f64,
) -> Result<(), PlotError> {
    let finite: Vec<Vec<(f64, f64)>> = chart_data
        .curves
        .iter()
        .map(|curve| {
            let points = curve.points.iter().filter(|(x, y)| x.is_finite() && y.is_finite());
            points.map(|&(x, y)| (f64::from(x), f64::from(y))).collect()
        })
        .collect();
    let xs = finite.iter().flatten().map(|p| p.0 as f32);
    let ys = finite.iter().flatten().map(|p| p.1 as f32);
    let (Some((x_lo, x_hi)), Some((y_lo, y_hi))) = (finite_range(xs), finite_range(ys)) else {
        return Err(PlotError::Empty("a line chart without any finite point".into()));
    };
    let (x_lo, x_hi) = widen(f64::from(x_lo), f64::from(x_hi));
    let (y_lo, y_hi) = widen(f64::from(y_lo), f64::from(y_hi));
    let pad = (y_hi - y_lo) * 0.05;
    let mut chart = ChartBuilder::on(area)
        .margin(px(12.0, s))
        .x_label_area_size(px(44.0, s))
        .y_label_area_size(px(64.0, s))
        .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))
        .map_err(drawing_error)?;
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .label_style(text_style(LABEL_PX, s))
        .axis_desc_style(text_style(CAPTION_PX, s))
        .x_desc(chart_data.x_label.as_str())
        .y_desc(chart_data.y_label.as_str())
        .draw()
        .map_err(drawing_error)?;
    for (index, (curve, points)) in chart_data.curves.iter().zip(finite).enumerate() {
        let color = series_color(index);
        let width = stroke(2.0, s);
        let half = px(10.0, s);
        if points.len() <= MARKED_POINTS {
            let radius = px(4.0, s);
            let markers = points.iter().map(|&point| Circle::new(point, radius, color.filled()));
            chart.draw_series(markers).map_err(drawing_error)?;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))
            .map_err(drawing_error)?
            .label(curve.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 2 * half, y)], color.stroke_width(width)));
    }
    draw_legend(&mut chart, s)
}

/// Draws grouped bars with the value printed above each bar when there are few of them.
pub(super) fn draw_bar_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart_data: &BarChart,
    s: f64,
) -> Result<(), PlotError> {
    let groups = chart_data.groups.len();
    let values = chart_data.series.iter().flat_map(|series| series.values.iter().copied());
    let (lo, hi) = finite_range(values.chain([0.0])).unwrap_or((0.0, 1.0));
    let (lo, hi) = widen(f64::from(lo), f64::from(hi));
    let pad = (hi - lo) * 0.1;
    // Allowing groups + 1 labels on a range of width `groups`, plotters picks the tick step 1, so the
    // ticks fall on the group centres 0, 1, …; the formatter names them.
    let x_range = -0.5..groups as f64 - 0.5;
    let bottom = lo - if lo < 0.0 { pad } else { 0.0 };
    let (_, area_height) = area.dim_in_pixel();
    let plot_height = f64::from(area_height) - f64::from(px(44.0, s)) - 2.0 * f64::from(px(12.0, s));
    let top = top_clear_of_legend(bottom, hi + pad, chart_data.series.len(), plot_height, s);
    let mut chart = ChartBuilder::on(area)
        .margin(px(12.0, s))
        .x_label_area_size(px(44.0, s))
        .y_label_area_size(px(64.0, s))
        .build_cartesian_2d(x_range, bottom..top)
        .map_err(drawing_error)?;
    let group_name = |x: &f64| {
        let index = x.round();
        let exact = (x - index).abs() < 1e-6 && index >= 0.0;
        chart_data.groups.get(index as usize).filter(|_| exact).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(groups + 1)
        .x_label_formatter(&group_name)
        .label_style(text_style(LABEL_PX, s))
        .axis_desc_style(text_style(CAPTION_PX, s))
        .y_desc(chart_data.y_label.as_str())
        .draw()
        .map_err(drawing_error)?;
    let bar_width = 0.8 / chart_data.series.len() as f64;
    let print_values = groups * chart_data.series.len() <= 40;
    for (index, series) in chart_data.series.iter().enumerate() {
        let color = series_color(index);
        let bars: Vec<(f64, f64)> = series
            .values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(group, &v)| (group as f64 - 0.4 + index as f64 * bar_width, f64::from(v)))
            .collect();
        let r = px(5.0, s);
        chart
            .draw_series(bars.iter().map(|&(x0, v)| Rectangle::new([(x0, 0.0), (x0 + bar_width, v)], color.filled())))
            .map_err(drawing_error)?
            .label(series.name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - r), (x + 2 * r, y + r)], color.filled()));
        if print_values {
            let style = text_style(LABEL_PX * 0.85, s).pos(Pos::new(HPos::Center, VPos::Bottom));
            let labels = bars
                .iter()
                .map(|&(x0, v)| Text::new(format!("{v:.2}"), (x0 + bar_width / 2.0, v.max(0.0)), style.clone()));
            chart.draw_series(labels).map_err(drawing_error)?;
        }
    }
    if lo < 0.0 {
        let axis = PathElement::new(vec![(-0.5, 0.0), (groups as f64 - 0.5, 0.0)], BLACK.stroke_width(stroke(1.0, s)));
        chart.plotting_area().draw(&axis).map_err(drawing_error)?;
    }
    draw_legend(&mut chart, s)
}

/// The top of the y range that keeps the tallest bar (`highest`, its value label included) below
/// the legend box of `series` rows in the upper right corner of a plot `plot_height_px` high.
pub(super) fn top_clear_of_legend(bottom: f64, highest: f64, series: usize, plot_height_px: f64, s: f64) -> f64 {
    let legend_px = series as f64 * LABEL_PX * 1.6 * s + 4.0 * 6.0 * s + LABEL_PX * s;
    let share = (legend_px / plot_height_px.max(1.0)).clamp(0.0, 0.7);
    bottom + (highest - bottom) / (1.0 - share)
}

/// The legend box in the upper right corner of a chart.
fn draw_legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    s: f64,
) -> Result<(), PlotError> {
    chart
        .configure_series_labels()
        .label_font(text_style(LABEL_PX, s))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .position(SeriesLabelPosition::UpperRight)
        .margin(px(6.0, s))
        .draw()
        .map_err(drawing_error)
}

/// A panel whose series hold no finite value: its caption and a short message, no axes.
fn draw_no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, s: f64) -> Result<(), PlotError> {
    let inner = area.titled(title, text_style(CAPTION_PX, s)).map_err(drawing_error)?;
    let (width, height) = inner.dim_in_pixel();
    let style = text_style(LABEL_PX, s).pos(Pos::new(HPos::Center, VPos::Center));
    let message = Text::new("no finite data", (width as i32 / 2, height as i32 / 2), style);
    inner.draw(&message).map_err(drawing_error)
}
