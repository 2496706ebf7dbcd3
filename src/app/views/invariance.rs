//! The invariance view (the paper's Figure 4, interactive): for chosen tiles, N images with the
//! tile fixed and the background redrawn and N with the background fixed and the tile translated;
//! histograms of every logit of the trained net and of the constructed N1 in the paper's 2-row
//! layout, with mean and spread. An ε slider overrides every tile's ε for N1, and the view counts
//! and lists the images where N1's invariance breaks. The numbers come from
//! `core::experiments::figure4::invariance`, computed into the app's cache (`Command::StudyFigure4`,
//! shared with the lecture); the export is `ExportKind::Figure4Study` (its `write_outputs`).
//! The third perturbation, small deformations of amplitude τ, is in `deformation`.

mod deformation;

use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::app::cache::{Cache, Compared, Study, StudyKey, StudyNetwork};
use crate::app::command::Command;
use crate::app::export_job::InvarianceShown;
use crate::app::ids::ExportKind;
use crate::app::state::AppState;
use crate::app::storage;
use crate::app::theme;
use crate::app::widgets::heatmap;
use crate::app::widgets::number;
use crate::app::widgets::path_field::{default_folder, expand_typed};
use crate::core::experiments::figure4::{InvarianceResult, Perturbation, PerturbationResult, Spread};
use crate::core::experiments::figure4_analysis::{bin_range, breaks, histogram};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::tile::TileId;

/// Bins of every histogram panel.
const BINS: usize = 20;
/// Height of one histogram panel, in points.
const PANEL_HEIGHT: f32 = 150.0;
/// Most broken cases listed (all are counted).
const LISTED_BREAKS: usize = 40;

/// What the invariance view remembers between frames.
pub struct InvarianceViewState {
    /// Tiles studied (`None`: the first tile of the first three classes).
    pub tiles: Option<Vec<TileId>>,
    /// Images per tile and perturbation.
    pub samples: usize,
    pub seed: u64,
    /// True when the ε slider overrides every tile's ε for the constructed net.
    pub override_epsilon: bool,
    pub epsilon: f32,
    /// Translate the tile to every valid offset instead of `samples` random ones.
    pub every_offset: bool,
    /// Folder the exports go to (empty until first shown: then `figure4` in the default folder).
    pub export_dir: String,
    /// Amplitude τ of the small deformations, in pixels.
    pub tau: f32,
}

/// The newest study of this view (the lecture's, pinned to a weights version, are not shown here).
fn shown_study(cache: &Cache) -> Option<&(StudyKey, Arc<Study>)> {
    cache.figure4().done().filter(|(key, _)| key.weights.is_none())
}

/// The study on screen and the network it compares with N1 (what File → Export writes).
pub fn shown(cache: &Cache) -> Option<InvarianceShown> {
    let (_, computed) = shown_study(cache)?;
    let deformation = cache.deformation().done().map(|(_, study)| Arc::clone(study));
    Some(InvarianceShown {
        result: Arc::clone(&computed.result),
        compared: computed.compared.short_name(),
        deformation,
    })
}

impl Default for InvarianceViewState {
    fn default() -> Self {
        Self {
            tiles: None,
            samples: 100,
            seed: 1,
            override_epsilon: false,
            epsilon: 2.0,
            every_offset: false,
            export_dir: String::new(),
            tau: 1.0,
        }
    }
}

/// Draws the invariance view.
pub fn ui(ui: &mut egui::Ui, app: &AppState, view: &mut InvarianceViewState, commands: &mut Vec<Command>) {
    let request = request(app, view);
    if app.cache.figure4().needs(&request) && !request.tiles.is_empty() {
        let network = network_for(app, &request);
        commands.push(Command::StudyFigure4 { key: request.clone(), network });
    }
    let deformed = deformation::request(app, &request, view.tau, trained_version(app, &request));
    deformation::ask(app, &deformed, || network_for(app, &request), commands);
    let invalid_scattering = app.session.scattering.check(request.size.0, request.size.1).err().map(|e| e.to_string());
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(280.0);
            settings_ui(ui, app, view);
            ui.separator();
            export_ui(ui, app, view, commands);
        });
        ui.separator();
        ui.vertical(|ui| {
            egui::ScrollArea::vertical().id_salt("invariance results").show(ui, |ui| {
                results_ui(ui, &app.cache, &request);
                // When the study above failed, its message already says why the deformed images fail too.
                if !request.tiles.is_empty() && app.cache.figure4().error(&request).is_none() {
                    deformation::results_ui(ui, &app.cache, &deformed, invalid_scattering.as_deref());
                }
            });
        });
    });
}

