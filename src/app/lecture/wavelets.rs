//! Step 10 of the lecture (optional, after Figure 4): another way to build a CNN without training
//! it, Mallat's wavelet scattering network. Its Morlet wavelets, the maps `|x ⋆ ψ|` of the followed
//! input, and the small-deformation slider comparing N2, scattering and the trained CNN; step 8
//! shows the same slider and numbers ([`deformation_ui`]). The pass, the classifier and the study
//! are the app cache's background jobs, as in the networks and invariance views.

use std::sync::Arc;

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::app::cache::{DeformationKey, StudyNetwork};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::number;
use crate::app::widgets::scattering as drawing;
use crate::core::experiments::figure4_deformation::{DeformationStudy, display_name};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::tile::TileId;

use super::LectureState;
use super::data;
use super::steps::{formula, live_input, note, two_columns};

/// Images per tile the lecture's deformation study warps (few: the slider answers within a second).
const DEFORMATION_SAMPLES: usize = 30;
/// Seed of the lecture's deformation images.
const DEFORMATION_SEED: u64 = 4;
/// Largest τ the lecture's slider offers, in pixels.
const MAX_TAU: f32 = 4.0;
/// The networks the lecture compares, by the study's names.
const COMPARED: [&str; 4] = ["n2", "trained_cnn", "scattering_coefficients", "scattering_linear"];

/// Step 9: the wavelets, the maps of the followed input, and the deformation slider.
pub fn wavelets_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    two_columns(
        ui,
        &mut (&mut *lecture, textures, commands),
        |ui, (lecture, textures, commands)| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("input").strong());
                    live_input(ui, app, lecture, textures, 120.0, &[]);
                });
                ui.vertical(|ui| pass_ui(ui, app, lecture, textures, commands));
            });
            ui.add_space(6.0);
            deformation_ui(ui, app, lecture, commands, true);
        },
        |ui, _| {
            note(ui, "Instead of templates of the tiles, fixed Morlet wavelets ψ: one per scale j and angle θ.");
            formula(ui, "S1 = |x * ψ_{j,θ}| * φ_J");
            formula(ui, "S2 = ||x * ψ1| * ψ2| * φ_J");
            note(
                ui,
                "A convolution, a modulus (the non-linearity), a local average: a CNN whose filters nobody trained. \
                 Only a linear classifier on top is fitted.",
            );
            note(
                ui,
                "Bend the strokes a little (τ): N2's exact templates stop matching once the warp exceeds ε, the \
                 scattering coefficients barely move, the trained CNN sits in between.",
            );
        },
    );
}

/// The wavelets (real parts) and the order-1 maps of the followed input.
fn pass_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let image = lecture.data.input.as_ref().map(|i| &i.image);
    let request =
        app.cache.scattering_request(app.session.scattering, data::image_size(app), app.classes_version, image);
    if let Some(invalid) = &request.invalid {
        ui.colored_label(theme::ERROR, format!("Scattering: {invalid}"));
        return;
    }
    let (Some(key), Some(image)) = (request.pass, image) else { return };
    if app.cache.scattering_pass().needs(&key) {
        commands.push(Command::Scatter { key, image: Arc::new(image.clone()) });
    }
    let Some(pass) = app.cache.scattering_pass().latest(|k| k.0 == key.0 && k.1 == key.1) else {
        ui.spinner();
        return;
    };
    let l = request.spec.l;
    drawing::wavelets_ui(ui, textures, &pass.wavelets, l, false);
    let stamp = theme::content_hash(image.view(), (key.0.j * 1000 + key.0.l) as u64);
    drawing::maps_ui(ui, textures, &pass.maps, (l, 1), stamp);
}

