//! The egui application: menu bar, the class tree on the left, the central views as tabs, a status
//! line with background jobs, toasts and a log. No mathematics here: the app is a view onto `core`.
//!
//! # Layers
//! From the bottom: [`ids`] (names of the views, path windows and exports), [`settings`],
//! [`theme`] (colours, image conversions, the texture cache), [`widgets`] (heat maps, histograms,
//! the file dialog), [`jobs`] (the one background runner and its keyed results),
//! [`training_job`] and [`export_job`] (what the training run and an export compute, off the UI
//! thread), [`imported`], [`cache`] (the dataset, N1/N2 and what views share of them, and every
//! job a command starts), [`command`], [`scene_jobs`] (scenes read and written on the runner) and
//! [`state`]. Above them the views (`views/`, `lecture/`, `tree`, [`export_menu`]); on top
//! `TilelabApp` (this file and `run.rs`), which draws the views and applies their commands. No
//! module imports one above it, and no view imports another view's module.
//!
//! # How a view plugs in
//! - A view is a file in `views/` with a small state struct (`XViewState: Default`, held in
//!   [`views::ViewStates`]) and
//!   `pub fn ui(ui: &mut egui::Ui, app: &AppState, view: &mut XViewState, textures: &mut TextureCache, commands: &mut Vec<Command>)`
//!   (without `textures` when it draws no image). Add a variant to [`ids::View`] and a match arm
//!   in `TilelabApp::central_ui`.
//! - It reads the user's work from [`state::AppState`] and never writes it: every change is a
//!   [`command::Command`] it pushes into `commands`: tile-set edits (`Command::Edit`, undoable; a
//!   brush stroke is one merged edit), settings (`SetDatasetSettings`, `SetRendering`,
//!   `SetLastFolder`), work (`GenerateDataset`, `BuildNetwork`, `StartTraining`,
//!   `ControlTraining`, `Export`, `OpenNetwork`, `SaveLectureStep`), and log lines (`Log`).
//!   `TilelabApp::run_commands` (`run.rs`) applies them once, at the end of the frame; the menus,
//!   the shortcuts and the lecture use the same commands. What only the view itself remembers
//!   (tools, zoom, the page of a grid) lives in its `&mut XViewState`.
//! - Data several views share comes from [`cache::Cache`] (`app.cache`): the dataset, N1/N2,
//!   their forward passes of an input image (and the opened ONNX network's), the Figure 4 study
//!   and the gallery's images, each computed once per key (what it depends on), so the views and
//!   the lecture never compute the same thing twice. A view asks with a command
//!   (`GenerateDataset`, `BuildNetwork`, `ForwardPass`, `ImportedForwardPass`, `StudyFigure4`,
//!   `LoadGallery`) when the cache [`jobs::Keyed::needs`] its key, and reads the result there.
//! - Background work goes through [`jobs`]; only `jobs` and [`cache`] start jobs (plus the
//!   training run's own steppable job in [`training_job`], and opening and saving scenes in
//!   [`scene_jobs`]). One-shot work a command starts (an
//!   export, opening a model, saving the run or a lecture step) is a function of [`cache`]
//!   returning the [`jobs::Job`]; whoever asked holds it and reports its outcome. Only
//!   `jobs::native` knows about threads; `jobs::sliced` (the web build) calls the steps from the
//!   UI thread, in slices between frames.
//! - Images are drawn from arrays through the app's one [`theme::TextureCache`]
//!   (`textures.get(ctx, key, stamp, || theme::grey_image(..))`), a render cache `TilelabApp`
//!   owns and passes to each view beside its state.

pub mod cache;
pub mod command;
pub mod export_job;
pub mod export_menu;
pub mod ids;
pub mod imported;
pub mod jobs;
pub mod lecture;
mod run;
pub mod scene_jobs;
pub mod scenes;
pub mod settings;
pub mod state;
pub mod storage;
pub mod theme;
pub mod training_job;
mod training_log;
mod tree;
pub mod views;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
use web::{scene_address, toggle_full_screen};
#[cfg(target_arch = "wasm32")]
pub mod web_files;
#[cfg(target_arch = "wasm32")]
use web_files::pick as pick_in_the_browser;
pub mod widgets;

