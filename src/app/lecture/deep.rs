//! Lecture step 7 when the training run's network is not the paper's (the `deep` preset or edited
//! blocks): the first block's learned filters, the input and every block's feature maps after
//! `ReLU`, and per hidden layer the class selectivity index and the classes per active unit. The
//! pass and the measurement come from the app's cache (`Command::DeepForwardPass`), as in the
//! Networks view.

use std::sync::Arc;

use egui::RichText;
use ndarray::{Array2, Axis};

use crate::app::cache::{DEEP_PROBES, DeepPass, describe, image_key};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::TextureCache;
use crate::app::widgets::heatmap::{self, Scale};
use crate::core::nn::deep::DeepNet;

use super::LectureState;
use super::compare::numbered_views;
use super::steps::{fmt, formula, live_input, note};

/// Feature maps shown per block (the room reads a few, not 32).
const MAPS_PER_BLOCK: usize = 8;

/// The filters, the input and every block's maps.
pub fn maps_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    (net, version): (&Arc<DeepNet>, u64),
    commands: &mut Vec<Command>,
) {
    ui.small(describe(net.arch()));
    if let Some((weights, _)) = net.conv_weights(0) {
        let filters: Vec<Array2<f32>> = weights.outer_iter().map(|f| f.index_axis(Axis(0), 0).to_owned()).collect();
        let scale = Scale::symmetric("weight", filters.iter().flat_map(|m| m.iter()));
        ui.label(RichText::new("its block 1 filters (learned)").strong());
        let views = numbered_views(&filters, "deep filter", version);
        heatmap::grid_ui(ui, textures, &views, &scale, 48.0, 8, &|f, r, c, v| {
            format!("filter {f} ({r}, {c}): {}", fmt(v))
        });
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label(RichText::new("input").strong());
            live_input(ui, app, lecture, textures, 150.0, &[]);
        });
        let Some(input) = &lecture.data.input else { return };
        let arch = net.arch();
        if (arch.height, arch.width) != input.image.dim() {
            ui.label("The trained network was made for another image size.");
            return;
        }
        let Some(pass) = pass(app, (net, version), &input.image, commands) else {
            ui.spinner();
            return;
        };
        ui.vertical(|ui| {
            for (i, maps) in pass.activations.maps.iter().enumerate() {
                ui.label(RichText::new(format!("block {} maps after ReLU", i + 1)).strong());
                let shown: Vec<Array2<f32>> = maps.outer_iter().take(MAPS_PER_BLOCK).map(|m| m.to_owned()).collect();
                let scale = Scale::non_negative("activation", shown.iter().flat_map(|m| m.iter()));
                let views = numbered_views(&shown, &format!("block {} map", i + 1), version ^ input.stamp << 20);
                heatmap::grid_ui(ui, textures, &views, &scale, 48.0, MAPS_PER_BLOCK, &|f, r, c, v| {
                    format!("map {f} ({r}, {c}): {}", fmt(v))
                });
            }
        });
    });
}

/// The selectivity of every hidden layer, measured with the pass.
pub fn selectivity_ui(ui: &mut egui::Ui, app: &AppState) {
    note(ui, "SGD finds its own filters, layer upon layer. Are its hidden units monosemantic?");
    formula(ui, "SI = (best class mean - others' mean) / (their sum)");
    let Some((_, pass)) = app.cache.deep_forward().done() else { return };
    if pass.layers.is_empty() {
        note(ui, "(measured once the dataset is generated)");
        return;
    }
    for (name, layer) in &pass.layers {
        let index = layer.mean_selectivity_index().map_or_else(|| "–".to_owned(), |i| format!("{i:.2}"));
        let classes = layer.threshold_curve().first().and_then(|(_, c)| *c);
        let classes = classes.map_or_else(|| "–".to_owned(), |c| format!("{c:.2}"));
        formula(ui, &format!("{name}: SI {index}, {classes} classes per active unit"));
    }
    note(
        ui,
        format!(
            "over {} probe images (at most {DEEP_PROBES}); N1's and N2's detectors score SI 1.00 and one class each",
            pass.probes
        ),
    );
}

/// The cached pass of `image` through the run's network, asking for the newest weights' pass.
fn pass(
    app: &AppState,
    (net, version): (&Arc<DeepNet>, u64),
    image: &Array2<f32>,
    commands: &mut Vec<Command>,
) -> Option<Arc<DeepPass>> {
    let passes = app.cache.deep_forward();
    let wanted = (version, image_key(image), app.cache.dataset_generation());
    if passes.needs(&wanted) {
        commands.push(Command::DeepForwardPass { key: wanted, net: Arc::clone(net), image: Arc::new(image.clone()) });
    }
    let ((_, input, _), pass) = passes.done()?;
    (*input == wanted.1 && pass.net.arch() == net.arch()).then(|| Arc::clone(pass))
}
