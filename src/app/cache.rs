//! The one cache of what the views, the lecture and the exports derive from the tile set: the
//! generated dataset and the constructed networks N1 and N2 for the current set and image size,
//! each computed once per key by the job runner. Views ask with `Command::GenerateDataset` and
//! `Command::BuildNetwork` and read the results here.

use std::sync::{Arc, Mutex, PoisonError};

use crate::core::construct::{Constructed, Which};
use crate::core::dataset::{self, Dataset};
use crate::core::tile::ClassSet;

use super::settings::DatasetRequest;

use super::jobs::{Finished, Job, Keyed};

/// What a constructed network is built from: tile-set version, image height and width.
pub type NetKey = (u64, usize, usize);

/// Something the log should say about a finished build or generation.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Info(String),
    Error(String),
}

/// The generated dataset and the built networks (N1 and N2 of the same set side by side).
#[derive(Default)]
pub struct Cache {
    n1: Keyed<NetKey, Constructed>,
    n2: Keyed<NetKey, Constructed>,
    dataset: Keyed<DatasetRequest, Dataset>,
    /// Counts generated datasets.
    generation: u64,
    /// Warnings of the last finished generation.
    warnings: Vec<String>,
    /// Where the running generation puts its warnings (they come before its result).
    pending_warnings: Arc<Mutex<Vec<String>>>,
    /// True when the last generation ended by the user's cancel.
    cancelled: bool,
    notes: Vec<Note>,
}

impl Cache {
    fn slot(&self, which: Which) -> &Keyed<NetKey, Constructed> {
        match which {
            Which::N1 => &self.n1,
            Which::N2 => &self.n2,
        }
    }

    fn slot_mut(&mut self, which: Which) -> &mut Keyed<NetKey, Constructed> {
        match which {
            Which::N1 => &mut self.n1,
            Which::N2 => &mut self.n2,
        }
    }

    /// Starts building `which` for `classes` (of version `key.0`) unless it is built, failed or building.
    pub fn build_network(&mut self, ctx: Option<&egui::Context>, classes: &ClassSet, which: Which, key: NetKey) {
        self.slot_mut(which).request(key, || {
            let (classes, (_, height, width)) = (classes.clone(), key);
            Job::spawn(&format!("building {}", which.name()), ctx.cloned(), move |_| {
                which.build(&classes, height, width).map_err(|e| e.to_string())
            })
        });
    }

    /// The network `which` built for exactly `key`.
    pub fn network(&self, which: Which, key: NetKey) -> Option<Arc<Constructed>> {
        self.slot(which).get(&key)
    }

    /// Why `which` could not be built for `key`.
    pub fn network_error(&self, which: Which, key: NetKey) -> Option<&str> {
        self.slot(which).error(&key)
    }

    /// Starts generating the dataset for `request` unless a generation runs (the same request
    /// again generates again: "Regenerate").
    pub fn generate_dataset(&mut self, ctx: Option<&egui::Context>, classes: &ClassSet, request: DatasetRequest) {
        if self.dataset.is_running() {
            return;
        }
        let spec = match request.1.to_spec() {
            Ok(spec) => spec,
            Err(error) => {
                self.notes.push(Note::Error(format!("cannot generate the dataset: {error}")));
                self.cancelled = false;
                self.dataset.fail(request, error);
                return;
            }
        };
        let (classes, warnings) = (classes.clone(), Arc::clone(&self.pending_warnings));
        let job = Job::spawn("generating the dataset", ctx.cloned(), move |shared| {
            let found = dataset::warnings(&classes, &spec);
            *warnings.lock().unwrap_or_else(PoisonError::into_inner) = found;
            shared.set_total(spec.samples_per_class * classes.len());
            dataset::generate_observed(&classes, &spec, shared.items_done(), shared.cancel_flag())
                .map_err(|e| e.to_string())
        });
        self.dataset.start(request, job);
    }

