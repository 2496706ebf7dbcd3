//! Lecture mode and exports, driven headlessly with `egui_kittest`: enter with F5, step through
//! every step with the keyboard (right arrow and `PageDown`; left arrow, Home, End back), leave with
//! Esc; interact inside a step; train from step 7 and measure selectivity and invariance; save a
//! step as PNG; files exported through File → Export parse back. Every step, at three projector
//! sizes, fits the window and matches its snapshot in `tests/snapshots/lecture-*.png`.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{confirm_export, snapshot, wait_for_screen, wait_until};
use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::cache::{UnitNetwork, image_key};
use tilelab::app::command::Command;
use tilelab::app::ids::{ExportKind, Net};
use tilelab::app::lecture::Step;
use tilelab::app::training_job::{Control, TrainingConfig, TrainingJob};
use tilelab::app::widgets::heatmap::format_spread;
use tilelab::core::construct::Which;
use tilelab::core::export::load_npy;
use tilelab::core::tile::TileId;

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

/// Pixels of the pointer highlight's ring colour in the PNG at `path`.
fn ring_pixels(path: &Path) -> usize {
    let image = image::open(path).expect("a valid PNG").to_rgba8();
    image.pixels().filter(|p| p.0 == [255, 200, 0, 255]).count()
}

/// Clicks "Save step as PNG" and waits for the file; returns its path.
fn save_step(harness: &mut Harness<'_, TilelabApp>) -> PathBuf {
    harness.state_mut().views.lecture.last_export = None;
    harness.get_by_label("Save step as PNG").click();
    wait_until(harness, "the PNG", |app| app.views.lecture.last_export.is_some());
    harness.state().views.lecture.last_export.clone().unwrap()
}

#[test]
fn a_step_is_saved_as_png_without_the_toolbar_and_its_note_fades() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.state_mut().views.lecture.export_dir = out.path().to_owned();
    press(&mut harness, Key::F5);
    let toolbar_bottom = harness.get_by_label("Save step as PNG").rect().bottom();
    let path = save_step(&mut harness);
    assert_eq!(path, out.path().join("lecture-1-tile.png"));
    let (width, height) = image::open(&path).expect("a valid PNG").to_rgba8().dimensions();
    let zoom = harness.ctx.zoom_factor();
    assert!(width <= SIZE[0] as u32 && width as f32 > 0.9 * SIZE[0], "the page's width: {width} px");
    let page = SIZE[1] - toolbar_bottom * zoom;
    assert!((height as f32) < page, "the toolbar is left out: {height} px of {page}");
    assert!((height as f32) > 0.85 * SIZE[1], "the title and the step are in: {height} px");
    // The pointer highlight is left out of the PNG, unless asked for.
    harness.hover_at(egui::pos2(300.0, 300.0));
    harness.run_steps(2);
    assert_eq!(ring_pixels(&path), 0);
    let path = save_step(&mut harness);
    assert_eq!(ring_pixels(&path), 0, "no pointer ring in the saved step");
    harness.get_by_label("with pointer").click();
    harness.hover_at(egui::pos2(300.0, 300.0));
    harness.run_steps(2);
    let path = save_step(&mut harness);
    assert!(ring_pixels(&path) > 20, "the ring is drawn when asked for");
    // The "saved …" note: on the step it was saved from, gone on the next step and after a few seconds.
    harness.get_by_label_contains("saved ");
    press(&mut harness, Key::ArrowRight);
    assert!(harness.query_by_label_contains("saved ").is_none(), "the note stays with its step");
    press(&mut harness, Key::ArrowLeft);
    assert!(harness.query_by_label_contains("saved ").is_none(), "nor does it come back");
    save_step(&mut harness);
    harness.get_by_label_contains("saved ");
    let frames = (tilelab::app::lecture::SAVED_NOTE_SECONDS * 60.0) as usize + 10;
    harness.run_steps(frames);
    assert!(harness.query_by_label_contains("saved ").is_none(), "the note fades after a few seconds");
}

