//! The scattering network with a linear classifier on the paper's settings (toy, Fashion and
//! MNIST tiles) and on the bundled MNIST digits alone, beside the trained CNN, with the time each
//! takes. Mallat's claim: scattering + a linear classifier is a strong MNIST classifier.

use std::time::Instant;

use ndarray::{Array2, Array3};
use rayon::prelude::*;
use serde::Serialize;

use super::fashion::{self, FashionConfig, TileSource};
use super::toy::{self, ToyConfig};
use super::{ExperimentError, train_epochs};
use crate::core::idx::{BundledSet, bundled};
use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::train::{Hyper, LabelledSet};
use crate::core::scattering::classifier::{self, LinearClassifier, TrainSettings, feature_matrix};
use crate::core::scattering::{Scattering, ScatteringSpec};

/// Bundled MNIST digits per class used for training (the rest of the 200 are the test set).
pub const DIGITS_TRAIN_PER_CLASS: usize = 150;
/// Bundled MNIST digits per class.
pub const DIGITS_PER_CLASS: usize = 200;

/// Which data the comparison runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Setting {
    /// Section 6.1's 4×4 squares (J = 1: the image is too small for more).
    Toy,
    /// Section 6.2 with Fashion-MNIST tiles on 40×40 noise.
    Fashion,
    /// Section 6.2 with MNIST tiles on 40×40 noise.
    MnistTiles,
    /// The bundled 28×28 MNIST digits themselves, 150 per class to train and 50 to test.
    Digits,
}

impl Setting {
    pub const ALL: [Setting; 4] = [Setting::Toy, Setting::Fashion, Setting::MnistTiles, Setting::Digits];

    pub fn name(self) -> &'static str {
        match self {
            Setting::Toy => "toy",
            Setting::Fashion => "fashion",
            Setting::MnistTiles => "mnist_tiles",
            Setting::Digits => "mnist_digits",
        }
    }

    /// The scattering network used for this setting.
    pub fn spec(self) -> ScatteringSpec {
        match self {
            Setting::Toy => ScatteringSpec { j: 1, l: 8, max_order: 1 },
            Setting::Fashion | Setting::MnistTiles | Setting::Digits => ScatteringSpec { j: 3, l: 8, max_order: 2 },
        }
    }
}

/// One row of `tilelab reproduce scattering`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScatteringComparison {
    pub setting: &'static str,
    pub spec: ScatteringSpec,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Coefficients per image (`K·H'·W'`).
    pub features: usize,
    pub scattering_test_accuracy: f32,
    /// Wall time of the transform of the training and test images.
    pub scattering_transform_seconds: f64,
    /// Wall time of fitting the linear classifier.
    pub scattering_fit_seconds: f64,
    pub cnn_test_accuracy: f32,
    /// Wall time of the CNN's SGD loop.
    pub cnn_train_seconds: f64,
}

/// The coefficients of every image of `set` as the rows of a matrix (in parallel).
pub fn coefficients(net: &Scattering, set: &LabelledSet) -> Result<Array2<f32>, ExperimentError> {
    let maps: Vec<Array3<f32>> = (0..set.len())
        .into_par_iter()
        .map(|i| net.transform(set.image(i)))
        .collect::<Result<_, _>>()
        .map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    Ok(feature_matrix(&maps))
}

/// Scattering + linear classifier trained on `train`, tested on `test`.
pub fn fit_and_test(
    spec: ScatteringSpec,
    train: &LabelledSet,
    test: &LabelledSet,
    classes: usize,
    settings: &TrainSettings,
) -> Result<(LinearClassifier, f32, f64, f64, usize), ExperimentError> {
    let invalid = |e: &dyn std::fmt::Display| ExperimentError::Invalid(e.to_string());
    let image = train.image(0);
    let net = Scattering::new(spec, image.nrows(), image.ncols()).map_err(|e| invalid(&e))?;
    let start = Instant::now();
    let train_features = coefficients(&net, train)?;
    let test_features = coefficients(&net, test)?;
    let transform_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let model = classifier::train(train_features.view(), train.labels(), classes, settings).map_err(|e| invalid(&e))?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let accuracy = model.accuracy(test_features.view(), test.labels()).map_err(|e| invalid(&e))?;
    Ok((model, accuracy, transform_seconds, fit_seconds, train_features.ncols()))
}

