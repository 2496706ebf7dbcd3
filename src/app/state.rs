//! The app's shared state ([`AppState`]): the user's work (tile set, dataset settings, seeds,
//! open view), its undo history, the log, background jobs, and its persistence. The work is
//! autosaved (debounced) into the data dir through `core::atomic::write_atomic` and restored at
//! start; so is the trained network with its curves, whenever its run pauses or stops and on quit.
//! eframe storage holds only UI preferences.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::core::clock::Instant;

use serde::{Deserialize, Serialize};

use crate::core::scattering::ScatteringSpec;

use crate::core::dataset::Dataset;
use crate::core::tile::{ClassSet, TileId};
use crate::core::{atomic, presets, tileset_file};

use super::cache::Cache;
use super::command::{Edit, History, Level, apply_edit, first_id};
use super::ids::View;
use super::jobs::Job;
use super::scene_jobs::{SceneJobs, Work};
use super::settings::{DatasetRequest, DatasetSettings};
use super::storage;
use super::theme::Rendering;
use super::training_job::{self, Phase, SavedRun, TrainingJob};

/// How long after the last change the work is autosaved.
pub const AUTOSAVE_DELAY: Duration = Duration::from_secs(1);
/// File in the data dir holding the session settings.
pub const SESSION_FILE: &str = "session.json";
/// File in the data dir holding the working tile set.
pub const AUTOSAVE_TILESET_FILE: &str = "autosave.tileset.json";
/// Most log entries kept.
const LOG_LIMIT: usize = 500;

/// What persists across restarts besides the tile set itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Session {
    /// The file the tile set was last opened from or saved to.
    pub tileset_path: Option<PathBuf>,
    /// The open view.
    pub view: View,
    /// 1 = bright or 1 = ink.
    pub rendering: Rendering,
    /// Dataset view settings (including the seed).
    pub dataset: DatasetSettings,
    /// The selected tile as `[class, feature, tile]`.
    pub selected: Option<[usize; 3]>,
    /// True when the working set differs from the last explicit save.
    pub unsaved: bool,
    /// The ONNX network opened for the trained side (reopened at start).
    pub network_path: Option<PathBuf>,
    /// The folder of the last path confirmed in a path window (where the next one starts).
    pub last_folder: Option<PathBuf>,
    /// The scene file last opened or saved (File → Save scene writes it).
    pub scene_path: Option<PathBuf>,
    /// Scene files opened or saved, newest first (File → Recent scenes).
    pub recent_scenes: Vec<PathBuf>,
    /// The scattering network's J, L and max order (Networks view, Figure 4, lecture).
    pub scattering: ScatteringSpec,
}

/// One line of the log.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Severity.
    pub level: Level,
    /// The message.
    pub text: String,
    /// When it was logged (toasts fade after a few seconds).
    pub at: Instant,
    /// A view shows it beside the value it is about: the log keeps it, the status line and toasts
    /// do not repeat it.
    pub shown_in_place: bool,
}

/// One undo step: the tile set and the file it belongs to (undoing "open" or "load example"
/// brings the previous file back with its set); across the opening of a scene, also the rest of
/// the work (settings, view, trained network, opened model, lecture step).
#[derive(Clone)]
pub struct Snapshot {
    /// The tile set.
    pub classes: ClassSet,
    /// The file it was opened from or saved to.
    pub path: Option<PathBuf>,
    /// What that file holds (the reference for "unsaved changes").
    pub saved: Arc<ClassSet>,
    /// The rest of the work, when stepping to or from this snapshot crosses the opening of a scene.
    pub work: Option<Arc<Work>>,
}

