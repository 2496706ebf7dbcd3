//! Round trips: tilelab's networks exported to ONNX, decoded again with the same prost structs and
//! run by the ONNX engine, against tilelab's own forward passes (every layer, 1e-4 relative).

use ndarray::{Array2, ArrayD};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::graph::ExportGraph;
use super::onnx_export::{ConstructedKind, MAX_EXPORT_PARAMETERS, export_cnn, export_constructed};
use super::onnx_import::OnnxModel;
use super::safetensors;
use super::tensor::TensorData;
use crate::core::construct::{build_n1, build_n2};
use crate::core::detect;
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::tile::ClassSet;

/// Two classes, one of them an object of two features (so the min-tree is exported too), one
/// tile with a partial support: the fixture `tests/interop.rs` uses too.
pub(crate) fn sample_classes() -> ClassSet {
    crate::core::tileset_file::from_json(include_str!("../../../tests/fixtures/two_classes.tileset.json"))
        .expect("the fixture is a valid tile set")
}

fn random_image(rng: &mut ChaCha8Rng, height: usize, width: usize) -> Array2<f32> {
    Array2::from_shape_fn((height, width), |_| rng.random_range(0.0..1.0f32))
}

/// `|a − b| ≤ 1e-4·max(1, |b|)` for every element.
fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{what}[{i}]: {g} vs {w}");
    }
}

fn reload(graph: &ExportGraph) -> OnnxModel {
    OnnxModel::from_bytes(&graph.onnx_bytes(), None).unwrap()
}

