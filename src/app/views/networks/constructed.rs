//! The constructed side of the networks view: N1 or N2 layer by layer. The detector layer is drawn
//! as one map per tile over its valid windows (a single bright cell where the tile is); N2's block
//! layers show the channels of one tile, each block image beside its distance map; other layers
//! are paginated channel maps or neuron lists. Every map shares its layer's colour scale. On images
//! too large to keep every layer, the forward pass keeps the detector layer on, and the page on
//! screen of an earlier layer comes from a window computed in the background
//! ([`ConstructedView::wanted`]): only what is drawn is held.

use egui::{Color32, Pos2, Rect, RichText, Vec2};
use ndarray::{Array2, ArrayView2, ArrayView3, s};

use crate::app::cache::{Forward, UnitRef};
use crate::app::theme::{self, Rendering, TextureCache};
use crate::app::widgets::heatmap::{self, MapView, Scale};
use crate::core::construct::{BlockLevel, Constructed};
use crate::core::interpret::Unit;
use crate::core::nn::sparse::{Activation, LayerWindow, Shape, WindowValues};
use crate::core::tile::{ClassSet, TileId};

use super::Hover;

/// Channel maps per page.
const PAGE_SIZE: usize = 24;
/// Neurons listed per page for dense layers.
const NEURONS_PER_PAGE: usize = 40;
/// Side of one channel map, in points.
const MAP_SIDE: f32 = 96.0;

/// What the constructed side remembers: the open layer, the page, the tile whose blocks are shown.
#[derive(Debug, Default)]
pub struct ConstructedView {
    /// Open layer (`None`: the detector layer).
    pub layer: Option<usize>,
    pub page: usize,
    /// Tile whose N2 block channels are shown (`None`: the first tile).
    pub tile: Option<TileId>,
    /// The part of the open layer the last frame drew and the forward pass did not keep: the
    /// caller has it computed (`Command::LayerWindows`).
    pub wanted: Option<LayerWindow>,
    /// The detector unit clicked this frame, with what it is: the caller opens the unit inspector.
    pub clicked: Option<(UnitRef, String)>,
}

/// Everything the drawing needs about one network and its forward pass.
pub struct NetworkFrame<'a> {
    pub net: &'a Constructed,
    pub forward: &'a Forward,
    /// The newest window computed for this network and input (possibly of another page).
    pub window: Option<(&'a LayerWindow, &'a WindowValues)>,
    pub classes: &'a ClassSet,
    /// "N1" or "N2".
    pub name: &'static str,
    /// Changes with the network and the input (texture stamps).
    pub stamp: u64,
    pub rendering: Rendering,
}

/// Draws the layer list and the open layer; returns what the pointer is on.
pub fn constructed_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &NetworkFrame<'_>,
    view: &mut ConstructedView,
) -> Option<Hover> {
    let detector_layer = frame.net.detectors.layer;
    let layers = frame.net.network.layers().len();
    let layer = view.layer.filter(|&l| l < layers).unwrap_or(detector_layer);
    layer_list_ui(ui, frame, layer, view);
    ui.separator();
    view.wanted = None;
    if layer == detector_layer {
        // Kept by every forward pass, whatever its size.
        let values = frame.forward.layer(layer).map_or(&[][..], Activation::as_slice);
        let scale = Scale::non_negative("value", values);
        heatmap::scale_ui(ui, &scale);
        return detector_maps_ui(ui, textures, frame, &scale, view);
    }
    let maps = match frame.forward.layer(layer) {
        Some(Activation::Vector(values)) => {
            neuron_list_ui(ui, frame, layer, values.as_slice().unwrap_or(&[]), view);
            return None;
        }
        Some(Activation::Map(maps)) => LayerMaps::Kept(maps.view()),
        None => LayerMaps::Windowed(frame.window.filter(|(w, _)| w.layer == layer).map(|(_, v)| v)),
    };
    let scale = maps.scale();
    if let Some(scale) = &scale {
        heatmap::scale_ui(ui, scale);
    }
    let scale = scale.unwrap_or_else(|| Scale::non_negative("value", &[]));
    match frame.net.blocks.iter().find(|level| level.layer == layer) {
        Some(level) => block_channels_ui(ui, textures, frame, level, &maps, &scale, view),
        None => channel_pages_ui(ui, textures, frame, layer, &maps, &scale, view),
    }
}