#[test]
fn the_lecture_and_the_invariance_view_word_no_spread_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    train_to_a_fixed_step(&mut harness);
    go_to(&mut harness, 8);
    harness.get_by_label_contains("Compute (100 images").click();
    wait_until(&mut harness, "invariance", |app| app.state.cache.figure4().latest(|k| k.weights.is_some()).is_some());
    let tile = TileId { class: 0, feature: 0, tile: 0 };
    let epsilon = harness.state().state.classes.tile(tile).unwrap().epsilon();
    let unmoved = format_spread(epsilon, 0.0);
    assert!(unmoved.ends_with("± 0 (exactly invariant)"), "{unmoved}");
    assert!(
        harness.query_all_by_label(&format!("N1: {unmoved}")).count() >= 2,
        "the lecture's captions read {unmoved}"
    );
    press(&mut harness, Key::Escape);
    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 60.0, "the invariance view's histograms", |h| {
        h.query_all_by_label_contains("class logit").next().is_some()
    });
    assert!(
        harness.query_all_by_label(&format!("class logit {unmoved}")).count() >= 2,
        "the invariance view reads {unmoved} too"
    );
}

/// Moves the lecture to step `index` (0-based) and lets it settle.
fn go_to(harness: &mut Harness<'_, TilelabApp>, index: usize) {
    harness.state_mut().views.lecture.step = index;
    harness.run_steps(3);
}

/// Trains the lecture's network (the paper's settings) for exactly [`TRAINED_BATCHES`] batches and
/// waits until it is paused there: the same weights on every run, so its step can be a snapshot.
fn train_to_a_fixed_step(harness: &mut Harness<'_, TilelabApp>) {
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().expect("the default dataset settings are valid");
    let mut job = TrainingJob::start(app.classes.clone(), spec, TrainingConfig::default(), app.dataset_request(), None)
        .expect("training starts");
    job.send(Control::Step(TRAINED_BATCHES));
    harness.state_mut().state.training = Some(job);
    wait_until(harness, "the fixed training step", |app| {
        app.state.training.as_ref().is_some_and(|job| {
            let progress = job.progress();
            !progress.running && progress.step == TRAINED_BATCHES as u64 && progress.test_accuracy().is_some()
        })
    });
}

/// Batches the snapshot run trains for (5 epochs of the paper's 1,200 images in batches of 100).
const TRAINED_BATCHES: usize = 60;

/// Window sizes every lecture step must fit: a 720p projector, a 1280×800 projector, full HD.
const PROJECTOR_SIZES: [[f32; 2]; 3] = [[1280.0, 720.0], [1280.0, 800.0], [1920.0, 1080.0]];

/// Resizes the window to `pixels` (the harness measures its size in points, at the current zoom).
fn resize_window(harness: &mut Harness<'_, TilelabApp>, pixels: [f32; 2]) {
    let zoom = harness.ctx.zoom_factor();
    harness.set_size(egui::vec2(pixels[0], pixels[1]) / zoom);
    harness.run_steps(4);
}

/// Every labelled widget on the page lies inside the window (nothing is cut off at an edge).
fn assert_nothing_clipped(harness: &Harness<'_, TilelabApp>, what: &str) {
    let window = harness.ctx.content_rect().expand(0.5);
    let outside: Vec<String> = harness
        .query_all_by(|node| node.label().is_some_and(|l| !l.trim().is_empty()))
        .filter(|node| !window.contains_rect(node.rect()))
        .map(|node| {
            format!("{:?} {:?} at {:?}", node.accesskit_node().role(), node.accesskit_node().label(), node.rect())
        })
        .collect();
    assert!(outside.is_empty(), "{what}: widgets outside the {window:?} window:\n{}", outside.join("\n"));
}

/// The top bar's controls sit on one line.
fn assert_top_bar_is_one_line(harness: &Harness<'_, TilelabApp>, what: &str) {
    let first = harness.get_by_label("Previous").rect();
    let last = harness.get_by_label("Leave (Esc)").rect();
    assert!((first.center().y - last.center().y).abs() < 1.0, "{what}: the top bar wraps ({first:?} … {last:?})");
}

