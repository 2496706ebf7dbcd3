//! The checks of CONSTRUCTION.md §6 on random inputs: N1 and N2 equal the direct `φ_O` on random
//! tile sets and images (random backgrounds and pasted tiles), their detector neurons are
//! monosemantic, and they classify generated valid datasets without error.
//!
//! Each case draws its own tile set from an RNG seeded by `(seed, case)`, so a failing case can
//! be replayed alone and the result does not depend on the number of threads.

// ndarray views are cheap handles, passed by value throughout the crate (as in `detect`).
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;

use super::construct::{ConstructError, Constructed, build_n1, build_n2};
use super::dataset::{self, Background, Dataset, DatasetSpec, Sample};
use super::nn::sparse::SparseError;
use super::tile::{ClassSet, Feature, Object, Tile};
use super::{detect, presets};

/// Largest tile side drawn by the random cases (the paper's Fashion tiles are 28×28).
pub const MAX_RANDOM_SIDE: usize = 28;

/// Windows whose distance is this close to ε may round either way in f32: the
/// monosemanticity and "exactly one positive logit" checks skip them.
pub const BORDERLINE: f32 = 1e-4;

/// The agreement required between a network's logit `a` and the direct `b`:
/// `|a − b| ≤ TOLERANCE · max(1, |b|)`.
pub const TOLERANCE: f32 = 1e-4;

/// Why a verification run could not be carried out (a failed check is a report, not an error).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("case {case}: {source}")]
    Construct { case: usize, source: ConstructError },
    #[error("case {case}: {source}")]
    Run { case: usize, source: SparseError },
}

/// The outcome of a verification run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VerifyReport {
    /// Largest `|N1 − φ| / max(1, |φ|)` over every class of every image.
    pub max_rel_err_n1: f32,
    /// Largest `|N2 − φ| / max(1, |φ|)`.
    pub max_rel_err_n2: f32,
    /// Misclassified valid images (direct, N1 or N2), plus valid images without exactly one
    /// positive logit.
    pub errors: usize,
    /// Detector neurons whose sign disagrees with `d_T < ε` (borderline windows skipped).
    pub monosemantic_violations: usize,
    /// Random tile sets checked.
    pub cases: usize,
    /// Images run through both networks.
    pub images: usize,
    /// Images on which some direct logit was positive (the checks saw real detections).
    pub images_with_detection: usize,
    /// Valid dataset images classified.
    pub valid_images: usize,
    /// Valid images skipped because a window lies within rounding of ε.
    pub borderline_images: usize,
    /// Random tile sets for which no valid dataset could be generated (e.g. one class's tile
    /// contains another's): their random images are still checked.
    pub datasets_skipped: usize,
    /// Descriptions of the first failures, to replay them.
    pub failures: Vec<String>,
}

impl VerifyReport {
    /// True when every check passed.
    pub fn passed(&self) -> bool {
        self.max_rel_err_n1 <= TOLERANCE
            && self.max_rel_err_n2 <= TOLERANCE
            && self.errors == 0
            && self.monosemantic_violations == 0
            && self.failures.is_empty()
    }

    fn merge(mut self, other: Self) -> Self {
        self.max_rel_err_n1 = self.max_rel_err_n1.max(other.max_rel_err_n1);
        self.max_rel_err_n2 = self.max_rel_err_n2.max(other.max_rel_err_n2);
        self.errors += other.errors;
        self.monosemantic_violations += other.monosemantic_violations;
        self.cases += other.cases;
        self.images += other.images;
        self.images_with_detection += other.images_with_detection;
        self.valid_images += other.valid_images;
        self.borderline_images += other.borderline_images;
        self.datasets_skipped += other.datasets_skipped;
        self.failures.extend(other.failures);
        self.failures.truncate(10);
        self
    }
}

