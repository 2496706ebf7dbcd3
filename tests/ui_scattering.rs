//! The scattering network in the app (issue 22): chosen beside N1/N2 in the Networks view, its
//! wavelets and maps drawn with their meaning on hover, the linear classifier's logits once its
//! job finishes, bad settings named in the view; Figure 4's deformation slider; lecture step 10.

mod common;

use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use tilelab::core::scattering::ScatteringSpec;

use common::{harness, wait_for_screen};

fn hover_text(harness: &egui_kittest::Harness<'_, tilelab::app::TilelabApp>) -> String {
    harness.state().views.networks.hover.as_ref().map(|h| h.text.clone()).unwrap_or_default()
}

#[test]
fn scattering_draws_its_wavelets_and_maps_and_classifies_once_trained() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::RadioButton, "Scattering").click();
    wait_for_screen(&mut harness, 30.0, "the order-1 maps", |h| {
        h.query_by_role_and_label(Role::Image, "j1 45°").is_some()
    });
    // J = 2, L = 8: 16 wavelets, each with a real and an imaginary part.
    let images_named = |h: &egui_kittest::Harness<'_, tilelab::app::TilelabApp>, prefix: &str| {
        h.query_all_by(|n| n.role() == Role::Image && n.label().is_some_and(|l| l.starts_with(prefix))).count()
    };
    assert_eq!(images_named(&harness, "Re j"), 16);
    assert_eq!(images_named(&harness, "Im j"), 16);
    harness.get_by_label("Order 2 maps ||x * ψ1| * ψ2|");
    harness.get_by_label("Coefficients S: 81 channels of 10×10");

    harness.get_by_role_and_label(Role::Image, "j1 45°").scroll_to_me();
    harness.run_steps(3);
    harness.get_by_role_and_label(Role::Image, "j1 45°").hover();
    wait_for_screen(&mut harness, 5.0, "the order-1 hover", |h| hover_text(h).starts_with("order 1"));
    assert!(hover_text(&harness).starts_with("order 1: scale 1, angle 45° = "), "{}", hover_text(&harness));
    harness.get_by_role_and_label(Role::Image, "j0 45°/j1 90°").scroll_to_me();
    harness.run_steps(3);
    harness.get_by_role_and_label(Role::Image, "j0 45°/j1 90°").hover();
    wait_for_screen(&mut harness, 5.0, "the order-2 hover", |h| hover_text(h).starts_with("order 2"));
    assert!(
        hover_text(&harness).starts_with("order 2: scale 0, angle 45°, then scale 1, angle 90° = "),
        "{}",
        hover_text(&harness)
    );
    let field = harness.state().views.networks.hover.as_ref().and_then(|h| h.field);
    assert!(field.is_some_and(|f| (f.2, f.3) == (1, 1)), "a map pixel is one input pixel: {field:?}");

    wait_for_screen(&mut harness, 60.0, "the scattering logits", |h| {
        h.query_by_label_contains("scattering: ").is_some()
    });
    harness.get_by_label_contains("Linear classifier trained on the 60 dataset samples");
    harness.get_by_label_contains("direct φ: ");
    harness.get_by_label_contains("Scattering: mean classes per active coefficient");
}

#[test]
fn bad_scattering_settings_are_named_in_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::RadioButton, "Scattering").click();
    let cases = [
        (
            ScatteringSpec { j: 6, l: 8, max_order: 2 },
            "J = 6 is out of range: J must be at least 1 and 2^J at most the image's smaller side (40 pixels)",
        ),
        (ScatteringSpec { j: 0, l: 8, max_order: 2 }, "J = 0 is out of range"),
        (ScatteringSpec { j: 2, l: 0, max_order: 2 }, "L = 0 orientations is out of range: L must be between 1 and 32"),
        (ScatteringSpec { j: 2, l: 64, max_order: 2 }, "L = 64 orientations is out of range"),
    ];
    for (spec, expected) in cases {
        harness.state_mut().state.session.scattering = spec;
        harness.run_steps(3);
        assert_eq!(harness.query_all_by_label_contains(expected).count(), 1, "{expected}");
        assert!(harness.query_by_label_contains("Order 1 maps").is_none(), "nothing drawn for {spec:?}");
    }
    harness.get_by_label("Defaults").click();
    harness.run_steps(2);
    assert_eq!(harness.state().state.session.scattering, ScatteringSpec::default());
    wait_for_screen(&mut harness, 30.0, "the maps again", |h| h.query_by_label_contains("Order 1 maps").is_some());
}

