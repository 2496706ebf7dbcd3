//! The ONNX importer against ONNX's own backend test data (shipped in the `onnx` Python package):
//! every case of `pytorch-converted`, `pytorch-operator` and `light` runs through `OnnxGraph` and
//! is compared with its expected outputs at the suites' tolerance (`|got − want| ≤ atol + rtol·|want|`,
//! rtol 1e-3 and atol 1e-7 unless the case's `data.json` says otherwise, as onnx's backend runner
//! does). The report lists every case: pass, fail, or skip with the unsupported operator named.
//! Without the `onnx` package the test says SKIPPED and passes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ndarray::{ArrayD, IxDyn};
use tilelab::core::interop::onnx_import::{ImportError, OnnxGraph, read_tensor};
use tilelab::core::interop::ops::Value;

const RTOL: f32 = 1e-3;
const ATOL: f32 = 1e-7;

/// `onnx/backend/test/data` of the installed `onnx` package, if any.
fn data_dir() -> Option<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import onnx, os; print(os.path.dirname(onnx.__file__) + '/backend/test/data')"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (output.status.success() && dir.join("light").is_dir()).then_some(dir)
}

/// How one case went.
enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

fn read_value(path: &Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read_tensor(&bytes).map(|(_, v)| v).map_err(|e| format!("{}: {e}", path.display()))
}

/// The first element outside the tolerance, described; `None` when all agree.
#[allow(clippy::float_cmp)] // equal infinities agree only by `==`
fn mismatch(got: &Value, want: &Value, rtol: f32, atol: f32) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!("shape {:?}, expected {:?}", got.shape(), want.shape()));
    }
    match (got, want) {
        (Value::F32(g), Value::F32(w)) => g.iter().zip(w).enumerate().find_map(|(i, (&a, &b))| {
            // As numpy's assert_allclose: equal infinities and NaN against NaN agree.
            let close = a == b || (a - b).abs() <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan());
            (!close).then(|| format!("element {i}: {a}, expected {b}"))
        }),
        (Value::I64(g), Value::I64(w)) => (g != w).then(|| "integer outputs differ".to_owned()),
        _ => Some("element types differ".into()),
    }
}

/// Loads `model`, feeds `inputs` in the graph's input order and compares every output.
fn check(model: &Path, inputs: Vec<Value>, expected: &[Value], rtol: f32, atol: f32) -> Outcome {
    let graph = match OnnxGraph::load(model) {
        Ok(graph) => graph,
        Err(error @ ImportError::Unsupported { .. }) => return Outcome::Skip(error.to_string()),
        Err(error) => return Outcome::Fail(format!("load: {error}")),
    };
    if inputs.len() != graph.inputs().len() {
        return Outcome::Fail(format!("{} inputs for {} graph inputs", inputs.len(), graph.inputs().len()));
    }
    let feeds: HashMap<String, Value> = graph.inputs().iter().map(|i| i.name.clone()).zip(inputs).collect();
    let evaluation = match graph.evaluate(&feeds, false) {
        Ok(evaluation) => evaluation,
        Err(error) => return Outcome::Fail(format!("run: {error}")),
    };
    for (i, want) in expected.iter().enumerate() {
        let Some((name, got)) = evaluation.outputs.get(i) else {
            return Outcome::Fail(format!("output {i} is missing"));
        };
        if let Some(problem) = mismatch(got, want, rtol, atol) {
            return Outcome::Fail(format!("output '{name}': {problem}"));
        }
    }
    Outcome::Pass
}

/// A case folder with `model.onnx` and `test_data_set_0/{input,output}_*.pb`.
fn run_case(dir: &Path) -> Outcome {
    let set = dir.join("test_data_set_0");
    let files = |prefix: &str| -> Result<Vec<Value>, String> {
        (0..).map(|i| set.join(format!("{prefix}_{i}.pb"))).take_while(|p| p.exists()).map(|p| read_value(&p)).collect()
    };
    match (files("input"), files("output")) {
        (Ok(inputs), Ok(outputs)) => check(&dir.join("model.onnx"), inputs, &outputs, RTOL, ATOL),
        (Err(e), _) | (_, Err(e)) => Outcome::Fail(e),
    }
}