/// The training and test sets of a setting, and the trained CNN's accuracy and training time.
fn data_and_cnn(setting: Setting, seed: u64) -> Result<(LabelledSet, LabelledSet, usize, f32, f64), ExperimentError> {
    match setting {
        Setting::Toy => {
            let config = ToyConfig::paper(seed, 4);
            let train = toy::toy_set(config.train_samples, seed)?;
            let test = toy::toy_set(config.test_samples, seed.wrapping_add(toy::TEST_SEED_OFFSET))?;
            let run = toy::run(&config, &mut |_| {})?;
            Ok((train, test, 2, run.test_accuracy, run.train_seconds))
        }
        Setting::Fashion | Setting::MnistTiles => {
            let source = if setting == Setting::Fashion { TileSource::FashionMnist } else { TileSource::Mnist };
            let config = FashionConfig::paper(source, seed, 1);
            let (train, test) = fashion::datasets(&config)?;
            let run = fashion::run(&config, &mut |_| {})?;
            Ok((train, test, 10, run.test.accuracy, run.train_seconds))
        }
        Setting::Digits => {
            let (train, test) = digits()?;
            let spec = CnnSpec { height: 28, width: 28, kernel: 5, filters: 12, classes: 10 };
            let run = train_epochs(spec, Hyper::plain(0.03, 25), train.clone(), test.clone(), seed, 30, &mut |_| {})?;
            Ok((train, test, 10, run.test.accuracy, run.train_seconds))
        }
    }
}

/// The bundled MNIST digits: the first 150 of each class to train, the other 50 to test.
pub fn digits() -> Result<(LabelledSet, LabelledSet), ExperimentError> {
    let data = bundled(BundledSet::Mnist).map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    let mut split = [(Vec::new(), Vec::new()), (Vec::new(), Vec::new())];
    for class in 0..10u8 {
        for n in 0..DIGITS_PER_CLASS {
            let Some(image) = data.class_image(class, n) else { break };
            let part = &mut split[usize::from(n >= DIGITS_TRAIN_PER_CLASS)];
            part.0.push(image);
            part.1.push(usize::from(class));
        }
    }
    let [(train_images, train_labels), (test_images, test_labels)] = split;
    Ok((
        LabelledSet::new(&train_images, &train_labels, 28, 28, 10)?,
        LabelledSet::new(&test_images, &test_labels, 28, 28, 10)?,
    ))
}

/// Runs one setting end to end.
pub fn compare(setting: Setting, seed: u64) -> Result<ScatteringComparison, ExperimentError> {
    let (train, test, classes, cnn_test_accuracy, cnn_train_seconds) = data_and_cnn(setting, seed)?;
    let spec = setting.spec();
    let (_, accuracy, transform_seconds, fit_seconds, features) =
        fit_and_test(spec, &train, &test, classes, &TrainSettings::standard(seed))?;
    Ok(ScatteringComparison {
        setting: setting.name(),
        spec,
        train_samples: train.len(),
        test_samples: test.len(),
        features,
        scattering_test_accuracy: accuracy,
        scattering_transform_seconds: transform_seconds,
        scattering_fit_seconds: fit_seconds,
        cnn_test_accuracy,
        cnn_train_seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_split_is_150_and_50_per_class() {
        let (train, test) = digits().unwrap();
        assert_eq!((train.len(), test.len()), (1500, 500));
        assert_eq!(test.labels().iter().filter(|&&l| l == 3).count(), 50);
    }

    #[test]
    fn scattering_and_a_linear_classifier_read_digits() {
        let (train, test) = digits().unwrap();
        let settings = TrainSettings { epochs: 10, ..TrainSettings::standard(1) };
        let spec = ScatteringSpec { j: 2, l: 8, max_order: 1 };
        let (_, accuracy, _, _, features) = fit_and_test(spec, &train, &test, 10, &settings).unwrap();
        assert_eq!(features, 17 * 7 * 7);
        assert!(accuracy > 0.8, "accuracy {accuracy}");
    }
}
