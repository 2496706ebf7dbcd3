//! Scenes: one file (`*.tilelab`) or one link that holds a whole experiment — the tile set (or a
//! bundled preset's name), the dataset settings and seeds, the training settings, optionally the
//! trained weights and an opened ONNX model, the network and view shown, the Figure 4 settings,
//! and a lecture step. The app opens and saves them; `tilelab figures --scene`,
//! `tilelab reproduce figure4 --scene` and `tilelab dataset --scene` compute from them headless.
//!
//! ```json
//! {"format": "tilelab-scene", "version": 1, "title": "…", "tiles": {"preset": "fashion_three"},
//!  "dataset": {…}, "training": {…}, "network": "n1", "view": "networks", "figure4": {…}}
//! ```
//! README.md ("Scene file format") lists every field. Opening checks the size of the file, the
//! format and version, every number and size, the embedded tile set, weights (`nn::weights_file`)
//! and ONNX model (`interop::onnx_import`) before anything is returned: a scene loads whole or not
//! at all. Fields this build does not know (a newer tilelab's) come back as [`Warning`]s.
//!
//! - [`file`]: the JSON document, its checks and the unknown-field report.
//! - [`link`]: the compact URL-safe text of a scene (deflate + base64url), bounded on the way in.
//! - [`compute`]: what a scene computes headless (dataset, networks, training, Figure 4, view files).

pub mod compute;
pub mod file;
pub mod link;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use file::{from_json, to_json};
pub use link::{URL_FRAGMENT, from_link, to_link};

use crate::core::atomic::write_atomic;
use crate::core::bounded_read::{BoundedReadError, read_text_at_most};
use crate::core::construct::Which;
use crate::core::dataset::{Background, DatasetError, DatasetSpec};
use crate::core::export::view_figures::ViewKind;
use crate::core::interop::onnx_import::ImportError;
use crate::core::nn::cnn::Cnn;
use crate::core::nn::deep::DeepNet;
use crate::core::nn::layers::Layers;
use crate::core::nn::n2_shaped::ShapedSettings;
use crate::core::nn::train::{Hyper, Position};
use crate::core::nn::weights_file::WeightsFileError;
use crate::core::presets::Preset;
use crate::core::tile::{ClassSet, TileId};
use crate::core::tileset_file::TileSetFileError;

