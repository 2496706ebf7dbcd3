//! The one cache of what the views, the lecture and the exports derive from the tile set: the
//! generated dataset, the constructed networks N1 and N2 for the current set and image size, and
//! their forward passes of an input image (every layer, or on images too large for that the
//! detector layer on, with the parts of the other layers on screen computed as windows), the
//! selectivity of their units and the Figure 4 study, each computed once per key by the job runner.
//! Views ask with `Command::GenerateDataset`, `Command::BuildNetwork`, `Command::ForwardPass`,
//! `Command::LayerWindows`, `Command::MeasureSelectivity`, `Command::StudyFigure4` and `Command::InspectUnit` and read the
//! results here, so the views and the lecture never compute the same thing twice. The scattering
//! network's entries (its pass, its classifier, the deformation study) are in `cache/scattering.rs`;
//! the attribution maps and the interpretability score table (issue 20) in `cache/attribution.rs`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use egui::ColorImage;
use ndarray::Array2;

use crate::core::construct::{ConstructError, Constructed, Which};
use crate::core::dataset::{self, Dataset};
use crate::core::detect;
use crate::core::experiments::figure4::{self, InvarianceResult};
use crate::core::idx::{self, BundledSet, IdxImages};
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::nn::cnn::{Cnn, CnnActivations};
use crate::core::nn::sparse::{Activation, LayerWindow, MAX_KEPT_ACTIVATIONS, SparseError, WindowValues};
use crate::core::selectivity::{self, ClassMaxima};
use crate::core::tile::{ClassSet, TileId};

use super::command::PickedFile;
use super::export_job::{self, Source};
use super::ids::ExportKind;
use super::imported::{ImportedForward, ImportedNetwork};
use super::settings::DatasetRequest;
use super::theme;
use super::training_job::{SavedRun, save_run as save_run_now};

use super::jobs::{Finished, Job, Keyed};

mod attribution;
mod deep;
mod preferred;
mod scattering;
pub use attribution::{
    Attribution, AttributionKey, BaselineChoice, Explained, ExplainedId, MAX_SCORE_SAMPLES, MethodChoice, MethodKind,
    MethodScore, NetworkScores, ScoreTable, ScoresKey, Side,
};
pub use deep::{DEEP_PROBES, DeepKey, DeepPass, ShapedPass, describe, receptive_field};
pub use preferred::{Inspected, Inspection, PreferredKey, TopExample, UnitModel, UnitNetwork, UnitRef};
pub use scattering::{
    DeformationKey, ScatteringModel, ScatteringModelKey, ScatteringPass, ScatteringPassKey, ScatteringRequest,
};

/// What a constructed network is built from: tile-set version, image height and width.
pub type NetKey = (u64, usize, usize);

/// What a forward pass is computed from: the network's key and the input image's content
/// ([`image_key`]), so the same image gives the same pass whoever shows it.
pub type ForwardKey = (NetKey, u64);

/// The key of an input image's content.
pub fn image_key(image: &Array2<f32>) -> u64 {
    theme::content_hash(image.view(), 0)
}

/// A constructed network's forward pass of one input, with the direct φ logits beside it. It
/// keeps every layer's output when they fit [`MAX_KEPT_ACTIVATIONS`], otherwise those of the
/// detector layer on (what the logits, detector maps and responders need); the views ask for the
/// other layers' parts on screen as [`Windows`].
pub struct Forward {
    /// The first layer kept.
    from: usize,
    /// The outputs of layers `from..`; the last is the logits.
    kept: Vec<Activation>,
    pub direct: Vec<f32>,
}

impl Forward {
    /// The outputs `kept` of layers `from..` (`direct`: the direct φ logits).
    pub fn new(from: usize, kept: Vec<Activation>, direct: Vec<f32>) -> Self {
        Self { from, kept, direct }
    }

    /// Layer `layer`'s output, when the pass kept it.
    pub fn layer(&self, layer: usize) -> Option<&Activation> {
        self.kept.get(layer.checked_sub(self.from)?)
    }

    /// The network's output.
    pub fn logits(&self) -> Vec<f32> {
        self.kept.last().map_or_else(Vec::new, |a| a.as_slice().to_vec())
    }
}

/// What parts of layers a view draws of a network too large to keep: the forward pass they
/// belong to and the windows.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowKey {
    pub which: Which,
    pub forward: ForwardKey,
    pub windows: Vec<LayerWindow>,
}

/// The values of a [`WindowKey`]'s windows, in its order.
pub type Windows = Vec<WindowValues>;

/// What a selectivity measurement is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectivityKey {
    /// The constructed network measured (built for this tile-set version and image size).
    pub net: NetKey,
    pub which: Which,
    /// The dataset generation whose samples are the probe images.
    pub dataset: u64,
    /// The first this many samples are the probes (`None`: all of them).
    pub probes: Option<usize>,
    /// The trained side measured beside it: the SGD run's weights version, or an opened model's
    /// version and layer.
    pub trained: Option<(u64, Option<String>)>,
}

