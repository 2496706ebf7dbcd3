//! UI tests of the networks, training and invariance views (`egui_kittest`, headless): start
//! training and watch the curves move and the accuracy rise above chance, pause, inspect the
//! networks (hover a neuron, switch N1/N2), open the invariance view, measure frame times while
//! training runs, open a network trained elsewhere (ONNX) beside N2; the views, with a network
//! trained to a fixed step (the training view before it starts), match their snapshots in
//! `tests/snapshots/`.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{harness, open_network, readme_screenshot_when_updating, readme_snapshot, snapshot, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use tilelab::app::TilelabApp;
use tilelab::app::training_job::{Control, Progress, TrainingConfig, TrainingJob};
use tilelab::core::construct::Which;
use tilelab::core::dataset::DatasetSpec;
use tilelab::core::experiments::train_epochs;
use tilelab::core::interop::onnx_export::export_cnn;
use tilelab::core::nn::cnn::CnnSpec;
use tilelab::core::nn::train::{Hyper, LabelledSet};

fn progress(app: &TilelabApp) -> Option<Progress> {
    app.state.training.as_ref().map(|job| job.progress().clone())
}

/// A small, quick configuration: the paper's architecture shape with fewer filters and samples,
/// running until paused.
fn small_training(harness: &mut Harness<'_, TilelabApp>) {
    let view = &mut harness.state_mut().views.training;
    view.config.filters = 4;
    view.config.train_per_class = 100;
    view.config.test_per_class = 30;
    view.config.hyper.batch_size = 20;
    view.limits.epochs = UNTIL_PAUSED;
}

/// An epoch count no test reaches: the run trains until the test pauses it.
const UNTIL_PAUSED: usize = 100_000;

/// Batches of the snapshot run: 10 epochs of [`small_training`]'s 300 images in batches of 20.
const TRAINED_BATCHES: usize = 150;

/// Trains the training view's configuration for exactly [`TRAINED_BATCHES`] batches (paused there):
/// the same weights on every run, so the views that show them can be snapshots (not the curves:
/// their test points are taken at wall-clock intervals).
fn train_to_a_fixed_step(harness: &mut Harness<'_, TilelabApp>) {
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().expect("the default dataset settings are valid");
    let config = harness.state().views.training.config;
    let mut job =
        TrainingJob::start(app.classes.clone(), spec, config, app.dataset_request(), None).expect("training starts");
    job.send(Control::Step(TRAINED_BATCHES));
    harness.state_mut().state.training = Some(job);
    wait_for_screen(harness, 60.0, "the fixed training step", |h| {
        progress(h.state())
            .is_some_and(|p| !p.running && p.step == TRAINED_BATCHES as u64 && p.test_accuracy().is_some())
    });
}

/// Median and largest UI time of `frames` frames, in milliseconds.
fn frame_times(harness: &mut Harness<'_, TilelabApp>, frames: usize) -> (f64, f64) {
    let mut times: Vec<f64> = (0..frames)
        .map(|_| {
            let started = Instant::now();
            harness.step();
            let ms = started.elapsed().as_secs_f64() * 1e3;
            std::thread::sleep(Duration::from_millis(5));
            ms
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1])
}

#[test]
fn training_learns_pauses_and_feeds_the_networks_view() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    // The paper's defaults: conv 5×5 ×12, lr 0.03, batch 100, 400 training images per class.
    harness.state_mut().views.training.limits.epochs = UNTIL_PAUSED;
    harness.get_by_label("Start").click();
    wait_for_screen(&mut harness, 60.0, "accuracy above chance", |h| {
        progress(h.state()).is_some_and(|p| p.train_curve.len() >= 3 && p.test_accuracy().is_some_and(|a| a > 0.6))
    });
    let running = progress(harness.state()).unwrap();
    assert!(running.running);
    assert!(running.test_accuracy().unwrap() > 0.6, "3 classes: chance is 1/3");
    harness.get_by_label_contains("Test accuracy:");

    // The curves move while it runs, and the frames stay short (training is on its own thread).
    let (median_ms, max_ms) = frame_times(&mut harness, 60);
    eprintln!("training view while training: UI frame median {median_ms:.2} ms, max {max_ms:.2} ms");
    // On a loaded machine the run may not add a point during those frames: wait for one.
    wait_for_screen(&mut harness, 60.0, "the curves grow", |h| {
        progress(h.state()).is_some_and(|p| p.train_curve.len() > running.train_curve.len())
    });
    assert!(median_ms < 16.0, "median frame {median_ms:.2} ms");

    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the trained side", |h| {
        h.query_by_role_and_label(Role::Image, "feature map 0").is_some()
    });
    let (median_ms, max_ms) = frame_times(&mut harness, 60);
    eprintln!("networks view while training: UI frame median {median_ms:.2} ms, max {max_ms:.2} ms");
    assert!(median_ms < 16.0, "median frame {median_ms:.2} ms");

    harness.get_by_label("Training").click();
    harness.run_steps(2);
    harness.get_by_label("Pause").click();
    wait_for_screen(&mut harness, 10.0, "the pause", |h| progress(h.state()).is_some_and(|p| !p.running));
    let paused = progress(harness.state()).unwrap().step;
    std::thread::sleep(Duration::from_millis(300));
    harness.run_steps(3);
    assert_eq!(progress(harness.state()).unwrap().step, paused, "no training while paused");
    harness.get_by_label("Step").click();
    wait_for_screen(&mut harness, 10.0, "one step", |h| progress(h.state()).is_some_and(|p| p.step == paused + 1));
}

