//! Live SGD training of the CNN: architecture and hyper-parameters (the paper's defaults), start /
//! pause / step / reset, the status (divergence in red), and loss and accuracy curves that move
//! while the worker trains. The run itself lives in [`training_job`](crate::app::training_job).

use egui::RichText;
use egui_plot::{HLine, Legend, Line, Plot, PlotPoints};

use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::training_job::{Control, CurvePoint, MAX_SAMPLES_PER_CLASS, Phase, Progress, TrainingConfig};
use crate::core::nn::train::Status;

/// Height of each curve plot, in points.
const PLOT_HEIGHT: f32 = 220.0;

/// What the training view remembers between frames: the settings being edited.
#[derive(Debug, Default)]
pub struct TrainingViewState {
    /// Architecture, hyper-parameters and data sizes for the next start.
    pub config: TrainingConfig,
}

/// Draws the training view.
pub fn ui(ui: &mut egui::Ui, app: &mut AppState, view: &mut TrainingViewState) {
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(300.0);
            settings_ui(ui, app, view);
            ui.separator();
            controls_ui(ui, app, view);
        });
        ui.separator();
        ui.vertical(|ui| {
            stale_banner_ui(ui, app, view);
            match &app.training {
                Some(job) => {
                    let progress = job.progress().clone();
                    status_ui(ui, &progress);
                    curves_ui(ui, &progress, app.classes.len());
                }
                None => {
                    ui.label("Press Start to train the CNN on data generated from the current tile set and dataset settings.");
                }
            }
        });
    });
}

/// Architecture, hyper-parameters and data sizes, with the reason when they cannot run.
fn settings_ui(ui: &mut egui::Ui, app: &AppState, view: &mut TrainingViewState) {
    ui.heading("Network and SGD");
    let config = &mut view.config;
    egui::Grid::new("training settings").num_columns(2).show(ui, |ui| {
        ui.label("Filters");
        ui.add(crate::app::widgets::number::field(&mut config.filters).range(0..=256));
        ui.end_row();
        ui.label("Kernel size");
        ui.add(crate::app::widgets::number::field(&mut config.kernel).range(0..=64));
        ui.end_row();
        ui.label("Learning rate");
        ui.add(
            crate::app::widgets::number::field(&mut config.hyper.learning_rate)
                .speed(0.001)
                .range(0.0..=1e7)
                .max_decimals(5),
        );
        ui.end_row();
        ui.label("Batch size");
        ui.add(crate::app::widgets::number::field(&mut config.hyper.batch_size).range(0..=100_000));
        ui.end_row();
        ui.label("Momentum");
        ui.add(crate::app::widgets::number::field(&mut config.hyper.momentum).speed(0.01).range(0.0..=1.0));
        ui.end_row();
        ui.label("Train samples per class");
        ui.add(crate::app::widgets::number::field(&mut config.train_per_class).range(0..=MAX_SAMPLES_PER_CLASS));
        ui.end_row();
        ui.label("Test samples per class");
        ui.add(crate::app::widgets::number::field(&mut config.test_per_class).range(0..=MAX_SAMPLES_PER_CLASS));
        ui.end_row();
        ui.label("Seed");
        ui.add(crate::app::widgets::number::field(&mut config.seed));
        ui.end_row();
    });
    if ui
        .button("Paper's defaults")
        .on_hover_text("conv 5×5 ×12, lr 0.03, batch 100, 400/100 samples per class")
        .clicked()
    {
        *config = TrainingConfig::default();
    }
    let data = &app.session.dataset;
    ui.small(format!("Images {}×{} with the dataset view's background and jitter.", data.height, data.width));
    if let Err(reason) = config.spec(app.classes.len(), data.height, data.width) {
        ui.colored_label(theme::ERROR, format!("Cannot train: {reason}"));
    }
    for warning in config.hyper.warnings() {
        ui.colored_label(theme::WARNING, format!("Warning: {warning}"));
    }
}