/// The shared state every view reads (views ask for changes with commands; `TilelabApp` applies them).
pub struct AppState {
    /// The tile set being edited.
    pub classes: ClassSet,
    /// The tile open in the editor.
    pub selected: Option<TileId>,
    /// Undo/redo snapshots.
    pub history: History<Snapshot>,
    /// Session settings (persisted).
    pub session: Session,
    /// Messages for the status line, toasts and the log window.
    pub log: Vec<LogEntry>,
    /// Where autosave and session files go (`None`: nothing is written, e.g. no home folder).
    pub data_dir: Option<PathBuf>,
    /// Counts tile-set changes (views cache derived data against it).
    pub classes_version: u64,
    /// The live SGD run (training view; the networks view shows its newest weights).
    pub training: Option<TrainingJob>,
    /// The progress version of the run last saved to the data dir.
    training_saved: Option<u64>,
    /// The save of the run being written in the background.
    training_save: Option<Job<()>>,
    /// The scene being opened or saved in the background.
    pub scene_jobs: SceneJobs,
    /// A network opened from ONNX, shown on the trained side instead of the SGD run.
    pub imported: super::imported::Imported,
    /// The generated dataset and N1/N2 built for the current tile set, shared by every view and the exports.
    pub cache: Cache,
    /// The set as last explicitly saved or opened (what the file holds).
    saved_classes: Arc<ClassSet>,
    autosave_due: Option<Instant>,
}

