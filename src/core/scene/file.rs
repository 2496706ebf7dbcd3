//! The scene's JSON document: what is written field for field, the checks on the way in, and the
//! report of fields this build does not know.
//!
//! Unknown fields are found by comparing the text as read with the scene written back: every
//! object key of the input that the canonical form lacks is one this build ignored. Only the keys
//! are compared ([`Shape`]), so a scene with megabytes of weights is never held as a JSON tree.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ndarray::Array2;
use serde::{Deserialize, Serialize};

use super::{
    CurvePoint, EmbeddedModel, FORMAT, Figure4Settings, LECTURE_STEPS, LectureStart, MAX_CLASSES, MAX_EPOCHS,
    MAX_FIGURE4_SAMPLES, MAX_SAMPLES_PER_CLASS, MAX_TITLE_CHARS, Scene, SceneError, SceneTiles, TrainedRun,
    TrainedWeights, TrainingSettings, VERSION, Warning,
};
use crate::core::construct::Which;
use crate::core::dataset::{Background, DatasetSpec};
use crate::core::export::view_figures::ViewKind;
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::layers::Layers;
use crate::core::nn::n2_shaped::ShapedSettings;
use crate::core::nn::train::{Hyper, Position};
use crate::core::nn::{deep_weights, weights_file};
use crate::core::presets::Preset;
use crate::core::tile::{ClassSet, TileId};
use crate::core::tileset_file;

/// Largest side of an embedded background picture.
pub const MAX_BACKGROUND_SIDE: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Doc {
    format: String,
    version: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    title: String,
    tiles: TilesDoc,
    dataset: DatasetDoc,
    #[serde(default)]
    training: TrainingDoc,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    trained: Option<TrainedDoc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    model: Option<ModelDoc>,
    #[serde(default)]
    network: NetworkDoc,
    #[serde(default)]
    figure4: Figure4Doc,
    #[serde(default)]
    view: ViewKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lecture: Option<LectureDoc>,
}

/// Read first, ignoring everything else, so a wrong format or version is reported as such.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum TilesDoc {
    /// A bundled tile set by name.
    Preset(Preset),
    /// A whole tile-set document (`"format": "tilelab-tileset"`), as a tile-set file holds it.
    Tileset(tileset_file::FileDoc),
}

#[derive(Serialize, Deserialize)]
struct DatasetDoc {
    height: usize,
    width: usize,
    samples_per_class: usize,
    background: BackgroundDoc,
    #[serde(default)]
    jitter: f32,
    seed: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BackgroundDoc {
    Uniform,
    Smooth {
        cell: usize,
    },
    Constant {
        value: f32,
    },
    Gradient {
        angle_degrees: f32,
    },
    /// A grey picture, row-major values in [0, 1].
    Image {
        rows: usize,
        cols: usize,
        values: Vec<f32>,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(default)]
struct TrainingDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    layers: Option<Layers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n2_shaped: Option<ShapedSettings>,
    filters: usize,
    kernel: usize,
    learning_rate: f32,
    batch_size: usize,
    momentum: f32,
    weight_decay: f32,
    train_per_class: usize,
    test_per_class: usize,
    seed: u64,
    epochs: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_accuracy: Option<f32>,
}

impl Default for TrainingDoc {
    fn default() -> Self {
        training_doc(&TrainingSettings::default())
    }
}

/// A trained run: exactly one of the three kinds of weights.
#[derive(Serialize, Deserialize)]
struct TrainedDoc {
    /// The paper's network: a whole weights document (`"format": "tilelab-cnn-weights"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weights: Option<weights_file::WeightsFile>,
    /// A network of blocks: a whole weights document (`"format": "tilelab-deep-weights"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deep_weights: Option<deep_weights::DeepWeightsDoc>,
    /// An n2-shaped network's parameters (it is rebuilt from the tiles and the image size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n2_shaped_parameters: Option<Vec<f32>>,
    #[serde(default)]
    position: Position,
    /// `[epoch, loss, accuracy]` per point.
    #[serde(default)]
    train_curve: Vec<(f64, f32, f32)>,
    #[serde(default)]
    test_curve: Vec<(f64, f32, f32)>,
}

#[derive(Serialize, Deserialize)]
struct ModelDoc {
    name: String,
    /// The ONNX bytes in standard base64.
    onnx_base64: String,
}

#[derive(Serialize, Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum NetworkDoc {
    #[default]
    N1,
    N2,
}

