//! A sparse network (N1, N2) as JSON: every layer with its kind, every channel's taps
//! `[in_channel, dy, dx, weight]` and bias, every dense neuron's `[input, weight]` pairs and bias,
//! and the units' meanings. Small even where the dense form would not fit in memory.

use serde_json::{Value, json};

use super::{ExportError, json_bytes};
use crate::core::nn::sparse::{LayerKind, SparseNetwork};

/// Format tag of the sparse network JSON.
pub const SPARSE_FORMAT: &str = "tilelab-sparse-network";

/// The network as a JSON value (`format`, `version`, `input: [H, W]`, `layers`).
pub fn to_value(network: &SparseNetwork) -> Value {
    let layers: Vec<Value> = network
        .layers()
        .iter()
        .map(|layer| json!({ "name": layer.name, "layer": layer_value(&layer.kind), "meanings": layer.meanings }))
        .collect();
    let (height, width) = network.input();
    json!({ "format": SPARSE_FORMAT, "version": 1, "input": [height, width], "layers": layers })
}

fn layer_value(kind: &LayerKind) -> Value {
    match kind {
        LayerKind::Pad { bottom, right } => json!({ "kind": "pad", "bottom": bottom, "right": right }),
        LayerKind::Conv(conv) => {
            let channels: Vec<Value> = conv
                .taps
                .iter()
                .zip(&conv.bias)
                .map(|(taps, bias)| {
                    let taps: Vec<Value> = taps.iter().map(|t| json!([t.channel, t.dy, t.dx, t.weight])).collect();
                    json!({ "bias": bias, "taps": taps })
                })
                .collect();
            json!({
                "kind": "conv", "kernel": [conv.kernel.0, conv.kernel.1], "dilation": conv.dilation,
                "relu": conv.relu, "channels": channels
            })
        }
        LayerKind::Dense(dense) => {
            let neurons: Vec<Value> = (0..dense.neurons())
                .map(|n| {
                    let weights: Vec<Value> = dense.weights_of(n).map(|(i, w)| json!([i, w])).collect();
                    json!({ "bias": dense.bias_of(n), "weights": weights })
                })
                .collect();
            json!({ "kind": "dense", "relu": dense.relu, "neurons": neurons })
        }
    }
}

/// The network as pretty-printed JSON bytes, the file `tilelab export --format sparse-json` writes.
pub fn to_bytes(network: &SparseNetwork) -> Result<Vec<u8>, ExportError> {
    json_bytes(&to_value(network))
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // the JSON holds every f32 exactly
mod tests {
    use super::*;
    use crate::core::construct::build_n2;
    use crate::core::nn::sparse::LayerKind;
    use crate::core::presets;

    #[test]
    fn every_tap_weight_and_bias_is_written() {
        let n2 = build_n2(&presets::toy_squares(), 8, 8).unwrap();
        let value: Value = serde_json::from_slice(&to_bytes(&n2.network).unwrap()).unwrap();
        assert_eq!(value["format"], SPARSE_FORMAT);
        assert_eq!(value["input"], json!([8, 8]));
        let layers = value["layers"].as_array().unwrap();
        assert_eq!(layers.len(), n2.network.layers().len());
        for (layer, written) in n2.network.layers().iter().zip(layers) {
            assert_eq!(written["name"], layer.name.as_str());
            match &layer.kind {
                LayerKind::Conv(conv) => {
                    let channels = written["layer"]["channels"].as_array().unwrap();
                    for ((taps, bias), channel) in conv.taps.iter().zip(&conv.bias).zip(channels) {
                        assert_eq!(channel["bias"].as_f64().unwrap() as f32, *bias);
                        let written: Vec<(usize, f32)> = channel["taps"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| (t[0].as_u64().unwrap() as usize, t[3].as_f64().unwrap() as f32))
                            .collect();
                        let expected: Vec<(usize, f32)> = taps.iter().map(|t| (t.channel, t.weight)).collect();
                        assert_eq!(written, expected);
                    }
                }
                LayerKind::Dense(dense) => {
                    let neurons = written["layer"]["neurons"].as_array().unwrap();
                    assert_eq!(neurons.len(), dense.neurons());
                    for (n, neuron) in neurons.iter().enumerate() {
                        assert_eq!(neuron["bias"].as_f64().unwrap() as f32, dense.bias_of(n));
                        assert_eq!(neuron["weights"].as_array().unwrap().len(), dense.weights_of(n).count());
                    }
                }
                LayerKind::Pad { bottom, .. } => assert_eq!(written["layer"]["bottom"], *bottom),
            }
        }
    }
}
