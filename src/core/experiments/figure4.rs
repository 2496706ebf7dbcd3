//! Figure 4: how the logits move when the background changes and when the tile moves.
//!
//! For each chosen tile: `n` images with the tile fixed at one offset and the background redrawn
//! ("background perturbation"), and `n` images with one background and the tile pasted at random
//! offsets ("translation"). Both the trained CNN and the constructed N1 see the same images. The
//! paper's finding: the trained net's logits spread little under background perturbation and
//! much more under translation, while the constructed net's class logit does not move at all (it
//! is exactly ε for an exact paste) — as long as ε is small enough that only that window matches.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use thiserror::Error;

use super::ExperimentError;
use crate::core::atomic::write_atomic;
use crate::core::construct::build_n1;
use crate::core::dataset::{Background, background, paste, valid_offsets};
use crate::core::export::NamedFile;
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::nn::cnn::{Cnn, argmax};
use crate::core::nn::deep::DeepNet;
use crate::core::nn::n2_shaped::N2Shaped;
use crate::core::plot::{self, Figure, FigureKind, Format, HistogramGrid, HistogramPanel, SampleSeries};
use crate::core::tile::{ClassSet, TileId};

/// Fashion-MNIST labels of the paper's three tiles here: Trouser, Sneaker, Bag.
pub const PAPER_LABELS: [usize; 3] = [1, 7, 8];

/// Settings of the Figure 4 study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure4Config {
    /// Images per tile and perturbation.
    pub samples: usize,
    /// Classes whose first tile is studied.
    pub labels: Vec<usize>,
    pub seed: u64,
}

impl Figure4Config {
    /// The paper's setting: 100 images per perturbation, three tiles of different classes.
    pub fn paper(seed: u64) -> Self {
        Self { samples: 100, labels: PAPER_LABELS.to_vec(), seed }
    }

    /// The first tile of each chosen class that exists in `classes`.
    pub fn tiles(&self, classes: &ClassSet) -> Vec<TileId> {
        self.labels
            .iter()
            .map(|&class| TileId { class, feature: 0, tile: 0 })
            .filter(|&id| classes.tile(id).is_some())
            .collect()
    }
}

/// Which perturbation produced a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Perturbation {
    /// Tile fixed, background redrawn.
    Background,
    /// Background fixed, tile moved.
    Translation,
}

impl Perturbation {
    /// Lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Perturbation::Background => "background",
            Perturbation::Translation => "translation",
        }
    }
}

/// Mean and standard deviation of every logit over the images.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Spread {
    /// Per-logit mean and (population) standard deviation of `logits` (`[n][L]`).
    pub fn of(logits: &[Vec<f32>]) -> Self {
        let classes = logits.first().map_or(0, Vec::len);
        let n = logits.len().max(1) as f64;
        let mean: Vec<f64> = (0..classes).map(|l| logits.iter().map(|x| f64::from(x[l])).sum::<f64>() / n).collect();
        let std = (0..classes)
            .map(|l| (logits.iter().map(|x| (f64::from(x[l]) - mean[l]).powi(2)).sum::<f64>() / n).sqrt() as f32)
            .collect();
        Self { mean: mean.into_iter().map(|m| m as f32).collect(), std }
    }
}

/// The logits of both networks on the images of one perturbation of one tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerturbationResult {
    pub kind: Perturbation,
    /// Tile offset `(row, col)` of each image.
    pub offsets: Vec<(usize, usize)>,
    /// `[n][L]` logits of the trained CNN.
    pub trained: Vec<Vec<f32>>,
    /// `[n][L]` logits of the constructed N1.
    pub constructed: Vec<Vec<f32>>,
    pub trained_spread: Spread,
    pub constructed_spread: Spread,
    /// Fraction of the images the trained CNN assigns to the tile's class.
    pub trained_accuracy: f32,
    /// Fraction of the images on which N1's only positive logit is the tile's class.
    pub constructed_accuracy: f32,
}

/// Both perturbations of one tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileInvariance {
    /// The tile studied (its class is `label`).
    #[serde(skip)]
    pub tile: TileId,
    pub label: usize,
    pub name: String,
    /// ε of the tile as used by N1.
    pub epsilon: f32,
    pub background: PerturbationResult,
    pub translation: PerturbationResult,
}

