//! The scattering network's part of the cache: its pass over the input image (wavelets in space,
//! the maps `U1`/`U2`, the coefficients), its linear classifier trained on the current dataset
//! (with the per-class maxima of every coefficient, for the selectivity histogram), and the
//! small-deformation study of Figure 4. Each is a background job keyed by what it depends on.

use std::sync::Arc;

use ndarray::{Array2, Array3};

use crate::core::dataset::Dataset;
use crate::core::experiments::figure4_deformation::{self, DeformationStudy};
use crate::core::scattering::classifier::{self, LinearClassifier, TrainSettings};
use crate::core::scattering::maps::{self, Maps, SpatialWavelet};
use crate::core::scattering::{Path, Scattering, ScatteringSpec};
use crate::core::selectivity::ClassMaxima;
use crate::core::tile::{ClassSet, TileId};

use super::{Cache, StudyNetwork};
use crate::app::jobs::{Job, Keyed};

/// What a scattering pass is computed from: the settings, the image size and the image's content.
pub type ScatteringPassKey = (ScatteringSpec, (usize, usize), u64);

/// The scattering network's pass over one input.
pub struct ScatteringPass {
    pub wavelets: Vec<SpatialWavelet>,
    pub maps: Maps,
    /// `[K, H', W']` in Kymatio's channel order.
    pub coefficients: Array3<f32>,
    /// The meaning of each coefficient channel.
    pub paths: Vec<Path>,
}

/// What the linear classifier is trained from: the settings, the tile-set version and the dataset generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ScatteringModelKey {
    pub spec: ScatteringSpec,
    pub classes_version: u64,
    pub dataset: u64,
}

/// The linear classifier on the scattering coefficients of the dataset.
pub struct ScatteringModel {
    pub classifier: LinearClassifier,
    /// Per coefficient (unit) and class, its largest value over the dataset (selectivity).
    pub maxima: ClassMaxima,
    /// Fraction of the dataset's samples it classifies right.
    pub train_accuracy: f32,
    pub samples: usize,
}

/// What the deformation study is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct DeformationKey {
    pub classes_version: u64,
    pub size: (usize, usize),
    pub tiles: Vec<TileId>,
    pub samples: usize,
    pub seed: u64,
    /// Warp amplitude τ in pixels, as its bits (an `f32` key that compares exactly).
    pub tau_bits: u32,
    pub spec: ScatteringSpec,
    /// The classifier used, when one was trained for these settings.
    pub model: Option<ScatteringModelKey>,
    /// The CNN's weights version (`None`: untrained).
    pub weights: Option<u64>,
}

/// What a view asks of the cache for one input and the current dataset under some settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatteringRequest {
    pub spec: ScatteringSpec,
    /// `None` when there is no input or the settings do not fit the image.
    pub pass: Option<ScatteringPassKey>,
    /// `None` until a dataset of the current tile set exists, or when the settings do not fit.
    pub model: Option<ScatteringModelKey>,
    /// Why the settings do not fit the image (names the limit).
    pub invalid: Option<String>,
}

/// Epochs the app trains the classifier (the CLI's `reproduce scattering` uses the standard 30).
const APP_EPOCHS: usize = 30;

impl Cache {
    /// What `image` (of `size`) and the dataset of tile-set `classes_version` need under `spec`.
    pub fn scattering_request(
        &self,
        spec: ScatteringSpec,
        size: (usize, usize),
        classes_version: u64,
        image: Option<&Array2<f32>>,
    ) -> ScatteringRequest {
        let invalid = spec.check(size.0, size.1).err().map(|e| e.to_string());
        let valid = invalid.is_none();
        let current = self.dataset_for().is_some_and(|(version, _)| *version == classes_version);
        ScatteringRequest {
            spec,
            pass: image.filter(|i| valid && i.dim() == size).map(|i| (spec, size, super::image_key(i))),
            model: (valid && current).then_some(ScatteringModelKey { spec, classes_version, dataset: self.generation }),
            invalid,
        }
    }

    /// The linear classifier's logits for the request's input, once its pass and classifier are done.
    pub fn scattering_logits(&self, request: &ScatteringRequest) -> Option<Vec<f32>> {
        let pass = self.scattering_pass.get(&request.pass?)?;
        let model = self.scattering_model.get(&request.model?)?;
        let flat = ndarray::Array1::from_iter(pass.coefficients.iter().copied());
        model.classifier.logits(flat.view()).ok().map(|l| l.to_vec())
    }

    /// The scattering passes (the newest, the running one, the last failure).
    pub fn scattering_pass(&self) -> &Keyed<ScatteringPassKey, ScatteringPass> {
        &self.scattering_pass
    }

    /// Starts the scattering pass `key` of `image` unless it is done, failed or another pass runs.
    pub fn scatter(&mut self, ctx: Option<&egui::Context>, key: ScatteringPassKey, image: &Arc<Array2<f32>>) {
        self.scattering_pass.request(key, || {
            let image = Arc::clone(image);
            Job::spawn("scattering the input", ctx.cloned(), move |_| {
                let (spec, (height, width), _) = key;
                let network = Scattering::new(spec, height, width).map_err(|e| e.to_string())?;
                let coefficients = network.transform(image.view()).map_err(|e| e.to_string())?;
                let maps = maps::maps(spec, image.view()).map_err(|e| e.to_string())?;
                let wavelets = maps::spatial_wavelets(spec).map_err(|e| e.to_string())?;
                Ok(ScatteringPass { wavelets, maps, coefficients, paths: network.paths() })
            })
        });
    }

