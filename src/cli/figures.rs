//! `tilelab figures`: the paper-style figure pack (tiles, dataset samples, N2's layers, logits) for a tile set.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::core::{figures, presets, tileset_file};

#[derive(Args)]
pub struct FiguresArgs {
    /// Tile-set JSON file (default: the embedded Fashion-MNIST preset of three classes).
    #[arg(long)]
    tileset: Option<PathBuf>,
    /// Folder to write the figures into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Seed of the dataset the sample figures show.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(args: &FiguresArgs) -> anyhow::Result<()> {
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