#[derive(Serialize, Deserialize)]
#[serde(default)]
struct Figure4Doc {
    /// `[class, feature, tile]` per tile, counted from 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    tiles: Option<Vec<[usize; 3]>>,
    samples: usize,
    seed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    epsilon_override: Option<f32>,
    every_offset: bool,
}

impl Default for Figure4Doc {
    fn default() -> Self {
        figure4_doc(&Figure4Settings::default())
    }
}

#[derive(Serialize, Deserialize)]
struct LectureDoc {
    /// From 1 to [`LECTURE_STEPS`].
    step: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    followed: Option<[usize; 3]>,
}

/// The scene as pretty JSON (what a `.tilelab` file holds).
pub fn to_json(scene: &Scene) -> Result<String, SceneError> {
    Ok(serde_json::to_string_pretty(&doc_of(scene)?)?)
}

/// The scene as one line of JSON (what a link compresses).
pub fn to_compact_json(scene: &Scene) -> Result<String, SceneError> {
    Ok(serde_json::to_string(&doc_of(scene)?)?)
}

/// Parses and checks a scene; fields this build does not know come back as warnings.
pub fn from_json(text: &str) -> Result<(Scene, Vec<Warning>), SceneError> {
    let header: Header = serde_json::from_str(text)?;
    match header.format {
        Some(format) if format == FORMAT => {}
        other => return Err(SceneError::WrongFormat(other.unwrap_or_default())),
    }
    let version = header.version.unwrap_or(0);
    let newer = match version {
        VERSION => false,
        v if v > VERSION => true,
        v => return Err(SceneError::UnsupportedVersion(v)),
    };
    let doc: Doc = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(_) if newer => return Err(SceneError::UnsupportedVersion(version)),
        Err(error) => return Err(error.into()),
    };
    let scene = scene_of(doc)?;
    let mut warnings = Vec::new();
    if newer {
        warnings.push(Warning(format!(
            "the scene was written by a newer tilelab (version {version}; this one reads version {VERSION}): \
             what it does not know is left out"
        )));
    }
    let input: Shape = serde_json::from_str(text)?;
    let canonical: Shape = serde_json::from_str(&to_compact_json(&scene)?)?;
    let mut unknown = Vec::new();
    unknown_fields(&input, &canonical, "", &mut unknown);
    warnings.extend(unknown.into_iter().map(|field| Warning(format!("unknown field '{field}' ignored"))));
    Ok((scene, warnings))
}

/// The keys of a JSON document's objects without its values: numbers, strings and booleans are
/// dropped, and arrays keep only the elements that hold objects or arrays (with their index).
#[derive(Debug, PartialEq)]
enum Shape {
    Object(Vec<(String, Shape)>),
    Array(Vec<(usize, Shape)>),
    Null,
    Leaf,
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ShapeVisitor)
    }
}

struct ShapeVisitor;

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = Shape;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_str<E>(self, _: &str) -> Result<Shape, E> {
        Ok(Shape::Leaf)
    }

    fn visit_unit<E>(self) -> Result<Shape, E> {
        Ok(Shape::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        let mut nested = Vec::new();
        let mut index = 0;
        while let Some(element) = seq.next_element::<Shape>()? {
            if matches!(element, Shape::Object(_) | Shape::Array(_)) {
                nested.push((index, element));
            }
            index += 1;
        }
        Ok(Shape::Array(nested))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Shape>()? {
            entries.push(entry);
        }
        Ok(Shape::Object(entries))
    }
}

