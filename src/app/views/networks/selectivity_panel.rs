//! The selectivity panel: measures (in a job) how many classes make each hidden unit fire over the
//! dataset's samples, for the constructed detectors and the trained side's feature-map units (the
//! SGD run's, or those of a chosen map of an imported network), and
//! shows it as one number per network and a histogram. The threshold slider re-thresholds the
//! stored per-class maxima at once, without running the networks again.

use std::sync::Arc;

use ndarray::Array2;

use egui::RichText;

use crate::app::imported::ImportedNetwork;
use crate::app::jobs::Job;
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::widgets::{histogram, number};
use crate::core::construct::{Constructed, Which};
use crate::core::nn::cnn::Cnn;
use crate::core::selectivity::{self, ClassMaxima, Selectivity};

/// The trained side's units: the SGD run's feature maps, or one map of an imported network.
pub enum TrainedUnits {
    Sgd(Arc<Cnn>),
    Imported { network: Arc<ImportedNetwork>, layer: String },
}

impl TrainedUnits {
    /// The legend name.
    fn name(&self) -> String {
        match self {
            Self::Sgd(_) => theme::TRAINED_NAME.to_owned(),
            Self::Imported { network, layer } => format!("{} '{layer}'", network.name()),
        }
    }

    fn measure(&self, images: &[Array2<f32>], labels: &[usize], classes: usize) -> Result<ClassMaxima, String> {
        let measured = match self {
            Self::Sgd(cnn) => selectivity::trained(cnn, images, labels),
            Self::Imported { network, layer } => selectivity::imported(&network.model, layer, images, labels, classes),
        };
        measured.map_err(|e| e.to_string())
    }
}

/// The per-class maxima of both networks over one probe set.
struct Measured {
    which: Which,
    constructed: ClassMaxima,
    /// The trained side's legend name and maxima.
    trained: Option<(String, ClassMaxima)>,
    probe_samples: usize,
}

/// What the panel remembers: the threshold, the running job and the last measurement.
pub struct SelectivityPanel {
    /// Relative firing threshold in [0, 1).
    pub threshold: f32,
    job: Option<Job<Measured>>,
    measured: Option<Measured>,
}

impl SelectivityPanel {
    /// Forgets the last measurement (the network it was taken of is gone).
    pub fn clear(&mut self) {
        self.measured = None;
    }
}

impl Default for SelectivityPanel {
    fn default() -> Self {
        Self { threshold: 0.0, job: None, measured: None }
    }
}

/// Draws the panel; `trained` are the trained side's units when they fit the tile set.
pub fn panel_ui(
    ui: &mut egui::Ui,
    app: &mut AppState,
    panel: &mut SelectivityPanel,
    net: &Arc<Constructed>,
    trained: Option<TrainedUnits>,
    which: Which,
) {
    ui.separator();
    ui.label(RichText::new("Selectivity of hidden units").strong());
    ui.small("For each unit: how many classes make it fire (above the threshold × its largest activation) over the dataset's samples.");
    if let Some(job) = &mut panel.job
        && let Some(outcome) = job.poll()
    {
        panel.job = None;
        match outcome {
            Ok(measured) => panel.measured = Some(measured),
            Err(error) => app.error(format!("selectivity: {error}")),
        }
    }
    ui.add(number::slider(&mut panel.threshold, 0.0..=0.95, "relative threshold"));
    if panel.job.is_some() {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("measuring…");
        });
    } else if ui.button("Measure selectivity").clicked() {
        start(ui.ctx(), app, panel, net, trained, which);
    }
    if let Some(measured) = &panel.measured {
        results_ui(ui, measured, panel.threshold);
    }
}

fn start(
    ctx: &egui::Context,
    app: &mut AppState,
    panel: &mut SelectivityPanel,
    net: &Arc<Constructed>,
    trained: Option<TrainedUnits>,
    which: Which,
) {
    let current = app.cache.dataset_for().is_some_and(|(version, _)| *version == app.classes_version);
    let Some(data) = app
        .dataset()
        .cloned()
        .filter(|d| current && d.samples.first().is_some_and(|s| s.image.dim() == net.network.input()))
    else {
        app.warn("selectivity needs the current dataset: open the Dataset view or wait for it to be generated");
        return;
    };
    let (net, classes) = (Arc::clone(net), app.classes.len());
    panel.job = Some(Job::spawn("measuring selectivity", Some(ctx.clone()), move |shared| {
        let (images, labels) = (data.images(), data.labels());
        let constructed = selectivity::constructed(&net, &images, &labels, classes).map_err(|e| e.to_string())?;
        shared.set_progress(0.5);
        let trained = match trained {
            Some(t) => Some((t.name(), t.measure(&images, &labels, classes)?)),
            None => None,
        };
        Ok(Measured { which, constructed, trained, probe_samples: images.len() })
    }));
}

fn results_ui(ui: &mut egui::Ui, measured: &Measured, threshold: f32) {
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
    let name = measured.which.name();
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
