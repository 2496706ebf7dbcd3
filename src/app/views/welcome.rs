//! The welcome window: what tilelab is, the three first steps, and what the tile editor's colours
//! mean. It opens at the first start; closing it is remembered, Help → Getting started reopens it.

use egui::{Color32, RichText};

use crate::app::theme::{self, Rendering};

/// The first steps, in order: (what to do, where).
pub const FIRST_STEPS: [(&str, &str); 3] = [
    (
        "Draw a feature tile",
        "The Tiles view edits the tile selected on the left (classes hold features, features hold \
         tiles). Paint with the brush, or pick a real Fashion-MNIST or MNIST tile in the Gallery.",
    ),
    (
        "Look at the dataset",
        "The Dataset view pastes each class's tile onto random backgrounds: every image holds \
         exactly one class's object.",
    ),
    (
        "Compare the networks",
        "The Networks view shows the constructed N1 and N2 and a trained CNN on one image (train it \
         in the Training view). F5 starts the lecture, which walks through the same steps.",
    ),
];

/// Draws the welcome window while `open`; closing it sets `dismissed` (a remembered UI preference).
pub fn window_ui(ctx: &egui::Context, open: &mut bool, dismissed: &mut bool, rendering: Rendering) {
    if !*open {
        return;
    }
    let mut close = false;
    egui::Window::new("Getting started")
        .open(open)
        .collapsible(false)
        .resizable(false)
        .default_width(460.0)
        .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
        .show(ctx, |ui| {
            ui.label(
                "tilelab shows why convolutional networks are good at feature extraction: you draw small \
                 feature tiles, the app builds networks that provably detect them, and compares them with \
                 a CNN trained by SGD.",
            );
            ui.add_space(6.0);
            for (number, (what, how)) in FIRST_STEPS.iter().enumerate() {
                ui.label(RichText::new(format!("{}. {what}", number + 1)).strong());
                ui.label(*how);
            }
            ui.add_space(6.0);
            ui.label(RichText::new("In the tile editor").strong());
            legend_ui(ui, rendering);
            ui.add_space(6.0);
            close = ui.button("Start").clicked();
        });
    if close {
        *open = false;
    }
    if !*open {
        *dismissed = true;
    }
}

/// What the tile editor's colours mean.
fn legend_ui(ui: &mut egui::Ui, rendering: Rendering) {
    let rows = [
        (Color32::from_gray(rendering.grey(1.0)), "value 1 in the support (the pixels that count in d_T)"),
        (Color32::from_gray(rendering.grey(0.0)), "value 0 in the support (a dark pixel can count too)"),
        (theme::outside_support(rendering.grey(0.0)), "magenta tint: outside the support, these pixels do not count"),
    ];
    for (color, meaning) in rows {
        ui.horizontal(|ui| {
            let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(14.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 2.0, color);
            ui.painter().rect_stroke(rect, 2.0, (1.0, Color32::GRAY), egui::StrokeKind::Inside);
            ui.label(meaning);
        });
    }
    ui.label("ε: a window matches the tile when its total deviation over the support is below ε.");
    ui.label("\"Show support\" switches the tint off; \"Pixel values\" above the view swaps bright and dark.");
}
