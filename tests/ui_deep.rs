//! UI tests of deep trained networks (issue 18): the Deep preset in the Training view's
//! architecture editor trains on the general path, a block the image cannot fit is refused under
//! its block with Start disabled, and the Networks view then shows every trained layer (filters,
//! each block's feature maps with receptive fields on hover) and the selectivity histograms per
//! layer beside the constructed detectors. Also renders the README's "deep network beside N2".
#![cfg(feature = "gui")]

mod common;

use common::{harness, progress, readme_screenshot_when_updating, training_preset_with_small_data, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::core::construct::Which;
use tilelab::core::construct::choice::BuiltNetwork;
use tilelab::core::nn::layers::Layers;

#[test]
fn the_deep_preset_trains_and_the_networks_view_shows_its_layers_and_selectivity() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    training_preset_with_small_data(&mut harness, "Deep");
    let config = harness.state().views.training.config;
    assert_eq!(config.layers, Some(Layers::deep()), "the preset's blocks");
    assert!((config.hyper.momentum - 0.9).abs() < 1e-6, "and its momentum");
    assert!(harness.query_by_label_contains("max-pool 2×2").is_some(), "the editor describes the network");

    harness.get_by_label("Step").click();
    wait_for_screen(&mut harness, 60.0, "a first step", |h| progress(h.state()).is_some_and(|p| p.step >= 1));
    for _ in 0..4 {
        harness.get_by_label("Step").click();
        harness.run_steps(2);
    }
    wait_for_screen(&mut harness, 30.0, "five steps", |h| progress(h.state()).is_some_and(|p| p.step == 5));
    let trained = progress(harness.state()).unwrap();
    assert!(trained.cnn.is_none(), "not the paper's network");
    assert_eq!(trained.net.as_ref().map(|n| n.arch().blocks.len()), Some(2));

    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 60.0, "both blocks' maps and the histograms", |h| {
        h.query_by_role_and_label(Role::Image, "block 2 map 31").is_some()
            && h.query_all_by_label_contains("mean selectivity index").count() >= 2
    });
    for label in ["deep filter 0", "deep filter 15", "block 1 map 0", "block 1 map 15", "block 2 map 0"] {
        assert!(harness.query_by_role_and_label(Role::Image, label).is_some(), "{label} is drawn");
    }
    let pass = harness.state().state.cache.deep_forward().done().map(|(_, p)| std::sync::Arc::clone(p)).unwrap();
    let names: Vec<&str> = pass.layers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["conv 1 (3×3×16)", "conv 2 (3×3×32)"], "one histogram per hidden layer");
    assert!(pass.probes > 0);

    // Hovering a block 1 unit outlines the 3×3 input window it reads (deeper blocks: cache::deep's tests).
    let map = harness.get_by_role_and_label(Role::Image, "block 1 map 0").rect();
    assert!(map.bottom() < common::SIZE[1], "block 1's maps are on screen: {map:?}");
    harness.hover_at(map.left_top() + egui::vec2(1.0, 1.0));
    wait_for_screen(&mut harness, 5.0, "the hover", |h| h.state().views.networks.hover.is_some());
    let hover = harness.state().views.networks.hover.clone().unwrap();
    assert_eq!(hover.field, Some((0, 0, 3, 3)), "{}", hover.text);
    assert!(hover.text.contains("block 1 unit: map 0 at (0, 0)"), "{}", hover.text);

    // With N2's detectors measured, they stand beside the trained layers.
    harness.state_mut().views.networks.which = Which::N2;
    harness.state_mut().views.networks.shown = BuiltNetwork::Template(Which::N2);
    wait_for_screen(&mut harness, 60.0, "N2 beside", |h| h.query_by_label_contains("Constructed N2").is_some());
    harness.get_by_label("Measure selectivity").click();
    let detectors = "N2's detectors: mean selectivity index 1.00, 1.00 classes per active unit";
    wait_for_screen(&mut harness, 120.0, "N2's detectors beside", |h| h.query_by_label_contains(detectors).is_some());
    // Tall enough for the histograms under the maps.
    harness.set_size(egui::vec2(common::SIZE[0], 1500.0));
    harness.run_steps(5);
    readme_screenshot_when_updating(&mut harness, "deep-beside-n2");
}

#[test]
fn a_block_the_image_cannot_fit_is_refused_under_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    training_preset_with_small_data(&mut harness, "Deep");
    if let Some(layers) = harness.state_mut().views.training.config.layers.as_mut() {
        layers.blocks_mut()[1].kernel = 60;
    }
    harness.run_steps(3);
    let message = harness.get_by_label_contains("conv block 2: a 60×60 kernel").rect();
    let block3 = harness.query_by_label("Block 3");
    assert!(block3.is_none());
    let start = harness.get_by_role_and_label(Role::Button, "Start");
    assert!(start.accesskit_node().is_disabled(), "Start is disabled");
    let add = harness.get_by_role_and_label(Role::Button, "Add block").rect();
    assert!(message.bottom() <= add.top() + 1.0, "the message sits under the blocks, above Add block");
    assert!(progress(harness.state()).is_none(), "nothing started, nothing panicked");
}

#[test]
fn figure4_and_lecture_step_7_take_the_deep_network() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    training_preset_with_small_data(&mut harness, "Deep");
    harness.get_by_label("Step").click();
    wait_for_screen(&mut harness, 60.0, "a first step", |h| progress(h.state()).is_some_and(|p| p.step >= 1));
    // Step 7 measures the layers over the dataset's samples.
    harness.get_by_label("Dataset").click();
    wait_for_screen(&mut harness, 60.0, "the dataset", |h| h.state().state.dataset().is_some());

    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 120.0, "Figure 4 of the deep network", |h| {
        h.state().state.cache.figure4().failed().is_some()
            || h.query_by_label_contains("Trained CNN (the training run's weights when computed)").is_some()
    });
    let figure4 = harness.state().state.cache.figure4();
    assert!(figure4.failed().is_none(), "{:?}", figure4.failed().map(|(_, e)| e));

    harness.key_press(egui::Key::F5);
    harness.run_steps(2);
    let step7 = tilelab::app::lecture::Step::ALL.iter().position(|s| s.slug() == "trained").unwrap();
    harness.state_mut().views.lecture.step = step7;
    wait_for_screen(&mut harness, 60.0, "the deep network in step 7", |h| {
        h.query_by_label("its block 1 filters (learned)").is_some()
            && h.query_by_label("block 2 maps after ReLU").is_some()
            && h.query_by_label_contains("conv 2 (3×3×32): SI").is_some()
    });
}
