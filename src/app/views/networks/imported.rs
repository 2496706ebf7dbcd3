//! The trained side when a network was opened from ONNX: the filters of its single-channel
//! convolutions, every feature map it computes for the input (one collapsible section per value,
//! in execution order) with the same hover and receptive-field interaction as the other side, and
//! the choice of the feature map whose units the selectivity panel measures.

use std::collections::HashSet;

use ndarray::{ArrayView3, Axis, Ix4, s};

use crate::app::cache::UnitRef;
use crate::app::imported::{ImportedForward, ImportedNetwork};
use crate::app::theme::TextureCache;
use crate::app::widgets::heatmap::{self, Scale};
use crate::core::interop::onnx_import::{Trace, Traced};
use crate::core::interpret::Unit;

use super::Hover;

/// Side of one map, in points.
const MAP_SIDE: f32 = 96.0;
/// Maps drawn per grid until the user asks for all (N2 from ONNX has layers of hundreds).
const FIRST_MAPS: usize = 48;

/// What the imported side remembers about one model: the feature map measured for
/// selectivity, and the grids shown whole.
#[derive(Debug, Default)]
pub struct ImportedView {
    /// The model version this belongs to (another model starts afresh).
    pub version: u64,
    pub layer: Option<String>,
    expanded: HashSet<String>,
    /// The feature-map unit clicked this frame, with what it is: the caller opens the unit inspector.
    pub clicked: Option<(UnitRef, String)>,
}

impl ImportedView {
    /// A fresh view of model `version`.
    pub fn of(version: u64) -> Self {
        Self { version, ..Self::default() }
    }
}

/// Everything the drawing needs.
pub struct ImportedFrame<'a> {
    pub network: &'a ImportedNetwork,
    pub forward: &'a ImportedForward,
}

/// The feature map measured for selectivity: the chosen one if the model computes it, else the
/// first activation after a convolution (the units a trained CNN's hidden layer has), else the first map.
pub fn selectivity_layer(view: &ImportedView, trace: &Trace) -> Option<String> {
    let maps = trace.feature_maps();
    let chosen = view.layer.as_ref().filter(|l| maps.iter().any(|(t, _)| &t.name == *l));
    let activation = maps.iter().find(|(t, _)| matches!(t.op_type.as_str(), "Relu" | "LeakyRelu" | "Sigmoid" | "Tanh"));
    chosen.cloned().or_else(|| activation.or(maps.first()).map(|(t, _)| t.name.clone()))
}

/// Draws filters and feature maps; returns what the pointer is on.
pub fn imported_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &ImportedFrame<'_>,
    view: &mut ImportedView,
) -> Option<Hover> {
    let mut hovered = filters_ui(ui, textures, frame, &mut view.expanded);
    let measured = selectivity_layer(view, &frame.forward.trace);
    layer_choice_ui(ui, view, &frame.forward.trace, measured.as_deref());
    ui.label(egui::RichText::new("Feature maps for the input, in execution order").strong());
    for (traced, maps) in frame.forward.trace.feature_maps() {
        let (channels, rows, cols) = maps.dim();
        let title = format!("{} ({}) {channels}×{rows}×{cols}", traced.name, traced.op_type);
        let open = measured.as_deref() == Some(traced.name.as_str());
        let shown = egui::CollapsingHeader::new(title)
            .id_salt(("imported map", &traced.name))
            .default_open(open)
            .show(ui, |ui| maps_ui(ui, textures, frame, traced, &maps, &mut view.expanded));
        let hit = shown.body_returned.flatten();
        if let Some((hit, hover)) = hit.as_ref().filter(|(hit, _)| hit.clicked) {
            view.clicked = clicked_unit(frame, traced, (&maps, *hit), hover);
        }
        hovered = hit.map(|(_, hover)| hover).or(hovered);
    }
    hovered
}

/// The filters of every convolution that reads one channel (the image, usually the first layer)
/// with a window larger than one pixel (a 1×1 filter has no picture).
fn filters_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &ImportedFrame<'_>,
    expanded: &mut HashSet<String>,
) -> Option<Hover> {
    let mut hovered = None;
    for (node, weight) in frame.network.model.conv_weights() {
        let Ok(weight) = weight.view().into_dimensionality::<Ix4>() else { continue };
        let (filters, channels, kh, kw) = weight.dim();
        if channels != 1 || kh * kw == 1 {
            continue;
        }
        ui.label(egui::RichText::new(format!("Filters of {} ({kh}×{kw}, {filters} filters)", node.name)).strong());
        let values = weight.index_axis_move(Axis(1), 0);
        let scale = Scale::symmetric("weight", values.iter());
        heatmap::scale_ui(ui, &scale);
        let tooltip = |f: usize, y: usize, x: usize, v: f32| {
            format!("{}: filter {f}, weight ({y}, {x}) = {}", node.name, heatmap::format_value(v))
        };
        // Keyed by the output name: node names need not be unique, output names are.
        let key = format!("imported filter {}", node.output);
        let stamp = frame.network.version;
        if let Some(hit) = grid(ui, textures, &values, &scale, ("filter", &key, stamp), &tooltip, expanded) {
            hovered = Some(Hover { text: tooltip(hit.map, hit.row, hit.col, hit.value), field: None });
        }
    }
    hovered
}

