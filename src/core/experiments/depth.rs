//! Depth against depth: the paper's shallow network, the deep preset and N2's own shape (from
//! random weights and from N2's), trained on the Fashion setting (three classes, or ten), measured
//! layer by layer beside N2's layers.
//!
//! Per architecture and seed: test accuracy, for every hidden layer the mean classes per active
//! unit (threshold 0) and the mean class selectivity index, Figure 4's spread of the class logit
//! under background change and translation, and the training speed; then mean ± sd over the seeds.
//! N2's hidden layers are the reference row (its detectors answer one class: index 1).

use std::fmt::Write as _;

use serde::Serialize;

use super::figure4::{self, Classifier, Perturbations};
use super::{DeepRun, EpochRecord, ExperimentError, fashion, train_deep_epochs, train_epochs, train_network_epochs};
use crate::core::construct::build_n2;
use crate::core::nn::arch::Preset;
use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::deep_train::DeepTrainer;
use crate::core::nn::n2_shaped::{Init, N2Shaped, Wiring};
use crate::core::nn::train::{Hyper, LabelledSet};
use crate::core::plot::{
    BarChart, BarSeries, Curve, Figure, FigureKind, HistogramGrid, HistogramPanel, LineChart, SampleSeries,
};
use crate::core::presets::{fashion_ten, fashion_three};
use crate::core::selectivity::{self, ClassMaxima};
use crate::core::tile::{ClassSet, TileId};

/// Settings of the study; [`DepthConfig::new`] gives the defaults (about 10 minutes here).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthConfig {
    pub seeds: usize,
    pub classes: usize,
    pub epochs: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    /// Test images used to measure selectivity.
    pub probe_samples: usize,
    /// Images per tile and perturbation of the Figure 4 spreads.
    pub figure4_samples: usize,
    /// Epochs of N2's shape: each costs about ten of the deep preset's (three Fashion tiles: about
    /// 100 samples/s under a load of 15 here), so it gets 5 to keep the study near 10 minutes.
    pub n2_shaped_epochs: usize,
}

impl DepthConfig {
    /// `seeds` seeds (1 to 10) of the three- or ten-class setting, 15 epochs of 4000 images.
    pub fn new(seeds: usize, classes: usize) -> Result<Self, ExperimentError> {
        if !(1..=10).contains(&seeds) {
            return Err(ExperimentError::Invalid(format!("{seeds} seeds: 1 to 10")));
        }
        if classes != 3 && classes != 10 {
            return Err(ExperimentError::Invalid(format!("{classes} classes: 3 or 10")));
        }
        Ok(Self {
            seeds,
            classes,
            epochs: 15,
            train_samples: 4000,
            test_samples: 1000,
            probe_samples: 300,
            figure4_samples: 50,
            n2_shaped_epochs: 5,
        })
    }

    /// The tile set: the paper's three Fashion tiles or all ten, pasted as whole 28×28 squares.
    pub fn class_set(&self) -> ClassSet {
        let mut classes = if self.classes == 3 { fashion_three() } else { fashion_ten(1) };
        fashion::whole_square(&mut classes);
        classes
    }
}

/// Mean and (sample) standard deviation over the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanSd {
    pub mean: f64,
    pub sd: f64,
}

impl MeanSd {
    /// Of the finite `values` (`None` if there are none).
    pub fn of(values: &[f64]) -> Option<Self> {
        let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        let n = finite.len();
        if n == 0 {
            return None;
        }
        let mean = finite.iter().sum::<f64>() / n as f64;
        let sd =
            if n > 1 { (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt() } else { 0.0 };
        Some(Self { mean, sd })
    }
}

/// One architecture's row (the JSON keys are the CLI contract of `reproduce depth`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DepthRow {
    pub arch: String,
    pub init: String,
    /// Names of the hidden layers measured.
    pub layers: Vec<String>,
    pub test_accuracy: Option<MeanSd>,
    /// Per hidden layer, mean classes per active unit at threshold 0.
    pub classes_per_unit: Vec<Option<MeanSd>>,
    /// Per hidden layer, the mean class selectivity index.
    pub selectivity_index: Vec<Option<MeanSd>>,
    /// Standard deviation of the class logit with the background redrawn (mean over the tiles).
    pub spread_background: Option<MeanSd>,
    /// Standard deviation of the class logit with the tile moved.
    pub spread_translation: Option<MeanSd>,
    pub samples_per_second: Option<MeanSd>,
}

