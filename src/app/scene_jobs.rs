//! Scenes on the job runner, so the UI thread never reads, checks or writes one: a scene (a file, a
//! bundled example, a link) is read and checked into an [`Opened`] — the tile set and the rest of
//! the [`Work`] it puts into the app, its embedded model parsed and copied into the data folder —
//! and a scene is written through `core::atomic`. [`Work`] is also what the undo step of opening a
//! scene keeps of the work it replaced.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::core::bounded_read::read_at_most;
use crate::core::construct::Which;
use crate::core::construct::choice::BuiltNetwork;
use crate::core::interop::onnx_import::{MAX_MODEL_BYTES, OnnxModel};
use crate::core::presets::Preset;
use crate::core::scene::{self, EmbeddedModel, Figure4Settings, Scene, TrainedRun, TrainingSettings};
use crate::core::tile::{ClassSet, TileId};

use super::command::SceneSource;
use super::ids::View;
use super::imported::ImportedNetwork;
use super::jobs::Job;
use super::settings::DatasetSettings;
use super::storage;
use super::training_job::{self, Limits, SavedRun, Speed, TrainingConfig};

/// Everything besides the tile set that opening a scene replaces: undoing the opening puts it
/// back, redoing it puts the scene's back (as it was when undone).
#[derive(Clone)]
pub struct Work {
    /// The dataset settings.
    pub dataset: DatasetSettings,
    /// The open view.
    pub view: View,
    /// The training view's settings for the next run.
    pub training: TrainingConfig,
    /// Its stop rules.
    pub limits: Limits,
    /// Its speed.
    pub speed: Speed,
    /// The trained network with its curves and place in the schedule (it comes back paused).
    pub run: Option<Arc<SavedRun>>,
    /// The ONNX network on the trained side.
    pub network: Option<Arc<ImportedNetwork>>,
    /// The file that network is reopened from at start.
    pub network_path: Option<PathBuf>,
    /// An ONNX file still loading (it is loaded again).
    pub network_loading: Option<PathBuf>,
    /// The constructed network N1 or N2.
    pub which: Which,
    /// The built network the Networks view shows (N1/N2 or scattering).
    pub shown: BuiltNetwork,
    /// The Figure 4 settings.
    pub figure4: Figure4Settings,
    /// The Figure 4 ε slider, kept while it overrides nothing (`None`: as it is).
    pub figure4_epsilon: Option<f32>,
    /// Lecture mode is on at this step (0-based).
    pub lecture: Option<usize>,
    /// The tile the lecture follows.
    pub followed: Option<TileId>,
    /// The scene file File → Save scene writes.
    pub scene_path: Option<PathBuf>,
}

/// A scene read and checked on the runner, ready to replace the work.
pub struct Opened {
    /// Where it came from.
    pub source: SceneSource,
    /// Its title.
    pub title: String,
    /// Its tile set.
    pub classes: ClassSet,
    /// The rest of it (without the network: see `model`).
    pub work: Work,
    /// Its embedded ONNX model, parsed, and where its copy was kept (`None`: it could not be).
    pub model: Option<(OnnxModel, PathBuf, Option<PathBuf>)>,
    /// What it held that this build does not know, and what could not be done.
    pub warnings: Vec<String>,
}

/// The scene being opened and the one being saved.
#[derive(Default)]
pub struct SceneJobs {
    opening: Option<Job<Opened>>,
    saving: Option<(PathBuf, bool, Job<()>)>,
}

/// A save that finished: the file, whether it was a lecture scene, and how it went.
pub struct Saved {
    pub path: PathBuf,
    pub lecture: bool,
    pub outcome: Result<(), String>,
}

