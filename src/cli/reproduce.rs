//! `tilelab reproduce`: the paper's experiments from the command line (toy, fashion, mnist,
//! figure4 — also for a scene file —, all). With `--json` the last line of output is one JSON object and no progress bar
//! is drawn; otherwise a progress bar runs on stderr.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::core::atomic::write_atomic;
use crate::core::experiments::EpochRecord;
use crate::core::experiments::depth::{self, DepthConfig, MeanSd};
use crate::core::experiments::fashion::{self, FashionConfig, FashionSummary, TileSource};
use crate::core::experiments::figure4::{self, Figure4Config, InvarianceResult, InvarianceSummary};
use crate::core::experiments::figure4_analysis::{self, FirstMove};
use crate::core::experiments::figure4_deformation::{self, DeformationStudy};
use crate::core::experiments::scattering;
use crate::core::experiments::toy::{self, ToyConfig, ToyResult};
use crate::core::nn::arch::Preset;
use crate::core::nn::n2_shaped::{Init, Wiring};
use crate::core::plot;
use crate::core::scattering::Scattering;
use crate::core::scattering::classifier::TrainSettings;
use crate::core::scene::compute;

/// Arguments of `tilelab reproduce`.
#[derive(Args)]
pub struct ReproduceArgs {
    #[command(subcommand)]
    experiment: Experiment,
}

#[derive(Subcommand)]
enum Experiment {
    /// Section 6.1: black vs white 2×2 squares on 4×4 noise, one (or more) 2×2 filters.
    Toy(ToyArgs),
    /// Section 6.2 with Fashion-MNIST tiles: 40×40 noise, conv 5×5×12, FC → 10, 15 epochs.
    Fashion(FashionArgs),
    /// Section 6.2 with MNIST digits as tiles.
    Mnist(FashionArgs),
    /// Figure 4: logits under background perturbation and translation, trained net vs N1.
    Figure4(Figure4Args),
    /// Depth against depth: the paper's and the deep network, per layer, beside N2 (issue 18).
    Depth(DepthArgs),
    /// Everything above, with a Markdown table of our figures beside the paper's claims.
    All(AllArgs),
    /// Wavelet scattering + a linear classifier beside the trained CNN: toy, Fashion and MNIST
    /// tiles, and the bundled MNIST digits alone (150 per class to train, 50 to test).
    Scattering(ScatteringArgs),
}

#[derive(Args)]
struct ScatteringArgs {
    /// Folder for `scattering.json`.
    #[arg(long, default_value = "scattering")]
    out: PathBuf,
    /// Seed of the data, the classifiers and the CNNs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print one JSON array (the last line) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DepthArgs {
    /// Seeds 1..=N per architecture; the table gives mean ± sd over them.
    #[arg(long, default_value_t = 3)]
    seeds: usize,
    /// Three Fashion classes (the paper's Figure 4 tiles) or all ten.
    #[arg(long, default_value_t = 3)]
    classes: usize,
    /// Print the rows as one JSON array (the last line) and no progress.
    #[arg(long)]
    json: bool,
    /// Folder for `depth.json`, `depth.md` and the figures (PNG and SVG).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct ToyArgs {
    /// Seed of the data, the initial weights and the shuffling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of 2×2 conv filters (the paper: 1, and "more").
    #[arg(long, default_value_t = 1)]
    filters: usize,
    /// Print one JSON object (the last line) instead of the text report.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FashionArgs {
    /// Seed of the training data, the initial weights and the shuffling (the test set uses another).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Alternative tiles per class (the first K bundled images of each class).
    #[arg(long, default_value_t = 1)]
    tiles_per_class: usize,
    /// Paste only the tile's non-zero pixels (the garment) instead of the whole 28×28 image: harder.
    #[arg(long)]
    garment_only: bool,
    /// Print one JSON object (the last line) and no progress bar.
    #[arg(long)]
    json: bool,
    /// The trained network: the paper's (conv 5×5×12, FC), the deep one (two conv + pool blocks)
    /// or N2's own layers and wiring for the tile set, trained by SGD (momentum 0.9, lr 0.01).
    #[arg(long, value_enum, default_value = "paper")]
    arch: FashionArch,
    /// For `--arch n2-shaped`: start from random weights or from N2's own.
    #[arg(long, value_enum, default_value = "random")]
    init: InitArg,
    /// For `--arch n2-shaped`: N2's connections only, or every channel to every channel (refused
    /// above 200 MFLOP per training sample; three Fashion tiles cost about 1 GFLOP).
    #[arg(long, value_enum, default_value = "sparse")]
    wiring: WiringArg,
}

