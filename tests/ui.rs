//! UI tests: drive the real app headlessly with `egui_kittest` (widgets found by label and role),
//! and compare each view with its snapshot in `tests/snapshots/`.
#![cfg(feature = "gui")]
// Painted values and ε are assigned through widgets, not computed: exact comparison is the check.
#![allow(clippy::float_cmp)]

mod common;

use std::path::Path;

use common::{harness, readme_snapshot, wait_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers, Pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::command::Command;
use tilelab::app::ids::View;
use tilelab::core::idx::{self, BundledSet};
use tilelab::core::tile::{ClassSet, Tile};
use tilelab::core::tileset_file;

/// A few frames: enough for commands to apply and grids to lay out.
fn settle(harness: &mut Harness<'_, TilelabApp>) {
    harness.run_steps(3);
}

/// Types `path` into the one text field on screen (a path window's).
fn type_path(harness: &mut Harness<'_, TilelabApp>, path: &Path) {
    harness.get_by_role(Role::TextInput).focus();
    settle(harness);
    // Replace the proposed path.
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    settle(harness);
}

/// Clicks `item` in the File menu.
fn file_menu(harness: &mut Harness<'_, TilelabApp>, item: &str) {
    harness.get_by_label("File").click();
    settle(harness);
    harness.get_by_label(item).click();
    settle(harness);
}

fn selected_tile(app: &TilelabApp) -> Tile {
    let id = app.state.selected.expect("a tile is selected");
    app.state.classes.tile(id).expect("the selected tile exists").clone()
}

/// The screen position of tile pixel `(row, col)` on the editor canvas.
fn cell_pos(harness: &Harness<'_, TilelabApp>, row: usize, col: usize) -> Pos2 {
    let rect = harness.get_by_role_and_label(Role::Canvas, "Tile canvas").rect();
    let zoom = harness.state().views.tiles.zoom;
    rect.min + egui::vec2((col as f32 + 0.5) * zoom, (row as f32 + 0.5) * zoom)
}

#[test]
fn first_screen_is_the_fashion_example() {
    let dir = tempfile::tempdir().unwrap();
    let harness = harness(dir.path());
    let app = harness.state();
    assert_eq!(app.state.classes.len(), 3);
    assert_eq!(app.state.session.view, View::Tiles);
    assert!(harness.query_all_by_label_contains("Trouser").count() >= 1);
    harness.get_by_role_and_label(Role::Canvas, "Tile canvas");
}

#[test]
fn paint_a_stroke_then_undo_it_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = selected_tile(harness.state());
    harness.get_by_role_and_label(Role::Slider, "Value").set_value_accesskit(0.5);
    settle(&mut harness);
    assert_eq!(harness.state().views.tiles.brush_value, 0.5);

    // One stroke across three frames: press at (1,1), move to (1,6), release.
    harness.drag_at(cell_pos(&harness, 1, 1));
    harness.step();
    harness.hover_at(cell_pos(&harness, 1, 6));
    harness.step();
    harness.drop_at(cell_pos(&harness, 1, 6));
    settle(&mut harness);
    let painted = selected_tile(harness.state());
    for col in 1..=6 {
        assert_eq!(painted.values()[[1, col]], 0.5, "pixel (1, {col}) painted");
        assert!(painted.support()[[1, col]], "painted pixels are in the support");
    }
    assert!(harness.state().state.is_dirty());

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    assert_eq!(selected_tile(harness.state()), before, "one undo removes the whole stroke");
    assert!(!harness.state().state.is_dirty());
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    settle(&mut harness);
    assert_eq!(selected_tile(harness.state()), painted, "redo brings it back");
}

#[test]
fn erasing_removes_pixels_from_the_support() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Eraser").click();
    settle(&mut harness);
    let pos = cell_pos(&harness, 14, 14);
    harness.drag_at(pos);
    harness.step();
    harness.drop_at(pos);
    settle(&mut harness);
    let tile = selected_tile(harness.state());
    assert!(!tile.support()[[14, 14]]);
}

#[test]
fn changing_epsilon_updates_the_tile_and_the_readout() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_role_and_label(Role::Slider, "ε").set_value_accesskit(5.0);
    settle(&mut harness);
    let tile = selected_tile(harness.state());
    assert!((tile.epsilon() - 5.0).abs() < 1e-3, "ε is {}", tile.epsilon());
    let per_pixel = tile.epsilon() / tile.support_len() as f32;
    harness.get_by_label_contains(&format!("ε/|S| = {per_pixel:.4}"));
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    assert_eq!(selected_tile(harness.state()).epsilon(), 2.0, "the preset's ε is back after one undo");
}

