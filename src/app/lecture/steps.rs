//! Steps 1–3 of the lecture: a tile with its support and ε; template matching (the window sliding
//! over the image, `d_T` per window, `φ_T`); the identity `|y − c| = σ(2y − 2c) − σ(y) + c`.
//! Also the small pieces every step uses: the explanation column and formula lines.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, LineStyle, Plot, PlotPoints};
use ndarray::Array2;

use crate::app::command::{Command, Edit};
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap::{self, MapView, Scale};
use crate::core::detect::{self, relu};
use crate::core::tile::TileId;

use super::LectureState;
use super::data::followed_tile;
use super::input::{LectureInput, input_ui};

/// Colour of the window / highlighted receptive field.
pub const WINDOW: Color32 = Color32::from_rgb(255, 60, 40);
/// Colour of the four contributing channels / secondary highlights.
pub const CHILD: Color32 = Color32::from_rgb(40, 200, 255);
/// Width of the explanation column, as a fraction of the page.
const EXPLANATION_FRACTION: f32 = 0.36;
/// Points per formula glyph size.
const FORMULA_SIZE: f32 = 17.0;
/// Windows per second while the matching animation plays (a whole sweep takes ~10 s or more).
const MIN_WINDOWS_PER_SECOND: f64 = 12.0;

/// `f` sampled at 201 evenly spaced points of `[0, x_max]`, for a plotted curve.
pub fn sampled_curve(x_max: f32, f: &dyn Fn(f32) -> f32) -> PlotPoints<'static> {
    let samples = 200;
    (0..=samples)
        .map(|k| {
            let x = k as f32 / samples as f32 * x_max;
            [f64::from(x), f64::from(f(x))]
        })
        .collect::<Vec<_>>()
        .into()
}

/// A formula line: monospace, larger, strong; in a narrow column it shrinks (down to the body
/// size) rather than wrapping mid-expression.
pub fn formula(ui: &mut egui::Ui, text: &str) {
    let body = egui::TextStyle::Body.resolve(ui.style()).size;
    let natural = ui.painter().layout_no_wrap(text.to_owned(), egui::FontId::monospace(FORMULA_SIZE), Color32::WHITE);
    let available = ui.available_width();
    let width = natural.size().x;
    // 2% slack: glyph positions are rounded to pixels, so widths do not scale exactly.
    let size = if width <= available { FORMULA_SIZE } else { (FORMULA_SIZE * available / width * 0.98).max(body) };
    ui.label(RichText::new(text).monospace().size(size).strong());
}

/// A paragraph of explanation (wrapped).
pub fn note(ui: &mut egui::Ui, text: impl Into<String>) {
    ui.add(egui::Label::new(text.into()).wrap());
}

/// Lays out a step: the live view on the left, the explanation column on the right.
pub fn two_columns<S: ?Sized>(
    ui: &mut egui::Ui,
    state: &mut S,
    visual: impl FnOnce(&mut egui::Ui, &mut S),
    explanation: impl FnOnce(&mut egui::Ui, &mut S),
) {
    let width = ui.available_width();
    let right = (width * EXPLANATION_FRACTION).max(220.0);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width((width - right - 16.0).max(200.0));
            visual(ui, state);
        });
        ui.separator();
        ui.vertical(|ui| {
            ui.set_width(right - 8.0);
            egui::ScrollArea::vertical().id_salt("lecture explanation").show(ui, |ui| explanation(ui, state));
        });
    });
}

/// A picker of the tile the lecture follows (every tile of the set, by its label).
pub fn tile_picker(ui: &mut egui::Ui, app: &AppState, picked: &mut Option<TileId>) {
    let current = followed_tile(app, *picked);
    let text = current.map_or_else(|| "no tile".to_owned(), |id| app.classes.tile_label(id));
    egui::ComboBox::from_label("Tile").selected_text(text).show_ui(ui, |ui| {
        for (id, _) in app.classes.tiles() {
            if ui.selectable_label(current == Some(id), app.classes.tile_label(id)).clicked() {
                *picked = Some(id);
            }
        }
    });
}

/// Draws the lecture input with outlines; applies tile drags and returns the clicked pixel.
pub fn live_input(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    side: f32,
    outlines: &[(heatmap::CellRect, Color32)],
) -> Option<(usize, usize)> {
    let tile = followed_tile(app, lecture.interaction.tile)?;
    let data = &mut lecture.data;
    if data.ensure_input(app, tile).is_none() {
        let error = data.input_error.as_ref().map_or("no input image", |(_, e)| e.as_str());
        ui.colored_label(theme::ERROR, error);
        return None;
    }
    let mut events = None;
    if let Some(input) = &data.input {
        events = Some(input_ui(ui, textures, input, app.session.rendering, side, outlines, &mut data.drag));
    }
    ui.horizontal(|ui| {
        if ui.button("New image").on_hover_text("Draw a new background and new positions").clicked() {
            data.seed = data.seed.wrapping_add(1);
        }
        ui.weak("drag a tile to move it");
    });
    let events = events?;
    if let Some(drag) = events.dragged {
        let stamp = data.next_stamp();
        if let Some(input) = &mut data.input {
            input.move_to(&app.classes, drag.placement, drag.to.0, drag.to.1, stamp);
        }
    }
    events.clicked
}

