//! UI tests for what a new user hit in a first walk through the app (issue 17): typed numbers,
//! the welcome, classes, errors, typed paths, thumbnails and exports that match the screen.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};

use common::{harness, wait_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::command::Command;
use tilelab::app::ids::ExportKind;
use tilelab::app::{TilelabApp, UiPrefs};
use tilelab::core::tile::Tile;

/// A few frames: enough for commands to apply.
fn settle(harness: &mut Harness<'_, TilelabApp>) {
    harness.run_steps(3);
}

fn selected_tile(app: &TilelabApp) -> Tile {
    let id = app.state.selected.expect("a tile is selected");
    app.state.classes.tile(id).expect("the selected tile exists").clone()
}

/// Focuses the number field labelled `label` and types `text` into it, one key at a time.
fn type_into_field(
    harness: &mut Harness<'_, TilelabApp>,
    label: &str,
    text: &str,
    after_each_key: impl Fn(&TilelabApp),
) {
    harness.get_by_role_and_label(Role::SpinButton, label).focus();
    settle(harness);
    for key in text.chars() {
        // While typing, the field is still the spin button (now a text edit with focus).
        harness.get_by_role_and_label(Role::SpinButton, label).type_text(&key.to_string());
        settle(harness);
        after_each_key(harness.state());
    }
}

#[test]
fn typing_rows_applies_on_enter_and_keeps_the_drawing() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = selected_tile(harness.state());
    assert_eq!(before.rows(), 28);
    type_into_field(&mut harness, "Rows", "30", |app| {
        assert_eq!(selected_tile(app), before, "a keystroke does not resize the tile");
    });
    harness.key_press(Key::Enter);
    settle(&mut harness);
    let after = selected_tile(harness.state());
    assert_eq!(after.rows(), 30, "Enter applies the typed value");
    for row in 0..28 {
        for col in 0..before.cols() {
            assert_eq!(
                after.values()[[row, col]].to_bits(),
                before.values()[[row, col]].to_bits(),
                "({row}, {col}) kept"
            );
            assert_eq!(after.support()[[row, col]], before.support()[[row, col]]);
        }
    }
    assert!(harness.state().state.history.can_undo());
}

#[test]
fn typing_a_dataset_height_applies_when_the_field_loses_focus() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the first dataset", |app| app.state.dataset().is_some());
    let height = harness.state().state.session.dataset.height;
    type_into_field(&mut harness, "Height", "64", |app| {
        assert_eq!(app.state.session.dataset.height, height, "a keystroke does not change the height");
    });
    assert!(harness.state().state.cache.dataset_error().is_none(), "no error for a half-typed value");
    harness.get_by_role_and_label(Role::SpinButton, "Width").focus();
    settle(&mut harness);
    assert_eq!(harness.state().state.session.dataset.height, 64, "leaving the field applies the typed value");
}

#[test]
fn step_six_asks_before_loading_the_example_and_undo_brings_the_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.tileset.json");
    let mut harness = harness(dir.path());
    harness.state_mut().push(Command::SaveTileSet(file.clone()));
    settle(&mut harness);
    let mine = harness.state().state.classes.clone();
    let ctx = harness.ctx.clone();
    harness.state_mut().views.lecture.enter(&ctx, 5);
    // N1's output head is listed above the button once N1 is built: wait, so the button stays put.
    common::wait_for_screen(&mut harness, 30.0, "N1's output head", |h| {
        h.query_by_label("N1's output head:").is_some()
    });

    harness.get_by_label("Load the two-feature example").click();
    settle(&mut harness);
    harness.get_by_label_contains("replaces the tile set from mine.tileset.json");
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert_eq!(harness.state().state.classes, mine, "Cancel keeps the set");

    harness.get_by_label("Load the two-feature example").click();
    settle(&mut harness);
    harness.get_by_label("Load the example").click();
    settle(&mut harness);
    assert_eq!(harness.state().state.classes.max_features(), 2, "the example is loaded");
    assert_eq!(harness.state().state.session.tileset_path, None, "the example is not the file");

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, mine, "undo brings the set back");
    assert_eq!(app.session.tileset_path.as_deref(), Some(file.as_path()), "…with its file");
    assert!(!app.is_dirty(), "…and it matches the file again");
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    settle(&mut harness);
    assert_eq!(harness.state().state.session.tileset_path, None, "redo loads the example again, without the file");
}