/// The open map layer's channels: kept by the forward pass, or computed for the page on screen.
enum LayerMaps<'a> {
    Kept(ArrayView3<'a, f32>),
    /// The newest window of this layer, if any (possibly of another page).
    Windowed(Option<&'a WindowValues>),
}

impl LayerMaps<'_> {
    /// The layer's colour scale (from 0 to its largest value); `None` while no window is computed.
    fn scale(&self) -> Option<Scale> {
        match self {
            Self::Kept(maps) => Some(Scale::non_negative("value", maps.iter())),
            Self::Windowed(window) => window.map(|w| Scale::non_negative("value", [&w.high])),
        }
    }
}

/// The maps of `channels` of layer `layer`, in order, when they are at hand; a windowed layer
/// asks for them (whole maps: the networks view shows them whole).
fn page_maps<'a>(
    frame: &NetworkFrame<'a>,
    maps: &LayerMaps<'a>,
    layer: usize,
    channels: &[usize],
    view: &mut ConstructedView,
) -> Option<Vec<ArrayView2<'a, f32>>> {
    match maps {
        LayerMaps::Kept(maps) => Some(channels.iter().map(|&c| maps.slice_move(s![c, .., ..])).collect()),
        LayerMaps::Windowed(_) => {
            let Some(&Shape::Map { rows, cols, .. }) = frame.net.network.shapes().get(layer) else { return None };
            let wanted = LayerWindow { layer, channels: channels.to_vec(), rows: 0..rows, cols: 0..cols };
            let window = frame.window.filter(|(w, _)| **w == wanted).map(|(_, v)| v);
            view.wanted = Some(wanted);
            let window = window?;
            Some((0..channels.len()).map(|i| window.maps.slice(s![i, .., ..])).collect())
        }
    }
}

/// Says that the page's maps are being computed; nothing is hovered meanwhile.
fn pending_ui(ui: &mut egui::Ui) -> Option<Hover> {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label("computing the maps on this page…");
    });
    None
}

/// The channel count of map layer `layer`.
fn channel_count(frame: &NetworkFrame<'_>, layer: usize) -> usize {
    match frame.net.network.shapes().get(layer) {
        Some(Shape::Map { channels, .. }) => *channels,
        _ => 0,
    }
}

fn layer_list_ui(ui: &mut egui::Ui, frame: &NetworkFrame<'_>, open: usize, view: &mut ConstructedView) {
    ui.label(RichText::new(format!("{} layers", frame.name)).strong());
    for (index, report) in frame.net.network.report().iter().enumerate() {
        let marker = if index == frame.net.detectors.layer { " (monosemantic detectors)" } else { "" };
        let text =
            format!("{index}: {} — {} {}, output {}{marker}", report.name, report.units, report.kind, report.output);
        if ui.selectable_label(index == open, text).clicked() {
            view.layer = Some(index);
            view.page = 0;
        }
    }
}

