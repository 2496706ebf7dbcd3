//! N1, N2 and the trained CNN as [`ExportGraph`]s: standard ONNX operators only (`Pad`, `Conv` with
//! dilations and strides, `Relu`, `MaxPool`, `Flatten`, `Gemm`, `Mul`, `ReduceSum`), every hidden layer a named graph output.
//!
//! # Names
//! Graph outputs are `layer1`, `layer2`, … in network order, `detect` for the monosemantic
//! detector layer of N1/N2, and `logits`. A layer's weights are `<output>.weight` and
//! `<output>.bias` (the same names in the safetensors file). The min-tree of multi-feature objects
//! is already written with the rectifier identity `min(a, b) = σ(a) − σ(a − b)` in the sparse network,
//! so it exports as ordinary Gemm + Relu layers.
//!
//! # Metadata (`metadata_props`)
//! - `tilelab.network`: `n1`, `n2` or `trained`;
//! - `tilelab.classes`: JSON array of class names, in logit order;
//! - `tilelab.input`: how to feed the model (grey levels pixel/255, `[N, 1, H, W]`);
//! - `tilelab.outputs`: JSON array of the graph output names, in order;
//! - `tilelab.layer.<output>`: JSON object `{"title", "units": "channel" | "neuron", "meanings": [...]}`,
//!   one human-readable meaning per channel (maps) or neuron (vectors);
//! - `tilelab.detect.valid` (N1/N2): JSON array, per tile, `[rows, cols]` of its valid window
//!   offsets: N2's detection maps must be read only there (CONSTRUCTION.md §5.1).

use serde_json::json;

use super::InteropError;
use super::graph::{AttrValue, ExportGraph, GraphOutput, INPUT_NAME, LOGITS_NAME};
use super::tensor::TensorData;
use crate::core::construct::Constructed;
use crate::core::nn::cnn::Cnn;
use crate::core::nn::deep::DeepNet;
use crate::core::nn::sparse::{LayerKind, Shape, SparseConv, SparseDense, SparseLayer};
use crate::core::tile::ClassSet;

/// Most weight values (float32) an exported model may hold: 25 M, 100 MB. N1's hidden layer is a
/// fully connected layer over every conv output, so N1 passes this only for small images.
pub const MAX_EXPORT_PARAMETERS: usize = 25_000_000;

/// Which constructed network is exported (it decides names and messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstructedKind {
    N1,
    N2,
}

impl ConstructedKind {
    fn tag(self) -> &'static str {
        match self {
            ConstructedKind::N1 => "n1",
            ConstructedKind::N2 => "n2",
        }
    }
}

/// A constructed network (N1 or N2) as an ONNX graph; refuses when it needs more than
/// [`MAX_EXPORT_PARAMETERS`] weights (N1 on large images), suggesting N2.
pub fn export_constructed(
    kind: ConstructedKind,
    constructed: &Constructed,
    classes: &ClassSet,
) -> Result<ExportGraph, InteropError> {
    let network = &constructed.network;
    let mut graph = ExportGraph::new(&format!("tilelab-{}", kind.tag()), network.input());
    let last = network.layers().len().saturating_sub(1);
    let mut current = INPUT_NAME.to_owned();
    let mut input_shape = Shape::Map { channels: 1, rows: network.input().0, cols: network.input().1 };
    let mut hidden = 0;
    for (index, (layer, &shape)) in network.layers().iter().zip(network.shapes()).enumerate() {
        let name = if index == last {
            LOGITS_NAME.to_owned()
        } else if index == constructed.detectors.layer {
            "detect".to_owned()
        } else if matches!(layer.kind, LayerKind::Pad { .. }) {
            format!("pad{index}")
        } else {
            hidden += 1;
            format!("layer{hidden}")
        };
        current = export_layer(&mut graph, kind, layer, &current, input_shape, &name)?;
        if !matches!(layer.kind, LayerKind::Pad { .. }) || index == last {
            graph.outputs.push(GraphOutput { name: name.clone(), dims: shape_dims(shape) });
            push_layer_metadata(&mut graph, &name, layer, shape);
        }
        input_shape = shape;
    }
    let valid: Vec<[usize; 2]> = constructed.detectors.tiles.iter().map(|d| [d.valid.0, d.valid.1]).collect();
    graph.metadata.push(("tilelab.detect.valid".into(), json!(valid).to_string()));
    push_common_metadata(&mut graph, kind.tag(), classes.classes.iter().map(|o| o.name.as_str()));
    Ok(graph)
}

