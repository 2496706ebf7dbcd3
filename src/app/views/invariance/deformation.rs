//! Figure 4's third perturbation in the invariance view: small deformations. The studied tiles,
//! pasted on noise, warped by a smooth random displacement field of amplitude τ pixels; per
//! network (direct φ, N1, N2, the trained CNN, the scattering coefficients and its linear
//! classifier) the stability ratio `‖Φ(x_τ) − Φ(x)‖ / ‖x_τ − x‖`, the same ratio relative to the
//! sizes, and the class logit before and after. Computed by `core::experiments::figure4_deformation`
//! in the app's cache (`Command::StudyDeformation`).

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};

use crate::app::cache::{Cache, DeformationKey, StudyKey, StudyNetwork};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::widgets::number;
use crate::core::experiments::figure4_deformation::{DeformationStudy, NetworkStability, display_name};

/// Largest τ the slider offers, in pixels (a τ that folds the image is refused with its limit).
pub const MAX_TAU: f32 = 6.0;

/// The study's key for the Figure 4 request `study` warped by `tau` pixels, against the training
/// run's weights `weights` (`None`: an untrained CNN).
pub fn request(app: &AppState, study: &StudyKey, tau: f32, weights: Option<u64>) -> DeformationKey {
    let size = study.size;
    let scattering = app.cache.scattering_request(app.session.scattering, size, app.classes_version, None);
    DeformationKey {
        classes_version: study.classes_version,
        size,
        tiles: study.tiles.clone(),
        samples: study.samples,
        seed: study.seed,
        tau_bits: tau.to_bits(),
        spec: app.session.scattering,
        // The linear classifier joins once it is trained on the current dataset.
        model: scattering.model.filter(|k| app.cache.scattering_model().get(k).is_some()),
        weights,
    }
}

/// Asks for the dataset, the scattering classifier and the study when they are missing.
pub fn ask(
    app: &AppState,
    key: &DeformationKey,
    network: impl FnOnce() -> Result<StudyNetwork, String>,
    commands: &mut Vec<Command>,
) {
    if app.dataset_needs_generation() {
        commands.push(Command::GenerateDataset);
    }
    let scattering = app.cache.scattering_request(app.session.scattering, key.size, app.classes_version, None);
    if let Some(model) = scattering.model
        && app.cache.scattering_model().needs(&model)
    {
        commands.push(Command::TrainScattering(model));
    }
    if app.cache.deformation().needs(key) && !key.tiles.is_empty() && scattering.invalid.is_none() {
        commands.push(Command::StudyDeformation { key: key.clone(), network: network() });
    }
}

/// The τ slider.
pub fn settings_ui(ui: &mut egui::Ui, tau: &mut f32) {
    ui.separator();
    ui.label(RichText::new("Small deformations").strong());
    ui.add(number::slider(tau, 0.0..=MAX_TAU, "τ (pixels)"));
    ui.small("Each image warped by a smooth random displacement field of amplitude τ pixels.");
}

/// The study's numbers: one table per tile and the relative stability ratio per network.
pub fn results_ui(ui: &mut egui::Ui, cache: &Cache, key: &DeformationKey, invalid_scattering: Option<&str>) {
    ui.separator();
    ui.heading(format!("Small deformations (τ = {} px)", f32::from_bits(key.tau_bits)));
    if let Some(why) = invalid_scattering {
        ui.colored_label(theme::ERROR, format!("Scattering: {why}"));
        return;
    }
    if let Some(error) = cache.deformation().error(key) {
        ui.colored_label(theme::ERROR, format!("Cannot deform: {error}"));
        return;
    }
    let Some(study) = cache.deformation().get(key) else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("warping and measuring…");
        });
        return;
    };
    ui.label(format!(
        "{} images per tile; mean ||x_τ − x|| = {:.3}. Stability ratio ||Φ(x_τ) − Φ(x)|| / ||x_τ − x|| per network \
         (relative: both changes divided by their sizes; 1 = the output moves as much as the image).",
        study.samples, study.mean_image_change
    ));
    if key.model.is_none() {
        ui.weak("The scattering classifier joins once it is trained on the dataset.");
    }
    ratios_plot_ui(ui, &study);
    for tile in &study.tiles {
        ui.label(RichText::new(format!("'{}' (ε = {})", tile.name, tile.epsilon)).strong());
        egui::Grid::new(("deformation", &tile.name)).striped(true).show(ui, |ui| {
            for title in ["network", "||ΔΦ||/||Δx||", "relative", "class logit before to after", "right after"] {
                ui.label(RichText::new(title).small());
            }
            ui.end_row();
            for n in &tile.networks {
                row_ui(ui, n);
            }
        });
    }
}

fn row_ui(ui: &mut egui::Ui, n: &NetworkStability) {
    ui.label(display_name(n.network));
    ui.label(format!("{:.4}", n.ratio));
    ui.label(format!("{:.4}", n.relative_ratio));
    if let (Some(before), Some(after), Some(right)) = (n.class_logit_before, n.class_logit_after, n.accuracy_after) {
        ui.label(format!("{before:.3} to {after:.3}"));
        ui.label(format!("{:.0}%", 100.0 * right));
    } else {
        ui.weak("no class");
        ui.weak("–");
    }
    ui.end_row();
}

/// The relative stability ratio of every network, averaged over the tiles, as bars.
fn ratios_plot_ui(ui: &mut egui::Ui, study: &DeformationStudy) {
    let Some(first) = study.tiles.first() else { return };
    let names: Vec<&str> = first.networks.iter().map(|n| n.network).collect();
    let mean = |index: usize| {
        let values: Vec<f32> =
            study.tiles.iter().filter_map(|t| t.networks.get(index)).map(|n| n.relative_ratio).collect();
        f64::from(values.iter().sum::<f32>() / values.len().max(1) as f32)
    };
    let bars: Vec<Bar> =
        (0..names.len()).map(|i| Bar::new(i as f64, mean(i)).width(0.6).name(display_name(names[i]))).collect();
    let labels: Vec<String> = names.iter().map(|n| display_name(n).to_owned()).collect();
    let count = names.len();
    Plot::new("deformation ratios")
        .height(140.0)
        .width(ui.available_width().min(520.0))
        .y_axis_label("relative ratio")
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .include_y(0.0)
        .x_grid_spacer(move |_| (0..count).map(|i| egui_plot::GridMark { value: i as f64, step_size: 1.0 }).collect())
        // egui_plot hides x labels closer than 60 points by default; a network's slot may be narrower.
        .custom_x_axes(vec![egui_plot::AxisHints::new_x().label_spacing(egui::Rangef::new(1.0, 2.0)).formatter(
            move |mark, _| {
                let index = mark.value.round();
                let exact = (mark.value - index).abs() < 1e-6 && index >= 0.0;
                if exact { labels.get(index as usize).cloned().unwrap_or_default() } else { String::new() }
            },
        )])
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("relative stability ratio", bars).color(theme::CONSTRUCTED_COLOR));
        });
}
