//! Tests of N1 and N2 against the direct detectors (CONSTRUCTION.md §6).

use ndarray::{Array2, Array3, array, s};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::core::detect;
use crate::core::nn::sparse::{LayerKind, Shape};
use crate::core::tile::{Feature, Object, Tile, single_tile_object};
use crate::core::verify;

fn toy_squares() -> ClassSet {
    let black = Tile::filled(2, 2, 1.0, 0.5).unwrap();
    let white = Tile::filled(2, 2, 0.0, 0.5).unwrap();
    ClassSet { classes: vec![single_tile_object("black", black), single_tile_object("white", white)] }
}

fn assert_close(network: &[f32], direct: &[f32]) {
    let error = verify::max_relative_error(network, direct);
    assert!(error <= verify::TOLERANCE, "network {network:?} vs direct {direct:?} (error {error})");
}

fn check_both(classes: &ClassSet, image: &Array2<f32>) -> Vec<f32> {
    let (h, w) = image.dim();
    let direct = detect::logits(classes, image.view());
    for network in [build_n1(classes, h, w).unwrap(), build_n2(classes, h, w).unwrap()] {
        assert_close(&network.logits(image.view()).unwrap(), &direct);
        assert_eq!(verify::monosemantic_violations(classes, &network, image.view()).unwrap(), 0);
    }
    direct
}

#[test]
fn toy_squares_are_exact_on_hand_made_images() {
    let classes = toy_squares();
    let mut image = Array2::from_elem((4, 4), 0.5);
    image.slice_mut(s![2..4, 1..3]).fill(1.0);
    let direct = check_both(&classes, &image);
    assert!((direct[0] - 0.5).abs() < 1e-6 && direct[1] == 0.0);
    image.slice_mut(s![0..2, 0..2]).fill(0.0);
    let direct = check_both(&classes, &image);
    assert!(direct[0] > 0.0 && direct[1] > 0.0);
}

#[test]
fn n1_layers_follow_the_construction() {
    // Support values {0.25, 1} plus a zero in the support: 4·(2 + 1) = 12 filters.
    let tile = Tile::new(array![[0.25, 0.0], [1.0, 0.7]], array![[true, true], [true, false]], 0.3).unwrap();
    let classes = ClassSet { classes: vec![single_tile_object("t", tile)] };
    let n1 = build_n1(&classes, 5, 4).unwrap();
    let shapes = n1.network.shapes();
    assert_eq!(shapes[0], Shape::Map { channels: 12, rows: 4, cols: 3 });
    assert_eq!(shapes[1], Shape::Vector(4 * 3), "one neuron per window");
    assert_eq!(shapes[2], Shape::Vector(1));
    assert_eq!(n1.detectors.layer, 1);
    let report = filter_report(&n1, &classes);
    assert_eq!(report.filters, 12);
    assert_eq!(report.set_bound, 4 * (3 + 1));
    assert!(report.per_tile.iter().all(|t| t.read <= t.bound && t.read > 0));
    // Hidden neuron (window (1,2)) written out: σ(ε − (|x10 − .25| + x11 + |x20 − 1|)).
    let LayerKind::Dense(hidden) = &n1.network.layers()[1].kind else { panic!("hidden layer is dense") };
    let unit = n1.detectors.tiles[0].unit(1, 2).unwrap();
    assert!((hidden.bias_of(unit) - (0.3 - 1.25)).abs() < 1e-6);
    assert_eq!(hidden.weights_of(unit).count(), 5, "two filters per non-zero value, one for the zero");
}

#[test]
fn n1_filters_per_tile_stay_within_the_papers_bound() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for _ in 0..20 {
        let classes = verify::random_class_set(&mut rng, 6);
        let n1 = build_n1(&classes, 8, 9).unwrap();
        let report = filter_report(&n1, &classes);
        let distinct = DistinctValues::of(&classes).len();
        assert_eq!(report.filters, 4 * (distinct + 1));
        assert!(report.filters <= report.set_bound);
        for tile in &report.per_tile {
            assert!(tile.read <= tile.bound, "{tile:?}");
        }
    }
}