/// Runs `cases` random cases from `seed` and the preset datasets, in parallel.
pub fn run_all(seed: u64, cases: usize) -> Result<VerifyReport, VerifyError> {
    let random = run(seed, cases)?;
    let presets = check_preset_datasets(seed).map_err(|e| e.at(usize::MAX))?;
    Ok(random.merge(presets))
}

/// Runs `cases` random cases from `seed`, in parallel.
pub fn run(seed: u64, cases: usize) -> Result<VerifyReport, VerifyError> {
    (0..cases)
        .into_par_iter()
        .map(|case| check_random_case(seed, case))
        .try_reduce(VerifyReport::default, |a, b| Ok(a.merge(b)))
}

/// One case: a random class set, an image size, random and pasted images, checked in full.
pub fn check_random_case(seed: u64, case: usize) -> Result<VerifyReport, VerifyError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let max_side = if rng.random_bool(0.2) { MAX_RANDOM_SIDE } else { 6 };
    let classes = random_class_set(&mut rng, max_side);
    let (tile_rows, tile_cols) = classes.tiles().fold((1, 1), |(r, c), (_, t)| (r.max(t.rows()), c.max(t.cols())));
    let height = tile_rows + rng.random_range(0..=8);
    let width = tile_cols + rng.random_range(0..=8);
    let mut images = vec![random_image(&mut rng, height, width)];
    for _ in 0..2 {
        let class = rng.random_range(0..classes.len());
        images.push(image_with_object(&mut rng, &classes, class, height, width));
    }
    let mut report = check_images(&classes, &images).map_err(|e| e.at(case))?;
    let (dataset_classes, spec) = dataset_case(&mut rng, &classes, height, width);
    match dataset::generate(&dataset_classes, &spec) {
        Ok(data) => report = report.merge(check_dataset(&dataset_classes, &data).map_err(|e| e.at(case))?),
        Err(_) => report.datasets_skipped += 1,
    }
    report.cases = 1;
    report.failures.iter_mut().for_each(|f| *f = format!("seed {seed} case {case}: {f}"));
    Ok(report)
}

/// Builds N1 and N2 for the images' size and checks them on every image.
pub fn check_images(classes: &ClassSet, images: &[Array2<f32>]) -> Result<VerifyReport, CaseError> {
    let Some((height, width)) = images.first().map(Array2::dim) else { return Ok(VerifyReport::default()) };
    let n1 = build_n1(classes, height, width)?;
    let n2 = build_n2(classes, height, width)?;
    let mut report = VerifyReport::default();
    for image in images {
        let direct = detect::logits(classes, image.view());
        let n1_logits = n1.logits(image.view())?;
        let n2_logits = n2.logits(image.view())?;
        report.max_rel_err_n1 = report.max_rel_err_n1.max(max_relative_error(&n1_logits, &direct));
        report.max_rel_err_n2 = report.max_rel_err_n2.max(max_relative_error(&n2_logits, &direct));
        for (name, net) in [("N1", &n1), ("N2", &n2)] {
            let violations = monosemantic_violations(classes, net, image.view())?;
            if violations > 0 {
                report.failures.push(format!("{name}: {violations} monosemanticity violations"));
            }
            report.monosemantic_violations += violations;
        }
        report.images += 1;
        report.images_with_detection += usize::from(direct.iter().any(|&v| v > 0.0));
    }
    if report.max_rel_err_n1 > TOLERANCE || report.max_rel_err_n2 > TOLERANCE {
        report
            .failures
            .push(format!("relative error N1 {:.2e}, N2 {:.2e}", report.max_rel_err_n1, report.max_rel_err_n2));
    }
    Ok(report)
}