#[test]
fn add_a_class_from_the_left_panel() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes.len(), 4);
    assert_eq!(app.classes.classes[3].name, "Class 3", "the name carries the label");
    assert_eq!(app.selected.map(|id| id.class), Some(3), "the new class is selected");
    assert!(harness.query_all_by_label_contains("3: Class 3").count() >= 1, "the new class is listed");
}

#[test]
fn save_and_reopen_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("work.tileset.json");
    let mut harness = harness(dir.path());
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    let saved: ClassSet = harness.state().state.classes.clone();

    harness.key_press_modifiers(Modifiers::COMMAND, Key::S);
    settle(&mut harness);
    type_path(&mut harness, &file);
    harness.get_by_label("Save").click();
    settle(&mut harness);
    assert!(file.exists(), "the file was written");
    assert!(!harness.state().state.is_dirty());
    assert_eq!(tileset_file::load(&file).unwrap(), saved, "the file holds exactly the set");

    // Change the set, then open the file again (the dialog starts at the current file).
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    assert!(harness.state().state.is_dirty());
    harness.key_press_modifiers(Modifiers::COMMAND, Key::O);
    settle(&mut harness);
    harness.get_by_label("Open").click();
    settle(&mut harness);
    assert_eq!(harness.state().state.classes, saved, "reopened set equals the saved one");
    assert!(!harness.state().state.is_dirty());
    assert_eq!(harness.state().state.session.tileset_path.as_deref(), Some(file.as_path()));
}

#[test]
fn import_a_tile_image_and_export_pngs() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("cross.png");
    let cross = image::GrayImage::from_fn(5, 3, |x, y| image::Luma([if x == 2 || y == 1 { 255 } else { 0 }]));
    cross.save(&png).unwrap();
    let mut harness = harness(dir.path());
    file_menu(&mut harness, "Import tile image…");
    type_path(&mut harness, &png);
    harness.get_by_label("Import").click();
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes.classes.last().map(|o| o.name.as_str()), Some("cross"));
    let tile = selected_tile(harness.state());
    assert_eq!((tile.rows(), tile.cols(), tile.support_len()), (3, 5, 7), "support = the non-zero pixels");

    let tile_png = dir.path().join("tile.png");
    let atlas = dir.path().join("atlas.png");
    harness.state_mut().push(Command::ExportTilePng(tile_png.clone()));
    harness.state_mut().push(Command::ExportAtlas(atlas.clone()));
    settle(&mut harness);
    let exported = image::open(&tile_png).unwrap().into_luma8();
    assert_eq!(exported, cross, "a tile PNG re-reads as the imported image");
    assert!(image::open(&atlas).unwrap().width() > 28, "the atlas holds the tiles side by side");
}

#[test]
fn a_bad_file_is_an_error_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.json");
    std::fs::write(&file, "{\"format\": \"something else\"").unwrap();
    let mut harness = harness(dir.path());
    let before = harness.state().state.classes.clone();
    harness.state_mut().push(Command::OpenTileSet(file));
    settle(&mut harness);
    assert_eq!(harness.state().state.classes, before);
    let last = harness.state().state.last_message().expect("a message");
    assert_eq!(last.level, tilelab::app::command::Level::Error);
    assert!(harness.query_all_by_label_contains("could not open").count() >= 1, "the error is shown");
}

#[test]
fn closing_with_unsaved_work_asks_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    harness.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default().events.push(egui::ViewportEvent::Close);
    settle(&mut harness);
    assert!(harness.state().views.dialogs.confirm_quit);
    harness.get_by_label("Quit without saving");
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert!(!harness.state().views.dialogs.confirm_quit);
}

#[test]
fn regenerate_the_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the first dataset", |app| app.state.dataset().is_some());
    let first = harness.state().state.dataset().cloned().unwrap();
    let settings = &harness.state().state.session.dataset;
    assert_eq!(first.samples.len(), settings.samples_per_class * 3);
    let generation = harness.state().state.cache.dataset_generation();

    harness.get_by_label("New samples").click();
    wait_until(&mut harness, "the regenerated dataset", move |app| app.state.cache.dataset_generation() > generation);
    let second = harness.state().state.dataset().cloned().unwrap();
    assert_eq!(harness.state().state.session.dataset.seed, 2);
    assert_eq!(second.samples.len(), first.samples.len());
    assert_ne!(second.samples[0].image, first.samples[0].image, "a new seed draws new samples");
    assert!(harness.query_all_by_label_contains("redrawn").count() >= 1, "the rejections are reported");
}

