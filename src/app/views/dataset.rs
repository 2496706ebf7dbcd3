//! The dataset view: settings (size, background, seed, samples per class, jitter), the warnings,
//! the rejected samples of the valid-set rule, a grid of samples, and one sample opened large
//! with an overlay of where each tile was pasted; "Export as NumPy…" writes the current dataset's
//! files (File → Export → Dataset as NumPy…).

use egui::{Color32, Image, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2, load::SizedTexture};

use crate::app::command::Command;
use crate::app::ids::{DATASET_FILES_HINT, ExportKind};
use crate::app::settings::{BackgroundChoice, DatasetSettings};
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::number;
use crate::core::dataset::{MAX_INTERACTIVE_SIDE, Sample};
use crate::core::detect;

use crate::app::ids::PathPurpose;

/// Most samples per class offered.
const MAX_SAMPLES_PER_CLASS: usize = 2000;
/// Samples drawn in the grid at most (more would only slow the frame down).
const GRID_LIMIT: usize = 120;

/// What the dataset view remembers between frames.
#[derive(Debug, Default)]
pub struct DatasetViewState {
    /// Index of the sample opened large.
    pub opened: Option<usize>,
    /// Only samples of this label in the grid.
    pub class_filter: Option<usize>,
}

/// Draws the dataset view (and asks for generation when the dataset is missing or stale).
pub fn ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut DatasetViewState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    if app.dataset_needs_generation() {
        commands.push(Command::GenerateDataset);
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(300.0);
            settings_ui(ui, app, commands);
            ui.separator();
            report_ui(ui, app);
        });
        ui.separator();
        ui.vertical(|ui| grid_ui(ui, app, view, textures));
    });
    opened_ui(ui.ctx(), app, view, textures);
}

fn settings_ui(ui: &mut egui::Ui, app: &AppState, commands: &mut Vec<Command>) {
    ui.heading("Settings");
    let mut settings = app.session.dataset.clone();
    ui.add(number::slider(&mut settings.height, 1..=MAX_INTERACTIVE_SIDE, "Height"));
    ui.add(number::slider(&mut settings.width, 1..=MAX_INTERACTIVE_SIDE, "Width"));
    ui.add(
        number::slider(&mut settings.samples_per_class, 1..=MAX_SAMPLES_PER_CLASS, "Samples per class")
            .logarithmic(true),
    );
    background_ui(ui, &mut settings, commands);
    ui.add(number::slider(&mut settings.jitter, 0.0..=0.99, "Jitter")).on_hover_text(
        "Random pixel noise added to the pasted tile, as a fraction of ε: the pasted window stays within d_T < ε.",
    );
    ui.horizontal(|ui| {
        ui.label("Seed");
        ui.add(number::field(&mut settings.seed));
        if ui.button("New samples").on_hover_text("Seed + 1: a fresh draw with the same settings").clicked() {
            settings.seed = settings.seed.wrapping_add(1);
        }
    });
    if settings != app.session.dataset {
        commands.push(Command::SetDatasetSettings(settings));
    }
    if app.cache.dataset_job().is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("generating…");
        });
    } else if ui
        .button("Regenerate")
        .on_hover_text("Generate again now (same settings give the same samples)")
        .clicked()
    {
        commands.push(Command::GenerateDataset);
    }
    let export = ui
        .add_enabled(app.dataset_is_current(), egui::Button::new("Export as NumPy…"))
        .on_hover_text(DATASET_FILES_HINT)
        .on_disabled_hover_text("Generate the dataset first: the export writes the dataset the settings make");
    if export.clicked() {
        commands.push(Command::AskExport(ExportKind::DatasetNpy));
    }
}

