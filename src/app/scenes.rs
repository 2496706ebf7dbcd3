//! Scenes in the app (`core::scene`): the current work captured as a scene (File → Save scene,
//! the lecture's "Start lecture here"), and a scene put into the app (File → Open scene, Recent
//! scenes, Examples, Edit → Open scene from link, a dropped file, `tilelab open F.tilelab`).
//!
//! Scenes are read, checked and written on the job runner (`app::scene_jobs`); a scene that does
//! not open leaves the work as it was. Opening is one undo step that keeps the whole work it
//! replaced (`scene_jobs::Work`): undo brings back the settings, the view, the trained network
//! (paused), the opened ONNX model and the lecture step; redo brings the scene's back.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::core::scene::{self, Figure4Settings, LectureStart, Scene, SceneTiles};
use crate::core::tile::TileId;

use super::TilelabApp;
use super::command::SceneSource;
use super::scene_jobs::{Opened, Saved, Work, preset_of, trained_run, training_settings};
use super::training_job::{SavedRun, TrainingJob};

/// Most scenes File → Recent scenes lists.
pub const RECENT_SCENES: usize = 8;

impl TilelabApp {
    /// The current work as a scene, without its ONNX model; `lecture` marks where a lecture
    /// should start. With the model's name and file, to embed when the scene is written.
    pub fn capture_scene(&self, lecture: Option<LectureStart>) -> Result<(Scene, Option<(String, PathBuf)>), String> {
        let state = &self.state;
        let views = &self.views;
        let tiles =
            preset_of(&state.classes).map_or_else(|| SceneTiles::Custom(state.classes.clone()), SceneTiles::Preset);
        let trained = state.training.as_ref().and_then(TrainingJob::to_saved).map(trained_run);
        let model = state.imported.network.as_ref().map(|network| (network.name(), network.path.clone()));
        let scene = Scene {
            title: String::new(),
            tiles,
            dataset: state.session.dataset.to_spec()?,
            training: training_settings(&views.training.config, &views.training.limits),
            trained,
            model: None,
            network: views.networks.which,
            figure4: self.figure4_settings(),
            view: state.session.view.kind(),
            lecture,
        };
        Ok((scene, model))
    }

    fn figure4_settings(&self) -> Figure4Settings {
        let invariance = &self.views.invariance;
        Figure4Settings {
            tiles: invariance.tiles.clone(),
            samples: invariance.samples,
            seed: invariance.seed,
            epsilon_override: invariance.override_epsilon.then_some(invariance.epsilon),
            every_offset: invariance.every_offset,
        }
    }

    /// Saves the work as a scene at `path` in the background (it then becomes the current scene
    /// file and a recent one).
    pub(super) fn save_scene(&mut self, ctx: &egui::Context, path: PathBuf, lecture: Option<LectureStart>) {
        match self.capture_scene(lecture) {
            Ok((scene, model)) => self.state.scene_jobs.save(Some(ctx), path, scene, model, lecture.is_some()),
            Err(error) => self.state.error(format!("could not save the scene {}: {error}", path.display())),
        }
    }

    /// Copies a link to the current scene to the clipboard: on the web the page's address ending in
    /// `#scene=…`, on the desktop the bare link (Edit → Open scene from link takes either).
    pub(super) fn copy_scene_link(&mut self, ctx: &egui::Context) {
        let link = self.capture_scene(None).and_then(|(scene, _)| scene::to_link(&scene).map_err(|e| e.to_string()));
        match link {
            Ok((link, left_out)) => {
                let text = super::scene_address(&link);
                let notes = left_out.iter().fold(String::new(), |notes, warning| notes + "; " + &warning.to_string());
                self.state.info(format!("copied the link to this scene ({} characters){notes}", text.len()));
                // The whole link goes only to the log (the browser's console), never the status line.
                log::info!("scene link: {text}");
                ctx.copy_text(text);
            }
            Err(error) => self.state.error(format!("could not make a link to this scene: {error}")),
        }
    }

    /// Opens the scene `link` holds (the web build's `index.html#scene=…`).
    pub fn open_scene_link(&mut self, ctx: &egui::Context, link: &str) {
        self.open_scene(ctx, SceneSource::Link(link.to_owned()));
    }

    /// Reads and checks the scene `source` names in the background; [`Self::poll_scenes`] puts it
    /// into the app once it is whole.
    pub(super) fn open_scene(&mut self, ctx: &egui::Context, source: SceneSource) {
        let state = &mut self.state;
        let data_dir = state.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        state.scene_jobs.open(Some(ctx), source, data_dir, self.views.training.speed);
    }

    /// Takes a scene opened or saved in the background.
    pub(super) fn poll_scenes(&mut self, ctx: &egui::Context) {
        match self.state.scene_jobs.poll_opened() {
            Some(Ok(opened)) => self.apply_opened(ctx, opened),
            Some(Err(error)) => self.state.error(error),
            None => {}
        }
        if let Some(saved) = self.state.scene_jobs.poll_saved() {
            self.scene_saved(saved);
        }
    }

    fn scene_saved(&mut self, saved: Saved) {
        let Saved { path, lecture, outcome } = saved;
        let state = &mut self.state;
        match outcome {
            Ok(()) => {
                if !lecture {
                    state.session.scene_path = Some(path.clone());
                }
                remember_recent(&mut state.session.recent_scenes, &path);
                state.changed();
                state.info(format!("saved the scene {}", path.display()));
            }
            Err(error) => state.error(format!("could not save the scene {}: {error}", path.display())),
        }
    }