/// The text of every label on screen containing `part`, in screen order.
fn labels_containing(harness: &Harness<'_, TilelabApp>, part: &str) -> Vec<String> {
    harness
        .query_all_by_label_contains(part)
        .filter_map(|node| {
            let node = node.accesskit_node();
            node.value().or_else(|| node.label())
        })
        .collect()
}

/// Runs an export of `kind` into `path` as the File menu does and waits for its files.
fn export(harness: &mut Harness<'_, TilelabApp>, kind: ExportKind, path: &Path) -> Vec<PathBuf> {
    harness.state_mut().push(Command::Export { kind, path: path.to_owned() });
    settle(harness);
    wait_until(harness, "the export", |app| !app.views.exports.is_running());
    let files = harness.state_mut().views.exports.last.take();
    files.unwrap_or_else(|| panic!("the export failed: {:?}", harness.state().state.last_message().map(|m| &m.text)))
}

/// Mean ± std of one column, formatted as the invariance view prints it.
fn mean_std_text(values: &[f64]) -> String {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    format!("class logit {}", tilelab::app::widgets::heatmap::format_spread(mean as f32, std as f32))
}

#[test]
fn the_invariance_export_is_the_study_on_screen_with_both_networks() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = common::harness_sized(dir.path(), [1280.0, 1600.0]);
    harness.get_by_label("Invariance").click();
    wait_until(&mut harness, "the invariance study", |app| {
        tilelab::app::views::invariance::shown(&app.state.cache).is_some()
    });
    let on_screen: Vec<String> =
        labels_containing(&harness, "class logit").into_iter().filter(|l| l.starts_with("class logit")).collect();

    let csv_path = dir.path().join("invariance.csv");
    export(&mut harness, ExportKind::ViewData, &csv_path);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let first_logit = header.iter().position(|h| h.starts_with("logit_")).unwrap();
    // (network, perturbation, tile) → the tile's own class logit over the images.
    let mut columns: Vec<((String, String, String), Vec<f64>)> = Vec::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let label: usize = cells[1].parse().unwrap();
        let key = (cells[3].to_owned(), cells[2].to_owned(), cells[0].to_owned());
        let value: f64 = cells[first_logit + label].parse().unwrap();
        match columns.iter_mut().find(|(k, _)| *k == key) {
            Some((_, values)) => values.push(value),
            None => columns.push((key, vec![value])),
        }
    }
    // The view's order: the compared network's two rows, then N1's; tiles left to right.
    let mut from_csv = Vec::new();
    for network in ["trained", "n1"] {
        for perturbation in ["background", "translation"] {
            for ((n, p, _), values) in &columns {
                if n == network && p == perturbation {
                    from_csv.push(mean_std_text(values));
                }
            }
        }
    }
    assert_eq!(from_csv.len(), 12, "3 tiles × 2 perturbations × 2 networks");
    assert_eq!(on_screen, from_csv, "the CSV holds the numbers on screen");

    let svg_path = dir.path().join("invariance.svg");
    export(&mut harness, ExportKind::ViewFigure { png_scale: None }, &svg_path);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.contains("N1: &apos;Trouser&apos;, translation"), "N1 is in the figure");
    assert!(
        svg.contains("untrained CNN: &apos;Trouser&apos;, background"),
        "the network beside N1 is named as on screen"
    );
    let svg = svg.to_uppercase();
    for class in 0..3 {
        let (r, g, b) = tilelab::core::plot::series_rgb(class);
        assert!(svg.contains(&format!("#{r:02X}{g:02X}{b:02X}")), "class {class} has the app's colour");
    }
}

