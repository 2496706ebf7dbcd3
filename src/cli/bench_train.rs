//! `tilelab bench train`: a Fashion training run (40×40 → the chosen network → 10 logits,
//! batch 100, 15 epochs × 4000 samples), timed; median samples/s and GFLOP/s. `--arch paper` is
//! the paper's network on the fused path (plain SGD lr 0.03); `--arch deep` the deep preset on the
//! general engine (momentum 0.9, lr 0.01). With `--against-pytorch` every run is followed by the
//! same run in PyTorch (`tests/pytorch_bench.py`, embedded) and the ratio of the medians is printed:
//! the peer is only ever measured beside this run, never quoted from memory.
//!
//! The images are uniform noise with random labels: every operation of the step is dense, so the
//! time does not depend on the pixel values, and the benchmark needs no data generation.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::reproduce::ArchArg;
use crate::core::nn::arch::Preset;
use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::deep_train::DeepTrainer;
use crate::core::nn::kernels::Backend;
use crate::core::nn::train::{Hyper, LabelledSet, Trainer};

/// Epochs of the paper's run.
const EPOCHS: usize = 15;
/// Training samples of the paper's run.
const TRAIN_SAMPLES: usize = 4000;
/// Peak f32 FMA throughput of the 2-core reference machine (FACTS.md), for the ratio printed.
const REFERENCE_PEAK_GFLOPS: f64 = 196.0;
/// The PyTorch peer, run with `python - REPEATS ARCH` and this text on stdin.
const PYTORCH_SCRIPT: &str = include_str!("../../tests/pytorch_bench.py");

/// The benchmark's result, printed as one JSON object with `--json`.
#[derive(Debug, Serialize)]
struct TrainBench {
    benchmark: String,
    arch: &'static str,
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
    /// With `--against-pytorch`: the peer's runs, interleaved with ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pytorch: Option<PytorchPeer>,
}

/// PyTorch's side of an interleaved comparison.
#[derive(Debug, Serialize)]
struct PytorchPeer {
    python: String,
    torch: String,
    seconds: Vec<f64>,
    median_samples_per_second: f64,
    /// Our median samples/s over PyTorch's, both measured in this run.
    ratio_of_medians: f64,
}

/// Runs the benchmark `repeats` times (at least once) and prints the median; with
/// `against_pytorch` each run is followed by PyTorch's (an error if no Python with torch is found).
pub fn run(repeats: usize, json: bool, arch: ArchArg, against_pytorch: bool) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let preset = arch.preset();
    let spec = CnnSpec::fashion();
    let train = noise_set(spec, TRAIN_SAMPLES, 1)?;
    let python = if against_pytorch { Some(find_python_with_torch()?) } else { None };
    let load_before = load_average();
    if !json {
        println!(
            "training benchmark: {} network, Fashion setting, {EPOCHS} epochs × {TRAIN_SAMPLES} samples, batch 100",
            preset.name()
        );
        println!("load average before: {}", format_load(load_before));
    }
    let mut seconds = Vec::with_capacity(repeats);
    let mut peer_seconds = Vec::new();
    let mut torch_version = String::new();
    let mut threads = 0;
    for repeat in 0..repeats {
        let (elapsed, used) = time_one_run(preset, &train, repeat as u64)?;
        threads = used;
        if !json {
            println!("  run {}: {elapsed:.3} s, {:.0} samples/s", repeat + 1, samples_per_run() as f64 / elapsed);
        }
        seconds.push(elapsed);
        if let Some(python) = &python {
            let (peer, version) = run_pytorch_once(python, preset)?;
            if !json {
                println!(
                    "  PyTorch {version} run {}: {peer:.3} s, {:.0} samples/s",
                    repeat + 1,
                    samples_per_run() as f64 / peer
                );
            }
            torch_version = version;
            peer_seconds.push(peer);
        }
    }
    let median_seconds = median(&seconds);
    let rate = samples_per_run() as f64 / median_seconds;
    let flop = preset.arch(spec.height, spec.width, spec.classes).training_flops_per_sample();
    let pytorch = python.map(|python| {
        let peer_rate = samples_per_run() as f64 / median(&peer_seconds);
        PytorchPeer {
            python,
            torch: torch_version,
            median_samples_per_second: peer_rate,
            ratio_of_medians: rate / peer_rate,
            seconds: peer_seconds,
        }
    });
    let result = TrainBench {
        benchmark: format!("train_fashion_{}", preset.name()),
        arch: preset.name(),
        backend: format!("{:?}", Backend::detect()),
        threads,
        repeats,
        samples_per_run: samples_per_run(),
        median_seconds,
        median_samples_per_second: rate,
        median_gflops: rate * flop / 1e9,
        flop_per_sample: flop,
        load_average_before: load_before,
        load_average_after: load_average(),
        seconds,
        pytorch,
    };
    if json {
        println!("{}", serde_json::to_string(&result)?);
    } else {
        print_report(&result);
    }
    Ok(())
}

