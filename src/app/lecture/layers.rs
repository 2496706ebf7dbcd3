//! Steps 4–6 of the lecture, on the networks actually built by `core::construct`: N1's 2×2
//! filters, one hidden neuron per window and the logit (with the filter count against the paper's
//! bound); N2 layer by layer, each block's distance the sum of its four quadrants' (hover a block
//! to see the four channels it adds up); objects with several features and the min-network.

use egui::{Color32, Pos2, Rect, RichText, Sense, Vec2};
use egui_plot::{Bar, BarChart, Legend, Line, Plot};
use ndarray::Array2;

use crate::app::cache::Forward;
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap::{self, MapView, Scale};
use crate::core::construct::Which;
use crate::core::construct::{Constructed, FilterReport, filter_report};
use crate::core::detect::{self, relu};
use crate::core::nn::sparse::{Activation, LayerWindow, Shape};
use crate::core::presets::Preset;
use crate::core::tile::TileId;

use super::LectureState;
use super::data::{self, WindowParts, followed_tile};
use super::steps::{
    CHILD, WINDOW, best_window, fmt, formula, live_input, note, sampled_curve, tile_picker, two_columns,
};

/// Seconds each N2 layer stays in focus while the animation plays.
const SECONDS_PER_LEVEL: f64 = 1.6;
/// Windows per second of N1's neuron sweep.
const NEURONS_PER_SECOND: f64 = 12.0;
/// Colour of a block with no channel (empty support).
const EMPTY_BLOCK: Color32 = Color32::from_gray(45);

/// Shows why a network is not there yet: building, or the error.
fn waiting_ui(ui: &mut egui::Ui, app: &AppState, which: Which) {
    match data::network_error(app, which) {
        Some(error) => {
            ui.colored_label(theme::ERROR, format!("{} {error}", which.name()));
        }
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!("building {} and running it on the image…", which.name()));
            });
        }
    }
}

/// The detector neurons of `tile` as a map over its valid windows (`detectors`: the detector layer's output).
pub fn detector_grid(net: &Constructed, detectors: &Activation, tile: TileId) -> Option<Array2<f32>> {
    let detector = net.detectors.tiles.iter().find(|d| d.tile == tile)?;
    let values = detectors.as_slice();
    let (rows, cols) = detector.valid;
    let cells: Option<Vec<f32>> = detector.units().into_iter().map(|u| values.get(u).copied()).collect();
    Array2::from_shape_vec((rows, cols), cells?).ok()
}

/// Channel `channel` of a conv layer's output.
fn channel_map(activation: &Activation, channel: usize) -> Option<Array2<f32>> {
    match activation {
        Activation::Map(map) if channel < map.shape()[0] => Some(map.index_axis(ndarray::Axis(0), channel).to_owned()),
        _ => None,
    }
}

