//! File → Export: the current view as a figure (PNG at 1× or 2×, SVG, through `core::plot`) and
//! its data as CSV; the current input's activations in every layer (CSV, or one NPY per layer);
//! network weights, constructed (sparse JSON, dense NPY) and trained (JSON, NPY); N1, N2 and the
//! trained CNN as ONNX models or safetensors (through `core::interop::onnx_export`, the same bytes as
//! `tilelab export onnx`); the current dataset as NumPy files (`core::interop::dataset_files`); the
//! figure pack.
//!
//! A menu click opens a small path window (a text field that always works, plus "Browse…" through
//! `rfd` on a helper thread, so the UI never blocks); in the web build, which has no paths, it asks
//! for the export at once, downloaded under the default name. On "Export" the window asks for
//! `Command::Export`; the app copies the inputs ([`source`]) and the export runs as a background
//! job (`app::export_job`, started by `app::cache::export`).

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::Array2;

use crate::app::command::{Command, Level};
use crate::app::export_job::{InvarianceShown, NO_DATASET, OtherTrained, Source};
use crate::app::ids::{ExportKind, Net};
use crate::app::jobs::Job;
use crate::app::settings::DatasetSettings;
use crate::app::state::AppState;
use crate::app::storage;
use crate::app::widgets::browse::{self, Browse, Pick};
use crate::app::widgets::path_field::{create_folder_ui, default_folder, expand_typed, missing_folder, path_field_ui};
use crate::core::construct::Which;
use crate::core::export::tables::CurvePoint;
use crate::core::interop::onnx_export::MAX_EXPORT_PARAMETERS;

/// The snapshot of the app for an export: `shown` is the networks view's input (if made),
/// `sample_index` the dataset sample it points at, `invariance` the invariance view's study.
pub fn source(
    app: &AppState,
    shown: Option<&Array2<f32>>,
    sample_index: usize,
    invariance: Option<InvarianceShown>,
) -> Source {
    let dataset = app.dataset().cloned();
    let key = (app.classes_version, app.session.dataset.height, app.session.dataset.width);
    let input = shown.cloned().or_else(|| {
        let samples = &dataset.as_ref()?.samples;
        let index = sample_index.min(samples.len().saturating_sub(1));
        samples.get(index).map(|s| s.image.clone())
    });
    let (trained, other_trained, curves) = match &app.training {
        Some(job) => {
            let progress = job.progress();
            let points = |curve: &[crate::app::training_job::CurvePoint]| {
                curve.iter().map(|p| CurvePoint { epoch: p.epoch as f32, loss: p.loss, accuracy: p.accuracy }).collect()
            };
            // A paper run publishes its weights as a general network too: only the others count here.
            let other = match (&progress.cnn, &progress.shaped, &progress.net) {
                (None, Some(shaped), _) => Some(OtherTrained::Shaped(Arc::clone(shaped))),
                (None, None, Some(net)) => Some(OtherTrained::Deep(Arc::clone(net))),
                _ => None,
            };
            (progress.cnn.clone(), other, Some((points(&progress.train_curve), points(&progress.test_curve))))
        }
        None => (None, None, None),
    };
    Source {
        classes: app.classes.clone(),
        view: app.session.view,
        size: (app.session.dataset.height, app.session.dataset.width),
        dataset_settings: current_dataset_settings(app),
        dataset,
        input,
        trained,
        other_trained,
        curves,
        invariance,
        built: [Which::N1, Which::N2]
            .into_iter()
            .filter_map(|which| Some((which, app.cache.network(which, key)?)))
            .collect(),
    }
}

/// The settings of the app's dataset when it is the one the current tile set and settings make.
fn current_dataset_settings(app: &AppState) -> Result<DatasetSettings, String> {
    if app.dataset().is_none() {
        return Err(NO_DATASET.to_owned());
    }
    if !app.dataset_is_current() {
        return Err("the dataset is out of date (the tile set or the settings changed): generate the dataset first \
                    (Dataset view)"
            .to_owned());
    }
    Ok(app.session.dataset.clone())
}

/// The path window of a requested export.
struct ExportDialog {
    kind: ExportKind,
    path: String,
    browse: Option<Browse>,
    note: Option<String>,
    /// The folder the export would need, after the user confirmed a path inside it.
    missing: Option<PathBuf>,
}

/// The export menu's state: the open path window, the running export, and what it wrote.
#[derive(Default)]
pub struct ExportState {
    dialog: Option<ExportDialog>,
    job: Option<Job<Vec<PathBuf>>>,
    /// Files written by the last export (shown in the log; read by tests).
    pub last: Option<Vec<PathBuf>>,
    /// The last path confirmed, with its export (reopening it after a failure starts from it).
    last_typed: Option<(ExportKind, String)>,
}

