//! Headless figures: plain data structs (histogram grids, line charts, grouped bar charts, heat-map
//! grids) rendered by plotters to SVG or PNG with the embedded `DejaVu Sans` font, so the CLI, the app
//! and CI need no system fonts and no display.
//!
//! Non-finite values never panic: histogram samples, curve points and bars that are NaN/±∞ are
//! skipped, heat-map cells are drawn in magenta, and the figure's footer says how many there were.

mod charts;
mod heatmap;
mod raster;

use std::io::Cursor;

use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;
#[cfg(not(target_arch = "wasm32"))]
use plotters::style::{FontStyle, register_font};

use raster::Raster;

/// Family name the embedded font is registered under; SVG viewers fall back to any sans-serif.
pub const FONT_FAMILY: &str = "DejaVu Sans, sans-serif";
/// Largest PNG or SVG side in pixels, so a typo in a scale cannot allocate gigabytes.
pub const MAX_SIDE_PX: u32 = 8192;
/// Smallest figure side in pixels (below this the axes have no room).
pub const MIN_SIDE_PX: u32 = 64;
/// Largest number of histogram bins per panel.
pub const MAX_BINS: usize = 1000;

const FONT_BYTES: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

const TITLE_PX: f64 = 22.0;
const CAPTION_PX: f64 = 15.0;
const LABEL_PX: f64 = 12.0;
const FOOTER_PX: f64 = 24.0;

/// Output format of [`render`]; `scale` multiplies the PNG's pixel size (2 → twice as wide and high).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Format {
    /// Raster PNG at `scale` × the figure's size.
    Png {
        /// Pixel multiplier, finite and in (0, 8].
        scale: f32,
    },
    /// Vector SVG at the figure's size.
    Svg,
}

/// Why a figure could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The figure has no panel, series or group to draw.
    #[error("the figure has nothing to draw: {0}")]
    Empty(String),
    /// The figure's description is inconsistent (zero columns, bar count mismatch, …).
    #[error("invalid figure: {0}")]
    Invalid(String),
    /// The PNG scale is not a finite number in (0, 8].
    #[error("PNG scale must be finite and in (0, 8], got {0}")]
    BadScale(f32),
    /// The requested pixel size is outside [`MIN_SIDE_PX`, `MAX_SIDE_PX`].
    #[error("figure size {width}×{height} px is outside {MIN_SIDE_PX}..={MAX_SIDE_PX} px per side")]
    BadSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
    },
    /// The embedded font could not be registered.
    #[error("the embedded font could not be loaded")]
    Font,
    /// plotters reported an error while drawing.
    #[error("drawing failed: {0}")]
    Drawing(String),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Encode(String),
}

/// A figure: a title, a size in (logical) pixels and one kind of content.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    /// Title drawn at the top.
    pub title: String,
    /// Width in pixels (SVG) or logical pixels (PNG, multiplied by the scale).
    pub width_px: u32,
    /// Height in pixels (SVG) or logical pixels (PNG, multiplied by the scale).
    pub height_px: u32,
    /// What is drawn.
    pub kind: FigureKind,
}

/// The content of a [`Figure`].
#[derive(Clone, Debug, PartialEq)]
pub enum FigureKind {
    /// Panels of overlaid histograms (Figure 4: row = perturbation, column = tile, series = logits).
    HistogramGrid(HistogramGrid),
    /// Named (x, y) curves, e.g. loss and accuracy per epoch.
    LineChart(LineChart),
    /// Grouped bars, e.g. the logits of φ / N1 / N2 / trained per class.
    BarChart(BarChart),
    /// Labelled 2-D arrays sharing one colour scale, with a colour bar.
    HeatmapGrid(HeatmapGrid),
}

/// Panels laid out row-major in `cols` columns; each panel's series share that panel's bins.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramGrid {
    /// Number of columns (≥ 1); rows = ⌈panels / cols⌉.
    pub cols: usize,
    /// Number of bins per panel, in 1..=[`MAX_BINS`].
    pub bins: usize,
    /// Label under every panel's x axis.
    pub x_label: String,
    /// The panels, row-major.
    pub panels: Vec<HistogramPanel>,
}

