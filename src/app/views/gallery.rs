//! The gallery window: browse the bundled Fashion-MNIST / MNIST subsets (or IDX files the user
//! opens) by class, and take an image as a tile (new class, extra alternative, or replacement).

use std::sync::Arc;

use egui::{Image, Sense, Stroke, StrokeKind, Vec2, load::SizedTexture};
use ndarray::Array2;

use crate::app::cache::{GalleryKey, GallerySource};
use crate::app::command::{Command, Edit, InsertAt, Level, NEW_TILE_EPSILON};
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::number;
use crate::core::idx::BundledSet;
use crate::core::tile::Tile;

use crate::app::ids::PathPurpose;

/// Images shown per page.
const PAGE_SIZE: usize = 40;
/// Images per row of the grid.
const COLUMNS: usize = 8;
/// Side of a gallery thumbnail, in points.
const THUMBNAIL: f32 = 44.0;

/// Which set the gallery shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceChoice {
    /// The bundled Fashion-MNIST subset.
    #[default]
    Fashion,
    /// The bundled MNIST subset.
    Mnist,
    /// The IDX files the user opened.
    Opened,
}

/// What the gallery remembers: loaded sets, the filter, the page and the picked image.
#[derive(Default)]
pub struct GalleryState {
    /// True while the window is shown.
    pub open: bool,
    /// The set shown.
    pub choice: SourceChoice,
    /// Loaded sets.
    pub fashion: Option<Arc<GallerySource>>,
    /// The MNIST subset, once loaded.
    pub mnist: Option<Arc<GallerySource>>,
    /// IDX files the user opened.
    pub opened: Option<Arc<GallerySource>>,
    /// Only images of this label.
    pub class_filter: Option<u8>,
    /// The page of the filtered list.
    pub page: usize,
    /// Index (into the source) of the picked image.
    pub picked: Option<usize>,
    /// Support = pixels ≥ threshold when set, else the non-zero pixels.
    pub threshold: Option<f32>,
}

impl GalleryState {
    /// The set currently chosen, if loaded.
    pub fn source(&self) -> Option<&Arc<GallerySource>> {
        match self.choice {
            SourceChoice::Fashion => self.fashion.as_ref(),
            SourceChoice::Mnist => self.mnist.as_ref(),
            SourceChoice::Opened => self.opened.as_ref(),
        }
    }

    /// The bundled set or opened files the current choice shows.
    fn wanted(&self, opened: Option<&GalleryKey>) -> Option<GalleryKey> {
        match self.choice {
            SourceChoice::Fashion => Some(GalleryKey::Bundled(BundledSet::FashionMnist)),
            SourceChoice::Mnist => Some(GalleryKey::Bundled(BundledSet::Mnist)),
            SourceChoice::Opened => opened.cloned(),
        }
    }

    /// Takes the set the cache loaded last into its place; IDX files just opened are shown.
    fn adopt(&mut self, loaded: Option<&(GalleryKey, Arc<GallerySource>)>) {
        let Some((key, source)) = loaded else { return };
        let slot = match key {
            GalleryKey::Bundled(BundledSet::FashionMnist) => &mut self.fashion,
            GalleryKey::Bundled(BundledSet::Mnist) => &mut self.mnist,
            GalleryKey::Idx { .. } | GalleryKey::Picked(_) => &mut self.opened,
        };
        if slot.as_ref().is_some_and(|held| Arc::ptr_eq(held, source)) {
            return;
        }
        *slot = Some(Arc::clone(source));
        if key.is_opened() {
            self.choice = SourceChoice::Opened;
            self.class_filter = None;
            self.page = 0;
            self.picked = None;
        }
    }
}

