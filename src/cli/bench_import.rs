//! `tilelab bench import`: the forward pass of imported ONNX models in tilelab's engine beside ONNX
//! Runtime on the same inputs. By default the models are ONNX's `light` ResNet-50 (from the `onnx`
//! package's backend test data) and the paper's Fashion CNN as tilelab exports it; `--model` picks
//! others. ONNX Runtime runs in a persistent Python process (`tests/onnxruntime_bench.py`,
//! embedded) and the rounds alternate, one of ours then one of theirs, so both see the same load;
//! the ratio of medians comes from this run only. Without a Python that has onnxruntime, tilelab is
//! timed alone and the report says why.
//!
//! tilelab runs as `tilelab run` does (only the outputs kept); the app keeps every value for
//! drawing, which costs more memory but no more arithmetic.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use ndarray::{ArrayD, Dimension as _, IxDyn};
use serde::Serialize;

use super::bench_train::{find_python_importing, format_load, load_average, median};
use crate::core::export::save_npy;
use crate::core::interop::onnx_export::export_cnn;
use crate::core::interop::onnx_import::OnnxGraph;
use crate::core::interop::ops::Value;
use crate::core::nn::cnn::{Cnn, CnnSpec};

/// The ONNX Runtime peer, run with `python -c SCRIPT MODEL NAME=x.npy …`.
const ONNXRUNTIME_SCRIPT: &str = include_str!("../../tests/onnxruntime_bench.py");
/// Asks `onnx` where its backend test data is.
const LIGHT_FOLDER_SCRIPT: &str =
    "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'light'))";

/// One model's result, printed as one JSON object with `--json`.
#[derive(Debug, Serialize)]
struct ImportBench {
    benchmark: String,
    model: String,
    /// Each input's name and shape (symbolic dimensions taken as 1).
    inputs: Vec<(String, Vec<usize>)>,
    repeats: usize,
    tilelab: Timing,
    #[serde(skip_serializing_if = "Option::is_none")]
    onnxruntime: Option<PeerTiming>,
    /// Why ONNX Runtime was not timed, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    onnxruntime_missing: Option<String>,
    /// tilelab's median time over ONNX Runtime's, both measured in this run (above 1: tilelab is slower).
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_of_medians: Option<f64>,
    load_average_before: Option<[f64; 3]>,
    load_average_after: Option<[f64; 3]>,
}

/// One side's forward-pass times.
#[derive(Debug, Serialize)]
struct Timing {
    seconds: Vec<f64>,
    median_seconds: f64,
    best_seconds: f64,
}

impl Timing {
    fn of(seconds: Vec<f64>) -> Self {
        let best_seconds = seconds.iter().copied().fold(f64::INFINITY, f64::min);
        Self { median_seconds: median(&seconds), best_seconds, seconds }
    }
}

/// ONNX Runtime's side.
#[derive(Debug, Serialize)]
struct PeerTiming {
    python: String,
    version: String,
    #[serde(flatten)]
    timing: Timing,
}

/// A model to time and the name its benchmark is reported under.
struct Case {
    name: String,
    path: PathBuf,
    /// What the report calls the model: its path, or what was exported.
    label: String,
}

