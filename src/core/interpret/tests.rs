//! Tests of the interpretability methods: every gradient against central finite differences,
//! recovery of the constructed detectors' tiles (the headline), the scores on hand-made
//! maps, and the errors for bad input.

use ndarray::{Array2, array, s};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

mod whole_layers;
use crate::core::construct::{Constructed, build_n1, build_n2};
use crate::core::dataset::Placement;
use crate::core::interop::graph::{AttrValue, ExportGraph, GraphOutput};
use crate::core::interop::onnx_export::{ConstructedKind, export_cnn, export_constructed};
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::interop::tensor::TensorData;
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::nn::sparse::Shape;
use crate::core::tile::{ClassSet, Tile, TileId, single_tile_object};

/// Two tiles whose support values (and 0) the test images keep away from, so that no `ReLU` or
/// absolute value sits on a kink within the finite-difference step.
fn two_tiles() -> ClassSet {
    let square = Tile::from_values(array![[0.2, 0.8], [0.6, 0.4]], 0.5).unwrap();
    let mut corner = Tile::from_values(array![[0.9, 0.3, 0.7], [0.5, 0.1, 0.3], [0.7, 0.9, 0.5]], 0.6).unwrap();
    corner.set_pixel(1, 1, 0.0, false).unwrap();
    ClassSet { classes: vec![single_tile_object("square", square), single_tile_object("corner", corner)] }
}

const KINKS: [f32; 7] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6];

/// Random pixels at least 0.02 from every tile value, with `square` pasted (+0.02) at (1, 2).
fn test_image(seed: u64, size: (usize, usize)) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut image = Array2::from_shape_simple_fn(size, || {
        let kink = KINKS[rng.random_range(0..KINKS.len())] + if rng.random::<bool>() { 0.7 } else { 0.0 };
        (kink + rng.random_range(0.02..0.08f32)).min(0.98)
    });
    image.slice_mut(s![1..3, 2..4]).assign(&(array![[0.2, 0.8], [0.6, 0.4]] + 0.02));
    image
}

/// Central differences of the unit's pre-activation.
fn finite_differences(gradient: &UnitGradient, image: &Array2<f32>, h: f32) -> Array2<f32> {
    Array2::from_shape_fn(image.dim(), |(y, x)| {
        let (mut up, mut down) = (image.clone(), image.clone());
        up[[y, x]] += h;
        down[[y, x]] -= h;
        (gradient.at(up.view()).unwrap().0 - gradient.at(down.view()).unwrap().0) / (2.0 * h)
    })
}

fn assert_gradient_matches(gradient: &UnitGradient, image: &Array2<f32>) {
    let (_, analytic) = gradient.at(image.view()).unwrap();
    let numeric = finite_differences(gradient, image, 5e-3);
    let scale = numeric.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for ((at, a), n) in analytic.indexed_iter().zip(&numeric) {
        assert!(
            (a - n).abs() <= 2e-2 * scale,
            "unit {:?} at {at:?}: backward {a}, finite differences {n}",
            gradient.unit()
        );
    }
}

fn networks(size: (usize, usize)) -> Vec<Constructed> {
    let classes = two_tiles();
    vec![build_n1(&classes, size.0, size.1).unwrap(), build_n2(&classes, size.0, size.1).unwrap()]
}

#[test]
fn sparse_gradients_match_finite_differences_in_every_layer() {
    let image = test_image(1, (7, 8));
    for built in networks((7, 8)) {
        let model = Model::Sparse(&built.network);
        for (layer, shape) in built.network.shapes().iter().enumerate() {
            for index in [0, shape.len() / 2, shape.len() - 1] {
                let gradient = UnitGradient::new(model, Unit { layer, index }).unwrap();
                assert_gradient_matches(&gradient, &image);
            }
        }
        for class in 0..2 {
            let gradient = model.class_gradient(class).unwrap();
            assert_gradient_matches(&gradient, &image);
        }
    }
}

/// Uniform random pixels: the receptive-field pass must equal the whole-layer pass on any image.
fn random_image(seed: u64, size: (usize, usize)) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn(size, || rng.random::<f32>())
}