/// The study: the table's rows and, for the histograms, every unit's selectivity index per layer
/// of each network (seed 1; N2 itself for the reference).
#[derive(Debug, Clone, PartialEq)]
pub struct DepthStudy {
    pub rows: Vec<DepthRow>,
    /// Per row of [`Self::rows`], per hidden layer, the index of every unit that fired.
    pub unit_indices: Vec<Vec<Vec<f32>>>,
}

/// One seed's measurements of one trained network.
#[derive(Debug, Clone, PartialEq)]
struct SeedResult {
    layers: Vec<String>,
    test_accuracy: f64,
    classes_per_unit: Vec<f64>,
    selectivity_index: Vec<f64>,
    /// Per layer, every firing unit's selectivity index.
    unit_indices: Vec<Vec<f32>>,
    spread_background: f64,
    spread_translation: f64,
    samples_per_second: f64,
}

/// The architectures trained, in the order of the table.
pub const PRESETS: [Preset; 2] = [Preset::Paper, Preset::Deep];

/// The starts of N2's shape trained, in the order of the table.
pub const N2_SHAPED_INITS: [Init; 2] = [Init::Random, Init::N2];

/// Runs the study; `progress` hears `(what, epoch record)` after every epoch of every run.
pub fn run(config: &DepthConfig, progress: &mut dyn FnMut(&str, &EpochRecord)) -> Result<DepthStudy, ExperimentError> {
    let classes = config.class_set();
    let (reference, reference_indices) = n2_reference(config, &classes)?;
    let mut study = DepthStudy { rows: vec![reference], unit_indices: vec![reference_indices] };
    for preset in PRESETS {
        let mut per_seed = Vec::with_capacity(config.seeds);
        for seed in 1..=config.seeds as u64 {
            let what = format!("{} seed {seed}", preset.name());
            let run = train(config, &classes, preset, seed, &mut |r| progress(&what, r))?;
            per_seed.push(measure(config, &classes, &run, seed)?);
        }
        study.push(summarise(preset.name(), "random", &per_seed), &per_seed);
    }
    for init in N2_SHAPED_INITS {
        let mut per_seed = Vec::with_capacity(config.seeds);
        for seed in 1..=config.seeds as u64 {
            let what = format!("n2-shaped (init {}) seed {seed}", init.name());
            let run = train_n2_shaped(config, &classes, init, seed, &mut |r| progress(&what, r))?;
            per_seed.push(measure_n2_shaped(config, &classes, &run, seed)?);
        }
        study.push(summarise("n2-shaped", init.name(), &per_seed), &per_seed);
    }
    Ok(study)
}

impl DepthStudy {
    fn push(&mut self, row: DepthRow, seeds: &[SeedResult]) {
        self.rows.push(row);
        self.unit_indices.push(seeds.first().map(|s| s.unit_indices.clone()).unwrap_or_default());
    }
}

/// Every firing unit's class selectivity index.
fn unit_indices(maxima: &ClassMaxima) -> Vec<f32> {
    maxima.selectivity_index().into_iter().flatten().collect()
}