/// The trained CNN (conv → `Relu` → flatten → fully connected) as an ONNX graph with outputs
/// `layer1` (the rectified feature maps) and `logits`.
pub fn export_cnn(cnn: &Cnn, class_names: &[String]) -> Result<ExportGraph, InteropError> {
    let spec = cnn.spec();
    if class_names.len() != spec.classes {
        return Err(InteropError::Network(format!(
            "the weights have {} classes but the tile set has {}",
            spec.classes,
            class_names.len()
        )));
    }
    let mut graph = ExportGraph::new("tilelab-trained", (spec.height, spec.width));
    let k = spec.kernel;
    let conv_weight = graph.weight("layer1.weight", vec![spec.filters, 1, k, k], f32_data(cnn.conv().weight.iter()));
    let conv_bias = graph.weight("layer1.bias", vec![spec.filters], f32_data(cnn.conv().bias.iter()));
    let conv = graph.node("Conv", &[INPUT_NAME, &conv_weight, &conv_bias], "layer1.conv", conv_attributes((k, k), 1));
    let maps = graph.node("Relu", &[&conv], "layer1", vec![]);
    let flat = graph.node("Flatten", &[&maps], "layer1.flat", vec![("axis", AttrValue::Int(1))]);
    let fc_weight =
        graph.weight("logits.weight", vec![spec.classes, spec.features()], f32_data(cnn.fc().weight.iter()));
    let fc_bias = graph.weight("logits.bias", vec![spec.classes], f32_data(cnn.fc().bias.iter()));
    graph.node("Gemm", &[&flat, &fc_weight, &fc_bias], LOGITS_NAME, vec![("transB", AttrValue::Int(1))]);
    graph
        .outputs
        .push(GraphOutput { name: "layer1".into(), dims: vec![spec.filters, spec.map_height(), spec.map_width()] });
    graph.outputs.push(GraphOutput { name: LOGITS_NAME.into(), dims: vec![spec.classes] });
    let filters: Vec<String> = (0..spec.filters).map(|f| format!("learned filter {f} ({k}×{k}), after ReLU")).collect();
    let title = format!("conv {k}×{k}, {} filters, ReLU", spec.filters);
    let layer = json!({ "title": title, "units": "channel", "meanings": filters });
    graph.metadata.push(("tilelab.layer.layer1".into(), layer.to_string()));
    let logits: Vec<String> = class_names.iter().map(|c| format!("logit of class '{c}'")).collect();
    let layer = json!({ "title": "fully connected", "units": "neuron", "meanings": logits });
    graph.metadata.push(("tilelab.layer.logits".into(), layer.to_string()));
    push_common_metadata(&mut graph, "trained", class_names.iter().map(String::as_str));
    Ok(graph)
}

