//! The live SGD run, a `Work::Steps` job of the one runner (`jobs`): each step applies the
//! [`Control`]s that arrived and trains a batch or a few, for at most a few milliseconds; a paused
//! run only waits. The run owns its own copy of the tile set and the data it generates from it,
//! drives [`Trainer`], and publishes the newest weights and curves into a shared [`Progress`]; the
//! UI sends controls and only reads that snapshot. Editing tiles while it runs cannot corrupt the
//! run: it does not see the app's tile set at all.
//!
//! A continuous run stops by itself at its [`Limits`] (an epoch count, optionally a target test
//! accuracy) and can be slowed down to a few steps per second ([`Speed`]) so a room can watch the
//! filters form. A paused run can be saved ([`SavedRun`]) and continued after a restart.

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::core::clock::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::core::dataset::{self, DatasetSpec};
use crate::core::nn::arch::{Arch, ArchError};
use crate::core::nn::cnn::{Cnn, CnnSpec, Evaluation, MAX_FILTERS};
use crate::core::nn::deep::DeepNet;
use crate::core::nn::deep_train::DeepTrainer;
use crate::core::nn::deep_weights;
use crate::core::nn::layers::Layers;
use crate::core::nn::n2_shaped::{N2Shaped, ShapedError, ShapedSettings, Wiring};
use crate::core::nn::train::{Hyper, LabelledSet, Position, Status, StepReport, TrainError, Trainer};
use crate::core::nn::weights_file;
use crate::core::scene::TrainedWeights;
use crate::core::tile::ClassSet;
use crate::core::tileset_file;

use super::jobs::{Job, Step, Work};
use super::settings::{DatasetRequest, DatasetSettings};
use super::storage;

/// How long the run trains between two published snapshots.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// Longest a step trains (a runner without threads spends it on the UI thread).
const STEP_BUDGET: Duration = Duration::from_millis(4);
/// Longest a paused or paced run waits before it looks at the controls again.
const CONTROL_LATENCY: Duration = Duration::from_millis(20);
/// Shortest time between two test-set evaluations while running.
const TEST_INTERVAL: Duration = Duration::from_millis(250);
/// The time between two test-set evaluations is also at least this many times the last one's
/// duration, so they take at most a fifth of a run even where they are slow (a browser, a large set).
const TEST_SPACING_PER_COST: u32 = 4;
/// Training-curve points recorded per epoch (at most; a batch is the finest step).
const CURVE_POINTS_PER_EPOCH: usize = 8;
/// Most points kept per curve (older points are thinned out beyond it).
const MAX_CURVE_POINTS: usize = 4000;
/// Added to the dataset seed for the test set, so test images differ from training images.
const TEST_SEED_OFFSET: u64 = 0x7e57;
/// Epochs of a run unless the user asks for more (the paper trains Fashion-MNIST for 15).
pub const PAPER_EPOCHS: usize = 15;
/// Slowest and fastest speed limits, in samples per second.
pub const SPEED_RANGE: std::ops::RangeInclusive<f32> = 1.0..=100_000.0;

/// The architecture and hyper-parameters the user edits, and the size of the generated data.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfig {
    /// Convolution blocks and a hidden layer, trained on the general path; `None` is the paper's
    /// network of `filters` and `kernel` on the fused fast path (sessions saved before it existed).
    #[serde(default)]
    pub layers: Option<Layers>,
    /// N2's own layers for the tile set, trained by SGD; when set, `layers`, `filters` and
    /// `kernel` are not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n2_shaped: Option<ShapedSettings>,
    /// Number of convolution filters.
    pub filters: usize,
    /// Side of the square convolution kernel.
    pub kernel: usize,
    pub hyper: Hyper,
    /// Training samples generated per class.
    pub train_per_class: usize,
    /// Test samples generated per class.
    pub test_per_class: usize,
    /// Seed of the weight initialisation and shuffling.
    pub seed: u64,
}

impl Default for TrainingConfig {
    /// The paper's Fashion-MNIST setting (Section 6.2): conv 5×5 ×12, lr 0.03, batch 100, 400/100 per class.
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
        }
    }
}

/// Largest number of samples per class the training view generates.
pub const MAX_SAMPLES_PER_CLASS: usize = 5000;

/// The setting a [`Problem`] is about, so the view can say it beside that field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// The convolution blocks or the hidden layer of the architecture editor.
    Architecture,
    Filters,
    Kernel,
    LearningRate,
    BatchSize,
    Momentum,
    TrainSamples,
    TestSamples,
    /// The tile set or the image size (edited elsewhere).
    Data,
}

/// Why a configuration cannot train, and which setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub setting: Setting,
    pub message: String,
}

/// The network a configuration trains.
#[derive(Debug, Clone, PartialEq)]
pub enum Network {
    /// The paper's network, on the fused fast path.
    Paper(CnnSpec),
    /// Convolution blocks and an optional hidden layer, on the general path.
    Deep(Arch),
    /// N2's layers for the run's tile set, built when the run starts (building checks the
    /// wiring's cost, which needs N2 itself: too slow for a frame on large images).
    N2Shaped(ShapedSpec),
}

/// An n2-shaped network before it is built: the image size, the class count and the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapedSpec {
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    pub settings: ShapedSettings,
}

impl Network {
    /// Image height, width and number of classes.
    pub fn size(&self) -> (usize, usize, usize) {
        match self {
            Self::Paper(spec) => (spec.height, spec.width, spec.classes),
            Self::Deep(arch) => (arch.height, arch.width, arch.classes),
            Self::N2Shaped(spec) => (spec.height, spec.width, spec.classes),
        }
    }
}

impl TrainingConfig {
    /// True for the paper's network of `filters` and `kernel` (the fused fast path).
    pub fn is_paper(&self) -> bool {
        self.layers.is_none() && self.n2_shaped.is_none()
    }

    /// The network for `classes` classes on `height×width` images, or a readable reason why not.
    pub fn spec(&self, classes: usize, height: usize, width: usize) -> Result<Network, String> {
        self.check(classes, height, width).map_err(|problem| problem.message)
    }

    /// [`TrainingConfig::spec`], with the setting at fault.
    pub fn check(&self, classes: usize, height: usize, width: usize) -> Result<Network, Problem> {
        let problem = |setting, message: String| Err(Problem { setting, message });
        let paper = self.is_paper();
        if paper && (self.filters == 0 || self.filters > MAX_FILTERS) {
            return problem(Setting::Filters, format!("filters must be between 1 and {MAX_FILTERS}"));
        }
        if paper && (self.kernel == 0 || self.kernel > height.min(width)) {
            let largest = height.min(width);
            return problem(Setting::Kernel, format!("kernel size must be between 1 and {largest} (the image side)"));
        }
        if let Err(error) = self.hyper.validate() {
            let setting = match error {
                TrainError::LearningRate(_) => Setting::LearningRate,
                TrainError::BatchSize(_) => Setting::BatchSize,
                _ => Setting::Momentum,
            };
            return problem(setting, error.to_string());
        }
        if self.train_per_class == 0 || self.train_per_class > MAX_SAMPLES_PER_CLASS {
            let message = format!("training samples per class must be between 1 and {MAX_SAMPLES_PER_CLASS}");
            return problem(Setting::TrainSamples, message);
        }
        if self.test_per_class > MAX_SAMPLES_PER_CLASS {
            return problem(
                Setting::TestSamples,
                format!("test samples per class must be at most {MAX_SAMPLES_PER_CLASS}"),
            );
        }
        if let Some(settings) = self.n2_shaped {
            if classes < 2 {
                return problem(Setting::Data, ShapedError::Classes(classes).to_string());
            }
            return Ok(Network::N2Shaped(ShapedSpec { height, width, classes, settings }));
        }
        if let Some(layers) = self.layers {
            let arch = layers.arch(height, width, classes);
            return match arch.validate() {
                Ok(()) => Ok(Network::Deep(arch)),
                Err(error @ (ArchError::Image { .. } | ArchError::Classes(_))) => {
                    problem(Setting::Data, error.to_string())
                }
                Err(error) => problem(Setting::Architecture, error.to_string()),
            };
        }
        let spec = CnnSpec { height, width, kernel: self.kernel, filters: self.filters, classes };
        spec.validate().map_err(|e| Problem { setting: Setting::Data, message: e.to_string() })?;
        Ok(Network::Paper(spec))
    }
}