#[test]
fn the_first_start_welcomes_with_three_steps_and_the_editor_legend_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = TilelabApp::with_prefs_for_tests(dir.path().to_owned(), UiPrefs::default());
    let mut harness = Harness::builder()
        .with_size(common::SIZE)
        .with_render_cursor(false)
        .build_ui_state(|ui, app: &mut TilelabApp| app.frame_ui(ui), app);
    settle(&mut harness);
    harness.get_by_label("Getting started");
    for (step, _) in tilelab::app::views::welcome::FIRST_STEPS {
        harness.get_by_label_contains(step);
    }
    harness.get_by_label_contains("magenta tint: outside the support");
    common::readme_snapshot(&mut harness, "welcome", "welcome");
    harness.get_by_label("Start").click();
    settle(&mut harness);
    assert!(harness.query_by_label_contains("magenta tint").is_none(), "the welcome closes");
    assert!(harness.state().prefs.welcome_dismissed, "…and the preference remembers it");

    harness.get_by_label("Help").click();
    settle(&mut harness);
    harness.get_by_label("Getting started").click();
    settle(&mut harness);
    harness.get_by_label_contains("magenta tint: outside the support");
}

#[test]
fn a_returning_user_is_not_welcomed_and_old_preferences_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let harness = harness(dir.path());
    assert!(harness.query_by_label_contains("magenta tint").is_none());
    let old: UiPrefs = serde_json::from_str(r#"{"theme":"Light","zoom":1.5}"#).unwrap();
    assert!(!old.welcome_dismissed, "preferences saved before the welcome existed show it once");
    let saved = serde_json::to_string(&UiPrefs { welcome_dismissed: true, ..old }).unwrap();
    assert!(serde_json::from_str::<UiPrefs>(&saved).unwrap().welcome_dismissed);
}

#[test]
fn a_new_class_is_named_after_its_label_and_renames_from_the_editor_with_its_feature() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    harness.get_by_label_contains("3: Class 3");

    harness.get_by_label("Rename class…").click();
    settle(&mut harness);
    let field = harness.get_by_role(Role::TextInput);
    assert!(field.accesskit_node().is_focused(), "the name box takes the keyboard");
    field.type_text("Boot");
    settle(&mut harness);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    let object = &harness.state().state.classes.classes[3];
    assert_eq!(object.name, "Boot", "typing replaced the selected old name");
    assert_eq!(object.features[0].name, "Boot", "the class's only feature follows its name");
    harness.get_by_label_contains("3: Boot");

    let file = dir.path().join("renamed.tileset.json");
    harness.state_mut().push(Command::SaveTileSet(file.clone()));
    settle(&mut harness);
    let saved = tilelab::core::tileset_file::load(&file).unwrap();
    assert_eq!(saved.classes[3].features[0].name, "Boot", "the saved file has the new feature name");
}

#[test]
fn a_bad_value_is_reported_once_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the first dataset", |app| app.state.dataset().is_some());
    type_into_field(&mut harness, "Height", "6", |_| {});
    harness.key_press(Key::Enter);
    wait_until(&mut harness, "the failed generation", |app| app.state.cache.dataset_error().is_some());
    settle(&mut harness);
    let shown = labels_containing(&harness, "does not fit");
    assert_eq!(shown.len(), 1, "one message in the dataset view, under the settings: {shown:?}");
    for (view, expected) in [("Networks", 1), ("Invariance", 1), ("Tiles", 0)] {
        harness.get_by_label(view).click();
        harness.run_steps(5);
        if expected > 0 {
            common::wait_for_screen(&mut harness, 30.0, "the view's message", |h| {
                h.query_all_by_label_contains("does not fit").count() > 0
            });
        }
        let shown = labels_containing(&harness, "does not fit");
        assert_eq!(shown.len(), expected, "{view} view: {shown:?}");
    }
    let logged = harness.state().state.log.iter().filter(|e| e.text.contains("does not fit")).count();
    assert!(logged <= 2, "the log has it once per cause, not once per frame ({logged})");
}

/// The text in the one path field on screen.
fn path_field_text(harness: &Harness<'_, TilelabApp>) -> String {
    let node = harness.get_by_role(Role::TextInput);
    let node = node.accesskit_node();
    node.value().unwrap_or_default()
}

/// Replaces the path field's text with `text`.
fn retype_path(harness: &mut Harness<'_, TilelabApp>, text: &str) {
    harness.get_by_role(Role::TextInput).focus();
    settle(harness);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(text);
    settle(harness);
}