use std::path::PathBuf;
use std::time::Duration;

use crate::core::clock::Instant;

use serde::{Deserialize, Serialize};

use crate::core::presets::Preset;
use command::{Command, Level, SceneSource};
use ids::{PathPurpose, View};
use state::AppState;
use theme::{Rendering, TextureCache, ThemeChoice};
use views::ViewStates;
use views::dialogs::PathDialog;

/// Key of the UI preferences in eframe's storage.
const PREFS_KEY: &str = "tilelab-ui-prefs";
/// How long an error toast stays visible.
const TOAST_DURATION: Duration = Duration::from_secs(6);

/// UI preferences kept in eframe storage (the user's work is kept elsewhere, see [`state`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
// Preferences stored by an older version lack the newer fields: those take their defaults.
#[serde(default)]
pub struct UiPrefs {
    /// Dark or light.
    pub theme: ThemeChoice,
    /// egui's zoom factor.
    pub zoom: f32,
    /// The welcome window was closed once: it no longer opens at start (Help → Getting started does).
    pub welcome_dismissed: bool,
}

impl Default for UiPrefs {
    fn default() -> Self {
        Self { theme: ThemeChoice::Dark, zoom: 1.0, welcome_dismissed: false }
    }
}

/// The application: shared state, per-view state and UI preferences.
pub struct TilelabApp {
    /// The user's work and everything views share.
    pub state: AppState,
    /// Per-view state, dialogs and the gallery.
    pub views: ViewStates,
    /// Theme and zoom.
    pub prefs: UiPrefs,
    /// Textures uploaded from arrays (a render cache: views draw through it, nothing else reads it).
    textures: TextureCache,
    /// Commands asked for during this frame (by the views, menus and shortcuts), applied at its end.
    commands: Vec<Command>,
    timing: Option<timing::FrameTiming>,
    training_log: training_log::TrainingLog,
}

impl TilelabApp {
    /// An app restored from `data_dir` (tests pass a temporary folder so they never touch the user's),
    /// as a returning user sees it (the welcome window was dismissed before), with no durations in
    /// its messages (snapshots must not depend on the clock).
    pub fn new_for_tests(data_dir: PathBuf) -> Self {
        Self::with_prefs_for_tests(data_dir, UiPrefs { welcome_dismissed: true, ..UiPrefs::default() })
    }

    /// An app restored from `data_dir` with the UI preferences `prefs` (a first start: the defaults).
    pub fn with_prefs_for_tests(data_dir: PathBuf, prefs: UiPrefs) -> Self {
        let mut state = AppState::restore(Some(data_dir));
        state.cache.hide_durations = true;
        Self::new(state, prefs, None)
    }

    fn from_creation(cc: &eframe::CreationContext<'_>, started: Instant) -> Self {
        let prefs: UiPrefs = cc.storage.and_then(|s| eframe::get_value(s, PREFS_KEY)).unwrap_or_default();
        prefs.theme.apply(&cc.egui_ctx);
        if prefs.zoom.is_finite() && (0.25..=4.0).contains(&prefs.zoom) {
            cc.egui_ctx.set_zoom_factor(prefs.zoom);
        }
        let timing = std::env::var_os("TILELAB_TIMING").map(|_| timing::FrameTiming::new(started));
        let state = AppState::restore(storage::default_data_dir());
        Self::new(state, prefs, timing)
    }

    fn new(state: AppState, prefs: UiPrefs, timing: Option<timing::FrameTiming>) -> Self {
        let views = ViewStates::starting(&state, !prefs.welcome_dismissed);
        Self {
            views,
            state,
            prefs,
            textures: TextureCache::default(),
            commands: Vec::new(),
            timing,
            training_log: training_log::TrainingLog::default(),
        }
    }