/// `--arch` of `reproduce fashion` and `reproduce mnist`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FashionArch {
    /// conv 5×5×12, ReLU, FC; plain SGD lr 0.03 (the paper).
    Paper,
    /// conv 3×3×16, ReLU, max-pool, conv 3×3×32, ReLU, max-pool, FC; momentum 0.9, lr 0.01.
    Deep,
    /// N2's layers, channels and wiring for the tile set; momentum 0.9, lr 0.01.
    N2Shaped,
}

/// `--init` of `reproduce fashion --arch n2-shaped`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum InitArg {
    /// U(−1/√n, 1/√n) per unit with n connections, seeded.
    Random,
    /// N2's weights: the untrained network is N2.
    N2,
}

/// `--wiring` of `reproduce fashion --arch n2-shaped`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum WiringArg {
    /// Only N2's connections.
    Sparse,
    /// Every channel to every channel below, at every tap.
    Dense,
}

/// The network a Fashion or MNIST run trains.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FashionNet {
    Preset(Preset),
    N2Shaped(Wiring, Init),
}

impl FashionArgs {
    fn net(&self) -> FashionNet {
        let preset = match self.arch {
            FashionArch::Paper => Preset::Paper,
            FashionArch::Deep => Preset::Deep,
            FashionArch::N2Shaped => {
                let wiring = if self.wiring == WiringArg::Dense { Wiring::Dense } else { Wiring::Sparse };
                let init = if self.init == InitArg::N2 { Init::N2 } else { Init::Random };
                return FashionNet::N2Shaped(wiring, init);
            }
        };
        FashionNet::Preset(preset)
    }
}

/// `--arch` of `reproduce fashion` and `bench train`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ArchArg {
    /// conv 5×5×12, ReLU, FC; plain SGD lr 0.03 (the paper).
    Paper,
    /// conv 3×3×16, ReLU, max-pool, conv 3×3×32, ReLU, max-pool, FC; momentum 0.9, lr 0.01.
    Deep,
}

impl ArchArg {
    /// The core preset.
    pub fn preset(self) -> Preset {
        match self {
            Self::Paper => Preset::Paper,
            Self::Deep => Preset::Deep,
        }
    }
}

#[derive(Args)]
struct Figure4Args {
    /// Folder for the CSV, JSON, PNG and SVG files.
    #[arg(long, default_value = "figure4")]
    out: PathBuf,
    /// Seed of the training run and of the perturbations.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A scene file (`.tilelab`): its tiles, Figure 4 settings and network (its embedded model, else
    /// its trained weights, else a CNN trained now from its seeds) instead of the paper's setting.
    #[arg(long, conflicts_with_all = ["seed", "epsilon_sweep"])]
    scene: Option<PathBuf>,
    /// Print the JSON summary as the last line and no progress bar.
    #[arg(long)]
    json: bool,
    /// Also rerun the study with every tile's ε set to 1/4, 1/2, 1, … 1024 and report, per tile,
    /// the first ε at which N1's logits move (JSON key `epsilon_sweep`).
    #[arg(long)]
    epsilon_sweep: bool,
    /// Also warp each tile's images by a smooth random displacement field of this amplitude (in
    /// pixels) and report how N2, the trained CNN and the scattering network move (JSON key `deformation`).
    #[arg(long)]
    deformation: Option<f32>,
}