/// The trained side's units a selectivity measurement compares with the constructed detectors:
/// the SGD run's feature maps, or one map of an opened network.
#[derive(Clone)]
pub enum TrainedUnits {
    /// The SGD run's weights of this version.
    Sgd(Arc<Cnn>, u64),
    Imported {
        network: Arc<ImportedNetwork>,
        layer: String,
    },
}

impl TrainedUnits {
    /// What a measurement of these units is keyed by ([`SelectivityKey::trained`]).
    pub fn key(&self) -> (u64, Option<String>) {
        match self {
            Self::Sgd(_, version) => (*version, None),
            Self::Imported { network, layer } => (network.version, Some(layer.clone())),
        }
    }

    /// The legend name.
    fn name(&self) -> String {
        match self {
            Self::Sgd(..) => theme::TRAINED_NAME.to_owned(),
            Self::Imported { network, layer } => format!("{} '{layer}'", network.name()),
        }
    }

    fn measure(&self, images: &[Array2<f32>], labels: &[usize], classes: usize) -> Result<ClassMaxima, String> {
        let measured = match self {
            Self::Sgd(cnn, _) => selectivity::trained(cnn, images, labels),
            Self::Imported { network, layer } => selectivity::imported(&network.model, layer, images, labels, classes),
        };
        measured.map_err(|e| e.to_string())
    }
}

impl std::fmt::Debug for TrainedUnits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrainedUnits({})", self.name())
    }
}

impl PartialEq for TrainedUnits {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Sgd(a, v), Self::Sgd(b, w)) => Arc::ptr_eq(a, b) && v == w,
            (Self::Imported { network: a, layer: l }, Self::Imported { network: b, layer: m }) => {
                Arc::ptr_eq(a, b) && l == m
            }
            _ => false,
        }
    }
}

/// The per-class maxima of both sides over one probe set (thresholded when shown).
pub struct Measured {
    pub constructed: ClassMaxima,
    /// The trained side's legend name and maxima.
    pub trained: Option<(String, ClassMaxima)>,
    pub probe_samples: usize,
}

/// What a Figure 4 study is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct StudyKey {
    pub classes_version: u64,
    /// Image size `(H, W)`.
    pub size: (usize, usize),
    pub tiles: Vec<TileId>,
    /// Images per tile and perturbation.
    pub samples: usize,
    pub seed: u64,
    /// ε of every tile for N1, instead of the tiles' own.
    pub epsilon: Option<f32>,
    /// Translate to every valid offset rather than `samples` random ones.
    pub every_offset: bool,
    /// The version of the opened ONNX network, when one is open.
    pub imported: Option<u64>,
    /// The training run's weights version the study must use (`None`: the newest when it starts).
    pub weights: Option<u64>,
}

/// The network a Figure 4 study compares with N1.
#[derive(Clone)]
pub enum StudyNetwork {
    /// A CNN of the default architecture with fresh weights.
    Untrained(Arc<Cnn>),
    /// The training run's weights of this version.
    Trained(Arc<Cnn>, u64),
    /// The training run's network of another architecture (the `deep` preset, edited blocks), of this version.
    Deep(Arc<crate::core::nn::deep::DeepNet>, u64),
    /// The training run's n2-shaped network, of this version.
    Shaped(Arc<crate::core::nn::n2_shaped::N2Shaped>, u64),
    /// An opened ONNX network.
    Imported(Arc<ImportedNetwork>),
}

impl StudyNetwork {
    /// What the study's heading and exports call it.
    fn compared(&self) -> Compared {
        match self {
            Self::Untrained(_) => Compared::Untrained,
            Self::Trained(_, version) | Self::Deep(_, version) | Self::Shaped(_, version) => {
                Compared::Trained(*version)
            }
            Self::Imported(network) => Compared::Imported(network.name()),
        }
    }
}

impl std::fmt::Debug for StudyNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.compared())
    }
}

