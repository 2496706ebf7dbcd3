//! The one input image of the networks view: a background plus tile placements, so that a tile
//! can be dragged to a new place and the image re-rendered (`core::dataset::render`).

use egui::{Color32, Pos2, Rect, Sense, Vec2};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::app::theme::{self, Rendering, TextureCache};
use crate::app::widgets::heatmap::{self, CellRect};
use crate::core::dataset::{self, DatasetSpec, Placement, Sample};
use crate::core::tile::ClassSet;

/// An input image made of a background and the tiles placed on it.
#[derive(Debug, Clone)]
pub struct InputImage {
    pub background: Array2<f32>,
    pub placements: Vec<Placement>,
    /// `render(background, placements)`.
    pub image: Array2<f32>,
    /// The class whose object was placed (the true label), if known.
    pub label: Option<usize>,
    /// Where it came from, for the heading.
    pub origin: String,
    /// Changes whenever the image does (caches key on it).
    pub stamp: u64,
    /// The tile-set version the placements refer to.
    pub classes_version: u64,
}

/// Counter making every new input's stamp unique.
static NEXT_STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn next_stamp() -> u64 {
    NEXT_STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl InputImage {
    /// The input made from a generated sample: its pasted tiles' pixels are refilled so that the
    /// tiles can be moved without leaving a copy (or a patch) behind: with fresh noise (seeded by
    /// `seed`) on an i.i.d. noise background, else continued smoothly from the pixels around.
    pub fn from_sample(
        classes: &ClassSet,
        spec: &DatasetSpec,
        sample: &Sample,
        origin: String,
        seed: u64,
        version: u64,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (height, width) = sample.image.dim();
        let mut hole = Array2::from_elem((height, width), false);
        for p in &sample.placements {
            let Some(tile) = classes.tile(p.tile) else { continue };
            for (a, b, _) in tile.support_pixels() {
                if let Some(pixel) = hole.get_mut([p.row + a, p.col + b]) {
                    *pixel = true;
                }
            }
        }
        let mut background = sample.image.clone();
        if matches!(spec.background, dataset::Background::Uniform) {
            // Fresh i.i.d. noise is indistinguishable from the noise around it.
            let fresh = dataset::background(&spec.background, height, width, &mut rng);
            for ((row, col), _) in hole.indexed_iter().filter(|(_, h)| **h) {
                background[[row, col]] = fresh[[row, col]];
            }
        } else {
            // Another random draw of a smooth or picture background would not match at the edge.
            fill_smoothly(&mut background, &hole);
        }
        let image = dataset::render(classes, &background, &sample.placements);
        let placements = sample.placements.clone();
        Self {
            background,
            placements,
            image,
            label: Some(sample.label),
            origin,
            stamp: next_stamp(),
            classes_version: version,
        }
    }

    /// A fresh valid sample of a random class, drawn with `seed` from the dataset settings.
    pub fn random(classes: &ClassSet, spec: &DatasetSpec, seed: u64, version: u64) -> Result<Self, String> {
        if classes.is_empty() {
            return Err("the tile set has no classes".to_owned());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let one_each = DatasetSpec { samples_per_class: 1, seed: rng.random(), ..spec.clone() };
        let data = dataset::generate(classes, &one_each).map_err(|e| e.to_string())?;
        let index = rng.random_range(0..data.samples.len().max(1));
        let sample = data.samples.get(index).ok_or("no sample was generated")?;
        Ok(Self::from_sample(classes, spec, sample, format!("random sample (seed {seed})"), rng.random(), version))
    }

    /// Moves placement `index` by whole pixels, clamped to the valid offsets; true when it moved.
    pub fn move_placement(&mut self, classes: &ClassSet, index: usize, rows: isize, cols: isize) -> bool {
        let (height, width) = self.image.dim();
        let Some(p) = self.placements.get_mut(index) else { return false };
        let (max_row, max_col) = (height.saturating_sub(p.rows), width.saturating_sub(p.cols));
        let row = p.row.saturating_add_signed(rows).min(max_row);
        let col = p.col.saturating_add_signed(cols).min(max_col);
        if (row, col) == (p.row, p.col) {
            return false;
        }
        (p.row, p.col) = (row, col);
        self.image = dataset::render(classes, &self.background, &self.placements);
        self.stamp = next_stamp();
        true
    }

    /// Index of the placement whose rectangle holds pixel `(row, col)`.
    pub fn placement_at(&self, row: usize, col: usize) -> Option<usize> {
        self.placements
            .iter()
            .position(|p| (p.row..p.row + p.rows).contains(&row) && (p.col..p.col + p.cols).contains(&col))
    }
}

/// Rounds of smoothing inside a filled hole (enough for tiles up to a few dozen pixels wide).
const SMOOTHING_ROUNDS: usize = 60;

/// Fills the `hole` pixels of `image` from the pixels around them: layer by layer from the edge
/// (each pixel the mean of its known neighbours), then smoothed with the edge held fixed.
pub fn fill_smoothly(image: &mut Array2<f32>, hole: &Array2<bool>) {
    let (height, width) = image.dim();
    let neighbours = |row: usize, col: usize| {
        [(-1, 0), (1, 0), (0, -1), (0, 1)].into_iter().filter_map(move |(dr, dc)| {
            let (r, c) = (row.checked_add_signed(dr)?, col.checked_add_signed(dc)?);
            (r < height && c < width).then_some((r, c))
        })
    };
    let mut known = hole.mapv(|h| !h);
    let mut missing: Vec<(usize, usize)> = hole.indexed_iter().filter(|(_, h)| **h).map(|(p, _)| p).collect();
    let filled = missing.clone();
    while !missing.is_empty() {
        let layer: Vec<((usize, usize), f32)> = missing
            .iter()
            .filter_map(|&(r, c)| {
                let values: Vec<f32> = neighbours(r, c).filter(|&n| known[n]).map(|n| image[n]).collect();
                (!values.is_empty()).then(|| ((r, c), values.iter().sum::<f32>() / values.len() as f32))
            })
            .collect();
        if layer.is_empty() {
            // The whole image is a hole: nothing to continue from.
            return;
        }
        for &(p, value) in &layer {
            image[p] = value;
            known[p] = true;
        }
        missing.retain(|&p| !known[p]);
    }
    for _ in 0..SMOOTHING_ROUNDS {
        for &(r, c) in &filled {
            let (sum, count) = neighbours(r, c).fold((0.0, 0.0), |(s, n), p| (s + image[p], n + 1.0));
            image[[r, c]] = sum / count;
        }
    }
}

/// What happened on the drawn input this frame.
#[derive(Debug, Default)]
pub struct InputEvents {
    /// The pixel clicked, if any.
    pub clicked: Option<(usize, usize)>,
    /// True when a tile was dragged to a new place (the image changed).
    pub moved: bool,
}

/// Drag state kept between frames: the placement being dragged and where on it it was grabbed.
#[derive(Debug, Default)]
pub struct DragState {
    placement: Option<usize>,
    /// The grabbed pixel relative to the placement's top-left corner.
    grab: (isize, isize),
}

/// Draws the input with its placements and `field` (a receptive field) outlined; dragging a tile moves it.
pub fn input_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    input: &mut InputImage,
    classes: &ClassSet,
    rendering: Rendering,
    field: Option<CellRect>,
    drag: &mut DragState,
) -> InputEvents {
    let (rows, cols) = input.image.dim();
    let cell = (230.0 / rows.max(cols).max(1) as f32).clamp(1.0, 16.0);
    let (rect, response) =
        ui.allocate_exact_size(Vec2::new(cols as f32 * cell, rows as f32 * cell), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, "input image"));
    let texture = textures.get(ui.ctx(), "networks input", input.stamp * 2 + rendering as u64, || {
        theme::grey_image(input.image.view(), rendering)
    });
    let painter = ui.painter_at(rect.expand(3.0));
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    for p in &input.placements {
        heatmap::outline_cells(&painter, rect, cell, (p.row, p.col, p.rows, p.cols), theme::PLACEMENT_OUTLINE);
    }
    if let Some(field) = field {
        heatmap::outline_cells(&painter, rect, cell, field, heatmap::OUTLINE);
    }
    // The pixel under a point, possibly outside the image (negative or past the edge).
    let pixel = |pos: Pos2| {
        let offset = (pos - rect.min) / cell;
        (offset.y.floor() as isize, offset.x.floor() as isize)
    };
    let inside = |(r, c): (isize, isize)| {
        (r >= 0 && c >= 0).then_some((r as usize, c as usize)).filter(|&(r, c)| r < rows && c < cols)
    };
    let mut events = InputEvents::default();
    if response.drag_started() {
        // Where the button went down, not where the drag was recognised (a few points later).
        let pressed = ui.input(|i| i.pointer.press_origin()).map(pixel);
        let placement = pressed.and_then(inside).and_then(|(r, c)| input.placement_at(r, c));
        let grab = match (pressed, placement.and_then(|i| input.placements.get(i))) {
            (Some((r, c)), Some(p)) => (r - p.row as isize, c - p.col as isize),
            _ => (0, 0),
        };
        *drag = DragState { placement, grab };
    }
    if response.dragged()
        && let (Some(index), Some(pos)) = (drag.placement, response.interact_pointer_pos())
        && let Some(p) = input.placements.get(index)
    {
        let (row, col) = pixel(pos);
        let (down, across) = (row - drag.grab.0 - p.row as isize, col - drag.grab.1 - p.col as isize);
        events.moved = input.move_placement(classes, index, down, across);
    }
    if response.drag_stopped() {
        *drag = DragState::default();
    }
    if response.clicked() {
        events.clicked = response.interact_pointer_pos().map(pixel).and_then(inside);
    }
    response.on_hover_text_at_pointer("Drag a tile to move it; click a pixel to see which neurons respond there.");
    events
}

