//! UI tests for what a new user hit in a first walk through the app (issue 17): typed numbers,
//! the welcome, classes, errors, typed paths, thumbnails and exports that match the screen.
#![cfg(feature = "gui")]

mod common;

use common::{harness, wait_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::command::Command;
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
    wait_until(&mut harness, "the first dataset", |app| app.state.dataset.is_some());
    let height = harness.state().state.session.dataset.height;
    type_into_field(&mut harness, "Height", "64", |app| {
        assert_eq!(app.state.session.dataset.height, height, "a keystroke does not change the height");
    });
    assert!(harness.state().state.dataset_error.is_none(), "no error for a half-typed value");
    harness.get_by_role_and_label(Role::SpinButton, "Width").focus();
    settle(&mut harness);
    assert_eq!(harness.state().state.session.dataset.height, 64, "leaving the field applies the typed value");
}

#[test]
fn step_six_asks_before_loading_the_example_and_undo_brings_the_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.tileset.json");
    let mut harness = harness(dir.path());
    harness.state_mut().state.push(Command::SaveTileSet(file.clone()));
    settle(&mut harness);
    let mine = harness.state().state.classes.clone();
    let ctx = harness.ctx.clone();
    harness.state_mut().views.lecture.enter(&ctx, 5);
    settle(&mut harness);

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
