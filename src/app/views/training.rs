//! Live SGD training of the CNN: architecture and hyper-parameters (the paper's defaults), an epoch
//! limit and an optional target accuracy, start / pause / step / reset / continue, a slow-motion
//! speed control, the status (divergence in red, why a run stopped), and loss and accuracy curves
//! that move while the worker trains. The run itself lives in [`training_job`](crate::app::training_job).

use egui::{Color32, RichText};
use egui_plot::{GridInput, GridMark, HLine, HoverPosition, Line, Plot, PlotPoints};

use crate::app::command::{Command, History, MergeKey};
use crate::app::state::AppState;
use crate::app::theme;
use crate::app::training_job::{
    Control, CurvePoint, Limits, MAX_SAMPLES_PER_CLASS, Phase, Problem, Progress, Setting, Speed, Stopped,
    TrainingConfig, TrainingJob, TrainingStart,
};
use crate::app::widgets::legend::legend_ui;
use crate::app::widgets::number;
use crate::app::widgets::speed::speed_ui;
use crate::core::nn::train::Status;

mod arch_editor;

/// Width of the settings column, in points.
const SETTINGS_WIDTH: f32 = 300.0;
/// Width of the name column of the settings, in points.
const NAME_WIDTH: f32 = 170.0;
/// Smallest and largest height of each curve plot, in points.
const PLOT_HEIGHT: std::ops::RangeInclusive<f32> = 120.0..=260.0;
/// Room each plot needs besides its drawing area (title and legend row), in points.
const PLOT_CAPTION: f32 = 48.0;
/// Colours of the training and test curves and of the chance level.
const TRAIN_COLOR: Color32 = Color32::from_rgb(90, 160, 255);
const TEST_COLOR: Color32 = Color32::from_rgb(255, 150, 60);
const CHANCE_COLOR: Color32 = Color32::GRAY;
/// Losses below this are drawn at it (the loss axis is logarithmic).
const SMALLEST_LOSS: f32 = 1e-4;

/// What the training view remembers between frames: the settings being edited and their history.
#[derive(Debug)]
pub struct TrainingViewState {
    /// Architecture, hyper-parameters and data sizes for the next start.
    pub config: TrainingConfig,
    /// When a run stops by itself (applied to the running job at once).
    pub limits: Limits,
    /// The speed of the next run when none exists (a run carries its own).
    pub speed: Speed,
    /// Epochs "Continue" adds to a stopped run.
    pub more_epochs: usize,
    /// Undo/redo of the edits of `config` (the architecture editor and the SGD settings).
    pub history: History<TrainingConfig>,
}

impl Default for TrainingViewState {
    fn default() -> Self {
        Self {
            config: TrainingConfig::default(),
            limits: Limits::default(),
            speed: Speed::Full,
            more_epochs: 5,
            history: History::default(),
        }
    }
}

impl TrainingViewState {
    /// Takes the settings of a run restored at start, so Start continues it instead of replacing it.
    pub fn adopt(&mut self, job: &TrainingJob) {
        (self.config, self.limits, self.speed) = (job.config, job.limits(), job.speed());
    }

    /// Takes back the last edit of the settings (false when there is none).
    pub fn undo_edit(&mut self) -> bool {
        self.history.undo(&self.config).map(|previous| self.config = previous).is_some()
    }

    /// Makes the last undone edit again (false when there is none).
    pub fn redo_edit(&mut self) -> bool {
        self.history.redo(&self.config).map(|next| self.config = next).is_some()
    }
}

/// Draws the training view.
pub fn ui(ui: &mut egui::Ui, app: &AppState, view: &mut TrainingViewState, commands: &mut Vec<Command>) {
    if app.training.as_ref().is_some_and(|job| job.limits() != view.limits) {
        commands.push(Command::ControlTraining(Control::SetLimits(view.limits)));
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.set_width(SETTINGS_WIDTH);
            heading_ui(ui, view);
            let before = view.config;
            settings_ui(ui, app, view);
            record_edit(ui, view, &before);
            ui.separator();
            controls_ui(ui, app, view, commands);
        });
        ui.separator();
        ui.vertical(|ui| {
            stale_banner_ui(ui, app, view, commands);
            match &app.training {
                Some(job) => {
                    let progress = job.progress().clone();
                    status_ui(ui, &progress, job.speed());
                    continue_ui(ui, view, &progress, commands);
                    curves_ui(ui, &progress, app.classes.len());
                }
                None => {
                    ui.label("Press Start to train the CNN on data generated from the current tile set and dataset settings.");
                }
            }
        });
    });
}