/// A trained network of any architecture as an ONNX graph: per conv block `Conv` (strides,
/// dilations) → `Relu` (graph output `layerN`) → optional `MaxPool` 2×2; the hidden fully connected
/// layer (output `layerN`) and `logits`.
pub fn export_deep(net: &DeepNet, class_names: &[String]) -> Result<ExportGraph, InteropError> {
    let arch = net.arch();
    if class_names.len() != arch.classes {
        return Err(InteropError::Network(format!(
            "the weights have {} classes but the tile set has {}",
            arch.classes,
            class_names.len()
        )));
    }
    let mut graph = ExportGraph::new("tilelab-trained", (arch.height, arch.width));
    let mut current = INPUT_NAME.to_owned();
    let mut number = 0;
    for (i, (block, shape)) in arch.blocks.iter().zip(net.shapes()).enumerate() {
        let Some((weight, bias)) = net.conv_weights(i) else { break };
        number += 1;
        let name = format!("layer{number}");
        let w = graph.weight(&format!("{name}.weight"), weight.shape().to_vec(), f32_data(weight.iter()));
        let b = graph.weight(&format!("{name}.bias"), vec![block.filters], f32_data(bias.iter()));
        let k = block.kernel as i64;
        let attributes = vec![
            ("kernel_shape", AttrValue::Ints(vec![k, k])),
            ("dilations", AttrValue::Ints(vec![block.dilation as i64; 2])),
            ("pads", AttrValue::Ints(vec![0; 4])),
            ("strides", AttrValue::Ints(vec![block.stride as i64; 2])),
            ("group", AttrValue::Int(1)),
        ];
        let conv = graph.node("Conv", &[&current, &w, &b], &format!("{name}.conv"), attributes);
        current = graph.node("Relu", &[&conv], &name, vec![]);
        graph.outputs.push(GraphOutput { name: name.clone(), dims: vec![block.filters, shape.conv.0, shape.conv.1] });
        let title = format!(
            "conv {k}×{k}, {} filters, stride {}, dilation {}, ReLU",
            block.filters, block.stride, block.dilation
        );
        let meanings: Vec<String> = (0..block.filters).map(|f| format!("learned filter {f}, after ReLU")).collect();
        let layer = json!({ "title": title, "units": "channel", "meanings": meanings });
        graph.metadata.push((format!("tilelab.layer.{name}"), layer.to_string()));
        if block.pool {
            let pool = vec![("kernel_shape", AttrValue::Ints(vec![2, 2])), ("strides", AttrValue::Ints(vec![2, 2]))];
            current = graph.node("MaxPool", &[&current], &format!("{name}.pool"), pool);
        }
    }
    current = graph.node("Flatten", &[&current], "features.flat", vec![("axis", AttrValue::Int(1))]);
    for j in 0..net.fc_count() {
        let Some((weight, bias)) = net.fc_weights(j) else { break };
        let last = j + 1 == net.fc_count();
        let name = if last {
            LOGITS_NAME.to_owned()
        } else {
            number += 1;
            format!("layer{number}")
        };
        let w = graph.weight(&format!("{name}.weight"), weight.shape().to_vec(), f32_data(weight.iter()));
        let b = graph.weight(&format!("{name}.bias"), vec![bias.len()], f32_data(bias.iter()));
        current = gemm_relu(&mut graph, !last, [&current, &w, &b], &name);
        graph.outputs.push(GraphOutput { name: name.clone(), dims: vec![bias.len()] });
        let meanings: Vec<String> = if last {
            class_names.iter().map(|c| format!("logit of class '{c}'")).collect()
        } else {
            (0..bias.len()).map(|n| format!("hidden unit {n}, after ReLU")).collect()
        };
        let layer = json!({ "title": "fully connected", "units": "neuron", "meanings": meanings });
        graph.metadata.push((format!("tilelab.layer.{name}"), layer.to_string()));
    }
    push_common_metadata(&mut graph, "trained", class_names.iter().map(String::as_str));
    Ok(graph)
}

/// Fails unless `extra` more weights fit in the export limit; called before allocating them.
fn reserve(graph: &ExportGraph, kind: ConstructedKind, extra: usize) -> Result<(), InteropError> {
    let needed = graph.parameter_count().saturating_add(extra);
    if needed <= MAX_EXPORT_PARAMETERS {
        return Ok(());
    }
    let hint = match kind {
        ConstructedKind::N1 => {
            "; N1's hidden layer is fully connected to every conv output: export N2 instead, \
             which computes the same logits with convolutions, or use a smaller image"
        }
        ConstructedKind::N2 => "; use a smaller image or fewer tiles",
    };
    Err(InteropError::TooLarge(format!(
        "{} in dense form needs at least {needed} weights, more than the export limit of {MAX_EXPORT_PARAMETERS}{hint}",
        kind.tag().to_uppercase()
    )))
}