/// When a continuous run stops by itself.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Stop once this many epochs are completed.
    pub epochs: usize,
    /// Stop at the end of the first epoch whose test accuracy reaches this fraction.
    pub target_accuracy: Option<f32>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { epochs: PAPER_EPOCHS, target_accuracy: None }
    }
}

/// Why a continuous run stopped by itself.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stopped {
    /// It completed the epochs it was given.
    EpochLimit { epochs: usize },
    /// The test accuracy measured at the end of `epoch` reached the target.
    ReachedAccuracy { accuracy: f32, epoch: usize },
}

impl Stopped {
    /// A sentence for the user.
    pub fn message(&self) -> String {
        match self {
            Self::EpochLimit { epochs: 1 } => "stopped after 1 epoch".to_owned(),
            Self::EpochLimit { epochs } => format!("stopped after {epochs} epochs"),
            Self::ReachedAccuracy { accuracy, epoch } => {
                format!("reached {:.1} % test accuracy (epoch {epoch})", accuracy * 100.0)
            }
        }
    }
}

/// How fast a run may train: full speed, or slowed down for watching.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub enum Speed {
    #[default]
    Full,
    /// At most this many training samples per second (within [`SPEED_RANGE`]).
    SamplesPerSecond(f32),
}

impl Speed {
    /// A limit of `rate` samples per second, brought into [`SPEED_RANGE`] (NaN gives the slowest).
    pub fn limited(rate: f32) -> Self {
        let rate =
            if rate.is_nan() { *SPEED_RANGE.start() } else { rate.clamp(*SPEED_RANGE.start(), *SPEED_RANGE.end()) };
        Self::SamplesPerSecond(rate)
    }
}

/// What a new run starts with (`Command::StartTraining`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TrainingStart {
    pub config: TrainingConfig,
    pub limits: Limits,
    pub speed: Speed,
    /// Train at once rather than wait paused.
    pub run: bool,
}

/// What the UI asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Control {
    /// Train continuously until the limits stop the run.
    Run,
    /// Stop after the current batch and wait.
    Pause,
    /// Train exactly this many batches, then wait.
    Step(usize),
    /// Back to the initial weights and empty curves (paused).
    Reset,
    /// New stop rules (they apply from the next epoch end).
    SetLimits(Limits),
    /// A new speed limit.
    SetSpeed(Speed),
    /// End the worker.
    Stop,
}

/// Where the worker stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Generating the training and test images.
    PreparingData,
    /// The trainer exists; see [`Progress::status`] and [`Progress::running`].
    Ready,
    /// The run could not start (the message says why).
    Failed(String),
}

/// One point of the training curves; `epoch` counts samples seen divided by the training-set size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub epoch: f64,
    /// Mean cross-entropy of the batches since the previous point.
    pub loss: f32,
    /// Accuracy on those batches (before each update).
    pub accuracy: f32,
}

/// The snapshot the worker publishes and the UI reads.
#[derive(Debug, Clone)]
pub struct Progress {
    pub phase: Phase,
    /// The newest weights of the paper's network (always finite; `None` for other architectures).
    pub cnn: Option<Arc<Cnn>>,
    /// The newest weights of a network of blocks (the paper's network too, as a general one).
    pub net: Option<Arc<DeepNet>>,
    /// The newest weights of an n2-shaped network (`None` for other architectures).
    pub shaped: Option<Arc<N2Shaped>>,
    /// Bumped whenever `cnn` changes (views cache their forward passes against it).
    pub version: u64,
    /// Training loss and accuracy.
    pub train_curve: Vec<CurvePoint>,
    /// Test loss and accuracy at some points.
    pub test_curve: Vec<CurvePoint>,
    pub status: Status,
    /// True while training continuously.
    pub running: bool,
    /// Why the last continuous run stopped by itself (cleared when it runs again).
    pub stopped: Option<Stopped>,
    pub epoch: usize,
    pub step: u64,
    /// Where the run stands, to continue it after a restart.
    pub position: Position,
    /// Throughput of the last chunk of training.
    pub samples_per_second: f32,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Worker threads the trainer uses.
    pub threads: usize,
}

impl Progress {
    fn new() -> Self {
        Self {
            phase: Phase::PreparingData,
            cnn: None,
            net: None,
            shaped: None,
            version: 0,
            train_curve: Vec::new(),
            test_curve: Vec::new(),
            status: Status::Running,
            running: false,
            stopped: None,
            epoch: 0,
            step: 0,
            position: Position::default(),
            samples_per_second: 0.0,
            train_samples: 0,
            test_samples: 0,
            threads: 0,
        }
    }

    /// The last test accuracy measured, if any.
    pub fn test_accuracy(&self) -> Option<f32> {
        self.test_curve.last().map(|p| p.accuracy)
    }
}

/// A live training run: its job on the runner, its controls and its published progress.
pub struct TrainingJob {
    published: Arc<Mutex<Progress>>,
    control: Sender<Control>,
    /// The run's steps on the job runner (it ends when this handle and its controls are dropped).
    _job: Job<()>,
    /// Where the worker asks for repaints (set when the UI first sees the job).
    ctx: Arc<OnceLock<egui::Context>>,
    /// The tile-set version and dataset settings the run's data were generated from.
    pub started_from: DatasetRequest,
    /// The tile set the run's data were generated from (kept to save the run).
    classes: ClassSet,
    /// The configuration it runs with.
    pub config: TrainingConfig,
    /// The architecture.
    pub network: Network,
    limits: Limits,
    speed: Speed,
}

/// A run as saved between sessions: its settings, weights, curves and place in the schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedRun {
    pub config: TrainingConfig,
    pub limits: Limits,
    pub speed: Speed,
    /// The tile set and dataset settings its data are generated from.
    pub classes: ClassSet,
    pub dataset: DatasetSettings,
    pub weights: TrainedWeights,
    pub position: Position,
    pub train_curve: Vec<CurvePoint>,
    pub test_curve: Vec<CurvePoint>,
}

/// Why saved weights cannot continue a run.
const WEIGHTS_MISMATCH: &str = "the saved weights do not match the saved settings";

/// Makes a run's training and test sets (on the runner: the run's first step).
type MakeSets = Box<dyn FnOnce() -> Result<(LabelledSet, LabelledSet), String> + Send>;

impl TrainingJob {
    /// Starts a run that generates data from `classes` and `data` and waits (paused) for controls.
    pub fn start(
        classes: ClassSet,
        data: DatasetSpec,
        config: TrainingConfig,
        started_from: DatasetRequest,
        ctx: Option<egui::Context>,
    ) -> Result<Self, String> {
        let network = config.spec(classes.len(), data.height, data.width)?;
        let (source, size) = (classes.clone(), network.size());
        let make_sets = Box::new(move || generate_sets(&source, &data, config, size));
        Ok(Self::spawn(network, config, started_from, classes, ctx, None, make_sets))
    }

    /// Starts a run that trains `spec` on the sets `make_sets` returns (it runs on the runner).
    pub fn start_with(
        spec: CnnSpec,
        config: TrainingConfig,
        started_from: DatasetRequest,
        ctx: Option<egui::Context>,
        make_sets: impl FnOnce() -> Result<(LabelledSet, LabelledSet), String> + Send + 'static,
    ) -> Self {
        Self::spawn(Network::Paper(spec), config, started_from, ClassSet::default(), ctx, None, Box::new(make_sets))
    }

    /// Continues a saved run (paused): its weights and curves are published at once, while the
    /// runner regenerates its data; `started_from` says what the data is compared with.
    pub fn resume(saved: SavedRun, started_from: DatasetRequest) -> Result<Self, String> {
        let data = saved.dataset.to_spec()?;
        let network = saved.config.spec(saved.classes.len(), data.height, data.width)?;
        let fits = match (&network, &saved.weights) {
            (Network::Paper(spec), TrainedWeights::Paper(cnn)) => *spec == cnn.spec(),
            (Network::Deep(arch), TrainedWeights::Deep(net)) => arch == net.arch(),
            // The parameter count is checked when the network is built.
            (Network::N2Shaped(_), TrainedWeights::Shaped(_)) => true,
            _ => false,
        };
        if !fits {
            return Err(WEIGHTS_MISMATCH.to_owned());
        }
        let (config, classes, size) = (saved.config, saved.classes.clone(), network.size());
        let make_sets = Box::new(move || generate_sets(&classes, &data, config, size));
        let (limits, speed) = (saved.limits, saved.speed);
        let mut job = Self::spawn(network, config, started_from, saved.classes.clone(), None, Some(saved), make_sets);
        job.send(Control::SetLimits(limits));
        job.send(Control::SetSpeed(speed));
        Ok(job)
    }

