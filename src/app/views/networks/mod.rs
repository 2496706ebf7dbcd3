//! The networks view: one input image (a dataset sample, a fresh random sample, or a tile dragged
//! to a new place) through the constructed network (N1 or N2, or the wavelet scattering network
//! in `scattering`) beside the SGD-trained CNN, layer by layer; the logits of direct φ, the
//! constructed, scattering and trained networks; and the measured selectivity of their hidden units.
//!
//! Heavy work runs in the app's cache, shared with the lecture: building N1/N2 (by tile-set version
//! and image size), the constructed forward pass (latest input wins), and the selectivity
//! measurement; the opened network's and the training run's forward passes are keyed results of
//! the cache too (by model or weights version and input). Under the input, `attribution` shows
//! where each side's decision comes from; below the logits, `interpret_scores` scores both
//! networks against ground truth.
//! the cache too (by model or weights version and input). Clicking a unit on either side opens
//! the unit inspector (`unit_inspector`): what the unit wants to see, computed in the cache.

pub mod attribution;
mod constructed;
mod imported;
pub mod input;
pub mod interpret_scores;
mod scattering;
pub mod selectivity_panel;
mod trained;
mod trained_layers;
mod trained_shaped;
pub mod unit_inspector;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::app::cache::{
    DeepKey, DeepPass, Forward, ForwardKey, Inspected, NetKey, ScatteringRequest, ShapedPass, TrainedUnits, UnitModel,
    UnitNetwork, WindowKey, build_failure, image_key,
};
use crate::app::command::{Command, Level};
use crate::app::imported::{ImportedForward, ImportedNetwork};
use crate::app::settings::DatasetSettings;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap::CellRect;
use crate::app::widgets::number;
use crate::core::construct::choice::BuiltNetwork;
use crate::core::construct::{Constructed, Which, n1_fits};
use crate::core::detect;
use crate::core::nn::cnn::{Cnn, CnnActivations, argmax};
use crate::core::nn::n2_shaped::N2Shaped;

use constructed::{ConstructedView, NetworkFrame};
use imported::{ImportedFrame, ImportedView};
use input::{DragState, InputImage};
use selectivity_panel::SelectivityPanel;
use trained::{TrainedFrame, TrainedView};
use unit_inspector::UnitInspector;

use crate::app::widgets::scattering as drawing;

/// The training run's weights, their forward pass of an input, and the pass's key in the cache
/// (weights version, image key).
type TrainedPass = (Arc<Cnn>, Arc<CnnActivations>, (u64, u64));

/// Width of the left column (input, logits, selectivity), in points.
const LEFT_WIDTH: f32 = 330.0;

/// What the pointer is on: a sentence about the neuron and its receptive field on the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Hover {
    pub text: String,
    /// Input pixels `(row, col, rows, cols)` the neuron reads.
    pub field: Option<CellRect>,
}

/// What a constructed network is built from: tile-set version, image size, which network.
type BuildKey = (u64, usize, usize, Which);

