//! UI tests of the constructed networks on the largest images the app makes (issue 21): ten
//! Fashion-MNIST tiles with full 28×28 support on 256×256 images, where N1 is left out and N2's
//! layers are too large to keep. The networks view and the lecture's N2 step draw N2 from its
//! detector layer and from windows of the earlier layers computed in the background, and their
//! logits equal the direct φ.
#![cfg(feature = "gui")]

mod common;

use common::{harness, wait_for_screen};
use egui::Key;
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::command::Edit;
use tilelab::core::construct::Which;
use tilelab::core::presets;
use tilelab::core::verify::max_relative_error;

/// Image side of the test: the Dataset view's largest.
const SIDE: usize = 256;

/// The app with the ten full-support Fashion tiles and 256×256 images (two samples per class).
fn large_images(dir: &std::path::Path) -> Harness<'static, TilelabApp> {
    let mut harness = harness(dir);
    let state = &mut harness.state_mut().state;
    state.edit(Edit::ReplaceAll(presets::with_full_support(&presets::fashion_ten(1))));
    (state.session.dataset.height, state.session.dataset.width) = (SIDE, SIDE);
    state.session.dataset.samples_per_class = 2;
    harness.run_steps(2);
    harness
}

/// The newest N2 forward pass of the current set and size: its logits, the direct φ, and whether
/// it kept layer `layer`.
fn n2_pass(app: &TilelabApp, layer: usize) -> Option<(Vec<f32>, Vec<f32>, bool)> {
    let net = (app.state.classes_version, SIDE, SIDE);
    let (_, forward) = app.state.cache.forward(Which::N2).done().filter(|(k, _)| k.0 == net)?;
    Some((forward.logits(), forward.direct.clone(), forward.layer(layer).is_some()))
}

/// The layer index of N2's first block layer (2×2 blocks).
fn first_block_layer(app: &TilelabApp) -> usize {
    let net = app.state.cache.network(Which::N2, (app.state.classes_version, SIDE, SIDE)).expect("N2 is built");
    net.blocks[0].layer
}

#[test]
fn networks_view_draws_n2_on_256_by_256_images_from_windows() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = large_images(dir.path());
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_label("N2").click();
    let first = harness.state().state.classes.tile_label(harness.state().state.classes.tiles().next().unwrap().0);
    wait_for_screen(&mut harness, 180.0, "N2's detector maps", |h| {
        h.query_by_role_and_label(Role::Image, &format!("N2 detectors of {first}")).is_some()
    });
    harness.get_by_label_contains("N1 left out on this image size: it would need 822274880 weights");

    // The logits shown are N2's, equal to φ, and N2 kept its detector layer but not its block layers.
    let layer = first_block_layer(harness.state());
    let (logits, direct, kept) = n2_pass(harness.state(), layer).expect("N2's pass is done");
    assert!(!kept, "on 256×256 the block layers are not kept");
    assert!(max_relative_error(&logits, &direct) <= 1e-4, "{logits:?} vs {direct:?}");
    let predicted = |prefix: &str| harness.query_by_label_contains(prefix).map(|n| n.accesskit_node().value());
    let shown = (predicted("direct φ: "), predicted("N2: "));
    let (Some(Some(phi)), Some(Some(n2))) = shown else { panic!("both logit charts are titled: {shown:?}") };
    assert_eq!(phi.trim_start_matches("direct φ: "), n2.trim_start_matches("N2: "), "the same prediction");

    // Open the first block layer: its page of channels comes from a window, drawn as maps.
    harness.get_by_label_contains(&format!("{layer}: layer 1: 2×2 blocks")).click();
    wait_for_screen(&mut harness, 120.0, "the block layer's maps", |h| {
        h.query_all_by_label_contains("block rows 0–1, cols 0–1").next().is_some()
            && h.query_all_by_role(Role::Image)
                .any(|n| n.accesskit_node().label().is_some_and(|l| l.starts_with("layer 1: distance to 2×2 block")))
    });
    let windows = harness.state().state.cache.windows().done().map(|(k, v)| (k.windows.clone(), v.len()));
    let (windows, computed) = windows.expect("a window was computed");
    assert_eq!((windows.len(), computed), (1, 1));
    assert_eq!(windows[0].layer, layer);
    assert_eq!((windows[0].rows.end, windows[0].cols.end), (SIDE + 3, SIDE + 3), "whole maps of the padded image");
    assert!(windows[0].channels.len() <= 12, "one page of channels, not the layer");

    // Hovering a map says what its channel detects.
    let map = harness
        .query_all_by_role(Role::Image)
        .find(|n| n.accesskit_node().label().is_some_and(|l| l.starts_with("layer 1: distance to 2×2 block")))
        .expect("a block map")
        .rect();
    harness.hover_at(map.center());
    wait_for_screen(&mut harness, 5.0, "the hover text", |h| {
        h.state().views.networks.hover.as_ref().is_some_and(|hover| hover.text.contains("layer 1: distance to 2×2"))
    });
    harness.get_by_label_contains("Neuron: layer 1: distance to 2×2 block");

    // The next page asks for its own window.
    harness.get_by_label("Next").click();
    wait_for_screen(&mut harness, 120.0, "the second page", |h| {
        h.state().state.cache.windows().done().is_some_and(|(k, _)| k.windows[0].channels != windows[0].channels)
            && h.query_by_label_contains("computing the maps on this page").is_none()
    });
}