    fn spawn(
        network: Network,
        config: TrainingConfig,
        started_from: DatasetRequest,
        classes: ClassSet,
        ctx: Option<egui::Context>,
        saved: Option<SavedRun>,
        make_sets: MakeSets,
    ) -> Self {
        let published = Arc::new(Mutex::new(Progress::new()));
        let repaint = Arc::new(OnceLock::new());
        if let Some(ctx) = ctx {
            let _ = repaint.set(ctx);
        }
        let (control, controls) = channel();
        let out = Publisher { published: Arc::clone(&published), ctx: Arc::clone(&repaint) };
        if let Some(saved) = &saved {
            out.show_saved(saved);
        }
        let prepare = Prepare { make_sets, config, network: network.clone(), classes: classes.clone(), saved };
        let mut worker = Worker { out, controls, prepare: Some(prepare), run: None };
        let job = Job::start("training", None, Work::Steps(Box::new(move |_| worker.step())));
        Self {
            published,
            control,
            _job: job,
            ctx: repaint,
            started_from,
            classes,
            config,
            network,
            limits: Limits::default(),
            speed: Speed::default(),
        }
    }

    /// Sends a control. New limits and speeds are kept (see [`TrainingJob::limits`]) and sent
    /// only when they differ.
    pub fn send(&mut self, control: Control) {
        match control {
            Control::SetLimits(limits) if limits == self.limits => return,
            Control::SetSpeed(speed) if speed == self.speed => return,
            Control::SetLimits(limits) => self.limits = limits,
            Control::SetSpeed(speed) => self.speed = speed,
            _ => {}
        }
        // The run is gone only after Stop or a failure, which the progress already shows.
        let _ = self.control.send(control);
    }

    /// The stop rules the run follows.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The speed limit the run follows.
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// Lets the run ask `ctx` for repaints (a restored run starts without one).
    pub fn attach(&self, ctx: &egui::Context) {
        if self.ctx.get().is_none() {
            let _ = self.ctx.set(ctx.clone());
        }
    }

    /// The newest published progress (a short lock; the run never holds it while training).
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        lock(&self.published)
    }

    /// What to save of the run now: `None` before it has weights or when it was not started
    /// from a tile set.
    pub fn to_saved(&self) -> Option<SavedRun> {
        if self.classes.is_empty() {
            return None;
        }
        let progress = self.progress();
        // A paper run publishes its weights as a general network too: its own kind comes first.
        let weights = match (&progress.cnn, &progress.shaped, &progress.net) {
            (Some(cnn), _, _) => TrainedWeights::Paper(Cnn::clone(cnn)),
            (None, Some(shaped), _) => TrainedWeights::Shaped(shaped.parameters().to_vec()),
            (None, None, Some(net)) => TrainedWeights::Deep(DeepNet::clone(net)),
            (None, None, None) => return None,
        };
        Some(SavedRun {
            config: self.config,
            limits: self.limits,
            speed: self.speed,
            classes: self.classes.clone(),
            dataset: self.started_from.1.clone(),
            weights,
            position: progress.position,
            train_curve: progress.train_curve.clone(),
            test_curve: progress.test_curve.clone(),
        })
    }
}

/// Locks the progress, recovering it if a panicking thread poisoned the lock.
fn lock(published: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    published.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where the run publishes its progress, and whom it asks to repaint.
struct Publisher {
    published: Arc<Mutex<Progress>>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Publisher {
    /// Changes the published progress and asks the UI to repaint.
    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut lock(&self.published));
        if let Some(ctx) = self.ctx.get() {
            ctx.request_repaint();
        }
    }

    /// Publishes a saved run's weights and curves before its data exist, so they show at once
    /// (an n2-shaped network's weights once it is rebuilt, with the data).
    fn show_saved(&self, saved: &SavedRun) {
        let (cnn, net) = match &saved.weights {
            TrainedWeights::Paper(cnn) => (Some(Arc::new(cnn.clone())), Some(Arc::new(DeepNet::from_cnn(cnn)))),
            TrainedWeights::Deep(net) => (None, Some(Arc::new(net.clone()))),
            TrainedWeights::Shaped(_) => (None, None),
        };
        self.update(|p| {
            (p.cnn, p.net) = (cnn, net);
            p.version += 1;
            p.train_curve.clone_from(&saved.train_curve);
            p.test_curve.clone_from(&saved.test_curve);
            (p.epoch, p.step, p.position) = (saved.position.epoch, saved.position.step, saved.position);
        });
    }
}

/// The run as a state machine the job runner steps: the first step makes the data, each later
/// step applies the controls that arrived and trains for at most [`STEP_BUDGET`].
struct Worker {
    out: Publisher,
    controls: Receiver<Control>,
    /// What the first step prepares the run from.
    prepare: Option<Prepare>,
    /// The run, once prepared.
    run: Option<Run>,
}

/// What a run is prepared from on its first step.
struct Prepare {
    make_sets: MakeSets,
    config: TrainingConfig,
    network: Network,
    /// The tile set an n2-shaped network is built for.
    classes: ClassSet,
    saved: Option<SavedRun>,
}

/// The trainer of any kind of network.
enum AnyTrainer {
    // Boxed: the trainers differ much in size.
    Paper(Box<Trainer>),
    Deep(Box<DeepTrainer>),
    /// With the network it started from, to reset to.
    Shaped {
        trainer: Box<DeepTrainer<N2Shaped>>,
        initial: Box<N2Shaped>,
    },
}

/// A run's current weights as published: the paper's network also as a general one.
struct Snapshot {
    cnn: Option<Arc<Cnn>>,
    net: Option<Arc<DeepNet>>,
    shaped: Option<Arc<N2Shaped>>,
}

impl AnyTrainer {
    fn step(&mut self, n_batches: usize) -> StepReport {
        match self {
            Self::Paper(t) => t.step(n_batches),
            Self::Deep(t) => t.step(n_batches),
            Self::Shaped { trainer, .. } => trainer.step(n_batches),
        }
    }

    fn epoch(&self) -> usize {
        match self {
            Self::Paper(t) => t.epoch(),
            Self::Deep(t) => t.epoch(),
            Self::Shaped { trainer, .. } => trainer.epoch(),
        }
    }

    fn steps(&self) -> u64 {
        match self {
            Self::Paper(t) => t.steps(),
            Self::Deep(t) => t.steps(),
            Self::Shaped { trainer, .. } => trainer.steps(),
        }
    }

    fn position(&self) -> Position {
        match self {
            Self::Paper(t) => t.position(),
            Self::Deep(t) => t.position(),
            Self::Shaped { trainer, .. } => trainer.position(),
        }
    }

    fn batches_per_epoch(&self) -> usize {
        match self {
            Self::Paper(t) => t.batches_per_epoch(),
            Self::Deep(t) => t.batches_per_epoch(),
            Self::Shaped { trainer, .. } => trainer.batches_per_epoch(),
        }
    }

    fn status(&self) -> Status {
        match self {
            Self::Paper(t) => t.status(),
            Self::Deep(t) => t.status(),
            Self::Shaped { trainer, .. } => trainer.status(),
        }
    }

    fn threads(&self) -> usize {
        match self {
            Self::Paper(t) => t.threads(),
            Self::Deep(t) => t.threads(),
            Self::Shaped { trainer, .. } => trainer.threads(),
        }
    }

    fn test_set(&self) -> &LabelledSet {
        match self {
            Self::Paper(t) => t.test_set(),
            Self::Deep(t) => t.test_set(),
            Self::Shaped { trainer, .. } => trainer.test_set(),
        }
    }

    fn evaluate_test(&mut self) -> Evaluation {
        match self {
            Self::Paper(t) => t.evaluate_test(),
            Self::Deep(t) => t.evaluate_test(),
            Self::Shaped { trainer, .. } => trainer.evaluate_test(),
        }
    }

    fn reset(&mut self) {
        match self {
            Self::Paper(t) => t.reset(),
            Self::Deep(t) => t.reset(),
            Self::Shaped { trainer, initial } => trainer.reset_to(N2Shaped::clone(initial)),
        }
    }

