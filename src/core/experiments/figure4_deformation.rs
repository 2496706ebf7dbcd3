//! Figure 4's third perturbation, small deformations: each tile pasted on noise, then the whole
//! image warped by a smooth random displacement field of amplitude τ pixels (`core::deform`).
//!
//! Per network it reports the stability ratio `‖Φ(x_τ) − Φ(x)‖ / ‖x_τ − x‖` (in the network's own
//! units: direct φ's, N1's (when it fits the image), N2's and the CNN's logits, the scattering
//! coefficients and its linear classifier's logits), the same ratio relative to the sizes, `(‖ΔΦ‖/‖Φ(x)‖) / (‖Δx‖/‖x‖)`, comparable across
//! networks, and the class logit and accuracy before and after the warp.

use std::fmt::Write as _;

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use super::ExperimentError;
use crate::core::construct::{ConstructError, build_n1, build_n2};
use crate::core::dataset::{Background, background, paste, valid_offsets};
use crate::core::deform::DisplacementField;
use crate::core::detect;
use crate::core::nn::cnn::{Cnn, argmax};
use crate::core::scattering::Scattering;
use crate::core::scattering::classifier::LinearClassifier;
use crate::core::tile::{ClassSet, TileId};

/// How one network's output moves under the deformation, averaged over the images of one tile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NetworkStability {
    pub network: &'static str,
    /// Mean of `‖Φ(x_τ) − Φ(x)‖ / ‖x_τ − x‖`.
    pub ratio: f32,
    /// Mean of `(‖ΔΦ‖/‖Φ(x)‖) / (‖Δx‖/‖x‖)`: 1 means the output moves as much as the image, relatively.
    pub relative_ratio: f32,
    /// Mean class logit before and after the warp (`None` for the coefficients, which have no class).
    pub class_logit_before: Option<f32>,
    pub class_logit_after: Option<f32>,
    /// Fraction of warped images still assigned to the tile's class.
    pub accuracy_after: Option<f32>,
}

/// One tile's study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TileDeformation {
    pub name: String,
    pub label: usize,
    pub epsilon: f32,
    pub networks: Vec<NetworkStability>,
}

/// The whole deformation study.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeformationStudy {
    /// Amplitude τ in pixels.
    pub tau: f32,
    pub samples: usize,
    pub seed: u64,
    /// Mean `‖x_τ − x‖` over all images (grey levels, L2).
    pub mean_image_change: f32,
    pub tiles: Vec<TileDeformation>,
}

/// The networks compared: the trained CNN, and scattering with (optionally) its linear classifier.
pub struct Networks<'a> {
    pub cnn: &'a Cnn,
    pub scattering: &'a Scattering,
    pub scattering_classifier: Option<&'a LinearClassifier>,
}

/// One network's output on one image.
type Forward<'a> = dyn Fn(ArrayView2<f32>) -> Result<Vec<f32>, ExperimentError> + 'a;
/// A network's outputs on an image and on its warped copy.
type OutputPair = (Vec<f32>, Vec<f32>);

/// Per-image outputs `(Φ(x), Φ(x_τ))` of one network, and whether it has a class logit.
struct Outputs {
    name: &'static str,
    pairs: Vec<OutputPair>,
    classifies: bool,
    /// N2 assigns a class only with a positive logit; the others take the argmax.
    needs_positive: bool,
}

fn norm(values: impl Iterator<Item = f32>) -> f32 {
    values.map(|v| v * v).sum::<f32>().sqrt()
}

