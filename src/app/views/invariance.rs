//! The invariance view (the paper's Figure 4, interactive): for chosen tiles, N images with the
//! tile fixed and the background redrawn and N with the background fixed and the tile translated;
//! histograms of every logit of the trained net and of the constructed N1 in the paper's 2-row
//! layout, with mean and spread. An ε slider overrides every tile's ε for N1, and the view counts
//! and lists the images where N1's invariance breaks. The numbers come from
//! `core::experiments::figure4::invariance`, computed in a job; exports go through its `write_outputs`.

use std::path::PathBuf;
use std::sync::Arc;

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::app::export_menu::InvarianceShown;
use crate::app::imported::ImportedNetwork;
use crate::app::jobs::Job;
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::widgets::number;
use crate::core::experiments::figure4::{self, InvarianceResult, Perturbation, PerturbationResult};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::tile::TileId;

/// Bins of every histogram panel.
const BINS: usize = 20;
/// Height of one histogram panel, in points.
const PANEL_HEIGHT: f32 = 150.0;
/// Most broken cases listed (all are counted).
const LISTED_BREAKS: usize = 40;
/// Relative tolerance on "the class logit equals ε" (f32 sums over many windows).
const LOGIT_TOLERANCE: f32 = 1e-4;

/// What the results were computed from (a new request starts a new job).
#[derive(Debug, Clone, PartialEq)]
struct Request {
    classes_version: u64,
    size: (usize, usize),
    tiles: Vec<TileId>,
    samples: usize,
    seed: u64,
    epsilon: Option<f32>,
    every_offset: bool,
    /// The version of the opened ONNX network, when one is open.
    imported: Option<u64>,
}

/// The network compared with N1.
enum Network {
    Cnn(Arc<Cnn>),
    Imported(Arc<ImportedNetwork>),
}

/// Which network the trained row shows, for its heading.
#[derive(Debug, Clone, PartialEq)]
enum Compared {
    Untrained,
    /// The training run's weights of this version.
    Trained(u64),
    /// An opened ONNX network, by file name.
    Imported(String),
}

/// The numbers with the trained weights they were computed with.
struct Computed {
    request: Request,
    result: Arc<InvarianceResult>,
    compared: Compared,
}

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
    /// Folder the exports go to.
    pub export_dir: String,
    job: Option<(Request, Compared, Job<InvarianceResult>)>,
    computed: Option<Computed>,
    error: Option<(Request, String)>,
    export_job: Option<Job<Vec<PathBuf>>>,
}

impl InvarianceViewState {
    /// The study on screen and the network it compares with N1 (what File → Export writes).
    pub fn shown(&self) -> Option<InvarianceShown> {
        let computed = self.computed.as_ref()?;
        Some(InvarianceShown { result: Arc::clone(&computed.result), compared: computed.compared.short_name() })
    }
}

impl Compared {
    /// The network's name in figure captions.
    fn short_name(&self) -> String {
        match self {
            Self::Untrained => "untrained CNN".to_owned(),
            Self::Trained(_) => "trained CNN".to_owned(),
            Self::Imported(name) => format!("network {name}"),
        }
    }
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
            export_dir: "figure4".to_owned(),
            job: None,
            computed: None,
            error: None,
            export_job: None,
        }
    }
}

/// Draws the invariance view.
pub fn ui(ui: &mut egui::Ui, app: &mut AppState, view: &mut InvarianceViewState) {
    poll(app, view);
    let request = request(app, view);
    let stale = view.computed.as_ref().is_none_or(|c| c.request != request);
    let failed = view.error.as_ref().is_some_and(|(r, _)| *r == request);
    if stale && !failed && view.job.is_none() && !request.tiles.is_empty() {
        start(ui.ctx(), app, view, request.clone());
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(280.0);
            settings_ui(ui, app, view);
            ui.separator();
            export_ui(ui, app, view);
        });
        ui.separator();
        ui.vertical(|ui| {
            egui::ScrollArea::vertical().id_salt("invariance results").show(ui, |ui| results_ui(ui, view, &request));
        });
    });
}