/// The `format` field of every scene file.
pub const FORMAT: &str = "tilelab-scene";
/// The version this build writes (and the newest it reads fully).
pub const VERSION: u64 = 1;
/// The file name extension of scene files.
pub const EXTENSION: &str = "tilelab";
/// Largest scene file read (trained weights of the paper's network take about 2 MB of JSON).
pub const MAX_FILE_BYTES: u64 = 64 << 20;
/// Most classes a scene may hold (the trained CNN's limit).
pub const MAX_CLASSES: usize = crate::core::nn::cnn::MAX_CLASSES;
/// Most training or test samples per class.
pub const MAX_SAMPLES_PER_CLASS: usize = 5000;
/// Most epochs of a run.
pub const MAX_EPOCHS: usize = 10_000;
/// Most images per tile and perturbation of the Figure 4 study.
pub const MAX_FIGURE4_SAMPLES: usize = 10_000;
/// The lecture's steps, numbered from 1.
pub const LECTURE_STEPS: usize = 10;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// Why a scene could not be opened or written.
#[derive(Debug, Error)]
pub enum SceneError {
    #[error("not a valid scene file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a tilelab scene: \"format\" is {0:?}, expected \"{FORMAT}\"")]
    WrongFormat(String),
    #[error("scene version {0} is not supported (this tilelab reads version {VERSION})")]
    UnsupportedVersion(u64),
    #[error("the scene's tile set: {0}")]
    TileSet(#[from] TileSetFileError),
    #[error("the scene has {0} classes; at most {MAX_CLASSES} are allowed")]
    TooManyClasses(usize),
    #[error("the scene's dataset settings: {0}")]
    Dataset(#[from] DatasetError),
    #[error("the scene's {field}: {problem}")]
    Invalid { field: &'static str, problem: String },
    #[error("the scene's trained weights: {0}")]
    Weights(#[from] WeightsFileError),
    #[error("the scene's ONNX model: {0}")]
    Model(#[from] ImportError),
    #[error("{path}: the file is {size} bytes, more than the {limit}-byte limit of a scene")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("not a scene link: {0}")]
    Link(String),
    #[error("the scene link unpacks to more than {limit} bytes; a link holds no weights, so this is not one")]
    LinkTooLarge { limit: usize },
    #[error(
        "the scene is too big for a link ({chars} characters, at most {limit}): save it as a .tilelab file instead"
    )]
    TooBigForLink { chars: usize, limit: usize },
}

/// Something worth telling about an opened scene that did not stop it from loading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub String);

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a scene's tile set comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneTiles {
    /// A bundled preset, by name (a short link).
    Preset(Preset),
    /// The tiles themselves.
    Custom(ClassSet),
}

impl SceneTiles {
    /// The tile set.
    pub fn classes(&self) -> ClassSet {
        match self {
            Self::Preset(preset) => preset.classes(),
            Self::Custom(classes) => classes.clone(),
        }
    }
}

/// The training run's architecture, hyper-parameters, data sizes, seed and stop rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingSettings {
    /// Convolution blocks and a hidden layer of the architecture editor; `None` is the paper's
    /// network of `filters` and `kernel` (scenes written before the editor hold none).
    pub layers: Option<Layers>,
    /// N2's own layers trained by SGD, instead of `layers` or the paper's network.
    pub n2_shaped: Option<ShapedSettings>,
    /// Convolution filters.
    pub filters: usize,
    /// Side of the square convolution kernel.
    pub kernel: usize,
    /// Learning rate, batch size, momentum, weight decay.
    pub hyper: Hyper,
    /// Training samples generated per class (from the dataset seed).
    pub train_per_class: usize,
    /// Test samples generated per class.
    pub test_per_class: usize,
    /// Seed of the initial weights and the shuffling.
    pub seed: u64,
    /// Epochs a run trains.
    pub epochs: usize,
    /// A run stops early at the end of the first epoch reaching this test accuracy.
    pub target_accuracy: Option<f32>,
}

impl Default for TrainingSettings {
    /// The paper's Fashion-MNIST setting (Section 6.2): conv 5×5 ×12, lr 0.03, batch 100, 15 epochs.
    fn default() -> Self {
        Self {
            layers: None,
            n2_shaped: None,
            filters: 12,
            kernel: 5,
            hyper: Hyper::paper_fashion(),
            train_per_class: 400,
            test_per_class: 100,
            seed: 1,
            epochs: 15,
            target_accuracy: None,
        }
    }
}

/// One point of a training curve (`epoch` counts samples seen over the training-set size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Epochs done.
    pub epoch: f64,
    /// Mean cross-entropy.
    pub loss: f32,
    /// Fraction classified correctly.
    pub accuracy: f32,
}

/// The weights of a trained network, of the kind the training settings make.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainedWeights {
    /// The paper's network.
    Paper(Cnn),
    /// Convolution blocks and an optional hidden layer.
    Deep(DeepNet),
    /// An n2-shaped network's parameters; the network is rebuilt from the tile set, the image size
    /// and the settings' wiring (its size is checked then).
    Shaped(Vec<f32>),
}

/// A trained network with its curves and where its run stands.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedRun {
    /// The weights.
    pub weights: TrainedWeights,
    /// Where the run stands (to continue it).
    pub position: Position,
    /// Training loss and accuracy.
    pub train_curve: Vec<CurvePoint>,
    /// Test loss and accuracy.
    pub test_curve: Vec<CurvePoint>,
}

/// An ONNX model opened for the trained side, embedded byte for byte.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddedModel {
    /// Its file name when it was opened (shown in captions).
    pub name: String,
    /// The ONNX bytes.
    pub bytes: Vec<u8>,
}

/// The Figure 4 study's settings (the Invariance view).
#[derive(Debug, Clone, PartialEq)]
pub struct Figure4Settings {
    /// Tiles studied (`None`: the first tile of the first three classes).
    pub tiles: Option<Vec<TileId>>,
    /// Images per tile and perturbation.
    pub samples: usize,
    /// Seed of the perturbations.
    pub seed: u64,
    /// ε given to every tile of N1, replacing their own.
    pub epsilon_override: Option<f32>,
    /// Translate the tile to every valid offset instead of `samples` random ones.
    pub every_offset: bool,
}

