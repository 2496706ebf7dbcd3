//! `tilelab run` on models PyTorch 2.15 exported with both exporters (`tests/fixtures/onnx/pytorch/`,
//! made by `make_fixtures.py`): a `LeNet` that normalises its input in `forward` (`(x − 0.5) / 0.25`)
//! and uses `F.relu6`, and a 3-channel model with grouped and depthwise convolutions, `torch.cat`
//! of branches, a residual add, nearest upsampling and `x.view(x.size(0), -1)`. Their outputs must
//! match PyTorch's; the grey one opens as an app model, the colour one is refused with a hint.

use std::path::{Path, PathBuf};
use std::process::Command;

use ndarray::ArrayD;
use tilelab::core::export::load_npy;
use tilelab::core::interop::onnx_import::OnnxModel;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/pytorch").join(name)
}

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= 1e-4 + 1e-3 * b.abs(), "{what}: {a} against PyTorch's {b}");
    }
}

#[test]
fn pytorch_exports_run_and_match_pytorch() {
    for (model, stem) in [
        ("lenet_norm_relu6.onnx", "lenet_norm_relu6"),
        ("lenet_norm_relu6_dynamo.onnx", "lenet_norm_relu6"),
        ("mixed_branches.onnx", "mixed_branches"),
        ("mixed_branches_dynamo.onnx", "mixed_branches"),
    ] {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let input = format!("image={}", fixture(&format!("{stem}_input.npy")).display());
        let model_path = fixture(model);
        let out = dir.path().join("out");
        let output = tilelab(&[
            "run",
            "--model",
            model_path.to_str().unwrap(),
            "--input",
            &input,
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{model}: {}", String::from_utf8_lossy(&output.stderr));
        let logits: ArrayD<f32> = load_npy(&out.join("logits.npy")).expect("logits.npy");
        let want: ArrayD<f32> = load_npy(&fixture(&format!("{stem}_logits.npy"))).expect("PyTorch's logits");
        assert_close(&logits, &want, model);
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("values.json")).unwrap()).unwrap();
        assert_eq!(manifest["outputs"], serde_json::json!(["logits"]), "{model}");
    }
}

#[test]
fn all_values_are_written_under_sanitised_graph_names() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let out = dir.path().join("values");
    let input = format!("image={}", fixture("mixed_branches_input.npy").display());
    let model = fixture("mixed_branches.onnx");
    let output = tilelab(&[
        "run",
        "--model",
        model.to_str().unwrap(),
        "--input",
        &input,
        "--out",
        out.to_str().unwrap(),
        "--all-values",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("values.json")).unwrap()).unwrap();
    let values = manifest["values"].as_array().expect("a list of values");
    assert!(values.len() > 10, "every intermediate value: {}", values.len());
    for entry in values {
        let file = entry["file"].as_str().unwrap();
        assert!(
            file.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) && !file.starts_with('.'),
            "{file}"
        );
        let array: ArrayD<f32> = load_npy(&out.join(file)).expect("each listed file is an .npy");
        let shape: Vec<usize> = serde_json::from_value(entry["shape"].clone()).unwrap();
        assert_eq!(array.shape(), shape.as_slice(), "{file}");
        assert_eq!(array.shape()[0], 2, "{file}: the batch of two runs through every layer");
    }
    let concat = values.iter().find(|v| v["name"].as_str().unwrap().contains("Concat")).expect("the torch.cat value");
    assert_eq!(concat["shape"][1], 16, "8 + 8 channels side by side");
}

#[test]
fn wrong_inputs_get_one_clear_message() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let model = fixture("mixed_branches.onnx");
    let out = dir.path().join("out");
    let grey = format!("image={}", fixture("lenet_norm_relu6_input.npy").display());
    let cases = [
        (grey.clone(), "the graph takes shape [?, 3, 16, 16], not [1, 1, 28, 28]"),
        (
            format!("picture={}", fixture("lenet_norm_relu6_input.npy").display()),
            "no input 'picture' (its inputs: image)",
        ),
        ("image=missing.npy".to_owned(), "cannot read input 'image'"),
    ];
    for (input, needle) in cases {
        let output =
            tilelab(&["run", "--model", model.to_str().unwrap(), "--input", &input, "--out", out.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(needle), "{input}: {stderr}");
    }
}

