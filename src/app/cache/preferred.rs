//! What a unit wants to see, in the cache (issue 20): its preferred stimulus (gradient ascent from
//! noise, [`crate::core::interpret::preferred`]) with the progress of the ascent, its top examples
//! over the dataset's first samples, and for a constructed detector the recovery distance `d_T` of
//! its tile at its window. One background job per [`PreferredKey`]; the constructed and the trained
//! side each keep their newest result, so the lecture can show one of each side by side.

use std::sync::Arc;

use ndarray::Array2;

use crate::app::imported::ImportedNetwork;
use crate::app::jobs::{Job, JobShared, Keyed};
use crate::app::widgets::heatmap::CellRect;
use crate::core::construct::{Constructed, Which};
use crate::core::dataset::Dataset;
use crate::core::interpret::{AscentOptions, Example, Model, Preferred, Recovery, Unit, UnitGradient};
use crate::core::interpret::{preferred, recovery, top_examples};
use crate::core::nn::cnn::Cnn;
use crate::core::tile::{Tile, TileId};

use super::{Cache, NetKey};

/// Dataset samples searched for a unit's top examples (one forward pass each).
pub const EXAMPLE_PROBES: usize = 300;
/// Top examples kept per unit.
pub const TOP_EXAMPLES: usize = 6;

/// The network a unit belongs to, by what identifies its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitNetwork {
    /// N1 or N2 built for this key.
    Constructed(Which, NetKey),
    /// The training run's paper CNN of this weights version.
    Trained(u64),
    /// The opened ONNX network of this version.
    Imported(u64),
}

impl UnitNetwork {
    /// The side of the Networks view the unit is on: constructed (0) or trained (1).
    fn side(self) -> usize {
        usize::from(!matches!(self, Self::Constructed(..)))
    }
}

/// A unit the user clicked: where it sits and what input pixels it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitRef {
    /// Its layer and flat index in the layer's `(C, H, W)` output.
    pub unit: Unit,
    /// Its channel (its neuron for a vector layer): what the top examples rank.
    pub channel: usize,
    /// The input pixels `(row, col, rows, cols)` it reads.
    pub field: CellRect,
    /// For a constructed detector, the tile it detects at `field`.
    pub tile: Option<TileId>,
}

/// What a unit's inspection is computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferredKey {
    pub network: UnitNetwork,
    pub unit: UnitRef,
    pub options: AscentOptions,
    /// The dataset generation whose first samples are searched for top examples.
    pub dataset: u64,
}

/// A unit someone asked about (the unit inspector, the lecture), with the weights it belongs to.
#[derive(Debug, Clone)]
pub struct Inspected {
    pub network: UnitNetwork,
    pub model: UnitModel,
    pub unit: UnitRef,
    /// What the unit is, in words (a heading).
    pub title: String,
}

impl Inspected {
    /// The key of this unit's inspection with `options` over dataset generation `dataset`.
    pub fn key(&self, options: AscentOptions, dataset: u64) -> PreferredKey {
        PreferredKey { network: self.network, unit: self.unit, options, dataset }
    }
}

/// The weights a [`PreferredKey`]'s network names, handed to the job.
#[derive(Clone)]
pub enum UnitModel {
    /// A constructed network, with the tile its detector unit stands for (to score recovery).
    Constructed(Arc<Constructed>, Option<Tile>),
    Trained(Arc<Cnn>),
    Imported(Arc<ImportedNetwork>),
}

impl std::fmt::Debug for UnitModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Constructed(..) => "constructed network".to_owned(),
            Self::Trained(_) => "trained CNN".to_owned(),
            Self::Imported(network) => network.name(),
        };
        write!(f, "UnitModel({name})")
    }
}

