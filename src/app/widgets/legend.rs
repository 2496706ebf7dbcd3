//! A plot's legend as coloured words above it: a legend box inside the plot covers the tallest bar
//! or the newest curve.

use egui::{Color32, RichText};

/// The plot's title (if any) and, beside it, one coloured "— name" per series.
pub fn legend_ui(ui: &mut egui::Ui, title: &str, entries: &[(&str, Color32)]) {
    ui.horizontal_wrapped(|ui| {
        if !title.is_empty() {
            ui.label(RichText::new(title).strong());
        }
        for (name, color) in entries {
            ui.label(RichText::new(format!("— {name}")).color(*color));
        }
    });
}