    /// The current weights.
    fn snapshot(&self) -> Snapshot {
        match self {
            Self::Paper(t) => {
                let cnn = t.snapshot();
                let net = DeepNet::from_cnn(&cnn);
                Snapshot { cnn: Some(Arc::new(cnn)), net: Some(Arc::new(net)), shaped: None }
            }
            Self::Deep(t) => Snapshot { cnn: None, net: Some(Arc::new(t.snapshot())), shaped: None },
            Self::Shaped { trainer, .. } => {
                Snapshot { cnn: None, net: None, shaped: Some(Arc::new(trainer.snapshot())) }
            }
        }
    }
}

/// A prepared run: the trainer, the worker's record of it, and the training since the last publication.
struct Run {
    trainer: AnyTrainer,
    state: RunState,
    chunk: Chunk,
}

/// The worker's own record of the run between publications.
struct RunState {
    running: bool,
    pending_batches: usize,
    last_test: Option<Instant>,
    /// How long the last test evaluation took.
    test_cost: Duration,
    /// The step the last test evaluation was made at (no point is measured twice).
    tested_step: Option<u64>,
    limits: Limits,
    stopped: Option<Stopped>,
    pace: Pace,
}

impl RunState {
    fn new() -> Self {
        Self {
            running: false,
            pending_batches: 0,
            last_test: None,
            test_cost: Duration::ZERO,
            tested_step: None,
            limits: Limits::default(),
            stopped: None,
            pace: Pace::new(Speed::Full, Instant::now()),
        }
    }

    fn is_active(&self) -> bool {
        self.running || self.pending_batches > 0
    }

    fn halt(&mut self) {
        (self.running, self.pending_batches) = (false, 0);
    }
}

/// The training since the last publication: its curve points and throughput.
struct Chunk {
    started: Instant,
    samples: usize,
    points: Vec<CurvePoint>,
    sum: Segment,
}

impl Chunk {
    fn new() -> Self {
        Self { started: Instant::now(), samples: 0, points: Vec::new(), sum: Segment::default() }
    }
}

/// Spaces the batches of a slowed-down run evenly: a batch may start once the samples trained
/// since `since` fit the allowed rate.
#[derive(Debug, Clone, Copy)]
struct Pace {
    speed: Speed,
    since: Instant,
    samples: usize,
}

impl Pace {
    fn new(speed: Speed, now: Instant) -> Self {
        Self { speed, since: now, samples: 0 }
    }

    /// How long until the next batch may start (zero at full speed).
    fn wait(&self, now: Instant) -> Duration {
        match self.speed {
            Speed::Full => Duration::ZERO,
            Speed::SamplesPerSecond(rate) => {
                let due = self.since + Duration::from_secs_f64(self.samples as f64 / f64::from(rate.max(1e-3)));
                due.saturating_duration_since(now)
            }
        }
    }

    /// Counts the samples of a finished batch.
    fn record(&mut self, samples: usize) {
        self.samples += samples;
    }
}

impl Worker {
    /// One step of the run: prepare it, or apply the controls and train a little; a paused run
    /// waits (the runner does not call it until then).
    fn step(&mut self) -> Step<()> {
        if let Some(what) = self.prepare.take() {
            return match prepare(&self.out, what) {
                Ok(run) => {
                    self.run = Some(run);
                    Step::Continue
                }
                Err(message) => {
                    self.out.update(|p| p.phase = Phase::Failed(message.clone()));
                    Step::Done(Err(message))
                }
            };
        }
        let Some(run) = self.run.as_mut() else { return Step::Done(Ok(())) };
        loop {
            match self.controls.try_recv() {
                Ok(Control::Stop) | Err(TryRecvError::Disconnected) => return Step::Done(Ok(())),
                Ok(control) => run.apply(control, &self.out),
                Err(TryRecvError::Empty) => break,
            }
        }
        if !run.state.is_active() {
            return Step::Wait(CONTROL_LATENCY);
        }
        let wait = run.state.pace.wait(Instant::now());
        if wait > Duration::ZERO {
            // Publish what is trained before a wait that would delay it past the interval.
            if run.chunk.samples > 0 && run.chunk.started.elapsed() + wait >= PUBLISH_INTERVAL {
                run.publish_chunk(&self.out);
            }
            return Step::Wait(wait.min(CONTROL_LATENCY));
        }
        run.train_for(STEP_BUDGET, &self.out);
        if !run.state.is_active() || run.chunk.started.elapsed() >= PUBLISH_INTERVAL {
            run.publish_chunk(&self.out);
        }
        Step::Continue
    }
}

/// Makes the training and test sets and builds the trainer (from the saved run, if any).
fn prepare(out: &Publisher, what: Prepare) -> Result<Run, String> {
    let sets = (what.make_sets)()?;
    let (train_samples, test_samples) = (sets.0.len(), sets.1.len());
    // A resumed run's test point at this step is on its saved curve already.
    let resumed_at = what.saved.as_ref().map(|s| s.position.step);
    let saved = what.saved.map(|s| (s.weights, s.position));
    let trainer = build_trainer(what.network, what.config, &what.classes, sets, saved)?;
    out.update(|p| {
        p.phase = Phase::Ready;
        (p.train_samples, p.test_samples, p.threads) = (train_samples, test_samples, trainer.threads());
    });
    let mut run = Run { trainer, state: RunState { tested_step: resumed_at, ..RunState::new() }, chunk: Chunk::new() };
    run.publish_weights(out, true);
    Ok(run)
}

/// The trainer of `network`, continuing `saved` weights at their position if given.
fn build_trainer(
    network: Network,
    config: TrainingConfig,
    classes: &ClassSet,
    (train, test): (LabelledSet, LabelledSet),
    saved: Option<(TrainedWeights, Position)>,
) -> Result<AnyTrainer, String> {
    let (hyper, seed) = (config.hyper, config.seed);
    let text = |error: TrainError| error.to_string();
    let trainer = match (network, saved) {
        (Network::Paper(spec), None) => {
            AnyTrainer::Paper(Box::new(Trainer::new(spec, hyper, train, test, seed).map_err(text)?))
        }
        (Network::Paper(_), Some((TrainedWeights::Paper(cnn), position))) => {
            let mut trainer = Trainer::from_network(&cnn, hyper, train, test, seed).map_err(text)?;
            trainer.set_position(position).map_err(text)?;
            AnyTrainer::Paper(Box::new(trainer))
        }
        (Network::Deep(arch), None) => {
            AnyTrainer::Deep(Box::new(DeepTrainer::new(arch, hyper, train, test, seed).map_err(text)?))
        }
        (Network::Deep(_), Some((TrainedWeights::Deep(net), position))) => {
            let mut trainer = DeepTrainer::from_network(net, hyper, train, test, seed).map_err(text)?;
            trainer.set_position(position).map_err(text)?;
            AnyTrainer::Deep(Box::new(trainer))
        }
        (Network::N2Shaped(spec), saved) => {
            let ShapedSettings { wiring, init } = spec.settings;
            let initial =
                N2Shaped::new(classes, (spec.height, spec.width), wiring, init, seed).map_err(|e| e.to_string())?;
            let (start, position) = match saved {
                None => (initial.clone(), None),
                Some((TrainedWeights::Shaped(params), position)) => {
                    (initial.with_parameters(params).map_err(|e| format!("the saved weights: {e}"))?, Some(position))
                }
                Some(_) => return Err(WEIGHTS_MISMATCH.to_owned()),
            };
            let mut trainer = DeepTrainer::from_network(start, hyper, train, test, seed).map_err(text)?;
            if let Some(position) = position {
                trainer.set_position(position).map_err(text)?;
            }
            AnyTrainer::Shaped { trainer: Box::new(trainer), initial: Box::new(initial) }
        }
        _ => return Err(WEIGHTS_MISMATCH.to_owned()),
    };
    Ok(trainer)
}