/// The lecture's deformation study for the trained run's weights (or an untrained CNN before any
/// training), the first tile of the first three classes, warped by `tau` pixels.
fn deformation_key(app: &AppState, tau: f32) -> (DeformationKey, Result<StudyNetwork, String>) {
    let size = data::image_size(app);
    let model = app.cache.scattering_request(app.session.scattering, size, app.classes_version, None).model;
    let trained = app.training.as_ref().and_then(|job| {
        let progress = job.progress();
        let cnn = progress.cnn.clone()?;
        let spec = cnn.spec();
        ((spec.height, spec.width, spec.classes) == (size.0, size.1, app.classes.len()))
            .then_some((cnn, progress.version))
    });
    let network = if let Some((cnn, version)) = &trained {
        Ok(StudyNetwork::Trained(Arc::clone(cnn), *version))
    } else {
        let spec = CnnSpec {
            height: size.0,
            width: size.1,
            kernel: 5.min(size.0).min(size.1),
            filters: 12,
            classes: app.classes.len(),
        };
        Cnn::new(spec, DEFORMATION_SEED).map(|c| StudyNetwork::Untrained(Arc::new(c))).map_err(|e| e.to_string())
    };
    let key = DeformationKey {
        classes_version: app.classes_version,
        size,
        tiles: (0..app.classes.len().min(3)).map(|class| TileId { class, feature: 0, tile: 0 }).collect(),
        samples: DEFORMATION_SAMPLES,
        seed: DEFORMATION_SEED,
        tau_bits: tau.to_bits(),
        spec: app.session.scattering,
        model: model.filter(|k| app.cache.scattering_model().get(k).is_some()),
        weights: trained.map(|(_, version)| version),
    };
    (key, network)
}

/// The τ slider and, per network, how much its output moves relative to the image, as a line of
/// numbers and (with `plot`) bars (steps 8 and 9).
pub fn deformation_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    commands: &mut Vec<Command>,
    plot: bool,
) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("Small deformations").strong());
        ui.add(number::slider(&mut lecture.interaction.tau, 0.0..=MAX_TAU, "τ (pixels)"));
    });
    let (key, network) = deformation_key(app, lecture.interaction.tau);
    if let Some(invalid) = app.session.scattering.check(key.size.0, key.size.1).err() {
        ui.colored_label(theme::ERROR, format!("Scattering: {invalid}"));
        return;
    }
    if app.dataset_needs_generation() {
        commands.push(Command::GenerateDataset);
    }
    // The classifier is trained first (when there is a dataset), so the study runs once, with it.
    let model = app.cache.scattering_request(key.spec, key.size, app.classes_version, None).model;
    let models = app.cache.scattering_model();
    let waiting = model.is_some_and(|m| models.get(&m).is_none() && models.error(&m).is_none());
    if let Some(model) = model.filter(|m| models.needs(m)) {
        commands.push(Command::TrainScattering(model));
    } else if !waiting && app.cache.deformation().needs(&key) {
        commands.push(Command::StudyDeformation { key: key.clone(), network });
    }
    if let Some(error) = app.cache.deformation().error(&key) {
        ui.colored_label(theme::ERROR, error);
        return;
    }
    // The last study of this set stays on screen while the slider's new τ is measured.
    let shown = app.cache.deformation().latest(|k| k.classes_version == key.classes_version && k.tiles == key.tiles);
    match shown {
        Some(study) => ratios_ui(ui, &study, plot),
        None => {
            ui.spinner();
        }
    }
}

/// The relative ratio `(‖ΔΦ‖/‖Φ‖) / (‖Δx‖/‖x‖)` of each compared network, averaged over the tiles.
fn ratios_ui(ui: &mut egui::Ui, study: &DeformationStudy, plot: bool) {
    let mean = |name: &str| {
        let values: Vec<f32> = study
            .tiles
            .iter()
            .filter_map(|t| t.networks.iter().find(|n| n.network == name))
            .map(|n| n.relative_ratio)
            .collect();
        (!values.is_empty()).then(|| values.iter().sum::<f32>() / values.len() as f32)
    };
    let found: Vec<(&str, f32)> = COMPARED.iter().filter_map(|&name| Some((display_name(name), mean(name)?))).collect();
    let line: Vec<String> = found.iter().map(|(name, value)| format!("{name} {value:.2}")).collect();
    note(ui, format!("τ = {} px, output change ÷ image change (relative): {}", study.tau, line.join(" · ")));
    if !plot {
        return;
    }
    let bars: Vec<Bar> = found
        .iter()
        .enumerate()
        .map(|(i, &(name, value))| Bar::new(i as f64, f64::from(value)).width(0.6).name(name))
        .collect();
    let labels: Vec<String> = found.iter().map(|(name, _)| (*name).to_owned()).collect();
    Plot::new("lecture deformation")
        .height(110.0)
        .width(ui.available_width().min(560.0))
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .show_y(false)
        .x_axis_formatter(move |mark, _| {
            let index = mark.value.round();
            let exact = (mark.value - index).abs() < 1e-6 && index >= 0.0;
            if exact { labels.get(index as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .show(ui, |plot| plot.bar_chart(BarChart::new("relative change", bars).color(theme::CONSTRUCTED_COLOR)));
}
