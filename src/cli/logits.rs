//! `tilelab logits`: the direct φ, N1 and N2 logits of one greyscale PNG for a tile-set file.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use ndarray::Array2;
use serde::Serialize;

use crate::core::construct::{ConstructError, Constructed, build_n1, build_n2, filter_report};
use crate::core::interop::onnx_import::OnnxModel;
use crate::core::nn::sparse::SparseError;
use crate::core::tile::ClassSet;
use crate::core::{detect, tileset_file};

/// Largest image side accepted (the constructed networks grow with the image).
const MAX_IMAGE_SIDE: u32 = 1024;

/// Arguments of `tilelab logits`.
#[derive(Args)]
pub struct LogitsArgs {
    /// The tile set (JSON, `tilelab-tileset` format).
    #[arg(long, required_unless_present = "model")]
    tileset: Option<PathBuf>,
    /// An ONNX classifier (e.g. exported by `PyTorch`) to run instead of the constructed networks.
    #[arg(long, conflicts_with = "tileset")]
    model: Option<PathBuf>,
    /// A greyscale image (PNG or JPEG; colour is converted to grey), read as pixel/255.
    #[arg(long)]
    image: PathBuf,
    /// Print one JSON object with keys `direct`, `n1`, `n2`, `predicted`, `n1_left_out` (`n1` is
    /// null and `n1_left_out` says why when N1 is too large; with --model: `logits`, `predicted`).
    #[arg(long)]
    json: bool,
}

/// The logits of the three computations, one per class in file order.
#[derive(Serialize)]
struct LogitsOutput {
    classes: Vec<String>,
    direct: Vec<f32>,
    /// `None` when N1 is too large for this image ([`LogitsOutput::n1_left_out`] says why).
    n1: Option<Vec<f32>>,
    n2: Vec<f32>,
    /// Why N1 was left out, with the size it would need.
    n1_left_out: Option<String>,
    /// The argmax of the direct logits, `null` when all are 0.
    predicted: Option<usize>,
}

/// Loads both files, builds N1 and N2 for the image's size and prints the logits.
pub fn run(args: &LogitsArgs) -> anyhow::Result<()> {
    let image = load_grey(&args.image).with_context(|| format!("cannot read the image {}", args.image.display()))?;
    let tileset = match (&args.model, &args.tileset) {
        (Some(model), _) => return run_model(model, &image, args.json),
        (None, Some(tileset)) => tileset,
        (None, None) => anyhow::bail!("give --tileset FILE.json or --model FILE.onnx"),
    };
    let classes =
        tileset_file::load(tileset).with_context(|| format!("cannot load the tile set {}", tileset.display()))?;
    let (height, width) = image.dim();
    let n2 = build_n2(&classes, height, width).context("cannot build N2")?;
    let n1 = n1_if_it_fits(&classes, image.view())?;
    let direct = detect::logits(&classes, image.view());
    let (n1_logits, n1_left_out) = match &n1 {
        Ok((_, logits)) => (Some(logits.clone()), None),
        Err(why) => (None, Some(why.clone())),
    };
    let output = LogitsOutput {
        classes: classes.classes.iter().map(|o| o.name.clone()).collect(),
        predicted: detect::classify(&direct),
        n1: n1_logits,
        n2: n2.logits(image.view())?,
        n1_left_out,
        direct,
    };
    if args.json {
        println!("{}", serde_json::to_string(&output)?);
    } else {
        print_table(&output, (height, width));
        match &n1 {
            Ok((n1, _)) => {
                print_layers("N1", n1);
                let filters = filter_report(n1, &classes);
                println!(
                    "N1 conv filters: {} (paper's bound for the set: 4(Σ|supp t| + 1) = {})",
                    filters.filters, filters.set_bound
                );
            }
            Err(why) => println!("N1 left out: {why}"),
        }
        print_layers("N2", &n2);
    }
    Ok(())
}

/// N1 and its logits, or (when N1 is too large for this image) the one-line reason it is left
/// out; other failures are errors.
fn n1_if_it_fits(
    classes: &ClassSet,
    image: ndarray::ArrayView2<f32>,
) -> anyhow::Result<Result<(Constructed, Vec<f32>), String>> {
    let (height, width) = image.dim();
    let n1 = match build_n1(classes, height, width) {
        Ok(n1) => n1,
        Err(error @ ConstructError::TooLarge { .. }) => return Ok(Err(error.to_string())),
        Err(error) => return Err(anyhow::Error::new(error).context("cannot build N1")),
    };
    match n1.logits(image) {
        Ok(logits) => Ok(Ok((n1, logits))),
        Err(error @ SparseError::TooManyValues { .. }) => Ok(Err(format!("N1: {error}"))),
        Err(error) => Err(error.into()),
    }
}

/// Runs an ONNX classifier on the image: `{"logits": [...], "predicted": i}` or a table.
fn run_model(path: &std::path::Path, image: &Array2<f32>, json: bool) -> anyhow::Result<()> {
    let model = OnnxModel::load(path).with_context(|| format!("cannot load the model {}", path.display()))?;
    let logits = model.logits(image.view())?;
    let predicted = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b]));
    if json {
        println!("{}", serde_json::json!({ "logits": logits, "predicted": predicted }));
    } else {
        for (class, value) in logits.iter().enumerate() {
            println!("class {class:<4} {value:>12.6}");
        }
        println!("predicted: {}", predicted.map_or_else(|| "none".to_owned(), |p| p.to_string()));
    }
    Ok(())
}

/// The per-layer report: units, kernel, dilation, output shape, parameters.
fn print_layers(name: &str, network: &Constructed) {
    println!("{name}:");
    for row in network.network.report() {
        let kernel = row.kernel.map_or(String::new(), |(kh, kw)| format!("{kh}×{kw}"));
        let dilation = row.dilation.map_or(String::new(), |d| format!("d={d}"));
        println!(
            "  {:<48} {:>6} units {:>5} {:>4}  out {:<14} params {} non-zero / {} dense",
            row.name,
            row.units,
            kernel,
            dilation,
            row.output.to_string(),
            row.params_nonzero,
            row.params_dense
        );
    }
}

fn print_table(output: &LogitsOutput, (height, width): (usize, usize)) {
    println!("image {height}×{width}");
    println!("{:<24} {:>12} {:>12} {:>12}", "class", "direct φ", "N1", "N2");
    for (i, name) in output.classes.iter().enumerate() {
        let n1 = output.n1.as_ref().map_or_else(|| "left out".to_owned(), |n1| format!("{:.6}", n1[i]));
        println!("{name:<24} {:>12.6} {n1:>12} {:>12.6}", output.direct[i], output.n2[i]);
    }
    match output.predicted {
        Some(class) => println!("predicted: {class} ('{}')", output.classes[class]),
        None => println!("predicted: none (no class detected)"),
    }
}

/// Decodes an image with size limits and returns its grey levels in [0, 1].
pub(super) fn load_grey(path: &std::path::Path) -> anyhow::Result<Array2<f32>> {
    let mut reader = image::ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    let grey = reader.decode()?.into_luma8();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    let pixels = grey.into_raw().into_iter().map(|p| f32::from(p) / 255.0).collect();
    Ok(Array2::from_shape_vec((height, width), pixels)?)
}