    /// One whole frame: panels, views, dialogs, then the frame's commands.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let frame_start = Instant::now();
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        #[cfg(target_arch = "wasm32")]
        self.open_files_picked_in_the_browser();
        self.shortcuts(&ctx);
        self.open_dropped_scenes(&ctx);
        lecture::handle_keys(&ctx, &mut self.views.lecture);
        self.handle_close_request(&ctx);
        if self.views.lecture.active {
            // Lecture mode replaces every panel with the full-window lecture page.
            egui::CentralPanel::default().show(ui, |ui| {
                views::lecture::ui(ui, &self.state, &mut self.views.lecture, &mut self.textures, &mut self.commands);
            });
        } else {
            egui::Panel::top("menu bar").show(ui, |ui| self.menu_ui(ui));
            egui::Panel::bottom("status line").show(ui, |ui| self.status_ui(ui));
            egui::Panel::left("class tree").resizable(true).default_size(250.0).show(ui, |ui| {
                tree::tree_ui(ui, &self.state, &mut self.views.dialogs, &mut self.textures, &mut self.commands);
            });
            egui::CentralPanel::default().show(ui, |ui| self.central_ui(ui));
        }
        views::dialogs::ui(&ctx, &self.state, &mut self.views.dialogs, &mut self.commands);
        if !self.views.lecture.active {
            views::welcome::window_ui(
                &ctx,
                &mut self.views.dialogs.welcome,
                &mut self.prefs.welcome_dismissed,
                self.state.session.rendering,
            );
        }
        views::gallery::window_ui(&ctx, &self.state, &mut self.views.gallery, &mut self.textures, &mut self.commands);
        export_menu::window_ui(&ctx, &mut self.views.exports, &mut self.commands);
        self.toasts_ui(&ctx);
        self.scene_jobs_ui(&ctx);
        self.run_commands(&ctx);
        self.textures.evict_unused(&ctx);
        if let Some(due) = self.state.autosave_pending() {
            ctx.request_repaint_after(due.saturating_duration_since(Instant::now()));
        }
        if let Some(timing) = &mut self.timing {
            timing.frame_done(frame_start, &ctx);
        }
    }

    /// Queues a command for the end of the frame.
    pub fn push(&mut self, command: Command) {
        self.commands.push(command);
    }

    /// Non-UI work each frame: finished jobs and the debounced autosaves.
    fn poll(&mut self, ctx: &egui::Context) {
        self.poll_imported(ctx);
        self.poll_scenes(ctx);
        if let Some(job) = &self.state.training {
            job.attach(ctx);
            self.training_log.note(&job.progress());
        }
        if let Some((level, text)) = self.views.exports.poll() {
            self.state.add_log(level, text);
        }
        for note in self.state.cache.poll() {
            match note {
                cache::Note::Info(text) => self.state.info(text),
                // The dataset view and the networks' sides show these where the value or network is.
                cache::Note::Error(text) => self.state.error_shown_in_place(text),
                cache::Note::Alert(text) => self.state.error(text),
            }
        }
        self.state.autosave_if_due(Instant::now());
        self.state.autosave_training();
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        use egui::{Key, KeyboardShortcut, Modifiers};
        let shift = Modifiers::COMMAND | Modifiers::SHIFT;
        // Longer shortcuts first: Ctrl+S would also match Ctrl+Shift+S.
        let table = [
            (KeyboardShortcut::new(shift, Key::S), Command::AskPath(PathPurpose::SaveTileSetAs)),
            (KeyboardShortcut::new(shift, Key::Z), Command::Redo),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::S), Command::Save),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::Z), Command::Undo),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::Y), Command::Redo),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::N), Command::NewTileSet),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::O), Command::AskPath(PathPurpose::OpenTileSet)),
            (KeyboardShortcut::new(Modifiers::COMMAND, Key::Q), Command::Quit),
        ];
        // A page is closed by its tab: the web build has no Quit.
        let table = table.into_iter().filter(|(_, command)| storage::FILE_PATHS || *command != Command::Quit);
        // In the Training view, undo and redo act on the settings edited there while they have
        // edits to take back or make again, then on the work (a scene opened from there, a tile set).
        let editing_training = self.state.session.view == View::Training && !self.views.lecture.active;
        for (shortcut, command) in table {
            if ctx.input_mut(|i| i.consume_shortcut(&shortcut)) {
                let handled = match command {
                    Command::Undo if editing_training => self.views.training.undo_edit(),
                    Command::Redo if editing_training => self.views.training.redo_edit(),
                    _ => false,
                };
                if !handled {
                    self.push(command);
                }
            }
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::F11)) {
            let fullscreen = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
            ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!fullscreen));
        }
    }

    /// Closing with unsaved work asks first.
    fn handle_close_request(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.viewport().close_requested()) && self.state.is_dirty() && !self.views.dialogs.quit_confirmed
        {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            self.views.dialogs.confirm_quit = true;
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            self.file_menu_ui(ui);
            self.edit_menu_ui(ui);
            self.view_menu_ui(ui);
            ui.menu_button("Help", |ui| {
                let dialogs = &mut self.views.dialogs;
                if ui.button("Getting started").clicked() {
                    dialogs.welcome = true;
                }
                if ui.button("Keyboard shortcuts").clicked() {
                    dialogs.shortcuts = true;
                }
                if ui.button("Log").clicked() {
                    dialogs.log = true;
                }
                if ui.button("About tilelab").clicked() {
                    dialogs.about = true;
                }
            });
        });
    }

    fn file_menu_ui(&mut self, ui: &mut egui::Ui) {
        use PathPurpose as P;
        ui.menu_button("File", |ui| {
            let items = [
                ("New", "Ctrl+N", Command::NewTileSet),
                ("Open…", "Ctrl+O", Command::AskPath(P::OpenTileSet)),
                ("Save", "Ctrl+S", Command::Save),
                ("Save as…", "Ctrl+Shift+S", Command::AskPath(P::SaveTileSetAs)),
                ("Import tile image…", "", Command::AskPath(P::ImportTileImage)),
                ("Tile gallery…", "", Command::ShowGallery),
                ("Open IDX files…", "", Command::AskPath(P::OpenIdx)),
                ("Open network (ONNX)…", "", Command::AskPath(P::OpenNetwork)),
                ("Export atlas PNG…", "", Command::AskPath(P::ExportAtlas)),
                ("Export tile PNG…", "", Command::AskPath(P::ExportTilePng)),
            ];
            for (label, shortcut, command) in items {
                let button = egui::Button::new(label);
                // An empty shortcut text would still add a space to the accessible label.
                let button = if shortcut.is_empty() { button } else { button.shortcut_text(shortcut) };
                if ui.add(button).clicked() {
                    self.push(command);
                }
            }
            ui.separator();
            self.scene_menu_ui(ui);
            ui.separator();
            export_menu::menu_ui(ui, &self.state, &mut self.views.exports, &mut self.commands);
            ui.menu_button("Examples", |ui| {
                for (name, text) in crate::core::scene::BUNDLED {
                    if ui.button(name).on_hover_text(crate::core::scene::title_of(text)).clicked() {
                        self.push(Command::OpenScene(SceneSource::Example(name)));
                    }
                }
                ui.separator();
                ui.label(egui::RichText::new("Tile sets").weak());
                for preset in Preset::ALL {
                    if ui.button(preset.label()).clicked() {
                        self.push(Command::LoadPreset(preset));
                    }
                }
            });
            // A web page is closed by its tab.
            if storage::FILE_PATHS {
                ui.separator();
                if ui.add(egui::Button::new("Quit").shortcut_text("Ctrl+Q")).clicked() {
                    self.push(Command::Quit);
                }
            }
        });
    }

    /// File → Open scene…, Save scene, Save scene as…, Copy link to this scene, Recent scenes.
    fn scene_menu_ui(&mut self, ui: &mut egui::Ui) {
        let items = [
            ("Open scene…", Command::AskPath(PathPurpose::OpenScene)),
            ("Save scene", Command::SaveSceneHere),
            ("Save scene as…", Command::AskPath(PathPurpose::SaveSceneAs)),
            ("Copy link to this scene", Command::CopySceneLink),
        ];
        for (label, command) in items {
            if ui.button(label).clicked() {
                self.push(command);
            }
        }
        // A page cannot reopen a file by its path: the web build has no recent scenes.
        if !storage::FILE_PATHS {
            return;
        }
        let recent = self.state.session.recent_scenes.clone();
        ui.add_enabled_ui(!recent.is_empty(), |ui| {
            ui.menu_button("Recent scenes", |ui| {
                for path in recent {
                    let name = path
                        .file_name()
                        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
                    if ui.button(name).on_hover_text(path.display().to_string()).clicked() {
                        self.push(Command::OpenScene(SceneSource::File(path)));
                    }
                }
            });
        });
    }

    /// A `.tilelab` file dropped onto the window opens as a scene.
    fn open_dropped_scenes(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        for path in dropped {
            if path.extension().is_some_and(|e| e == crate::core::scene::EXTENSION) {
                self.push(Command::OpenScene(SceneSource::File(path)));
            } else {
                self.state.warn(format!("{} is not a scene (.tilelab): nothing opened", path.display()));
            }
        }
    }

    fn edit_menu_ui(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("Edit", |ui| {
            let undo = egui::Button::new("Undo").shortcut_text("Ctrl+Z");
            if ui.add_enabled(self.state.history.can_undo(), undo).clicked() {
                self.push(Command::Undo);
            }
            let redo = egui::Button::new("Redo").shortcut_text("Ctrl+Shift+Z");
            if ui.add_enabled(self.state.history.can_redo(), redo).clicked() {
                self.push(Command::Redo);
            }
            ui.separator();
            if ui.button("Open scene from link…").clicked() {
                self.push(Command::AskSceneLink);
            }
            ui.separator();
            if ui.button("Add class").clicked()
                && let Some(edit) = tree::new_class_edit(&self.state.classes)
            {
                self.push(Command::Edit(edit));
            }
        });
    }

    fn view_menu_ui(&mut self, ui: &mut egui::Ui) {
        ui.menu_button("View", |ui| {
            for view in View::ALL {
                if ui.radio(self.state.session.view == view, view.label()).clicked() {
                    self.push(Command::ShowView(view));
                }
            }
            ui.separator();
            for (choice, label) in [(ThemeChoice::Dark, "Dark theme"), (ThemeChoice::Light, "Light theme")] {
                if ui.radio(self.prefs.theme == choice, label).clicked() {
                    self.prefs.theme = choice;
                    choice.apply(ui.ctx());
                }
            }
            ui.separator();
            for rendering in [Rendering::OneIsBright, Rendering::OneIsInk] {
                if ui.radio(self.state.session.rendering == rendering, rendering.label()).clicked() {
                    self.push(Command::SetRendering(rendering));
                }
            }
            ui.separator();
            if ui.add(egui::Button::new("Lecture mode").shortcut_text("F5")).clicked() {
                self.views.lecture.enter(ui.ctx(), 0);
            }
            ui.separator();
            egui::gui_zoom::zoom_menu_buttons(ui);
            if ui.add(egui::Button::new("Full screen").shortcut_text("F11")).clicked() {
                toggle_full_screen(ui.ctx());
            }
        });
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for view in View::ALL {
                if ui.selectable_label(self.state.session.view == view, view.label()).clicked() {
                    self.push(Command::ShowView(view));
                }
            }
            if ui.button("Lecture (F5)").on_hover_text("Full-screen lecture mode").clicked() {
                self.views.lecture.enter(ui.ctx(), 0);
            }
            ui.separator();
            let mut rendering = self.state.session.rendering;
            egui::ComboBox::from_label("Pixel values").selected_text(rendering.label()).show_ui(ui, |ui| {
                ui.selectable_value(&mut rendering, Rendering::OneIsBright, Rendering::OneIsBright.label());
                ui.selectable_value(&mut rendering, Rendering::OneIsInk, Rendering::OneIsInk.label());
            });
            if rendering != self.state.session.rendering {
                self.push(Command::SetRendering(rendering));
            }
        });
        ui.separator();
        let (app, v, textures, commands) = (&self.state, &mut self.views, &mut self.textures, &mut self.commands);
        match app.session.view {
            View::Tiles => views::tiles::ui(ui, app, &mut v.tiles, textures, commands),
            View::Dataset => views::dataset::ui(ui, app, &mut v.dataset, textures, commands),
            View::Networks => views::networks::ui(ui, app, &mut v.networks, textures, commands),
            View::Training => views::training::ui(ui, app, &mut v.training, commands),
            View::Invariance => views::invariance::ui(ui, app, &mut v.invariance, commands),
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(job) = self.state.cache.dataset_job() {
                let shared = job.shared();
                let bar = egui::ProgressBar::new(shared.progress()).desired_width(160.0).show_percentage();
                ui.add(bar);
                ui.label(format!("{} ({:.1} s)", shared.name, job.elapsed_seconds()));
                // Progress comes from an atomic counter: keep looking while the job runs.
                ui.ctx().request_repaint_after(Duration::from_millis(100));
                if ui.button("Cancel").clicked() {
                    shared.cancel();
                }
                ui.separator();
            }
            if self.state.cache.gallery().is_running() {
                ui.spinner();
                ui.label("loading images");
                ui.separator();
            }
            let file = self
                .state
                .session
                .tileset_path
                .as_ref()
                .map_or("not saved to a file".to_owned(), |p| p.display().to_string());
            ui.label(file);
            if self.state.is_dirty() {
                ui.label("* unsaved changes");
            }
            ui.separator();
            if let Some(entry) = self.state.last_message() {
                let color = level_color(ui, entry.level);
                let text = entry.text.clone();
                if ui
                    .add(egui::Label::new(egui::RichText::new(text).color(color)).sense(egui::Sense::click()))
                    .clicked()
                {
                    self.views.dialogs.log = true;
                }
            }
        });
    }

    /// Recent errors float at the bottom right for a few seconds (all stay in the log).
    fn toasts_ui(&self, ctx: &egui::Context) {
        let recent: Vec<_> = self
            .state
            .log
            .iter()
            .rev()
            .take(3)
            .filter(|e| e.level == Level::Error && !e.shown_in_place && e.at.elapsed() < TOAST_DURATION)
            .collect();
        if recent.is_empty() {
            return;
        }
        ctx.request_repaint_after(Duration::from_millis(500));
        egui::Area::new(egui::Id::unique("tilelab toasts")).anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -36.0]).show(
            ctx,
            |ui| {
                for entry in recent {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.colored_label(theme::ERROR, &entry.text);
                    });
                }
            },
        );
    }

    /// Opens the path dialog for `purpose`, prefilled from the current file when it helps.
    fn ask_path(&mut self, ctx: &egui::Context, purpose: PathPurpose) {
        if !storage::FILE_PATHS {
            self.ask_file_in_the_browser(ctx, purpose);
            return;
        }
        let session = &self.state.session;
        let tileset = session.tileset_path.as_deref();
        let folder = widgets::path_field::default_folder(session.last_folder.as_deref(), tileset);
        let start = match (&self.views.dialogs.last_typed, purpose) {
            (Some((last, typed)), _) if *last == purpose => typed.clone(),
            (_, PathPurpose::SaveTileSetAs | PathPurpose::OpenTileSet) if tileset.is_some() => {
                tileset.map(|p| p.display().to_string()).unwrap_or_default()
            }
            // An absolute folder the user sees, ending in a separator so a name can be typed on.
            _ => folder.join(purpose.default_name()).display().to_string(),
        };
        self.views.dialogs.path = Some(PathDialog::new(purpose, start));
        // A new path window replaces any Save As that "Save and quit" opened.
        self.views.dialogs.quit_after_save = false;
    }

    /// The web build's stand-in for a path window: a save becomes a download under the proposed
    /// name, an open the browser's file picker.
    fn ask_file_in_the_browser(&mut self, ctx: &egui::Context, purpose: PathPurpose) {
        if purpose.is_save() {
            match PathDialog::new(purpose, purpose.default_name().to_owned()).command(&self.state) {
                Ok(command) => self.push(command),
                Err(error) => self.state.error(error),
            }
        } else if let Err(error) = pick_in_the_browser(ctx, purpose) {
            self.state.error(format!("{}: {error}", purpose.title()));
        }
    }

    /// Turns the files picked in the browser since the last frame into commands.
    #[cfg(target_arch = "wasm32")]
    fn open_files_picked_in_the_browser(&mut self) {
        for picked in web_files::take_picked() {
            match picked {
                Ok(web_files::Picked { purpose, files }) => self.push(Command::OpenPicked { purpose, files }),
                Err(error) => self.state.error(error),
            }
        }
    }
}

