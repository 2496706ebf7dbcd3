//! UI tests of models exported by PyTorch (`tests/fixtures/onnx/pytorch/`) opened in the app
//! (`egui_kittest`, headless): a colour model is refused with a message that names `tilelab run`
//! and the app keeps running; the grey `LeNet` opens and, at its image size, its layers draw.
#![cfg(feature = "gui")]

mod common;

use std::path::PathBuf;

use common::{harness, wait_for_screen};
use egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use tilelab::app::command::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/pytorch").join(name)
}

#[test]
fn a_colour_model_is_refused_with_the_tilelab_run_hint_and_the_app_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    harness.state_mut().push(Command::OpenNetwork(fixture("mixed_branches.onnx")));
    let said = |text: &str| text.contains("3 channels") && text.contains("tilelab run --model");
    wait_for_screen(&mut harness, 30.0, "the refusal in the log", |h| {
        h.state().state.log.iter().any(|entry| said(&entry.text))
    });
    wait_for_screen(&mut harness, 5.0, "the refusal on screen", |h| {
        h.query_all_by_label_contains("3 channels").next().is_some()
    });
    assert!(harness.state().state.imported.network.is_none(), "nothing is opened");

    // The app goes on: the Networks view draws the SGD side as before.
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the Networks view", |h| h.query_by_label("Trained CNN (SGD)").is_some());
}

#[test]
fn the_grey_lenet_opens_and_its_layers_draw() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let model = fixture("lenet_norm_relu6.onnx");
    harness.state_mut().push(Command::OpenNetwork(model.clone()));
    wait_for_screen(&mut harness, 30.0, "the model to load", |h| {
        h.state().state.imported.network.as_ref().is_some_and(|n| n.path == model)
    });
    harness.get_by_label("Networks").click();
    wait_for_screen(&mut harness, 30.0, "the size offer", |h| h.query_by_label("Use 28×28 images").is_some());
    harness.get_by_label("Use 28×28 images").click();
    wait_for_screen(&mut harness, 90.0, "the LeNet's maps", |h| {
        h.query_all_by_role_and_label(Role::Image, "channel 0").next().is_some()
    });
    harness.get_by_label_contains("Imported: lenet_norm_relu6.onnx");
    harness.get_by_label_contains("Filters of");
    // Every value has its section: (x − 0.5) / 0.25, both convolutions, ReLU6 as Clip, the poolings.
    for title in
        ["(Sub) 1×28×28", "(Div) 1×28×28", "(Conv) 6×28×28", "(Clip) 6×28×28", "(Conv) 16×10×10", "(MaxPool) 16×5×5"]
    {
        assert!(harness.query_by_label_contains(title).is_some(), "a section for {title}");
    }
    // Opening the second convolution's section draws its sixteen maps.
    harness.get_by_label_contains("(Conv) 16×10×10").click();
    wait_for_screen(&mut harness, 10.0, "the second convolution's maps", |h| {
        h.query_all_by_role_and_label(Role::Image, "channel 15").next().is_some()
    });
}
