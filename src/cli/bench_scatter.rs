//! `tilelab bench scatter`: the scattering network on 40×40 images (J = 2, L = 8, order 2), one
//! image and a batch of 4,000, beside Kymatio's NumPy frontend on the same images when a Python
//! with kymatio is found (`TILELAB_PYTHON` or `python3`); runs interleaved, medians reported.

use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use ndarray::Array3;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::core::export::save_npy;
use crate::core::scattering::{Scattering, ScatteringSpec};

const SIDE: usize = 40;
const BATCH: usize = 4000;

/// Times one image and one batch with Kymatio (the same images, after one warm-up); prints JSON.
const KYMATIO_SCRIPT: &str = r#"
import json, sys, time
import numpy as np
from kymatio.numpy import Scattering2D
images = np.load(sys.argv[1]).astype(np.float32)
net = Scattering2D(J=2, shape=images.shape[1:], L=8, max_order=2)
net(images[:1])
start = time.perf_counter(); net(images[:1]); single = time.perf_counter() - start
start = time.perf_counter(); net(images); batch = time.perf_counter() - start
print(json.dumps({"single_ms": single * 1000.0, "batch_s": batch}))
"#;

/// Times ours and Kymatio's alternately `repeats` times and prints the medians.
pub fn run(repeats: usize, json: bool) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let spec = ScatteringSpec { j: 2, l: 8, max_order: 2 };
    let net = Scattering::new(spec, SIDE, SIDE)?;
    let mut rng = ChaCha8Rng::seed_from_u64(22);
    let images: Vec<_> =
        (0..BATCH).map(|_| ndarray::Array2::from_shape_fn((SIDE, SIDE), |_| rng.random::<f32>())).collect();
    let dir = tempfile_dir()?;
    let input = dir.join("images.npy");
    let stacked = Array3::from_shape_fn((BATCH, SIDE, SIDE), |(b, r, c)| images[b][[r, c]]);
    save_npy(&input, &stacked)?;
    let python = std::env::var("TILELAB_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let kymatio_ready = Command::new(&python).args(["-c", "import kymatio"]).output().is_ok_and(|o| o.status.success());
    net.transform(images[0].view())?;
    let (mut single, mut batch, mut kymatio_single, mut kymatio_batch) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..repeats {
        // Single-image time: the median of 100 transforms, so the timer's resolution does not matter.
        let mut one = Vec::with_capacity(100);
        for image in images.iter().take(100) {
            let start = Instant::now();
            net.transform(image.view())?;
            one.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        single.push(median(&mut one));
        let start = Instant::now();
        net.transform_batch(&images)?;
        batch.push(start.elapsed().as_secs_f64());
        if kymatio_ready {
            let output = Command::new(&python).args(["-c", KYMATIO_SCRIPT]).arg(&input).output()?;
            anyhow::ensure!(output.status.success(), "kymatio failed: {}", String::from_utf8_lossy(&output.stderr));
            let timing: serde_json::Value =
                serde_json::from_slice(&output.stdout).context("reading kymatio's timing")?;
            kymatio_single.push(timing["single_ms"].as_f64().unwrap_or(f64::NAN));
            kymatio_batch.push(timing["batch_s"].as_f64().unwrap_or(f64::NAN));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let threads = rayon::current_num_threads();
    let (single, batch) = (median(&mut single), median(&mut batch));
    let kymatio = kymatio_ready.then(|| (median(&mut kymatio_single), median(&mut kymatio_batch)));
    if json {
        println!(
            "{}",
            json!({
                "bench": "scatter", "side": SIDE, "j": 2, "l": 8, "max_order": 2, "repeats": repeats, "threads": threads,
                "single_ms": single, "batch_4000_s": batch,
                "kymatio_single_ms": kymatio.map(|k| k.0), "kymatio_batch_4000_s": kymatio.map(|k| k.1),
            })
        );
    } else {
        println!(
            "scattering of {SIDE}×{SIDE} images, J = 2, L = 8, order 2 (81 channels), median of {repeats}, {threads} thread(s)"
        );
        println!("one image        {single:>10.3} ms   (target < 1 ms)");
        println!("4,000 images     {batch:>10.3} s    (target < 2 s)");
        match kymatio {
            Some((ks, kb)) => {
                println!("kymatio numpy: one image {ks:.3} ms, 4,000 images {kb:.3} s (one process, same images)");
            }
            None => println!("kymatio: not found ({python} cannot import kymatio); set TILELAB_PYTHON to compare"),
        }
    }
    Ok(())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A fresh folder under the system's temporary directory for the images Kymatio reads.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tilelab-bench-scatter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}