fn check_constructed(kind: ConstructedKind, height: usize, width: usize, seed: u64) {
    let classes = sample_classes();
    let built = match kind {
        ConstructedKind::N1 => build_n1(&classes, height, width).unwrap(),
        ConstructedKind::N2 => build_n2(&classes, height, width).unwrap(),
    };
    let graph = export_constructed(kind, &built, &classes).unwrap();
    let model = reload(&graph);
    assert_eq!(model.input_size(), (height, width));
    assert_eq!(model.output_name(), "logits");
    let names: Vec<&str> = graph.outputs.iter().map(|o| o.name.as_str()).collect();
    assert!(names.contains(&"detect") && names.contains(&"layer1") && names.last() == Some(&"logits"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..4 {
        let image = random_image(&mut rng, height, width);
        let trace = model.run(image.view()).unwrap();
        let activations = built.network.forward(image.view()).unwrap();
        // Every named output equals the sparse layer it stands for (pad layers have no output).
        let unpadded: Vec<_> = built
            .network
            .layers()
            .iter()
            .zip(&activations.layers)
            .filter(|(l, _)| !matches!(l.kind, crate::core::nn::sparse::LayerKind::Pad { .. }))
            .map(|(_, a)| a)
            .collect();
        assert_eq!(unpadded.len(), graph.outputs.len());
        for (output, activation) in graph.outputs.iter().zip(unpadded) {
            let got = trace.get(&output.name).unwrap();
            assert_eq!(&got.shape()[1..], output.dims.as_slice(), "{}", output.name);
            assert_close(got.as_slice().unwrap(), activation.as_slice(), &output.name);
        }
        assert_close(&trace.logits, &detect::logits(&classes, image.view()), "logits vs direct φ");
    }
}

#[test]
fn n2_round_trips_through_onnx_layer_by_layer() {
    check_constructed(ConstructedKind::N2, 11, 13, 1);
    check_constructed(ConstructedKind::N2, 3, 4, 2);
}

#[test]
fn small_n1_round_trips_through_onnx_layer_by_layer() {
    check_constructed(ConstructedKind::N1, 7, 6, 3);
}

#[test]
fn n2_head_uses_masked_sums_not_a_dense_map() {
    let classes = sample_classes();
    let built = build_n2(&classes, 30, 30).unwrap();
    let graph = export_constructed(ConstructedKind::N2, &built, &classes).unwrap();
    let ops: Vec<&str> = graph.nodes.iter().map(|n| n.op).collect();
    assert!(ops.contains(&"ReduceSum") && ops.contains(&"Mul") && ops.contains(&"Pad"));
    let mask = graph.weights.iter().find(|w| w.name.rsplit('.').next() == Some("mask")).unwrap();
    let TensorData::F32(values) = &mask.data else { panic!("the mask is float") };
    // The detection maps are 29×29 (the smallest tile is 2 wide); the mask keeps each tile's valid offsets.
    let ones: usize = values.iter().filter(|&&v| v == 1.0).count();
    let valid: usize = built.detectors.tiles.iter().map(|d| d.valid.0 * d.valid.1).sum();
    assert_eq!(ones, valid);
}

#[test]
fn n1_beyond_the_limit_is_refused_with_a_hint_to_n2() {
    let classes = sample_classes();
    let built = build_n1(&classes, 120, 120).unwrap();
    let needed: usize = built.network.report().iter().map(|r| r.params_dense).sum();
    assert!(needed > MAX_EXPORT_PARAMETERS);
    let error = export_constructed(ConstructedKind::N1, &built, &classes).unwrap_err().to_string();
    assert!(error.contains("export N2 instead") && error.contains("export limit"), "{error}");
    assert!(!error.contains("--"), "no command-line flag in a message the app shows: {error}");
    let n2 = build_n2(&classes, 120, 120).unwrap();
    assert!(export_constructed(ConstructedKind::N2, &n2, &classes).is_ok(), "N2 always exports");
}

#[test]
fn trained_cnn_round_trips_and_names_its_layers() {
    let spec = CnnSpec { height: 9, width: 8, kernel: 3, filters: 4, classes: 2 };
    let cnn = Cnn::new(spec, 7).unwrap();
    let names = vec!["square".to_owned(), "Bag".to_owned()];
    let graph = export_cnn(&cnn, &names).unwrap();
    let model = reload(&graph);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    for _ in 0..4 {
        let image = random_image(&mut rng, 9, 8);
        let trace = model.run(image.view()).unwrap();
        let activations = cnn.forward(image.view()).unwrap();
        assert_close(
            trace.get("layer1").unwrap().as_slice().unwrap(),
            activations.post_relu.as_slice().unwrap(),
            "layer1",
        );
        assert_close(&trace.logits, activations.logits.as_slice().unwrap(), "logits");
    }
    assert!(export_cnn(&cnn, &names[..1]).is_err(), "class count must match");
}

#[test]
fn safetensors_hold_the_onnx_weights_under_the_same_names() {
    let classes = sample_classes();
    let built = build_n2(&classes, 10, 10).unwrap();
    let graph = export_constructed(ConstructedKind::N2, &built, &classes).unwrap();
    let (tensors, metadata) = safetensors::from_bytes(&graph.safetensors_bytes().unwrap()).unwrap();
    assert_eq!(tensors.len(), graph.weights.len());
    let model = reload(&graph);
    for tensor in &tensors {
        let original = graph.weights.iter().find(|w| w.name == tensor.name).unwrap();
        assert_eq!(tensor, original);
        match (&tensor.data, model.constant(&tensor.name).unwrap()) {
            (TensorData::F32(v), super::ops::Value::F32(a)) => {
                assert_eq!(a, &ArrayD::from_shape_vec(tensor.dims.clone(), v.clone()).unwrap());
            }
            (TensorData::I64(v), super::ops::Value::I64(a)) => assert_eq!(a.iter().copied().collect::<Vec<_>>(), *v),
            _ => panic!("{}: types differ", tensor.name),
        }
    }
    assert_eq!(metadata["tilelab.network"], "n2");
    assert_eq!(metadata["tilelab.classes"], r#"["square","Bag"]"#);
}

#[test]
fn metadata_gives_one_meaning_per_unit_of_every_output() {
    let classes = sample_classes();
    let built = build_n2(&classes, 10, 10).unwrap();
    let graph = export_constructed(ConstructedKind::N2, &built, &classes).unwrap();
    let model = reload(&graph);
    let meta = |key: &str| model.metadata().iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap();
    let outputs: Vec<String> = serde_json::from_str(&meta("tilelab.outputs")).unwrap();
    assert_eq!(outputs, graph.outputs.iter().map(|o| o.name.clone()).collect::<Vec<_>>());
    for output in &graph.outputs {
        let layer: serde_json::Value = serde_json::from_str(&meta(&format!("tilelab.layer.{}", output.name))).unwrap();
        let meanings = layer["meanings"].as_array().unwrap();
        assert_eq!(meanings.len(), output.dims[0], "{}", output.name);
    }
    let valid: Vec<[usize; 2]> = serde_json::from_str(&meta("tilelab.detect.valid")).unwrap();
    assert_eq!(valid.len(), 3);
}

#[test]
fn fashion_scale_n2_round_trips_through_onnx() {
    let classes = crate::core::presets::fashion_three();
    let spec = crate::core::dataset::DatasetSpec {
        height: 40,
        width: 40,
        samples_per_class: 1,
        seed: 5,
        ..Default::default()
    };
    let images = crate::core::dataset::generate(&classes, &spec).unwrap().images();
    let built = build_n2(&classes, 40, 40).unwrap();
    let graph = export_constructed(ConstructedKind::N2, &built, &classes).unwrap();
    let model = reload(&graph);
    for image in &images {
        let want = detect::logits(&classes, image.view());
        assert_eq!(want.iter().filter(|&&v| v > 0.0).count(), 1, "a dataset image holds one class");
        assert_close(&model.logits(image.view()).unwrap(), &want, "logits");
    }
}