impl SceneJobs {
    /// Reads and checks the scene `source` names on the runner (replacing an opening in
    /// progress); a run it holds gets `speed`, its model is copied into `data_dir`.
    pub fn open(&mut self, ctx: Option<&egui::Context>, source: SceneSource, data_dir: PathBuf, speed: Speed) {
        let name = format!("opening the scene {}", source.describe());
        self.opening = Some(Job::spawn(&name, ctx.cloned(), move |shared| {
            let (scene, warnings) =
                read(&source).map_err(|e| format!("could not open the scene {}: {e}", source.describe()))?;
            shared.set_progress(0.7);
            Ok(opened(source, scene, warnings.into_iter().map(|w| w.0).collect(), &data_dir, speed))
        }));
    }

    /// Writes `scene` to `path` on the runner, embedding the ONNX file `model` (its name, its path).
    pub fn save(
        &mut self,
        ctx: Option<&egui::Context>,
        path: PathBuf,
        scene: Scene,
        model: Option<(String, PathBuf)>,
        lecture: bool,
    ) {
        let target = path.clone();
        let name = format!("saving the scene {}", path.display());
        let job = Job::spawn(&name, ctx.cloned(), move |_| write(&target, scene, model));
        self.saving = Some((path, lecture, job));
    }

    /// The opened scene (or why it did not open), once.
    pub fn poll_opened(&mut self) -> Option<Result<Opened, String>> {
        let outcome = self.opening.as_mut()?.poll()?;
        self.opening = None;
        Some(outcome)
    }

    /// The finished save, once.
    pub fn poll_saved(&mut self) -> Option<Saved> {
        let (_, _, job) = self.saving.as_mut()?;
        let outcome = job.poll()?;
        let (path, lecture, _) = self.saving.take()?;
        Some(Saved { path, lecture, outcome })
    }

    /// The running jobs, for the UI (what, progress, seconds).
    pub fn running(&self) -> Vec<(String, f32, f32)> {
        let opening = self.opening.iter().map(|job| (job.shared(), job.elapsed_seconds()));
        let saving = self.saving.iter().map(|(_, _, job)| (job.shared(), job.elapsed_seconds()));
        opening.chain(saving).map(|(shared, seconds)| (shared.name.clone(), shared.progress(), seconds)).collect()
    }

    /// True while a scene is being opened or saved.
    pub fn is_busy(&self) -> bool {
        self.opening.is_some() || self.saving.is_some()
    }

    /// True while a scene is being opened.
    pub fn is_opening(&self) -> bool {
        self.opening.is_some()
    }

    /// Stops waiting for the scene being opened: the work stays as it is.
    pub fn cancel_opening(&mut self) {
        self.opening = None;
    }
}

/// The scene `source` names, checked whole.
fn read(source: &SceneSource) -> Result<(Scene, Vec<scene::Warning>), String> {
    match source {
        SceneSource::File(path) => scene::open(path).map_err(|e| e.to_string()),
        SceneSource::Example(name) => {
            let (_, text) = scene::BUNDLED
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("there is no example '{name}'"))?;
            scene::from_json(text).map_err(|e| e.to_string())
        }
        SceneSource::Link(text) => scene::from_link(text).map_err(|e| e.to_string()),
        SceneSource::Picked { text, .. } => scene::from_json(text).map_err(|e| e.to_string()),
    }
}

