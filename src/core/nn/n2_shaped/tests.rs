//! N2's shape as a trainable network: N2's logits at `--init n2`, gradients against finite
//! differences for both wirings, the cost limit of the dense wiring, and learning.

use ndarray::{Array2, array};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::core::experiments::fashion::whole_square;
use crate::core::nn::deep_train::DeepTrainer;
use crate::core::nn::train::{Hyper, LabelledSet};
use crate::core::presets::fashion_three;
use crate::core::tile::{Tile, single_tile_object};
use crate::core::verify;

/// Two 3×3 tiles (N2 pads them to 4×4: two block layers) with a zero and a gap in the support.
fn two_tiles() -> ClassSet {
    let a = Tile::new(
        array![[1.0, 0.5, 0.0], [0.5, 1.0, 0.25], [0.0, 0.25, 1.0]],
        array![[true, true, true], [true, true, false], [true, true, true]],
        0.4,
    )
    .unwrap();
    let b = Tile::new(array![[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]], Array2::from_elem((3, 3), true), 0.4)
        .unwrap();
    ClassSet { classes: vec![single_tile_object("a", a), single_tile_object("b", b)] }
}

fn random_image(side: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((side, side), || rng.random_range(0.3..0.7))
}

/// An image of noise holding tile `class` of [`two_tiles`] at `(row, col)`.
fn with_tile(classes: &ClassSet, class: usize, side: usize, (row, col): (usize, usize), seed: u64) -> Array2<f32> {
    let mut image = random_image(side, seed);
    let tile = &classes.classes[class].features[0].tiles[0];
    for (a, b, v) in tile.support_pixels() {
        image[[row + a, col + b]] = v;
    }
    image
}

#[test]
fn initialised_from_n2_it_computes_n2s_logits() {
    let classes = two_tiles();
    let n2 = build_n2(&classes, 9, 9).unwrap();
    for wiring in [Wiring::Sparse, Wiring::Dense] {
        let net = N2Shaped::new(&classes, (9, 9), wiring, Init::N2, 0).unwrap();
        assert_eq!(net.layer_names().len(), n2.network.layers().len());
        assert_eq!(net.shapes(), n2.network.shapes());
        for seed in 0..6 {
            let image = with_tile(&classes, (seed % 2) as usize, 9, (seed as usize % 5, 2), seed);
            let expected = n2.logits(image.view()).unwrap();
            let direct = crate::core::detect::logits(&classes, image.view());
            let logits = net.logits(image.view()).unwrap();
            assert!(verify::max_relative_error(&logits, &expected) <= verify::TOLERANCE, "{logits:?} vs {expected:?}");
            assert!(verify::max_relative_error(&logits, &direct) <= verify::TOLERANCE, "{logits:?} vs φ {direct:?}");
            assert!(logits[(seed % 2) as usize] > 0.0, "the pasted tile is detected: {logits:?}");
        }
    }
}

#[test]
fn every_hidden_layer_is_reported_with_n2s_names() {
    let net = N2Shaped::new(&two_tiles(), (9, 9), Wiring::Sparse, Init::Random, 1).unwrap();
    let names = net.layer_names();
    assert_eq!(names[0], "zero padding");
    assert!(
        names[1].starts_with("layer 0: values") && names[2].starts_with("layer 1") && names[3].starts_with("layer 2")
    );
    assert_eq!(names[4], "detection (1×1)");
    assert_eq!(net.hidden_layers(), [1, 2, 3, 4], "all but the padding and the output");
    let activations = net.forward(random_image(9, 3).view()).unwrap();
    assert_eq!(activations.len(), names.len());
    assert_eq!(activations.last().unwrap().as_slice().len(), 2);
}

/// Central differences of the loss for every parameter against the analytic gradient.
fn check_gradient(net: &N2Shaped, image: &Array2<f32>, label: usize) {
    let (_, grad) = net.loss_and_gradient(image.view(), label).unwrap();
    assert_eq!(grad.len(), net.parameters().len());
    let h = 1e-3f32;
    let mut nonzero = 0;
    for (index, &analytic) in grad.iter().enumerate() {
        let loss_at = |delta: f32| {
            let mut params = net.parameters().to_vec();
            params[index] += delta;
            f64::from(net.with_parameters(params).unwrap().loss_and_gradient(image.view(), label).unwrap().0)
        };
        let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * f64::from(h));
        let error = (f64::from(analytic) - numeric).abs() / (1.0 + numeric.abs());
        assert!(error < 5e-3, "parameter {index} of {}: {analytic} vs {numeric}", grad.len());
        nonzero += usize::from(analytic != 0.0);
    }
    // Units whose ReLU is off everywhere pass no gradient; the rest must be checked for real.
    assert!(nonzero * 4 > grad.len(), "a gradient for many parameters ({nonzero} of {})", grad.len());
}