impl Run {
    fn apply(&mut self, control: Control, out: &Publisher) {
        let (trainer, state) = (&mut self.trainer, &mut self.state);
        match control {
            Control::Run => {
                state.stopped = epoch_limit(trainer, state.limits);
                state.running = trainer.status() == Status::Running && state.stopped.is_none();
                state.pace = Pace::new(state.pace.speed, Instant::now());
                self.restart_empty_chunk();
                if !self.state.running {
                    self.publish_weights(out, true);
                }
            }
            Control::Pause => {
                state.halt();
                self.publish_chunk(out);
            }
            Control::Step(batches) => {
                state.pending_batches += batches;
                state.pace = Pace::new(state.pace.speed, Instant::now());
                self.restart_empty_chunk();
            }
            Control::Reset => {
                trainer.reset();
                state.halt();
                (state.last_test, state.tested_step, state.stopped) = (None, None, None);
                self.chunk = Chunk::new();
                out.update(|p| {
                    p.train_curve.clear();
                    p.test_curve.clear();
                });
                self.publish_weights(out, true);
            }
            Control::SetLimits(limits) => state.limits = limits,
            Control::SetSpeed(speed) => state.pace = Pace::new(speed, Instant::now()),
            Control::Stop => {}
        }
    }

    /// Times the chunk from now when it holds no training yet (its clock ran while the run was idle).
    fn restart_empty_chunk(&mut self) {
        if self.chunk.samples == 0 {
            self.chunk = Chunk::new();
        }
    }

    /// Trains batches for about `budget` (at least one), as long as the run is active and its pace
    /// allows; a curve point is recorded every [`CURVE_POINTS_PER_EPOCH`]th of an epoch, so fast
    /// runs on small sets still draw a curve rather than a jump. A continuous run stops at its limits.
    fn train_for(&mut self, budget: Duration, out: &Publisher) {
        let started = Instant::now();
        let segment = (self.trainer.batches_per_epoch() / CURVE_POINTS_PER_EPOCH).max(1);
        let (trainer, state, chunk) = (&mut self.trainer, &mut self.state, &mut self.chunk);
        loop {
            let epoch_before = trainer.epoch();
            let report = trainer.step(1);
            state.pending_batches = state.pending_batches.saturating_sub(1);
            state.pace.record(report.samples);
            chunk.sum.add(report.loss, report.accuracy, report.samples);
            chunk.samples += report.samples;
            if report.status != Status::Running {
                // Diverged: stop and wait for the user.
                state.halt();
            }
            if chunk.sum.batches >= segment {
                chunk.points.extend(chunk.sum.point(epochs_seen(trainer)));
                chunk.sum = Segment::default();
            }
            if state.running && trainer.epoch() > epoch_before {
                state.stopped = stop_rule(trainer, state, out);
                if state.stopped.is_some() {
                    state.halt();
                }
            }
            let paced = state.pace.wait(Instant::now()) > Duration::ZERO;
            if !state.is_active() || paced || started.elapsed() >= budget {
                return;
            }
        }
    }

    /// Publishes the curve points and throughput of the chunk, then the weights; starts a new chunk.
    fn publish_chunk(&mut self, out: &Publisher) {
        let mut chunk = std::mem::replace(&mut self.chunk, Chunk::new());
        chunk.points.extend(chunk.sum.point(epochs_seen(&self.trainer)));
        let seconds = chunk.started.elapsed().as_secs_f32();
        if chunk.samples > 0 {
            out.update(|p| {
                for point in chunk.points {
                    push_point(&mut p.train_curve, point);
                }
                p.samples_per_second = chunk.samples as f32 / seconds.max(1e-6);
            });
        }
        let finished = !self.state.is_active();
        self.publish_weights(out, finished);
    }

    /// Publishes the weights and status, with a test evaluation when due (or `force_test`).
    fn publish_weights(&mut self, out: &Publisher, force_test: bool) {
        let (trainer, state) = (&mut self.trainer, &mut self.state);
        let spacing = TEST_INTERVAL.max(state.test_cost * TEST_SPACING_PER_COST);
        let due = state.last_test.is_none_or(|t| t.elapsed() >= spacing);
        let new_step = state.tested_step != Some(trainer.steps());
        if (force_test || due) && new_step {
            test_now(trainer, state, out);
        }
        let Snapshot { cnn, net, shaped } = trainer.snapshot();
        let (status, position, running, stopped) = (trainer.status(), trainer.position(), state.running, state.stopped);
        out.update(|p| {
            (p.cnn, p.net, p.shaped) = (cnn, net, shaped);
            p.version += 1;
            (p.status, p.epoch, p.step, p.position) = (status, position.epoch, position.step, position);
            (p.running, p.stopped) = (running, stopped);
        });
    }
}

/// At the end of an epoch: the reason to stop now, if the limits say so (the target accuracy is
/// measured on the test set here, and that measurement joins the test curve).
fn stop_rule(trainer: &mut AnyTrainer, state: &mut RunState, out: &Publisher) -> Option<Stopped> {
    if let Some(stopped) = epoch_limit(trainer, state.limits) {
        return Some(stopped);
    }
    let target = state.limits.target_accuracy?;
    let point = test_now(trainer, state, out)?;
    (point.accuracy >= target).then_some(Stopped::ReachedAccuracy { accuracy: point.accuracy, epoch: trainer.epoch() })
}

/// Evaluates the test set now and adds the point to the test curve (`None` without a test set).
fn test_now(trainer: &mut AnyTrainer, state: &mut RunState, out: &Publisher) -> Option<CurvePoint> {
    if trainer.test_set().is_empty() {
        return None;
    }
    let started = Instant::now();
    let evaluation = trainer.evaluate_test();
    // Spaced from its end (see TEST_SPACING_PER_COST).
    (state.last_test, state.test_cost, state.tested_step) =
        (Some(Instant::now()), started.elapsed(), Some(trainer.steps()));
    let point = CurvePoint { epoch: epochs_seen(trainer), loss: evaluation.loss, accuracy: evaluation.accuracy };
    out.update(|p| push_point(&mut p.test_curve, point));
    Some(point)
}

/// [`Stopped::EpochLimit`] once the trainer has completed the epochs of `limits`.
fn epoch_limit(trainer: &AnyTrainer, limits: Limits) -> Option<Stopped> {
    (trainer.epoch() >= limits.epochs).then_some(Stopped::EpochLimit { epochs: trainer.epoch() })
}

/// The training set (`data.seed`) and the test set (another seed) generated from the tile set.
fn generate_sets(
    classes: &ClassSet,
    data: &DatasetSpec,
    config: TrainingConfig,
    (height, width, count): (usize, usize, usize),
) -> Result<(LabelledSet, LabelledSet), String> {
    let generate = |samples_per_class: usize, seed: u64| {
        let data = DatasetSpec { samples_per_class, seed, ..data.clone() };
        let generated = dataset::generate(classes, &data).map_err(|e| e.to_string())?;
        LabelledSet::from_dataset(&generated, height, width, count).map_err(|e| e.to_string())
    };
    let train = generate(config.train_per_class, data.seed)?;
    let test = if config.test_per_class == 0 {
        LabelledSet::default()
    } else {
        generate(config.test_per_class, data.seed.wrapping_add(TEST_SEED_OFFSET))?
    };
    Ok((train, test))
}

/// Loss and accuracy summed over the batches of one curve point.
#[derive(Default)]
struct Segment {
    loss: f64,
    correct: f64,
    samples: usize,
    batches: usize,
}

impl Segment {
    /// Adds one batch's mean loss and accuracy over `samples` samples.
    fn add(&mut self, loss: f32, accuracy: f32, samples: usize) {
        self.loss += f64::from(loss) * samples as f64;
        self.correct += f64::from(accuracy) * samples as f64;
        self.samples += samples;
        self.batches += 1;
    }

    /// The curve point of these batches, if they held any sample.
    fn point(&self, epoch: f64) -> Option<CurvePoint> {
        let n = self.samples as f64;
        (self.samples > 0).then(|| CurvePoint {
            epoch,
            loss: (self.loss / n) as f32,
            accuracy: (self.correct / n) as f32,
        })
    }
}

/// Samples seen divided by the training-set size.
fn epochs_seen(trainer: &AnyTrainer) -> f64 {
    let per_epoch = trainer.batches_per_epoch().max(1) as f64;
    trainer.steps() as f64 / per_epoch
}

/// Appends a point, thinning the curve to half its points when it grows past the limit.
fn push_point(curve: &mut Vec<CurvePoint>, point: CurvePoint) {
    curve.push(point);
    if curve.len() > MAX_CURVE_POINTS {
        let mut index = 0;
        curve.retain(|_| {
            index += 1;
            index % 2 == 0
        });
    }
}

