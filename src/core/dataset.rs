//! Valid datasets (CONSTRUCTION.md §1): backgrounds, pasting objects at random offsets, and
//! rejection of any image that also contains another class's object (Definition 3.6).
//!
//! Generation is reproducible: sample `s` draws from its own `ChaCha8` stream `(seed, s)`, so the
//! result does not depend on the number of threads. Samples are interleaved by class
//! (`label = s mod L`), which is the order SGD wants.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::detect::contains_object;
use super::tile::{ClassSet, Object, Tile, TileError, TileId};

/// Largest image side a dataset may have.
pub const MAX_IMAGE_SIDE: usize = 512;
/// Largest image side of an interactive dataset (the app's size sliders, the networks it builds
/// while a frame waits): half of [`MAX_IMAGE_SIDE`].
pub const MAX_INTERACTIVE_SIDE: usize = 256;
/// Most pixels a whole dataset may hold (all samples together): 512 MiB of `f32`.
pub const MAX_DATASET_PIXELS: usize = 1 << 27;
/// Consecutive failed draws after which one sample gives up.
pub const MAX_ATTEMPTS: usize = 1000;
/// Tries to place one feature away from the features already placed, per draw.
const PLACEMENT_TRIES: usize = 100;
/// Relative margin of the fast screening: windows within it are left to `detect` to decide. It is
/// well above the f32 rounding of summing a 64×64 support in another order (about 2.5e-4).
const SCREEN_MARGIN: f32 = 1e-3;
/// Jitter stays this far inside its budget, so rounding cannot reach the bound.
const JITTER_SAFETY: f32 = 0.999;
/// Backgrounds drawn by [`warnings`] to estimate false matches.
const WARNING_BACKGROUNDS: usize = 16;

/// Why a dataset cannot be generated.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum DatasetError {
    #[error(transparent)]
    Tile(#[from] TileError),
    #[error("image size {height}×{width} is not allowed (1 to {MAX_IMAGE_SIDE} per side)")]
    BadImageSize { height: usize, width: usize },
    #[error("samples per class must be at least 1")]
    NoSamples,
    #[error("{samples} samples of {height}×{width} are too many pixels (limit {MAX_DATASET_PIXELS})")]
    TooLarge { samples: usize, height: usize, width: usize },
    #[error("jitter must be a number in [0, 1) (a fraction of ε), got {0}")]
    BadJitter(f32),
    #[error("background: {0}")]
    BadBackground(String),
    #[error("class '{class}' keeps matching class '{other}' ({MAX_ATTEMPTS} draws in a row): ε too large?")]
    KeepsMatching { class: String, other: String },
    #[error("the features of class '{class}' do not fit side by side without overlap in a {height}×{width} image")]
    NoRoom { class: String, height: usize, width: usize },
    #[error("generation was cancelled")]
    Cancelled,
}

/// What fills the image around the pasted tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Background {
    /// I.i.d. uniform pixels in [0, 1] (the paper's setting).
    Uniform,
    /// Smooth value noise: random values every `cell` pixels, bilinearly interpolated.
    Smooth { cell: usize },
    /// One grey level everywhere.
    Constant(f32),
    /// A linear ramp from 0 to 1 along the direction `angle_degrees` (0 = left to right, 90 = top to bottom).
    Gradient { angle_degrees: f32 },
    /// A picture, repeated to cover the image and shifted by a random offset per sample.
    Image(Array2<f32>),
}

/// Everything that determines a dataset besides the tiles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetSpec {
    /// Image height `H`.
    pub height: usize,
    /// Image width `W`.
    pub width: usize,
    /// Samples of every class.
    pub samples_per_class: usize,
    /// What fills the image around the tiles.
    pub background: Background,
    /// Fraction of ε used for random pixel jitter of pasted tiles: 0 = exact paste, must be < 1.
    pub jitter: f32,
    /// Seed of the whole dataset.
    pub seed: u64,
}

impl Default for DatasetSpec {
    /// The paper's Fashion setting: 40×40 uniform noise, exact pastes, 100 samples per class.
    fn default() -> Self {
        Self { height: 40, width: 40, samples_per_class: 100, background: Background::Uniform, jitter: 0.0, seed: 0 }
    }
}