fn background_ui(ui: &mut egui::Ui, settings: &mut DatasetSettings, commands: &mut Vec<Command>) {
    let label = |b: &BackgroundChoice| match b {
        BackgroundChoice::Uniform => "Uniform noise",
        BackgroundChoice::Smooth { .. } => "Smooth noise",
        BackgroundChoice::Constant { .. } => "Constant",
        BackgroundChoice::Gradient { .. } => "Gradient",
        BackgroundChoice::ImageFile { .. } => "Image from file",
        BackgroundChoice::Picture(_) => "Picture",
    };
    let choices = [
        BackgroundChoice::Uniform,
        BackgroundChoice::Smooth { cell: 8 },
        BackgroundChoice::Constant { value: 0.5 },
        BackgroundChoice::Gradient { angle_degrees: 45.0 },
    ];
    egui::ComboBox::from_label("Background").selected_text(label(&settings.background)).show_ui(ui, |ui| {
        for choice in choices {
            let selected = std::mem::discriminant(&choice) == std::mem::discriminant(&settings.background);
            if ui.selectable_label(selected, label(&choice)).clicked() && !selected {
                settings.background = choice;
            }
        }
        if ui
            .selectable_label(matches!(settings.background, BackgroundChoice::ImageFile { .. }), "Image from file…")
            .clicked()
        {
            commands.push(Command::AskPath(PathPurpose::BackgroundImage));
        }
    });
    match &mut settings.background {
        BackgroundChoice::Uniform => {}
        BackgroundChoice::Smooth { cell } => {
            ui.add(number::slider(cell, 1..=64, "Cell size"));
        }
        BackgroundChoice::Constant { value } => {
            ui.add(number::slider(value, 0.0..=1.0, "Grey value"));
        }
        BackgroundChoice::Gradient { angle_degrees } => {
            ui.add(number::slider(angle_degrees, 0.0..=360.0, "Angle (degrees)"));
        }
        BackgroundChoice::ImageFile { path } => {
            ui.label(format!("Image: {}", path.display()));
        }
        BackgroundChoice::Picture(picture) => {
            ui.label(format!("A {}×{} picture kept with the work", picture.nrows(), picture.ncols()));
        }
    }
}

/// Errors, warnings and the rejections of the valid-set rule.
fn report_ui(ui: &mut egui::Ui, app: &AppState) {
    if let Some(error) = app.cache.dataset_error() {
        ui.colored_label(theme::ERROR, error);
    }
    // An invalid setting is also the first "warning": say it once.
    for warning in app.cache.dataset_warnings().iter().filter(|w| app.cache.dataset_error() != Some(w.as_str())) {
        ui.colored_label(theme::WARNING, format!("Warning: {warning}"));
    }
    let Some(data) = app.dataset() else { return };
    ui.heading("Valid-set rule");
    ui.label(format!(
        "A sample must contain its own class's object and no other. {} drawn samples broke this and were redrawn.",
        data.rejections.total
    ));
    let name =
        |label: usize| app.classes.classes.get(label).map_or_else(|| format!("class {label}"), |o| o.name.clone());
    for &(label, other, count) in &data.rejections.by_pair {
        ui.label(format!("• {count}× a '{}' sample also contained '{}'", name(label), name(other)));
    }
}