/// What the trained side shows: the paper network's pass, the logits of another architecture's
/// run, an opened model's pass, the scattering network.
type TrainedSide<'a> =
    (Option<&'a TrainedPass>, Option<Vec<f32>>, Option<&'a ImportedForward>, Option<&'a ScatteringRequest>);

/// What the networks view remembers between frames.
#[derive(Default)]
pub struct NetworksViewState {
    /// N1 or N2 (its logits are shown beside scattering's too).
    pub which: Which,
    /// The network drawn on the constructed side: `which`, or the scattering network.
    pub shown: BuiltNetwork,
    /// Dataset sample used as input.
    pub sample_index: usize,
    random_seed: u64,
    input: Option<InputImage>,
    /// Why no input image could be made (shown where the image would be).
    input_error: Option<String>,
    drag: DragState,
    imported_view: ImportedView,
    constructed_view: ConstructedView,
    trained_view: TrainedView,
    /// The neuron under the pointer (last frame).
    pub hover: Option<Hover>,
    clicked: Option<(usize, usize)>,
    selectivity: SelectivityPanel,
    /// Where each side's decision comes from on the input (method, class).
    pub attribution: attribution::AttributionView,
    /// The interpretability score table's settings.
    pub scores: interpret_scores::ScoresView,
    /// The unit clicked on either side and what it wants to see.
    pub inspector: UnitInspector,
}

impl NetworksViewState {
    /// The current input image, if one was made.
    pub fn input(&self) -> Option<&InputImage> {
        self.input.as_ref()
    }
}

/// Draws the networks view.
pub fn ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut NetworksViewState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    if app.dataset_needs_generation() {
        commands.push(Command::GenerateDataset);
    }
    ensure_input(app, view);
    let key = build_key(app, view.which);
    commands.push(Command::BuildNetwork(view.which));
    let network = app.cache.network(key.3, net_key(key));
    request_forward(app, view, key, commands);
    let opened = app.imported.network.clone();
    // An opened network takes the trained side's place.
    let trained = if opened.is_some() { None } else { trained_forward(app, view, commands) };
    let deep = if opened.is_some() { None } else { deep_forward(app, view, commands) };
    let shaped = if opened.is_some() { None } else { shaped_forward(app, view, commands) };
    let imported = opened.as_ref().and_then(|network| imported_forward(app, view, network, commands));
    let scattering = (view.shown == BuiltNetwork::Scattering).then(|| scattering_request(app, view, commands));
    let sides = attribution::sides(app, key, network.as_ref(), trained.as_ref(), deep.as_ref(), opened.as_ref());
    // A network of blocks or of N2's shape: its logits join the chart as the paper's network's do.
    let other_trained_logits = deep
        .as_ref()
        .map(|(_, pass)| pass.activations.logits.to_vec())
        .or_else(|| shaped.as_ref().and_then(|(_, pass)| pass.outputs.last()).map(|l| l.as_slice().to_vec()));
    top_bar_ui(ui, app, view, commands);
    ui.separator();
    let mut hover = None;
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(LEFT_WIDTH);
            egui::ScrollArea::vertical().id_salt("networks left").show(ui, |ui| {
                left_column_ui(
                    ui,
                    app,
                    view,
                    textures,
                    key,
                    (trained.as_ref(), other_trained_logits, imported.as_deref(), scattering.as_ref()),
                    (&sides, commands),
                );
                interpret_scores::section_ui(ui, app, &mut view.scores, &sides, commands);
                if let Some(model) = scattering.as_ref().and_then(|r| app.cache.scattering_model().get(&r.model?)) {
                    ui.separator();
                    let threshold = view.selectivity.threshold;
                    drawing::selectivity_ui(ui, &model.maxima, model.samples, threshold);
                }
                if let Some(net) = &network {
                    let units = trained_units(view, trained.as_ref(), opened.as_ref(), imported.as_deref());
                    let opened = opened.as_ref().map(|n| n.version);
                    selectivity_panel::panel_ui(
                        ui,
                        app,
                        &mut view.selectivity,
                        net,
                        units,
                        (view.which, opened),
                        commands,
                    );
                }
            });
        });
        ui.separator();
        ui.columns(2, |columns| {
            egui::ScrollArea::vertical().id_salt("constructed side").show(&mut columns[0], |ui| {
                hover = match &scattering {
                    Some(request) => scattering::scattering_ui(ui, &app.cache, textures, request, commands),
                    None => constructed_side_ui(ui, app, view, textures, (key, network.as_ref()), commands),
                }
                .or(hover.take());
            });
            egui::ScrollArea::vertical().id_salt("trained side").show(&mut columns[1], |ui| {
                hover = match &opened {
                    Some(network) => imported_side_ui(ui, app, view, textures, network, imported.as_deref(), commands),
                    None => {
                        trained_side_ui(ui, app, view, textures, (trained.as_ref(), deep.as_ref(), shaped.as_ref()))
                    }
                }
                .or(hover.take());
            });
        });
    });
    if hover != view.hover {
        ui.ctx().request_repaint();
    }
    view.hover = hover;
    unit_inspector::window_ui(ui.ctx(), app, textures, &mut view.inspector, commands);
}

/// The scattering network's request for the current input; asks for what it needs.
fn scattering_request(app: &AppState, view: &NetworksViewState, commands: &mut Vec<Command>) -> ScatteringRequest {
    let size = (app.session.dataset.height, app.session.dataset.width);
    let image = view.input.as_ref().map(|i| &i.image);
    let request = app.cache.scattering_request(app.session.scattering, size, app.classes_version, image);
    scattering::ask(&app.cache, &request, image, commands);
    request
}

/// The cache's key of the network a build key names.
fn net_key((version, height, width, _): BuildKey) -> NetKey {
    (version, height, width)
}

fn build_key(app: &AppState, which: Which) -> BuildKey {
    (app.classes_version, app.session.dataset.height, app.session.dataset.width, which)
}

