//! Measured selectivity of hidden units: for each unit, how many classes make it fire over a
//! probe set of labelled images. Monosemantic units (the constructed networks' detectors
//! `σ(ε − d_T(x,i,j))`) fire for exactly one class; the units of an SGD-trained CNN usually fire
//! for several (polysemantic). The number, not only a picture, is what the app shows.
//!
//! # Definition
//! Let `m_u[c]` be the largest activation of unit `u` over the probe images of class `c`, and
//! `M_u = max_c m_u[c]`. Unit `u` *fires for* class `c` when `m_u[c] > 0` and
//! `m_u[c] > relative_threshold · M_u`. A unit that fires for no class is *inactive*; the summary
//! is the histogram of "number of classes a unit fires for" over all units, and the mean over the
//! active units.
//!
//! A unit that fires weakly for every class counts every class at threshold 0, so the count is
//! also reported against the relative threshold 0, 0.1, … 0.9 ([`ClassMaxima::threshold_curve`]),
//! beside the class selectivity index of Morcos et al. (2018): with `μ_c` the unit's mean
//! activation over the probe images of class `c`, `μ_max = max_c μ_c` and `μ_rest` the mean of the
//! other classes' `μ_c`, `SI = (μ_max − μ_rest) / (μ_max + μ_rest)` (1 = answers one class only,
//! 0 = indifferent; undefined for a unit that never fires).
//!
//! For a constructed network the hidden units measured are its detector layer (the layer the
//! theorems are about, [`Detectors`](crate::core::construct::Detectors)); for the trained CNN they
//! are the feature maps after the `ReLU` (`F·H'·W'` units); for an imported model, the units of
//! the feature map the user picks.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use thiserror::Error;

use super::construct::Constructed;
use super::interop::onnx_import::{ImportError, OnnxModel};
use super::nn::cnn::Cnn;
use super::nn::deep::DeepNet;
use super::nn::dense::NnError;
use super::nn::n2_shaped::N2Shaped;
use super::nn::sparse::{LayerKind, SparseError};

