//! `tilelab bench construct --scaling`: how N1 and N2 grow with the image side (40, 80, 160, 256)
//! and the number of tiles (1, 3, 10, 30 Fashion-MNIST tiles with full 28×28 support): parameters
//! (non-zero and dense), build time, time per image and peak memory, beside the paper's bounds
//! (N1: `4(Σ|supp t| + 1)` conv filters; N2: channels per layer), and a log-log figure; then
//! N2's time per image and peak memory against issue 21's targets in its two required cases.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::core::atomic::write_atomic;
use crate::core::construct::{ConstructError, Which, filter_report, n1_weights};
use crate::core::nn::sparse::SparseError;
use crate::core::plot::{self, Curve, Figure, FigureKind, LineChart};
use crate::core::tile::ClassSet;
use crate::core::{detect, presets, verify};

/// Image sides measured.
const SIDES: [usize; 4] = [40, 80, 160, 256];
/// Numbers of tiles measured.
const TILE_COUNTS: [usize; 4] = [1, 3, 10, 30];
/// Images timed per network and size (the median is reported).
const IMAGES: usize = 3;
/// The cases N2 must run in at most [`TARGET_MS`] per image and [`TARGET_MIB`] peak: `(tiles, side)`.
const REQUIRED: [(usize, usize); 2] = [(10, 256), (50, 128)];
/// Issue 21's target for N2's time per image, in milliseconds.
const TARGET_MS: f64 = 1000.0;
/// Issue 21's target for N2's peak memory, in MiB (1 GB).
const TARGET_MIB: f64 = 1024.0;

/// One network at one size: what it holds and what it costs, or why it was left out.
#[derive(Serialize, Deserialize)]
struct NetworkCost {
    /// Weights and biases that are not zero (for a left-out N1: the hidden layer's weights it
    /// would need).
    params_nonzero: usize,
    /// The same layers stored densely (`None` when left out).
    params_dense: Option<usize>,
    /// Units (channels or neurons) per layer.
    units_per_layer: Vec<usize>,
    build_ms: Option<f64>,
    /// Median over [`IMAGES`] images of the logits alone.
    ms_per_image: Option<f64>,
    /// Peak resident memory (`VmHWM`) of a process that only builds it and runs the images.
    peak_mib: Option<f64>,
    /// N1's conv filters (the paper bounds them by `4(Σ|supp t| + 1)`).
    filters: Option<usize>,
    /// Largest relative error against φ over the timed images.
    max_rel_err: Option<f32>,
    /// Why the network was left out, with the size it would need.
    left_out: Option<String>,
}

/// One row of the measurement.
#[derive(Serialize)]
struct Row {
    side: usize,
    tiles: usize,
    /// The paper's bound `4(Σ|supp t| + 1)` on N1's conv filters for the set.
    n1_filter_bound: usize,
    n1: NetworkCost,
    n2: NetworkCost,
}

/// The first `count` Fashion tiles with full support: one class per tile up to ten, then more
/// tiles per class.
fn tile_set(count: usize) -> ClassSet {
    let per_class = count.div_ceil(10).max(1);
    let mut classes = presets::with_full_support(&presets::fashion_ten(per_class));
    classes.classes.truncate(count.min(10));
    classes
}

/// Runs the measurement, prints it (a table or one JSON object per row) and, given a folder
/// `out`, writes the figure into it.
pub fn run(json: bool, out: Option<&Path>) -> anyhow::Result<()> {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("unknown").to_owned();
    if json {
        println!(
            "{}",
            serde_json::json!({ "bench": "machine", "load_average_1min": load, "threads": rayon::current_num_threads() })
        );
    } else {
        println!("Scaling: Fashion tiles with full 28×28 support, sides {SIDES:?}, tiles {TILE_COUNTS:?}");
        println!("machine load (1 min): {load}, threads: {}", rayon::current_num_threads());
        println!(
            "{:>5} {:>5} | {:>12} {:>16} {:>9} {:>9} {:>8} | {:>10} {:>16} {:>9} {:>9} {:>8} | N1 filters / bound | N2 channels per layer",
            "side",
            "tiles",
            "N1 nonzero",
            "N1 dense",
            "build ms",
            "ms/image",
            "peak MiB",
            "N2 nonzero",
            "N2 dense",
            "build ms",
            "ms/image",
            "peak MiB"
        );
    }
    let mut rows = Vec::new();
    for &tiles in &TILE_COUNTS {
        for &side in &SIDES {
            let row = measure(tiles, side)?;
            if json {
                println!("{}", serde_json::json!({ "bench": "scaling", "row": row }));
            } else {
                print_row(&row);
            }
            rows.push(row);
        }
    }
    required(&rows, json)?;
    let Some(out) = out else {
        if !json {
            println!("figure: not written (pass --out DIR for DIR/scaling.png and DIR/scaling.svg)");
        }
        return Ok(());
    };
    std::fs::create_dir_all(out)?;
    let figure = figure(&rows, &load);
    for (name, format) in [("scaling.png", plot::Format::Png { scale: 1.0 }), ("scaling.svg", plot::Format::Svg)] {
        write_atomic(&out.join(name), &plot::render(&figure, format)?)?;
    }
    if !json {
        println!("figure: {}", out.join("scaling.png").display());
    }
    Ok(())
}