#[cfg(test)]
// An exact paste has distance exactly 0: exact comparison is the check.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::core::dataset::Background;
    use crate::core::{detect, presets};

    fn spec() -> DatasetSpec {
        DatasetSpec {
            height: 36,
            width: 36,
            samples_per_class: 1,
            background: Background::Uniform,
            jitter: 0.0,
            seed: 5,
        }
    }

    /// The mean jump between 4-neighbour pairs that `include` picks.
    fn mean_step(image: &Array2<f32>, include: impl Fn((usize, usize), (usize, usize)) -> bool) -> f32 {
        let (h, w) = image.dim();
        let (mut sum, mut count) = (0.0f32, 0.0f32);
        for ((r, c), &v) in image.indexed_iter() {
            for other in [(r + 1, c), (r, c + 1)] {
                if other.0 < h && other.1 < w && include((r, c), other) {
                    sum += (v - image[other]).abs();
                    count += 1.0;
                }
            }
        }
        sum / count.max(1.0)
    }

    #[test]
    fn a_moved_tile_leaves_no_patch_on_a_smooth_background() {
        let classes = presets::fashion_three();
        let spec = DatasetSpec { background: Background::Smooth { cell: 8 }, height: 64, width: 64, ..spec() };
        let data = dataset::generate(&classes, &spec).unwrap();
        let sample = &data.samples[0];
        let input = InputImage::from_sample(&classes, &spec, sample, "sample 0".into(), 9, 0);
        let p = input.placements[0];
        let tile = classes.tile(p.tile).unwrap();
        let hole = |(r, c): (usize, usize)| {
            r >= p.row && c >= p.col && tile.support().get([r - p.row, c - p.col]).copied().unwrap_or(false)
        };
        let around = mean_step(&input.background, |a, b| !hole(a) && !hole(b));
        let where_it_was = mean_step(&input.background, |a, b| hole(a) || hole(b));
        assert!(
            where_it_was <= around * 2.0,
            "the refilled spot is as smooth as the background around it: steps {where_it_was} vs {around}"
        );
    }

    #[test]
    fn a_sample_is_reproduced_exactly_and_its_tile_moves() {
        let classes = presets::fashion_three();
        let data = dataset::generate(&classes, &spec()).unwrap();
        let sample = &data.samples[1];
        let mut input = InputImage::from_sample(&classes, &spec(), sample, "sample 1".into(), 9, 0);
        assert_eq!(input.image, sample.image, "an exact paste is re-rendered identically");
        let p = input.placements[0];
        let stamp = input.stamp;
        let (down, right) = (if p.row > 0 { -1 } else { 1 }, if p.col > 0 { -1 } else { 1 });
        assert!(input.move_placement(&classes, 0, down, right));
        assert_ne!(input.stamp, stamp);
        let moved = input.placements[0];
        assert_eq!((moved.row as isize, moved.col as isize), (p.row as isize + down, p.col as isize + right));
        let tile = classes.tile(moved.tile).unwrap();
        assert_eq!(
            detect::distance(tile, input.image.view(), moved.row, moved.col),
            0.0,
            "the tile sits at its new place"
        );
        input.move_placement(&classes, 0, -1000, -1000);
        assert_eq!((input.placements[0].row, input.placements[0].col), (0, 0), "moves are clamped to valid offsets");
        assert!(!input.move_placement(&classes, 7, 1, 1), "no such placement");
    }

    #[test]
    fn random_inputs_are_valid_and_reproducible() {
        let classes = presets::fashion_three();
        let a = InputImage::random(&classes, &spec(), 11, 0).unwrap();
        let b = InputImage::random(&classes, &spec(), 11, 0).unwrap();
        assert_eq!(a.image, b.image);
        let label = a.label.unwrap();
        assert_eq!(detect::classify(&detect::logits(&classes, a.image.view())), Some(label));
        let p = a.placements[0];
        assert_eq!(a.placement_at(p.row, p.col), Some(0));
    }
}
