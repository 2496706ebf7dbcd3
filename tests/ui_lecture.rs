//! Lecture mode and exports, driven headlessly with `egui_kittest`: enter with F5, step through
//! every step with the keyboard (right arrow and `PageDown`; left arrow, Home, End back), leave with
//! Esc; interact inside a step; train from step 7 and measure selectivity and invariance; save a
//! step as PNG; files exported through File → Export parse back. Screenshots of lecture steps are
//! written into `screenshots/lecture-*.png`.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{confirm_export, screenshot, wait_until};
use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::command::Command;
use tilelab::app::ids::{ExportKind, Net};
use tilelab::app::lecture::Step;
use tilelab::core::export::load_npy;

/// A projector-sized window: at the lecture zoom of 1.5 the page has 1280×720 points.
const SIZE: [f32; 2] = [1920.0, 1080.0];

/// The app in a projector-sized window.
fn harness(dir: &Path) -> Harness<'static, TilelabApp> {
    common::harness_sized(dir, SIZE)
}

fn press(harness: &mut Harness<'_, TilelabApp>, key: Key) {
    harness.key_press(key);
    harness.run_steps(2);
}

/// The step index shown, checked against the visible title and counter.
fn assert_on_step(harness: &Harness<'_, TilelabApp>, index: usize) {
    let lecture = &harness.state().views.lecture;
    assert!(lecture.active, "lecture mode is on");
    assert_eq!(lecture.step, index);
    let step = Step::ALL[index];
    harness.get_by_label(step.title());
    harness.get_by_label(&format!("{} / {}", index + 1, Step::ALL.len()));
}

fn click_at(harness: &mut Harness<'_, TilelabApp>, pos: egui::Pos2) {
    harness.hover_at(pos);
    harness.step();
    for pressed in [true, false] {
        let button = egui::PointerButton::Primary;
        harness.event(egui::Event::PointerButton { pos, button, pressed, modifiers: egui::Modifiers::NONE });
        harness.step();
    }
    harness.run_steps(2);
}

#[test]
fn f5_enters_the_keyboard_walks_every_step_and_esc_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let zoom_before = harness.ctx.zoom_factor();
    press(&mut harness, Key::F5);
    assert_on_step(&harness, 0);
    harness.step();
    assert!((harness.ctx.zoom_factor() - 1.5).abs() < 1e-6, "large type while lecturing");
    for index in 1..Step::ALL.len() {
        // Alternate the two keys presentation clickers send.
        press(&mut harness, if index % 2 == 1 { Key::ArrowRight } else { Key::PageDown });
        assert_on_step(&harness, index);
    }
    press(&mut harness, Key::ArrowRight);
    assert_on_step(&harness, Step::ALL.len() - 1);
    press(&mut harness, Key::ArrowLeft);
    assert_on_step(&harness, Step::ALL.len() - 2);
    press(&mut harness, Key::Home);
    assert_on_step(&harness, 0);
    press(&mut harness, Key::End);
    assert_on_step(&harness, Step::ALL.len() - 1);
    press(&mut harness, Key::PageUp);
    assert_on_step(&harness, Step::ALL.len() - 2);
    press(&mut harness, Key::Space);
    assert_on_step(&harness, Step::ALL.len() - 1);
    press(&mut harness, Key::Escape);
    assert!(!harness.state().views.lecture.active);
    harness.step();
    assert!((harness.ctx.zoom_factor() - zoom_before).abs() < 1e-6, "the zoom is restored");
    harness.get_by_label("Tiles");
    // The toolbar button enters too, at the first step.
    harness.get_by_label("Lecture (F5)").click();
    harness.run_steps(2);
    assert_on_step(&harness, 0);
}

#[test]
fn the_lecturer_interacts_inside_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    let id = harness.state().state.selected.unwrap();
    harness.get_by_role_and_label(Role::Slider, "ε").set_value_accesskit(5.0);
    harness.run_steps(3);
    let epsilon = harness.state().state.classes.tile(id).unwrap().epsilon();
    assert!((epsilon - 5.0).abs() < 1e-3, "ε changed from the lecture: {epsilon}");
    harness.state_mut().views.lecture.step = 2;
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::Slider, "c").set_value_accesskit(0.75);
    harness.run_steps(2);
    assert!((harness.state().views.lecture.interaction.c - 0.75).abs() < 1e-6);
    harness.get_by_label("Play").click();
    harness.run_steps(2);
    assert!(harness.state().views.lecture.playing);
    std::thread::sleep(Duration::from_millis(300));
    harness.run_steps(2);
    assert!((harness.state().views.lecture.interaction.c - 0.75).abs() > 1e-4, "the animation moves c");
    press(&mut harness, Key::P);
    assert!(!harness.state().views.lecture.playing, "P pauses");
}