/// The current request from the settings; the default tiles are those of the first three classes.
fn request(app: &AppState, view: &InvarianceViewState) -> StudyKey {
    let tiles = match &view.tiles {
        Some(tiles) => tiles.iter().copied().filter(|id| app.classes.tile(*id).is_some()).collect(),
        None => (0..app.classes.len().min(3))
            .map(|class| TileId { class, feature: 0, tile: 0 })
            .filter(|id| app.classes.tile(*id).is_some())
            .collect(),
    };
    StudyKey {
        classes_version: app.classes_version,
        size: (app.session.dataset.height, app.session.dataset.width),
        tiles,
        samples: view.samples,
        seed: view.seed,
        epsilon: view.override_epsilon.then_some(view.epsilon),
        every_offset: view.every_offset,
        imported: app.imported.network.as_ref().map(|n| n.version),
        weights: None,
    }
}

/// The opened ONNX network when it fits, else the training run's newest weights when they fit,
/// else an untrained CNN of the default architecture.
fn network_for(app: &AppState, request: &StudyKey) -> Result<StudyNetwork, String> {
    let classes = app.classes.len();
    if let Some(network) = &app.imported.network
        && network.mismatch(request.size.0, request.size.1, &app.classes).is_none()
    {
        return Ok(StudyNetwork::Imported(Arc::clone(network)));
    }
    if let Some(job) = &app.training {
        let progress = job.progress();
        if let Some(cnn) = progress.cnn.as_ref().filter(|c| {
            let s = c.spec();
            (s.height, s.width, s.classes) == (request.size.0, request.size.1, classes)
        }) {
            return Ok(StudyNetwork::Trained(Arc::clone(cnn), progress.version));
        }
        if let Some(net) = progress.net.as_ref().filter(|n| {
            let a = n.arch();
            (a.height, a.width, a.classes) == (request.size.0, request.size.1, classes)
        }) {
            return Ok(StudyNetwork::Deep(Arc::clone(net), progress.version));
        }
        if let Some(net) = progress.shaped.as_ref().filter(|n| (n.input(), n.classes()) == (request.size, classes)) {
            return Ok(StudyNetwork::Shaped(Arc::clone(net), progress.version));
        }
    }
    let (height, width) = request.size;
    let kernel = 5.min(height).min(width);
    let spec = CnnSpec { height, width, kernel, filters: 12, classes };
    Cnn::new(spec, request.seed).map(|cnn| StudyNetwork::Untrained(Arc::new(cnn))).map_err(|e| e.to_string())
}

/// The paused training run's weights version when its network fits the request (what
/// [`network_for`] compares unless a network is opened), without making a network. While the run
/// trains it is `None` (the newest weights when a study starts), so a study is not restarted per step.
fn trained_version(app: &AppState, request: &StudyKey) -> Option<u64> {
    let progress = app.training.as_ref()?.progress();
    if progress.running {
        return None;
    }
    let size = match (&progress.net, &progress.shaped) {
        (Some(net), _) => (net.arch().height, net.arch().width, net.arch().classes),
        (None, Some(shaped)) => (shaped.input().0, shaped.input().1, shaped.classes()),
        (None, None) => return None,
    };
    (size == (request.size.0, request.size.1, app.classes.len())).then_some(progress.version)
}