/// Grouped bars: the direct φ logits beside a network's, one group per class.
fn logits_chart(ui: &mut egui::Ui, id: &str, names: &[String], direct: &[f32], network: &[f32], which: &str) {
    let bars = |values: &[f32], offset: f64| -> Vec<Bar> {
        values.iter().enumerate().map(|(c, &v)| Bar::new(c as f64 + offset, f64::from(v)).width(0.38)).collect()
    };
    let labels: Vec<String> = names.to_vec();
    Plot::new(id)
        .height(150.0)
        .legend(Legend::default())
        .include_y(0.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .x_axis_formatter(move |mark, _| {
            let index = mark.value.round();
            if (mark.value - index).abs() < 1e-6 && index >= 0.0 {
                labels.get(index as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("direct φ", bars(direct, -0.2)).color(Color32::from_gray(160)));
            plot.bar_chart(BarChart::new(which, bars(network, 0.2)).color(WINDOW));
        });
}

/// Step 4: N1's filters, the followed tile's hidden neurons (one per window) and the logits.
pub fn n1_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let Some(id) = followed_tile(app, lecture.interaction.tile) else { return };
    let ctx = ui.ctx().clone();
    let net = data::network(app, Which::N1, commands);
    let forward = lecture.data.forward(app, Which::N1, commands);
    let (Some(net), Some(forward)) = (net, forward) else {
        live_input(ui, app, lecture, textures, 260.0, &[]);
        waiting_ui(ui, app, Which::N1);
        return;
    };
    let report = filter_report(&net, &app.classes);
    let hidden = forward.layer(net.detectors.layer).and_then(|d| detector_grid(&net, d, id));
    let tile = app.classes.tile(id).cloned();
    let (k, l) = tile.as_ref().map_or((1, 1), |t| (t.rows(), t.cols()));
    update_field(&ctx, lecture, hidden.as_ref(), (k, l));
    let conv_layer = net.detectors.layer.saturating_sub(1);
    let filters = report.filters.max(1);
    lecture.interaction.filter = lecture.interaction.filter.min(filters - 1);
    let filter_map = filter_map((app, lecture), &net, &forward, conv_layer, commands);
    let stamp = lecture.data.input.as_ref().map_or(0, |i| i.stamp) ^ app.classes_version << 32;
    // Computed with the pass (of the same input), not in the frame: φ of every tile on a large image is slow.
    let direct = forward.direct.clone();
    let names: Vec<String> = app.classes.classes.iter().map(|o| o.name.clone()).collect();
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, _)| {
            tile_picker(ui, app, &mut lecture.interaction.tile);
            let side = (ui.available_width() * 0.42).clamp(150.0, 360.0);
            let mut field = None;
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("input x").strong());
                    let outline: Vec<_> = lecture.interaction.field.map(|f| (f, WINDOW)).into_iter().collect();
                    live_input(ui, app, lecture, textures, side, &outline);
                });
                ui.vertical(|ui| {
                    let small = (ui.available_width() - 8.0).clamp(100.0, 220.0);
                    ui.label(RichText::new("conv filter (2×2) output").strong());
                    ui.add(egui::Slider::new(&mut lecture.interaction.filter, 0..=filters - 1).text("filter"));
                    ui.label(RichText::new(net.network.meaning(conv_layer, lecture.interaction.filter)).small());
                    if let Some(map) = &filter_map {
                        let scale = Scale::non_negative("activation", map);
                        let view = MapView {
                            title: "filter".into(),
                            values: map.view(),
                            key: "lecture n1 filter".into(),
                            stamp: stamp ^ lecture.interaction.filter as u64,
                        };
                        let cell = small / map.nrows().max(map.ncols()).max(1) as f32;
                        heatmap::map_ui(ui, textures, &view, &scale, cell, &|r, c, v| {
                            format!("({r}, {c}): {}", fmt(v))
                        });
                    }
                    ui.label(RichText::new("hidden neurons of this tile, one per window").strong());
                    if let Some(grid) = &hidden {
                        let scale = Scale::non_negative("σ(ε − d_T)", grid);
                        let view = MapView {
                            title: "hidden".into(),
                            values: grid.view(),
                            key: "lecture n1 hidden".into(),
                            stamp,
                        };
                        let cell = small / grid.nrows().max(grid.ncols()).max(1) as f32;
                        let detector = net.detectors.tiles.iter().find(|d| d.tile == id);
                        let meaning = |r: usize, c: usize, v: f32| {
                            let unit = detector.and_then(|d| d.unit(r, c)).unwrap_or(0);
                            format!("{}\nvalue {}", net.network.meaning(net.detectors.layer, unit), fmt(v))
                        };
                        let drawn = heatmap::map_ui(ui, textures, &view, &scale, cell, &meaning);
                        if let Some((i, j, _, _)) = lecture.interaction.field {
                            heatmap::outline_cells(
                                &ui.painter_at(drawn.rect.expand(3.0)),
                                drawn.rect,
                                cell,
                                (i, j, 1, 1),
                                WINDOW,
                            );
                        }
                        field = drawn.hit.map(|h| (h.row, h.col, k, l));
                        heatmap::scale_ui(ui, &scale);
                    }
                });
            });
            if field.is_some() || !lecture.playing {
                lecture.interaction.field = field.or(lecture.interaction.field);
            }
        },
        |ui, (lecture, _)| {
            let field = lecture.interaction.field.map(|(i, j, _, _)| (i, j));
            let facts = N1Facts { report: &report, tile: id, field, hidden: hidden.as_ref(), direct: &direct };
            n1_notes_ui(ui, &facts, &forward.logits(), &names);
        },
    );
}

