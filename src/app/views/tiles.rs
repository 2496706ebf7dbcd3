//! The tile editor: a zoomable pixel grid with brush, eraser, fill, line and rectangle tools, a
//! support-mask view, tile size and ε with a live readout of what ε means.

use egui::{Color32, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::app::command::{Command, Edit, Node};
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::number;
use crate::core::detect::max_distance;
use crate::core::tile::{MAX_TILE_SIDE, Tile, TileId};

use crate::app::ids::PathPurpose;

/// The painting tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tool {
    /// Paints the brush value into the support.
    #[default]
    Brush,
    /// Removes pixels from the support (they stop counting).
    Eraser,
    /// Flood-fills a region of equal pixels.
    Fill,
    /// A straight line from press to release.
    Line,
    /// A filled rectangle from press to release.
    Rectangle,
}

impl Tool {
    const ALL: [Self; 5] = [Self::Brush, Self::Eraser, Self::Fill, Self::Line, Self::Rectangle];

    fn label(self) -> &'static str {
        match self {
            Self::Brush => "Brush",
            Self::Eraser => "Eraser",
            Self::Fill => "Fill",
            Self::Line => "Line",
            Self::Rectangle => "Rectangle",
        }
    }
}

/// Grey values offered as one-click swatches.
const SWATCHES: [f32; 5] = [0.0, 0.25, 0.5, 0.75, 1.0];

/// What the tile editor remembers between frames.
#[derive(Debug)]
pub struct TilesViewState {
    /// The active tool.
    pub tool: Tool,
    /// The value the brush, fill, line and rectangle paint.
    pub brush_value: f32,
    /// Side of the square brush, in tile pixels.
    pub brush_size: usize,
    /// Tints the pixels outside the support.
    pub show_support: bool,
    /// Screen points per tile pixel.
    pub zoom: f32,
    stroke: u64,
    painting: bool,
    last_cell: Option<(usize, usize)>,
    shape_start: Option<(usize, usize)>,
}

impl Default for TilesViewState {
    fn default() -> Self {
        Self {
            tool: Tool::Brush,
            brush_value: 1.0,
            brush_size: 1,
            show_support: true,
            zoom: 14.0,
            stroke: 0,
            painting: false,
            last_cell: None,
            shape_start: None,
        }
    }
}

/// Draws the tile editor for the selected tile.
pub fn ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut TilesViewState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let Some((id, tile)) = app.selected.and_then(|id| app.classes.tile(id).map(|t| (id, t.clone()))) else {
        ui.heading("No tile");
        ui.label("The tile set is empty: add a class in the left panel, or pick a tile from the gallery.");
        if ui.button("Open gallery…").clicked() {
            commands.push(Command::ShowGallery);
        }
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(app.classes.tile_label(id));
        ui.label(format!("{}×{}, |S| = {}", tile.rows(), tile.cols(), tile.support_len()));
        if ui.button("Rename class…").clicked() {
            commands.push(Command::AskRename(Node::Class(id.class)));
        }
    });
    tools_ui(ui, app, view);
    ui.separator();
    ui.horizontal_top(|ui| {
        egui::ScrollArea::both().id_salt("tile canvas").max_width(ui.available_width() - 320.0).show(ui, |ui| {
            canvas_ui(ui, app, view, textures, id, &tile, commands);
        });
        ui.separator();
        ui.vertical(|ui| {
            ui.set_width(300.0);
            properties_ui(ui, id, &tile, commands);
        });
    });
}