/// Why selectivity could not be measured.
#[derive(Debug, Error)]
pub enum SelectivityError {
    #[error("{images} probe images but {labels} labels")]
    LengthMismatch { images: usize, labels: usize },
    #[error("label {label} is out of range for {classes} classes")]
    BadLabel { label: usize, classes: usize },
    #[error("the relative threshold must be a number in [0, 1), got {0}")]
    BadThreshold(f32),
    #[error("the network could not run on a probe image: {0}")]
    Constructed(#[from] SparseError),
    #[error("the network could not run on a probe image: {0}")]
    Trained(#[from] NnError),
    #[error("the model could not run on a probe image: {0}")]
    Imported(#[from] ImportError),
    #[error("the model computes no value '{0}'")]
    NoSuchValue(String),
}

/// The result: per-unit class counts and their histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct Selectivity {
    /// Number of classes each unit fires for (0 = inactive), in the layer's flat unit order.
    pub classes_per_unit: Vec<usize>,
    /// `histogram[n]` = number of units that fire for exactly `n` classes, `n = 0..=classes`.
    pub histogram: Vec<usize>,
}

impl Selectivity {
    /// Number of units measured.
    pub fn units(&self) -> usize {
        self.classes_per_unit.len()
    }

    /// Number of units that fire for at least one class.
    pub fn active_units(&self) -> usize {
        self.classes_per_unit.iter().filter(|&&n| n > 0).count()
    }

    /// Mean number of classes per active unit (`None` when no unit fires).
    pub fn mean_classes_per_active_unit(&self) -> Option<f32> {
        let active = self.active_units();
        let total: usize = self.classes_per_unit.iter().sum();
        (active > 0).then(|| total as f32 / active as f32)
    }

    /// Fraction of active units that fire for exactly one class (`None` when no unit fires).
    pub fn monosemantic_fraction(&self) -> Option<f32> {
        let active = self.active_units();
        (active > 0).then(|| self.histogram.get(1).copied().unwrap_or(0) as f32 / active as f32)
    }
}

/// The relative thresholds of [`ClassMaxima::threshold_curve`]: 0, 0.1, … 0.9.
pub const CURVE_THRESHOLDS: [f32; 10] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// Per-unit, per-class maximum and summed activation, accumulated image by image.
#[derive(Debug, Clone)]
pub struct ClassMaxima {
    /// `[units, classes]`, starting at `-∞`.
    maxima: Array2<f32>,
    /// `[units, classes]`, sums of the finite activations (for the class means).
    sums: Array2<f64>,
    /// Images per class.
    counts: Vec<usize>,
}

impl ClassMaxima {
    /// Empty maxima for `units` units and `classes` classes.
    pub fn new(units: usize, classes: usize) -> Self {
        Self {
            maxima: Array2::from_elem((units, classes), f32::NEG_INFINITY),
            sums: Array2::zeros((units, classes)),
            counts: vec![0; classes],
        }
    }

    /// Folds in one image's activations (flat, one per unit) with its label; NaN never counts as firing.
    pub fn add(&mut self, activations: &[f32], label: usize) {
        if let Some(count) = self.counts.get_mut(label) {
            *count += 1;
        }
        for (unit, &value) in activations.iter().enumerate().take(self.maxima.nrows()) {
            let slot = &mut self.maxima[[unit, label]];
            if value > *slot {
                *slot = value;
            }
            if value.is_finite() {
                self.sums[[unit, label]] += f64::from(value);
            }
        }
    }

    /// Merges another accumulator of the same shape (for parallel accumulation).
    fn merge(mut self, other: &Self) -> Self {
        self.maxima.zip_mut_with(&other.maxima, |a, &b| *a = a.max(b));
        self.sums.zip_mut_with(&other.sums, |a, &b| *a += b);
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self
    }

    /// Morcos et al.'s class selectivity index of every unit (`None` for a unit that never fires
    /// or when fewer than two classes have probe images).
    pub fn selectivity_index(&self) -> Vec<Option<f32>> {
        let seen: Vec<usize> = (0..self.counts.len()).filter(|&c| self.counts[c] > 0).collect();
        self.sums
            .rows()
            .into_iter()
            .map(|row| {
                let means: Vec<f64> = seen.iter().map(|&c| row[c] / self.counts[c] as f64).collect();
                class_selectivity_index(&means)
            })
            .collect()
    }

    /// The mean index over the units that fire (`None` if none does).
    pub fn mean_selectivity_index(&self) -> Option<f32> {
        mean(self.selectivity_index().into_iter().flatten())
    }

    /// Histogram of the index in ten bins `[0, 0.1), … [0.9, 1]` over the units that fire.
    pub fn selectivity_index_histogram(&self) -> [usize; 10] {
        let mut bins = [0; 10];
        for index in self.selectivity_index().into_iter().flatten() {
            bins[((index * 10.0) as usize).min(9)] += 1;
        }
        bins
    }

    /// Mean classes per active unit at each of [`CURVE_THRESHOLDS`] (`None` where no unit fires).
    pub fn threshold_curve(&self) -> Vec<(f32, Option<f32>)> {
        CURVE_THRESHOLDS
            .iter()
            .map(|&t| (t, self.selectivity(t).ok().and_then(|s| s.mean_classes_per_active_unit())))
            .collect()
    }

    /// The selectivity under `relative_threshold` in [0, 1) (see the module documentation).
    pub fn selectivity(&self, relative_threshold: f32) -> Result<Selectivity, SelectivityError> {
        if !(0.0..1.0).contains(&relative_threshold) {
            return Err(SelectivityError::BadThreshold(relative_threshold));
        }
        let classes = self.maxima.ncols();
        let classes_per_unit: Vec<usize> = self
            .maxima
            .rows()
            .into_iter()
            .map(|row| classes_fired(row.as_slice().unwrap_or(&[]), relative_threshold))
            .collect();
        let mut histogram = vec![0; classes + 1];
        for &n in &classes_per_unit {
            histogram[n.min(classes)] += 1;
        }
        Ok(Selectivity { classes_per_unit, histogram })
    }
}

/// `(μ_max − μ_rest) / (μ_max + μ_rest)` of one unit's class means (`None` if they are all 0).
pub fn class_selectivity_index(means: &[f64]) -> Option<f32> {
    if means.len() < 2 {
        return None;
    }
    let (best, &max) = means.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1))?;
    let rest =
        means.iter().enumerate().filter(|&(c, _)| c != best).map(|(_, &m)| m).sum::<f64>() / (means.len() - 1) as f64;
    let total = max + rest;
    (total > 0.0 && total.is_finite()).then(|| ((max - rest) / total) as f32)
}