#[test]
fn receptive_field_gradients_equal_whole_layer_gradients_exactly() {
    let size = (9, 11);
    let images: Vec<Array2<f32>> =
        (0..4).map(|seed| random_image(seed, size)).chain([test_image(9, size), Array2::zeros(size)]).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(10);
    for built in networks(size) {
        let model = Model::Sparse(&built.network);
        for (layer, shape) in built.network.shapes().iter().enumerate() {
            let indices = [0, shape.len() - 1, rng.random_range(0..shape.len()), rng.random_range(0..shape.len())];
            for index in indices {
                let unit = Unit { layer, index };
                let gradient = UnitGradient::new(model, unit).unwrap();
                for image in &images {
                    let fast = gradient.at(image.view()).unwrap();
                    let whole = whole_layers::whole_layer_gradient(&built.network, image.view(), unit);
                    assert_eq!(fast.0.to_bits(), whole.0.to_bits(), "value of {unit:?}");
                    assert_eq!(fast.1, whole.1, "gradient of {unit:?}");
                }
            }
        }
    }
}

#[test]
fn integrated_gradients_in_parallel_equal_the_sum_one_point_after_another() {
    let built = build_n2(&two_tiles(), 7, 8).unwrap();
    let model = Model::Sparse(&built.network);
    let image = test_image(11, (7, 8));
    let steps = 37;
    let gradient = model.class_gradient(0).unwrap();
    let mut sum = Array2::<f32>::zeros((7, 8));
    for k in 1..=steps {
        #[allow(clippy::cast_precision_loss)]
        let alpha = k as f32 / steps as f32;
        sum += &gradient.at(image.mapv(|x| alpha * x).view()).unwrap().1;
    }
    #[allow(clippy::cast_precision_loss)]
    let expected = sum / steps as f32 * &image;
    let ig =
        attribute(&model, image.view(), 0, Method::IntegratedGradients { steps, baseline: Baseline::Black }).unwrap();
    assert_eq!(ig, expected);
}

#[test]
fn the_pre_activation_of_the_last_layer_is_the_logit() {
    let image = test_image(2, (7, 8));
    for built in networks((7, 8)) {
        let model = Model::Sparse(&built.network);
        let logits = built.network.logits(image.view()).unwrap();
        assert!(logits[0] > 0.0, "the pasted square is found");
        for (class, &logit) in logits.iter().enumerate() {
            let (value, gradient) = model.class_gradient(class).unwrap().at(image.view()).unwrap();
            assert!((value - logit).abs() <= 1e-4 * logit.abs().max(1.0), "{value} vs {logit}");
            assert_eq!(gradient.iter().any(|g| *g != 0.0), class == 0, "only the present class has a gradient");
        }
    }
}

#[test]
fn trained_cnn_gradients_match_finite_differences() {
    let cnn = Cnn::new(CnnSpec { height: 6, width: 7, kernel: 3, filters: 4, classes: 3 }, 5).unwrap();
    let network = cnn.to_network();
    let model = Model::Dense { network: &network, input: (6, 7) };
    let image = test_image(3, (6, 7));
    for unit in [Unit { layer: 0, index: 7 }, Unit { layer: 1, index: 30 }, Unit { layer: 3, index: 2 }] {
        assert_gradient_matches(&UnitGradient::new(model, unit).unwrap(), &image);
    }
    let logits = model.logits(image.view()).unwrap();
    let (value, _) = model.class_gradient(1).unwrap().at(image.view()).unwrap();
    assert!((value - logits[1]).abs() < 1e-5);
}

fn middle_window(built: &Constructed, tile: usize) -> ((usize, usize), Unit) {
    let detector = &built.detectors.tiles[tile];
    let window = (detector.valid.0 / 2, detector.valid.1 / 2);
    let index = detector.unit(window.0, window.1).unwrap();
    (window, Unit { layer: built.detectors.layer, index })
}

