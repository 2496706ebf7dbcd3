//! The dataset settings the user picks (persisted with the session) and what a dataset is
//! generated from; the state, the jobs and the training run all name them.

use std::path::PathBuf;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::core::dataset::{Background, DatasetSpec};
use crate::core::grey_image::load_grey_image;

/// The background of generated images, as the user picks it (a file path rather than pixels).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BackgroundChoice {
    /// I.i.d. uniform noise in [0, 1] (the paper's setting).
    Uniform,
    /// Smooth noise: uniform values on a coarse grid of `cell` pixels, interpolated.
    Smooth { cell: usize },
    /// One grey value everywhere.
    Constant { value: f32 },
    /// A linear ramp at an angle.
    Gradient { angle_degrees: f32 },
    /// A grey image from a file, fitted to the image size.
    ImageFile { path: PathBuf },
    /// A grey picture held in the settings (a scene's embedded background).
    Picture(Array2<f32>),
}

/// The dataset settings of the dataset view (persisted with the session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatasetSettings {
    /// Image height H.
    pub height: usize,
    /// Image width W.
    pub width: usize,
    /// Samples generated per class.
    pub samples_per_class: usize,
    /// Background kind.
    pub background: BackgroundChoice,
    /// Random pixel jitter of the pasted tile, as a fraction of ε (0 = exact paste).
    pub jitter: f32,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for DatasetSettings {
    fn default() -> Self {
        Self {
            height: 40,
            width: 40,
            samples_per_class: 20,
            background: BackgroundChoice::Uniform,
            jitter: 0.0,
            seed: 1,
        }
    }
}

impl DatasetSettings {
    /// A core spec as the app keeps it (the inverse of [`Self::to_spec`], the picture held in memory).
    pub fn of_spec(spec: &DatasetSpec) -> Self {
        let background = match &spec.background {
            Background::Uniform => BackgroundChoice::Uniform,
            Background::Smooth { cell } => BackgroundChoice::Smooth { cell: *cell },
            Background::Constant(value) => BackgroundChoice::Constant { value: *value },
            Background::Gradient { angle_degrees } => BackgroundChoice::Gradient { angle_degrees: *angle_degrees },
            Background::Image(picture) => BackgroundChoice::Picture(picture.clone()),
        };
        DatasetSettings {
            height: spec.height,
            width: spec.width,
            samples_per_class: spec.samples_per_class,
            background,
            jitter: spec.jitter,
            seed: spec.seed,
        }
    }

    /// The core spec (reads the background image file when one is chosen).
    pub fn to_spec(&self) -> Result<DatasetSpec, String> {
        let background = match &self.background {
            BackgroundChoice::Uniform => Background::Uniform,
            BackgroundChoice::Smooth { cell } => Background::Smooth { cell: *cell },
            BackgroundChoice::Constant { value } => Background::Constant(*value),
            BackgroundChoice::Gradient { angle_degrees } => Background::Gradient { angle_degrees: *angle_degrees },
            BackgroundChoice::ImageFile { path } => {
                Background::Image(load_grey_image(path).map_err(|e| e.to_string())?)
            }
            BackgroundChoice::Picture(picture) => Background::Image(picture.clone()),
        };
        Ok(DatasetSpec {
            height: self.height,
            width: self.width,
            samples_per_class: self.samples_per_class,
            background,
            jitter: self.jitter,
            seed: self.seed,
        })
    }
}

/// What a dataset is generated from: the tile-set version and the settings.
pub type DatasetRequest = (u64, DatasetSettings);