/// No text on the page is smaller than the lecture's type size (the body text style), and no
/// formula (monospace) wraps mid-expression.
fn assert_text_is_readable(harness: &Harness<'_, TilelabApp>, what: &str) {
    let body = egui::TextStyle::Body.resolve(&harness.ctx.global_style()).size;
    let mut texts = Vec::new();
    for clipped in &harness.output().shapes {
        collect_texts(&clipped.shape, &mut texts);
    }
    assert!(!texts.is_empty(), "{what}: no text found");
    let mut problems = Vec::new();
    for text in texts {
        let job = &text.galley.job;
        for section in &job.sections {
            let size = section.format.font_id.size;
            if size < body - 1e-3 {
                problems.push(format!("{:?} at {size} pt", job.text));
            }
        }
        let monospace = job.sections.iter().all(|s| s.format.font_id.family == egui::FontFamily::Monospace);
        if monospace && text.galley.rows.len() > 1 && !job.text.contains('\n') {
            problems.push(format!("{:?} wraps over {} lines", job.text, text.galley.rows.len()));
        }
    }
    assert!(
        problems.is_empty(),
        "{what}: text under the lecture's {body} pt or wrapped formulas:\n{}",
        problems.join("\n")
    );
}

fn collect_texts<'a>(shape: &'a egui::Shape, out: &mut Vec<&'a egui::epaint::TextShape>) {
    match shape {
        egui::Shape::Text(text) if !text.galley.job.text.trim().is_empty() => out.push(text),
        egui::Shape::Vec(shapes) => shapes.iter().for_each(|s| collect_texts(s, out)),
        _ => {}
    }
}

#[test]
fn every_step_fits_the_projector_sizes_and_matches_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    train_to_a_fixed_step(&mut harness);
    // The measurements of steps 7 and 8, made once: every size shows the same results.
    go_to(&mut harness, 6);
    wait_for_screen(&mut harness, 30.0, "N1 for the measurement", |h| {
        !h.get_by_label("Measure selectivity").accesskit_node().is_disabled()
    });
    harness.get_by_label("Measure selectivity").click();
    wait_until(&mut harness, "selectivity", |app| {
        app.state.cache.selectivity().latest(|k| k.probes.is_some()).is_some()
    });
    // Step 8's preferred stimuli, of N2's detector and of a trained unit, computed once.
    go_to(&mut harness, 7);
    wait_until(&mut harness, "the preferred stimuli", |app| {
        let cache = &app.state.cache;
        // One slot per side: any network of the side names it.
        let done = |network| cache.inspections(network).done().is_some() && !cache.inspections(network).is_running();
        done(UnitNetwork::Constructed(Which::N2, (0, 0, 0))) && done(UnitNetwork::Trained(0))
    });
    go_to(&mut harness, 8);
    harness.get_by_label_contains("Compute (100 images").click();
    wait_until(&mut harness, "invariance", |app| app.state.cache.figure4().latest(|k| k.weights.is_some()).is_some());
    // Steps 9 and 10's deformation numbers (with the scattering classifier) and step 10's wavelet maps.
    go_to(&mut harness, 9);
    wait_until(&mut harness, "the deformation study", |app| {
        app.state.cache.deformation().latest(|k| k.model.is_some() && k.weights.is_some()).is_some()
    });
    wait_until(&mut harness, "the scattering pass", |app| app.state.cache.scattering_pass().done().is_some());
    // The pointer rests in a corner, away from the content.
    harness.hover_at(egui::pos2(-100.0, -100.0));
    for size in PROJECTOR_SIZES {
        resize_window(&mut harness, size);
        for (index, step) in Step::ALL.iter().enumerate() {
            go_to(&mut harness, index);
            // Steps 4 and 5 show N1 and N2 as soon as they are built.
            wait_until(&mut harness, "the step's network", |app| {
                let cache = &app.state.cache;
                match index {
                    3 => cache.forward(Which::N1).latest(|_| true).is_some(),
                    4 => cache.forward(Which::N2).latest(|_| true).is_some(),
                    _ => true,
                }
            });
            let what = format!("step {} at {}×{}", index + 1, size[0], size[1]);
            assert_on_step(&harness, index);
            assert_top_bar_is_one_line(&harness, &what);
            assert_nothing_clipped(&harness, &what);
            assert_text_is_readable(&harness, &what);
            let name = format!("lecture-{}x{}-{}-{}", size[0], size[1], index + 1, step.slug());
            if size == SIZE {
                common::readme_snapshot(&mut harness, &name, &format!("lecture-{}-{}", index + 1, step.slug()));
            } else {
                snapshot(&mut harness, &name);
            }
        }
    }
}