#[test]
fn networks_view_hover_switch_and_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    small_training(&mut harness);
    harness.run_steps(2);
    snapshot(&mut harness, "training-settings");
    train_to_a_fixed_step(&mut harness);
    let accuracy = progress(harness.state()).unwrap().test_accuracy().unwrap();
    assert!(accuracy > 0.6, "above chance (1/3): {accuracy}");
    readme_screenshot_when_updating(&mut harness, "training-curves");

    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "N1's detector maps", |h| {
        h.query_by_role_and_label(Role::Image, "N1 detectors of Trouser").is_some()
    });
    harness.get_by_role_and_label(Role::Image, "N1 detectors of Trouser").hover();
    wait_for_screen(&mut harness, 5.0, "the hover text", |h| {
        h.query_by_label_contains("Neuron: tile 'Trouser', window").is_some()
    });
    let hover = harness.state().views.networks.hover.clone().expect("a neuron is hovered");
    assert!(hover.text.contains("σ(ε − d)"), "{}", hover.text);
    let field = hover.field.expect("a detector has a receptive field");
    assert_eq!((field.2, field.3), (28, 28), "the receptive field is the tile's window");
    harness.get_by_role_and_label(Role::Image, "feature map 0").hover();
    wait_for_screen(&mut harness, 5.0, "the trained hover", |h| {
        h.query_by_label_contains("Neuron: trained unit: filter 0").is_some()
    });
    wait_for_screen(&mut harness, 30.0, "the logits", |h| h.query_by_label_contains("direct φ: ").is_some());
    // Selectivity: the constructed detectors fire for exactly one class each.
    wait_for_screen(&mut harness, 30.0, "the dataset", |h| h.state().state.dataset().is_some());
    harness.get_by_label("Measure selectivity").click();
    wait_for_screen(&mut harness, 30.0, "the selectivity", |h| {
        h.query_by_label_contains("Mean classes per active unit").is_some()
    });
    assert!(
        harness.query_by_label_contains("Mean classes per active unit: N1 1.00 vs trained").is_some(),
        "every active N1 detector fires for exactly one class"
    );

    // Hover the detector neuron of the window that holds the tile: its receptive field is outlined.
    let (placement, name) = {
        let app = harness.state();
        let placement = app.views.networks.input().expect("an input image").placements[0];
        (placement, app.state.classes.tile_label(placement.tile))
    };
    let rect = harness.get_by_role_and_label(Role::Image, &format!("N1 detectors of {name}")).rect();
    let cell = rect.width() / (40 - placement.cols + 1) as f32;
    let pos = rect.min + egui::vec2((placement.col as f32 + 0.5) * cell, (placement.row as f32 + 0.5) * cell);
    harness.hover_at(pos);
    wait_for_screen(&mut harness, 5.0, "the tile's detector", |h| {
        h.state()
            .views
            .networks
            .hover
            .as_ref()
            .is_some_and(|hover| hover.field == Some((placement.row, placement.col, placement.rows, placement.cols)))
    });
    let text = harness.state().views.networks.hover.as_ref().map(|h| h.text.clone()).unwrap_or_default();
    assert!(text.contains(&format!("window ({}, {})", placement.row, placement.col)), "{text}");
    assert!(!text.ends_with("= 0"), "the neuron at the tile fires: {text}");
    readme_snapshot(&mut harness, "networks-n1-trained", "networks-n1-trained");

    // Drag the tile three pixels sideways: the input is re-rendered with the tile at its new place.
    let rect = harness.get_by_role_and_label(Role::Image, "input image").rect();
    let cell = rect.width() / 40.0;
    let step = if placement.col >= 3 { -3.0 } else { 3.0 };
    let start = rect.min + egui::vec2((placement.col as f32 + 10.5) * cell, (placement.row as f32 + 10.5) * cell);
    harness.drag_at(start);
    harness.step();
    for i in 1..=6 {
        harness.hover_at(start + egui::vec2(step * cell * i as f32 / 6.0, 0.0));
        harness.step();
    }
    harness.drop_at(start + egui::vec2(step * cell, 0.0));
    harness.run_steps(3);
    let moved = harness.state().views.networks.input().expect("an input image").placements[0];
    assert_eq!(
        (moved.row, moved.col as f32),
        (placement.row, placement.col as f32 + step),
        "the tile follows the pointer"
    );

    harness.get_by_label("N2").click();
    wait_for_screen(&mut harness, 60.0, "N2's detector maps", |h| {
        h.query_by_role_and_label(Role::Image, "N2 detectors of Trouser").is_some()
    });
    assert_eq!(harness.state().views.networks.which, Which::N2);
    harness.get_by_label("N1").click();
    wait_for_screen(&mut harness, 10.0, "N1 again", |h| {
        h.query_by_role_and_label(Role::Image, "N1 detectors of Trouser").is_some()
    });

    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 60.0, "the Figure 4 histograms", |h| {
        h.query_all_by_label_contains("exactly invariant").next().is_some()
    });
    readme_snapshot(&mut harness, "invariance-figure4", "invariance-figure4");
}