/// The whole study, for the CLI and the app's Invariance view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvarianceResult {
    pub class_names: Vec<String>,
    pub samples: usize,
    pub seed: u64,
    pub tiles: Vec<TileInvariance>,
}

/// The JSON summary: spreads only, no per-image logits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvarianceSummary {
    pub class_names: Vec<String>,
    pub samples: usize,
    pub seed: u64,
    pub tiles: Vec<TileSummary>,
}

/// One tile's spreads under both perturbations, for both networks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileSummary {
    pub name: String,
    pub label: usize,
    pub epsilon: f32,
    pub background_trained: Spread,
    pub background_constructed: Spread,
    pub translation_trained: Spread,
    pub translation_constructed: Spread,
    pub background_trained_accuracy: f32,
    pub translation_trained_accuracy: f32,
    pub background_constructed_accuracy: f32,
    pub translation_constructed_accuracy: f32,
}

impl InvarianceResult {
    /// The spreads without the per-image logits.
    pub fn summary(&self) -> InvarianceSummary {
        let tiles = self
            .tiles
            .iter()
            .map(|t| TileSummary {
                name: t.name.clone(),
                label: t.label,
                epsilon: t.epsilon,
                background_trained: t.background.trained_spread.clone(),
                background_constructed: t.background.constructed_spread.clone(),
                translation_trained: t.translation.trained_spread.clone(),
                translation_constructed: t.translation.constructed_spread.clone(),
                background_trained_accuracy: t.background.trained_accuracy,
                translation_trained_accuracy: t.translation.trained_accuracy,
                background_constructed_accuracy: t.background.constructed_accuracy,
                translation_constructed_accuracy: t.translation.constructed_accuracy,
            })
            .collect();
        InvarianceSummary { class_names: self.class_names.clone(), samples: self.samples, seed: self.seed, tiles }
    }
}

