//! The linear classifier on scattering coefficients: multinomial logistic regression on the
//! standardised, flattened coefficients, trained by mini-batch SGD with momentum.
//!
//! `z = W·((s − μ)/σ) + b`, loss `−log softmax(z)_y`, `∂loss/∂z = softmax(z) − onehot(y)`.
//! A plain trainer of its own: the network engine in `core::nn` trains convolutions, this is a
//! single dense layer on fixed features.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use thiserror::Error;

/// Why the classifier could not be trained or applied.
#[derive(Debug, Error, PartialEq)]
pub enum ClassifierError {
    #[error("the classifier needs at least one training sample, one feature and two classes")]
    Empty,
    #[error("{features} feature rows but {labels} labels")]
    Mismatch { features: usize, labels: usize },
    #[error("label {label} is not below the number of classes ({classes})")]
    Label { label: usize, classes: usize },
    #[error("the classifier expects {expected} features, got {found}")]
    Width { expected: usize, found: usize },
    #[error("learning rate {0} must be positive and finite, and the batch size at least 1")]
    Settings(f32),
    #[error("training diverged (loss {0}) at epoch {1}; lower the learning rate")]
    Diverged(f32, usize),
}

/// Settings of the SGD run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TrainSettings {
    pub epochs: usize,
    pub learning_rate: f32,
    pub batch_size: usize,
    pub momentum: f32,
    /// L2 penalty on the weights (not the biases).
    pub weight_decay: f32,
    pub seed: u64,
}

impl TrainSettings {
    /// The settings `tilelab reproduce scattering` uses.
    pub fn standard(seed: u64) -> Self {
        Self { epochs: 30, learning_rate: 0.01, batch_size: 50, momentum: 0.9, weight_decay: 1e-3, seed }
    }
}

/// A trained classifier: the standardisation and the weights.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearClassifier {
    mean: Array1<f32>,
    inverse_std: Array1<f32>,
    /// `[C, D]`.
    weight: Array2<f32>,
    bias: Array1<f32>,
}

impl LinearClassifier {
    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.bias.len()
    }

    /// Number of features it takes.
    pub fn features(&self) -> usize {
        self.mean.len()
    }

    /// The class scores of one feature vector.
    pub fn logits(&self, features: ArrayView1<f32>) -> Result<Array1<f32>, ClassifierError> {
        if features.len() != self.features() {
            return Err(ClassifierError::Width { expected: self.features(), found: features.len() });
        }
        let standard = (&features - &self.mean) * &self.inverse_std;
        Ok(self.weight.dot(&standard) + &self.bias)
    }

    /// Fraction of rows of `features` (`[n, D]`) whose largest logit is their label.
    pub fn accuracy(&self, features: ArrayView2<f32>, labels: &[usize]) -> Result<f32, ClassifierError> {
        check_rows(features, labels)?;
        let mut correct = 0;
        for (row, &label) in features.outer_iter().zip(labels) {
            correct += usize::from(argmax(self.logits(row)?.view()) == label);
        }
        Ok(correct as f32 / labels.len() as f32)
    }
}

/// Trains on `features` (`[n, D]`) with labels below `classes`.
pub fn train(
    features: ArrayView2<f32>,
    labels: &[usize],
    classes: usize,
    settings: &TrainSettings,
) -> Result<LinearClassifier, ClassifierError> {
    train_observed(features, labels, classes, settings, |_, _| {})
}

