//! `tilelab reproduce` and `tilelab bench train` end to end: the paper's numbers from the binary.

use std::process::Command;

use serde_json::Value;

/// Runs `tilelab args…`, asserts success, and parses the last stdout line as JSON.
fn last_json(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "tilelab {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}): {last}"))
}

#[test]
fn toy_reaches_the_papers_accuracy() {
    let result = last_json(&["reproduce", "toy", "--json", "--seed", "3"]);
    let accuracy = result["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.9, "toy accuracy {accuracy}");
    assert_eq!(result["conv_weights"].as_array().unwrap().len(), 1);
    assert_eq!(result["fc_weights"][0].as_array().unwrap().len(), 9);
}

#[test]
fn fashion_reaches_99_percent_with_the_papers_settings() {
    let result = last_json(&["reproduce", "fashion", "--json"]);
    for key in ["test_accuracy", "train_seconds", "samples_per_second", "epochs", "train_samples", "threads"] {
        assert!(result.get(key).is_some(), "missing key {key}");
    }
    let accuracy = result["test_accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.99, "fashion accuracy {accuracy}");
    assert_eq!(result["epochs"], 15);
    assert_eq!(result["train_samples"], 4000);
}

#[test]
fn figure4_writes_its_files_and_n1_does_not_move() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig");
    let summary = last_json(&["reproduce", "figure4", "--json", "--epsilon-sweep", "--out", out.to_str().unwrap()]);
    for name in ["figure4_logits.csv", "figure4_summary.json", "figure4_trained.png", "figure4_n1.svg"] {
        assert!(out.join(name).exists(), "{name} missing");
    }
    let tiles = summary["tiles"].as_array().unwrap();
    assert_eq!(tiles.len(), 3);
    for tile in tiles {
        let label = tile["label"].as_u64().unwrap() as usize;
        for key in ["background_constructed", "translation_constructed"] {
            let std = tile[key]["std"][label].as_f64().unwrap();
            assert!(std < 1e-3, "N1's class logit moved under {key}: std {std}");
        }
    }
    // The ε sweep: every tile's logit moves by ε = 1024, more than any 28×28 tile's d_T can reach.
    let sweep = summary["epsilon_sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), tiles.len());
    for (first, tile) in sweep.iter().zip(tiles) {
        assert_eq!(first["name"], tile["name"]);
        let epsilon = first["epsilon"].as_f64().unwrap_or_else(|| panic!("{first}: never moved"));
        assert!(epsilon > 0.0 && epsilon <= 1024.0 && epsilon.log2().fract() == 0.0, "{first}");
        assert!(first["images"].as_u64().unwrap() > 0);
        assert_eq!(first["of"], 200, "100 images of each perturbation");
    }
}

#[test]
fn bench_train_reports_a_median() {
    let result = last_json(&["bench", "train", "--repeats", "1", "--json"]);
    assert!(result["median_samples_per_second"].as_f64().unwrap() > 0.0);
    assert!(result["median_gflops"].as_f64().unwrap() > 0.0);
}

#[test]
fn bench_train_measures_the_deep_network() {
    let result = last_json(&["bench", "train", "--arch", "deep", "--repeats", "1", "--json"]);
    assert_eq!(result["arch"], "deep");
    assert_eq!(result["benchmark"], "train_fashion_deep");
    assert!(result["median_samples_per_second"].as_f64().unwrap() > 0.0);
    assert!(result.get("pytorch").is_none(), "no peer unless asked for");
}

#[test]
fn depth_refuses_impossible_settings_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    for (args, words) in [(["--classes", "4"], "4 classes: 3 or 10"), (["--seeds", "0"], "0 seeds")] {
        let output = Command::new(env!("CARGO_BIN_EXE_tilelab"))
            .args(["reproduce", "depth", "--out", out])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(words), "{stderr}");
    }
}