    /// Puts a checked scene into the app as one undo step.
    fn apply_opened(&mut self, ctx: &egui::Context, opened: Opened) {
        let Opened { source, title, classes, mut work, model, warnings } = opened;
        if let Some((model, path, kept)) = model {
            work.network = Some(self.state.imported.adopt(model, path));
            work.network_path = kept;
        }
        let before = self.capture_work();
        self.state.replace_work(classes, &work, before);
        self.restore_work(ctx, &work);
        if let SceneSource::File(path) = &source {
            remember_recent(&mut self.state.session.recent_scenes, path);
        }
        for warning in warnings {
            self.state.warn(format!("scene: {warning}"));
        }
        self.state.info(format!("opened the scene {}: {title}", source.describe()));
    }

    /// Everything besides the tile set that opening a scene replaces, as it is now.
    fn capture_work(&self) -> Arc<Work> {
        let (state, views) = (&self.state, &self.views);
        let invariance = &views.invariance;
        let lecture = &views.lecture;
        Arc::new(Work {
            dataset: state.session.dataset.clone(),
            view: state.session.view,
            training: views.training.config,
            limits: views.training.limits,
            speed: views.training.speed,
            run: state.training.as_ref().and_then(TrainingJob::to_saved).map(Arc::new),
            network: state.imported.network.clone(),
            network_path: state.session.network_path.clone(),
            network_loading: state.imported.loading().map(Path::to_path_buf),
            which: views.networks.which,
            shown: views.networks.shown,
            figure4: self.figure4_settings(),
            figure4_epsilon: Some(invariance.epsilon),
            lecture: lecture.active.then_some(lecture.step),
            followed: lecture.interaction.tile,
            scene_path: state.session.scene_path.clone(),
        })
    }

    /// Puts back what [`Self::capture_work`] captured beyond the dataset settings and view (which
    /// `AppState` restores with the tile set).
    fn restore_work(&mut self, ctx: &egui::Context, work: &Work) {
        let (state, views) = (&mut self.state, &mut self.views);
        (views.training.config, views.training.limits, views.training.speed) = (work.training, work.limits, work.speed);
        state.training = None;
        if let Some(run) = &work.run {
            match state.resume_run(SavedRun::clone(run)) {
                Ok(job) => state.training = Some(job),
                Err(error) => state.warn(format!("the trained network cannot continue: {error}")),
            }
        }
        state.imported.close();
        state.imported.network.clone_from(&work.network);
        state.session.network_path.clone_from(&work.network_path);
        if let Some(path) = &work.network_loading {
            state.imported.open(path, super::cache::open_network(Some(ctx), path));
        }
        (views.networks.which, views.networks.shown) = (work.which, work.shown);
        let invariance = &mut views.invariance;
        let figure4 = &work.figure4;
        invariance.tiles.clone_from(&figure4.tiles);
        (invariance.samples, invariance.seed, invariance.every_offset) =
            (figure4.samples, figure4.seed, figure4.every_offset);
        invariance.override_epsilon = figure4.epsilon_override.is_some();
        if let Some(epsilon) = figure4.epsilon_override.or(work.figure4_epsilon) {
            invariance.epsilon = epsilon;
        }
        let lecture = &mut views.lecture;
        lecture.interaction.tile = work.followed;
        match work.lecture {
            Some(step) => lecture.enter(ctx, step),
            None if lecture.active => lecture.leave(ctx),
            None => {}
        }
        state.session.scene_path.clone_from(&work.scene_path);
        state.changed();
    }

    /// Undoes the last edit, or the opening of a scene with all the work it replaced.
    pub(super) fn undo(&mut self, ctx: &egui::Context) {
        let current = self.state.undo_crosses_scene().then(|| self.capture_work());
        if let Some(work) = self.state.undo(current) {
            self.restore_work(ctx, &work);
        }
    }

    /// Redoes the last undone edit, or the opening of a scene with the scene's work as it was undone.
    pub(super) fn redo(&mut self, ctx: &egui::Context) {
        let current = self.state.redo_crosses_scene().then(|| self.capture_work());
        if let Some(work) = self.state.redo(current) {
            self.restore_work(ctx, &work);
        }
    }

    /// While a scene opens or saves: a small window saying so, with its progress (opening can be cancelled).
    pub(super) fn scene_jobs_ui(&mut self, ctx: &egui::Context) {
        let running = self.state.scene_jobs.running();
        if running.is_empty() {
            return;
        }
        // The elapsed time comes from the clock: keep looking while the job runs.
        ctx.request_repaint_after(Duration::from_millis(100));
        egui::Area::new(egui::Id::unique("tilelab scene jobs")).anchor(egui::Align2::CENTER_TOP, [0.0, 40.0]).show(
            ctx,
            |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    for (name, progress, seconds) in running {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label(format!("{name}… ({seconds:.1} s)"));
                            ui.add(egui::ProgressBar::new(progress).desired_width(120.0));
                        });
                    }
                    if self.state.scene_jobs.is_opening() && ui.button("Cancel").clicked() {
                        self.state.scene_jobs.cancel_opening();
                        self.state.info("stopped opening the scene: the work is as it was");
                    }
                });
            },
        );
    }
}

/// Puts `path` first in the recent list (once), keeping at most [`RECENT_SCENES`].
pub fn remember_recent(recent: &mut Vec<PathBuf>, path: &Path) {
    recent.retain(|p| p != path);
    recent.insert(0, path.to_owned());
    recent.truncate(RECENT_SCENES);
}

/// Where "Start lecture here" starts: step `step` (0-based) following `tile`.
pub fn lecture_start(step: usize, tile: Option<TileId>) -> LectureStart {
    LectureStart { step: step + 1, followed: tile }
}