/// Start / Pause / Step / Reset.
fn controls_ui(ui: &mut egui::Ui, app: &mut AppState, view: &TrainingViewState) {
    let running = app.training.as_ref().is_some_and(|job| job.progress().running);
    let changed_settings = app.training.as_ref().is_some_and(|job| job.config != view.config);
    ui.horizontal(|ui| {
        if running {
            if ui.button("Pause").clicked() {
                app.push(Command::ControlTraining(Control::Pause));
            }
        } else if ui.button("Start").on_hover_text("Train continuously on a worker thread").clicked() {
            if app.training.is_none() || changed_settings {
                app.push(Command::StartTraining(view.config));
            }
            app.push(Command::ControlTraining(Control::Run));
        }
        if ui.add_enabled(!running, egui::Button::new("Step")).on_hover_text("Train one batch").clicked() {
            if app.training.is_none() {
                app.push(Command::StartTraining(view.config));
            }
            app.push(Command::ControlTraining(Control::Step(1)));
        }
        if ui
            .add_enabled(app.training.is_some(), egui::Button::new("Reset"))
            .on_hover_text("Back to the initial weights")
            .clicked()
        {
            app.push(Command::ControlTraining(Control::Reset));
        }
    });
    if changed_settings {
        ui.colored_label(theme::WARNING, "The settings differ from the running network's.");
        if ui.button("Restart with these settings").clicked() {
            app.push(Command::StartTraining(view.config));
        }
    }
}

/// Offers a restart when the tile set or dataset settings changed under a running job.
fn stale_banner_ui(ui: &mut egui::Ui, app: &mut AppState, view: &TrainingViewState) {
    let stale = app.training.as_ref().is_some_and(|job| job.started_from != app.dataset_request());
    if !stale {
        return;
    }
    egui::Frame::group(ui.style()).stroke(egui::Stroke::new(1.0, theme::WARNING)).show(ui, |ui| {
        ui.horizontal(|ui| {
            ui.colored_label(
                theme::WARNING,
                "The tile set or dataset settings changed since this run started; it keeps training on its own copy of the old data.",
            );
            if ui.button("Restart with the new data").clicked() {
                app.push(Command::StartTraining(view.config));
            }
        });
    });
}

/// Phase, status, counters and the latest accuracies.
fn status_ui(ui: &mut egui::Ui, progress: &Progress) {
    match &progress.phase {
        Phase::PreparingData => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Generating training and test images…");
            });
            return;
        }
        Phase::Failed(message) => {
            ui.colored_label(theme::ERROR, format!("Training could not start: {message}"));
            return;
        }
        Phase::Ready => {}
    }
    match progress.status {
        Status::Diverged { .. } => {
            ui.label(RichText::new(format!("Diverged: {}", progress.status.message())).color(theme::ERROR).strong());
        }
        _ if progress.running => {
            ui.label(format!("Training… {:.0} samples/s on {} threads", progress.samples_per_second, progress.threads));
        }
        _ => {
            ui.label("Paused");
        }
    }
    ui.label(format!(
        "Epoch {} · step {} · {} training / {} test images",
        progress.epoch, progress.step, progress.train_samples, progress.test_samples
    ));
    let percent = |v: Option<f32>| v.map_or_else(|| "–".to_owned(), |a| format!("{:.1}%", a * 100.0));
    ui.label(format!(
        "Train accuracy: {} · Test accuracy: {}",
        percent(progress.train_curve.last().map(|p| p.accuracy)),
        percent(progress.test_accuracy())
    ));
}

/// Loss and accuracy against epochs, training and test, with the chance level.
fn curves_ui(ui: &mut egui::Ui, progress: &Progress, classes: usize) {
    let points = |curve: &[CurvePoint], value: fn(&CurvePoint) -> f32| -> PlotPoints<'static> {
        curve.iter().map(|p| [p.epoch, f64::from(value(p))]).collect::<Vec<_>>().into()
    };
    ui.label(RichText::new("Loss (cross-entropy)").strong());
    Plot::new("loss curve").height(PLOT_HEIGHT).legend(Legend::default()).x_axis_label("epoch").include_y(0.0).show(
        ui,
        |plot| {
            plot.line(Line::new("train loss", points(&progress.train_curve, |p| p.loss)));
            plot.line(Line::new("test loss", points(&progress.test_curve, |p| p.loss)));
        },
    );
    ui.label(RichText::new("Accuracy").strong());
    Plot::new("accuracy curve")
        .height(PLOT_HEIGHT)
        .legend(Legend::default())
        .x_axis_label("epoch")
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            plot.line(Line::new("train accuracy", points(&progress.train_curve, |p| p.accuracy)));
            plot.line(Line::new("test accuracy", points(&progress.test_curve, |p| p.accuracy)));
            if classes > 0 {
                plot.hline(HLine::new("chance", 1.0 / classes as f64).style(egui_plot::LineStyle::dashed_dense()));
            }
        });
}
