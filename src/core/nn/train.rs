//! Mini-batch SGD for the trainable CNN: hyper-parameters, labelled image sets, and the
//! [`Trainer`] stepper that the CLI runs in a loop and the app drives from a worker thread.
//!
//! Invariants: the trainer's weights are always finite (a step that produces a non-finite loss or
//! weight is undone and the run stops with [`Status::Diverged`]); every epoch visits every training
//! sample once, in an order shuffled from the seed and the epoch number.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array2, ArrayView2};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cnn::{Cnn, CnnSpec, Evaluation};
use super::dense::NnError;
use super::kernels::{self, FastCnn, SgdStep, Velocity, Workspace};
use crate::core::dataset::Dataset;

/// Largest accepted learning rate; anything above it can only diverge.
pub const MAX_LEARNING_RATE: f32 = 1e3;
/// Learning rates above this are accepted with a warning.
pub const WARN_LEARNING_RATE: f32 = 1.0;
/// Largest accepted batch size.
pub const MAX_BATCH_SIZE: usize = 1 << 20;

/// Why training cannot start.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TrainError {
    #[error("learning rate {0} must be a finite number in (0, {MAX_LEARNING_RATE}]")]
    LearningRate(f32),
    #[error("batch size {0} must be between 1 and {MAX_BATCH_SIZE}")]
    BatchSize(usize),
    #[error("momentum {0} must be in [0, 1)")]
    Momentum(f32),
    #[error("weight decay {0} must be a finite number ≥ 0")]
    WeightDecay(f32),
    #[error("{images} images but {labels} labels")]
    CountMismatch { images: usize, labels: usize },
    #[error("image {index} is {got:?}, expected {height}×{width}")]
    ImageShape { index: usize, got: (usize, usize), height: usize, width: usize },
    #[error("image {index} has a pixel that is not a finite number")]
    NonFinitePixel { index: usize },
    #[error("label {label} of image {index} is out of range for {classes} classes")]
    Label { index: usize, label: usize, classes: usize },
    #[error("the training set is empty")]
    EmptyTrainingSet,
    #[error("a saved run is {cursor} samples into an epoch of {samples}")]
    Position { cursor: usize, samples: usize },
    #[error(transparent)]
    Network(#[from] NnError),
    #[error("architecture: {0}")]
    Arch(#[from] super::arch::ArchError),
}

/// SGD hyper-parameters (PyTorch's `torch.optim.SGD` meaning).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub learning_rate: f32,
    pub batch_size: usize,
    /// 0 is plain SGD, as in the paper.
    pub momentum: f32,
    /// L2 penalty added to the gradient, `weight_decay · w`.
    pub weight_decay: f32,
}

impl Hyper {
    /// Plain SGD with this learning rate and batch size.
    pub fn plain(learning_rate: f32, batch_size: usize) -> Self {
        Self { learning_rate, batch_size, momentum: 0.0, weight_decay: 0.0 }
    }

    /// The SGD settings of an architecture preset (batch 100).
    pub fn of_preset(preset: super::arch::Preset) -> Self {
        match preset {
            super::arch::Preset::Paper => Self::paper_fashion(),
            super::arch::Preset::Deep => Self::deep(),
        }
    }

    /// Issue 18's `deep` setting: SGD with momentum 0.9, lr 0.01, batch 100.
    pub fn deep() -> Self {
        Self { momentum: 0.9, ..Self::plain(0.01, 100) }
    }

    /// The paper's Fashion-MNIST setting: lr 0.03, batch 100.
    pub fn paper_fashion() -> Self {
        Self::plain(0.03, 100)
    }

    /// Checks every value; values that are allowed but likely to diverge give [`Hyper::warnings`].
    pub fn validate(&self) -> Result<(), TrainError> {
        let lr = self.learning_rate;
        if !(lr.is_finite() && lr > 0.0 && lr <= MAX_LEARNING_RATE) {
            return Err(TrainError::LearningRate(lr));
        }
        if self.batch_size == 0 || self.batch_size > MAX_BATCH_SIZE {
            return Err(TrainError::BatchSize(self.batch_size));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(TrainError::Momentum(self.momentum));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(TrainError::WeightDecay(self.weight_decay));
        }
        Ok(())
    }

