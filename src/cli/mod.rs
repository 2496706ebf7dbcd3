//! The command line: `tilelab` with no command opens the app; each subcommand runs headless.

mod activations;
mod bench;
mod bench_construct;
mod bench_import;
mod bench_interpret;
mod bench_scaling;
mod bench_scatter;
mod bench_train;
mod dataset;
mod export;
mod figures;
mod interpret;
mod logits;
mod network;
mod reproduce;
mod run_model;
mod scatter;
mod scene;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// tilelab: hand-constructed monosemantic CNNs beside SGD-trained ones.
#[derive(Parser)]
#[command(name = "tilelab", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// A scene file (`.tilelab`) to open the app on.
    scene: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check N1 and N2 against the direct detectors on random tile sets and datasets.
    Verify(verify::VerifyArgs),
    /// Print the logits of the direct φ, N1 and N2 for one greyscale PNG.
    Logits(logits::LogitsArgs),
    /// Reproduce the paper's experiments (toy, fashion, mnist, figure4, all).
    Reproduce(reproduce::ReproduceArgs),
    /// Benchmark the detectors, the constructed networks and SGD training.
    Bench(bench::BenchArgs),
    /// Write a generated dataset as NumPy files (images, labels, offsets) and a contact sheet.
    Dataset(dataset::DatasetArgs),
    /// Export N1, N2 or the trained CNN as ONNX, safetensors, sparse JSON or NPY weights.
    Export(export::ExportArgs),
    /// Write every layer's output of N1, N2 or the trained CNN on one image (CSV or NPY).
    Activations(activations::ActivationsArgs),
    /// Write the paper-style figure pack (tiles, samples, N2's layers, logits) as PNG/SVG/CSV, or a scene's view figures.
    Figures(figures::FiguresArgs),
    /// Scene files (`.tilelab`) and links: print a scene's link, write a link's scene, check a scene.
    Scene(scene::SceneArgs),
    /// Open the app on a scene file (`tilelab F.tilelab` does the same).
    Open {
        /// The scene file.
        file: PathBuf,
    },
    /// Write the wavelet scattering coefficients of one greyscale image as NumPy float32 [K, H', W'].
    Scatter(scatter::ScatterArgs),
    /// Run an ONNX model on NumPy inputs (any batch and channel count); write its outputs as .npy.
    Run(run_model::RunArgs),
    /// Preferred stimuli, top examples and attributions of N1, N2, the trained CNN or an ONNX model, scored against the tiles' known windows.
    Interpret(interpret::InterpretArgs),
}

/// Parses the arguments, runs the command (or the app) and turns errors into a message.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        None => open_app(cli.scene.clone()),
        Some(Command::Open { file }) => open_app(Some(file.clone())),
        Some(Command::Verify(args)) => verify::run(args),
        Some(Command::Logits(args)) => logits::run(args),
        Some(Command::Reproduce(args)) => reproduce::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Dataset(args)) => dataset::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Activations(args)) => activations::run(args),
        Some(Command::Figures(args)) => figures::run(args),
        Some(Command::Scene(args)) => scene::run(args),
        Some(Command::Scatter(args)) => scatter::run(args),
        Some(Command::Run(args)) => run_model::run(args),
        Some(Command::Interpret(args)) => interpret::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts the app, on `scene` if given (checked first, so a broken file is reported here).
#[cfg(feature = "gui")]
fn open_app(scene: Option<PathBuf>) -> anyhow::Result<()> {
    if let Some(path) = &scene {
        scene::open(path)?;
    }
    crate::app::run(scene)
}

#[cfg(not(feature = "gui"))]
fn open_app(_scene: Option<PathBuf>) -> anyhow::Result<()> {
    anyhow::bail!("this build has no desktop app (built without the `gui` feature); see `tilelab --help`")
}
