//! UI tests of the Networks view's attribution (issue 20): choose a method, wait for the cache's
//! job, and check the map against the ground truth (N2's gradient puts its largest attribution in
//! the pasted tile's window); a deep trained network, which has no backward pass, says so and
//! offers occlusion, which then runs; the score table of both networks; and the snapshot of the
//! overlays for N2 beside a trained CNN (the README's `screenshots/attribution.png`).
#![cfg(feature = "gui")]

mod common;

use std::sync::Arc;

use common::{harness_sized, readme_snapshot, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::cache::{Attribution, AttributionKey, ExplainedId, MethodKind, Side};
use tilelab::app::training_job::{Control, TrainingJob};
use tilelab::core::construct::Which;

/// Tall enough that the left column's sections below the logits are on screen.
const TALL: [f32; 2] = [1280.0, 1100.0];

/// The newest attribution map of `side`, with its key.
fn attribution(app: &TilelabApp, side: Side) -> Option<(AttributionKey, Arc<Attribution>)> {
    app.state.cache.attribution(side).done().cloned()
}

/// Opens the Networks view on `which` with the dataset generated, and the attribution section open.
fn networks_with_attribution(harness: &mut Harness<'_, TilelabApp>, which: Which) {
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    if which == Which::N2 {
        harness.get_by_label("N2").click();
    }
    wait_for_screen(harness, 60.0, "the dataset and the input", |h| {
        h.state().state.dataset().is_some() && h.state().views.networks.input().is_some()
    });
    harness.get_by_label("Where the decision comes from").click();
    harness.run_steps(2);
}

/// Waits for `side`'s map of `kind` on the current input and returns it.
fn wait_for_map(harness: &mut Harness<'_, TilelabApp>, side: Side, kind: MethodKind) -> Arc<Attribution> {
    let failure = |h: &Harness<'_, TilelabApp>| {
        let failed = h.state().state.cache.attribution(side).failed().cloned();
        failed.filter(|(key, _)| key.method.kind == kind).map(|(_, error)| error)
    };
    wait_for_screen(harness, 120.0, kind.label(), |h| {
        attribution(h.state(), side).is_some_and(|(key, _)| key.method.kind == kind) || failure(h).is_some()
    });
    let failed = failure(harness);
    assert!(failed.is_none(), "the {} map failed: {failed:?}", kind.label());
    attribution(harness.state(), side).map(|(_, map)| map).expect("the map is done")
}

#[test]
fn n2_attributions_point_into_the_pasted_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness_sized(dir.path(), TALL);
    networks_with_attribution(&mut harness, Which::N2);
    let gradient = wait_for_map(&mut harness, Side::Constructed, MethodKind::Gradient);
    let (key, _) = attribution(harness.state(), Side::Constructed).unwrap();
    assert!(matches!(key.network, ExplainedId::Constructed(Which::N2, _)), "{:?}", key.network);
    let input = harness.state().views.networks.input().expect("an input").clone();
    assert_eq!(Some(gradient.predicted), input.label, "N2 classifies its input right");
    assert_eq!(gradient.class, gradient.predicted, "the predicted class by default");
    assert!(gradient.pointing_game, "N2's gradient peaks in the tile's window");
    let p = input.placements[0];
    let (row, col) = gradient.peak;
    assert!((p.row..p.row + p.rows).contains(&row) && (p.col..p.col + p.cols).contains(&col), "{:?}", gradient.peak);
    assert!(gradient.mass_in_window > 0.9, "mass in window {}", gradient.mass_in_window);
    assert!(harness.query_by_label_contains("pointing game: hit").is_some(), "the view says so");

    harness.get_by_label("integrated gradients").click();
    let integrated = wait_for_map(&mut harness, Side::Constructed, MethodKind::IntegratedGradients);
    assert!(integrated.pointing_game && integrated.mass_in_window > 0.9, "{}", integrated.mass_in_window);
    let (key, _) = attribution(harness.state(), Side::Constructed).unwrap();
    assert_eq!((key.method.steps, key.dataset), (50, harness.state().state.cache.dataset_generation()));

    harness.get_by_label("occlusion").click();
    let occluded = wait_for_map(&mut harness, Side::Constructed, MethodKind::Occlusion);
    assert!(occluded.pointing_game, "occluding the tile removes the class");
    assert!(occluded.map.iter().all(|v| v.is_finite()));
}

