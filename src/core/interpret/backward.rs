//! The gradient of one unit's value with respect to the input image: a forward pass that keeps
//! every layer up to the unit, then the chain rule back through the layers.
//!
//! The sparse stacks of N1 and N2 get their own backward in [`super::receptive`] (padding, sparse
//! convolutions and sparse dense layers, each followed or not by a `ReLU`, on the unit's
//! receptive field only); the trained CNN's dense layers reuse
//! [`dense::Network::backward`]. The value differentiated is the unit's *pre-activation*: where
//! a `ReLU` unit is positive it has the same gradient as the activation, and where it is zero it
//! still has one, so an ascent does not stall (issue 20).

use ndarray::{Array1, Array2, ArrayView2};
use rayon::prelude::*;

use super::receptive::ReceptivePlan;
use super::{InterpretError, Model, Unit, as_map};
use crate::core::interop::onnx_import::{Node, OnnxModel};
use crate::core::nn::dense::{self, Layer};
use crate::core::nn::sparse::MAX_KEPT_ACTIVATIONS;

/// The gradient of one unit, ready to be evaluated on many images (an ascent, integrated gradients).
#[derive(Debug, Clone)]
pub struct UnitGradient<'a> {
    kind: Kind<'a>,
    unit: Unit,
    input: (usize, usize),
}

#[derive(Debug, Clone)]
enum Kind<'a> {
    /// The unit's receptive field in N1's or N2's stack.
    Sparse(ReceptivePlan),
    /// The trained layers up to the unit's, then a flatten (so the unit is an entry of a vector).
    Dense(dense::Network),
    /// An imported model and the name of the value the unit is an entry of.
    Onnx { model: &'a OnnxModel, value: String },
}

impl<'a> UnitGradient<'a> {
    /// Checks that the unit exists; for an ONNX model (where layer `l` is node `l`'s output), that
    /// every operator between the image and the unit has a backward pass, else names them.
    pub fn new(model: Model<'a>, unit: Unit) -> Result<Self, InterpretError> {
        let layers = layer_count(&model);
        if unit.layer >= layers {
            return Err(InterpretError::NoLayer { layer: unit.layer, layers });
        }
        let units = layer_len(&model, unit.layer)?;
        if unit.index >= units {
            return Err(InterpretError::NoUnit { layer: unit.layer, unit: unit.index, units });
        }
        let kind = match model {
            Model::Sparse(net) => {
                let plan = ReceptivePlan::new(net, unit);
                let needed = plan.kept_values();
                if needed > MAX_KEPT_ACTIVATIONS {
                    return Err(InterpretError::TooManyValues {
                        layer: unit.layer,
                        needed,
                        limit: MAX_KEPT_ACTIVATIONS,
                    });
                }
                Kind::Sparse(plan)
            }
            Model::Dense { network, .. } => {
                let mut layers = network.layers[..=unit.layer].to_vec();
                layers.push(Layer::Flatten);
                Kind::Dense(dense::Network { layers })
            }
            Model::Onnx(onnx) => {
                let value = onnx.nodes()[unit.layer].output.clone();
                let missing = onnx.nodes_without_backward(&value);
                if !missing.is_empty() {
                    return Err(no_backward(&missing));
                }
                Kind::Onnx { model: onnx, value }
            }
        };
        Ok(Self { kind, unit, input: model.input() })
    }

    /// The unit.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The input size `(H, W)`.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// The unit's pre-activation on `image` and its gradient `∂value/∂image` (`H×W`).
    pub fn at(&self, image: ArrayView2<f32>) -> Result<(f32, Array2<f32>), InterpretError> {
        let (rows, cols) = image.dim();
        if (rows, cols) != self.input {
            let (expected_rows, expected_cols) = self.input;
            return Err(InterpretError::InputSize { expected_rows, expected_cols, rows, cols });
        }
        match &self.kind {
            Kind::Sparse(plan) => Ok(plan.gradient(image)),
            Kind::Dense(network) => dense_gradient(network, image, self.unit.index),
            Kind::Onnx { model, value } => {
                model.gradient(image, value, self.unit.index).map_err(|e| InterpretError::Onnx(e.to_string()))
            }
        }
    }

    /// [`Self::at`] on each of `images`, in parallel (the points of integrated gradients).
    pub fn at_each(&self, images: &[Array2<f32>]) -> Result<Vec<(f32, Array2<f32>)>, InterpretError> {
        images.par_iter().map(|image| self.at(image.view())).collect()
    }
}

/// The number of layers a unit can be taken from.
pub(super) fn layer_count(model: &Model) -> usize {
    match model {
        Model::Sparse(net) => net.layers().len(),
        Model::Dense { network, .. } => network.layers.len(),
        Model::Onnx(onnx) => onnx.nodes().len(),
    }
}

/// The layer whose output holds the class scores: the last, or for ONNX the output's node.
pub(super) fn logit_layer(model: &Model) -> Result<usize, InterpretError> {
    let layers = layer_count(model);
    let last = match model {
        Model::Onnx(onnx) => onnx.nodes().iter().rposition(|n| n.outputs.iter().any(|o| o == onnx.output_name())),
        _ => layers.checked_sub(1),
    };
    last.ok_or(InterpretError::NoLayer { layer: 0, layers })
}

/// The number of values in layer `layer`'s output (which must exist).
pub(super) fn layer_len(model: &Model, layer: usize) -> Result<usize, InterpretError> {
    match model {
        Model::Sparse(net) => Ok(net.shapes().get(layer).map_or(0, |s| s.len())),
        Model::Dense { network, .. } => {
            let outputs = network.forward_all(as_map(super::zeros(model).view()).view())?;
            Ok(outputs.get(layer).map_or(0, ndarray::ArrayBase::len))
        }
        Model::Onnx(onnx) => {
            let blank = super::zeros(model);
            let trace = onnx.run(blank.view()).map_err(|e| InterpretError::Onnx(e.to_string()))?;
            let name = onnx.nodes().get(layer).map(|n| n.output.as_str()).unwrap_or_default();
            Ok(trace.get(name).map_or(0, ndarray::ArrayBase::len))
        }
    }
}

/// The error naming the operators of `nodes`, which have no backward pass in tilelab.
pub(super) fn no_backward(nodes: &[&Node]) -> InterpretError {
    let mut operators: Vec<&str> = nodes.iter().map(|n| n.op_type.as_str()).collect();
    operators.sort_unstable();
    operators.dedup();
    InterpretError::NoBackward { operators: operators.join(", ") }
}

fn dense_gradient(
    network: &dense::Network,
    image: ArrayView2<f32>,
    index: usize,
) -> Result<(f32, Array2<f32>), InterpretError> {
    let input = as_map(image);
    let outputs = network.forward_all(input.view())?;
    let last = outputs.last().map(|o| o.iter().copied().collect::<Vec<f32>>()).unwrap_or_default();
    let value = last.get(index).copied().unwrap_or(0.0);
    let mut seed = Array1::zeros(last.len());
    seed[index] = 1.0;
    let backward = network.backward(input.view(), &outputs, seed.view())?;
    Ok((value, backward.input.index_axis_move(ndarray::Axis(0), 0)))
}