/// Draws the gallery window when it is open.
pub fn window_ui(
    ctx: &egui::Context,
    app: &AppState,
    gallery: &mut GalleryState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let loaded = app.cache.gallery();
    gallery.adopt(loaded.done());
    if !gallery.open {
        return;
    }
    let opened = loaded.done().map(|(key, _)| key).filter(|key| key.is_opened());
    if gallery.source().is_none()
        && let Some(key) = gallery.wanted(opened)
        && loaded.needs(&key)
    {
        commands.push(Command::LoadGallery(key));
    }
    let mut open = true;
    let window = egui::Window::new("Gallery").open(&mut open).default_width(460.0).default_pos([780.0, 90.0]);
    window.show(ctx, |ui| {
        source_bar_ui(ui, gallery, commands);
        let Some(source) = gallery.source().cloned() else {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Loading…");
            });
            return;
        };
        filter_bar_ui(ui, gallery, &source);
        grid_ui(ui, app, gallery, textures, &source);
        ui.separator();
        picked_ui(ui, app, gallery, &source, commands);
    });
    gallery.open &= open;
}

fn source_bar_ui(ui: &mut egui::Ui, gallery: &mut GalleryState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        let before = gallery.choice;
        ui.selectable_value(&mut gallery.choice, SourceChoice::Fashion, "Fashion-MNIST");
        ui.selectable_value(&mut gallery.choice, SourceChoice::Mnist, "MNIST");
        if let Some(opened) = &gallery.opened {
            ui.selectable_value(&mut gallery.choice, SourceChoice::Opened, opened.name.clone());
        }
        if gallery.choice != before {
            gallery.class_filter = None;
            gallery.page = 0;
            gallery.picked = None;
        }
        if ui.button("Open IDX files…").clicked() {
            commands.push(Command::AskPath(PathPurpose::OpenIdx));
        }
    });
}

fn filter_bar_ui(ui: &mut egui::Ui, gallery: &mut GalleryState, source: &GallerySource) {
    ui.horizontal(|ui| {
        if source.labels.is_some() {
            let current = gallery.class_filter.map_or_else(|| "All classes".to_owned(), |c| source.class_name(c));
            egui::ComboBox::from_label("Class").selected_text(current).show_ui(ui, |ui| {
                let before = gallery.class_filter;
                ui.selectable_value(&mut gallery.class_filter, None, "All classes");
                for label in 0..10u8 {
                    ui.selectable_value(&mut gallery.class_filter, Some(label), source.class_name(label));
                }
                if gallery.class_filter != before {
                    gallery.page = 0;
                }
            });
        }
        let count = source.filtered(gallery.class_filter).len();
        let pages = count.div_ceil(PAGE_SIZE).max(1);
        gallery.page = gallery.page.min(pages - 1);
        if ui.add_enabled(gallery.page > 0, egui::Button::new("Previous")).clicked() {
            gallery.page -= 1;
        }
        ui.label(format!("page {} of {pages} ({count} images)", gallery.page + 1));
        if ui.add_enabled(gallery.page + 1 < pages, egui::Button::new("Next")).clicked() {
            gallery.page += 1;
        }
    });
}

fn grid_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    gallery: &mut GalleryState,
    textures: &mut TextureCache,
    source: &GallerySource,
) {
    let indices = source.filtered(gallery.class_filter);
    let page: Vec<usize> = indices.into_iter().skip(gallery.page * PAGE_SIZE).take(PAGE_SIZE).collect();
    let rendering = app.session.rendering;
    egui::Grid::new("gallery grid").spacing(Vec2::splat(2.0)).show(ui, |ui| {
        for (n, &index) in page.iter().enumerate() {
            let Some(image) = source.images.image(index) else { continue };
            let key = format!("gallery {} {index}", source.name);
            let texture = textures.get(ui.ctx(), &key, rendering as u64, || theme::grey_image(image.view(), rendering));
            let label =
                source.labels.as_ref().and_then(|l| l.get(index)).map_or_else(String::new, |&l| source.class_name(l));
            let widget = Image::from_texture(SizedTexture::new(texture.id(), Vec2::splat(THUMBNAIL)))
                .alt_text(format!("image {index} {label}"))
                .sense(Sense::click());
            let response = ui.add(widget).on_hover_text(format!("#{index} {label}"));
            if response.clicked() {
                gallery.picked = Some(index);
            }
            if gallery.picked == Some(index) {
                ui.painter().rect_stroke(
                    response.rect,
                    0.0,
                    Stroke::new(2.0, theme::PLACEMENT_OUTLINE),
                    StrokeKind::Outside,
                );
            }
            if (n + 1) % COLUMNS == 0 {
                ui.end_row();
            }
        }
    });
}

