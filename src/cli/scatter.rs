//! `tilelab scatter`: the scattering coefficients of one greyscale image as a float32 NPY array
//! `[K, H/2^J, W/2^J]` in Kymatio's channel order (order 0; order 1 by j, θ; order 2 by j1, θ1, j2, θ2).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::core::export::save_npy;
use crate::core::scattering::{Scattering, ScatteringSpec};

/// Arguments of `tilelab scatter`.
#[derive(Args)]
pub struct ScatterArgs {
    /// A greyscale image (PNG or JPEG; colour is converted to grey), read as pixel/255.
    #[arg(long)]
    image: PathBuf,
    /// Number of scales J (2^J may not exceed the image's smaller side).
    #[arg(long, default_value_t = 2)]
    j: usize,
    /// Number of orientations L per scale.
    #[arg(long, default_value_t = 8)]
    l: usize,
    /// Highest order kept: 1 or 2.
    #[arg(long, default_value_t = 2)]
    max_order: usize,
    /// Output file (NumPy .npy, float32).
    #[arg(long)]
    out: PathBuf,
}

/// Loads the image, runs the network and writes the coefficients.
pub fn run(args: &ScatterArgs) -> anyhow::Result<()> {
    let image = super::logits::load_grey(&args.image)
        .with_context(|| format!("cannot read the image {}", args.image.display()))?;
    let (height, width) = image.dim();
    let spec = ScatteringSpec { j: args.j, l: args.l, max_order: args.max_order };
    let net = Scattering::new(spec, height, width).context("cannot build the scattering network")?;
    let coefficients = net.transform(image.view())?;
    save_npy(&args.out, &coefficients).with_context(|| format!("cannot write {}", args.out.display()))?;
    let (k, h, w) = coefficients.dim();
    println!("wrote {} ({k} channels of {h}×{w})", args.out.display());
    Ok(())
}