/// The network compared with N1: the SGD-trained CNN, or a model imported from ONNX.
#[derive(Debug, Clone, Copy)]
pub enum Classifier<'a> {
    Cnn(&'a Cnn),
    Onnx(&'a OnnxModel),
    /// A trained network of any architecture.
    Deep(&'a DeepNet),
    /// N2's shape, trained (or with N2's weights).
    N2Shaped(&'a N2Shaped),
}

impl Classifier<'_> {
    /// The image size `(H, W)` it takes.
    pub fn input_size(self) -> (usize, usize) {
        match self {
            Self::Cnn(cnn) => (cnn.spec().height, cnn.spec().width),
            Self::Onnx(model) => model.input_size(),
            Self::Deep(net) => (net.arch().height, net.arch().width),
            Self::N2Shaped(net) => net.input(),
        }
    }

    /// Number of class scores.
    pub fn classes(self) -> usize {
        match self {
            Self::Cnn(cnn) => cnn.spec().classes,
            Self::Onnx(model) => model.classes(),
            Self::Deep(net) => net.arch().classes,
            Self::N2Shaped(net) => net.classes(),
        }
    }

    /// Its class scores for one image.
    pub fn logits(self, image: ArrayView2<f32>) -> Result<Vec<f32>, ExperimentError> {
        match self {
            Self::Cnn(cnn) => Ok(cnn.logits(image)?.to_vec()),
            Self::Onnx(model) => model.logits(image).map_err(|e| ExperimentError::Invalid(e.to_string())),
            Self::Deep(net) => Ok(net.logits(image)?.to_vec()),
            Self::N2Shaped(net) => Ok(net.logits(image)?),
        }
    }
}

/// How many images, from which seed, with which ε, and where the tile moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Perturbations {
    /// Images per tile with the background redrawn, and with the tile moved to random offsets.
    pub samples: usize,
    pub seed: u64,
    /// Replaces every tile's ε before N1 is built (to show when invariance fails).
    pub epsilon_override: Option<f32>,
    /// Moves the tile to every valid offset once (on a grid above [`MAX_TRANSLATIONS`]) instead of
    /// to `samples` random ones.
    pub every_offset: bool,
}

impl Perturbations {
    /// `samples` images of each kind, random offsets, the tiles' own ε.
    pub fn random(samples: usize, seed: u64) -> Self {
        Self { samples, seed, epsilon_override: None, every_offset: false }
    }
}

/// Runs both perturbations for each tile in `tiles` through `trained` and N1 built from `classes`.
pub fn invariance(
    classes: &ClassSet,
    trained: Classifier<'_>,
    tiles: &[TileId],
    settings: &Perturbations,
) -> Result<InvarianceResult, ExperimentError> {
    let Perturbations { samples: n, seed, epsilon_override, every_offset } = *settings;
    let (height, width) = trained.input_size();
    if classes.len() != trained.classes() {
        return Err(ExperimentError::Invalid(format!(
            "the trained network has {} classes but the tile set has {}",
            trained.classes(),
            classes.len()
        )));
    }
    if n == 0 || tiles.is_empty() {
        return Err(ExperimentError::Invalid("Figure 4 needs at least one tile and one image".to_owned()));
    }
    let mut classes = classes.clone();
    if let Some(epsilon) = epsilon_override {
        for object in &mut classes.classes {
            for tile in object.features.iter_mut().flat_map(|f| f.tiles.iter_mut()) {
                tile.set_epsilon(epsilon).map_err(|e| ExperimentError::Invalid(e.to_string()))?;
            }
        }
    }
    let n1 = build_n1(&classes, height, width)?;
    let mut results = Vec::with_capacity(tiles.len());
    for (index, &id) in tiles.iter().enumerate() {
        let tile = classes.tile(id).ok_or_else(|| ExperimentError::Invalid(format!("no tile {id:?} in the set")))?;
        let (rows, cols) = valid_offsets(tile, height, width);
        if rows == 0 || cols == 0 {
            return Err(ExperimentError::Invalid(format!("tile {id:?} does not fit the image")));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64 + 1);
        let fixed_offset = (rng.random_range(0..rows), rng.random_range(0..cols));
        let fixed_background = background(&Background::Uniform, height, width, &mut rng);
        let backgrounds: Vec<Array2<f32>> =
            (0..n).map(|_| background(&Background::Uniform, height, width, &mut rng)).collect();
        let offsets: Vec<(usize, usize)> = if every_offset {
            every_offset_grid(rows, cols)
        } else {
            (0..n).map(|_| (rng.random_range(0..rows), rng.random_range(0..cols))).collect()
        };
        // Images are made where they are measured: a study of thousands of offsets never holds them all.
        let measure = |kind, base: &[Array2<f32>], offsets: Vec<(usize, usize)>| -> Result<_, ExperimentError> {
            let image = |i: usize| {
                // A one-image `base` serves every image (the translations share one background).
                let mut image = base[i.min(base.len() - 1)].clone();
                paste(&mut image, tile, offsets[i].0, offsets[i].1);
                image
            };
            let count = offsets.len();
            let trained_logits =
                (0..count).into_par_iter().map(|i| trained.logits(image(i).view())).collect::<Result<Vec<_>, _>>()?;
            let constructed =
                (0..count).into_par_iter().map(|i| n1.logits(image(i).view())).collect::<Result<Vec<_>, _>>()?;
            Ok(perturbation_result(kind, offsets, trained_logits, constructed, id.class))
        };
        let background = measure(Perturbation::Background, &backgrounds, vec![fixed_offset; n])?;
        let translation = measure(Perturbation::Translation, std::slice::from_ref(&fixed_background), offsets)?;
        results.push(TileInvariance {
            tile: id,
            label: id.class,
            name: classes.classes[id.class].name.clone(),
            epsilon: tile.epsilon(),
            background,
            translation,
        });
    }
    Ok(InvarianceResult {
        class_names: classes.classes.iter().map(|o| o.name.clone()).collect(),
        samples: n,
        seed,
        tiles: results,
    })
}

/// Most translated images of one tile with `every_offset`; more valid offsets are visited on a
/// regular grid (every k-th row and column) so the study stays within time and memory.
pub const MAX_TRANSLATIONS: usize = 4096;

/// Every offset of a `rows×cols` range, or an evenly strided grid of at most [`MAX_TRANSLATIONS`].
pub fn every_offset_grid(rows: usize, cols: usize) -> Vec<(usize, usize)> {
    let mut step = 1;
    while rows.div_ceil(step) * cols.div_ceil(step) > MAX_TRANSLATIONS {
        step += 1;
    }
    (0..rows).step_by(step).flat_map(|row| (0..cols).step_by(step).map(move |col| (row, col))).collect()
}

fn perturbation_result(
    kind: Perturbation,
    offsets: Vec<(usize, usize)>,
    trained: Vec<Vec<f32>>,
    constructed: Vec<Vec<f32>>,
    label: usize,
) -> PerturbationResult {
    let n = trained.len().max(1) as f32;
    let trained_hits = trained.iter().filter(|l| argmax(l) == label).count();
    let constructed_hits =
        constructed.iter().filter(|l| l.iter().enumerate().all(|(c, &v)| (c == label) == (v > 0.0))).count();
    PerturbationResult {
        kind,
        offsets,
        trained_spread: Spread::of(&trained),
        constructed_spread: Spread::of(&constructed),
        trained_accuracy: trained_hits as f32 / n,
        constructed_accuracy: constructed_hits as f32 / n,
        trained,
        constructed,
    }
}

/// A readable summary: the class logit's mean ± std for both networks and perturbations.
pub fn report(result: &InvarianceResult) -> String {
    let mut text = format!("Figure 4: {} images per tile and perturbation, seed {}\n", result.samples, result.seed);
    for t in &result.tiles {
        let l = t.label;
        let _ = writeln!(text, "tile '{}' (class {l}, ε = {}): class logit mean ± std", t.name, t.epsilon);
        for p in [&t.background, &t.translation] {
            let _ = writeln!(
                text,
                "  {:<11}  trained {:>8.3} ± {:<7.3} (accuracy {:.2})   N1 {:>7.3} ± {:<7.3} (accuracy {:.2})",
                p.kind.name(),
                p.trained_spread.mean[l],
                p.trained_spread.std[l],
                p.trained_accuracy,
                p.constructed_spread.mean[l],
                p.constructed_spread.std[l],
                p.constructed_accuracy
            );
        }
    }
    text
}

/// Markdown table rows for `reproduce all`: one per tile, the paper's claim beside our numbers.
pub fn table_rows(result: &InvarianceResult) -> Vec<String> {
    result
        .tiles
        .iter()
        .map(|t| {
            let l = t.label;
            format!(
                "| Figure 4, '{}': class-logit std, background → translation | trained: small → larger; constructed: 0 → 0 | trained: {:.3} → {:.3}; N1: {:.3} → {:.3} |",
                t.name,
                t.background.trained_spread.std[l],
                t.translation.trained_spread.std[l],
                t.background.constructed_spread.std[l],
                t.translation.constructed_spread.std[l]
            )
        })
        .collect()
}

/// The per-image logits as CSV: tile, class, perturbation, network, sample, row, col, logits.
pub fn to_csv(result: &InvarianceResult) -> String {
    let mut text = String::from("tile,label,perturbation,network,sample,row,col");
    for name in &result.class_names {
        let _ = write!(text, ",logit_{}", name.replace([',', '"'], " "));
    }
    text.push('\n');
    for t in &result.tiles {
        for p in [&t.background, &t.translation] {
            for (network, logits) in [("trained", &p.trained), ("n1", &p.constructed)] {
                for (sample, (values, (row, col))) in logits.iter().zip(&p.offsets).enumerate() {
                    let name = t.name.replace([',', '"'], " ");
                    let _ = write!(text, "{name},{},{},{network},{sample},{row},{col}", t.label, p.kind.name());
                    for v in values {
                        let _ = write!(text, ",{v}");
                    }
                    text.push('\n');
                }
            }
        }
    }
    text
}

/// The histogram figure of one network: rows = perturbations, columns = tiles, series = logits.
pub fn figure(result: &InvarianceResult, constructed: bool) -> Figure {
    let network = if constructed { "constructed N1" } else { "trained CNN" };
    let panels = network_panels(result, constructed, |t, kind| format!("{}: {} perturbation", t.name, kind.name()));
    let grid = HistogramGrid { cols: result.tiles.len().max(1), bins: 40, x_label: "logit".to_owned(), panels };
    Figure::new(format!("Figure 4: logits of the {network}"), FigureKind::HistogramGrid(grid))
}

/// Both networks in one figure, as the invariance view shows them: the first two rows are the
/// network `compared` with N1 (background, translation), the last two N1; columns = tiles.
pub fn comparison_figure(result: &InvarianceResult, compared: &str) -> Figure {
    let mut panels = network_panels(result, false, |t, kind| format!("{compared}: '{}', {}", t.name, kind.name()));
    panels.extend(network_panels(result, true, |t, kind| format!("N1: '{}', {}", t.name, kind.name())));
    let grid = HistogramGrid { cols: result.tiles.len().max(1), bins: 40, x_label: "logit".to_owned(), panels };
    Figure::new(format!("Figure 4: logits of the {compared} and of N1"), FigureKind::HistogramGrid(grid))
}

/// One network's panels, row-major: the background row, then the translation row; series = logits.
fn network_panels(
    result: &InvarianceResult,
    constructed: bool,
    title: impl Fn(&TileInvariance, Perturbation) -> String,
) -> Vec<HistogramPanel> {
    let mut panels = Vec::new();
    for kind in [Perturbation::Background, Perturbation::Translation] {
        for t in &result.tiles {
            let p = if kind == Perturbation::Background { &t.background } else { &t.translation };
            let logits = if constructed { &p.constructed } else { &p.trained };
            let series = result
                .class_names
                .iter()
                .enumerate()
                .map(|(l, name)| SampleSeries { name: name.clone(), samples: logits.iter().map(|x| x[l]).collect() })
                .collect();
            panels.push(HistogramPanel { title: title(t, kind), series });
        }
    }
    panels
}

/// Why the Figure 4 files could not be written.
#[derive(Debug, Error)]
pub enum OutputError {
    #[error("file: {0}")]
    Io(#[from] std::io::Error),
    #[error("plot: {0}")]
    Plot(#[from] plot::PlotError),
    #[error("JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes the CSV, the JSON summary and PNG + SVG histograms of both networks into `dir`.
pub fn write_outputs(result: &InvarianceResult, dir: &Path) -> Result<Vec<PathBuf>, OutputError> {
    write_named(dir, output_files(result)?)
}

/// The files of [`write_outputs`], by name.
pub fn output_files(result: &InvarianceResult) -> Result<Vec<NamedFile>, OutputError> {
    let mut files: Vec<NamedFile> = vec![
        ("figure4_logits.csv".to_owned(), to_csv(result).into_bytes()),
        ("figure4_summary.json".to_owned(), serde_json::to_string_pretty(&result.summary())?.into_bytes()),
    ];
    for (constructed, stem) in [(false, "figure4_trained"), (true, "figure4_n1")] {
        let figure = figure(result, constructed);
        files.push((format!("{stem}.svg"), plot::render(&figure, Format::Svg)?));
        files.push((format!("{stem}.png"), plot::render(&figure, Format::Png { scale: 1.0 })?));
    }
    Ok(files)
}

/// Writes `files` into `dir` (created if missing), each atomically; returns their paths.
pub(crate) fn write_named(dir: &Path, files: Vec<NamedFile>) -> Result<Vec<PathBuf>, OutputError> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;
    use crate::core::nn::cnn::CnnSpec;
    use crate::core::presets::fashion_three;

    fn study(epsilon_override: Option<f32>) -> InvarianceResult {
        let classes = fashion_three();
        let spec = CnnSpec { classes: 3, ..CnnSpec::fashion() };
        let net = Cnn::new(spec, 1).unwrap();
        let tiles: Vec<TileId> = (0..3).map(|class| TileId { class, feature: 0, tile: 0 }).collect();
        let settings = Perturbations { epsilon_override, ..Perturbations::random(12, 5) };
        invariance(&classes, Classifier::Cnn(&net), &tiles, &settings).unwrap()
    }

    #[test]
    fn an_imported_model_is_studied_like_the_cnn_it_was_exported_from() {
        let classes = fashion_three();
        let spec = CnnSpec { classes: 3, ..CnnSpec::fashion() };
        let net = Cnn::new(spec, 1).unwrap();
        let names: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
        let bytes = crate::core::interop::onnx_export::export_cnn(&net, &names).unwrap().onnx_bytes();
        let model = OnnxModel::from_bytes(&bytes, None).unwrap();
        let tiles = [TileId { class: 1, feature: 0, tile: 0 }];
        let settings = Perturbations::random(6, 5);
        let imported = invariance(&classes, Classifier::Onnx(&model), &tiles, &settings).unwrap();
        let direct = invariance(&classes, Classifier::Cnn(&net), &tiles, &settings).unwrap();
        let (a, b) = (&imported.tiles[0].translation, &direct.tiles[0].translation);
        assert_eq!(a.offsets, b.offsets);
        assert_eq!(a.constructed, b.constructed);
        for (x, y) in a.trained.iter().flatten().zip(b.trained.iter().flatten()) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn every_offset_visits_each_valid_window_once() {
        let classes = fashion_three();
        let spec = CnnSpec { classes: 3, ..CnnSpec::fashion() };
        let net = Cnn::new(spec, 1).unwrap();
        let tiles = [TileId { class: 2, feature: 0, tile: 0 }];
        let settings = Perturbations { every_offset: true, ..Perturbations::random(5, 2) };
        let result = invariance(&classes, Classifier::Cnn(&net), &tiles, &settings).unwrap();
        let tile = &result.tiles[0];
        let (rows, cols) = valid_offsets(classes.tile(tiles[0]).unwrap(), 40, 40);
        let mut offsets = tile.translation.offsets.clone();
        assert_eq!(offsets.len(), rows * cols);
        offsets.sort_unstable();
        offsets.dedup();
        assert_eq!(offsets.len(), rows * cols, "each offset once");
        assert_eq!(tile.background.offsets.len(), 5);
        assert!(tile.translation.constructed_spread.std[tile.label] < 1e-3, "N1 does not move at any offset");
    }

    #[test]
    fn large_offset_ranges_are_visited_on_a_grid() {
        assert_eq!(every_offset_grid(13, 13).len(), 169);
        let grid = every_offset_grid(229, 229);
        assert!(grid.len() <= MAX_TRANSLATIONS && grid.len() > MAX_TRANSLATIONS / 2, "{}", grid.len());
        let step = grid[1].1;
        assert!(step > 1 && grid.iter().all(|&(r, c)| r % step == 0 && c % step == 0 && r < 229 && c < 229));
        assert!(grid.contains(&(0, 0)));
    }

    #[test]
    fn constructed_class_logit_does_not_move() {
        let result = study(None);
        for t in &result.tiles {
            for p in [&t.background, &t.translation] {
                assert_eq!(p.constructed_accuracy, 1.0, "{} {}", t.name, p.kind.name());
                let l = t.label;
                assert!((p.constructed_spread.mean[l] - t.epsilon).abs() < 1e-3, "exact paste gives ε");
                assert!(p.constructed_spread.std[l] < 1e-3);
                assert_eq!(p.trained.len(), 12);
            }
            assert!(t.background.offsets.iter().all(|&o| o == t.background.offsets[0]));
        }
        assert_eq!(result.summary().tiles.len(), 3);
        let csv = to_csv(&result);
        assert_eq!(csv.lines().count(), 1 + 3 * 2 * 2 * 12);
        assert_eq!(table_rows(&result).len(), 3);
    }

    #[test]
    fn a_huge_epsilon_breaks_invariance() {
        // With ε far above the distances of noise windows, many windows match and the logit moves.
        let result = study(Some(500.0));
        let t = &result.tiles[0];
        assert!(
            t.translation.constructed_spread.std[t.label] > 1.0 || t.background.constructed_spread.std[t.label] > 1.0
        );
    }

    #[test]
    fn spread_matches_the_formula() {
        let spread = Spread::of(&[vec![1.0, 0.0], vec![3.0, 0.0]]);
        assert_eq!(spread.mean, vec![2.0, 0.0]);
        assert_eq!(spread.std, vec![1.0, 0.0]);
    }

    #[test]
    fn outputs_are_written() {
        let result = study(None);
        let dir = tempfile::tempdir().unwrap();
        let files = write_outputs(&result, dir.path()).unwrap();
        assert_eq!(files.len(), 6);
        for file in files {
            assert!(std::fs::metadata(&file).unwrap().len() > 100, "{}", file.display());
        }
    }
}