/// Times every model `repeats` times (at least once), each beside ONNX Runtime when it is installed.
pub fn run(repeats: usize, json: bool, models: &[PathBuf]) -> anyhow::Result<()> {
    let repeats = repeats.max(1);
    let python = find_python_importing("onnxruntime, numpy");
    let scratch = std::env::temp_dir().join(format!("tilelab-bench-import-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let result = run_in(&scratch, repeats, json, models, &python);
    // Best effort: the folder only holds the inputs and the exported CNN.
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in(
    scratch: &Path,
    repeats: usize,
    json: bool,
    models: &[PathBuf],
    python: &Result<String, String>,
) -> anyhow::Result<()> {
    let cases = if models.is_empty() { default_cases(scratch, json)? } else { given_cases(models) };
    if !json {
        match python {
            Ok(python) => println!("ONNX Runtime peer: {python}, interleaved rounds, {repeats} each"),
            Err(tried) => println!("ONNX Runtime peer: none of {tried} imports onnxruntime; timing tilelab alone"),
        }
    }
    for case in &cases {
        let result = bench_case(case, scratch, repeats, python)?;
        if json {
            println!("{}", serde_json::to_string(&result)?);
        } else {
            print_report(&result);
        }
    }
    Ok(())
}

/// The models given with `--model`.
fn given_cases(models: &[PathBuf]) -> Vec<Case> {
    models
        .iter()
        .map(|path| Case {
            name: path.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned()),
            path: path.clone(),
            label: path.display().to_string(),
        })
        .collect()
}

/// The light ResNet-50 (when Python's `onnx` is found) and the paper's Fashion CNN, exported.
fn default_cases(scratch: &Path, json: bool) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    match light_resnet50() {
        Ok(path) => cases.push(Case { name: "resnet50_light".into(), label: path.display().to_string(), path }),
        Err(reason) if json => {
            println!("{}", serde_json::json!({ "benchmark": "import_resnet50_light", "skipped": reason }));
        }
        Err(reason) => println!("light ResNet-50 skipped: {reason}"),
    }
    let spec = CnnSpec::fashion();
    let names: Vec<String> = (0..spec.classes).map(|c| format!("class {c}")).collect();
    let cnn = Cnn::new(spec, 1).context("building the paper's CNN")?;
    let path = scratch.join("fashion_cnn.onnx");
    std::fs::write(&path, export_cnn(&cnn, &names)?.onnx_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let label =
        "the paper's Fashion CNN (conv 5×5 ×12, ReLU, fully connected; untrained weights) as tilelab exports it";
    cases.push(Case { name: "fashion_cnn".into(), path, label: label.into() });
    Ok(cases)
}

/// `light_resnet50.onnx` from the `onnx` package's backend test data.
fn light_resnet50() -> Result<PathBuf, String> {
    let python = find_python_importing("onnx").map_err(|tried| format!("none of {tried} imports onnx"))?;
    let output = Command::new(&python)
        .args(["-c", LIGHT_FOLDER_SCRIPT])
        .output()
        .map_err(|e| format!("running {python}: {e}"))?;
    let folder = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let path = folder.join("light_resnet50.onnx");
    if path.is_file() { Ok(path) } else { Err(format!("{} is missing", path.display())) }
}

/// One model: inputs written for the peer, a warm-up on both sides, then alternating rounds.
fn bench_case(
    case: &Case,
    scratch: &Path,
    repeats: usize,
    python: &Result<String, String>,
) -> anyhow::Result<ImportBench> {
    let graph = OnnxGraph::load(&case.path).with_context(|| format!("cannot load {}", case.path.display()))?;
    let feeds = ramp_inputs(&graph);
    let inputs: Vec<(String, Vec<usize>)> =
        graph.inputs().iter().map(|i| (i.name.clone(), feeds[&i.name].shape().to_vec())).collect();
    let (mut peer, mut missing) = (None, None);
    match python {
        Ok(python) => match Peer::start(python, &case.path, &feeds, scratch) {
            Ok(started) => peer = Some(started),
            Err(error) => missing = Some(format!("{error:#}")),
        },
        Err(tried) => missing = Some(format!("none of {tried} imports onnxruntime")),
    }
    let load_average_before = load_average();
    graph.evaluate(&feeds, false).with_context(|| format!("running {}", case.name))?;
    let (mut ours, mut theirs) = (Vec::with_capacity(repeats), Vec::with_capacity(repeats));
    for _ in 0..repeats {
        let start = Instant::now();
        graph.evaluate(&feeds, false)?;
        ours.push(start.elapsed().as_secs_f64());
        if let Some(peer) = &mut peer {
            theirs.push(peer.time_one_run()?);
        }
    }
    let tilelab = Timing::of(ours);
    let onnxruntime = peer.as_ref().map(|peer| PeerTiming {
        python: peer.python.clone(),
        version: peer.version.clone(),
        timing: Timing::of(theirs),
    });
    drop(peer);
    Ok(ImportBench {
        benchmark: format!("import_{}", case.name),
        model: case.label.clone(),
        inputs,
        repeats,
        ratio_of_medians: onnxruntime.as_ref().map(|o| tilelab.median_seconds / o.timing.median_seconds),
        tilelab,
        onnxruntime,
        onnxruntime_missing: missing,
        load_average_before,
        load_average_after: load_average(),
    })
}

/// One value per graph input, `arange(n) / n` in its shape (the `light` suite's own input), symbolic
/// dimensions taken as 1; integer inputs get zeros.
fn ramp_inputs(graph: &OnnxGraph) -> HashMap<String, Value> {
    graph
        .inputs()
        .iter()
        .map(|input| {
            let shape: Vec<usize> = input.dims.iter().map(|d| d.unwrap_or(1)).collect();
            let value = if input.integer {
                Value::I64(ArrayD::zeros(IxDyn(&shape)))
            } else {
                let n = shape.iter().product::<usize>();
                Value::F32(ArrayD::from_shape_fn(IxDyn(&shape), |index| {
                    let flat = index.slice().iter().zip(&shape).fold(0, |acc, (i, d)| acc * d + i);
                    (flat as f64 / n as f64) as f32
                }))
            };
            (input.name.clone(), value)
        })
        .collect()
}

/// A running ONNX Runtime session: one line on its stdin runs the model once and it answers the
/// seconds taken.
struct Peer {
    python: String,
    version: String,
    child: Child,
    commands: Option<ChildStdin>,
    answers: BufReader<ChildStdout>,
}

impl Peer {
    /// Writes the inputs as `.npy`, starts the script and reads its ready line.
    fn start(python: &str, model: &Path, feeds: &HashMap<String, Value>, scratch: &Path) -> anyhow::Result<Self> {
        let mut arguments = vec![model.display().to_string()];
        for (k, (name, value)) in feeds.iter().enumerate() {
            let path = scratch.join(format!("input_{k}.npy"));
            match value {
                Value::F32(a) => save_npy::<f32, _, _>(&path, a)?,
                Value::I64(a) => save_npy::<i64, _, _>(&path, a)?,
            }
            arguments.push(format!("{name}={}", path.display()));
        }
        let mut child = Command::new(python)
            .arg("-c")
            .arg(ONNXRUNTIME_SCRIPT)
            .args(&arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {python}"))?;
        let (commands, stdout) = (child.stdin.take(), child.stdout.take());
        let mut answers = BufReader::new(stdout.context("no pipe from ONNX Runtime")?);
        let mut line = String::new();
        answers.read_line(&mut line).context("reading ONNX Runtime's ready line")?;
        let Ok(ready) = serde_json::from_str::<serde_json::Value>(&line) else {
            let output = child.wait_with_output().context("waiting for ONNX Runtime")?;
            let error = String::from_utf8_lossy(&output.stderr);
            bail!("ONNX Runtime did not start: {}", error.lines().last().unwrap_or("no message"));
        };
        let version = ready["onnxruntime"].as_str().unwrap_or("?").to_owned();
        Ok(Self { python: python.to_owned(), version, child, commands, answers })
    }

    /// Runs the model once in ONNX Runtime: the seconds it took.
    fn time_one_run(&mut self) -> anyhow::Result<f64> {
        let commands = self.commands.as_mut().context("ONNX Runtime's input is closed")?;
        commands.write_all(b"run\n").and_then(|()| commands.flush()).context("asking ONNX Runtime for a run")?;
        let mut line = String::new();
        self.answers.read_line(&mut line).context("reading ONNX Runtime's time")?;
        line.trim().parse().with_context(|| format!("ONNX Runtime answered {line:?}, not seconds"))
    }
}

impl Drop for Peer {
    /// Closing its input ends the script's loop; waiting reaps the process.
    fn drop(&mut self) {
        self.commands.take();
        let _ = self.child.wait();
    }
}

fn print_report(result: &ImportBench) {
    let shapes: Vec<String> = result.inputs.iter().map(|(name, shape)| format!("{name} {shape:?}")).collect();
    println!("{} ({}), input {}:", result.benchmark, result.model, shapes.join(", "));
    println!("  load average before: {}", format_load(result.load_average_before));
    let t = &result.tilelab;
    println!(
        "  tilelab: median {:.2} ms, best {:.2} ms over {} runs",
        t.median_seconds * 1e3,
        t.best_seconds * 1e3,
        result.repeats
    );
    match (&result.onnxruntime, result.ratio_of_medians) {
        (Some(peer), Some(ratio)) => println!(
            "  ONNX Runtime {}: median {:.2} ms, best {:.2} ms; tilelab / ONNX Runtime (medians) = {ratio:.2}",
            peer.version,
            peer.timing.median_seconds * 1e3,
            peer.timing.best_seconds * 1e3
        ),
        _ => {
            println!("  ONNX Runtime not timed: {}", result.onnxruntime_missing.as_deref().unwrap_or("unknown reason"));
        }
    }
    println!("  load average after: {}", format_load(result.load_average_after));
}