#[test]
fn load_a_fashion_tile_from_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Gallery…").click();
    wait_until(&mut harness, "the gallery", |app| app.views.gallery.fashion.is_some());
    let data = idx::bundled(BundledSet::FashionMnist).unwrap();
    let name = idx::FASHION_CLASSES[usize::from(data.labels[0])];
    harness.get_by_label(&format!("image 0 {name}")).click();
    settle(&mut harness);
    assert_eq!(harness.state().views.gallery.picked, Some(0));
    harness.get_by_label("Add as new class").click();
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes.len(), 4);
    assert_eq!(app.classes.classes[3].name, name);
    let expected = data.images.image(0).unwrap();
    assert_eq!(selected_tile(harness.state()).values(), &expected, "the tile is the gallery image");
}

#[test]
fn snapshots_of_the_tiles_and_dataset_views() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    readme_snapshot(&mut harness, "tiles", "tiles");
    harness.get_by_label("Dataset").click();
    wait_until(&mut harness, "the dataset", |app| app.state.dataset().is_some());
    readme_snapshot(&mut harness, "dataset", "dataset");
    harness.get_by_label_contains("sample 0:").click();
    settle(&mut harness);
    readme_snapshot(&mut harness, "dataset-sample", "dataset-sample");
    harness.state_mut().views.dataset.opened = None;
    // The Networks, Training and Invariance views are shot with a trained network by tests/ui_networks.rs.
    harness.get_by_label("Tiles").click();
    harness.state_mut().views.gallery.open = true;
    wait_until(&mut harness, "the gallery", |app| app.views.gallery.fashion.is_some());
    harness.get_by_label_contains("image 1 ").click();
    settle(&mut harness);
    readme_snapshot(&mut harness, "gallery", "gallery");
}

#[test]
fn save_and_quit_without_a_file_asks_for_one_saves_then_closes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kept.tileset.json");
    let mut harness = harness(dir.path());
    harness.get_by_label("Add class").click();
    settle(&mut harness);
    let close = |harness: &mut Harness<'_, TilelabApp>| {
        let viewport = harness.input_mut().viewports.entry(egui::ViewportId::ROOT).or_default();
        viewport.events.push(egui::ViewportEvent::Close);
    };
    close(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Save and quit").click();
    settle(&mut harness);
    // No file yet: the Save As window asks, and cancelling it keeps the app open and the question away.
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    assert!(!harness.state().views.dialogs.quit_after_save);
    assert!(!harness.state().views.dialogs.quit_confirmed, "nothing saved, nothing closed");
    // Another path window replacing that Save As drops the pending quit too.
    close(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Save and quit").click();
    settle(&mut harness);
    assert!(harness.state().views.dialogs.quit_after_save);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::O);
    settle(&mut harness);
    assert!(!harness.state().views.dialogs.quit_after_save, "Open… is not a save");
    harness.get_by_label("Cancel").click();
    settle(&mut harness);

    close(&mut harness);
    settle(&mut harness);
    harness.get_by_label("Save and quit").click();
    settle(&mut harness);
    type_path(&mut harness, &file);
    harness.get_by_label("Save").click();
    settle(&mut harness);
    assert!(file.exists(), "saved");
    assert!(!harness.state().state.is_dirty());
    assert!(harness.state().views.dialogs.quit_confirmed, "then closed, without asking again");
    assert!(!harness.state().views.dialogs.confirm_quit);
}

#[test]
fn importing_an_image_can_crop_it_to_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("spot.png");
    let spot = image::GrayImage::from_fn(20, 20, |x, y| {
        image::Luma([if (5..8).contains(&x) && (9..11).contains(&y) { 255 } else { 0 }])
    });
    spot.save(&png).unwrap();
    let mut harness = harness(dir.path());
    file_menu(&mut harness, "Import tile image…");
    type_path(&mut harness, &png);
    harness.get_by_label("Crop to the content (trim borders without support pixels)").click();
    settle(&mut harness);
    harness.get_by_label("Import").click();
    settle(&mut harness);
    let tile = selected_tile(harness.state());
    assert_eq!((tile.rows(), tile.cols()), (2, 3), "only the bright spot is kept");
}