#[derive(Args)]
struct AllArgs {
    /// Folder for every result file and the Markdown table `results.md`.
    #[arg(long)]
    out: PathBuf,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs the chosen experiment.
pub fn run(args: &ReproduceArgs) -> anyhow::Result<()> {
    match &args.experiment {
        Experiment::Toy(a) => {
            let result = run_toy(&ToyConfig::paper(a.seed, a.filters), a.json)?;
            print_toy(&result, a.json)
        }
        Experiment::Fashion(a) => run_fashion(TileSource::FashionMnist, a).map(|_| ()),
        Experiment::Mnist(a) => run_fashion(TileSource::Mnist, a).map(|_| ()),
        Experiment::Figure4(a) => match &a.scene {
            Some(scene) => run_figure4_scene(scene, &a.out, a.json),
            None => run_figure4(&a.out, a.seed, a.json, a.epsilon_sweep, a.deformation).map(|_| ()),
        },
        Experiment::Depth(a) => run_depth(a.seeds, a.classes, a.json, &a.out).map(|_| ()),
        Experiment::Scattering(a) => run_scattering(a),
        Experiment::All(a) => run_all(&a.out, a.seed),
    }
}

/// `reproduce depth`: trains, measures, writes `depth.json` and `depth.md` into `out`.
fn run_depth(seeds: usize, classes: usize, json: bool, out: &Path) -> anyhow::Result<String> {
    let config = DepthConfig::new(seeds, classes)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let mut progress = |what: &str, record: &EpochRecord| {
        if !json {
            eprintln!(
                "depth: {what}, epoch {}: loss {:.4}, train accuracy {:.3}",
                record.epoch, record.loss, record.accuracy
            );
        }
    };
    let study = depth::run(&config, &mut progress).context("depth experiment")?;
    let table = depth::table(&config, &study.rows);
    let json_text = serde_json::to_string(&study.rows)?;
    write_atomic(&out.join("depth.json"), serde_json::to_string_pretty(&study.rows)?.as_bytes())
        .context("writing depth.json")?;
    write_atomic(&out.join("depth.md"), table.as_bytes()).context("writing depth.md")?;
    for (stem, figure) in depth::figures(&study) {
        for (extension, format) in [("png", plot::Format::Png { scale: 1.0 }), ("svg", plot::Format::Svg)] {
            let path = out.join(format!("{stem}.{extension}"));
            let bytes = plot::render(&figure, format).with_context(|| format!("drawing {stem}"))?;
            write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    if json {
        println!("{json_text}");
    } else {
        println!("{table}");
        println!("wrote {} and {}", out.join("depth.json").display(), out.join("depth.md").display());
    }
    Ok(table)
}

/// A progress bar over `epochs` epochs on stderr, hidden when `quiet`.
fn epoch_bar(epochs: usize, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(epochs as u64);
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] epoch {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(what.to_owned());
    bar
}

fn show_epoch(bar: &ProgressBar, record: &EpochRecord) {
    bar.set_position(record.epoch as u64);
    bar.set_message(format!("loss {:.4}, train accuracy {:.3}", record.loss, record.accuracy));
}

fn run_toy(config: &ToyConfig, quiet: bool) -> anyhow::Result<ToyResult> {
    let bar = epoch_bar(config.epochs, &format!("toy ({} filter(s))", config.filters), quiet);
    let result = toy::run(config, &mut |r| show_epoch(&bar, r)).context("toy experiment")?;
    bar.finish_and_clear();
    Ok(result)
}

fn print_toy(result: &ToyResult, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(result)?);
        return Ok(());
    }
    println!("{}", toy_report(result));
    Ok(())
}

/// The learned weights and the accuracy, laid out like the paper's printout.
fn toy_report(result: &ToyResult) -> String {
    let c = &result.config;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "toy (Section 6.1): {} filter(s), {} samples, lr {}, batch {}, {} epochs, seed {}",
        c.filters, c.train_samples, c.learning_rate, c.batch_size, c.epochs, c.seed
    );
    for (f, kernel) in result.conv_weights.iter().enumerate() {
        let _ = writeln!(text, "conv filter {f} (bias {:+.4}):", result.conv_bias[f]);
        for row in kernel {
            let _ = writeln!(text, "  {}", row.iter().map(|v| format!("{v:+.4}")).collect::<Vec<_>>().join(" "));
        }
    }
    let names = ["black", "white"];
    for (l, row) in result.fc_weights.iter().enumerate() {
        let _ = writeln!(text, "FC → {} (bias {:+.4}):", names.get(l).unwrap_or(&"?"), result.fc_bias[l]);
        for (f, chunk) in row.chunks(9).enumerate() {
            let _ = writeln!(text, "  filter {f}:");
            for r in chunk.chunks(3) {
                let _ = writeln!(text, "    {}", r.iter().map(|v| format!("{v:+.4}")).collect::<Vec<_>>().join(" "));
            }
        }
    }
    let _ = write!(
        text,
        "test accuracy on {} fresh images: {:.4} (paper: ≈0.95 with 1 filter, >0.99 with more); training {:.2} s",
        c.test_samples, result.test_accuracy, result.train_seconds
    );
    text
}

fn run_fashion(source: TileSource, args: &FashionArgs) -> anyhow::Result<FashionSummary> {
    let config = FashionConfig {
        whole_square: !args.garment_only,
        ..FashionConfig::paper(source, args.seed, args.tiles_per_class)
    };
    let summary = fashion_summary(&config, args.net(), args.json)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", fashion_report(&summary));
    }
    Ok(summary)
}

