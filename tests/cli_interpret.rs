//! `tilelab interpret` writes the files issue 20 specifies, with their shapes and keys, and
//! refuses bad input with a message.

use std::path::Path;
use std::process::Command;

use ndarray::ArrayD;
use serde_json::Value;
use tilelab::core::export::load_npy;
use tilelab::core::interop::onnx_export::export_cnn;
use tilelab::core::nn::cnn::{Cnn, CnnSpec};
use tilelab::core::nn::weights_file;
use tilelab::core::{presets, tileset_file};

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file written")).expect("valid JSON")
}

fn interpret(tileset: &Path, net: &str, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["interpret", "--tileset", text(tileset), "--net", net, "--out", text(out), "--json"];
    args.extend_from_slice(extra);
    let output = tilelab(&args);
    assert!(output.status.success(), "tilelab {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

/// The files' shapes agree with each other and with the JSON on stdout.
fn check_files(out: &Path, samples: usize, size: (usize, usize)) -> (ArrayD<f32>, Value) {
    let preferred: ArrayD<f32> = load_npy(&out.join("preferred.npy")).unwrap();
    let units = json(&out.join("units.json"));
    let units = units.as_array().expect("units.json is a list");
    assert_eq!(preferred.shape(), &[units.len(), size.0, size.1]);
    assert!(preferred.iter().all(|v| (0.0..=1.0).contains(v)));
    for unit in units {
        for key in ["layer", "channel", "window", "tile"] {
            assert!(unit.get(key).is_some(), "units.json rows have '{key}': {unit}");
        }
        assert_eq!(unit["window"].as_array().unwrap().len(), 2);
    }
    let attribution: ArrayD<f32> = load_npy(&out.join("attribution.npy")).unwrap();
    let meta = json(&out.join("attribution.json"));
    let methods = meta["methods"].as_array().unwrap().len();
    assert_eq!(attribution.shape(), &[methods, samples, size.0, size.1]);
    assert_eq!(meta["samples"].as_array().unwrap().len(), samples);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("pointing game") && report.contains("attribution.png"));
    assert!(out.join("attribution.png").is_file());
    (preferred, Value::Array(units.clone()))
}

#[test]
fn n1_and_n2_recover_every_detector_tile_and_attributions_are_scored() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("toy.json");
    tileset_file::save(&tileset, &presets::two_feature_example()).unwrap();
    for net in ["n1", "n2"] {
        let out = dir.path().join(net);
        let summary = interpret(&tileset, net, &out, &["--height", "12", "--width", "12", "--samples", "4"]);
        assert_eq!(summary["recovery"].as_f64(), Some(1.0), "{net}: {summary}");
        let methods = summary["methods"].as_object().unwrap();
        assert_eq!(methods.len(), 4);
        for (name, scores) in methods {
            for key in ["pointing_game", "mass_in_window"] {
                let value = scores[key].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&value), "{net} {name} {key} = {value}");
            }
        }
        let mass = |method: &str| methods[method]["mass_in_window"].as_f64().unwrap();
        assert!(mass("integrated-gradients") > 0.99, "{net}: only the pasted windows fire");
        // Exact pastes put N2's block distances at 0, on their ReLU's kink, where the gradient is
        // 0: plain gradients see nothing there, N1 (no ReLU between pixels and d_T) everything.
        let expected_gradient_mass = if net == "n1" { 1.0 } else { 0.0 };
        assert!((mass("gradient") - expected_gradient_mass).abs() < 1e-6, "{net}: {summary}");
        let (_, units) = check_files(&out, 4, (12, 12));
        let detectors: Vec<&Value> = units.as_array().unwrap().iter().filter(|u| u["kind"] == "detector").collect();
        assert_eq!(detectors.len(), 4, "one per tile");
        assert!(detectors.iter().all(|u| u["tile"].is_u64() && u["recovered"] == true));
        assert!(out.join("preferred.png").is_file());
    }
}

#[test]
fn a_trained_cnn_has_feature_units_and_no_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("toy.json");
    tileset_file::save(&tileset, &presets::two_feature_example()).unwrap();
    let cnn = Cnn::new(CnnSpec { height: 12, width: 12, kernel: 3, filters: 3, classes: 2 }, 1).unwrap();
    let weights = dir.path().join("weights.json");
    weights_file::save(&weights, &cnn).unwrap();
    let out = dir.path().join("trained");
    let summary = interpret(&tileset, "trained", &out, &["--weights", text(&weights), "--samples", "3"]);
    assert!(summary["recovery"].is_null());
    let (preferred, units) = check_files(&out, 3, (12, 12));
    assert_eq!(preferred.shape()[0], 3, "one unit per filter");
    assert!(units.as_array().unwrap().iter().all(|u| u["tile"].is_null() && u["kind"] == "feature"));
}

#[test]
fn an_onnx_model_gets_every_method_through_its_backward_pass() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("toy.json");
    tileset_file::save(&tileset, &presets::two_feature_example()).unwrap();
    let cnn = Cnn::new(CnnSpec { height: 12, width: 12, kernel: 3, filters: 3, classes: 2 }, 1).unwrap();
    let names = ["a".to_owned(), "b".to_owned()];
    let model = dir.path().join("cnn.onnx");
    std::fs::write(&model, export_cnn(&cnn, &names).unwrap().onnx_bytes()).unwrap();
    let out = dir.path().join("onnx");
    let summary = interpret(&tileset, text(&model), &out, &["--samples", "3"]);
    let methods = summary["methods"].as_object().unwrap();
    for name in ["gradient", "gradient-x-input", "integrated-gradients", "occlusion"] {
        assert!(methods.contains_key(name), "{name} runs on the ONNX model: {summary}");
    }
    assert!(summary["skipped"].as_object().unwrap().is_empty(), "{summary}");
    check_files(&out, 3, (12, 12));
}

#[test]
fn bad_input_gets_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("toy.json");
    tileset_file::save(&tileset, &presets::two_feature_example()).unwrap();
    let out = dir.path().join("out");
    for (args, expected) in [
        (vec!["--net", "n3"], "--net must be n1, n2, trained"),
        (vec!["--net", "n2", "--samples", "0"], "--samples must lie between"),
        (vec!["--net", "trained", "--height", "12"], "without --weights uses 40×40"),
        (vec!["--net", "missing.onnx"], "cannot load the ONNX model"),
    ] {
        let mut all = vec!["interpret", "--tileset", text(&tileset), "--out", text(&out)];
        all.extend(args);
        let output = tilelab(&all);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{all:?}: {stderr}");
        assert!(!stderr.contains("panicked"));
    }
}