#[test]
fn every_detector_of_n1_and_n2_recovers_its_tile() {
    let classes = two_tiles();
    for built in networks((9, 10)) {
        for (t, (_, tile)) in classes.tiles().enumerate() {
            let (window, unit) = middle_window(&built, t);
            let gradient = UnitGradient::new(Model::Sparse(&built.network), unit).unwrap();
            let found = preferred(&gradient, &AscentOptions::default(), &mut |_| {}).unwrap();
            assert!(found.image.iter().all(|v| (0.0..=1.0).contains(v)));
            let score = recovery(tile, found.image.view(), window).unwrap();
            assert!(score.recovered, "tile {t}: d_T = {} ≥ ε = {}", score.distance, score.epsilon);
            assert!(found.value > 0.0, "the detector fires on its preferred stimulus");
            // The tile is found at the unit's window only, not one pixel off.
            let beside = recovery(tile, found.image.view(), (window.0, window.1 + 1)).unwrap();
            assert!(!beside.recovered);
        }
    }
}

#[test]
fn n2_block_channels_recover_their_blocks_when_their_distance_is_minimised() {
    let classes = two_tiles();
    let built = build_n2(&classes, 9, 10).unwrap();
    let options = AscentOptions { goal: Goal::Minimise, ..AscentOptions::default() };
    for level in &built.blocks {
        let Shape::Map { rows, cols, .. } = built.network.shapes()[level.layer] else { panic!("a map") };
        for channel in 0..level.channels.len() {
            let window = (rows / 2, cols / 2);
            let index = (channel * rows + window.0) * cols + window.1;
            let gradient =
                UnitGradient::new(Model::Sparse(&built.network), Unit { layer: level.layer, index }).unwrap();
            let found = preferred(&gradient, &options, &mut |_| {}).unwrap();
            let score = block_recovery(&classes, level, channel, found.image.view(), window).unwrap();
            assert!(score.recovered, "layer {} channel {channel}: {score:?}", level.layer);
            assert!((score.distance - found.value).abs() < 1e-3, "the unit is the block's distance");
        }
    }
}

