//! Steps 7 and 9 of the lecture: the SGD-trained CNN beside the constructed network (its filters, its
//! feature maps on the input, and the measured selectivity of both), and Figure 4's invariance
//! histograms. Both read the live training run (`AppState::training`); when there is none the step
//! offers to start one with the paper's settings. Step 7 can slow the run down so the room watches
//! the filters form.

use std::sync::Arc;

use egui::RichText;
use egui_plot::{Bar, BarChart, Plot};
use ndarray::{Array2, Axis};

use crate::app::cache::{Measured, SelectivityKey, StudyKey, StudyNetwork, TrainedUnits, image_key};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::training_job::{Control, Phase, TrainingStart};
use crate::app::widgets::heatmap::{self, MapView, Scale};
use crate::app::widgets::histogram;
use crate::app::widgets::speed::speed_ui;
use crate::core::construct::Which;
use crate::core::experiments::figure4::{InvarianceResult, PerturbationResult, Spread};
use crate::core::experiments::figure4_analysis;
use crate::core::nn::cnn::{Cnn, CnnActivations};
use crate::core::selectivity;
use crate::core::tile::TileId;

use super::LectureState;
use super::data;
use super::steps::{fmt, formula, live_input, note, two_columns};
use super::wavelets::deformation_ui;

/// Probe images used for the selectivity measurement.
const SELECTIVITY_PROBES: usize = 300;
/// Images per tile and perturbation in the invariance step (the paper's 100).
const INVARIANCE_SAMPLES: usize = 100;
/// Seed of the invariance images.
const INVARIANCE_SEED: u64 = 4;
/// Histogram bins per invariance panel.
const BINS: usize = 20;

/// The newest trained weights, their version, and a one-line status of the run.
fn trained_snapshot(app: &AppState) -> (Option<Arc<Cnn>>, u64, String) {
    let Some(job) = &app.training else { return (None, 0, "no training run".to_owned()) };
    let progress = job.progress();
    let status = match &progress.phase {
        Phase::PreparingData => "generating the training data…".to_owned(),
        Phase::Failed(message) => format!("training could not start: {message}"),
        Phase::Ready => {
            let accuracy = progress.test_accuracy().map_or("–".to_owned(), |a| format!("{:.1}%", 100.0 * a));
            let state = match progress.stopped {
                _ if progress.running => "training".to_owned(),
                Some(stopped) => stopped.message(),
                None => "paused".to_owned(),
            };
            format!("{state}, epoch {}, test accuracy {accuracy}", progress.epoch)
        }
    };
    (progress.cnn.clone(), progress.version, status)
}

/// A "start training" button for when there is no run (the paper's settings, data from the dataset settings).
fn start_training_ui(ui: &mut egui::Ui, app: &AppState, commands: &mut Vec<Command>) {
    if app.training.is_some() {
        return;
    }
    note(ui, "No network has been trained yet.");
    if ui.button("Start training (paper's settings)").clicked() {
        commands.push(Command::StartTraining(TrainingStart { run: true, ..TrainingStart::default() }));
    }
}

/// The conv filters `[F, 1, k, k]` as `k×k` maps.
fn filters(cnn: &Cnn) -> Vec<Array2<f32>> {
    let weight = &cnn.conv().weight;
    (0..weight.shape()[0]).map(|f| weight.index_axis(Axis(0), f).index_axis(Axis(0), 0).to_owned()).collect()
}

/// The training run's activations of `image` from the cache with the weights version they ran
/// (the newest pass of this image), asking for those of weights `version` when missing.
fn trained_maps(
    app: &AppState,
    cnn: &Arc<Cnn>,
    version: u64,
    image: &Array2<f32>,
    commands: &mut Vec<Command>,
) -> Option<(Arc<CnnActivations>, u64)> {
    let passes = app.cache.trained_forward();
    let wanted = (version, image_key(image));
    if passes.needs(&wanted) {
        commands.push(Command::TrainedForwardPass {
            key: wanted,
            cnn: Arc::clone(cnn),
            image: Arc::new(image.clone()),
        });
    }
    let ((ran, input), pass) = passes.done()?;
    (*input == wanted.1).then(|| (Arc::clone(&pass.activations), *ran))
}