/// File in the data dir with a saved run's settings, curves and place in the schedule.
pub const RUN_FILE: &str = "training.json";
/// File in the data dir with a saved run's weights: `core::nn::weights_file`'s format for the
/// paper's network, `core::nn::deep_weights`' for blocks, [`SHAPED_FORMAT`] for N2's shape.
pub const RUN_WEIGHTS_FILE: &str = "training.weights.json";
/// File in the data dir with the tile set a saved run's data are generated from.
pub const RUN_TILESET_FILE: &str = "training.tileset.json";
/// A run file holds settings and at most two curves of [`MAX_CURVE_POINTS`]; anything larger is not one.
const MAX_RUN_FILE_BYTES: u64 = 16 << 20;

/// The `format` of an n2-shaped run's weights file; the network itself is rebuilt from the saved
/// tile set and settings, so the file holds its parameters only.
pub const SHAPED_FORMAT: &str = "tilelab-n2-shaped-weights";

/// An n2-shaped run's weights file.
#[derive(Serialize, Deserialize)]
struct ShapedWeightsFile {
    format: String,
    version: u32,
    wiring: Wiring,
    parameters: Vec<f32>,
}

/// The weights file's text for `weights` (`config` gives the wiring of n2-shaped ones).
fn weights_to_json(weights: &TrainedWeights, config: &TrainingConfig) -> anyhow::Result<String> {
    Ok(match weights {
        TrainedWeights::Paper(cnn) => weights_file::to_json(cnn)?,
        TrainedWeights::Deep(net) => deep_weights::to_json(net)?,
        TrainedWeights::Shaped(parameters) => serde_json::to_string(&ShapedWeightsFile {
            format: SHAPED_FORMAT.to_owned(),
            version: 1,
            wiring: config.n2_shaped.unwrap_or_default().wiring,
            parameters: parameters.clone(),
        })?,
    })
}

/// The weights in a weights file, of the kind `config` trains.
fn weights_from_json(text: &str, config: &TrainingConfig) -> anyhow::Result<TrainedWeights> {
    if let Some(settings) = config.n2_shaped {
        let file: ShapedWeightsFile = serde_json::from_str(text)?;
        if (file.format.as_str(), file.version) != (SHAPED_FORMAT, 1) || file.wiring != settings.wiring {
            anyhow::bail!("the weights file is not the saved n2-shaped network's ({} {})", file.format, file.version);
        }
        return Ok(TrainedWeights::Shaped(file.parameters));
    }
    Ok(match config.layers {
        Some(_) => TrainedWeights::Deep(deep_weights::from_json(text)?),
        None => TrainedWeights::Paper(weights_file::from_json(text)?),
    })
}

/// [`SavedRun`] without the weights and the tile set (they have files of their own).
#[derive(Serialize, Deserialize)]
struct RunFile {
    config: TrainingConfig,
    limits: Limits,
    speed: Speed,
    dataset: DatasetSettings,
    position: Position,
    train_curve: Vec<CurvePoint>,
    test_curve: Vec<CurvePoint>,
}

/// Writes `run` into `dir`, each file atomically; the run file goes last, so a run file never
/// points at weights older than itself.
pub fn save_run(dir: &Path, run: &SavedRun) -> anyhow::Result<()> {
    storage::write_text(dir, RUN_WEIGHTS_FILE, &weights_to_json(&run.weights, &run.config)?)?;
    storage::write_text(dir, RUN_TILESET_FILE, &tileset_file::to_json(&run.classes)?)?;
    // JSON has no NaN: a point of a diverging run is left out rather than written as null.
    let finite =
        |curve: &[CurvePoint]| curve.iter().filter(|p| p.loss.is_finite() && p.accuracy.is_finite()).copied().collect();
    let file = RunFile {
        config: run.config,
        limits: run.limits,
        speed: run.speed,
        dataset: run.dataset.clone(),
        position: run.position,
        train_curve: finite(&run.train_curve),
        test_curve: finite(&run.test_curve),
    };
    storage::write_text(dir, RUN_FILE, &serde_json::to_string(&file)?)
}