/// Step 1: the tile big, its support mask, ε with a slider, and what they mean.
pub fn tile_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let Some(id) = followed_tile(app, lecture.interaction.tile) else {
        ui.label("The tile set is empty: add a tile in the editor first.");
        return;
    };
    let Some(tile) = app.classes.tile(id).cloned() else { return };
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, _)| {
            tile_picker(ui, app, &mut lecture.interaction.tile);
            let side = (ui.available_width() / 2.0 - 12.0).clamp(120.0, 360.0);
            let stamp = app.classes_version ^ (app.session.rendering as u64) << 40;
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("t (pixels outside S tinted)").strong());
                    let texture = textures.get(ui.ctx(), &format!("lecture tile {id:?}"), stamp, || {
                        theme::tile_image(tile.values().view(), tile.support().view(), app.session.rendering, true)
                    });
                    ui.add(
                        egui::Image::new(&texture)
                            .fit_to_exact_size(theme::fit_within((tile.rows(), tile.cols()), side)),
                    );
                });
                ui.vertical(|ui| {
                    ui.label(RichText::new("S: the support (white = counts)").strong());
                    let mask = tile.support().mapv(|s| f32::from(u8::from(s)));
                    let texture = textures.get(ui.ctx(), &format!("lecture support {id:?}"), stamp, || {
                        theme::grey_image(mask.view(), theme::Rendering::OneIsBright)
                    });
                    ui.add(
                        egui::Image::new(&texture)
                            .fit_to_exact_size(theme::fit_within((tile.rows(), tile.cols()), side)),
                    );
                });
            });
        },
        |ui, (_, commands)| {
            let support = tile.support_len();
            let eps = tile.epsilon();
            note(ui, format!("Tile {}:", app.classes.tile_label(id)));
            note(ui, format!("t: {}×{} values in [0, 1]", tile.rows(), tile.cols()));
            note(ui, format!("S: the support, |S| = {support} of {} pixels", tile.rows() * tile.cols()));
            note(ui, format!("ε = {}: the largest total deviation still counted as the tile", fmt(eps)));
            if support > 0 {
                note(ui, format!("ε / |S| = {} per pixel on average", fmt(eps / support as f32)));
            }
            ui.add_space(8.0);
            formula(ui, "d_T(x,i,j) = Σ_(a,b)∈S |x[i+a, j+b] − t[a,b]|");
            formula(ui, "x contains T  ⇔  min_(i,j) d_T(x,i,j) < ε");
            ui.add_space(8.0);
            let mut epsilon = eps;
            let high = detect::max_distance(&tile).max(1.0);
            let slider = crate::app::widgets::number::slider(&mut epsilon, 1e-3..=high, "ε").logarithmic(true);
            if ui.add(slider).changed() {
                commands.push(Command::Edit(Edit::SetEpsilon { tile: id, epsilon }));
            }
            note(
                ui,
                "An exact paste has d_T = 0; ε above the largest possible distance would match every window of every image.",
            );
        },
    );
}

/// A compact number: 3 significant digits.
pub fn fmt(value: f32) -> String {
    heatmap::format_value(value)
}

/// The distance and detector maps of the followed tile on the input.
fn match_maps(app: &AppState, id: TileId, input: &LectureInput) -> Option<(Array2<f32>, Array2<f32>)> {
    let tile = app.classes.tile(id)?;
    let distance = detect::distance_map(tile, input.image.view());
    let detector = distance.mapv(|d| relu(tile.epsilon() - d));
    Some((distance, detector))
}

/// Row-major position `index` of a `rows×cols` grid.
fn grid_position(index: usize, cols: usize) -> (usize, usize) {
    (index / cols.max(1), index % cols.max(1))
}

/// The window shown: the animation's, the clicked one, or the best match.
fn shown_window(lecture: &LectureState, ctx: &egui::Context, distance: &Array2<f32>) -> (usize, usize) {
    let (rows, cols) = distance.dim();
    let count = rows * cols;
    if let Some(t) = lecture.animation_seconds(ctx) {
        let rate = (count as f64 / 12.0).max(MIN_WINDOWS_PER_SECOND);
        return grid_position((t * rate) as usize % count.max(1), cols);
    }
    if let Some((i, j)) = lecture.interaction.window.filter(|&(i, j)| i < rows && j < cols) {
        return (i, j);
    }
    best_window(distance)
}