/// Appends the nodes of one sparse layer reading `input` and returns the name of its output.
fn export_layer(
    graph: &mut ExportGraph,
    kind: ConstructedKind,
    layer: &SparseLayer,
    input: &str,
    input_shape: Shape,
    name: &str,
) -> Result<String, InteropError> {
    match &layer.kind {
        LayerKind::Pad { bottom, right } => {
            let pads = vec![0, 0, 0, 0, 0, 0, *bottom as i64, *right as i64];
            let pads = graph.weight(&format!("{name}.pads"), vec![8], TensorData::I64(pads));
            Ok(graph.node("Pad", &[input, &pads], name, vec![]))
        }
        LayerKind::Conv(conv) => {
            let Shape::Map { channels, .. } = input_shape else {
                return Err(InteropError::Network(format!("layer '{}': a convolution after a vector", layer.name)));
            };
            reserve(graph, kind, conv.channels().saturating_mul(channels * conv.kernel.0 * conv.kernel.1 + 1))?;
            Ok(export_conv(graph, conv, channels, input, name))
        }
        LayerKind::Dense(dense) => export_dense(graph, kind, dense, input, input_shape, name),
    }
}

fn conv_attributes(kernel: (usize, usize), dilation: usize) -> Vec<(&'static str, AttrValue)> {
    vec![
        ("kernel_shape", AttrValue::Ints(vec![kernel.0 as i64, kernel.1 as i64])),
        ("dilations", AttrValue::Ints(vec![dilation as i64; 2])),
        ("pads", AttrValue::Ints(vec![0; 4])),
        ("strides", AttrValue::Ints(vec![1; 2])),
        ("group", AttrValue::Int(1)),
    ]
}

/// A sparse convolution as a dense ONNX Conv `[O, C, kh, kw]` (+ Relu).
fn export_conv(graph: &mut ExportGraph, conv: &SparseConv, channels: usize, input: &str, name: &str) -> String {
    let (kh, kw) = conv.kernel;
    let mut weight = vec![0.0f32; conv.channels() * channels * kh * kw];
    for (out, taps) in conv.taps.iter().enumerate() {
        for tap in taps {
            weight[((out * channels + tap.channel) * kh + tap.dy) * kw + tap.dx] += tap.weight;
        }
    }
    let weight =
        graph.weight(&format!("{name}.weight"), vec![conv.channels(), channels, kh, kw], TensorData::F32(weight));
    let bias = graph.weight(&format!("{name}.bias"), vec![conv.channels()], TensorData::F32(conv.bias.clone()));
    let attributes = conv_attributes(conv.kernel, conv.dilation);
    if conv.relu {
        let pre = graph.node("Conv", &[input, &weight, &bias], &format!("{name}.conv"), attributes);
        graph.node("Relu", &[&pre], name, vec![])
    } else {
        graph.node("Conv", &[input, &weight, &bias], name, attributes)
    }
}

/// A sparse fully connected layer. On feature maps whose every neuron sums whole per-channel masks
/// with one weight per channel (N2's head reading the detectors at valid offsets only), it becomes
/// `Mul(mask) → ReduceSum(H, W) → Gemm [O, C]`; otherwise `Flatten → Gemm [O, K]` with dense weights.
fn export_dense(
    graph: &mut ExportGraph,
    kind: ConstructedKind,
    dense: &SparseDense,
    input: &str,
    input_shape: Shape,
    name: &str,
) -> Result<String, InteropError> {
    let outputs = dense.neurons();
    let bias = (0..outputs).map(|n| dense.bias_of(n)).collect();
    let bias = graph.weight(&format!("{name}.bias"), vec![outputs], TensorData::F32(bias));
    let gemm_input = match input_shape {
        Shape::Map { channels, rows, cols } => {
            if let Some((mask, per_channel)) = factor_by_channel(dense, channels, rows * cols) {
                let mask = graph.weight(&format!("{name}.mask"), vec![1, channels, rows, cols], TensorData::F32(mask));
                let masked = graph.node("Mul", &[input, &mask], &format!("{name}.masked"), vec![]);
                let axes = graph.weight(&format!("{name}.axes"), vec![2], TensorData::I64(vec![2, 3]));
                let sums = graph.node(
                    "ReduceSum",
                    &[&masked, &axes],
                    &format!("{name}.sums"),
                    vec![("keepdims", AttrValue::Int(0))],
                );
                let weight =
                    graph.weight(&format!("{name}.weight"), vec![outputs, channels], TensorData::F32(per_channel));
                return Ok(gemm_relu(graph, dense.relu, [&sums, &weight, &bias], name));
            }
            graph.node("Flatten", &[input], &format!("{name}.flat"), vec![("axis", AttrValue::Int(1))])
        }
        Shape::Vector(_) => input.to_owned(),
    };
    let inputs = input_shape.len();
    reserve(graph, kind, outputs.saturating_mul(inputs))?;
    let mut weight = vec![0.0f32; outputs * inputs];
    for n in 0..outputs {
        for (i, w) in dense.weights_of(n) {
            weight[n * inputs + i] += w;
        }
    }
    let weight = graph.weight(&format!("{name}.weight"), vec![outputs, inputs], TensorData::F32(weight));
    Ok(gemm_relu(graph, dense.relu, [&gemm_input, &weight, &bias], name))
}

