//! The general network against finite differences (every layer kind) and against the paper's `Cnn`.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::core::nn::cnn::CnnSpec;

fn random_image(height: usize, width: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((height, width), || rng.random_range(0.0..1.0))
}

/// Central differences of the loss for every parameter against the analytic gradient.
fn check_gradient(arch: Arch, seed: u64) {
    let net = DeepNet::new(arch.clone(), seed).unwrap();
    let image = random_image(arch.height, arch.width, seed + 1);
    let label = arch.classes - 1;
    let (_, grad) = net.loss_and_gradient(image.view(), label).unwrap();
    let h = 1e-3f32;
    let mut worst = 0.0f64;
    for (index, &analytic) in grad.iter().enumerate() {
        let loss_at = |delta: f32| {
            let mut moved = net.clone();
            moved.parameters_mut()[index] += delta;
            f64::from(moved.loss_and_gradient(image.view(), label).unwrap().0)
        };
        let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * f64::from(h));
        let error = (f64::from(analytic) - numeric).abs() / (1.0 + numeric.abs());
        worst = worst.max(error);
        assert!(error < 5e-3, "parameter {index} of {:?}: {analytic} vs {numeric}", arch.describe());
    }
    assert!(worst.is_finite());
}

#[test]
fn conv_relu_fc_gradient_matches_finite_differences() {
    check_gradient(Arch { blocks: vec![ConvBlock::plain(3, 2)], ..Arch::paper(6, 5, 3) }, 1);
}

#[test]
fn stride_and_dilation_gradients_match_finite_differences() {
    let blocks =
        vec![ConvBlock { stride: 2, ..ConvBlock::plain(3, 3) }, ConvBlock { dilation: 2, ..ConvBlock::plain(2, 2) }];
    check_gradient(Arch { blocks, ..Arch::paper(11, 10, 3) }, 2);
}

#[test]
fn max_pool_and_hidden_layer_gradients_match_finite_differences() {
    let blocks = vec![ConvBlock::plain(3, 3).pooled(), ConvBlock::plain(2, 4).pooled()];
    check_gradient(Arch { blocks, hidden: Some(5), ..Arch::paper(12, 12, 3) }, 3);
}

#[test]
fn the_paper_network_equals_the_readable_cnn() {
    let spec = CnnSpec { height: 9, width: 7, kernel: 3, filters: 4, classes: 3 };
    let cnn = Cnn::new(spec, 5).unwrap();
    let net = DeepNet::from_cnn(&cnn);
    assert_eq!(net, DeepNet::new(net.arch().clone(), 5).unwrap(), "same seeded initialisation");
    let image = random_image(9, 7, 6);
    let (loss, grad) = net.loss_and_gradient(image.view(), 1).unwrap();
    let (reference_loss, reference) = cnn.loss_and_gradient(image.view(), 1).unwrap();
    assert!((loss - reference_loss).abs() < 1e-5);
    let flat: Vec<f32> = reference
        .conv_weight
        .iter()
        .chain(&reference.conv_bias)
        .chain(&reference.fc_weight)
        .chain(&reference.fc_bias)
        .copied()
        .collect();
    for (a, b) in grad.iter().zip(&flat) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    let act = net.forward(image.view()).unwrap();
    let reference_maps = cnn.forward(image.view()).unwrap().post_relu;
    for (a, b) in act.maps[0].iter().zip(&reference_maps) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
}

#[test]
fn pooling_keeps_the_maximum_of_each_window() {
    let arch = Arch { blocks: vec![ConvBlock::plain(1, 1).pooled()], ..Arch::paper(4, 5, 2) };
    let mut net = DeepNet::new(arch, 0).unwrap();
    // A 1×1 convolution with weight 1 and bias 0 passes the image through.
    net.parameters_mut()[..2].copy_from_slice(&[1.0, 0.0]);
    let image = Array2::from_shape_fn((4, 5), |(y, x)| (y * 5 + x) as f32);
    let act = net.forward(image.view()).unwrap();
    let pooled = act.pooled[0].as_ref().unwrap();
    assert_eq!(pooled.shape(), &[1, 2, 2]);
    assert_eq!(pooled.iter().copied().collect::<Vec<_>>(), vec![6.0, 8.0, 16.0, 18.0]);
    assert!(net.forward(Array2::zeros((3, 5)).view()).is_err());
    assert!(net.loss_and_gradient(image.view(), 2).is_err());
}