/// The settings' heading with their Undo and Redo (Ctrl+Z and Ctrl+Shift+Z in this view).
fn heading_ui(ui: &mut egui::Ui, view: &mut TrainingViewState) {
    ui.horizontal(|ui| {
        ui.heading("Network and SGD");
        let undo = ui.add_enabled(view.history.can_undo(), egui::Button::new("Undo edit"));
        if undo.on_hover_text("Take back the last change of these settings (Ctrl+Z)").clicked() {
            view.undo_edit();
        }
        let redo = ui.add_enabled(view.history.can_redo(), egui::Button::new("Redo edit"));
        if redo.on_hover_text("Make the undone change again (Ctrl+Shift+Z)").clicked() {
            view.redo_edit();
        }
    });
}

/// Records a change of the settings this frame as an undo step; the frames of one drag of a
/// number field make one step.
fn record_edit(ui: &egui::Ui, view: &mut TrainingViewState, before: &TrainingConfig) {
    if view.config == *before {
        return;
    }
    let drag = ui.input(|i| i.pointer.any_down().then(|| i.pointer.press_start_time()).flatten());
    view.history.record(before, drag.map(|started| MergeKey::Drag(started.to_bits())));
}

/// The problem with the settings, if they cannot train.
fn problem(app: &AppState, view: &TrainingViewState) -> Option<Problem> {
    let data = &app.session.dataset;
    view.config.check(app.classes.len(), data.height, data.width).err()
}

/// Architecture, hyper-parameters, data sizes and limits; a setting that cannot train says why
/// right under its field.
fn settings_ui(ui: &mut egui::Ui, app: &AppState, view: &mut TrainingViewState) {
    let problem = problem(app, view);
    // Valid but risky values (a large learning rate) are said beside their field too.
    let warning = view.config.hyper.warnings().into_iter().next();
    let note = |setting: Setting| match &problem {
        Some(problem) if problem.setting == setting => Some((theme::ERROR, problem.message.clone())),
        None if setting == Setting::LearningRate => warning.clone().map(|w| (theme::WARNING, format!("Warning: {w}"))),
        _ => None,
    };
    let config = &mut view.config;
    let row = |ui: &mut egui::Ui, name: &str, setting: Setting, field: egui::DragValue<'_>| {
        ui.horizontal(|ui| {
            let name = name_ui(ui, name);
            ui.add(field).labelled_by(name.id);
        });
        if let Some((color, message)) = note(setting) {
            ui.colored_label(color, message);
        }
    };
    let data = &app.session.dataset;
    arch_editor::ui(ui, config, (data.height, data.width, app.classes.len()));
    if config.is_paper() {
        row(ui, "Filters", Setting::Filters, number::field(&mut config.filters).range(0..=256));
        row(ui, "Kernel size", Setting::Kernel, number::field(&mut config.kernel).range(0..=64));
    }
    let learning_rate = number::field(&mut config.hyper.learning_rate).speed(0.001).range(0.0..=1e7).max_decimals(5);
    row(ui, "Learning rate", Setting::LearningRate, learning_rate);
    row(ui, "Batch size", Setting::BatchSize, number::field(&mut config.hyper.batch_size).range(0..=100_000));
    let momentum = number::field(&mut config.hyper.momentum).speed(0.01).range(0.0..=1.0);
    row(ui, "Momentum", Setting::Momentum, momentum);
    let train = number::field(&mut config.train_per_class).range(0..=MAX_SAMPLES_PER_CLASS);
    row(ui, "Train samples per class", Setting::TrainSamples, train);
    let test = number::field(&mut config.test_per_class).range(0..=MAX_SAMPLES_PER_CLASS);
    row(ui, "Test samples per class", Setting::TestSamples, test);
    row(ui, "Seed", Setting::Data, number::field(&mut config.seed));
    if ui
        .button("Paper's defaults")
        .on_hover_text("conv 5×5 ×12, lr 0.03, batch 100, 400/100 samples per class, 15 epochs")
        .clicked()
    {
        *config = TrainingConfig::default();
        view.limits = Limits::default();
    }
    let data = &app.session.dataset;
    ui.small(format!("Images {}×{} with the dataset view's background and jitter.", data.height, data.width));
    if let Some(problem) = problem.filter(|p| p.setting == Setting::Data) {
        ui.colored_label(theme::ERROR, format!("Cannot train: {}", problem.message));
    }
    ui.separator();
    limits_ui(ui, &mut view.limits, view.config.test_per_class > 0);
}