    /// The trained classifiers (the newest, the running one, the last failure).
    pub fn scattering_model(&self) -> &Keyed<ScatteringModelKey, ScatteringModel> {
        &self.scattering_model
    }

    /// Starts training the linear classifier `key` on the current dataset unless it is done, failed
    /// or another training runs; the dataset must be the generation `key` names.
    pub fn train_scattering(&mut self, ctx: Option<&egui::Context>, classes: usize, key: ScatteringModelKey) {
        self.scattering_model.poll();
        if !self.scattering_model.needs(&key) {
            return;
        }
        let Some(data) = self.dataset().filter(|_| self.generation == key.dataset).cloned() else {
            return self.scattering_model.fail(key, "the dataset changed: train again".to_owned());
        };
        let job = Job::spawn("training the scattering classifier", ctx.cloned(), move |shared| {
            fit(&data, classes, key.spec, |fraction| shared.set_progress(fraction))
        });
        self.scattering_model.start(key, job);
    }

    /// The deformation studies (the newest, the running one, the last failure).
    pub fn deformation(&self) -> &Keyed<DeformationKey, DeformationStudy> {
        &self.deformation
    }

    /// Starts the deformation study `key` comparing the CNN of `network` with N2 and scattering (with the classifier of
    /// `key.model` when it is the one trained) unless it is done, failed or another study runs.
    pub fn study_deformation(
        &mut self,
        ctx: Option<&egui::Context>,
        classes: &ClassSet,
        key: DeformationKey,
        network: Result<StudyNetwork, String>,
    ) {
        self.deformation.poll();
        if !self.deformation.needs(&key) {
            return;
        }
        let cnn = match network {
            Ok(StudyNetwork::Untrained(cnn) | StudyNetwork::Trained(cnn, _)) => cnn,
            Ok(StudyNetwork::Deep(..) | StudyNetwork::Shaped(..)) => {
                let why = "the deformation study compares the paper's CNN: train it (Paper preset) to see it here";
                return self.deformation.fail(key, why.to_owned());
            }
            Ok(StudyNetwork::Imported(_)) => {
                let why = "the deformation study compares tilelab's own CNN: close the opened network to see it";
                return self.deformation.fail(key, why.to_owned());
            }
            Err(error) => return self.deformation.fail(key, error),
        };
        let model = key.model.and_then(|k| self.scattering_model.get(&k));
        let (classes, request) = (classes.clone(), key.clone());
        let job = Job::spawn("deformation study", ctx.cloned(), move |_| {
            let (height, width) = request.size;
            let scattering = Scattering::new(request.spec, height, width).map_err(|e| e.to_string())?;
            let networks = figure4_deformation::Networks {
                cnn: &cnn,
                scattering: &scattering,
                scattering_classifier: model.as_ref().map(|m| &m.classifier),
            };
            let tau = f32::from_bits(request.tau_bits);
            figure4_deformation::deformation_study(
                &classes,
                &networks,
                &request.tiles,
                request.samples,
                tau,
                request.seed,
            )
            .map_err(|e| e.to_string())
        });
        self.deformation.start(key, job);
    }
}

/// Scatters every sample of `data`, trains the classifier on the coefficients and measures the
/// coefficients' per-class maxima; `progress` gets the fraction done.
fn fit(
    data: &Dataset,
    classes: usize,
    spec: ScatteringSpec,
    progress: impl Fn(f32),
) -> Result<ScatteringModel, String> {
    let first = data.samples.first().ok_or("the dataset is empty")?;
    let (height, width) = first.image.dim();
    let network = Scattering::new(spec, height, width).map_err(|e| e.to_string())?;
    let labels: Vec<usize> = data.samples.iter().map(|s| s.label).collect();
    let mut coefficients = Vec::with_capacity(data.samples.len());
    // Half the progress bar scatters the images, in chunks so the bar moves.
    for chunk in data.samples.chunks(64) {
        let images: Vec<Array2<f32>> = chunk.iter().map(|s| s.image.clone()).collect();
        coefficients.extend(network.transform_batch(&images).map_err(|e| e.to_string())?);
        progress(0.5 * coefficients.len() as f32 / labels.len() as f32);
    }
    let features = classifier::feature_matrix(&coefficients);
    let mut maxima = ClassMaxima::new(features.ncols(), classes);
    for (row, &label) in features.outer_iter().zip(&labels) {
        maxima.add(row.as_slice().unwrap_or(&[]), label);
    }
    let settings = TrainSettings { epochs: APP_EPOCHS, ..TrainSettings::standard(1) };
    let classifier = classifier::train_observed(features.view(), &labels, classes, &settings, |epoch, _| {
        progress(0.5 + 0.5 * epoch as f32 / APP_EPOCHS as f32);
    })
    .map_err(|e| e.to_string())?;
    let train_accuracy = classifier.accuracy(features.view(), &labels).map_err(|e| e.to_string())?;
    Ok(ScatteringModel { classifier, maxima, train_accuracy, samples: labels.len() })
}
