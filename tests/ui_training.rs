//! UI tests of the training view (`egui_kittest`, headless): a run stops by itself at its epoch
//! count and says so, Continue trains on from the same weights, an invalid setting disables Start
//! beside its field without touching the paused run, the trained network and its curves come back
//! after a restart, and the view fits 1280×720 and 1280×800 with the "settings changed" banner.
#![cfg(feature = "gui")]

mod common;

use std::sync::Arc;

use common::{harness, harness_sized, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::training_job::{Limits, Phase, Progress, load_run};
use tilelab::core::nn::cnn::Cnn;

/// 300 training images in batches of 20: 15 steps per epoch.
const STEPS_PER_EPOCH: u64 = 15;

fn progress(app: &TilelabApp) -> Option<Progress> {
    app.state.training.as_ref().map(|job| job.progress().clone())
}

fn weights(app: &TilelabApp) -> Option<Arc<Cnn>> {
    progress(app).and_then(|p| p.cnn)
}

/// Opens the training view with a small, quick configuration that stops after `epochs` epochs.
fn small_training(harness: &mut Harness<'_, TilelabApp>, epochs: usize) {
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    let view = &mut harness.state_mut().views.training;
    view.config.filters = 4;
    view.config.train_per_class = 100;
    view.config.test_per_class = 30;
    view.config.hyper.batch_size = 20;
    view.limits = Limits { epochs, target_accuracy: None };
    view.more_epochs = 1;
    harness.run_steps(2);
}

/// Clicks Start and waits until the run stops by itself with `message` on screen.
fn start_and_wait_for(harness: &mut Harness<'_, TilelabApp>, message: &str) {
    harness.get_by_label("Start").click();
    wait_for_screen(harness, 120.0, message, |h| h.query_by_label(message).is_some());
}

#[test]
fn a_run_stops_by_itself_says_why_and_continues() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    small_training(&mut harness, 2);
    start_and_wait_for(&mut harness, "Stopped after 2 epochs");
    let stopped = progress(harness.state()).unwrap();
    assert!(!stopped.running);
    assert_eq!((stopped.epoch, stopped.step), (2, 2 * STEPS_PER_EPOCH), "it stops at exactly 2 epochs");
    let start = harness.get_by_role_and_label(Role::Button, "Start");
    assert!(start.accesskit_node().is_disabled(), "Start has nothing left to do");

    harness.get_by_label("Continue for 1 more epoch").click();
    wait_for_screen(&mut harness, 120.0, "the continued run", |h| h.query_by_label("Stopped after 3 epochs").is_some());
    let continued = progress(harness.state()).unwrap();
    assert_eq!(continued.step, 3 * STEPS_PER_EPOCH, "it continued from step 30 rather than restarting");
    assert_eq!(continued.train_curve[..stopped.train_curve.len()], stopped.train_curve[..], "the curves go on");
    assert_ne!(continued.cnn, stopped.cnn, "the weights moved on");
    assert_eq!(harness.state().views.training.limits.epochs, 3, "the epoch count shows the new limit");
}