/// Sets one setting of a default configuration to an absurd value.
type Breaker = fn(&mut TrainingConfig);

#[test]
fn absurd_hyper_parameters_give_messages_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    let cases: [(Breaker, &str); 3] = [
        (|c| c.hyper.learning_rate = 1e6, "learning rate"),
        (|c| c.hyper.batch_size = 0, "batch size"),
        (|c| c.filters = 0, "filters"),
    ];
    for (break_it, expected) in cases {
        let config = &mut harness.state_mut().views.training.config;
        *config = TrainingConfig::default();
        break_it(config);
        harness.run_steps(2);
        // One message, beside the field; Start is disabled until the value is corrected.
        assert_eq!(harness.query_all_by_label_contains(expected).count(), 1, "{expected}");
        let start = harness.get_by_role_and_label(Role::Button, "Start");
        assert!(start.accesskit_node().is_disabled(), "{expected}: Start is disabled");
        start.click();
        harness.run_steps(3);
        assert!(harness.state().state.training.is_none(), "{expected}: nothing starts");
    }
}

/// A CNN trained headlessly on the app's first tile set and saved as ONNX: a user's own model.
fn user_model(harness: &Harness<'_, TilelabApp>, path: &Path) {
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().unwrap();
    let data = tilelab::core::dataset::generate(&app.classes, &DatasetSpec { samples_per_class: 300, ..spec }).unwrap();
    let set = |d| LabelledSet::from_dataset(d, spec.height, spec.width, app.classes.len()).unwrap();
    let cnn_spec =
        CnnSpec { height: spec.height, width: spec.width, kernel: 5, filters: 6, classes: app.classes.len() };
    let run = train_epochs(cnn_spec, Hyper::plain(0.03, 20), set(&data), set(&data), 1, 10, &mut |_| {}).unwrap();
    assert!(run.test.accuracy > 0.6, "the model learnt something: {}", run.test.accuracy);
    let names: Vec<String> = app.classes.classes.iter().map(|o| o.name.clone()).collect();
    std::fs::write(path, export_cnn(&run.trained, &names).unwrap().onnx_bytes()).unwrap();
}

