//! `tilelab dataset`: a generated dataset written as `.npy` files and a PNG contact sheet
//! (`core::interop::dataset_files` documents the files), exactly the samples `generate` gives.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::core::dataset::{Background, DatasetSpec, generate};
use crate::core::interop::dataset_files::save_dataset;
use crate::core::tileset_file;

/// Arguments of `tilelab dataset`.
#[derive(Args)]
pub struct DatasetArgs {
    /// The tile set (JSON, `tilelab-tileset` format).
    #[arg(long)]
    tileset: PathBuf,
    /// Samples of every class.
    #[arg(long)]
    samples_per_class: usize,
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
    let classes = tileset_file::load(&args.tileset)
        .with_context(|| format!("cannot load the tile set {}", args.tileset.display()))?;
    let spec = DatasetSpec {
        height: args.height,
        width: args.width,
        samples_per_class: args.samples_per_class,
        background: args.background.clone(),
        jitter: args.jitter,
        seed: args.seed,
    };
    let dataset = generate(&classes, &spec).context("cannot generate the dataset")?;
    let written = save_dataset(&args.out, &classes, &spec, &dataset)
        .with_context(|| format!("cannot write the dataset to {}", args.out.display()))?;
    println!(
        "{} samples ({} classes × {}), {}×{}, {} draws redrawn because they held another class:",
        dataset.samples.len(),
        classes.len(),
        args.samples_per_class,
        args.height,
        args.width,
        dataset.rejections.total
    );
    for path in written {
        println!("  {}", path.display());
    }
    Ok(())
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