#[test]
fn a_network_without_backward_says_so_and_occlusion_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness_sized(dir.path(), TALL);
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    harness.get_by_label("Deep").click();
    harness.run_steps(2);
    let view = &mut harness.state_mut().views.training;
    (view.config.train_per_class, view.config.test_per_class, view.config.hyper.batch_size) = (60, 20, 20);
    harness.get_by_label("Step").click();
    wait_for_screen(&mut harness, 60.0, "a deep step", |h| {
        h.state().state.training.as_ref().is_some_and(|job| job.progress().net.is_some())
    });
    networks_with_attribution(&mut harness, Which::N1);
    wait_for_screen(&mut harness, 60.0, "the deep side's message", |h| {
        h.state().state.cache.attribution(Side::Trained).failed().is_some()
    });
    let (key, why) = harness.state().state.cache.attribution(Side::Trained).failed().cloned().unwrap();
    assert!(matches!(key.network, ExplainedId::Deep(_)), "{:?}", key.network);
    assert!(why.contains("no backward pass") && why.contains("use occlusion"), "{why}");
    assert!(harness.query_by_label_contains("no backward pass").is_some(), "shown in place");
    harness.get_by_label("Use occlusion").click();
    let occluded = wait_for_map(&mut harness, Side::Trained, MethodKind::Occlusion);
    assert!(occluded.map.iter().any(|v| *v != 0.0), "occlusion moves the deep network's logit");
    assert!(harness.query_by_label_contains("mass in window:").is_some());
}

#[test]
fn the_score_table_scores_n1_against_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness_sized(dir.path(), TALL);
    networks_with_attribution(&mut harness, Which::N1);
    harness.get_by_label("Scores against ground truth").click();
    harness.run_steps(2);
    harness.state_mut().views.networks.scores.samples = 2;
    // The button waits for N1, which is built in the background after the dataset.
    wait_for_screen(&mut harness, 60.0, "N1 built", |h| {
        !h.get_by_label("Score both networks").accesskit_node().is_disabled()
    });
    harness.get_by_label("Score both networks").click();
    wait_for_screen(&mut harness, 120.0, "the score table", |h| {
        let scores = h.state().state.cache.interpret_scores();
        scores.done().is_some() || scores.failed().is_some()
    });
    let scores = harness.state().state.cache.interpret_scores();
    assert!(scores.failed().is_none(), "{:?}", scores.failed());
    let (key, table) = scores.done().cloned().unwrap();
    assert_eq!((key.samples, table.samples, table.networks.len()), (2, 2, 1), "N1 alone: no training run");
    let n1 = &table.networks[0];
    assert_eq!(n1.name, "N1");
    let (recovered, studied) = n1.recovery.expect("N1's detectors are studied");
    assert!(studied >= 3 && recovered == studied, "every detector recovers its tile: {recovered} of {studied}");
    assert_eq!(n1.block_recovery, None, "N1 has no block channels");
    let names: Vec<&str> = n1.methods.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, ["gradient", "gradient-x-input", "integrated-gradients", "occlusion"]);
    let gradient = n1.methods[0].1.as_ref().expect("N1 has a backward pass");
    assert!((gradient.pointing_game - 1.0).abs() < 1e-6, "{gradient:?}");
    assert!(harness.query_by_label_contains("detectors recovered").is_some(), "the table is drawn");
}

#[test]
fn the_overlays_of_n2_and_a_trained_cnn_match_their_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness_sized(dir.path(), common::SIZE);
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().expect("the default dataset settings are valid");
    let mut config = harness.state().views.training.config;
    (config.filters, config.train_per_class, config.test_per_class, config.hyper.batch_size) = (4, 100, 30, 20);
    let mut job =
        TrainingJob::start(app.classes.clone(), spec, config, app.dataset_request(), None).expect("training starts");
    job.send(Control::Step(150));
    harness.state_mut().state.training = Some(job);
    wait_for_screen(&mut harness, 120.0, "the fixed training step", |h| {
        h.state().state.training.as_ref().is_some_and(|job| !job.progress().running && job.progress().step == 150)
    });
    networks_with_attribution(&mut harness, Which::N2);
    harness.get_by_label("gradient × input").click();
    wait_for_map(&mut harness, Side::Constructed, MethodKind::GradientTimesInput);
    let trained = wait_for_map(&mut harness, Side::Trained, MethodKind::GradientTimesInput);
    assert!(trained.map.iter().any(|v| *v != 0.0), "the trained CNN's map is not empty");
    for label in ["attribution constructed", "attribution trained"] {
        let image = harness.get_by_role_and_label(Role::Image, label).rect();
        assert!(image.bottom() < common::SIZE[1], "{label} is on screen: {image:?}");
    }
    readme_snapshot(&mut harness, "networks-attribution", "attribution");
}
