//! `tilelab activations`: every layer's output of N1, N2 or the trained CNN on one greyscale image,
//! as one long CSV or a folder of NPY files (`core::export::activations`): the same bytes as the
//! app's File → Export → Activations of the current input.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::logits::load_grey;
use super::network::{NetArgs, Network};
use crate::core::atomic::write_atomic;
use crate::core::export::activations;

/// Arguments of `tilelab activations`.
#[derive(Args)]
pub struct ActivationsArgs {
    #[command(flatten)]
    net: NetArgs,
    /// A greyscale image (PNG or JPEG; colour is converted to grey), read as pixel/255; N1 and N2
    /// are built for its size.
    #[arg(long)]
    image: PathBuf,
    /// `csv` (one file, `layer,name,channel,row,col,value`) or `npy` (a folder, one file per layer).
    #[arg(long, value_enum)]
    format: Format,
    /// Output file (a folder for `--format npy`).
    #[arg(long)]
    out: PathBuf,
}

/// The file format written.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Npy,
}

/// Runs `tilelab activations …`.
pub fn run(args: &ActivationsArgs) -> anyhow::Result<()> {
    let image = load_grey(&args.image).with_context(|| format!("cannot read the image {}", args.image.display()))?;
    let classes = args.net.classes()?;
    let (height, width) = image.dim();
    let layers = match args.net.network(&classes, (Some(height), Some(width)))? {
        Network::Constructed(_, built) => activations::of_sparse(&built.network, image.view())?,
        Network::Trained(cnn) => activations::of_cnn(&cnn, image.view())?,
    };
    match args.format {
        Format::Csv => {
            write_atomic(&args.out, &activations::csv(&layers)?)
                .with_context(|| format!("cannot write {}", args.out.display()))?;
            println!("{}", args.out.display());
        }
        Format::Npy => {
            for file in activations::write_npy_folder(&args.out, &layers)? {
                println!("{}", file.display());
            }
        }
    }
    Ok(())
}
