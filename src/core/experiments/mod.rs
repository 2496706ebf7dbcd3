//! The paper's experiments, headless: shared by the CLI (`tilelab reproduce`) and the app.
//!
//! `toy` is Section 6.1, `fashion` Section 6.2 (Fashion-MNIST and MNIST tiles), `figure4` the
//! invariance study of Figure 4, `figure4_analysis` its reading (where N1 breaks, ε sweeps),
//! `figure4_deformation` its small-deformation perturbation, and `scattering` the wavelet network
//! with a linear classifier beside the trained CNN. Each returns plain data; writing and printing are the caller's.

pub mod depth;
pub mod fashion;
pub mod figure4;
pub mod figure4_analysis;
pub mod figure4_deformation;
pub mod scattering;
pub mod toy;

use crate::core::clock::Instant;

use serde::Serialize;
use thiserror::Error;

use super::construct::ConstructError;
use super::dataset::DatasetError;
use super::nn::arch::Arch;
use super::nn::cnn::{Cnn, CnnSpec, Evaluation};
use super::nn::deep::DeepNet;
use super::nn::deep_train::{DeepTrainer, Trainable};
use super::nn::dense::NnError;
use super::nn::n2_shaped::ShapedError;
use super::nn::sparse::SparseError;
use super::nn::train::{Hyper, LabelledSet, Status, TrainError, Trainer};

/// Why an experiment could not run.
#[derive(Debug, Error)]
pub enum ExperimentError {
    #[error("dataset: {0}")]
    Dataset(#[from] DatasetError),
    #[error("training: {0}")]
    Train(#[from] TrainError),
    #[error("network: {0}")]
    Network(#[from] NnError),
    #[error("constructed network: {0}")]
    Construct(#[from] ConstructError),
    #[error("constructed network: {0}")]
    Sparse(#[from] SparseError),
    #[error("n2-shaped network: {0}")]
    Shaped(#[from] ShapedError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Diverged(String),
    #[error("the experiment was cancelled")]
    Cancelled,
}

/// Training loss and accuracy over one epoch (measured on each batch before its update).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    pub loss: f32,
    pub accuracy: f32,
}

/// The outcome of [`train_epochs`].
#[derive(Debug, Clone)]
pub struct TrainingRun {
    pub trained: Cnn,
    pub epochs: Vec<EpochRecord>,
    /// Wall time of the SGD loop alone (no data generation, no evaluation).
    pub train_seconds: f64,
    /// Training samples processed per second of `train_seconds`.
    pub samples_per_second: f64,
    pub threads: usize,
    /// Accuracy and loss on the test set after the last epoch.
    pub test: Evaluation,
}

/// Trains a freshly initialised network for `epochs` epochs, calling `on_epoch` after each.
pub fn train_epochs(
    spec: CnnSpec,
    hyper: Hyper,
    train: LabelledSet,
    test: LabelledSet,
    seed: u64,
    epochs: usize,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<TrainingRun, ExperimentError> {
    let train_samples = train.len();
    let mut trainer = Trainer::new(spec, hyper, train, test, seed)?;
    let mut records = Vec::with_capacity(epochs);
    let mut train_seconds = 0.0;
    for epoch in 1..=epochs {
        let start = Instant::now();
        let report = trainer.step(trainer.batches_per_epoch());
        train_seconds += start.elapsed().as_secs_f64();
        match report.status {
            Status::Running => {}
            Status::Cancelled => return Err(ExperimentError::Cancelled),
            status @ Status::Diverged { .. } => return Err(ExperimentError::Diverged(status.message())),
        }
        let record = EpochRecord { epoch, loss: report.loss, accuracy: report.accuracy };
        on_epoch(&record);
        records.push(record);
    }
    let samples = (epochs * train_samples) as f64;
    Ok(TrainingRun {
        trained: trainer.snapshot(),
        epochs: records,
        samples_per_second: if train_seconds > 0.0 { samples / train_seconds } else { 0.0 },
        train_seconds,
        threads: trainer.threads(),
        test: trainer.evaluate_test(),
    })
}

/// The outcome of [`train_deep_epochs`]: as [`TrainingRun`], for a network of any depth (or of
/// N2's shape, [`train_network_epochs`]).
#[derive(Debug, Clone)]
pub struct DeepRun<N = DeepNet> {
    pub trained: N,
    pub epochs: Vec<EpochRecord>,
    pub train_seconds: f64,
    pub samples_per_second: f64,
    pub threads: usize,
    pub test: Evaluation,
}

impl From<TrainingRun> for DeepRun {
    fn from(run: TrainingRun) -> Self {
        Self {
            trained: DeepNet::from_cnn(&run.trained),
            epochs: run.epochs,
            train_seconds: run.train_seconds,
            samples_per_second: run.samples_per_second,
            threads: run.threads,
            test: run.test,
        }
    }
}

/// Trains `start` (or, without it, a fresh network of `arch` seeded with `seed`) for `epochs`
/// epochs with the general engine, calling `on_epoch` after each.
pub fn train_deep_epochs(
    start: Option<DeepNet>,
    arch: Arch,
    hyper: Hyper,
    sets: (LabelledSet, LabelledSet),
    seed: u64,
    epochs: usize,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<DeepRun, ExperimentError> {
    let (train, test) = sets;
    let trainer = match start {
        Some(net) => DeepTrainer::from_network(net, hyper, train, test, seed)?,
        None => DeepTrainer::new(arch, hyper, train, test, seed)?,
    };
    train_network_epochs(trainer, epochs, on_epoch)
}

/// Runs `trainer` for `epochs` epochs, calling `on_epoch` after each; then tests it.
pub fn train_network_epochs<N: Trainable>(
    mut trainer: DeepTrainer<N>,
    epochs: usize,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<DeepRun<N>, ExperimentError> {
    let train_samples = trainer.train_len();
    let mut records = Vec::with_capacity(epochs);
    let mut train_seconds = 0.0;
    for epoch in 1..=epochs {
        let start = Instant::now();
        let report = trainer.step(trainer.batches_per_epoch());
        train_seconds += start.elapsed().as_secs_f64();
        match report.status {
            Status::Running => {}
            Status::Cancelled => return Err(ExperimentError::Cancelled),
            status @ Status::Diverged { .. } => return Err(ExperimentError::Diverged(status.message())),
        }
        let record = EpochRecord { epoch, loss: report.loss, accuracy: report.accuracy };
        on_epoch(&record);
        records.push(record);
    }
    let samples = (epochs * train_samples) as f64;
    Ok(DeepRun {
        trained: trainer.snapshot(),
        epochs: records,
        samples_per_second: if train_seconds > 0.0 { samples / train_seconds } else { 0.0 },
        train_seconds,
        threads: trainer.threads(),
        test: trainer.evaluate_test(),
    })
}