fn mean(values: impl Iterator<Item = f32>) -> Option<f32> {
    let (sum, count) = values.fold((0.0f64, 0usize), |(s, n), v| (s + f64::from(v), n + 1));
    (count > 0).then(|| (sum / count as f64) as f32)
}

/// How many classes one unit fires for, given its per-class maxima.
fn classes_fired(maxima: &[f32], relative_threshold: f32) -> usize {
    let overall = maxima.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if overall <= 0.0 {
        return 0;
    }
    let threshold = relative_threshold * overall;
    maxima.iter().filter(|&&m| m > 0.0 && m > threshold).count()
}

/// Checks the probe set shared by both measurements.
fn check_probe(images: usize, labels: &[usize], classes: usize) -> Result<(), SelectivityError> {
    if images != labels.len() {
        return Err(SelectivityError::LengthMismatch { images, labels: labels.len() });
    }
    if let Some(&label) = labels.iter().find(|&&l| l >= classes) {
        return Err(SelectivityError::BadLabel { label, classes });
    }
    Ok(())
}

/// Accumulates per-class maxima over the probe set in parallel, `units_of` giving one image's units.
fn accumulate<F>(
    images: &[Array2<f32>],
    labels: &[usize],
    units: usize,
    classes: usize,
    units_of: F,
) -> Result<ClassMaxima, SelectivityError>
where
    F: Fn(ArrayView2<f32>) -> Result<Vec<f32>, SelectivityError> + Sync,
{
    images
        .par_iter()
        .zip(labels)
        .try_fold(
            || ClassMaxima::new(units, classes),
            |mut acc, (image, &label)| {
                let values = units_of(image.view())?;
                acc.add(&values, label);
                Ok(acc)
            },
        )
        .try_reduce(|| ClassMaxima::new(units, classes), |a, b| Ok(a.merge(&b)))
}

/// Per-class maxima of a constructed network's detector neurons over labelled probe images
/// (then [`ClassMaxima::selectivity`] for any threshold, without running the network again).
pub fn constructed(
    network: &Constructed,
    images: &[Array2<f32>],
    labels: &[usize],
    classes: usize,
) -> Result<ClassMaxima, SelectivityError> {
    check_probe(images.len(), labels, classes)?;
    let layer = network.detectors.layer;
    // Only the valid windows are detectors (N2's detection maps also hold padded offsets).
    let units: Vec<usize> = network.detectors.tiles.iter().flat_map(super::construct::TileDetector::units).collect();
    accumulate(images, labels, units.len(), classes, |image| {
        let activations = network.network.forward(image)?;
        let values = activations.layers.get(layer).map_or(&[][..], super::nn::sparse::Activation::as_slice);
        Ok(units.iter().map(|&u| values.get(u).copied().unwrap_or(f32::NAN)).collect())
    })
}

/// Per-class maxima of the units of one feature map (the value called `layer`) of an imported
/// model over labelled probe images of `classes` classes.
pub fn imported(
    model: &OnnxModel,
    layer: &str,
    images: &[Array2<f32>],
    labels: &[usize],
    classes: usize,
) -> Result<ClassMaxima, SelectivityError> {
    check_probe(images.len(), labels, classes)?;
    let units_of = |image: ArrayView2<f32>| -> Result<Vec<f32>, SelectivityError> {
        let trace = model.run(image)?;
        let values = trace.get(layer).ok_or_else(|| SelectivityError::NoSuchValue(layer.to_owned()))?;
        Ok(values.iter().copied().collect())
    };
    let units = units_of(Array2::zeros(model.input_size()).view())?.len();
    accumulate(images, labels, units, classes, units_of)
}

