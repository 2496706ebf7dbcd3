//! `tilelab figures`: the paper-style figure pack (tiles, dataset samples, N2's layers, logits) for
//! a tile set, or with `--scene` every view's figure and CSV as File → Export writes them for that scene.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::core::scene::compute;
use crate::core::{figures, presets, tileset_file};

#[derive(Args)]
pub struct FiguresArgs {
    /// Tile-set JSON file (default: the embedded Fashion-MNIST preset of three classes).
    #[arg(long, conflicts_with = "scene")]
    tileset: Option<PathBuf>,
    /// A scene file (`.tilelab`): write `<view>.png`, `.svg` and `.csv` of every view instead of the figure pack.
    #[arg(long)]
    scene: Option<PathBuf>,
    /// Folder to write the figures into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// With `--scene`: pixels per figure point of the PNGs (1 = File → Export's "PNG (1×)", 2 = "PNG (2×, slides)").
    #[arg(long, default_value_t = 1.0, requires = "scene")]
    png_scale: f32,
    /// Seed of the dataset the sample figures show (the figure pack; a scene has its own seeds).
    #[arg(long, default_value_t = 0, conflicts_with = "scene")]
    seed: u64,
}

pub fn run(args: &FiguresArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.scene {
        let scene = super::scene::open(path)?;
        let files = compute::write_views(&scene, &args.out, args.png_scale)
            .with_context(|| format!("cannot compute the views of {}", path.display()))?;
        for (view, why) in &files.skipped {
            eprintln!("note: no {} view files: {why}", view.file_stem());
        }
        for path in files.written {
            println!("{}", path.display());
        }
        return Ok(());
    }
    let classes = match &args.tileset {
        Some(path) => tileset_file::load(path).with_context(|| format!("cannot load {}", path.display()))?,
        None => presets::fashion_three(),
    };
    let written = figures::figure_pack(&classes, &args.out, args.seed)?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}
