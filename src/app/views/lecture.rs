//! The lecture page, shown full-window instead of the usual panels while lecture mode is on: a top
//! bar (step counter, navigation, play/pause, type size, high contrast, pointer, "save as PNG",
//! leave), the step's title, and the step itself (see [`crate::app::lecture`]).

use egui::RichText;

use crate::app::lecture::{self, LectureState, Nav, Step, compare, layers, steps};
use crate::app::state::AppState;
use crate::app::theme;

/// Size of the step title, in points (before the lecture zoom).
const TITLE_SIZE: f32 = 26.0;

/// Draws the lecture page.
pub fn ui(ui: &mut egui::Ui, app: &mut AppState, lecture: &mut LectureState) {
    let ctx = ui.ctx().clone();
    lecture.poll_export(&ctx, app);
    if app.dataset_needs_generation() {
        app.push(crate::app::command::Command::GenerateDataset);
    }
    top_bar_ui(ui, lecture);
    ui.separator();
    let step = lecture.current();
    ui.label(RichText::new(step.title()).size(TITLE_SIZE).strong());
    ui.add_space(6.0);
    match step {
        Step::Tile => steps::tile_ui(ui, app, lecture),
        Step::Matching => steps::matching_ui(ui, app, lecture),
        Step::Identity => steps::identity_ui(ui, lecture),
        Step::N1 => layers::n1_ui(ui, app, lecture),
        Step::N2 => layers::n2_ui(ui, app, lecture),
        Step::Objects => layers::objects_ui(ui, app, lecture),
        Step::Trained => compare::trained_ui(ui, app, lecture),
        Step::Invariance => compare::invariance_ui(ui, app, lecture),
    }
    if lecture.pointer {
        lecture::pointer_ui(&ctx);
    }
}

fn top_bar_ui(ui: &mut egui::Ui, lecture: &mut LectureState) {
    let ctx = ui.ctx().clone();
    // Wrapped, so that a narrow window or a large type size never hides a control.
    ui.horizontal_wrapped(|ui| {
        let total = Step::ALL.len();
        ui.label(RichText::new(format!("{} / {total}", lecture.step + 1)).strong().size(18.0));
        if ui
            .add_enabled(lecture.step > 0, egui::Button::new("Previous"))
            .on_hover_text("Left arrow / PageUp")
            .clicked()
        {
            lecture.go(&ctx, Nav::Previous);
        }
        if ui
            .add_enabled(lecture.step + 1 < total, egui::Button::new("Next"))
            .on_hover_text("Right arrow / Space / PageDown")
            .clicked()
        {
            lecture.go(&ctx, Nav::Next);
        }
        ui.separator();
        steps::play_button(ui, lecture);
        ui.separator();
        let mut zoom = lecture.zoom;
        let slider = egui::Slider::new(&mut zoom, lecture::ZOOM_RANGE).text("Type size").fixed_decimals(2);
        if ui.add(slider).changed() {
            lecture.set_zoom(&ctx, zoom);
        }
        if ui.checkbox(&mut lecture.high_contrast, "High contrast").changed() {
            lecture.apply_contrast(&ctx);
        }
        ui.checkbox(&mut lecture.pointer, "Pointer highlight");
        ui.separator();
        let hint = format!("Writes lecture-<step>.png into {}", lecture.export_dir.display());
        if ui.add_enabled(!lecture.is_exporting(), egui::Button::new("Save step as PNG")).on_hover_text(hint).clicked()
        {
            lecture.request_png(&ctx);
        }
        if let Some(path) = &lecture.last_export {
            ui.label(RichText::new(format!("saved {}", path.display())).small().color(theme::WARNING));
        }
        ui.separator();
        if ui.button("Leave (Esc)").clicked() {
            lecture.leave(&ctx);
        }
    });
}