/// Per-class maxima of the trained CNN's feature-map units (after `ReLU`) over labelled probe images.
pub fn trained(cnn: &Cnn, images: &[Array2<f32>], labels: &[usize]) -> Result<ClassMaxima, SelectivityError> {
    let spec = cnn.spec();
    check_probe(images.len(), labels, spec.classes)?;
    accumulate(images, labels, spec.features(), spec.classes, |image| {
        let activations = cnn.forward(image)?;
        Ok(activations.post_relu.iter().copied().collect())
    })
}

/// Per-class statistics of every hidden layer of a general trained network over labelled probe
/// images: each conv block's `ReLU` maps, then the hidden fully connected layer, with their names.
pub fn trained_layers(
    net: &DeepNet,
    images: &[Array2<f32>],
    labels: &[usize],
) -> Result<Vec<(String, ClassMaxima)>, SelectivityError> {
    let arch = net.arch();
    check_probe(images.len(), labels, arch.classes)?;
    let mut names: Vec<String> = arch
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| format!("conv {} ({k}×{k}×{f})", i + 1, k = b.kernel, f = b.filters))
        .collect();
    if let Some(hidden) = arch.hidden {
        names.push(format!("hidden FC ({hidden})"));
    }
    let sizes: Vec<usize> = {
        let probe = net.forward(Array2::zeros((arch.height, arch.width)).view())?;
        probe.hidden_layers().iter().map(|l| l.len()).collect()
    };
    let fresh = || sizes.iter().map(|&n| ClassMaxima::new(n, arch.classes)).collect::<Vec<_>>();
    let layers = images
        .par_iter()
        .zip(labels)
        .try_fold(fresh, |mut acc, (image, &label)| {
            let activations = net.forward(image.view())?;
            for (layer, values) in acc.iter_mut().zip(activations.hidden_layers()) {
                layer.add(values, label);
            }
            Ok::<_, SelectivityError>(acc)
        })
        .try_reduce(fresh, |a, b| Ok(a.into_iter().zip(&b).map(|(x, y)| x.merge(y)).collect()))?;
    Ok(names.into_iter().zip(layers).collect())
}

/// Per-class statistics of every hidden layer of N2's shape (trained, or with N2's weights): each
/// layer but the padding and the output, with N2's layer names.
pub fn n2_shaped_layers(
    net: &N2Shaped,
    images: &[Array2<f32>],
    labels: &[usize],
) -> Result<Vec<(String, ClassMaxima)>, SelectivityError> {
    check_probe(images.len(), labels, net.classes())?;
    let hidden = net.hidden_layers();
    let names = net.layer_names();
    let layers: Vec<(String, usize)> = hidden.iter().map(|&l| (names[l].to_owned(), net.shapes()[l].len())).collect();
    layers_over_probe(&layers, net.classes(), images, labels, |image| {
        let outputs = net.forward(image)?;
        Ok(hidden.iter().map(|&l| outputs[l].as_slice().to_vec()).collect())
    })
}

/// The same for N2 itself: every convolution (values, blocks, detection) and hidden dense layer,
/// the reference beside [`n2_shaped_layers`].
pub fn constructed_layers(
    network: &Constructed,
    images: &[Array2<f32>],
    labels: &[usize],
    classes: usize,
) -> Result<Vec<(String, ClassMaxima)>, SelectivityError> {
    check_probe(images.len(), labels, classes)?;
    let all = network.network.layers();
    let hidden: Vec<usize> =
        (0..all.len().saturating_sub(1)).filter(|&l| !matches!(all[l].kind, LayerKind::Pad { .. })).collect();
    let layers: Vec<(String, usize)> =
        hidden.iter().map(|&l| (all[l].name.clone(), network.network.shapes()[l].len())).collect();
    layers_over_probe(&layers, classes, images, labels, |image| {
        let outputs = network.network.forward(image)?;
        Ok(hidden.iter().map(|&l| outputs.layers[l].as_slice().to_vec()).collect())
    })
}