fn fashion_summary(config: &FashionConfig, net: FashionNet, quiet: bool) -> anyhow::Result<FashionSummary> {
    let name = if config.source == TileSource::Mnist { "mnist" } else { "fashion" };
    if !quiet {
        eprintln!("{name}: generating {} training and {} test images…", config.train_samples, config.test_samples);
    }
    let bar = epoch_bar(config.epochs, name, quiet);
    let mut on_epoch = |r: &EpochRecord| show_epoch(&bar, r);
    let summary = match net {
        FashionNet::Preset(preset) => {
            let run = fashion::run_preset(config, preset, &mut on_epoch)
                .with_context(|| format!("{name} experiment ({} network)", preset.name()))?;
            fashion::summary(config, preset.name(), &run)
        }
        FashionNet::N2Shaped(wiring, init) => {
            let run = fashion::run_n2_shaped(config, wiring, init, &mut on_epoch)
                .with_context(|| format!("{name} experiment (n2-shaped network)"))?;
            FashionSummary {
                init: Some(init.name()),
                wiring: Some(wiring.name()),
                ..fashion::summary(config, "n2-shaped", &run)
            }
        }
    };
    bar.finish_and_clear();
    Ok(summary)
}

fn fashion_report(s: &FashionSummary) -> String {
    let arch = match (s.init, s.wiring) {
        (Some(init), Some(wiring)) => format!("{} (init {init}, {wiring} wiring)", s.arch),
        _ => s.arch.to_owned(),
    };
    format!(
        "{} (Section 6.2), {} network: {} tile(s) per class, {} training images, {} epochs, seed {}\n\
         pasted: {}; test accuracy on {} images: {:.4} (paper: > 0.99), test loss {:.4}\n\
         training loop: {:.2} s, {:.0} samples/s on {} thread(s)",
        s.experiment,
        arch,
        s.tiles_per_class,
        s.train_samples,
        s.epochs,
        s.seed,
        if s.whole_square { "whole 28×28 image" } else { "non-zero pixels only" },
        s.test_samples,
        s.test_accuracy,
        s.test_loss,
        s.train_seconds,
        s.samples_per_second,
        s.threads
    )
}

/// The JSON line of `reproduce figure4`: the spreads, and with `--epsilon-sweep` where N1 first moves.
#[derive(Serialize)]
struct Figure4Json {
    #[serde(flatten)]
    summary: InvarianceSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    epsilon_sweep: Option<Vec<FirstMove>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deformation: Option<DeformationStudy>,
}

fn run_figure4(
    out: &Path,
    seed: u64,
    json: bool,
    sweep: bool,
    deformation: Option<f32>,
) -> anyhow::Result<InvarianceResult> {
    let config = Figure4Config::paper(seed);
    let train = FashionConfig::paper(TileSource::FashionMnist, seed, 1);
    let trained = {
        let bar = epoch_bar(train.epochs, "figure4: training", json);
        let run = fashion::run(&train, &mut |r| show_epoch(&bar, r)).context("training the network for Figure 4")?;
        bar.finish_and_clear();
        run.trained
    };
    let classes = train.classes();
    let (tiles, settings) = (config.tiles(&classes), figure4::Perturbations::random(config.samples, seed));
    let classifier = figure4::Classifier::Cnn(&trained);
    let result = figure4::invariance(&classes, classifier, &tiles, &settings).context("Figure 4 perturbations")?;
    let written =
        figure4::write_outputs(&result, out).with_context(|| format!("writing Figure 4 to {}", out.display()))?;
    let epsilon_sweep = if sweep {
        let grid = figure4_analysis::epsilon_grid();
        Some(figure4_analysis::epsilon_sweep(&classes, classifier, &tiles, &settings, &grid).context("the ε sweep")?)
    } else {
        None
    };
    let deformation = match deformation {
        Some(tau) => Some(deformation_study(&classes, &trained, &tiles, config.samples, tau, seed)?),
        None => None,
    };
    let deformation_written = match &deformation {
        Some(study) => figure4_deformation::write_outputs(study, out)
            .with_context(|| format!("writing the deformation study to {}", out.display()))?,
        None => Vec::new(),
    };
    if json {
        println!("{}", serde_json::to_string(&Figure4Json { summary: result.summary(), epsilon_sweep, deformation })?);
    } else {
        println!("{}", figure4::report(&result));
        for first in epsilon_sweep.iter().flatten() {
            match first.epsilon {
                Some(epsilon) => println!(
                    "'{}': N1's logits first move at ε = {epsilon} ({} of {} images)",
                    first.name, first.images, first.of
                ),
                None => println!("'{}': N1's logits never move in the sweep", first.name),
            }
        }
        if let Some(study) = &deformation {
            print!("{}", figure4_deformation::report(study));
        }
        for path in written.iter().chain(&deformation_written) {
            println!("wrote {}", path.display());
        }
    }
    Ok(result)
}

