//! One headless study of a network, what `tilelab interpret` writes: the preferred stimulus of
//! every studied unit (each constructed detector at its middle window, scored for recovery; for
//! N2 also the first channel of each block level; for a trained CNN each conv channel at the
//! middle of its map), and every attribution method on some samples, scored against the
//! windows where their tiles were pasted.

use ndarray::{Array2, Array3, Array4, s};

use super::{
    AscentOptions, Baseline, Goal, InterpretError, Method, Model, Recovery, Unit, UnitGradient, attribute,
    block_recovery, mass_in_window, pointing_game, preferred, recovery,
};
use crate::core::construct::Constructed;
use crate::core::dataset::Sample;
use crate::core::nn::dense::Layer;
use crate::core::nn::sparse::Shape;
use crate::core::tile::ClassSet;

/// What a studied unit is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A constructed detector `σ(ε − d_T)`.
    Detector,
    /// An N2 block channel (a distance, minimised).
    Block,
    /// A channel of a trained convolution.
    Feature,
}

/// One row of `preferred.npy` / `units.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct StudiedUnit {
    pub layer: usize,
    pub channel: usize,
    /// Top-left pixel of the window the unit reads.
    pub window: (usize, usize),
    /// For constructed units, the tile's index in class → feature → tile order.
    pub tile: Option<usize>,
    /// For N2's block channels, the block inside the (padded) tile: top-left `(row, col)` and side.
    pub block: Option<(usize, usize, usize)>,
    pub kind: UnitKind,
    pub recovery: Option<Recovery>,
}

/// One method's scores over the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodScores {
    pub method: Method,
    /// Share of samples whose largest absolute attribution lies in a pasted window.
    pub pointing_game: f32,
    /// Mean share of absolute attribution inside the pasted windows.
    pub mass_in_window: f32,
}

/// Everything one study computed.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    pub units: Vec<StudiedUnit>,
    /// `[U, H, W]`.
    pub preferred: Array3<f32>,
    /// The methods that ran, in `attribution`'s first axis order.
    pub methods: Vec<MethodScores>,
    /// Methods that could not run on this model, with why (ONNX: no backward).
    pub skipped: Vec<(&'static str, String)>,
    /// `[M, N, H, W]`.
    pub attribution: Array4<f32>,
    /// The grey level of the mean-background baseline.
    pub baseline: f32,
}

impl Study {
    /// Share of detector units recovered; `None` without constructed detectors.
    pub fn recovery(&self) -> Option<f32> {
        share_recovered(&self.units, UnitKind::Detector)
    }

    /// Share of N2 block channels recovered; `None` without them.
    pub fn block_recovery(&self) -> Option<f32> {
        share_recovered(&self.units, UnitKind::Block)
    }
}

#[allow(clippy::cast_precision_loss)]
fn share_recovered(units: &[StudiedUnit], kind: UnitKind) -> Option<f32> {
    let scored: Vec<bool> =
        units.iter().filter(|u| u.kind == kind).filter_map(|u| u.recovery.map(|r| r.recovered)).collect();
    (!scored.is_empty()).then(|| scored.iter().filter(|&&r| r).count() as f32 / scored.len() as f32)
}

/// The methods `tilelab interpret` runs: integrated gradients (50 steps) and occlusion (4-pixel
/// patches) against the mean background.
pub fn default_methods(baseline: f32) -> Vec<Method> {
    let baseline = Baseline::Grey(baseline);
    vec![
        Method::Gradient,
        Method::GradientTimesInput,
        Method::IntegratedGradients { steps: 50, baseline },
        Method::Occlusion { patch: 4, baseline },
    ]
}

/// Runs the study; `constructed` gives N1/N2's ground truth.
pub fn study(
    model: &Model,
    constructed: Option<(&ClassSet, &Constructed)>,
    samples: &[Sample],
    options: &AscentOptions,
) -> Result<Study, InterpretError> {
    let (height, width) = model.input();
    let planned = match (model, constructed) {
        (_, Some((_, built))) => constructed_units(built),
        (Model::Dense { network, .. }, None) => trained_units(model, network)?,
        _ => Vec::new(),
    };
    let mut units = Vec::with_capacity(planned.len());
    let mut preferred_images = Array3::zeros((planned.len(), height, width));
    for (row, (unit, mut studied)) in planned.into_iter().enumerate() {
        let goal = if studied.kind == UnitKind::Block { Goal::Minimise } else { Goal::Maximise };
        let gradient = UnitGradient::new(*model, unit)?;
        let found = preferred(&gradient, &AscentOptions { goal, ..*options }, &mut |_| {})?;
        if let Some((classes, built)) = constructed {
            studied.recovery = score_unit(classes, built, &studied, found.image.view())?;
        }
        preferred_images.slice_mut(s![row, .., ..]).assign(&found.image);
        units.push(studied);
    }
    let baseline = mean_background(samples);
    let (methods, skipped, attribution) = attributions(model, samples, &default_methods(baseline))?;
    Ok(Study { units, preferred: preferred_images, methods, skipped, attribution, baseline })
}

/// The recovery of a studied constructed unit from its preferred stimulus `image` (`None` for trained features).
pub fn score_unit(
    classes: &ClassSet,
    built: &Constructed,
    studied: &StudiedUnit,
    image: ndarray::ArrayView2<f32>,
) -> Result<Option<Recovery>, InterpretError> {
    match studied.kind {
        UnitKind::Detector => {
            let tile = studied.tile.and_then(|t| classes.tiles().nth(t)).map(|(_, tile)| tile);
            tile.map(|tile| recovery(tile, image, studied.window)).transpose()
        }
        UnitKind::Block => {
            let level = built.blocks.iter().find(|l| l.layer == studied.layer);
            level.map(|level| block_recovery(classes, level, studied.channel, image, studied.window)).transpose()
        }
        UnitKind::Feature => Ok(None),
    }
}