#[test]
fn a_step_is_saved_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.state_mut().views.lecture.export_dir = out.path().to_owned();
    press(&mut harness, Key::F5);
    harness.get_by_label("Save step as PNG").click();
    wait_until(&mut harness, "the PNG", |app| app.views.lecture.last_export.is_some());
    let path = harness.state().views.lecture.last_export.clone().unwrap();
    assert_eq!(path, out.path().join("lecture-1-tile.png"));
    let image = image::open(&path).expect("a valid PNG").to_rgba8();
    assert_eq!(image.dimensions(), (SIZE[0] as u32, SIZE[1] as u32));
}

#[test]
fn screenshots_of_lecture_steps() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    screenshot(&mut harness, "lecture-1-tile");
    press(&mut harness, Key::ArrowRight);
    screenshot(&mut harness, "lecture-2-matching");
    press(&mut harness, Key::ArrowRight);
    screenshot(&mut harness, "lecture-3-identity");
    press(&mut harness, Key::ArrowRight);
    wait_until(&mut harness, "N1", |app| app.views.lecture.data.n1_forward.latest(|_| true).is_some());
    screenshot(&mut harness, "lecture-4-n1");
    press(&mut harness, Key::ArrowRight);
    wait_until(&mut harness, "N2", |app| app.views.lecture.data.n2_forward.latest(|_| true).is_some());
    // Move the window off the tile, then point at block (1, 1) of layer 3 (8×8 blocks): its four
    // 4×4 quadrants light up in layer 2.
    let input = harness.get_by_role_and_label(Role::Image, "Lecture input image").rect();
    click_at(&mut harness, input.min + egui::vec2(2.0, 2.0));
    assert_eq!(harness.state().views.lecture.interaction.window, Some((0, 0)));
    let mosaic = harness.get_by_role_and_label(Role::Image, "N2 layer 3 blocks").rect();
    harness.hover_at(mosaic.min + egui::vec2(mosaic.width() * 0.375, mosaic.height() * 0.375));
    harness.run_steps(3);
    assert_eq!(harness.state().views.lecture.interaction.block, Some((2, 1, 1)));
    harness.get_by_label_contains("distance to 8×8 block");
    screenshot(&mut harness, "lecture-5-n2");
    press(&mut harness, Key::ArrowRight);
    harness.get_by_label("High contrast").click();
    harness.get_by_label("Load the two-feature example").click();
    harness.run_steps(3);
    harness.get_by_label("Load the example").click();
    harness.run_steps(3);
    assert_eq!(harness.state().state.classes.max_features(), 2);
    let version = harness.state().state.classes_version;
    wait_until(&mut harness, "N1 of the new set", move |app| {
        app.views.lecture.data.n1_forward.latest(|k| k.0.0 == version).is_some()
    });
    assert!(harness.query_all_by_label_contains("min-layer").count() >= 2, "the min-layers are listed");
    screenshot(&mut harness, "lecture-6-objects-high-contrast");
}

/// Asks for `kind` into `path` as the menu does, clicks the window's Export button, waits for the files.
fn export(harness: &mut Harness<'_, TilelabApp>, kind: ExportKind, path: &Path) -> Vec<PathBuf> {
    let app = harness.state_mut();
    app.views.exports.ask(kind, &app.state);
    harness.run_steps(2);
    harness.get_by_role(Role::TextInput).focus();
    harness.run_steps(1);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    harness.run_steps(2);
    confirm_export(harness)
}

