//! Scenes in the app (`core::scene`): the current work captured as a scene (File → Save scene,
//! the lecture's "Start lecture here"), and a scene applied to the app (File → Open scene, Recent
//! scenes, Examples, Edit → Open scene from link, a dropped file, `tilelab open F.tilelab`).
//!
//! A scene is read and checked whole before anything changes: a broken one leaves the work as it
//! was. Opening is one undo step (the tile set with the dataset settings and the view); a scene
//! with trained weights continues as a paused run, an embedded ONNX model opens on the trained side.

use std::path::{Path, PathBuf};

use crate::core::bounded_read::read_at_most;
use crate::core::dataset::{Background, DatasetSpec};
use crate::core::interop::onnx_import::MAX_MODEL_BYTES;
use crate::core::presets::Preset;
use crate::core::scene::{
    self, EmbeddedModel, Figure4Settings, LectureStart, Scene, SceneTiles, TrainedRun, TrainingSettings, Warning,
};
use crate::core::tile::TileId;

use super::TilelabApp;
use super::command::SceneSource;
use super::ids::View;
use super::settings::{BackgroundChoice, DatasetSettings};
use super::training_job::{self, Limits, SavedRun, TrainingConfig, TrainingJob};

/// Most scenes File → Recent scenes lists.
pub const RECENT_SCENES: usize = 8;

/// A scene's dataset settings as the app keeps them.
pub fn dataset_settings(spec: &DatasetSpec) -> DatasetSettings {
    let background = match &spec.background {
        Background::Uniform => BackgroundChoice::Uniform,
        Background::Smooth { cell } => BackgroundChoice::Smooth { cell: *cell },
        Background::Constant(value) => BackgroundChoice::Constant { value: *value },
        Background::Gradient { angle_degrees } => BackgroundChoice::Gradient { angle_degrees: *angle_degrees },
        Background::Image(picture) => BackgroundChoice::Picture(picture.clone()),
    };
    DatasetSettings {
        height: spec.height,
        width: spec.width,
        samples_per_class: spec.samples_per_class,
        background,
        jitter: spec.jitter,
        seed: spec.seed,
    }
}

fn training_settings(config: &TrainingConfig, limits: &Limits) -> TrainingSettings {
    TrainingSettings {
        filters: config.filters,
        kernel: config.kernel,
        hyper: config.hyper,
        train_per_class: config.train_per_class,
        test_per_class: config.test_per_class,
        seed: config.seed,
        epochs: limits.epochs,
        target_accuracy: limits.target_accuracy,
    }
}

fn training_config(settings: &TrainingSettings) -> (TrainingConfig, Limits) {
    let config = TrainingConfig {
        filters: settings.filters,
        kernel: settings.kernel,
        hyper: settings.hyper,
        train_per_class: settings.train_per_class,
        test_per_class: settings.test_per_class,
        seed: settings.seed,
    };
    (config, Limits { epochs: settings.epochs, target_accuracy: settings.target_accuracy })
}

fn curve(points: &[training_job::CurvePoint]) -> Vec<scene::CurvePoint> {
    points.iter().map(|p| scene::CurvePoint { epoch: p.epoch, loss: p.loss, accuracy: p.accuracy }).collect()
}

fn job_curve(points: &[scene::CurvePoint]) -> Vec<training_job::CurvePoint> {
    points.iter().map(|p| training_job::CurvePoint { epoch: p.epoch, loss: p.loss, accuracy: p.accuracy }).collect()
}

/// A bundled preset that equals `classes`, so a scene (and its link) names it instead of holding the tiles.
fn preset_of(classes: &crate::core::tile::ClassSet) -> Option<Preset> {
    Preset::ALL.into_iter().find(|preset| preset.classes() == *classes)
}

impl TilelabApp {
    /// The current work as a scene; `lecture` marks where a lecture should start.
    pub fn capture_scene(&self, lecture: Option<LectureStart>) -> Result<Scene, String> {
        let state = &self.state;
        let views = &self.views;
        let tiles =
            preset_of(&state.classes).map_or_else(|| SceneTiles::Custom(state.classes.clone()), SceneTiles::Preset);
        let trained = state.training.as_ref().and_then(TrainingJob::to_saved).map(|saved| TrainedRun {
            cnn: saved.cnn,
            position: saved.position,
            train_curve: curve(&saved.train_curve),
            test_curve: curve(&saved.test_curve),
        });
        let model = match &state.imported.network {
            Some(network) => Some(EmbeddedModel {
                name: network.name(),
                bytes: read_at_most(&network.path, MAX_MODEL_BYTES).map_err(|e| format!("the opened network: {e}"))?,
            }),
            None => None,
        };
        let invariance = &views.invariance;
        Ok(Scene {
            title: String::new(),
            tiles,
            dataset: state.session.dataset.to_spec()?,
            training: training_settings(&views.training.config, &views.training.limits),
            trained,
            model,
            network: views.networks.which,
            figure4: Figure4Settings {
                tiles: invariance.tiles.clone(),
                samples: invariance.samples,
                seed: invariance.seed,
                epsilon_override: invariance.override_epsilon.then_some(invariance.epsilon),
                every_offset: invariance.every_offset,
            },
            view: state.session.view.kind(),
            lecture,
        })
    }

