//! Loading: hand-built models, and hostile or broken files that must give clear errors.

use prost::Message;

use super::*;
use crate::core::interop::graph::{AttrValue, ExportGraph, GraphOutput};
use crate::core::interop::proto::{DATA_LOCATION_EXTERNAL, DATA_TYPE_FLOAT, StringStringEntryProto, TensorProto};
use crate::core::interop::tensor::TensorData;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `image [1,1,4,5] → Conv 2×2 (2 filters) → Relu → Flatten → Gemm → logits [1,3]`.
fn small_graph() -> ExportGraph {
    let mut graph = ExportGraph::new("small", (4, 5));
    let w =
        graph.weight("conv.weight", vec![2, 1, 2, 2], TensorData::F32(vec![1.0, -1.0, 0.5, 0.25, 0.0, 2.0, -0.5, 1.0]));
    let b = graph.weight("conv.bias", vec![2], TensorData::F32(vec![0.1, -0.2]));
    let conv = graph.node("Conv", &["image", &w, &b], "conv", vec![("kernel_shape", AttrValue::Ints(vec![2, 2]))]);
    let relu = graph.node("Relu", &[&conv], "relu", vec![]);
    let flat = graph.node("Flatten", &[&relu], "flat", vec![("axis", AttrValue::Int(1))]);
    let fc: Vec<f32> = (0..3 * 24).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5).collect();
    let fw = graph.weight("fc.weight", vec![3, 24], TensorData::F32(fc));
    let fb = graph.weight("fc.bias", vec![3], TensorData::F32(vec![0.0, 1.0, -1.0]));
    graph.node("Gemm", &[&flat, &fw, &fb], "logits", vec![("transB", AttrValue::Int(1))]);
    graph.outputs.push(GraphOutput { name: "logits".into(), dims: vec![3] });
    graph
}

fn load(model: &ModelProto) -> Result<OnnxModel, ImportError> {
    OnnxModel::from_bytes(&model.encode_to_vec(), None)
}

fn graph_of(model: &mut ModelProto) -> &mut crate::core::interop::proto::GraphProto {
    model.graph.as_mut().unwrap()
}

#[test]
fn a_hand_built_model_runs_by_the_formula() {
    let model = load(&small_graph().to_model()).unwrap();
    let image = ndarray::Array2::from_shape_fn((4, 5), |(y, x)| (y * 5 + x) as f32 / 20.0);
    let trace = model.run(image.view()).unwrap();
    let w = [[1.0, -1.0, 0.5, 0.25], [0.0, 2.0, -0.5, 1.0]];
    let bias = [0.1, -0.2];
    let mut flat = Vec::new();
    for (o, w) in w.iter().enumerate() {
        for y in 0..3 {
            for x in 0..4 {
                let v = bias[o]
                    + w[0] * image[[y, x]]
                    + w[1] * image[[y, x + 1]]
                    + w[2] * image[[y + 1, x]]
                    + w[3] * image[[y + 1, x + 1]];
                flat.push(f32::max(v, 0.0));
            }
        }
    }
    assert_eq!(trace.get("flat").unwrap().shape(), &[1, 24]);
    for (g, w) in trace.get("flat").unwrap().iter().zip(&flat) {
        assert!((g - w).abs() < 1e-6);
    }
    let fc: Vec<f32> = (0..3 * 24).map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5).collect();
    for (class, bias) in [0.0f32, 1.0, -1.0].iter().enumerate() {
        let want: f32 = bias + (0..24).map(|i| fc[class * 24 + i] * flat[i]).sum::<f32>();
        assert!((trace.logits[class] - want).abs() < 1e-5);
    }
    assert_eq!(
        trace.values.iter().map(|t| t.op_type.as_str()).collect::<Vec<_>>(),
        ["Conv", "Relu", "Flatten", "Gemm"]
    );
    assert!(matches!(model.run(ndarray::Array2::zeros((5, 4)).view()), Err(ImportError::InputSize { .. })));
    let maps: Vec<(&str, Vec<usize>)> =
        trace.feature_maps().iter().map(|(t, m)| (t.name.as_str(), m.shape().to_vec())).collect();
    assert_eq!(maps, [("conv", vec![2, 3, 4]), ("relu", vec![2, 3, 4])]);
    let filters = model.conv_weights();
    assert_eq!((filters.len(), filters[0].0.name.as_str(), filters[0].1.shape()), (1, "conv/Conv", &[2, 1, 2, 2][..]));
}