/// One histogram panel: a title and overlaid series.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPanel {
    /// Caption above the panel.
    pub title: String,
    /// Overlaid series; the legend prints each one's mean ± standard deviation.
    pub series: Vec<SampleSeries>,
}

/// A named set of samples.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleSeries {
    /// Legend name.
    pub name: String,
    /// The samples; non-finite ones are skipped.
    pub samples: Vec<f32>,
}

/// Named curves on shared axes.
#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// x axis label.
    pub x_label: String,
    /// y axis label.
    pub y_label: String,
    /// The curves.
    pub curves: Vec<Curve>,
}

/// A named polyline of (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Curve {
    /// Legend name.
    pub name: String,
    /// The points in drawing order; non-finite ones are skipped.
    pub points: Vec<(f32, f32)>,
}

/// Grouped bars: one group per x category, one bar per series inside each group.
#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    /// y axis label.
    pub y_label: String,
    /// Names of the groups (x categories), e.g. class names.
    pub groups: Vec<String>,
    /// The series; each has exactly one value per group.
    pub series: Vec<BarSeries>,
}

/// A named row of bar heights, one per group.
#[derive(Clone, Debug, PartialEq)]
pub struct BarSeries {
    /// Legend name.
    pub name: String,
    /// One height per group; non-finite ones are not drawn.
    pub values: Vec<f32>,
}

/// How values map to colours in a heat map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colormap {
    /// Low = black, high = white (images, datasets).
    Gray,
    /// Low = blue, middle = white, high = red (signed weights and activations).
    Diverging,
}

/// Labelled 2-D arrays in `cols` columns, one shared colour scale and a colour bar.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapGrid {
    /// Number of columns (≥ 1).
    pub cols: usize,
    /// Colour map of every panel and of the colour bar.
    pub colormap: Colormap,
    /// Fixed value range (values outside are clamped); `None` = from the finite data
    /// (symmetric around 0 for [`Colormap::Diverging`]).
    pub range: Option<(f32, f32)>,
    /// Label above the colour bar.
    pub colorbar_label: String,
    /// The panels, row-major.
    pub panels: Vec<Heatmap>,
}

/// One labelled 2-D array (rows × columns, drawn with square cells).
#[derive(Clone, Debug, PartialEq)]
pub struct Heatmap {
    /// Caption above the array.
    pub label: String,
    /// The values, H×W.
    pub values: Array2<f32>,
}

impl Figure {
    /// A figure with a default size that suits its content.
    pub fn new(title: impl Into<String>, kind: FigureKind) -> Self {
        let (width_px, height_px) = default_size(&kind);
        Self { title: title.into(), width_px, height_px, kind }
    }

    /// The same figure with another size in pixels.
    #[must_use]
    pub fn with_size(mut self, width_px: u32, height_px: u32) -> Self {
        self.width_px = width_px;
        self.height_px = height_px;
        self
    }
}

/// Default size: room per panel for grids, a landscape page for charts; clamped to the limits.
fn default_size(kind: &FigureKind) -> (u32, u32) {
    let (width, height) = match kind {
        FigureKind::HistogramGrid(grid) => {
            let (rows, cols) = grid_shape(grid.panels.len(), grid.cols);
            (380 * cols, 300 * rows + 60)
        }
        FigureKind::LineChart(_) | FigureKind::BarChart(_) => (820, 520),
        FigureKind::HeatmapGrid(grid) => {
            let (rows, cols) = grid_shape(grid.panels.len(), grid.cols);
            (150 * cols + 110, 165 * rows + 80)
        }
    };
    let clamp = |v: usize| (v as u32).clamp(320, MAX_SIDE_PX);
    (clamp(width), clamp(height))
}

/// Rows and columns of a row-major grid of `count` panels in `cols` columns (at least 1×1).
fn grid_shape(count: usize, cols: usize) -> (usize, usize) {
    let cols = cols.clamp(1, count.max(1));
    (count.div_ceil(cols).max(1), cols)
}

/// Renders `figure` to PNG or SVG bytes.
pub fn render(figure: &Figure, format: Format) -> Result<Vec<u8>, PlotError> {
    validate(figure)?;
    ensure_font()?;
    match format {
        Format::Svg => render_svg(figure),
        Format::Png { scale } => render_png(figure, scale),
    }
}