    /// Saves the work as a scene at `path` (it becomes the current scene file and a recent one).
    pub(super) fn save_scene(&mut self, path: &Path, lecture: Option<LectureStart>) {
        let saved = self.capture_scene(lecture).and_then(|s| scene::save(path, &s).map_err(|e| e.to_string()));
        match saved {
            Ok(()) => {
                if lecture.is_none() {
                    self.state.session.scene_path = Some(path.to_owned());
                }
                remember_recent(&mut self.state.session.recent_scenes, path);
                self.state.changed();
                self.state.info(format!("saved the scene {}", path.display()));
            }
            Err(error) => self.state.error(format!("could not save the scene {}: {error}", path.display())),
        }
    }

    /// Opens the scene `link` holds (the web build's `index.html#scene=…`).
    pub fn open_scene_link(&mut self, ctx: &egui::Context, link: &str) {
        self.open_scene(ctx, SceneSource::Link(link.to_owned()));
    }

    /// Reads and checks the scene `source` names, then applies it; a scene that does not open
    /// leaves everything as it was.
    pub(super) fn open_scene(&mut self, ctx: &egui::Context, source: SceneSource) {
        let opened = match &source {
            SceneSource::File(path) => scene::open(path),
            SceneSource::Example(name) => {
                let Some((_, text)) = scene::BUNDLED.iter().find(|(n, _)| n == name) else {
                    self.state.error(format!("there is no example '{name}'"));
                    return;
                };
                scene::from_json(text)
            }
            SceneSource::Link(text) => scene::from_link(text),
        };
        let (opened, warnings) = match opened {
            Ok(opened) => opened,
            Err(error) => {
                self.state.error(format!("could not open the scene {}: {error}", source.describe()));
                return;
            }
        };
        let title = opened.title.clone();
        self.apply_scene(ctx, opened, &warnings);
        if let SceneSource::File(path) = &source {
            self.state.session.scene_path = Some(path.clone());
            remember_recent(&mut self.state.session.recent_scenes, path);
        } else {
            self.state.session.scene_path = None;
        }
        self.state.changed();
        self.state.info(format!("opened the scene {}: {title}", source.describe()));
    }

    /// Puts a checked scene into the app: one undo step for the tile set, its settings and view.
    fn apply_scene(&mut self, ctx: &egui::Context, opened: Scene, warnings: &[Warning]) {
        let classes = opened.tiles.classes();
        let dataset = dataset_settings(&opened.dataset);
        self.state.replace_work(classes, dataset, View::of(opened.view));
        let (config, limits) = training_config(&opened.training);
        self.views.training.config = config;
        self.views.training.limits = limits;
        self.views.networks.which = opened.network;
        self.views.networks.shown = crate::core::construct::choice::BuiltNetwork::Template(opened.network);
        let invariance = &mut self.views.invariance;
        invariance.tiles.clone_from(&opened.figure4.tiles);
        invariance.samples = opened.figure4.samples;
        invariance.seed = opened.figure4.seed;
        invariance.override_epsilon = opened.figure4.epsilon_override.is_some();
        if let Some(epsilon) = opened.figure4.epsilon_override {
            invariance.epsilon = epsilon;
        }
        invariance.every_offset = opened.figure4.every_offset;
        self.state.training = None;
        if let Some(run) = opened.trained {
            self.resume_scene_run(run);
        }
        self.open_scene_model(ctx, opened.model);
        if let Some(lecture) = opened.lecture {
            if let Some(tile) = lecture.followed {
                self.views.lecture.interaction.tile = Some(tile);
            }
            self.views.lecture.enter(ctx, lecture.step - 1);
        }
        for warning in warnings {
            self.state.warn(format!("scene: {warning}"));
        }
    }

    /// The scene's trained weights as a paused run on its data.
    fn resume_scene_run(&mut self, run: TrainedRun) {
        let state = &mut self.state;
        let saved = SavedRun {
            config: self.views.training.config,
            limits: self.views.training.limits,
            speed: self.views.training.speed,
            classes: state.classes.clone(),
            dataset: state.session.dataset.clone(),
            cnn: run.cnn,
            position: run.position,
            train_curve: job_curve(&run.train_curve),
            test_curve: job_curve(&run.test_curve),
        };
        match TrainingJob::resume(saved, state.dataset_request()) {
            Ok(job) => state.training = Some(job),
            Err(error) => state.warn(format!("the scene's trained network cannot continue: {error}")),
        }
    }

    /// Opens an embedded model on the trained side (from a copy in the data folder, so it also
    /// comes back after a restart); without one, the trained side shows the SGD run.
    fn open_scene_model(&mut self, ctx: &egui::Context, model: Option<EmbeddedModel>) {
        let state = &mut self.state;
        state.imported.close();
        state.session.network_path = None;
        let Some(model) = model else { return };
        let folder = state.data_dir.clone().unwrap_or_else(std::env::temp_dir).join("scene-models");
        let name = Path::new(&model.name).file_name().map_or_else(|| "model.onnx".into(), PathBuf::from);
        let path = folder.join(name);
        let written =
            std::fs::create_dir_all(&folder).and_then(|()| crate::core::atomic::write_atomic(&path, &model.bytes));
        match written {
            Ok(()) => state.imported.open(&path, super::cache::open_network(Some(ctx), &path)),
            Err(error) => state.error(format!("could not keep the scene's model {}: {error}", path.display())),
        }
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
