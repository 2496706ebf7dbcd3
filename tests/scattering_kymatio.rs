//! tilelab's scattering coefficients equal Kymatio 0.3's (`kymatio.numpy.Scattering2D`) to 1e-3
//! relative, on random images, for J = 1–3, L = 4 and 8, max order 1 and 2.
//!
//! Runs when a Python with kymatio is found: `TILELAB_PYTHON` (CI points it at a venv), else
//! `python3`. Without one it prints SKIPPED and passes.

use std::path::Path;
use std::process::Command;

use ndarray::{Array3, Axis, Ix4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use tilelab::core::export::{load_npy, save_npy};
use tilelab::core::scattering::{Scattering, ScatteringSpec};

/// A Python that imports kymatio, or `None`.
fn kymatio_python() -> Option<String> {
    let python = std::env::var("TILELAB_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let ready = Command::new(&python).args(["-c", "import kymatio, scipy"]).output().is_ok_and(|o| o.status.success());
    ready.then_some(python)
}

/// The largest difference of each channel over the largest value of that channel in Kymatio's output.
fn worst_relative_error(ours: &Array3<f32>, reference: ndarray::ArrayView3<f32>) -> (f32, usize) {
    let mut worst = (0.0, 0);
    for (k, (a, b)) in ours.outer_iter().zip(reference.outer_iter()).enumerate() {
        let scale = b.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
        let error = a.iter().zip(b.iter()).fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) / scale;
        if error > worst.0 {
            worst = (error, k);
        }
    }
    worst
}

#[test]
fn coefficients_equal_kymatios() {
    let Some(python) = kymatio_python() else {
        println!(
            "SKIPPED: no Python with kymatio (set TILELAB_PYTHON, or pip install \"kymatio==0.3.0\" \"scipy<1.15\")"
        );
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kymatio_scatter.py");
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let mut checked = 0;
    for (height, width) in [(40, 40), (28, 33), (8, 8)] {
        let images = Array3::from_shape_fn((3, height, width), |_| rng.random::<f32>());
        let input = dir.path().join(format!("images_{height}x{width}.npy"));
        save_npy(&input, &images).unwrap();
        for j in 1..=3 {
            for l in [4, 8] {
                for max_order in [1, 2] {
                    let output = dir.path().join(format!("out_{height}x{width}_{j}_{l}_{max_order}.npy"));
                    let args = [j.to_string(), l.to_string(), max_order.to_string()];
                    let run = Command::new(&python).arg(&script).arg(&input).args(&args).arg(&output).output().unwrap();
                    assert!(run.status.success(), "kymatio failed: {}", String::from_utf8_lossy(&run.stderr));
                    let reference = load_npy::<f32>(&output).unwrap().into_dimensionality::<Ix4>().unwrap();
                    let net = Scattering::new(ScatteringSpec { j, l, max_order }, height, width).unwrap();
                    for (b, image) in images.outer_iter().enumerate() {
                        let ours = net.transform(image).unwrap();
                        let theirs = reference.index_axis(Axis(0), b);
                        assert_eq!(
                            ours.dim(),
                            theirs.dim(),
                            "shape for {height}×{width}, J={j}, L={l}, order {max_order}"
                        );
                        let (error, channel) = worst_relative_error(&ours, theirs);
                        assert!(
                            error <= 1e-3,
                            "{height}×{width}, J={j}, L={l}, order {max_order}, image {b}: channel {channel} differs by {error} (relative)"
                        );
                        checked += 1;
                    }
                }
            }
        }
    }
    println!("checked {checked} transforms against kymatio");
}