/// Keys of `input`'s objects that `known` lacks, as dotted paths (`training.dropout`, `trained.weights.extra`).
fn unknown_fields(input: &Shape, known: &Shape, path: &str, found: &mut Vec<String>) {
    match (input, known) {
        (Shape::Object(input), Shape::Object(known)) => {
            for (key, value) in input {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                match known.iter().find(|(k, _)| k == key) {
                    Some((_, inner)) => unknown_fields(value, inner, &here, found),
                    // A null is what an absent optional field reads as: nothing is lost.
                    None if *value == Shape::Null => {}
                    None => found.push(here),
                }
            }
        }
        (Shape::Array(input), Shape::Array(known)) => {
            for (index, value) in input {
                if let Ok(at) = known.binary_search_by_key(index, |(i, _)| *i) {
                    unknown_fields(value, &known[at].1, &format!("{path}[{index}]"), found);
                }
            }
        }
        _ => {}
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> SceneError {
    SceneError::Invalid { field, problem: problem.into() }
}

fn scene_of(doc: Doc) -> Result<Scene, SceneError> {
    if doc.title.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid("title", format!("more than {MAX_TITLE_CHARS} characters")));
    }
    let tiles = match doc.tiles {
        TilesDoc::Preset(preset) => SceneTiles::Preset(preset),
        TilesDoc::Tileset(doc) => SceneTiles::Custom(class_set(&doc)?),
    };
    let classes = tiles.classes();
    if classes.len() > MAX_CLASSES {
        return Err(SceneError::TooManyClasses(classes.len()));
    }
    let dataset = dataset_spec(doc.dataset)?;
    dataset.validate(&classes)?;
    let training = training_settings(&doc.training)?;
    let trained = doc.trained.map(|t| trained_run(t, &classes, &dataset, &training)).transpose()?;
    let model = doc.model.map(embedded_model).transpose()?;
    let figure4 = figure4_settings(doc.figure4, &classes)?;
    let lecture = doc.lecture.map(|l| lecture_start(&l, &classes)).transpose()?;
    let network = match doc.network {
        NetworkDoc::N1 => Which::N1,
        NetworkDoc::N2 => Which::N2,
    };
    Ok(Scene { title: doc.title, tiles, dataset, training, trained, model, network, figure4, view: doc.view, lecture })
}

fn doc_of(scene: &Scene) -> Result<Doc, SceneError> {
    let tiles = match &scene.tiles {
        SceneTiles::Preset(preset) => TilesDoc::Preset(*preset),
        SceneTiles::Custom(classes) => TilesDoc::Tileset(tileset_file::to_doc(classes)?),
    };
    let trained = scene.trained.as_ref().map(trained_doc).transpose()?;
    Ok(Doc {
        format: FORMAT.to_owned(),
        version: VERSION,
        title: scene.title.clone(),
        tiles,
        dataset: dataset_doc(&scene.dataset),
        training: training_doc(&scene.training),
        trained,
        model: scene.model.as_ref().map(|m| ModelDoc { name: m.name.clone(), onnx_base64: STANDARD.encode(&m.bytes) }),
        network: match scene.network {
            Which::N1 => NetworkDoc::N1,
            Which::N2 => NetworkDoc::N2,
        },
        figure4: figure4_doc(&scene.figure4),
        view: scene.view,
        lecture: scene.lecture.map(|l| LectureDoc { step: l.step, followed: l.followed.map(tile_triple) }),
    })
}

fn class_set(doc: &tileset_file::FileDoc) -> Result<ClassSet, SceneError> {
    // Counted before the tiles are built, so 10,000 classes are refused without building them.
    let classes = tileset_file::class_count(doc);
    if classes > MAX_CLASSES {
        return Err(SceneError::TooManyClasses(classes));
    }
    Ok(tileset_file::from_doc(doc)?)
}

