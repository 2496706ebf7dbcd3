//! `tilelab export`: N1, N2 or the trained CNN as an ONNX model, its weights as safetensors
//! (`core::interop::onnx_export`), N1/N2 as sparse JSON, or the weights as a folder of NPY files
//! (`core::export`): the same functions and the same bytes as the app's File → Export menu.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::network::{NetArgs, Network};
use crate::core::atomic::write_atomic;
use crate::core::export::{sparse_json, weights_npy};
use crate::core::interop::graph::ExportGraph;
use crate::core::interop::onnx_export::{ConstructedKind, export_cnn, export_constructed};

/// Arguments of `tilelab export`.
#[derive(Args)]
pub struct ExportArgs {
    /// `onnx` before the flags, as in `tilelab export onnx --net n2 …`: scripts written before
    /// `--format sparse-json|npy` keep working (it changes nothing).
    #[arg(hide = true, value_parser = ["onnx"])]
    legacy_onnx: Option<String>,
    #[command(flatten)]
    net: NetArgs,
    /// Image height (for the trained net it must match the weights; default: theirs, or 40).
    #[arg(long)]
    height: Option<usize>,
    /// Image width (as --height).
    #[arg(long)]
    width: Option<usize>,
    /// `onnx` (the model), `safetensors` (the same weights under the same names), `sparse-json`
    /// (N1/N2 tap by tap) or `npy` (a folder: one array per weight and bias, and `network.json`).
    #[arg(long, value_enum, default_value = "onnx")]
    format: Format,
    /// Output file (a folder for `--format npy`).
    #[arg(long)]
    out: PathBuf,
}

/// The file format written.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Onnx,
    Safetensors,
    SparseJson,
    Npy,
}

/// Runs `tilelab export …`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let classes = args.net.classes()?;
    let network = args.net.network(&classes, (args.height, args.width))?;
    match (args.format, &network) {
        (Format::Onnx | Format::Safetensors, _) => {
            let graph = match &network {
                Network::Trained(cnn) => {
                    let names: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
                    export_cnn(cnn, &names)?
                }
                // The core's refusal names N2; on the command line that is `--net n2`.
                Network::Constructed(kind, built) => {
                    export_constructed(*kind, built, &classes).with_context(|| match kind {
                        ConstructedKind::N1 => "N1 could not be exported (`--net n2` exports N2 instead)",
                        ConstructedKind::N2 => "N2 could not be exported",
                    })?
                }
            };
            let bytes = if args.format == Format::Onnx { graph.onnx_bytes() } else { graph.safetensors_bytes()? };
            write(&args.out, &bytes)?;
            print_summary(&graph, &args.out, bytes.len());
        }
        (Format::SparseJson, Network::Constructed(_, built)) => {
            write(&args.out, &sparse_json::to_bytes(&built.network)?)?;
            println!("{}", args.out.display());
        }
        (Format::SparseJson, Network::Trained(_)) => {
            bail!("--format sparse-json is for n1 and n2; the trained CNN's JSON is its --weights file")
        }
        (Format::Npy, Network::Constructed(_, built)) => {
            print_files(&weights_npy::write_dense(&built.network, &args.out)?);
        }
        (Format::Npy, Network::Trained(cnn)) => print_files(&weights_npy::write_trained(cnn, &args.out)?),
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

fn print_files(files: &[PathBuf]) {
    for file in files {
        println!("{}", file.display());
    }
}

fn print_summary(graph: &ExportGraph, path: &Path, bytes: usize) {
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