/// The followed filter's map on the input: from the forward pass when it kept the layer, else
/// computed as a window (`None` meanwhile).
fn filter_map(
    (app, lecture): (&AppState, &LectureState),
    net: &Constructed,
    forward: &Forward,
    layer: usize,
    commands: &mut Vec<Command>,
) -> Option<Array2<f32>> {
    let filter = lecture.interaction.filter;
    if let Some(kept) = forward.layer(layer) {
        return channel_map(kept, filter);
    }
    let Some(&Shape::Map { rows, cols, .. }) = net.network.shapes().get(layer) else { return None };
    let window = LayerWindow { layer, channels: vec![filter], rows: 0..rows, cols: 0..cols };
    let parts = lecture.data.windows(app, Which::N1, vec![window.clone()], commands)?;
    let values = parts.values.first().filter(|_| parts.windows.first() == Some(&window))?;
    Some(values.maps.index_axis(ndarray::Axis(0), 0).to_owned())
}

/// The neuron in focus in step 4: the animation's, else the one pointed at, else the tile's window.
fn update_field(ctx: &egui::Context, lecture: &mut LectureState, hidden: Option<&Array2<f32>>, (k, l): (usize, usize)) {
    if let (Some(t), Some(grid)) = (lecture.animation_seconds(ctx), hidden) {
        let index = (t * NEURONS_PER_SECOND) as usize % grid.len().max(1);
        let (i, j) = (index / grid.ncols().max(1), index % grid.ncols().max(1));
        lecture.interaction.field = Some((i, j, k, l));
    }
    if lecture.interaction.field.is_none() {
        lecture.interaction.field =
            lecture.data.input.as_ref().and_then(|i| i.followed()).map(|p| (p.row, p.col, p.rows, p.cols));
    }
}

/// What step 4's explanation column shows about N1.
struct N1Facts<'a> {
    report: &'a FilterReport,
    tile: TileId,
    /// The neuron `(i, j)` pointed at.
    field: Option<(usize, usize)>,
    hidden: Option<&'a Array2<f32>>,
    direct: &'a [f32],
}

/// Step 4's explanation: the filter count against the bound, the hidden neuron, the logits.
fn n1_notes_ui(ui: &mut egui::Ui, facts: &N1Facts<'_>, logits: &[f32], names: &[String]) {
    let report = facts.report;
    formula(ui, "layer 1: 2×2 conv, σ(2x − 2c) and σ(x)");
    note(
        ui,
        format!(
            "One value filter A_(q,c) per kernel position q and distinct support value c, and one identity filter A_(q,id) per q: {} filters.",
            report.filters
        ),
    );
    if let Some(per_tile) = report.per_tile.iter().find(|t| t.tile == facts.tile) {
        formula(ui, &format!("this tile reads {} ≤ 4(|supp t| + 1) = {}", per_tile.read, per_tile.bound));
    }
    formula(ui, &format!("whole set: {} ≤ 4(Σ|supp t| + 1) = {}", report.filters, report.set_bound));
    ui.add_space(6.0);
    formula(ui, "layer 2: h_(T,i,j) = σ(ε − Σ_S |x − t|)");
    note(
        ui,
        "Each |x − t| is σ(2x − 2c) − σ(x) + c from the two filters: one hidden neuron per tile and window, firing only where that window holds the tile (monosemantic).",
    );
    if let Some((i, j)) = facts.field
        && let Some(v) = facts.hidden.and_then(|g| g.get([i, j]))
    {
        formula(ui, &format!("neuron (i, j) = ({i}, {j}): {}", fmt(*v)));
    }
    ui.add_space(6.0);
    formula(ui, "logit = Σ_(i,j) h_(T,i,j) = φ_T(x)");
    let class = facts.tile.class;
    if let (Some(n1), Some(phi)) = (logits.get(class), facts.direct.get(class)) {
        formula(ui, &format!("N1: {}   direct φ: {}", fmt(*n1), fmt(*phi)));
    }
    logits_chart(ui, "lecture n1 logits", names, facts.direct, logits, "N1");
}

