//! Logits under background perturbations and translations, Figure 4 (next issue).

use crate::app::state::AppState;

/// What the invariance view remembers between frames.
#[derive(Debug, Default)]
pub struct InvarianceViewState {}

/// Draws the invariance view.
pub fn ui(ui: &mut egui::Ui, app: &mut AppState, view: &mut InvarianceViewState) {
    let _ = (app, view);
    ui.heading("Invariance");
    ui.label("Coming next: this view is being built in the next issue.");
}