#[test]
fn nodes_out_of_order_are_sorted_and_cycles_refused() {
    let mut model = small_graph().to_model();
    graph_of(&mut model).node.reverse();
    assert!(load(&model).is_ok(), "topological order is restored");
    let mut cyclic = small_graph().to_model();
    graph_of(&mut cyclic).node[0].input[0] = "flat".into();
    assert!(matches!(load(&cyclic), Err(ImportError::Cycle(_))), "conv reads flat, which depends on conv");
}

#[test]
fn broken_graphs_give_clear_errors() {
    type Breaker = fn(&mut ModelProto);
    let cases: [(&str, Breaker, &str); 10] = [
        (
            "missing initialiser",
            |m| {
                graph_of(m).initializer.remove(0);
            },
            "conv.weight",
        ),
        ("unsupported operator", |m| graph_of(m).node[1].op_type = Some("GatherND".into()), "'GatherND'"),
        ("custom domain", |m| graph_of(m).node[1].domain = Some("com.microsoft".into()), "com.microsoft"),
        (
            "dynamic height",
            |m| {
                let input = &mut graph_of(m).input[0];
                let dims =
                    &mut input.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().shape.as_mut().unwrap().dim;
                dims[2].dim_value = None;
                dims[2].dim_param = Some("H".into());
            },
            "fixed H and W",
        ),
        (
            "colour input",
            |m| {
                let input = &mut graph_of(m).input[0];
                input.r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().shape.as_mut().unwrap().dim[1].dim_value =
                    Some(3);
            },
            "3 channels, but the app draws grey single-channel models only; run it with `tilelab run",
        ),
        ("data length", |m| graph_of(m).initializer[2].dims = vec![3, 25], "tensor 'fc.weight'"),
        ("mismatched shapes", |m| graph_of(m).initializer[2].dims = vec![3, 12, 2], "B must be 2-D"),
        ("huge dims", |m| graph_of(m).initializer[0].dims = vec![1 << 20, 1 << 20, 1, 1], "limit"),
        ("negative dims", |m| graph_of(m).initializer[0].dims = vec![-2, 1, 2, 2], "negative"),
        ("no output", |m| graph_of(m).output.clear(), "no output"),
    ];
    for (what, breaker, needle) in cases {
        let mut model = small_graph().to_model();
        breaker(&mut model);
        let error = load(&model).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(needle), "{what}: '{error}' should mention '{needle}'");
    }
}

#[test]
fn truncated_and_garbage_files_never_panic() {
    let bytes = small_graph().to_model().encode_to_vec();
    for cut in (0..bytes.len()).step_by(7) {
        let _ = OnnxModel::from_bytes(&bytes[..cut], None);
    }
    let mut garbage = bytes.clone();
    for (i, b) in garbage.iter_mut().enumerate().filter(|(i, _)| i % 13 == 5) {
        *b = b.wrapping_mul(31).wrapping_add(i as u8);
    }
    let _ = OnnxModel::from_bytes(&garbage, None);
    // Many big tensors all pointing at one external file would exceed memory: refused by count first.
    let mut many = small_graph().to_model();
    let big = TensorProto { dims: vec![1 << 27], data_type: Some(DATA_TYPE_FLOAT), ..TensorProto::default() };
    graph_of(&mut many)
        .initializer
        .extend((0..5).map(|i| TensorProto { name: Some(format!("big{i}")), ..big.clone() }));
    assert!(matches!(load(&many), Err(ImportError::TooManyWeights)));
    assert!(matches!(OnnxModel::from_bytes(&[0xff; 16], None), Err(ImportError::Decode(_))));
    // 300 subgraphs nested through NodeProto.attribute → AttributeProto.g → GraphProto.node: the
    // subgraph field is not declared, so prost skips it without recursing, and the node is refused.
    let wrap = |tag: u8, inner: Vec<u8>| {
        let mut out = vec![tag];
        prost::encoding::encode_varint(inner.len() as u64, &mut out);
        out.extend(inner);
        out
    };
    let mut graph = Vec::new();
    for _ in 0..300 {
        graph = wrap(0x0a, wrap(0x2a, wrap(0x32, graph)));
    }
    let error = OnnxModel::from_bytes(&wrap(0x3a, graph), None).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("no operator type"), "{error}");
}

fn external(location: &str, offset: &str, length: &str) -> Vec<StringStringEntryProto> {
    [("location", location), ("offset", offset), ("length", length)]
        .iter()
        .map(|(k, v)| StringStringEntryProto { key: Some((*k).into()), value: Some((*v).into()) })
        .collect()
}

