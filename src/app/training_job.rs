//! The live SGD run on a worker thread. The worker owns its own copy of the tile set and the data
//! it generates from it, drives [`Trainer`], and publishes the newest weights and curves into a
//! shared [`Progress`]; the UI sends [`Control`]s and only reads that snapshot (a training step never
//! runs on the UI thread). Editing tiles while it runs cannot corrupt the run: the worker does not
//! see the app's tile set at all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::core::dataset::{self, DatasetSpec};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::nn::train::{Hyper, LabelledSet, Status, Trainer};
use crate::core::tile::ClassSet;

use super::settings::DatasetRequest;

/// How long the worker trains between two published snapshots.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);
/// Shortest time between two test-set evaluations while running.
const TEST_INTERVAL: Duration = Duration::from_millis(250);
/// Training-curve points recorded per epoch (at most; a batch is the finest step).
const CURVE_POINTS_PER_EPOCH: usize = 8;
/// Most points kept per curve (older points are thinned out beyond it).
const MAX_CURVE_POINTS: usize = 4000;
/// Added to the dataset seed for the test set, so test images differ from training images.
const TEST_SEED_OFFSET: u64 = 0x7e57;

/// The architecture and hyper-parameters the user edits, and the size of the generated data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingConfig {
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

impl TrainingConfig {
    /// The network architecture for `classes` classes on `height×width` images, or a readable reason why not.
    pub fn spec(&self, classes: usize, height: usize, width: usize) -> Result<CnnSpec, String> {
        let spec = CnnSpec { height, width, kernel: self.kernel, filters: self.filters, classes };
        spec.validate().map_err(|e| e.to_string())?;
        self.hyper.validate().map_err(|e| e.to_string())?;
        if self.train_per_class == 0 || self.train_per_class > MAX_SAMPLES_PER_CLASS {
            return Err(format!("training samples per class must be between 1 and {MAX_SAMPLES_PER_CLASS}"));
        }
        if self.test_per_class > MAX_SAMPLES_PER_CLASS {
            return Err(format!("test samples per class must be at most {MAX_SAMPLES_PER_CLASS}"));
        }
        Ok(spec)
    }
}

/// What the UI asks the worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Train continuously.
    Run,
    /// Stop after the current batch and wait.
    Pause,
    /// Train exactly this many batches, then wait.
    Step(usize),
    /// Back to the initial weights and empty curves (paused).
    Reset,
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
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// The newest weights (always finite).
    pub cnn: Option<Arc<Cnn>>,
    /// Bumped whenever `cnn` changes (views cache their forward passes against it).
    pub version: u64,
    /// Training loss and accuracy.
    pub train_curve: Vec<CurvePoint>,
    /// Test loss and accuracy at some points.
    pub test_curve: Vec<CurvePoint>,
    pub status: Status,
    /// True while training continuously.
    pub running: bool,
    pub epoch: usize,
    pub step: u64,
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
            version: 0,
            train_curve: Vec::new(),
            test_curve: Vec::new(),
            status: Status::Running,
            running: false,
            epoch: 0,
            step: 0,
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

/// A live training run: the worker thread, its controls and its published progress.
pub struct TrainingJob {
    published: Arc<Mutex<Progress>>,
    control: Sender<Control>,
    /// The trainer's cancel flag, once the trainer exists (it interrupts a long batch loop).
    interrupt: Arc<OnceLock<Arc<AtomicBool>>>,
    /// The tile-set version and dataset settings the run's data were generated from.
    pub started_from: DatasetRequest,
    /// The configuration it runs with.
    pub config: TrainingConfig,
    /// The architecture.
    pub spec: CnnSpec,
}

impl TrainingJob {
    /// Starts a worker that generates data from `classes` and `data` and waits (paused) for controls.
    pub fn start(
        classes: ClassSet,
        data: DatasetSpec,
        config: TrainingConfig,
        started_from: DatasetRequest,
        ctx: Option<egui::Context>,
    ) -> Result<Self, String> {
        let spec = config.spec(classes.len(), data.height, data.width)?;
        let make_sets = move || generate_sets(&classes, &data, config, spec);
        Self::start_with(spec, config, started_from, ctx, make_sets)
    }