/// The window with the smallest distance (first in row-major order on ties).
pub fn best_window(distance: &Array2<f32>) -> (usize, usize) {
    let cols = distance.ncols();
    let best = distance.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i);
    grid_position(best, cols)
}

/// Step 2: the input with the sliding window, the `d_T` map and the detector map, and the readout.
pub fn matching_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let Some(id) = followed_tile(app, lecture.interaction.tile) else {
        ui.label("The tile set is empty.");
        return;
    };
    let Some(tile) = app.classes.tile(id).cloned() else { return };
    if lecture.data.ensure_input(app, id).is_none() {
        live_input(ui, app, lecture, textures, 300.0, &[]);
        return;
    }
    let Some((distance, detector)) = lecture.data.input.as_ref().and_then(|input| match_maps(app, id, input)) else {
        return;
    };
    let (i, j) = shown_window(lecture, ui.ctx(), &distance);
    let d = distance.get([i, j]).copied().unwrap_or(f32::NAN);
    let eps = tile.epsilon();
    let stamp = lecture.data.input.as_ref().map_or(0, |x| x.stamp) ^ app.classes_version << 32;
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, _)| {
            tile_picker(ui, app, &mut lecture.interaction.tile);
            let side = (ui.available_width() * 0.5).clamp(160.0, 420.0);
            let window = ((i, j, tile.rows(), tile.cols()), WINDOW);
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("x with the window at (i, j)").strong());
                    if let Some((row, col)) = live_input(ui, app, lecture, textures, side, &[window]) {
                        let (rows, cols) = distance.dim();
                        lecture.interaction.window = Some((row.min(rows - 1), col.min(cols - 1)));
                    }
                });
                ui.vertical(|ui| {
                    let small = (ui.available_width() - 8.0).clamp(100.0, 240.0);
                    ui.label(RichText::new("d_T(x, i, j) for every window").strong());
                    let scale = Scale::non_negative("d_T", &distance);
                    let map =
                        MapView { title: "d_T".into(), values: distance.view(), key: "lecture distance".into(), stamp };
                    let cell = small / distance.nrows().max(distance.ncols()).max(1) as f32;
                    let drawn = heatmap::map_ui(ui, textures, &map, &scale, cell, &|r, c, v| {
                        format!("window ({r}, {c}): d_T = {}", fmt(v))
                    });
                    heatmap::outline_cells(
                        &ui.painter_at(drawn.rect.expand(3.0)),
                        drawn.rect,
                        cell,
                        (i, j, 1, 1),
                        WINDOW,
                    );
                    if let Some(hit) = drawn.hit.filter(|h| h.clicked) {
                        lecture.interaction.window = Some((hit.row, hit.col));
                    }
                    heatmap::scale_ui(ui, &scale);
                    ui.label(RichText::new("σ(ε − d_T): the detector map").strong());
                    let scale = Scale::non_negative("σ(ε − d_T)", &detector);
                    let map = MapView {
                        title: "detector".into(),
                        values: detector.view(),
                        key: "lecture detector".into(),
                        stamp: stamp ^ u64::from(eps.to_bits()),
                    };
                    heatmap::map_ui(ui, textures, &map, &scale, cell, &|r, c, v| {
                        format!("window ({r}, {c}): σ(ε − d_T) = {}", fmt(v))
                    });
                });
            });
            ui.horizontal(|ui| {
                if ui.button("Best window").clicked() {
                    lecture.interaction.window = None;
                }
                ui.weak("click a pixel or a map cell to move the window");
            });
        },
        |ui, _| {
            let (bi, bj) = best_window(&distance);
            let best = distance.get([bi, bj]).copied().unwrap_or(f32::NAN);
            let phi: f32 = detector.sum();
            note(ui, format!("The window of {} slides over every valid offset (i, j).", app.classes.tile_label(id)));
            formula(ui, &format!("window ({i}, {j}):  d_T = {}", fmt(d)));
            formula(ui, &format!("σ(ε − d_T) = σ({} − {}) = {}", fmt(eps), fmt(d), fmt(relu(eps - d))));
            ui.add_space(6.0);
            formula(ui, &format!("best window ({bi}, {bj}): d_T = {}", fmt(best)));
            let verdict = if best < eps { "< ε: x contains T" } else { "≥ ε: x does not contain T" };
            note(ui, verdict);
            ui.add_space(6.0);
            formula(ui, "φ_T(x) = Σ_(i,j) σ(ε − d_T(x,i,j))");
            formula(ui, &format!("φ_T(x) = {}", fmt(phi)));
            note(
                ui,
                "φ_T is positive exactly when some window is closer than ε: one number per tile, whatever the tile's position.",
            );
        },
    );
}