fn dataset_spec(doc: DatasetDoc) -> Result<DatasetSpec, SceneError> {
    let background = match doc.background {
        BackgroundDoc::Uniform => Background::Uniform,
        BackgroundDoc::Smooth { cell } => Background::Smooth { cell },
        BackgroundDoc::Constant { value } => Background::Constant(value),
        BackgroundDoc::Gradient { angle_degrees } => Background::Gradient { angle_degrees },
        BackgroundDoc::Image { rows, cols, values } => {
            if rows == 0 || cols == 0 || rows > MAX_BACKGROUND_SIDE || cols > MAX_BACKGROUND_SIDE {
                let problem = format!("a {rows}×{cols} background picture (1 to {MAX_BACKGROUND_SIDE} per side)");
                return Err(invalid("dataset background", problem));
            }
            if values.iter().any(|v| !(0.0..=1.0).contains(v)) {
                return Err(invalid("dataset background", "picture values must lie in [0, 1]"));
            }
            let got = values.len();
            let image = Array2::from_shape_vec((rows, cols), values)
                .map_err(|_| invalid("dataset background", format!("{got} values for a {rows}×{cols} picture")))?;
            Background::Image(image)
        }
    };
    Ok(DatasetSpec {
        height: doc.height,
        width: doc.width,
        samples_per_class: doc.samples_per_class,
        background,
        jitter: doc.jitter,
        seed: doc.seed,
    })
}

fn dataset_doc(spec: &DatasetSpec) -> DatasetDoc {
    let background = match &spec.background {
        Background::Uniform => BackgroundDoc::Uniform,
        Background::Smooth { cell } => BackgroundDoc::Smooth { cell: *cell },
        Background::Constant(value) => BackgroundDoc::Constant { value: *value },
        Background::Gradient { angle_degrees } => BackgroundDoc::Gradient { angle_degrees: *angle_degrees },
        Background::Image(image) => {
            BackgroundDoc::Image { rows: image.nrows(), cols: image.ncols(), values: image.iter().copied().collect() }
        }
    };
    DatasetDoc {
        height: spec.height,
        width: spec.width,
        samples_per_class: spec.samples_per_class,
        background,
        jitter: spec.jitter,
        seed: spec.seed,
    }
}

fn training_settings(doc: &TrainingDoc) -> Result<TrainingSettings, SceneError> {
    let hyper = Hyper {
        learning_rate: doc.learning_rate,
        batch_size: doc.batch_size,
        momentum: doc.momentum,
        weight_decay: doc.weight_decay,
    };
    hyper.validate().map_err(|e| invalid("training settings", e.to_string()))?;
    let counts = [
        ("filters", doc.filters, crate::core::nn::cnn::MAX_FILTERS),
        ("kernel", doc.kernel, crate::core::nn::cnn::MAX_IMAGE_SIDE),
        ("train_per_class", doc.train_per_class, MAX_SAMPLES_PER_CLASS),
        ("epochs", doc.epochs, MAX_EPOCHS),
    ];
    for (name, value, limit) in counts {
        if value == 0 || value > limit {
            return Err(invalid("training settings", format!("{name} is {value} (1 to {limit})")));
        }
    }
    if doc.test_per_class > MAX_SAMPLES_PER_CLASS {
        let problem = format!("test_per_class is {} (at most {MAX_SAMPLES_PER_CLASS})", doc.test_per_class);
        return Err(invalid("training settings", problem));
    }
    if let Some(target) = doc.target_accuracy.filter(|t| !(*t > 0.0 && *t <= 1.0)) {
        return Err(invalid("training settings", format!("target_accuracy is {target} (in (0, 1])")));
    }
    Ok(TrainingSettings {
        layers: doc.layers,
        n2_shaped: doc.n2_shaped,
        filters: doc.filters,
        kernel: doc.kernel,
        hyper,
        train_per_class: doc.train_per_class,
        test_per_class: doc.test_per_class,
        seed: doc.seed,
        epochs: doc.epochs,
        target_accuracy: doc.target_accuracy,
    })
}

