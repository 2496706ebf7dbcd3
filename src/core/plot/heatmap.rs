//! Heat-map grids: labelled 2-D arrays with square cells, one shared colour scale and a colour bar.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    CAPTION_PX, Colormap, HeatmapGrid, LABEL_PX, PlotError, drawing_error, finite_range, grid_shape, px, stroke,
    text_style, widen,
};

/// Colour of non-finite cells: not on either colour map, so they stand out.
pub(super) const NON_FINITE_RGB: (u8, u8, u8) = (255, 0, 255);

/// Smallest panel caption size in logical pixels before captions are cut instead.
const MIN_LABEL_PX: f64 = 8.0;

/// Colour-bar steps: enough that neighbouring steps are indistinguishable.
const COLORBAR_STEPS: usize = 64;

/// Draws the panels row-major on the left and the colour bar in a strip on the right.
pub(super) fn draw_heatmap_grid<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    grid: &HeatmapGrid,
    s: f64,
) -> Result<(), PlotError> {
    let (lo, hi) = color_range(grid);
    let width = area.dim_in_pixel().0 as i32;
    let bar_width = px(110.0, s).min(width / 3);
    let (panels_area, bar_area) = area.split_horizontally(width - bar_width);
    let shape = grid_shape(grid.panels.len(), grid.cols);
    for (cell, panel) in panels_area.split_evenly(shape).iter().zip(&grid.panels) {
        let (label, style) = fitted_label(cell, &panel.label, s)?;
        let inner = cell.titled(&label, style).map_err(drawing_error)?;
        let inner = inner.margin(px(2.0, s), px(4.0, s), px(4.0, s), px(4.0, s));
        draw_array(&inner, &panel.values, grid.colormap, (lo, hi), s)?;
    }
    draw_colorbar(&bar_area, grid, (lo, hi), s)
}

/// The panel caption and its style: shrunk to fit the panel's width (down to [`MIN_LABEL_PX`]),
/// then cut with an ellipsis if it still does not fit.
fn fitted_label<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    label: &str,
    s: f64,
) -> Result<(String, TextStyle<'static>), PlotError> {
    let available = f64::from(area.dim_in_pixel().0) * 0.95;
    let width = |text: &str, style: &TextStyle| -> Result<f64, PlotError> {
        Ok(f64::from(area.estimate_text_size(text, style).map_err(drawing_error)?.0))
    };
    let base = CAPTION_PX * 0.9;
    let measured = width(label, &text_style(base, s))?;
    if measured <= available {
        return Ok((label.to_owned(), text_style(base, s)));
    }
    let style = text_style((base * available / measured).max(MIN_LABEL_PX), s);
    let chars: Vec<char> = label.chars().collect();
    for keep in (1..=chars.len()).rev() {
        let mut text: String = chars[..keep].iter().collect();
        if keep < chars.len() {
            text.push('…');
        }
        if width(&text, &style)? <= available {
            return Ok((text, style));
        }
    }
    Ok((String::new(), style))
}

/// The value range of the colour scale: fixed, or from the finite data (symmetric if diverging).
pub(super) fn color_range(grid: &HeatmapGrid) -> (f64, f64) {
    if let Some((lo, hi)) = grid.range {
        return (f64::from(lo), f64::from(hi));
    }
    let values = grid.panels.iter().flat_map(|panel| panel.values.iter().copied());
    match (grid.colormap, finite_range(values)) {
        (_, None) => (0.0, 1.0),
        (Colormap::Gray, Some((lo, hi))) => widen(f64::from(lo), f64::from(hi)),
        (Colormap::Diverging, Some((lo, hi))) => {
            let m = f64::from(lo.abs().max(hi.abs()));
            if m > 0.0 { (-m, m) } else { (-1.0, 1.0) }
        }
    }
}

/// The colour of `value` on `colormap` over [lo, hi] (clamped); magenta if not finite.
pub(super) fn color_of(value: f32, colormap: Colormap, (lo, hi): (f64, f64)) -> (u8, u8, u8) {
    if !value.is_finite() {
        return NON_FINITE_RGB;
    }
    let t = ((f64::from(value) - lo) / (hi - lo)).clamp(0.0, 1.0);
    match colormap {
        Colormap::Gray => {
            let g = (t * 255.0).round() as u8;
            (g, g, g)
        }
        // Moreland's cool-warm end points around a near-white middle.
        Colormap::Diverging => {
            let (blue, white, red) = ((59, 76, 192), (247, 247, 247), (180, 4, 38));
            if t < 0.5 { lerp(blue, white, t * 2.0) } else { lerp(white, red, t * 2.0 - 1.0) }
        }
    }
}

