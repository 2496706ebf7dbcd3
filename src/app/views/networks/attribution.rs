//! Where each side's class decision comes from on the input image: a method chooser (gradient,
//! gradient × input, integrated gradients with its steps and baseline, occlusion with its patch
//! size), the class attributed (the predicted one unless chosen), and per side a heat map over
//! the image (red raises the logit, blue lowers it) with the pasted tiles' windows outlined, the
//! largest attribution marked, and this image's pointing game and mass in window. The maps are
//! keyed jobs of the cache (`Command::Attribute`); a network without a backward pass says so and
//! offers occlusion.

use std::sync::Arc;

use egui::{Color32, ColorImage, Pos2, Rect, RichText, Sense, Vec2};
use ndarray::ArrayView2;

use super::input::InputImage;
use super::{BuildKey, LEFT_WIDTH, TrainedPass, net_key};
use crate::app::cache::{
    Attribution, AttributionKey, BaselineChoice, DeepKey, DeepPass, Explained, ExplainedId, MethodChoice, MethodKind,
    Side, image_key,
};
use crate::app::command::Command;
use crate::app::imported::ImportedNetwork;
use crate::app::state::AppState;
use crate::app::theme::{self, Rendering, TextureCache};
use crate::app::widgets::{heatmap, number};
use crate::core::construct::Constructed;
use crate::core::interpret::attribution::MAX_IG_STEPS;

/// Most integrated-gradients steps offered in the view (the core takes up to [`MAX_IG_STEPS`]).
const MAX_VIEW_STEPS: usize = 1000;

/// What the attribution section remembers between frames.
#[derive(Debug, Default)]
pub struct AttributionView {
    /// The method and its options.
    pub method: MethodChoice,
    /// The class attributed (`None`: each network's predicted class).
    pub class: Option<usize>,
}

/// The networks on the two sides, as the interpretability methods take them.
#[derive(Debug, Default, Clone)]
pub struct Sides {
    pub constructed: Option<Explained>,
    pub trained: Option<Explained>,
}

impl Sides {
    /// The networks present, constructed side first.
    pub fn present(&self) -> Vec<(Side, &Explained)> {
        let constructed = self.constructed.as_ref().map(|n| (Side::Constructed, n));
        constructed.into_iter().chain(self.trained.as_ref().map(|n| (Side::Trained, n))).collect()
    }
}

/// The two sides' networks: N1 or N2 once built; the opened ONNX model when it fits the images,
/// else the training run's paper CNN or deep network when their pass fits.
pub(super) fn sides(
    app: &AppState,
    key: BuildKey,
    constructed: Option<&Arc<Constructed>>,
    trained: Option<&TrainedPass>,
    deep: Option<&(DeepKey, Arc<DeepPass>)>,
    opened: Option<&Arc<ImportedNetwork>>,
) -> Sides {
    let constructed =
        constructed.map(|net| Explained::Constructed { which: key.3, key: net_key(key), net: Arc::clone(net) });
    let (height, width) = (app.session.dataset.height, app.session.dataset.width);
    let trained = match opened {
        Some(network) => {
            network.mismatch(height, width, &app.classes).is_none().then(|| Explained::Imported(Arc::clone(network)))
        }
        None => trained
            .map(|(cnn, _, (version, _))| Explained::Trained { version: *version, cnn: Arc::clone(cnn) })
            .or_else(|| {
                deep.map(|((version, ..), pass)| Explained::Deep { version: *version, net: Arc::clone(&pass.net) })
            }),
    };
    Sides { constructed, trained }
}

/// The collapsible attribution section under the input image.
pub fn section_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    (view, input): (&mut AttributionView, &InputImage),
    textures: &mut TextureCache,
    sides: &Sides,
    commands: &mut Vec<Command>,
) {
    egui::CollapsingHeader::new("Where the decision comes from").id_salt("attribution section").show(ui, |ui| {
        controls_ui(ui, app, view, input.image.dim());
        let present = sides.present();
        if present.is_empty() {
            ui.label("No network to attribute yet.");
            return;
        }
        let side_px = (LEFT_WIDTH - 40.0) / 2.0;
        ui.horizontal_top(|ui| {
            for (side, network) in present {
                ui.vertical(|ui| {
                    ui.set_width(side_px);
                    side_ui(ui, app, view, textures, (side, network), input, side_px, commands);
                });
            }
        });
    });
}