impl DatasetSpec {
    /// Checks the spec against the tile set: sizes, limits, jitter, background, tiles that fit.
    pub fn validate(&self, classes: &ClassSet) -> Result<(), DatasetError> {
        let (height, width) = (self.height, self.width);
        if height == 0 || width == 0 || height > MAX_IMAGE_SIDE || width > MAX_IMAGE_SIDE {
            return Err(DatasetError::BadImageSize { height, width });
        }
        if self.samples_per_class == 0 {
            return Err(DatasetError::NoSamples);
        }
        let samples = self.samples_per_class.saturating_mul(classes.len());
        if samples.saturating_mul(height * width) > MAX_DATASET_PIXELS {
            return Err(DatasetError::TooLarge { samples, height, width });
        }
        if !(self.jitter.is_finite() && (0.0..1.0).contains(&self.jitter)) {
            return Err(DatasetError::BadJitter(self.jitter));
        }
        validate_background(&self.background)?;
        classes.validate_for_image(height, width)?;
        Ok(())
    }
}

fn validate_background(background: &Background) -> Result<(), DatasetError> {
    let problem = match background {
        Background::Uniform => None,
        Background::Smooth { cell } => (*cell == 0).then(|| "the smooth-noise cell must be at least 1 pixel".into()),
        Background::Constant(v) => {
            (!(0.0..=1.0).contains(v)).then(|| format!("the constant grey must lie in [0, 1], got {v}"))
        }
        Background::Gradient { angle_degrees } => {
            (!angle_degrees.is_finite()).then(|| format!("the gradient angle must be finite, got {angle_degrees}"))
        }
        Background::Image(image) => {
            if image.is_empty() {
                Some("the background image is empty".into())
            } else {
                image
                    .iter()
                    .any(|v| !(0.0..=1.0).contains(v))
                    .then(|| "background image values must lie in [0, 1]".into())
            }
        }
    };
    problem.map_or(Ok(()), |p| Err(DatasetError::BadBackground(p)))
}

/// Where one tile was pasted: its id and the window `rows×cols` at `(row, col)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Which tile.
    pub tile: TileId,
    /// Top row of the window.
    pub row: usize,
    /// Left column of the window.
    pub col: usize,
    /// Tile height `k`.
    pub rows: usize,
    /// Tile width `l`.
    pub cols: usize,
}

impl Placement {
    /// True when the two windows share a pixel.
    pub fn overlaps(&self, other: &Placement) -> bool {
        self.row < other.row + other.rows
            && other.row < self.row + self.rows
            && self.col < other.col + other.cols
            && other.col < self.col + self.cols
    }
}

/// One generated image with its label and where its object's tiles are.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The `H×W` image, values in [0, 1].
    pub image: Array2<f32>,
    /// Index of its class.
    pub label: usize,
    /// One placement per feature of its object.
    pub placements: Vec<Placement>,
}

/// How many draws were redrawn because they contained another class's object.
///
/// `by_pair` holds `(label, other class found, count)`, sorted, without zeros. A pair
/// `(label, label)` counts the draws whose own object was not found (only possible through
/// rounding at the ε boundary).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rejections {
    /// All redrawn draws.
    pub total: usize,
    /// `(label, other class found, count)`.
    pub by_pair: Vec<(usize, usize, usize)>,
}

/// A valid dataset: every image contains its own class's object and no other.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The samples, interleaved by class.
    pub samples: Vec<Sample>,
    /// What had to be redrawn on the way.
    pub rejections: Rejections,
}

impl Dataset {
    /// The images, in sample order.
    pub fn images(&self) -> Vec<Array2<f32>> {
        self.samples.iter().map(|s| s.image.clone()).collect()
    }

    /// The labels, in sample order.
    pub fn labels(&self) -> Vec<usize> {
        self.samples.iter().map(|s| s.label).collect()
    }
}

/// Generates `samples_per_class` valid samples per class, interleaved by class, in parallel.
pub fn generate(classes: &ClassSet, spec: &DatasetSpec) -> Result<Dataset, DatasetError> {
    generate_observed(classes, spec, &AtomicUsize::new(0), &AtomicBool::new(false))
}

/// [`generate`] that counts finished samples in `done` and stops with `Cancelled` once `cancel` is set.
pub fn generate_observed(
    classes: &ClassSet,
    spec: &DatasetSpec,
    done: &AtomicUsize,
    cancel: &AtomicBool,
) -> Result<Dataset, DatasetError> {
    spec.validate(classes)?;
    let screens = Screens::new(classes);
    let count = spec.samples_per_class * classes.len();
    let drawn: Vec<(Sample, Vec<usize>)> = (0..count)
        .into_par_iter()
        .map(|index| {
            if cancel.load(Ordering::Relaxed) {
                return Err(DatasetError::Cancelled);
            }
            let result = draw_sample(classes, &screens, spec, index);
            done.fetch_add(1, Ordering::Relaxed);
            result
        })
        .collect::<Result<_, _>>()?;
    let mut pair_counts = vec![0; classes.len() * classes.len()];
    let mut samples = Vec::with_capacity(count);
    for (sample, others) in drawn {
        for other in others {
            pair_counts[sample.label * classes.len() + other] += 1;
        }
        samples.push(sample);
    }
    Ok(Dataset { samples, rejections: rejections(&pair_counts, classes.len()) })
}

