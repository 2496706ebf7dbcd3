//! `tilelab interpret`: the interpretability methods of `core::interpret` on N1, N2, the trained
//! CNN or an ONNX model, scored against the dataset's ground truth. Writes `report.md` with its
//! figures, `preferred.npy` `[U, H, W]` with `units.json` (one object per row), and
//! `attribution.npy` `[M, N, H, W]` with `attribution.json` (the methods and the samples).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use ndarray::{Array2, s};
use serde_json::{Value, json};

use super::network::{Net, NetArgs, Network};
use crate::core::atomic::write_atomic;
use crate::core::dataset::{DatasetSpec, Sample, generate};
use crate::core::experiments::fashion::datasets_of;
use crate::core::experiments::train_epochs;
use crate::core::export::{create_folder, save_figure, save_npy};
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::interpret::study::{Study, UnitKind, study};
use crate::core::interpret::{AscentOptions, Model};
use crate::core::nn::cnn::{Cnn, CnnSpec};
use crate::core::nn::train::Hyper;
use crate::core::nn::weights_file;
use crate::core::plot::{Colormap, Figure, FigureKind, Heatmap, HeatmapGrid};
use crate::core::tile::ClassSet;

/// Arguments of `tilelab interpret`.
#[derive(Args)]
pub struct InterpretArgs {
    /// The tile set (JSON), or a scene file (`.tilelab`, e.g. `assets/scenes/fashion-three.tilelab`)
    /// whose tile set is taken: the classes, the tiles of N1/N2 and the dataset's tiles.
    #[arg(long)]
    tileset: PathBuf,
    /// `n1`, `n2`, `trained` (the --weights, or without them the paper's CNN trained now on the
    /// tile set and saved as `weights.json` in --out) or an ONNX model file (`MODEL.onnx`).
    #[arg(long)]
    net: String,
    /// Trained weights (JSON from the app or `reproduce`), for `--net trained`.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Image height (default 40, or the trained or ONNX model's own).
    #[arg(long)]
    height: Option<usize>,
    /// Image width (default 40, or the trained or ONNX model's own).
    #[arg(long)]
    width: Option<usize>,
    /// Dataset samples to attribute (spread over the classes).
    #[arg(long, default_value_t = 12)]
    samples: usize,
    /// Seed of the dataset and of the ascents' starting noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object: `recovery` (share of constructed detectors recovered, null for
    /// other networks), `block_recovery`, and `methods` with each method's `pointing_game` and
    /// `mass_in_window`.
    #[arg(long)]
    json: bool,
    /// Output folder (created if needed).
    #[arg(long)]
    out: PathBuf,
}

/// Most samples (each costs four attributions).
const MAX_SAMPLES: usize = 1000;

