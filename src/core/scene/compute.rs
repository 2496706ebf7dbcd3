//! What a scene computes headless, the way the app computes it when it opens the scene: the
//! dataset, N1/N2, the network beside them (the embedded model, else the trained weights of any
//! architecture, else an untrained CNN or a network freshly trained by the scene's settings), the
//! Figure 4 study, and every view's figure and CSV (`core::export::view_figures`, the functions
//! File → Export calls).

use std::path::{Path, PathBuf};

use thiserror::Error;

use super::{CurvePoint, Scene, TrainedRun, TrainedWeights};
use crate::core::construct::{ConstructError, Which};
use crate::core::dataset::{self, Dataset, DatasetError, DatasetSpec};
use crate::core::experiments::ExperimentError;
use crate::core::experiments::figure4::{self, Classifier, InvarianceResult, Perturbations};
use crate::core::export::tables;
use crate::core::export::view_figures::{self, ViewExportError, ViewKind, ViewNumbers};
use crate::core::export::{self, ExportError};
use crate::core::interop::onnx_import::{ImportError, OnnxModel};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::nn::deep::DeepNet;
use crate::core::nn::deep_train::{DeepTrainer, Trainable};
use crate::core::nn::dense::NnError;
use crate::core::nn::n2_shaped::{N2Shaped, ShapedError};
use crate::core::nn::train::{LabelledSet, Position, Status, StepReport, TrainError, Trainer};
use crate::core::plot::{Format, render};
use crate::core::tile::ClassSet;

/// Added to the dataset seed for the test set of a training run, so test images differ from training images.
pub const TEST_SEED_OFFSET: u64 = 0x7e57;
/// Filters of the untrained CNN the Invariance view compares with N1 before any training.
pub const UNTRAINED_FILTERS: usize = 12;
/// Kernel side of that untrained CNN (smaller on smaller images).
pub const UNTRAINED_KERNEL: usize = 5;

