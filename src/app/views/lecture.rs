//! The lecture page, shown full-window instead of the usual panels while lecture mode is on: a top
//! bar on one line (step counter, navigation, play/pause, type size, high contrast, pointer, "save
//! as PNG", leave), the step's title, and the step itself (see [`crate::app::lecture`]), scaled to
//! fit the window.

use egui::RichText;

use crate::app::command::Command;
use crate::app::ids::PathPurpose;
use crate::app::lecture::{self, LectureState, Nav, Step, compare, layers, preferred, steps, wavelets};
use crate::app::state::AppState;
use crate::app::storage;
use crate::app::theme::{self, TextureCache};

/// Size of the step title, in points (before the lecture zoom).
const TITLE_SIZE: f32 = 26.0;

/// Draws the lecture page.
pub fn ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let ctx = ui.ctx().clone();
    lecture.fit_to_window(&ctx);
    lecture.poll_export(&ctx, commands);
    if app.dataset_needs_generation() {
        commands.push(crate::app::command::Command::GenerateDataset);
    }
    top_bar_ui(ui, lecture, commands);
    ui.separator();
    let page = ui.available_rect_before_wrap();
    lecture.set_page_rect(&ctx, page);
    // The page is laid out to fit (see `lecture::PAGE`); a window smaller than the smallest zoom scrolls.
    egui::ScrollArea::both().id_salt("lecture page").auto_shrink(false).show(ui, |ui| {
        title_ui(ui, lecture);
        match lecture.current() {
            Step::Tile => steps::tile_ui(ui, app, lecture, textures, commands),
            Step::Matching => steps::matching_ui(ui, app, lecture, textures, commands),
            Step::Identity => steps::identity_ui(ui, lecture),
            Step::N1 => layers::n1_ui(ui, app, lecture, textures, commands),
            Step::N2 => layers::n2_ui(ui, app, lecture, textures, commands),
            Step::Objects => layers::objects_ui(ui, app, lecture, textures, commands),
            Step::Trained => compare::trained_ui(ui, app, lecture, textures, commands),
            Step::Preferred => preferred::preferred_ui(ui, app, lecture, textures, commands),
            Step::Invariance => compare::invariance_ui(ui, app, lecture, commands),
            Step::Wavelets => wavelets::wavelets_ui(ui, app, lecture, textures, commands),
        }
    });
    if lecture.shows_pointer() {
        lecture::pointer_ui(&ctx);
    }
}

/// The step's title, with the fading "saved …" note at its right.
fn title_ui(ui: &mut egui::Ui, lecture: &LectureState) {
    ui.horizontal(|ui| {
        ui.label(RichText::new(lecture.current().title()).size(TITLE_SIZE).strong());
        if let Some((text, opacity)) = lecture.saved_note(ui.ctx()) {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                ui.add(egui::Label::new(RichText::new(text).color(theme::WARNING.gamma_multiply(opacity))).truncate());
            });
        }
    });
    ui.add_space(6.0);
}

fn top_bar_ui(ui: &mut egui::Ui, lecture: &mut LectureState, commands: &mut Vec<Command>) {
    let ctx = ui.ctx().clone();
    // One line: the page is scaled to fit the window (`lecture::fitted_zoom`), the bar with it.
    ui.horizontal(|ui| {
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
        let fitted = ctx.zoom_factor();
        let hint = format!("Scales text and images; the page is drawn at {fitted:.2} to fit this window");
        if ui.add(slider).on_hover_text(hint).changed() {
            lecture.set_zoom(&ctx, zoom);
        }
        if ui.checkbox(&mut lecture.high_contrast, "High contrast").changed() {
            lecture.apply_contrast(&ctx);
        }
        ui.checkbox(&mut lecture.pointer, "Pointer highlight");
        ui.separator();
        let hint = if storage::FILE_PATHS {
            format!("Writes lecture-<step>.png into {}", lecture.export_dir.display())
        } else {
            "Downloads lecture-<step>.png".to_owned()
        };
        if ui.add_enabled(!lecture.is_exporting(), egui::Button::new("Save step as PNG")).on_hover_text(hint).clicked()
        {
            lecture.request_png(&ctx);
        }
        ui.checkbox(&mut lecture.pointer_in_png, "with pointer")
            .on_hover_text("Draw the pointer highlight into the saved PNG too");
        let hint = "Saves a scene (.tilelab) that opens in lecture mode at this step: one scene per slide";
        if ui.button("Start lecture here…").on_hover_text(hint).clicked() {
            commands.push(Command::AskPath(PathPurpose::SaveLectureScene));
        }
        ui.separator();
        if ui.button("Leave (Esc)").clicked() {
            lecture.leave(&ctx);
        }
    });
}
