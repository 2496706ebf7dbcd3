//! Drawings of a scattering network, shared by the networks view and the lecture: the wavelets
//! ψ_{j,θ} in space (real and imaginary parts), the maps `|x ⋆ ψ|` of orders 1 and 2 with their
//! meaning on hover, the coefficients after the low-pass, and the coefficients' selectivity.

use ndarray::{Array3, s};

use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap::{self, CellRect, MapView, Scale};
use crate::app::widgets::histogram;
use crate::core::scattering::Path;
use crate::core::scattering::maps::{Maps, SpatialWavelet};
use crate::core::scattering::transform::angle_degrees;
use crate::core::selectivity::ClassMaxima;

/// Side of one wavelet or order-1 map, in points.
pub const MAP_SIDE: f32 = 40.0;
/// Side of one order-2 map or coefficient map, in points.
pub const SMALL_SIDE: f32 = 30.0;

/// What the pointer is on: a sentence, and the input pixel it concerns (maps are input-sized).
pub type Pointed = (String, Option<CellRect>);

/// A texture stamp from any hashable key.
fn stamp_of(key: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

/// One row per scale: the real parts, then the imaginary parts, of ψ_{j,θ} for every θ.
pub fn wavelets_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    wavelets: &[SpatialWavelet],
    l: usize,
    with_imaginary: bool,
) -> Option<Pointed> {
    let parts: &[(bool, &str)] = if with_imaginary { &[(false, "Re"), (true, "Im")] } else { &[(false, "Re")] };
    let heading = if with_imaginary { "real part, imaginary part" } else { "real parts" };
    ui.label(egui::RichText::new(format!("Wavelets ψ_{{j,θ}} ({heading})")).strong());
    let scale = Scale::symmetric("ψ", wavelets.iter().flat_map(|w| w.real.iter().chain(w.imaginary.iter())));
    let stamp = stamp_of(&(wavelets.len(), l, wavelets.first().map(|w| w.real.dim())));
    // One row per scale: the drawings shrink to fit L of them across the column.
    let side = (ui.available_width() / l.max(1) as f32 - 12.0).clamp(12.0, MAP_SIDE);
    let mut hover = None;
    for &(part, name) in parts {
        let maps: Vec<MapView<'_>> = wavelets
            .iter()
            .map(|w| MapView {
                title: format!("{name} j{} {}°", w.j, angle_degrees(w.theta, l)),
                values: if part { w.imaginary.view() } else { w.real.view() },
                key: format!("scattering ψ {name} {} {}", w.j, w.theta),
                stamp,
            })
            .collect();
        let hit = heatmap::grid_ui(ui, textures, &maps, &scale, side, l.max(1), &|index, _, _, value| {
            let w = &wavelets[index];
            format!("{name} ψ: scale {}, angle {}°: {value:.4}", w.j, angle_degrees(w.theta, l))
        });
        if let Some(hit) = hit {
            let w = &wavelets[hit.map];
            hover = Some((
                format!("wavelet ψ, scale {}, angle {}° ({name} = {:.4})", w.j, angle_degrees(w.theta, l), hit.value),
                None,
            ));
        }
    }
    heatmap::scale_ui(ui, &scale);
    hover
}

/// The maps |x ⋆ ψ| (order 1) and ||x ⋆ ψ1| ⋆ ψ2| (order 2) of the input.
pub fn maps_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    maps: &Maps,
    (l, max_order): (usize, usize),
    stamp: u64,
) -> Option<Pointed> {
    let mut hover = None;
    let orders = [(1, "|x * ψ|", &maps.order1, MAP_SIDE), (2, "||x * ψ1| * ψ2|", &maps.order2, SMALL_SIDE)];
    for (order, formula, maps, side) in orders.into_iter().take(max_order) {
        if maps.is_empty() {
            continue;
        }
        ui.separator();
        ui.label(egui::RichText::new(format!("Order {order} maps {formula}")).strong());
        let scale = Scale::non_negative(formula, maps.iter().flat_map(|(_, m)| m.iter()));
        let views: Vec<MapView<'_>> = maps
            .iter()
            .enumerate()
            .map(|(i, (path, values))| MapView {
                title: short_title(path, l),
                values: values.view(),
                key: format!("scattering U{order} {i}"),
                stamp,
            })
            .collect();
        let columns = ((ui.available_width() / (side + 12.0)) as usize).clamp(1, l.max(1));
        let tooltip = |index: usize, row: usize, col: usize, value: f32| {
            format!("{}\n{formula} = {value:.4} at ({row}, {col})", maps[index].0.describe(l))
        };
        if let Some(hit) = heatmap::grid_ui(ui, textures, &views, &scale, side, columns, &tooltip) {
            let text = format!("order {order}: {} = {:.4}", maps[hit.map].0.describe(l), hit.value);
            hover = Some((text, Some((hit.row, hit.col, 1, 1))));
        }
        heatmap::scale_ui(ui, &scale);
    }
    hover
}

/// A map's title: its scales and angles, e.g. "j0 45°" or "j0 45°/j1 90°" (the UI font has no arrow).
fn short_title(path: &Path, l: usize) -> String {
    path.steps.iter().map(|&(j, theta)| format!("j{j} {}°", angle_degrees(theta, l))).collect::<Vec<_>>().join("/")
}

/// The coefficients: one small map per channel (order 0, 1, 2), the channel's meaning on hover.
pub fn coefficients_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    (coefficients, paths): (&Array3<f32>, &[Path]),
    l: usize,
    stamp: u64,
) -> Option<Pointed> {
    ui.separator();
    let (channels, rows, cols) = coefficients.dim();
    ui.label(egui::RichText::new(format!("Coefficients S: {channels} channels of {rows}×{cols}")).strong());
    let scale = Scale::non_negative("S", coefficients.iter());
    let views: Vec<MapView<'_>> = (0..channels)
        .map(|c| MapView {
            title: format!("S{c}"),
            values: coefficients.slice(s![c, .., ..]),
            key: format!("scattering S {c}"),
            stamp,
        })
        .collect();
    let columns = ((ui.available_width() / (SMALL_SIDE + 12.0)) as usize).max(1);
    let describe = |c: usize| paths.get(c).map_or_else(String::new, |p| p.describe(l));
    let tooltip =
        |c: usize, row: usize, col: usize, value: f32| format!("S{c}: {}\n= {value:.4} at ({row}, {col})", describe(c));
    let hit = heatmap::grid_ui(ui, textures, &views, &scale, SMALL_SIDE, columns, &tooltip)?;
    Some((format!("coefficient S{}: {} = {:.4}", hit.map, describe(hit.map), hit.value), None))
}

/// The selectivity of the coefficients over the dataset (every coefficient is a unit).
pub fn selectivity_ui(ui: &mut egui::Ui, maxima: &ClassMaxima, samples: usize, threshold: f32) {
    let Ok(selectivity) = maxima.selectivity(threshold) else {
        ui.colored_label(theme::ERROR, "the threshold must be in [0, 1)");
        return;
    };
    let mean =
        selectivity.mean_classes_per_active_unit().map_or_else(|| "no active unit".to_owned(), |m| format!("{m:.2}"));
    ui.label(egui::RichText::new(format!("Scattering: mean classes per active coefficient {mean}")).strong());
    ui.small(format!(
        "{} of {} coefficients active over the {} dataset samples: wavelet moduli fire for almost every class.",
        selectivity.active_units(),
        selectivity.units(),
        samples
    ));
    histogram::selectivity_ui(ui, "Scattering", &selectivity, None);
}
