//! Set-up shared by the UI test binaries: the app in a headless `egui_kittest` harness, waiting
//! for background work, and snapshot comparisons against the images stored in `tests/snapshots/`.
//!
//! A snapshot test fails when the window looks different from its stored image (beyond
//! [`SNAPSHOT_THRESHOLD`] and [`SNAPSHOT_MAX_FAILED_PIXELS`]). Images change only on purpose:
//! `UPDATE_SNAPSHOTS=1 cargo test --release --test ui --test ui_networks --test ui_lecture --test ui_new_user --test ui_scenes --test ui_attribution --test ui_interpret`
//! rewrites the stored images that differ (and copies the README's screenshots into `screenshots/`).
// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;

/// Window size of every UI test (and of the screenshots).
pub const SIZE: [f32; 2] = [1280.0, 800.0];

/// The app with its data in `dir` (never the user's), after its first frames.
pub fn harness(dir: &Path) -> Harness<'static, TilelabApp> {
    harness_sized(dir, SIZE)
}

/// [`harness`] in a window of `size` points.
pub fn harness_sized(dir: &Path, size: [f32; 2]) -> Harness<'static, TilelabApp> {
    let app = TilelabApp::new_for_tests(dir.to_owned());
    let mut harness = Harness::builder()
        .with_size(size)
        .with_render_cursor(false)
        .build_ui_state(|ui, app: &mut TilelabApp| app.frame_ui(ui), app);
    harness.run_steps(3);
    harness
}

/// Steps (with short sleeps, for background work) until `done` holds on the screen; panics after `seconds`.
pub fn wait_for_screen(
    harness: &mut Harness<'_, TilelabApp>,
    seconds: f32,
    what: &str,
    done: impl Fn(&Harness<'_, TilelabApp>) -> bool,
) {
    let started = Instant::now();
    while started.elapsed().as_secs_f32() < seconds {
        harness.step();
        if done(harness) {
            harness.run_steps(3);
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out after {seconds} s waiting for {what}");
}

/// Steps until `done` holds on the app's state; panics after 30 s.
pub fn wait_until(harness: &mut Harness<'_, TilelabApp>, what: &str, done: impl Fn(&TilelabApp) -> bool) {
    wait_for_screen(harness, 30.0, what, |h| done(h.state()));
}

/// Largest per-pixel colour difference (kittest's weighted squared YIQ distance) that still counts
/// as equal: kittest's own default, which absorbs anti-aliasing noise between software renderers;
/// a changed colour, a moved widget or different text is far above it.
pub const SNAPSHOT_THRESHOLD: f32 = 0.6;
/// Pixels allowed above [`SNAPSHOT_THRESHOLD`] (0.1% of a 1280×800 window): a trained network's last
/// bits (thread order of the gradient sums) and a one-pixel shift of a plot's edges seen on a loaded
/// machine stay within it; a changed colour or a moved panel (tens of thousands) does not.
pub const SNAPSHOT_MAX_FAILED_PIXELS: usize = 1000;

/// The folder the stored snapshots live in.
pub fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("snapshots")
}

/// Compares the window with `tests/snapshots/NAME.png`; panics when it looks different.
/// With `UPDATE_SNAPSHOTS=1` a differing (or missing) stored image is rewritten instead.
pub fn snapshot(harness: &mut Harness<'_, TilelabApp>, name: &str) {
    let options = egui_kittest::SnapshotOptions::new()
        .threshold(SNAPSHOT_THRESHOLD)
        .max_failed_pixels(SNAPSHOT_MAX_FAILED_PIXELS)
        .output_path(snapshot_dir());
    if let Err(error) = harness.try_snapshot_options(name, &options) {
        panic!("{error}");
    }
}

/// True when the run was asked to rewrite the stored images (`UPDATE_SNAPSHOTS` set and not "0"/"false").
pub fn updating_snapshots() -> bool {
    std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false" | "no" | "off"))
}

/// Only when updating snapshots: renders the window into the README's `screenshots/NAME.png`,
/// uncompared. For a view whose look depends on timing (the training curves, whose points are
/// taken at wall-clock intervals), so it cannot be a snapshot test.
pub fn readme_screenshot_when_updating(harness: &mut Harness<'_, TilelabApp>, name: &str) {
    if updating_snapshots() {
        let image = harness.render().expect("software rendering works");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshots folder can be made");
        image.save(dir.join(format!("{name}.png"))).expect("the screenshot can be written");
    }
}

/// [`snapshot`], and, only when updating snapshots, copies the stored image to the README's
/// `screenshots/README_NAME.png` (a plain test run never writes into the checkout).
pub fn readme_snapshot(harness: &mut Harness<'_, TilelabApp>, name: &str, readme_name: &str) {
    snapshot(harness, name);
    if updating_snapshots() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshots folder can be made");
        let stored = snapshot_dir().join(format!("{name}.png"));
        std::fs::copy(&stored, dir.join(format!("{readme_name}.png"))).expect("the screenshot can be copied");
    }
}

/// Clicks Export in the open export window, waits for the job and returns the files it wrote.
pub fn confirm_export(harness: &mut Harness<'_, TilelabApp>) -> Vec<PathBuf> {
    harness.get_by_role_and_label(Role::Button, "Export").click();
    harness.run_steps(2);
    wait_until(harness, "the export", |app| !app.views.exports.is_running());
    let files = harness.state_mut().views.exports.last.take();
    files.unwrap_or_else(|| panic!("the export failed: {:?}", harness.state().state.last_message().map(|m| &m.text)))
}

/// The training run's progress, if there is a run.
pub fn progress(app: &TilelabApp) -> Option<tilelab::app::training_job::Progress> {
    app.state.training.as_ref().map(|job| job.progress().clone())
}

/// Opens the Training view, picks the architecture `preset` and makes the data small.
pub fn training_preset_with_small_data(harness: &mut Harness<'_, TilelabApp>, preset: &str) {
    harness.get_by_label("Training").click();
    harness.run_steps(2);
    harness.get_by_label(preset).click();
    harness.run_steps(2);
    let view = &mut harness.state_mut().views.training;
    view.config.train_per_class = 60;
    view.config.test_per_class = 20;
    view.config.hyper.batch_size = 20;
    harness.run_steps(2);
}

/// File → Open network (ONNX)… with `path` typed in, until the model is loaded.
pub fn open_network(harness: &mut Harness<'_, TilelabApp>, path: &Path) {
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Open network (ONNX)…").click();
    harness.run_steps(3);
    harness.get_by_role(Role::TextInput).focus();
    harness.run_steps(1);
    // Replace the proposed folder.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    harness.run_steps(2);
    harness.get_by_label("Open").click();
    wait_for_screen(harness, 30.0, "the model to load", |h| {
        h.state().state.imported.network.as_ref().is_some_and(|n| n.path == path)
    });
}
