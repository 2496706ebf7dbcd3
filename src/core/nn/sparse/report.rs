//! The per-layer report and the conversion of each sparse layer to the dense engine's layers.

use ndarray::Array1;

use super::{LayerKind, LayerReport, Shape, SparseLayer};
use crate::core::nn::dense;

pub(super) fn layer_report(layer: &SparseLayer, input: Shape, output: Shape) -> LayerReport {
    let name = layer.name.clone();
    match &layer.kind {
        LayerKind::Pad { .. } => {
            let units = if let Shape::Map { channels, .. } = output { channels } else { 0 };
            LayerReport {
                name,
                kind: "pad",
                units,
                kernel: None,
                dilation: None,
                output,
                params_nonzero: 0,
                params_dense: 0,
            }
        }
        LayerKind::Conv(conv) => {
            let channels_in = if let Shape::Map { channels, .. } = input { channels } else { 0 };
            let weights = conv.taps.iter().flatten().filter(|t| t.weight != 0.0).count();
            let biases = conv.bias.iter().filter(|&&b| b != 0.0).count();
            let dense = conv.channels() * (channels_in * conv.kernel.0 * conv.kernel.1 + 1);
            LayerReport {
                name,
                kind: "conv",
                units: conv.channels(),
                kernel: Some(conv.kernel),
                dilation: Some(conv.dilation),
                output,
                params_nonzero: weights + biases,
                params_dense: dense,
            }
        }
        LayerKind::Dense(layer) => {
            let weights = layer.weights.iter().filter(|&&w| w != 0.0).count();
            let biases = layer.bias.iter().filter(|&&b| b != 0.0).count();
            LayerReport {
                name,
                kind: "dense",
                units: layer.neurons(),
                kernel: None,
                dilation: None,
                output,
                params_nonzero: weights + biases,
                params_dense: layer.neurons() * (input.len() + 1),
            }
        }
    }
}

/// Appends the dense-engine layers equal to one sparse layer reading `input`.
pub(super) fn push_dense_layers(layers: &mut Vec<dense::Layer>, kind: &LayerKind, input: Shape) {
    match kind {
        LayerKind::Pad { bottom, right } => layers.push(dense::Layer::Pad { bottom: *bottom, right: *right }),
        LayerKind::Conv(conv) => {
            let channels_in = if let Shape::Map { channels, .. } = input { channels } else { 0 };
            let mut weight = ndarray::Array4::zeros((conv.channels(), channels_in, conv.kernel.0, conv.kernel.1));
            for (out, taps) in conv.taps.iter().enumerate() {
                for tap in taps {
                    weight[[out, tap.channel, tap.dy, tap.dx]] += tap.weight;
                }
            }
            let bias = Array1::from(conv.bias.clone());
            layers.push(dense::Layer::Conv2d(dense::Conv2d { weight, bias, dilation: conv.dilation }));
            if conv.relu {
                layers.push(dense::Layer::Relu);
            }
        }
        LayerKind::Dense(layer) => {
            if matches!(input, Shape::Map { .. }) {
                layers.push(dense::Layer::Flatten);
            }
            let mut weight = ndarray::Array2::zeros((layer.neurons(), input.len()));
            for n in 0..layer.neurons() {
                for (index, w) in layer.weights_of(n) {
                    weight[[n, index]] += w;
                }
            }
            let bias = Array1::from(layer.bias.clone());
            layers.push(dense::Layer::Linear(dense::Linear { weight, bias }));
            if layer.relu {
                layers.push(dense::Layer::Relu);
            }
        }
    }
}