/// Runs `tilelab interpret …`.
pub fn run(args: &InterpretArgs) -> anyhow::Result<()> {
    if args.samples == 0 || args.samples > MAX_SAMPLES {
        bail!("--samples must lie between 1 and {MAX_SAMPLES}, got {}", args.samples);
    }
    let net_args = |net| NetArgs { net, tileset: args.tileset.clone(), weights: args.weights.clone() };
    let classes = if args.tileset.extension().is_some_and(|e| e.eq_ignore_ascii_case("tilelab")) {
        super::scene::open(&args.tileset)?.tiles.classes()
    } else {
        net_args(Net::N1).classes()?
    };
    let size = (args.height, args.width);
    let options = AscentOptions { seed: args.seed, ..AscentOptions::default() };
    let (name, result) = match args.net.as_str() {
        "n1" | "n2" | "trained" => {
            let net = match args.net.as_str() {
                "n1" => Net::N1,
                "n2" => Net::N2,
                _ => Net::Trained,
            };
            let network = if matches!(net, Net::Trained) && args.weights.is_none() {
                Network::Trained(train_paper_cnn(&classes, size, args)?)
            } else {
                net_args(net).network(&classes, size)?
            };
            match network {
                Network::Constructed(_, built) => {
                    let samples = samples(&classes, built.network.input(), args)?;
                    let model = Model::Sparse(&built.network);
                    (args.net.to_uppercase(), (study(&model, Some((&classes, &built)), &samples, &options)?, samples))
                }
                Network::Trained(cnn) => {
                    let spec = cnn.spec();
                    let network = cnn.to_network();
                    let samples = samples(&classes, (spec.height, spec.width), args)?;
                    let model = Model::Dense { network: &network, input: (spec.height, spec.width) };
                    ("trained CNN".to_owned(), (study(&model, None, &samples, &options)?, samples))
                }
            }
        }
        path if Path::new(path).extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) => {
            let model =
                OnnxModel::load(Path::new(path)).with_context(|| format!("cannot load the ONNX model {path}"))?;
            let input = model.input_size();
            if size.0.is_some_and(|h| h != input.0) || size.1.is_some_and(|w| w != input.1) {
                bail!("the ONNX model takes {}×{} images", input.0, input.1);
            }
            let samples = samples(&classes, input, args)?;
            (path.to_owned(), (study(&Model::Onnx(&model), None, &samples, &options)?, samples))
        }
        other => bail!("--net must be n1, n2, trained or a file ending in .onnx, got '{other}'"),
    };
    let (result, samples) = result;
    write_outputs(&args.out, &name, &classes, &result, &samples)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary(&result))?);
    } else {
        println!("{}", table(&name, &result));
        println!("wrote {}", args.out.join("report.md").display());
    }
    Ok(())
}

/// Without `--weights`, `--net trained` trains the paper's CNN (conv 5×5×12 → `ReLU` → FC) on
/// 4,000 40×40 images of the tile set (15 epochs, plain SGD, lr 0.03, batch 100, `--seed`), as
/// `reproduce fashion` does with the ten classes, and saves it as `weights.json` in `--out`.
fn train_paper_cnn(
    classes: &ClassSet,
    size: (Option<usize>, Option<usize>),
    args: &InterpretArgs,
) -> anyhow::Result<Cnn> {
    if size.0.is_some_and(|h| h != 40) || size.1.is_some_and(|w| w != 40) {
        bail!("training the CNN without --weights uses 40×40 images (the paper's setting)");
    }
    let (train, test) = datasets_of(classes, 4000, 1000, args.seed).context("cannot generate the training images")?;
    let spec = CnnSpec { classes: classes.len(), ..CnnSpec::fashion() };
    let run = train_epochs(spec, Hyper::plain(0.03, 100), train, test, args.seed, 15, &mut |_| {})
        .context("cannot train the CNN")?;
    create_folder(&args.out)?;
    let path = args.out.join("weights.json");
    weights_file::save(&path, &run.trained).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!(
        "trained the paper's CNN: test accuracy {:.1} %, weights in {}",
        100.0 * run.test.accuracy,
        path.display()
    );
    Ok(run.trained)
}

/// `samples` dataset images, taken in turn from each class.
fn samples(classes: &ClassSet, (height, width): (usize, usize), args: &InterpretArgs) -> anyhow::Result<Vec<Sample>> {
    let per_class = args.samples.div_ceil(classes.len().max(1));
    let spec = DatasetSpec { height, width, samples_per_class: per_class, seed: args.seed, ..DatasetSpec::default() };
    let dataset = generate(classes, &spec).context("cannot generate the dataset")?;
    let mut by_class: Vec<Vec<Sample>> = vec![Vec::new(); classes.len()];
    for sample in dataset.samples {
        if let Some(list) = by_class.get_mut(sample.label) {
            list.push(sample);
        }
    }
    let mut picked = Vec::with_capacity(args.samples);
    for round in 0..per_class {
        picked.extend(by_class.iter().filter_map(|list| list.get(round).cloned()));
    }
    picked.truncate(args.samples);
    Ok(picked)
}

fn kind_name(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Detector => "detector",
        UnitKind::Block => "block",
        UnitKind::Feature => "feature",
    }
}