#[test]
fn n1_pads_one_pixel_wide_images() {
    let tile = Tile::from_values(array![[0.5], [1.0]], 0.2).unwrap();
    let classes = ClassSet { classes: vec![single_tile_object("bar", tile)] };
    let image = array![[0.1], [0.5], [1.0], [0.3]];
    let direct = check_both(&classes, &image);
    assert!((direct[0] - 0.2).abs() < 1e-6);
    let n1 = build_n1(&classes, 4, 1).unwrap();
    assert!(matches!(n1.network.layers()[0].kind, LayerKind::Pad { bottom: 0, right: 1 }));
    let row = Array2::from_shape_vec((1, 3), vec![0.5, 0.2, 0.9]).unwrap();
    let dot = ClassSet { classes: vec![single_tile_object("dot", Tile::filled(1, 1, 0.5, 0.1).unwrap())] };
    check_both(&dot, &row);
}

#[test]
fn objects_with_several_features_take_the_minimum() {
    let feature =
        |name: &str, value: f32| Feature { name: name.into(), tiles: vec![Tile::filled(1, 2, value, 0.15).unwrap()] };
    let three =
        Object { name: "three".into(), features: vec![feature("a", 1.0), feature("b", 0.5), feature("c", 0.0)] };
    let two = Object { name: "two".into(), features: vec![feature("a", 1.0), feature("d", 0.25)] };
    let one = single_tile_object("one", Tile::filled(2, 1, 0.75, 0.1).unwrap());
    let classes = ClassSet { classes: vec![three, two, one] };
    let mut image = Array2::from_elem((5, 6), 0.9);
    image.slice_mut(s![0, 0..2]).fill(1.0);
    image.slice_mut(s![2, 3..5]).fill(0.5);
    image.slice_mut(s![4, 0..2]).fill(0.0);
    let direct = check_both(&classes, &image);
    assert!(direct[0] > 0.0, "all three features are present");
    assert!(direct[1].abs() < f32::MIN_POSITIVE, "feature d is missing");
    let feature_a = detect::phi_feature(&classes.classes[0].features[0], image.view());
    assert!((direct[0] - feature_a.min(0.15)).abs() < 1e-6, "the minimum of the feature sums");
    // ⌈log2 3⌉ = 2 min-layers between the feature sums and the output.
    let n1 = build_n1(&classes, 5, 6).unwrap();
    let names: Vec<&str> = n1.network.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(&names[2..], ["feature sums", "min-layer 1", "min-layer 2", "output"]);
}

#[test]
fn n2_blocks_are_deduplicated_and_empty_blocks_get_no_channel() {
    // Two identical 4×4 tiles and one whose right half is outside the support.
    let full = Tile::filled(4, 4, 1.0, 0.5).unwrap();
    let mut half = Tile::filled(4, 4, 1.0, 0.5).unwrap();
    for r in 0..4 {
        for c in 2..4 {
            half.set_pixel(r, c, 0.0, false).unwrap();
        }
    }
    let classes = ClassSet {
        classes: vec![
            single_tile_object("a", full.clone()),
            single_tile_object("b", full),
            single_tile_object("c", half),
        ],
    };
    let n2 = build_n2(&classes, 6, 6).unwrap();
    assert_eq!(n2.blocks.len(), 2, "K = 4, r = 2");
    // Every 2×2 block of every tile is "all ones": one channel shared by 4 + 4 + 2 places.
    assert_eq!(n2.blocks[0].channels.len(), 1);
    assert_eq!(n2.blocks[0].channels[0].places.len(), 10);
    // Level 2: the full tile (shared by a and b) and the half tile.
    assert_eq!(n2.blocks[1].channels.len(), 2);
    assert_eq!(n2.blocks[1].channels[1].quadrants, [Some(0), None, Some(0), None]);
    let meaning = n2.network.meaning(n2.blocks[1].layer, 0);
    assert!(meaning.contains("4×4 block (rows 0–3, cols 0–3) of tile 'a'") && meaning.contains("+1 more"), "{meaning}");
    let image = Array2::from_shape_fn((6, 6), |(r, c)| if r < 4 && c < 4 { 1.0 } else { 0.3 });
    check_both(&classes, &image);
}