#[test]
fn regularisers_keep_the_stimulus_in_range_and_report_progress() {
    let built = build_n2(&two_tiles(), 9, 10).unwrap();
    let (_, unit) = middle_window(&built, 0);
    let gradient = UnitGradient::new(Model::Sparse(&built.network), unit).unwrap();
    let options = AscentOptions { steps: 40, jitter: 1, blur: 0.3, l2: 0.1, ..AscentOptions::default() };
    let mut heard = Vec::new();
    let found = preferred(&gradient, &options, &mut |p| heard.push(p)).unwrap();
    assert!(found.image.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(heard.len(), 40);
    assert!((heard[39] - 1.0).abs() < 1e-6);
    let plain = preferred(&gradient, &AscentOptions { steps: 40, ..AscentOptions::default() }, &mut |_| {}).unwrap();
    assert_ne!(found.image, plain.image, "the regularisers change the result");
}

#[test]
fn gradient_times_input_and_integrated_gradients_follow_their_formulas() {
    let built = build_n2(&two_tiles(), 7, 8).unwrap();
    let model = Model::Sparse(&built.network);
    let image = test_image(4, (7, 8));
    let gradient = attribute(&model, image.view(), 0, Method::Gradient).unwrap();
    let times_input = attribute(&model, image.view(), 0, Method::GradientTimesInput).unwrap();
    assert_eq!(times_input, &gradient * &image);
    // Completeness: integrated gradients add up to z(x) − z(baseline).
    for baseline in [Baseline::Black, Baseline::Grey(0.45)] {
        let method = Method::IntegratedGradients { steps: 400, baseline };
        let ig = attribute(&model, image.view(), 0, method).unwrap();
        let reference = Array2::from_elem((7, 8), if let Baseline::Grey(g) = baseline { g } else { 0.0 });
        let change = model.logits(image.view()).unwrap()[0] - model.logits(reference.view()).unwrap()[0];
        assert!((ig.sum() - change).abs() <= 0.02 * change.abs().max(1.0), "{} vs {change}", ig.sum());
    }
}

fn square_placement() -> Vec<Placement> {
    vec![Placement { tile: TileId { class: 0, feature: 0, tile: 0 }, row: 1, col: 2, rows: 2, cols: 2 }]
}

#[test]
fn attributions_of_the_constructed_networks_point_at_the_pasted_tile() {
    let image = test_image(5, (7, 8));
    for built in networks((7, 8)) {
        let model = Model::Sparse(&built.network);
        // Integrated gradients are left out: on the path from black, dimmed copies of the image
        // match the tiles in other windows, so their attribution spreads (completeness is tested).
        for method in
            [Method::Gradient, Method::GradientTimesInput, Method::Occlusion { patch: 2, baseline: Baseline::Black }]
        {
            let map = attribute(&model, image.view(), 0, method).unwrap();
            assert!(pointing_game(map.view(), &square_placement()), "{}: {map:?}", method.name());
            if !matches!(method, Method::Occlusion { .. }) {
                let mass = mass_in_window(map.view(), &square_placement());
                assert!((mass - 1.0).abs() < 1e-6, "{}: the detector reads only its window ({mass})", method.name());
            }
        }
    }
}

#[test]
fn occlusion_is_the_mean_logit_drop_of_the_patches_covering_a_pixel() {
    let built = build_n1(&two_tiles(), 7, 8).unwrap();
    let model = Model::Sparse(&built.network);
    let image = test_image(6, (7, 8));
    let map =
        attribute(&model, image.view(), 0, Method::Occlusion { patch: 7, baseline: Baseline::Grey(0.5) }).unwrap();
    // 7-pixel patches in a 7×8 image: two patches, columns 0–6 and 1–7; column 0 sees only the first.
    let logit = model.logits(image.view()).unwrap()[0];
    let mut occluded = image.clone();
    occluded.slice_mut(s![.., 0..7]).fill(0.5);
    let first = logit - model.logits(occluded.view()).unwrap()[0];
    assert!((map[[3, 0]] - first).abs() < 1e-5);
}

#[test]
fn scores_on_hand_made_maps() {
    let placements = square_placement();
    let mut map = Array2::zeros((7, 8));
    assert!(!pointing_game(map.view(), &placements), "a zero map points nowhere");
    assert!(mass_in_window(map.view(), &placements).abs() < f32::EPSILON);
    map[[2, 3]] = -3.0;
    map[[6, 7]] = 1.0;
    assert!(pointing_game(map.view(), &placements), "the largest absolute value is inside");
    assert!((mass_in_window(map.view(), &placements) - 0.75).abs() < 1e-6);
    map[[0, 0]] = 5.0;
    assert!(!pointing_game(map.view(), &placements));
    assert!((mass_in_window(map.view(), &placements) - 3.0 / 9.0).abs() < 1e-6);

    let tile = Tile::from_values(array![[0.2, 0.8], [0.6, 0.4]], 0.5).unwrap();
    let mut stimulus = Array2::from_elem((5, 5), 0.5);
    stimulus.slice_mut(s![2..4, 1..3]).assign(&array![[0.3, 0.8], [0.6, 0.4]]);
    let score = recovery(&tile, stimulus.view(), (2, 1)).unwrap();
    assert!((score.distance - 0.1).abs() < 1e-6 && score.recovered);
    assert!(!recovery(&tile, stimulus.view(), (1, 1)).unwrap().recovered);
    assert!(recovery(&tile, stimulus.view(), (4, 4)).is_err(), "a window past the border");
}

#[test]
fn top_examples_are_the_images_that_drive_a_unit_hardest() {
    let built = build_n2(&two_tiles(), 7, 8).unwrap();
    let model = Model::Sparse(&built.network);
    let with_square = test_image(7, (7, 8));
    let mut without = with_square.clone();
    without.slice_mut(s![1..3, 2..4]).fill(0.95);
    let images = vec![without, with_square];
    let channel = built.detectors.tiles[0].channel.unwrap();
    let top = top_examples(&model, &images, built.detectors.layer, channel, 1).unwrap();
    assert_eq!(top.len(), 1);
    assert_eq!((top[0].sample, top[0].window), (1, Some((1, 2))));
    assert!(top[0].activation > 0.0);
    let too_far = top_examples(&model, &images, built.detectors.layer, 99, 1);
    assert!(matches!(too_far, Err(InterpretError::NoUnit { .. })));
}

#[test]
fn bad_requests_are_typed_errors() {
    let built = build_n2(&two_tiles(), 7, 8).unwrap();
    let model = Model::Sparse(&built.network);
    let layers = built.network.layers().len();
    assert!(matches!(UnitGradient::new(model, Unit { layer: layers, index: 0 }), Err(InterpretError::NoLayer { .. })));
    assert!(matches!(UnitGradient::new(model, Unit { layer: 1, index: 1 << 40 }), Err(InterpretError::NoUnit { .. })));
    assert!(matches!(model.class_gradient(2), Err(InterpretError::NoClass { class: 2, classes: 2 })));
    assert!(matches!("saliency".parse::<Method>(), Err(InterpretError::UnknownMethod(_))));
    let image = test_image(8, (7, 8));
    let gradient = model.class_gradient(0).unwrap();
    for steps in [0, 1_000_000_000] {
        let options = AscentOptions { steps, ..AscentOptions::default() };
        assert!(matches!(preferred(&gradient, &options, &mut |_| {}), Err(InterpretError::OutOfRange { .. })));
        let method = Method::IntegratedGradients { steps, baseline: Baseline::Black };
        assert!(matches!(attribute(&model, image.view(), 0, method), Err(InterpretError::OutOfRange { .. })));
    }
    let nan = AscentOptions { step_size: f32::NAN, ..AscentOptions::default() };
    assert!(matches!(preferred(&gradient, &nan, &mut |_| {}), Err(InterpretError::NotFinite(_))));
    let nan_baseline = Method::IntegratedGradients { steps: 5, baseline: Baseline::Grey(f32::NAN) };
    assert!(matches!(attribute(&model, image.view(), 0, nan_baseline), Err(InterpretError::NotFinite(_))));
    let big_patch = Method::Occlusion { patch: 8, baseline: Baseline::Black };
    assert!(matches!(attribute(&model, image.view(), 0, big_patch), Err(InterpretError::OutOfRange { .. })));
    let small = Array2::zeros((3, 3));
    assert!(matches!(attribute(&model, small.view(), 0, Method::Gradient), Err(InterpretError::InputSize { .. })));
    let message = InterpretError::NoBackward { operators: "Conv, Relu".into() }.to_string();
    assert!(message.contains("Conv, Relu") && message.contains("occlusion"));
}

fn onnx_of(graph: &ExportGraph) -> OnnxModel {
    OnnxModel::from_bytes(&graph.onnx_bytes(), None).unwrap()
}

fn assert_close_gradients(a: &UnitGradient, b: &UnitGradient, image: &Array2<f32>) {
    let ((value_a, grad_a), (value_b, grad_b)) = (a.at(image.view()).unwrap(), b.at(image.view()).unwrap());
    assert!((value_a - value_b).abs() <= 1e-4 * value_b.abs().max(1.0), "values {value_a} vs {value_b}");
    let scale = grad_b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for ((at, x), y) in grad_a.indexed_iter().zip(&grad_b) {
        assert!((x - y).abs() <= 1e-4 * scale, "at {at:?}: {x} vs {y}");
    }
}

#[test]
fn onnx_gradients_equal_the_native_ones_of_the_same_networks() {
    let cnn = Cnn::new(CnnSpec { height: 6, width: 7, kernel: 3, filters: 4, classes: 3 }, 5).unwrap();
    let network = cnn.to_network();
    let names: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
    let onnx = onnx_of(&export_cnn(&cnn, &names).unwrap());
    let (native, imported) = (Model::Dense { network: &network, input: (6, 7) }, Model::Onnx(&onnx));
    let image = test_image(12, (6, 7));
    for class in 0..3 {
        assert_close_gradients(
            &imported.class_gradient(class).unwrap(),
            &native.class_gradient(class).unwrap(),
            &image,
        );
    }
    let classes = two_tiles();
    for (kind, built) in [ConstructedKind::N1, ConstructedKind::N2].into_iter().zip(networks((7, 8))) {
        let onnx = onnx_of(&export_constructed(kind, &built, &classes).unwrap());
        let (native, imported) = (Model::Sparse(&built.network), Model::Onnx(&onnx));
        for class in 0..2 {
            let onnx_gradient = imported.class_gradient(class).unwrap();
            assert_close_gradients(&onnx_gradient, &native.class_gradient(class).unwrap(), &image_of(&built));
        }
    }
}

fn image_of(built: &Constructed) -> Array2<f32> {
    test_image(13, built.network.input())
}

#[test]
fn onnx_gradients_match_finite_differences_in_every_layer() {
    // The network and image of `trained_cnn_gradients_match_finite_differences`: no unit on a kink.
    let cnn = Cnn::new(CnnSpec { height: 6, width: 7, kernel: 3, filters: 4, classes: 3 }, 5).unwrap();
    let onnx = onnx_of(&export_cnn(&cnn, &["a", "b", "c"].map(String::from)).unwrap());
    let model = Model::Onnx(&onnx);
    let image = test_image(3, (6, 7));
    for (layer, node) in onnx.nodes().iter().enumerate() {
        let units = onnx.run(image.view()).unwrap().get(&node.output).unwrap().len();
        for index in [0, units / 2, units - 1] {
            assert_gradient_matches(&UnitGradient::new(model, Unit { layer, index }).unwrap(), &image);
        }
    }
    let too_far = UnitGradient::new(model, Unit { layer: onnx.nodes().len(), index: 0 });
    assert!(matches!(too_far, Err(InterpretError::NoLayer { .. })));
}

#[test]
fn onnx_operators_without_a_backward_pass_are_named_and_occlusion_still_runs() {
    // image → Conv → LRN → Flatten → Gemm → logits, and a Softmax of the logits beside them.
    let mut graph = ExportGraph::new("lrn", (4, 5));
    let w = graph.weight("w", vec![2, 1, 2, 2], TensorData::F32(vec![1.0, -1.0, 0.5, 0.25, 0.0, 2.0, -0.5, 1.0]));
    let conv = graph.node("Conv", &["image", &w], "conv", vec![("kernel_shape", AttrValue::Ints(vec![2, 2]))]);
    let lrn = graph.node("LRN", &[&conv], "lrn", vec![("size", AttrValue::Int(3))]);
    let flat = graph.node("Flatten", &[&lrn], "flat", vec![("axis", AttrValue::Int(1))]);
    let fc = graph.weight("fc", vec![24, 2], TensorData::F32((0..48).map(|i| (i % 5) as f32 / 5.0 - 0.4).collect()));
    let logits = graph.node("MatMul", &[&flat, &fc], "logits", vec![]);
    graph.node("Softmax", &[&logits], "probabilities", vec![("axis", AttrValue::Int(1))]);
    graph.outputs.push(GraphOutput { name: "logits".into(), dims: vec![2] });
    graph.outputs.push(GraphOutput { name: "probabilities".into(), dims: vec![2] });
    let onnx = onnx_of(&graph);
    let model = Model::Onnx(&onnx);
    let image = test_image(15, (4, 5));
    let refused = model.class_gradient(0).unwrap_err();
    assert_eq!(refused, InterpretError::NoBackward { operators: "LRN".into() }, "only the operator on the path");
    assert!(refused.to_string().contains("occlusion"));
    assert_eq!(attribute(&model, image.view(), 0, Method::Gradient).unwrap_err(), refused);
    let occlusion =
        attribute(&model, image.view(), 0, Method::Occlusion { patch: 2, baseline: Baseline::Black }).unwrap();
    assert!(occlusion.iter().any(|v| *v != 0.0));
    // The convolution before the LRN still has a gradient.
    assert_gradient_matches(&UnitGradient::new(model, Unit { layer: 0, index: 3 }).unwrap(), &image);
}