/// Every detector at its middle window, then (N2) the first channel of each block level there.
pub fn constructed_units(built: &Constructed) -> Vec<(Unit, StudiedUnit)> {
    let mut units = Vec::new();
    for (tile, detector) in built.detectors.tiles.iter().enumerate() {
        let window = (detector.valid.0 / 2, detector.valid.1 / 2);
        let Some(index) = detector.unit(window.0, window.1) else { continue };
        let channel = detector.channel.unwrap_or(index);
        let studied = StudiedUnit {
            layer: built.detectors.layer,
            channel,
            window,
            tile: Some(tile),
            block: None,
            kind: UnitKind::Detector,
            recovery: None,
        };
        units.push((Unit { layer: built.detectors.layer, index }, studied));
    }
    for level in &built.blocks {
        let Shape::Map { rows, cols, .. } = built.network.shapes()[level.layer] else { continue };
        let Some(place) = level.channels.first().and_then(|c| c.places.first()) else { continue };
        let window = (rows / 2, cols / 2);
        let tile = built.detectors.tiles.iter().position(|d| d.tile == place.tile);
        let block = Some((place.row, place.col, level.size));
        let studied =
            StudiedUnit { layer: level.layer, channel: 0, window, tile, block, kind: UnitKind::Block, recovery: None };
        units.push((Unit { layer: level.layer, index: window.0 * cols + window.1 }, studied));
    }
    units
}

/// Every channel of every trained convolution, at the middle of its map.
fn trained_units(
    model: &Model,
    network: &crate::core::nn::dense::Network,
) -> Result<Vec<(Unit, StudiedUnit)>, InterpretError> {
    let input = super::as_map(super::zeros(model).view());
    let outputs = network.forward_all(input.view())?;
    let mut units = Vec::new();
    for (layer, (kind, output)) in network.layers.iter().zip(&outputs).enumerate() {
        let (Layer::Conv2d(_), &[channels, rows, cols]) = (kind, output.shape()) else { continue };
        let window = (rows / 2, cols / 2);
        for channel in 0..channels {
            let index = (channel * rows + window.0) * cols + window.1;
            let studied = StudiedUnit {
                layer,
                channel,
                window,
                tile: None,
                block: None,
                kind: UnitKind::Feature,
                recovery: None,
            };
            units.push((Unit { layer, index }, studied));
        }
    }
    Ok(units)
}

/// The mean of the samples' pixels outside their pasted windows (0.5 when there are none).
pub fn mean_background(samples: &[Sample]) -> f32 {
    let (mut sum, mut count) = (0.0f64, 0usize);
    for sample in samples {
        for ((y, x), &value) in sample.image.indexed_iter() {
            let pasted = sample
                .placements
                .iter()
                .any(|p| (p.row..p.row + p.rows).contains(&y) && (p.col..p.col + p.cols).contains(&x));
            if !pasted {
                sum += f64::from(value);
                count += 1;
            }
        }
    }
    #[allow(clippy::cast_precision_loss)]
    if count == 0 { 0.5 } else { (sum / count as f64) as f32 }
}

type Attributions = (Vec<MethodScores>, Vec<(&'static str, String)>, Array4<f32>);

/// Every method on every sample (attributing the sample's own class), with scores; methods that
/// need a backward pass the model lacks (or whose ONNX backward fails) are skipped with the reason.
fn attributions(model: &Model, samples: &[Sample], methods: &[Method]) -> Result<Attributions, InterpretError> {
    let (height, width) = model.input();
    let mut maps: Vec<Array3<f32>> = Vec::new();
    let mut scores = Vec::new();
    let mut skipped = Vec::new();
    for &method in methods {
        let mut per_sample = Array3::zeros((samples.len(), height, width));
        let (mut pointed, mut mass) = (0usize, 0.0f32);
        let mut failed = None;
        for (n, sample) in samples.iter().enumerate() {
            let map: Array2<f32> = match attribute(model, sample.image.view(), sample.label, method) {
                Ok(map) => map,
                Err(error @ InterpretError::NoBackward { .. }) => {
                    failed = Some(error.to_string());
                    break;
                }
                // An ONNX backward that fails on this model's shapes costs the gradient methods only.
                Err(error @ InterpretError::Onnx(_)) if !matches!(method, Method::Occlusion { .. }) => {
                    failed = Some(error.to_string());
                    break;
                }
                Err(error) => return Err(error),
            };
            pointed += usize::from(pointing_game(map.view(), &sample.placements));
            mass += mass_in_window(map.view(), &sample.placements);
            per_sample.slice_mut(s![n, .., ..]).assign(&map);
        }
        if let Some(reason) = failed {
            skipped.push((method.name(), reason));
            continue;
        }
        #[allow(clippy::cast_precision_loss)]
        let count = samples.len().max(1) as f32;
        #[allow(clippy::cast_precision_loss)]
        scores.push(MethodScores { method, pointing_game: pointed as f32 / count, mass_in_window: mass / count });
        maps.push(per_sample);
    }
    let mut attribution = Array4::zeros((maps.len(), samples.len(), height, width));
    for (m, map) in maps.into_iter().enumerate() {
        attribution.slice_mut(s![m, .., .., ..]).assign(&map);
    }
    Ok((scores, skipped, attribution))
}