#[test]
fn n2_reads_detections_only_at_valid_offsets() {
    // A 2×2 tile whose only support pixel, bottom-right, is a 0: beside a 1×1 tile the image is
    // padded, and the zero padding matches it at invalid offsets.
    let corner = Tile::new(array![[0.0, 0.0], [0.0, 0.0]], array![[false, false], [false, true]], 0.5).unwrap();
    let dot = Tile::filled(1, 1, 0.3, 0.1).unwrap();
    let classes = ClassSet { classes: vec![single_tile_object("corner", corner), single_tile_object("dot", dot)] };
    let image = Array2::from_elem((3, 3), 0.8);
    let direct = check_both(&classes, &image);
    assert_eq!(direct, vec![0.0, 0.0]);
    let n2 = build_n2(&classes, 3, 3).unwrap();
    let activations = n2.network.forward(image.view()).unwrap();
    let whole_map: f32 = activations.layers[n2.detectors.layer].as_slice().iter().sum();
    assert!(whole_map > 0.0, "summing the whole map would report the tile");
}

#[test]
fn n2_layers_shrink_by_the_dilation_and_report_counts() {
    let classes = verify::random_class_set(&mut ChaCha8Rng::seed_from_u64(3), 9);
    let n2 = build_n2(&classes, 20, 17).unwrap();
    let side = n2::block_side(&classes);
    assert_eq!(n2.blocks.last().map(|b| b.size), Some(side));
    for level in &n2.blocks {
        let Shape::Map { rows, .. } = n2.network.shapes()[level.layer] else { panic!("block layers are maps") };
        let Shape::Map { rows: padded, .. } = n2.network.shapes()[0] else { panic!("padding is a map") };
        assert_eq!(rows, padded + 1 - level.size);
        assert_eq!(n2.network.receptive_field(level.layer, 0, 0), Some((0, 0, level.size.min(20), level.size.min(17))));
    }
    let report = n2.network.report();
    assert_eq!(report.len(), n2.network.layers().len());
    for row in &report {
        assert!(row.params_nonzero <= row.params_dense, "{row:?}");
    }
}

#[test]
fn sparse_networks_equal_their_dense_form() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in 0..12 {
        let classes = verify::random_class_set(&mut rng, 4);
        let (h, w) = (4 + case % 3, 5);
        let image = verify::image_with_object(&mut rng, &classes, 0, h, w);
        let input = image.clone().insert_axis(ndarray::Axis(0));
        for network in [build_n1(&classes, h, w).unwrap(), build_n2(&classes, h, w).unwrap()] {
            let dense = network.network.to_dense(5_000_000).unwrap();
            let dense_logits = dense.forward(input.view()).unwrap();
            let sparse_logits = network.logits(image.view()).unwrap();
            assert_close(dense_logits.as_slice().unwrap(), &sparse_logits);
        }
    }
    let n2 = build_n2(&toy_squares(), 4, 4).unwrap();
    assert!(matches!(n2.network.to_dense(10), Err(SparseError::TooManyParameters { .. })));
}

#[test]
fn dense_form_keeps_every_conv_map() {
    let classes = toy_squares();
    let n2 = build_n2(&classes, 5, 4).unwrap();
    let image = Array2::from_shape_fn((5, 4), |(r, c)| ((r * 3 + c) % 5) as f32 / 4.0);
    let sparse = n2.network.forward(image.view()).unwrap();
    let dense = n2.network.to_dense(1_000_000).unwrap();
    let outputs = dense.forward_all(image.clone().insert_axis(ndarray::Axis(0)).view()).unwrap();
    // Pad, then each sparse conv becomes conv + ReLU: sparse layer l ↔ dense output 2l.
    for (l, activation) in sparse.layers.iter().enumerate().take(n2.detectors.layer + 1).skip(1) {
        let dense_map: Array3<f32> = outputs[2 * l].clone().into_dimensionality().unwrap();
        assert_close(dense_map.as_slice().unwrap(), activation.as_slice());
    }
}