#[test]
fn external_data_is_read_beside_the_model_and_nowhere_else() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("model");
    std::fs::create_dir(&folder).unwrap();
    let mut model = small_graph().to_model();
    let weight = &mut graph_of(&mut model).initializer[0];
    let raw = weight.raw_data.take().unwrap();
    let mut data = vec![7u8; 16];
    data.extend(&raw);
    std::fs::write(folder.join("model.onnx.data"), &data).unwrap();
    std::fs::write(dir.path().join("secret.data"), &data).unwrap();
    let with = |location: &str, offset: &str, length: &str| {
        let mut m = model.clone();
        let w = &mut graph_of(&mut m).initializer[0];
        w.data_location = Some(DATA_LOCATION_EXTERNAL);
        w.external_data = external(location, offset, length);
        std::fs::write(folder.join("model.onnx"), m.encode_to_vec()).unwrap();
        OnnxModel::load(&folder.join("model.onnx"))
    };
    let good = with("model.onnx.data", "16", "32").unwrap();
    let inline = load(&small_graph().to_model()).unwrap();
    let image = ndarray::Array2::from_shape_fn((4, 5), |(y, x)| (y + x) as f32 / 9.0);
    assert_eq!(good.logits(image.view()).unwrap(), inline.logits(image.view()).unwrap());
    for (location, offset, length, needle) in [
        ("../secret.data", "16", "32", "leaves the model's folder"),
        ("/etc/passwd", "0", "32", "leaves the model's folder"),
        ("model.onnx.data", "40", "32", "beyond the end"),
        ("model.onnx.data", "16", "8", "the shape needs 32"),
        ("missing.data", "0", "32", "missing.data"),
        ("model.onnx.data", "x", "32", "not a number"),
    ] {
        let error = with(location, offset, length).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains(needle), "{location} {offset} {length}: '{error}'");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(dir.path().join("secret.data"), folder.join("link.data")).unwrap();
        let error = with("link.data", "16", "32").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("outside the model's folder"), "symlinks out are refused: {error}");
    }
    let mut m = model.clone();
    graph_of(&mut m).initializer[0].data_location = Some(DATA_LOCATION_EXTERNAL);
    graph_of(&mut m).initializer[0].external_data = external("model.onnx.data", "16", "32");
    assert!(load(&m).err().map(|e| e.to_string()).unwrap_or_default().contains("not read from a file"));
}

#[test]
fn constant_nodes_feed_reshape_and_the_logits_output_is_preferred() {
    let mut graph = ExportGraph::new("reshape", (2, 3));
    let scale = graph.weight("scale", vec![1], TensorData::F32(vec![2.0]));
    let doubled = graph.node("Mul", &["image", &scale], "doubled", vec![]);
    graph.nodes.push(crate::core::interop::graph::ExportNode {
        op: "Constant",
        name: "shape".into(),
        inputs: vec![],
        outputs: vec!["shape".into()],
        attributes: vec![("value_ints", AttrValue::Ints(vec![1, -1]))],
    });
    graph.node("Reshape", &[&doubled, "shape"], "logits", vec![]);
    graph.outputs.push(GraphOutput { name: "doubled".into(), dims: vec![1, 2, 3] });
    graph.outputs.push(GraphOutput { name: "logits".into(), dims: vec![6] });
    let mut model = graph.to_model();
    // The builder writes attribute names only; Constant reads `value_ints` by name.
    let node = graph_of(&mut model).node.iter_mut().find(|n| n.op_type.as_deref() == Some("Constant")).unwrap();
    node.attribute[0].ints = vec![1, -1];
    let model = load(&model).unwrap();
    assert_eq!(model.output_name(), "logits");
    let image = ndarray::array![[0.0, 0.5, 1.0], [0.25, 0.75, 0.1]];
    assert_eq!(model.logits(image.view()).unwrap(), vec![0.0, 1.0, 2.0, 0.5, 1.5, 0.2]);
}