/// Step 7: the trained CNN's filters and feature maps, and the selectivity of both networks.
pub fn trained_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let (cnn, version, status) = trained_snapshot(app);
    // A network of blocks (no paper's network to draw) is shown by `deep`.
    let deep = app.training.as_ref().and_then(|job| job.progress().net.clone()).filter(|_| cnn.is_none());
    // N1 is built ahead, so that "Measure selectivity" can start as soon as it is clicked.
    let n1 = data::network(app, Which::N1, commands);
    let (height, width) = data::image_size(app);
    let key = SelectivityKey {
        net: (app.classes_version, height, width),
        which: Which::N1,
        dataset: app.cache.dataset_generation(),
        probes: Some(SELECTIVITY_PROBES),
        trained: Some((version, None)),
    };
    let measurements = app.cache.selectivity();
    // The lecture's own measurements: N1 and the SGD run on its first probe images.
    let measured = measurements.latest(|k| k.net.0 == key.net.0 && k.probes == key.probes);
    let running = measurements.is_running();
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, commands)| {
            ui.label(RichText::new(format!("Trained CNN: {status}")).strong());
            start_training_ui(ui, app, commands);
            if let Some(job) = &app.training {
                let speed = speed_ui(ui, job.speed(), job.config.hyper.batch_size);
                if speed != job.speed() {
                    commands.push(Command::ControlTraining(Control::SetSpeed(speed)));
                }
            }
            let Some(cnn) = &cnn else {
                if let Some(net) = &deep {
                    super::deep::maps_ui(ui, app, lecture, textures, (net, version), commands);
                }
                return;
            };
            let maps = filters(cnn);
            let scale = Scale::symmetric("weight", maps.iter().flat_map(|m| m.iter()));
            let views = numbered_views(&maps, "filter", version);
            ui.label(RichText::new("its conv filters (learned)").strong());
            heatmap::grid_ui(ui, textures, &views, &scale, 64.0, 8, &|f, r, c, v| {
                format!("filter {f} ({r}, {c}): {}", fmt(v))
            });
            heatmap::scale_ui(ui, &scale);
            ui.add_space(6.0);
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.label(RichText::new("input").strong());
                    live_input(ui, app, lecture, textures, 150.0, &[]);
                });
                let Some(input) = &lecture.data.input else { return };
                let spec = cnn.spec();
                if (spec.height, spec.width) != input.image.dim() {
                    ui.label("The trained network was made for another image size.");
                    return;
                }
                let Some((activations, ran)) = trained_maps(app, cnn, version, &input.image, commands) else {
                    ui.spinner();
                    return;
                };
                ui.vertical(|ui| {
                    ui.label(RichText::new("its feature maps after ReLU").strong());
                    let maps: Vec<Array2<f32>> = activations.post_relu.outer_iter().map(|m| m.to_owned()).collect();
                    let scale = Scale::non_negative("activation", maps.iter().flat_map(|m| m.iter()));
                    let views = numbered_views(&maps, "map", ran ^ input.stamp << 20);
                    heatmap::grid_ui(ui, textures, &views, &scale, 72.0, 6, &|f, r, c, v| {
                        format!("map {f} ({r}, {c}): {}", fmt(v))
                    });
                });
            });
        },
        |ui, (_, commands)| {
            if deep.is_some() {
                super::deep::selectivity_ui(ui, app);
                return;
            }
            note(ui, "SGD finds its own filters: no tile, no ε, no distance. Are its hidden units monosemantic?");
            formula(ui, "selectivity = classes a unit fires for");
            ui.add_space(4.0);
            let ready = cnn.is_some() && app.dataset().is_some() && n1.is_some();
            if ui.add_enabled(ready && !running, egui::Button::new("Measure selectivity")).clicked()
                && let Some(cnn) = cnn.clone()
            {
                let trained = Some(TrainedUnits::Sgd(cnn, version));
                commands.push(Command::MeasureSelectivity { key: key.clone(), trained });
            }
            if running {
                ui.spinner();
            }
            if !ready {
                note(ui, "(needs a trained network, the generated dataset and N1)");
            }
            if let Some(measured) = &measured {
                selectivity_ui(ui, measured);
            }
        },
    );
}

/// One heat-map view per array, titled `"{name} {i}"` and cached under a lecture-specific key.
pub(super) fn numbered_views<'a>(maps: &'a [Array2<f32>], name: &str, stamp: u64) -> Vec<MapView<'a>> {
    maps.iter()
        .enumerate()
        .map(|(i, m)| MapView {
            title: format!("{name} {i}"),
            values: m.view(),
            key: format!("lecture {name} {i}"),
            stamp,
        })
        .collect()
}