/// What a checked scene puts into the app; its model is copied into `data_dir`/scene-models, so
/// it also comes back after a restart.
fn opened(source: SceneSource, scene: Scene, mut warnings: Vec<String>, data_dir: &Path, speed: Speed) -> Opened {
    let classes = scene.tiles.classes();
    let dataset = DatasetSettings::of_spec(&scene.dataset);
    let (training, limits) = training_config(&scene.training);
    let run = scene.trained.map(|run| {
        Arc::new(SavedRun {
            config: training,
            limits,
            speed,
            classes: classes.clone(),
            dataset: dataset.clone(),
            weights: run.weights,
            position: run.position,
            train_curve: job_curve(&run.train_curve),
            test_curve: job_curve(&run.test_curve),
        })
    });
    let model = scene.model.and_then(|model| match OnnxModel::from_bytes(&model.bytes, None) {
        Ok(parsed) => {
            let (path, kept) = keep_model(&model, data_dir);
            if let Err(error) = &kept {
                warnings.push(format!("the scene's model is shown but not kept for the next start: {error}"));
            }
            Some((parsed, path.clone(), kept.ok().map(|()| path)))
        }
        // `scene::from_json` checked it already: this does not happen.
        Err(error) => {
            warnings.push(format!("the scene's model cannot be shown: {error}"));
            None
        }
    });
    let invariance = scene.figure4;
    let work = Work {
        dataset,
        view: View::of(scene.view),
        training,
        limits,
        speed,
        run,
        network: None,
        network_path: None,
        network_loading: None,
        which: scene.network,
        shown: BuiltNetwork::Template(scene.network),
        figure4_epsilon: invariance.epsilon_override,
        figure4: invariance,
        lecture: scene.lecture.map(|l| l.step.saturating_sub(1)),
        followed: scene.lecture.and_then(|l| l.followed),
        scene_path: match &source {
            SceneSource::File(path) => Some(path.clone()),
            _ => None,
        },
    };
    Opened { source, title: scene.title, classes, work, model, warnings }
}

/// Writes the model's bytes into `data_dir`/scene-models; the path, and whether it was written.
fn keep_model(model: &EmbeddedModel, data_dir: &Path) -> (PathBuf, Result<(), String>) {
    let folder = data_dir.join("scene-models");
    let name = Path::new(&model.name).file_name().map_or_else(|| "model.onnx".into(), PathBuf::from);
    let path = folder.join(name);
    let written = std::fs::create_dir_all(&folder)
        .and_then(|()| crate::core::atomic::write_atomic(&path, &model.bytes))
        .map_err(|e| format!("{}: {e}", path.display()));
    (path, written)
}

/// Embeds the ONNX file `model` and writes the scene atomically.
fn write(path: &Path, mut scene: Scene, model: Option<(String, PathBuf)>) -> Result<(), String> {
    if let Some((name, file)) = model {
        let bytes = read_at_most(&file, MAX_MODEL_BYTES).map_err(|e| format!("the opened network: {e}"))?;
        scene.model = Some(EmbeddedModel { name, bytes });
    }
    let text = scene::to_json(&scene).map_err(|e| e.to_string())?;
    storage::write_user_file(path, text.as_bytes())
}

/// The training view's settings as a scene holds them.
pub fn training_settings(config: &TrainingConfig, limits: &Limits) -> TrainingSettings {
    TrainingSettings {
        layers: config.layers,
        n2_shaped: config.n2_shaped,
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
        layers: settings.layers,
        n2_shaped: settings.n2_shaped,
        filters: settings.filters,
        kernel: settings.kernel,
        hyper: settings.hyper,
        train_per_class: settings.train_per_class,
        test_per_class: settings.test_per_class,
        seed: settings.seed,
    };
    (config, Limits { epochs: settings.epochs, target_accuracy: settings.target_accuracy })
}

/// A run as a scene holds it.
pub fn trained_run(saved: SavedRun) -> TrainedRun {
    let curve = |points: &[training_job::CurvePoint]| {
        points.iter().map(|p| scene::CurvePoint { epoch: p.epoch, loss: p.loss, accuracy: p.accuracy }).collect()
    };
    TrainedRun {
        train_curve: curve(&saved.train_curve),
        test_curve: curve(&saved.test_curve),
        weights: saved.weights,
        position: saved.position,
    }
}

fn job_curve(points: &[scene::CurvePoint]) -> Vec<training_job::CurvePoint> {
    points.iter().map(|p| training_job::CurvePoint { epoch: p.epoch, loss: p.loss, accuracy: p.accuracy }).collect()
}

/// A bundled preset that equals `classes`, so a scene (and its link) names it instead of holding the tiles.
pub fn preset_of(classes: &ClassSet) -> Option<Preset> {
    Preset::ALL.into_iter().find(|preset| preset.classes() == *classes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scene_can_start_the_lecture_at_every_step() {
        assert_eq!(scene::LECTURE_STEPS, crate::app::lecture::Step::ALL.len());
    }
}