/// The play/pause toggle of the animation (in the lecture's top bar; P does the same).
pub fn play_button(ui: &mut egui::Ui, lecture: &mut LectureState) {
    let label = if lecture.playing { "Pause" } else { "Play" };
    if ui.button(label).on_hover_text("P").clicked() {
        lecture.toggle_play(ui.ctx());
    }
}

/// `σ(2y − 2c) − σ(y) + c`, the right-hand side of the identity.
pub fn identity_rhs(y: f32, c: f32) -> f32 {
    relu(2.0 * y - 2.0 * c) - relu(y) + c
}

/// The largest `| |y − c| − rhs(y, c) |` over `samples` values of `y` in [0, 1].
pub fn identity_error(c: f32, samples: usize) -> f32 {
    (0..=samples)
        .map(|k| {
            let y = k as f32 / samples.max(1) as f32;
            ((y - c).abs() - identity_rhs(y, c)).abs()
        })
        .fold(0.0, f32::max)
}

/// Step 3: the identity plotted for an adjustable `c`, with its two `ReLU` parts.
pub fn identity_ui(ui: &mut egui::Ui, lecture: &mut LectureState) {
    if let Some(t) = lecture.animation_seconds(ui.ctx()) {
        lecture.interaction.c = (0.5 + 0.45 * (t * 0.8).sin()) as f32;
    }
    let c = lecture.interaction.c;
    two_columns(
        ui,
        lecture,
        |ui, lecture| {
            let curve = |f: &dyn Fn(f32) -> f32| sampled_curve(1.0, f);
            let height = (ui.available_height() - 60.0).clamp(200.0, 520.0);
            Plot::new("lecture identity")
                .height(height)
                .legend(Legend::default())
                .x_axis_label("y (a pixel value)")
                .include_x(0.0)
                .include_x(1.0)
                .include_y(-1.0)
                .include_y(2.0)
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .show(ui, |plot| {
                    plot.line(
                        Line::new("σ(2y − 2c)", curve(&|y| relu(2.0 * y - 2.0 * c))).style(LineStyle::dashed_loose()),
                    );
                    plot.line(Line::new("−σ(y) + c", curve(&|y| c - relu(y))).style(LineStyle::dashed_loose()));
                    plot.line(
                        Line::new("|y − c|", curve(&|y| (y - c).abs())).width(6.0).color(Color32::from_gray(150)),
                    );
                    plot.line(
                        Line::new("σ(2y − 2c) − σ(y) + c", curve(&|y| identity_rhs(y, c))).width(2.5).color(WINDOW),
                    );
                });
            ui.add(egui::Slider::new(&mut lecture.interaction.c, 0.0..=1.0).text("c"));
        },
        |ui, _| {
            formula(ui, "|y − c| = σ(2y − 2c) − σ(y) + c");
            note(ui, "for every pixel value y ≥ 0 (σ = ReLU).");
            ui.add_space(6.0);
            note(ui, "y ≥ c:  (2y − 2c) − y + c = y − c");
            note(ui, "y < c:  0 − y + c = c − y");
            ui.add_space(6.0);
            note(
                ui,
                "So one ReLU of a 2×2 value filter (weight 2, bias −2c) and one identity filter σ(y) give |y − c| exactly: \
                 the distance d_T is a sum of such terms, and the detector σ(ε − d_T) is one more ReLU.",
            );
            ui.add_space(6.0);
            formula(ui, &format!("c = {c:.3}"));
            formula(ui, &format!("max error on [0, 1]: {:.1e}", identity_error(c, 1000)));
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_identity_holds_on_the_pixel_range() {
        for c in [0.0, 0.2, 0.5, 0.99, 1.0] {
            assert!(identity_error(c, 500) < 1e-6, "c = {c}");
        }
        assert!((identity_rhs(0.9, 0.4) - 0.5).abs() < 1e-6);
        assert!((identity_rhs(0.1, 0.4) - 0.3).abs() < 1e-6);
        // Below 0 the identity does not hold (σ(y) is 0 there): the plot stays on [0, 1].
        assert!((identity_rhs(-0.5, 0.4) - 0.9).abs() > 0.1);
    }

    #[test]
    fn the_best_window_is_the_smallest_distance() {
        let d = array![[3.0, 2.0, 5.0], [4.0, 0.5, 0.5]];
        assert_eq!(best_window(&d), (1, 1));
        assert_eq!(grid_position(5, 3), (1, 2));
    }
}