#[test]
fn an_invalid_setting_disables_start_beside_its_field_and_keeps_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    small_training(&mut harness, 1000);
    harness.get_by_label("Start").click();
    wait_for_screen(&mut harness, 60.0, "some training", |h| progress(h.state()).is_some_and(|p| p.step >= 5));
    harness.get_by_label("Pause").click();
    wait_for_screen(&mut harness, 10.0, "the pause", |h| progress(h.state()).is_some_and(|p| !p.running));
    harness.run_steps(3);
    let paused = progress(harness.state()).unwrap();

    // Type 0 into the learning rate.
    let field = harness.get_by_role_and_label(Role::SpinButton, "Learning rate");
    field.focus();
    harness.run_steps(2);
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.event(egui::Event::Text("0".to_owned()));
    harness.key_press(egui::Key::Enter);
    harness.run_steps(3);
    let typed = harness.state().views.training.config.hyper.learning_rate;
    assert!(typed.abs() < f32::EPSILON, "the typed value is taken: {typed}");

    let start = harness.get_by_role_and_label(Role::Button, "Start");
    assert!(start.accesskit_node().is_disabled(), "Start is disabled");
    start.click();
    harness.run_steps(3);
    let messages: Vec<_> = harness.query_all_by_label_contains("learning rate 0 must be").collect();
    assert_eq!(messages.len(), 1, "one message");
    let (message, field) =
        (messages[0].rect(), harness.get_by_role_and_label(Role::SpinButton, "Learning rate").rect());
    assert!(
        message.top() >= field.bottom() - 1.0 && message.top() < field.bottom() + 24.0,
        "the message {message:?} is right under the field {field:?}"
    );
    assert!(harness.state().state.log.iter().all(|entry| !entry.text.contains("learning rate")), "and not a toast");

    let after = progress(harness.state()).expect("the paused run is still there");
    assert_eq!((after.step, &after.cnn), (paused.step, &paused.cnn), "with its weights");
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the trained side", |h| {
        h.query_by_role_and_label(Role::Image, "feature map 0").is_some()
    });
    assert_eq!(weights(harness.state()), paused.cnn);
}

#[test]
fn the_trained_network_comes_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (trained, curve) = {
        let mut harness = harness(dir.path());
        small_training(&mut harness, 1);
        start_and_wait_for(&mut harness, "Stopped after 1 epoch");
        // The run is saved in the background once it stops.
        wait_for_screen(&mut harness, 30.0, "the autosave", |_| {
            load_run(dir.path()).ok().flatten().is_some_and(|run| run.position.step == STEPS_PER_EPOCH)
        });
        let stopped = progress(harness.state()).unwrap();
        (stopped.cnn.unwrap(), stopped.train_curve)
    };

    let mut harness = harness(dir.path());
    let restored = progress(harness.state()).expect("the run is back");
    assert_eq!(restored.cnn.as_deref(), Some(&*trained), "its weights are back at once");
    assert_eq!(restored.train_curve.len(), curve.len(), "and its curves");
    assert_eq!(harness.state().views.training.config.filters, 4, "the training view shows the run's settings");
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the trained side", |h| {
        h.query_by_role_and_label(Role::Image, "feature map 0").is_some()
    });
    harness.get_by_label("Training").click();
    wait_for_screen(&mut harness, 60.0, "the regenerated data", |h| {
        progress(h.state()).is_some_and(|p| p.phase == Phase::Ready)
    });
    assert!(harness.query_by_label_contains("The tile set or dataset settings changed").is_none(), "same data");
    harness.state_mut().views.training.more_epochs = 1;
    harness.run_steps(2);
    harness.get_by_label("Continue for 1 more epoch").click();
    wait_for_screen(&mut harness, 120.0, "the continued run", |h| h.query_by_label("Stopped after 2 epochs").is_some());
    let continued = progress(harness.state()).unwrap();
    assert_eq!(continued.step, 2 * STEPS_PER_EPOCH, "it continued from the saved step");
    assert_ne!(continued.cnn.as_deref(), Some(&*trained));
}

#[test]
fn the_training_view_fits_the_window_with_the_banner() {
    for size in [[1280.0, 720.0], [1280.0, 800.0]] {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = harness_sized(dir.path(), size);
        small_training(&mut harness, 1);
        start_and_wait_for(&mut harness, "Stopped after 1 epoch");
        harness.state_mut().state.session.dataset.seed += 1;
        wait_for_screen(&mut harness, 5.0, "the banner", |h| {
            h.query_by_label_contains("The tile set or dataset settings changed").is_some()
        });
        let window = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(size[0], size[1]));
        for (role, name) in
            [(Role::Button, "Restart with the new data"), (Role::Image, "loss plot"), (Role::Image, "accuracy plot")]
        {
            let rect = harness.get_by_role_and_label(role, name).rect();
            assert!(window.contains_rect(rect), "{name} at {rect:?} lies outside the {size:?} window");
        }
    }
}
