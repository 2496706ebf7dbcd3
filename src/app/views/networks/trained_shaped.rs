//! The trained side of the networks view for an n2-shaped network (N2's own layers trained by
//! SGD): each hidden layer's channel maps for the input under N2's layer names, the logits, and
//! per hidden layer the selectivity beside the constructed detectors, as for a network of blocks.
//! Everything drawn is computed in the cache ([`ShapedPass`]); the frame only draws it.

use egui::RichText;
use ndarray::s;

use crate::app::cache::ShapedPass;
use crate::app::theme::TextureCache;
use crate::app::widgets::heatmap::{self, Scale};
use crate::core::nn::n2_shaped::Wiring;
use crate::core::nn::sparse::Activation;
use crate::core::selectivity::ClassMaxima;

use super::Hover;
use super::trained_layers::selectivity_ui;

/// Side of one map, in points.
const MAP_SIDE: f32 = 40.0;
/// Channels drawn per layer (N2's value and block layers can have hundreds).
const SHOWN_CHANNELS: usize = 24;

/// What the drawing needs besides the pass.
pub struct ShapedFrame<'a> {
    pub pass: &'a ShapedPass,
    /// Changes with the weights and the input.
    pub stamp: u64,
    /// The constructed network's name and its detectors' statistics, when measured.
    pub reference: Option<(&'a str, &'a ClassMaxima)>,
}

/// Draws the layers, the logits and their selectivity; returns what the pointer is on.
pub fn shaped_ui(ui: &mut egui::Ui, textures: &mut TextureCache, frame: &ShapedFrame<'_>) -> Option<Hover> {
    let net = &frame.pass.net;
    let wiring = match net.wiring() {
        Wiring::Sparse => "N2's sparse wiring",
        Wiring::Dense => "dense wiring",
    };
    ui.label(format!("N2's layers trained by SGD ({wiring}), {} parameters", net.parameters().len()));
    let names = net.layer_names();
    let mut hovered = None;
    for layer in net.hidden_layers() {
        let Some(output) = frame.pass.outputs.get(layer) else { continue };
        let name = names.get(layer).copied().unwrap_or("layer");
        hovered = layer_ui(ui, textures, frame.stamp, name, output).or(hovered);
    }
    if let Some(logits) = frame.pass.outputs.last() {
        let values: Vec<String> = logits.as_slice().iter().map(|v| heatmap::format_value(*v)).collect();
        ui.label(format!("Logits: {}", values.join(", ")));
    }
    ui.separator();
    selectivity_ui(ui, &frame.pass.layers, frame.pass.probes, frame.reference);
    hovered
}

/// One layer: its first [`SHOWN_CHANNELS`] maps, or how many of its neurons are active.
fn layer_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    stamp: u64,
    name: &str,
    output: &Activation,
) -> Option<Hover> {
    match output {
        Activation::Vector(values) => {
            let active = values.iter().filter(|&&v| v > 0.0).count();
            ui.label(RichText::new(format!("{name}: {active} of {} neurons active", values.len())).strong());
            None
        }
        Activation::Map(maps) => {
            let (channels, rows, cols) = maps.dim();
            let shown = channels.min(SHOWN_CHANNELS);
            let more = if shown < channels { format!(", the first {shown} drawn") } else { String::new() };
            ui.label(RichText::new(format!("{name} ({channels}×{rows}×{cols}{more})")).strong());
            let view = maps.slice(s![..shown, .., ..]);
            let scale = if view.iter().any(|&v| v < 0.0) {
                Scale::symmetric("value", view.iter())
            } else {
                Scale::non_negative("value", view.iter())
            };
            heatmap::scale_ui(ui, &scale);
            let tooltip = |c: usize, y: usize, x: usize, v: f32| {
                format!("{name}: channel {c} at ({y}, {x}) = {}", heatmap::format_value(v))
            };
            let hit = heatmap::channel_grid_ui(ui, textures, &view, &scale, (name, name, stamp), MAP_SIDE, &tooltip)?;
            Some(Hover { text: tooltip(hit.map, hit.row, hit.col, hit.value), field: None })
        }
    }
}