#[test]
fn bad_inputs_give_typed_errors() {
    let classes = toy_squares();
    assert!(matches!(build_n1(&classes, 0, 4), Err(ConstructError::EmptyImage { .. })));
    assert!(matches!(build_n2(&classes, 1, 4), Err(ConstructError::Tiles(_))));
    assert!(matches!(build_n1(&ClassSet::default(), 4, 4), Err(ConstructError::Tiles(_))));
    let big = ClassSet { classes: vec![single_tile_object("big", Tile::filled(64, 64, 0.5, 1.0).unwrap())] };
    assert!(matches!(build_n1(&big, 512, 512), Err(ConstructError::TooLarge { .. })));
    // The tile set: ten full 28×28 Fashion tiles on 80×80 images.
    let ten = crate::core::presets::with_full_support(&crate::core::presets::fashion_ten(1));
    let refused = build_n1(&ten, 80, 80).unwrap_err().to_string();
    assert!(refused.contains("44045120 weights") && refused.contains("MAX_WEIGHTS = 20000000"), "{refused}");
    assert_eq!(n1_weights(&ten, 80, 80), 44_045_120);
    let n1 = build_n1(&classes, 4, 4).unwrap();
    assert!(matches!(n1.logits(Array2::zeros((3, 4)).view()), Err(SparseError::InputSize { .. })));
}

/// N2 on the largest images the app makes (issue 21): ten full 28×28 Fashion tiles on 256×256 and
/// fifty on 128×128 give φ's logits, keeping at most a few hundred MB at once.
#[test]
fn n2_equals_phi_on_the_largest_images_the_app_makes() {
    use crate::core::presets::{fashion_ten, with_full_support};
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for (classes, side) in [(with_full_support(&fashion_ten(1)), 256), (with_full_support(&fashion_ten(5)), 128)] {
        let n2 = build_n2(&classes, side, side).unwrap();
        let last = n2.network.layers().len() - 1;
        assert!(n2.network.evaluation_values(last) * 4 < 700 << 20, "{side}: {}", n2.network.evaluation_values(last));
        for class in [2, 7] {
            let image = verify::image_with_object(&mut rng, &classes, class, side, side);
            let logits = n2.logits(image.view()).unwrap();
            assert_close(&logits, &detect::logits(&classes, image.view()));
            assert!(logits[class] > 0.0, "class {class} is detected on {side}×{side}");
        }
    }
}

#[test]
fn meanings_name_tiles_and_windows() {
    let classes = toy_squares();
    let n1 = build_n1(&classes, 4, 4).unwrap();
    let unit = n1.detectors.tiles[1].unit(2, 1).unwrap();
    assert_eq!(n1.network.meaning(1, unit), "tile 'white', window (2, 1): σ(ε − d)");
    assert_eq!(n1.detectors.tiles[1].unit(3, 0), None, "offset 3 is not valid for a 2×2 tile in 4 rows");
    let n2 = build_n2(&classes, 4, 4).unwrap();
    assert!(n2.network.meaning(n2.detectors.layer, 0).contains("'black'"));
}

#[test]
fn random_cases_pass_every_check() {
    for case in 0..40 {
        let report = verify::check_random_case(2024, case).unwrap();
        assert!(report.passed(), "{report:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_tiles_and_images_agree_with_the_direct_logits(seed in any::<u64>()) {
        let report = verify::check_random_case(seed, 0).unwrap();
        prop_assert!(report.passed(), "{:?}", report);
        prop_assert_eq!(report.images, 3);
    }
}