/// The relative stability ratio of `network` for the first tile of the newest deformation study.
fn ratio_of(harness: &egui_kittest::Harness<'_, tilelab::app::TilelabApp>, network: &str) -> Option<f32> {
    let (_, study) = harness.state().state.cache.deformation().done()?;
    study.tiles.first()?.networks.iter().find(|n| n.network == network).map(|n| n.relative_ratio)
}

#[test]
fn the_deformation_slider_changes_every_networks_measured_ratio() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Invariance").click();
    harness.run_steps(2);
    harness.get_by_role_and_label(Role::Slider, "τ (pixels)");
    let done_for = |tau: f32, with_classifier: bool| {
        move |h: &egui_kittest::Harness<'_, tilelab::app::TilelabApp>| {
            h.state().state.cache.deformation().done().is_some_and(|(key, study)| {
                key.tau_bits == tau.to_bits()
                    && study.tau.to_bits() == tau.to_bits()
                    && key.model.is_some() == with_classifier
            })
        }
    };
    wait_for_screen(&mut harness, 120.0, "the study at τ = 1 with the classifier", done_for(1.0, true));
    harness.get_by_label("Small deformations (τ = 1 px)");
    let networks = ["direct_phi", "n1", "n2", "trained_cnn", "scattering_coefficients", "scattering_linear"];
    let before: Vec<f32> = networks.iter().map(|n| ratio_of(&harness, n).expect(n)).collect();
    for name in ["direct φ", "N1", "N2", "CNN", "scattering S", "scattering + linear"] {
        assert!(harness.query_all_by_label(name).count() >= 3, "a row per tile for {name}");
    }
    harness.state_mut().views.invariance.tau = 0.5;
    wait_for_screen(&mut harness, 120.0, "the study at τ = 0.5", done_for(0.5, true));
    harness.get_by_label("Small deformations (τ = 0.5 px)");
    let after: Vec<f32> = networks.iter().map(|n| ratio_of(&harness, n).expect(n)).collect();
    for ((name, b), a) in networks.iter().zip(&before).zip(&after) {
        assert!(a.is_finite() && (a - b).abs() > 1e-6, "{name}: {b} at τ = 1, {a} at τ = 0.5");
    }
    // A τ that folds the image is refused with its limit.
    harness.state_mut().views.invariance.tau = 6.0;
    wait_for_screen(&mut harness, 60.0, "the refusal", |h| h.query_by_label_contains("would fold").is_some());
}

#[test]
fn lecture_step_ten_is_reached_by_the_arrow_keys_and_draws_the_wavelets() {
    use egui::Key;
    use tilelab::app::lecture::Step;
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.key_press(Key::F5);
    harness.run_steps(2);
    for _ in 0..Step::ALL.len() {
        harness.key_press(Key::ArrowRight);
        harness.run_steps(2);
    }
    assert_eq!(harness.state().views.lecture.step, 9, "ten steps");
    harness.get_by_label("Another way to build a CNN: wavelets");
    harness.get_by_label("10 / 10");
    wait_for_screen(&mut harness, 30.0, "the order-1 maps", |h| h.query_by_label("Order 1 maps |x * ψ|").is_some());
    harness.get_by_label("Wavelets ψ_{j,θ} (real parts)");
    harness.get_by_role_and_label(Role::Slider, "τ (pixels)");
    wait_for_screen(&mut harness, 120.0, "the deformation numbers", |h| {
        h.query_by_label_contains("output change ÷ image change (relative): N2 ").is_some()
    });
    harness.key_press(Key::ArrowLeft);
    harness.run_steps(2);
    harness.get_by_label("Invariance: logits under background changes and translations");
    harness.get_by_role_and_label(Role::Slider, "τ (pixels)");
}
