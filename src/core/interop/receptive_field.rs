//! Which input pixels a unit of an imported model's feature map reads: its receptive field,
//! followed through the graph from the input. Convolutions and poolings grow and stride it,
//! `Pad` shifts it, element-wise operators keep it, global poolings see the whole image; transposed
//! convolutions and nearest upsampling map several output units to one input unit, which no
//! integer stride expresses, so from there on the field is kept as one span per unit. A value whose
//! field cannot be told (a fully connected layer, a reshape) has none.

use std::collections::HashMap;

use super::onnx_import::{Node, OnnxModel, Trace};
use super::ops::{Op, Resize, Value, Window, nearest};

/// The input rows and columns read by unit `(y, x)` of a map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// `offset + y * stride .. + size` per axis (`offset` may be negative where padding reads
    /// outside the image).
    Grid { offset: [i64; 2], stride: [i64; 2], size: [i64; 2] },
    /// Per axis, the half-open span `start..end` each unit reads (empty where it reads only padding).
    Spans([Vec<(i64, i64)>; 2]),
}

/// An empty span, the identity of [`hull`].
const EMPTY: (i64, i64) = (i64::MAX, i64::MIN);

/// The smallest span holding both (empty spans ignored).
fn hull(a: (i64, i64), b: (i64, i64)) -> (i64, i64) {
    match (a.0 < a.1, b.0 < b.1) {
        (false, _) => b,
        (_, false) => a,
        _ => (a.0.min(b.0), a.1.max(b.1)),
    }
}

impl Field {
    /// The input itself: each unit reads its own pixel.
    const PIXEL: Self = Self::Grid { offset: [0, 0], stride: [1, 1], size: [1, 1] };

    /// The span unit `unit` reads along `axis` (empty for a unit beyond a span list).
    fn span(&self, axis: usize, unit: usize) -> (i64, i64) {
        match self {
            Self::Grid { offset, stride, size } => {
                let start = offset[axis].saturating_add(to_i64(unit).saturating_mul(stride[axis]));
                (start, start.saturating_add(size[axis]))
            }
            Self::Spans(spans) => spans[axis].get(unit).copied().unwrap_or(EMPTY),
        }
    }

    /// The pixels `(row, col, rows, cols)` unit `(y, x)` reads, clipped to a `height×width` image;
    /// `None` when they lie wholly outside.
    pub fn pixels(&self, y: usize, x: usize, height: usize, width: usize) -> Option<(usize, usize, usize, usize)> {
        let axis = |unit: usize, a: usize, limit: usize| -> Option<(usize, usize)> {
            let (start, end) = self.span(a, unit);
            let (start, end) = (start.max(0), end.min(to_i64(limit)));
            (end > start).then_some((usize::try_from(start).ok()?, usize::try_from(end - start).ok()?))
        };
        let (row, rows) = axis(y, 0, height)?;
        let (col, cols) = axis(x, 1, width)?;
        Some((row, col, rows, cols))
    }

    /// The smallest field holding both, for maps of `len` units.
    fn union(&self, other: &Self, len: [usize; 2]) -> Self {
        if let (
            Self::Grid { offset, stride, size },
            Self::Grid { offset: other_offset, stride: other_stride, size: other_size },
        ) = (self, other)
            && stride == other_stride
        {
            let mut both_offset = *offset;
            let mut both_size = *size;
            for a in 0..2 {
                let end = offset[a].saturating_add(size[a]).max(other_offset[a].saturating_add(other_size[a]));
                both_offset[a] = offset[a].min(other_offset[a]);
                both_size[a] = end.saturating_sub(both_offset[a]);
            }
            return Self::Grid { offset: both_offset, stride: *stride, size: both_size };
        }
        Self::Spans([0, 1].map(|a| (0..len[a]).map(|unit| hull(self.span(a, unit), other.span(a, unit))).collect()))
    }

