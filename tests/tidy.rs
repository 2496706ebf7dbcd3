//! Conventions the code keeps: the numerical core never imports the UI, and every module says what it owns.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("source folder is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn src(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub)
}

#[test]
fn core_does_not_depend_on_the_ui() {
    let offenders: Vec<_> = rust_files(&src("core"))
        .into_iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            text.lines().any(|line| {
                let code = line.split("//").next().unwrap_or("");
                ["egui", "eframe", "rfd::", "crate::app"].iter().any(|word| code.contains(word))
            })
        })
        .collect();
    assert!(offenders.is_empty(), "src/core must not use the UI: {offenders:?}");
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let missing: Vec<_> = rust_files(&src(""))
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n != "main.rs"))
        .filter(|path| !fs::read_to_string(path).unwrap_or_default().trim_start().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "modules without a `//!` line: {missing:?}");
}
