//! UI tests of the Training view's architecture editor beyond the Deep preset (issue 18): the
//! N2-shaped kind with its wiring and start, trained live with its curves, shown layer by layer in
//! the Networks view and compared in Figure 4; a wiring N2 cannot afford refused with the core's
//! message; an n2-shaped run back after a restart; undo and redo of the edits, keys and buttons.
#![cfg(feature = "gui")]

mod common;

use common::{harness, progress, training_preset_with_small_data, wait_for_screen};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::training_job::{Phase, load_run};
use tilelab::core::nn::layers::Layers;
use tilelab::core::nn::n2_shaped::{Init, ShapedSettings, Wiring};

/// Clicks Step `steps` times and waits until the run has made them.
fn step(harness: &mut Harness<'_, TilelabApp>, steps: u64) {
    harness.get_by_label("Step").click();
    wait_for_screen(harness, 60.0, "a first step", |h| progress(h.state()).is_some_and(|p| p.step >= 1));
    for _ in 1..steps {
        harness.get_by_label("Step").click();
        harness.run_steps(2);
    }
    wait_for_screen(harness, 30.0, "the steps", |h| progress(h.state()).is_some_and(|p| p.step == steps));
}

#[test]
fn an_n2_shaped_network_trains_live_and_the_networks_view_shows_its_layers() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    training_preset_with_small_data(&mut harness, "N2-shaped");
    let config = harness.state().views.training.config;
    assert_eq!(config.n2_shaped, Some(ShapedSettings { wiring: Wiring::Sparse, init: Init::Random }));
    assert!((config.hyper.momentum - 0.9).abs() < 1e-6, "the depth experiment's SGD");
    assert!(harness.query_by_label("Edit blocks").is_none(), "no blocks to edit");
    assert!(harness.query_by_label("Filters").is_none(), "nor the paper's filters");
    harness.get_by_label("N2's weights").click();
    harness.run_steps(2);
    assert_eq!(harness.state().views.training.config.n2_shaped.map(|s| s.init), Some(Init::N2));

    step(&mut harness, 4);
    let trained = progress(harness.state()).unwrap();
    let net = trained.shaped.clone().expect("the n2-shaped weights are published");
    assert!(trained.cnn.is_none() && trained.net.is_none());
    assert!(!trained.train_curve.is_empty() && trained.test_accuracy().is_some(), "loss and accuracy curves");
    assert!(harness.query_by_role_and_label(Role::Image, "loss plot").is_some(), "drawn as for the others");

    harness.get_by_label("Networks").click();
    let names: Vec<String> = net.hidden_layers().iter().map(|&l| net.layer_names()[l].to_owned()).collect();
    let first_map = format!("{} 0", names[0]);
    wait_for_screen(&mut harness, 60.0, "the layers and their selectivity", |h| {
        h.query_by_role_and_label(Role::Image, &first_map).is_some()
            && h.query_all_by_label_contains("mean selectivity index").count() >= names.len()
    });
    assert!(harness.query_by_label_contains("N2's layers trained by SGD (N2's sparse wiring)").is_some());
    assert!(harness.query_by_label_contains("Logits: ").is_some());
    let pass = harness.state().state.cache.shaped_forward().done().map(|(_, p)| std::sync::Arc::clone(p)).unwrap();
    let measured: Vec<&str> = pass.layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(measured, names, "one histogram per hidden layer, under N2's names");
    assert_eq!(pass.outputs.len(), net.shapes().len());

    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 120.0, "Figure 4 of the n2-shaped network", |h| {
        h.state().state.cache.figure4().failed().is_some()
            || h.query_by_label_contains("Trained CNN (the training run's weights when computed)").is_some()
    });
    let figure4 = harness.state().state.cache.figure4();
    assert!(figure4.failed().is_none(), "{:?}", figure4.failed().map(|(_, e)| e));
}

#[test]
fn a_dense_wiring_n2_cannot_afford_is_refused_with_the_core_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    training_preset_with_small_data(&mut harness, "N2-shaped");
    harness.get_by_label("dense").click();
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::Button, "Start").click();
    let refusal = "Training could not start: N2's layers densely wired would cost";
    wait_for_screen(&mut harness, 60.0, "the refusal", |h| h.query_by_label_contains(refusal).is_some());
    assert!(harness.query_by_label_contains("FLOPs per training sample").is_some(), "the cost is given");
    assert!(matches!(progress(harness.state()).map(|p| p.phase), Some(Phase::Failed(_))));
}

#[test]
fn an_n2_shaped_run_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let trained = {
        let mut harness = harness(dir.path());
        training_preset_with_small_data(&mut harness, "N2-shaped");
        step(&mut harness, 3);
        wait_for_screen(&mut harness, 30.0, "the autosave", |_| {
            load_run(dir.path()).ok().flatten().is_some_and(|run| run.position.step == 3)
        });
        progress(harness.state()).unwrap().shaped.unwrap()
    };
    let mut harness = harness(dir.path());
    assert!(harness.state().views.training.config.n2_shaped.is_some(), "the view shows the run's settings");
    wait_for_screen(&mut harness, 60.0, "the rebuilt network", |h| {
        progress(h.state()).is_some_and(|p| p.phase == Phase::Ready)
    });
    let restored = progress(harness.state()).unwrap();
    assert_eq!((restored.shaped.as_deref(), restored.step), (Some(&*trained), 3), "the same weights and step");
}

#[test]
fn edits_of_the_architecture_are_undone_and_redone() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    let undo =
        |h: &Harness<'_, TilelabApp>| h.get_by_role_and_label(Role::Button, "Undo edit").accesskit_node().is_disabled();
    assert!(undo(&harness), "nothing to undo yet");
    let tiles_before = harness.state().state.classes.clone();
    let layers = |h: &Harness<'_, TilelabApp>| h.state().views.training.config.layers;
    harness.get_by_label("Deep").click();
    harness.run_steps(2);
    harness.get_by_label("Add block").click();
    harness.run_steps(2);
    assert_eq!(layers(&harness).map(|l| l.blocks().len()), Some(3));

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run_steps(2);
    assert_eq!(layers(&harness), Some(Layers::deep()), "the added block is taken back");
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    harness.run_steps(2);
    assert_eq!(harness.state().views.training.config, tilelab::app::training_job::TrainingConfig::default());
    assert!(undo(&harness), "back at the start");
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    harness.run_steps(2);
    assert_eq!(layers(&harness), Some(Layers::deep()), "redo makes the preset again");
    harness.get_by_role_and_label(Role::Button, "Redo edit").click();
    harness.run_steps(2);
    assert_eq!(layers(&harness).map(|l| l.blocks().len()), Some(3), "and the button the added block");
    assert!(harness.get_by_role_and_label(Role::Button, "Redo edit").accesskit_node().is_disabled());
    harness.get_by_role_and_label(Role::Button, "Undo edit").click();
    harness.run_steps(2);
    assert_eq!(layers(&harness), Some(Layers::deep()));
    assert_eq!(harness.state().state.classes, tiles_before, "the keys did not undo work in the tile set");
}