/// For each N2 block level, the channel of each of the tile's aligned blocks (`None`: empty block).
pub fn tile_blocks(net: &Constructed, tile: TileId) -> Vec<Array2<Option<usize>>> {
    let side = net.blocks.last().map_or(2, |b| b.size);
    net.blocks
        .iter()
        .map(|level| {
            let n = (side / level.size).max(1);
            let mut grid = Array2::from_elem((n, n), None);
            for (channel, block) in level.channels.iter().enumerate() {
                for place in block.places.iter().filter(|p| p.tile == tile) {
                    if let Some(cell) = grid.get_mut([place.row / level.size, place.col / level.size]) {
                        *cell = Some(channel);
                    }
                }
            }
            grid
        })
        .collect()
}

/// The value of level `level` (index into `net.blocks`) channel `channel` at `(y, x)` of a kept
/// forward pass.
fn block_value(net: &Constructed, forward: &Forward, level: usize, channel: usize, y: usize, x: usize) -> Option<f32> {
    match forward.layer(net.blocks.get(level)?.layer)? {
        Activation::Map(map) => map.get([channel, y, x]).copied(),
        Activation::Vector(_) => None,
    }
}

/// Per block level, the window of the tile's channels over the `side×side` window at `at`: what
/// step 5 reads when the forward pass did not keep the block layers.
/// Each level's mosaic over the tile's `window`: every block's distance to the tile's block, from
/// the layers the pass kept or else from the windows computed in the background.
fn block_mosaics(
    net: &Constructed,
    forward: &Forward,
    parts: Option<&WindowParts>,
    grids: &[Array2<Option<usize>>],
    window: (usize, usize),
) -> Vec<Array2<Option<f32>>> {
    let value = |level: usize, channel: usize, y: usize, x: usize| match parts {
        Some(parts) => parts.value(net.blocks[level].layer, channel, y, x),
        None => block_value(net, forward, level, channel, y, x),
    };
    grids
        .iter()
        .enumerate()
        .map(|(level, grid)| {
            let size = net.blocks[level].size;
            Array2::from_shape_fn(grid.dim(), |(a, b)| {
                grid[[a, b]].and_then(|ch| value(level, ch, window.0 + a * size, window.1 + b * size))
            })
        })
        .collect()
}

fn block_windows(net: &Constructed, grids: &[Array2<Option<usize>>], at: (usize, usize)) -> Vec<LayerWindow> {
    let side = net.blocks.last().map_or(2, |b| b.size);
    net.blocks
        .iter()
        .zip(grids)
        .map(|(level, grid)| {
            let mut channels: Vec<usize> = grid.iter().flatten().copied().collect();
            channels.sort_unstable();
            channels.dedup();
            LayerWindow { layer: level.layer, channels, rows: at.0..at.0 + side, cols: at.1..at.1 + side }
        })
        .collect()
}

/// A block under the pointer: level index, block row and column.
type BlockHit = (usize, usize, usize);

/// Draws one level's mosaic: each of the tile's blocks coloured by its distance; returns the hovered block.
fn mosaic_ui(
    ui: &mut egui::Ui,
    values: &Array2<Option<f32>>,
    scale: &Scale,
    side: f32,
    focus: bool,
    highlighted: &[(usize, usize)],
) -> (Option<(usize, usize)>, egui::Response) {
    let n = values.nrows().max(1);
    let cell = side / n as f32;
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    let painter = ui.painter_at(rect.expand(4.0));
    for ((r, c), value) in values.indexed_iter() {
        let min = rect.min + Vec2::new(c as f32, r as f32) * cell;
        let cell_rect = Rect::from_min_size(min, Vec2::splat(cell)).shrink(if n > 8 { 0.0 } else { 1.0 });
        let color = value.map_or(EMPTY_BLOCK, |v| scale.color(v));
        painter.rect_filled(cell_rect, 0.0, color);
    }
    for &(r, c) in highlighted {
        heatmap::outline_cells(&painter, rect, cell, (r, c, 1, 1), CHILD);
    }
    if focus {
        painter.rect_stroke(rect.expand(3.0), 0.0, egui::Stroke::new(3.0, WINDOW), egui::StrokeKind::Outside);
    }
    let hovered = response.hover_pos().and_then(|pos: Pos2| {
        let offset = pos - rect.min;
        let (r, c) = ((offset.y / cell) as usize, (offset.x / cell) as usize);
        (r < n && c < n).then_some((r, c))
    });
    if let Some((r, c)) = hovered {
        heatmap::outline_cells(&painter, rect, cell, (r, c, 1, 1), WINDOW);
    }
    (hovered, response)
}