impl ExportState {
    /// Asks for the export `kind`: the path window opens, with what was typed for it last, else
    /// the view's default name in an absolute folder the user sees (the last one used, or the tile
    /// set's). Without file paths (the web build) the export itself is returned instead: it
    /// downloads under the default name.
    pub fn ask(&mut self, kind: ExportKind, app: &AppState) -> Option<Command> {
        let session = &app.session;
        if !storage::FILE_PATHS {
            return Some(Command::Export { kind, path: PathBuf::from(kind.default_name(session.view)) });
        }
        let path = match &self.last_typed {
            Some((last, typed)) if *last == kind => typed.clone(),
            _ => {
                let folder = default_folder(session.last_folder.as_deref(), session.tileset_path.as_deref());
                folder.join(kind.default_name(session.view)).display().to_string()
            }
        };
        self.dialog = Some(ExportDialog { kind, path, browse: None, note: None, missing: None });
        None
    }

    /// True while an export runs.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }

    /// Collects a finished export; returns what the log should say about it.
    pub fn poll(&mut self) -> Option<(Level, String)> {
        let result = self.job.as_mut()?.poll()?;
        self.job = None;
        Some(match result {
            Ok(files) => {
                let first = files.first().map_or_else(String::new, |f| f.display().to_string());
                let text = format!("exported {} file(s): {first}", files.len());
                self.last = Some(files);
                (Level::Info, text)
            }
            Err(error) => (Level::Error, format!("export failed: {error}")),
        })
    }

    /// Waits for `job`, the export the user confirmed.
    pub fn start(&mut self, job: Job<Vec<PathBuf>>) {
        self.job = Some(job);
    }
}

/// The File → Export submenu. In the web build an item downloads at once: it has no "…".
pub fn menu_ui(ui: &mut egui::Ui, app: &AppState, exports: &mut ExportState, commands: &mut Vec<Command>) {
    let view = app.session.view;
    ui.menu_button("Export", |ui| {
        let mut pick = |ui: &mut egui::Ui, label: &str, kind: ExportKind| {
            let label = if storage::FILE_PATHS { label } else { label.trim_end_matches('…') };
            if ui.add_enabled(!exports.is_running(), egui::Button::new(label)).clicked() {
                commands.extend(exports.ask(kind, app));
            }
        };
        ui.label(egui::RichText::new(format!("{} view", view.label())).weak());
        pick(ui, "Figure as PNG (1×)…", ExportKind::ViewFigure { png_scale: Some(1.0) });
        pick(ui, "Figure as PNG (2×, slides)…", ExportKind::ViewFigure { png_scale: Some(2.0) });
        pick(ui, "Figure as SVG…", ExportKind::ViewFigure { png_scale: None });
        pick(ui, "Data as CSV…", ExportKind::ViewData);
        ui.separator();
        ui.menu_button("Activations of the current input", |ui| {
            for net in [Net::N1, Net::N2, Net::Trained] {
                for npy in [false, true] {
                    pick(
                        ui,
                        &format!("{} as {}…", net.name(), ExportKind::csv_or_npy(npy)),
                        ExportKind::Activations { net, npy },
                    );
                }
            }
        });
        ui.menu_button("Network weights", |ui| {
            for net in [Net::N1, Net::N2, Net::Trained] {
                let json = if net == Net::Trained { "JSON" } else { "sparse JSON" };
                pick(ui, &format!("{} as {json}…", net.name()), ExportKind::Weights { net, npy: false });
                pick(ui, &format!("{} as NPY…", net.name()), ExportKind::Weights { net, npy: true });
            }
        });
        ui.menu_button("Network as ONNX / safetensors", |ui| {
            let n1_refused = n1_too_large_for_onnx(app);
            for net in [Net::N1, Net::N2, Net::Trained] {
                for safetensors in [false, true] {
                    let format = if safetensors { "safetensors" } else { "ONNX" };
                    let label = format!("{} as {format}…", net.name());
                    match n1_refused.as_deref().filter(|_| net == Net::N1) {
                        Some(why) => {
                            ui.add_enabled(false, egui::Button::new(label)).on_disabled_hover_text(why);
                        }
                        None => pick(ui, &label, ExportKind::Onnx { net, safetensors }),
                    }
                }
            }
            if let Some(why) = &n1_refused {
                ui.label(egui::RichText::new(why).weak());
            }
        });
        ui.separator();
        pick(ui, "Dataset as NumPy…", ExportKind::DatasetNpy);
        pick(ui, "Figure pack…", ExportKind::FigurePack);
    });
}