/// How many non-finite values the figure holds (they are skipped, or drawn magenta in heat maps).
pub fn non_finite_values(figure: &Figure) -> usize {
    let bad = |v: &f32| !v.is_finite();
    match &figure.kind {
        FigureKind::HistogramGrid(grid) => {
            grid.panels.iter().flat_map(|p| &p.series).map(|s| s.samples.iter().filter(|v| bad(v)).count()).sum()
        }
        FigureKind::LineChart(chart) => {
            chart.curves.iter().map(|c| c.points.iter().filter(|(x, y)| bad(x) || bad(y)).count()).sum()
        }
        FigureKind::BarChart(chart) => chart.series.iter().map(|s| s.values.iter().filter(|v| bad(v)).count()).sum(),
        FigureKind::HeatmapGrid(grid) => grid.panels.iter().map(|p| p.values.iter().filter(|v| bad(v)).count()).sum(),
    }
}

/// Rejects figures that cannot be drawn meaningfully, before any pixel is allocated.
fn validate(figure: &Figure) -> Result<(), PlotError> {
    check_size(figure.width_px, figure.height_px)?;
    match &figure.kind {
        FigureKind::HistogramGrid(grid) => {
            if grid.panels.is_empty() {
                return Err(PlotError::Empty("a histogram grid without panels".into()));
            }
            check_cols(grid.cols)?;
            if !(1..=MAX_BINS).contains(&grid.bins) {
                return Err(PlotError::Invalid(format!("{} bins, expected 1..={MAX_BINS}", grid.bins)));
            }
        }
        FigureKind::LineChart(chart) => {
            if !chart.curves.iter().flat_map(|c| &c.points).any(|(x, y)| x.is_finite() && y.is_finite()) {
                return Err(PlotError::Empty("a line chart without any finite point".into()));
            }
        }
        FigureKind::BarChart(chart) => validate_bars(chart)?,
        FigureKind::HeatmapGrid(grid) => {
            if grid.panels.is_empty() {
                return Err(PlotError::Empty("a heat-map grid without panels".into()));
            }
            check_cols(grid.cols)?;
            if let Some((lo, hi)) = grid.range
                && !(lo.is_finite() && hi.is_finite() && lo < hi)
            {
                return Err(PlotError::Invalid(format!("colour range {lo}..{hi} is not finite and increasing")));
            }
        }
    }
    Ok(())
}

fn validate_bars(chart: &BarChart) -> Result<(), PlotError> {
    if chart.groups.is_empty() || chart.series.is_empty() {
        return Err(PlotError::Empty("a bar chart without groups or series".into()));
    }
    for series in &chart.series {
        if series.values.len() != chart.groups.len() {
            return Err(PlotError::Invalid(format!(
                "bar series '{}' has {} values for {} groups",
                series.name,
                series.values.len(),
                chart.groups.len()
            )));
        }
    }
    Ok(())
}

fn check_cols(cols: usize) -> Result<(), PlotError> {
    if cols == 0 {
        return Err(PlotError::Invalid("a grid needs at least one column".into()));
    }
    Ok(())
}

fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    let ok = |v: u32| (MIN_SIDE_PX..=MAX_SIDE_PX).contains(&v);
    if ok(width) && ok(height) { Ok(()) } else { Err(PlotError::BadSize { width, height }) }
}

/// Registers the embedded font once per process (under our family and the plotters default).
#[cfg(not(target_arch = "wasm32"))]
fn ensure_font() -> Result<(), PlotError> {
    static REGISTERED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = REGISTERED.get_or_init(|| {
        [FONT_FAMILY, "sans-serif"].iter().all(|name| register_font(name, FontStyle::Normal, FONT_BYTES).is_ok())
    });
    if *ok { Ok(()) } else { Err(PlotError::Font) }
}

/// In the browser plotters measures text with the page's own fonts: nothing to register.
#[cfg(target_arch = "wasm32")]
#[allow(clippy::unnecessary_wraps)]
fn ensure_font() -> Result<(), PlotError> {
    Ok(())
}

fn render_svg(figure: &Figure) -> Result<Vec<u8>, PlotError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (figure.width_px, figure.height_px)).into_drawing_area();
        draw_figure(&root, figure, 1.0)?;
        root.present().map_err(drawing_error)?;
    }
    Ok(svg.into_bytes())
}