fn rejections(pair_counts: &[usize], classes: usize) -> Rejections {
    let by_pair: Vec<_> =
        pair_counts.iter().enumerate().filter(|&(_, &n)| n > 0).map(|(i, &n)| (i / classes, i % classes, n)).collect();
    Rejections { total: by_pair.iter().map(|p| p.2).sum(), by_pair }
}

/// The RNG of sample `index`: its own stream, so samples are independent of the thread schedule.
fn sample_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    rng
}

/// Draws sample `index` until it is valid; returns it with the class found in each rejected draw.
fn draw_sample(
    classes: &ClassSet,
    screens: &Screens,
    spec: &DatasetSpec,
    index: usize,
) -> Result<(Sample, Vec<usize>), DatasetError> {
    let label = index % classes.len();
    let object = &classes.classes[label];
    let mut rng = sample_rng(spec.seed, index);
    let mut rejected = Vec::new();
    let mut placed_any = false;
    for _ in 0..MAX_ATTEMPTS {
        let Some(placements) = place_object(object, label, spec.height, spec.width, &mut rng) else { continue };
        placed_any = true;
        let mut image = background(&spec.background, spec.height, spec.width, &mut rng);
        for p in &placements {
            if let Some(tile) = classes.tile(p.tile) {
                paste_jittered(&mut image, tile, p.row, p.col, spec.jitter * tile.epsilon(), &mut rng);
            }
        }
        let found = if contains_object(object, image.view()) {
            screens.other_class_found(classes, image.view(), label)
        } else {
            Some(label)
        };
        match found {
            None => return Ok((Sample { image, label, placements }, rejected)),
            Some(other) => rejected.push(other),
        }
    }
    let (height, width) = (spec.height, spec.width);
    if !placed_any {
        return Err(DatasetError::NoRoom { class: object.name.clone(), height, width });
    }
    let other = most_common(&rejected).unwrap_or(label);
    Err(DatasetError::KeepsMatching { class: object.name.clone(), other: classes.classes[other].name.clone() })
}

fn most_common(values: &[usize]) -> Option<usize> {
    let max = values.iter().copied().max()?;
    let mut counts = vec![0usize; max + 1];
    for &v in values {
        counts[v] += 1;
    }
    counts.iter().enumerate().max_by_key(|&(_, &n)| n).map(|(v, _)| v)
}

/// One random tile per feature at a uniformly random offset, windows pairwise disjoint; `None` if no room was found.
fn place_object(
    object: &Object,
    class: usize,
    height: usize,
    width: usize,
    rng: &mut ChaCha8Rng,
) -> Option<Vec<Placement>> {
    let mut placements: Vec<Placement> = Vec::with_capacity(object.features.len());
    for (feature, f) in object.features.iter().enumerate() {
        let choice = rng.random_range(0..f.tiles.len());
        let tile = &f.tiles[choice];
        let (offsets_down, offsets_across) = valid_offsets(tile, height, width);
        if offsets_down == 0 || offsets_across == 0 {
            return None;
        }
        let id = TileId { class, feature, tile: choice };
        let placement = (0..PLACEMENT_TRIES).find_map(|_| {
            let candidate = Placement {
                tile: id,
                row: rng.random_range(0..offsets_down),
                col: rng.random_range(0..offsets_across),
                rows: tile.rows(),
                cols: tile.cols(),
            };
            (!placements.iter().any(|p| p.overlaps(&candidate))).then_some(candidate)
        })?;
        placements.push(placement);
    }
    Some(placements)
}

/// The numbers of valid offsets `(H − k + 1, W − l + 1)` of a tile, `(0, 0)` if it does not fit.
pub fn valid_offsets(tile: &Tile, height: usize, width: usize) -> (usize, usize) {
    if tile.rows() > height || tile.cols() > width {
        return (0, 0);
    }
    (height - tile.rows() + 1, width - tile.cols() + 1)
}

/// A fresh `height×width` background with values in [0, 1].
pub fn background(kind: &Background, height: usize, width: usize, rng: &mut impl Rng) -> Array2<f32> {
    match kind {
        Background::Uniform => Array2::from_shape_simple_fn((height, width), || rng.random::<f32>()),
        Background::Smooth { cell } => smooth_noise(height, width, (*cell).max(1), rng),
        Background::Constant(v) => Array2::from_elem((height, width), clamp_unit(*v)),
        Background::Gradient { angle_degrees } => gradient(height, width, *angle_degrees),
        Background::Image(picture) => repeated(picture, height, width, rng),
    }
}

/// Clamps to [0, 1], NaN to 0.
fn clamp_unit(v: f32) -> f32 {
    if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) }
}

