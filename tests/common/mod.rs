//! Set-up shared by the UI test binaries: the app in a headless `egui_kittest` harness, waiting
//! for background work, and screenshots into `screenshots/`.
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

/// Renders the window into `screenshots/NAME.png`.
pub fn screenshot(harness: &mut Harness<'_, TilelabApp>, name: &str) {
    let image = harness.render().expect("software rendering works");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots folder can be made");
    image.save(dir.join(format!("{name}.png"))).expect("the screenshot can be written");
}

/// Clicks Export in the open export window, waits for the job and returns the files it wrote.
pub fn confirm_export(harness: &mut Harness<'_, TilelabApp>) -> Vec<PathBuf> {
    harness.get_by_role_and_label(Role::Button, "Export").click();
    harness.run_steps(2);
    wait_until(harness, "the export", |app| !app.views.exports.is_running());
    let files = harness.state_mut().views.exports.last.take();
    files.unwrap_or_else(|| panic!("the export failed: {:?}", harness.state().state.last_message().map(|m| &m.text)))
}