impl PartialEq for StudyNetwork {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Untrained(a), Self::Untrained(b)) => Arc::ptr_eq(a, b),
            (Self::Trained(a, v), Self::Trained(b, w)) => Arc::ptr_eq(a, b) && v == w,
            (Self::Imported(a), Self::Imported(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Which network a study compared with N1, for its heading.
#[derive(Debug, Clone, PartialEq)]
pub enum Compared {
    Untrained,
    /// The training run's weights of this version.
    Trained(u64),
    /// An opened ONNX network, by file name.
    Imported(String),
}

impl Compared {
    /// The network's name in figure captions.
    pub fn short_name(&self) -> String {
        match self {
            Self::Untrained => "untrained CNN".to_owned(),
            Self::Trained(_) => "trained CNN".to_owned(),
            Self::Imported(name) => format!("network {name}"),
        }
    }
}

/// A Figure 4 study with the network it compared.
pub struct Study {
    pub result: Arc<InvarianceResult>,
    pub compared: Compared,
}

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

/// A set of images for the gallery: a bundled subset, or IDX files the user opened.
#[derive(Debug, Clone, PartialEq)]
pub enum GalleryKey {
    Bundled(BundledSet),
    Idx {
        images: PathBuf,
        labels: Option<PathBuf>,
    },
    /// IDX files picked in the browser.
    Picked(PickedIdx),
}

impl GalleryKey {
    /// True for files the user opened (not a bundled subset).
    pub fn is_opened(&self) -> bool {
        !matches!(self, Self::Bundled(_))
    }
}

/// IDX files picked in the browser (an images file, and maybe its labels, in either order). Keys
/// are compared every frame: these compare by identity, not by their megabytes.
#[derive(Debug, Clone)]
pub struct PickedIdx(Arc<Vec<PickedFile>>);

impl PickedIdx {
    /// The picked files, as one key.
    pub fn new(files: Vec<PickedFile>) -> Self {
        Self(Arc::new(files))
    }
}

impl PartialEq for PickedIdx {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// Reads the images (and labels) `key` names.
fn load_gallery(key: GalleryKey) -> Result<GallerySource, String> {
    match key {
        GalleryKey::Bundled(set) => {
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
        }
        GalleryKey::Idx { images, labels } => {
            let pixels = idx::load_images(&images).map_err(|e| format!("{}: {e}", images.display()))?;
            let labels = match &labels {
                Some(path) => Some(idx::load_labels(path).map_err(|e| format!("{}: {e}", path.display()))?),
                None => None,
            };
            let name = images.file_name().map_or_else(|| "IDX file".to_owned(), |n| n.to_string_lossy().into_owned());
            opened_source(name, pixels, labels)
        }
        GalleryKey::Picked(PickedIdx(files)) => picked_idx(&files),
    }
}

/// The images of picked IDX files: one images file, or an images file and its labels in either
/// order (the file whose header says images holds them), each read once.
fn picked_idx(files: &[PickedFile]) -> Result<GallerySource, String> {
    let images = |file: &PickedFile| idx::read_images(&file.bytes).map_err(|e| format!("{}: {e}", file.name));
    let labels = |file: &PickedFile| idx::read_labels(&file.bytes).map_err(|e| format!("{}: {e}", file.name));
    match files {
        [only] => opened_source(only.name.clone(), images(only)?, None),
        [first, second] => match images(first) {
            Ok(pixels) => opened_source(first.name.clone(), pixels, Some(labels(second)?)),
            Err(first_error) => match images(second) {
                Ok(pixels) => opened_source(second.name.clone(), pixels, Some(labels(first)?)),
                Err(_) => Err(first_error),
            },
        },
        _ => Err(format!("{} files picked: pick an IDX images file and, if you have it, its labels file", files.len())),
    }
}

/// Opened images with their labels, as many of each.
fn opened_source(name: String, images: IdxImages, labels: Option<Vec<u8>>) -> Result<GallerySource, String> {
    if let Some(labels) = &labels
        && labels.len() != images.len()
    {
        return Err(format!("{} images but {} labels", images.len(), labels.len()));
    }
    Ok(GallerySource { name, images, labels, class_names: None })
}

/// Something the log should say about a finished build or generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Info(String),
    /// A failure a view shows where its result would be.
    Error(String),
    /// A failure no view shows: the status line and a toast tell it.
    Alert(String),
}

/// The training run's weights and their activations on an input.
pub struct TrainedForward {
    pub cnn: Arc<Cnn>,
    pub activations: Arc<CnnActivations>,
}

/// The generated dataset and the built networks (N1 and N2 of the same set side by side).
#[derive(Default)]
pub struct Cache {
    n1: Keyed<NetKey, Constructed>,
    n2: Keyed<NetKey, Constructed>,
    n1_forward: Keyed<ForwardKey, Forward>,
    n2_forward: Keyed<ForwardKey, Forward>,
    windows: Keyed<WindowKey, Windows>,
    selectivity: Keyed<SelectivityKey, Measured>,
    figure4: Keyed<StudyKey, Study>,
    scattering_pass: Keyed<ScatteringPassKey, ScatteringPass>,
    scattering_model: Keyed<ScatteringModelKey, ScatteringModel>,
    deformation: Keyed<DeformationKey, crate::core::experiments::figure4_deformation::DeformationStudy>,
    gallery: Keyed<GalleryKey, GallerySource>,
    /// The opened ONNX network's forward pass, by (model version, input image key).
    imported_forward: Keyed<(u64, u64), ImportedForward>,
    /// The training run's forward pass with the weights it ran, by (weights version, input image key).
    trained_forward: Keyed<(u64, u64), TrainedForward>,
    /// A trained network of any architecture: its pass of the input and its layers' selectivity.
    deep_forward: Keyed<DeepKey, DeepPass>,
    /// Attribution maps of both sides of the Networks view and the interpretability score table.
    interpretation: attribution::Interpretation,
    /// What a clicked unit wants to see, one slot per side of the Networks view (`cache/preferred.rs`).
    preferred: [Keyed<PreferredKey, Inspection>; 2],
    /// An n2-shaped trained network: its pass of the input and its layers' selectivity.
    shaped_forward: Keyed<DeepKey, ShapedPass>,
    dataset: Keyed<DatasetRequest, Dataset>,
    /// Counts generated datasets.
    generation: u64,
    /// Warnings of the last finished generation.
    warnings: Vec<String>,
    /// Where the running generation puts its warnings (they come before its result).
    pending_warnings: Arc<Mutex<Vec<String>>>,
    /// True when the last generation ended by the user's cancel.
    cancelled: bool,
    notes: Vec<Note>,
    /// Leave durations out of the messages (UI tests: a snapshot must not depend on the machine's speed).
    pub hide_durations: bool,
}

/// Why `which` is not there, as the views print it after the network's name: "left out" with
/// the size it would need when it is too large for the image (the other network and φ still
/// answer), otherwise "cannot be built".
pub fn build_failure(which: Which, error: &ConstructError) -> String {
    match error {
        ConstructError::TooLarge { .. } => format!("left out on this image size: {error}"),
        _ => format!("cannot be built: {error}"),
    }
    .replace(&format!(": {} would need", which.name()), ": it would need")
}

impl Cache {
    fn slot(&self, which: Which) -> &Keyed<NetKey, Constructed> {
        match which {
            Which::N1 => &self.n1,
            Which::N2 => &self.n2,
        }
    }

    fn slot_mut(&mut self, which: Which) -> &mut Keyed<NetKey, Constructed> {
        match which {
            Which::N1 => &mut self.n1,
            Which::N2 => &mut self.n2,
        }
    }

    /// Starts building `which` for `classes` (of version `key.0`) unless it is built, failed or building.
    pub fn build_network(&mut self, ctx: Option<&egui::Context>, classes: &ClassSet, which: Which, key: NetKey) {
        self.slot_mut(which).request(key, || {
            let (classes, (_, height, width)) = (classes.clone(), key);
            Job::spawn(&format!("building {}", which.name()), ctx.cloned(), move |_| {
                which.build(&classes, height, width).map_err(|e| build_failure(which, &e))
            })
        });
    }

    /// The network `which` built for exactly `key`.
    pub fn network(&self, which: Which, key: NetKey) -> Option<Arc<Constructed>> {
        self.slot(which).get(&key)
    }

    /// Why `which` could not be built for `key`.
    pub fn network_error(&self, which: Which, key: NetKey) -> Option<&str> {
        self.slot(which).error(&key)
    }

    /// The forward passes of `which` (the newest, the running one, the last failure).
    pub fn forward(&self, which: Which) -> &Keyed<ForwardKey, Forward> {
        match which {
            Which::N1 => &self.n1_forward,
            Which::N2 => &self.n2_forward,
        }
    }

    /// Starts the forward pass of `image` through `which` (built for `key.0`) unless it is done,
    /// failed or another pass runs; nothing starts before the network is built.
    pub fn forward_pass(
        &mut self,
        ctx: Option<&egui::Context>,
        classes: &ClassSet,
        which: Which,
        key: ForwardKey,
        image: &Arc<Array2<f32>>,
    ) {
        let Some(network) = self.network(which, key.0) else { return };
        let slot = match which {
            Which::N1 => &mut self.n1_forward,
            Which::N2 => &mut self.n2_forward,
        };
        slot.request(key, || {
            let (image, classes) = (Arc::clone(image), classes.clone());
            Job::spawn(&format!("{} forward pass", which.name()), ctx.cloned(), move |_| {
                let net = &network.network;
                let from = if net.kept_activations() <= MAX_KEPT_ACTIVATIONS { 0 } else { network.detectors.layer };
                let kept = if from == 0 {
                    net.forward(image.view()).map(|a| a.layers)
                } else {
                    net.forward_from(image.view(), from)
                };
                let kept = kept.map_err(|e| match e {
                    SparseError::TooManyValues { .. } => format!("its layers are not drawn on this image size: {e}"),
                    e => e.to_string(),
                })?;
                Ok(Forward::new(from, kept, detect::logits(&classes, image.view())))
            })
        });
    }

    /// The parts of layers computed for a view (the newest, the running one, the last failure).
    pub fn windows(&self) -> &Keyed<WindowKey, Windows> {
        &self.windows
    }

    /// Starts computing the windows `key` of `image` unless they are done, failed or another
    /// computation runs; nothing starts before the network is built.
    pub fn layer_windows(&mut self, ctx: Option<&egui::Context>, key: WindowKey, image: &Arc<Array2<f32>>) {
        let Some(network) = self.network(key.which, key.forward.0) else { return };
        let image = Arc::clone(image);
        self.windows.request(key.clone(), || {
            Job::spawn(&format!("{} layer windows", key.which.name()), ctx.cloned(), move |_| {
                network.network.windows(image.view(), &key.windows).map_err(|e| e.to_string())
            })
        });
    }

    /// The selectivity measurements (the newest, the running one, the last failure).
    pub fn selectivity(&self) -> &Keyed<SelectivityKey, Measured> {
        &self.selectivity
    }

    /// Starts measuring the selectivity `key` with the trained side `trained` unless it is done,
    /// failed or another measurement runs; it needs the network built and the dataset of `key`.
    pub fn measure_selectivity(
        &mut self,
        ctx: Option<&egui::Context>,
        classes: usize,
        key: SelectivityKey,
        trained: Option<TrainedUnits>,
    ) {
        self.selectivity.poll();
        if !self.selectivity.needs(&key) {
            return;
        }
        let Some(network) = self.network(key.which, key.net) else { return };
        let Some(data) = self.dataset().filter(|_| self.generation == key.dataset).cloned() else {
            return self.selectivity.fail(key, "the dataset changed: measure again".to_owned());
        };
        let probes = key.probes.unwrap_or(data.samples.len());
        let job = Job::spawn("measuring selectivity", ctx.cloned(), move |shared| {
            let samples = &data.samples[..probes.min(data.samples.len())];
            let images: Vec<Array2<f32>> = samples.iter().map(|s| s.image.clone()).collect();
            let labels: Vec<usize> = samples.iter().map(|s| s.label).collect();
            let constructed =
                selectivity::constructed(&network, &images, &labels, classes).map_err(|e| e.to_string())?;
            shared.set_progress(0.5);
            let trained = match trained {
                Some(t) => Some((t.name(), t.measure(&images, &labels, classes)?)),
                None => None,
            };
            Ok(Measured { constructed, trained, probe_samples: images.len() })
        });
        self.selectivity.start(key, job);
    }

    /// The Figure 4 studies (the newest, the running one, the last failure).
    pub fn figure4(&self) -> &Keyed<StudyKey, Study> {
        &self.figure4
    }

    /// Starts the Figure 4 study `key` of `classes` against `network` unless it is done, failed or
    /// another study runs; a network that could not be made is the study's failure.
    pub fn study_figure4(
        &mut self,
        ctx: Option<&egui::Context>,
        classes: &ClassSet,
        key: StudyKey,
        network: Result<StudyNetwork, String>,
    ) {
        self.figure4.poll();
        if !self.figure4.needs(&key) {
            return;
        }
        let network = match network {
            Ok(network) => network,
            Err(error) => return self.figure4.fail(key, error),
        };
        let (classes, request) = (classes.clone(), key.clone());
        let job = Job::spawn("Figure 4 study", ctx.cloned(), move |_| {
            let classifier = match &network {
                StudyNetwork::Untrained(cnn) | StudyNetwork::Trained(cnn, _) => figure4::Classifier::Cnn(cnn),
                StudyNetwork::Imported(imported) => figure4::Classifier::Onnx(&imported.model),
                StudyNetwork::Deep(net, _) => figure4::Classifier::Deep(net),
                StudyNetwork::Shaped(net, _) => figure4::Classifier::N2Shaped(net),
            };
            let settings = figure4::Perturbations {
                samples: request.samples,
                seed: request.seed,
                epsilon_override: request.epsilon,
                every_offset: request.every_offset,
            };
            let result =
                figure4::invariance(&classes, classifier, &request.tiles, &settings).map_err(|e| e.to_string())?;
            Ok(Study { result: Arc::new(result), compared: network.compared() })
        });
        self.figure4.start(key, job);
    }

    /// Starts generating the dataset for `request` unless a generation runs (the same request
    /// again generates again: "Regenerate").
    pub fn generate_dataset(&mut self, ctx: Option<&egui::Context>, classes: &ClassSet, request: DatasetRequest) {
        if self.dataset.is_running() {
            return;
        }
        let spec = match request.1.to_spec() {
            Ok(spec) => spec,
            Err(error) => {
                self.notes.push(Note::Error(format!("cannot generate the dataset: {error}")));
                self.cancelled = false;
                self.dataset.fail(request, error);
                return;
            }
        };
        let (classes, warnings) = (classes.clone(), Arc::clone(&self.pending_warnings));
        let job = Job::spawn("generating the dataset", ctx.cloned(), move |shared| {
            let found = dataset::warnings(&classes, &spec);
            *warnings.lock().unwrap_or_else(PoisonError::into_inner) = found;
            shared.set_total(spec.samples_per_class * classes.len());
            dataset::generate_observed(&classes, &spec, shared.items_done(), shared.cancel_flag())
                .map_err(|e| e.to_string())
        });
        self.dataset.start(request, job);
    }

    /// The last generated dataset (possibly of older settings: see [`Self::dataset_for`]).
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.dataset.done().map(|(_, dataset)| dataset)
    }

    /// What the last generated dataset was generated from.
    pub fn dataset_for(&self) -> Option<&DatasetRequest> {
        self.dataset.done().map(|(request, _)| request)
    }

    /// Counts generated datasets (texture keys and measurements notice a new one by it).
    pub fn dataset_generation(&self) -> u64 {
        self.generation
    }

    /// Warnings about the settings found by the last generation.
    pub fn dataset_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Why the last generation failed (a cancelled one is not an error).
    pub fn dataset_error(&self) -> Option<&str> {
        self.dataset.failed().filter(|_| !self.cancelled).map(|(_, error)| error.as_str())
    }

    /// True when no generation runs and `request` was neither generated nor failed.
    pub fn dataset_needs(&self, request: &DatasetRequest) -> bool {
        self.dataset.needs(request)
    }

    /// The running generation (status line: progress, cancel).
    pub fn dataset_job(&self) -> Option<&Job<Dataset>> {
        self.dataset.running().map(|(_, job)| job)
    }

    /// The opened network's forward passes (the newest, and a failure for its input).
    pub fn imported_forward(&self) -> &Keyed<(u64, u64), ImportedForward> {
        &self.imported_forward
    }

    /// Runs `image` (of content key `key.1`) through the opened `network` (of version `key.0`)
    /// unless done, failed or running; a pass of a model closed since is not waited for.
    pub fn imported_forward_pass(
        &mut self,
        ctx: Option<&egui::Context>,
        network: &Arc<ImportedNetwork>,
        key: (u64, u64),
        image: &Arc<Array2<f32>>,
    ) {
        if self.imported_forward.running().is_some_and(|(running, _)| running.0 != key.0) {
            self.imported_forward.abandon_running();
        }
        self.imported_forward.request(key, || {
            let (network, image) = (Arc::clone(network), Arc::clone(image));
            let stamp = theme::content_hash(image.view(), key.0);
            Job::spawn("imported network forward pass", ctx.cloned(), move |_| {
                ImportedForward::of(&network, &image, stamp)
            })
        });
    }

    /// The training run's forward passes (the newest, and a failure for its input).
    pub fn trained_forward(&self) -> &Keyed<(u64, u64), TrainedForward> {
        &self.trained_forward
    }

    /// Runs `image` (of content key `key.1`) through the training run's weights `cnn` (of version
    /// `key.0`) unless done, failed or running: at 256×256 a pass takes milliseconds a frame lacks.
    pub fn trained_forward_pass(
        &mut self,
        ctx: Option<&egui::Context>,
        cnn: &Arc<Cnn>,
        key: (u64, u64),
        image: &Arc<Array2<f32>>,
    ) {
        self.trained_forward.request(key, || {
            let (cnn, image) = (Arc::clone(cnn), Arc::clone(image));
            Job::spawn("trained network forward pass", ctx.cloned(), move |_| {
                let activations = cnn.forward(image.view()).map_err(|e| e.to_string())?;
                Ok(TrainedForward { cnn, activations: Arc::new(activations) })
            })
        });
    }

    /// The gallery's images last loaded (the gallery keeps each set it took).
    pub fn gallery(&self) -> &Keyed<GalleryKey, GallerySource> {
        &self.gallery
    }

    /// Starts reading the gallery images `key` names unless they are read, failed or being read.
    pub fn load_gallery(&mut self, ctx: Option<&egui::Context>, key: GalleryKey) {
        let name = if key.is_opened() { "reading IDX files" } else { "loading the gallery" };
        self.gallery.request(key.clone(), || Job::spawn(name, ctx.cloned(), move |_| load_gallery(key)));
    }

    /// Collects finished builds and generations; returns what the log should say about them.
    pub fn poll(&mut self) -> Vec<Note> {
        for which in [Which::N1, Which::N2] {
            let failed = match self.slot_mut(which).poll() {
                Some(Finished::Failed(_, error)) => Some(format!("{} could not be built: {error}", which.name())),
                _ => None,
            };
            self.notes.extend(failed.map(Note::Error));
        }
        // A failed pass is shown where its result would be.
        self.n1_forward.poll();
        self.n2_forward.poll();
        self.windows.poll();
        self.figure4.poll();
        self.scattering_pass.poll();
        self.deformation.poll();
        if let Some(Finished::Failed(_, error)) = self.scattering_model.poll() {
            self.notes.push(Note::Error(format!("the scattering classifier: {error}")));
        }
        self.imported_forward.poll();
        self.trained_forward.poll();
        self.deep_forward.poll();
        self.interpretation.poll();
        self.poll_inspections();
        self.shaped_forward.poll();
        if let Some(Finished::Failed(_, error)) = self.selectivity.poll() {
            self.notes.push(Note::Error(format!("selectivity: {error}")));
        }
        if let Some(Finished::Failed(_, error)) = self.gallery.poll() {
            self.notes.push(Note::Alert(format!("could not load the gallery: {error}")));
        }
        self.poll_dataset();
        std::mem::take(&mut self.notes)
    }

    fn poll_dataset(&mut self) {
        let cancelled = self.dataset.running().is_some_and(|(_, job)| job.shared().is_cancelled());
        let note = match self.dataset.poll() {
            None => return,
            Some(Finished::Done(_, data, seconds)) => {
                let took = if self.hide_durations { String::new() } else { format!(" in {seconds:.2} s") };
                Note::Info(format!(
                    "generated {} samples{took} ({} redrawn because they held a second class)",
                    data.samples.len(),
                    data.rejections.total
                ))
            }
            // Not retried automatically until the set or the settings change.
            Some(Finished::Failed(..)) if cancelled => Note::Info("dataset generation cancelled".to_owned()),
            Some(Finished::Failed(_, error)) => Note::Error(format!("dataset generation failed: {error}")),
        };
        if matches!(note, Note::Info(_)) && !cancelled {
            self.generation += 1;
        }
        self.cancelled = cancelled;
        self.warnings = std::mem::take(&mut *self.pending_warnings.lock().unwrap_or_else(PoisonError::into_inner));
        self.notes.push(note);
    }
}

// One-shot work that commands start; whoever asked holds the job and reports its outcome.

/// Writes a lecture step's screenshot, cropped to `page` (in pixels), as a PNG into `path`.
pub fn save_png(ctx: &egui::Context, path: PathBuf, image: Arc<ColorImage>, page: Option<egui::Rect>) -> Job<PathBuf> {
    Job::spawn("saving the lecture step", Some(ctx.clone()), move |_| {
        let image = page.map_or_else(|| (*image).clone(), |page| theme::crop(&image, page));
        theme::write_png(&path, &image)?;
        Ok(path)
    })
}

/// Saves the training run into the data dir `dir`.
pub fn save_run(dir: PathBuf, saved: SavedRun) -> Job<()> {
    Job::spawn("saving the trained network", None, move |_| save_run_now(&dir, &saved).map_err(|e| e.to_string()))
}

/// Writes the export `kind` of `source` into `path`; its outcome is the files written.
pub fn export(ctx: &egui::Context, kind: ExportKind, source: Source, path: PathBuf) -> Job<Vec<PathBuf>> {
    Job::spawn(&kind.title(), Some(ctx.clone()), move |_| export_job::run(kind, &source, &path))
}

/// Loads and checks the ONNX model in `path`.
pub fn open_network(ctx: Option<&egui::Context>, path: &Path) -> Job<OnnxModel> {
    let path = path.to_path_buf();
    Job::spawn("opening the network", ctx.cloned(), move |_| OnnxModel::load(&path).map_err(|e| e.to_string()))
}

/// Reads an ONNX model from the bytes of a file picked in the browser, in the background.
pub fn open_picked_network(ctx: Option<&egui::Context>, bytes: Vec<u8>) -> Job<OnnxModel> {
    Job::spawn("opening the network", ctx.cloned(), move |_| {
        OnnxModel::from_bytes(&bytes, None).map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::settings::DatasetSettings;
    use crate::core::presets;
    use std::time::Duration;

    fn wait_for(cache: &mut Cache, which: Which, key: NetKey) -> Vec<Note> {
        let mut failures = Vec::new();
        for _ in 0..2000 {
            failures.extend(cache.poll());
            if cache.network(which, key).is_some() || cache.network_error(which, key).is_some() {
                return failures;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{} did not finish", which.name());
    }

    #[test]
    fn networks_are_built_once_per_key_and_failures_are_reported() {
        let classes = presets::fashion_three();
        let mut cache = Cache::default();
        let key = (0, 40, 40);
        cache.build_network(None, &classes, Which::N2, key);
        assert!(wait_for(&mut cache, Which::N2, key).is_empty());
        let built = cache.network(Which::N2, key).expect("N2 is built");
        cache.build_network(None, &classes, Which::N2, key);
        assert!(Arc::ptr_eq(&built, &cache.network(Which::N2, key).unwrap()), "not built again");
        assert!(cache.network(Which::N1, key).is_none() && cache.network(Which::N2, (1, 40, 40)).is_none());
        let too_small = (0, 2, 2);
        cache.build_network(None, &classes, Which::N1, too_small);
        let failures = wait_for(&mut cache, Which::N1, too_small);
        assert!(cache.network_error(Which::N1, too_small).is_some());
        assert_eq!(failures.len(), 1);
        assert!(matches!(&failures[0], Note::Error(e) if e.starts_with("N1 could not be built")), "{failures:?}");
    }

    /// Issue 21: on the Dataset view's largest images N1 is left out with the size it would need,
    /// N2 is built, its forward pass keeps the detector layer on (logits equal to φ), and the
    /// parts of earlier layers a view draws come as windows.
    #[test]
    fn on_256_by_256_n1_is_left_out_and_n2_keeps_what_is_drawn() {
        let classes = presets::with_full_support(&presets::fashion_ten(1));
        let mut cache = Cache::default();
        let key = (0, 256, 256);
        cache.build_network(None, &classes, Which::N1, key);
        wait_for(&mut cache, Which::N1, key);
        let why = cache.network_error(Which::N1, key).unwrap_or_default();
        assert!(why.starts_with("left out on this image size: it would need 822274880 weights"), "{why}");
        assert!(why.contains("MAX_WEIGHTS"), "{why}");
        cache.build_network(None, &classes, Which::N2, key);
        wait_for(&mut cache, Which::N2, key);
        let net = cache.network(Which::N2, key).expect("N2 is built");
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        let image = Arc::new(crate::core::verify::image_with_object(&mut rng, &classes, 4, 256, 256));
        let forward_key = (key, image_key(&image));
        let mut forward = None;
        for _ in 0..4000 {
            cache.forward_pass(None, &classes, Which::N2, forward_key, &image);
            cache.poll();
            forward = cache.forward(Which::N2).get(&forward_key);
            assert!(cache.forward(Which::N2).failed().is_none(), "{:?}", cache.forward(Which::N2).failed());
            if forward.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let forward = forward.expect("the pass finishes");
        assert!(forward.layer(net.detectors.layer).is_some() && forward.layer(net.detectors.layer - 1).is_none());
        assert!(crate::core::verify::max_relative_error(&forward.logits(), &forward.direct) <= 1e-4);
        let level = &net.blocks[0];
        let window = LayerWindow { layer: level.layer, channels: vec![0, 3], rows: 10..30, cols: 0..300 };
        let windows_key = WindowKey { which: Which::N2, forward: forward_key, windows: vec![window] };
        for _ in 0..4000 {
            cache.layer_windows(None, windows_key.clone(), &image);
            cache.poll();
            if cache.windows().get(&windows_key).is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let values = cache.windows().get(&windows_key).expect("the windows are computed");
        assert_eq!(values[0].maps.dim(), (2, 20, 256 + 4 - 1), "clipped to the 259 columns of layer 1");
        assert!(values[0].high > 0.0);
    }

    #[test]
    fn a_forward_pass_is_computed_once_per_network_and_image_content() {
        let classes = presets::fashion_three();
        let mut cache = Cache::default();
        let net = (0, 40, 40);
        cache.build_network(None, &classes, Which::N1, net);
        wait_for(&mut cache, Which::N1, net);
        let image = Arc::new(ndarray::Array2::<f32>::zeros((40, 40)));
        let key = (net, image_key(&image));
        let settle = |cache: &mut Cache, key: ForwardKey, image: &Arc<Array2<f32>>| {
            for _ in 0..2000 {
                cache.forward_pass(None, &classes, Which::N1, key, image);
                if cache.forward(Which::N1).get(&key).is_some() {
                    return cache.forward(Which::N1).get(&key).unwrap();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            panic!("the forward pass did not finish");
        };
        let first = settle(&mut cache, key, &image);
        assert_eq!(first.direct, detect::logits(&classes, image.view()), "the direct logits come with it");
        // Another caller with an equal image (the lecture, the networks view) gets the same pass.
        let copy = Arc::new((*image).clone());
        assert_eq!(image_key(&copy), key.1);
        assert!(Arc::ptr_eq(&first, &settle(&mut cache, (net, image_key(&copy)), &copy)), "not computed again");
        let other = Arc::new(ndarray::Array2::<f32>::ones((40, 40)));
        let other_key = (net, image_key(&other));
        assert_ne!(other_key, key);
        assert!(!Arc::ptr_eq(&first, &settle(&mut cache, other_key, &other)));
        assert!(cache.forward(Which::N2).done().is_none(), "N2 is not run for N1");
    }

    fn settle_dataset(cache: &mut Cache) -> Vec<Note> {
        let mut notes = Vec::new();
        for _ in 0..2000 {
            notes.extend(cache.poll());
            if cache.dataset_job().is_none() {
                return notes;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the dataset did not finish");
    }

    #[test]
    fn datasets_are_generated_per_request_with_their_warnings() {
        let classes = presets::toy_squares();
        let mut cache = Cache::default();
        let settings = DatasetSettings { height: 8, width: 8, samples_per_class: 3, ..DatasetSettings::default() };
        let request = (0, settings.clone());
        assert!(cache.dataset_needs(&request));
        cache.generate_dataset(None, &classes, request.clone());
        assert!(!cache.dataset_needs(&request), "running");
        let notes = settle_dataset(&mut cache);
        assert!(matches!(&notes[..], [Note::Info(m)] if m.starts_with("generated 6 samples")), "{notes:?}");
        assert_eq!((cache.dataset().map(|d| d.samples.len()), cache.dataset_generation()), (Some(6), 1));
        assert_eq!(cache.dataset_for(), Some(&request));
        assert!(!cache.dataset_needs(&request) && cache.dataset_needs(&(1, settings.clone())));
        let impossible = (1, DatasetSettings { height: 1, width: 1, ..settings });
        cache.generate_dataset(None, &classes, impossible.clone());
        let notes = settle_dataset(&mut cache);
        assert!(matches!(&notes[..], [Note::Error(_)]), "{notes:?}");
        assert!(cache.dataset_error().is_some() && !cache.dataset_warnings().is_empty());
        assert!(!cache.dataset_needs(&impossible), "a failed request is not retried");
        assert_eq!(cache.dataset_for(), Some(&request), "the last dataset stays");
    }
}