impl Default for Figure4Settings {
    fn default() -> Self {
        Self { tiles: None, samples: 100, seed: 1, epsilon_override: None, every_offset: false }
    }
}

impl Figure4Settings {
    /// The tiles studied in `classes`: the chosen ones that exist, or the first tile of the first three classes.
    pub fn tiles_in(&self, classes: &ClassSet) -> Vec<TileId> {
        let candidates: Vec<TileId> = match &self.tiles {
            Some(tiles) => tiles.clone(),
            None => (0..classes.len().min(3)).map(|class| TileId { class, feature: 0, tile: 0 }).collect(),
        };
        candidates.into_iter().filter(|id| classes.tile(*id).is_some()).collect()
    }
}

/// Where a lecture starts when the scene opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LectureStart {
    /// The step, from 1 to [`LECTURE_STEPS`].
    pub step: usize,
    /// The tile the lecture follows (`None`: the one selected in the editor).
    pub followed: Option<TileId>,
}

/// A whole experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    /// One line saying what the scene shows (File → Examples lists it).
    pub title: String,
    /// The tile set.
    pub tiles: SceneTiles,
    /// Image size, samples, background, jitter and the dataset seed.
    pub dataset: DatasetSpec,
    /// The training settings and seed.
    pub training: TrainingSettings,
    /// Trained weights and curves, if the scene keeps them.
    pub trained: Option<TrainedRun>,
    /// An ONNX model shown on the trained side, if one was open.
    pub model: Option<EmbeddedModel>,
    /// The constructed network shown (N1 or N2).
    pub network: Which,
    /// The Figure 4 settings.
    pub figure4: Figure4Settings,
    /// The view open.
    pub view: ViewKind,
    /// Opens in lecture mode at this step.
    pub lecture: Option<LectureStart>,
}

impl Default for Scene {
    /// The app's first screen: three Fashion-MNIST classes on 40×40 noise, 20 samples per class.
    fn default() -> Self {
        Self {
            title: String::new(),
            tiles: SceneTiles::Preset(Preset::FashionThree),
            dataset: DatasetSpec {
                height: 40,
                width: 40,
                samples_per_class: 20,
                background: Background::Uniform,
                jitter: 0.0,
                seed: 1,
            },
            training: TrainingSettings::default(),
            trained: None,
            model: None,
            network: Which::N1,
            figure4: Figure4Settings::default(),
            view: ViewKind::Tiles,
            lecture: None,
        }
    }
}

/// The bundled example scenes (`assets/scenes/`, File → Examples), by file stem, as text.
pub const BUNDLED: [(&str, &str); 6] = [
    ("paper-toy", include_str!("../../../assets/scenes/paper-toy.tilelab")),
    ("fashion-three", include_str!("../../../assets/scenes/fashion-three.tilelab")),
    ("mnist-ten", include_str!("../../../assets/scenes/mnist-ten.tilelab")),
    ("two-feature-object", include_str!("../../../assets/scenes/two-feature-object.tilelab")),
    ("large-epsilon", include_str!("../../../assets/scenes/large-epsilon.tilelab")),
    ("imported-model", include_str!("../../../assets/scenes/imported-model.tilelab")),
];

/// The title in a scene's text, without reading the rest (menus list the examples by it).
pub fn title_of(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Titled {
        #[serde(default)]
        title: String,
    }
    serde_json::from_str::<Titled>(text).map(|t| t.title).unwrap_or_default()
}

/// Opens a scene file (at most [`MAX_FILE_BYTES`]), with what it held that this build does not know.
pub fn open(path: &Path) -> Result<(Scene, Vec<Warning>), SceneError> {
    let text = read_text_at_most(path, MAX_FILE_BYTES).map_err(|error| match error {
        BoundedReadError::Io(source) => SceneError::Io { path: path.to_owned(), source },
        BoundedReadError::TooLarge { size, limit } => SceneError::TooLarge { path: path.to_owned(), size, limit },
    })?;
    from_json(&text)
}

/// Saves a scene atomically (a crash leaves the old file or the new one).
pub fn save(path: &Path, scene: &Scene) -> Result<(), SceneError> {
    let text = to_json(scene)?;
    write_atomic(path, text.as_bytes()).map_err(|source| SceneError::Io { path: path.to_owned(), source })
}