    /// Readable warnings for valid but risky settings.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.learning_rate > WARN_LEARNING_RATE {
            warnings.push(format!("learning rate {} is large: training will probably diverge", self.learning_rate));
        }
        warnings
    }
}

/// Images of one size with their labels, packed into one buffer for the training kernel.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelledSet {
    height: usize,
    width: usize,
    /// `N·H·W`, row-major.
    pixels: Vec<f32>,
    labels: Vec<usize>,
}

impl LabelledSet {
    /// Packs `images` (all `height×width`, finite) with `labels` (each `< classes`).
    pub fn new(
        images: &[Array2<f32>],
        labels: &[usize],
        height: usize,
        width: usize,
        classes: usize,
    ) -> Result<Self, TrainError> {
        if images.len() != labels.len() {
            return Err(TrainError::CountMismatch { images: images.len(), labels: labels.len() });
        }
        let mut pixels = Vec::with_capacity(images.len() * height * width);
        for (index, (image, &label)) in images.iter().zip(labels).enumerate() {
            if image.dim() != (height, width) {
                return Err(TrainError::ImageShape { index, got: image.dim(), height, width });
            }
            if image.iter().any(|v| !v.is_finite()) {
                return Err(TrainError::NonFinitePixel { index });
            }
            if label >= classes {
                return Err(TrainError::Label { index, label, classes });
            }
            pixels.extend(image.iter());
        }
        Ok(Self { height, width, pixels, labels: labels.to_vec() })
    }

    /// The samples of a generated dataset.
    pub fn from_dataset(dataset: &Dataset, height: usize, width: usize, classes: usize) -> Result<Self, TrainError> {
        let images: Vec<Array2<f32>> = dataset.samples.iter().map(|s| s.image.clone()).collect();
        let labels: Vec<usize> = dataset.samples.iter().map(|s| s.label).collect();
        Self::new(&images, &labels, height, width, classes)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `index` (panics if out of range, like slice indexing).
    pub fn image(&self, index: usize) -> ArrayView2<'_, f32> {
        let n = self.height * self.width;
        ArrayView2::from_shape((self.height, self.width), &self.pixels[index * n..(index + 1) * n])
            .unwrap_or_else(|_| unreachable!("the buffer holds N·H·W pixels"))
    }

    /// All labels.
    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    /// All pixels, `N·H·W` row-major.
    pub(crate) fn pixels(&self) -> &[f32] {
        &self.pixels
    }

    fn check_for(&self, spec: CnnSpec) -> Result<(), TrainError> {
        self.check_size(spec.height, spec.width, spec.classes)
    }

    /// Checks that the images are `height×width` and every label is below `classes`.
    pub(crate) fn check_size(&self, height: usize, width: usize, classes: usize) -> Result<(), TrainError> {
        if !self.is_empty() && (self.height, self.width) != (height, width) {
            return Err(TrainError::ImageShape { index: 0, got: (self.height, self.width), height, width });
        }
        if let Some((index, &label)) = self.labels.iter().enumerate().find(|(_, l)| **l >= classes) {
            return Err(TrainError::Label { index, label, classes });
        }
        Ok(())
    }
}

/// Where the run stands.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Status {
    /// Ready for more steps.
    Running,
    /// Batch `at_step` gave a non-finite loss or weight; the weights are those before it.
    Diverged { at_step: u64, loss: f32 },
    /// The cancel flag was raised; `reset` or clearing the flag continues.
    Cancelled,
}

impl Status {
    /// A sentence for the user.
    pub fn message(&self) -> String {
        match self {
            Status::Running => "training".to_owned(),
            Status::Diverged { at_step, loss } => format!(
                "training diverged at step {at_step} (loss {loss}): lower the learning rate and reset; the weights shown are those before that step"
            ),
            Status::Cancelled => "training cancelled".to_owned(),
        }
    }
}

/// Where a run stands in its schedule; with the weights, the seed and the data it is enough to
/// continue the run batch for batch (momentum restarts from zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Completed epochs.
    pub epoch: usize,
    /// Completed batches.
    pub step: u64,
    /// Samples of the current epoch already trained on.
    pub cursor: usize,
}