/// The case's class set made likely to admit valid datasets (ε at most 0.5, so that noise
/// rarely matches), and a small dataset spec: uniform noise when every tile has at least 8
/// support pixels, otherwise a constant grey (tiny tiles match noise everywhere).
fn dataset_case(rng: &mut impl Rng, classes: &ClassSet, height: usize, width: usize) -> (ClassSet, DatasetSpec) {
    let mut classes = classes.clone();
    let tiles = classes.classes.iter_mut().flat_map(|o| o.features.iter_mut()).flat_map(|f| f.tiles.iter_mut());
    let mut smallest_support = usize::MAX;
    for tile in tiles {
        smallest_support = smallest_support.min(tile.support_len());
        // ε stays finite and positive, so this cannot fail.
        let _ = tile.set_epsilon(tile.epsilon().min(0.5));
    }
    let background =
        if smallest_support >= 8 { Background::Uniform } else { Background::Constant(rng.random_range(0.0..=1.0)) };
    let jitter = if rng.random_bool(0.5) { 0.0 } else { 0.5 };
    let spec = DatasetSpec { height, width, samples_per_class: 2, background, jitter, seed: rng.random() };
    (classes, spec)
}

/// Classifies a valid dataset with the direct φ, N1 and N2: each must predict the label, and
/// exactly one logit must be positive (images with a window within [`BORDERLINE`] of ε skipped).
pub fn check_dataset(classes: &ClassSet, data: &Dataset) -> Result<VerifyReport, CaseError> {
    let mut report = VerifyReport::default();
    let Some((height, width)) = data.samples.first().map(|s| s.image.dim()) else { return Ok(report) };
    let n1 = build_n1(classes, height, width)?;
    let n2 = build_n2(classes, height, width)?;
    let outcomes: Vec<Result<Option<String>, SparseError>> =
        data.samples.par_iter().map(|sample| classify_sample(classes, &n1, &n2, sample)).collect();
    for outcome in outcomes {
        match outcome? {
            None => report.valid_images += 1,
            Some(failure) if failure.is_empty() => report.borderline_images += 1,
            Some(failure) => {
                report.valid_images += 1;
                report.errors += 1;
                report.failures.push(failure);
            }
        }
    }
    Ok(report)
}

/// `None` if the sample is classified right by all three, `Some("")` if it is borderline,
/// otherwise a description of the error.
fn classify_sample(
    classes: &ClassSet,
    n1: &Constructed,
    n2: &Constructed,
    sample: &Sample,
) -> Result<Option<String>, SparseError> {
    let image = sample.image.view();
    let borderline = classes
        .tiles()
        .any(|(_, t)| detect::distance_map(t, image).iter().any(|&d| (d - t.epsilon()).abs() < BORDERLINE));
    if borderline {
        return Ok(Some(String::new()));
    }
    let direct = detect::logits(classes, image);
    for (name, logits) in [("direct", direct), ("N1", n1.logits(image)?), ("N2", n2.logits(image)?)] {
        let positive = logits.iter().filter(|&&v| v > 0.0).count();
        if detect::classify(&logits) != Some(sample.label) || positive != 1 {
            return Ok(Some(format!("{name} gives {logits:?} on a valid image of class {}", sample.label)));
        }
    }
    Ok(None)
}

/// The preset tile sets on their own generated valid datasets.
pub fn check_preset_datasets(seed: u64) -> Result<VerifyReport, CaseError> {
    let cases = [
        (presets::toy_squares(), 4, 4, 100),
        (presets::two_feature_example(), 12, 12, 20),
        (presets::fashion_three(), 40, 40, 20),
        (presets::fashion_ten(2), 40, 40, 10),
        (presets::mnist_ten(1), 40, 40, 10),
    ];
    let mut report = VerifyReport::default();
    for (index, (classes, height, width, samples_per_class)) in cases.into_iter().enumerate() {
        let spec = DatasetSpec {
            height,
            width,
            samples_per_class,
            background: Background::Uniform,
            jitter: 0.5,
            seed: seed.wrapping_add(index as u64),
        };
        match dataset::generate(&classes, &spec) {
            Ok(data) => report = report.merge(check_dataset(&classes, &data)?),
            Err(error) => report.failures.push(format!("preset dataset {index} could not be generated: {error}")),
        }
    }
    Ok(report)
}