/// The method, its options and the class.
fn controls_ui(ui: &mut egui::Ui, app: &AppState, view: &mut AttributionView, (rows, cols): (usize, usize)) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Method:");
        for kind in MethodKind::ALL {
            ui.radio_value(&mut view.method.kind, kind, kind.label());
        }
    });
    if matches!(view.method.kind, MethodKind::IntegratedGradients | MethodKind::Occlusion) {
        options_ui(ui, &mut view.method, (rows, cols));
    }
    class_ui(ui, app, view);
}

/// The steps (integrated gradients) or patch size (occlusion), and the baseline.
fn options_ui(ui: &mut egui::Ui, method: &mut MethodChoice, (rows, cols): (usize, usize)) {
    ui.horizontal_wrapped(|ui| {
        match method.kind {
            MethodKind::IntegratedGradients => {
                ui.add(number::field(&mut method.steps).range(1..=MAX_VIEW_STEPS.min(MAX_IG_STEPS)).prefix("steps "))
                    .on_hover_text("Points on the straight path from the baseline to the image");
            }
            MethodKind::Occlusion => {
                ui.add(number::field(&mut method.patch).range(1..=rows.min(cols).max(1)).prefix("patch "))
                    .on_hover_text("Side of the square filled with the baseline, in pixels");
            }
            MethodKind::Gradient | MethodKind::GradientTimesInput => {}
        }
        ui.label("baseline:");
        ui.radio_value(&mut method.baseline, BaselineChoice::Black, "black");
        ui.radio_value(&mut method.baseline, BaselineChoice::MeanBackground, "mean background")
            .on_hover_text("The mean grey of the dataset's backgrounds, outside the pasted tiles");
    });
}

/// The class attributed: the predicted one, or one chosen.
fn class_ui(ui: &mut egui::Ui, app: &AppState, view: &mut AttributionView) {
    let class_name = |c: usize| app.classes.classes.get(c).map_or_else(|| format!("class {c}"), |o| o.name.clone());
    ui.horizontal(|ui| {
        ui.label("Class:");
        let shown = view.class.map_or_else(|| "predicted".to_owned(), class_name);
        egui::ComboBox::from_id_salt("attribution class").selected_text(shown).show_ui(ui, |ui| {
            ui.selectable_value(&mut view.class, None, "predicted");
            for c in 0..app.classes.len() {
                ui.selectable_value(&mut view.class, Some(c), class_name(c));
            }
        });
    });
}

/// The key of `network`'s attribution of the current input under the view's choices.
pub fn key_of(app: &AppState, view: &AttributionView, network: &Explained, input: &InputImage) -> AttributionKey {
    let method = view.method.normalised();
    let dataset = if method.uses_mean_background() { app.cache.dataset_generation() } else { 0 };
    AttributionKey { network: network.id(), image: image_key(&input.image), class: view.class, method, dataset }
}

/// True when a map of `done` may stand in for `wanted` while it is computed: the same input and
/// choices on the same network, or on newer weights of the same training run.
fn stands_in(done: &AttributionKey, wanted: &AttributionKey) -> bool {
    let same_network = match (&done.network, &wanted.network) {
        (ExplainedId::Trained(_), ExplainedId::Trained(_)) | (ExplainedId::Deep(_), ExplainedId::Deep(_)) => true,
        (a, b) => a == b,
    };
    same_network && (done.image, done.class, done.method) == (wanted.image, wanted.class, wanted.method)
}

#[allow(clippy::too_many_arguments)] // one side's drawing needs the view, the network and the input
fn side_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    view: &mut AttributionView,
    textures: &mut TextureCache,
    (side, network): (Side, &Explained),
    input: &InputImage,
    side_px: f32,
    commands: &mut Vec<Command>,
) {
    ui.label(RichText::new(network.name()).strong());
    let key = key_of(app, view, network, input);
    let maps = app.cache.attribution(side);
    if let Some(error) = maps.error(&key) {
        ui.colored_label(theme::ERROR, error);
        if view.method.kind.needs_backward() && ui.button("Use occlusion").clicked() {
            view.method.kind = MethodKind::Occlusion;
        }
        return;
    }
    if maps.needs(&key) {
        let image = Arc::new(input.image.clone());
        commands.push(Command::Attribute {
            side,
            key: key.clone(),
            network: network.clone(),
            image,
            placements: input.placements.clone(),
        });
    }
    let Some((done_key, result)) = maps.done().filter(|(k, _)| stands_in(k, &key)) else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("computing…");
        });
        return;
    };
    overlay_ui(ui, textures, side, input, result, app.session.rendering, side_px);
    let class_name =
        app.classes.classes.get(result.class).map_or_else(|| format!("class {}", result.class), |o| o.name.clone());
    let which = if result.class == result.predicted { "predicted" } else { "chosen" };
    ui.small(format!("class {class_name} ({which})"));
    ui.label(format!("pointing game: {}", if result.pointing_game { "hit" } else { "miss" }))
        .on_hover_text("Whether the largest absolute attribution lies inside a pasted tile's window");
    ui.label(format!("mass in window: {:.0} %", 100.0 * result.mass_in_window))
        .on_hover_text("The share of absolute attribution inside the pasted tiles' windows");
    if *done_key != key {
        ui.weak("updating…");
    }
}