fn layer_choice_ui(ui: &mut egui::Ui, view: &mut ImportedView, trace: &Trace, measured: Option<&str>) {
    ui.horizontal(|ui| {
        ui.label("Units measured for selectivity:");
        egui::ComboBox::from_id_salt("imported selectivity layer").selected_text(measured.unwrap_or("none")).show_ui(
            ui,
            |ui| {
                for (traced, _) in trace.feature_maps() {
                    let label = format!("{} ({})", traced.name, traced.op_type);
                    if ui.selectable_label(measured == Some(traced.name.as_str()), label).clicked() {
                        view.layer = Some(traced.name.clone());
                    }
                }
            },
        );
    });
}

/// One value's maps, one per channel.
fn maps_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &ImportedFrame<'_>,
    traced: &Traced,
    values: &ArrayView3<'_, f32>,
    expanded: &mut HashSet<String>,
) -> Option<(heatmap::Hit, Hover)> {
    let non_negative = values.iter().all(|&v| v >= 0.0);
    let scale = if non_negative {
        Scale::non_negative("activation", values.iter())
    } else {
        Scale::symmetric("value", values.iter())
    };
    heatmap::scale_ui(ui, &scale);
    let tooltip = |c: usize, y: usize, x: usize, v: f32| hover(frame, traced, c, y, x, v).text;
    let key = format!("imported map {}", traced.name);
    let hit = grid(ui, textures, values, &scale, ("channel", &key, frame.forward.stamp), &tooltip, expanded)?;
    Some((hit, hover(frame, traced, hit.map, hit.row, hit.col, hit.value)))
}