#[test]
fn the_grey_export_opens_as_an_app_model_and_the_colour_one_says_why_not() {
    for name in ["lenet_norm_relu6.onnx", "lenet_norm_relu6_dynamo.onnx"] {
        let model = OnnxModel::load(&fixture(name)).expect(name);
        assert_eq!((model.input_size(), model.classes()), ((28, 28), 10), "{name}");
        let input: ArrayD<f32> = load_npy(&fixture("lenet_norm_relu6_input.npy")).unwrap();
        let image = input.into_shape_with_order((28, 28)).unwrap();
        let want: ArrayD<f32> = load_npy(&fixture("lenet_norm_relu6_logits.npy")).unwrap();
        let got = ArrayD::from_shape_vec(vec![1, 10], model.logits(image.view()).unwrap()).unwrap();
        assert_close(&got, &want, name);
        assert!(model.conv_weights().len() == 2, "{name}: both convolutions' filters can be drawn");
    }
    let error = OnnxModel::load(&fixture("mixed_branches.onnx")).unwrap_err().to_string();
    assert!(error.contains("3 channels") && error.contains("tilelab run --model"), "{error}");
}

/// `tilelab bench import --json` lines, parsed.
fn bench_import(args: &[&str], without_python: bool) -> Vec<serde_json::Value> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tilelab"));
    command.args(["bench", "import", "--json", "--repeats", "3"]).args(args);
    if without_python {
        command.env("PATH", "").env("TILELAB_PYTHON", "/nonexistent/python");
    }
    let output = command.output().expect("the tilelab binary runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"))).collect()
}

fn assert_timing(timing: &serde_json::Value, what: &str) {
    let seconds = timing["seconds"].as_array().unwrap_or_else(|| panic!("{what}: {timing}"));
    assert_eq!(seconds.len(), 3, "{what}: one time per round");
    let (median, best) = (timing["median_seconds"].as_f64().unwrap(), timing["best_seconds"].as_f64().unwrap());
    assert!(best > 0.0 && best <= median, "{what}: best {best}, median {median}");
}

#[test]
fn bench_import_without_python_says_so_and_times_tilelab_alone() {
    let model = fixture("lenet_norm_relu6.onnx");
    let lines = bench_import(&["--model", model.to_str().unwrap()], true);
    let [result] = lines.as_slice() else { panic!("one line per model: {lines:?}") };
    assert_eq!(result["benchmark"], "import_lenet_norm_relu6");
    assert_eq!(result["inputs"], serde_json::json!([["image", [1, 1, 28, 28]]]));
    assert_timing(&result["tilelab"], "tilelab");
    let missing = result["onnxruntime_missing"].as_str().unwrap_or_default();
    assert!(missing.contains("/nonexistent/python") && missing.contains("onnxruntime"), "{result}");
    assert!(result.get("onnxruntime").is_none() && result.get("ratio_of_medians").is_none(), "{result}");
    assert!(result.get("load_average_before").is_some() && result.get("load_average_after").is_some());

    // The defaults: ResNet-50 needs Python's `onnx` to be found, the Fashion CNN does not.
    let lines = bench_import(&[], true);
    assert_eq!(lines[0]["benchmark"], "import_resnet50_light");
    assert!(lines[0]["skipped"].as_str().unwrap_or_default().contains("imports onnx"), "{}", lines[0]);
    assert_eq!(lines[1]["benchmark"], "import_fashion_cnn");
    assert_eq!(lines[1]["inputs"], serde_json::json!([["image", [1, 1, 40, 40]]]));
    assert_timing(&lines[1]["tilelab"], "the Fashion CNN");
}

#[test]
fn bench_import_times_onnxruntime_beside_tilelab() {
    let has_onnxruntime = Command::new("python3")
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !has_onnxruntime {
        println!("python3 with onnxruntime not found: the side-by-side case is not checked");
        return;
    }
    let model = fixture("mixed_branches.onnx");
    let lines = bench_import(&["--model", model.to_str().unwrap()], false);
    let [result] = lines.as_slice() else { panic!("one line per model: {lines:?}") };
    assert_eq!(result["inputs"], serde_json::json!([["image", [1, 3, 16, 16]]]), "symbolic batch taken as 1");
    assert_timing(&result["tilelab"], "tilelab");
    assert_timing(&result["onnxruntime"], "ONNX Runtime");
    assert!(result["onnxruntime"]["version"].as_str().is_some_and(|v| !v.is_empty()), "{result}");
    let ratio = result["ratio_of_medians"].as_f64().unwrap_or_default();
    let medians = result["tilelab"]["median_seconds"].as_f64().unwrap()
        / result["onnxruntime"]["median_seconds"].as_f64().unwrap();
    assert!((ratio - medians).abs() <= 1e-9 * medians, "ratio {ratio} is tilelab's median over ONNX Runtime's");
}
