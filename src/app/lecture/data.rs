//! The live data the lecture steps show, computed off the UI thread and cached by what it was
//! computed from: the input image, N1 and N2 for the current tile set and image size, their
//! forward passes on the input, and the selectivity and invariance measurements.

use std::sync::Arc;

use crate::app::jobs::Job;
use crate::app::state::AppState;
use crate::core::construct::Which;
use crate::core::construct::{Constructed, build_n1, build_n2};
use crate::core::experiments::figure4::InvarianceResult;
use crate::core::nn::sparse::Activations;
use crate::core::selectivity::Selectivity;
use crate::core::tile::TileId;

use super::input::{InputKey, LectureInput};

/// A value computed in a background job for a key: the newest value, the running job, the last error.
pub struct Cached<K, T> {
    value: Option<(K, Arc<T>)>,
    job: Option<(K, Job<T>)>,
    error: Option<(K, String)>,
}

impl<K, T> Default for Cached<K, T> {
    fn default() -> Self {
        Self { value: None, job: None, error: None }
    }
}

impl<K: Clone + PartialEq, T: Send + 'static> Cached<K, T> {
    /// Collects a finished job.
    pub fn poll(&mut self) {
        let Some((_, job)) = &mut self.job else { return };
        let Some(result) = job.poll() else { return };
        let Some((key, _)) = self.job.take() else { return };
        match result {
            Ok(value) => {
                self.value = Some((key, Arc::new(value)));
                self.error = None;
            }
            Err(error) => self.error = Some((key, error)),
        }
    }

    /// True when nothing for `key` exists, runs or failed, and no other job runs (one at a time:
    /// the latest request wins once the running job ends).
    pub fn needs(&self, key: &K) -> bool {
        self.job.is_none()
            && self.value.as_ref().is_none_or(|(k, _)| k != key)
            && self.error.as_ref().is_none_or(|(k, _)| k != key)
    }

    /// Starts computing `work` for `key` in a named background job.
    pub fn start(
        &mut self,
        ctx: &egui::Context,
        key: K,
        name: &str,
        work: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) {
        self.job = Some((key, Job::spawn(name, Some(ctx.clone()), move |_| work())));
    }

    /// The value computed for exactly `key`.
    pub fn get(&self, key: &K) -> Option<Arc<T>> {
        self.value.as_ref().filter(|(k, _)| k == key).map(|(_, v)| Arc::clone(v))
    }

    /// The newest value whose key satisfies `accept` (e.g. the same network, an older input).
    pub fn latest(&self, accept: impl Fn(&K) -> bool) -> Option<Arc<T>> {
        self.value.as_ref().filter(|(k, _)| accept(k)).map(|(_, v)| Arc::clone(v))
    }

    /// Why computing for `key` failed.
    pub fn error(&self, key: &K) -> Option<&str> {
        self.error.as_ref().filter(|(k, _)| k == key).map(|(_, e)| e.as_str())
    }

    /// True while a job runs.
    pub fn is_running(&self) -> bool {
        self.job.is_some()
    }
}

/// What a constructed network is built from: tile-set version and image size.
pub type NetKey = (u64, usize, usize);
/// A forward pass: the network and the input stamp.
pub type ForwardKey = (NetKey, u64);
/// What the measurements use: tile-set version, dataset generation, trained weights version.
pub type MeasureKey = (u64, u64, u64);

/// Selectivity of the constructed N1 and the trained CNN on the same probe images.
#[derive(Debug, Clone)]
pub struct SelectivityOutcome {
    pub constructed: Selectivity,
    pub trained: Selectivity,
    /// Number of probe images.
    pub probes: usize,
}

/// Everything the steps share.
#[derive(Default)]
pub struct LectureData {
    /// The input image (rebuilt when its key changes).
    pub input: Option<LectureInput>,
    /// Why the input could not be made.
    pub input_error: Option<(InputKey, String)>,
    /// Seed of the input (the "new image" button changes it).
    pub seed: u64,
    /// Stamp counter for input images.
    stamps: u64,
    /// Dragging a tile on the input.
    pub drag: super::input::DragState,
    pub n1: Cached<NetKey, Constructed>,
    pub n2: Cached<NetKey, Constructed>,
    pub n1_forward: Cached<ForwardKey, Activations>,
    pub n2_forward: Cached<ForwardKey, Activations>,
    pub selectivity: Cached<MeasureKey, SelectivityOutcome>,
    pub invariance: Cached<MeasureKey, InvarianceResult>,
}

/// The image size of the dataset settings.
pub fn image_size(app: &AppState) -> (usize, usize) {
    (app.session.dataset.height, app.session.dataset.width)
}

/// The tile the lecture follows: the one picked in the lecture, else the editor's, else the first.
pub fn followed_tile(app: &AppState, picked: Option<TileId>) -> Option<TileId> {
    picked
        .filter(|id| app.classes.tile(*id).is_some())
        .or(app.selected.filter(|id| app.classes.tile(*id).is_some()))
        .or_else(|| app.classes.tiles().next().map(|(id, _)| id))
}

impl LectureData {
    /// A new stamp for a changed input image.
    pub fn next_stamp(&mut self) -> u64 {
        self.stamps += 1;
        self.stamps
    }

