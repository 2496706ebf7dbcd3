//! `tilelab dataset`: a generated dataset written as `.npy` files and a PNG contact sheet
//! (`core::interop::dataset_files` documents the files), exactly the samples `generate` gives;
//! with `--scene`, the tile set and dataset settings of a scene file (the app's Dataset view).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::core::dataset::{Background, DatasetSpec, generate};
use crate::core::interop::dataset_files::save_dataset;
use crate::core::tile::ClassSet;
use crate::core::tileset_file;

/// Arguments of `tilelab dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// The tile set (JSON, `tilelab-tileset` format).
    #[arg(long, required_unless_present = "scene")]
    tileset: Option<PathBuf>,
    /// A scene file (`.tilelab`): its tile set and dataset settings, seed included (the options below are then not used).
    #[arg(long, conflicts_with_all = ["tileset", "samples_per_class", "seed", "height", "width", "background", "jitter"])]
    scene: Option<PathBuf>,
    /// Samples of every class.
    #[arg(long, required_unless_present = "scene")]
    samples_per_class: Option<usize>,
    /// Seed of the whole dataset (the same seed gives the same images as the app and `reproduce`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image height.
    #[arg(long, default_value_t = 40)]
    height: usize,
    /// Image width.
    #[arg(long, default_value_t = 40)]
    width: usize,
    /// Background: `uniform`, `smooth:CELL`, `constant:GREY` or `gradient:ANGLE_DEGREES`.
    #[arg(long, default_value = "uniform", value_parser = parse_background)]
    background: Background,
    /// Random pixel jitter of pasted tiles, as a fraction of ε in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    jitter: f32,
    /// Output folder (created if needed).
    #[arg(long)]
    out: PathBuf,
}

/// Generates the dataset and writes its files.
pub fn run(args: &DatasetArgs) -> anyhow::Result<()> {
    let (classes, spec) = tiles_and_spec(args)?;
    let dataset = generate(&classes, &spec).context("cannot generate the dataset")?;
    let written = save_dataset(&args.out, &classes, &spec, &dataset)
        .with_context(|| format!("cannot write the dataset to {}", args.out.display()))?;
    println!(
        "{} samples ({} classes × {}), {}×{}, {} draws redrawn because they held another class:",
        dataset.samples.len(),
        classes.len(),
        spec.samples_per_class,
        spec.height,
        spec.width,
        dataset.rejections.total
    );
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
}

/// The tile set and the dataset settings: the scene's, or those of the options.
fn tiles_and_spec(args: &DatasetArgs) -> anyhow::Result<(ClassSet, DatasetSpec)> {
    if let Some(path) = &args.scene {
        let scene = super::scene::open(path)?;
        return Ok((scene.tiles.classes(), scene.dataset));
    }
    let (Some(tileset), Some(samples_per_class)) = (&args.tileset, args.samples_per_class) else {
        anyhow::bail!("give --scene, or --tileset and --samples-per-class");
    };
    let classes =
        tileset_file::load(tileset).with_context(|| format!("cannot load the tile set {}", tileset.display()))?;
    let spec = DatasetSpec {
        height: args.height,
        width: args.width,
        samples_per_class,
        background: args.background.clone(),
        jitter: args.jitter,
        seed: args.seed,
    };
    Ok((classes, spec))
}

/// Parses `uniform`, `smooth:CELL`, `constant:GREY` or `gradient:ANGLE`.
fn parse_background(text: &str) -> Result<Background, String> {
    let (kind, value) = text.split_once(':').map_or((text, None), |(k, v)| (k, Some(v)));
    let number = |what: &str| -> Result<f32, String> {
        value.and_then(|v| v.parse::<f32>().ok()).ok_or_else(|| {
            format!("'{text}': {kind} needs a {what}, e.g. {kind}:{}", if kind == "smooth" { "8" } else { "0.5" })
        })
    };
    match kind {
        "uniform" if value.is_none() => Ok(Background::Uniform),
        "smooth" => {
            let cell = value
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or_else(|| format!("'{text}': smooth needs a cell size in pixels, e.g. smooth:8"))?;
            Ok(Background::Smooth { cell })
        }
        "constant" => Ok(Background::Constant(number("grey level in [0, 1]")?)),
        "gradient" => Ok(Background::Gradient { angle_degrees: number("angle in degrees")? }),
        _ => Err(format!("unknown background '{text}': use uniform, smooth:CELL, constant:GREY or gradient:ANGLE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backgrounds_parse_and_bad_ones_explain() {
        let cases = [
            ("uniform", Some(Background::Uniform)),
            ("smooth:8", Some(Background::Smooth { cell: 8 })),
            ("constant:0.25", Some(Background::Constant(0.25))),
            ("gradient:90", Some(Background::Gradient { angle_degrees: 90.0 })),
            ("smooth", None),
            ("constant:grey", None),
            ("uniform:1", None),
            ("plaid", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_background(text).ok(), want, "{text}");
        }
    }
}