/// Why a scene's numbers could not be computed.
#[derive(Debug, Error)]
pub enum ComputeError {
    #[error("dataset: {0}")]
    Dataset(#[from] DatasetError),
    #[error("constructed network: {0}")]
    Construct(#[from] ConstructError),
    #[error("network: {0}")]
    Network(#[from] NnError),
    #[error("training: {0}")]
    Train(#[from] TrainError),
    #[error("n2-shaped network: {0}")]
    Shaped(#[from] ShapedError),
    #[error("training diverged: {0}")]
    Diverged(String),
    #[error("the scene's ONNX model: {0}")]
    Model(#[from] ImportError),
    #[error("Figure 4: {0}")]
    Experiment(#[from] ExperimentError),
    #[error(transparent)]
    Export(#[from] ExportError),
    #[error(transparent)]
    View(#[from] ViewExportError),
}

/// The network compared with N1, as the app picks it.
pub enum Compared {
    /// The embedded ONNX model (when it takes the scene's images and classes).
    Model { name: String, model: OnnxModel },
    /// Trained weights (the scene's, or a run trained from its seeds).
    Trained(Cnn),
    /// A trained network of convolution blocks.
    TrainedDeep(DeepNet),
    /// A trained n2-shaped network.
    TrainedShaped(N2Shaped),
    /// An untrained CNN seeded with the Figure 4 seed (the app's Invariance view before training).
    Untrained(Cnn),
}

impl Compared {
    /// The classifier Figure 4 runs.
    pub fn classifier(&self) -> Classifier<'_> {
        match self {
            Self::Model { model, .. } => Classifier::Onnx(model),
            Self::Trained(cnn) | Self::Untrained(cnn) => Classifier::Cnn(cnn),
            Self::TrainedDeep(net) => Classifier::Deep(net),
            Self::TrainedShaped(net) => Classifier::N2Shaped(net),
        }
    }

    /// Its name in figure captions, as the Invariance view says it.
    pub fn caption(&self) -> String {
        match self {
            Self::Model { name, .. } => format!("network {name}"),
            Self::Trained(_) | Self::TrainedDeep(_) | Self::TrainedShaped(_) => "trained CNN".to_owned(),
            Self::Untrained(_) => "untrained CNN".to_owned(),
        }
    }
}

/// The scene's generated dataset.
pub fn dataset(scene: &Scene) -> Result<Dataset, ComputeError> {
    Ok(dataset::generate(&scene.tiles.classes(), &scene.dataset)?)
}

/// The training and test sets a run of the scene trains on: `train_per_class` and `test_per_class`
/// samples of the scene's dataset settings, the test set with the seed moved by [`TEST_SEED_OFFSET`].
pub fn training_sets(
    classes: &ClassSet,
    data: &DatasetSpec,
    train_per_class: usize,
    test_per_class: usize,
    spec: CnnSpec,
) -> Result<(LabelledSet, LabelledSet), ComputeError> {
    let generate = |samples_per_class: usize, seed: u64| -> Result<LabelledSet, ComputeError> {
        let data = DatasetSpec { samples_per_class, seed, ..data.clone() };
        let generated = dataset::generate(classes, &data)?;
        Ok(LabelledSet::from_dataset(&generated, spec.height, spec.width, spec.classes)?)
    };
    let train = generate(train_per_class, data.seed)?;
    let test = if test_per_class == 0 {
        LabelledSet::default()
    } else {
        generate(test_per_class, data.seed.wrapping_add(TEST_SEED_OFFSET))?
    };
    Ok((train, test))
}

/// The CNN architecture the scene trains.
pub fn cnn_spec(scene: &Scene) -> CnnSpec {
    CnnSpec {
        height: scene.dataset.height,
        width: scene.dataset.width,
        kernel: scene.training.kernel,
        filters: scene.training.filters,
        classes: scene.tiles.classes().len(),
    }
}

/// Trains the scene's network (the paper's, blocks or N2's shape, as its settings say) from its
/// seeds for its epochs (stopping early at its target accuracy), one curve point per epoch;
/// `on_epoch` hears each point (training, test).
pub fn train(scene: &Scene, on_epoch: &mut dyn FnMut(&CurvePoint, &CurvePoint)) -> Result<TrainedRun, ComputeError> {
    let settings = &scene.training;
    let spec = cnn_spec(scene);
    let classes = scene.tiles.classes();
    let sets = || training_sets(&classes, &scene.dataset, settings.train_per_class, settings.test_per_class, spec);
    let (hyper, seed) = (settings.hyper, settings.seed);
    if let Some(shaped) = settings.n2_shaped {
        let net = N2Shaped::new(&classes, (spec.height, spec.width), shaped.wiring, shaped.init, seed)?;
        let (train, test) = sets()?;
        let mut trainer = DeepTrainer::from_network(net, hyper, train, test, seed)?;
        let (position, train_curve, test_curve) = train_epochs(&mut trainer, scene, on_epoch)?;
        let weights = TrainedWeights::Shaped(trainer.snapshot().parameters().to_vec());
        return Ok(TrainedRun { weights, position, train_curve, test_curve });
    }
    if let Some(layers) = settings.layers {
        let arch = layers.arch(spec.height, spec.width, spec.classes);
        let (train, test) = sets()?;
        let mut trainer = DeepTrainer::new(arch, hyper, train, test, seed)?;
        let (position, train_curve, test_curve) = train_epochs(&mut trainer, scene, on_epoch)?;
        return Ok(TrainedRun { weights: TrainedWeights::Deep(trainer.snapshot()), position, train_curve, test_curve });
    }
    spec.validate()?;
    let (train, test) = sets()?;
    let mut trainer = Trainer::new(spec, hyper, train, test, seed)?;
    let (position, train_curve, test_curve) = train_epochs(&mut trainer, scene, on_epoch)?;
    Ok(TrainedRun { weights: TrainedWeights::Paper(trainer.snapshot()), position, train_curve, test_curve })
}

/// What [`train_epochs`] needs of a trainer (the paper's fused one and the general one).
trait EpochTrainer {
    fn train_epoch(&mut self) -> StepReport;
    fn test(&mut self) -> crate::core::nn::cnn::Evaluation;
    fn at(&self) -> Position;
}

impl EpochTrainer for Trainer {
    fn train_epoch(&mut self) -> StepReport {
        self.step(self.batches_per_epoch())
    }

    fn test(&mut self) -> crate::core::nn::cnn::Evaluation {
        self.evaluate_test()
    }

    fn at(&self) -> Position {
        self.position()
    }
}

impl<N: Trainable> EpochTrainer for DeepTrainer<N> {
    fn train_epoch(&mut self) -> StepReport {
        self.step(self.batches_per_epoch())
    }

    fn test(&mut self) -> crate::core::nn::cnn::Evaluation {
        self.evaluate_test()
    }

    fn at(&self) -> Position {
        self.position()
    }
}

/// Trains the scene's epochs: the position reached and the training and test curves.
fn train_epochs(
    trainer: &mut impl EpochTrainer,
    scene: &Scene,
    on_epoch: &mut dyn FnMut(&CurvePoint, &CurvePoint),
) -> Result<(Position, Vec<CurvePoint>, Vec<CurvePoint>), ComputeError> {
    let settings = &scene.training;
    let (mut train_curve, mut test_curve) = (Vec::new(), Vec::new());
    for epoch in 1..=settings.epochs {
        let report = trainer.train_epoch();
        if let status @ Status::Diverged { .. } = report.status {
            return Err(ComputeError::Diverged(status.message()));
        }
        let tested = trainer.test();
        let at = epoch as f64;
        let train_point = CurvePoint { epoch: at, loss: report.loss, accuracy: report.accuracy };
        let test_point = CurvePoint { epoch: at, loss: tested.loss, accuracy: tested.accuracy };
        on_epoch(&train_point, &test_point);
        train_curve.push(train_point);
        test_curve.push(test_point);
        if settings.target_accuracy.is_some_and(|target| tested.samples > 0 && tested.accuracy >= target) {
            break;
        }
    }
    Ok((trainer.at(), train_curve, test_curve))
}

/// The network of trained `weights` for the scene, as the comparison takes it.
pub fn trained_network(scene: &Scene, weights: &TrainedWeights) -> Result<Compared, ComputeError> {
    Ok(match weights {
        TrainedWeights::Paper(cnn) => Compared::Trained(cnn.clone()),
        TrainedWeights::Deep(net) => Compared::TrainedDeep(net.clone()),
        TrainedWeights::Shaped(parameters) => {
            let settings = scene.training.n2_shaped.unwrap_or_default();
            let size = (scene.dataset.height, scene.dataset.width);
            let classes = scene.tiles.classes();
            let built = N2Shaped::new(&classes, size, settings.wiring, settings.init, scene.training.seed)?;
            Compared::TrainedShaped(built.with_parameters(parameters.clone())?)
        }
    })
}

/// The embedded model when it takes the scene's image size and classes.
fn fitting_model(scene: &Scene) -> Result<Option<Compared>, ComputeError> {
    let Some(embedded) = &scene.model else { return Ok(None) };
    let model = OnnxModel::from_bytes(&embedded.bytes, None)?;
    let fits = model.input_size() == (scene.dataset.height, scene.dataset.width)
        && model.classes() == scene.tiles.classes().len();
    Ok(fits.then(|| Compared::Model { name: embedded.name.clone(), model }))
}

/// The network the app's Invariance view compares with N1 right after opening the scene: the
/// embedded model, else the scene's trained weights, else an untrained CNN.
pub fn compared_as_opened(scene: &Scene) -> Result<Compared, ComputeError> {
    if let Some(model) = fitting_model(scene)? {
        return Ok(model);
    }
    if let Some(run) = &scene.trained {
        return trained_network(scene, &run.weights);
    }
    let (height, width) = (scene.dataset.height, scene.dataset.width);
    let kernel = UNTRAINED_KERNEL.min(height).min(width);
    let spec = CnnSpec { height, width, kernel, filters: UNTRAINED_FILTERS, classes: scene.tiles.classes().len() };
    Ok(Compared::Untrained(Cnn::new(spec, scene.figure4.seed)?))
}

/// The network `reproduce figure4 --scene` compares: the embedded model, else the trained
/// weights, else a CNN trained now from the scene's seeds.
pub fn compared_trained(
    scene: &Scene,
    on_epoch: &mut dyn FnMut(&CurvePoint, &CurvePoint),
) -> Result<Compared, ComputeError> {
    if let Some(model) = fitting_model(scene)? {
        return Ok(model);
    }
    match &scene.trained {
        Some(run) => trained_network(scene, &run.weights),
        None => trained_network(scene, &train(scene, on_epoch)?.weights),
    }
}

/// The scene's Figure 4 study against `compared`.
pub fn invariance(scene: &Scene, compared: &Compared) -> Result<InvarianceResult, ComputeError> {
    let classes = scene.tiles.classes();
    let settings = &scene.figure4;
    let perturbations = Perturbations {
        samples: settings.samples,
        seed: settings.seed,
        epsilon_override: settings.epsilon_override,
        every_offset: settings.every_offset,
    };
    let tiles = settings.tiles_in(&classes);
    Ok(figure4::invariance(&classes, compared.classifier(), &tiles, &perturbations)?)
}

/// The app's curve points as the export tables take them.
pub fn table_curve(curve: &[CurvePoint]) -> Vec<tables::CurvePoint> {
    curve.iter().map(|p| tables::CurvePoint { epoch: p.epoch as f32, loss: p.loss, accuracy: p.accuracy }).collect()
}

/// What [`write_views`] wrote, and the views it had no numbers for (with the reason).
#[derive(Debug, Default)]
pub struct ViewFiles {
    /// Every file written.
    pub written: Vec<PathBuf>,
    /// Views left out, with why.
    pub skipped: Vec<(ViewKind, String)>,
}

/// Writes `<view>.png` (at `png_scale`: File → Export's 1× or 2×), `<view>.svg` and `<view>.csv`
/// for every view into `out`: the bytes File → Export writes for the scene as the app opens it
/// (the Networks view's input is the dataset's first sample; the Training view needs trained
/// weights in the scene).
pub fn write_views(scene: &Scene, out: &Path, png_scale: f32) -> Result<ViewFiles, ComputeError> {
    let classes = scene.tiles.classes();
    let dataset = dataset(scene)?;
    let (height, width) = (scene.dataset.height, scene.dataset.width);
    let (n1, n2) = (Which::N1.build(&classes, height, width)?, Which::N2.build(&classes, height, width)?);
    let trained = scene.trained.as_ref();
    let trained_net = trained.map(|run| trained_network(scene, &run.weights)).transpose()?;
    let logits = match dataset.samples.first() {
        Some(sample) => {
            let classifier = trained_net.as_ref().map(Compared::classifier);
            Some(view_figures::input_logits(&classes, sample.image.view(), &n1, &n2, classifier)?)
        }
        None => None,
    };
    let curves = trained.map(|run| (table_curve(&run.train_curve), table_curve(&run.test_curve)));
    let compared = compared_as_opened(scene)?;
    let study = invariance(scene, &compared)?;
    let caption = compared.caption();
    let numbers = ViewNumbers {
        classes: &classes,
        dataset: Some(&dataset),
        logits: logits.as_deref(),
        curves: curves.as_ref().map(|(train, test)| (train.as_slice(), test.as_slice())),
        invariance: (!study.tiles.is_empty()).then_some((&study, caption.as_str())),
    };
    export::create_folder(out)?;
    let mut files = ViewFiles::default();
    for view in ViewKind::ALL {
        let figure = match view_figures::view_figure(view, &numbers) {
            Ok(figure) => figure,
            Err(ViewExportError::Missing(why)) => {
                files.skipped.push((view, why.to_owned()));
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let stem = view.file_stem();
        let outputs = [
            (format!("{stem}.png"), render(&figure, Format::Png { scale: png_scale }).map_err(ExportError::from)?),
            (format!("{stem}.svg"), render(&figure, Format::Svg).map_err(ExportError::from)?),
            (format!("{stem}.csv"), view_figures::view_csv(view, &numbers)?),
        ];
        for (name, bytes) in outputs {
            let path = out.join(name);
            export::write_file(&path, &bytes)?;
            files.written.push(path);
        }
    }
    Ok(files)
}