/// Tool choice, brush value and swatches, brush size, support view and zoom.
fn tools_ui(ui: &mut egui::Ui, app: &AppState, view: &mut TilesViewState) {
    ui.horizontal_wrapped(|ui| {
        for tool in Tool::ALL {
            ui.selectable_value(&mut view.tool, tool, tool.label());
        }
        ui.separator();
        ui.add(number::slider(&mut view.brush_value, 0.0..=1.0, "Value"));
        for value in SWATCHES {
            let grey = app.session.rendering.grey(value);
            let text_color = if grey > 127 { Color32::BLACK } else { Color32::WHITE };
            let swatch = egui::Button::new(egui::RichText::new(format!("{value}")).color(text_color)).fill(Color32::from_gray(grey));
            if ui.add(swatch).on_hover_text(format!("value {value}")).clicked() {
                view.brush_value = value;
            }
        }
        ui.separator();
        ui.add(number::slider(&mut view.brush_size, 1..=8, "Brush size"));
        ui.checkbox(&mut view.show_support, "Show support").on_hover_text(
            "Tints the pixels outside the support: they do not count in d_T. A zero-valued pixel may be in the support.",
        );
        ui.add(number::slider(&mut view.zoom, 2.0..=40.0, "Zoom"));
    });
}

/// The pixel grid: draws the tile and turns pointer input into paint edits.
fn canvas_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut TilesViewState,
    textures: &mut TextureCache,
    id: TileId,
    tile: &Tile,
    commands: &mut Vec<Command>,
) {
    let cell = view.zoom;
    let size = Vec2::new(tile.cols() as f32 * cell, tile.rows() as f32 * cell);
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Tile canvas"));
    let rendering = app.session.rendering;
    let stamp = theme::content_hash(tile.values().view(), u64::from(view.show_support) * 2 + rendering as u64);
    let texture = textures.get(ui.ctx(), "editor", stamp, || {
        theme::tile_image(tile.values().view(), tile.support().view(), rendering, view.show_support)
    });
    let painter = ui.painter_at(rect);
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    if cell >= 6.0 {
        draw_grid(&painter, rect, tile.rows(), tile.cols(), cell);
    }
    let hovered_cell =
        response.hover_pos().or(response.interact_pointer_pos()).and_then(|p| cell_at(rect, cell, p, tile));
    let down = response.is_pointer_button_down_on();
    match view.tool {
        Tool::Brush | Tool::Eraser => brush_input(view, id, tile, down || response.clicked(), hovered_cell, commands),
        Tool::Fill => {
            if response.clicked()
                && let Some((row, col)) = hovered_cell
            {
                commands.push(Command::Edit(Edit::Fill { tile: id, row, col, value: view.brush_value }));
            }
        }
        Tool::Line | Tool::Rectangle => shape_input(view, id, down, hovered_cell, &painter, rect, commands),
    }
    if let Some((row, col)) = hovered_cell {
        let value = tile.values()[[row, col]];
        let inside = if tile.support()[[row, col]] { "in the support" } else { "outside the support" };
        response.on_hover_text_at_pointer(format!("({row}, {col}) = {value:.3}, {inside}"));
    }
}

/// Brush and eraser: one stroke from press to release, painting every cell the pointer crosses.
fn brush_input(
    view: &mut TilesViewState,
    id: TileId,
    tile: &Tile,
    down: bool,
    cell: Option<(usize, usize)>,
    commands: &mut Vec<Command>,
) {
    if !down {
        view.painting = false;
        view.last_cell = None;
        return;
    }
    if !view.painting {
        view.painting = true;
        view.stroke += 1;
    }
    let Some(cell) = cell else { return };
    let path = view.last_cell.map_or_else(|| vec![cell], |last| line_cells(last, cell));
    view.last_cell = Some(cell);
    let pixels: Vec<_> =
        path.into_iter().flat_map(|c| brush_cells(c, view.brush_size, tile.rows(), tile.cols())).collect();
    let (value, in_support) = if view.tool == Tool::Eraser { (0.0, false) } else { (view.brush_value, true) };
    commands.push(Command::Edit(Edit::Paint { tile: id, pixels, value, in_support, stroke: view.stroke }));
}