fn training_doc(settings: &TrainingSettings) -> TrainingDoc {
    TrainingDoc {
        layers: settings.layers,
        n2_shaped: settings.n2_shaped,
        filters: settings.filters,
        kernel: settings.kernel,
        learning_rate: settings.hyper.learning_rate,
        batch_size: settings.hyper.batch_size,
        momentum: settings.hyper.momentum,
        weight_decay: settings.hyper.weight_decay,
        train_per_class: settings.train_per_class,
        test_per_class: settings.test_per_class,
        seed: settings.seed,
        epochs: settings.epochs,
        target_accuracy: settings.target_accuracy,
    }
}

fn trained_run(
    doc: TrainedDoc,
    classes: &ClassSet,
    dataset: &DatasetSpec,
    training: &TrainingSettings,
) -> Result<TrainedRun, SceneError> {
    let weights = trained_weights(doc.weights, doc.deep_weights, doc.n2_shaped_parameters, classes, dataset, training)?;
    let curve = |points: Vec<(f64, f32, f32)>| -> Result<Vec<CurvePoint>, SceneError> {
        points
            .into_iter()
            .map(|(epoch, loss, accuracy)| {
                if epoch.is_finite() && loss.is_finite() && accuracy.is_finite() {
                    Ok(CurvePoint { epoch, loss, accuracy })
                } else {
                    Err(invalid("training curves", "a point is not a finite number"))
                }
            })
            .collect()
    };
    Ok(TrainedRun {
        weights,
        position: doc.position,
        train_curve: curve(doc.train_curve)?,
        test_curve: curve(doc.test_curve)?,
    })
}

/// The one kind of weights present, checked against the network the settings make.
fn trained_weights(
    paper: Option<weights_file::WeightsFile>,
    deep: Option<deep_weights::DeepWeightsDoc>,
    shaped: Option<Vec<f32>>,
    classes: &ClassSet,
    dataset: &DatasetSpec,
    training: &TrainingSettings,
) -> Result<TrainedWeights, SceneError> {
    let (height, width) = (dataset.height, dataset.width);
    let mismatch = |weights: &str| {
        invalid("trained weights", format!("{weights}, but the training settings make another network"))
    };
    match (paper, deep, shaped) {
        (Some(doc), None, None) => {
            let cnn = weights_file::from_doc(doc)?;
            let want =
                CnnSpec { height, width, kernel: training.kernel, filters: training.filters, classes: classes.len() };
            if training.layers.is_some() || training.n2_shaped.is_some() {
                return Err(mismatch("the paper's network"));
            }
            if cnn.spec() != want {
                let problem = format!("the weights are for {:?}, the scene's settings make {want:?}", cnn.spec());
                return Err(invalid("trained weights", problem));
            }
            Ok(TrainedWeights::Paper(cnn))
        }
        (None, Some(doc), None) => {
            let net = deep_weights::from_doc(doc).map_err(|e| invalid("trained weights", e.to_string()))?;
            let want =
                training.layers.filter(|_| training.n2_shaped.is_none()).map(|l| l.arch(height, width, classes.len()));
            if want.as_ref() != Some(net.arch()) {
                return Err(mismatch("a network of convolution blocks"));
            }
            Ok(TrainedWeights::Deep(net))
        }
        (None, None, Some(parameters)) => {
            if training.n2_shaped.is_none() {
                return Err(mismatch("an n2-shaped network"));
            }
            if parameters.iter().any(|v| !v.is_finite()) {
                return Err(invalid("trained weights", "a parameter is not a finite number"));
            }
            Ok(TrainedWeights::Shaped(parameters))
        }
        _ => Err(invalid(
            "trained weights",
            "a trained run holds exactly one of weights, deep_weights and n2_shaped_parameters",
        )),
    }
}

