//! The lecture's input image: a fresh background (the dataset settings' kind) with the object of
//! the followed tile's class pasted on it, one tile per feature at non-overlapping places. It is
//! rebuilt when the tile set, the class or the seed changes; the lecturer drags a tile to move it.

use egui::{Color32, Pos2, Rect, Sense, Vec2};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::app::theme::{self, Rendering, TextureCache};
use crate::app::widgets::heatmap::{self, CellRect};
use crate::core::dataset::{self, Background, Placement};
use crate::core::tile::{ClassSet, TileId};

/// Random positions tried per feature before giving up on non-overlap.
const PLACEMENT_TRIES: usize = 200;

/// What the input is made from; a different key means a new image.
#[derive(Debug, Clone, PartialEq)]
pub struct InputKey {
    /// Tile-set version.
    pub version: u64,
    /// The followed tile (its class's object is pasted, with this tile for its feature).
    pub tile: TileId,
    /// Image size `(H, W)`.
    pub size: (usize, usize),
    /// Seed of the background and of the positions.
    pub seed: u64,
}

/// The input image: background, placements and the rendered image.
#[derive(Debug, Clone)]
pub struct LectureInput {
    pub key: InputKey,
    pub background: Array2<f32>,
    pub placements: Vec<Placement>,
    /// `render(background, placements)`.
    pub image: Array2<f32>,
    /// Changes whenever `image` does (caches and textures key on it).
    pub stamp: u64,
}

impl LectureInput {
    /// Draws the background and places one tile per feature of `key.tile`'s class.
    pub fn new(classes: &ClassSet, background_kind: &Background, key: InputKey, stamp: u64) -> Result<Self, String> {
        let (height, width) = key.size;
        let object = classes.classes.get(key.tile.class).ok_or("the followed tile no longer exists")?;
        let mut rng = ChaCha8Rng::seed_from_u64(key.seed);
        let background = dataset::background(background_kind, height, width, &mut rng);
        let mut placements: Vec<Placement> = Vec::new();
        for (f, feature) in object.features.iter().enumerate() {
            let index = if f == key.tile.feature { key.tile.tile } else { 0 };
            let id = TileId { class: key.tile.class, feature: f, tile: index };
            let tile = feature.tiles.get(index).ok_or("the followed tile no longer exists")?;
            let (rows, cols) = dataset::valid_offsets(tile, height, width);
            if rows == 0 || cols == 0 {
                return Err(format!("{} does not fit a {height}×{width} image", classes.tile_label(id)));
            }
            let mut placement = Placement { tile: id, row: 0, col: 0, rows: tile.rows(), cols: tile.cols() };
            for _ in 0..PLACEMENT_TRIES {
                placement.row = rng.random_range(0..rows);
                placement.col = rng.random_range(0..cols);
                if !placements.iter().any(|p| p.overlaps(&placement)) {
                    break;
                }
            }
            placements.push(placement);
        }
        let image = dataset::render(classes, &background, &placements);
        Ok(Self { key, background, placements, image, stamp })
    }

    /// The placement of the followed tile.
    pub fn followed(&self) -> Option<&Placement> {
        self.placements.iter().find(|p| p.tile == self.key.tile)
    }

    /// Moves placement `index` to `(row, col)` (clamped to valid offsets); true when the image changed.
    pub fn move_to(&mut self, classes: &ClassSet, index: usize, row: usize, col: usize, stamp: u64) -> bool {
        let (height, width) = self.image.dim();
        let Some(p) = self.placements.get_mut(index) else { return false };
        let (row, col) = (row.min(height.saturating_sub(p.rows)), col.min(width.saturating_sub(p.cols)));
        if (row, col) == (p.row, p.col) {
            return false;
        }
        (p.row, p.col) = (row, col);
        self.image = dataset::render(classes, &self.background, &self.placements);
        self.stamp = stamp;
        true
    }

    /// Index of the placement covering pixel `(row, col)`.
    pub fn placement_at(&self, row: usize, col: usize) -> Option<usize> {
        self.placements
            .iter()
            .position(|p| (p.row..p.row + p.rows).contains(&row) && (p.col..p.col + p.cols).contains(&col))
    }
}

/// What happened on the drawn input.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct InputEvents {
    /// Pixel clicked (not dragged).
    pub clicked: Option<(usize, usize)>,
    /// Pixel under the pointer.
    pub hovered: Option<(usize, usize)>,
    /// A drag from the tile at `placement`, grabbed at `grab` pixels from its corner, now over `to`.
    pub dragged: Option<Drag>,
}

/// A tile being dragged on the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drag {
    pub placement: usize,
    /// Where the tile's top-left corner should go.
    pub to: (usize, usize),
}

/// Drag kept between frames: which placement and where it was grabbed.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct DragState {
    grabbed: Option<(usize, (usize, usize))>,
}