/// A `light` model: the input the backend runner makes (`arange(n) / n` in the input's shape), the
/// stored expected output, and the tolerance of `real/test_<name>/data.json`.
fn run_light(data: &Path, model: &Path) -> Outcome {
    let name = model.file_stem().unwrap_or_default().to_string_lossy().trim_start_matches("light_").to_owned();
    let rtol = std::fs::read_to_string(data.join(format!("real/test_{name}/data.json")))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["rtol"].as_f64())
        .map_or(RTOL, |r| r as f32);
    let expected = match read_value(&model.with_file_name(format!("light_{name}_output_0.pb"))) {
        Ok(value) => value,
        Err(e) => return Outcome::Fail(e),
    };
    let graph = match OnnxGraph::load(model) {
        Ok(graph) => graph,
        Err(error @ ImportError::Unsupported { .. }) => return Outcome::Skip(error.to_string()),
        Err(error) => return Outcome::Fail(format!("load: {error}")),
    };
    let inputs: Vec<Value> = graph
        .inputs()
        .iter()
        .map(|input| {
            let shape: Vec<usize> = input.dims.iter().map(|d| d.unwrap_or(1)).collect();
            let n: usize = shape.iter().product();
            let ramp = (0..n).map(|k| (k as f64 / n as f64) as f32).collect();
            Value::F32(ArrayD::from_shape_vec(IxDyn(&shape), ramp).expect("the ramp fills the shape"))
        })
        .collect();
    check(model, inputs, &[expected], rtol, ATOL)
}

#[test]
fn the_onnx_reference_suites_pass() {
    let Some(data) = data_dir() else {
        println!("SKIPPED: python3 with the onnx package is not available (pip install onnx)");
        return;
    };
    let mut report: Vec<(String, String, Outcome, f64)> = Vec::new();
    for suite in ["pytorch-converted", "pytorch-operator"] {
        let mut cases: Vec<PathBuf> = std::fs::read_dir(data.join(suite))
            .expect("the suite's folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("model.onnx").exists())
            .collect();
        cases.sort();
        for case in cases {
            let start = Instant::now();
            let outcome = run_case(&case);
            let name = case.file_name().unwrap_or_default().to_string_lossy().into_owned();
            report.push((suite.to_owned(), name, outcome, start.elapsed().as_secs_f64()));
        }
    }
    let mut models: Vec<PathBuf> = std::fs::read_dir(data.join("light"))
        .expect("the light folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    models.sort();
    for model in &models {
        let start = Instant::now();
        let outcome = run_light(&data, model);
        let name = model.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        report.push(("light".into(), name, outcome, start.elapsed().as_secs_f64()));
    }
    println!("ONNX reference suites ({}):", data.display());
    for (suite, name, outcome, seconds) in &report {
        match outcome {
            Outcome::Pass => println!("  PASS  {suite}/{name} ({seconds:.2} s)"),
            Outcome::Fail(why) => println!("  FAIL  {suite}/{name}: {why}"),
            Outcome::Skip(why) => println!("  SKIP  {suite}/{name}: {why}"),
        }
    }
    let count = |suites: &[&str], pass: bool| {
        report
            .iter()
            .filter(|(s, _, o, _)| suites.contains(&s.as_str()) && (!pass || matches!(o, Outcome::Pass)))
            .count()
    };
    let pytorch = ["pytorch-converted", "pytorch-operator"];
    let (passed, total) = (count(&pytorch, true), count(&pytorch, false));
    let (light_passed, light_total) = (count(&["light"], true), count(&["light"], false));
    println!("PyTorch suites: {passed} of {total} pass; light models: {light_passed} of {light_total} pass");
    let failures: Vec<String> = report
        .iter()
        .filter(|(_, _, o, _)| matches!(o, Outcome::Fail(_)))
        .map(|(s, n, _, _)| format!("{s}/{n}"))
        .collect();
    assert!(failures.is_empty(), "cases that run but disagree: {failures:?}");
    assert_eq!(light_passed, light_total, "every light model passes");
    assert!(light_total >= 9, "the nine light models were found");
    assert!(passed * 10 >= total * 9, "{passed} of {total} PyTorch cases pass (goal: 90 %)");
}