    /// Starts a worker that trains `spec` on the sets `make_sets` returns (it runs on the worker).
    pub fn start_with(
        spec: CnnSpec,
        config: TrainingConfig,
        started_from: DatasetRequest,
        ctx: Option<egui::Context>,
        make_sets: impl FnOnce() -> Result<(LabelledSet, LabelledSet), String> + Send + 'static,
    ) -> Result<Self, String> {
        let published = Arc::new(Mutex::new(Progress::new()));
        let interrupt = Arc::new(OnceLock::new());
        let (control, receiver) = channel();
        let worker = Worker { published: Arc::clone(&published), interrupt: Arc::clone(&interrupt), ctx };
        std::thread::Builder::new()
            .name("tilelab training".to_owned())
            .spawn(move || worker.run(make_sets, config, spec, &receiver))
            .map_err(|e| format!("could not start the training thread: {e}"))?;
        Ok(Self { published, control, interrupt, started_from, config, spec })
    }

    /// Sends a control; pausing and stopping also interrupt the batch loop at once.
    pub fn send(&self, control: Control) {
        if matches!(control, Control::Pause | Control::Stop | Control::Reset)
            && let Some(flag) = self.interrupt.get()
        {
            flag.store(true, Ordering::Relaxed);
        }
        // The worker is gone only after Stop or a failure, which the progress already shows.
        let _ = self.control.send(control);
    }

    /// The newest published progress (a short lock; the worker never holds it while training).
    pub fn progress(&self) -> MutexGuard<'_, Progress> {
        lock(&self.published)
    }
}

impl Drop for TrainingJob {
    fn drop(&mut self) {
        self.send(Control::Stop);
    }
}

/// Locks the progress, recovering it if a panicking thread poisoned the lock.
fn lock(published: &Mutex<Progress>) -> MutexGuard<'_, Progress> {
    published.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The worker side: what it publishes into.
struct Worker {
    published: Arc<Mutex<Progress>>,
    interrupt: Arc<OnceLock<Arc<AtomicBool>>>,
    ctx: Option<egui::Context>,
}

/// The worker's own record of the run between publications.
struct RunState {
    running: bool,
    pending_batches: usize,
    last_test: Option<Instant>,
    /// The step the last test evaluation was made at (no point is measured twice).
    tested_step: Option<u64>,
}

impl Worker {
    fn run(
        self,
        make_sets: impl FnOnce() -> Result<(LabelledSet, LabelledSet), String>,
        config: TrainingConfig,
        spec: CnnSpec,
        controls: &Receiver<Control>,
    ) {
        let mut trainer = match self.prepare(make_sets, config, spec) {
            Ok(trainer) => trainer,
            Err(message) => {
                self.update(|p| p.phase = Phase::Failed(message));
                return;
            }
        };
        let _ = self.interrupt.set(trainer.cancel_flag());
        let mut state = RunState { running: false, pending_batches: 0, last_test: None, tested_step: None };
        self.publish_weights(&mut trainer, &mut state, true);
        loop {
            let idle = !state.running && state.pending_batches == 0;
            // Idle: block until told what to do; running: only look for a new control between chunks.
            let control = if idle {
                Some(controls.recv().unwrap_or(Control::Stop))
            } else {
                match controls.try_recv() {
                    Ok(control) => Some(control),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => Some(Control::Stop),
                }
            };
            match control {
                Some(Control::Stop) => return,
                Some(control) => self.apply(control, &mut trainer, &mut state),
                None => self.train_chunk(&mut trainer, &mut state),
            }
        }
    }

    /// Makes the training and test sets and builds the trainer.
    fn prepare(
        &self,
        make_sets: impl FnOnce() -> Result<(LabelledSet, LabelledSet), String>,
        config: TrainingConfig,
        spec: CnnSpec,
    ) -> Result<Trainer, String> {
        let (train, test) = make_sets()?;
        let (train_samples, test_samples) = (train.len(), test.len());
        let trainer = Trainer::new(spec, config.hyper, train, test, config.seed).map_err(|e| e.to_string())?;
        self.update(|p| {
            p.phase = Phase::Ready;
            (p.train_samples, p.test_samples, p.threads) = (train_samples, test_samples, trainer.threads());
        });
        Ok(trainer)
    }

    fn apply(&self, control: Control, trainer: &mut Trainer, state: &mut RunState) {
        trainer.resume();
        match control {
            Control::Run => state.running = trainer.status() == Status::Running,
            Control::Pause => {
                (state.running, state.pending_batches) = (false, 0);
                self.publish_weights(trainer, state, true);
            }
            Control::Step(batches) => state.pending_batches += batches,
            Control::Reset => {
                trainer.reset();
                (state.running, state.pending_batches, state.last_test, state.tested_step) = (false, 0, None, None);
                self.update(|p| {
                    p.train_curve.clear();
                    p.test_curve.clear();
                });
                self.publish_weights(trainer, state, true);
            }
            Control::Stop => {}
        }
    }