/// Random values on a grid of spacing `cell`, bilinearly interpolated.
fn smooth_noise(height: usize, width: usize, cell: usize, rng: &mut impl Rng) -> Array2<f32> {
    let grid = Array2::from_shape_simple_fn((height / cell + 2, width / cell + 2), || rng.random::<f32>());
    Array2::from_shape_fn((height, width), |(r, c)| {
        let (gr, fr) = (r / cell, (r % cell) as f32 / cell as f32);
        let (gc, fc) = (c / cell, (c % cell) as f32 / cell as f32);
        let top = grid[[gr, gc]] * (1.0 - fc) + grid[[gr, gc + 1]] * fc;
        let bottom = grid[[gr + 1, gc]] * (1.0 - fc) + grid[[gr + 1, gc + 1]] * fc;
        clamp_unit(top * (1.0 - fr) + bottom * fr)
    })
}

/// A ramp from 0 to 1 across the image along the direction `angle_degrees`.
fn gradient(height: usize, width: usize, angle_degrees: f32) -> Array2<f32> {
    let (sin, cos) = angle_degrees.to_radians().sin_cos();
    let project = |r: f32, c: f32| c * cos + r * sin;
    let (last_r, last_c) = (height.saturating_sub(1) as f32, width.saturating_sub(1) as f32);
    let corners = [project(0.0, 0.0), project(0.0, last_c), project(last_r, 0.0), project(last_r, last_c)];
    let low = corners.iter().copied().fold(f32::INFINITY, f32::min);
    let high = corners.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = high - low;
    Array2::from_shape_fn((height, width), |(r, c)| {
        if span > 0.0 { clamp_unit((project(r as f32, c as f32) - low) / span) } else { 0.5 }
    })
}

/// The picture repeated over `height×width`, shifted by a random offset.
fn repeated(picture: &Array2<f32>, height: usize, width: usize, rng: &mut impl Rng) -> Array2<f32> {
    let (ph, pw) = picture.dim();
    if ph == 0 || pw == 0 {
        return Array2::zeros((height, width));
    }
    let (dr, dc) = (rng.random_range(0..ph), rng.random_range(0..pw));
    Array2::from_shape_fn((height, width), |(r, c)| clamp_unit(picture[[(r + dr) % ph, (c + dc) % pw]]))
}

/// Writes the tile's support pixels into `image` at `(row, col)`; pixels outside the image are skipped.
pub fn paste(image: &mut Array2<f32>, tile: &Tile, row: usize, col: usize) {
    for (a, b, value) in tile.support_pixels() {
        if let Some(pixel) = image.get_mut([row + a, col + b]) {
            *pixel = value;
        }
    }
}

/// [`paste`] with a random perturbation `δ` of the support pixels, `Σ|δ| < budget`, clamped to [0, 1].
fn paste_jittered(image: &mut Array2<f32>, tile: &Tile, row: usize, col: usize, budget: f32, rng: &mut impl Rng) {
    if budget <= 0.0 {
        paste(image, tile, row, col);
        return;
    }
    let raw: Vec<f32> = (0..tile.support_len()).map(|_| rng.random_range(-1.0f32..=1.0)).collect();
    let total: f32 = raw.iter().map(|d| d.abs()).sum();
    // A random share of the budget, so small and large perturbations both occur.
    let scale = if total > 0.0 { budget * JITTER_SAFETY * rng.random::<f32>() / total } else { 0.0 };
    for ((a, b, value), d) in tile.support_pixels().zip(&raw) {
        if let Some(pixel) = image.get_mut([row + a, col + b]) {
            // Clamping only moves the pixel towards t, so Σ|δ| stays under the budget.
            *pixel = (value + d * scale).clamp(0.0, 1.0);
        }
    }
}

/// The background with every placed tile pasted exactly (no jitter); unknown tile ids are skipped.
pub fn render(classes: &ClassSet, background: &Array2<f32>, placements: &[Placement]) -> Array2<f32> {
    let mut image = background.clone();
    for p in placements {
        if let Some(tile) = classes.tile(p.tile) {
            paste(&mut image, tile, p.row, p.col);
        }
    }
    image
}

/// The first class other than `label` whose object `image` contains (Definition 3.6), if any.
pub fn other_class_found(classes: &ClassSet, image: ArrayView2<f32>, label: usize) -> Option<usize> {
    Screens::new(classes).other_class_found(classes, image, label)
}

/// Per tile row, the `(column, value)` of the tile's support pixels.
type SupportRows = Vec<Vec<(usize, f32)>>;

/// Support pixels of every tile grouped by row, for early-abandoning window scans.
struct Screens {
    /// Indexed `[class][feature][tile]`.
    tiles: Vec<Vec<Vec<SupportRows>>>,
}