/// [`train`], calling `after_epoch(epoch, mean loss)` after every epoch (progress in the app).
pub fn train_observed(
    features: ArrayView2<f32>,
    labels: &[usize],
    classes: usize,
    settings: &TrainSettings,
    mut after_epoch: impl FnMut(usize, f32),
) -> Result<LinearClassifier, ClassifierError> {
    check_rows(features, labels)?;
    if classes < 2 || features.ncols() == 0 {
        return Err(ClassifierError::Empty);
    }
    if let Some(&label) = labels.iter().find(|&&l| l >= classes) {
        return Err(ClassifierError::Label { label, classes });
    }
    if !(settings.learning_rate.is_finite() && settings.learning_rate > 0.0) || settings.batch_size == 0 {
        return Err(ClassifierError::Settings(settings.learning_rate));
    }
    let mean = features.mean_axis(Axis(0)).ok_or(ClassifierError::Empty)?;
    let std = features.std_axis(Axis(0), 0.0);
    // Constant features (a border always black) are left at zero instead of divided by zero.
    let inverse_std = std.mapv(|s| if s > 1e-6 { 1.0 / s } else { 0.0 });
    let standard = (&features - &mean) * &inverse_std;
    let dims = features.ncols();
    let mut weight = Array2::<f32>::zeros((classes, dims));
    let mut bias = Array1::<f32>::zeros(classes);
    let (mut weight_velocity, mut bias_velocity) = (weight.clone(), bias.clone());
    let mut order: Vec<usize> = (0..labels.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
    for epoch in 1..=settings.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks(settings.batch_size) {
            let x = standard.select(Axis(0), batch);
            let mut grad = x.dot(&weight.t()) + &bias;
            for (mut row, &index) in grad.outer_iter_mut().zip(batch) {
                loss_sum += softmax_in_place(row.view_mut(), labels[index]);
            }
            grad /= batch.len() as f32;
            let weight_grad = grad.t().dot(&x) + &weight * settings.weight_decay;
            weight_velocity = &weight_velocity * settings.momentum - weight_grad * settings.learning_rate;
            bias_velocity = &bias_velocity * settings.momentum - grad.sum_axis(Axis(0)) * settings.learning_rate;
            weight += &weight_velocity;
            bias += &bias_velocity;
        }
        let loss = loss_sum / labels.len() as f32;
        if !loss.is_finite() {
            return Err(ClassifierError::Diverged(loss, epoch));
        }
        after_epoch(epoch, loss);
    }
    Ok(LinearClassifier { mean, inverse_std, weight, bias })
}

/// Turns `row` (logits) into `softmax − onehot(label)` and returns the cross-entropy.
fn softmax_in_place(mut row: ndarray::ArrayViewMut1<f32>, label: usize) -> f32 {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    row.mapv_inplace(|z| (z - max).exp());
    let total = row.sum();
    row /= total;
    let loss = -row[label].max(f32::MIN_POSITIVE).ln();
    row[label] -= 1.0;
    loss
}

fn check_rows(features: ArrayView2<f32>, labels: &[usize]) -> Result<(), ClassifierError> {
    if features.nrows() != labels.len() {
        return Err(ClassifierError::Mismatch { features: features.nrows(), labels: labels.len() });
    }
    if labels.is_empty() {
        return Err(ClassifierError::Empty);
    }
    Ok(())
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: ArrayView1<f32>) -> usize {
    values.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// Flattens per-image coefficients `[K, H', W']` into the rows of a `[n, K·H'·W']` matrix
/// (all images have the shape of the first; the network makes them so).
pub fn feature_matrix(coefficients: &[ndarray::Array3<f32>]) -> Array2<f32> {
    let dims = coefficients.first().map_or(0, ndarray::Array3::len);
    let mut matrix = Array2::<f32>::zeros((coefficients.len(), dims));
    for (mut row, c) in matrix.outer_iter_mut().zip(coefficients) {
        for (target, &value) in row.iter_mut().zip(c.iter()) {
            *target = value;
        }
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_classes_are_learned() {
        // Three Gaussian clouds in 5 dimensions, class k shifted along feature k.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let labels: Vec<usize> = (0..300).map(|i| i % 3).collect();
        let features = Array2::from_shape_fn((300, 5), |(i, d)| {
            let noise: f32 = rand::Rng::random_range(&mut rng, -0.5..0.5);
            noise + if d == labels[i] { 2.0 } else { 0.0 }
        });
        let settings = TrainSettings { epochs: 20, ..TrainSettings::standard(1) };
        let classifier = train(features.view(), &labels, 3, &settings).unwrap();
        assert!(classifier.accuracy(features.view(), &labels).unwrap() > 0.95);
        assert_eq!(classifier.logits(features.row(0)).unwrap().len(), 3);
    }

    #[test]
    fn bad_input_is_refused() {
        let features = Array2::<f32>::zeros((4, 2));
        let settings = TrainSettings::standard(1);
        assert_eq!(
            train(features.view(), &[0, 1, 0], 2, &settings),
            Err(ClassifierError::Mismatch { features: 4, labels: 3 })
        );
        assert_eq!(
            train(features.view(), &[0, 1, 0, 5], 2, &settings),
            Err(ClassifierError::Label { label: 5, classes: 2 })
        );
        let nan = TrainSettings { learning_rate: f32::NAN, ..settings };
        assert!(matches!(train(features.view(), &[0, 1, 0, 1], 2, &nan), Err(ClassifierError::Settings(_))));
    }

    #[test]
    fn softmax_gradient_sums_to_zero() {
        let mut row = ndarray::arr1(&[1.0f32, 2.0, 3.0]);
        let loss = softmax_in_place(row.view_mut(), 2);
        assert!(row.sum().abs() < 1e-6);
        let expected = -(3f32.exp() / (1f32.exp() + 2f32.exp() + 3f32.exp())).ln();
        assert!((loss - expected).abs() < 1e-5);
    }
}