    /// The last generated dataset (possibly of older settings: see [`Self::dataset_for`]).
    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.dataset.done().map(|(_, dataset)| dataset)
    }

    /// What the last generated dataset was generated from.
    pub fn dataset_for(&self) -> Option<&DatasetRequest> {
        self.dataset.done().map(|(request, _)| request)
    }

    /// Counts generated datasets (texture keys and measurements notice a new one by it).
    pub fn dataset_generation(&self) -> u64 {
        self.generation
    }

    /// Warnings about the settings found by the last generation.
    pub fn dataset_warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Why the last generation failed (a cancelled one is not an error).
    pub fn dataset_error(&self) -> Option<&str> {
        self.dataset.failed().filter(|_| !self.cancelled).map(|(_, error)| error.as_str())
    }

    /// True when no generation runs and `request` was neither generated nor failed.
    pub fn dataset_needs(&self, request: &DatasetRequest) -> bool {
        self.dataset.needs(request)
    }

    /// The running generation (status line: progress, cancel).
    pub fn dataset_job(&self) -> Option<&Job<Dataset>> {
        self.dataset.running().map(|(_, job)| job)
    }

    /// Collects finished builds and generations; returns what the log should say about them.
    pub fn poll(&mut self) -> Vec<Note> {
        for which in [Which::N1, Which::N2] {
            let failed = match self.slot_mut(which).poll() {
                Some(Finished::Failed(_, error)) => Some(format!("{} could not be built: {error}", which.name())),
                _ => None,
            };
            self.notes.extend(failed.map(Note::Error));
        }
        self.poll_dataset();
        std::mem::take(&mut self.notes)
    }

    fn poll_dataset(&mut self) {
        let cancelled = self.dataset.running().is_some_and(|(_, job)| job.shared().is_cancelled());
        let note = match self.dataset.poll() {
            None => return,
            Some(Finished::Done(_, data, seconds)) => Note::Info(format!(
                "generated {} samples in {seconds:.2} s ({} redrawn because they held a second class)",
                data.samples.len(),
                data.rejections.total
            )),
            // Not retried automatically until the set or the settings change.
            Some(Finished::Failed(..)) if cancelled => Note::Info("dataset generation cancelled".to_owned()),
            Some(Finished::Failed(_, error)) => Note::Error(format!("dataset generation failed: {error}")),
        };
        if matches!(note, Note::Info(_)) && !cancelled {
            self.generation += 1;
        }
        self.cancelled = cancelled;
        self.warnings = std::mem::take(&mut *self.pending_warnings.lock().unwrap_or_else(PoisonError::into_inner));
        self.notes.push(note);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::settings::DatasetSettings;
    use crate::core::presets;
    use std::time::Duration;

    fn wait_for(cache: &mut Cache, which: Which, key: NetKey) -> Vec<Note> {
        let mut failures = Vec::new();
        for _ in 0..2000 {
            failures.extend(cache.poll());
            if cache.network(which, key).is_some() || cache.network_error(which, key).is_some() {
                return failures;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("{} did not finish", which.name());
    }

    #[test]
    fn networks_are_built_once_per_key_and_failures_are_reported() {
        let classes = presets::fashion_three();
        let mut cache = Cache::default();
        let key = (0, 40, 40);
        cache.build_network(None, &classes, Which::N2, key);
        assert!(wait_for(&mut cache, Which::N2, key).is_empty());
        let built = cache.network(Which::N2, key).expect("N2 is built");
        cache.build_network(None, &classes, Which::N2, key);
        assert!(Arc::ptr_eq(&built, &cache.network(Which::N2, key).unwrap()), "not built again");
        assert!(cache.network(Which::N1, key).is_none() && cache.network(Which::N2, (1, 40, 40)).is_none());
        let too_small = (0, 2, 2);
        cache.build_network(None, &classes, Which::N1, too_small);
        let failures = wait_for(&mut cache, Which::N1, too_small);
        assert!(cache.network_error(Which::N1, too_small).is_some());
        assert_eq!(failures.len(), 1);
        assert!(matches!(&failures[0], Note::Error(e) if e.starts_with("N1 could not be built")), "{failures:?}");
    }

    fn settle_dataset(cache: &mut Cache) -> Vec<Note> {
        let mut notes = Vec::new();
        for _ in 0..2000 {
            notes.extend(cache.poll());
            if cache.dataset_job().is_none() {
                return notes;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("the dataset did not finish");
    }

    #[test]
    fn datasets_are_generated_per_request_with_their_warnings() {
        let classes = presets::toy_squares();
        let mut cache = Cache::default();
        let settings = DatasetSettings { height: 8, width: 8, samples_per_class: 3, ..DatasetSettings::default() };
        let request = (0, settings.clone());
        assert!(cache.dataset_needs(&request));
        cache.generate_dataset(None, &classes, request.clone());
        assert!(!cache.dataset_needs(&request), "running");
        let notes = settle_dataset(&mut cache);
        assert!(matches!(&notes[..], [Note::Info(m)] if m.starts_with("generated 6 samples")), "{notes:?}");
        assert_eq!((cache.dataset().map(|d| d.samples.len()), cache.dataset_generation()), (Some(6), 1));
        assert_eq!(cache.dataset_for(), Some(&request));
        assert!(!cache.dataset_needs(&request) && cache.dataset_needs(&(1, settings.clone())));
        let impossible = (1, DatasetSettings { height: 1, width: 1, ..settings });
        cache.generate_dataset(None, &classes, impossible.clone());
        let notes = settle_dataset(&mut cache);
        assert!(matches!(&notes[..], [Note::Error(_)]), "{notes:?}");
        assert!(cache.dataset_error().is_some() && !cache.dataset_warnings().is_empty());
        assert!(!cache.dataset_needs(&impossible), "a failed request is not retried");
        assert_eq!(cache.dataset_for(), Some(&request), "the last dataset stays");
    }
}
