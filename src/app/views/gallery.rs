//! The gallery window: browse the bundled Fashion-MNIST / MNIST subsets (or IDX files the user
//! opens) by class, and take an image as a tile (new class, extra alternative, or replacement).

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Image, Sense, Stroke, StrokeKind, Vec2, load::SizedTexture};
use ndarray::Array2;

use crate::app::command::{Command, Edit, InsertAt, NEW_TILE_EPSILON};
use crate::app::jobs::Job;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::number;
use crate::core::idx::{self, BundledSet, IdxImages};
use crate::core::tile::Tile;

use crate::app::ids::PathPurpose;

/// Images shown per page.
const PAGE_SIZE: usize = 40;
/// Images per row of the grid.
const COLUMNS: usize = 8;
/// Side of a gallery thumbnail, in points.
const THUMBNAIL: f32 = 44.0;

/// Images with optional labels and class names: a bundled subset or an opened IDX pair.
pub struct GallerySource {
    /// Shown in the source list.
    pub name: String,
    /// The images.
    pub images: IdxImages,
    /// One label per image, if a label file was given.
    pub labels: Option<Vec<u8>>,
    /// Names of labels 0..9 (bundled sets only).
    pub class_names: Option<[&'static str; 10]>,
}

impl GallerySource {
    /// The readable name of a label.
    pub fn class_name(&self, label: u8) -> String {
        self.class_names
            .and_then(|names| names.get(usize::from(label)).map(|n| (*n).to_owned()))
            .unwrap_or_else(|| format!("class {label}"))
    }

    /// Indices of the images shown under the class filter.
    pub fn filtered(&self, class: Option<u8>) -> Vec<usize> {
        match (&self.labels, class) {
            (Some(labels), Some(class)) => {
                labels.iter().enumerate().filter(|(_, l)| **l == class).map(|(i, _)| i).collect()
            }
            _ => (0..self.images.len()).collect(),
        }
    }
}

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
    loading: Option<(SourceChoice, Job<GallerySource>)>,
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

    /// True while a set is being read in the background.
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Starts reading IDX files in the background; the gallery switches to them when done.
    pub fn open_idx(&mut self, ctx: &egui::Context, images: PathBuf, labels: Option<PathBuf>) {
        self.open = true;
        let job = Job::spawn("reading IDX files", Some(ctx.clone()), move |_| {
            let pixels = idx::load_images(&images).map_err(|e| format!("{}: {e}", images.display()))?;
            let labels = match &labels {
                Some(path) => Some(idx::load_labels(path).map_err(|e| format!("{}: {e}", path.display()))?),
                None => None,
            };
            if let Some(labels) = &labels
                && labels.len() != pixels.len()
            {
                return Err(format!("{} images but {} labels", pixels.len(), labels.len()));
            }
            let name = images.file_name().map_or_else(|| "IDX file".to_owned(), |n| n.to_string_lossy().into_owned());
            Ok(GallerySource { name, images: pixels, labels, class_names: None })
        });
        self.loading = Some((SourceChoice::Opened, job));
    }

    /// Starts loading the chosen bundled set if it is not loaded yet.
    fn ensure_loaded(&mut self, ctx: &egui::Context) {
        if self.loading.is_some() || self.source().is_some() {
            return;
        }
        let set = match self.choice {
            SourceChoice::Fashion => BundledSet::FashionMnist,
            SourceChoice::Mnist => BundledSet::Mnist,
            SourceChoice::Opened => return,
        };
        let job = Job::spawn("loading the gallery", Some(ctx.clone()), move |_| {
            let data = idx::bundled(set).map_err(|e| e.to_string())?;
            let name = match set {
                BundledSet::FashionMnist => "Fashion-MNIST",
                BundledSet::Mnist => "MNIST",
            };
            Ok(GallerySource {
                name: name.to_owned(),
                images: data.images,
                labels: Some(data.labels),
                class_names: Some(set.class_names()),
            })
        });
        self.loading = Some((self.choice, job));
    }

    /// Takes a finished load (errors go to the log).
    fn poll(&mut self, app: &mut AppState) {
        let Some((choice, job)) = &mut self.loading else { return };
        let Some(outcome) = job.poll() else { return };
        let choice = *choice;
        self.loading = None;
        match outcome {
            Ok(source) => {
                let source = Some(Arc::new(source));
                match choice {
                    SourceChoice::Fashion => self.fashion = source,
                    SourceChoice::Mnist => self.mnist = source,
                    SourceChoice::Opened => {
                        self.opened = source;
                        self.choice = SourceChoice::Opened;
                        self.class_filter = None;
                        self.page = 0;
                        self.picked = None;
                    }
                }
            }
            Err(error) => app.error(format!("could not load the gallery: {error}")),
        }
    }
}

/// Draws the gallery window when it is open.
pub fn window_ui(ctx: &egui::Context, app: &mut AppState, gallery: &mut GalleryState, textures: &mut TextureCache) {
    gallery.poll(app);
    if !gallery.open {
        return;
    }
    gallery.ensure_loaded(ctx);
    let mut open = true;
    let window = egui::Window::new("Gallery").open(&mut open).default_width(460.0).default_pos([780.0, 90.0]);
    window.show(ctx, |ui| {
        source_bar_ui(ui, app, gallery);
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
        picked_ui(ui, app, gallery, &source);
    });
    gallery.open &= open;
}

fn source_bar_ui(ui: &mut egui::Ui, app: &mut AppState, gallery: &mut GalleryState) {
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
            app.push(Command::AskPath(PathPurpose::OpenIdx));
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
    app: &mut AppState,
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

fn picked_ui(ui: &mut egui::Ui, app: &mut AppState, gallery: &mut GalleryState, source: &GallerySource) {
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
                    Ok(tile) => app.push(Command::Edit(Edit::Insert { tile, name: name.clone(), at })),
                    Err(error) => app.error(format!("cannot use this image as a tile: {error}")),
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