/// The two selectivity numbers (any activity counts: threshold 0) and their histograms.
fn selectivity_ui(ui: &mut egui::Ui, measured: &Measured) {
    let (Ok(constructed), Some(Ok(trained))) =
        (measured.constructed.selectivity(0.0), measured.trained.as_ref().map(|(_, m)| m.selectivity(0.0)))
    else {
        return;
    };
    let mean =
        |s: &selectivity::Selectivity| s.mean_classes_per_active_unit().map_or("–".to_owned(), |m| format!("{m:.2}"));
    formula(ui, &format!("N1 detectors: {} classes per active unit", mean(&constructed)));
    formula(ui, &format!("trained units: {} classes per active unit", mean(&trained)));
    note(
        ui,
        format!("over {} probe images; 1.00 = every active unit answers to one class only", measured.probe_samples),
    );
    histogram::selectivity_ui(ui, "N1", &constructed, Some((theme::TRAINED_NAME, &trained)));
}

/// Histogram of `samples` over `bins` equal bins spanning `[low, high]`: `(bin centre, count)`;
/// non-finite samples are skipped, values on the edges go to the end bins.
pub fn histogram(samples: &[f32], bins: usize, low: f32, high: f32) -> Vec<(f32, usize)> {
    let bins = bins.max(1);
    let width = if high > low { (high - low) / bins as f32 } else { 1.0 };
    let counts =
        figure4_analysis::histogram(samples.iter().map(|&v| f64::from(v)), f64::from(low), f64::from(width), bins);
    counts.into_iter().enumerate().map(|(i, n)| (low + (i as f32 + 0.5) * width, n)).collect()
}

/// The class logit of every image of a perturbation: (trained, constructed).
fn class_logits(result: &PerturbationResult, class: usize) -> (Vec<f32>, Vec<f32>) {
    let pick = |rows: &[Vec<f32>]| rows.iter().filter_map(|l| l.get(class).copied()).collect();
    (pick(&result.trained), pick(&result.constructed))
}

/// The class logit's mean and spread as the study computed them ([`Spread::of`], in f64, so an
/// invariant logit has a spread of exactly 0 as in the Invariance view).
fn class_spread(spread: &Spread, class: usize) -> (f32, f32) {
    (spread.mean.get(class).copied().unwrap_or(f32::NAN), spread.std.get(class).copied().unwrap_or(f32::NAN))
}

/// One histogram panel: the tile's class logit under one perturbation, both networks.
fn panel_ui(ui: &mut egui::Ui, id: String, title: &str, result: &PerturbationResult, class: usize, width: f32) {
    let (trained, constructed) = class_logits(result, class);
    let all: Vec<f32> = trained.iter().chain(&constructed).copied().filter(|v| v.is_finite()).collect();
    let low = all.iter().copied().fold(f32::INFINITY, f32::min);
    let high = all.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (low, high) =
        if low.is_finite() && high > low { (low, high) } else { (low.min(0.0) - 1.0, low.max(0.0) + 1.0) };
    let bar_width = f64::from((high - low) / BINS as f32) * 0.9;
    let bars = |values: &[f32]| -> Vec<Bar> {
        histogram(values, BINS, low, high)
            .into_iter()
            .map(|(x, n)| Bar::new(f64::from(x), n as f64).width(bar_width))
            .collect()
    };
    let ((tm, ts), (cm, cs)) =
        (class_spread(&result.trained_spread, class), class_spread(&result.constructed_spread, class));
    ui.vertical(|ui| {
        ui.label(RichText::new(title).strong());
        Plot::new(id)
            .width(width)
            .height(130.0)
            .include_y(0.0)
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .show(ui, |plot| {
                plot.bar_chart(BarChart::new(theme::TRAINED_NAME, bars(&trained)).color(theme::TRAINED_COLOR));
                plot.bar_chart(
                    BarChart::new(theme::constructed_name("N1"), bars(&constructed)).color(theme::CONSTRUCTED_COLOR),
                );
            });
        let caption = |name: &str, mean: f32, spread: f32| format!("{name}: {}", heatmap::format_spread(mean, spread));
        ui.colored_label(theme::TRAINED_COLOR, caption(theme::TRAINED_NAME, tm, ts));
        ui.colored_label(theme::CONSTRUCTED_COLOR, caption("N1", cm, cs));
    });
}