/// Makes an input when there is none, or when the tile set or the image size changed.
fn ensure_input(app: &AppState, view: &mut NetworksViewState) {
    let size = (app.session.dataset.height, app.session.dataset.width);
    let current =
        view.input.as_ref().is_some_and(|i| i.classes_version == app.classes_version && i.image.dim() == size);
    if current {
        return;
    }
    view.input = None;
    if !dataset_sample_input(app, view) {
        random_input(app, view);
    }
}

/// Uses dataset sample `view.sample_index` if the dataset is current; false when it is not.
fn dataset_sample_input(app: &AppState, view: &mut NetworksViewState) -> bool {
    let current = app.cache.dataset_for().is_some_and(|(version, _)| *version == app.classes_version);
    let size = (app.session.dataset.height, app.session.dataset.width);
    let Some(data) = app.dataset().cloned().filter(|_| current) else { return false };
    let Some(sample) = data.samples.get(view.sample_index).filter(|s| s.image.dim() == size) else { return false };
    // Invalid settings: the random input fails the same way and says why in place.
    let Ok(spec) = app.session.dataset.to_spec() else { return false };
    let origin = format!("dataset sample {}", view.sample_index);
    let seed = app.session.dataset.seed ^ view.sample_index as u64;
    view.input = Some(InputImage::from_sample(&app.classes, &spec, sample, origin, seed, app.classes_version));
    view.input_error = None;
    true
}

/// A fresh random valid sample.
fn random_input(app: &AppState, view: &mut NetworksViewState) {
    view.random_seed = view.random_seed.wrapping_add(1);
    let made = app
        .session
        .dataset
        .to_spec()
        .and_then(|spec| InputImage::random(&app.classes, &spec, view.random_seed, app.classes_version));
    match made {
        Ok(input) => {
            view.input = Some(input);
            view.input_error = None;
        }
        Err(error) => view.input_error = Some(error),
    }
}

/// Asks for the constructed forward pass of the current input (the newest input wins).
fn request_forward(app: &AppState, view: &NetworksViewState, key: BuildKey, commands: &mut Vec<Command>) {
    let Some(input) = &view.input else { return };
    let wanted = (net_key(key), image_key(&input.image));
    if app.cache.forward(key.3).needs(&wanted) {
        commands.push(Command::ForwardPass { which: key.3, key: wanted, image: Arc::new(input.image.clone()) });
    }
}

/// The newest constructed forward pass of network `key` (possibly of an older input, so a drag
/// never blanks the view), with its key.
fn latest_forward(app: &AppState, key: BuildKey) -> Option<(ForwardKey, Arc<Forward>)> {
    app.cache.forward(key.3).done().filter(|(k, _)| k.0 == net_key(key)).cloned()
}

/// The training run's newest weights with their forward pass on the input, when they fit this
/// tile set and size, asking for the pass of the newest weights (until it is done, the last pass
/// stays on screen with the weights it ran).
fn trained_forward(app: &AppState, view: &NetworksViewState, commands: &mut Vec<Command>) -> Option<TrainedPass> {
    let (cnn, version) = {
        let progress = app.training.as_ref()?.progress();
        (Arc::clone(progress.cnn.as_ref()?), progress.version)
    };
    let input = view.input.as_ref()?;
    let spec = cnn.spec();
    if (spec.height, spec.width, spec.classes) != (input.image.nrows(), input.image.ncols(), app.classes.len()) {
        return None;
    }
    let passes = app.cache.trained_forward();
    let wanted = (version, image_key(&input.image));
    if passes.needs(&wanted) {
        commands.push(Command::TrainedForwardPass { key: wanted, cnn, image: Arc::new(input.image.clone()) });
    }
    let (key, pass) = passes.done()?;
    let ran = pass.cnn.spec();
    let fits = (ran.height, ran.width, ran.classes) == (spec.height, spec.width, spec.classes);
    fits.then(|| (Arc::clone(&pass.cnn), Arc::clone(&pass.activations), *key))
}