/// `Gemm(a, weightᵀ, bias)`, followed by Relu when `relu`.
fn gemm_relu(graph: &mut ExportGraph, relu: bool, inputs: [&str; 3], name: &str) -> String {
    let attributes = vec![("transB", AttrValue::Int(1))];
    if relu {
        let pre = graph.node("Gemm", &inputs, &format!("{name}.linear"), attributes);
        graph.node("Relu", &[&pre], name, vec![])
    } else {
        graph.node("Gemm", &inputs, name, attributes)
    }
}

/// `(mask [C·plane], weights [O·C])` such that neuron `n` = `Σ_c weights[n,c] · Σ_{u ∈ mask_c} x[u]`
/// exactly, or `None` when the layer is not of that form.
fn factor_by_channel(dense: &SparseDense, channels: usize, plane: usize) -> Option<(Vec<f32>, Vec<f32>)> {
    let mut owner: Vec<Option<Vec<usize>>> = vec![None; channels];
    let mut per_channel = vec![0.0f32; dense.neurons() * channels];
    for n in 0..dense.neurons() {
        let mut reads: Vec<Vec<usize>> = vec![Vec::new(); channels];
        for (unit, weight) in dense.weights_of(n) {
            let c = unit / plane;
            let slot = per_channel.get_mut(n * channels + c)?;
            if reads[c].is_empty() {
                *slot = weight;
            } else if slot.to_bits() != weight.to_bits() {
                return None;
            }
            reads[c].push(unit);
        }
        for (c, mut units) in reads.into_iter().enumerate().filter(|(_, u)| !u.is_empty()) {
            units.sort_unstable();
            if units.windows(2).any(|w| w[0] == w[1]) {
                return None;
            }
            match &owner[c] {
                Some(known) if *known != units => return None,
                Some(_) => {}
                None => owner[c] = Some(units),
            }
        }
    }
    let mut mask = vec![0.0f32; channels * plane];
    for unit in owner.into_iter().flatten().flatten() {
        mask[unit] = 1.0;
    }
    Some((mask, per_channel))
}

fn shape_dims(shape: Shape) -> Vec<usize> {
    match shape {
        Shape::Map { channels, rows, cols } => vec![channels, rows, cols],
        Shape::Vector(n) => vec![n],
    }
}

fn f32_data<'a>(values: impl Iterator<Item = &'a f32>) -> TensorData {
    TensorData::F32(values.copied().collect())
}

fn push_layer_metadata(graph: &mut ExportGraph, name: &str, layer: &SparseLayer, shape: Shape) {
    let units = if matches!(shape, Shape::Map { .. }) { "channel" } else { "neuron" };
    let value = json!({ "title": layer.name, "units": units, "meanings": layer.meanings });
    graph.metadata.push((format!("tilelab.layer.{name}"), value.to_string()));
}

fn push_common_metadata<'a>(graph: &mut ExportGraph, network: &str, classes: impl Iterator<Item = &'a str>) {
    let (height, width) = graph.input;
    let outputs: Vec<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    let outputs = json!(outputs).to_string();
    let classes = json!(classes.collect::<Vec<_>>()).to_string();
    let input = format!("'{INPUT_NAME}': float32 [N, 1, {height}, {width}], grey levels pixel/255 in [0, 1]");
    graph.metadata.extend([
        ("tilelab.network".to_owned(), network.to_owned()),
        ("tilelab.classes".to_owned(), classes),
        ("tilelab.input".to_owned(), input),
        ("tilelab.outputs".to_owned(), outputs),
    ]);
}
