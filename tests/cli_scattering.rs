//! `tilelab scatter`, `tilelab bench scatter`, `tilelab reproduce scattering` and Figure 4's
//! `--deformation` end to end, from the binary.

use std::process::Command;

use ndarray::{Array2, Ix3};
use serde_json::Value;

use tilelab::core::export::load_npy;
use tilelab::core::scattering::{Scattering, ScatteringSpec};

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the binary runs")
}

/// Runs `tilelab args…`, asserts success, and parses the last stdout line as JSON.
fn last_json(args: &[&str]) -> Value {
    let output = tilelab(args);
    assert!(output.status.success(), "tilelab {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

/// A 40×36 grey PNG with a gradient and a bright bar, and its pixels /255.
fn write_png(path: &std::path::Path) -> Array2<f32> {
    let image = image::GrayImage::from_fn(36, 40, |x, y| {
        image::Luma([if (10..14).contains(&x) { 250 } else { (x * 3 + y * 2) as u8 }])
    });
    image.save(path).unwrap();
    Array2::from_shape_fn((40, 36), |(r, c)| f32::from(image.get_pixel(c as u32, r as u32)[0]) / 255.0)
}

#[test]
fn scatter_writes_the_coefficients_in_kymatios_shape() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    let pixels = write_png(&png);
    let out = dir.path().join("s.npy");
    let args = [
        "scatter",
        "--image",
        png.to_str().unwrap(),
        "--j",
        "2",
        "--l",
        "8",
        "--max-order",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    let output = tilelab(&args);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let written = load_npy::<f32>(&out).unwrap().into_dimensionality::<Ix3>().unwrap();
    assert_eq!(written.dim(), (81, 10, 9));
    let expected =
        Scattering::new(ScatteringSpec { j: 2, l: 8, max_order: 2 }, 40, 36).unwrap().transform(pixels.view()).unwrap();
    assert_eq!(written, expected);
}

#[test]
fn scatter_names_the_limit_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("x.png");
    write_png(&png);
    let out = dir.path().join("s.npy");
    for (flag, value, words) in [
        ("--j", "6", "2^J"),
        ("--l", "0", "orientations"),
        ("--l", "1000000", "orientations"),
        ("--max-order", "3", "order 1 or 2"),
    ] {
        let output =
            tilelab(&["scatter", "--image", png.to_str().unwrap(), flag, value, "--out", out.to_str().unwrap()]);
        assert!(!output.status.success(), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{flag} {value}: {stderr}");
        assert!(!out.exists());
    }
}

#[test]
fn bench_scatter_reports_medians() {
    let result = last_json(&["bench", "scatter", "--repeats", "1", "--json"]);
    assert_eq!(result["bench"], "scatter");
    let single = result["single_ms"].as_f64().unwrap();
    let batch = result["batch_4000_s"].as_f64().unwrap();
    assert!(single > 0.0 && batch > 0.0, "{result}");
    // Generous bounds (a loaded shared machine); the targets are 1 ms and 2 s.
    assert!(single < 20.0 && batch < 60.0, "{result}");
}

#[test]
fn reproduce_scattering_compares_every_setting_with_the_cnn() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scat");
    let rows = last_json(&["reproduce", "scattering", "--json", "--out", out.to_str().unwrap()]);
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["setting"].as_str().unwrap()).collect();
    assert_eq!(names, ["toy", "fashion", "mnist_tiles", "mnist_digits"]);
    for row in rows {
        for key in
            ["scattering_test_accuracy", "cnn_test_accuracy", "scattering_transform_seconds", "cnn_train_seconds"]
        {
            assert!(row[key].as_f64().is_some(), "{key} missing in {row}");
        }
    }
    let digits = &rows[3];
    assert_eq!(digits["train_samples"], 1500);
    assert!(digits["scattering_test_accuracy"].as_f64().unwrap() > 0.85, "{digits}");
    assert!(out.join("scattering.json").exists());
}

#[test]
fn figure4_deformation_measures_every_network() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig");
    let summary = last_json(&["reproduce", "figure4", "--json", "--deformation", "1", "--out", out.to_str().unwrap()]);
    let study = &summary["deformation"];
    assert_eq!(study["tau"], 1.0);
    for tile in study["tiles"].as_array().unwrap() {
        let networks: Vec<&str> =
            tile["networks"].as_array().unwrap().iter().map(|n| n["network"].as_str().unwrap()).collect();
        assert_eq!(networks, ["direct_phi", "n1", "n2", "trained_cnn", "scattering_coefficients", "scattering_linear"]);
        for n in tile["networks"].as_array().unwrap() {
            assert!(n["ratio"].as_f64().unwrap().is_finite(), "{n}");
        }
    }
    let csv =
        std::fs::read_to_string(out.join("figure4_deformation.csv")).expect("the study is written beside Figure 4");
    assert!(csv.starts_with("tau,tile,label,epsilon,network,ratio") && csv.contains(",scattering_linear,"), "{csv}");
    assert!(out.join("figure4_deformation.json").exists());
    let folded = tilelab(&["reproduce", "figure4", "--json", "--deformation", "100", "--out", out.to_str().unwrap()]);
    assert!(!folded.status.success());
    assert!(String::from_utf8_lossy(&folded.stderr).contains("fold"), "{}", String::from_utf8_lossy(&folded.stderr));
}
