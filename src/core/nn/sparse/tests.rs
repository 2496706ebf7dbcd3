//! Tests of the sparse engine against the convolution and FC formulas and the dense engine.

use super::forward::{conv_channel_on, simd_available};
use super::*;
use super::{forward, strips};
use ndarray::{Array2, array};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random sparse conv with `taps` taps per channel.
fn random_conv(
    rng: &mut ChaCha8Rng,
    inputs: usize,
    outputs: usize,
    kernel: (usize, usize),
    dilation: usize,
) -> SparseConv {
    let mut conv = SparseConv::new(kernel, dilation, true);
    for _ in 0..outputs {
        let taps = (0..rng.random_range(0..5))
            .map(|_| Tap {
                channel: rng.random_range(0..inputs),
                dy: rng.random_range(0..kernel.0),
                dx: rng.random_range(0..kernel.1),
                weight: rng.random_range(-1.0..1.0),
            })
            .collect();
        conv.push_channel(taps, rng.random_range(-1.0..1.0));
    }
    conv
}

fn layer(name: &str, kind: LayerKind, units: usize) -> SparseLayer {
    SparseLayer { name: name.into(), kind, meanings: (0..units).map(|u| format!("{name} unit {u}")).collect() }
}

/// The convolution formula with plain indices.
fn conv_by_formula(conv: &SparseConv, input: &Array3<f32>) -> Array3<f32> {
    let (_, rows, cols) = input.dim();
    let d = conv.dilation;
    let (out_rows, out_cols) = (rows - (conv.kernel.0 - 1) * d, cols - (conv.kernel.1 - 1) * d);
    Array3::from_shape_fn((conv.channels(), out_rows, out_cols), |(c, y, x)| {
        let sum: f32 = conv.taps[c].iter().map(|t| t.weight * input[[t.channel, y + t.dy * d, x + t.dx * d]]).sum();
        (conv.bias[c] + sum).max(0.0)
    })
}

fn random_network(rng: &mut ChaCha8Rng) -> (SparseNetwork, SparseConv, SparseConv, SparseDense) {
    let first = random_conv(rng, 1, 3, (1, 1), 1);
    let second = random_conv(rng, 3, 4, (2, 3), 2);
    // Input 7×9 → pad 8×10 → 1×1 conv 3×8×10 → 2×3 dilation 2: 4×6×6 = 144 → dense 5.
    let mut dense = SparseDense::new(false);
    for _ in 0..5 {
        let weights: Vec<(usize, f32)> =
            (0..rng.random_range(0..20)).map(|_| (rng.random_range(0..144), rng.random_range(-1.0..1.0))).collect();
        dense.push_neuron(&weights, rng.random_range(-1.0..1.0));
    }
    let layers = vec![
        layer("pad", LayerKind::Pad { bottom: 1, right: 1 }, 1),
        layer("first", LayerKind::Conv(first.clone()), 3),
        layer("second", LayerKind::Conv(second.clone()), 4),
        layer("dense", LayerKind::Dense(dense.clone()), 5),
    ];
    (SparseNetwork::new((7, 9), layers).unwrap(), first, second, dense)
}

#[test]
fn forward_matches_the_formulas_and_keeps_every_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for _ in 0..10 {
        let (network, first, second, dense) = random_network(&mut rng);
        let image = Array2::from_shape_fn((7, 9), |_| rng.random_range(0.0..1.0f32));
        let activations = network.forward(image.view()).unwrap();
        assert_eq!(activations.layers.len(), 4);
        let mut padded = Array3::zeros((1, 8, 10));
        padded.slice_mut(ndarray::s![0, ..7, ..9]).assign(&image);
        let a1 = conv_by_formula(&first, &padded);
        let a2 = conv_by_formula(&second, &a1);
        let flat = a2.as_slice().unwrap();
        let logits: Vec<f32> =
            (0..5).map(|n| dense.bias_of(n) + dense.weights_of(n).map(|(i, w)| w * flat[i]).sum::<f32>()).collect();
        for (got, want) in [(&activations.layers[1], a1.as_slice().unwrap()), (&activations.layers[2], flat)] {
            assert!(got.as_slice().iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5));
        }
        let got = activations.logits();
        assert!(got.iter().zip(&logits).all(|(g, w)| (g - w).abs() < 1e-4), "{got:?} vs {logits:?}");
        assert_eq!(network.logits(image.view()).unwrap(), got, "the fast path computes the same");
        let batch = network.logits_batch(&[image.clone(), image.clone()]).unwrap();
        assert_eq!(batch, vec![got.clone(), got]);
    }
}