/// A setting's name, left-aligned in a column of [`NAME_WIDTH`].
fn name_ui(ui: &mut egui::Ui, name: &str) -> egui::Response {
    let size = egui::vec2(NAME_WIDTH, ui.spacing().interact_size.y);
    let layout = egui::Layout::left_to_right(egui::Align::Center);
    ui.allocate_ui_with_layout(size, layout, |ui| {
        ui.set_min_width(NAME_WIDTH);
        ui.label(name)
    })
    .inner
}

/// The epoch count and the optional target test accuracy.
fn limits_ui(ui: &mut egui::Ui, limits: &mut Limits, has_test_set: bool) {
    ui.horizontal(|ui| {
        let name = name_ui(ui, "Epochs");
        ui.add(number::field(&mut limits.epochs).range(1..=100_000))
            .labelled_by(name.id)
            .on_hover_text("A run stops by itself after this many epochs (the paper trains 15)");
    });
    ui.horizontal(|ui| {
        let mut on = limits.target_accuracy.is_some();
        let mut percent = limits.target_accuracy.map_or(99.0, |a| a * 100.0);
        ui.add_enabled(has_test_set, egui::Checkbox::new(&mut on, "Stop at test accuracy"))
            .on_disabled_hover_text("Needs test samples");
        ui.add_enabled(on && has_test_set, number::field(&mut percent).range(1.0..=100.0).speed(0.1).suffix(" %"));
        limits.target_accuracy = on.then_some(percent / 100.0);
    });
}

/// Start / Pause / Step / Reset, the speed, and a restart when the settings changed.
fn controls_ui(ui: &mut egui::Ui, app: &AppState, view: &mut TrainingViewState, commands: &mut Vec<Command>) {
    let problem = problem(app, view);
    let progress = app.training.as_ref().map(|job| job.progress().clone());
    let running = progress.as_ref().is_some_and(|p| p.running);
    let changed_settings = app.training.as_ref().is_some_and(|job| job.config != view.config);
    let at_limit = progress.as_ref().is_some_and(|p| p.epoch >= view.limits.epochs);
    ui.horizontal(|ui| {
        if running {
            if ui.button("Pause").clicked() {
                commands.push(Command::ControlTraining(Control::Pause));
            }
        } else {
            let fresh = app.training.is_none() || changed_settings;
            let enabled = problem.is_none() && (fresh || !at_limit);
            let reason = if problem.is_some() {
                "Correct the setting marked in red first"
            } else {
                "The run has completed its epochs: continue it or raise the epoch count"
            };
            let start = ui
                .add_enabled(enabled, egui::Button::new("Start"))
                .on_hover_text("Train on a worker thread until the epoch count is reached")
                .on_disabled_hover_text(reason);
            if start.clicked() {
                if fresh {
                    commands.push(Command::StartTraining(start_with(view, true)));
                } else {
                    commands.push(Command::ControlTraining(Control::Run));
                }
            }
        }
        let can_step = !running && (app.training.is_some() || problem.is_none());
        if ui.add_enabled(can_step, egui::Button::new("Step")).on_hover_text("Train one batch").clicked() {
            if app.training.is_none() {
                commands.push(Command::StartTraining(start_with(view, false)));
            }
            commands.push(Command::ControlTraining(Control::Step(1)));
        }
        if ui
            .add_enabled(app.training.is_some(), egui::Button::new("Reset"))
            .on_hover_text("Back to the initial weights")
            .clicked()
        {
            commands.push(Command::ControlTraining(Control::Reset));
        }
    });
    let current = app.training.as_ref().map_or(view.speed, TrainingJob::speed);
    view.speed = speed_ui(ui, current, view.config.hyper.batch_size);
    if view.speed != current && app.training.is_some() {
        commands.push(Command::ControlTraining(Control::SetSpeed(view.speed)));
    }
    if changed_settings {
        ui.colored_label(theme::WARNING, "The settings differ from the running network's.");
        if ui.add_enabled(problem.is_none(), egui::Button::new("Restart with these settings")).clicked() {
            commands.push(Command::StartTraining(start_with(view, false)));
        }
    }
}