/// Draws the input `side` points wide with the placements outlined, `window` (orange) and `field`
/// (red) rectangles; dragging a tile reports where it should go.
pub fn input_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    input: &LectureInput,
    rendering: Rendering,
    side: f32,
    outlines: &[(CellRect, Color32)],
    drag: &mut DragState,
) -> InputEvents {
    let (rows, cols) = input.image.dim();
    let cell = side / rows.max(cols).max(1) as f32;
    let size = Vec2::new(cols as f32 * cell, rows as f32 * cell);
    let (rect, response) = ui.allocate_exact_size(size, Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "Lecture input image"));
    let texture = textures.get(ui.ctx(), "lecture input", input.stamp ^ rendering as u64, || {
        theme::grey_image(input.image.view(), rendering)
    });
    let painter = ui.painter_at(rect.expand(3.0));
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    for p in &input.placements {
        heatmap::outline_cells(&painter, rect, cell, (p.row, p.col, p.rows, p.cols), theme::PLACEMENT_OUTLINE);
    }
    for &(cells, color) in outlines {
        heatmap::outline_cells(&painter, rect, cell, cells, color);
    }
    let pixel_at = |pos: Pos2| -> Option<(usize, usize)> {
        let offset = pos - rect.min;
        let (row, col) = ((offset.y / cell).floor(), (offset.x / cell).floor());
        (row >= 0.0 && col >= 0.0 && (row as usize) < rows && (col as usize) < cols)
            .then_some((row as usize, col as usize))
    };
    let mut events = InputEvents { hovered: response.hover_pos().and_then(pixel_at), ..InputEvents::default() };
    if response.drag_started()
        && let Some((row, col)) = response.interact_pointer_pos().and_then(pixel_at)
        && let Some(index) = input.placement_at(row, col)
    {
        let p = &input.placements[index];
        drag.grabbed = Some((index, (row - p.row, col - p.col)));
    }
    if let Some((index, (dr, dc))) = drag.grabbed {
        if let Some(pos) = response.interact_pointer_pos() {
            let offset = pos - rect.min;
            let row = (offset.y / cell - dr as f32).round().max(0.0) as usize;
            let col = (offset.x / cell - dc as f32).round().max(0.0) as usize;
            events.dragged = Some(Drag { placement: index, to: (row, col) });
        }
        if response.drag_stopped() || !response.dragged() {
            drag.grabbed = None;
        }
    }
    if response.clicked() {
        events.clicked = response.interact_pointer_pos().and_then(pixel_at);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::presets;

    fn key(tile: TileId, seed: u64) -> InputKey {
        InputKey { version: 0, tile, size: (40, 40), seed }
    }

    #[test]
    fn the_followed_object_is_pasted_exactly() {
        let classes = presets::two_feature_example();
        let id = TileId { class: 0, feature: 0, tile: 0 };
        let input = LectureInput::new(&classes, &Background::Uniform, key(id, 3), 1).unwrap();
        assert_eq!(input.placements.len(), classes.classes[0].features.len());
        for p in &input.placements {
            let tile = classes.tile(p.tile).unwrap();
            assert!(crate::core::detect::distance(tile, input.image.view(), p.row, p.col) < 1e-6);
        }
        assert!(!input.placements[0].overlaps(&input.placements[1]), "features do not overlap");
        assert!(input.followed().is_some());
        let again = LectureInput::new(&classes, &Background::Uniform, key(id, 3), 1).unwrap();
        assert_eq!(again.image, input.image, "same seed, same image");
    }

    #[test]
    fn moving_a_tile_clamps_and_rerenders() {
        let classes = presets::fashion_three();
        let id = TileId { class: 1, feature: 0, tile: 0 };
        let mut input = LectureInput::new(&classes, &Background::Uniform, key(id, 5), 1).unwrap();
        assert!(input.move_to(&classes, 0, 100, 0, 2));
        let p = input.placements[0];
        assert_eq!((p.row, p.col, input.stamp), (40 - 28, 0, 2));
        let tile = classes.tile(id).unwrap();
        assert!(crate::core::detect::distance(tile, input.image.view(), p.row, p.col) < 1e-6);
        assert!(!input.move_to(&classes, 0, 100, 0, 3), "no move, no new image");
        assert_eq!(input.placement_at(p.row + 1, 1), Some(0));
        assert_eq!(input.placement_at(0, 39), None);
    }

    #[test]
    fn a_tile_larger_than_the_image_is_an_error() {
        let classes = presets::fashion_three();
        let id = TileId { class: 0, feature: 0, tile: 0 };
        let small = InputKey { size: (10, 10), ..key(id, 1) };
        assert!(LectureInput::new(&classes, &Background::Uniform, small, 1).is_err());
        let missing = key(TileId { class: 9, feature: 0, tile: 0 }, 1);
        assert!(LectureInput::new(&classes, &Background::Uniform, missing, 1).is_err());
    }
}
