//! The trained side of the networks view: the SGD network's conv filters as images, its feature
//! maps for the input, and the FC weights of one class reshaped to the feature-map grid, with the
//! same hover and receptive-field interaction as the constructed side.

use ndarray::{Array3, ArrayView3, s};

use crate::app::cache::UnitRef;
use crate::app::theme::TextureCache;
use crate::app::widgets::heatmap::{self, Scale};
use crate::core::interpret::Unit;
use crate::core::nn::cnn::{Cnn, CnnActivations};
use crate::core::tile::ClassSet;

use super::Hover;

/// Side of one map, in points.
const MAP_SIDE: f32 = 96.0;

/// What the trained side remembers: the class whose FC weights are shown.
#[derive(Debug, Default)]
pub struct TrainedView {
    pub fc_class: usize,
    /// The feature-map unit clicked this frame, with what it is: the caller opens the unit inspector.
    pub clicked: Option<(UnitRef, String)>,
}

/// Everything the drawing needs about the trained network and its forward pass.
pub struct TrainedFrame<'a> {
    pub cnn: &'a Cnn,
    pub activations: &'a CnnActivations,
    pub classes: &'a ClassSet,
    /// Changes with the weights.
    pub weights_stamp: u64,
    /// Changes with the weights and the input.
    pub stamp: u64,
}

/// Which grid a hovered cell belongs to.
#[derive(Clone, Copy)]
enum Grid {
    Filters,
    Maps,
    Weights(usize),
}

/// Draws filters, feature maps and FC weights; returns what the pointer is on.
pub fn trained_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &TrainedFrame<'_>,
    view: &mut TrainedView,
) -> Option<Hover> {
    let spec = frame.cnn.spec();
    let mut hovered = None;
    let filters = frame.cnn.conv().weight.slice(s![.., 0, .., ..]);
    ui.label(egui::RichText::new(format!("Conv filters ({0}×{0}, {1} filters)", spec.kernel, spec.filters)).strong());
    let scale = Scale::symmetric("weight", filters.iter());
    heatmap::scale_ui(ui, &scale);
    hovered =
        grid(ui, textures, frame, Grid::Filters, &filters, &scale, frame.weights_stamp).map(|(_, h)| h).or(hovered);

    ui.label(egui::RichText::new("Feature maps after ReLU").strong());
    let maps = frame.activations.post_relu.view();
    let scale = Scale::non_negative("activation", maps.iter());
    heatmap::scale_ui(ui, &scale);
    let hit = grid(ui, textures, frame, Grid::Maps, &maps, &scale, frame.stamp);
    if let Some((hit, _)) = hit.as_ref().filter(|(hit, _)| hit.clicked) {
        view.clicked = Some(clicked_unit(frame, *hit));
    }
    hovered = hit.map(|(_, hover)| hover).or(hovered);

    view.fc_class = view.fc_class.min(spec.classes.saturating_sub(1));
    let name = |c: usize| frame.classes.classes.get(c).map_or_else(|| format!("class {c}"), |o| o.name.clone());
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("FC weights to class").strong());
        egui::ComboBox::from_id_salt("fc class").selected_text(name(view.fc_class)).show_ui(ui, |ui| {
            for c in 0..spec.classes {
                ui.selectable_value(&mut view.fc_class, c, name(c));
            }
        });
    });
    let row = frame.cnn.fc().weight.row(view.fc_class);
    let weights = Array3::from_shape_vec((spec.filters, spec.map_height(), spec.map_width()), row.to_vec()).ok()?;
    let scale = Scale::symmetric("weight", weights.iter());
    heatmap::scale_ui(ui, &scale);
    let stamp = frame.weights_stamp ^ (view.fc_class as u64).rotate_left(40);
    grid(ui, textures, frame, Grid::Weights(view.fc_class), &weights.view(), &scale, stamp).map(|(_, h)| h).or(hovered)
}

/// The conv unit of feature map `hit.map` at `(hit.row, hit.col)`: layer 0 of
/// [`Cnn::to_network`], reading the `k×k` input window there.
fn clicked_unit(frame: &TrainedFrame<'_>, hit: heatmap::Hit) -> (UnitRef, String) {
    let spec = frame.cnn.spec();
    let index = (hit.map * spec.map_height() + hit.row) * spec.map_width() + hit.col;
    let unit = UnitRef {
        unit: Unit { layer: 0, index },
        channel: hit.map,
        field: (hit.row, hit.col, spec.kernel, spec.kernel),
        tile: None,
    };
    (unit, format!("Trained CNN: filter {} at ({}, {})", hit.map, hit.row, hit.col))
}