/// Why one case could not be run.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error(transparent)]
    Construct(#[from] ConstructError),
    #[error(transparent)]
    Run(#[from] SparseError),
}

impl CaseError {
    fn at(self, case: usize) -> VerifyError {
        match self {
            CaseError::Construct(source) => VerifyError::Construct { case, source },
            CaseError::Run(source) => VerifyError::Run { case, source },
        }
    }
}

/// `max_ℓ |a_ℓ − b_ℓ| / max(1, |b_ℓ|)`; infinite when the lengths differ or a value is NaN.
pub fn max_relative_error(network: &[f32], direct: &[f32]) -> f32 {
    if network.len() != direct.len() {
        return f32::INFINITY;
    }
    network.iter().zip(direct).map(|(&a, &b)| relative_error(a, b)).fold(0.0, f32::max)
}

fn relative_error(a: f32, b: f32) -> f32 {
    let error = (a - b).abs() / b.abs().max(1.0);
    if error.is_nan() { f32::INFINITY } else { error }
}

/// Detector neurons `(T, i, j)` whose positivity disagrees with `d_T(x,i,j) < ε`, skipping
/// windows with `|d − ε| < BORDERLINE`.
pub fn monosemantic_violations(
    classes: &ClassSet,
    network: &Constructed,
    image: ArrayView2<f32>,
) -> Result<usize, SparseError> {
    let activations = network.network.forward(image)?;
    let detector_values = activations.layers.get(network.detectors.layer).map_or(&[][..], |a| a.as_slice());
    let mut violations = 0;
    for detector in &network.detectors.tiles {
        let Some(tile) = classes.tile(detector.tile) else { continue };
        let distances = detect::distance_map(tile, image);
        for ((i, j), &d) in distances.indexed_iter() {
            if (d - tile.epsilon()).abs() < BORDERLINE {
                continue;
            }
            let value = detector.unit(i, j).and_then(|u| detector_values.get(u)).copied().unwrap_or(f32::NAN);
            if (value > 0.0) != (d < tile.epsilon()) {
                violations += 1;
            }
        }
    }
    Ok(violations)
}

/// A random class set: 1–4 classes of 1–3 features (mostly 1) of 1–2 tiles, sides `1..=max_side`.
pub fn random_class_set(rng: &mut impl Rng, max_side: usize) -> ClassSet {
    let classes = rng.random_range(1..=4);
    let objects = (0..classes)
        .map(|class| {
            let features = if rng.random_bool(0.6) { 1 } else { rng.random_range(2..=3) };
            let features = (0..features)
                .map(|feature| {
                    let tiles = (0..rng.random_range(1..=2)).map(|_| random_tile(rng, max_side)).collect();
                    Feature { name: format!("f{feature}"), tiles }
                })
                .collect();
            Object { name: format!("class {class}"), features }
        })
        .collect();
    ClassSet { classes: objects }
}

/// A random tile: non-square, values often on a coarse grid (so blocks repeat and share filters),
/// a partial support that may hold zero values, and ε from tiny to large.
pub fn random_tile(rng: &mut impl Rng, max_side: usize) -> Tile {
    let (rows, cols) = (rng.random_range(1..=max_side), rng.random_range(1..=max_side));
    let levels: f32 = [2.0, 4.0, 255.0][rng.random_range(0..3)];
    let coverage = rng.random_range(0.3..=1.0);
    let values = Array2::from_shape_fn((rows, cols), |_| (rng.random_range(0.0..=1.0f32) * levels).round() / levels);
    let mut support = Array2::from_shape_fn((rows, cols), |_| rng.random_bool(coverage));
    if !support.iter().any(|&s| s) {
        support[[rng.random_range(0..rows), rng.random_range(0..cols)]] = true;
    }
    let pixels = support.iter().filter(|&&s| s).count() as f32;
    let epsilon = match rng.random_range(0..4) {
        0 => 0.01,
        1 => 0.5,
        2 => rng.random_range(0.05..2.0),
        // About a typical random-background distance: many windows near the threshold.
        _ => pixels * rng.random_range(0.1..0.4),
    };
    // Values, support and ε are drawn in range, so validation cannot fail; keep a fallback anyway.
    Tile::new(values, support, epsilon.max(0.01)).unwrap_or_else(|_| fallback_tile())
}

fn fallback_tile() -> Tile {
    Tile::new(Array2::from_elem((1, 1), 1.0), Array2::from_elem((1, 1), true), 0.5)
        .unwrap_or_else(|_| unreachable!("a 1×1 tile of value 1 with ε 0.5 is valid"))
}

/// An image of i.i.d. uniform pixels.
pub fn random_image(rng: &mut impl Rng, height: usize, width: usize) -> Array2<f32> {
    Array2::from_shape_fn((height, width), |_| rng.random_range(0.0..=1.0))
}

/// A random image with one tile of every feature of `class` pasted at random offsets (support
/// pixels only; pastes may overlap and may be jittered slightly, so detections vary).
pub fn image_with_object(
    rng: &mut impl Rng,
    classes: &ClassSet,
    class: usize,
    height: usize,
    width: usize,
) -> Array2<f32> {
    let mut image = random_image(rng, height, width);
    let Some(object) = classes.classes.get(class) else { return image };
    for feature in &object.features {
        let Some(tile) = feature.tiles.get(rng.random_range(0..feature.tiles.len().max(1))) else { continue };
        let row = rng.random_range(0..=height - tile.rows());
        let col = rng.random_range(0..=width - tile.cols());
        let jitter = if rng.random_bool(0.5) { 0.0 } else { rng.random_range(0.0..0.02) };
        for (a, b, value) in tile.support_pixels() {
            image[[row + a, col + b]] = (value + rng.random_range(-jitter..=jitter)).clamp(0.0, 1.0);
        }
    }
    image
}

#[cfg(test)]
// The error function returns exact values here (0.5, ∞): comparing them exactly is the point.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;

    #[test]
    fn relative_error_follows_the_definition() {
        assert_eq!(max_relative_error(&[1.5, 0.0], &[1.0, 0.0]), 0.5);
        assert!((max_relative_error(&[10.1], &[10.0]) - 0.01).abs() < 1e-6, "relative above 1");
        assert_eq!(max_relative_error(&[1.0], &[1.0, 2.0]), f32::INFINITY);
        assert_eq!(max_relative_error(&[f32::NAN], &[1.0]), f32::INFINITY);
    }

    #[test]
    fn runs_are_reproducible_and_pass() {
        let first = run(3, 12).unwrap();
        assert_eq!(first, run(3, 12).unwrap());
        assert!(first.passed(), "{first:?}");
        assert_eq!(first.cases, 12);
        assert!(first.images_with_detection > 0 && first.valid_images > 0, "{first:?}");
    }

    #[test]
    fn a_network_built_for_another_epsilon_is_caught() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let tile = Tile::filled(3, 2, 0.5, 0.2).unwrap();
        let classes = ClassSet { classes: vec![crate::core::tile::single_tile_object("t", tile)] };
        let mut wider = classes.clone();
        wider.classes[0].features[0].tiles[0].set_epsilon(1.0).unwrap();
        let n1 = build_n1(&wider, 8, 8).unwrap();
        // A jittered paste: some windows lie between ε = 0.2 and 1.0.
        let mut image = random_image(&mut rng, 8, 8);
        image.slice_mut(ndarray::s![2..5, 3..5]).fill(0.6);
        assert!(monosemantic_violations(&classes, &n1, image.view()).unwrap() > 0);
        let direct = detect::logits(&classes, image.view());
        assert!(max_relative_error(&n1.logits(image.view()).unwrap(), &direct) > TOLERANCE);
    }

    #[test]
    fn preset_datasets_are_classified_without_error() {
        let report = check_preset_datasets(1).unwrap();
        assert!(report.passed(), "{report:?}");
        assert!(report.valid_images >= 300, "{report:?}");
    }
}