/// N2's shape with sparse wiring, from `init`, trained with the deep preset's SGD for
/// [`DepthConfig::n2_shaped_epochs`] epochs.
fn train_n2_shaped(
    config: &DepthConfig,
    classes: &ClassSet,
    init: Init,
    seed: u64,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<DeepRun<N2Shaped>, ExperimentError> {
    let net = N2Shaped::new(classes, (40, 40), Wiring::Sparse, init, seed)?;
    let (train, test) = fashion::datasets_of(classes, config.train_samples, config.test_samples, seed)?;
    let trainer = DeepTrainer::from_network(net, Hyper::deep(), train, test, seed)?;
    train_network_epochs(trainer, config.n2_shaped_epochs, on_epoch)
}

fn measure_n2_shaped(
    config: &DepthConfig,
    classes: &ClassSet,
    run: &DeepRun<N2Shaped>,
    seed: u64,
) -> Result<SeedResult, ExperimentError> {
    let (images, labels) = probe(config, classes, seed)?;
    let layers = selectivity::n2_shaped_layers(&run.trained, &images, &labels)
        .map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    let (background, translation) = spreads(config, classes, Classifier::N2Shaped(&run.trained), seed)?;
    Ok(seed_result(&layers, f64::from(run.test.accuracy), (background, translation), run.samples_per_second))
}

/// One seed's row from its layers' statistics, accuracy, spreads and speed.
fn seed_result(
    layers: &[(String, ClassMaxima)],
    test_accuracy: f64,
    (spread_background, spread_translation): (f64, f64),
    samples_per_second: f64,
) -> SeedResult {
    SeedResult {
        layers: layers.iter().map(|(name, _)| name.clone()).collect(),
        test_accuracy,
        classes_per_unit: layers.iter().map(|(_, m)| classes_per_unit(m)).collect(),
        selectivity_index: layers.iter().map(|(_, m)| m.mean_selectivity_index().map_or(f64::NAN, f64::from)).collect(),
        unit_indices: layers.iter().map(|(_, m)| unit_indices(m)).collect(),
        spread_background,
        spread_translation,
        samples_per_second,
    }
}

fn train(
    config: &DepthConfig,
    classes: &ClassSet,
    preset: Preset,
    seed: u64,
    on_epoch: &mut dyn FnMut(&EpochRecord),
) -> Result<DeepRun, ExperimentError> {
    let sets = fashion::datasets_of(classes, config.train_samples, config.test_samples, seed)?;
    let n = classes.len();
    if preset == Preset::Paper {
        let spec = CnnSpec { classes: n, ..CnnSpec::fashion() };
        let (train, test) = sets;
        return train_epochs(spec, Hyper::of_preset(preset), train, test, seed, config.epochs, on_epoch)
            .map(DeepRun::from);
    }
    train_deep_epochs(None, preset.arch(40, 40, n), Hyper::of_preset(preset), sets, seed, config.epochs, on_epoch)
}

/// The probe images and labels: the first `probe_samples` of a fresh test set, every class.
fn probe(
    config: &DepthConfig,
    classes: &ClassSet,
    seed: u64,
) -> Result<(Vec<ndarray::Array2<f32>>, Vec<usize>), ExperimentError> {
    let (_, test) = fashion::datasets_of(classes, 1, config.probe_samples, seed.wrapping_add(1000))?;
    Ok(images_of(&test))
}

fn images_of(set: &LabelledSet) -> (Vec<ndarray::Array2<f32>>, Vec<usize>) {
    ((0..set.len()).map(|i| set.image(i).to_owned()).collect(), set.labels().to_vec())
}

fn measure(config: &DepthConfig, classes: &ClassSet, run: &DeepRun, seed: u64) -> Result<SeedResult, ExperimentError> {
    let (images, labels) = probe(config, classes, seed)?;
    let layers = selectivity::trained_layers(&run.trained, &images, &labels)
        .map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    let spreads = spreads(config, classes, Classifier::Deep(&run.trained), seed)?;
    Ok(seed_result(&layers, f64::from(run.test.accuracy), spreads, run.samples_per_second))
}

fn classes_per_unit(maxima: &ClassMaxima) -> f64 {
    maxima.selectivity(0.0).ok().and_then(|s| s.mean_classes_per_active_unit()).map_or(f64::NAN, f64::from)
}

/// Figure 4's standard deviation of the class logit, mean over the first tile of up to three classes.
fn spreads(
    config: &DepthConfig,
    classes: &ClassSet,
    net: Classifier<'_>,
    seed: u64,
) -> Result<(f64, f64), ExperimentError> {
    let tiles: Vec<TileId> = (0..classes.len().min(3)).map(|class| TileId { class, feature: 0, tile: 0 }).collect();
    let settings = Perturbations::random(config.figure4_samples, seed);
    let result = figure4::invariance(classes, net, &tiles, &settings)?;
    let mean = |pick: fn(&figure4::TileInvariance) -> f64| {
        result.tiles.iter().map(pick).sum::<f64>() / result.tiles.len().max(1) as f64
    };
    Ok((
        mean(|t| f64::from(t.background.trained_spread.std[t.label])),
        mean(|t| f64::from(t.translation.trained_spread.std[t.label])),
    ))
}

/// N2's hidden layers on the probe images of seed 1: the reference row and its units' indices.
fn n2_reference(config: &DepthConfig, classes: &ClassSet) -> Result<(DepthRow, Vec<Vec<f32>>), ExperimentError> {
    let n2 = build_n2(classes, 40, 40)?;
    let (images, labels) = probe(config, classes, 1)?;
    let layers = selectivity::constructed_layers(&n2, &images, &labels, classes.len())
        .map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    let one = |value: f64| MeanSd::of(&[value]);
    let row = DepthRow {
        arch: "n2".to_owned(),
        init: "constructed".to_owned(),
        layers: layers.iter().map(|(name, _)| name.clone()).collect(),
        test_accuracy: None,
        classes_per_unit: layers.iter().map(|(_, m)| one(classes_per_unit(m))).collect(),
        selectivity_index: layers
            .iter()
            .map(|(_, m)| one(m.mean_selectivity_index().map_or(f64::NAN, f64::from)))
            .collect(),
        spread_background: None,
        spread_translation: None,
        samples_per_second: None,
    };
    Ok((row, layers.iter().map(|(_, m)| unit_indices(m)).collect()))
}

fn summarise(arch: &str, init: &str, seeds: &[SeedResult]) -> DepthRow {
    let column = |pick: &dyn Fn(&SeedResult) -> f64| MeanSd::of(&seeds.iter().map(pick).collect::<Vec<_>>());
    let layers = seeds.first().map(|s| s.layers.clone()).unwrap_or_default();
    let per_layer = |pick: fn(&SeedResult) -> &Vec<f64>| -> Vec<Option<MeanSd>> {
        (0..layers.len()).map(|l| column(&|s| pick(s).get(l).copied().unwrap_or(f64::NAN))).collect()
    };
    DepthRow {
        arch: arch.to_owned(),
        init: init.to_owned(),
        test_accuracy: column(&|s| s.test_accuracy),
        classes_per_unit: per_layer(|s| &s.classes_per_unit),
        selectivity_index: per_layer(|s| &s.selectivity_index),
        spread_background: column(&|s| s.spread_background),
        spread_translation: column(&|s| s.spread_translation),
        samples_per_second: column(&|s| s.samples_per_second),
        layers,
    }
}

/// `0.981 ± 0.004`, or `–` when there is no value.
pub fn format_mean_sd(value: Option<MeanSd>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.digits$} ± {:.digits$}", v.mean, v.sd))
}