    /// The field after a window of `kernel` with `window`'s strides, dilations and leading pads,
    /// over an input of `len_in` units per axis and an output of `len_out`.
    fn through(
        &self,
        window: &Window,
        kernel: [usize; 2],
        pads: [usize; 2],
        len_in: [usize; 2],
        len_out: [usize; 2],
    ) -> Self {
        if let Self::Grid { offset, stride, size } = self {
            let (mut offset, mut stride, mut size) = (*offset, *stride, *size);
            for a in 0..2 {
                let reach = to_i64(kernel[a].saturating_sub(1)).saturating_mul(to_i64(window.dilation(a)));
                size[a] = size[a].saturating_add(reach.saturating_mul(stride[a]));
                offset[a] = offset[a].saturating_sub(to_i64(pads[a]).saturating_mul(stride[a]));
                stride[a] = stride[a].saturating_mul(to_i64(window.stride(a)));
            }
            return Self::Grid { offset, stride, size };
        }
        // Output unit y reads input units y·stride − pad + i·dilation (those inside the map).
        Self::Spans([0, 1].map(|a| {
            let (s, d, p) = (to_i64(window.stride(a)), to_i64(window.dilation(a)), to_i64(pads[a]));
            (0..len_out[a])
                .map(|y| {
                    (0..to_i64(kernel[a]))
                        .map(|i| to_i64(y) * s - p + i * d)
                        .filter(|&u| (0..to_i64(len_in[a])).contains(&u))
                        .fold(EMPTY, |span, u| hull(span, self.span(a, u as usize)))
                })
                .collect()
        }))
    }

    /// The field after a transposed convolution: output unit y reads the input units u with
    /// u·stride − pad + i·dilation = y for some kernel tap i, i.e. u in
    /// ⌈(y + pad − (k−1)·dilation) / stride⌉ ..= ⌊(y + pad) / stride⌋.
    fn through_transposed(&self, window: &Window, kernel: [usize; 2], len_in: [usize; 2], len_out: [usize; 2]) -> Self {
        Self::Spans([0, 1].map(|a| {
            let (s, d, p) = (to_i64(window.stride(a)), to_i64(window.dilation(a)), to_i64(window.pad(a, 2).0));
            let reach = to_i64(kernel[a].saturating_sub(1)) * d;
            (0..len_out[a])
                .map(|y| {
                    let first =
                        (to_i64(y) + p - reach).div_euclid(s) + i64::from((to_i64(y) + p - reach).rem_euclid(s) != 0);
                    let last = (to_i64(y) + p).div_euclid(s);
                    (first.max(0)..=last.min(to_i64(len_in[a]) - 1))
                        .filter(|u| (0..to_i64(kernel[a])).any(|i| u * s - p + i * d == to_i64(y)))
                        .fold(EMPTY, |span, u| hull(span, self.span(a, u as usize)))
                })
                .collect()
        }))
    }

    /// The field after nearest resizing: output unit y reads the one input unit `nearest` picks.
    fn through_resize(&self, spec: &Resize, len_in: [usize; 2], len_out: [usize; 2]) -> Self {
        Self::Spans([0, 1].map(|a| {
            let scale = len_out[a] as f32 / len_in[a].max(1) as f32;
            (0..len_out[a]).map(|y| self.span(a, nearest(y, scale, len_in[a], len_out[a], spec))).collect()
        }))
    }