/// One map per tile over its valid windows: `σ(ε − d_T(x,i,j))`.
fn detector_maps_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &NetworkFrame<'_>,
    scale: &Scale,
    view: &mut ConstructedView,
) -> Option<Hover> {
    let layer = frame.net.detectors.layer;
    let maps: Vec<Array2<f32>> = (0..frame.net.detectors.tiles.len()).filter_map(|i| detector_map(frame, i)).collect();
    let views: Vec<MapView<'_>> = frame
        .net
        .detectors
        .tiles
        .iter()
        .zip(&maps)
        .enumerate()
        .map(|(index, (t, map))| MapView {
            title: format!("{} detectors of {}", frame.name, frame.classes.tile_label(t.tile)),
            values: map.view(),
            key: format!("{} detector {index}", frame.name),
            stamp: frame.stamp,
        })
        .collect();
    ui.label("One neuron per tile and window (i, j): positive exactly where the window holds the tile.");
    let tooltip = |map: usize, i: usize, j: usize, value: f32| {
        let unit = frame.net.detectors.tiles.get(map).and_then(|t| t.unit(i, j)).unwrap_or(0);
        format!("{}\nwindow ({i}, {j}) = {}", frame.net.network.meaning(layer, unit), heatmap::format_value(value))
    };
    let hit = heatmap::grid_ui(ui, textures, &views, scale, 140.0, columns(ui, 150.0), &tooltip)?;
    let detector = frame.net.detectors.tiles.get(hit.map)?;
    let tile = frame.classes.tile(detector.tile)?;
    if hit.clicked
        && let Some(index) = detector.unit(hit.row, hit.col)
    {
        let unit = UnitRef {
            unit: Unit { layer, index },
            channel: detector.channel.unwrap_or(index),
            field: (hit.row, hit.col, tile.rows(), tile.cols()),
            tile: Some(detector.tile),
        };
        let title = format!(
            "{} detector of {} at window ({}, {})",
            frame.name,
            frame.classes.tile_label(detector.tile),
            hit.row,
            hit.col
        );
        view.clicked = Some((unit, title));
    }
    Some(Hover {
        text: tooltip(hit.map, hit.row, hit.col, hit.value),
        field: Some((hit.row, hit.col, tile.rows(), tile.cols())),
    })
}

/// Number of map columns that fit.
fn columns(ui: &egui::Ui, width: f32) -> usize {
    ((ui.available_width() / width) as usize).max(1)
}

/// Page controls; returns the page range of `count` items.
fn pager_ui(ui: &mut egui::Ui, count: usize, per_page: usize, page: &mut usize) -> std::ops::Range<usize> {
    let pages = count.div_ceil(per_page).max(1);
    *page = (*page).min(pages - 1);
    ui.horizontal(|ui| {
        if ui.add_enabled(*page > 0, egui::Button::new("Previous")).clicked() {
            *page -= 1;
        }
        ui.label(format!("page {} of {pages} ({count} in all)", *page + 1));
        if ui.add_enabled(*page + 1 < pages, egui::Button::new("Next")).clicked() {
            *page += 1;
        }
    });
    *page * per_page..((*page + 1) * per_page).min(count)
}

/// The hover of channel `channel` at `(y, x)` of conv/pad layer `layer`.
fn channel_hover(frame: &NetworkFrame<'_>, layer: usize, channel: usize, y: usize, x: usize, value: f32) -> Hover {
    Hover {
        text: format!(
            "{}\nposition ({y}, {x}) = {}",
            frame.net.network.meaning(layer, channel),
            heatmap::format_value(value)
        ),
        field: frame.net.network.receptive_field(layer, y, x),
    }
}

fn channel_pages_ui<'a>(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &NetworkFrame<'a>,
    layer: usize,
    maps: &LayerMaps<'a>,
    scale: &Scale,
    view: &mut ConstructedView,
) -> Option<Hover> {
    let range = pager_ui(ui, channel_count(frame, layer), PAGE_SIZE, &mut view.page);
    let channels: Vec<usize> = range.collect();
    let Some(values) = page_maps(frame, maps, layer, &channels, view) else { return pending_ui(ui) };
    let views: Vec<MapView<'_>> = channels
        .iter()
        .zip(values)
        .map(|(&c, values)| MapView {
            title: format!("{c}: {}", frame.net.network.meaning(layer, c)),
            values,
            key: format!("{} layer {layer} channel {c}", frame.name),
            stamp: frame.stamp,
        })
        .collect();
    let tooltip =
        |map: usize, y: usize, x: usize, value: f32| channel_hover(frame, layer, channels[map], y, x, value).text;
    let hit = heatmap::grid_ui(ui, textures, &views, scale, MAP_SIDE, columns(ui, MAP_SIDE + 12.0), &tooltip)?;
    Some(channel_hover(frame, layer, channels[hit.map], hit.row, hit.col, hit.value))
}