fn samples_per_run() -> usize {
    EPOCHS * TRAIN_SAMPLES
}

fn print_report(result: &TrainBench) {
    println!(
        "median: {:.3} s, {:.0} samples/s, {:.1} GFLOP/s ({:.0}% of the {REFERENCE_PEAK_GFLOPS} GFLOP/s 2-core reference peak)",
        result.median_seconds,
        result.median_samples_per_second,
        result.median_gflops,
        100.0 * result.median_gflops / REFERENCE_PEAK_GFLOPS,
    );
    match &result.pytorch {
        Some(peer) => println!(
            "PyTorch {} (same network, interleaved): median {:.0} samples/s; tilelab / PyTorch = {:.2}",
            peer.torch, peer.median_samples_per_second, peer.ratio_of_medians
        ),
        None => println!("PyTorch peer: add --against-pytorch (needs a Python with torch; TILELAB_PYTHON picks one)"),
    }
    println!(
        "backend {}, {} threads; load average after: {}",
        result.backend,
        result.threads,
        format_load(result.load_average_after)
    );
}

/// One timed run of `preset` from seed `seed`: `(seconds, threads)`.
fn time_one_run(preset: Preset, train: &LabelledSet, seed: u64) -> anyhow::Result<(f64, usize)> {
    let spec = CnnSpec::fashion();
    let hyper = Hyper::of_preset(preset);
    let test = LabelledSet::default();
    if preset == Preset::Paper {
        let mut trainer = Trainer::new(spec, hyper, train.clone(), test, seed).context("setting up the benchmark")?;
        let start = Instant::now();
        for _ in 0..EPOCHS {
            trainer.step(trainer.batches_per_epoch());
        }
        return Ok((start.elapsed().as_secs_f64(), trainer.threads()));
    }
    let arch = preset.arch(spec.height, spec.width, spec.classes);
    let mut trainer = DeepTrainer::new(arch, hyper, train.clone(), test, seed).context("setting up the benchmark")?;
    let start = Instant::now();
    for _ in 0..EPOCHS {
        trainer.step(trainer.batches_per_epoch());
    }
    Ok((start.elapsed().as_secs_f64(), trainer.threads()))
}

/// The first of `$TILELAB_PYTHON`, `python3`, `python` that imports torch.
fn find_python_with_torch() -> anyhow::Result<String> {
    find_python_importing("torch").map_err(|tried| {
        anyhow::anyhow!("--against-pytorch: none of {tried} imports torch (set TILELAB_PYTHON to a Python that has it)")
    })
}

/// The first of `$TILELAB_PYTHON`, `python3`, `python` that imports `modules` (comma-separated);
/// if none does, the candidates tried, listed.
pub fn find_python_importing(modules: &str) -> Result<String, String> {
    let candidates: Vec<String> =
        std::env::var("TILELAB_PYTHON").into_iter().chain(["python3".to_owned(), "python".to_owned()]).collect();
    for python in &candidates {
        let imports = Command::new(python)
            .args(["-c", &format!("import {modules}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if imports {
            return Ok(python.clone());
        }
    }
    Err(candidates.join(", "))
}

/// One PyTorch run of the same network: `(seconds, torch version)`.
fn run_pytorch_once(python: &str, preset: Preset) -> anyhow::Result<(f64, String)> {
    let mut child = Command::new(python)
        .args(["-", "1", preset.name()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {python}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(PYTORCH_SCRIPT.as_bytes()).context("sending the PyTorch script")?;
    }
    let output = child.wait_with_output().context("running the PyTorch script")?;
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().last().unwrap_or_default();
    let value: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("reading PyTorch's result line {line:?}"))?;
    let seconds = value["seconds"][0].as_f64().context("PyTorch's result has no seconds")?;
    Ok((seconds, value["torch"].as_str().unwrap_or("?").to_owned()))
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
pub fn median(values: &[f64]) -> f64 {
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