/// Accumulates `(name, units)` layers over the probe images, eight images run in parallel at a
/// time and added in order: one accumulator per layer, however large the layers (N2's lowest
/// hold millions of units).
fn layers_over_probe<F>(
    layers: &[(String, usize)],
    classes: usize,
    images: &[Array2<f32>],
    labels: &[usize],
    forward: F,
) -> Result<Vec<(String, ClassMaxima)>, SelectivityError>
where
    F: Fn(ArrayView2<f32>) -> Result<Vec<Vec<f32>>, SelectivityError> + Sync,
{
    let mut maxima: Vec<ClassMaxima> = layers.iter().map(|&(_, units)| ClassMaxima::new(units, classes)).collect();
    for (chunk, chunk_labels) in images.chunks(8).zip(labels.chunks(8)) {
        let outputs: Vec<Vec<Vec<f32>>> =
            chunk.par_iter().map(|image| forward(image.view())).collect::<Result<_, _>>()?;
        for (values, &label) in outputs.iter().zip(chunk_labels) {
            for (layer, unit_values) in maxima.iter_mut().zip(values) {
                layer.add(unit_values, label);
            }
        }
    }
    Ok(layers.iter().map(|(name, _)| name.clone()).zip(maxima).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::construct::{build_n1, build_n2};
    use crate::core::detect;
    use crate::core::nn::cnn::CnnSpec;
    use crate::core::tile::{ClassSet, Tile, single_tile_object};
    use ndarray::array;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Three small classes: distinct 3×3 patterns with full support and a small ε.
    fn three_classes() -> ClassSet {
        let patterns = [
            array![[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]],
            array![[1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]],
            array![[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]],
        ];
        let classes = patterns
            .into_iter()
            .enumerate()
            .map(|(i, values)| {
                let support = values.mapv(|_| true);
                single_tile_object(&format!("class {i}"), Tile::new(values, support, 0.5).unwrap())
            })
            .collect();
        ClassSet { classes }
    }

    /// Valid labelled images: a tile pasted on uniform noise, kept when exactly its class's logit is positive.
    fn probe(classes: &ClassSet, per_class: usize, side: usize, seed: u64) -> (Vec<Array2<f32>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for (label, object) in classes.classes.iter().enumerate() {
            let tile = &object.features[0].tiles[0];
            while labels.iter().filter(|&&l| l == label).count() < per_class {
                let mut image = Array2::from_shape_simple_fn((side, side), || rng.random::<f32>());
                let (row, col) = (rng.random_range(0..=side - tile.rows()), rng.random_range(0..=side - tile.cols()));
                for (a, b, v) in tile.support_pixels() {
                    image[[row + a, col + b]] = v;
                }
                let logits = detect::logits(classes, image.view());
                let positive: Vec<usize> = (0..logits.len()).filter(|&c| logits[c] > 0.0).collect();
                if positive == [label] {
                    images.push(image);
                    labels.push(label);
                }
            }
        }
        (images, labels)
    }

    #[test]
    fn class_counts_follow_the_definition() {
        // (per-class maxima, relative threshold, expected count)
        let cases: [(&[f32], f32, usize); 6] = [
            (&[0.0, 0.0, 0.0], 0.0, 0),
            (&[-1.0, f32::NEG_INFINITY, 0.0], 0.0, 0),
            (&[2.0, 0.0, 0.0], 0.0, 1),
            (&[2.0, 0.1, 1.5], 0.0, 3),
            (&[2.0, 0.1, 1.5], 0.5, 2),
            (&[2.0, f32::NAN, 1.0], 0.5, 1),
        ];
        for (maxima, threshold, expected) in cases {
            assert_eq!(classes_fired(maxima, threshold), expected, "{maxima:?} at {threshold}");
        }
    }

    #[test]
    fn histogram_and_summary_agree_with_the_counts() {
        let mut maxima = ClassMaxima::new(4, 3);
        maxima.add(&[1.0, 0.0, 1.0, 0.0], 0);
        maxima.add(&[0.0, 0.0, 1.0, 0.0], 1);
        maxima.add(&[0.0, 0.0, 1.0, 2.0], 2);
        let s = maxima.selectivity(0.0).unwrap();
        assert_eq!(s.classes_per_unit, vec![1, 0, 3, 1]);
        assert_eq!(s.histogram, vec![1, 2, 0, 1]);
        assert_eq!(s.active_units(), 3);
        assert_eq!(s.mean_classes_per_active_unit(), Some(5.0 / 3.0));
        assert_eq!(s.monosemantic_fraction(), Some(2.0 / 3.0));
        assert_eq!(ClassMaxima::new(2, 2).selectivity(0.0).unwrap().mean_classes_per_active_unit(), None);
        assert_eq!(maxima.selectivity(0.5).unwrap().classes_per_unit, vec![1, 0, 3, 1], "per-class maxima all equal");
        for bad in [1.0, -0.1, f32::NAN] {
            assert!(matches!(maxima.selectivity(bad), Err(SelectivityError::BadThreshold(_))));
        }
    }

    #[test]
    fn the_selectivity_index_follows_morcos() {
        assert_eq!(class_selectivity_index(&[2.0, 0.0, 0.0]), Some(1.0));
        assert_eq!(class_selectivity_index(&[1.0, 1.0, 1.0]), Some(0.0));
        // μ_max 3, μ_rest (1 + 0)/2 = 0.5: (3 − 0.5)/(3 + 0.5).
        assert!((class_selectivity_index(&[1.0, 3.0, 0.0]).unwrap() - 2.5 / 3.5).abs() < 1e-6);
        assert_eq!(class_selectivity_index(&[0.0, 0.0]), None);
        assert_eq!(class_selectivity_index(&[1.0]), None);
        // A unit firing weakly for every class counts 3 classes at threshold 0 but 1 at 0.5.
        let mut maxima = ClassMaxima::new(1, 3);
        for (value, label) in [(5.0, 0), (0.1, 1), (0.2, 2), (3.0, 0)] {
            maxima.add(&[value], label);
        }
        let curve = maxima.threshold_curve();
        assert_eq!(curve[0], (0.0, Some(3.0)));
        assert_eq!(curve[5], (0.5, Some(1.0)));
        // Class means 4, 0.1, 0.2: (4 − 0.15)/(4 + 0.15).
        let index = maxima.mean_selectivity_index().unwrap();
        assert!((index - 3.85 / 4.15).abs() < 1e-5, "{index}");
        assert_eq!(maxima.selectivity_index_histogram()[9], 1);
    }

    #[test]
    fn every_hidden_layer_of_a_deep_network_is_measured() {
        use crate::core::nn::arch::{Arch, ConvBlock};
        let classes = three_classes();
        let (images, labels) = probe(&classes, 10, 10, 8);
        let arch = Arch {
            blocks: vec![ConvBlock::plain(3, 4).pooled(), ConvBlock::plain(2, 5)],
            hidden: Some(6),
            ..Arch::paper(10, 10, 3)
        };
        let net = DeepNet::new(arch, 1).unwrap();
        let layers = trained_layers(&net, &images, &labels).unwrap();
        let names: Vec<&str> = layers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["conv 1 (3×3×4)", "conv 2 (2×2×5)", "hidden FC (6)"]);
        assert_eq!(layers[0].1.selectivity(0.0).unwrap().units(), 4 * 8 * 8);
        assert_eq!(layers[1].1.selectivity(0.0).unwrap().units(), 5 * 3 * 3);
        // The paper's network measures the same on either engine.
        let spec = CnnSpec { height: 10, width: 10, kernel: 3, filters: 4, classes: 3 };
        let cnn = Cnn::new(spec, 2).unwrap();
        let general = trained_layers(&DeepNet::from_cnn(&cnn), &images, &labels).unwrap();
        let readable = trained(&cnn, &images, &labels).unwrap();
        assert_eq!(general[0].1.selectivity(0.0).unwrap(), readable.selectivity(0.0).unwrap());
    }

    #[test]
    fn constructed_detectors_are_monosemantic() {
        let classes = three_classes();
        let (images, labels) = probe(&classes, 15, 10, 7);
        for network in [build_n1(&classes, 10, 10).unwrap(), build_n2(&classes, 10, 10).unwrap()] {
            let s = constructed(&network, &images, &labels, classes.len()).unwrap().selectivity(0.0).unwrap();
            assert_eq!(s.units(), 3 * 8 * 8, "one unit per tile and valid window");
            assert!(s.active_units() > 0);
            assert_eq!(s.mean_classes_per_active_unit(), Some(1.0));
            assert!(s.histogram[2..].iter().all(|&n| n == 0), "{:?}", s.histogram);
            let maxima = constructed(&network, &images, &labels, classes.len()).unwrap();
            assert_eq!(maxima.mean_selectivity_index(), Some(1.0), "detectors answer one class only");
        }
    }

    #[test]
    fn a_random_cnn_has_polysemantic_units() {
        let classes = three_classes();
        let (images, labels) = probe(&classes, 15, 10, 8);
        let spec = CnnSpec { height: 10, width: 10, kernel: 3, filters: 4, classes: 3 };
        let cnn = Cnn::new(spec, 1).unwrap();
        let s = trained(&cnn, &images, &labels).unwrap().selectivity(0.0).unwrap();
        assert_eq!(s.units(), spec.features());
        assert!(s.mean_classes_per_active_unit().unwrap() > 2.0, "{:?}", s.histogram);
    }

    #[test]
    fn an_exported_then_imported_cnn_measures_like_the_cnn() {
        let classes = three_classes();
        let (images, labels) = probe(&classes, 15, 10, 9);
        let spec = CnnSpec { height: 10, width: 10, kernel: 3, filters: 4, classes: 3 };
        let cnn = Cnn::new(spec, 2).unwrap();
        let names: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
        let bytes = crate::core::interop::onnx_export::export_cnn(&cnn, &names).unwrap().onnx_bytes();
        let model = OnnxModel::from_bytes(&bytes, None).unwrap();
        let direct = trained(&cnn, &images, &labels).unwrap().selectivity(0.0).unwrap();
        let via_onnx = imported(&model, "layer1", &images, &labels, 3).unwrap().selectivity(0.0).unwrap();
        assert_eq!(via_onnx, direct);
        assert!(matches!(imported(&model, "nope", &images, &labels, 3), Err(SelectivityError::NoSuchValue(_))));
    }

    #[test]
    fn bad_probes_are_refused() {
        let classes = three_classes();
        let network = build_n1(&classes, 10, 10).unwrap();
        let image = Array2::zeros((10, 10));
        let cases = [
            (vec![image.clone()], vec![], SelectivityError::LengthMismatch { images: 1, labels: 0 }),
            (vec![image.clone()], vec![3], SelectivityError::BadLabel { label: 3, classes: 3 }),
        ];
        for (images, labels, expected) in cases {
            let error = constructed(&network, &images, &labels, 3).unwrap_err();
            assert_eq!(error.to_string(), expected.to_string());
        }
        let wrong_size = vec![Array2::zeros((5, 5))];
        assert!(matches!(constructed(&network, &wrong_size, &[0], 3), Err(SelectivityError::Constructed(_))));
    }

    #[test]
    fn n2_shaped_with_n2s_weights_has_n2s_selectivity_layer_by_layer() {
        use crate::core::nn::n2_shaped::{Init, N2Shaped, Wiring};
        let classes = three_classes();
        let (images, labels) = probe(&classes, 10, 7, 30);
        let n2 = build_n2(&classes, 7, 7).unwrap();
        let net = N2Shaped::new(&classes, (7, 7), Wiring::Sparse, Init::N2, 0).unwrap();
        let reference = constructed_layers(&n2, &images, &labels, 3).unwrap();
        let shaped = n2_shaped_layers(&net, &images, &labels).unwrap();
        assert_eq!(reference.len(), shaped.len());
        assert_eq!(reference.last().unwrap().0, "detection (1×1)");
        for ((name, a), (other, b)) in reference.iter().zip(&shaped) {
            assert_eq!(name, other);
            let (a, b) = (a.mean_selectivity_index().unwrap(), b.mean_selectivity_index().unwrap());
            assert!((a - b).abs() < 1e-4, "{name}: {a} vs {b}");
        }
        let detection = reference.last().unwrap().1.mean_selectivity_index().unwrap();
        assert!(detection > 0.99, "N2's detectors answer one class: {detection}");
    }
}
