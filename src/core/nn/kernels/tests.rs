//! The fast step against the readable reference (`Cnn::loss_and_gradient`), on many shapes,
//! both backends and several thread counts; the SGD rule against PyTorch's formulas.

use super::*;
use crate::core::nn::cnn::CnnGradient;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_images(spec: CnnSpec, count: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let pixels = (0..count * spec.height * spec.width).map(|_| rng.random_range(0.0..1.0)).collect();
    let labels = (0..count).map(|_| rng.random_range(0..spec.classes)).collect();
    (pixels, labels)
}

/// The summed gradient of `indices` by the readable reference path.
fn reference_sum(cnn: &Cnn, pixels: &[f32], labels: &[usize], indices: &[usize]) -> (f64, CnnGradient) {
    let s = cnn.spec();
    let n = s.height * s.width;
    let mut total: Option<CnnGradient> = None;
    let mut loss = 0.0;
    for &i in indices {
        let image = Array2::from_shape_vec((s.height, s.width), pixels[i * n..(i + 1) * n].to_vec()).unwrap();
        let (l, g) = cnn.loss_and_gradient(image.view(), labels[i]).unwrap();
        loss += f64::from(l);
        total = Some(match total {
            None => g,
            Some(t) => CnnGradient {
                conv_weight: t.conv_weight + g.conv_weight,
                conv_bias: t.conv_bias + g.conv_bias,
                fc_weight: t.fc_weight + g.fc_weight,
                fc_bias: t.fc_bias + g.fc_bias,
            },
        });
    }
    (loss, total.unwrap())
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
    }
}

/// Runs a batch through the fast path, then one SGD step with lr 1, and compares the weight
/// change (which is −mean gradient) and the loss with the reference path.
fn check(spec: CnnSpec, backend: Backend, threads: usize, seed: u64) {
    let cnn = Cnn::new(spec, seed).unwrap();
    let (pixels, labels) = random_images(spec, 8, seed + 1);
    // Seven samples: every thread count below leaves some thread an odd number (a lone sample).
    let indices = [3, 0, 6, 1, 5, 2, 7];
    let (ref_loss, reference) = reference_sum(&cnn, &pixels, &labels, &indices);
    let mut fast = FastCnn::with_backend(&cnn, backend);
    assert_eq!(fast.backend(), backend);
    assert_eq!(fast.to_cnn().unwrap(), cnn, "padding round trip");
    let mut workspaces: Vec<Workspace> = (0..threads).map(|_| Workspace::new(&fast)).collect();
    accumulate_batch(&fast, &mut workspaces, &pixels, &labels, &indices);
    let loss: f64 = workspaces.iter_mut().map(|ws| ws.take_totals().0).sum();
    assert!((loss - ref_loss).abs() < 1e-4 * ref_loss.abs().max(1.0), "{loss} vs {ref_loss}");
    let step = SgdStep { learning_rate: 1.0, momentum: 0.0, weight_decay: 0.0, batch_len: indices.len() };
    sgd_update(&mut fast, &mut workspaces, &mut Velocity::default(), step);
    let after = fast.to_cnn().unwrap();
    let n = indices.len() as f32;
    let flat = |a: ndarray::ArrayViewD<f32>| a.iter().copied().collect::<Vec<f32>>();
    // With lr 1 and the mean over n samples, (old − new)·n is the summed gradient.
    let change = |new: ndarray::ArrayViewD<f32>, old: ndarray::ArrayViewD<f32>| -> Vec<f32> {
        flat(old).iter().zip(&flat(new)).map(|(o, w)| (o - w) * n).collect()
    };
    let parts = [
        (
            "conv weight",
            after.conv().weight.view().into_dyn(),
            cnn.conv().weight.view().into_dyn(),
            reference.conv_weight.view().into_dyn(),
        ),
        (
            "conv bias",
            after.conv().bias.view().into_dyn(),
            cnn.conv().bias.view().into_dyn(),
            reference.conv_bias.view().into_dyn(),
        ),
        (
            "fc weight",
            after.fc().weight.view().into_dyn(),
            cnn.fc().weight.view().into_dyn(),
            reference.fc_weight.view().into_dyn(),
        ),
        (
            "fc bias",
            after.fc().bias.view().into_dyn(),
            cnn.fc().bias.view().into_dyn(),
            reference.fc_bias.view().into_dyn(),
        ),
    ];
    for (what, new, old, want) in parts {
        assert_close(&change(new, old), &flat(want), what);
    }
    assert!(workspaces.iter().all(|ws| ws.grads.fc_weight.iter().all(|&g| g == 0.0)), "cleared");
}

#[test]
fn fast_step_matches_the_reference_on_many_shapes() {
    let specs = [
        CnnSpec::toy(1),
        CnnSpec::toy(3),
        CnnSpec { height: 12, width: 21, kernel: 3, filters: 5, classes: 3 },
        CnnSpec { height: 9, width: 60, kernel: 4, filters: 2, classes: 4 },
        CnnSpec { height: 3, width: 3, kernel: 3, filters: 1, classes: 2 },
        CnnSpec::fashion(),
    ];
    for (seed, spec) in specs.into_iter().enumerate() {
        for threads in [1, 2, 3] {
            check(spec, Backend::Portable, threads, seed as u64);
            if Backend::detect() != Backend::Portable {
                check(spec, Backend::detect(), threads, seed as u64);
            }
        }
    }
}

#[test]
fn momentum_and_weight_decay_follow_pytorch() {
    let step = SgdStep { learning_rate: 0.1, momentum: 0.9, weight_decay: 0.01, batch_len: 1 };
    let mut w = [1.0f32];
    let mut v = [0.0f32];
    apply(&mut w, &[0.5], &mut v, step, 1.0);
    // d = 0.5 + 0.01 = 0.51, v = 0.51, w = 1 − 0.051.
    assert!((w[0] - 0.949).abs() < 1e-6 && (v[0] - 0.51).abs() < 1e-6);
    apply(&mut w, &[0.5], &mut v, step, 1.0);
    let d = 0.5 + 0.01 * 0.949;
    let v2 = 0.9 * 0.51 + d;
    assert!((v[0] - v2).abs() < 1e-6 && (w[0] - (0.949 - 0.1 * v2)).abs() < 1e-6);
}
