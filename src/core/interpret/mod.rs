//! Interpretability methods checked against ground truth (issue 20): what a unit wants to see
//! ([`preferred`], [`top_examples`]), where a class decision comes from ([`attribution`]), and how
//! right both are on the constructed networks, whose units have a known meaning ([`scores`]).
//!
//! Every method runs on a [`Model`]: a constructed network's sparse stack (N1, N2), the trained
//! CNN's dense layers, or an imported ONNX model (its layers are its nodes' outputs). Gradients
//! come from [`backward`]; a [`Unit`] is one value of one layer's output, flattened in `(C, H, W)`
//! order. ONNX models whose operators lack a backward pass still have occlusion.

pub mod attribution;
pub mod backward;
pub mod preferred;
mod receptive;
pub mod scores;
pub mod study;
pub mod top_examples;

use ndarray::{Array2, ArrayView2};
use thiserror::Error;

use super::interop::onnx_import::OnnxModel;
use super::nn::dense::{self, NnError};
use super::nn::sparse::{SparseError, SparseNetwork};

pub use attribution::{Baseline, Method, attribute};
pub use backward::UnitGradient;
pub use preferred::{AscentOptions, Goal, Preferred, preferred};
pub use scores::{Recovery, block_recovery, mass_in_window, pointing_game, recovery};
pub use top_examples::{Example, top_examples};

/// Why an interpretability method cannot run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum InterpretError {
    #[error("layer {layer} does not exist: the network has {layers} layers (0 to {})", layers.saturating_sub(1))]
    NoLayer { layer: usize, layers: usize },
    #[error("unit {unit} of layer {layer} does not exist: the layer has {units} units")]
    NoUnit { layer: usize, unit: usize, units: usize },
    #[error("class {class} does not exist: the network has {classes} classes")]
    NoClass { class: usize, classes: usize },
    #[error("unknown method '{0}': use gradient, gradient-x-input, integrated-gradients or occlusion")]
    UnknownMethod(String),
    #[error("{what} must lie between {min} and {max}, got {got}")]
    OutOfRange { what: &'static str, got: f64, min: f64, max: f64 },
    #[error("{0} must be a finite number")]
    NotFinite(&'static str),
    #[error("the image is {rows}×{cols} but the network takes {expected_rows}×{expected_cols} images")]
    InputSize { expected_rows: usize, expected_cols: usize, rows: usize, cols: usize },
    #[error(
        "the ONNX operators {operators} have no backward pass in tilelab: use occlusion, which needs \
         only the forward pass"
    )]
    NoBackward { operators: String },
    #[error("keeping every layer up to {layer} needs {needed} values, more than the limit of {limit}")]
    TooManyValues { layer: usize, needed: usize, limit: usize },
    #[error(transparent)]
    Sparse(#[from] SparseError),
    #[error(transparent)]
    Nn(#[from] NnError),
    #[error("the ONNX model failed: {0}")]
    Onnx(String),
}

/// One value of one layer's output: `index` in the layer's `(C, H, W)`-flattened output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unit {
    pub layer: usize,
    pub index: usize,
}

/// A network the methods run on.
#[derive(Debug, Clone, Copy)]
pub enum Model<'a> {
    /// N1 or N2.
    Sparse(&'a SparseNetwork),
    /// A trained CNN as dense layers ([`crate::core::nn::cnn::Cnn::to_network`]) on `input` images.
    Dense { network: &'a dense::Network, input: (usize, usize) },
    /// An imported ONNX classifier; layer `l` is node `l`'s (first) output, batch axis included.
    Onnx(&'a OnnxModel),
}

impl Model<'_> {
    /// The input size `(H, W)`.
    pub fn input(&self) -> (usize, usize) {
        match self {
            Model::Sparse(net) => net.input(),
            Model::Dense { input, .. } => *input,
            Model::Onnx(model) => model.input_size(),
        }
    }

    /// The class scores of one image.
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, InterpretError> {
        self.check_input(image)?;
        match self {
            Model::Sparse(net) => Ok(net.logits(image)?),
            Model::Dense { network, .. } => Ok(network.forward(as_map(image).view())?.to_vec()),
            Model::Onnx(model) => model.logits(image).map_err(|e| InterpretError::Onnx(e.to_string())),
        }
    }

    /// The gradient of the logit of `class` (see [`UnitGradient`]).
    pub fn class_gradient(&self, class: usize) -> Result<UnitGradient<'_>, InterpretError> {
        let last = backward::logit_layer(self)?;
        let classes = backward::layer_len(self, last)?;
        if class >= classes {
            return Err(InterpretError::NoClass { class, classes });
        }
        UnitGradient::new(*self, Unit { layer: last, index: class })
    }

    fn check_input(&self, image: ArrayView2<f32>) -> Result<(), InterpretError> {
        let (rows, cols) = image.dim();
        let (expected_rows, expected_cols) = self.input();
        if (rows, cols) == (expected_rows, expected_cols) {
            Ok(())
        } else {
            Err(InterpretError::InputSize { expected_rows, expected_cols, rows, cols })
        }
    }
}

/// The image as a one-channel map `[1, H, W]`.
fn as_map(image: ArrayView2<f32>) -> ndarray::Array3<f32> {
    image.as_standard_layout().into_owned().insert_axis(ndarray::Axis(0))
}

/// Fails unless `value` is finite and in `[min, max]`.
fn check_range(what: &'static str, value: f64, min: f64, max: f64) -> Result<(), InterpretError> {
    if !value.is_finite() {
        return Err(InterpretError::NotFinite(what));
    }
    if !(min..=max).contains(&value) {
        return Err(InterpretError::OutOfRange { what, got: value, min, max });
    }
    Ok(())
}

/// Fails unless `count` is in `1..=max` (step counts, patch sizes).
fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), InterpretError> {
    #[allow(clippy::cast_precision_loss)] // counts are far below 2^52
    check_range(what, count as f64, 1.0, max as f64)
}

/// A zero image of the model's input size.
fn zeros(model: &Model) -> Array2<f32> {
    Array2::zeros(model.input())
}

#[cfg(test)]
mod tests;