/// N2 in the [`REQUIRED`] cases (from `rows` when measured there, else measured now) against
/// [`TARGET_MS`] and [`TARGET_MIB`], one line or JSON object each.
fn required(rows: &[Row], json: bool) -> anyhow::Result<()> {
    for (tiles, side) in REQUIRED {
        let measured = rows.iter().find(|r| (r.tiles, r.side) == (tiles, side)).map(|r| &r.n2);
        let extra = match measured {
            Some(_) => None,
            None => Some(measure_apart(Which::N2, tiles, side)?),
        };
        let Some(n2) = measured.or(extra.as_ref()) else { continue };
        let (ms, mib) = (n2.ms_per_image.unwrap_or(f64::INFINITY), n2.peak_mib.unwrap_or(f64::INFINITY));
        let met = ms <= TARGET_MS && mib <= TARGET_MIB && n2.max_rel_err.is_some_and(|e| e <= 1e-4);
        if json {
            let line = serde_json::json!({
                "bench": "scaling_target", "tiles": tiles, "side": side, "ms_per_image": n2.ms_per_image,
                "peak_mib": n2.peak_mib, "max_rel_err": n2.max_rel_err, "target_ms": TARGET_MS,
                "target_mib": TARGET_MIB, "met": met,
            });
            println!("{line}");
        } else {
            println!(
                "target: N2, {tiles} tiles of 28×28 on {side}×{side}: {ms:.0} ms/image (≤ {TARGET_MS:.0}), {mib:.0} MiB peak (≤ {TARGET_MIB:.0}), largest relative error to φ {}: {}",
                n2.max_rel_err.map_or_else(|| "—".to_owned(), |e| format!("{e:.1e}")),
                if met { "met" } else { "NOT met" }
            );
        }
    }
    Ok(())
}

/// Measures N1 and N2 for `tiles` tiles on `side×side` images, each in a process of its own so
/// that its peak memory is its own.
fn measure(tiles: usize, side: usize) -> anyhow::Result<Row> {
    let support: usize = tile_set(tiles).tiles().map(|(_, t)| t.support_len()).sum();
    Ok(Row {
        side,
        tiles,
        n1_filter_bound: 4 * (support + 1),
        n1: measure_apart(Which::N1, tiles, side)?,
        n2: measure_apart(Which::N2, tiles, side)?,
    })
}