fn level_color(ui: &egui::Ui, level: Level) -> egui::Color32 {
    match level {
        Level::Info => ui.visuals().text_color(),
        Level::Warning => theme::WARNING,
        Level::Error => theme::ERROR,
    }
}

impl eframe::App for TilelabApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll(ctx);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, PREFS_KEY, &self.prefs);
        self.state.autosave_now();
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.state.autosave_now();
        self.state.save_training_now();
    }
}

/// Opens the desktop window ("tilelab", 1280×800, glow renderer).
#[cfg(not(target_arch = "wasm32"))]
pub fn run(scene: Option<PathBuf>) -> anyhow::Result<()> {
    let started = Instant::now();
    // A second logger (tests, embedding) is fine: keep the first.
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).try_init();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default().with_title("tilelab").with_inner_size([1280.0, 800.0]),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    let open_at_start = move |cc: &eframe::CreationContext<'_>| {
        let mut app = TilelabApp::from_creation(cc, started);
        if let Some(path) = scene {
            app.push(Command::OpenScene(SceneSource::File(path)));
        }
        Ok(Box::new(app) as Box<dyn eframe::App>)
    };
    eframe::run_native("tilelab", options, Box::new(open_at_start))
        .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// The desktop has path windows instead of the browser's file picker.