/// What one call of [`Trainer::step`] did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepReport {
    /// Mean loss of the samples of these batches (computed before each update).
    pub loss: f32,
    /// Fraction of those samples classified correctly before each update.
    pub accuracy: f32,
    /// Batches completed in this call.
    pub batches: usize,
    /// Samples completed in this call.
    pub samples: usize,
    /// Completed epochs so far.
    pub epoch: usize,
    /// Completed batches so far.
    pub step: u64,
    pub status: Status,
}

/// The SGD stepper.
pub struct Trainer {
    spec: CnnSpec,
    hyper: Hyper,
    seed: u64,
    train: LabelledSet,
    test: LabelledSet,
    net: FastCnn,
    /// The weights before the current step, restored if it diverges.
    previous: FastCnn,
    workspaces: Vec<Workspace>,
    velocity: Velocity,
    order: Vec<usize>,
    cursor: usize,
    epoch: usize,
    step: u64,
    status: Status,
    cancel: Arc<AtomicBool>,
}

impl Trainer {
    /// A trainer with freshly initialised weights (seeded), one workspace per rayon thread.
    pub fn new(
        spec: CnnSpec,
        hyper: Hyper,
        train: LabelledSet,
        test: LabelledSet,
        seed: u64,
    ) -> Result<Self, TrainError> {
        Self::from_network(&Cnn::new(spec, seed)?, hyper, train, test, seed)
    }

    /// A trainer that continues from given weights; `seed` drives the shuffling.
    pub fn from_network(
        cnn: &Cnn,
        hyper: Hyper,
        train: LabelledSet,
        test: LabelledSet,
        seed: u64,
    ) -> Result<Self, TrainError> {
        hyper.validate()?;
        let spec = cnn.spec();
        if train.is_empty() {
            return Err(TrainError::EmptyTrainingSet);
        }
        train.check_for(spec)?;
        test.check_for(spec)?;
        let net = FastCnn::from_cnn(cnn);
        let threads = rayon::current_num_threads().max(1);
        let workspaces = (0..threads).map(|_| Workspace::new(&net)).collect();
        let velocity = if hyper.momentum > 0.0 { Velocity::new(&net) } else { Velocity::default() };
        let mut trainer = Self {
            spec,
            hyper,
            seed,
            order: (0..train.len()).collect(),
            train,
            test,
            previous: net.clone(),
            net,
            workspaces,
            velocity,
            cursor: 0,
            epoch: 0,
            step: 0,
            status: Status::Running,
            cancel: Arc::new(AtomicBool::new(false)),
        };
        trainer.shuffle();
        Ok(trainer)
    }