/// Why N1 cannot be written as ONNX or safetensors for the current set and image size (its dense
/// form exceeds the export limit), when the cache has built it and it does.
fn n1_too_large_for_onnx(app: &AppState) -> Option<String> {
    let (height, width) = (app.session.dataset.height, app.session.dataset.width);
    let n1 = app.cache.network(Which::N1, (app.classes_version, height, width))?;
    let weights: usize = n1.network.report().iter().map(|r| r.params_dense).sum();
    (weights > MAX_EXPORT_PARAMETERS).then(|| {
        format!(
            "N1 on {height}×{width} images needs {weights} weights written out, more than the {MAX_EXPORT_PARAMETERS}              a file may hold: export N2, which computes the same logits, or use smaller images."
        )
    })
}

/// The path window of a requested export; asks for the export once the user confirms it (and the
/// folder it needs exists), and for the confirmed folder to become the last one used.
pub fn window_ui(ctx: &egui::Context, exports: &mut ExportState, commands: &mut Vec<Command>) {
    let Some(dialog) = exports.dialog.as_mut() else { return };
    poll_browse(dialog);
    let (mut open, mut confirmed, mut cancelled) = (true, false, false);
    egui::Window::new(dialog.kind.title()).open(&mut open).collapsible(false).show(ctx, |ui| {
        let what = if dialog.kind.is_folder() { "Folder" } else { "File" };
        ui.horizontal(|ui| {
            ui.label(what);
            confirmed = path_field_ui(ui, &mut dialog.path, 360.0);
            let can_browse = dialog.browse.is_none() && !browse::unavailable();
            let button = ui.add_enabled(can_browse, egui::Button::new("Browse…"));
            if button.on_disabled_hover_text(browse::UNAVAILABLE_NOTE).clicked() {
                start_browse(ctx, dialog);
            }
        });
        if let Some(note) = &dialog.note {
            ui.colored_label(crate::app::theme::WARNING, note);
        }
        if let Some(folder) = dialog.missing.clone() {
            match create_folder_ui(ui, &folder, "Export") {
                Ok(made) => confirmed |= made,
                Err(message) => dialog.note = Some(message),
            }
        }
        ui.horizontal(|ui| {
            confirmed |= ui.button("Export").clicked();
            cancelled = ui.button("Cancel").clicked();
        });
    });
    if confirmed {
        let path = expand_typed(&dialog.path);
        if path.as_os_str().is_empty() {
            dialog.note = Some("type a path first".to_owned());
            return;
        }
        exports.last_typed = Some((dialog.kind, dialog.path.clone()));
        // A folder export makes its own folder; a file needs the one it goes into.
        dialog.missing = if dialog.kind.is_folder() { None } else { missing_folder(&path) };
        if dialog.missing.is_some() {
            return;
        }
        commands.push(Command::SetLastFolder(path.parent().filter(|p| p.is_absolute()).map(PathBuf::from)));
        commands.push(Command::Export { kind: dialog.kind, path });
        exports.dialog = None;
        return;
    }
    if cancelled || !open {
        exports.dialog = None;
    }
}

/// Opens the system file dialog for the export's file or folder.
fn start_browse(ctx: &egui::Context, dialog: &mut ExportDialog) {
    let pick = if dialog.kind.is_folder() { Pick::Folder } else { Pick::Save(dialog.path.clone()) };
    match Browse::start(ctx, browse::Dialog::new(), pick) {
        Ok(browse) => dialog.browse = Some(browse),
        Err(error) => dialog.note = Some(format!("no file dialog ({error}): type the path")),
    }
}

fn poll_browse(dialog: &mut ExportDialog) {
    let Some(picked) = dialog.browse.as_ref().and_then(Browse::poll) else { return };
    dialog.browse = None;
    match picked {
        Some(path) => dialog.path = path.display().to_string(),
        None if browse::unavailable() => dialog.note = Some(browse::UNAVAILABLE_NOTE.to_owned()),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_dataset_is_exportable_only_when_current() {
        let mut app = AppState::new(None);
        assert!(current_dataset_settings(&app).unwrap_err().contains("generate the dataset first"));
        let spec = app.session.dataset.to_spec().unwrap();
        app.cache.generate_dataset(None, &app.classes, app.dataset_request());
        while app.dataset().is_none() {
            app.cache.poll();
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(app.dataset_is_current());
        assert_eq!(current_dataset_settings(&app).unwrap().to_spec().unwrap(), spec);
        app.session.dataset.seed += 1;
        assert!(!app.dataset_is_current());
        let error = current_dataset_settings(&app).unwrap_err();
        assert!(error.contains("out of date") && error.contains("generate the dataset first"), "{error}");
    }
}
