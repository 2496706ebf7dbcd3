//! The constructed networks on the large images the app makes (issue 21), through the built
//! `tilelab` binary: ten Fashion-MNIST tiles on 80×80 and 160×160 images.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use tilelab::core::{presets, tileset_file};

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

/// Writes the ten Fashion tiles (full support, as imported from pictures: the set) and a `side×side` PNG holding class `class`'s tile.
fn fashion_files(dir: &Path, side: usize, class: usize) -> (String, String) {
    let classes = presets::with_full_support(&presets::fashion_ten(1));
    let tileset = dir.join("ten.json");
    tileset_file::save(&tileset, &classes).expect("tile set written");
    // A noise-like background with the tile pasted exactly at (10, 20): its grey levels are
    // multiples of 1/255, so the 8-bit PNG keeps them.
    let tile = classes.classes[class].features[0].tiles[0].values().clone();
    let side = u32::try_from(side).expect("a small side");
    let png = image::GrayImage::from_fn(side, side, |x, y| {
        let (row, col) = (y as usize, x as usize);
        let pasted = row.checked_sub(10).zip(col.checked_sub(20)).and_then(|(a, b)| tile.get([a, b]));
        let grey = pasted.map_or(((x * 37 + y * 101) % 256) as f32 / 255.0, |&v| v);
        image::Luma([(grey * 255.0).round() as u8])
    });
    let path = dir.join("x.png");
    png.save(&path).expect("png written");
    (tileset.to_string_lossy().into_owned(), path.to_string_lossy().into_owned())
}

fn assert_close(actual: &[Value], expected: &[Value]) {
    assert_eq!(actual.len(), expected.len());
    for (a, b) in actual.iter().zip(expected) {
        let (a, b) = (a.as_f64().expect("a number"), b.as_f64().expect("a number"));
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn logits_on_80_by_80_answer_with_phi_and_n2_and_say_why_n1_is_left_out() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (tileset, image) = fashion_files(dir.path(), 80, 3);
    let output = tilelab(&["logits", "--json", "--tileset", &tileset, "--image", &image]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let json: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON");
    assert!(json["n1"].is_null(), "N1 should be left out: {json}");
    let why = json["n1_left_out"].as_str().expect("a reason");
    assert!(why.contains("44045120") && why.contains("weights"), "{why}");
    assert_close(json["n2"].as_array().expect("N2 logits"), json["direct"].as_array().expect("φ"));
    assert_eq!(json["predicted"], 3);

    let table = tilelab(&["logits", "--tileset", &tileset, "--image", &image]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(table.status.success(), "{text}");
    let notes: Vec<&str> = text.lines().filter(|l| l.starts_with("N1 left out")).collect();
    assert_eq!(notes.len(), 1, "one line says N1 was left out: {text}");
    assert!(notes[0].contains("MAX_WEIGHTS"), "the line says what to change: {}", notes[0]);
}

#[test]
fn n2_exports_on_160_by_160_need_no_activation_budget() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (tileset, _) = fashion_files(dir.path(), 40, 0);
    for (format, name) in [("onnx", "n2.onnx"), ("safetensors", "n2.safetensors"), ("sparse-json", "n2.json")] {
        let out = dir.path().join(name);
        let output = tilelab(&[
            "export",
            "--net",
            "n2",
            "--tileset",
            &tileset,
            "--height",
            "160",
            "--width",
            "160",
            "--format",
            format,
            "--out",
            out.to_str().expect("a UTF-8 path"),
        ]);
        assert!(output.status.success(), "{format}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(std::fs::metadata(&out).map_or(0, |m| m.len()) > 1000, "{format}: nothing written");
    }
}

#[test]
fn scaling_cases_report_costs_or_why_n1_is_left_out() {
    let run = |case: &str| -> Value {
        let output = tilelab(&["bench", "construct", "--scaling-case", case]);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{case}: {}", String::from_utf8_lossy(&output.stderr));
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("one JSON line")
    };
    let n2 = run("N2:3:40");
    assert!(n2["left_out"].is_null(), "{n2}");
    assert!(n2["params_nonzero"].as_u64().unwrap_or(0) > 0 && n2["peak_mib"].as_f64().unwrap_or(0.0) > 0.0, "{n2}");
    assert!(n2["max_rel_err"].as_f64().unwrap_or(1.0) <= 1e-4, "{n2}");
    let n1 = run("N1:1:40");
    let (filters, support) = (n1["filters"].as_u64().unwrap_or(0), 28 * 28);
    assert!(filters > 0 && filters <= 4 * (support + 1), "{n1}");
    // Issue 21's second required case: 50 tiles on 128×128, φ exactly and under 1 GB.
    let fifty = run("N2:50:128");
    assert!(fifty["max_rel_err"].as_f64().unwrap_or(1.0) <= 1e-4, "{fifty}");
    assert!(fifty["peak_mib"].as_f64().unwrap_or(f64::INFINITY) < 1024.0, "{fifty}");
    let left_out = run("N1:10:80");
    assert_eq!(left_out["params_nonzero"], 44_045_120, "the weights N1 would need: {left_out}");
    assert!(left_out["left_out"].as_str().unwrap_or_default().contains("MAX_WEIGHTS"), "{left_out}");
}