/// One random node over the values made so far: a supported operator with attributes and weights
/// drawn small, sometimes absurd (a group that does not divide, huge strides, negative axes).
fn random_node(rng: &mut ChaCha8Rng, graph: &mut ExportGraph, values: &[String], step: usize) -> String {
    let pick = |rng: &mut ChaCha8Rng| values[rng.random_range(0..values.len())].clone();
    let small = |rng: &mut ChaCha8Rng| rng.random_range(-2i64..5);
    let x = pick(rng);
    let out = format!("v{step}");
    let channels = rng.random_range(1usize..5);
    let kernel = rng.random_range(1usize..4);
    let weight = |graph: &mut ExportGraph, rng: &mut ChaCha8Rng, dims: Vec<usize>| {
        let data = (0..dims.iter().product()).map(|_| rng.random_range(-1.0..1.0f32)).collect();
        graph.weight(&format!("w{step}"), dims, TensorData::F32(data))
    };
    match rng.random_range(0..16) {
        0 | 1 => {
            let group = rng.random_range(1usize..4);
            let w = weight(graph, rng, vec![channels * group, channels, kernel, kernel]);
            let attributes = vec![
                ("group", AttrValue::Int(group as i64)),
                ("strides", AttrValue::Ints(vec![small(rng).max(1); 2])),
                ("pads", AttrValue::Ints(vec![small(rng); 4])),
            ];
            graph.node("Conv", &[&x, &w], &out, attributes)
        }
        2 => {
            let w = weight(graph, rng, vec![channels, channels, kernel, kernel]);
            let strides = AttrValue::Ints(vec![if rng.random_bool(0.1) { 1 << 40 } else { small(rng).max(1) }; 2]);
            graph.node("ConvTranspose", &[&x, &w], &out, vec![("strides", strides)])
        }
        3 => graph.node("Concat", &[&x, &pick(rng)], &out, vec![("axis", AttrValue::Int(small(rng)))]),
        4 => graph.node(
            ["Sub", "Div", "Pow", "Max", "Min", "Sum"][rng.random_range(0..6)],
            &[&x, &pick(rng)],
            &out,
            vec![],
        ),
        5 => graph.node("Transpose", &[&x], &out, vec![("perm", AttrValue::Ints(vec![0, 1, 3, 2]))]),
        6 => graph.node("Unsqueeze", &[&x], &out, vec![("axes", AttrValue::Ints(vec![small(rng)]))]),
        7 => graph.node("Squeeze", &[&x], &out, vec![("axes", AttrValue::Ints(vec![small(rng)]))]),
        8 => {
            let shape = graph.node("Shape", &[&x], &format!("s{step}"), vec![]);
            let index = graph.weight(&format!("i{step}"), vec![], TensorData::I64(vec![small(rng)]));
            let gathered = graph.node("Gather", &[&shape, &index], &format!("g{step}"), vec![]);
            let batch =
                graph.node("Unsqueeze", &[&gathered], &format!("u{step}"), vec![("axes", AttrValue::Ints(vec![0]))]);
            let rest = graph.weight(&format!("r{step}"), vec![1], TensorData::I64(vec![small(rng)]));
            let target = graph.node("Concat", &[&batch, &rest], &format!("t{step}"), vec![("axis", AttrValue::Int(0))]);
            graph.node("Reshape", &[&x, &target], &out, vec![])
        }
        9 => graph.node("LRN", &[&x], &out, vec![("size", AttrValue::Int(small(rng)))]),
        10 => graph.node("Clip", &[&x], &out, vec![("min", AttrValue::Float(0.0)), ("max", AttrValue::Float(6.0))]),
        11 => {
            let scales = graph.weight(&format!("sc{step}"), vec![4], TensorData::F32(vec![1.0, 1.0, 2.0, 2.0]));
            graph.node("Upsample", &[&x, &scales], &out, vec![])
        }
        12 => graph.node("MaxPool", &[&x], &out, vec![("kernel_shape", AttrValue::Ints(vec![kernel as i64; 2]))]),
        13 => graph.node(
            ["Elu", "Selu", "Softplus", "HardSigmoid", "HardSwish", "Sqrt", "Exp"][rng.random_range(0..7)],
            &[&x],
            &out,
            vec![],
        ),
        14 => graph.node("Split", &[&x], &out, vec![("axis", AttrValue::Int(small(rng)))]),
        _ => graph.node("Add", &[&x, &pick(rng)], &out, vec![]),
    }
}

/// Structure-aware fuzzing: random small graphs of the supported operators load and run, or are
/// refused with a message naming the node; none panics.
#[test]
fn random_graphs_of_supported_operators_never_panic() {
    let (mut loaded, mut refused) = (0, 0);
    for seed in 0..400 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut graph = ExportGraph::new("random", (rng.random_range(1..9), rng.random_range(1..9)));
        let mut values = vec!["image".to_owned()];
        for step in 0..rng.random_range(1..7) {
            values.push(random_node(&mut rng, &mut graph, &values, step));
        }
        let last = values.last().cloned().unwrap_or_default();
        graph.node("Flatten", &[&last], "logits", vec![]);
        graph.outputs.push(GraphOutput { name: "logits".into(), dims: vec![1] });
        match OnnxModel::from_bytes(&graph.onnx_bytes(), None) {
            Ok(model) => {
                loaded += 1;
                let image = ndarray::Array2::from_elem(model.input_size(), 0.5);
                assert_eq!(model.logits(image.view()).map(|l| l.len()).ok(), Some(model.classes()), "seed {seed}");
            }
            Err(error) => {
                refused += 1;
                assert!(!error.to_string().is_empty(), "seed {seed}");
            }
        }
    }
    assert!(loaded > 20 && refused > 20, "{loaded} loaded and {refused} refused: both kinds must be reached");
}