impl Screens {
    fn new(classes: &ClassSet) -> Self {
        let tiles = classes
            .classes
            .iter()
            .map(|o| o.features.iter().map(|f| f.tiles.iter().map(support_rows).collect()).collect())
            .collect();
        Self { tiles }
    }

    fn other_class_found(&self, classes: &ClassSet, image: ArrayView2<f32>, label: usize) -> Option<usize> {
        (0..classes.len()).filter(|&c| c != label).find(|&c| self.contains(classes, c, image))
    }

    /// `detect::contains_object` for class `c`, after a fast screen that rules most images out.
    fn contains(&self, classes: &ClassSet, c: usize, image: ArrayView2<f32>) -> bool {
        let object = &classes.classes[c];
        let may_contain = object.features.iter().zip(&self.tiles[c]).all(|(feature, screens)| {
            feature.tiles.iter().zip(screens).any(|(tile, rows)| may_contain_tile(tile, rows, image))
        });
        // The screen only rules out; `detect` has the final word, so the two never disagree.
        may_contain && contains_object(object, image)
    }
}

fn support_rows(tile: &Tile) -> SupportRows {
    let mut rows = vec![Vec::new(); tile.rows()];
    for (a, b, value) in tile.support_pixels() {
        rows[a].push((b, value));
    }
    rows
}

/// False only if every window is clearly farther than ε; a window is abandoned as soon as its
/// partial distance passes ε·(1 + margin), which on a valid image happens within a row or two.
fn may_contain_tile(tile: &Tile, rows: &[Vec<(usize, f32)>], image: ArrayView2<f32>) -> bool {
    let (height, width) = image.dim();
    let (offsets_down, offsets_across) = valid_offsets(tile, height, width);
    let bound = tile.epsilon() * (1.0 + SCREEN_MARGIN);
    (0..offsets_down).any(|i| {
        (0..offsets_across).any(|j| {
            let mut sum = 0.0;
            for (a, pixels) in rows.iter().enumerate() {
                let line = image.row(i + a);
                sum += pixels.iter().map(|&(b, t)| (line[j + b] - t).abs()).sum::<f32>();
                if sum >= bound {
                    return false;
                }
            }
            true
        })
    })
}

/// Problems worth showing before generating: tiles too large, identical tiles, ε that lets noise match.
pub fn warnings(classes: &ClassSet, spec: &DatasetSpec) -> Vec<String> {
    if let Err(error) = spec.validate(classes) {
        return vec![error.to_string()];
    }
    let mut out = identical_tile_warnings(classes);
    let screens = Screens::new(classes);
    let mut rng = sample_rng(spec.seed, usize::MAX);
    let mut matches = vec![0usize; classes.len()];
    for _ in 0..WARNING_BACKGROUNDS {
        let image = background(&spec.background, spec.height, spec.width, &mut rng);
        for (c, count) in matches.iter_mut().enumerate() {
            *count += usize::from(screens.contains(classes, c, image.view()));
        }
    }
    for (object, count) in classes.classes.iter().zip(matches) {
        if count > 0 {
            out.push(format!(
                "class '{}' is found in {count} of {WARNING_BACKGROUNDS} plain backgrounds: its ε is large for this \
                 background, so samples of other classes will often be redrawn",
                object.name
            ));
        }
    }
    out
}

fn identical_tile_warnings(classes: &ClassSet) -> Vec<String> {
    // Keyed by shape, support and bit patterns: linear time even for thousands of tiles.
    let mut first_seen: HashMap<(usize, Vec<bool>, Vec<u32>), TileId> = HashMap::new();
    let mut out = Vec::new();
    for (id, tile) in classes.tiles() {
        let key = (
            tile.cols(),
            tile.support().iter().copied().collect(),
            tile.values().iter().map(|v| v.to_bits()).collect(),
        );
        match first_seen.get(&key) {
            Some(first) if first.class != id.class => out.push(format!(
                "'{}' and '{}' are identical tiles of different classes: an image of one may contain the other",
                classes.tile_label(*first),
                classes.tile_label(id)
            )),
            Some(_) => {}
            None => {
                first_seen.insert(key, id);
            }
        }
    }
    out
}