impl AppState {
    /// A fresh state with the default first screen (three Fashion-MNIST classes).
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        let classes = presets::fashion_three();
        let selected = first_id(&classes);
        Self {
            saved_classes: Arc::new(classes.clone()),
            classes,
            selected,
            history: History::default(),
            session: Session::default(),
            log: Vec::new(),
            data_dir,
            classes_version: 0,
            training: None,
            training_saved: None,
            training_save: None,
            scene_jobs: SceneJobs::default(),
            imported: super::imported::Imported::default(),
            cache: Cache::default(),
            autosave_due: None,
        }
    }

    /// A state restored from the data dir (falls back to the default, logging why).
    pub fn restore(data_dir: Option<PathBuf>) -> Self {
        let mut state = Self::new(data_dir.clone());
        let Some(dir) = data_dir else { return state };
        if let Err(error) = atomic::remove_stale_temporaries(&dir) {
            log::debug!("no stale temporaries removed in {}: {error}", dir.display());
        }
        match load_work(&dir) {
            Ok(Some((session, classes))) => {
                state.saved_classes = Arc::new(if session.unsaved { ClassSet::default() } else { classes.clone() });
                state.selected = session
                    .selected
                    .map(|[class, feature, tile]| TileId { class, feature, tile })
                    .filter(|id| classes.tile(*id).is_some())
                    .or_else(|| first_id(&classes));
                state.classes = classes;
                state.session = session;
                state.info("restored the previous session");
            }
            Ok(None) => {}
            Err(error) => state.warn(format!("could not restore the previous session ({error}); starting fresh")),
        }
        state.restore_training(&dir);
        state
    }

    /// Brings back the run saved in `dir`, paused (its data are regenerated in the background).
    fn restore_training(&mut self, dir: &Path) {
        let saved = match training_job::load_run(dir) {
            Ok(Some(saved)) => saved,
            Ok(None) => return,
            Err(error) => {
                self.warn(format!("could not restore the trained network ({error})"));
                return;
            }
        };
        match self.resume_run(saved) {
            Ok(job) => {
                self.training = Some(job);
                self.info("restored the trained network");
            }
            Err(error) => self.warn(format!("could not restore the trained network ({error})")),
        }
    }

    /// A paused run continuing `saved`; it shows whether its data are the current ones.
    pub fn resume_run(&self, saved: SavedRun) -> Result<TrainingJob, String> {
        let same_data = saved.classes == self.classes && saved.dataset == self.session.dataset;
        // A tile-set version no edit reaches: the run then shows that its data are not the current ones.
        let started_from = if same_data { self.dataset_request() } else { (u64::MAX, saved.dataset.clone()) };
        TrainingJob::resume(saved, started_from)
    }

    /// True when the set differs from the last explicit save or open.
    pub fn is_dirty(&self) -> bool {
        self.classes != *self.saved_classes
    }

    /// The set with the file it belongs to, as one undo step keeps it.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            classes: self.classes.clone(),
            path: self.session.tileset_path.clone(),
            saved: Arc::clone(&self.saved_classes),
            work: None,
        }
    }

    /// Goes back (or forward) to `snapshot`; the file comes back with the set it belonged to.
    fn restore_snapshot(&mut self, snapshot: Snapshot) {
        if let Some(work) = &snapshot.work {
            self.session.dataset.clone_from(&work.dataset);
            self.session.view = work.view;
        }
        self.classes = snapshot.classes;
        // Same file: what it holds now (a save since then) is the reference, not what it held then.
        if snapshot.path != self.session.tileset_path {
            self.session.tileset_path = snapshot.path;
            self.saved_classes = snapshot.saved;
        }
        self.fix_selection();
        self.classes_changed();
    }

    /// Applies an edit as one undo step (or merged into the previous one).
    pub fn edit(&mut self, edit: Edit) {
        let before = self.snapshot();
        let key = edit.merge_key();
        match apply_edit(&mut self.classes, edit) {
            Ok(selection) => {
                if self.classes != before.classes {
                    self.history.record(&before, key);
                    self.classes_changed();
                }
                if let Some(id) = selection {
                    self.selected = Some(id);
                }
                self.fix_selection();
            }
            Err(error) => {
                self.classes = before.classes;
                self.error(format!("edit refused: {error}"));
            }
        }
    }

    /// True when the next undo steps back over the opening of a scene (it needs the rest of the work).
    pub fn undo_crosses_scene(&self) -> bool {
        self.history.next_undo().is_some_and(|s| s.work.is_some())
    }

    /// True when the next redo opens a scene again (it needs the rest of the work).
    pub fn redo_crosses_scene(&self) -> bool {
        self.history.next_redo().is_some_and(|s| s.work.is_some())
    }

    /// Undoes the last edit or the opening of a scene. Across a scene, `current` is the rest of the
    /// work now (redo brings it back); returns the rest of the work to go back to, which the app
    /// puts back beyond the tile set, dataset settings and view restored here.
    pub fn undo(&mut self, current: Option<Arc<Work>>) -> Option<Arc<Work>> {
        let now = Snapshot { work: current, ..self.snapshot() };
        let Some(previous) = self.history.undo(&now) else {
            self.info("nothing to undo");
            return None;
        };
        let work = previous.work.clone();
        self.restore_snapshot(previous);
        work
    }

    /// Redoes the last undone edit or opening of a scene (as [`Self::undo`], forward).
    pub fn redo(&mut self, current: Option<Arc<Work>>) -> Option<Arc<Work>> {
        let now = Snapshot { work: current, ..self.snapshot() };
        let Some(next) = self.history.redo(&now) else {
            self.info("nothing to redo");
            return None;
        };
        let work = next.work.clone();
        self.restore_snapshot(next);
        work
    }

    /// Replaces the tile set, the dataset settings and the view by a scene's in one undo step,
    /// which keeps `before`, the rest of the work as it was; the set belongs to no tile-set file.
    pub fn replace_work(&mut self, classes: ClassSet, scene: &Work, before: Arc<Work>) {
        let snapshot = Snapshot { work: Some(before), ..self.snapshot() };
        self.history.record(&snapshot, None);
        self.classes = classes;
        self.session.dataset.clone_from(&scene.dataset);
        self.session.view = scene.view;
        self.session.tileset_path = None;
        self.saved_classes = Arc::new(self.classes.clone());
        self.selected = None;
        self.fix_selection();
        self.classes_changed();
    }

    /// Makes the set the saved reference (after a save or open).
    pub fn mark_saved(&mut self) {
        self.saved_classes = Arc::new(self.classes.clone());
        self.changed();
    }

    /// Notes a change of the tile set: bumps its version and schedules an autosave.
    pub fn classes_changed(&mut self) {
        self.classes_version += 1;
        self.changed();
    }

    /// Notes a change of the session settings: schedules an autosave.
    pub fn changed(&mut self) {
        self.autosave_due = Some(Instant::now() + AUTOSAVE_DELAY);
    }

    /// What a dataset generated now would be generated from.
    pub fn dataset_request(&self) -> DatasetRequest {
        (self.classes_version, self.session.dataset.clone())
    }

    /// True when the dataset is missing or was generated from another set or settings, and no
    /// job is running and the same request did not just fail.
    pub fn dataset_needs_generation(&self) -> bool {
        self.cache.dataset_needs(&self.dataset_request())
    }

    /// The last generated dataset (possibly of older settings: see [`Self::dataset_is_current`]).
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.cache.dataset()
    }

    /// True when the app holds a dataset made from the current tile set and settings.
    pub fn dataset_is_current(&self) -> bool {
        self.cache.dataset().is_some() && self.cache.dataset_for() == Some(&self.dataset_request())
    }

    /// Writes the work to the data dir if an autosave is due.
    pub fn autosave_if_due(&mut self, now: Instant) {
        if self.autosave_due.is_some_and(|due| now >= due) {
            self.autosave_now();
        }
    }

    /// Writes the work to the data dir now (on exit, or when due).
    pub fn autosave_now(&mut self) {
        self.autosave_due = None;
        let Some(dir) = self.data_dir.clone() else { return };
        self.session.unsaved = self.is_dirty();
        self.session.selected = self.selected.map(|id| [id.class, id.feature, id.tile]);
        if let Err(error) = save_work(&dir, &self.session, &self.classes) {
            self.error(format!("autosave failed: {error}"));
        }
    }

    /// Saves the run in the background when it has paused or stopped since its last save (a
    /// running run is saved when it pauses, stops, or the app quits).
    pub fn autosave_training(&mut self) {
        if let Some(job) = &mut self.training_save {
            match job.poll() {
                None => return,
                Some(Ok(())) => {}
                Some(Err(error)) => self.error(format!("could not save the trained network: {error}")),
            }
            self.training_save = None;
        }
        let (Some(dir), Some(run)) = (self.data_dir.clone(), &self.training) else { return };
        let (version, idle) = {
            let progress = run.progress();
            (progress.version, !progress.running && progress.phase == Phase::Ready)
        };
        if !idle || self.training_saved == Some(version) {
            return;
        }
        let Some(saved) = run.to_saved() else { return };
        self.training_saved = Some(version);
        self.training_save = Some(super::cache::save_run(dir, saved));
    }

    /// Saves the run now, on the calling thread (when the app quits).
    pub fn save_training_now(&mut self) {
        let (Some(dir), Some(run)) = (self.data_dir.clone(), &self.training) else { return };
        let version = run.progress().version;
        if self.training_saved == Some(version) && self.training_save.is_none() {
            return;
        }
        let Some(saved) = run.to_saved() else { return };
        self.training_saved = Some(version);
        if let Err(error) = training_job::save_run(&dir, &saved) {
            self.error(format!("could not save the trained network: {error}"));
        }
    }

    /// True while an autosave is scheduled (the app keeps repainting until it is written).
    pub fn autosave_pending(&self) -> Option<Instant> {
        self.autosave_due
    }

    /// Keeps the selection pointing at an existing tile.
    pub fn fix_selection(&mut self) {
        if self.selected.is_none_or(|id| self.classes.tile(id).is_none()) {
            self.selected = first_id(&self.classes);
        }
    }

    /// Logs an informational message.
    pub fn info(&mut self, text: impl Into<String>) {
        self.add_log(Level::Info, text.into());
    }

    /// Logs a warning.
    pub fn warn(&mut self, text: impl Into<String>) {
        self.add_log(Level::Warning, text.into());
    }

    /// Logs an error (shown once, as a toast and in the log).
    pub fn error(&mut self, text: impl Into<String>) {
        self.add_log(Level::Error, text.into());
    }

    /// Logs an error that a view shows beside the value it is about (not repeated elsewhere).
    pub fn error_shown_in_place(&mut self, text: impl Into<String>) {
        self.add_log(Level::Error, text.into());
        if let Some(entry) = self.log.last_mut() {
            entry.shown_in_place = true;
        }
    }

    /// Logs `text` at `level`.
    pub fn add_log(&mut self, level: Level, text: String) {
        match level {
            Level::Info => log::info!("{text}"),
            Level::Warning => log::warn!("{text}"),
            Level::Error => log::error!("{text}"),
        }
        self.log.push(LogEntry { level, text, at: Instant::now(), shown_in_place: false });
        if self.log.len() > LOG_LIMIT {
            self.log.remove(0);
        }
    }

    /// The most recent log entry for the status line (not one a view shows in place).
    pub fn last_message(&self) -> Option<&LogEntry> {
        self.log.iter().rev().find(|e| !e.shown_in_place)
    }
}