impl PartialEq for UnitModel {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Constructed(a, s), Self::Constructed(b, t)) => Arc::ptr_eq(a, b) && s == t,
            (Self::Trained(a), Self::Trained(b)) => Arc::ptr_eq(a, b),
            (Self::Imported(a), Self::Imported(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// One of the dataset images that drive a unit hardest, with the window where it does.
pub struct TopExample {
    pub image: Array2<f32>,
    /// Its index among the dataset's samples.
    pub sample: usize,
    pub label: usize,
    /// The input pixels the unit read where it was largest.
    pub field: CellRect,
    pub activation: f32,
}

/// A unit's preferred stimulus, its top examples and (constructed detectors) its recovery.
pub struct Inspection {
    pub preferred: Preferred,
    pub examples: Vec<TopExample>,
    /// `d_T` of the detector's tile at its window in the preferred stimulus, against ε.
    pub recovery: Option<Recovery>,
}

impl Cache {
    /// The inspections of one side (0 constructed, 1 trained): the newest, the running one, the
    /// last failure.
    pub fn inspections(&self, network: UnitNetwork) -> &Keyed<PreferredKey, Inspection> {
        &self.preferred[network.side()]
    }

    /// The inspection of `key`, or while it is computed the newest one of the same unit (other
    /// options, an older dataset), so the window does not go blank while an option changes.
    pub fn inspection(&self, key: &PreferredKey) -> Option<Arc<Inspection>> {
        let slot = self.inspections(key.network);
        slot.get(key).or_else(|| slot.latest(|k| k.network == key.network && k.unit == key.unit))
    }

    /// Starts inspecting `key`'s unit of `model` unless done, failed or another inspection of the
    /// same side runs; a model that does not fit the key is the inspection's failure.
    pub fn inspect_unit(&mut self, ctx: Option<&egui::Context>, key: PreferredKey, model: UnitModel) {
        let data = self.dataset().filter(|_| self.dataset_generation() == key.dataset).cloned();
        let slot = &mut self.preferred[key.network.side()];
        slot.poll();
        if !slot.needs(&key) {
            return;
        }
        let request = key.clone();
        let job = Job::spawn("preferred stimulus", ctx.cloned(), move |shared| {
            inspect(&model, &request, data.as_deref(), shared)
        });
        slot.start(key, job);
    }

    /// Collects finished inspections (a failure is shown where the stimulus would be).
    pub(super) fn poll_inspections(&mut self) {
        for slot in &mut self.preferred {
            slot.poll();
        }
    }
}

/// The whole inspection, run by the job.
fn inspect(
    model: &UnitModel,
    key: &PreferredKey,
    data: Option<&Dataset>,
    shared: &JobShared,
) -> Result<Inspection, String> {
    let network;
    let (model_ref, tile) = match model {
        UnitModel::Constructed(built, tile) => (Model::Sparse(&built.network), tile.as_ref()),
        UnitModel::Trained(cnn) => {
            network = cnn.to_network();
            let spec = cnn.spec();
            (Model::Dense { network: &network, input: (spec.height, spec.width) }, None)
        }
        UnitModel::Imported(imported) => (Model::Onnx(&imported.model), None),
    };
    let gradient = UnitGradient::new(model_ref, key.unit.unit).map_err(|e| e.to_string())?;
    // The ascent is most of the work; the top examples take the last tenth.
    let found =
        preferred(&gradient, &key.options, &mut |done| shared.set_progress(0.9 * done)).map_err(|e| e.to_string())?;
    let (field_row, field_col, _, _) = key.unit.field;
    let recovered = tile
        .map(|tile| recovery(tile, found.image.view(), (field_row, field_col)))
        .transpose()
        .map_err(|e| e.to_string())?;
    let examples = match data {
        Some(data) => strongest_samples(&model_ref, key.unit, data).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    shared.set_progress(1.0);
    Ok(Inspection { preferred: found, examples, recovery: recovered })
}

/// The [`TOP_EXAMPLES`] samples among the first [`EXAMPLE_PROBES`] whose unit's channel is largest.
fn strongest_samples(
    model: &Model,
    unit: UnitRef,
    data: &Dataset,
) -> Result<Vec<TopExample>, crate::core::interpret::InterpretError> {
    let input = model.input();
    let samples: Vec<_> = data.samples.iter().take(EXAMPLE_PROBES).filter(|s| s.image.dim() == input).collect();
    let images: Vec<Array2<f32>> = samples.iter().map(|s| s.image.clone()).collect();
    let found = top_examples(model, &images, unit.unit.layer, unit.channel, TOP_EXAMPLES)?;
    Ok(found
        .into_iter()
        .filter_map(|example| {
            let sample = samples.get(example.sample)?;
            Some(TopExample {
                image: sample.image.clone(),
                sample: example.sample,
                label: sample.label,
                field: example_field(unit, &example),
                activation: example.activation,
            })
        })
        .collect())
}

/// Where the unit's channel was largest: the window at that position of its map, or the unit's
/// own field for a neuron of a vector layer (it reads one window only).
fn example_field(unit: UnitRef, example: &Example) -> CellRect {
    let (_, _, rows, cols) = unit.field;
    example.window.map_or(unit.field, |(row, col)| (row, col, rows, cols))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::app::settings::DatasetSettings;
    use crate::core::presets;

    /// Polls until `done` holds; panics after 60 s.
    fn settle(cache: &mut Cache, what: &str, done: impl Fn(&Cache) -> bool) {
        for _ in 0..6000 {
            cache.poll();
            if done(cache) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("{what} did not finish");
    }

    /// The unit of tile `index`'s detector at window `(row, col)` of `built`.
    fn detector_unit(
        built: &Constructed,
        classes: &crate::core::tile::ClassSet,
        index: usize,
        at: (usize, usize),
    ) -> UnitRef {
        let detector = &built.detectors.tiles[index];
        let tile = classes.tile(detector.tile).unwrap();
        let unit = detector.unit(at.0, at.1).unwrap();
        UnitRef {
            unit: Unit { layer: built.detectors.layer, index: unit },
            channel: detector.channel.unwrap_or(unit),
            field: (at.0, at.1, tile.rows(), tile.cols()),
            tile: Some(detector.tile),
        }
    }

    #[test]
    fn an_inspection_recovers_the_tile_ranks_examples_of_its_class_and_keeps_both_sides() {
        let classes = presets::toy_squares();
        let mut cache = Cache::default();
        let settings = DatasetSettings { height: 12, width: 12, samples_per_class: 8, ..DatasetSettings::default() };
        cache.generate_dataset(None, &classes, (0, settings));
        settle(&mut cache, "the dataset", |c| c.dataset().is_some());
        let net = (0, 12, 12);
        cache.build_network(None, &classes, Which::N2, net);
        settle(&mut cache, "N2", |c| c.network(Which::N2, net).is_some());
        let built = cache.network(Which::N2, net).unwrap();
        let tile_id = built.detectors.tiles[1].tile;
        let inspected = Inspected {
            network: UnitNetwork::Constructed(Which::N2, net),
            model: UnitModel::Constructed(Arc::clone(&built), classes.tile(tile_id).cloned()),
            unit: detector_unit(&built, &classes, 1, (3, 4)),
            title: String::new(),
        };
        let key = inspected.key(AscentOptions::default(), cache.dataset_generation());
        cache.inspect_unit(None, key.clone(), inspected.model.clone());
        assert!(!cache.inspections(key.network).needs(&key), "running");
        settle(&mut cache, "the inspection", |c| {
            c.inspection(&key).is_some() || c.inspections(key.network).failed().is_some()
        });
        let found = cache.inspection(&key).expect("no failure");
        let recovery = found.recovery.expect("a detector is scored");
        assert!(recovery.recovered, "d_T = {} ≥ ε = {}", recovery.distance, recovery.epsilon);
        let direct = crate::core::detect::distance(classes.tile(tile_id).unwrap(), found.preferred.image.view(), 3, 4);
        assert!((direct - recovery.distance).abs() < 1e-6, "d_T of the tile at the unit's window");
        assert_eq!(found.examples.len(), 8.min(TOP_EXAMPLES), "every sample of the class fires the detector");
        for example in &found.examples {
            assert_eq!(example.label, tile_id.class);
            let (row, col, rows, cols) = example.field;
            assert_eq!((rows, cols), (2, 2), "the tile's window");
            let d = crate::core::detect::distance(classes.tile(tile_id).unwrap(), example.image.view(), row, col);
            assert!(d < recovery.epsilon, "the example's outlined window holds the tile");
        }
        // Other options are another key; the last result of the unit stays shown meanwhile.
        let other = inspected.key(AscentOptions { seed: 1, ..AscentOptions::default() }, key.dataset);
        assert!(cache.inspections(other.network).needs(&other));
        assert!(cache.inspection(&other).is_some(), "the same unit's last inspection is shown meanwhile");
        // A unit that does not exist is the inspection's failure, with the core's message.
        let missing = PreferredKey { unit: UnitRef { unit: Unit { layer: 99, index: 0 }, ..key.unit }, ..key.clone() };
        cache.inspect_unit(None, missing.clone(), inspected.model.clone());
        settle(&mut cache, "the failure", |c| c.inspections(missing.network).error(&missing).is_some());
        let error = cache.inspections(missing.network).error(&missing).unwrap_or_default().to_owned();
        assert!(error.contains("layer 99 does not exist"), "{error}");
        assert!(cache.inspections(UnitNetwork::Trained(0)).done().is_none(), "the trained side's slot is apart");
    }
}