    /// The input for `tile`, rebuilt when the tile set, the tile, the size or the seed changed.
    pub fn ensure_input(&mut self, app: &AppState, tile: TileId) -> Option<&LectureInput> {
        let key = InputKey { version: app.classes_version, tile, size: image_size(app), seed: self.seed };
        let current = self.input.as_ref().is_some_and(|i| i.key == key);
        let failed = self.input_error.as_ref().is_some_and(|(k, _)| *k == key);
        if !current && !failed {
            let stamp = self.next_stamp();
            let made = app
                .session
                .dataset
                .to_spec()
                .and_then(|spec| LectureInput::new(&app.classes, &spec.background, key.clone(), stamp));
            match made {
                Ok(input) => {
                    self.input = Some(input);
                    self.input_error = None;
                }
                Err(error) => {
                    self.input = None;
                    self.input_error = Some((key, error));
                }
            }
        }
        self.input.as_ref()
    }

    /// The network `which` for the current tile set and image size (built in a job; `None` meanwhile).
    pub fn network(&mut self, ctx: &egui::Context, app: &AppState, which: Which) -> Option<Arc<Constructed>> {
        let (height, width) = image_size(app);
        let key = (app.classes_version, height, width);
        let cache = match which {
            Which::N1 => &mut self.n1,
            Which::N2 => &mut self.n2,
        };
        cache.poll();
        if cache.needs(&key) {
            let classes = app.classes.clone();
            let name = format!("building {}", which.name());
            cache.start(ctx, key, &name, move || {
                let built = match which {
                    Which::N1 => build_n1(&classes, height, width),
                    Which::N2 => build_n2(&classes, height, width),
                };
                built.map_err(|e| e.to_string())
            });
        }
        cache.get(&key)
    }

    /// Why `which` could not be built for the current set, if it failed.
    pub fn network_error(&self, app: &AppState, which: Which) -> Option<String> {
        let (height, width) = image_size(app);
        let key = (app.classes_version, height, width);
        let cache = match which {
            Which::N1 => &self.n1,
            Which::N2 => &self.n2,
        };
        cache.error(&key).map(str::to_owned)
    }

    /// Every layer's output of `which` on the input (the newest finished pass of this network,
    /// so dragging a tile never blanks the view while the next pass runs).
    pub fn forward(&mut self, ctx: &egui::Context, app: &AppState, which: Which) -> Option<Arc<Activations>> {
        let network = self.network(ctx, app, which)?;
        let input = self.input.as_ref()?;
        let (height, width) = image_size(app);
        let net_key = (app.classes_version, height, width);
        let key = (net_key, input.stamp);
        let image = input.image.clone();
        let cache = match which {
            Which::N1 => &mut self.n1_forward,
            Which::N2 => &mut self.n2_forward,
        };
        cache.poll();
        if cache.needs(&key) {
            let name = format!("{} forward pass", which.name());
            cache.start(ctx, key, &name, move || network.network.forward(image.view()).map_err(|e| e.to_string()));
        }
        cache.latest(|k| k.0 == net_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait<K: Clone + PartialEq, T: Send + 'static>(cache: &mut Cached<K, T>) {
        for _ in 0..500 {
            cache.poll();
            if !cache.is_running() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("job did not finish");
    }

    #[test]
    fn cached_values_follow_their_key() {
        let ctx = egui::Context::default();
        let mut cache: Cached<u32, u32> = Cached::default();
        assert!(cache.needs(&1));
        cache.start(&ctx, 1, "one", || Ok(10));
        assert!(!cache.needs(&2), "one job at a time");
        wait(&mut cache);
        assert_eq!(cache.get(&1).as_deref(), Some(&10));
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.latest(|_| true).as_deref(), Some(&10));
        assert!(!cache.needs(&1) && cache.needs(&2));
        cache.start(&ctx, 2, "two", || Err("no".to_owned()));
        wait(&mut cache);
        assert_eq!(cache.error(&2), Some("no"));
        assert!(!cache.needs(&2), "a failed key is not retried");
        assert_eq!(cache.get(&1).as_deref(), Some(&10), "the older value stays");
    }

    #[test]
    fn the_followed_tile_falls_back_to_an_existing_one() {
        let mut app = AppState::new(None);
        let second = TileId { class: 1, feature: 0, tile: 0 };
        assert_eq!(followed_tile(&app, Some(second)), Some(second));
        let missing = TileId { class: 9, feature: 0, tile: 0 };
        assert_eq!(followed_tile(&app, Some(missing)), app.selected);
        app.selected = None;
        assert_eq!(followed_tile(&app, None), Some(TileId { class: 0, feature: 0, tile: 0 }));
    }

    #[test]
    fn networks_and_forward_passes_match_the_direct_logits() {
        let ctx = egui::Context::default();
        let app = AppState::new(None);
        let mut data = LectureData::default();
        let tile = followed_tile(&app, None).unwrap();
        assert!(data.ensure_input(&app, tile).is_some());
        let mut activations = None;
        for _ in 0..2000 {
            activations = data.forward(&ctx, &app, Which::N2);
            if activations.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let activations = activations.expect("N2 forward pass finishes");
        let image = &data.input.as_ref().unwrap().image;
        let direct = crate::core::detect::logits(&app.classes, image.view());
        for (n2, phi) in activations.logits().iter().zip(&direct) {
            assert!((n2 - phi).abs() <= 1e-3 * phi.abs().max(1.0), "{n2} vs {phi}");
        }
        assert!(direct[tile.class] > 0.0, "the pasted tile's class fires");
    }
}