/// A new run with the view's settings, limits and speed.
fn start_with(view: &TrainingViewState, run: bool) -> TrainingStart {
    TrainingStart { config: view.config, limits: view.limits, speed: view.speed, run }
}

/// Offers a restart when the tile set or dataset settings changed under a running job.
fn stale_banner_ui(ui: &mut egui::Ui, app: &AppState, view: &TrainingViewState, commands: &mut Vec<Command>) {
    let stale = app.training.as_ref().is_some_and(|job| job.started_from != app.dataset_request());
    if !stale {
        return;
    }
    let can_restart = problem(app, view).is_none();
    egui::Frame::group(ui.style()).stroke(egui::Stroke::new(1.0, theme::WARNING)).show(ui, |ui| {
        // A vertical layout wraps the sentence to the column instead of pushing the button off screen.
        ui.colored_label(
            theme::WARNING,
            "The tile set or dataset settings changed since this run started; it keeps training on its own copy of the old data.",
        );
        if ui.add_enabled(can_restart, egui::Button::new("Restart with the new data")).clicked() {
            commands.push(Command::StartTraining(start_with(view, false)));
        }
    });
}

/// Phase, status, counters and the latest accuracies.
fn status_ui(ui: &mut egui::Ui, progress: &Progress, speed: Speed) {
    match &progress.phase {
        Phase::PreparingData => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Generating training and test images…");
            });
            if progress.cnn.is_none() && progress.net.is_none() {
                return;
            }
        }
        Phase::Failed(message) => {
            ui.colored_label(theme::ERROR, format!("Training could not start: {message}"));
            return;
        }
        Phase::Ready => {}
    }
    match (progress.status, progress.stopped) {
        (Status::Diverged { .. }, _) => {
            ui.label(RichText::new(format!("Diverged: {}", progress.status.message())).color(theme::ERROR).strong());
        }
        _ if progress.running => {
            let slowed = if speed == Speed::Full { "" } else { " (slow motion)" };
            ui.label(format!(
                "Training… {:.0} samples/s on {} threads{slowed}",
                progress.samples_per_second, progress.threads
            ));
        }
        (_, Some(stopped)) => {
            ui.label(RichText::new(sentence(&stopped.message())).strong());
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

/// The message with its first letter in upper case.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// "Continue for N more epochs" under a run that stopped by itself or is at its epoch count.
fn continue_ui(ui: &mut egui::Ui, view: &mut TrainingViewState, progress: &Progress, commands: &mut Vec<Command>) {
    // A run restored at its limit has no reason recorded, but has nothing left to do either.
    let done = progress.stopped.is_some() || progress.epoch >= view.limits.epochs;
    if progress.running || progress.phase != Phase::Ready || !done {
        return;
    }
    ui.horizontal(|ui| {
        let plural = if view.more_epochs == 1 { "" } else { "s" };
        let label = format!("Continue for {} more epoch{plural}", view.more_epochs);
        if ui.button(label).clicked() {
            view.limits.epochs = progress.epoch + view.more_epochs;
            // The target was reached: going on means training past it.
            if matches!(progress.stopped, Some(Stopped::ReachedAccuracy { .. })) {
                view.limits.target_accuracy = None;
            }
            commands.push(Command::ControlTraining(Control::SetLimits(view.limits)));
            commands.push(Command::ControlTraining(Control::Run));
        }
        ui.add(number::field(&mut view.more_epochs).range(1..=10_000).suffix(format!(" epoch{plural}")));
    });
}

/// Loss (logarithmic axis, so the first epoch's spike does not flatten the rest) and accuracy
/// against epochs, training and test, with the chance level; legends sit above the plots.
fn curves_ui(ui: &mut egui::Ui, progress: &Progress, classes: usize) {
    let points = |curve: &[CurvePoint], value: fn(&CurvePoint) -> f64| -> PlotPoints<'static> {
        curve.iter().map(|p| [p.epoch, value(p)]).collect::<Vec<_>>().into()
    };
    let log_loss = |p: &CurvePoint| f64::from(p.loss.max(SMALLEST_LOSS)).log10();
    let height = ((ui.available_height() - 2.0 * PLOT_CAPTION) / 2.0).clamp(*PLOT_HEIGHT.start(), *PLOT_HEIGHT.end());
    legend_ui(ui, "Loss (cross-entropy, log scale)", &[("train", TRAIN_COLOR), ("test", TEST_COLOR)]);
    let loss = Plot::new("loss curve")
        .height(height)
        .x_axis_label("epoch")
        .include_x(0.0)
        .y_grid_spacer(log_marks)
        .y_axis_formatter(|mark, _| format!("{}", 10f64.powf(mark.value) as f32))
        .label_formatter(|hover| match hover {
            HoverPosition::NearDataPoint { plot_name, position, .. } => {
                Some(format!("{plot_name}\nepoch {:.2}\nloss {:.4}", position.x, 10f64.powf(position.y)))
            }
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            plot.line(Line::new("train loss", points(&progress.train_curve, log_loss)).color(TRAIN_COLOR));
            plot.line(Line::new("test loss", points(&progress.test_curve, log_loss)).color(TEST_COLOR));
        });
    label_plot(&loss.response, "loss plot");
    let mut legend = vec![("train", TRAIN_COLOR), ("test", TEST_COLOR)];
    if classes > 0 {
        legend.push(("chance", CHANCE_COLOR));
    }
    legend_ui(ui, "Accuracy", &legend);
    let accuracy = Plot::new("accuracy curve")
        .height(height)
        .x_axis_label("epoch")
        .include_x(0.0)
        .include_y(0.0)
        .include_y(1.0)
        .show(ui, |plot| {
            let value = |p: &CurvePoint| f64::from(p.accuracy);
            plot.line(Line::new("train accuracy", points(&progress.train_curve, value)).color(TRAIN_COLOR));
            plot.line(Line::new("test accuracy", points(&progress.test_curve, value)).color(TEST_COLOR));
            if classes > 0 {
                let chance = HLine::new("chance", 1.0 / classes as f64).color(CHANCE_COLOR);
                plot.hline(chance.style(egui_plot::LineStyle::dashed_dense()));
            }
        });
    label_plot(&accuracy.response, "accuracy plot");
}

/// Grid marks of a log10 axis at round values: 1, 2 and 5 × 10ᵏ over a decade or more, evenly
/// spaced round values over less (early on the loss spans a fraction of a decade).
fn log_marks(input: GridInput) -> Vec<GridMark> {
    let (low, high) = input.bounds;
    if !(low.is_finite() && high.is_finite() && low < high && high - low < 40.0) {
        return Vec::new();
    }
    let values: Vec<f64> = if high - low >= 1.0 {
        let decades = (low.floor() as i32)..=(high.ceil() as i32);
        decades.flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(d))).collect()
    } else {
        let (from, to) = (10f64.powf(low), 10f64.powf(high));
        let step = round_step((to - from) / 4.0);
        ((from / step).ceil() as i64..=(to / step).floor() as i64).map(|i| i as f64 * step).collect()
    };
    let step_size = (high - low) / 4.0;
    values
        .into_iter()
        .map(f64::log10)
        .filter(|value| (low..=high).contains(value))
        .map(|value| GridMark { value, step_size })
        .collect()
}

/// The smallest 1, 2 or 5 × 10ᵏ at least `rough`.
fn round_step(rough: f64) -> f64 {
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|step| *step >= rough).unwrap_or(10.0 * power)
}

/// Names a plot for screen readers (and for the tests that find it).
fn label_plot(response: &egui::Response, name: &str) {
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, name));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(low: f64, high: f64) -> Vec<f32> {
        let input = GridInput { bounds: (low.log10(), high.log10()), base_step_size: 0.01 };
        log_marks(input).iter().map(|m| 10f64.powf(m.value) as f32).collect()
    }

    #[test]
    fn the_log_axis_is_marked_at_round_losses() {
        assert_eq!(marks(0.03, 4.0), [0.05, 0.1, 0.2, 0.5, 1.0, 2.0]);
        assert_eq!(marks(1.05, 1.5), [1.2, 1.4]);
        assert_eq!(marks(0.3, 0.9), [0.4, 0.6, 0.8]);
        assert!(log_marks(GridInput { bounds: (f64::NAN, 1.0), base_step_size: 0.1 }).is_empty());
    }
}