    /// Trains for about [`PUBLISH_INTERVAL`] (or the pending single steps), then publishes; a
    /// curve point is recorded every [`CURVE_POINTS_PER_EPOCH`]th of an epoch, so fast runs on
    /// small sets still draw a curve rather than a jump.
    fn train_chunk(&self, trainer: &mut Trainer, state: &mut RunState) {
        let started = Instant::now();
        let segment = (trainer.batches_per_epoch() / CURVE_POINTS_PER_EPOCH).max(1);
        let (mut points, mut sum) = (Vec::new(), Segment::default());
        let mut samples_done = 0;
        while started.elapsed() < PUBLISH_INTERVAL && (state.running || state.pending_batches > 0) {
            let report = trainer.step(1);
            state.pending_batches = state.pending_batches.saturating_sub(1);
            sum.add(report.loss, report.accuracy, report.samples);
            samples_done += report.samples;
            if report.status != Status::Running {
                // Diverged or interrupted: stop and wait for the user.
                (state.running, state.pending_batches) = (false, 0);
            }
            if sum.batches >= segment {
                points.extend(sum.point(epochs_seen(trainer)));
                sum = Segment::default();
            }
        }
        points.extend(sum.point(epochs_seen(trainer)));
        let seconds = started.elapsed().as_secs_f32();
        if samples_done > 0 {
            self.update(|p| {
                for point in points {
                    push_point(&mut p.train_curve, point);
                }
                p.samples_per_second = samples_done as f32 / seconds.max(1e-6);
            });
        }
        let finished = !state.running && state.pending_batches == 0;
        self.publish_weights(trainer, state, finished);
    }

    /// Publishes the weights and status, with a test evaluation when due (or `force_test`).
    fn publish_weights(&self, trainer: &mut Trainer, state: &mut RunState, force_test: bool) {
        let due = state.last_test.is_none_or(|t| t.elapsed() >= TEST_INTERVAL);
        let new_step = state.tested_step != Some(trainer.steps());
        let test = if (force_test || due) && new_step && !trainer.test_set().is_empty() {
            (state.last_test, state.tested_step) = (Some(Instant::now()), Some(trainer.steps()));
            let evaluation = trainer.evaluate_test();
            Some(CurvePoint { epoch: epochs_seen(trainer), loss: evaluation.loss, accuracy: evaluation.accuracy })
        } else {
            None
        };
        let cnn = Arc::new(trainer.snapshot());
        let (status, epoch, step, running) = (trainer.status(), trainer.epoch(), trainer.steps(), state.running);
        self.update(|p| {
            if let Some(point) = test {
                push_point(&mut p.test_curve, point);
            }
            p.cnn = Some(cnn);
            p.version += 1;
            (p.status, p.epoch, p.step, p.running) = (status, epoch, step, running);
        });
    }

    /// Changes the published progress and asks the UI to repaint.
    fn update(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut lock(&self.published));
        if let Some(ctx) = &self.ctx {
            ctx.request_repaint();
        }
    }
}

/// The training set (`data.seed`) and the test set (another seed) generated from the tile set.
fn generate_sets(
    classes: &ClassSet,
    data: &DatasetSpec,
    config: TrainingConfig,
    spec: CnnSpec,
) -> Result<(LabelledSet, LabelledSet), String> {
    let generate = |samples_per_class: usize, seed: u64| {
        let data = DatasetSpec { samples_per_class, seed, ..data.clone() };
        let generated = dataset::generate(classes, &data).map_err(|e| e.to_string())?;
        LabelledSet::from_dataset(&generated, spec.height, spec.width, spec.classes).map_err(|e| e.to_string())
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
fn epochs_seen(trainer: &Trainer) -> f64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::settings::DatasetSettings;
    use crate::core::dataset::Background;
    use crate::core::presets;

    fn small_data() -> DatasetSpec {
        DatasetSpec {
            height: 32,
            width: 32,
            samples_per_class: 1,
            background: Background::Uniform,
            jitter: 0.0,
            seed: 3,
        }
    }

    fn small_config() -> TrainingConfig {
        TrainingConfig {
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

    #[test]
    fn a_run_learns_pauses_steps_and_resets() {
        let job = TrainingJob::start(
            presets::fashion_three(),
            small_data(),
            small_config(),
            (0, DatasetSettings::default()),
            None,
        )
        .unwrap();
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
        let job = TrainingJob::start_with(spec, config, (0, DatasetSettings::default()), None, make_sets).unwrap();
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
