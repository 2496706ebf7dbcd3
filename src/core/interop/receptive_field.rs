//! Which input pixels a unit of an imported model's feature map reads: its receptive field,
//! followed through the graph from the input. Convolutions and poolings grow and stride it,
//! `Pad` shifts it, element-wise operators keep it, global poolings see the whole image; a value
//! whose field cannot be told (a fully connected layer, a reshape) has none.

use std::collections::HashMap;

use super::onnx_import::{Node, OnnxModel, Trace};
use super::ops::{Op, Value, Window};

/// The input rows and columns read by unit `(y, x)` of a map: `offset + y * stride .. + size`
/// (per axis; `offset` may be negative where padding reads outside the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub offset: [i64; 2],
    pub stride: [i64; 2],
    pub size: [i64; 2],
}

impl Field {
    /// The input itself: each unit reads its own pixel.
    const PIXEL: Self = Self { offset: [0, 0], stride: [1, 1], size: [1, 1] };

    /// The pixels `(row, col, rows, cols)` unit `(y, x)` reads, clipped to a `height×width` image;
    /// `None` when they lie wholly outside.
    pub fn pixels(&self, y: usize, x: usize, height: usize, width: usize) -> Option<(usize, usize, usize, usize)> {
        let axis = |unit: usize, a: usize, limit: usize| -> Option<(usize, usize)> {
            let start = self.offset[a].saturating_add(to_i64(unit).saturating_mul(self.stride[a]));
            let end = start.saturating_add(self.size[a]).min(to_i64(limit));
            let start = start.max(0);
            (end > start).then_some((usize::try_from(start).ok()?, usize::try_from(end - start).ok()?))
        };
        let (row, rows) = axis(y, 0, height)?;
        let (col, cols) = axis(x, 1, width)?;
        Some((row, col, rows, cols))
    }

    /// The smallest field holding both (units on the same grid); `None` when their strides differ.
    fn union(self, other: Self) -> Option<Self> {
        if self.stride != other.stride {
            return None;
        }
        let mut both = self;
        for a in 0..2 {
            let end = (self.offset[a].saturating_add(self.size[a])).max(other.offset[a].saturating_add(other.size[a]));
            both.offset[a] = self.offset[a].min(other.offset[a]);
            both.size[a] = end.saturating_sub(both.offset[a]);
        }
        Some(both)
    }

    /// The field after a window of `kernel` with `window`'s strides, dilations and leading pads.
    fn through(self, window: &Window, kernel: [usize; 2], pads: [usize; 2]) -> Self {
        let mut next = self;
        for a in 0..2 {
            let reach = to_i64(kernel[a].saturating_sub(1)).saturating_mul(to_i64(window.dilations[a]));
            next.size[a] = self.size[a].saturating_add(reach.saturating_mul(self.stride[a]));
            next.offset[a] = self.offset[a].saturating_sub(to_i64(pads[a]).saturating_mul(self.stride[a]));
            next.stride[a] = self.stride[a].saturating_mul(to_i64(window.strides[a]));
        }
        next
    }
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The receptive field of every value of `trace` that has one, by value name (the shapes of
/// `trace` settle `auto_pad` padding).
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
            Some(field) => Some(Some(*field)),
            None if model.constant(name).is_some() => Some(None),
            None if trace.get(name).is_none() => Some(Some(Field::PIXEL)),
            None => None,
        };
        let Some(Some(input)) = node.inputs.first().and_then(field_of) else { continue };
        let field = match &node.op {
            Op::Conv(window) => {
                let weight = node.inputs.get(1).and_then(|w| model.constant(w));
                let kernel = window.kernel.or_else(|| match weight {
                    Some(Value::F32(w)) if w.ndim() == 4 => Some([w.shape()[2], w.shape()[3]]),
                    _ => None,
                });
                kernel.map(|k| {
                    let pads =
                        leading_pads(window, k, node.inputs.first().and_then(|n| shape_of(n)), &node.output, trace);
                    input.through(window, k, pads)
                })
            }
            Op::MaxPool(window) | Op::AveragePool { window, .. } => window.kernel.map(|k| {
                let pads = leading_pads(window, k, node.inputs.first().and_then(|n| shape_of(n)), &node.output, trace);
                input.through(window, k, pads)
            }),
            Op::Relu | Op::LeakyRelu(_) | Op::Sigmoid | Op::Tanh | Op::Identity | Op::BatchNormalization { .. } => {
                Some(input)
            }
            // A sum or product reads what all its non-constant inputs read (a residual `x + conv(x)`).
            Op::Add | Op::Mul => node.inputs.iter().map(field_of).try_fold(input, |union, field| match field? {
                Some(field) => union.union(field),
                None => Some(union),
            }),
            Op::Pad { pads, .. } => pad_shift(input, model, node, pads.as_deref()),
            Op::GlobalPool(_) => Some(whole_image(height, width)),
            _ => None,
        };
        if let Some(field) = field {
            fields.insert(node.output.clone(), field);
        }
    }
    fields
}

