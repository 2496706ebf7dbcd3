//! Runs the built `tilelab` binary: `verify --json` and `logits --json` on temporary files.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

/// The last stdout line parsed as JSON.
fn last_json_line(output: &std::process::Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {stdout}"))
}

#[test]
fn verify_json_reports_exact_networks() {
    let output = tilelab(&["verify", "--json", "--cases", "200", "--seed", "7"]);
    let report = last_json_line(&output);
    assert!(output.status.success(), "verify failed: {report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(report["cases"], 200);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["monosemantic_violations"], 0);
    for key in ["max_rel_err_n1", "max_rel_err_n2"] {
        let error = report[key].as_f64().unwrap_or(f64::INFINITY);
        assert!(error <= 1e-4, "{key} = {error}");
    }
    assert!(report["images_with_detection"].as_u64().unwrap_or(0) > 100, "positives were tested: {report}");
}

/// The paper's toy classes: a 2×2 square of ones ("black") and of zeros ("white"), ε = 0.5.
const TOY_TILESET: &str = r#"{"format":"tilelab-tileset","version":1,"classes":[
  {"name":"black","features":[{"name":"black","tiles":[{"rows":2,"cols":2,"values":[1,1,1,1],"epsilon":0.5}]}]},
  {"name":"white","features":[{"name":"white","tiles":[{"rows":2,"cols":2,"values":[0,0,0,0],"support":[1,1,1,1],"epsilon":0.5}]}]}
]}"#;

fn write_png(path: &Path, width: u32, height: u32, pixel: impl Fn(u32, u32) -> u8) {
    let image = image::GrayImage::from_fn(width, height, |x, y| image::Luma([pixel(x, y)]));
    image.save(path).expect("the PNG is written");
}

#[test]
fn logits_json_agrees_across_direct_n1_and_n2() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let tileset = dir.path().join("toy.json");
    std::fs::write(&tileset, TOY_TILESET).expect("tile set written");
    let png = dir.path().join("black.png");
    // Grey background with a black (value 1) square at rows 1–2, cols 2–3.
    write_png(&png, 5, 6, |x, y| if (1..=2).contains(&y) && (2..=3).contains(&x) { 255 } else { 128 });
    let output =
        tilelab(&["logits", "--json", "--tileset", tileset.to_str().unwrap(), "--image", png.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let result = last_json_line(&output);
    let logits = |key: &str| -> Vec<f64> {
        result[key].as_array().unwrap_or(&Vec::new()).iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect()
    };
    let direct = logits("direct");
    assert_eq!(direct.len(), 2);
    assert!((direct[0] - 0.5).abs() < 1e-6 && direct[1] == 0.0, "one exact window gives ε: {direct:?}");
    for key in ["n1", "n2"] {
        let network = logits(key);
        assert_eq!(network.len(), 2);
        for (a, b) in network.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{key}: {network:?} vs {direct:?}");
        }
    }
    assert_eq!(result["predicted"], 0);

    let grey = dir.path().join("grey.png");
    write_png(&grey, 4, 4, |_, _| 128);
    let output =
        tilelab(&["logits", "--json", "--tileset", tileset.to_str().unwrap(), "--image", grey.to_str().unwrap()]);
    assert!(output.status.success());
    assert_eq!(last_json_line(&output)["predicted"], Value::Null, "no class in a plain grey image");
}

#[test]
fn logits_reports_unreadable_files() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let tileset = dir.path().join("toy.json");
    std::fs::write(&tileset, TOY_TILESET).expect("tile set written");
    let missing = dir.path().join("missing.png");
    let output = tilelab(&["logits", "--tileset", tileset.to_str().unwrap(), "--image", missing.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot read the image"));
    let tiny = dir.path().join("tiny.png");
    write_png(&tiny, 1, 1, |_, _| 0);
    let output = tilelab(&["logits", "--tileset", tileset.to_str().unwrap(), "--image", tiny.to_str().unwrap()]);
    assert!(!output.status.success(), "2×2 tiles do not fit a 1×1 image");
}