#[test]
fn exports_from_the_file_menu_parse_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.state_mut().state.push(Command::GenerateDataset);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    // The menu path: File → Export → Figure as SVG… opens the path window.
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Export").click();
    harness.run_steps(2);
    harness.get_by_label("Figure as SVG…").click();
    harness.run_steps(2);
    harness.get_by_label("Export this view as SVG");
    harness.get_by_label("Cancel").click();
    harness.run_steps(2);

    let svg = export(&mut harness, ExportKind::ViewFigure { png_scale: None }, &out.path().join("tiles.svg"));
    assert!(std::fs::read_to_string(&svg[0]).unwrap().starts_with("<svg"));
    let png1 = export(&mut harness, ExportKind::ViewFigure { png_scale: Some(1.0) }, &out.path().join("t1.png"));
    let png2 = export(&mut harness, ExportKind::ViewFigure { png_scale: Some(2.0) }, &out.path().join("t2.png"));
    let (one, two) = (image::open(&png1[0]).unwrap(), image::open(&png2[0]).unwrap());
    assert_eq!((two.width(), two.height()), (2 * one.width(), 2 * one.height()), "2× is twice as large");
    let csv = export(&mut harness, ExportKind::ViewData, &out.path().join("tiles.csv"));
    let text = std::fs::read_to_string(&csv[0]).unwrap();
    let pixels: usize = harness.state().state.classes.tiles().map(|(_, t)| t.rows() * t.cols()).sum();
    assert_eq!(text.lines().count(), pixels + 1, "one row per tile pixel plus the header");

    let kind = ExportKind::Activations { net: Net::N2, npy: true };
    let files = export(&mut harness, kind, &out.path().join("acts"));
    let input: ndarray::ArrayD<f32> = load_npy(&files[0]).unwrap();
    let sample = harness.state().state.dataset().unwrap().samples[0].clone();
    assert_eq!(input, sample.image.clone().into_dyn(), "layer 0 is the input image");
    let logits: ndarray::ArrayD<f32> = load_npy(&files[files.len() - 2]).unwrap();
    let direct = tilelab::core::detect::logits(&harness.state().state.classes, sample.image.view());
    for (n2, phi) in logits.iter().zip(&direct) {
        assert!((n2 - phi).abs() <= 1e-3 * phi.abs().max(1.0), "{n2} vs {phi}");
    }
    let kind = ExportKind::Activations { net: Net::N1, npy: false };
    let csv = export(&mut harness, kind, &out.path().join("n1.csv"));
    let header = std::fs::read_to_string(&csv[0]).unwrap().lines().next().unwrap().to_owned();
    assert_eq!(header, "layer,name,channel,row,col,value");

    // The input shown in the networks view (here a fresh random sample) is what gets exported.
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_label("Random sample").click();
    harness.run_steps(2);
    let shown = harness.state().views.networks.input().expect("an input image").image.clone();
    assert_ne!(shown, sample.image, "a different image than dataset sample 0");
    let files = export(&mut harness, ExportKind::Activations { net: Net::N2, npy: true }, &out.path().join("shown"));
    let input: ndarray::ArrayD<f32> = load_npy(&files[0]).unwrap();
    assert_eq!(input, shown.into_dyn(), "the exported input is the one on screen");
}

#[test]
fn steps_seven_and_eight_train_and_measure() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    press(&mut harness, Key::End);
    press(&mut harness, Key::ArrowLeft);
    assert_on_step(&harness, 6);
    harness.get_by_label("Start training (paper's settings)").click();
    harness.run_steps(2);
    let trained_a_bit = |app: &TilelabApp| {
        app.state.training.as_ref().is_some_and(|job| {
            let progress = job.progress();
            progress.cnn.is_some() && progress.test_accuracy().is_some_and(|a| a > 0.6)
        })
    };
    wait_until(&mut harness, "training above chance", trained_a_bit);
    harness.get_by_label("Measure selectivity").click();
    wait_until(&mut harness, "selectivity", |app| app.views.lecture.data.selectivity.latest(|_| true).is_some());
    let measured = harness.state().views.lecture.data.selectivity.latest(|_| true).unwrap();
    assert_eq!(measured.constructed.mean_classes_per_active_unit(), Some(1.0), "N1's detectors are monosemantic");
    assert!(measured.trained.active_units() > 0);
    harness.get_by_label_contains("trained units:");
    screenshot(&mut harness, "lecture-7-trained");
    press(&mut harness, Key::ArrowRight);
    harness.get_by_label_contains("Compute (100 images").click();
    wait_until(&mut harness, "invariance", |app| app.views.lecture.data.invariance.latest(|_| true).is_some());
    let result = harness.state().views.lecture.data.invariance.latest(|_| true).unwrap();
    for tile in &result.tiles {
        let spread = &tile.background.constructed_spread;
        assert!(spread.std[tile.label] < 1e-3, "N1's class logit does not move under background changes");
    }
    assert_eq!(harness.query_all_by_label_contains("tile translated").count(), result.tiles.len());
    screenshot(&mut harness, "lecture-8-invariance");
    harness.state().state.training.as_ref().unwrap().send(tilelab::app::training_job::Control::Pause);
}