/// Step 9: Figure 4 on the current set: the tile's class logit under background redraws (top) and
/// translations (bottom), trained beside constructed.
pub fn invariance_ui(ui: &mut egui::Ui, app: &AppState, lecture: &mut LectureState, commands: &mut Vec<Command>) {
    let (cnn, version, status) = trained_snapshot(app);
    let key = study_key(app, version);
    let studies = app.cache.figure4();
    // The lecture's own studies: pinned to the weights they were computed with.
    let result = studies.latest(|k| k.classes_version == key.classes_version && k.weights.is_some());
    let error = studies.error(&key).map(str::to_owned);
    let running = studies.is_running();
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (_, commands)| {
            ui.label(RichText::new(format!("Trained CNN: {status}")).strong());
            start_training_ui(ui, app, commands);
            ui.horizontal(|ui| {
                let label = format!("Compute ({INVARIANCE_SAMPLES} images per tile and perturbation)");
                if ui.add_enabled(cnn.is_some() && !running, egui::Button::new(label)).clicked()
                    && let Some(cnn) = cnn.clone()
                {
                    let network = Ok(StudyNetwork::Trained(cnn, version));
                    commands.push(Command::StudyFigure4 { key: key.clone(), network });
                }
                if running {
                    ui.spinner();
                }
            });
            if let Some(error) = &error {
                ui.colored_label(theme::ERROR, error);
            }
            if let Some(study) = &result {
                invariance_grid_ui(ui, &study.result);
            }
        },
        |ui, (lecture, commands)| {
            note(
                ui,
                "Each tile is pasted 100 times with the background redrawn, and 100 times at random places on one background.",
            );
            formula(ui, "N1: logit = ε for an exact paste");
            note(
                ui,
                "The constructed network's class logit does not move at all, wherever the tile is and whatever surrounds it (as long as ε is small enough that nothing else matches).",
            );
            note(
                ui,
                "The trained network's logit spreads, little under background changes and more under translations.",
            );
            deformation_ui(ui, app, lecture, commands, false);
        },
    );
}

/// Figure 4 as the lecture runs it: the first tile of the first three classes, the paper's 100
/// random images per perturbation, against the training run's weights of `version`.
fn study_key(app: &AppState, version: u64) -> StudyKey {
    StudyKey {
        classes_version: app.classes_version,
        size: data::image_size(app),
        tiles: (0..app.classes.len().min(3)).map(|class| TileId { class, feature: 0, tile: 0 }).collect(),
        samples: INVARIANCE_SAMPLES,
        seed: INVARIANCE_SEED,
        epsilon: None,
        every_offset: false,
        imported: None,
        weights: Some(version),
    }
}

/// The 2 × tiles grid of panels.
fn invariance_grid_ui(ui: &mut egui::Ui, result: &Arc<InvarianceResult>) {
    let columns = result.tiles.len().max(1);
    let width = ((ui.available_width() - 16.0 * columns as f32) / columns as f32).clamp(120.0, 360.0);
    for (row, name) in [(0, "background redrawn"), (1, "tile translated")] {
        ui.horizontal_top(|ui| {
            for t in &result.tiles {
                let perturbation = if row == 0 { &t.background } else { &t.translation };
                let title = format!("{}: {name}", t.name);
                panel_ui(ui, format!("lecture invariance {row} {}", t.label), &title, perturbation, t.label, width);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_count_every_finite_sample_once() {
        let samples = [0.0, 0.1, 0.5, 0.99, 1.0, f32::NAN, 2.0, -1.0];
        let bins = histogram(&samples, 4, 0.0, 1.0);
        assert_eq!(bins.iter().map(|b| b.1).sum::<usize>(), 7, "NaN skipped, outliers clamped to the end bins");
        assert_eq!(bins.iter().map(|b| b.1).collect::<Vec<_>>(), [3, 0, 1, 3]);
        assert!((bins[0].0 - 0.125).abs() < 1e-6);
        let flat = histogram(&[3.0, 3.0], 5, 3.0, 3.0);
        assert_eq!(flat.iter().map(|b| b.1).sum::<usize>(), 2, "an empty range still counts");
    }

    #[test]
    fn the_class_spread_is_the_studys_own() {
        let spread = Spread::of(&[vec![1.0, 5.0], vec![3.0, 5.0]]);
        assert_eq!(class_spread(&spread, 0), (2.0, 1.0));
        assert_eq!(class_spread(&spread, 1), (5.0, 0.0), "an invariant logit has no spread at all");
        let (m, s) = class_spread(&spread, 2);
        assert!(m.is_nan() && s.is_nan(), "a class the study lacks is not made up");
    }
}