/// Runs `tilelab bench construct --scaling-case` for one network and reads its JSON line.
fn measure_apart(which: Which, tiles: usize, side: usize) -> anyhow::Result<NetworkCost> {
    let case = format!("{}:{tiles}:{side}", which.name());
    let output = std::process::Command::new(std::env::current_exe()?)
        .args(["bench", "construct", "--scaling-case", &case])
        .output()?;
    if !output.status.success() {
        anyhow::bail!("measuring {case} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    Ok(serde_json::from_str(stdout.lines().last().unwrap_or_default())?)
}

/// `--scaling-case N1|N2:TILES:SIDE`: builds one network, times it on [`IMAGES`] images and
/// prints its [`NetworkCost`] as one JSON line (run by [`measure_apart`] in a child process).
pub fn run_case(case: &str) -> anyhow::Result<()> {
    let parts: Vec<&str> = case.split(':').collect();
    let [name, tiles, side] = parts[..] else { anyhow::bail!("--scaling-case takes N1|N2:TILES:SIDE, got {case}") };
    let which = match name {
        "N1" => Which::N1,
        "N2" => Which::N2,
        _ => anyhow::bail!("--scaling-case names N1 or N2, got {name}"),
    };
    let (tiles, side): (usize, usize) = (tiles.parse()?, side.parse()?);
    let classes = tile_set(tiles);
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let images: Vec<_> =
        (0..IMAGES).map(|i| verify::image_with_object(&mut rng, &classes, i % classes.len(), side, side)).collect();
    let cost = match cost(which, &classes, &images)? {
        Ok(cost) => cost,
        Err(reason) => left_out(&classes, side, reason),
    };
    println!("{}", serde_json::to_string(&cost)?);
    Ok(())
}

/// Builds `which` and times it; `Err(reason)` when it is too large for this size.
fn cost(
    which: Which,
    classes: &ClassSet,
    images: &[ndarray::Array2<f32>],
) -> anyhow::Result<Result<NetworkCost, String>> {
    let Some(first) = images.first() else { anyhow::bail!("no image to time") };
    let (side, _) = first.dim();
    let start = Instant::now();
    let net = match which.build(classes, side, side) {
        Ok(net) => net,
        Err(error @ ConstructError::TooLarge { .. }) => return Ok(Err(error.to_string())),
        Err(error) => return Err(error.into()),
    };
    let build_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::with_capacity(images.len());
    let mut max_rel_err = 0.0f32;
    for image in images {
        let start = Instant::now();
        let logits = match net.logits(image.view()) {
            Ok(logits) => logits,
            Err(error @ SparseError::TooManyValues { .. }) => return Ok(Err(format!("{}: {error}", which.name()))),
            Err(error) => return Err(error.into()),
        };
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        let direct = detect::logits(classes, image.view());
        max_rel_err = max_rel_err.max(verify::max_relative_error(&logits, &direct));
    }
    times.sort_by(f64::total_cmp);
    let report = net.network.report();
    Ok(Ok(NetworkCost {
        params_nonzero: report.iter().map(|r| r.params_nonzero).sum(),
        params_dense: Some(report.iter().map(|r| r.params_dense).fold(0, usize::saturating_add)),
        units_per_layer: report.iter().map(|r| r.units).collect(),
        build_ms: Some(build_ms),
        ms_per_image: times.get(times.len() / 2).copied(),
        peak_mib: status_kib("VmHWM:").map(|kib| kib as f64 / 1024.0),
        filters: (which == Which::N1).then(|| filter_report(&net, classes).filters),
        max_rel_err: Some(max_rel_err),
        left_out: None,
    }))
}

/// A network too large for this size: the weights N1 would need (N2 is never left out for its
/// weights alone) and why it was not built.
fn left_out(classes: &ClassSet, side: usize, reason: String) -> NetworkCost {
    NetworkCost {
        params_nonzero: n1_weights(classes, side, side),
        params_dense: None,
        units_per_layer: Vec::new(),
        build_ms: None,
        ms_per_image: None,
        peak_mib: None,
        filters: None,
        max_rel_err: None,
        left_out: Some(reason),
    }
}

/// A `kB` field of `/proc/self/status`.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn print_row(row: &Row) {
    let opt = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format!("{v:.1}"));
    let dense = |v: Option<usize>| v.map_or_else(|| "—".to_owned(), |v| v.to_string());
    let n1_nonzero = if row.n1.left_out.is_some() {
        format!("({})", row.n1.params_nonzero)
    } else {
        row.n1.params_nonzero.to_string()
    };
    let filters = row.n1.filters.map_or_else(|| "—".to_owned(), |f| f.to_string());
    let channels: Vec<String> = row.n2.units_per_layer.iter().map(ToString::to_string).collect();
    println!(
        "{:>5} {:>5} | {:>12} {:>16} {:>9} {:>9} {:>8} | {:>10} {:>16} {:>9} {:>9} {:>8} | {filters:>6} / {:<9} | {}",
        row.side,
        row.tiles,
        n1_nonzero,
        dense(row.n1.params_dense),
        opt(row.n1.build_ms),
        opt(row.n1.ms_per_image),
        opt(row.n1.peak_mib),
        row.n2.params_nonzero,
        dense(row.n2.params_dense),
        opt(row.n2.build_ms),
        opt(row.n2.ms_per_image),
        opt(row.n2.peak_mib),
        row.n1_filter_bound,
        channels.join("/")
    );
    if let Some(why) = &row.n1.left_out {
        println!("      N1 left out: {why}");
    }
}

/// Log-log: non-zero weights against the image side, N1 (built, or needed when left out) and N2
/// for 1, 10 and 30 tiles, with N1's filter bound `4(Σ|supp t| + 1)` and N2's widest layer for 30.
fn figure(rows: &[Row], load: &str) -> Figure {
    let log = |v: f64| v.max(1.0).log10() as f32;
    let points = |tiles: usize, value: &dyn Fn(&Row) -> f64| -> Vec<(f32, f32)> {
        rows.iter().filter(|r| r.tiles == tiles).map(|r| (log(r.side as f64), log(value(r)))).collect()
    };
    let mut curves = Vec::new();
    for tiles in [1, 10, 30] {
        let name = format!("N1 weights (needed beyond 20 M), {tiles} tiles");
        curves.push(Curve { name, points: points(tiles, &|r| r.n1.params_nonzero as f64) });
        curves.push(Curve {
            name: format!("N2 weights, {tiles} tiles"),
            points: points(tiles, &|r| r.n2.params_nonzero as f64),
        });
    }
    curves.push(Curve {
        name: "N1 conv filters: paper's bound 4(Σ|supp t|+1), 30 tiles".into(),
        points: points(30, &|r| r.n1_filter_bound as f64),
    });
    curves.push(Curve {
        name: "N2 channels of its widest layer, 30 tiles".into(),
        points: points(30, &|r| r.n2.units_per_layer.iter().copied().max().unwrap_or(1) as f64),
    });
    let chart =
        LineChart { x_label: "log10 image side (40, 80, 160, 256)".into(), y_label: "log10 count".into(), curves };
    let title = format!("How N1 and N2 grow with the image (full 28×28 Fashion tiles; load {load} on 2 cores)");
    Figure::new(title, FigureKind::LineChart(chart)).with_size(1100, 700)
}