#[cfg(not(target_arch = "wasm32"))]
fn pick_in_the_browser(_ctx: &egui::Context, _purpose: PathPurpose) -> Result<(), String> {
    Err("the desktop opens files through its path windows".to_owned())
}

/// Puts the window in full screen or back (the web build asks the browser for the page).
#[cfg(not(target_arch = "wasm32"))]
fn toggle_full_screen(ctx: &egui::Context) {
    let fullscreen = ctx.input(|i| i.viewport().fullscreen.unwrap_or(false));
    ctx.send_viewport_cmd(egui::ViewportCommand::Fullscreen(!fullscreen));
}

/// What "Copy link to this scene" copies on the desktop: the bare link (the web build copies the
/// page's address with it).
#[cfg(not(target_arch = "wasm32"))]
fn scene_address(link: &str) -> String {
    link.to_owned()
}

mod timing {
    //! Optional frame timing (`TILELAB_TIMING=1`): time to the first frame and UI time per frame, on stderr.

    use std::time::Duration;

    use crate::core::clock::Instant;

    /// Frames per printed summary.
    const WINDOW: usize = 120;

    /// Collects frame times and prints a summary every [`WINDOW`] frames.
    pub struct FrameTiming {
        started: Instant,
        first_frame_reported: bool,
        ui_ms: Vec<f32>,
        last_frame_end: Option<Instant>,
        interval_ms: Vec<f32>,
    }