fn grid_ui(ui: &mut egui::Ui, app: &AppState, view: &mut DatasetViewState, textures: &mut TextureCache) {
    let Some(data) = app.dataset().cloned() else {
        ui.label("No samples yet.");
        return;
    };
    ui.horizontal(|ui| {
        ui.heading(format!("{} samples", data.samples.len()));
        let current =
            view.class_filter.and_then(|c| app.classes.classes.get(c)).map_or("All classes", |o| o.name.as_str());
        egui::ComboBox::from_label("Show").selected_text(current).show_ui(ui, |ui| {
            ui.selectable_value(&mut view.class_filter, None, "All classes");
            for (label, object) in app.classes.classes.iter().enumerate() {
                ui.selectable_value(&mut view.class_filter, Some(label), object.name.as_str());
            }
        });
    });
    let rendering = app.session.rendering;
    let columns = ((ui.available_width() / (theme::SAMPLE_SIZE + 8.0)) as usize).max(1);
    egui::ScrollArea::vertical().id_salt("dataset grid").show(ui, |ui| {
        let shown = data
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| view.class_filter.is_none_or(|c| s.label == c))
            .take(GRID_LIMIT);
        egui::Grid::new("samples").spacing(Vec2::splat(6.0)).show(ui, |ui| {
            for (n, (index, sample)) in shown.enumerate() {
                let key = format!("sample {index}");
                let stamp = app.cache.dataset_generation() * 2 + rendering as u64;
                let texture = textures.get(ui.ctx(), &key, stamp, || theme::grey_image(sample.image.view(), rendering));
                let name = app.classes.classes.get(sample.label).map_or("?", |o| o.name.as_str());
                ui.vertical(|ui| {
                    let size = theme::fit_within(sample.image.dim(), theme::SAMPLE_SIZE);
                    let image = Image::from_texture(SizedTexture::new(texture.id(), size))
                        .alt_text(format!("sample {index}: {name}"))
                        .sense(Sense::click());
                    if ui.add(image).on_hover_text("Click to open").clicked() {
                        view.opened = Some(index);
                    }
                    ui.small(name);
                });
                if (n + 1) % columns == 0 {
                    ui.end_row();
                }
            }
        });
    });
}

/// The opened sample, large, with the placements outlined and the direct logits.
fn opened_ui(ctx: &egui::Context, app: &AppState, view: &mut DatasetViewState, textures: &mut TextureCache) {
    let Some(index) = view.opened else { return };
    let Some(sample) = app.dataset().and_then(|d| d.samples.get(index)).cloned() else {
        view.opened = None;
        return;
    };
    let mut open = true;
    let window = egui::Window::new(format!("Sample {index}")).open(&mut open).default_pos([700.0, 120.0]);
    window.show(ctx, |ui| {
        let name = app.classes.classes.get(sample.label).map_or("?", |o| o.name.as_str()).to_owned();
        ui.label(format!("Label: {} ({name})", sample.label));
        large_sample_ui(ui, app, textures, index, &sample);
        for placement in &sample.placements {
            ui.label(format!(
                "{} pasted at row {}, column {} ({}×{})",
                app.classes.tile_label(placement.tile),
                placement.row,
                placement.col,
                placement.rows,
                placement.cols
            ));
        }
        let logits = detect::logits(&app.classes, sample.image.view());
        let text: Vec<String> =
            logits.iter().zip(&app.classes.classes).map(|(l, o)| format!("{}: {l:.3}", o.name)).collect();
        ui.label(format!("Direct logits φ: {}", text.join(", ")));
    });
    if !open {
        view.opened = None;
    }
}

fn large_sample_ui(ui: &mut egui::Ui, app: &AppState, textures: &mut TextureCache, index: usize, sample: &Sample) {
    let (rows, cols) = sample.image.dim();
    let cell = (400.0 / rows.max(cols).max(1) as f32).clamp(1.0, 16.0);
    let rendering = app.session.rendering;
    let texture = textures.get(
        ui.ctx(),
        &format!("sample {index}"),
        app.cache.dataset_generation() * 2 + rendering as u64,
        || theme::grey_image(sample.image.view(), rendering),
    );
    let (rect, _) = ui.allocate_exact_size(Vec2::new(cols as f32 * cell, rows as f32 * cell), Sense::hover());
    let painter = ui.painter_at(rect);
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    for placement in &sample.placements {
        let min = rect.min + Vec2::new(placement.col as f32, placement.row as f32) * cell;
        let outline = Rect::from_min_size(min, Vec2::new(placement.cols as f32, placement.rows as f32) * cell);
        painter.rect_stroke(outline, 0.0, Stroke::new(2.0, theme::PLACEMENT_OUTLINE), StrokeKind::Inside);
    }
}