/// The Markdown table of the study.
pub fn table(config: &DepthConfig, rows: &[DepthRow]) -> String {
    let mut text = format!(
        "# Depth against depth ({} classes, {} seed(s), {} epochs × {} images; N2's shape {} epochs)\n\n\
         | network | init | test accuracy | classes per active unit, per layer | selectivity index, per layer | class-logit sd, background | class-logit sd, translation | samples/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        config.classes, config.seeds, config.epochs, config.train_samples, config.n2_shaped_epochs
    );
    for row in rows {
        let per_layer = |values: &[Option<MeanSd>]| {
            row.layers
                .iter()
                .zip(values)
                .map(|(name, v)| format!("{name}: {}", format_mean_sd(*v, 2)))
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.arch,
            row.init,
            format_mean_sd(row.test_accuracy, 3),
            per_layer(&row.classes_per_unit),
            per_layer(&row.selectivity_index),
            format_mean_sd(row.spread_background, 3),
            format_mean_sd(row.spread_translation, 3),
            format_mean_sd(row.samples_per_second, 0),
        );
    }
    text
}

/// The row's name in figures: `deep`, `n2-shaped (n2)`.
fn label(row: &DepthRow) -> String {
    if row.arch == "n2-shaped" { format!("{} ({})", row.arch, row.init) } else { row.arch.clone() }
}