#[test]
fn portable_and_simd_paths_agree_with_the_formula() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let conv = random_conv(&mut rng, 3, 6, (2, 3), 2);
    let input = Array3::from_shape_fn((3, 9, 11), |_| rng.random_range(-1.0..1.0f32));
    let want = conv_by_formula(&conv, &input);
    for simd in [false, simd_available()] {
        let mut out = Array3::zeros(want.dim());
        for (channel, plane) in out.axis_iter_mut(Axis(0)).enumerate() {
            conv_channel_on(&conv, channel, &input, plane, simd);
        }
        assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "simd = {simd}");
    }
}

#[test]
fn dense_form_gives_the_same_outputs() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let (network, ..) = random_network(&mut rng);
    let image = Array2::from_shape_fn((7, 9), |_| rng.random_range(0.0..1.0f32));
    let dense = network.to_dense(100_000).unwrap();
    let dense_logits = dense.forward(image.clone().insert_axis(Axis(0)).view()).unwrap();
    let sparse_logits = network.logits(image.view()).unwrap();
    assert!(dense_logits.iter().zip(&sparse_logits).all(|(a, b)| (a - b).abs() < 1e-4));
    let needed: usize = network.report().iter().map(|r| r.params_dense).sum();
    assert_eq!(needed, 3 * 2 + 4 * (3 * 6 + 1) + 5 * 145);
    assert!(matches!(network.to_dense(needed - 1), Err(SparseError::TooManyParameters { .. })));
}

#[test]
fn report_counts_units_and_parameters() {
    let mut conv = SparseConv::new((2, 2), 1, true);
    conv.push_channel(vec![Tap { channel: 0, dy: 1, dx: 0, weight: 2.0 }], -1.0);
    conv.push_channel(vec![Tap { channel: 0, dy: 0, dx: 0, weight: 1.0 }], 0.0);
    let mut dense = SparseDense::new(true);
    dense.push_neuron(&[(0, 1.0), (5, -1.0)], 0.5);
    let network =
        SparseNetwork::new((3, 4), vec![layer("c", LayerKind::Conv(conv), 2), layer("d", LayerKind::Dense(dense), 1)])
            .unwrap();
    let report = network.report();
    assert_eq!(report[0].output, Shape::Map { channels: 2, rows: 2, cols: 3 });
    assert_eq!((report[0].params_nonzero, report[0].params_dense), (3, 2 * (4 + 1)));
    assert_eq!((report[1].params_nonzero, report[1].params_dense), (3, 12 + 1));
    assert_eq!(report[0].kernel, Some((2, 2)));
    assert_eq!(network.meaning(1, 0), "d unit 0");
    assert_eq!(network.meaning(7, 0), "layer 7, unit 0");
}

#[test]
fn receptive_fields_grow_with_kernel_and_dilation() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (network, ..) = random_network(&mut rng);
    assert_eq!(network.receptive_field(1, 2, 3), Some((2, 3, 1, 1)));
    // 2×3 kernel, dilation 2: 3 rows × 5 columns.
    assert_eq!(network.receptive_field(2, 1, 1), Some((1, 1, 3, 5)));
    assert_eq!(network.receptive_field(2, 5, 5), Some((5, 5, 2, 4)), "clipped to the 7×9 image");
    assert_eq!(network.receptive_field(2, 6, 0), None, "outside the 6×6 map");
    assert_eq!(network.receptive_field(0, 7, 0), None, "only padding");
    assert_eq!(network.receptive_field(3, 0, 0), None, "dense layers have no map");
}

