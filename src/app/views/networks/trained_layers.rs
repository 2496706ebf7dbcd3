//! The trained side of the networks view for a network of any architecture (the `deep` preset or
//! an edited stack of blocks): the first block's filters, every block's feature maps for the input
//! (hover a unit to see its receptive field on the input, through strides, dilations and pools),
//! and per hidden layer the histogram of the class selectivity index and the classes-per-unit
//! curve over relative thresholds, beside the constructed network's detectors. Everything drawn
//! is computed in the cache ([`DeepPass`]); the frame only draws it.

use egui::RichText;
use egui_plot::{Bar, BarChart, Legend, Line, Plot, PlotPoints};
use ndarray::s;

use crate::app::cache::{DeepPass, describe, receptive_field};
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap::{self, Scale};
use crate::core::selectivity::ClassMaxima;

use super::Hover;

/// Side of one map, in points (small: a deep network has many, and its first two blocks fit the screen).
const MAP_SIDE: f32 = 40.0;
/// Height of each selectivity plot, in points.
const PLOT_HEIGHT: f32 = 110.0;

/// What the drawing needs besides the pass.
pub struct DeepFrame<'a> {
    pub pass: &'a DeepPass,
    /// Changes with the weights.
    pub weights_stamp: u64,
    /// Changes with the weights and the input.
    pub stamp: u64,
    /// The constructed network's name and its detectors' statistics, when measured.
    pub reference: Option<(&'a str, &'a ClassMaxima)>,
}

/// Draws the layers and their selectivity; returns what the pointer is on.
pub fn deep_ui(ui: &mut egui::Ui, textures: &mut TextureCache, frame: &DeepFrame<'_>) -> Option<Hover> {
    let net = &frame.pass.net;
    let arch = net.arch();
    let blocks = arch.blocks.len();
    let hidden = arch.hidden.map_or_else(String::new, |h| format!(", a hidden layer of {h}"));
    ui.label(format!("{blocks} conv blocks{hidden}, {} parameters", arch.parameter_count()))
        .on_hover_text(describe(arch));
    let mut hovered = None;
    if let Some((weights, _)) = net.conv_weights(0) {
        let block = &net.arch().blocks[0];
        let filters = weights.slice(s![.., 0, .., ..]);
        ui.label(
            RichText::new(format!("Block 1 filters ({0}×{0}, {1} filters)", block.kernel, block.filters)).strong(),
        );
        let scale = Scale::symmetric("weight", filters.iter());
        heatmap::scale_ui(ui, &scale);
        let tooltip = |f: usize, y: usize, x: usize, v: f32| {
            format!("filter {f}, weight ({y}, {x}) = {}", heatmap::format_value(v))
        };
        let key = ("deep filter", "deep filter", frame.weights_stamp);
        if let Some(hit) = heatmap::channel_grid_ui(ui, textures, &filters, &scale, key, MAP_SIDE, &tooltip) {
            hovered = Some(Hover { text: tooltip(hit.map, hit.row, hit.col, hit.value), field: None });
        }
    }
    for (i, maps) in frame.pass.activations.maps.iter().enumerate() {
        let (f, h, w) = maps.dim();
        ui.label(RichText::new(format!("Block {} feature maps after ReLU ({f}×{h}×{w})", i + 1)).strong());
        let scale = Scale::non_negative("activation", maps.iter());
        heatmap::scale_ui(ui, &scale);
        let title = format!("block {} map", i + 1);
        let tooltip = |f: usize, y: usize, x: usize, v: f32| unit_text(frame, i, (f, y, x), v);
        let view = maps.view();
        if let Some(hit) =
            heatmap::channel_grid_ui(ui, textures, &view, &scale, (&title, &title, frame.stamp), MAP_SIDE, &tooltip)
        {
            let field = receptive_field(net, i, hit.row, hit.col);
            hovered = Some(Hover { text: tooltip(hit.map, hit.row, hit.col, hit.value), field: Some(field) });
        }
    }
    if let Some(hidden) = &frame.pass.activations.hidden {
        let active = hidden.iter().filter(|&&v| v > 0.0).count();
        ui.label(RichText::new(format!("Hidden FC layer: {active} of {} units active", hidden.len())).strong());
    }
    ui.separator();
    selectivity_ui(ui, &frame.pass.layers, frame.pass.probes, frame.reference);
    hovered
}

/// The hover sentence of unit `(f, y, x)` of block `block`'s maps.
fn unit_text(frame: &DeepFrame<'_>, block: usize, (f, y, x): (usize, usize, usize), value: f32) -> String {
    let (_, _, rows, cols) = receptive_field(&frame.pass.net, block, y, x);
    format!(
        "block {} unit: map {f} at ({y}, {x}) = {}; it reads a {rows}×{cols} window of the input",
        block + 1,
        heatmap::format_value(value)
    )
}

