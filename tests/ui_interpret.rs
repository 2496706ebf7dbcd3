//! UI tests of the unit inspector (issue 20, `egui_kittest`, headless): click a unit of N2's
//! detector maps and the inspector computes its preferred stimulus in the background, which holds
//! the unit's tile at the unit's window (`d_T < ε`, checked on the app's state, not only on the
//! pixels), with the dataset images that drive the unit hardest; click a trained unit and its
//! stimulus comes without a tile; click a unit of an opened ONNX model and the inspector says
//! which operators lack a backward pass instead of computing. The N2 inspector is a snapshot and
//! the README's screenshot.
#![cfg(feature = "gui")]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{harness, open_network, readme_snapshot, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::cache::Inspection;
use tilelab::app::training_job::{Control, TrainingJob};
use tilelab::core::dataset::Placement;
use tilelab::core::experiments::train_epochs;
use tilelab::core::interop::onnx_export::export_cnn;
use tilelab::core::nn::cnn::CnnSpec;
use tilelab::core::nn::train::{Hyper, LabelledSet};

/// The open unit's inspection under the inspector's current options, once computed.
fn inspection(app: &TilelabApp) -> Option<Arc<Inspection>> {
    let key = app.views.networks.inspector.key(&app.state)?;
    app.state.cache.inspections(key.network).get(&key)
}

/// Why the open unit's inspection failed, if it did.
fn inspection_error(app: &TilelabApp) -> Option<String> {
    let key = app.views.networks.inspector.key(&app.state)?;
    app.state.cache.inspections(key.network).error(&key).map(str::to_owned)
}

/// Clicks the cell `(row, col)` of the map labelled `label`, whose cells are `cells` wide.
fn click_cell(harness: &mut Harness<'_, TilelabApp>, label: &str, cells: usize, (row, col): (usize, usize)) {
    let rect = harness.get_by_role_and_label(Role::Image, label).rect();
    let cell = rect.width() / cells as f32;
    let pos = rect.min + egui::vec2((col as f32 + 0.5) * cell, (row as f32 + 0.5) * cell);
    harness.hover_at(pos);
    harness.step();
    harness.drag_at(pos);
    harness.step();
    harness.drop_at(pos);
    harness.run_steps(2);
}

/// Moves the pointer where it hovers nothing, so no tooltip is in a snapshot.
fn park_pointer(harness: &mut Harness<'_, TilelabApp>) {
    harness.hover_at(egui::pos2(5.0, 790.0));
    harness.run_steps(3);
}

#[test]
fn an_n2_detector_wants_to_see_its_tile_at_its_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.get_by_label("Networks").click();
    harness.run_steps(2);
    harness.get_by_label("N2").click();
    wait_for_screen(&mut harness, 60.0, "N2's detector maps and the dataset", |h| {
        h.query_by_role_and_label(Role::Image, "N2 detectors of Trouser").is_some()
            && h.state().state.dataset().is_some()
    });
    let (placement, name): (Placement, String) = {
        let app = harness.state();
        let placement = app.views.networks.input().expect("an input image").placements[0];
        (placement, app.state.classes.tile_label(placement.tile))
    };
    // The detector map has one cell per valid window.
    let label = format!("N2 detectors of {name}");
    click_cell(&mut harness, &label, 40 - placement.cols + 1, (placement.row, placement.col));
    let inspected =
        harness.state().views.networks.inspector.inspected().cloned().expect("the click opens the inspector");
    assert_eq!(inspected.unit.field, (placement.row, placement.col, placement.rows, placement.cols));
    assert_eq!(inspected.unit.tile, Some(placement.tile));
    assert!(inspected.title.starts_with("N2 detector of"), "{}", inspected.title);
    harness.get_by_label("Unit inspector");

    wait_for_screen(&mut harness, 120.0, "the preferred stimulus", |h| {
        inspection(h.state()).is_some() || inspection_error(h.state()).is_some()
    });
    assert_eq!(inspection_error(harness.state()), None);
    let found = inspection(harness.state()).expect("computed");
    assert!(found.preferred.image.iter().all(|v| (0.0..=1.0).contains(v)), "pixels stay in [0, 1]");
    let recovery = found.recovery.expect("a constructed detector is scored");
    assert!(recovery.recovered && recovery.distance < recovery.epsilon, "d_T = {} ≥ ε", recovery.distance);
    assert!(found.preferred.value > 0.0, "the detector fires on its preferred stimulus");
    // The dataset images that drive the unit hardest are of the tile's class (N2 is monosemantic).
    assert!(!found.examples.is_empty());
    for example in &found.examples {
        assert_eq!(example.label, placement.tile.class, "sample {}", example.sample);
        assert!(example.activation > 0.0);
    }
    harness.get_by_role_and_label(Role::Image, "unit inspector stimulus");
    harness.get_by_role_and_label(Role::Image, "unit inspector tile");
    harness.get_by_role_and_label(Role::Image, "unit inspector example 0");
    harness.get_by_label_contains("Recovered: the stimulus holds the tile");
    park_pointer(&mut harness);
    readme_snapshot(&mut harness, "unit-inspector-n2", "unit-inspector");

    // Other options ask for a new ascent; closing the window forgets the unit.
    harness.get_by_role_and_label(Role::Button, "New noise").click();
    harness.run_steps(2);
    assert!(inspection(harness.state()).is_none(), "another starting noise is another inspection");
    wait_for_screen(&mut harness, 120.0, "the ascent from other noise", |h| inspection(h.state()).is_some());
    assert!(inspection(harness.state()).and_then(|i| i.recovery).is_some_and(|r| r.recovered));
    harness.get_by_role_and_label(Role::Button, "Close window").click();
    harness.run_steps(2);
    assert!(harness.state().views.networks.inspector.inspected().is_none());
    assert!(harness.query_by_label("Unit inspector").is_none());
}

