//! `tilelab bench train`: the paper's Fashion training run (40×40 → conv 5×5×12 → FC → 10,
//! batch 100, lr 0.03, 15 epochs × 4000 samples), timed; median samples/s and GFLOP/s.
//!
//! The images are uniform noise with random labels: every operation of the step is dense, so the
//! time does not depend on the pixel values, and the benchmark needs no data generation.

use std::time::Instant;

use anyhow::Context;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::kernels::Backend;
use crate::core::nn::train::{Hyper, LabelledSet, Trainer};

/// Epochs of the paper's run.
const EPOCHS: usize = 15;
/// Training samples of the paper's run.
const TRAIN_SAMPLES: usize = 4000;
/// Peak f32 FMA throughput of the 2-core reference machine (FACTS.md), for the ratio printed.
const REFERENCE_PEAK_GFLOPS: f64 = 196.0;

/// The benchmark's result, printed as one JSON object with `--json`.
#[derive(Debug, Serialize)]
struct TrainBench {
    benchmark: &'static str,
    backend: String,
    threads: usize,
    repeats: usize,
    samples_per_run: usize,
    seconds: Vec<f64>,
    median_seconds: f64,
    median_samples_per_second: f64,
    median_gflops: f64,
    flop_per_sample: f64,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
}

/// Runs the benchmark `repeats` times (at least once) and prints the median.
pub fn run(repeats: usize, json: bool) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let spec = CnnSpec::fashion();
    let train = noise_set(spec, TRAIN_SAMPLES, 1)?;
    let load_before = load_average();
    if !json {
        println!("training benchmark: paper's Fashion run, {EPOCHS} epochs × {TRAIN_SAMPLES} samples, batch 100");
        println!("load average before: {}", format_load(load_before));
    }
    let mut seconds = Vec::with_capacity(repeats);
    let mut backend = Backend::detect();
    let mut threads = 0;
    for repeat in 0..repeats {
        let mut trainer =
            Trainer::new(spec, Hyper::paper_fashion(), train.clone(), LabelledSet::default(), repeat as u64)
                .context("setting up the benchmark")?;
        threads = trainer.threads();
        backend = Backend::detect();
        let start = Instant::now();
        for _ in 0..EPOCHS {
            trainer.step(trainer.batches_per_epoch());
        }
        let elapsed = start.elapsed().as_secs_f64();
        if !json {
            let rate = (EPOCHS * TRAIN_SAMPLES) as f64 / elapsed;
            println!("  run {}: {elapsed:.3} s, {rate:.0} samples/s", repeat + 1);
        }
        seconds.push(elapsed);
    }
    let median_seconds = median(&seconds);
    let samples = EPOCHS * TRAIN_SAMPLES;
    let rate = samples as f64 / median_seconds;
    let flop = spec.training_flops_per_sample();
    let result = TrainBench {
        benchmark: "train_fashion",
        backend: format!("{backend:?}"),
        threads,
        repeats,
        samples_per_run: samples,
        median_seconds,
        median_samples_per_second: rate,
        median_gflops: rate * flop / 1e9,
        flop_per_sample: flop,
        load_average_before: load_before,
        load_average_after: load_average(),
        seconds,
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        println!(
            "median: {:.3} s, {:.0} samples/s, {:.1} GFLOP/s ({:.0}% of the {REFERENCE_PEAK_GFLOPS} GFLOP/s 2-core reference peak)",
            result.median_seconds,
            result.median_samples_per_second,
            result.median_gflops,
            100.0 * result.median_gflops / REFERENCE_PEAK_GFLOPS,
        );
        // A remembered PyTorch figure was wrong once: the peer is only ever measured beside this run.
        println!("PyTorch peer: run `python3 tests/pytorch_bench.py` interleaved with this command (needs torch)");
        println!(
            "backend {}, {} threads; load average after: {}",
            result.backend,
            result.threads,
            format_load(result.load_average_after)
        );
    }
    Ok(())
}

/// `count` uniform-noise images with random labels.
fn noise_set(spec: CnnSpec, count: usize, seed: u64) -> anyhow::Result<LabelledSet> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let images: Vec<Array2<f32>> = (0..count)
        .map(|_| Array2::from_shape_simple_fn((spec.height, spec.width), || rng.random_range(0.0..1.0)))
        .collect();
    let labels: Vec<usize> = (0..count).map(|_| rng.random_range(0..spec.classes)).collect();
    Ok(LabelledSet::new(&images, &labels, spec.height, spec.width, spec.classes)?)
}

/// The median (mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 { sorted[n / 2] } else { f64::midpoint(sorted[n / 2 - 1], sorted[n / 2]) }
}

/// The 1, 5 and 15 minute load averages from `/proc/loadavg` (Linux only).
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    Some([fields.next()?.ok()?, fields.next()?.ok()?, fields.next()?.ok()?])
}

/// `"0.12 0.30 0.41"` or `"unavailable"`.
pub fn format_load(load: Option<[f64; 3]>) -> String {
    load.map_or_else(|| "unavailable".to_owned(), |[a, b, c]| format!("{a:.2} {b:.2} {c:.2}"))
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(format_load(None), "unavailable");
    }
}