/// Step 5: N2 layer by layer on the followed tile's window: a mosaic per layer, each block's value
/// the distance of the image block to the tile block; hovering a block highlights its four quadrants.
pub fn n2_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let Some(id) = followed_tile(app, lecture.interaction.tile) else { return };
    let ctx = ui.ctx().clone();
    let net = data::network(app, Which::N2, commands);
    let forward = lecture.data.forward(app, Which::N2, commands);
    let (Some(net), Some(forward)) = (net, forward) else {
        live_input(ui, app, lecture, textures, 260.0, &[]);
        waiting_ui(ui, app, Which::N2);
        return;
    };
    let levels = net.blocks.len().max(1);
    if let Some(t) = lecture.animation_seconds(&ctx) {
        lecture.interaction.level = 1 + (t / SECONDS_PER_LEVEL) as usize % levels;
    }
    lecture.interaction.level = lecture.interaction.level.clamp(1, levels);
    let Some(tile) = app.classes.tile(id).cloned() else { return };
    let window = n2_window(app, lecture, &tile);
    let grids = tile_blocks(&net, id);
    let kept = net.blocks.iter().all(|b| forward.layer(b.layer).is_some());
    let parts =
        if kept { None } else { lecture.data.windows(app, Which::N2, block_windows(&net, &grids, window), commands) };
    let values = block_mosaics(&net, &forward, parts.as_ref(), &grids, window);
    let all: Vec<f32> = values.iter().flat_map(|v| v.iter().flatten().copied()).collect();
    // At least up to ε, so that a matching window (distances near 0) reads as dark everywhere.
    let mut scale = Scale::non_negative("distance", &all);
    scale.high = scale.high.max(tile.epsilon());
    let hover = lecture.interaction.block;
    let children: Vec<(usize, usize, usize)> = hover
        .filter(|&(level, _, _)| level > 0)
        .map(|(level, a, b)| (0..4).map(|q| (level - 1, 2 * a + q / 2, 2 * b + q % 2)).collect())
        .unwrap_or_default();
    let field = hover.map(|(level, a, b)| {
        let size = net.blocks[level].size;
        (window.0 + a * size, window.1 + b * size, size, size)
    });
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, _)| {
            tile_picker(ui, app, &mut lecture.interaction.tile);
            let mut new_hover: Option<BlockHit> = None;
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("input x, tile window").strong());
                    let side = (ui.available_width() * 0.4).clamp(140.0, 280.0);
                    let mut outlines = vec![((window.0, window.1, tile.rows(), tile.cols()), WINDOW)];
                    outlines.extend(field.map(|f| (f, CHILD)));
                    if let Some((row, col)) = live_input(ui, app, lecture, textures, side, &outlines) {
                        lecture.interaction.window = Some((row, col));
                    }
                    if ui.button("Window on the tile").clicked() {
                        lecture.interaction.window = None;
                    }
                });
            });
            ui.add_space(8.0);
            ui.horizontal_top(|ui| {
                let available = ui.available_width();
                let side = ((available - 24.0 * levels as f32) / levels as f32).clamp(60.0, 220.0);
                for (level, mosaic) in values.iter().enumerate() {
                    ui.vertical(|ui| {
                        let size = net.blocks[level].size;
                        ui.label(RichText::new(format!("layer {}: {size}×{size}", level + 1)).strong());
                        let lit: Vec<(usize, usize)> =
                            children.iter().filter(|c| c.0 == level).map(|&(_, r, c)| (r, c)).collect();
                        let focus = level + 1 == lecture.interaction.level;
                        let (hit, response) = mosaic_ui(ui, mosaic, &scale, side, focus, &lit);
                        let label = format!("N2 layer {} blocks", level + 1);
                        response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &label));
                        if let Some((a, b)) = hit {
                            new_hover = Some((level, a, b));
                        }
                        ui.label(format!("{} channels", net.blocks[level].channels.len()));
                    });
                }
            });
            heatmap::scale_ui(ui, &scale);
            if new_hover != lecture.interaction.block {
                ui.ctx().request_repaint();
            }
            lecture.interaction.block = new_hover;
            if let Some((level, _, _)) = new_hover {
                lecture.interaction.level = level + 1;
            }
        },
        |ui, (lecture, _)| {
            // φ from the pass (of the same input as N2's logit), not computed in the frame.
            let logits = (forward.logits().get(id.class).copied(), forward.direct.get(id.class).copied());
            n2_notes_ui(ui, &net, &values, &grids, (lecture.interaction.level, hover), logits);
        },
    );
}