/// Reads what [`save_run`] wrote; `Ok(None)` when no run was saved.
pub fn load_run(dir: &Path) -> anyhow::Result<Option<SavedRun>> {
    let Some(file) = storage::read_text(dir, RUN_FILE, MAX_RUN_FILE_BYTES)? else { return Ok(None) };
    let file: RunFile = serde_json::from_str(&file)?;
    let missing = || anyhow::anyhow!("the run was saved without its weights or tile set");
    let limit = weights_file::MAX_FILE_BYTES.max(deep_weights::MAX_FILE_BYTES);
    let weights = storage::read_text(dir, RUN_WEIGHTS_FILE, limit)?.ok_or_else(missing)?;
    let weights = weights_from_json(&weights, &file.config).context("the saved weights")?;
    let tileset = storage::read_text(dir, RUN_TILESET_FILE, tileset_file::MAX_FILE_BYTES)?.ok_or_else(missing)?;
    let classes = tileset_file::from_json(&tileset)?;
    Ok(Some(SavedRun {
        config: file.config,
        limits: file.limits,
        speed: file.speed,
        classes,
        dataset: file.dataset,
        weights,
        position: file.position,
        train_curve: file.train_curve,
        test_curve: file.test_curve,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::settings::BackgroundChoice;
    use crate::core::nn::n2_shaped::Init;
    use crate::core::presets;

    fn small_settings() -> DatasetSettings {
        DatasetSettings {
            height: 32,
            width: 32,
            samples_per_class: 1,
            background: BackgroundChoice::Uniform,
            jitter: 0.0,
            seed: 3,
        }
    }

    fn small_data() -> DatasetSpec {
        small_settings().to_spec().unwrap()
    }

    fn small_config() -> TrainingConfig {
        TrainingConfig {
            layers: None,
            n2_shaped: None,
            filters: 4,
            kernel: 5,
            hyper: Hyper::plain(0.05, 20),
            train_per_class: 60,
            test_per_class: 20,
            seed: 2,
        }
    }

    fn wait_for(job: &TrainingJob, seconds: f32, done: impl Fn(&Progress) -> bool) -> Progress {
        let started = Instant::now();
        loop {
            let progress = job.progress().clone();
            if done(&progress) || started.elapsed().as_secs_f32() > seconds {
                return progress;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn small_job() -> TrainingJob {
        TrainingJob::start(presets::fashion_three(), small_data(), small_config(), (0, small_settings()), None).unwrap()
    }

    /// Sends Run and waits until the run stops by itself.
    fn run_until_stopped(job: &mut TrainingJob) -> Progress {
        wait_for(job, 20.0, |p| p.phase == Phase::Ready);
        job.send(Control::Run);
        let stopped = wait_for(job, 60.0, |p| !p.running && p.stopped.is_some());
        assert!(stopped.stopped.is_some(), "the run stops by itself: {:?} at epoch {}", stopped.status, stopped.epoch);
        stopped
    }

    #[test]
    fn a_run_stops_at_exactly_the_epoch_limit_and_continues_with_the_same_weights() {
        // 180 training images in batches of 20: 9 batches per epoch.
        let mut job = small_job();
        job.send(Control::SetLimits(Limits { epochs: 3, target_accuracy: None }));
        let stopped = run_until_stopped(&mut job);
        assert_eq!(stopped.stopped, Some(Stopped::EpochLimit { epochs: 3 }));
        assert_eq!((stopped.epoch, stopped.step), (3, 27));
        assert_eq!(stopped.stopped.map(|s| s.message()).as_deref(), Some("stopped after 3 epochs"));
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(job.progress().step, 27, "a stopped run does not train");

        job.send(Control::SetLimits(Limits { epochs: 5, target_accuracy: None }));
        job.send(Control::Run);
        let continued = wait_for(&job, 60.0, |p| p.stopped == Some(Stopped::EpochLimit { epochs: 5 }));
        assert_eq!((continued.epoch, continued.step), (5, 45));
        assert!(continued.train_curve.len() > stopped.train_curve.len());
        assert_eq!(continued.train_curve[..stopped.train_curve.len()], stopped.train_curve[..], "the curves go on");

        // Stopping at 3 and continuing to 5 equals running to 5 at once: the weights were kept.
        let mut straight = small_job();
        straight.send(Control::SetLimits(Limits { epochs: 5, target_accuracy: None }));
        let reference = run_until_stopped(&mut straight);
        assert_eq!(reference.step, 45);
        assert_eq!(continued.cnn, reference.cnn);
    }

    #[test]
    fn a_run_at_its_limit_does_not_start_again() {
        let mut job = small_job();
        job.send(Control::SetLimits(Limits { epochs: 1, target_accuracy: None }));
        let stopped = run_until_stopped(&mut job);
        job.send(Control::Run);
        std::thread::sleep(Duration::from_millis(300));
        let again = job.progress().clone();
        assert_eq!((again.step, again.running), (stopped.step, false));
        assert_eq!(again.stopped.map(|s| s.message()).as_deref(), Some("stopped after 1 epoch"));
    }

    #[test]
    fn a_target_accuracy_stops_the_run_at_an_epoch_end() {
        let mut job = small_job();
        job.send(Control::SetLimits(Limits { epochs: 200, target_accuracy: Some(0.6) }));
        let stopped = run_until_stopped(&mut job);
        let Some(Stopped::ReachedAccuracy { accuracy, epoch }) = stopped.stopped else {
            panic!("stopped for {:?}", stopped.stopped)
        };
        assert!(accuracy >= 0.6, "{accuracy}");
        assert!(epoch < 200 && epoch == stopped.epoch, "epoch {epoch} of {}", stopped.epoch);
        assert_eq!(stopped.step, 9 * epoch as u64, "it stops at the end of an epoch");
        assert_eq!(stopped.test_accuracy(), Some(accuracy), "the measurement is on the test curve");
        assert!(stopped.stopped.unwrap().message().starts_with("reached "), "{:?}", stopped.stopped);
    }

    #[test]
    fn a_speed_limit_paces_the_steps() {
        // 100 samples per second in batches of 20: 5 steps per second.
        let mut job = small_job();
        job.send(Control::SetSpeed(Speed::limited(100.0)));
        wait_for(&job, 20.0, |p| p.phase == Phase::Ready);
        job.send(Control::Run);
        let first = wait_for(&job, 5.0, |p| p.step >= 1);
        let started = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let steps = job.progress().step - first.step;
        let per_second = steps as f64 / started.elapsed().as_secs_f64();
        assert!((3.0..=7.0).contains(&per_second), "{per_second:.2} steps per second, expected 5");
        job.send(Control::SetSpeed(Speed::Full));
        let fast = wait_for(&job, 10.0, |p| p.step >= first.step + steps + 40);
        assert!(fast.step >= first.step + steps + 40, "full speed again");
    }

    #[test]
    fn pacing_spaces_batches_by_the_rate() {
        let start = Instant::now();
        let mut pace = Pace::new(Speed::SamplesPerSecond(50.0), start);
        assert_eq!(pace.wait(start), Duration::ZERO, "the first batch starts at once");
        pace.record(10);
        assert_eq!(pace.wait(start), Duration::from_millis(200));
        assert_eq!(pace.wait(start + Duration::from_millis(150)), Duration::from_millis(50));
        assert_eq!(pace.wait(start + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(Pace::new(Speed::Full, start).wait(start), Duration::ZERO);
        assert_eq!(Speed::limited(f32::NAN), Speed::SamplesPerSecond(*SPEED_RANGE.start()));
        assert_eq!(Speed::limited(1e9), Speed::SamplesPerSecond(*SPEED_RANGE.end()));
    }

    #[test]
    fn a_saved_run_round_trips_and_resumes_paused() {
        let dir = tempfile::tempdir().unwrap();
        let mut job = small_job();
        job.send(Control::SetLimits(Limits { epochs: 2, target_accuracy: Some(0.99) }));
        job.send(Control::SetSpeed(Speed::limited(5000.0)));
        let stopped = run_until_stopped(&mut job);
        let saved = job.to_saved().expect("a run with weights can be saved");
        save_run(dir.path(), &saved).unwrap();
        let loaded = load_run(dir.path()).unwrap().expect("a saved run");
        // JSON keeps every f32 exactly; an f64 epoch may come back one unit in the last place off.
        let same_curve = |a: &[CurvePoint], b: &[CurvePoint]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| (p.epoch - q.epoch).abs() < 1e-12 && (p.loss, p.accuracy) == (q.loss, q.accuracy))
        };
        assert!(
            same_curve(&loaded.train_curve, &saved.train_curve) && same_curve(&loaded.test_curve, &saved.test_curve)
        );
        let without_curves =
            |run: &SavedRun| SavedRun { train_curve: Vec::new(), test_curve: Vec::new(), ..run.clone() };
        assert_eq!(without_curves(&loaded), without_curves(&saved));
        assert!(load_run(tempfile::tempdir().unwrap().path()).unwrap().is_none());

        let resumed = TrainingJob::resume(loaded, (0, small_settings())).unwrap();
        assert_eq!((resumed.limits(), resumed.speed()), (saved.limits, saved.speed));
        let ready = wait_for(&resumed, 20.0, |p| p.phase == Phase::Ready);
        assert_eq!(ready.cnn, stopped.cnn);
        assert_eq!((ready.step, ready.running), (stopped.step, false));
        assert!(same_curve(&ready.train_curve, &stopped.train_curve));
    }

    #[test]
    fn a_run_learns_pauses_steps_and_resets() {
        let mut job = small_job();
        job.send(Control::SetLimits(Limits { epochs: 10_000, target_accuracy: None }));
        let ready = wait_for(&job, 20.0, |p| p.phase != Phase::PreparingData && p.cnn.is_some());
        assert_eq!(ready.phase, Phase::Ready);
        assert_eq!((ready.train_samples, ready.test_samples, ready.step), (180, 60, 0));
        job.send(Control::Run);
        let trained = wait_for(&job, 30.0, |p| p.test_accuracy().is_some_and(|a| a > 0.8) && p.train_curve.len() > 2);
        assert!(trained.test_accuracy().is_some_and(|a| a > 0.8), "test accuracy {:?}", trained.test_accuracy());
        job.send(Control::Pause);
        let paused = wait_for(&job, 5.0, |p| !p.running);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(job.progress().step, paused.step, "no steps while paused");
        job.send(Control::Step(2));
        let stepped = wait_for(&job, 5.0, |p| p.step == paused.step + 2);
        assert_eq!(stepped.step, paused.step + 2);
        job.send(Control::Reset);
        let reset = wait_for(&job, 5.0, |p| p.step == 0 && p.train_curve.is_empty());
        assert_eq!((reset.step, reset.train_curve.len()), (0, 0));
    }

    #[test]
    fn an_edited_deep_architecture_trains_on_the_general_path() {
        let config = TrainingConfig { layers: Some(Layers::deep()), hyper: Hyper::deep(), ..small_config() };
        let mut job =
            TrainingJob::start(presets::fashion_three(), small_data(), config, (0, small_settings()), None).unwrap();
        assert_eq!(job.network, Network::Deep(Layers::deep().arch(32, 32, 3)));
        let ready = wait_for(&job, 20.0, |p| p.net.is_some());
        assert!(ready.cnn.is_none(), "no paper network to publish");
        job.send(Control::Step(3));
        let stepped = wait_for(&job, 20.0, |p| p.step == 3);
        assert_eq!(stepped.step, 3);
        let net = stepped.net.expect("the deep weights are published");
        assert_eq!(net.arch(), &Layers::deep().arch(32, 32, 3));
        assert_ne!(Some(net), ready.net, "the published weights moved");
    }

    /// A run of `config` on the small data, stepped `steps` batches, with its progress then.
    fn stepped_job(config: TrainingConfig, steps: usize) -> (TrainingJob, Progress) {
        let mut job =
            TrainingJob::start(presets::fashion_three(), small_data(), config, (0, small_settings()), None).unwrap();
        let ready = wait_for(&job, 30.0, |p| p.phase != Phase::PreparingData);
        assert_eq!(ready.phase, Phase::Ready);
        job.send(Control::Step(steps));
        let stepped = wait_for(&job, 30.0, |p| p.step == steps as u64 && !p.running);
        assert_eq!(stepped.step, steps as u64);
        (job, stepped)
    }

    fn shaped(wiring: Wiring, init: Init) -> TrainingConfig {
        let settings = ShapedSettings { wiring, init };
        TrainingConfig { n2_shaped: Some(settings), hyper: Hyper::deep(), ..small_config() }
    }

    /// Saves `job`'s run, reads it back, checks the weights came back equal and resumes it.
    fn saved_and_resumed(job: &TrainingJob, dir: &Path) -> (SavedRun, TrainingJob) {
        let saved = job.to_saved().expect("a run with weights can be saved");
        save_run(dir, &saved).unwrap();
        let loaded = load_run(dir).unwrap().expect("a saved run");
        assert_eq!(loaded.weights, saved.weights, "the weights come back exactly");
        assert_eq!((loaded.config, loaded.position), (saved.config, saved.position));
        let resumed = TrainingJob::resume(loaded, (0, small_settings())).unwrap();
        (saved, resumed)
    }

    #[test]
    fn a_deep_run_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let config = TrainingConfig { layers: Some(Layers::deep()), hyper: Hyper::deep(), ..small_config() };
        let (job, stepped) = stepped_job(config, 3);
        let (saved, resumed) = saved_and_resumed(&job, dir.path());
        assert!(matches!(saved.weights, TrainedWeights::Deep(_)), "{:?}", saved.weights);
        assert_eq!(resumed.progress().net, stepped.net, "the weights show before the data exist");
        let ready = wait_for(&resumed, 30.0, |p| p.phase == Phase::Ready);
        assert_eq!((ready.net, ready.step, ready.running), (stepped.net, 3, false));
    }

    #[test]
    fn an_n2_shaped_run_trains_resets_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (mut job, stepped) = stepped_job(shaped(Wiring::Sparse, Init::N2), 3);
        let net = stepped.shaped.clone().expect("the n2-shaped weights are published");
        assert!(stepped.cnn.is_none() && stepped.net.is_none(), "no other kind of network");
        assert_eq!(net.input(), (32, 32));
        assert!(!stepped.train_curve.is_empty() && stepped.test_accuracy().is_some(), "its loss and accuracy curves");
        let (saved, resumed) = saved_and_resumed(&job, dir.path());
        assert_eq!(saved.weights, TrainedWeights::Shaped(net.parameters().to_vec()));
        let ready = wait_for(&resumed, 30.0, |p| p.phase == Phase::Ready);
        assert_eq!((ready.shaped, ready.step), (Some(net), 3));

        // Reset goes back to N2's own weights, where the run started.
        let start = N2Shaped::new(&presets::fashion_three(), (32, 32), Wiring::Sparse, Init::N2, 2).unwrap();
        job.send(Control::Reset);
        let reset = wait_for(&job, 10.0, |p| p.step == 0 && p.train_curve.is_empty());
        assert_eq!(reset.shaped.as_deref(), Some(&start));
    }

    #[test]
    fn corrupt_saved_weights_give_a_message() {
        let dir = tempfile::tempdir().unwrap();
        let (job, _) = stepped_job(shaped(Wiring::Sparse, Init::Random), 1);
        let saved = job.to_saved().unwrap();
        save_run(dir.path(), &saved).unwrap();
        std::fs::write(dir.path().join(RUN_WEIGHTS_FILE), "{\"format\": \"tilelab-n2-shaped-weights\", \"ver").unwrap();
        let error = load_run(dir.path()).unwrap_err();
        assert!(format!("{error:#}").starts_with("the saved weights: "), "{error:#}");

        // Parameters of another network are refused when the run rebuilds it, with the reason.
        let wrong = SavedRun { weights: TrainedWeights::Shaped(vec![0.5; 7]), ..saved };
        let resumed = TrainingJob::resume(wrong, (0, small_settings())).unwrap();
        let failed = wait_for(&resumed, 30.0, |p| p.phase != Phase::PreparingData);
        let Phase::Failed(message) = failed.phase else { panic!("{:?}", failed.phase) };
        assert!(message.starts_with("the saved weights: ") && message.contains("7 parameters"), "{message}");
        let deep = TrainingConfig { layers: Some(Layers::deep()), ..small_config() };
        let mismatched = SavedRun { config: deep, ..job.to_saved().unwrap() };
        assert_eq!(TrainingJob::resume(mismatched, (0, small_settings())).err().as_deref(), Some(WEIGHTS_MISMATCH));
    }

    #[test]
    fn n2_shaped_settings_n2_cannot_train_are_refused_with_the_core_message() {
        let config = shaped(Wiring::Dense, Init::Random);
        assert!(matches!(config.check(3, 32, 32), Ok(Network::N2Shaped(_))), "checked when built");
        let job =
            TrainingJob::start(presets::fashion_three(), small_data(), config, (0, small_settings()), None).unwrap();
        let failed = wait_for(&job, 30.0, |p| p.phase != Phase::PreparingData);
        let Phase::Failed(message) = failed.phase else { panic!("{:?}", failed.phase) };
        assert!(message.contains("FLOPs per training sample"), "{message}");
        let one_class = config.check(1, 32, 32).unwrap_err();
        assert_eq!(one_class.setting, Setting::Data);
        assert!(one_class.message.contains("at least 2"), "{}", one_class.message);
    }

    #[test]
    fn an_impossible_architecture_names_the_block() {
        let mut layers = Layers::deep();
        layers.blocks_mut()[1].kernel = 20;
        let config = TrainingConfig { layers: Some(layers), ..small_config() };
        let problem = config.check(3, 32, 32).unwrap_err();
        assert_eq!(problem.setting, Setting::Architecture);
        assert!(problem.message.contains("conv block 2: a 20×20 kernel"), "{}", problem.message);
        let problem = TrainingConfig { layers: Some(Layers::deep()), ..small_config() }.check(1, 32, 32).unwrap_err();
        assert_eq!(problem.setting, Setting::Data, "{}", problem.message);
    }

    #[test]
    fn divergence_is_reported_and_stops_the_run() {
        // Squares on noise scaled to 1e12 with the largest learning rate overflow f32 within a few
        // steps (images in [0, 1] only saturate: their loss grows but stays finite).
        let spec = CnnSpec { height: 6, width: 6, kernel: 2, filters: 4, classes: 2 };
        let config = TrainingConfig { hyper: Hyper::plain(1e3, 5), seed: 1, ..small_config() };
        let make_sets = move || {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let (mut images, mut labels) = (Vec::new(), Vec::new());
            for i in 0..100 {
                let mut image = ndarray::Array2::from_shape_simple_fn((6, 6), || rng.random_range(0.0..1.0f32));
                let (r, c) = (rng.random_range(0..5), rng.random_range(0..5));
                image.slice_mut(ndarray::s![r..r + 2, c..c + 2]).fill(if i % 2 == 0 { 1.0 } else { 0.0 });
                images.push(image * 1e12);
                labels.push(i % 2);
            }
            let train = LabelledSet::new(&images, &labels, 6, 6, 2).map_err(|e| e.to_string())?;
            Ok((train, LabelledSet::default()))
        };
        let mut job = TrainingJob::start_with(spec, config, (0, DatasetSettings::default()), None, make_sets);
        job.send(Control::Run);
        let progress = wait_for(&job, 30.0, |p| matches!(p.status, Status::Diverged { .. }));
        assert!(
            matches!(progress.status, Status::Diverged { .. }),
            "{:?} after {} steps, {:?}, {:?}",
            progress.status,
            progress.step,
            progress.phase,
            progress.train_curve.last()
        );
        assert!(!progress.running);
        assert!(progress.cnn.as_ref().is_some_and(|c| c.is_finite()), "the published weights stay finite");
    }

    #[test]
    fn absurd_settings_are_refused_with_a_reason() {
        let cases = [
            (TrainingConfig { hyper: Hyper::plain(1e6, 100), ..small_config() }, "learning rate"),
            (TrainingConfig { hyper: Hyper::plain(0.03, 0), ..small_config() }, "batch size"),
            (TrainingConfig { filters: 0, ..small_config() }, "filters"),
            (TrainingConfig { kernel: 40, ..small_config() }, "kernel"),
            (TrainingConfig { train_per_class: 0, ..small_config() }, "samples per class"),
        ];
        for (config, expected) in cases {
            let error = TrainingJob::start(
                presets::fashion_three(),
                small_data(),
                config,
                (0, DatasetSettings::default()),
                None,
            )
            .err()
            .unwrap_or_default();
            assert!(error.contains(expected), "{error:?} should mention {expected}");
        }
    }

    #[test]
    fn curves_are_thinned_past_the_limit() {
        let mut curve = Vec::new();
        for i in 0..=MAX_CURVE_POINTS {
            push_point(&mut curve, CurvePoint { epoch: i as f64, loss: 0.0, accuracy: 0.0 });
        }
        assert_eq!(curve.len(), MAX_CURVE_POINTS.div_ceil(2));
        assert!(curve.windows(2).all(|w| w[0].epoch < w[1].epoch));
    }
}
