//! Drawing what a unit wants to see, shared by the Networks view's unit inspector and the lecture:
//! a grey image with windows outlined (a preferred stimulus, a top example), a tile, the recovery
//! line `d_T < ε`, and the progress or failure of an inspection.

use egui::{Color32, Pos2, Rect};
use ndarray::{Array2, ArrayView2, s};

use crate::app::cache::{Inspection, PreferredKey};
use crate::app::jobs::Keyed;
use crate::app::theme::{self, Rendering, TextureCache};
use crate::core::interpret::Recovery;
use crate::core::tile::Tile;

use super::heatmap::{self, CellRect};

/// The pixels of `image` in `field` (clipped to the image).
pub fn cut_out(image: ArrayView2<f32>, (row, col, rows, cols): CellRect) -> Array2<f32> {
    let (height, width) = image.dim();
    let (top, left) = (row.min(height), col.min(width));
    image.slice(s![top..(row + rows).min(height), left..(col + cols).min(width)]).to_owned()
}

/// A grey image fitted into a `side`-point square with `outlines` drawn on it; labelled by its
/// texture key `key` (for tests and screen readers).
pub fn image_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    (key, values): (&str, ArrayView2<f32>),
    rendering: Rendering,
    side: f32,
    outlines: &[(CellRect, Color32)],
) -> egui::Response {
    let size = theme::fit_within(values.dim(), side);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    let label = key.to_owned();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
    let stamp = theme::content_hash(values, rendering as u64);
    let texture = textures.get(ui.ctx(), key, stamp, || theme::grey_image(values, rendering));
    let painter = ui.painter_at(rect.expand(3.0));
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    let cell = size.x / values.ncols().max(1) as f32;
    for &(cells, color) in outlines {
        heatmap::outline_cells(&painter, rect, cell, cells, color);
    }
    response
}

/// A tile fitted into a `side`-point square, pixels outside its support tinted; labelled by its
/// texture key `key`.
pub fn tile_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    (key, tile): (&str, &Tile),
    rendering: Rendering,
    side: f32,
) -> egui::Response {
    let size = theme::fit_within((tile.rows(), tile.cols()), side);
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    let label = key.to_owned();
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
    let stamp = theme::content_hash(tile.values().view(), rendering as u64);
    let texture = textures
        .get(ui.ctx(), key, stamp, || theme::tile_image(tile.values().view(), tile.support().view(), rendering, true));
    ui.painter().image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    response.on_hover_text("The tile (tinted pixels are outside its support and do not count in d_T)")
}

/// "Recovered: … `d_T` = … < ε = …" in the constructed colour, or "Not recovered" as a warning, for
/// the window whose top-left pixel is `(row, col)`.
pub fn recovery_ui(ui: &mut egui::Ui, recovery: &Recovery, (row, col, _, _): CellRect) {
    let distance = heatmap::format_value(recovery.distance);
    let epsilon = heatmap::format_value(recovery.epsilon);
    if recovery.recovered {
        ui.colored_label(
            theme::CONSTRUCTED_COLOR,
            format!(
                "Recovered: the stimulus holds the tile at window ({row}, {col}), d_T = {distance} < ε = {epsilon}"
            ),
        );
    } else {
        ui.colored_label(
            theme::WARNING,
            format!("Not recovered: d_T = {distance} ≥ ε = {epsilon} at window ({row}, {col})"),
        );
    }
}

/// The progress of `key`'s inspection in `slot`, or why it failed.
pub fn status_ui(ui: &mut egui::Ui, slot: &Keyed<PreferredKey, Inspection>, key: &PreferredKey) {
    if let Some(error) = slot.error(key) {
        ui.colored_label(theme::ERROR, format!("The preferred stimulus cannot be computed: {error}"));
        return;
    }
    match slot.running() {
        Some((running, job)) if running == key => {
            let progress = job.shared().progress();
            ui.add(egui::ProgressBar::new(progress).text(format!("ascending from noise… {:.0}%", progress * 100.0)));
        }
        Some(_) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("waiting for the unit asked for before…");
            });
        }
        None if slot.get(key).is_none() => {
            ui.spinner();
        }
        None => {}
    }
}