/// Warps `samples` images per tile by `tau` pixels and measures every network on both versions.
pub fn deformation_study(
    classes: &ClassSet,
    networks: &Networks<'_>,
    tiles: &[TileId],
    samples: usize,
    tau: f32,
    seed: u64,
) -> Result<DeformationStudy, ExperimentError> {
    let invalid = |e: &dyn std::fmt::Display| ExperimentError::Invalid(e.to_string());
    let spec = networks.cnn.spec();
    let (height, width) = (spec.height, spec.width);
    if samples == 0 || tiles.is_empty() {
        return Err(ExperimentError::Invalid("the deformation study needs at least one tile and one image".to_owned()));
    }
    let n2 = build_n2(classes, height, width)?;
    // N1 is left out where its dense layer would be too large (it equals φ wherever it is built).
    let n1 = match build_n1(classes, height, width) {
        Ok(n1) => Some(n1),
        Err(ConstructError::TooLarge { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let mut image_changes = Vec::new();
    let mut results = Vec::with_capacity(tiles.len());
    for (index, &id) in tiles.iter().enumerate() {
        let tile = classes.tile(id).ok_or_else(|| ExperimentError::Invalid(format!("no tile {id:?} in the set")))?;
        let (rows, cols) = valid_offsets(tile, height, width);
        if rows == 0 || cols == 0 {
            return Err(ExperimentError::Invalid(format!("tile {id:?} does not fit the image")));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(index as u64 + 1);
        let mut pairs: Vec<(Array2<f32>, Array2<f32>)> = Vec::with_capacity(samples);
        for _ in 0..samples {
            let mut image = background(&Background::Uniform, height, width, &mut rng);
            paste(&mut image, tile, rng.random_range(0..rows), rng.random_range(0..cols));
            let field = DisplacementField::random(height, width, rng.random()).map_err(|e| invalid(&e))?;
            let warped = field.warp(image.view(), tau).map_err(|e| invalid(&e))?;
            image_changes.push(norm((&warped - &image).iter().copied()));
            pairs.push((image, warped));
        }
        let both = |f: &Forward<'_>| {
            pairs.iter().map(|(x, y)| Ok((f(x.view())?, f(y.view())?))).collect::<Result<Vec<_>, ExperimentError>>()
        };
        let mut outputs = vec![Outputs {
            name: "direct_phi",
            pairs: both(&|x| Ok(detect::logits(classes, x)))?,
            classifies: true,
            needs_positive: true,
        }];
        if let Some(n1) = &n1 {
            outputs.push(Outputs {
                name: "n1",
                pairs: both(&|x| Ok(n1.logits(x)?))?,
                classifies: true,
                needs_positive: true,
            });
        }
        outputs.extend([
            Outputs { name: "n2", pairs: both(&|x| Ok(n2.logits(x)?))?, classifies: true, needs_positive: true },
            Outputs {
                name: "trained_cnn",
                pairs: both(&|x| Ok(networks.cnn.logits(x)?.to_vec()))?,
                classifies: true,
                needs_positive: false,
            },
            Outputs {
                name: "scattering_coefficients",
                pairs: both(&|x| {
                    Ok(networks.scattering.transform(x).map_err(|e| invalid(&e))?.into_raw_vec_and_offset().0)
                })?,
                classifies: false,
                needs_positive: false,
            },
        ]);
        if let Some(model) = networks.scattering_classifier {
            let logits = |x: ArrayView2<f32>| -> Result<Vec<f32>, ExperimentError> {
                let features = networks.scattering.transform(x).map_err(|e| invalid(&e))?;
                let flat = ndarray::Array1::from_iter(features.iter().copied());
                Ok(model.logits(flat.view()).map_err(|e| invalid(&e))?.to_vec())
            };
            outputs.push(Outputs {
                name: "scattering_linear",
                pairs: both(&logits)?,
                classifies: true,
                needs_positive: false,
            });
        }
        let stability = outputs.iter().map(|o| stability_of(o, &pairs, id.class)).collect();
        results.push(TileDeformation {
            name: classes.classes[id.class].name.clone(),
            label: id.class,
            epsilon: tile.epsilon(),
            networks: stability,
        });
    }
    let mean_image_change = image_changes.iter().sum::<f32>() / image_changes.len().max(1) as f32;
    Ok(DeformationStudy { tau, samples, seed, mean_image_change, tiles: results })
}

fn stability_of(outputs: &Outputs, images: &[(Array2<f32>, Array2<f32>)], class: usize) -> NetworkStability {
    let n = images.len().max(1) as f32;
    let (mut ratio, mut relative) = (0.0, 0.0);
    for ((before, after), (x, y)) in outputs.pairs.iter().zip(images) {
        let image_change = norm((y - x).iter().copied());
        let output_change = norm(before.iter().zip(after).map(|(a, b)| b - a));
        if image_change > 0.0 {
            ratio += output_change / image_change;
            let image_size = norm(x.iter().copied());
            let output_size = norm(before.iter().copied()).max(f32::MIN_POSITIVE);
            relative += (output_change / output_size) / (image_change / image_size);
        }
    }
    let classified = |logits: &Vec<f32>| {
        if outputs.needs_positive { detect::classify(logits) == Some(class) } else { argmax(logits) == class }
    };
    let mean_class = |pick: fn(&OutputPair) -> &Vec<f32>| {
        outputs.pairs.iter().map(|p| pick(p).get(class).copied().unwrap_or(0.0)).sum::<f32>() / n
    };
    NetworkStability {
        network: outputs.name,
        ratio: ratio / n,
        relative_ratio: relative / n,
        class_logit_before: outputs.classifies.then(|| mean_class(|p| &p.0)),
        class_logit_after: outputs.classifies.then(|| mean_class(|p| &p.1)),
        accuracy_after: outputs
            .classifies
            .then(|| outputs.pairs.iter().filter(|(_, after)| classified(after)).count() as f32 / n),
    }
}

/// How the app names a network of the study ("direct φ", "N2", "scattering + linear", …).
pub fn display_name(network: &str) -> &str {
    match network {
        "direct_phi" => "direct φ",
        "n1" => "N1",
        "n2" => "N2",
        "trained_cnn" => "CNN",
        "scattering_coefficients" => "scattering S",
        "scattering_linear" => "scattering + linear",
        other => other,
    }
}

/// A short text report: one line per tile and network.
pub fn report(study: &DeformationStudy) -> String {
    let mut text = format!(
        "small deformations: τ = {} px, {} images per tile, mean ‖x_τ − x‖ = {:.3}\n",
        study.tau, study.samples, study.mean_image_change
    );
    for tile in &study.tiles {
        for n in &tile.networks {
            let class = match (n.class_logit_before, n.class_logit_after, n.accuracy_after) {
                (Some(b), Some(a), Some(acc)) => {
                    format!("class logit {b:.3} → {a:.3}, accuracy after {:.0}%", 100.0 * acc)
                }
                _ => String::new(),
            };
            let _ = writeln!(
                text,
                "'{}' {:<24} ‖ΔΦ‖/‖Δx‖ = {:>8.4}  relative {:>7.4}  {class}",
                tile.name, n.network, n.ratio, n.relative_ratio
            );
        }
    }
    text
}

/// The study as CSV: one row per tile and network (empty cells where a network has no class logit).
pub fn to_csv(study: &DeformationStudy) -> String {
    let mut text =
        "tau,tile,label,epsilon,network,ratio,relative_ratio,class_logit_before,class_logit_after,accuracy_after\n"
            .to_owned();
    let cell = |v: Option<f32>| v.map_or_else(String::new, |v| v.to_string());
    for tile in &study.tiles {
        for n in &tile.networks {
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{},{},{}",
                study.tau,
                tile.name.replace(',', ";"),
                tile.label,
                tile.epsilon,
                n.network,
                n.ratio,
                n.relative_ratio,
                cell(n.class_logit_before),
                cell(n.class_logit_after),
                cell(n.accuracy_after)
            );
        }
    }
    text
}

/// Writes `figure4_deformation.csv` and `figure4_deformation.json` into `dir` (the CLI's
/// `reproduce figure4 --deformation` and the app's Invariance export write the same bytes).
pub fn write_outputs(
    study: &DeformationStudy,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, super::figure4::OutputError> {
    super::figure4::write_named(dir, output_files(study)?)
}

/// The files of [`write_outputs`], by name.
pub fn output_files(
    study: &DeformationStudy,
) -> Result<Vec<crate::core::export::NamedFile>, super::figure4::OutputError> {
    Ok(vec![
        ("figure4_deformation.csv".to_owned(), to_csv(study).into_bytes()),
        ("figure4_deformation.json".to_owned(), serde_json::to_string_pretty(study)?.into_bytes()),
    ])
}