/// N2 block layer: the channels holding a block of the chosen tile, block image beside its distance map.
fn block_channels_ui<'a>(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &NetworkFrame<'a>,
    level: &BlockLevel,
    maps: &LayerMaps<'a>,
    scale: &Scale,
    view: &mut ConstructedView,
) -> Option<Hover> {
    let tile_id = view
        .tile
        .filter(|id| frame.classes.tile(*id).is_some())
        .or_else(|| frame.classes.tiles().next().map(|(id, _)| id))?;
    egui::ComboBox::from_label("Blocks of tile").selected_text(frame.classes.tile_label(tile_id)).show_ui(ui, |ui| {
        for (id, _) in frame.classes.tiles() {
            if ui.selectable_label(id == tile_id, frame.classes.tile_label(id)).clicked() {
                view.tile = Some(id);
                view.page = 0;
            }
        }
    });
    ui.label(format!(
        "Each channel is the distance of every {0}×{0} window to one block (distance maps: dark = close).",
        level.size
    ));
    let channels: Vec<(usize, usize, usize)> = level
        .channels
        .iter()
        .enumerate()
        .filter_map(|(c, ch)| ch.places.iter().find(|p| p.tile == tile_id).map(|p| (c, p.row, p.col)))
        .collect();
    let range = pager_ui(ui, channels.len(), PAGE_SIZE / 2, &mut view.page);
    let page = &channels[range];
    let on_page: Vec<usize> = page.iter().map(|&(channel, _, _)| channel).collect();
    let Some(values) = page_maps(frame, maps, level.layer, &on_page, view) else { return pending_ui(ui) };
    let mut hovered = None;
    let per_row = columns(ui, 2.0 * MAP_SIDE + 24.0);
    let page: Vec<_> = page.iter().zip(values).collect();
    for row in page.chunks(per_row) {
        ui.horizontal_top(|ui| {
            for &(&(channel, block_row, block_col), values) in row {
                ui.vertical(|ui| {
                    ui.small(format!(
                        "block rows {block_row}–{}, cols {block_col}–{}",
                        block_row + level.size - 1,
                        block_col + level.size - 1
                    ));
                    ui.horizontal_top(|ui| {
                        block_image_ui(ui, textures, frame, tile_id, (block_row, block_col), level.size);
                        let map = MapView {
                            title: frame.net.network.meaning(level.layer, channel),
                            values,
                            key: format!("{} layer {} channel {channel}", frame.name, level.layer),
                            stamp: frame.stamp,
                        };
                        let cell = MAP_SIDE / values.dim().0.max(values.dim().1).max(1) as f32;
                        let tip = |y: usize, x: usize, v: f32| channel_hover(frame, level.layer, channel, y, x, v).text;
                        if let Some(hit) = heatmap::map_ui(ui, textures, &map, scale, cell, &tip).hit {
                            hovered = Some(channel_hover(frame, level.layer, channel, hit.row, hit.col, hit.value));
                        }
                    });
                });
            }
        });
    }
    hovered
}

/// The `size×size` block of the padded tile at `(row, col)`, pixels outside the support tinted.
fn block_image_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    frame: &NetworkFrame<'_>,
    id: TileId,
    at: (usize, usize),
    size: usize,
) {
    let Some(tile) = frame.classes.tile(id) else { return };
    let inside = |a: usize, b: usize| at.0 + a < tile.rows() && at.1 + b < tile.cols();
    let values =
        Array2::from_shape_fn(
            (size, size),
            |(a, b)| if inside(a, b) { tile.values()[[at.0 + a, at.1 + b]] } else { 0.0 },
        );
    let support = Array2::from_shape_fn((size, size), |(a, b)| inside(a, b) && tile.support()[[at.0 + a, at.1 + b]]);
    let key = format!("block {id:?} {at:?} {size}");
    let stamp = theme::content_hash(values.view(), frame.rendering as u64);
    let texture =
        textures.get(ui.ctx(), &key, stamp, || theme::tile_image(values.view(), support.view(), frame.rendering, true));
    let side = MAP_SIDE * 0.75;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), egui::Sense::hover());
    ui.painter().image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    response.on_hover_text("The block (tinted pixels are outside the support and do not count)");
}