fn poll(app: &mut AppState, view: &mut InvarianceViewState) {
    if let Some((request, compared, job)) = &mut view.job
        && let Some(outcome) = job.poll()
    {
        match outcome {
            Ok(result) => {
                view.computed =
                    Some(Computed { request: request.clone(), result: Arc::new(result), compared: compared.clone() });
                view.error = None;
            }
            Err(error) => view.error = Some((request.clone(), error)),
        }
        view.job = None;
    }
    if let Some(job) = &mut view.export_job
        && let Some(outcome) = job.poll()
    {
        view.export_job = None;
        match outcome {
            Ok(paths) => app.info(format!(
                "exported {} files: {}",
                paths.len(),
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )),
            Err(error) => app.error(format!("export failed: {error}")),
        }
    }
}

/// The current request from the settings; the default tiles are those of the first three classes.
fn request(app: &AppState, view: &InvarianceViewState) -> Request {
    let tiles = match &view.tiles {
        Some(tiles) => tiles.iter().copied().filter(|id| app.classes.tile(*id).is_some()).collect(),
        None => (0..app.classes.len().min(3))
            .map(|class| TileId { class, feature: 0, tile: 0 })
            .filter(|id| app.classes.tile(*id).is_some())
            .collect(),
    };
    Request {
        classes_version: app.classes_version,
        size: (app.session.dataset.height, app.session.dataset.width),
        tiles,
        samples: view.samples,
        seed: view.seed,
        epsilon: view.override_epsilon.then_some(view.epsilon),
        every_offset: view.every_offset,
        imported: app.imported.network.as_ref().map(|n| n.version),
    }
}

/// The opened ONNX network when it fits, else the training run's newest weights when they fit,
/// else an untrained CNN of the default architecture.
fn network_for(app: &AppState, request: &Request) -> Result<(Network, Compared), String> {
    let classes = app.classes.len();
    if let Some(network) = &app.imported.network
        && network.mismatch(request.size.0, request.size.1, &app.classes).is_none()
    {
        return Ok((Network::Imported(Arc::clone(network)), Compared::Imported(network.name())));
    }
    if let Some(job) = &app.training {
        let progress = job.progress();
        if let Some(cnn) = progress.cnn.as_ref().filter(|c| {
            let s = c.spec();
            (s.height, s.width, s.classes) == (request.size.0, request.size.1, classes)
        }) {
            return Ok((Network::Cnn(Arc::clone(cnn)), Compared::Trained(progress.version)));
        }
    }
    let (height, width) = request.size;
    let kernel = 5.min(height).min(width);
    let spec = CnnSpec { height, width, kernel, filters: 12, classes };
    Cnn::new(spec, request.seed)
        .map(|cnn| (Network::Cnn(Arc::new(cnn)), Compared::Untrained))
        .map_err(|e| e.to_string())
}

fn start(ctx: &egui::Context, app: &mut AppState, view: &mut InvarianceViewState, request: Request) {
    let (network, compared) = match network_for(app, &request) {
        Ok(found) => found,
        Err(error) => {
            view.error = Some((request, error));
            return;
        }
    };
    let classes = app.classes.clone();
    let job_request = request.clone();
    let job = Job::spawn("Figure 4 study", Some(ctx.clone()), move |_| {
        let r = &job_request;
        let classifier = match &network {
            Network::Cnn(cnn) => figure4::Classifier::Cnn(cnn),
            Network::Imported(imported) => figure4::Classifier::Onnx(&imported.model),
        };
        let settings = figure4::Perturbations {
            samples: r.samples,
            seed: r.seed,
            epsilon_override: r.epsilon,
            every_offset: r.every_offset,
        };
        figure4::invariance(&classes, classifier, &r.tiles, &settings).map_err(|e| e.to_string())
    });
    view.job = Some((request, compared, job));
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
}

