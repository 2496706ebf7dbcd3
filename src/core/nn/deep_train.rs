//! Mini-batch SGD (with momentum) for the general network [`DeepNet`] and anything else
//! [`Trainable`] (N2's shape, `nn::n2_shaped`): the same contract as
//! [`Trainer`](super::train::Trainer) (seeded shuffles, reports per call, cancel flag, a diverging
//! run stops with its last finite weights), on the network's own per-sample forward and backward.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::arch::Arch;
use super::cnn::Evaluation;
use super::deep::{self, DeepNet, Workspace};
use super::train::{Hyper, LabelledSet, Position, Status, StepReport, TrainError};

/// A network [`DeepTrainer`] can train: flat parameters and a per-sample forward and backward
/// pass that add into a per-thread workspace.
pub trait Trainable: Clone + Send + Sync + std::fmt::Debug {
    type Workspace: SampleWorkspace;
    /// The input image's `(height, width)` and the number of classes.
    fn input_and_classes(&self) -> (usize, usize, usize);
    /// Every parameter, in one flat vector.
    fn parameters(&self) -> &[f32];
    /// The same, to update.
    fn parameters_mut(&mut self) -> &mut [f32];
    /// Fresh buffers for one thread.
    fn workspace(&self) -> Self::Workspace;
    /// Forward and loss of one sample, counted in the workspace's totals.
    fn evaluate_sample(&self, ws: &mut Self::Workspace, image: &[f32], label: usize);
    /// Forward, loss and backward of one sample, adding its gradient to the workspace's sums.
    fn train_sample(&self, ws: &mut Self::Workspace, image: &[f32], label: usize);
}

/// One thread's gradient sums and loss totals.
pub trait SampleWorkspace: Send + std::fmt::Debug {
    /// Gradient sums, in the layout of [`Trainable::parameters`].
    fn gradients(&self) -> &[f32];
    /// The same, to reduce and clear.
    fn gradients_mut(&mut self) -> &mut [f32];
    /// `(loss sum, correct, samples)` since the last call, and resets them.
    fn take_totals(&mut self) -> (f64, usize, usize);
}

impl Trainable for DeepNet {
    type Workspace = Workspace;

    fn input_and_classes(&self) -> (usize, usize, usize) {
        let arch = self.arch();
        (arch.height, arch.width, arch.classes)
    }

    fn parameters(&self) -> &[f32] {
        DeepNet::parameters(self)
    }

    fn parameters_mut(&mut self) -> &mut [f32] {
        DeepNet::parameters_mut(self)
    }

    fn workspace(&self) -> Workspace {
        Workspace::new(self)
    }

    fn evaluate_sample(&self, ws: &mut Workspace, image: &[f32], label: usize) {
        deep::evaluate_sample(self, ws, image, label);
    }

    fn train_sample(&self, ws: &mut Workspace, image: &[f32], label: usize) {
        deep::train_sample(self, ws, image, label);
    }
}

impl SampleWorkspace for Workspace {
    fn gradients(&self) -> &[f32] {
        &self.grads
    }

    fn gradients_mut(&mut self) -> &mut [f32] {
        &mut self.grads
    }

    fn take_totals(&mut self) -> (f64, usize, usize) {
        Workspace::take_totals(self)
    }
}

/// The SGD stepper of a [`DeepNet`] (or of another [`Trainable`] network).
#[derive(Debug)]
pub struct DeepTrainer<N: Trainable = DeepNet> {
    hyper: Hyper,
    seed: u64,
    train: LabelledSet,
    test: LabelledSet,
    order: Vec<usize>,
    net: N,
    /// The weights before the last update, restored if it diverges.
    previous: N,
    workspaces: Vec<N::Workspace>,
    /// Momentum buffer (empty without momentum).
    velocity: Vec<f32>,
    cursor: usize,
    epoch: usize,
    step: u64,
    status: Status,
    cancel: Arc<AtomicBool>,
}

