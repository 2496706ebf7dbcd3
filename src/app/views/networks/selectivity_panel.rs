//! The selectivity panel: measures (into the app's cache, `Command::MeasureSelectivity`) how many
//! classes make each hidden unit fire over the dataset's samples, for the constructed detectors and
//! the trained side's feature-map units (the SGD run's, or those of a chosen map of an imported
//! network), and shows it as one number per network and a histogram. The threshold slider re-thresholds the
//! stored per-class maxima at once, without running the networks again.

use std::sync::Arc;

use egui::RichText;

use crate::app::cache::{Measured, SelectivityKey, TrainedUnits};
use crate::app::command::{Command, Level};
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::widgets::{histogram, number};
use crate::core::construct::{Constructed, Which};
use crate::core::selectivity::Selectivity;

/// What the panel remembers: the threshold (the measurements are in the app's cache).
#[derive(Default)]
pub struct SelectivityPanel {
    /// Relative firing threshold in [0, 1).
    pub threshold: f32,
}

/// Draws the panel; `trained` are the trained side's units when they fit the tile set, `opened`
/// the version of the opened network (its measurements only are shown while it is open).
pub fn panel_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    panel: &mut SelectivityPanel,
    net: &Arc<Constructed>,
    trained: Option<TrainedUnits>,
    (which, opened): (Which, Option<u64>),
    commands: &mut Vec<Command>,
) {
    ui.separator();
    ui.label(RichText::new("Selectivity of hidden units").strong());
    ui.small("For each unit: how many classes make it fire (above the threshold × its largest activation) over the dataset's samples.");
    ui.add(number::slider(&mut panel.threshold, 0.0..=0.95, "relative threshold"));
    let measurements = app.cache.selectivity();
    let shown = measurements.done().filter(|(k, _)| shown_here(k, opened)).cloned();
    let error = measurements.failed().filter(|(k, _)| shown_here(k, opened)).map(|(_, e)| e.clone());
    if measurements.running().is_some_and(|(k, _)| k.probes.is_none()) {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("measuring…");
        });
    } else if ui.button("Measure selectivity").clicked() {
        start(app, net, trained, which, commands);
    }
    if let Some(error) = error {
        ui.colored_label(theme::ERROR, format!("selectivity: {error}"));
    }
    if let Some((key, measured)) = shown {
        results_ui(ui, &measured, key.which, panel.threshold);
    }
}

/// True for this panel's measurements (all probe images) of the trained side now shown.
fn shown_here(key: &SelectivityKey, opened: Option<u64>) -> bool {
    key.probes.is_none()
        && match (opened, &key.trained) {
            (Some(version), Some((v, Some(_)))) => *v == version,
            (Some(_), Some((_, None))) | (None, Some((_, Some(_)))) => false,
            (_, None) | (None, Some((_, None))) => true,
        }
}

fn start(
    app: &AppState,
    net: &Arc<Constructed>,
    trained: Option<TrainedUnits>,
    which: Which,
    commands: &mut Vec<Command>,
) {
    let current = app.cache.dataset_for().is_some_and(|(version, _)| *version == app.classes_version);
    let fits = app.dataset().is_some_and(|d| d.samples.first().is_some_and(|s| s.image.dim() == net.network.input()));
    if !current || !fits {
        commands.push(Command::Log(
            Level::Warning,
            "selectivity needs the current dataset: open the Dataset view or wait for it to be generated".to_owned(),
        ));
        return;
    }
    let key = SelectivityKey {
        net: (app.classes_version, app.session.dataset.height, app.session.dataset.width),
        which,
        dataset: app.cache.dataset_generation(),
        probes: None,
        trained: trained.as_ref().map(TrainedUnits::key),
    };
    commands.push(Command::MeasureSelectivity { key, trained });
}

fn results_ui(ui: &mut egui::Ui, measured: &Measured, which: Which, threshold: f32) {
    let (Ok(constructed), trained) = (
        measured.constructed.selectivity(threshold),
        measured.trained.as_ref().map(|(_, m)| m.selectivity(threshold)).transpose().ok().flatten(),
    ) else {
        ui.colored_label(theme::ERROR, "the threshold must be in [0, 1)");
        return;
    };
    let mean = |s: &Selectivity| {
        s.mean_classes_per_active_unit().map_or_else(|| "no active unit".to_owned(), |m| format!("{m:.2}"))
    };
    let name = which.name();
    let trained_name = measured.trained.as_ref().map_or(theme::TRAINED_NAME, |(n, _)| n.as_str());
    let text = match &trained {
        Some(t) => format!("Mean classes per active unit: {name} {} vs {trained_name} {}", mean(&constructed), mean(t)),
        None => format!(
            "Mean classes per active unit: {name} {} (no trained side to compare: train the CNN, or open a network that fits)",
            mean(&constructed)
        ),
    };
    ui.label(RichText::new(text).strong());
    let active = |s: &Selectivity| format!("{} of {} units active", s.active_units(), s.units());
    ui.small(format!("{name}: {}; over {} probe images", active(&constructed), measured.probe_samples));
    if let Some(t) = &trained {
        ui.small(format!("{trained_name}: {}", active(t)));
    }
    histogram::selectivity_ui(ui, name, &constructed, trained.as_ref().map(|t| (trained_name, t)));
}