fn export_ui(ui: &mut egui::Ui, app: &AppState, view: &mut InvarianceViewState) {
    ui.label(RichText::new("Export").strong());
    ui.horizontal(|ui| {
        ui.label("Folder");
        ui.text_edit_singleline(&mut view.export_dir);
    });
    let Some(computed) = &view.computed else { return };
    if view.export_job.is_some() {
        ui.spinner();
    } else if ui
        .button("Export PNG, SVG and CSV")
        .on_hover_text("Both networks' histograms as PNG and SVG, every logit as CSV, a JSON summary")
        .clicked()
    {
        let dir = resolve_dir(app, &view.export_dir);
        let result = Arc::clone(&computed.result);
        view.export_job = Some(Job::spawn("exporting Figure 4", None, move |_| {
            figure4::write_outputs(&result, &dir).map_err(|e| e.to_string())
        }));
    }
}

/// A relative export folder goes into the data dir (or the working folder without one).
fn resolve_dir(app: &AppState, dir: &str) -> PathBuf {
    let path = PathBuf::from(dir.trim());
    match &app.data_dir {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    }
}

fn results_ui(ui: &mut egui::Ui, view: &InvarianceViewState, request: &Request) {
    if request.tiles.is_empty() {
        ui.label("Choose at least one tile.");
        return;
    }
    if let Some((r, error)) = &view.error
        && r == request
    {
        ui.colored_label(theme::ERROR, format!("Cannot compute: {error}"));
    }
    if view.job.is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("computing…");
        });
    }
    let Some(computed) = &view.computed else { return };
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
    if computed.request.imported.is_some() && !matches!(computed.compared, Compared::Imported(_)) {
        ui.colored_label(theme::WARNING, "The opened network does not fit this dataset (see the left): not shown.");
    }
    grid_ui(ui, result, "trained", |p| &p.trained);
    ui.separator();
    let epsilon = computed
        .request
        .epsilon
        .map_or_else(|| "each tile's own ε".to_owned(), |e| format!("ε = {e:.3} for every tile"));
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
                    let (mean, std) = mean_std(logits, tile.label);
                    ui.small(format!("class logit {mean:.3} ± {std:.3}"));
                });
            }
        });
    }
}