#[test]
fn malformed_layers_and_inputs_are_rejected() {
    let mut conv = SparseConv::new((2, 2), 1, true);
    conv.push_channel(vec![Tap { channel: 1, dy: 0, dx: 0, weight: 1.0 }], 0.0);
    let bad_channel = SparseNetwork::new((3, 3), vec![layer("c", LayerKind::Conv(conv), 1)]);
    assert!(matches!(bad_channel, Err(SparseError::BadLayer { layer: 0, .. })));
    let big = SparseConv::new((4, 1), 1, true);
    assert!(SparseNetwork::new((3, 3), vec![layer("c", LayerKind::Conv(big), 0)]).is_err());
    let mut dense = SparseDense::new(false);
    dense.push_neuron(&[(9, 1.0)], 0.0);
    assert!(SparseNetwork::new((3, 3), vec![layer("d", LayerKind::Dense(dense), 1)]).is_err());
    let mut nan = SparseDense::new(false);
    nan.push_neuron(&[(0, f32::NAN)], 0.0);
    assert!(SparseNetwork::new((3, 3), vec![layer("d", LayerKind::Dense(nan), 1)]).is_err());
    let meanings = SparseNetwork::new((3, 3), vec![layer("p", LayerKind::Pad { bottom: 1, right: 0 }, 2)]);
    assert!(meanings.is_err(), "one meaning per channel");
    let network = SparseNetwork::new((3, 3), vec![layer("p", LayerKind::Pad { bottom: 1, right: 0 }, 1)]).unwrap();
    assert!(matches!(network.forward(array![[1.0]].view()), Err(SparseError::InputSize { .. })));
}

/// An N2-like stack: padding, a 1×1 conv, 2×2 convs with dilations 1, 2, 4, then (with `head`) a
/// dense sum.
fn dilated_network(rng: &mut ChaCha8Rng, input: (usize, usize), head: bool) -> SparseNetwork {
    let mut layers = vec![layer("pad", LayerKind::Pad { bottom: 3, right: 2 }, 1)];
    layers.push(layer("values", LayerKind::Conv(random_conv(rng, 1, 3, (1, 1), 1)), 3));
    let mut channels = 3;
    for (dilation, outputs) in [(1, 5), (2, 4), (4, 2)] {
        layers.push(layer("block", LayerKind::Conv(random_conv(rng, channels, outputs, (2, 2), dilation)), outputs));
        channels = outputs;
    }
    if head {
        let map = channels * (input.0 + 3 - 7) * (input.1 + 2 - 7);
        let mut dense = SparseDense::new(false);
        dense.push_neuron(&(0..map).map(|i| (i, 1.0)).collect::<Vec<_>>(), 0.0);
        layers.push(layer("sum", LayerKind::Dense(dense), 1));
    }
    SparseNetwork::new(input, layers).unwrap()
}

#[test]
fn strips_of_any_height_give_every_layer_exactly() {
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    for input in [(20, 13), (5, 9), (33, 8)] {
        let network = dilated_network(&mut rng, input, true);
        let image = Array2::from_shape_fn(input, |_| rng.random_range(0.0..1.0f32));
        let kept = network.forward(image.view()).unwrap();
        for target in 0..network.layers().len() {
            // From one row per strip to the whole map in one strip.
            for budget in [1, 40, 200, 1000, usize::MAX / 4] {
                let plan = strips::plan(&network, target, budget);
                let mut output = strips::run(&network, plan, network.input_activation(image.view()).unwrap());
                for layer in &network.layers()[plan.end..=target] {
                    output = forward::apply(&layer.kind, &output);
                }
                assert_eq!(output, kept.layers[target], "layer {target}, budget {budget}, input {input:?}");
            }
            assert_eq!(network.output_of(image.view(), target).unwrap(), kept.layers[target]);
        }
        assert_eq!(network.logits(image.view()).unwrap(), kept.logits());
    }
}