/// Line and rectangle: remember the press, preview while dragging, paint on release.
fn shape_input(
    view: &mut TilesViewState,
    id: TileId,
    down: bool,
    cell: Option<(usize, usize)>,
    painter: &egui::Painter,
    rect: Rect,
    commands: &mut Vec<Command>,
) {
    if down {
        if view.shape_start.is_none() {
            view.shape_start = cell;
        }
        if cell.is_some() {
            view.last_cell = cell;
        }
    }
    let (Some(start), Some(end)) = (view.shape_start, view.last_cell) else {
        if !down {
            view.shape_start = None;
        }
        return;
    };
    let pixels = if view.tool == Tool::Line { line_cells(start, end) } else { rectangle_cells(start, end) };
    if down {
        for (row, col) in &pixels {
            let min = rect.min + Vec2::new(*col as f32, *row as f32) * view.zoom;
            let outline = Rect::from_min_size(min, Vec2::splat(view.zoom));
            painter.rect_stroke(outline, 0.0, Stroke::new(1.5, theme::PLACEMENT_OUTLINE), StrokeKind::Inside);
        }
        return;
    }
    view.stroke += 1;
    commands.push(Command::Edit(Edit::Paint {
        tile: id,
        pixels,
        value: view.brush_value,
        in_support: true,
        stroke: view.stroke,
    }));
    view.shape_start = None;
    view.last_cell = None;
}

/// Size, ε with its readout, and tile actions.
fn properties_ui(ui: &mut egui::Ui, id: TileId, tile: &Tile, commands: &mut Vec<Command>) {
    ui.heading("Tile");
    let (mut rows, mut cols) = (tile.rows(), tile.cols());
    let rows_changed = ui.add(number::slider(&mut rows, 1..=MAX_TILE_SIDE, "Rows")).changed();
    let cols_changed = ui.add(number::slider(&mut cols, 1..=MAX_TILE_SIDE, "Cols")).changed();
    if rows_changed || cols_changed {
        commands.push(Command::Edit(Edit::Resize { tile: id, rows, cols }));
    }
    ui.separator();
    let mut epsilon = tile.epsilon();
    let slider = number::slider(&mut epsilon, 0.001..=MAX_EPSILON, "ε").logarithmic(true);
    if ui.add(slider).changed() {
        commands.push(Command::Edit(Edit::SetEpsilon { tile: id, epsilon }));
    }
    epsilon_readout_ui(ui, tile);
    ui.separator();
    ui.horizontal_wrapped(|ui| {
        if ui.button("Import image…").clicked() {
            commands.push(Command::AskPath(PathPurpose::ImportTileImage));
        }
        if ui.button("Export PNG…").clicked() {
            commands.push(Command::AskPath(PathPurpose::ExportTilePng));
        }
        if ui.button("Gallery…").clicked() {
            commands.push(Command::ShowGallery);
        }
    });
}

/// Largest ε the slider offers: beyond 64·64 every tile matches everything anyway.
const MAX_EPSILON: f32 = 4096.0;

/// What ε means for this tile, in words and numbers.
fn epsilon_readout_ui(ui: &mut egui::Ui, tile: &Tile) {
    let epsilon = tile.epsilon();
    let support = tile.support_len().max(1);
    let per_pixel = epsilon / support as f32;
    ui.label(format!(
        "A window matches when its total deviation Σ over S of |x − t| is below ε = {epsilon:.3}: \
         the largest total deviation still matched."
    ));
    ui.label(format!("Over |S| = {support} pixels that allows a mean deviation of ε/|S| = {per_pixel:.4} per pixel."));
    let worst = max_distance(tile);
    if epsilon > worst {
        ui.colored_label(
            theme::WARNING,
            format!(
                "ε exceeds the largest possible distance {worst:.2}: this tile matches every window of every image."
            ),
        );
    }
}

/// Thin lines between tile pixels.
fn draw_grid(painter: &egui::Painter, rect: Rect, rows: usize, cols: usize, cell: f32) {
    let stroke = Stroke::new(0.5, Color32::from_gray(90));
    for r in 0..=rows {
        let y = rect.top() + r as f32 * cell;
        painter.hline(rect.x_range(), y, stroke);
    }
    for c in 0..=cols {
        let x = rect.left() + c as f32 * cell;
        painter.vline(x, rect.y_range(), stroke);
    }
}