/// Trains the paper's architecture with 4 filters for 150 batches (paused there) as the app's training run.
fn train_briefly(harness: &mut Harness<'_, TilelabApp>) {
    let mut config = harness.state().views.training.config;
    config.filters = 4;
    config.train_per_class = 100;
    config.test_per_class = 30;
    config.hyper.batch_size = 20;
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().expect("the default dataset settings are valid");
    let mut job =
        TrainingJob::start(app.classes.clone(), spec, config, app.dataset_request(), None).expect("training starts");
    job.send(Control::Step(150));
    harness.state_mut().state.training = Some(job);
    wait_for_screen(harness, 60.0, "the training steps", |h| {
        h.state().state.training.as_ref().is_some_and(|job| {
            let progress = job.progress();
            !progress.running && progress.step == 150
        })
    });
}

#[test]
fn a_trained_unit_has_no_tile_and_an_onnx_unit_says_what_has_no_backward() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    train_briefly(&mut harness);
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the trained feature maps", |h| {
        h.query_by_role_and_label(Role::Image, "feature map 0").is_some()
    });
    harness.get_by_role_and_label(Role::Image, "feature map 0").click();
    harness.run_steps(2);
    let inspected =
        harness.state().views.networks.inspector.inspected().cloned().expect("the click opens the inspector");
    assert_eq!(inspected.unit.channel, 0);
    assert_eq!((inspected.unit.field.2, inspected.unit.field.3), (5, 5), "a 5×5 convolution's unit");
    wait_for_screen(&mut harness, 60.0, "the trained unit's stimulus", |h| inspection(h.state()).is_some());
    let found = inspection(harness.state()).expect("computed");
    assert!(found.recovery.is_none(), "a trained unit has no tile to recover");
    assert!(found.examples.iter().all(|e| e.field.2 == 5), "examples outline the unit's 5×5 window");
    harness.get_by_label_contains("A trained unit has no tile to compare with");
    assert!(harness.query_by_role_and_label(Role::Image, "unit inspector tile").is_none());

    let model = dir.path().join("my_cnn.onnx");
    write_onnx_model(&harness, &model);
    open_network(&mut harness, &model);
    wait_for_screen(&mut harness, 60.0, "the imported maps", |h| {
        h.query_all_by_role_and_label(Role::Image, "channel 0").next().is_some()
    });
    harness.query_all_by_role_and_label(Role::Image, "channel 0").next().unwrap().click();
    harness.run_steps(2);
    wait_for_screen(&mut harness, 30.0, "the imported unit's answer", |h| {
        inspection(h.state()).is_some() || inspection_error(h.state()).is_some()
    });
    // Without an ONNX backward pass the inspector names the operators and offers occlusion; with
    // one (the interpretability core may gain it) the stimulus is there.
    if let Some(error) = inspection_error(harness.state()) {
        assert!(error.contains("Conv") && error.contains("occlusion"), "{error}");
        harness.get_by_label_contains("The preferred stimulus cannot be computed");
    } else {
        harness.get_by_role_and_label(Role::Image, "unit inspector stimulus");
    }
}

/// A 6-filter CNN trained for one epoch, exported as ONNX into `path`.
fn write_onnx_model(harness: &Harness<'_, TilelabApp>, path: &Path) {
    let app = &harness.state().state;
    let spec = app.session.dataset.to_spec().unwrap();
    let spec = tilelab::core::dataset::DatasetSpec { samples_per_class: 40, ..spec };
    let data = tilelab::core::dataset::generate(&app.classes, &spec).unwrap();
    let set = LabelledSet::from_dataset(&data, spec.height, spec.width, app.classes.len()).unwrap();
    let cnn_spec =
        CnnSpec { height: spec.height, width: spec.width, kernel: 5, filters: 6, classes: app.classes.len() };
    let run = train_epochs(cnn_spec, Hyper::plain(0.03, 20), set.clone(), set, 1, 10, &mut |_| {}).unwrap();
    let names: Vec<String> = app.classes.classes.iter().map(|o| o.name.clone()).collect();
    std::fs::write(path, export_cnn(&run.trained, &names).unwrap().onnx_bytes()).unwrap();
}