/// The training run's network of another architecture than the paper's with its pass of the input
/// and its layers' selectivity (the last pass that fits until the newest weights' is done).
fn deep_forward(
    app: &AppState,
    view: &NetworksViewState,
    commands: &mut Vec<Command>,
) -> Option<(DeepKey, Arc<DeepPass>)> {
    let (net, version) = {
        let progress = app.training.as_ref()?.progress();
        (Arc::clone(progress.net.as_ref().filter(|_| progress.cnn.is_none())?), progress.version)
    };
    let input = view.input.as_ref()?;
    let size = (input.image.nrows(), input.image.ncols(), app.classes.len());
    let fits = |pass: &DeepPass| {
        let arch = pass.net.arch();
        (arch.height, arch.width, arch.classes) == size
    };
    let arch = net.arch();
    if (arch.height, arch.width, arch.classes) != size {
        return None;
    }
    let passes = app.cache.deep_forward();
    let wanted = (version, image_key(&input.image), app.cache.dataset_generation());
    if passes.needs(&wanted) {
        commands.push(Command::DeepForwardPass { key: wanted, net, image: Arc::new(input.image.clone()) });
    }
    passes.done().filter(|(_, pass)| fits(pass)).cloned()
}

/// A network of blocks' pass with its key, as the trained side draws it.
type DeepShown = (DeepKey, Arc<DeepPass>);
/// An n2-shaped network's pass with its key.
type ShapedShown = (DeepKey, Arc<ShapedPass>);

/// The training run's n2-shaped network with its pass of the input and its layers' selectivity
/// (the last pass that fits until the newest weights' is done).
fn shaped_forward(app: &AppState, view: &NetworksViewState, commands: &mut Vec<Command>) -> Option<ShapedShown> {
    let (net, version) = {
        let progress = app.training.as_ref()?.progress();
        (Arc::clone(progress.shaped.as_ref()?), progress.version)
    };
    let input = view.input.as_ref()?;
    let size = (input.image.dim(), app.classes.len());
    let fits = |net: &N2Shaped| (net.input(), net.classes()) == size;
    if !fits(&net) {
        return None;
    }
    let passes = app.cache.shaped_forward();
    let wanted = (version, image_key(&input.image), app.cache.dataset_generation());
    if passes.needs(&wanted) {
        commands.push(Command::ShapedForwardPass { key: wanted, net, image: Arc::new(input.image.clone()) });
    }
    passes.done().filter(|(_, pass)| fits(&pass.net)).cloned()
}

/// The opened network's pass of the current input once computed (the last one of this model
/// until then), asking for it when the input fits. Another model starts its view afresh.
fn imported_forward(
    app: &AppState,
    view: &mut NetworksViewState,
    network: &Arc<ImportedNetwork>,
    commands: &mut Vec<Command>,
) -> Option<Arc<ImportedForward>> {
    if view.imported_view.version != network.version {
        view.imported_view = ImportedView::of(network.version);
    }
    let input = view.input.as_ref()?;
    if network.model.input_size() != input.image.dim() {
        return None;
    }
    let passes = app.cache.imported_forward();
    let wanted = (network.version, image_key(&input.image));
    if passes.needs(&wanted) {
        commands.push(Command::ImportedForwardPass { key: wanted, image: Arc::new(input.image.clone()) });
    }
    // Until the new pass is done, the last one of this model stays on screen.
    passes.latest(|k| k.0 == network.version)
}

/// The units the selectivity panel compares with the constructed detectors.
fn trained_units(
    view: &NetworksViewState,
    trained: Option<&TrainedPass>,
    opened: Option<&Arc<ImportedNetwork>>,
    imported: Option<&ImportedForward>,
) -> Option<TrainedUnits> {
    match (opened, imported) {
        (Some(network), Some(forward)) => {
            let layer = imported::selectivity_layer(&view.imported_view, &forward.trace)?;
            Some(TrainedUnits::Imported { network: Arc::clone(network), layer })
        }
        (Some(_), None) => None,
        (None, _) => trained.map(|(cnn, _, (version, _))| TrainedUnits::Sgd(Arc::clone(cnn), *version)),
    }
}

