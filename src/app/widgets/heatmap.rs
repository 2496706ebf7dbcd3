//! Heat maps of 2-D arrays (activations, weights, distances) drawn from cached textures: one map,
//! a grid of maps sharing one colour scale, the labelled colour bar, and outlines of cell
//! rectangles (receptive fields). Hovering a cell reports it and asks the caller for its tooltip.

use std::hash::{Hash, Hasher};

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};
use ndarray::{ArrayView2, ArrayView3, s};

use crate::app::theme::{self, ColorMap, TextureCache};

/// A rectangle of cells `(row, col, rows, cols)`.
pub type CellRect = (usize, usize, usize, usize);

/// Colour of the outline drawn around the hovered cell or a receptive field.
pub const OUTLINE: Color32 = Color32::from_rgb(255, 80, 40);

/// How values map to colours: the range and the colour map, with what the values are.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub low: f32,
    pub high: f32,
    pub map: ColorMap,
    /// What the values are, shown beside the colour bar ("activation", "weight").
    pub label: String,
}

impl Scale {
    /// Viridis from 0 to the largest finite value (1 when every value is ≤ 0): activations, distances.
    pub fn non_negative<'a>(label: &str, values: impl IntoIterator<Item = &'a f32>) -> Self {
        let high = finite_max(values.into_iter().copied());
        Self { low: 0.0, high: if high > 0.0 { high } else { 1.0 }, map: ColorMap::Viridis, label: label.to_owned() }
    }

    /// A diverging map symmetric around 0 (weights): ±the largest finite |value|.
    pub fn symmetric<'a>(label: &str, values: impl IntoIterator<Item = &'a f32>) -> Self {
        let bound = finite_max(values.into_iter().map(|v| v.abs()));
        let bound = if bound > 0.0 { bound } else { 1.0 };
        Self { low: -bound, high: bound, map: ColorMap::Diverging, label: label.to_owned() }
    }

    /// The colour of `value` under this scale.
    pub fn color(&self, value: f32) -> Color32 {
        let span = if self.high > self.low { self.high - self.low } else { 1.0 };
        self.map.color((value - self.low) / span)
    }

    /// A stamp that changes whenever the colours would (textures are re-uploaded then).
    fn stamp(&self) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.low.to_bits(), self.high.to_bits(), self.map == ColorMap::Viridis).hash(&mut hasher);
        hasher.finish()
    }
}

/// The largest finite value (`-∞` when there is none).
fn finite_max(values: impl Iterator<Item = f32>) -> f32 {
    values.filter(|v| v.is_finite()).fold(f32::NEG_INFINITY, f32::max)
}

/// One map to draw: its values, title, and a texture key with a stamp that changes with the values.
pub struct MapView<'a> {
    pub title: String,
    pub values: ArrayView2<'a, f32>,
    /// Unique texture name.
    pub key: String,
    /// Changes whenever `values` change.
    pub stamp: u64,
}

/// The cell under the pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Index of the map in the grid (0 for a single map).
    pub map: usize,
    pub row: usize,
    pub col: usize,
    pub value: f32,
    /// True when the cell was clicked this frame.
    pub clicked: bool,
}

/// The drawn map: where it is (for overlays) and the hovered cell.
pub struct Drawn {
    pub rect: Rect,
    /// Side of one cell in points.
    pub cell: f32,
    pub hit: Option<Hit>,
    pub response: egui::Response,
}

/// Draws one map with square cells of `cell` points; `tooltip` gives the hover text of a cell.
pub fn map_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    map: &MapView<'_>,
    scale: &Scale,
    cell: f32,
    tooltip: &dyn Fn(usize, usize, f32) -> String,
) -> Drawn {
    let (rows, cols) = map.values.dim();
    let size = Vec2::new(cols as f32 * cell, rows as f32 * cell);
    let (rect, response) = ui.allocate_exact_size(size, Sense::click());
    let title = map.title.clone();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &title));
    if rows == 0 || cols == 0 {
        return Drawn { rect, cell, hit: None, response };
    }
    let stamp = map.stamp ^ scale.stamp().rotate_left(1);
    let texture =
        textures.get(ui.ctx(), &map.key, stamp, || theme::heat_image(map.values, scale.map, scale.low, scale.high));
    let painter = ui.painter_at(rect.expand(2.0));
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    let hit = response.hover_pos().and_then(|pos| cell_at(rect, cell, rows, cols, pos)).map(|(row, col)| Hit {
        map: 0,
        row,
        col,
        value: map.values[[row, col]],
        clicked: response.clicked(),
    });
    let response = match hit {
        Some(h) => {
            outline_cells(&painter, rect, cell, (h.row, h.col, 1, 1), Color32::WHITE);
            response.on_hover_text_at_pointer(tooltip(h.row, h.col, h.value))
        }
        None => response,
    };
    Drawn { rect, cell, hit, response }
}

/// The cell under `pos`, if it lies inside the map.
fn cell_at(rect: Rect, cell: f32, rows: usize, cols: usize, pos: Pos2) -> Option<(usize, usize)> {
    if !rect.contains(pos) || cell <= 0.0 {
        return None;
    }
    let offset = pos - rect.min;
    let (row, col) = ((offset.y / cell) as usize, (offset.x / cell) as usize);
    (row < rows && col < cols).then_some((row, col))
}

