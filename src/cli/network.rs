//! The network a command is about, `--net n1|n2|trained`: N1 or N2 built from the tile set for an
//! image size, or the trained CNN read from `--weights`. Shared by `tilelab export` and
//! `tilelab activations`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::core::construct::{Constructed, build_n1, build_n2};
use crate::core::interop::onnx_export::ConstructedKind;
use crate::core::nn::cnn::Cnn;
use crate::core::nn::weights_file;
use crate::core::tile::ClassSet;
use crate::core::tileset_file;

/// Which network.
#[derive(Clone, Copy, ValueEnum)]
pub enum Net {
    N1,
    N2,
    Trained,
}

/// `--net`, `--tileset` and `--weights`.
#[derive(Args)]
pub struct NetArgs {
    /// The network: the constructed N1 or N2, or the trained CNN (needs --weights).
    #[arg(long, value_enum)]
    pub net: Net,
    /// The tile set (JSON): the classes (and for N1/N2 the tiles).
    #[arg(long)]
    pub tileset: PathBuf,
    /// Trained weights (JSON from the app or `reproduce`), for `--net trained`.
    #[arg(long)]
    pub weights: Option<PathBuf>,
}

/// A network ready to export or run.
pub enum Network {
    /// N1 or N2, built for one image size.
    Constructed(ConstructedKind, Constructed),
    /// The trained CNN.
    Trained(Cnn),
}

impl NetArgs {
    /// The tile set's classes.
    pub fn classes(&self) -> anyhow::Result<ClassSet> {
        tileset_file::load(&self.tileset)
            .with_context(|| format!("cannot load the tile set {}", self.tileset.display()))
    }

    /// The network for `height`×`width` images; `None` takes the trained weights' own size (or 40×40).
    pub fn network(&self, classes: &ClassSet, size: (Option<usize>, Option<usize>)) -> anyhow::Result<Network> {
        match self.net {
            Net::Trained => {
                let Some(path) = &self.weights else { bail!("--net trained needs --weights FILE.json") };
                let cnn = load_weights(path)?;
                let spec = cnn.spec();
                let wanted = (size.0.unwrap_or(spec.height), size.1.unwrap_or(spec.width));
                if wanted != (spec.height, spec.width) {
                    bail!("the weights are for {}×{} images, not {}×{}", spec.height, spec.width, wanted.0, wanted.1);
                }
                Ok(Network::Trained(cnn))
            }
            Net::N1 | Net::N2 => {
                let (height, width) = (size.0.unwrap_or(40), size.1.unwrap_or(40));
                Ok(if matches!(self.net, Net::N1) {
                    Network::Constructed(
                        ConstructedKind::N1,
                        build_n1(classes, height, width).context("cannot build N1")?,
                    )
                } else {
                    Network::Constructed(
                        ConstructedKind::N2,
                        build_n2(classes, height, width).context("cannot build N2")?,
                    )
                })
            }
        }
    }
}

fn load_weights(path: &Path) -> anyhow::Result<Cnn> {
    weights_file::load(path).with_context(|| format!("cannot load the weights {}", path.display()))
}