fn top_bar_ui(ui: &mut egui::Ui, app: &AppState, view: &mut NetworksViewState, commands: &mut Vec<Command>) {
    ui.horizontal(|ui| {
        ui.label("Input:");
        let samples = app.dataset().map_or(0, |d| d.samples.len());
        ui.add_enabled_ui(samples > 0, |ui| {
            let changed = ui
                .add(number::field(&mut view.sample_index).range(0..=samples.saturating_sub(1)).prefix("sample "))
                .changed();
            if (changed || ui.button("Use dataset sample").clicked()) && !dataset_sample_input(app, view) {
                commands.push(Command::Log(Level::Warning, "the dataset is not ready yet".to_owned()));
            }
        });
        if ui.button("Random sample").on_hover_text("A fresh valid sample of a random class").clicked() {
            random_input(app, view);
        }
        ui.separator();
        ui.label("Constructed network:");
        for choice in BuiltNetwork::ALL {
            let hint = match choice {
                BuiltNetwork::Template(_) => "The proof's template detectors: exactly invariant to translation",
                BuiltNetwork::Scattering => "Mallat's wavelet scattering network: stable to small deformations",
            };
            if ui.radio(view.shown == choice, choice.name()).on_hover_text(hint).clicked() {
                view.shown = choice;
                if let BuiltNetwork::Template(which) = choice {
                    view.which = which;
                    view.constructed_view = ConstructedView::default();
                }
            }
        }
    });
}

fn left_column_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut NetworksViewState,
    textures: &mut TextureCache,
    key: BuildKey,
    (trained, other_trained_logits, imported, scattering): TrainedSide,
    (sides, commands): (&attribution::Sides, &mut Vec<Command>),
) {
    let Some(input) = view.input.as_mut() else {
        match &view.input_error {
            // The reason is shown once, by the Dataset view's settings; the details stay a hover away.
            Some(error) => ui
                .colored_label(theme::WARNING, "No input image: the Dataset view's settings cannot make one.")
                .on_hover_text(error),
            None => ui.label("No input image yet."),
        };
        return;
    };
    ui.label(RichText::new(format!("Input: {}", input.origin)).strong());
    let field = view.hover.as_ref().and_then(|h| h.field);
    let events = input::input_ui(ui, textures, input, &app.classes, app.session.rendering, field, &mut view.drag);
    if events.clicked.is_some() {
        view.clicked = events.clicked;
    }
    if events.moved {
        "tile dragged by hand".clone_into(&mut input.origin);
    }
    attribution::section_ui(ui, app, (&mut view.attribution, &*input), textures, sides, commands);
    let label = input.label;
    ui.group(|ui| {
        ui.set_width(LEFT_WIDTH - 12.0);
        match &view.hover {
            Some(hover) => ui.label(format!("Neuron: {}", hover.text)),
            None => ui.weak("Hover a neuron to see its meaning, value and receptive field."),
        };
    });
    clicked_ui(ui, app, view, key, trained, imported);
    let scattering_logits = scattering.and_then(|r| app.cache.scattering_logits(r));
    let trained_logits = trained.map(|(_, activations, _)| activations.logits.to_vec()).or(other_trained_logits);
    logits_ui(ui, app, view, key, label, (trained_logits, imported, scattering_logits));
}

/// Which neurons respond at the clicked pixel.
fn clicked_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &NetworksViewState,
    key: BuildKey,
    trained: Option<&TrainedPass>,
    imported: Option<&ImportedForward>,
) {
    let Some((row, col)) = view.clicked else { return };
    ui.label(RichText::new(format!("Responding at pixel ({row}, {col})")).strong());
    let network = app.cache.network(key.3, net_key(key));
    let forward = latest_forward(app, key).map(|(_, f)| f);
    if let (Some(net), Some(forward)) = (&network, forward) {
        let frame = frame_of(app, view, net, &forward, 0);
        let found = constructed::responders(&frame, row, col);
        if found.is_empty() {
            ui.label(format!("{}: no detector fires on a window covering this pixel.", view.which.name()));
        }
        for (what, value) in found.iter().take(5) {
            ui.label(format!("{}: {what} = {value:.3}", view.which.name()));
        }
    }
    if let (Some(network), Some(forward)) = (&app.imported.network, imported)
        && let Some(layer) = imported::selectivity_layer(&view.imported_view, &forward.trace)
    {
        let found = imported::responders(network, forward, &layer, (row, col));
        let list: Vec<String> = found.iter().take(6).map(|(c, v)| format!("{c} ({v:.2})")).collect();
        ui.label(format!(
            "{}: {} channels of '{layer}' respond here: {}",
            network.name(),
            found.len(),
            list.join(", ")
        ));
    }
    if let Some((cnn, activations, _)) = trained {
        let found = trained::responders(cnn, activations, row, col);
        let list: Vec<String> = found.iter().take(6).map(|(f, v)| format!("{f} ({v:.2})")).collect();
        ui.label(format!(
            "Trained: {} of {} filters respond here: {}",
            found.len(),
            cnn.spec().filters,
            list.join(", ")
        ));
    }
}