/// The tile pixel under a screen position, if any.
fn cell_at(rect: Rect, cell: f32, pos: Pos2, tile: &Tile) -> Option<(usize, usize)> {
    if !rect.contains(pos) {
        return None;
    }
    let offset = (pos - rect.min) / cell;
    let (row, col) = (offset.y.floor() as usize, offset.x.floor() as usize);
    (row < tile.rows() && col < tile.cols()).then_some((row, col))
}

/// The cells of a square brush of side `size` around `(row, col)`, clipped to the tile.
pub fn brush_cells((row, col): (usize, usize), size: usize, rows: usize, cols: usize) -> Vec<(usize, usize)> {
    let size = size.max(1);
    // The square spans `before` cells above/left of the centre and `size - 1 - before` below/right.
    let before = (size - 1) / 2;
    let span = |centre: usize, limit: usize| centre.saturating_sub(before)..(centre + size - before).min(limit);
    let mut cells = Vec::with_capacity(size * size);
    for r in span(row, rows) {
        for c in span(col, cols) {
            cells.push((r, c));
        }
    }
    cells
}

/// The cells of a straight line from `a` to `b` (Bresenham), both ends included.
pub fn line_cells(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (mut r, mut c) = (a.0 as i64, a.1 as i64);
    let (r1, c1) = (b.0 as i64, b.1 as i64);
    let (dr, dc) = ((r1 - r).abs(), -(c1 - c).abs());
    let (sr, sc) = ((r1 - r).signum(), (c1 - c).signum());
    let mut error = dr + dc;
    let mut cells = Vec::new();
    loop {
        cells.push((r as usize, c as usize));
        if r == r1 && c == c1 {
            return cells;
        }
        let doubled = 2 * error;
        if doubled >= dc {
            error += dc;
            r += sr;
        }
        if doubled <= dr {
            error += dr;
            c += sc;
        }
    }
}

/// The cells of the filled rectangle with corners `a` and `b`.
pub fn rectangle_cells(a: (usize, usize), b: (usize, usize)) -> Vec<(usize, usize)> {
    let (top, bottom) = (a.0.min(b.0), a.0.max(b.0));
    let (left, right) = (a.1.min(b.1), a.1.max(b.1));
    (top..=bottom).flat_map(|r| (left..=right).map(move |c| (r, c))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn brush_is_clipped_to_the_tile() {
        assert_eq!(brush_cells((0, 0), 1, 4, 4), [(0, 0)]);
        assert_eq!(brush_cells((0, 0), 3, 4, 4), [(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert_eq!(brush_cells((3, 3), 3, 4, 4), [(2, 2), (2, 3), (3, 2), (3, 3)]);
        assert_eq!(brush_cells((2, 2), 2, 8, 8).len(), 4);
    }

    #[test]
    fn rectangles_are_filled() {
        assert_eq!(rectangle_cells((2, 3), (1, 1)).len(), 6);
        assert_eq!(rectangle_cells((5, 5), (5, 5)), [(5, 5)]);
    }

    proptest! {
        #[test]
        fn lines_are_connected_and_hit_both_ends(a in (0usize..64, 0usize..64), b in (0usize..64, 0usize..64)) {
            let cells = line_cells(a, b);
            prop_assert_eq!(cells.first(), Some(&a));
            prop_assert_eq!(cells.last(), Some(&b));
            let longest = a.0.abs_diff(b.0).max(a.1.abs_diff(b.1));
            prop_assert_eq!(cells.len(), longest + 1, "one cell per step along the longer axis");
            for pair in cells.windows(2) {
                prop_assert!(pair[0].0.abs_diff(pair[1].0) <= 1 && pair[0].1.abs_diff(pair[1].1) <= 1);
            }
        }
    }
}