/// Figure 4 for a scene: the numbers the app's Invariance view shows once the scene's network is trained.
fn run_figure4_scene(path: &Path, out: &Path, json: bool) -> anyhow::Result<()> {
    let scene = super::scene::open(path)?;
    let trains = scene.trained.is_none() && scene.model.is_none();
    let bar = epoch_bar(if trains { scene.training.epochs } else { 0 }, "figure4: training", json || !trains);
    let compared = compute::compared_trained(&scene, &mut |train, _test| {
        show_epoch(&bar, &EpochRecord { epoch: train.epoch as usize, loss: train.loss, accuracy: train.accuracy });
    })
    .context("training the scene's network")?;
    bar.finish_and_clear();
    let result = compute::invariance(&scene, &compared).context("Figure 4 perturbations")?;
    let written =
        figure4::write_outputs(&result, out).with_context(|| format!("writing Figure 4 to {}", out.display()))?;
    if json {
        println!("{}", serde_json::to_string(&result.summary())?);
    } else {
        println!("Figure 4 of {} against the {}", path.display(), compared.caption());
        println!("{}", figure4::report(&result));
        for path in written {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}

/// Figure 4's small deformations: N2, the trained CNN, and scattering (J = 3, L = 8) with a linear
/// classifier fitted on the Fashion setting's training images.
fn deformation_study(
    classes: &crate::core::tile::ClassSet,
    trained: &crate::core::nn::cnn::Cnn,
    tiles: &[crate::core::tile::TileId],
    samples: usize,
    tau: f32,
    seed: u64,
) -> anyhow::Result<DeformationStudy> {
    let setting = scattering::Setting::Fashion;
    let (train, test) = fashion::datasets(&FashionConfig::paper(TileSource::FashionMnist, seed, 1))?;
    let (model, ..) =
        scattering::fit_and_test(setting.spec(), &train, &test, classes.len(), &TrainSettings::standard(seed))?;
    let net = Scattering::new(setting.spec(), 40, 40)?;
    let networks =
        figure4_deformation::Networks { cnn: trained, scattering: &net, scattering_classifier: Some(&model) };
    figure4_deformation::deformation_study(classes, &networks, tiles, samples, tau, seed)
        .context("the deformation study")
}

/// `reproduce scattering`: every setting, a table (or JSON) and `scattering.json`.
fn run_scattering(args: &ScatteringArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut rows = Vec::new();
    for setting in scattering::Setting::ALL {
        if !args.json {
            eprintln!("scattering: {} …", setting.name());
        }
        rows.push(scattering::compare(setting, args.seed).with_context(|| format!("the {} setting", setting.name()))?);
    }
    let path = args.out.join("scattering.json");
    write_atomic(&path, serde_json::to_string_pretty(&rows)?.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    println!(
        "{:<14} {:>12} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "setting", "J, L, order", "train", "scatter", "time (s)", "CNN", "time (s)"
    );
    for r in &rows {
        println!(
            "{:<14} {:>12} {:>8} {:>9.1}% {:>10.2} {:>9.1}% {:>10.2}",
            r.setting,
            format!("{}, {}, {}", r.spec.j, r.spec.l, r.spec.max_order),
            r.train_samples,
            100.0 * r.scattering_test_accuracy,
            r.scattering_transform_seconds + r.scattering_fit_seconds,
            100.0 * r.cnn_test_accuracy,
            r.cnn_train_seconds
        );
    }
    println!("wrote {}", path.display());
    Ok(())
}

/// Runs every experiment and writes `results.md`: our figure beside the paper's claim.
fn run_all(out: &Path, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let toy_one = run_toy(&ToyConfig::paper(seed, 1), false)?;
    let toy_four = run_toy(&ToyConfig::paper(seed, 4), false)?;
    let fashion = fashion_summary(
        &FashionConfig::paper(TileSource::FashionMnist, seed, 1),
        FashionNet::Preset(Preset::Paper),
        false,
    )?;
    let mnist_seeds: Vec<FashionSummary> = (seed..seed + 3)
        .map(|s| {
            fashion_summary(&FashionConfig::paper(TileSource::Mnist, s, 1), FashionNet::Preset(Preset::Paper), false)
        })
        .collect::<anyhow::Result<_>>()?;
    let mnist_accuracy = MeanSd::of(&mnist_seeds.iter().map(|m| f64::from(m.test_accuracy)).collect::<Vec<_>>());
    let mnist = mnist_seeds.into_iter().next().context("three MNIST runs")?;
    let figure = run_figure4(&out.join("figure4"), seed, false, false, None)?;
    let depth_table = run_depth(3, 3, false, &out.join("depth"))?;
    let files = [
        ("toy_1_filter.json", serde_json::to_string_pretty(&toy_one)?),
        ("toy_4_filters.json", serde_json::to_string_pretty(&toy_four)?),
        ("fashion.json", serde_json::to_string_pretty(&fashion)?),
        ("mnist.json", serde_json::to_string_pretty(&mnist)?),
    ];
    for (name, text) in files {
        write_atomic(&out.join(name), text.as_bytes()).with_context(|| format!("writing {name}"))?;
    }
    let mut table = results_table(&toy_one, &toy_four, &fashion, (&mnist, mnist_accuracy, seed), &figure);
    table.push('\n');
    table.push_str(&depth_table);
    let path = out.join("results.md");
    write_atomic(&path, table.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    println!("{table}");
    println!("wrote {}", path.display());
    Ok(())
}

/// The Markdown table of `reproduce all`.
fn results_table(
    toy_one: &ToyResult,
    toy_four: &ToyResult,
    fashion: &FashionSummary,
    mnist: (&FashionSummary, Option<MeanSd>, u64),
    figure: &InvarianceResult,
) -> String {
    let (mnist, mnist_accuracy, first_seed) = mnist;
    let mut text = String::from("# tilelab: the paper's experiments reproduced\n\n");
    text.push_str("| experiment | paper | tilelab |\n| --- | --- | --- |\n");
    let rows = [
        ("Toy (6.1), 1 filter: test accuracy", "≈ 95%".to_owned(), format!("{:.1}%", 100.0 * toy_one.test_accuracy)),
        ("Toy (6.1), 4 filters: test accuracy", "> 99%".to_owned(), format!("{:.1}%", 100.0 * toy_four.test_accuracy)),
        (
            "Fashion-MNIST tiles (6.2): test accuracy",
            "> 99%".to_owned(),
            format!("{:.1}% ({:.1} s of training)", 100.0 * fashion.test_accuracy, fashion.train_seconds),
        ),
        (
            "MNIST tiles (6.2): test accuracy",
            "> 99%".to_owned(),
            match mnist_accuracy {
                Some(a) => format!(
                    "{:.1}% ± {:.1} (seeds {first_seed}–{}; seed {first_seed}: {:.1}%)",
                    100.0 * a.mean,
                    100.0 * a.sd,
                    first_seed + 2,
                    100.0 * mnist.test_accuracy
                ),
                None => format!("{:.1}%", 100.0 * mnist.test_accuracy),
            },
        ),
    ];
    for (what, paper, ours) in rows {
        let _ = writeln!(text, "| {what} | {paper} | {ours} |");
    }
    for line in figure4::table_rows(figure) {
        text.push_str(&line);
        text.push('\n');
    }
    let _ = writeln!(
        text,
        "\nToy batch size: {} (the paper does not state it). Training speed of the Fashion run: {:.0} samples/s on {} thread(s).",
        toy_one.config.batch_size, fashion.samples_per_second, fashion.threads
    );
    text.push_str("Figure 4 files (CSV, JSON, PNG, SVG) are in `figure4/`.\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toy_report_shows_weights_and_accuracy() {
        let result = ToyResult {
            config: ToyConfig::paper(1, 1),
            test_accuracy: 0.95,
            test_loss: 0.1,
            train_seconds: 0.5,
            conv_weights: vec![vec![vec![1.0, -1.0], vec![0.5, 0.25]]],
            conv_bias: vec![0.1],
            fc_weights: vec![vec![0.0; 9], vec![1.0; 9]],
            fc_bias: vec![0.0, 0.0],
            epochs: Vec::new(),
        };
        let text = toy_report(&result);
        assert!(text.contains("+1.0000 -1.0000"));
        assert!(text.contains("FC → white"));
        assert!(text.contains("0.9500"));
    }
}