fn frame_of<'a>(
    app: &'a AppState,
    view: &NetworksViewState,
    net: &'a Constructed,
    forward: &'a Forward,
    stamp: u64,
) -> NetworkFrame<'a> {
    NetworkFrame {
        net,
        forward,
        window: None,
        classes: &app.classes,
        name: view.which.name(),
        stamp,
        rendering: app.session.rendering,
    }
}

/// Direct φ, constructed and trained logits as bar charts side by side, with predictions and the true label.
fn logits_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &NetworksViewState,
    key: BuildKey,
    label: Option<usize>,
    (trained, imported, scattering): (Option<Vec<f32>>, Option<&ImportedForward>, Option<Vec<f32>>),
) {
    let forward = latest_forward(app, key).map(|(_, f)| f);
    // (title, logits, predicted by the largest score rather than by the only positive one)
    let mut charts: Vec<(String, Vec<f32>, bool)> = Vec::new();
    if let Some(forward) = &forward {
        charts.push(("direct φ".to_owned(), forward.direct.clone(), false));
        charts.push((view.which.name().to_owned(), forward.logits(), false));
    }
    if let Some(logits) = trained {
        charts.push(("trained".to_owned(), logits, true));
    }
    if let Some(imported) = imported {
        charts.push(("imported".to_owned(), imported.trace.logits.clone(), true));
    }
    if let Some(logits) = scattering {
        charts.push(("scattering".to_owned(), logits, true));
    }
    ui.label(RichText::new("Logits").strong());
    let name = |c: usize| app.classes.classes.get(c).map_or_else(|| format!("class {c}"), |o| o.name.clone());
    ui.label(format!("True label: {}", label.map_or_else(|| "unknown".to_owned(), name)));
    if charts.is_empty() && app.cache.network_error(key.3, net_key(key)).is_some() {
        // The reason is on the constructed side; the other network gives the same logits.
        let other = if view.which == Which::N1 { Which::N2 } else { Which::N1 };
        ui.colored_label(
            theme::WARNING,
            format!(
                "No {} logits here: choose {} above (its logits equal the direct φ).",
                view.which.name(),
                other.name()
            ),
        );
        return;
    }
    if charts.is_empty() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("computing…");
        });
        return;
    }
    let width = (LEFT_WIDTH - 16.0) / charts.len() as f32 - 6.0;
    let names: Vec<String> = app.classes.classes.iter().map(|o| o.name.clone()).collect();
    ui.horizontal_top(|ui| {
        for (title, logits, by_largest) in &charts {
            ui.vertical(|ui| {
                let predicted = if *by_largest { Some(argmax(logits)) } else { detect::classify(logits) };
                ui.small(format!("{title}: {}", predicted.map_or_else(|| "none".to_owned(), name)));
                logit_chart_ui(ui, title, logits, &names, predicted, width);
            });
        }
    });
    if forward.is_none() {
        ui.weak(format!("{} is being built…", view.which.name()));
    }
}

fn logit_chart_ui(
    ui: &mut egui::Ui,
    title: &str,
    logits: &[f32],
    names: &[String],
    predicted: Option<usize>,
    width: f32,
) {
    let bars: Vec<Bar> = logits
        .iter()
        .enumerate()
        .map(|(c, &v)| {
            let bar = Bar::new(c as f64, f64::from(v)).width(0.7);
            if Some(c) == predicted { bar.fill(theme::PLACEMENT_OUTLINE) } else { bar }
        })
        .collect();
    let classes = logits.len();
    let width = width.max(60.0);
    // The y axis' numbers take about 30 points of the width.
    let slot = (width - 30.0) / classes.max(1) as f32;
    let labels: Vec<String> = names.iter().enumerate().map(|(c, n)| class_tick(c, n, slot)).collect();
    Plot::new(("logits", title))
        .width(width)
        .height(120.0)
        .show_x(false)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_grid_spacer(move |_| class_marks(classes))
        // egui_plot hides x labels closer than 60 points by default; a class's slot is narrower.
        .custom_x_axes(vec![
            egui_plot::AxisHints::new_x()
                .label_spacing(egui::Rangef::new(1.0, 2.0))
                .formatter(move |mark, _| class_at(&labels, mark.value)),
        ])
        .show(ui, |plot| plot.bar_chart(BarChart::new(title, bars)));
}

/// One x tick per class, at the bar centres 0, 1, …
fn class_marks(classes: usize) -> Vec<egui_plot::GridMark> {
    (0..classes).map(|c| egui_plot::GridMark { value: c as f64, step_size: 1.0 }).collect()
}