/// The unit of `traced` clicked in `hit`: layer = the value's place in execution order, index in
/// its `(C, H, W)` maps; it reads the receptive field the hover found (the whole image when unknown).
fn clicked_unit(
    frame: &ImportedFrame<'_>,
    traced: &Traced,
    (maps, hit): (&ArrayView3<'_, f32>, heatmap::Hit),
    hover: &Hover,
) -> Option<(UnitRef, String)> {
    let layer = frame.forward.trace.values.iter().position(|t| t.name == traced.name)?;
    let (_, rows, cols) = maps.dim();
    let (height, width) = frame.network.model.input_size();
    let unit = UnitRef {
        unit: Unit { layer, index: (hit.map * rows + hit.row) * cols + hit.col },
        channel: hit.map,
        field: hover.field.unwrap_or((0, 0, height, width)),
        tile: None,
    };
    let title =
        format!("{}: '{}' channel {} at ({}, {})", frame.network.name(), traced.name, hit.map, hit.row, hit.col);
    Some((unit, title))
}

/// One titled map per channel of `values`, as many per row as fit, titled and keyed by
/// `(title prefix, texture key prefix, texture stamp)`; the first [`FIRST_MAPS`] unless the
/// user asked for all of this grid (its key is in `expanded`).
fn grid(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    values: &ArrayView3<'_, f32>,
    scale: &Scale,
    (title, key, stamp): (&str, &str, u64),
    tooltip: &dyn Fn(usize, usize, usize, f32) -> String,
    expanded: &mut HashSet<String>,
) -> Option<heatmap::Hit> {
    let count = values.shape()[0];
    let shown = if expanded.contains(key) { count } else { count.min(FIRST_MAPS) };
    if shown < count {
        ui.horizontal(|ui| {
            ui.weak(format!("{title}s 0–{} of {count} shown", shown - 1));
            if ui.button(format!("Show all {count}")).clicked() {
                expanded.insert(key.to_owned());
            }
        });
    }
    let values = values.slice(s![..shown, .., ..]);
    heatmap::channel_grid_ui(ui, textures, &values, scale, (title, key, stamp), MAP_SIDE, tooltip)
}

/// The hover text and receptive field of unit `(c, y, x)` of `traced`.
fn hover(frame: &ImportedFrame<'_>, traced: &Traced, c: usize, y: usize, x: usize, value: f32) -> Hover {
    let (height, width) = frame.network.model.input_size();
    let field = frame.forward.fields.get(&traced.name).and_then(|f| f.pixels(y, x, height, width));
    let reads = field.map_or_else(
        || "its receptive field is not known".to_owned(),
        |(row, col, rows, cols)| format!("it reads the {rows}×{cols} input window at ({row}, {col})"),
    );
    Hover {
        text: format!(
            "{}: '{}' ({} of node {}), channel {c} at ({y}, {x}) = {}; {reads}",
            frame.network.name(),
            traced.name,
            traced.op_type,
            traced.node,
            heatmap::format_value(value)
        ),
        field,
    }
}

/// Channels of map `layer` with a positive unit whose receptive field covers input pixel
/// `(row, col)`: `(channel, largest such value)`, strongest first.
pub fn responders(
    network: &ImportedNetwork,
    forward: &ImportedForward,
    layer: &str,
    pixel: (usize, usize),
) -> Vec<(usize, f32)> {
    let (height, width) = network.model.input_size();
    let Some(field) = forward.fields.get(layer) else { return Vec::new() };
    let Some((_, maps)) = forward.trace.feature_maps().into_iter().find(|(t, _)| t.name == layer) else {
        return Vec::new();
    };
    let covers = |y: usize, x: usize| {
        field
            .pixels(y, x, height, width)
            .is_some_and(|(r, c, rows, cols)| (r..r + rows).contains(&pixel.0) && (c..c + cols).contains(&pixel.1))
    };
    super::strongest_first(maps.outer_iter().enumerate().map(|(channel, map)| {
        (channel, map.indexed_iter().filter(|((y, x), _)| covers(*y, *x)).map(|(_, &v)| v).fold(0.0, f32::max))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    use crate::core::interop::onnx_import::OnnxModel;
    use crate::core::interop::receptive_field::receptive_fields;

    #[test]
    fn the_first_activation_is_measured_unless_another_map_is_chosen() {
        let bytes = include_bytes!("../../../../tests/fixtures/onnx/small_cnn_legacy.onnx");
        let model = OnnxModel::from_bytes(bytes, None).unwrap();
        let trace = model.run(Array2::zeros(model.input_size()).view()).unwrap();
        let first_relu = trace.values.iter().find(|t| t.op_type == "Relu").unwrap().name.clone();
        let mut view = ImportedView::default();
        assert_eq!(selectivity_layer(&view, &trace), Some(first_relu.clone()));
        let last = trace.feature_maps().last().unwrap().0.name.clone();
        view.layer = Some(last.clone());
        assert_eq!(selectivity_layer(&view, &trace), Some(last));
        view.layer = Some("gone".to_owned());
        assert_eq!(selectivity_layer(&view, &trace), Some(first_relu));
        let fields = receptive_fields(&model, &trace);
        let network = ImportedNetwork { model, path: "m.onnx".into(), version: 1 };
        let forward = ImportedForward { trace, fields, stamp: 0 };
        let frame = ImportedFrame { network: &network, forward: &forward };
        let conv = forward.trace.values.iter().find(|t| t.op_type == "Conv").unwrap();
        let text = hover(&frame, conv, 2, 0, 0, 0.5);
        assert_eq!(text.field, Some((0, 0, 2, 2)), "a 3×3 window padded by 1, clipped at the corner");
        assert!(text.text.contains("channel 2 at (0, 0) = 0.5"), "{}", text.text);
    }

    #[test]
    fn responders_are_the_channels_whose_covering_units_fire() {
        let bytes = include_bytes!("../../../../tests/fixtures/onnx/small_cnn_legacy.onnx");
        let model = OnnxModel::from_bytes(bytes, None).unwrap();
        let (height, width) = model.input_size();
        let image = Array2::from_shape_fn((height, width), |(r, c)| ((r * 7 + c * 3) % 5) as f32 / 4.0);
        let trace = model.run(image.view()).unwrap();
        let fields = receptive_fields(&model, &trace);
        let layer = trace.values.iter().find(|t| t.op_type == "Relu").unwrap().name.clone();
        let network = ImportedNetwork { model, path: "m.onnx".into(), version: 1 };
        let forward = ImportedForward { trace, fields, stamp: 0 };
        let maps = forward.trace.get(&layer).unwrap().clone();
        for pixel in [(0, 0), (5, 7), (11, 11)] {
            let found = responders(&network, &forward, &layer, pixel);
            // The first Relu follows a 3×3 conv padded by 1: unit (y, x) reads rows y-1..=y+1.
            for channel in 0..maps.shape()[1] {
                let mut best = 0.0f32;
                for y in pixel.0.saturating_sub(1)..=(pixel.0 + 1).min(height - 1) {
                    for x in pixel.1.saturating_sub(1)..=(pixel.1 + 1).min(width - 1) {
                        best = best.max(maps[[0, channel, y, x]]);
                    }
                }
                let listed = found.iter().find(|(c, _)| *c == channel).map(|p| p.1);
                assert_eq!(listed, (best > 0.0).then_some(best), "channel {channel} at {pixel:?}");
            }
            assert!(found.windows(2).all(|w| w[0].1 >= w[1].1), "strongest first");
        }
    }
}