fn settings_ui(ui: &mut egui::Ui, app: &AppState, view: &mut InvarianceViewState) {
    ui.heading("Figure 4");
    let (height, width) = (app.session.dataset.height, app.session.dataset.width);
    if let Some(problem) = app.imported.network.as_ref().and_then(|n| n.mismatch(height, width, &app.classes)) {
        ui.colored_label(theme::WARNING, format!("The opened network is not compared: {problem}"));
    }
    ui.label("Tiles studied:");
    let current = request(app, view).tiles;
    let mut chosen = current.clone();
    for (id, _) in app.classes.tiles() {
        let mut on = chosen.contains(&id);
        if ui.checkbox(&mut on, app.classes.tile_label(id)).changed() {
            if on {
                chosen.push(id);
            } else {
                chosen.retain(|t| *t != id);
            }
        }
    }
    if chosen != current {
        view.tiles = Some(chosen);
    }
    ui.add(number::slider(&mut view.samples, 10..=500, "images per perturbation").logarithmic(true));
    ui.checkbox(&mut view.every_offset, "Translate over every valid offset (else random ones)");
    ui.horizontal(|ui| {
        ui.label("Seed");
        ui.add(number::field(&mut view.seed));
    });
    ui.separator();
    ui.checkbox(&mut view.override_epsilon, "Override ε of the constructed net");
    ui.add_enabled(view.override_epsilon, number::slider(&mut view.epsilon, 0.01..=1000.0, "ε").logarithmic(true));
    ui.small(
        "A large ε lets windows near the tile, or other classes' tiles, match too: the constructed logits then move.",
    );
    deformation::settings_ui(ui, &mut view.tau);
}

fn export_ui(ui: &mut egui::Ui, app: &AppState, view: &mut InvarianceViewState, commands: &mut Vec<Command>) {
    ui.label(RichText::new("Export").strong());
    // A page has no folders: there the study downloads as one ZIP archive.
    if storage::FILE_PATHS {
        if view.export_dir.is_empty() {
            let folder = default_folder(app.session.last_folder.as_deref(), app.session.tileset_path.as_deref());
            view.export_dir = folder.join("figure4").display().to_string();
        }
        ui.horizontal(|ui| {
            ui.label("Folder");
            ui.text_edit_singleline(&mut view.export_dir);
        });
    }
    if shown_study(&app.cache).is_none() {
        return;
    }
    let label = if storage::FILE_PATHS { "Export PNG, SVG and CSV" } else { "Download PNG, SVG and CSV (ZIP)" };
    if ui
        .button(label)
        .on_hover_text("Both networks' histograms as PNG and SVG, every logit as CSV, a JSON summary")
        .clicked()
    {
        if storage::FILE_PATHS {
            let dir = resolve_dir(app, &view.export_dir);
            commands.push(Command::SetLastFolder(dir.parent().map(PathBuf::from)));
            commands.push(Command::Export { kind: ExportKind::Figure4Study, path: dir });
        } else {
            commands.push(Command::AskExport(ExportKind::Figure4Study));
        }
    }
}

/// The typed folder (`~` is the home folder); a relative one goes into the default folder.
fn resolve_dir(app: &AppState, dir: &str) -> PathBuf {
    let path = expand_typed(dir);
    if path.is_relative() {
        default_folder(app.session.last_folder.as_deref(), app.session.tileset_path.as_deref()).join(path)
    } else {
        path
    }
}

fn results_ui(ui: &mut egui::Ui, cache: &Cache, request: &StudyKey) {
    if request.tiles.is_empty() {
        ui.label("Choose at least one tile.");
        return;
    }
    if let Some(error) = cache.figure4().error(request) {
        ui.colored_label(theme::ERROR, format!("Cannot compute: {error}"));
    }
    if cache.figure4().is_running() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("computing…");
        });
    }
    let Some((computed_for, computed)) = shown_study(cache) else { return };
    let result = &computed.result;
    let trained_name = match &computed.compared {
        Compared::Trained(_) => "Trained CNN (the training run's weights when computed)".to_owned(),
        Compared::Untrained => {
            "Untrained CNN (start training in the Training view for the paper's trained net)".to_owned()
        }
        Compared::Imported(name) => format!("Imported network {name}"),
    };
    colour_key_ui(ui, &result.class_names);
    ui.heading(trained_name);
    if computed_for.imported.is_some() && !matches!(computed.compared, Compared::Imported(_)) {
        ui.colored_label(theme::WARNING, "The opened network does not fit this dataset (see the left): not shown.");
    }
    grid_ui(ui, result, "trained", |p| &p.trained);
    ui.separator();
    let epsilon =
        computed_for.epsilon.map_or_else(|| "each tile's own ε".to_owned(), |e| format!("ε = {e:.3} for every tile"));
    ui.heading(format!("Constructed N1 ({epsilon})"));
    grid_ui(ui, result, "constructed", |p| &p.constructed);
    ui.separator();
    breaks_ui(ui, result);
}