/// The label of the class whose bar is centred at `x` (empty between bars).
fn class_at(labels: &[String], x: f64) -> String {
    let index = x.round();
    let exact = (x - index).abs() < 1e-6 && index >= 0.0;
    labels.get(index as usize).filter(|_| exact).cloned().unwrap_or_default()
}

/// Class `index`'s name when it fits `slot_width` points under its bar (about 8 points a
/// character), else its number as the class tree shows it ("0: Trouser").
fn class_tick(index: usize, name: &str, slot_width: f32) -> String {
    if name.chars().count() as f32 * 8.0 <= slot_width { name.to_owned() } else { index.to_string() }
}

fn constructed_side_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut NetworksViewState,
    textures: &mut TextureCache,
    (key, network): (BuildKey, Option<&Arc<Constructed>>),
    commands: &mut Vec<Command>,
) -> Option<Hover> {
    ui.heading(format!("Constructed {}", view.which.name()));
    if view.which == Which::N2
        && let Err(error) = n1_fits(&app.classes, key.1, key.2)
    {
        ui.colored_label(theme::WARNING, format!("N1 {}", build_failure(Which::N1, &error)));
    }
    if let Some(error) = app.cache.network_error(key.3, net_key(key)) {
        ui.colored_label(theme::ERROR, format!("{} {error}", view.which.name()));
        return None;
    }
    let Some(network) = network else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("building {}…", view.which.name()));
        });
        return None;
    };
    let Some((forward_key, forward)) = latest_forward(app, key) else {
        match app.cache.forward(key.3).failed().filter(|(k, _)| k.0 == net_key(key)) {
            Some((_, error)) => ui.colored_label(theme::ERROR, format!("{}: {error}", view.which.name())),
            None => ui.spinner(),
        };
        return None;
    };
    let stamp = stamp_of(&(key, forward_key.1));
    let windows = app.cache.windows().done().filter(|(k, _)| k.which == key.3 && k.forward == forward_key);
    let frame = NetworkFrame {
        net: network,
        forward: &forward,
        window: windows.and_then(|(k, values)| k.windows.first().zip(values.first())),
        classes: &app.classes,
        name: view.which.name(),
        stamp,
        rendering: app.session.rendering,
    };
    let hover = constructed::constructed_ui(ui, textures, &frame, &mut view.constructed_view);
    if let Some((unit, title)) = view.constructed_view.clicked.take() {
        let tile = unit.tile.and_then(|id| app.classes.tile(id)).cloned();
        let model = UnitModel::Constructed(Arc::clone(network), tile);
        view.inspector.open(Inspected { network: UnitNetwork::Constructed(key.3, net_key(key)), model, unit, title });
    }
    request_window(app, view, key.3, forward_key, commands);
    hover
}

/// Asks for the part of a layer the constructed side drew but the forward pass did not keep, once
/// the pass is of the current input.
fn request_window(
    app: &AppState,
    view: &NetworksViewState,
    which: Which,
    forward: ForwardKey,
    commands: &mut Vec<Command>,
) {
    let (Some(wanted), Some(input)) = (&view.constructed_view.wanted, &view.input) else { return };
    let key = WindowKey { which, forward, windows: vec![wanted.clone()] };
    if app.cache.windows().needs(&key) && image_key(&input.image) == forward.1 {
        commands.push(Command::LayerWindows { key, image: Arc::new(input.image.clone()) });
    }
}

fn trained_side_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut NetworksViewState,
    textures: &mut TextureCache,
    (trained, deep, shaped): (Option<&TrainedPass>, Option<&DeepShown>, Option<&ShapedShown>),
) -> Option<Hover> {
    ui.heading("Trained CNN (SGD)");
    if let (None, Some((key, pass))) = (trained, deep) {
        return deep_side_ui(ui, app, textures, *key, pass);
    }
    if let (None, Some(((version, image, _), pass))) = (trained, shaped) {
        let measured = app.cache.selectivity().done();
        let reference = measured.map(|(key, measured)| (key.which.name(), &measured.constructed));
        let frame = trained_shaped::ShapedFrame { pass, stamp: stamp_of(&("n2-shaped", version, image)), reference };
        return trained_shaped::shaped_ui(ui, textures, &frame);
    }
    let Some((cnn, activations, (version, image))) = trained else {
        let why = if app.training.is_some() {
            "The training run's network does not fit the current tile set or image size: restart it in the Training view."
        } else {
            "No trained network yet: start training in the Training view; this side follows its weights live."
        };
        ui.label(why);
        return None;
    };
    let frame = TrainedFrame {
        cnn,
        activations,
        classes: &app.classes,
        weights_stamp: stamp_of(version),
        stamp: stamp_of(&(version, image)),
    };
    let hover = trained::trained_ui(ui, textures, &frame, &mut view.trained_view);
    if let Some((unit, title)) = view.trained_view.clicked.take() {
        let model = UnitModel::Trained(Arc::clone(cnn));
        view.inspector.open(Inspected { network: UnitNetwork::Trained(*version), model, unit, title });
    }
    hover
}