#[test]
fn typed_paths_start_absolute_create_folders_confirm_on_enter_and_survive_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
    settle(&mut harness);
    let proposed = PathBuf::from(path_field_text(&harness));
    assert!(proposed.is_absolute() && proposed.ends_with("tileset.json"), "proposed {proposed:?}");

    // A folder that does not exist yet: Enter offers to create it.
    let file = dir.path().join("new/deeper/mine.tileset.json");
    retype_path(&mut harness, &file.display().to_string());
    harness.key_press(Key::Enter);
    settle(&mut harness);
    assert!(!file.exists());
    harness.get_by_label("Create the folder and save").click();
    settle(&mut harness);
    assert!(file.exists(), "the folder was made and the set saved");
    assert_eq!(harness.state().state.session.last_folder.as_deref(), file.parent());

    // An export proposes the folder just used.
    harness.state_mut().push(Command::AskExport(ExportKind::ViewFigure { png_scale: Some(1.0) }));
    settle(&mut harness);
    assert_eq!(PathBuf::from(path_field_text(&harness)), file.with_file_name("tiles.png"));
    harness.get_by_label("Cancel").click();
    settle(&mut harness);

    // A save that fails (the "folder" is a file) keeps what was typed for the next try.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"a file").unwrap();
    let bad = blocker.join("x.tileset.json").display().to_string();
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
    settle(&mut harness);
    retype_path(&mut harness, &bad);
    harness.key_press(Key::Enter);
    settle(&mut harness);
    assert!(harness.state().state.last_message().is_some_and(|m| m.text.contains("could not save")));
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
    settle(&mut harness);
    assert_eq!(path_field_text(&harness), bad, "the typed path is back");
}

#[test]
fn without_a_system_file_dialog_the_window_says_so_and_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::S);
    settle(&mut harness);
    harness.get_by_label("Browse…").click();
    common::wait_for_screen(&mut harness, 20.0, "the browse outcome", |h| {
        h.query_by_label_contains("No system file dialog").is_some()
    });
    assert!(harness.get_by_label("Browse…").accesskit_node().is_disabled(), "not offered again");
    let file = dir.path().join("typed.tileset.json");
    retype_path(&mut harness, &file.display().to_string());
    harness.key_press(Key::Enter);
    settle(&mut harness);
    assert!(file.exists(), "the typed path still saves");
}

#[test]
fn dataset_thumbnails_keep_the_images_aspect_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the first dataset", |app| app.state.dataset().is_some());
    type_into_field(&mut harness, "Width", "64", |_| {});
    harness.key_press(Key::Enter);
    settle(&mut harness);
    let (height, width) = (harness.state().state.session.dataset.height, 64);
    assert_ne!(height, width, "a non-square image");
    wait_until(&mut harness, "the wide dataset", |app| {
        app.state.dataset().is_some_and(|d| d.samples[0].image.ncols() == 64)
    });
    settle(&mut harness);
    let rect = harness.get_by_label_contains("sample 0:").rect();
    let shown = rect.width() / rect.height();
    let image = width as f32 / height as f32;
    assert!((shown - image).abs() < 0.05, "thumbnail {}×{} for a {height}×{width} image", rect.width(), rect.height());
}

#[test]
fn n1_onnx_is_greyed_out_with_the_reason_when_it_cannot_be_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let dataset = &mut harness.state_mut().state.session.dataset;
    (dataset.height, dataset.width) = (120, 120);
    harness.get_by_label("Networks").click();
    wait_until(&mut harness, "N1 on 120×120 images", |app| {
        app.state.cache.network(tilelab::core::construct::Which::N1, (app.state.classes_version, 120, 120)).is_some()
    });
    harness.get_by_label("File").click();
    settle(&mut harness);
    harness.get_by_label("Export").click();
    settle(&mut harness);
    harness.get_by_label("Network as ONNX / safetensors").click();
    settle(&mut harness);
    assert!(harness.get_by_label("N1 as ONNX…").accesskit_node().is_disabled(), "N1 is greyed out");
    assert!(!harness.get_by_label("N2 as ONNX…").accesskit_node().is_disabled(), "N2 is offered");
    let why = labels_containing(&harness, "export N2, which computes the same logits");
    assert_eq!(why.len(), 1, "the reason, once: {why:?}");
    assert!(!why[0].contains("--"), "in the app's words, not a command-line flag");
}