/// The input in grey with the map over it, the pasted windows outlined and the largest attribution marked.
fn overlay_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    side: Side,
    input: &InputImage,
    result: &Attribution,
    rendering: Rendering,
    side_px: f32,
) {
    let (rows, cols) = result.map.dim();
    if input.image.dim() != (rows, cols) {
        return;
    }
    let cell = side_px / rows.max(cols).max(1) as f32;
    let (rect, response) = ui.allocate_exact_size(Vec2::new(cols as f32 * cell, rows as f32 * cell), Sense::hover());
    let name = match side {
        Side::Constructed => "attribution constructed",
        Side::Trained => "attribution trained",
    };
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, name));
    let stamp = result.stamp ^ input.stamp.rotate_left(17) ^ rendering as u64;
    let texture =
        textures.get(ui.ctx(), name, stamp, || overlay_image(input.image.view(), result.map.view(), rendering));
    let painter = ui.painter_at(rect.expand(3.0));
    painter.image(texture.id(), rect, Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)), Color32::WHITE);
    for p in &input.placements {
        heatmap::outline_cells(&painter, rect, cell, (p.row, p.col, p.rows, p.cols), theme::PLACEMENT_OUTLINE);
    }
    heatmap::outline_cells(&painter, rect, cell, (result.peak.0, result.peak.1, 1, 1), Color32::WHITE);
    response.on_hover_text("Red raises the class logit, blue lowers it; the white square is the largest attribution.");
}

/// Each pixel's grey mixed towards red (positive) or blue (negative) by its share of the largest
/// absolute attribution.
fn overlay_image(image: ArrayView2<f32>, map: ArrayView2<f32>, rendering: Rendering) -> ColorImage {
    let (rows, cols) = image.dim();
    let largest = map.iter().filter(|v| v.is_finite()).fold(0.0f32, |m, v| m.max(v.abs()));
    let pixels = image
        .iter()
        .zip(map.iter())
        .map(|(&x, &a)| {
            let share = if largest > 0.0 && a.is_finite() { a / largest } else { 0.0 };
            let tint = if share >= 0.0 { theme::ATTRIBUTION_POSITIVE } else { theme::ATTRIBUTION_NEGATIVE };
            let grey = f32::from(rendering.grey(x));
            let weight = share.abs();
            let mix = |channel: u8| (grey + (f32::from(channel) - grey) * weight).round() as u8;
            Color32::from_rgb(mix(tint.r()), mix(tint.g()), mix(tint.b()))
        })
        .collect();
    ColorImage::new([cols, rows], pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_overlay_is_grey_where_nothing_is_attributed_and_tinted_by_sign() {
        let image = array![[0.0f32, 1.0], [0.5, 0.5]];
        let map = array![[0.0f32, 0.0], [2.0, -1.0]];
        let drawn = overlay_image(image.view(), map.view(), Rendering::OneIsBright);
        assert_eq!(drawn.pixels[0], Color32::from_gray(0));
        assert_eq!(drawn.pixels[1], Color32::from_gray(255));
        assert_eq!(drawn.pixels[2], theme::ATTRIBUTION_POSITIVE, "the largest attribution is the full tint");
        let half = drawn.pixels[3];
        assert!(half.b() > half.r(), "a negative attribution leans blue: {half:?}");
    }

    #[test]
    fn a_map_stands_in_for_newer_weights_of_the_same_run_only() {
        let key = |network| AttributionKey {
            network,
            image: 7,
            class: None,
            method: MethodChoice::default().normalised(),
            dataset: 0,
        };
        assert!(stands_in(&key(ExplainedId::Trained(3)), &key(ExplainedId::Trained(4))));
        assert!(!stands_in(&key(ExplainedId::Imported(3)), &key(ExplainedId::Imported(4))));
        let other_image = AttributionKey { image: 8, ..key(ExplainedId::Trained(4)) };
        assert!(!stands_in(&key(ExplainedId::Trained(3)), &other_image));
    }
}