/// Draws `maps` in rows of `columns` with a title above each, every map fitting a `side`-point
/// square; returns the hovered cell (with its map index). `tooltip(map, row, col, value)` gives hover text.
pub fn grid_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    maps: &[MapView<'_>],
    scale: &Scale,
    side: f32,
    columns: usize,
    tooltip: &dyn Fn(usize, usize, usize, f32) -> String,
) -> Option<Hit> {
    let mut hovered = None;
    for (start, chunk) in maps.chunks(columns.max(1)).enumerate().map(|(i, c)| (i * columns.max(1), c)) {
        ui.horizontal_top(|ui| {
            for (offset, map) in chunk.iter().enumerate() {
                let index = start + offset;
                ui.vertical(|ui| {
                    ui.set_max_width(side.max(40.0));
                    ui.add(egui::Label::new(egui::RichText::new(&map.title).small()).truncate());
                    let (rows, cols) = map.values.dim();
                    let cell = side / rows.max(cols).max(1) as f32;
                    let drawn = map_ui(ui, textures, map, scale, cell, &|r, c, v| tooltip(index, r, c, v));
                    if let Some(hit) = drawn.hit {
                        hovered = Some(Hit { map: index, ..hit });
                    }
                });
            }
        });
    }
    hovered
}

/// One map per channel of `values` `[C, rows, cols]`, titled `"{title} {c}"` and cached as
/// `"{key} {c}"` under `stamp`, as many per row as fit `side`-point squares; returns the hovered cell.
pub fn channel_grid_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    values: &ArrayView3<'_, f32>,
    scale: &Scale,
    (title, key, stamp): (&str, &str, u64),
    side: f32,
    tooltip: &dyn Fn(usize, usize, usize, f32) -> String,
) -> Option<Hit> {
    let maps: Vec<MapView<'_>> = (0..values.shape()[0])
        .map(|c| MapView {
            title: format!("{title} {c}"),
            values: values.slice(s![c, .., ..]),
            key: format!("{key} {c}"),
            stamp,
        })
        .collect();
    let columns = ((ui.available_width() / (side + 12.0)) as usize).max(1);
    grid_ui(ui, textures, &maps, scale, side, columns, tooltip)
}

/// The colour bar of a scale with its range and label.
pub fn scale_ui(ui: &mut egui::Ui, scale: &Scale) {
    ui.horizontal(|ui| {
        ui.label(format!("{}: {}", scale.label, format_value(scale.low)));
        let (rect, _) = ui.allocate_exact_size(Vec2::new(160.0, 12.0), Sense::hover());
        let painter = ui.painter_at(rect);
        let steps = 64;
        let width = rect.width() / steps as f32;
        for step in 0..steps {
            let t = (step as f32 + 0.5) / steps as f32;
            let x = rect.left() + step as f32 * width;
            let r = Rect::from_min_size(Pos2::new(x, rect.top()), Vec2::new(width + 0.5, rect.height()));
            painter.rect_filled(r, 0.0, scale.map.color(t));
        }
        ui.label(format_value(scale.high));
    });
}

/// Outlines the cell rectangle `(row, col, rows, cols)` of a map drawn at `rect` with `cell`-point cells.
pub fn outline_cells(painter: &egui::Painter, rect: Rect, cell: f32, cells: CellRect, color: Color32) {
    let (row, col, rows, cols) = cells;
    let min = rect.min + Vec2::new(col as f32, row as f32) * cell;
    let outline = Rect::from_min_size(min, Vec2::new(cols as f32, rows as f32) * cell);
    painter.rect_stroke(outline, 0.0, Stroke::new(2.0, color), StrokeKind::Outside);
}

/// A compact number for labels: 3 significant digits, exponent for very large or small values.
pub fn format_value(value: f32) -> String {
    let magnitude = value.abs();
    if value == 0.0 {
        "0".to_owned()
    } else if !value.is_finite() || !(1e-3..1e5).contains(&magnitude) {
        format!("{value:.2e}")
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.3}")
    }
}

#[cfg(test)]
// Ranges are set from the given values, not computed: exact comparison is the check.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn scales_cover_their_values() {
        let values = [0.5_f32, -2.0, 3.0, f32::NAN, f32::INFINITY];
        let s = Scale::non_negative("a", &values);
        assert_eq!((s.low, s.high), (0.0, 3.0));
        let d = Scale::symmetric("w", &values);
        assert_eq!((d.low, d.high), (-3.0, 3.0));
        assert_eq!(d.color(0.0), ColorMap::Diverging.color(0.5));
        let empty = Scale::non_negative("a", &[0.0_f32, -1.0]);
        assert_eq!(empty.high, 1.0, "an all-zero map still gets a usable range");
        assert_ne!(s.stamp(), d.stamp());
    }

    #[test]
    fn cells_are_found_under_the_pointer() {
        let rect = Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::new(40.0, 20.0));
        let cases = [
            (Pos2::new(10.0, 20.0), Some((0, 0))),
            (Pos2::new(49.0, 39.0), Some((1, 3))),
            (Pos2::new(25.0, 31.0), Some((1, 1))),
            (Pos2::new(9.0, 25.0), None),
            (Pos2::new(30.0, 41.0), None),
        ];
        for (pos, expected) in cases {
            assert_eq!(cell_at(rect, 10.0, 2, 4, pos), expected, "{pos:?}");
        }
    }

    #[test]
    fn values_are_formatted_compactly() {
        let cases =
            [(0.0, "0"), (1.5, "1.500"), (-0.25, "-0.250"), (1234.0, "1234"), (1e-6, "1.00e-6"), (2e6, "2.00e6")];
        for (value, expected) in cases {
            assert_eq!(format_value(value), expected);
        }
    }
}