/// Histograms of every logit over the images, with bins shared by the panel.
fn histogram_ui(ui: &mut egui::Ui, id: &str, logits: &[Vec<f32>], names: &[String], width: f32) {
    let (low, high) = range(logits);
    let bin_width = (high - low) / BINS as f64;
    Plot::new(id).width(width).height(PANEL_HEIGHT).allow_drag(false).allow_zoom(false).allow_scroll(false).show(
        ui,
        |plot| {
            for (class, name) in names.iter().enumerate() {
                let counts =
                    histogram(logits.iter().filter_map(|l| l.get(class)).map(|&v| f64::from(v)), low, bin_width);
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

/// The shared bin range of all finite logits; a single value gets a unit-wide range around it.
fn range(logits: &[Vec<f32>]) -> (f64, f64) {
    let values = logits.iter().flatten().filter(|v| v.is_finite()).map(|&v| f64::from(v));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !low.is_finite() {
        (0.0, 1.0)
    } else if high - low < 1e-9 {
        (low - 0.5, high + 0.5)
    } else {
        (low, high)
    }
}

/// Counts of `values` in `BINS` bins of `bin_width` from `low` (the top edge belongs to the last bin).
fn histogram(values: impl Iterator<Item = f64>, low: f64, bin_width: f64) -> Vec<usize> {
    let mut counts = vec![0; BINS];
    for v in values.filter(|v| v.is_finite()) {
        let bin = ((v - low) / bin_width).floor().max(0.0) as usize;
        counts[bin.min(BINS - 1)] += 1;
    }
    counts
}

/// Mean and standard deviation of logit `class` over the images.
fn mean_std(logits: &[Vec<f32>], class: usize) -> (f32, f32) {
    let values: Vec<f64> = logits.iter().filter_map(|l| l.get(class)).map(|&v| f64::from(v)).collect();
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean as f32, var.sqrt() as f32)
}

/// One image on which the constructed net is not invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// Name of the tile's class.
    pub tile: String,
    pub kind: Perturbation,
    /// Index of the image in its perturbation set.
    pub image: usize,
    /// Where the tile was pasted.
    pub offset: (usize, usize),
    /// What went wrong.
    pub what: String,
}

/// The images where N1's logits are not exactly "ε for the tile's class, 0 for every other":
/// windows near the tile that match partially (class logit above ε), another class's tile
/// matched (another positive logit), or the tile not detected.
pub fn breaks(result: &InvarianceResult) -> Vec<Break> {
    let mut found = Vec::new();
    for tile in &result.tiles {
        for perturbation in [&tile.background, &tile.translation] {
            for (image, logits) in perturbation.constructed.iter().enumerate() {
                let offset = perturbation.offsets.get(image).copied().unwrap_or_default();
                let mut problems = Vec::new();
                let own = logits.get(tile.label).copied().unwrap_or(0.0);
                if own <= 0.0 {
                    problems.push("the tile's class is not detected".to_owned());
                } else if own > tile.epsilon * (1.0 + LOGIT_TOLERANCE) + LOGIT_TOLERANCE {
                    problems.push(format!(
                        "windows near the tile match partially: class logit {own:.3} > ε = {:.3}",
                        tile.epsilon
                    ));
                }
                for (class, &value) in logits.iter().enumerate() {
                    if class != tile.label && value > 0.0 {
                        let name = result.class_names.get(class).map_or("?", String::as_str);
                        problems.push(format!("class '{name}' matched too (logit {value:.3})"));
                    }
                }
                if !problems.is_empty() {
                    found.push(Break {
                        tile: tile.name.clone(),
                        kind: perturbation.kind,
                        image,
                        offset,
                        what: problems.join("; "),
                    });
                }
            }
        }
    }
    found
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

#[cfg(test)]
// A logit that does not move has a standard deviation of exactly 0: exact comparison is the check.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::core::presets;

    fn study(epsilon: Option<f32>) -> InvarianceResult {
        let classes = presets::fashion_three();
        let cnn = Cnn::new(CnnSpec { classes: 3, ..CnnSpec::fashion() }, 1).unwrap();
        let tiles: Vec<TileId> = (0..3).map(|class| TileId { class, feature: 0, tile: 0 }).collect();
        let settings = figure4::Perturbations { epsilon_override: epsilon, ..figure4::Perturbations::random(8, 3) };
        figure4::invariance(&classes, figure4::Classifier::Cnn(&cnn), &tiles, &settings).unwrap()
    }

    #[test]
    fn small_epsilon_has_no_breaks_and_a_flat_class_logit() {
        let result = study(None);
        assert_eq!(breaks(&result), Vec::new());
        for tile in &result.tiles {
            let (mean, std) = mean_std(&tile.background.constructed, tile.label);
            assert_eq!(std, 0.0, "the true logit does not move under background perturbations");
            assert!((mean - tile.epsilon).abs() < 1e-3);
        }
    }

    #[test]
    fn a_huge_epsilon_breaks_invariance_and_says_how() {
        let found = breaks(&study(Some(400.0)));
        assert!(!found.is_empty());
        assert!(found.iter().any(|b| b.what.contains("matched too") || b.what.contains("near the tile")), "{found:?}");
    }

    #[test]
    fn histograms_count_every_value_once() {
        let values = [0.0, 0.5, 1.0, 1.0, f64::NAN, -3.0];
        let counts = histogram(values.into_iter(), 0.0, 1.0 / BINS as f64);
        assert_eq!(counts.iter().sum::<usize>(), 5, "NaN is skipped, values below the range go to the first bin");
        assert_eq!(counts[BINS - 1], 2, "the top edge belongs to the last bin");
        assert_eq!(range(&[vec![2.0, 2.0]]), (1.5, 2.5));
        assert_eq!(range(&[]), (0.0, 1.0));
        assert_eq!(mean_std(&[vec![1.0], vec![3.0]], 0), (2.0, 1.0));
    }
}