fn render_png(figure: &Figure, scale: f32) -> Result<Vec<u8>, PlotError> {
    if !(scale.is_finite() && scale > 0.0 && scale <= 8.0) {
        return Err(PlotError::BadScale(scale));
    }
    let scaled = |v: u32| (v as f32 * scale).round() as u32;
    let (width, height) = (scaled(figure.width_px), scaled(figure.height_px));
    check_size(width, height)?;
    let mut rgb = vec![0u8; width as usize * height as usize * 3];
    {
        let root = Raster::new(BitMapBackend::with_buffer(&mut rgb, (width, height)))?.into_drawing_area();
        draw_figure(&root, figure, f64::from(scale))?;
        root.present().map_err(drawing_error)?;
    }
    let image = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| PlotError::Encode("pixel buffer does not match the image size".into()))?;
    let mut png = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| PlotError::Encode(e.to_string()))?;
    Ok(png)
}

/// Draws title, content and (if needed) the non-finite footer; `s` scales every size in pixels.
fn draw_figure<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, figure: &Figure, s: f64) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(drawing_error)?;
    // A top margin keeps the title's ascenders inside the image.
    let page = root.margin(px(8.0, s), 0, px(4.0, s), px(4.0, s));
    let body = page.titled(&figure.title, text_style(TITLE_PX, s)).map_err(drawing_error)?;
    let skipped = non_finite_values(figure);
    let body = if skipped > 0 {
        let height = body.dim_in_pixel().1 as i32;
        let (body, footer) = body.split_vertically(height - px(FOOTER_PX, s));
        let what = if matches!(figure.kind, FigureKind::HeatmapGrid(_)) { "drawn in magenta" } else { "skipped" };
        let note = format!("note: {skipped} non-finite value(s) {what}");
        footer.draw(&Text::new(note, (px(8.0, s), px(4.0, s)), text_style(LABEL_PX, s))).map_err(drawing_error)?;
        body
    } else {
        body
    };
    match &figure.kind {
        FigureKind::HistogramGrid(grid) => charts::draw_histogram_grid(&body, grid, s),
        FigureKind::LineChart(chart) => charts::draw_line_chart(&body, chart, s),
        FigureKind::BarChart(chart) => charts::draw_bar_chart(&body, chart, s),
        FigureKind::HeatmapGrid(grid) => heatmap::draw_heatmap_grid(&body, grid, s),
    }
}

/// The embedded font at `size_px` logical pixels, scaled by `s`.
fn text_style(size_px: f64, s: f64) -> TextStyle<'static> {
    TextStyle::from((FONT_FAMILY, size_px * s).into_font()).color(&BLACK)
}

/// A logical length in pixels, scaled by `s` and rounded.
fn px(length: f64, s: f64) -> i32 {
    (length * s).round() as i32
}

/// A line width in pixels, scaled by `s`, at least 1.
fn stroke(width: f64, s: f64) -> u32 {
    (width * s).round().max(1.0) as u32
}

/// Distinguishable series colours (matplotlib's tab10) as RGB; the app draws classes with them too,
/// so a figure and the screen agree.
pub const SERIES_COLORS: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// The colour of series `index` ([`SERIES_COLORS`], cycled).
pub fn series_rgb(index: usize) -> (u8, u8, u8) {
    SERIES_COLORS[index % SERIES_COLORS.len()]
}

fn series_color(index: usize) -> RGBColor {
    let (r, g, b) = series_rgb(index);
    RGBColor(r, g, b)
}

/// Minimum and maximum of the finite values, or `None` if there is none.
fn finite_range(values: impl IntoIterator<Item = f32>) -> Option<(f32, f32)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| Some(acc.map_or((v, v), |(lo, hi): (f32, f32)| (lo.min(v), hi.max(v)))))
}

/// An axis range that is never empty: a degenerate [v, v] becomes [v − 0.5, v + 0.5].
fn widen(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo { (lo, hi) } else { (lo - 0.5, hi + 0.5) }
}

fn drawing_error(error: impl std::fmt::Display) -> PlotError {
    PlotError::Drawing(error.to_string())
}

#[cfg(test)]
mod tests;