/// The window step 5 shows: the one clicked (steps 2 and 5), else where the followed tile was
/// pasted, else the best match.
fn n2_window(app: &AppState, lecture: &LectureState, tile: &crate::core::tile::Tile) -> (usize, usize) {
    let (height, width) = super::data::image_size(app);
    let clicked = lecture.interaction.window.filter(|&(i, j)| i + tile.rows() <= height && j + tile.cols() <= width);
    let input = lecture.data.input.as_ref();
    clicked
        .or_else(|| input.and_then(|i| i.followed()).map(|p| (p.row, p.col)))
        .unwrap_or_else(|| input.map_or((0, 0), |i| best_window(&detect::distance_map(tile, i.image.view()))))
}

/// Step 5's explanation: the recursion, the channel count per layer, the hovered block, the logit.
fn n2_notes_ui(
    ui: &mut egui::Ui,
    net: &Constructed,
    values: &[Array2<Option<f32>>],
    grids: &[Array2<Option<usize>>],
    (focus, hover): (usize, Option<BlockHit>),
    (n2, phi): (Option<f32>, Option<f32>),
) {
    formula(ui, "D_s(P) = Σ_quadrants D_(s−1)(P_q)");
    note(
        ui,
        "Layer s holds, for every 2^s×2^s block P of the tiles (duplicates merged, empty blocks dropped), the distance of each image window to P: a 2×2 kernel with dilation 2^(s−1) adds the four quadrant channels of layer s − 1.",
    );
    ui.add_space(4.0);
    for (level, block) in net.blocks.iter().enumerate() {
        let used = grids[level].iter().flatten().count();
        let text = format!("layer {}: {} channels ({used} for this tile)", level + 1, block.channels.len());
        let strong = level + 1 == focus;
        ui.label(if strong { RichText::new(text).strong().color(WINDOW) } else { RichText::new(text) });
    }
    ui.add_space(6.0);
    match hover {
        Some(hit) => hovered_block_ui(ui, net, values, grids, hit),
        None => note(
            ui,
            "Point at a block to see its meaning and the four channels it adds up; click the image to move the window.",
        ),
    }
    ui.add_space(6.0);
    formula(ui, "detector: σ(ε − D_r(T))");
    if let (Some(n2), Some(phi)) = (n2, phi) {
        formula(ui, &format!("N2: {}   direct φ: {}", fmt(n2), fmt(phi)));
    }
}