fn lerp(a: (u8, u8, u8), b: (u8, u8, u8), t: f64) -> (u8, u8, u8) {
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    (mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Draws `values` centred in `area` with square cells; runs of equal colour in a row become one
/// rectangle, which keeps SVG files small for flat backgrounds.
fn draw_array<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    values: &ndarray::Array2<f32>,
    colormap: Colormap,
    range: (f64, f64),
    s: f64,
) -> Result<(), PlotError> {
    let (rows, cols) = values.dim();
    let (width, height) = area.dim_in_pixel();
    if rows == 0 || cols == 0 {
        let style = text_style(LABEL_PX, s).pos(Pos::new(HPos::Center, VPos::Center));
        let message = Text::new("empty", (width as i32 / 2, height as i32 / 2), style);
        return area.draw(&message).map_err(drawing_error);
    }
    let cell = (f64::from(width) / cols as f64).min(f64::from(height) / rows as f64);
    let x_offset = (f64::from(width) - cell * cols as f64) / 2.0;
    let y_offset = (f64::from(height) - cell * rows as f64) / 2.0;
    let x = |c: usize| (x_offset + c as f64 * cell).round() as i32;
    let y = |r: usize| (y_offset + r as f64 * cell).round() as i32;
    for (r, row) in values.rows().into_iter().enumerate() {
        let colors: Vec<(u8, u8, u8)> = row.iter().map(|&v| color_of(v, colormap, range)).collect();
        for (start, end) in equal_runs(&colors) {
            let (red, green, blue) = colors[start];
            let rect = Rectangle::new([(x(start), y(r)), (x(end), y(r + 1))], RGBColor(red, green, blue).filled());
            area.draw(&rect).map_err(drawing_error)?;
        }
    }
    let border =
        Rectangle::new([(x(0), y(0)), (x(cols), y(rows))], RGBColor(150, 150, 150).stroke_width(stroke(1.0, s)));
    area.draw(&border).map_err(drawing_error)
}

/// Half-open index ranges `[start, end)` of maximal runs of equal items.
pub(super) fn equal_runs<T: PartialEq>(items: &[T]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = 0;
    for end in 1..=items.len() {
        if end == items.len() || items[end] != items[start] {
            runs.push((start, end));
            start = end;
        }
    }
    runs
}

/// A vertical gradient from `hi` (top) to `lo` (bottom) with three tick labels.
fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    grid: &HeatmapGrid,
    (lo, hi): (f64, f64),
    s: f64,
) -> Result<(), PlotError> {
    let inner = area.titled(&grid.colorbar_label, text_style(LABEL_PX, s)).map_err(drawing_error)?;
    let inner = inner.margin(px(10.0, s), px(24.0, s), px(8.0, s), px(8.0, s));
    let (width, height) = inner.dim_in_pixel();
    let bar_width = px(18.0, s).min(width as i32);
    let y = |fraction: f64| (fraction * f64::from(height)).round() as i32;
    for step in 0..COLORBAR_STEPS {
        let fraction = (step as f64 + 0.5) / COLORBAR_STEPS as f64;
        let value = hi - fraction * (hi - lo);
        let (red, green, blue) = color_of(value as f32, grid.colormap, (lo, hi));
        let top = y(step as f64 / COLORBAR_STEPS as f64);
        let bottom = y((step + 1) as f64 / COLORBAR_STEPS as f64);
        let rect = Rectangle::new([(0, top), (bar_width, bottom)], RGBColor(red, green, blue).filled());
        inner.draw(&rect).map_err(drawing_error)?;
    }
    let border = Rectangle::new([(0, 0), (bar_width, y(1.0))], BLACK.stroke_width(stroke(1.0, s)));
    inner.draw(&border).map_err(drawing_error)?;
    let style = text_style(LABEL_PX, s).pos(Pos::new(HPos::Left, VPos::Center));
    for (fraction, value) in [(0.0, hi), (0.5, f64::midpoint(lo, hi)), (1.0, lo)] {
        let tick = Text::new(format_value(value), (bar_width + px(4.0, s), y(fraction)), style.clone());
        inner.draw(&tick).map_err(drawing_error)?;
    }
    Ok(())
}

/// A short tick label: fixed point for ordinary magnitudes, scientific otherwise.
pub(super) fn format_value(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e4).contains(&magnitude) { format!("{value:.2e}") } else { format!("{value:.3}") }
}