fn picked_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    gallery: &mut GalleryState,
    source: &GallerySource,
    commands: &mut Vec<Command>,
) {
    let Some(index) = gallery.picked else {
        ui.label("Click an image to pick it.");
        return;
    };
    let Some(image) = source.images.image(index) else { return };
    let name = source
        .labels
        .as_ref()
        .and_then(|l| l.get(index))
        .map_or_else(|| format!("image {index}"), |&l| source.class_name(l));
    ui.label(format!("Picked: #{index} ({name}), {}×{}", image.nrows(), image.ncols()));
    let mut thresholded = gallery.threshold.is_some();
    ui.checkbox(&mut thresholded, "Support = pixels above a threshold (else the non-zero pixels)");
    gallery.threshold = if thresholded {
        let mut threshold = gallery.threshold.unwrap_or(0.1);
        ui.add(number::slider(&mut threshold, 0.0..=1.0, "Threshold"));
        Some(threshold)
    } else {
        None
    };
    let targets = [
        ("Add as new class", Some(InsertAt::NewClass)),
        ("Add to selected feature", app.selected.map(|id| InsertAt::Feature(id.class, id.feature))),
        ("Replace selected tile", app.selected.map(InsertAt::Replace)),
    ];
    ui.horizontal(|ui| {
        for (label, at) in targets {
            if ui.add_enabled(at.is_some(), egui::Button::new(label)).clicked()
                && let Some(at) = at
            {
                match tile_from_image(image.clone(), gallery.threshold) {
                    Ok(tile) => commands.push(Command::Edit(Edit::Insert { tile, name: name.clone(), at })),
                    Err(error) => {
                        commands.push(Command::Log(Level::Error, format!("cannot use this image as a tile: {error}")));
                    }
                }
            }
        }
    });
}

/// A tile from image values: support = pixels ≥ `threshold`, or the non-zero pixels.
pub fn tile_from_image(values: Array2<f32>, threshold: Option<f32>) -> Result<Tile, crate::core::tile::TileError> {
    match threshold {
        Some(threshold) => {
            let support = values.mapv(|v| v >= threshold);
            Tile::new(values, support, NEW_TILE_EPSILON)
        }
        None => Tile::from_values(values, NEW_TILE_EPSILON),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::idx::{self, IdxImages};
    use ndarray::array;

    #[test]
    fn class_filter_and_names() {
        let images = IdxImages { rows: 1, cols: 2, pixels: vec![0, 1, 2, 3, 4, 5] };
        let source = GallerySource {
            name: "t".into(),
            images,
            labels: Some(vec![1, 0, 1]),
            class_names: Some(idx::FASHION_CLASSES),
        };
        assert_eq!(source.filtered(Some(1)), [0, 2]);
        assert_eq!(source.filtered(None), [0, 1, 2]);
        assert_eq!(source.class_name(1), "Trouser");
        let unnamed = GallerySource { class_names: None, labels: None, ..source };
        assert_eq!(unnamed.class_name(3), "class 3");
        assert_eq!(unnamed.filtered(Some(1)), [0, 1, 2], "no labels: no filter");
    }

    #[test]
    fn tiles_from_images_use_the_threshold_for_the_support() {
        let values = array![[0.0, 0.05], [0.5, 1.0]];
        assert_eq!(tile_from_image(values.clone(), None).unwrap().support_len(), 3);
        assert_eq!(tile_from_image(values.clone(), Some(0.1)).unwrap().support_len(), 2);
        assert!(tile_from_image(Array2::zeros((2, 2)), None).is_err(), "an all-black image has no support");
    }
}