/// A field covering the whole image from its one unit.
fn whole_image(height: usize, width: usize) -> Field {
    Field { offset: [0, 0], stride: [1, 1], size: [to_i64(height), to_i64(width)] }
}

/// Top and left padding: the attribute, or for `auto_pad` SAME what the input and output sizes imply.
fn leading_pads(
    window: &Window,
    kernel: [usize; 2],
    input: Option<Vec<usize>>,
    output: &str,
    trace: &Trace,
) -> [usize; 2] {
    let Some(upper) = window.same else { return [window.pads[0], window.pads[1]] };
    let (Some(input), Some(output)) = (input, trace.get(output).map(|v| v.shape().to_vec())) else { return [0, 0] };
    let mut pads = [0; 2];
    for a in 0..2 {
        let (Some(&n), Some(&m)) = (input.get(2 + a), output.get(2 + a)) else { continue };
        let extent = (kernel[a].saturating_sub(1)) * window.dilations[a] + 1;
        let total = (m.saturating_sub(1) * window.strides[a] + extent).saturating_sub(n);
        pads[a] = if upper { total / 2 } else { total - total / 2 };
    }
    pads
}

/// A `Pad` node's field: shifted by its top and left pads.
fn pad_shift(input: Field, model: &OnnxModel, node: &Node, attribute: Option<&[i64]>) -> Option<Field> {
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
    let (top, left) = (begin(2)?, begin(3)?);
    let mut field = input;
    field.offset[0] = field.offset[0].saturating_sub(top.saturating_mul(field.stride[0]));
    field.offset[1] = field.offset[1].saturating_sub(left.saturating_mul(field.stride[1]));
    Some(field)
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
            model.nodes().iter().filter(|n| n.op_type == "Conv").map(|n| fields[&n.output]).collect();
        // conv1: 3×3, pad 1.
        assert_eq!(convs[0], Field { offset: [-1, -1], stride: [1, 1], size: [3, 3] });
        // MaxPool 2 (size 4, stride 2), then conv2: 3×3, dilation 2, pad 2.
        assert_eq!(convs[1], Field { offset: [-5, -5], stride: [2, 2], size: [12, 12] });
        // AvgPool 2 stride 1 (size 14), then conv3: 2×2 stride 2.
        assert_eq!(convs[2], Field { offset: [-5, -5], stride: [4, 4], size: [16, 16] });
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
        assert_eq!(fields["c1"], Field { offset: [0, 0], stride: [2, 2], size: [3, 3] });
        // SAME_LOWER, 4×4 on 6: three padding pixels, two of them before.
        assert_eq!(fields["c2"], Field { offset: [-4, -4], stride: [2, 2], size: [9, 9] });
        let model = pad_and_residual_model();
        let trace = model.run(Array2::zeros((12, 12)).view()).unwrap();
        let fields = receptive_fields(&model, &trace);
        assert_eq!(fields["p"], Field { offset: [-1, -2], stride: [1, 1], size: [1, 1] });
        assert_eq!(fields["r1"], Field { offset: [-1, -2], stride: [1, 1], size: [3, 3] });
        assert_eq!(fields["sum"], Field { offset: [-2, -3], stride: [1, 1], size: [5, 5] }, "the wider of the two");
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
        let window = |upper| Window {
            kernel: Some([4, 4]),
            strides: [1, 1],
            pads: [0; 4],
            dilations: [1, 1],
            same: Some(upper),
            ceil_mode: false,
        };
        // Kernel 4 over 6 pixels keeping 6: 3 padding pixels, the odd one at the end (UPPER) or start (LOWER).
        let input = Some(vec![1, 1, 6, 6]);
        assert_eq!(leading_pads(&window(true), [4, 4], input.clone(), "out", &trace), [1, 1]);
        assert_eq!(leading_pads(&window(false), [4, 4], input, "out", &trace), [2, 2]);
        let explicit = Window { same: None, pads: [3, 1, 0, 0], ..window(true) };
        assert_eq!(leading_pads(&explicit, [4, 4], None, "out", &trace), [3, 1]);
    }

    #[test]
    fn pixels_are_clipped_to_the_image() {
        let field = Field { offset: [-2, -1], stride: [2, 2], size: [5, 3] };
        assert_eq!(field.pixels(0, 0, 10, 10), Some((0, 0, 3, 2)));
        assert_eq!(field.pixels(3, 4, 10, 10), Some((4, 7, 5, 3)));
        assert_eq!(field.pixels(5, 0, 10, 10), Some((8, 0, 2, 2)));
        assert_eq!(field.pixels(7, 0, 10, 10), None);
    }
}