/// Per hidden layer (measured over `probes` samples): the selectivity index histogram and the
/// classes-per-unit curve, beside the constructed network's detectors when measured.
pub(super) fn selectivity_ui(
    ui: &mut egui::Ui,
    layers: &[(String, ClassMaxima)],
    probes: usize,
    reference: Option<(&str, &ClassMaxima)>,
) {
    ui.label(RichText::new("Selectivity per layer").strong());
    if layers.is_empty() {
        ui.weak("Measured over the dataset's samples once the dataset is generated.");
        return;
    }
    ui.small(format!(
        "Over {probes} dataset samples. Class selectivity index (Morcos et al. 2018): 1 = the unit answers one class only, \
         0 = indifferent. Classes per active unit: classes whose largest activation exceeds the threshold × the unit's maximum."
    ));
    match reference {
        Some((name, reference)) => ui.small(format!("{name}'s detectors: {}", summary(reference))),
        None => ui.weak("Press \"Measure selectivity\" on the left to draw the constructed detectors beside these."),
    };
    for (name, layer) in layers {
        ui.label(format!("{name}: {}", summary(layer)));
        ui.horizontal(|ui| {
            let width = (ui.available_width() / 2.0 - 8.0).max(120.0);
            index_histogram_ui(ui, name, layer, reference, width);
            threshold_curve_ui(ui, name, layer, reference, width);
        });
    }
}

/// Mean index and classes per active unit at threshold 0, in words.
fn summary(layer: &ClassMaxima) -> String {
    let index = layer.mean_selectivity_index().map_or_else(|| "—".to_owned(), |i| format!("{i:.2}"));
    let classes =
        layer.threshold_curve().first().and_then(|(_, c)| *c).map_or_else(|| "—".to_owned(), |c| format!("{c:.2}"));
    format!("mean selectivity index {index}, {classes} classes per active unit")
}

/// A plot of the panel's size that stays put: a small multiple, not something to explore.
fn still_plot<'a>(id: impl egui::AsIdSalt, width: f32) -> Plot<'a> {
    Plot::new(id).width(width).height(PLOT_HEIGHT).allow_drag(false).allow_zoom(false).allow_scroll(false)
}

/// Histogram of the index over the layer's active units (fractions, so layers of any size compare).
fn index_histogram_ui(
    ui: &mut egui::Ui,
    name: &str,
    layer: &ClassMaxima,
    reference: Option<(&str, &ClassMaxima)>,
    width: f32,
) {
    let bars = |maxima: &ClassMaxima, offset: f64| -> Vec<Bar> {
        let bins = maxima.selectivity_index_histogram();
        let total = bins.iter().sum::<usize>().max(1) as f64;
        bins.iter()
            .enumerate()
            .map(|(b, &n)| Bar::new(b as f64 / 10.0 + 0.05 + offset, n as f64 / total).width(0.04))
            .collect()
    };
    still_plot(("deep index", name), width)
        .include_x(0.0)
        .include_x(1.0)
        .include_y(1.0)
        .legend(Legend::default().position(egui_plot::Corner::LeftTop))
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new(name, bars(layer, -0.01)).color(theme::TRAINED_COLOR));
            if let Some((reference_name, maxima)) = reference {
                plot.bar_chart(BarChart::new(reference_name, bars(maxima, 0.01)).color(theme::CONSTRUCTED_COLOR));
            }
        });
}

/// Mean classes per active unit against the relative threshold 0 … 0.9.
fn threshold_curve_ui(
    ui: &mut egui::Ui,
    name: &str,
    layer: &ClassMaxima,
    reference: Option<(&str, &ClassMaxima)>,
    width: f32,
) {
    let points = |maxima: &ClassMaxima| -> PlotPoints<'static> {
        maxima
            .threshold_curve()
            .into_iter()
            .filter_map(|(t, c)| c.map(|c| [f64::from(t), f64::from(c)]))
            .collect::<Vec<_>>()
            .into()
    };
    still_plot(("deep curve", name), width).include_x(0.0).include_x(0.9).include_y(0.0).include_y(1.0).show(
        ui,
        |plot| {
            plot.line(Line::new(format!("{name} classes per unit"), points(layer)).color(theme::TRAINED_COLOR));
            if let Some((reference_name, maxima)) = reference {
                plot.line(Line::new(reference_name, points(maxima)).color(theme::CONSTRUCTED_COLOR));
            }
        },
    );
}