#[test]
fn sparse_gradients_match_finite_differences() {
    let classes = two_tiles();
    let net = N2Shaped::new(&classes, (7, 7), Wiring::Sparse, Init::Random, 2).unwrap();
    check_gradient(&net, &with_tile(&classes, 1, 7, (2, 1), 5), 1);
}

#[test]
fn dense_gradients_match_finite_differences() {
    let tile = |v: f32| Tile::new(array![[v, 1.0 - v], [0.5, v]], Array2::from_elem((2, 2), true), 0.3).unwrap();
    let classes = ClassSet { classes: vec![single_tile_object("a", tile(0.0)), single_tile_object("b", tile(1.0))] };
    let net = N2Shaped::new(&classes, (5, 5), Wiring::Dense, Init::Random, 3).unwrap();
    check_gradient(&net, &random_image(5, 6), 0);
}

#[test]
fn dense_wiring_is_refused_above_its_cost_with_the_flops() {
    let mut classes = fashion_three();
    whole_square(&mut classes);
    let error = N2Shaped::new(&classes, (40, 40), Wiring::Dense, Init::Random, 0).unwrap_err();
    let ShapedError::TooCostly { flops } = error else { panic!("{error}") };
    assert!(flops > 5e8, "about 1 GFLOP per sample: {flops:e}");
    assert!(error.to_string().contains("FLOPs per training sample"), "{error}");
    let sparse = N2Shaped::new(&classes, (40, 40), Wiring::Sparse, Init::Random, 0).unwrap();
    assert!(sparse.training_flops_per_sample() < MAX_DENSE_TRAINING_FLOPS);
}

#[test]
fn one_class_is_refused() {
    let classes = ClassSet { classes: two_tiles().classes[..1].to_vec() };
    let error = N2Shaped::new(&classes, (9, 9), Wiring::Sparse, Init::Random, 0).unwrap_err();
    assert!(error.to_string().contains("1 classes"), "{error}");
}

/// `count` 9×9 images of dim noise holding a bright or a dark 3×3 square (the classes of
/// [`squares`]) at a random place.
fn square_set(classes: &ClassSet, count: usize, seed: u64) -> LabelledSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..count {
        let (label, at) = (i % 2, (rng.random_range(0..7), rng.random_range(0..7)));
        images.push(with_tile(classes, label, 9, at, seed * 1000 + i as u64));
        labels.push(label);
    }
    LabelledSet::new(&images, &labels, 9, 9, 2).unwrap()
}

fn squares() -> ClassSet {
    let filled = |v: f32| Tile::filled(3, 3, v, 0.4).unwrap();
    ClassSet { classes: vec![single_tile_object("bright", filled(1.0)), single_tile_object("dark", filled(0.0))] }
}

#[test]
fn trained_from_random_weights_it_learns_the_squares() {
    let classes = squares();
    let net = N2Shaped::new(&classes, (9, 9), Wiring::Sparse, Init::Random, 0).unwrap();
    let hyper = Hyper { momentum: 0.9, ..Hyper::plain(0.01, 10) };
    let mut trainer =
        DeepTrainer::from_network(net, hyper, square_set(&classes, 300, 1), square_set(&classes, 100, 2), 4).unwrap();
    let before = trainer.evaluate_test();
    for _ in 0..30 {
        trainer.step(trainer.batches_per_epoch());
    }
    let after = trainer.evaluate_test();
    assert!(after.accuracy >= 0.9, "accuracy {} (before {})", after.accuracy, before.accuracy);
    assert!(after.loss < before.loss);
}

#[test]
fn trained_from_n2s_weights_it_starts_and_stays_at_n2s_accuracy() {
    let classes = squares();
    let net = N2Shaped::new(&classes, (9, 9), Wiring::Sparse, Init::N2, 0).unwrap();
    let hyper = Hyper { momentum: 0.9, ..Hyper::plain(0.01, 10) };
    let mut trainer =
        DeepTrainer::from_network(net, hyper, square_set(&classes, 200, 1), square_set(&classes, 100, 2), 4).unwrap();
    assert!(trainer.evaluate_test().accuracy >= 1.0, "N2 is exact on valid images");
    for _ in 0..5 {
        trainer.step(trainer.batches_per_epoch());
    }
    assert!(trainer.evaluate_test().accuracy >= 1.0);
}