/// The hovered block: its meaning, value, and the sum of its four quadrants.
fn hovered_block_ui(
    ui: &mut egui::Ui,
    net: &Constructed,
    values: &[Array2<Option<f32>>],
    grids: &[Array2<Option<usize>>],
    (level, a, b): BlockHit,
) {
    let Some(channel) = grids.get(level).and_then(|g| g.get([a, b]).copied().flatten()) else {
        note(ui, "An empty block (no pixel of the support): it gets no channel.");
        return;
    };
    let layer = net.blocks[level].layer;
    note(ui, net.network.meaning(layer, channel));
    let value = values[level][[a, b]].unwrap_or(f32::NAN);
    if level == 0 {
        formula(ui, &format!("= {}  (4 pixels through layer 0)", fmt(value)));
        return;
    }
    let parts: Vec<String> = (0..4)
        .map(|q| values[level - 1].get([2 * a + q / 2, 2 * b + q % 2]).copied().flatten().map_or("·".to_owned(), fmt))
        .collect();
    formula(ui, &format!("{} = {}", fmt(value), parts.join(" + ")));
    note(ui, "The four highlighted blocks one layer down are the channels this one adds (· = empty quadrant).");
}

/// `min(a, b)` as the network computes it: `σ(a) − σ(a − b)` (exact for `a ≥ 0`).
pub fn relu_min(a: f32, b: f32) -> f32 {
    relu(a) - relu(a - b)
}