#[cfg(test)]
// Exact float comparisons are intended: exact pastes and constant backgrounds are bit-exact by construction.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::core::detect::{contains_tile, distance, distance_map};
    use crate::core::presets::{fashion_three, toy_squares, two_feature_example};
    use crate::core::tile::single_tile_object;
    use ndarray::array;
    use proptest::prelude::*;

    fn spec(height: usize, width: usize, samples_per_class: usize) -> DatasetSpec {
        DatasetSpec { height, width, samples_per_class, ..DatasetSpec::default() }
    }

    /// Every sample contains its own object and no other, checked directly with `detect`.
    fn assert_valid(classes: &ClassSet, data: &Dataset) {
        for (index, sample) in data.samples.iter().enumerate() {
            assert_eq!(sample.label, index % classes.len(), "samples are interleaved by class");
            for (c, object) in classes.classes.iter().enumerate() {
                let found = contains_object(object, sample.image.view());
                assert_eq!(found, c == sample.label, "sample {index} (label {}) vs class {c}", sample.label);
            }
        }
    }

    #[test]
    fn same_seed_same_data_regardless_of_threads() {
        let classes = fashion_three();
        let spec = DatasetSpec { jitter: 0.5, ..spec(40, 40, 20) };
        let a = generate(&classes, &spec).unwrap();
        let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = one_thread.install(|| generate(&classes, &spec)).unwrap();
        assert_eq!(a, b);
        let c = generate(&classes, &DatasetSpec { seed: 1, ..spec }).unwrap();
        assert_ne!(a.samples[0].image, c.samples[0].image);
    }

    #[test]
    fn fashion_samples_are_valid_with_every_background() {
        let classes = fashion_three();
        let backgrounds = [
            Background::Uniform,
            Background::Smooth { cell: 5 },
            Background::Constant(0.3),
            Background::Gradient { angle_degrees: 30.0 },
            Background::Image(Array2::from_shape_fn((7, 5), |(r, c)| ((r * 5 + c) % 11) as f32 / 10.0)),
        ];
        for background in backgrounds {
            let spec = DatasetSpec { background, jitter: 0.9, ..spec(40, 40, 10) };
            let data = generate(&classes, &spec).unwrap();
            assert_eq!(data.samples.len(), 30);
            assert_valid(&classes, &data);
        }
    }

    #[test]
    fn pasted_windows_are_within_the_jitter_budget() {
        let classes = fashion_three();
        for jitter in [0.0, 0.6] {
            let data = generate(&classes, &DatasetSpec { jitter, ..spec(40, 40, 10) }).unwrap();
            for sample in &data.samples {
                let [p] = sample.placements[..] else { panic!("one feature, one placement") };
                let tile = classes.tile(p.tile).unwrap();
                assert_eq!((p.tile.class, p.rows, p.cols), (sample.label, tile.rows(), tile.cols()));
                let d = distance(tile, sample.image.view(), p.row, p.col);
                assert!(d <= jitter * tile.epsilon(), "d = {d}, jitter {jitter}");
                if jitter == 0.0 {
                    assert_eq!(d, 0.0);
                }
            }
        }
    }

    #[test]
    fn multi_feature_objects_are_placed_without_overlap() {
        let classes = two_feature_example();
        let data = generate(&classes, &spec(12, 12, 50)).unwrap();
        assert_valid(&classes, &data);
        for sample in &data.samples {
            let features: Vec<_> = sample.placements.iter().map(|p| p.tile.feature).collect();
            assert_eq!(features, [0, 1]);
            assert!(!sample.placements[0].overlaps(&sample.placements[1]));
            for p in &sample.placements {
                assert_eq!(distance(classes.tile(p.tile).unwrap(), sample.image.view(), p.row, p.col), 0.0);
            }
        }
    }

    #[test]
    fn toy_rejections_are_counted_by_pair() {
        // 2×2 squares with ε = 0.5 on 4×4 noise: about 2% of noise images hold a square already.
        let classes = toy_squares();
        let data = generate(&classes, &spec(4, 4, 400)).unwrap();
        assert_valid(&classes, &data);
        let r = &data.rejections;
        assert!(r.total > 0, "rejections must happen on this toy");
        assert_eq!(r.total, r.by_pair.iter().map(|p| p.2).sum::<usize>());
        assert!(r.by_pair.iter().all(|&(label, other, n)| label != other && label < 2 && other < 2 && n > 0));
    }

    #[test]
    fn contained_class_gives_up_with_a_readable_error() {
        // Every "pair" image contains a "single": the pair class can never be valid.
        let classes = ClassSet {
            classes: vec![
                single_tile_object("single", Tile::filled(1, 1, 1.0, 0.5).unwrap()),
                single_tile_object("pair", Tile::filled(1, 2, 1.0, 0.5).unwrap()),
            ],
        };
        let error = generate(&classes, &spec(3, 3, 2)).unwrap_err();
        assert_eq!(error, DatasetError::KeepsMatching { class: "pair".into(), other: "single".into() });
        assert!(error.to_string().contains("class 'pair' keeps matching class 'single'"));
    }

    #[test]
    fn invalid_specs_give_typed_errors() {
        let toy = toy_squares();
        let big = ClassSet { classes: vec![single_tile_object("big", Tile::filled(5, 2, 1.0, 0.5).unwrap())] };
        let crowded = ClassSet {
            classes: vec![Object {
                name: "crowded".into(),
                features: ["a", "b"]
                    .map(|n| crate::core::tile::Feature {
                        name: n.into(),
                        tiles: vec![Tile::filled(3, 3, 1.0, 0.5).unwrap()],
                    })
                    .to_vec(),
            }],
        };
        let no_room = DatasetError::NoRoom { class: "crowded".into(), height: 4, width: 4 };
        let cases = [
            (
                &big,
                spec(4, 4, 1),
                DatasetError::Tile(TileError::TooLarge {
                    class: "big".into(),
                    tile_rows: 5,
                    tile_cols: 2,
                    height: 4,
                    width: 4,
                }),
            ),
            (&toy, spec(4, 4, 0), DatasetError::NoSamples),
            (&toy, spec(0, 4, 1), DatasetError::BadImageSize { height: 0, width: 4 }),
            (&toy, spec(513, 4, 1), DatasetError::BadImageSize { height: 513, width: 4 }),
            (&toy, spec(512, 512, 1000), DatasetError::TooLarge { samples: 2000, height: 512, width: 512 }),
            (&toy, DatasetSpec { jitter: 1.0, ..spec(4, 4, 1) }, DatasetError::BadJitter(1.0)),
            (&toy, DatasetSpec { jitter: -0.1, ..spec(4, 4, 1) }, DatasetError::BadJitter(-0.1)),
            (&ClassSet::default(), spec(4, 4, 1), DatasetError::Tile(TileError::NoClasses)),
            (&crowded, spec(4, 4, 1), no_room),
        ];
        for (classes, spec, want) in cases {
            assert_eq!(generate(classes, &spec).unwrap_err(), want);
        }
        assert!(matches!(
            generate(&toy, &DatasetSpec { jitter: f32::NAN, ..spec(4, 4, 1) }),
            Err(DatasetError::BadJitter(_))
        ));
        let bad_backgrounds = [
            Background::Smooth { cell: 0 },
            Background::Constant(1.5),
            Background::Constant(f32::NAN),
            Background::Gradient { angle_degrees: f32::INFINITY },
            Background::Image(Array2::zeros((0, 3))),
            Background::Image(array![[0.5, -1.0]]),
        ];
        for background in bad_backgrounds {
            let spec = DatasetSpec { background, ..spec(4, 4, 1) };
            assert!(matches!(generate(&toy, &spec), Err(DatasetError::BadBackground(_))), "{spec:?}");
        }
    }

    #[test]
    fn progress_and_cancel() {
        let classes = toy_squares();
        let done = AtomicUsize::new(0);
        generate_observed(&classes, &spec(4, 4, 10), &done, &AtomicBool::new(false)).unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 20);
        let cancelled = generate_observed(&classes, &spec(4, 4, 10), &done, &AtomicBool::new(true));
        assert_eq!(cancelled.unwrap_err(), DatasetError::Cancelled);
    }

    #[test]
    fn backgrounds_have_the_promised_shape() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for kind in [Background::Uniform, Background::Smooth { cell: 4 }, Background::Gradient { angle_degrees: 200.0 }]
        {
            let image = background(&kind, 9, 13, &mut rng);
            assert_eq!(image.dim(), (9, 13));
            assert!(image.iter().all(|v| (0.0..=1.0).contains(v)), "{kind:?}");
        }
        assert!(background(&Background::Constant(0.25), 2, 3, &mut rng).iter().all(|&v| v == 0.25));

        let across = background(&Background::Gradient { angle_degrees: 0.0 }, 3, 5, &mut rng);
        assert_eq!(across.row(2).to_vec(), [0.0, 0.25, 0.5, 0.75, 1.0]);
        let down = background(&Background::Gradient { angle_degrees: 90.0 }, 5, 2, &mut rng);
        assert!((down[[4, 1]] - 1.0).abs() < 1e-6 && down[[0, 1]].abs() < 1e-6 && (down[[2, 0]] - 0.5).abs() < 1e-6);

        // Smooth noise changes by at most one grid step per `cell` pixels.
        let smooth = background(&Background::Smooth { cell: 8 }, 32, 32, &mut rng);
        for ((r, c), &v) in smooth.indexed_iter() {
            if c + 1 < 32 {
                assert!((v - smooth[[r, c + 1]]).abs() <= 1.0 / 8.0 + 1e-6);
            }
        }

        // A picture repeats with its own period.
        let picture = Array2::from_shape_fn((3, 4), |(r, c)| (r * 4 + c) as f32 / 12.0);
        let tiled = background(&Background::Image(picture.clone()), 7, 9, &mut rng);
        for ((r, c), &v) in tiled.indexed_iter() {
            if r + 3 < 7 {
                assert_eq!(v, tiled[[r + 3, c]]);
            }
            if c + 4 < 9 {
                assert_eq!(v, tiled[[r, c + 4]]);
            }
            assert!(picture.iter().any(|&p| p == v));
        }
    }

    #[test]
    fn paste_writes_only_the_support_and_render_pastes_every_placement() {
        let tile = Tile::new(array![[0.25, 0.0], [1.0, 0.5]], array![[true, false], [true, true]], 1.0).unwrap();
        let mut image = Array2::from_elem((3, 3), 0.75);
        paste(&mut image, &tile, 1, 1);
        assert_eq!(image, array![[0.75, 0.75, 0.75], [0.75, 0.25, 0.75], [0.75, 1.0, 0.5]]);
        // Clipped at the border instead of panicking.
        paste(&mut image, &tile, 2, 2);
        assert_eq!(image[[2, 2]], 0.25);

        let classes = ClassSet { classes: vec![single_tile_object("t", tile)] };
        let id = TileId { class: 0, feature: 0, tile: 0 };
        let placements = [
            Placement { tile: id, row: 0, col: 0, rows: 2, cols: 2 },
            Placement { tile: TileId { class: 5, ..id }, row: 0, col: 0, rows: 2, cols: 2 },
        ];
        let rendered = render(&classes, &Array2::zeros((2, 3)), &placements);
        assert_eq!(rendered, array![[0.25, 0.0, 0.0], [1.0, 0.5, 0.0]]);
        assert_eq!(valid_offsets(classes.tile(id).unwrap(), 2, 3), (1, 2));
        assert_eq!(valid_offsets(classes.tile(id).unwrap(), 1, 3), (0, 0));
    }

    #[test]
    fn warnings_flag_identical_tiles_and_large_epsilon() {
        assert!(warnings(&fashion_three(), &DatasetSpec::default()).is_empty());
        let twin = ClassSet {
            classes: vec![
                single_tile_object("a", Tile::filled(2, 2, 1.0, 0.5).unwrap()),
                single_tile_object("b", Tile::filled(2, 2, 1.0, 0.5).unwrap()),
            ],
        };
        let found = warnings(&twin, &spec(8, 8, 1));
        assert!(found.iter().any(|w| w.contains("'a' and 'b' are identical tiles")), "{found:?}");
        let loose = ClassSet { classes: vec![single_tile_object("loose", Tile::filled(2, 2, 1.0, 3.0).unwrap())] };
        let found = warnings(&loose, &spec(8, 8, 1));
        assert!(found.iter().any(|w| w.contains("'loose' is found in 16 of 16")), "{found:?}");
        assert_eq!(warnings(&loose, &spec(1, 1, 1)).len(), 1);
    }

    fn arb_tile() -> impl Strategy<Value = Tile> {
        (1usize..4, 1usize..4, 0.05f32..2.0).prop_flat_map(|(rows, cols, epsilon)| {
            (
                proptest::collection::vec(0.0f32..=1.0, rows * cols),
                proptest::collection::vec(any::<bool>(), rows * cols),
            )
                .prop_filter_map("empty support", move |(values, mut support)| {
                    support[0] = true;
                    let values = Array2::from_shape_vec((rows, cols), values).ok()?;
                    Tile::new(values, Array2::from_shape_vec((rows, cols), support).ok()?, epsilon).ok()
                })
        })
    }

    proptest! {
        /// The early-abandoning screen never hides a class that `detect` finds, even at the ε boundary.
        #[test]
        fn screening_agrees_with_detect(
            tiles in proptest::collection::vec(arb_tile(), 2..4),
            pixels in proptest::collection::vec(0.0f32..=1.0, 36),
            boundary in any::<bool>(),
        ) {
            let image = Array2::from_shape_vec((6, 6), pixels).unwrap();
            let mut classes = ClassSet {
                classes: tiles.into_iter().enumerate().map(|(i, t)| single_tile_object(&i.to_string(), t)).collect(),
            };
            if boundary {
                // ε just above the closest window of the last class: the decision sits on a knife edge.
                let last = &mut classes.classes.last_mut().unwrap().features[0].tiles[0];
                let closest = distance_map(last, image.view()).iter().copied().fold(f32::INFINITY, f32::min);
                prop_assume!(closest > 0.0);
                last.set_epsilon(closest.next_up()).unwrap();
                prop_assert!(contains_tile(last, image.view()));
            }
            let expected = (1..classes.len()).find(|&c| contains_object(&classes.classes[c], image.view()));
            prop_assert_eq!(other_class_found(&classes, image.view(), 0), expected);
        }
    }
}