/// The study's figures, each with its file stem: test accuracy per network, classes per active
/// unit per layer (N2's layers beside), the selectivity-index histograms, Figure 4's spreads.
pub fn figures(study: &DepthStudy) -> Vec<(&'static str, Figure)> {
    let trained: Vec<&DepthRow> = study.rows.iter().filter(|r| r.test_accuracy.is_some()).collect();
    let mean = |v: Option<MeanSd>| v.map_or(f32::NAN, |v| v.mean as f32);
    let groups: Vec<String> =
        trained.iter().map(|r| format!("{} {}", label(r), format_mean_sd(r.test_accuracy, 3))).collect();
    let accuracy = BarChart {
        y_label: "test accuracy (mean over seeds)".into(),
        groups: groups.clone(),
        series: vec![BarSeries {
            name: "test accuracy".into(),
            values: trained.iter().map(|r| mean(r.test_accuracy)).collect(),
        }],
    };
    let per_layer = LineChart {
        x_label: "hidden layer (1 = nearest the input)".into(),
        y_label: "classes per active unit (threshold 0)".into(),
        curves: study
            .rows
            .iter()
            .map(|r| Curve {
                name: label(r),
                // A layer where no unit fired has no value: its point is left out, not drawn as NaN.
                points: (1..)
                    .zip(&r.classes_per_unit)
                    .filter_map(|(l, v)| v.map(|v| (l as f32, v.mean as f32)))
                    .collect(),
            })
            .collect(),
    };
    let panels = study
        .rows
        .iter()
        .zip(&study.unit_indices)
        .map(|(row, layers)| HistogramPanel {
            title: label(row),
            series: row
                .layers
                .iter()
                .zip(layers)
                .map(|(name, samples)| SampleSeries { name: name.clone(), samples: samples.clone() })
                .collect(),
        })
        .collect();
    let histograms =
        HistogramGrid { cols: 3, bins: 10, x_label: "class selectivity index (1 = one class only)".into(), panels };
    let spread = BarChart {
        y_label: "sd of the class logit".into(),
        groups,
        series: vec![
            BarSeries {
                name: "background redrawn".into(),
                values: trained.iter().map(|r| mean(r.spread_background)).collect(),
            },
            BarSeries {
                name: "tile moved".into(),
                values: trained.iter().map(|r| mean(r.spread_translation)).collect(),
            },
        ],
    };
    vec![
        ("depth_accuracy", Figure::new("Test accuracy per network", FigureKind::BarChart(accuracy))),
        (
            "depth_classes_per_unit",
            Figure::new("Classes per active unit, layer by layer", FigureKind::LineChart(per_layer)),
        ),
        (
            "depth_selectivity",
            Figure::new("Class selectivity index of every firing unit (seed 1)", FigureKind::HistogramGrid(histograms)),
        ),
        ("depth_figure4_spread", Figure::new("Figure 4: spread of the class logit", FigureKind::BarChart(spread))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sd_over_seeds() {
        let v = MeanSd::of(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
        assert!((v.mean - 2.0).abs() < 1e-12 && (v.sd - 1.0).abs() < 1e-12);
        assert_eq!(MeanSd::of(&[5.0]), Some(MeanSd { mean: 5.0, sd: 0.0 }));
        assert_eq!(MeanSd::of(&[]), None);
        assert_eq!(format_mean_sd(None, 2), "–");
        assert!(DepthConfig::new(0, 3).is_err() && DepthConfig::new(1, 4).is_err());
    }

    #[test]
    fn a_short_study_measures_every_layer() {
        let config = DepthConfig {
            epochs: 1,
            train_samples: 300,
            test_samples: 60,
            probe_samples: 30,
            figure4_samples: 4,
            n2_shaped_epochs: 1,
            ..DepthConfig::new(1, 3).unwrap()
        };
        let study = run(&config, &mut |_, _| {}).unwrap();
        let rows = &study.rows;
        let names: Vec<(&str, &str)> = rows.iter().map(|r| (r.arch.as_str(), r.init.as_str())).collect();
        assert_eq!(
            names,
            [
                ("n2", "constructed"),
                ("paper", "random"),
                ("deep", "random"),
                ("n2-shaped", "random"),
                ("n2-shaped", "n2")
            ]
        );
        let detection = rows[0].layers.iter().position(|l| l == "detection (1×1)").unwrap();
        assert!((rows[0].selectivity_index[detection].unwrap().mean - 1.0).abs() < 1e-6, "N2's detectors score 1");
        assert_eq!(rows[3].layers, rows[0].layers, "N2's shape has N2's layers");
        // Where SGD takes N2's weights is the finding (with lr 0.01 a few updates leave N2 behind).
        assert!(rows[4].test_accuracy.is_some() && rows[4].selectivity_index.len() == rows[0].layers.len());
        assert_eq!(rows[1].classes_per_unit.len(), 1);
        assert_eq!(rows[2].layers, ["conv 1 (3×3×16)", "conv 2 (3×3×32)"]);
        assert!(rows[2].spread_translation.is_some() && rows[2].samples_per_second.unwrap().mean > 0.0);
        let table = table(&config, rows);
        assert!(table.contains("| deep | random |"), "{table}");
        assert!(table.contains("| n2-shaped | n2 |"), "{table}");
        let figures = figures(&study);
        assert_eq!(figures.len(), 4);
        for (stem, figure) in &figures {
            assert_eq!(crate::core::plot::non_finite_values(figure), 0, "{stem}");
            assert!(!crate::core::plot::render(figure, crate::core::plot::Format::Svg).unwrap().is_empty(), "{stem}");
        }
        let FigureKind::HistogramGrid(grid) = &figures[2].1.kind else { panic!("histograms") };
        assert_eq!(grid.panels.len(), 5, "N2 and the four trained networks");
        assert!(grid.panels[0].series.iter().all(|s| !s.samples.is_empty()), "N2's layers all fire");
    }
}