#[test]
fn lecture_steps_answer_the_pointer() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    press(&mut harness, Key::F5);
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    go_to(&mut harness, 4);
    wait_until(&mut harness, "N2", |app| app.state.cache.forward(Which::N2).latest(|_| true).is_some());
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
    common::readme_snapshot(&mut harness, "lecture-5-n2-hovered", "lecture-5-n2-hovered");
    press(&mut harness, Key::ArrowRight);
    harness.get_by_label("High contrast").click();
    // N1's output head is listed above the button once N1 is built: wait, so the button stays put.
    wait_for_screen(&mut harness, 30.0, "N1's output head", |h| h.query_by_label("N1's output head:").is_some());
    harness.get_by_label("Load the two-feature example").click();
    harness.run_steps(3);
    harness.get_by_label("Load the example").click();
    harness.run_steps(3);
    assert_eq!(harness.state().state.classes.max_features(), 2);
    let version = harness.state().state.classes_version;
    // N1 of the new set, on the input drawn from it (not an earlier pass on the old input).
    wait_until(&mut harness, "N1 of the new set", move |app| {
        let image = app.views.lecture.data.input.as_ref().map(|input| image_key(&input.image));
        let n1 = app.state.cache.forward(Which::N1);
        !n1.is_running() && n1.latest(|k| k.0.0 == version && Some(k.1) == image).is_some()
    });
    assert!(harness.query_all_by_label_contains("min-layer").count() >= 2, "the min-layers are listed");
    harness.hover_at(egui::pos2(-100.0, -100.0));
    harness.run_steps(2);
    common::readme_snapshot(&mut harness, "lecture-6-objects-high-contrast", "lecture-6-objects-high-contrast");
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
    harness.state_mut().push(Command::GenerateDataset);
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
    for _ in 0..3 {
        press(&mut harness, Key::ArrowLeft);
    }
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
    wait_until(&mut harness, "selectivity", |app| {
        app.state.cache.selectivity().latest(|k| k.probes.is_some()).is_some()
    });
    let measured = harness.state().state.cache.selectivity().latest(|k| k.probes.is_some()).unwrap();
    let constructed = measured.constructed.selectivity(0.0).unwrap();
    assert_eq!(constructed.mean_classes_per_active_unit(), Some(1.0), "N1's detectors are monosemantic");
    assert!(measured.trained.as_ref().unwrap().1.selectivity(0.0).unwrap().active_units() > 0);
    harness.get_by_label_contains("trained units:");
    // Slow motion, so the room can watch the filters form.
    harness.get_by_label("Slow motion").click();
    harness.run_steps(2);
    let speed = harness.state().state.training.as_ref().map(tilelab::app::training_job::TrainingJob::speed);
    assert!(matches!(speed, Some(tilelab::app::training_job::Speed::SamplesPerSecond(_))), "{speed:?}");
    press(&mut harness, Key::ArrowRight);
    press(&mut harness, Key::ArrowRight);
    assert_on_step(&harness, 8);
    harness.get_by_label_contains("Compute (100 images").click();
    wait_until(&mut harness, "invariance", |app| app.state.cache.figure4().latest(|k| k.weights.is_some()).is_some());
    let study = harness.state().state.cache.figure4().latest(|k| k.weights.is_some()).unwrap();
    let result = &study.result;
    for tile in &result.tiles {
        let spread = &tile.background.constructed_spread;
        assert!(spread.std[tile.label] < 1e-3, "N1's class logit does not move under background changes");
    }
    assert_eq!(harness.query_all_by_label_contains("tile translated").count(), result.tiles.len());
    harness.state_mut().state.training.as_mut().unwrap().send(tilelab::app::training_job::Control::Pause);
}