#[test]
fn the_lecture_draws_n2_layers_on_256_by_256_images() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = large_images(dir.path());
    harness.key_press(Key::F5);
    harness.run_steps(2);
    assert!(harness.state().views.lecture.active, "lecture mode is on");
    harness.state_mut().views.lecture.step = 4;
    harness.run_steps(2);
    harness.get_by_label("N2: every block is built from four smaller blocks");
    wait_for_screen(&mut harness, 180.0, "N2's block mosaics with their values", |h| {
        h.query_by_role_and_label(Role::Image, "N2 layer 1 blocks").is_some()
            && h.state().state.cache.windows().done().is_some()
    });
    let layer = first_block_layer(harness.state());
    let (logits, direct, kept) = n2_pass(harness.state(), layer).expect("N2's pass is done");
    assert!(!kept && max_relative_error(&logits, &direct) <= 1e-4, "{logits:?} vs {direct:?}");
    let levels = harness.state().state.cache.network(Which::N2, (harness.state().state.classes_version, SIDE, SIDE));
    let levels = levels.expect("N2 is built").blocks.len();
    for level in 1..=levels {
        harness.get_by_role_and_label(Role::Image, &format!("N2 layer {level} blocks"));
    }
    // One window per block level, each a 32×32 patch of the tile's channels only.
    let (windows, values) = harness.state().state.cache.windows().done().cloned().expect("the windows are computed");
    assert_eq!((windows.windows.len(), values.len()), (levels, levels));
    for (window, value) in windows.windows.iter().zip(values.iter()) {
        assert!(value.maps.dim().1 <= 32 && value.maps.dim().2 <= 32, "{:?}", value.maps.dim());
        assert!(!window.channels.is_empty() && value.high > 0.0);
    }
    // The N2 logit beside φ, as the step writes it.
    let line = harness.get_by_label_contains("direct φ: ").accesskit_node().value().unwrap_or_default();
    let (n2, phi) = line.trim_start_matches("N2: ").split_once("   direct φ: ").expect("N2 and φ side by side");
    assert_eq!(n2, phi, "N2's logit equals φ as shown: {line}");
    // Hovering the first layer's mosaic shows the block's meaning.
    let rect = harness.get_by_role_and_label(Role::Image, "N2 layer 1 blocks").rect();
    harness.hover_at(rect.min + egui::vec2(2.0, 2.0));
    wait_for_screen(&mut harness, 10.0, "the hovered block", |h| {
        h.query_by_label_contains("layer 1: distance to 2×2 block").is_some()
    });
}
