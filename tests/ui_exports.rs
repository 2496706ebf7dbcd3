//! Interop exports driven through the UI with `egui_kittest`: File → Export → Network as ONNX →
//! N2 as ONNX… writes a model that loads back and computes N2's logits, and the Dataset view's
//! "Export as NumPy…" writes the dataset's `.npy` files.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};

use common::{confirm_export, harness, wait_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use ndarray_npy::ReadNpyExt;
use tilelab::app::TilelabApp;
use tilelab::core::construct::build_n2;
use tilelab::core::interop::onnx_import::OnnxModel;

fn settle(harness: &mut Harness<'_, TilelabApp>) {
    harness.run_steps(3);
}

/// Replaces the path window's proposed name with `path`, clicks Export and waits for the files.
fn export_to(harness: &mut Harness<'_, TilelabApp>, path: &Path) -> Vec<PathBuf> {
    let field = harness.get_by_role(Role::TextInput);
    field.focus();
    settle(harness);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    settle(harness);
    confirm_export(harness)
}

#[test]
fn n2_exported_from_the_file_menu_loads_as_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    for item in ["File", "Export", "Network as ONNX / safetensors", "N2 as ONNX…"] {
        harness.get_by_label(item).click();
        settle(&mut harness);
    }
    harness.get_by_label("Export N2 as ONNX");
    let path = out.path().join("model.onnx");
    assert_eq!(export_to(&mut harness, &path), std::slice::from_ref(&path));

    let model = OnnxModel::load(&path).unwrap();
    let app = &harness.state().state;
    let (height, width) = (app.session.dataset.height, app.session.dataset.width);
    assert_eq!(model.input_size(), (height, width), "the dataset settings' image size");
    let image = ndarray::Array2::from_shape_fn((height, width), |(r, c)| ((r * 7 + c * 3) % 11) as f32 / 10.0);
    let expected = build_n2(&app.classes, height, width).unwrap().logits(image.view()).unwrap();
    let logits = model.run(image.view()).unwrap().logits;
    assert_eq!(logits.len(), expected.len());
    for (a, b) in logits.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "{a} vs {b}");
    }
}

#[test]
fn the_dataset_view_exports_numpy_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    settle(&mut harness);
    harness.get_by_label("Export as NumPy…").click();
    settle(&mut harness);
    harness.get_by_label("Export the dataset as NumPy");
    let folder = out.path().join("data");
    let files = export_to(&mut harness, &folder);
    assert!(files.contains(&folder.join("images.npy")));

    let images = ndarray::Array3::<f32>::read_npy(std::fs::File::open(folder.join("images.npy")).unwrap()).unwrap();
    let dataset = harness.state().state.dataset().cloned().unwrap();
    assert_eq!(images.len_of(ndarray::Axis(0)), dataset.samples.len());
    for (image, sample) in images.outer_iter().zip(&dataset.samples) {
        assert_eq!(image, sample.image, "the exported images are the app's");
    }
}