    /// Shuffles the sample order for the current epoch, reproducibly from the seed.
    fn shuffle(&mut self) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        // Stream 0 initialised the weights; each epoch has its own stream.
        rng.set_stream(self.epoch as u64 + 1);
        self.order.sort_unstable();
        self.order.shuffle(&mut rng);
    }

    /// Runs up to `n_batches` batches; stops early when cancelled or diverged.
    pub fn step(&mut self, n_batches: usize) -> StepReport {
        let (mut loss_sum, mut correct, mut samples, mut batches) = (0.0f64, 0usize, 0usize, 0usize);
        for _ in 0..n_batches {
            if self.cancel.load(Ordering::Relaxed) {
                self.status = Status::Cancelled;
            }
            if self.status != Status::Running {
                break;
            }
            let end = (self.cursor + self.hyper.batch_size).min(self.order.len());
            let batch = &self.order[self.cursor..end];
            kernels::accumulate_batch(&self.net, &mut self.workspaces, &self.train.pixels, &self.train.labels, batch);
            let (batch_loss, batch_correct, batch_samples) = self.take_totals();
            self.step += 1;
            if !batch_loss.is_finite() {
                self.diverge(batch_loss, batch_samples);
                break;
            }
            self.previous.clone_from(&self.net);
            let step = SgdStep {
                learning_rate: self.hyper.learning_rate,
                momentum: self.hyper.momentum,
                weight_decay: self.hyper.weight_decay,
                batch_len: batch_samples,
            };
            kernels::sgd_update(&mut self.net, &mut self.workspaces, &mut self.velocity, step);
            if !self.net.is_finite() {
                self.net.clone_from(&self.previous);
                self.diverge(f64::INFINITY, batch_samples);
                break;
            }
            (loss_sum, correct, samples, batches) =
                (loss_sum + batch_loss, correct + batch_correct, samples + batch_samples, batches + 1);
            self.cursor = end;
            if self.cursor >= self.order.len() {
                self.cursor = 0;
                self.epoch += 1;
                self.shuffle();
            }
        }
        let per_sample = |v: f64| if samples == 0 { 0.0 } else { (v / samples as f64) as f32 };
        StepReport {
            loss: per_sample(loss_sum),
            accuracy: per_sample(correct as f64),
            batches,
            samples,
            epoch: self.epoch,
            step: self.step,
            status: self.status,
        }
    }

    fn take_totals(&mut self) -> (f64, usize, usize) {
        self.workspaces
            .iter_mut()
            .map(Workspace::take_totals)
            .fold((0.0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }

    fn diverge(&mut self, loss_sum: f64, samples: usize) {
        self.workspaces.iter_mut().for_each(Workspace::clear_gradients);
        let loss = if loss_sum.is_finite() { (loss_sum / samples.max(1) as f64) as f32 } else { loss_sum as f32 };
        self.status = Status::Diverged { at_step: self.step, loss };
    }

    /// Batches per epoch (the last one may be smaller).
    pub fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.hyper.batch_size)
    }

    /// Accuracy and mean loss of the current weights on `set` (fast path, in parallel).
    pub fn evaluate(&mut self, set: &LabelledSet) -> Result<Evaluation, TrainError> {
        set.check_for(self.spec)?;
        let indices: Vec<usize> = (0..set.len()).collect();
        kernels::evaluate_batch(&self.net, &mut self.workspaces, &set.pixels, &set.labels, &indices);
        let (loss, correct, samples) = self.take_totals();
        let mean = |v: f64| if samples == 0 { 0.0 } else { (v / samples as f64) as f32 };
        Ok(Evaluation { accuracy: mean(correct as f64), loss: mean(loss), samples })
    }

    /// [`Trainer::evaluate`] on the test set given at construction.
    pub fn evaluate_test(&mut self) -> Evaluation {
        let test = std::mem::take(&mut self.test);
        let result = self.evaluate(&test);
        self.test = test;
        // The test set was checked against the architecture in the constructor.
        result.unwrap_or(Evaluation { accuracy: 0.0, loss: 0.0, samples: 0 })
    }

    /// A copy of the current weights (always finite, see the module invariants).
    pub fn snapshot(&self) -> Cnn {
        self.net.to_cnn_trusted()
    }

    /// Back to the seeded initial weights, epoch 0, status running.
    pub fn reset(&mut self) {
        if let Ok(cnn) = Cnn::new(self.spec, self.seed) {
            self.net = FastCnn::with_backend(&cnn, self.net.backend());
        }
        self.velocity = if self.hyper.momentum > 0.0 { Velocity::new(&self.net) } else { Velocity::default() };
        self.workspaces.iter_mut().for_each(|ws| {
            ws.clear_gradients();
            ws.take_totals();
        });
        (self.cursor, self.epoch, self.step, self.status) = (0, 0, 0, Status::Running);
        self.cancel.store(false, Ordering::Relaxed);
        self.shuffle();
    }

    /// The flag that stops [`Trainer::step`] between batches; share it with the UI thread.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Clears a cancellation so stepping continues (a divergence stays until [`Trainer::reset`]).
    pub fn resume(&mut self) {
        self.cancel.store(false, Ordering::Relaxed);
        if self.status == Status::Cancelled {
            self.status = Status::Running;
        }
    }

    /// Where the run stands (see [`Trainer::set_position`]).
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch, step: self.step, cursor: self.cursor }
    }

    /// Continues a saved run: the next batch is the one after `position` in that epoch's order.
    pub fn set_position(&mut self, position: Position) -> Result<(), TrainError> {
        if position.cursor >= self.order.len() {
            return Err(TrainError::Position { cursor: position.cursor, samples: self.order.len() });
        }
        (self.epoch, self.step, self.cursor) = (position.epoch, position.step, position.cursor);
        self.shuffle();
        Ok(())
    }

    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Completed batches.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The hyper-parameters.
    pub fn hyper(&self) -> Hyper {
        self.hyper
    }

    /// The architecture.
    pub fn spec(&self) -> CnnSpec {
        self.spec
    }

    /// Number of worker threads (one workspace each).
    pub fn threads(&self) -> usize {
        self.workspaces.len()
    }

    /// The test samples.
    pub fn test_set(&self) -> &LabelledSet {
        &self.test
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// A separable toy problem: a bright 2×2 square (class 0) or a dark one (class 1) on noise.
    fn squares(count: usize, seed: u64) -> (Vec<Array2<f32>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut images = Vec::new();
        let mut labels = Vec::new();
        for i in 0..count {
            let label = i % 2;
            let mut image = Array2::from_shape_simple_fn((6, 6), || rng.random_range(0.0..1.0f32));
            let (r, c) = (rng.random_range(0..5), rng.random_range(0..5));
            image.slice_mut(ndarray::s![r..r + 2, c..c + 2]).fill(if label == 0 { 1.0 } else { 0.0 });
            images.push(image);
            labels.push(label);
        }
        (images, labels)
    }

    fn set(count: usize, seed: u64) -> LabelledSet {
        let (images, labels) = squares(count, seed);
        LabelledSet::new(&images, &labels, 6, 6, 2).unwrap()
    }

    fn spec() -> CnnSpec {
        CnnSpec { height: 6, width: 6, kernel: 2, filters: 4, classes: 2 }
    }

    #[test]
    fn short_training_learns_the_squares() {
        let mut trainer = Trainer::new(spec(), Hyper::plain(0.1, 10), set(400, 1), set(400, 2), 3).unwrap();
        let before = trainer.evaluate_test();
        for _ in 0..60 {
            trainer.step(trainer.batches_per_epoch());
        }
        let after = trainer.evaluate_test();
        assert_eq!(trainer.epoch(), 60);
        assert_eq!(trainer.steps(), 60 * 40);
        assert!(after.accuracy >= 0.9, "accuracy {} (before {})", after.accuracy, before.accuracy);
        assert!(after.loss < before.loss);
        // The fast evaluation agrees with the readable forward pass of the snapshot.
        let snapshot = trainer.snapshot();
        let (images, labels) = squares(400, 2);
        let reference = snapshot.evaluate(&images, &labels).unwrap();
        assert!((reference.accuracy - after.accuracy).abs() < 1e-6);
        assert!((reference.loss - after.loss).abs() < 1e-4);
    }

    #[test]
    fn training_is_reproducible_and_reset_restarts() {
        let run = |seed| {
            let mut trainer = Trainer::new(spec(), Hyper::plain(0.05, 7), set(50, 1), set(10, 2), seed).unwrap();
            trainer.step(20);
            trainer
        };
        let mut a = run(5);
        assert_eq!(a.snapshot(), run(5).snapshot());
        assert_ne!(a.snapshot(), run(6).snapshot());
        assert_eq!(a.epoch(), 2, "8 batches per epoch (50 = 7·7 + 1)");
        a.reset();
        assert_eq!((a.epoch(), a.steps()), (0, 0));
        assert_eq!(a.snapshot(), Cnn::new(spec(), 5).unwrap());
    }

    #[test]
    fn a_saved_position_continues_batch_for_batch() {
        let hyper = Hyper::plain(0.05, 7);
        let mut original = Trainer::new(spec(), hyper, set(50, 1), set(10, 2), 5).unwrap();
        original.step(11);
        let (weights, position) = (original.snapshot(), original.position());
        assert_eq!(position, Position { epoch: 1, step: 11, cursor: 21 });
        let mut continued = Trainer::from_network(&weights, hyper, set(50, 1), set(10, 2), 5).unwrap();
        continued.set_position(position).unwrap();
        original.step(9);
        continued.step(9);
        assert_eq!(continued.snapshot(), original.snapshot());
        assert_eq!(continued.position(), original.position());
        let beyond = Position { cursor: 50, ..position };
        assert!(matches!(continued.set_position(beyond), Err(TrainError::Position { cursor: 50, samples: 50 })));
    }

    #[test]
    fn divergence_stops_with_finite_weights() {
        // Huge (finite) pixels and the largest learning rate overflow f32 within a few steps.
        let (images, labels) = squares(100, 1);
        let huge: Vec<Array2<f32>> = images.iter().map(|x| x * 1e12).collect();
        let train = LabelledSet::new(&huge, &labels, 6, 6, 2).unwrap();
        let mut trainer = Trainer::new(spec(), Hyper::plain(1e3, 5), train, set(10, 2), 1).unwrap();
        let report = trainer.step(200);
        assert!(matches!(report.status, Status::Diverged { .. }), "{report:?}");
        assert!(trainer.snapshot().is_finite());
        assert!(trainer.status().message().contains("diverged"));
        let again = trainer.step(5);
        assert_eq!(again.batches, 0, "no steps after divergence");
        trainer.reset();
        assert_eq!(trainer.status(), Status::Running);
    }

    #[test]
    fn cancel_flag_stops_between_batches() {
        let mut trainer = Trainer::new(spec(), Hyper::plain(0.05, 5), set(100, 1), set(10, 2), 1).unwrap();
        trainer.cancel_flag().store(true, Ordering::Relaxed);
        let report = trainer.step(10);
        assert_eq!((report.batches, report.status), (0, Status::Cancelled));
        trainer.resume();
        assert_eq!(trainer.step(3).batches, 3);
    }

    #[test]
    fn momentum_changes_the_path() {
        let plain = Hyper::plain(0.05, 10);
        let with_momentum = Hyper { momentum: 0.9, weight_decay: 1e-3, ..plain };
        let mut a = Trainer::new(spec(), plain, set(100, 1), set(10, 2), 1).unwrap();
        let mut b = Trainer::new(spec(), with_momentum, set(100, 1), set(10, 2), 1).unwrap();
        a.step(10);
        b.step(10);
        assert_ne!(a.snapshot(), b.snapshot());
        assert!(b.snapshot().is_finite());
    }

    #[test]
    fn bad_inputs_are_rejected_readably() {
        let cases = [
            (Hyper::plain(0.0, 10), "learning rate"),
            (Hyper::plain(f32::NAN, 10), "learning rate"),
            (Hyper::plain(2e3, 10), "learning rate"),
            (Hyper::plain(0.1, 0), "batch size"),
            (Hyper { momentum: 1.0, ..Hyper::plain(0.1, 1) }, "momentum"),
            (Hyper { weight_decay: -1.0, ..Hyper::plain(0.1, 1) }, "weight decay"),
        ];
        for (hyper, words) in cases {
            let error = Trainer::new(spec(), hyper, set(10, 1), set(10, 2), 0).err().unwrap();
            assert!(error.to_string().contains(words), "{error}");
        }
        assert_eq!(Hyper::plain(5.0, 1).warnings().len(), 1);
        let (images, labels) = squares(3, 1);
        assert!(matches!(LabelledSet::new(&images, &labels[..2], 6, 6, 2), Err(TrainError::CountMismatch { .. })));
        assert!(matches!(LabelledSet::new(&images, &labels, 5, 6, 2), Err(TrainError::ImageShape { .. })));
        assert!(matches!(LabelledSet::new(&images, &[0, 1, 2], 6, 6, 2), Err(TrainError::Label { .. })));
        let mut nan = images.clone();
        nan[1][[0, 0]] = f32::NAN;
        assert!(matches!(LabelledSet::new(&nan, &labels, 6, 6, 2), Err(TrainError::NonFinitePixel { index: 1 })));
        let empty = LabelledSet::default();
        assert!(matches!(
            Trainer::new(spec(), Hyper::plain(0.1, 1), empty, set(1, 1), 0),
            Err(TrainError::EmptyTrainingSet)
        ));
    }
}