impl DeepTrainer<DeepNet> {
    /// A trainer of a freshly initialised `arch` (seeded), validating everything before allocating.
    pub fn new(arch: Arch, hyper: Hyper, train: LabelledSet, test: LabelledSet, seed: u64) -> Result<Self, TrainError> {
        hyper.validate()?;
        arch.validate()?;
        let net = DeepNet::new(arch, seed)?;
        Self::from_network(net, hyper, train, test, seed)
    }

    /// Back to the seeded initial weights, epoch 0, status running.
    pub fn reset(&mut self) {
        let net = DeepNet::new(self.net.arch().clone(), self.seed).unwrap_or_else(|_| self.net.clone());
        self.reset_to(net);
    }
}

impl<N: Trainable> DeepTrainer<N> {
    /// A trainer continuing from `net`'s weights.
    pub fn from_network(
        net: N,
        hyper: Hyper,
        train: LabelledSet,
        test: LabelledSet,
        seed: u64,
    ) -> Result<Self, TrainError> {
        hyper.validate()?;
        if train.is_empty() {
            return Err(TrainError::EmptyTrainingSet);
        }
        let (height, width, classes) = net.input_and_classes();
        train.check_size(height, width, classes)?;
        test.check_size(height, width, classes)?;
        let threads = rayon::current_num_threads().max(1);
        let workspaces = (0..threads).map(|_| net.workspace()).collect();
        let velocity = if hyper.momentum > 0.0 { vec![0.0; net.parameters().len()] } else { Vec::new() };
        let mut trainer = Self {
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

    /// Starts over from `net` (the run's initial weights): epoch 0, no momentum, status running.
    /// A network of another size than the trainer's data is ignored (the weights stay).
    pub fn reset_to(&mut self, net: N) {
        if net.input_and_classes() == self.net.input_and_classes()
            && net.parameters().len() == self.net.parameters().len()
        {
            self.previous.clone_from(&net);
            self.net = net;
        }
        self.velocity.fill(0.0);
        self.workspaces.iter_mut().for_each(|ws| {
            ws.gradients_mut().fill(0.0);
            ws.take_totals();
        });
        (self.cursor, self.epoch, self.step, self.status) = (0, 0, 0, Status::Running);
        self.cancel.store(false, Ordering::Relaxed);
        self.shuffle();
    }

    /// Continues a saved run at `position` (the weights are the ones it was built from; the
    /// momentum starts at zero, as it was not saved).
    pub fn set_position(&mut self, position: Position) -> Result<(), TrainError> {
        if position.cursor >= self.order.len() {
            return Err(TrainError::Position { cursor: position.cursor, samples: self.order.len() });
        }
        (self.epoch, self.step, self.cursor) = (position.epoch, position.step, position.cursor);
        self.shuffle();
        Ok(())
    }

    /// Shuffles the sample order for the current epoch, reproducibly from the seed.
    fn shuffle(&mut self) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
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
            for_each_sample(&self.net, &mut self.workspaces, &self.train, batch, N::train_sample);
            let (batch_loss, batch_correct, batch_samples) = self.take_totals();
            self.step += 1;
            if !batch_loss.is_finite() {
                self.diverge(batch_loss, batch_samples);
                break;
            }
            self.previous.clone_from(&self.net);
            self.update(batch_samples);
            if !self.net.parameters().iter().all(|v| v.is_finite()) {
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

    /// One SGD step with the mean gradient of the workspaces (PyTorch's `torch.optim.SGD` rule:
    /// `d = ḡ + λw`, with momentum `v = μv + d`, `d = v`; `w −= lr·d`), then clears them.
    fn update(&mut self, batch_len: usize) {
        let Some((first, rest)) = self.workspaces.split_first_mut() else { return };
        for other in rest.iter_mut() {
            for (g, o) in first.gradients_mut().iter_mut().zip(other.gradients()) {
                *g += o;
            }
            other.gradients_mut().fill(0.0);
        }
        let scale = 1.0 / batch_len.max(1) as f32;
        let Hyper { learning_rate: lr, momentum, weight_decay: decay, .. } = self.hyper;
        let params = self.net.parameters_mut();
        if self.velocity.is_empty() {
            for (w, g) in params.iter_mut().zip(first.gradients()) {
                *w -= lr * (g * scale + decay * *w);
            }
        } else {
            for ((w, g), v) in params.iter_mut().zip(first.gradients()).zip(&mut self.velocity) {
                *v = momentum * *v + g * scale + decay * *w;
                *w -= lr * *v;
            }
        }
        first.gradients_mut().fill(0.0);
    }

    fn take_totals(&mut self) -> (f64, usize, usize) {
        self.workspaces
            .iter_mut()
            .map(SampleWorkspace::take_totals)
            .fold((0.0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2))
    }

    fn diverge(&mut self, loss_sum: f64, samples: usize) {
        self.workspaces.iter_mut().for_each(|ws| ws.gradients_mut().fill(0.0));
        let loss = if loss_sum.is_finite() { (loss_sum / samples.max(1) as f64) as f32 } else { loss_sum as f32 };
        self.status = Status::Diverged { at_step: self.step, loss };
    }

    /// Number of training samples.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Batches per epoch (the last one may be smaller).
    pub fn batches_per_epoch(&self) -> usize {
        self.train.len().div_ceil(self.hyper.batch_size)
    }

    /// Accuracy and mean loss of the current weights on `set`, in parallel.
    pub fn evaluate(&mut self, set: &LabelledSet) -> Result<Evaluation, TrainError> {
        let (height, width, classes) = self.net.input_and_classes();
        set.check_size(height, width, classes)?;
        let indices: Vec<usize> = (0..set.len()).collect();
        for_each_sample(&self.net, &mut self.workspaces, set, &indices, N::evaluate_sample);
        let (loss, correct, samples) = self.take_totals();
        let mean = |v: f64| if samples == 0 { 0.0 } else { (v / samples as f64) as f32 };
        Ok(Evaluation { accuracy: mean(correct as f64), loss: mean(loss), samples })
    }

    /// [`DeepTrainer::evaluate`] on the test set given at construction.
    pub fn evaluate_test(&mut self) -> Evaluation {
        let test = std::mem::take(&mut self.test);
        let result = self.evaluate(&test);
        self.test = test;
        result.unwrap_or(Evaluation { accuracy: 0.0, loss: 0.0, samples: 0 })
    }

    /// A copy of the current weights (always finite).
    pub fn snapshot(&self) -> N {
        self.net.clone()
    }

    /// The flag that stops [`DeepTrainer::step`] between batches.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.cancel)
    }

    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Number of worker threads (one workspace each).
    pub fn threads(&self) -> usize {
        self.workspaces.len()
    }

    /// Completed batches.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Where the run stands in its schedule.
    pub fn position(&self) -> Position {
        Position { epoch: self.epoch, step: self.step, cursor: self.cursor }
    }

    /// The test set given at construction.
    pub fn test_set(&self) -> &LabelledSet {
        &self.test
    }
}

/// Splits `indices` into one contiguous part per workspace and runs `per_sample` on each sample.
fn for_each_sample<N: Trainable>(
    net: &N,
    workspaces: &mut [N::Workspace],
    set: &LabelledSet,
    indices: &[usize],
    per_sample: fn(&N, &mut N::Workspace, &[f32], usize),
) {
    let (height, width, _) = net.input_and_classes();
    let pixels = height * width;
    let (images, labels) = (set.pixels(), set.labels());
    let part = indices.len().div_ceil(workspaces.len().max(1)).max(1);
    workspaces.par_iter_mut().zip(indices.par_chunks(part)).for_each(|(ws, chunk)| {
        for &i in chunk {
            per_sample(net, ws, &images[i * pixels..(i + 1) * pixels], labels[i]);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::arch::ConvBlock;
    use crate::core::nn::cnn::CnnSpec;
    use crate::core::nn::train::Trainer;
    use ndarray::Array2;
    use rand::Rng;

    /// A bright 2×2 square (class 0) or a dark one (class 1) on noise, `side×side`.
    fn squares(count: usize, side: usize, seed: u64) -> LabelledSet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for i in 0..count {
            let label = i % 2;
            let mut image = Array2::from_shape_simple_fn((side, side), || rng.random_range(0.0..1.0f32));
            let (r, c) = (rng.random_range(0..side - 1), rng.random_range(0..side - 1));
            image.slice_mut(ndarray::s![r..r + 2, c..c + 2]).fill(if label == 0 { 1.0 } else { 0.0 });
            images.push(image);
            labels.push(label);
        }
        LabelledSet::new(&images, &labels, side, side, 2).unwrap()
    }

    /// A bright horizontal bar (class 0) or vertical bar (class 1) of 4 pixels on dim noise.
    fn bars(count: usize, side: usize, seed: u64) -> LabelledSet {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for i in 0..count {
            let label = i % 2;
            let mut image = Array2::from_shape_simple_fn((side, side), || rng.random_range(0.0..0.5f32));
            let (r, c) = (rng.random_range(0..side - 3), rng.random_range(0..side - 3));
            let bar = if label == 0 { ndarray::s![r..r + 1, c..c + 4] } else { ndarray::s![r..r + 4, c..c + 1] };
            image.slice_mut(bar).fill(1.0);
            images.push(image);
            labels.push(label);
        }
        LabelledSet::new(&images, &labels, side, side, 2).unwrap()
    }

    fn small_deep() -> Arch {
        Arch {
            height: 12,
            width: 12,
            classes: 2,
            blocks: vec![ConvBlock::plain(3, 6).pooled(), ConvBlock { dilation: 2, ..ConvBlock::plain(2, 8) }],
            hidden: Some(8),
        }
    }

    #[test]
    fn a_deep_network_learns_the_squares() {
        let hyper = Hyper { momentum: 0.9, ..Hyper::plain(0.02, 10) };
        let mut trainer = DeepTrainer::new(small_deep(), hyper, bars(400, 12, 1), bars(200, 12, 2), 3).unwrap();
        let before = trainer.evaluate_test();
        for _ in 0..25 {
            trainer.step(trainer.batches_per_epoch());
        }
        let after = trainer.evaluate_test();
        assert_eq!(trainer.epoch(), 25);
        assert!(after.accuracy >= 0.9, "accuracy {} (before {})", after.accuracy, before.accuracy);
        assert!(after.loss < before.loss);
    }

    #[test]
    fn the_paper_network_trains_as_the_fused_path_does() {
        // Same seed, data and schedule: the general path follows the fused one update for update.
        let spec = CnnSpec { height: 8, width: 8, kernel: 3, filters: 3, classes: 2 };
        let arch = Arch { blocks: vec![ConvBlock::plain(3, 3)], ..Arch::paper(8, 8, 2) };
        let hyper = Hyper { momentum: 0.5, ..Hyper::plain(0.05, 7) };
        let mut fused = Trainer::new(spec, hyper, squares(50, 8, 1), squares(10, 8, 2), 4).unwrap();
        let mut general = DeepTrainer::new(arch, hyper, squares(50, 8, 1), squares(10, 8, 2), 4).unwrap();
        assert_eq!(general.snapshot(), DeepNet::from_cnn(&fused.snapshot()));
        let (a, b) = (fused.step(20), general.step(20));
        assert!((a.loss - b.loss).abs() < 1e-4, "{} vs {}", a.loss, b.loss);
        let expected = DeepNet::from_cnn(&fused.snapshot());
        for (x, y) in general.snapshot().parameters().iter().zip(expected.parameters()) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
    }

    #[test]
    fn divergence_stops_with_the_last_finite_weights() {
        let train = squares(60, 12, 1);
        let huge: Vec<Array2<f32>> = (0..train.len()).map(|i| train.image(i).mapv(|v| v * 1e12)).collect();
        let train = LabelledSet::new(&huge, train.labels(), 12, 12, 2).unwrap();
        let mut trainer = DeepTrainer::new(small_deep(), Hyper::plain(1e3, 5), train, squares(4, 12, 2), 1).unwrap();
        let report = trainer.step(100);
        assert!(matches!(report.status, Status::Diverged { .. }), "{report:?}");
        assert!(trainer.snapshot().is_finite());
        assert_eq!(trainer.step(3).batches, 0, "no steps after divergence");
    }

    #[test]
    fn reset_returns_to_the_seeded_start() {
        let hyper = Hyper { batch_size: 10, ..Hyper::deep() };
        let mut trainer = DeepTrainer::new(small_deep(), hyper, squares(40, 12, 1), squares(10, 12, 2), 5).unwrap();
        let start = trainer.snapshot();
        let first = trainer.step(3);
        assert_eq!((trainer.steps(), trainer.position().cursor), (3, 30));
        assert_ne!(trainer.snapshot(), start);
        trainer.reset();
        assert_eq!(trainer.snapshot(), start);
        assert_eq!(trainer.position(), Position::default());
        assert_eq!(trainer.step(3).loss.to_bits(), first.loss.to_bits(), "the same batches and weights after a reset");
        assert_eq!(trainer.test_set().len(), 10);
    }

    #[test]
    fn a_run_continued_at_its_position_equals_one_run_straight_through() {
        // Without momentum the weights and the position are the whole state of a run.
        let hyper = Hyper { batch_size: 10, momentum: 0.0, ..Hyper::deep() };
        let trainer = || DeepTrainer::new(small_deep(), hyper, squares(40, 12, 1), squares(10, 12, 2), 5).unwrap();
        let mut straight = trainer();
        straight.step(7);
        let mut first = trainer();
        first.step(5);
        let mut continued =
            DeepTrainer::from_network(first.snapshot(), hyper, squares(40, 12, 1), squares(10, 12, 2), 5).unwrap();
        continued.set_position(first.position()).unwrap();
        continued.step(2);
        assert_eq!(continued.position(), straight.position());
        assert_eq!(continued.snapshot(), straight.snapshot());
        let beyond = Position { cursor: 40, ..Position::default() };
        assert!(matches!(continued.set_position(beyond), Err(TrainError::Position { cursor: 40, samples: 40 })));
    }

    #[test]
    fn bad_settings_are_refused_before_training() {
        let set = || squares(10, 12, 1);
        let bad_arch = Arch { blocks: vec![ConvBlock::plain(3, 0)], ..small_deep() };
        let error = DeepTrainer::new(bad_arch, Hyper::deep(), set(), set(), 0).unwrap_err();
        assert!(error.to_string().contains("conv block 1: 0 filters"), "{error}");
        for (hyper, words) in [
            (Hyper { momentum: 1.0, ..Hyper::deep() }, "momentum"),
            (Hyper { learning_rate: f32::NAN, ..Hyper::deep() }, "learning rate"),
            (Hyper { weight_decay: -0.1, ..Hyper::deep() }, "weight decay"),
        ] {
            let error = DeepTrainer::new(small_deep(), hyper, set(), set(), 0).unwrap_err();
            assert!(error.to_string().contains(words), "{error}");
        }
        let wrong_size = squares(10, 10, 1);
        assert!(matches!(
            DeepTrainer::new(small_deep(), Hyper::deep(), wrong_size, set(), 0),
            Err(TrainError::ImageShape { .. })
        ));
    }
}