fn trained_doc(run: &TrainedRun) -> Result<TrainedDoc, SceneError> {
    let points = |curve: &[CurvePoint]| -> Result<Vec<(f64, f32, f32)>, SceneError> {
        curve
            .iter()
            .map(|p| {
                let finite = p.epoch.is_finite() && p.loss.is_finite() && p.accuracy.is_finite();
                finite
                    .then_some((p.epoch, p.loss, p.accuracy))
                    .ok_or_else(|| invalid("training curves", "a point is not a finite number, which JSON cannot hold"))
            })
            .collect()
    };
    let (weights, deep_weights, n2_shaped_parameters) = match &run.weights {
        TrainedWeights::Paper(cnn) => (Some(weights_file::to_doc(cnn)?), None, None),
        TrainedWeights::Deep(net) => (None, Some(deep_weights::to_doc(net)), None),
        TrainedWeights::Shaped(parameters) => (None, None, Some(parameters.clone())),
    };
    Ok(TrainedDoc {
        weights,
        deep_weights,
        n2_shaped_parameters,
        position: run.position,
        train_curve: points(&run.train_curve)?,
        test_curve: points(&run.test_curve)?,
    })
}

fn embedded_model(doc: ModelDoc) -> Result<EmbeddedModel, SceneError> {
    let bytes = STANDARD.decode(doc.onnx_base64.as_bytes()).map_err(|e| invalid("ONNX model", e.to_string()))?;
    // The same checks as opening a model file: the scene loads only if the model would.
    OnnxModel::from_bytes(&bytes, None)?;
    Ok(EmbeddedModel { name: doc.name, bytes })
}

fn figure4_settings(doc: Figure4Doc, classes: &ClassSet) -> Result<Figure4Settings, SceneError> {
    if doc.samples == 0 || doc.samples > MAX_FIGURE4_SAMPLES {
        return Err(invalid("Figure 4 settings", format!("samples is {} (1 to {MAX_FIGURE4_SAMPLES})", doc.samples)));
    }
    if let Some(epsilon) = doc.epsilon_override.filter(|e| !(e.is_finite() && *e > 0.0)) {
        return Err(invalid("Figure 4 settings", format!("epsilon_override is {epsilon} (a positive number)")));
    }
    let tiles = doc
        .tiles
        .map(|tiles| tiles.into_iter().map(|triple| existing_tile(triple, classes, "Figure 4 settings")).collect())
        .transpose()?;
    Ok(Figure4Settings {
        tiles,
        samples: doc.samples,
        seed: doc.seed,
        epsilon_override: doc.epsilon_override,
        every_offset: doc.every_offset,
    })
}

fn figure4_doc(settings: &Figure4Settings) -> Figure4Doc {
    Figure4Doc {
        tiles: settings.tiles.as_ref().map(|tiles| tiles.iter().copied().map(tile_triple).collect()),
        samples: settings.samples,
        seed: settings.seed,
        epsilon_override: settings.epsilon_override,
        every_offset: settings.every_offset,
    }
}

fn lecture_start(doc: &LectureDoc, classes: &ClassSet) -> Result<LectureStart, SceneError> {
    if doc.step == 0 || doc.step > LECTURE_STEPS {
        return Err(invalid("lecture", format!("step {} (1 to {LECTURE_STEPS})", doc.step)));
    }
    let followed = doc.followed.map(|triple| existing_tile(triple, classes, "lecture")).transpose()?;
    Ok(LectureStart { step: doc.step, followed })
}

fn existing_tile(
    [class, feature, tile]: [usize; 3],
    classes: &ClassSet,
    field: &'static str,
) -> Result<TileId, SceneError> {
    let id = TileId { class, feature, tile };
    if classes.tile(id).is_none() {
        return Err(invalid(field, format!("there is no tile [{class}, {feature}, {tile}] in the tile set")));
    }
    Ok(id)
}

fn tile_triple(id: TileId) -> [usize; 3] {
    [id.class, id.feature, id.tile]
}