#[test]
fn strip_plans_hold_less_than_the_whole_network_and_refuse_before_allocating() {
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let network = dilated_network(&mut rng, (200, 30), true);
    let last = network.layers().len() - 1;
    let small = strips::plan(&network, last, 2000);
    assert!(small.strip_rows < 200 && small.peak < network.kept_activations() / 2, "{small:?}");
    // A network whose kept activations exceed the limit is refused by `forward`, not by `logits`.
    let wide = dilated_network(&mut rng, (2000, 2000), false);
    assert!(wide.kept_activations() > MAX_KEPT_ACTIVATIONS);
    let image = Array2::zeros((2000, 2000));
    assert!(matches!(wide.forward(image.view()), Err(SparseError::TooManyValues { .. })));
    assert!(wide.evaluation_values(wide.layers().len() - 1) <= MAX_EVALUATION_VALUES);
}

#[test]
fn windows_are_the_kept_layers_parts_with_the_whole_layers_range() {
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    for input in [(20, 13), (33, 8)] {
        let network = dilated_network(&mut rng, input, true);
        let image = Array2::from_shape_fn(input, |_| rng.random_range(0.0..1.0f32));
        let kept = network.forward(image.view()).unwrap();
        let maps = network.layers().len() - 1;
        let windows: Vec<LayerWindow> = (0..maps)
            .map(|layer| {
                let Shape::Map { channels, rows, cols } = network.shapes()[layer] else { unreachable!() };
                let channels = (0..channels).filter(|_| rng.random_bool(0.6)).collect();
                let top = rng.random_range(0..rows);
                let left = rng.random_range(0..cols);
                // Past the map's end on purpose: clipped.
                LayerWindow { layer, channels, rows: top..top + 7, cols: left..cols + 3 }
            })
            .collect();
        let values = network.windows(image.view(), &windows).unwrap();
        for (window, value) in windows.iter().zip(&values) {
            let Activation::Map(whole) = &kept.layers[window.layer] else { unreachable!() };
            let (_, rows, cols) = whole.dim();
            let (bottom, right) = (window.rows.end.min(rows), window.cols.end.min(cols));
            assert_eq!(
                value.maps.dim(),
                (window.channels.len(), bottom - window.rows.start, right - window.cols.start)
            );
            for (index, &channel) in window.channels.iter().enumerate() {
                for y in window.rows.start..bottom {
                    for x in window.cols.start..right {
                        assert_eq!(value.at(index, y, x), Some(whole[[channel, y, x]]), "layer {}", window.layer);
                    }
                }
            }
            let low = whole.iter().copied().fold(f32::INFINITY, f32::min);
            let high = whole.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!((value.low, value.high), (low, high), "layer {}", window.layer);
        }
        let last = network.layers().len() - 1;
        for from in [last - 1, last] {
            assert_eq!(network.forward_from(image.view(), from).unwrap(), kept.layers[from..].to_vec());
        }
    }
}

#[test]
fn windows_outside_the_leading_maps_are_refused() {
    let mut rng = ChaCha8Rng::seed_from_u64(24);
    let network = dilated_network(&mut rng, (20, 13), true);
    let image = Array2::zeros((20, 13));
    let dense = network.layers().len() - 1;
    let window = |layer, channels: Vec<usize>| LayerWindow { layer, channels, rows: 0..4, cols: 0..4 };
    for (layer, channels) in [(dense, vec![0]), (2, vec![99])] {
        let refused = network.windows(image.view(), &[window(layer, channels)]);
        assert!(matches!(refused, Err(SparseError::BadWindow { .. })), "{refused:?}");
    }
    assert!(network.windows(image.view(), &[]).unwrap().is_empty());
}