    impl FrameTiming {
        /// Starts timing from process start `started`.
        pub fn new(started: Instant) -> Self {
            Self {
                started,
                first_frame_reported: false,
                ui_ms: Vec::new(),
                last_frame_end: None,
                interval_ms: Vec::new(),
            }
        }

        /// Records one frame whose UI work began at `frame_start`; keeps frames coming to measure idle cost.
        pub fn frame_done(&mut self, frame_start: Instant, ctx: &egui::Context) {
            let now = Instant::now();
            if !self.first_frame_reported {
                self.first_frame_reported = true;
                eprintln!(
                    "tilelab timing: first frame built {:.1} ms after start",
                    (now - self.started).as_secs_f32() * 1e3
                );
            }
            self.ui_ms.push((now - frame_start).as_secs_f32() * 1e3);
            if let Some(last) = self.last_frame_end {
                self.interval_ms.push((now - last).as_secs_f32() * 1e3);
            }
            self.last_frame_end = Some(now);
            if self.ui_ms.len() >= WINDOW {
                eprintln!(
                    "tilelab timing: ui {}; frame interval {}",
                    summary(&mut self.ui_ms),
                    summary(&mut self.interval_ms)
                );
                self.ui_ms.clear();
                self.interval_ms.clear();
            }
            ctx.request_repaint_after(Duration::from_millis(1));
        }
    }

    fn summary(values: &mut [f32]) -> String {
        if values.is_empty() {
            return "n/a".to_owned();
        }
        values.sort_by(f32::total_cmp);
        let median = values[values.len() / 2];
        let max = values[values.len() - 1];
        format!("median {median:.2} ms, max {max:.2} ms over {} frames", values.len())
    }
}