    /// The field shifted by `top` rows and `left` columns of padding, for an output of `len_out`.
    fn padded(&self, top: i64, left: i64, len_out: [usize; 2]) -> Self {
        if let Self::Grid { offset, stride, size } = self {
            let offset = [
                offset[0].saturating_sub(top.saturating_mul(stride[0])),
                offset[1].saturating_sub(left.saturating_mul(stride[1])),
            ];
            return Self::Grid { offset, stride: *stride, size: *size };
        }
        let shift = [top, left];
        Self::Spans([0, 1].map(|a| {
            (0..len_out[a]).map(|y| usize::try_from(to_i64(y) - shift[a]).map_or(EMPTY, |u| self.span(a, u))).collect()
        }))
    }
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The rows and columns of a `[n, c, h, w]` shape.
fn side(shape: Option<Vec<usize>>) -> Option<[usize; 2]> {
    match shape?.as_slice() {
        &[_, _, h, w] => Some([h, w]),
        _ => None,
    }
}

/// The receptive field of every value of `trace` that has one, by value name (the shapes of
/// `trace` settle `auto_pad` padding and the unit counts of span fields).
pub fn receptive_fields(model: &OnnxModel, trace: &Trace) -> HashMap<String, Field> {
    let (height, width) = model.input_size();
    let mut fields: HashMap<String, Field> = HashMap::new();
    // A value neither computed nor constant is the image itself, `[1, 1, H, W]`.
    let shape_of = |name: &str| match trace.get(name) {
        Some(value) => Some(value.shape().to_vec()),
        None if model.constant(name).is_none() => Some(vec![1, 1, height, width]),
        None => None,
    };
    for node in model.nodes() {
        // The field of each input: `Some(None)` for a constant, `None` for a value without a field.
        let field_of = |name: &String| match fields.get(name) {
            Some(field) => Some(Some(field.clone())),
            None if model.constant(name).is_some() => Some(None),
            None if trace.get(name).is_none() => Some(Some(Field::PIXEL)),
            None => None,
        };
        let Some(Some(input)) = node.inputs.first().and_then(field_of) else { continue };
        let len_in = side(node.inputs.first().and_then(|n| shape_of(n)));
        let len_out = side(shape_of(&node.output));
        let weight_kernel = || match node.inputs.get(1).and_then(|w| model.constant(w)) {
            Some(Value::F32(w)) if w.ndim() == 4 => Some([w.shape()[2], w.shape()[3]]),
            _ => None,
        };
        let field = match &node.op {
            Op::Conv(window) => kernel_2d(window).or_else(weight_kernel).zip(len_in.zip(len_out)).map(|(k, (i, o))| {
                let pads = leading_pads(window, k, node.inputs.first().and_then(|n| shape_of(n)), &node.output, trace);
                input.through(window, k, pads, i, o)
            }),
            Op::MaxPool(window) | Op::AveragePool { window, .. } => {
                kernel_2d(window).zip(len_in.zip(len_out)).map(|(k, (i, o))| {
                    let pads =
                        leading_pads(window, k, node.inputs.first().and_then(|n| shape_of(n)), &node.output, trace);
                    input.through(window, k, pads, i, o)
                })
            }
            // With `auto_pad` the padding depends on `output_shape`: not followed.
            Op::ConvTranspose { window, .. } if window.same.is_none() => kernel_2d(window)
                .or_else(weight_kernel)
                .zip(len_in.zip(len_out))
                .map(|(k, (i, o))| input.through_transposed(window, k, i, o)),
            Op::Resize(spec) => len_in.zip(len_out).map(|(i, o)| input.through_resize(spec, i, o)),
            Op::Relu
            | Op::LeakyRelu(_)
            | Op::Sigmoid
            | Op::Tanh
            | Op::Unary(_)
            | Op::Clip { .. }
            | Op::Identity
            | Op::BatchNormalization { .. }
            // Neighbouring channels of the same pixel.
            | Op::Lrn { .. } => Some(input),
            // A sum, product or concatenation reads what all its non-constant inputs read (a residual
            // `x + conv(x)`, Inception's branches side by side).
            Op::Add | Op::Mul | Op::Binary(_) | Op::Variadic(_) | Op::Concat { axis: 1 | -3 } => {
                len_out.and_then(|len| {
                    node.inputs.iter().map(field_of).try_fold(input, |union, field| match field? {
                        Some(field) => Some(union.union(&field, len)),
                        None => Some(union),
                    })
                })
            }
            Op::Pad { pads, .. } => len_out.and_then(|len| pad_shift(&input, model, node, pads.as_deref(), len)),
            Op::GlobalPool(_) => Some(whole_image(height, width)),
            _ => None,
        };
        if let Some(field) = field {
            fields.insert(node.output.clone(), field);
        }
    }
    fields
}

/// The kernel of a 2-D window, if given.
fn kernel_2d(window: &Window) -> Option<[usize; 2]> {
    match window.kernel.as_deref() {
        Some(&[h, w]) => Some([h, w]),
        _ => None,
    }
}

/// A field covering the whole image from its one unit.
fn whole_image(height: usize, width: usize) -> Field {
    Field::Grid { offset: [0, 0], stride: [1, 1], size: [to_i64(height), to_i64(width)] }
}

/// Top and left padding: the attribute, or for `auto_pad` SAME what the input and output sizes imply.
fn leading_pads(
    window: &Window,
    kernel: [usize; 2],
    input: Option<Vec<usize>>,
    output: &str,
    trace: &Trace,
) -> [usize; 2] {
    let Some(upper) = window.same else { return [window.pad(0, 2).0, window.pad(1, 2).0] };
    let (Some(input), Some(output)) = (input, trace.get(output).map(|v| v.shape().to_vec())) else { return [0, 0] };
    let mut pads = [0; 2];
    for a in 0..2 {
        let (Some(&n), Some(&m)) = (input.get(2 + a), output.get(2 + a)) else { continue };
        let extent = (kernel[a].saturating_sub(1)) * window.dilation(a) + 1;
        let total = (m.saturating_sub(1) * window.stride(a) + extent).saturating_sub(n);
        pads[a] = if upper { total / 2 } else { total - total / 2 };
    }
    pads
}

/// A `Pad` node's field: shifted by its top and left pads.
fn pad_shift(
    input: &Field,
    model: &OnnxModel,
    node: &Node,
    attribute: Option<&[i64]>,
    len_out: [usize; 2],
) -> Option<Field> {
    let constant = |i: usize| node.inputs.get(i).and_then(|name| model.constant(name));
    let pads: Vec<i64> = match (attribute, constant(1)) {
        (Some(pads), _) => pads.to_vec(),
        (None, Some(Value::I64(pads))) => pads.iter().copied().collect(),
        _ => return None,
    };
    // The optional `axes` input lists the padded axes; without it every axis of `[n, c, h, w]` is.
    let axes: Vec<i64> = match (node.inputs.get(3), constant(3)) {
        (None, _) => (0..4).collect(),
        (Some(_), Some(Value::I64(axes))) => axes.iter().map(|&a| if a < 0 { a + 4 } else { a }).collect(),
        (Some(_), _) => return None,
    };
    // `pads` holds the begin of every listed axis, then their ends; rows are axis 2, columns axis 3.
    let begin = |axis: i64| axes.iter().position(|&a| a == axis).map_or(Some(0), |i| pads.get(i).copied());
    Some(input.padded(begin(2)?, begin(3)?, len_out))
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // a unit outside the field must not move at all
mod tests {
    use super::*;
    use ndarray::Array2;
    use prost::Message;

    use crate::core::interop::graph::{AttrValue, ExportGraph, GraphOutput};
    use crate::core::interop::proto::{AttributeProto, attribute_type};
    use crate::core::interop::tensor::TensorData;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn fixture() -> OnnxModel {
        let bytes = include_bytes!("../../../tests/fixtures/onnx/small_cnn_legacy.onnx");
        OnnxModel::from_bytes(bytes, None).unwrap()
    }

    #[test]
    fn fields_of_the_fixture_follow_its_layers() {
        let model = fixture();
        let trace = model.run(Array2::zeros(model.input_size()).view()).unwrap();
        let fields = receptive_fields(&model, &trace);
        let convs: Vec<Field> =
            model.nodes().iter().filter(|n| n.op_type == "Conv").map(|n| fields[&n.output].clone()).collect();
        // conv1: 3×3, pad 1.
        assert_eq!(convs[0], Field::Grid { offset: [-1, -1], stride: [1, 1], size: [3, 3] });
        // MaxPool 2 (size 4, stride 2), then conv2: 3×3, dilation 2, pad 2.
        assert_eq!(convs[1], Field::Grid { offset: [-5, -5], stride: [2, 2], size: [12, 12] });
        // AvgPool 2 stride 1 (size 14), then conv3: 2×2 stride 2.
        assert_eq!(convs[2], Field::Grid { offset: [-5, -5], stride: [4, 4], size: [16, 16] });
    }

    /// Random weights for a tensor of `dims`.
    fn random(rng: &mut ChaCha8Rng, dims: &[usize]) -> TensorData {
        TensorData::F32((0..dims.iter().product()).map(|_| rng.random_range(-1.0..1.0f32)).collect())
    }

    /// `maps` → Flatten → Gemm to two class scores, then the model with `auto_pad` set on the
    /// named nodes (the export builder writes no string attributes).
    fn finish(mut graph: ExportGraph, maps: &str, features: usize, auto_pad: &[(&str, &str)]) -> OnnxModel {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let flat = graph.node("Flatten", &[maps], "flat", vec![("axis", AttrValue::Int(1))]);
        let w = graph.weight("fc.w", vec![2, features], random(&mut rng, &[2, features]));
        let b = graph.weight("fc.b", vec![2], random(&mut rng, &[2]));
        graph.node("Gemm", &[&flat, &w, &b], "logits", vec![("transB", AttrValue::Int(1))]);
        graph.outputs.push(GraphOutput { name: "logits".into(), dims: vec![2] });
        let mut model = graph.to_model();
        for node in model.graph.iter_mut().flat_map(|g| g.node.iter_mut()) {
            if let Some((_, mode)) = auto_pad.iter().find(|(n, _)| node.output.first().is_some_and(|o| o == n)) {
                node.attribute.push(AttributeProto {
                    name: Some("auto_pad".into()),
                    s: Some(mode.as_bytes().to_vec()),
                    r#type: Some(attribute_type::STRING),
                    ..AttributeProto::default()
                });
            }
        }
        OnnxModel::from_bytes(&model.encode_to_vec(), None).unwrap()
    }

    fn conv(
        graph: &mut ExportGraph,
        rng: &mut ChaCha8Rng,
        input: &str,
        output: &str,
        kernel: usize,
        attributes: Vec<(&'static str, AttrValue)>,
    ) -> String {
        let w = graph.weight(&format!("{output}.w"), vec![2, 1, kernel, kernel], random(rng, &[2, 1, kernel, kernel]));
        let mut attributes = attributes;
        attributes.push(("kernel_shape", AttrValue::Ints(vec![kernel as i64; 2])));
        graph.node("Conv", &[input, &w], output, attributes)
    }

    /// `SAME_UPPER` with stride 2 reading the image, then `SAME_LOWER`.
    fn same_padding_model() -> OnnxModel {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut graph = ExportGraph::new("same", (12, 12));
        conv(&mut graph, &mut rng, "image", "c1", 3, vec![("strides", AttrValue::Ints(vec![2, 2]))]);
        graph.node("Relu", &["c1"], "r1", vec![]);
        // One input channel for the second conv too: sum the two channels first.
        let ones = graph.weight("ones", vec![1, 2, 1, 1], TensorData::F32(vec![1.0, 1.0]));
        graph.node("Conv", &["r1", &ones], "mix", vec![("kernel_shape", AttrValue::Ints(vec![1, 1]))]);
        conv(&mut graph, &mut rng, "mix", "c2", 4, vec![]);
        finish(graph, "c2", 2 * 6 * 6, &[("c1", "SAME_UPPER"), ("c2", "SAME_LOWER")])
    }

    /// `Pad` with an `axes` input, then a residual `r1 + conv(r1)`.
    fn pad_and_residual_model() -> OnnxModel {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut graph = ExportGraph::new("residual", (12, 12));
        let pads = graph.weight("pads", vec![4], TensorData::I64(vec![1, 2, 0, 1]));
        let axes = graph.weight("axes", vec![2], TensorData::I64(vec![2, -1]));
        let zero = graph.weight("zero", vec![1], TensorData::F32(vec![0.0]));
        graph.node("Pad", &["image", &pads, &zero, &axes], "p", vec![]);
        conv(&mut graph, &mut rng, "p", "c1", 3, vec![]);
        let ones = graph.weight("ones", vec![1, 2, 1, 1], TensorData::F32(vec![1.0, 1.0]));
        graph.node("Conv", &["c1", &ones], "mix", vec![("kernel_shape", AttrValue::Ints(vec![1, 1]))]);
        graph.node("Relu", &["mix"], "r1", vec![]);
        let w = graph.weight("c2.w", vec![1, 1, 3, 3], random(&mut rng, &[1, 1, 3, 3]));
        graph.node(
            "Conv",
            &["r1", &w],
            "c2",
            vec![("kernel_shape", AttrValue::Ints(vec![3, 3])), ("pads", AttrValue::Ints(vec![1; 4]))],
        );
        graph.node("Add", &["r1", "c2"], "sum", vec![]);
        finish(graph, "sum", 11 * 13, &[])
    }

    #[test]
    fn fields_through_same_padding_pad_axes_and_a_residual() {
        let model = same_padding_model();
        let trace = model.run(Array2::zeros((12, 12)).view()).unwrap();
        let fields = receptive_fields(&model, &trace);
        // SAME_UPPER, 3×3, stride 2 on 12: one padding pixel, at the end, so none before.
        assert_eq!(fields["c1"], Field::Grid { offset: [0, 0], stride: [2, 2], size: [3, 3] });
        // SAME_LOWER, 4×4 on 6: three padding pixels, two of them before.
        assert_eq!(fields["c2"], Field::Grid { offset: [-4, -4], stride: [2, 2], size: [9, 9] });
        let model = pad_and_residual_model();
        let trace = model.run(Array2::zeros((12, 12)).view()).unwrap();
        let fields = receptive_fields(&model, &trace);
        assert_eq!(fields["p"], Field::Grid { offset: [-1, -2], stride: [1, 1], size: [1, 1] });
        assert_eq!(fields["r1"], Field::Grid { offset: [-1, -2], stride: [1, 1], size: [3, 3] });
        assert_eq!(
            fields["sum"],
            Field::Grid { offset: [-2, -3], stride: [1, 1], size: [5, 5] },
            "the wider of the two"
        );
    }

    #[test]
    fn pixels_outside_a_units_field_do_not_change_it() {
        for model in [fixture(), same_padding_model(), pad_and_residual_model()] {
            assert_fields_hold(&model);
        }
    }

    fn assert_fields_hold(model: &OnnxModel) {
        let (height, width) = model.input_size();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            let image = Array2::from_shape_fn((height, width), |_| rng.random::<f32>());
            let trace = model.run(image.view()).unwrap();
            let fields = receptive_fields(model, &trace);
            let (row, col) = (rng.random_range(0..height), rng.random_range(0..width));
            let mut changed = image.clone();
            changed[[row, col]] = 1.0 - changed[[row, col]] + 0.5;
            let after = model.run(changed.view()).unwrap();
            for (traced, map) in trace.feature_maps() {
                let Some(field) = fields.get(&traced.name) else { continue };
                let moved = after.feature_maps().into_iter().find(|(t, _)| t.name == traced.name).unwrap().1.to_owned();
                for ((c, y, x), &value) in map.indexed_iter() {
                    let reads = field
                        .pixels(y, x, height, width)
                        .is_some_and(|(r, k, rows, cols)| (r..r + rows).contains(&row) && (k..k + cols).contains(&col));
                    if !reads {
                        assert_eq!(moved[[c, y, x]], value, "{} unit ({c}, {y}, {x}) moved", traced.name);
                    }
                }
            }
        }
    }

    /// One grey map through a transposed convolution (stride, kernel, pad, dilation) then nearest
    /// upsampling by `factor`, with `(value name, exact)` for the fields to check; `exact` when the
    /// units whose field holds a pixel are exactly those that move.
    fn transposed_and_upsampled(rng: &mut ChaCha8Rng, side: usize) -> (OnnxModel, Vec<(&'static str, bool)>) {
        let (s, k, d) = (rng.random_range(1..=3usize), rng.random_range(1..=4usize), rng.random_range(1..=2usize));
        let p = rng.random_range(0..=(k - 1) * d / 2);
        let factor = rng.random_range(2..=3usize);
        let mut graph = ExportGraph::new("up", (side, side));
        let w = graph.weight("t.w", vec![1, 1, k, k], random(rng, &[1, 1, k, k]));
        let attributes = vec![
            ("kernel_shape", AttrValue::Ints(vec![k as i64; 2])),
            ("strides", AttrValue::Ints(vec![s as i64; 2])),
            ("dilations", AttrValue::Ints(vec![d as i64; 2])),
            ("pads", AttrValue::Ints(vec![p as i64; 4])),
        ];
        graph.node("ConvTranspose", &["image", &w], "t", attributes);
        let scales = graph.weight("scales", vec![4], TensorData::F32(vec![1.0, 1.0, factor as f32, factor as f32]));
        graph.node("Resize", &["t", "", &scales], "up", vec![]);
        let c = conv(&mut graph, rng, "up", "c", 2, vec![("strides", AttrValue::Ints(vec![2, 2]))]);
        let t_side = (side - 1) * s + (k - 1) * d + 1 - 2 * p;
        let c_side = (t_side * factor - 2) / 2 + 1;
        let model = finish(graph, &c, 2 * c_side * c_side, &[]);
        (model, vec![("t", true), ("up", true), ("c", false)])
    }

    #[test]
    fn fields_through_transposed_convolutions_and_upsampling_match_brute_force() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..12 {
            let side = rng.random_range(3..=6);
            let (model, checked) = transposed_and_upsampled(&mut rng, side);
            let image = Array2::from_shape_fn((side, side), |_| rng.random::<f32>());
            let trace = model.run(image.view()).unwrap();
            let fields = receptive_fields(&model, &trace);
            for row in 0..side {
                for col in 0..side {
                    let mut changed = image.clone();
                    changed[[row, col]] += 1.0;
                    let after = model.run(changed.view()).unwrap();
                    for &(name, exact) in &checked {
                        let field = &fields[name];
                        let (before, moved) = (trace.get(name).unwrap(), after.get(name).unwrap());
                        for ((index, &value), &new) in before.indexed_iter().zip(moved) {
                            let (y, x) = (index[2], index[3]);
                            let reads = field.pixels(y, x, side, side).is_some_and(|(r, k, rows, cols)| {
                                (r..r + rows).contains(&row) && (k..k + cols).contains(&col)
                            });
                            let moves = (new - value).abs() > 1e-6;
                            assert!(
                                reads || !moves,
                                "{name} ({y}, {x}) moved by pixel ({row}, {col}) outside {field:?}"
                            );
                            if exact {
                                assert_eq!(reads, moves, "{name} ({y}, {x}), pixel ({row}, {col}), {field:?}");
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_transposed_convolution_maps_a_unit_to_the_inputs_of_the_formula() {
        // Stride 2, kernel 3, pad 1: output y reads inputs ⌈(y − 1) / 2⌉ ..= ⌊(y + 1) / 2⌋.
        let window =
            Window { kernel: Some(vec![3, 3]), strides: vec![2, 2], pads: vec![1; 4], group: 1, ..Window::default() };
        let field = Field::PIXEL.through_transposed(&window, [3, 3], [4, 4], [7, 7]);
        let rows: Vec<(i64, i64)> = (0..7).map(|y| field.span(0, y)).collect();
        assert_eq!(rows, [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 4), (3, 4)]);
        // Nearest upsampling by 3 (half-pixel, round prefer floor: ONNX's defaults) reads ⌊y / 3⌋.
        let spec = Resize {
            scales: None,
            scales_input: 2,
            sizes_input: None,
            coordinates: crate::core::interop::ops::Coordinates::HalfPixel,
            rounding: crate::core::interop::ops::Rounding::RoundPreferFloor,
        };
        let up = Field::PIXEL.through_resize(&spec, [2, 2], [6, 6]);
        let rows: Vec<(i64, i64)> = (0..6).map(|y| up.span(0, y)).collect();
        assert_eq!(rows, [(0, 1), (0, 1), (0, 1), (1, 2), (1, 2), (1, 2)]);
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_where_onnx_says() {
        use super::super::onnx_import::Traced;
        let traced = |shape: &[usize]| Traced {
            name: "out".into(),
            node: "n".into(),
            op_type: "Conv".into(),
            value: ndarray::ArrayD::zeros(shape),
        };
        let trace = Trace { values: vec![traced(&[1, 1, 6, 6])], logits: vec![] };
        let window = |upper| Window { kernel: Some(vec![4, 4]), same: Some(upper), group: 1, ..Window::default() };
        // Kernel 4 over 6 pixels keeping 6: 3 padding pixels, the odd one at the end (UPPER) or start (LOWER).
        let input = Some(vec![1, 1, 6, 6]);
        assert_eq!(leading_pads(&window(true), [4, 4], input.clone(), "out", &trace), [1, 1]);
        assert_eq!(leading_pads(&window(false), [4, 4], input, "out", &trace), [2, 2]);
        let explicit = Window { same: None, pads: vec![3, 1, 0, 0], ..window(true) };
        assert_eq!(leading_pads(&explicit, [4, 4], None, "out", &trace), [3, 1]);
    }

    #[test]
    fn pixels_are_clipped_to_the_image() {
        let field = Field::Grid { offset: [-2, -1], stride: [2, 2], size: [5, 3] };
        assert_eq!(field.pixels(0, 0, 10, 10), Some((0, 0, 3, 2)));
        assert_eq!(field.pixels(3, 4, 10, 10), Some((4, 7, 5, 3)));
        assert_eq!(field.pixels(5, 0, 10, 10), Some((8, 0, 2, 2)));
        assert_eq!(field.pixels(7, 0, 10, 10), None);
    }
}