#[test]
fn an_imported_network_stands_beside_n2() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let model = dir.path().join("my_cnn.onnx");
    user_model(&harness, &model);
    open_network(&mut harness, &model);
    assert_eq!(harness.state().state.session.network_path.as_deref(), Some(model.as_path()), "remembered");

    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_label("N2").click();
    wait_for_screen(&mut harness, 60.0, "N2 and the imported maps", |h| {
        h.query_by_role_and_label(Role::Image, "N2 detectors of Trouser").is_some()
            && h.query_all_by_role_and_label(Role::Image, "channel 0").next().is_some()
    });
    harness.get_by_label_contains("Imported: my_cnn.onnx");
    harness.get_by_label_contains("Filters of");
    wait_for_screen(&mut harness, 30.0, "the imported logits", |h| h.query_by_label_contains("imported: ").is_some());

    // A unit of the first rectified map reads a 5×5 window of the input.
    let unit = harness.query_all_by_role_and_label(Role::Image, "channel 0").next().unwrap().rect();
    harness.hover_at(unit.min + egui::vec2(unit.width() * 0.5, unit.height() * 0.5));
    wait_for_screen(&mut harness, 5.0, "the imported hover", |h| {
        h.state().views.networks.hover.as_ref().is_some_and(|hover| hover.text.starts_with("my_cnn.onnx: "))
    });
    let hover = harness.state().views.networks.hover.clone().unwrap();
    let field = hover.field.expect("a convolution's unit has a receptive field");
    assert_eq!((field.2, field.3), (5, 5), "{}", hover.text);
    // Clicking an input pixel lists the channels whose units there fire.
    harness.get_by_role_and_label(Role::Image, "input image").click();
    wait_for_screen(&mut harness, 5.0, "the responders", |h| {
        h.query_by_label_contains("channels of 'layer1' respond here").is_some()
    });

    wait_for_screen(&mut harness, 30.0, "the dataset", |h| h.state().state.dataset().is_some());
    // Below the left column's fold once the responders are listed: scrolled into view first.
    harness.get_by_label("Measure selectivity").scroll_to_me();
    harness.run_steps(2);
    // Scrolled to the column's bottom edge it can still sit under the status bar: pressed the way
    // a screen reader does.
    harness.get_by_label("Measure selectivity").click_accesskit();
    wait_for_screen(&mut harness, 60.0, "the selectivity", |h| {
        h.query_by_label_contains("Mean classes per active unit").is_some()
    });
    harness.get_by_label_contains("Mean classes per active unit: N2 1.00 vs my_cnn.onnx");
    harness.hover_at(egui::pos2(5.0, 790.0));
    harness.run_steps(3);
    readme_snapshot(&mut harness, "networks-imported-n2", "networks-imported-n2");

    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 60.0, "Figure 4 of the imported network", |h| {
        h.query_by_label_contains("Imported network my_cnn.onnx").is_some()
    });

    // The session remembers the model: a restarted app opens it again.
    harness.state_mut().state.autosave_now();
    let mut restarted = common::harness(dir.path());
    wait_for_screen(&mut restarted, 30.0, "the model to reopen", |h| {
        h.state().state.imported.network.as_ref().is_some_and(|n| n.path == model)
    });

    // A model for other images says what to change; closing it brings the SGD side back.
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/small_cnn_legacy.onnx");
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    open_network(&mut harness, &fixture);
    wait_for_screen(&mut harness, 10.0, "the size message", |h| {
        h.query_by_label_contains("takes 12×12 images but the dataset makes 40×40").is_some()
    });
    assert!(
        harness.query_by_label_contains("Mean classes per active unit").is_none(),
        "the other model's selectivity is not shown for this one"
    );
    harness.get_by_label("Invariance").click();
    wait_for_screen(&mut harness, 60.0, "Figure 4 without the unfit model", |h| {
        h.query_by_label_contains("The opened network does not fit this dataset").is_some()
    });
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_label("Close").click();
    wait_for_screen(&mut harness, 10.0, "the SGD side", |h| h.query_by_label("Trained CNN (SGD)").is_some());
    assert_eq!(harness.state().state.session.network_path, None);
}

#[test]
fn n2_through_onnx_stands_beside_n1_and_stays_monosemantic() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let model = dir.path().join("n2.onnx");
    {
        let app = &harness.state().state;
        let (height, width) = (app.session.dataset.height, app.session.dataset.width);
        let n2 = tilelab::core::construct::build_n2(&app.classes, height, width).unwrap();
        let graph = tilelab::core::interop::onnx_export::export_constructed(
            tilelab::core::interop::onnx_export::ConstructedKind::N2,
            &n2,
            &app.classes,
        )
        .unwrap();
        std::fs::write(&model, graph.onnx_bytes()).unwrap();
    }
    open_network(&mut harness, &model);
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 60.0, "N1 and the imported maps", |h| {
        h.query_by_role_and_label(Role::Image, "N1 detectors of Trouser").is_some()
            && h.query_all_by_role_and_label(Role::Image, "channel 0").next().is_some()
    });
    // N2's first layer has hundreds of channels: the first ones are drawn, the rest on request.
    harness.get_by_label_contains("channels 0–47 of");
    let (median_ms, max_ms) = frame_times(&mut harness, 40);
    eprintln!("networks view with N2 imported beside N1: UI frame median {median_ms:.2} ms, max {max_ms:.2} ms");
    assert!(median_ms < 16.0, "median frame {median_ms:.2} ms");
    // Measure the imported detectors: through ONNX and tilelab's engine they fire for one class each.
    harness.get_by_value("layer1").click();
    harness.run_steps(2);
    // Through accesskit: the list is taller than the popup, a pointer click would miss the item.
    harness.get_by_label("detect (Relu)").click_accesskit();
    harness.run_steps(2);
    wait_for_screen(&mut harness, 30.0, "the dataset", |h| h.state().state.dataset().is_some());
    // Scrolled to the column's bottom edge it can still sit under the status bar: pressed the way
    // a screen reader does.
    harness.get_by_label("Measure selectivity").click_accesskit();
    wait_for_screen(&mut harness, 60.0, "the selectivity", |h| {
        h.query_by_label_contains("Mean classes per active unit").is_some()
    });
    harness.get_by_label_contains("Mean classes per active unit: N1 1.00 vs n2.onnx 'detect' 1.00");
}