fn neuron_list_ui(
    ui: &mut egui::Ui,
    frame: &NetworkFrame<'_>,
    layer: usize,
    values: &[f32],
    view: &mut ConstructedView,
) {
    let range = pager_ui(ui, values.len(), NEURONS_PER_PAGE, &mut view.page);
    egui::Grid::new(("neurons", layer)).striped(true).show(ui, |ui| {
        for unit in range {
            ui.label(frame.net.network.meaning(layer, unit));
            ui.label(heatmap::format_value(values[unit]));
            ui.end_row();
        }
    });
}

/// The detector neurons that respond (> 0) at windows covering pixel `(row, col)`, strongest first.
pub fn responders(frame: &NetworkFrame<'_>, row: usize, col: usize) -> Vec<(String, f32)> {
    let values = frame.forward.layer(frame.net.detectors.layer).map_or(&[][..], Activation::as_slice);
    let mut found = Vec::new();
    for detector in &frame.net.detectors.tiles {
        let Some(tile) = frame.classes.tile(detector.tile) else { continue };
        for i in row.saturating_sub(tile.rows() - 1)..=row {
            for j in col.saturating_sub(tile.cols() - 1)..=col {
                let Some(value) = detector.unit(i, j).and_then(|u| values.get(u).copied()) else { continue };
                if value > 0.0 {
                    found.push((format!("{} at window ({i}, {j})", frame.classes.tile_label(detector.tile)), value));
                }
            }
        }
    }
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found
}

/// Tile `index`'s detector values over its valid windows.
pub fn detector_map(frame: &NetworkFrame<'_>, index: usize) -> Option<Array2<f32>> {
    let detector = frame.net.detectors.tiles.get(index)?;
    let values = frame.forward.layer(frame.net.detectors.layer)?.as_slice();
    Some(Array2::from_shape_fn(detector.valid, |(i, j)| {
        detector.unit(i, j).and_then(|u| values.get(u)).copied().unwrap_or(0.0)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::construct::{build_n1, build_n2};
    use crate::core::dataset::{self, Background, DatasetSpec};
    use crate::core::{detect, presets};

    #[test]
    fn detector_maps_equal_the_direct_detectors_and_responders_find_the_tile() {
        let classes = presets::fashion_three();
        let spec = DatasetSpec {
            height: 34,
            width: 34,
            samples_per_class: 1,
            background: Background::Uniform,
            jitter: 0.0,
            seed: 2,
        };
        let sample = &dataset::generate(&classes, &spec).unwrap().samples[0];
        for (name, net) in [("N1", build_n1(&classes, 34, 34).unwrap()), ("N2", build_n2(&classes, 34, 34).unwrap())] {
            let forward = Forward::new(0, net.network.forward(sample.image.view()).unwrap().layers, Vec::new());
            let frame = NetworkFrame {
                net: &net,
                forward: &forward,
                window: None,
                classes: &classes,
                name,
                stamp: 0,
                rendering: Rendering::OneIsBright,
            };
            for (index, (_, tile)) in classes.tiles().enumerate() {
                let expected = detect::detector_map(tile, sample.image.view());
                let got = detector_map(&frame, index).unwrap();
                assert_eq!(got.dim(), expected.dim());
                let worst = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-3, "{name} tile {index}: {worst}");
            }
            let p = sample.placements[0];
            let found = responders(&frame, p.row + 2, p.col + 3);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            assert!(found[0].0.contains(&format!("window ({}, {})", p.row, p.col)), "{found:?}");
        }
    }
}