/// The trained side for a network of blocks, beside the constructed detectors' selectivity when measured.
fn deep_side_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    textures: &mut TextureCache,
    (version, image, _): DeepKey,
    pass: &DeepPass,
) -> Option<Hover> {
    let measured = app.cache.selectivity().done();
    let reference = measured.map(|(key, measured)| (key.which.name(), &measured.constructed));
    let frame = trained_layers::DeepFrame {
        pass,
        weights_stamp: stamp_of(&("deep weights", version)),
        stamp: stamp_of(&("deep", version, image)),
        reference,
    };
    trained_layers::deep_ui(ui, textures, &frame)
}

fn imported_side_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut NetworksViewState,
    textures: &mut TextureCache,
    network: &Arc<ImportedNetwork>,
    forward: Option<&ImportedForward>,
    commands: &mut Vec<Command>,
) -> Option<Hover> {
    ui.horizontal(|ui| {
        ui.heading(format!("Imported: {}", network.name()));
        if ui.button("Close").on_hover_text("Show the SGD training run on this side again").clicked() {
            commands.push(Command::CloseNetwork);
        }
    });
    let (height, width) = (app.session.dataset.height, app.session.dataset.width);
    if let Some(problem) = network.mismatch(height, width, &app.classes) {
        ui.colored_label(theme::WARNING, problem);
        let (rows, cols) = network.model.input_size();
        let offer = (rows, cols) != (height, width) && network.dataset_can_take_its_size();
        if offer && ui.button(format!("Use {rows}×{cols} images")).clicked() {
            let settings = DatasetSettings { height: rows, width: cols, ..app.session.dataset.clone() };
            commands.push(Command::SetDatasetSettings(settings));
        }
    }
    if let Some(warning) = network.class_name_warning(&app.classes) {
        ui.colored_label(theme::WARNING, warning);
    }
    let wanted = (network.version, view.input.as_ref().map_or(0, |i| image_key(&i.image)));
    if let Some(error) = app.cache.imported_forward().error(&wanted) {
        ui.colored_label(theme::ERROR, format!("The model could not run on this input: {error}"));
        return None;
    }
    let frame = ImportedFrame { network, forward: forward? };
    let hover = imported::imported_ui(ui, textures, &frame, &mut view.imported_view);
    if let Some((unit, title)) = view.imported_view.clicked.take() {
        let model = UnitModel::Imported(Arc::clone(network));
        view.inspector.open(Inspected { network: UnitNetwork::Imported(network.version), model, unit, title });
    }
    hover
}

/// The `(channel, largest value)` pairs with a positive value, strongest first: who responds at a pixel.
fn strongest_first(best: impl Iterator<Item = (usize, f32)>) -> Vec<(usize, f32)> {
    let mut found: Vec<(usize, f32)> = best.filter(|&(_, value)| value > 0.0).collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found
}

/// A texture stamp from any hashable key.
fn stamp_of(key: &impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logit_charts_name_every_class_under_its_bar() {
        let labels: Vec<String> =
            ["Trouser", "Sneaker", "Bag"].iter().enumerate().map(|(c, n)| class_tick(c, n, 80.0)).collect();
        let marks = class_marks(3);
        assert_eq!(marks.iter().map(|m| m.value).collect::<Vec<_>>(), [0.0, 1.0, 2.0], "a tick per class");
        let shown: Vec<String> = marks.iter().map(|m| class_at(&labels, m.value)).collect();
        assert_eq!(shown, ["Trouser", "Sneaker", "Bag"]);
        assert_eq!(class_at(&labels, 0.5), "", "nothing between bars");
        assert_eq!(class_tick(9, "Ankle boot", 40.0), "9", "a name too long for its slot: the class number");
    }
}