/// The paper's 2-row layout: rows = perturbation, columns = tiles, one histogram per logit.
fn grid_ui(
    ui: &mut egui::Ui,
    result: &InvarianceResult,
    network: &str,
    logits_of: impl Fn(&PerturbationResult) -> &Vec<Vec<f32>>,
) {
    let columns = result.tiles.len().max(1);
    let width = (ui.available_width() / columns as f32 - 8.0).max(120.0);
    for kind in [Perturbation::Background, Perturbation::Translation] {
        ui.horizontal_top(|ui| {
            for tile in &result.tiles {
                let perturbation = match kind {
                    Perturbation::Background => &tile.background,
                    Perturbation::Translation => &tile.translation,
                };
                ui.vertical(|ui| {
                    ui.set_width(width);
                    ui.small(format!("'{}' ({})", tile.name, kind.name()));
                    let logits = logits_of(perturbation);
                    histogram_ui(
                        ui,
                        &format!("{network} {} {}", tile.name, kind.name()),
                        logits,
                        &result.class_names,
                        width,
                    );
                    let spread = Spread::of(logits);
                    let (mean, std) = (spread.mean.get(tile.label), spread.std.get(tile.label));
                    if let (Some(mean), Some(std)) = (mean, std) {
                        ui.small(format!("class logit {}", heatmap::format_spread(*mean, *std)));
                    }
                });
            }
        });
    }
}

/// Histograms of every logit over the images, with bins shared by the panel.
fn histogram_ui(ui: &mut egui::Ui, id: &str, logits: &[Vec<f32>], names: &[String], width: f32) {
    let (low, high) = bin_range(logits);
    let bin_width = (high - low) / BINS as f64;
    Plot::new(id).width(width).height(PANEL_HEIGHT).allow_drag(false).allow_zoom(false).allow_scroll(false).show(
        ui,
        |plot| {
            for (class, name) in names.iter().enumerate() {
                let values = logits.iter().filter_map(|l| l.get(class)).map(|&v| f64::from(v));
                let counts = histogram(values, low, bin_width, BINS);
                let bars: Vec<Bar> = counts
                    .iter()
                    .enumerate()
                    .filter(|&(_, &n)| n > 0)
                    .map(|(b, &n)| Bar::new(low + (b as f64 + 0.5) * bin_width, n as f64).width(bin_width))
                    .collect();
                plot.bar_chart(BarChart::new(name.as_str(), bars).color(class_color(class)));
            }
        },
    );
}

/// A distinct colour per class, the same in every panel and in the exported figures.
fn class_color(class: usize) -> egui::Color32 {
    let (r, g, b) = crate::core::plot::series_rgb(class);
    egui::Color32::from_rgb(r, g, b)
}

/// Which colour is which logit.
fn colour_key_ui(ui: &mut egui::Ui, names: &[String]) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Logits:");
        for (class, name) in names.iter().enumerate() {
            let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(10.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, class_color(class));
            ui.label(name);
        }
    });
}

fn breaks_ui(ui: &mut egui::Ui, result: &InvarianceResult) {
    let found = breaks(result);
    let total = result.tiles.len() * result.samples * 2;
    if found.is_empty() {
        ui.label(
            RichText::new(format!(
                "N1 is exactly invariant on all {total} images: the class logit is ε, every other logit 0."
            ))
            .strong(),
        );
        return;
    }
    ui.label(
        RichText::new(format!("N1's invariance breaks on {} of {total} images", found.len()))
            .color(theme::WARNING)
            .strong(),
    );
    egui::Grid::new("breaks").striped(true).show(ui, |ui| {
        for b in found.iter().take(LISTED_BREAKS) {
            ui.label(format!("'{}' {} #{} at ({}, {})", b.tile, b.kind.name(), b.image, b.offset.0, b.offset.1));
            ui.label(&b.what);
            ui.end_row();
        }
    });
    if found.len() > LISTED_BREAKS {
        ui.small(format!("… and {} more", found.len() - LISTED_BREAKS));
    }
}