/// Writes the session and the working tile set into `dir` (created if needed), each atomically
/// (the browser's storage in the web build, see [`storage`]).
pub fn save_work(dir: &Path, session: &Session, classes: &ClassSet) -> anyhow::Result<()> {
    storage::write_text(dir, AUTOSAVE_TILESET_FILE, &tileset_file::to_json(classes)?)?;
    storage::write_text(dir, SESSION_FILE, &serde_json::to_string_pretty(session)?)?;
    Ok(())
}

/// Reads what [`save_work`] wrote; `Ok(None)` when nothing was saved yet.
///
/// A session that does not parse (e.g. a float that was saved as `null`) gives the default
/// session marked unsaved: the tile set, which is the user's work, is never dropped for it.
pub fn load_work(dir: &Path) -> anyhow::Result<Option<(Session, ClassSet)>> {
    let session = match storage::read_text(dir, SESSION_FILE, MAX_SESSION_BYTES) {
        Ok(None) => return Ok(None),
        Ok(Some(text)) => serde_json::from_str(&text).map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    let tileset = storage::read_text(dir, AUTOSAVE_TILESET_FILE, tileset_file::MAX_FILE_BYTES)?
        .ok_or_else(|| anyhow::anyhow!("the session was saved without its tile set"))?;
    let classes = tileset_file::from_json(&tileset)?;
    let session = session.unwrap_or_else(|error| {
        log::warn!("the saved session settings are unreadable ({error}); restoring the tile set alone");
        Session { unsaved: true, ..Session::default() }
    });
    Ok(Some((session, classes)))
}

/// A session file is a few kilobytes; anything past this is not one.
const MAX_SESSION_BYTES: u64 = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::command::Node;

    #[test]
    fn work_round_trips_through_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = AppState::new(Some(dir.path().to_owned()));
        state.edit(Edit::Rename { node: Node::Class(0), name: "renamed".into() });
        state.session.dataset.seed = 42;
        state.session.view = View::Dataset;
        state.autosave_now();
        let restored = AppState::restore(Some(dir.path().to_owned()));
        assert_eq!(restored.classes, state.classes);
        assert_eq!(restored.session.dataset.seed, 42);
        assert_eq!(restored.session.view, View::Dataset);
        assert!(restored.is_dirty(), "unsaved work stays unsaved after a restart");
    }

    #[test]
    fn autosave_waits_for_the_delay() {
        let dir = tempfile::tempdir().unwrap();
        let mut state = AppState::new(Some(dir.path().to_owned()));
        state.edit(Edit::Delete(Node::Class(0)));
        state.autosave_if_due(Instant::now());
        assert!(!dir.path().join(SESSION_FILE).exists());
        state.autosave_if_due(Instant::now() + AUTOSAVE_DELAY * 2);
        assert!(dir.path().join(SESSION_FILE).exists());
        assert!(state.autosave_pending().is_none());
    }

    #[test]
    fn a_corrupt_session_falls_back_to_the_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SESSION_FILE), "{ not json").unwrap();
        let state = AppState::restore(Some(dir.path().to_owned()));
        assert_eq!(state.classes, presets::fashion_three());
        assert_eq!(state.last_message().map(|m| m.level), Some(Level::Warning));
    }

    #[test]
    fn failed_edits_leave_the_set_unchanged_and_log() {
        let mut state = AppState::new(None);
        let before = state.classes.clone();
        state.edit(Edit::Delete(Node::Class(99)));
        assert_eq!(state.classes, before);
        assert!(!state.history.can_undo());
        assert_eq!(state.last_message().map(|m| m.level), Some(Level::Error));
        assert!(!state.is_dirty());
    }

    #[test]
    fn dirty_tracking_follows_undo() {
        let mut state = AppState::new(None);
        state.edit(Edit::Duplicate(Node::Class(0)));
        assert!(state.is_dirty());
        state.undo(None);
        assert!(!state.is_dirty(), "undoing back to the saved set is clean again");
    }
}
