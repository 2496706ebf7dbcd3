//! Depth against depth: the paper's shallow network and the deep preset, trained on the
//! Fashion setting (three classes, or ten), measured layer by layer beside N2's detectors.
//!
//! Per architecture and seed: test accuracy, for every hidden layer the mean classes per active
//! unit (threshold 0) and the mean class selectivity index, Figure 4's spread of the class logit
//! under background change and translation, and the training speed; then mean ± sd over the seeds.
//! N2's detector layer is the reference row (its detectors answer one class: index 1).

use std::fmt::Write as _;

use serde::Serialize;

use super::figure4::{self, Classifier, Perturbations};
use super::{DeepRun, EpochRecord, ExperimentError, fashion, train_deep_epochs, train_epochs};
use crate::core::construct::build_n2;
use crate::core::nn::arch::Preset;
use crate::core::nn::cnn::CnnSpec;
use crate::core::nn::deep::DeepNet;
use crate::core::nn::train::{Hyper, LabelledSet};
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

/// One seed's measurements of one trained network.
#[derive(Debug, Clone, PartialEq)]
struct SeedResult {
    layers: Vec<String>,
    test_accuracy: f64,
    classes_per_unit: Vec<f64>,
    selectivity_index: Vec<f64>,
    spread_background: f64,
    spread_translation: f64,
    samples_per_second: f64,
}

/// The architectures trained, in the order of the table.
pub const PRESETS: [Preset; 2] = [Preset::Paper, Preset::Deep];

/// Runs the study; `progress` hears `(what, epoch record)` after every epoch of every run.
pub fn run(
    config: &DepthConfig,
    progress: &mut dyn FnMut(&str, &EpochRecord),
) -> Result<Vec<DepthRow>, ExperimentError> {
    let classes = config.class_set();
    let mut rows = vec![n2_reference(config, &classes)?];
    for preset in PRESETS {
        let mut per_seed = Vec::with_capacity(config.seeds);
        for seed in 1..=config.seeds as u64 {
            let what = format!("{} seed {seed}", preset.name());
            let run = train(config, &classes, preset, seed, &mut |r| progress(&what, r))?;
            per_seed.push(measure(config, &classes, &run, seed)?);
        }
        rows.push(summarise(preset.name(), "random", &per_seed));
    }
    Ok(rows)
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
    let (background, translation) = spreads(config, classes, &run.trained, seed)?;
    Ok(SeedResult {
        layers: layers.iter().map(|(name, _)| name.clone()).collect(),
        test_accuracy: f64::from(run.test.accuracy),
        classes_per_unit: layers.iter().map(|(_, m)| classes_per_unit(m)).collect(),
        selectivity_index: layers.iter().map(|(_, m)| m.mean_selectivity_index().map_or(f64::NAN, f64::from)).collect(),
        spread_background: background,
        spread_translation: translation,
        samples_per_second: run.samples_per_second,
    })
}

fn classes_per_unit(maxima: &ClassMaxima) -> f64 {
    maxima.selectivity(0.0).ok().and_then(|s| s.mean_classes_per_active_unit()).map_or(f64::NAN, f64::from)
}

/// Figure 4's standard deviation of the class logit, mean over the first tile of up to three classes.
fn spreads(config: &DepthConfig, classes: &ClassSet, net: &DeepNet, seed: u64) -> Result<(f64, f64), ExperimentError> {
    let tiles: Vec<TileId> = (0..classes.len().min(3)).map(|class| TileId { class, feature: 0, tile: 0 }).collect();
    let settings = Perturbations::random(config.figure4_samples, seed);
    let result = figure4::invariance(classes, Classifier::Deep(net), &tiles, &settings)?;
    let mean = |pick: fn(&figure4::TileInvariance) -> f64| {
        result.tiles.iter().map(pick).sum::<f64>() / result.tiles.len().max(1) as f64
    };
    Ok((
        mean(|t| f64::from(t.background.trained_spread.std[t.label])),
        mean(|t| f64::from(t.translation.trained_spread.std[t.label])),
    ))
}

/// N2's detector layer on the probe images of seed 1: the reference row.
fn n2_reference(config: &DepthConfig, classes: &ClassSet) -> Result<DepthRow, ExperimentError> {
    let n2 = build_n2(classes, 40, 40)?;
    let (images, labels) = probe(config, classes, 1)?;
    let maxima = selectivity::constructed(&n2, &images, &labels, classes.len())
        .map_err(|e| ExperimentError::Invalid(e.to_string()))?;
    let index = maxima.mean_selectivity_index().map_or(f64::NAN, f64::from);
    Ok(DepthRow {
        arch: "n2".to_owned(),
        init: "constructed".to_owned(),
        layers: vec!["detectors".to_owned()],
        test_accuracy: None,
        classes_per_unit: vec![MeanSd::of(&[classes_per_unit(&maxima)])],
        selectivity_index: vec![MeanSd::of(&[index])],
        spread_background: None,
        spread_translation: None,
        samples_per_second: None,
    })
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
        "# Depth against depth ({} classes, {} seed(s), {} epochs × {} images)\n\n\
         | network | init | test accuracy | classes per active unit, per layer | selectivity index, per layer | class-logit sd, background | class-logit sd, translation | samples/s |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        config.classes, config.seeds, config.epochs, config.train_samples
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
            ..DepthConfig::new(1, 3).unwrap()
        };
        let rows = run(&config, &mut |_, _| {}).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.arch.as_str()).collect();
        assert_eq!(names, ["n2", "paper", "deep"]);
        assert!((rows[0].selectivity_index[0].unwrap().mean - 1.0).abs() < 1e-6, "N2's detectors score 1");
        assert_eq!(rows[1].classes_per_unit.len(), 1);
        assert_eq!(rows[2].layers, ["conv 1 (3×3×16)", "conv 2 (3×3×32)"]);
        assert!(rows[2].spread_translation.is_some() && rows[2].samples_per_second.unwrap().mean > 0.0);
        let table = table(&config, &rows);
        assert!(table.contains("| deep | random |"), "{table}");
    }
}