fn summary(result: &Study) -> Value {
    let methods: serde_json::Map<String, Value> = result
        .methods
        .iter()
        .map(|m| {
            (
                m.method.name().to_owned(),
                json!({ "pointing_game": m.pointing_game, "mass_in_window": m.mass_in_window }),
            )
        })
        .collect();
    let skipped: serde_json::Map<String, Value> =
        result.skipped.iter().map(|(name, why)| ((*name).to_owned(), json!(why))).collect();
    json!({
        "recovery": result.recovery(),
        "block_recovery": result.block_recovery(),
        "methods": methods,
        "skipped": skipped,
    })
}

fn units_json(result: &Study) -> Value {
    Value::Array(
        result
            .units
            .iter()
            .map(|u| {
                json!({
                    "layer": u.layer,
                    "channel": u.channel,
                    "window": [u.window.0, u.window.1],
                    "tile": u.tile,
                    "kind": kind_name(u.kind),
                    "distance": u.recovery.map(|r| r.distance),
                    "epsilon": u.recovery.map(|r| r.epsilon),
                    "recovered": u.recovery.map(|r| r.recovered),
                })
            })
            .collect(),
    )
}

fn attribution_json(result: &Study, samples: &[Sample]) -> Value {
    json!({
        "methods": result.methods.iter().map(|m| m.method.name()).collect::<Vec<_>>(),
        "skipped": result.skipped.iter().map(|(name, why)| json!({ "method": name, "reason": why })).collect::<Vec<_>>(),
        "baseline_grey": result.baseline,
        "samples": samples.iter().enumerate().map(|(n, s)| json!({
            "index": n,
            "label": s.label,
            "class_attributed": s.label,
            "windows": s.placements.iter().map(|p| json!({ "row": p.row, "col": p.col, "rows": p.rows, "cols": p.cols })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

fn write_json(path: &Path, value: &Value) -> anyhow::Result<()> {
    write_atomic(path, serde_json::to_string_pretty(value)?.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn write_outputs(out: &Path, name: &str, classes: &ClassSet, result: &Study, samples: &[Sample]) -> anyhow::Result<()> {
    create_folder(out).with_context(|| format!("cannot create {}", out.display()))?;
    save_npy(&out.join("preferred.npy"), &result.preferred)?;
    save_npy(&out.join("attribution.npy"), &result.attribution)?;
    write_json(&out.join("units.json"), &units_json(result))?;
    write_json(&out.join("attribution.json"), &attribution_json(result, samples))?;
    if !result.units.is_empty() {
        save_figure(&out.join("preferred.png"), &preferred_figure(classes, result))?;
    }
    if !result.methods.is_empty() {
        save_figure(&out.join("attribution.png"), &attribution_figure(result, samples))?;
    }
    let report = report(name, result);
    write_atomic(&out.join("report.md"), report.as_bytes()).context("cannot write report.md")?;
    Ok(())
}

/// Each unit's preferred stimulus, and for constructed units its tile pasted at its window on grey.
fn preferred_figure(classes: &ClassSet, result: &Study) -> Figure {
    let mut panels = Vec::new();
    let constructed = result.units.iter().any(|u| u.tile.is_some());
    for (row, unit) in result.units.iter().enumerate() {
        let stimulus = result.preferred.slice(s![row, .., ..]).to_owned();
        panels.push(Heatmap {
            label: format!("{} {} ch {}", kind_name(unit.kind), row, unit.channel),
            values: stimulus.clone(),
        });
        if constructed {
            let mut truth = Array2::from_elem(stimulus.dim(), 0.5);
            // A block channel is drawn as its block alone, at the window it reads.
            let (top, left, side) = unit.block.unwrap_or((0, 0, usize::MAX));
            if let Some((_, tile)) = unit.tile.and_then(|t| classes.tiles().nth(t)) {
                for (a, b, value) in tile.support_pixels() {
                    if !(top..top.saturating_add(side)).contains(&a) || !(left..left.saturating_add(side)).contains(&b)
                    {
                        continue;
                    }
                    if let Some(pixel) = truth.get_mut((unit.window.0 + a - top, unit.window.1 + b - left)) {
                        *pixel = value;
                    }
                }
            }
            let label = if unit.block.is_some() { "its block at its window" } else { "its tile at its window" };
            panels.push(Heatmap { label: label.into(), values: truth });
        }
    }
    let cols = if constructed { 4 } else { 6 };
    let grid =
        HeatmapGrid { cols, colormap: Colormap::Gray, range: Some((0.0, 1.0)), colorbar_label: "pixel".into(), panels };
    Figure::new("Preferred stimuli", FigureKind::HeatmapGrid(grid))
}

/// One row per sample (at most six): each method's map, scaled to its largest absolute value.
fn attribution_figure(result: &Study, samples: &[Sample]) -> Figure {
    let mut panels = Vec::new();
    for n in 0..samples.len().min(6) {
        for (m, scores) in result.methods.iter().enumerate() {
            let map = result.attribution.slice(s![m, n, .., ..]);
            let largest = map.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            let values = if largest > 0.0 { map.mapv(|v| v / largest) } else { map.to_owned() };
            panels.push(Heatmap { label: format!("sample {n}: {}", scores.method.name()), values });
        }
    }
    let grid = HeatmapGrid {
        cols: result.methods.len().max(1),
        colormap: Colormap::Diverging,
        range: Some((-1.0, 1.0)),
        colorbar_label: "share of largest".into(),
        panels,
    };
    Figure::new("Attribution of each sample's class", FigureKind::HeatmapGrid(grid))
}

fn percent(value: Option<f32>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.0} %", 100.0 * v))
}

/// The score table, in Markdown.
fn table(name: &str, result: &Study) -> String {
    let mut text = format!("| {name} | pointing game | mass in window |\n|---|---|---|\n");
    for m in &result.methods {
        let _ = writeln!(
            text,
            "| {} | {} | {} |",
            m.method.name(),
            percent(Some(m.pointing_game)),
            percent(Some(m.mass_in_window))
        );
    }
    for (method, why) in &result.skipped {
        let _ = writeln!(text, "| {method} | skipped: {why} | |");
    }
    let _ = write!(
        text,
        "\nRecovery of the constructed detectors' tiles: {}; of N2's block channels: {}.",
        percent(result.recovery()),
        percent(result.block_recovery())
    );
    text
}

fn report(name: &str, result: &Study) -> String {
    let mut text = format!("# Interpretability of {name}, checked against ground truth\n\n");
    text.push_str(
        "Each method is scored on dataset samples whose tiles' windows are known: the *pointing game* \
         is the share of samples whose largest absolute attribution lies in a pasted window, *mass in \
         window* the mean share of absolute attribution there. Integrated gradients (50 steps) and \
         occlusion (4-pixel patches) use the mean background as baseline",
    );
    let _ = writeln!(text, " (grey {:.3}).\n", result.baseline);
    text.push_str(&table(name, result));
    text.push_str("\n\n");
    if !result.units.is_empty() {
        text.push_str(
            "## Preferred stimuli\n\nGradient ascent from noise (`preferred.npy`, rows as in `units.json`). A \
             constructed detector is *recovered* when its preferred stimulus holds its tile at its window \
             (`d_T < ε`); N2's block channels measure a distance, so theirs is minimised.\n\n",
        );
        text.push_str("| row | kind | layer | channel | window | tile | d | ε | recovered |\n|---|---|---|---|---|---|---|---|---|\n");
        for (row, u) in result.units.iter().enumerate() {
            let (d, e, r) = u.recovery.map_or(("–".into(), "–".into(), "–".into()), |r| {
                (
                    format!("{:.3}", r.distance),
                    format!("{:.3}", r.epsilon),
                    if r.recovered { "yes" } else { "no" }.to_owned(),
                )
            });
            let tile = u.tile.map_or_else(|| "–".to_owned(), |t| t.to_string());
            let _ = writeln!(
                text,
                "| {row} | {} | {} | {} | {:?} | {tile} | {d} | {e} | {r} |",
                kind_name(u.kind),
                u.layer,
                u.channel,
                u.window
            );
        }
        text.push_str("\n![Preferred stimuli](preferred.png)\n\n");
    }
    if !result.methods.is_empty() {
        text.push_str("## Attributions\n\n![Attributions](attribution.png)\n");
    }
    text
}