/// One grid of `[F, rows, cols]` maps, one per filter.
fn grid(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &TrainedFrame<'_>,
    kind: Grid,
    values: &ArrayView3<'_, f32>,
    scale: &Scale,
    stamp: u64,
) -> Option<(heatmap::Hit, Hover)> {
    let prefix = match kind {
        Grid::Filters => "filter".to_owned(),
        Grid::Maps => "feature map".to_owned(),
        Grid::Weights(c) => format!("FC weights {c}"),
    };
    let tooltip = |f: usize, y: usize, x: usize, v: f32| hover(frame, kind, f, y, x, v).text;
    let key = format!("cnn {prefix}");
    let hit = heatmap::channel_grid_ui(ui, textures, values, scale, (&prefix, &key, stamp), MAP_SIDE, &tooltip)?;
    Some((hit, hover(frame, kind, hit.map, hit.row, hit.col, hit.value)))
}

/// The hover text and receptive field of cell `(y, x)` of filter `f`'s map in `kind`.
fn hover(frame: &TrainedFrame<'_>, kind: Grid, f: usize, y: usize, x: usize, value: f32) -> Hover {
    let k = frame.cnn.spec().kernel;
    let v = heatmap::format_value(value);
    match kind {
        Grid::Filters => {
            let bias = frame.cnn.conv().bias.get(f).copied().unwrap_or(0.0);
            Hover {
                text: format!("conv filter {f}, weight ({y}, {x}) = {v}; bias {}", heatmap::format_value(bias)),
                field: None,
            }
        }
        Grid::Maps => {
            let pre = frame.activations.pre_relu.get([f, y, x]).copied().unwrap_or(0.0);
            Hover {
                text: format!(
                    "trained unit: filter {f} at ({y}, {x}) = {v} (before ReLU {}); it reads the {k}×{k} window at ({y}, {x})",
                    heatmap::format_value(pre)
                ),
                field: Some((y, x, k, k)),
            }
        }
        Grid::Weights(class) => {
            let activation = frame.activations.post_relu.get([f, y, x]).copied().unwrap_or(0.0);
            let name = frame.classes.classes.get(class).map_or("?", |o| o.name.as_str());
            Hover {
                text: format!(
                    "weight from filter {f} at ({y}, {x}) to '{name}' = {v}; contribution to the logit = {}",
                    heatmap::format_value(value * activation)
                ),
                field: Some((y, x, k, k)),
            }
        }
    }
}

/// Filters with a positive unit whose window covers pixel `(row, col)`: `(filter, largest such activation)`, strongest first.
pub fn responders(cnn: &Cnn, activations: &CnnActivations, row: usize, col: usize) -> Vec<(usize, f32)> {
    let spec = cnn.spec();
    let k = spec.kernel;
    let rows = row.saturating_sub(k - 1)..=row.min(spec.map_height().saturating_sub(1));
    let cols = col.saturating_sub(k - 1)..=col.min(spec.map_width().saturating_sub(1));
    super::strongest_first((0..spec.filters).map(|f| {
        let window = activations.post_relu.slice(s![f, rows.clone(), cols.clone()]);
        (f, window.iter().copied().fold(0.0, f32::max))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::cnn::CnnSpec;
    use ndarray::Array2;

    #[test]
    fn responders_are_the_filters_whose_windows_cover_the_pixel() {
        let spec = CnnSpec { height: 8, width: 8, kernel: 3, filters: 5, classes: 2 };
        let cnn = Cnn::new(spec, 4).unwrap();
        let mut image = Array2::zeros((8, 8));
        image[[4, 4]] = 1.0;
        let activations = cnn.forward(image.view()).unwrap();
        for (row, col) in [(0, 0), (4, 4), (7, 7), (2, 6)] {
            let found = responders(&cnn, &activations, row, col);
            for f in 0..spec.filters {
                let mut best = 0.0f32;
                for y in 0..spec.map_height() {
                    for x in 0..spec.map_width() {
                        if (y..y + 3).contains(&row) && (x..x + 3).contains(&col) {
                            best = best.max(activations.post_relu[[f, y, x]]);
                        }
                    }
                }
                let listed = found.iter().find(|(g, _)| *g == f).map(|p| p.1);
                assert_eq!(listed, (best > 0.0).then_some(best), "filter {f} at ({row}, {col})");
            }
        }
    }
}
