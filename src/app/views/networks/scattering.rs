//! The scattering network in the networks view: its settings (J, L, max order), its wavelets
//! ψ_{j,θ} in space (real and imaginary parts), the maps `|x ⋆ ψ|` of orders 1 and 2 for the
//! input with their meaning on hover, the coefficients after the low-pass `φ_J`, the linear
//! classifier's training progress and the selectivity of the coefficients. The pass and the
//! classifier are background jobs of the app's cache (`Command::Scatter`, `Command::TrainScattering`).

use std::sync::Arc;

use ndarray::Array2;

use crate::app::cache::{Cache, ScatteringRequest};
use crate::app::command::Command;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::scattering as drawing;
use crate::core::scattering::ScatteringSpec;

use super::{Hover, stamp_of};

/// Pushes the pass and the classifier training the request needs.
pub fn ask(cache: &Cache, request: &ScatteringRequest, image: Option<&Array2<f32>>, commands: &mut Vec<Command>) {
    if let (Some(key), Some(image)) = (request.pass, image)
        && cache.scattering_pass().needs(&key)
    {
        commands.push(Command::Scatter { key, image: Arc::new(image.clone()) });
    }
    if let Some(key) = request.model
        && cache.scattering_model().needs(&key)
    {
        commands.push(Command::TrainScattering(key));
    }
}

/// The settings row: J, L and max order, and what is wrong with them.
pub fn settings_ui(ui: &mut egui::Ui, current: ScatteringSpec, commands: &mut Vec<Command>) {
    let mut spec = current;
    ui.horizontal(|ui| {
        ui.label("Scales J");
        ui.add(egui::DragValue::new(&mut spec.j).range(0..=12));
        ui.label("orientations L");
        ui.add(egui::DragValue::new(&mut spec.l).range(0..=64));
        ui.label("max order");
        ui.add(egui::DragValue::new(&mut spec.max_order).range(1..=2));
        if ui.button("Defaults").on_hover_text("J = 2, L = 8, order 2").clicked() {
            spec = ScatteringSpec::default();
        }
    });
    if spec != current {
        commands.push(Command::SetScattering(spec));
    }
}

/// Draws the scattering side; returns what the pointer is on.
pub fn scattering_ui(
    ui: &mut egui::Ui,
    cache: &Cache,
    textures: &mut TextureCache,
    request: &ScatteringRequest,
    commands: &mut Vec<Command>,
) -> Option<Hover> {
    ui.heading("Scattering network (wavelets)");
    ui.small(
        "Fixed Morlet wavelets ψ, a modulus and a low-pass average φ_J: locally invariant to translation, \
         stable to small deformations, nothing learned but the linear classifier on top.",
    );
    settings_ui(ui, request.spec, commands);
    if let Some(invalid) = &request.invalid {
        ui.colored_label(theme::ERROR, format!("Scattering: {invalid}"));
        return None;
    }
    classifier_status_ui(ui, cache, request);
    let Some(key) = request.pass else {
        ui.label("No input image yet.");
        return None;
    };
    if let Some(error) = cache.scattering_pass().error(&key) {
        ui.colored_label(theme::ERROR, format!("Scattering: {error}"));
        return None;
    }
    // The last pass with these settings stays on screen while the new input's runs.
    let shown = cache.scattering_pass().latest(|k| k.0 == key.0 && k.1 == key.1);
    let Some(pass) = shown else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("scattering the input…");
        });
        return None;
    };
    let stamp = stamp_of(&key);
    let l = request.spec.l;
    ui.separator();
    let mut pointed = drawing::wavelets_ui(ui, textures, &pass.wavelets, l, true);
    pointed = drawing::maps_ui(ui, textures, &pass.maps, (l, 2), stamp).or(pointed);
    pointed = drawing::coefficients_ui(ui, textures, (&pass.coefficients, &pass.paths), l, stamp).or(pointed);
    pointed.map(|(text, field)| Hover { text, field })
}

/// The classifier's state: training progress, its failure, or its accuracy on the dataset.
fn classifier_status_ui(ui: &mut egui::Ui, cache: &Cache, request: &ScatteringRequest) {
    let Some(key) = request.model else {
        ui.weak("The linear classifier is trained once the dataset is generated.");
        return;
    };
    let models = cache.scattering_model();
    if let Some(model) = models.get(&key) {
        ui.label(format!(
            "Linear classifier trained on the {} dataset samples: {:.0}% of them right.",
            model.samples,
            100.0 * model.train_accuracy
        ));
    } else if let Some(error) = models.error(&key) {
        ui.colored_label(theme::ERROR, format!("The linear classifier could not be trained: {error}"));
    } else if let Some((_, job)) = models.running() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.add(
                egui::ProgressBar::new(job.shared().progress())
                    .desired_width(160.0)
                    .text("training the linear classifier"),
            );
        });
    }
}
