//! Top examples of a unit: the dataset images (and, for a channel of feature maps, the window)
//! that drive it hardest.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::{InterpretError, Model, as_map};
use crate::core::nn::sparse::Shape;

/// One image's strongest response of a unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example {
    /// The image's index in the list searched.
    pub sample: usize,
    /// For a channel of feature maps, the position `[row, col]` of its largest value.
    pub window: Option<(usize, usize)>,
    /// The unit's activation there.
    pub activation: f32,
}

/// The `count` images of `images` on which channel (or neuron) `channel` of layer `layer` is
/// largest, strongest first.
pub fn top_examples(
    model: &Model,
    images: &[Array2<f32>],
    layer: usize,
    channel: usize,
    count: usize,
) -> Result<Vec<Example>, InterpretError> {
    let layers = super::backward::layer_count(model);
    if layer >= layers {
        return Err(InterpretError::NoLayer { layer, layers });
    }
    let mut examples = images
        .par_iter()
        .enumerate()
        .map(|(sample, image)| {
            let (values, shape) = layer_output(model, image.view(), layer)?;
            strongest(&values, shape, layer, channel).map(|(window, activation)| Example { sample, window, activation })
        })
        .collect::<Result<Vec<_>, InterpretError>>()?;
    examples.sort_by(|a, b| b.activation.total_cmp(&a.activation));
    examples.truncate(count);
    Ok(examples)
}

/// Layer `layer`'s output on `image` (after its `ReLU`) and its shape.
fn layer_output(model: &Model, image: ArrayView2<f32>, layer: usize) -> Result<(Vec<f32>, Shape), InterpretError> {
    model.check_input(image)?;
    match model {
        Model::Sparse(net) => {
            let output = net.output_of(image, layer)?;
            Ok((output.as_slice().to_vec(), net.shapes()[layer]))
        }
        Model::Dense { network, .. } => {
            let outputs = network.forward_all(as_map(image).view())?;
            let output = &outputs[layer];
            let shape = match *output.shape() {
                [channels, rows, cols] => Shape::Map { channels, rows, cols },
                _ => Shape::Vector(output.len()),
            };
            Ok((output.iter().copied().collect(), shape))
        }
        Model::Onnx(onnx) => {
            let trace = onnx.run(image).map_err(|e| InterpretError::Onnx(e.to_string()))?;
            let name = onnx.nodes().get(layer).map(|n| n.output.as_str()).unwrap_or_default();
            let output = trace.get(name).ok_or(InterpretError::NoUnit { layer, unit: 0, units: 0 })?;
            let shape = match *output.shape() {
                [1, channels, rows, cols] => Shape::Map { channels, rows, cols },
                _ => Shape::Vector(output.len()),
            };
            Ok((output.iter().copied().collect(), shape))
        }
    }
}

/// The largest value of `channel` and where it is.
fn strongest(
    values: &[f32],
    shape: Shape,
    layer: usize,
    channel: usize,
) -> Result<(Option<(usize, usize)>, f32), InterpretError> {
    match shape {
        Shape::Map { channels, rows, cols } => {
            if channel >= channels {
                return Err(InterpretError::NoUnit { layer, unit: channel, units: channels });
            }
            let plane = &values[channel * rows * cols..(channel + 1) * rows * cols];
            let (at, &best) = plane
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .ok_or(InterpretError::NoUnit { layer, unit: channel, units: channels })?;
            Ok((Some((at / cols, at % cols)), best))
        }
        Shape::Vector(units) => {
            let value = *values.get(channel).ok_or(InterpretError::NoUnit { layer, unit: channel, units })?;
            Ok((None, value))
        }
    }
}
