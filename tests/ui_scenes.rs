//! Scenes in the app, driven with `egui_kittest`: File → Examples opens a bundled scene and undo
//! brings the previous work back; File → Save scene as… writes a scene that File → Recent scenes
//! opens again (asking first over unsaved work); a dropped `.tilelab` file and a pasted link open.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::harness;
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::command::{Command, Edit, Node};
use tilelab::app::ids::View;
use tilelab::core::presets;
use tilelab::core::scene;

fn settle(harness: &mut Harness<'_, TilelabApp>) {
    harness.run_steps(3);
}

fn click_through(harness: &mut Harness<'_, TilelabApp>, labels: &[&str]) {
    for label in labels {
        harness.get_by_label(label).click();
        settle(harness);
    }
}

/// Replaces the open path window's text with `path`.
fn type_path(harness: &mut Harness<'_, TilelabApp>, path: &Path) {
    harness.get_by_role(Role::TextInput).focus();
    settle(harness);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    settle(harness);
}

#[test]
fn an_example_opens_from_the_file_menu_and_undo_brings_the_work_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = harness.state().state.session.dataset.clone();
    click_through(&mut harness, &["File", "Examples", "mnist-ten"]);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::mnist_ten(1), "{:?}", app.last_message().map(|m| &m.text));
    assert_eq!((app.session.dataset.samples_per_class, app.session.view), (10, View::Dataset));

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "undo brings the tile set back");
    assert_eq!(app.session.dataset, before, "and the dataset settings");
    assert_eq!(app.session.view, View::Tiles, "and the view");
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    settle(&mut harness);
    assert_eq!(harness.state().state.session.dataset.samples_per_class, 10, "redo opens the scene's settings again");
}

#[test]
fn a_saved_scene_reopens_from_recent_scenes_after_asking() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("class.tilelab");
    let mut harness = harness(dir.path());
    harness.state_mut().state.session.dataset.seed = 77;
    click_through(&mut harness, &["File", "Save scene as…"]);
    type_path(&mut harness, &path);
    harness.get_by_role_and_label(Role::Button, "Save").click();
    settle(&mut harness);
    let (saved, warnings) = scene::open(&path).unwrap();
    assert!(warnings.is_empty());
    assert_eq!((saved.dataset.seed, saved.tiles.classes()), (77, presets::fashion_three()));
    assert_eq!(harness.state().state.session.recent_scenes, std::slice::from_ref(&path));

    harness.state_mut().push(Command::Edit(Edit::Delete(Node::Class(0))));
    harness.state_mut().state.session.dataset.seed = 5;
    settle(&mut harness);
    click_through(&mut harness, &["File", "Recent scenes", "class.tilelab"]);
    harness.get_by_label("Open the scene?");
    assert_eq!(harness.state().state.classes.len(), 2, "nothing changes before the answer");
    harness.get_by_label("Open the scene").click();
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!((app.classes.len(), app.session.dataset.seed), (3, 77));
}

/// A file dropped onto the window, as the platform reports it.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_scene_file_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.tilelab");
    let toy = scene::BUNDLED.iter().find(|(name, _)| *name == "paper-toy").unwrap().1;
    std::fs::write(&path, toy).unwrap();
    let mut harness = harness(dir.path());
    harness.input_mut().dropped_files.push(Arc::new(Dropped(path.clone())));
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::toy_squares());
    assert_eq!(app.session.scene_path.as_deref(), Some(path.as_path()));
    assert_eq!(app.session.recent_scenes, [path]);
}

#[test]
fn a_broken_pasted_link_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());

    click_through(&mut harness, &["Edit", "Open scene from link…"]);
    harness.get_by_role(Role::TextInput).type_text("1.not-a-scene");
    settle(&mut harness);
    harness.get_by_role_and_label(Role::Button, "Open").click();
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "a broken link leaves the work as it was");
}

#[test]
fn a_lecture_scene_opens_in_lecture_mode_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    click_through(&mut harness, &["File", "Examples", "two-feature-object"]);
    let app = harness.state();
    assert!(app.views.lecture.active, "{:?}", app.state.last_message().map(|m| &m.text));
    assert_eq!(app.views.lecture.step, 5, "step 6, counted from 1 in the file");
    assert_eq!(app.state.classes, presets::two_feature_example());
}