/// Step 6: the features of every class on the input, their min, and the min identity plotted.
pub fn objects_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let n1 = data::network(app, Which::N1, commands);
    let logits = lecture.data.forward(app, Which::N1, commands).map(|f| f.logits());
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, _)| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    tile_picker(ui, app, &mut lecture.interaction.tile);
                    live_input(ui, app, lecture, textures, 220.0, &[]);
                });
                ui.vertical(|ui| {
                    let Some(input) = lecture.data.input.as_ref() else { return };
                    egui::Grid::new("lecture objects").striped(true).show(ui, |ui| {
                        for header in ["class", "features φ_F(x)", "min", "N1 logit"] {
                            ui.label(RichText::new(header).strong());
                        }
                        ui.end_row();
                        for (c, object) in app.classes.classes.iter().enumerate() {
                            let phis: Vec<String> = object
                                .features
                                .iter()
                                .map(|f| format!("{} {}", f.name, fmt(detect::phi_feature(f, input.image.view()))))
                                .collect();
                            ui.label(&object.name);
                            ui.label(phis.join(",  "));
                            ui.label(fmt(detect::phi_object(object, input.image.view())));
                            ui.label(logits.as_ref().and_then(|l| l.get(c)).map_or("…".to_owned(), |v| fmt(*v)));
                            ui.end_row();
                        }
                    });
                });
            });
            let b = lecture.interaction.b;
            let curve = |f: &dyn Fn(f32) -> f32| sampled_curve(3.0 * b.max(0.1), f);
            let height = (ui.available_height() - 40.0).clamp(140.0, 320.0);
            Plot::new("lecture min")
                .height(height)
                .legend(Legend::default())
                .x_axis_label("a")
                .include_y(0.0)
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .show(ui, |plot| {
                    plot.line(Line::new("min(a, b)", curve(&|a| a.min(b))).width(6.0).color(Color32::from_gray(150)));
                    plot.line(Line::new("σ(a) − σ(a − b)", curve(&|a| relu_min(a, b))).width(2.5).color(WINDOW));
                });
            ui.add(egui::Slider::new(&mut lecture.interaction.b, 0.0..=5.0).text("b"));
        },
        |ui, (_, commands)| {
            formula(ui, "φ_O(x) = min_(F∈O) φ_F(x)");
            note(
                ui,
                "An object is a set of features (each a set of alternative tiles); it is present when every feature is.",
            );
            formula(ui, "min(a, b) = σ(a) − σ(a − b)   (a, b ≥ 0)");
            note(
                ui,
                "One ReLU layer halves the number of values per class (an odd one is carried as σ(a) = a): m features need ceil(log₂ m) min-layers.",
            );
            ui.add_space(6.0);
            if let Some(net) = &n1 {
                note(ui, "N1's output head:");
                for row in net.network.report().iter().skip(net.detectors.layer + 1) {
                    ui.label(RichText::new(format!("• {} ({} units)", row.name, row.units)).small());
                }
            }
            if app.classes.max_features() < 2 {
                ui.add_space(6.0);
                note(ui, "Every class here has one feature, so no min-layer is needed.");
                if ui.button("Load the two-feature example").clicked() {
                    commands.push(Command::AskLoadPreset(Preset::TwoFeatures));
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::construct::{build_n1, build_n2};
    use crate::core::presets;

    #[test]
    fn the_relu_min_is_the_min_for_non_negative_inputs() {
        for (a, b) in [(0.0, 0.0), (1.0, 2.0), (2.0, 1.0), (3.5, 3.5), (0.0, 4.0)] {
            assert!((relu_min(a, b) - f32::min(a, b)).abs() < 1e-6, "({a}, {b})");
        }
    }

    #[test]
    fn tile_blocks_cover_the_support_and_sum_up() {
        let classes = presets::two_feature_example();
        let net = build_n2(&classes, 12, 12).unwrap();
        let mouth = TileId { class: 0, feature: 1, tile: 0 };
        let grids = tile_blocks(&net, mouth);
        assert_eq!(grids.len(), net.blocks.len());
        // The 2×4 mouth padded to 4×4: its top two 2×2 blocks hold pixels, the bottom two are empty.
        assert_eq!(grids[0].dim(), (2, 2));
        assert!(grids[0][[0, 0]].is_some() && grids[0][[0, 1]].is_some());
        assert!(grids[0][[1, 0]].is_none() && grids[0][[1, 1]].is_none());
        assert!(grids[1][[0, 0]].is_some());
        // Level 2's channel adds exactly the two non-empty quadrants of level 1.
        let top = grids[1][[0, 0]].unwrap();
        let quadrants = net.blocks[1].channels[top].quadrants;
        assert_eq!(quadrants, [grids[0][[0, 0]], grids[0][[0, 1]], None, None]);
        // On an image, the top block's value is the sum of its quadrants' values.
        let mut image = Array2::from_elem((12, 12), 0.3_f32);
        crate::core::dataset::paste(&mut image, classes.tile(mouth).unwrap(), 3, 5);
        let forward = Forward::new(0, net.network.forward(image.view()).unwrap().layers, Vec::new());
        let (i, j) = (2, 1);
        let parent = block_value(&net, &forward, 1, top, i, j).unwrap();
        let left = block_value(&net, &forward, 0, quadrants[0].unwrap(), i, j).unwrap();
        let right = block_value(&net, &forward, 0, quadrants[1].unwrap(), i, j + 2).unwrap();
        assert!((parent - (left + right)).abs() < 1e-5, "{parent} vs {left} + {right}");
        // The windows step 5 asks for on images too large to keep hold the same values.
        let parts = net.network.windows(image.view(), &block_windows(&net, &grids, (i, j))).unwrap();
        for (level, grid) in grids.iter().enumerate() {
            let window = &block_windows(&net, &grids, (i, j))[level];
            for ((a, b), channel) in grid.indexed_iter() {
                let Some(channel) = *channel else { continue };
                let size = net.blocks[level].size;
                let index = window.channels.iter().position(|&c| c == channel).unwrap();
                let (y, x) = (i + a * size, j + b * size);
                assert_eq!(parts[level].at(index, y, x), block_value(&net, &forward, level, channel, y, x));
            }
        }
    }

    #[test]
    fn the_detector_grid_is_the_direct_detector_map() {
        let classes = presets::fashion_three();
        let net = build_n1(&classes, 36, 34).unwrap();
        let id = TileId { class: 2, feature: 0, tile: 0 };
        let mut image = Array2::from_elem((36, 34), 0.5_f32);
        crate::core::dataset::paste(&mut image, classes.tile(id).unwrap(), 4, 2);
        let activations = net.network.forward(image.view()).unwrap();
        let grid = detector_grid(&net, &activations.layers[net.detectors.layer], id).unwrap();
        let direct = detect::detector_map(classes.tile(id).unwrap(), image.view());
        assert_eq!(grid.dim(), direct.dim());
        for (a, b) in grid.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
        assert!(grid[[4, 2]] > 0.0, "the pasted window fires");
    }
}
