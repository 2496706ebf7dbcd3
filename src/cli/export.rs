//! `tilelab export onnx`: N1, N2 or the trained CNN as an ONNX model (or its weights as
//! safetensors), described in `core::interop::onnx_export`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};

use crate::core::atomic::write_atomic;
use crate::core::construct::{build_n1, build_n2};
use crate::core::interop::graph::ExportGraph;
use crate::core::interop::onnx_export::{ConstructedKind, export_cnn, export_constructed};
use crate::core::nn::weights_file;
use crate::core::tileset_file;

/// Arguments of `tilelab export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    what: ExportCommand,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// A network as an ONNX model (opset 17) or its weights as safetensors.
    Onnx(OnnxArgs),
}

/// Which network to export.
#[derive(Clone, Copy, ValueEnum)]
enum Net {
    N1,
    N2,
    Trained,
}

/// The file format written.
#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Onnx,
    Safetensors,
}

#[derive(Args)]
struct OnnxArgs {
    /// The network: the constructed N1 or N2, or the trained CNN (needs --weights).
    #[arg(long, value_enum)]
    net: Net,
    /// The tile set (JSON): the classes (and for N1/N2 the tiles).
    #[arg(long)]
    tileset: PathBuf,
    /// Image height (for the trained net it must match the weights; default: theirs, or 40).
    #[arg(long)]
    height: Option<usize>,
    /// Image width (as --height).
    #[arg(long)]
    width: Option<usize>,
    /// Trained weights (JSON from the app or `reproduce`), for `--net trained`.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// `onnx` (the model) or `safetensors` (the same weights under the same names).
    #[arg(long, value_enum, default_value = "onnx")]
    format: Format,
    /// Output file.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `tilelab export …`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    match &args.what {
        ExportCommand::Onnx(args) => run_onnx(args),
    }
}

fn run_onnx(args: &OnnxArgs) -> anyhow::Result<()> {
    let classes = tileset_file::load(&args.tileset)
        .with_context(|| format!("cannot load the tile set {}", args.tileset.display()))?;
    let graph = match args.net {
        Net::Trained => {
            let Some(path) = &args.weights else { bail!("--net trained needs --weights FILE.json") };
            let cnn =
                weights_file::load(path).with_context(|| format!("cannot load the weights {}", path.display()))?;
            let spec = cnn.spec();
            let wanted = (args.height.unwrap_or(spec.height), args.width.unwrap_or(spec.width));
            if wanted != (spec.height, spec.width) {
                bail!("the weights are for {}×{} images, not {}×{}", spec.height, spec.width, wanted.0, wanted.1);
            }
            let names: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
            export_cnn(&cnn, &names)?
        }
        Net::N1 | Net::N2 => {
            let (height, width) = (args.height.unwrap_or(40), args.width.unwrap_or(40));
            let (kind, built) = if matches!(args.net, Net::N1) {
                (ConstructedKind::N1, build_n1(&classes, height, width).context("cannot build N1")?)
            } else {
                (ConstructedKind::N2, build_n2(&classes, height, width).context("cannot build N2")?)
            };
            export_constructed(kind, &built, &classes)?
        }
    };
    let bytes = match args.format {
        Format::Onnx => graph.onnx_bytes(),
        Format::Safetensors => graph.safetensors_bytes()?,
    };
    write_atomic(&args.out, &bytes).with_context(|| format!("cannot write {}", args.out.display()))?;
    print_summary(&graph, &args.out, bytes.len());
    Ok(())
}

fn print_summary(graph: &ExportGraph, path: &std::path::Path, bytes: usize) {
    let (height, width) = graph.input;
    println!("{} ({bytes} bytes): {}, input 'image' [N, 1, {height}, {width}]", path.display(), graph.name);
    for output in &graph.outputs {
        println!(
            "  output {:<10} [N, {}]",
            output.name,
            output.dims.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        );
    }
    println!("  {} weights in {} tensors", graph.parameter_count(), graph.weights.len());
}
