//! The figure pack: headless figures of a tile set for lectures and papers — the tiles, a sheet of
//! generated samples with their labels (the paper's Figures 2–3), N2's activations layer by layer
//! on one sample, N2's logits beside the direct template matching φ, and N2's layer report.
//!
//! Sample sheets and activation maps are written as PNG only (a 40×40 noise image is 1,600 SVG
//! rectangles); the tiles and the logits are written as PNG and SVG.

use std::path::{Path, PathBuf};

use ndarray::Axis;

use crate::core::construct::{ConstructError, Constructed, build_n2};
use crate::core::dataset::{self, Dataset, DatasetError, DatasetSpec, Sample};
use crate::core::detect;
use crate::core::export::{
    CsvValue, DEFAULT_PNG_SCALE, ExportError, NamedFile, Table, csv_bytes, figure_bytes, write_folder,
};
use crate::core::nn::sparse::{Activation, LayerKind, SparseError};
use crate::core::plot::{BarChart, BarSeries, Colormap, Figure, FigureKind, Heatmap, HeatmapGrid};
use crate::core::tile::{ClassSet, TileError};

/// Samples per class on the dataset sheet (one row per class).
pub const SAMPLES_PER_CLASS: usize = 4;
/// Channels drawn per N2 layer; wider layers show the channels of the sample's own tile first.
pub const MAX_CHANNELS_SHOWN: usize = 24;
/// Smallest image side of the pack's samples (the paper's 40×40), grown for larger tiles.
pub const MIN_IMAGE_SIDE: usize = 40;

/// Why the figure pack could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The tile set is not usable.
    #[error(transparent)]
    Tiles(#[from] TileError),
    /// The sample images could not be generated.
    #[error("dataset: {0}")]
    Dataset(#[from] DatasetError),
    /// N2 could not be built for this tile set and image size.
    #[error("N2: {0}")]
    Construct(#[from] ConstructError),
    /// N2's forward pass failed.
    #[error("N2 forward pass: {0}")]
    Forward(#[from] SparseError),
    /// A figure or table could not be rendered, or the folder not written.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Writes the figure pack for `classes` into `out_dir` (created if missing); returns the files.
///
/// The samples come from [`dataset::generate`] with `seed`, so the pack is reproducible.
pub fn figure_pack(classes: &ClassSet, out_dir: &Path, seed: u64) -> Result<Vec<PathBuf>, FigureError> {
    Ok(write_folder(out_dir, &figure_pack_files(classes, seed)?)?)
}

/// The files of [`figure_pack`], by name.
pub fn figure_pack_files(classes: &ClassSet, seed: u64) -> Result<Vec<NamedFile>, FigureError> {
    classes.validate()?;
    let spec = pack_spec(classes, seed);
    let dataset = dataset::generate(classes, &spec)?;
    let n2 = build_n2(classes, spec.height, spec.width)?;
    let Some(sample) = dataset.samples.first() else {
        return Err(FigureError::Dataset(DatasetError::NoSamples));
    };
    let activations = n2.network.forward(sample.image.view())?;

    let mut files = Vec::new();
    let mut save = |name: &str, figure: &Figure| -> Result<(), FigureError> {
        files.push((name.to_owned(), figure_bytes(Path::new(name), figure, DEFAULT_PNG_SCALE)?));
        Ok(())
    };
    let tiles = tiles_figure(classes);
    save("tiles.png", &tiles)?;
    save("tiles.svg", &tiles)?;
    save("dataset_samples.png", &samples_figure(classes, &dataset))?;
    save("n2_input.png", &input_figure(classes, sample))?;
    let maps: Vec<_> = activations.layers.iter().map(as_map).collect();
    for (layer, figure) in layer_figures(classes, &n2, &maps, sample) {
        save(&format!("n2_layer{layer:02}.png"), &figure)?;
    }
    let logits = logits_figure(classes, sample, &activations.logits());
    save("logits_phi_vs_n2.png", &logits)?;
    save("logits_phi_vs_n2.svg", &logits)?;

    files.push(("n2_layers.csv".to_owned(), csv_bytes(&report_table(&n2))?));
    Ok(files)
}

/// The pack's dataset: the paper's 40×40 uniform noise, grown so the largest tile fits with room
/// to move, and a few samples per class.
fn pack_spec(classes: &ClassSet, seed: u64) -> DatasetSpec {
    let largest = classes.tiles().map(|(_, tile)| tile.rows().max(tile.cols())).max().unwrap_or(1);
    let side = MIN_IMAGE_SIDE.max(largest + 12);
    DatasetSpec { height: side, width: side, samples_per_class: SAMPLES_PER_CLASS, seed, ..DatasetSpec::default() }
}

/// Every tile, labelled with its class (feature, alternative) and ε, on the [0, 1] grey scale.
pub fn tiles_figure(classes: &ClassSet) -> Figure {
    let panels: Vec<Heatmap> = classes
        .tiles()
        .map(|(id, tile)| Heatmap {
            label: format!("{} (ε = {})", classes.tile_label(id), tile.epsilon()),
            values: tile.values().clone(),
        })
        .collect();
    let cols = panels.len().clamp(1, 6);
    let grid =
        HeatmapGrid { cols, colormap: Colormap::Gray, range: Some((0.0, 1.0)), colorbar_label: "pixel".into(), panels };
    Figure::new("Tiles", FigureKind::HeatmapGrid(grid))
}

/// The dataset sheet: one row per class, its samples labelled with the class name.
pub fn samples_figure(classes: &ClassSet, dataset: &Dataset) -> Figure {
    let mut panels = Vec::new();
    let mut cols = 1;
    for (label, object) in classes.classes.iter().enumerate() {
        let of_class: Vec<&Sample> = dataset.samples.iter().filter(|s| s.label == label).collect();
        cols = cols.max(of_class.len());
        for (index, sample) in of_class.iter().enumerate() {
            panels.push(Heatmap { label: format!("{} #{}", object.name, index + 1), values: sample.image.clone() });
        }
    }
    let grid =
        HeatmapGrid { cols, colormap: Colormap::Gray, range: Some((0.0, 1.0)), colorbar_label: "pixel".into(), panels };
    Figure::new("Generated samples (label above each image)", FigureKind::HeatmapGrid(grid))
}

/// A layer output as feature maps, `None` for vectors (dense layers).
fn as_map(activation: &Activation) -> Option<&ndarray::Array3<f32>> {
    match activation {
        Activation::Map(map) => Some(map),
        Activation::Vector(_) => None,
    }
}

/// The sample N2 is run on, labelled with its class.
fn input_figure(classes: &ClassSet, sample: &Sample) -> Figure {
    let class = classes.classes.get(sample.label).map_or("?", |o| o.name.as_str());
    let panels = vec![Heatmap { label: format!("input: a sample of '{class}'"), values: sample.image.clone() }];
    let grid = HeatmapGrid {
        cols: 1,
        colormap: Colormap::Gray,
        range: Some((0.0, 1.0)),
        colorbar_label: "pixel".into(),
        panels,
    };
    Figure::new("N2 input", FigureKind::HeatmapGrid(grid)).with_size(420, 380)
}

/// One figure per convolutional layer of N2 (padding skipped): up to [`MAX_CHANNELS_SHOWN`]
/// channel maps on one colour scale, each labelled with what it computes.
fn layer_figures(
    classes: &ClassSet,
    n2: &Constructed,
    maps: &[Option<&ndarray::Array3<f32>>],
    sample: &Sample,
) -> Vec<(usize, Figure)> {
    let network = &n2.network;
    let mut figures = Vec::new();
    for (layer, (spec, map)) in network.layers().iter().zip(maps).enumerate() {
        let (LayerKind::Conv(_), Some(map)) = (&spec.kind, map) else { continue };
        let channels = map.len_of(Axis(0));
        let panels: Vec<Heatmap> = shown_channels(n2, layer, channels, sample)
            .into_iter()
            .map(|channel| Heatmap {
                label: channel_label(classes, n2, layer, channel),
                values: map.index_axis(Axis(0), channel).to_owned(),
            })
            .collect();
        let title = format!("N2 {} — {} of {channels} channels", spec.name, panels.len());
        let grid =
            HeatmapGrid { cols: 5, colormap: Colormap::Gray, range: None, colorbar_label: "activation".into(), panels };
        figures.push((layer, Figure::new(title, FigureKind::HeatmapGrid(grid))));
    }
    figures
}

/// A short caption: for block channels the block's tile and pixel span, otherwise the unit's meaning.
fn channel_label(classes: &ClassSet, n2: &Constructed, layer: usize, channel: usize) -> String {
    let level = n2.blocks.iter().find(|level| level.layer == layer);
    let block = level.and_then(|level| Some((level.size, level.channels.get(channel)?.places.as_slice())));
    match block {
        Some((size, [first, rest @ ..])) => {
            let more = if rest.is_empty() { String::new() } else { format!(" +{}", rest.len()) };
            let (row, col) = (first.row, first.col);
            let tile = classes.tile_label(first.tile);
            format!("{channel}: {tile} r{row}–{} c{col}–{}{more}", row + size - 1, col + size - 1)
        }
        _ => format!("{channel}: {}", n2.network.meaning(layer, channel)),
    }
}

/// The channels to draw: for block layers those whose block occurs in a tile pasted in the sample,
/// then the rest, at most [`MAX_CHANNELS_SHOWN`].
fn shown_channels(n2: &Constructed, layer: usize, channels: usize, sample: &Sample) -> Vec<usize> {
    let pasted = |channel: usize| {
        let level = n2.blocks.iter().find(|level| level.layer == layer);
        level.and_then(|level| level.channels.get(channel)).is_some_and(|block| {
            block.places.iter().any(|place| sample.placements.iter().any(|p| p.tile == place.tile))
        })
    };
    let (mut first, rest): (Vec<usize>, Vec<usize>) = (0..channels).partition(|&c| pasted(c));
    first.extend(rest);
    first.truncate(MAX_CHANNELS_SHOWN);
    first
}

/// Grouped bars per class: the direct `φ_O` and N2's logits on `sample` (they must coincide).
pub fn logits_figure(classes: &ClassSet, sample: &Sample, logits_n2: &[f32]) -> Figure {
    let groups: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
    let phi = detect::logits(classes, sample.image.view());
    let series = vec![
        BarSeries { name: "φ (template matching)".into(), values: phi },
        BarSeries { name: "N2".into(), values: logits_n2.to_vec() },
    ];
    let label = groups.get(sample.label).cloned().unwrap_or_default();
    let chart = BarChart { y_label: "logit".into(), groups, series };
    Figure::new(format!("Logits on a sample of class '{label}'"), FigureKind::BarChart(chart))
}

/// N2's per-layer report as a table.
pub fn report_table(n2: &Constructed) -> Table {
    let header = ["layer", "name", "kind", "units", "kernel", "dilation", "output", "params_nonzero", "params_dense"];
    let mut table = Table::new(header);
    for (index, row) in n2.network.report().into_iter().enumerate() {
        let kernel = row.kernel.map_or(String::new(), |(k, l)| format!("{k}×{l}"));
        let dilation = row.dilation.map_or(String::new(), |d| d.to_string());
        table.rows.push(vec![
            CsvValue::Int(index as i64),
            row.name.into(),
            row.kind.into(),
            CsvValue::Int(row.units as i64),
            kernel.into(),
            dilation.into(),
            row.output.to_string().into(),
            CsvValue::Int(row.params_nonzero as i64),
            CsvValue::Int(row.params_dense as i64),
        ]);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::plot::{Format, render};
    use crate::core::presets;

    #[test]
    fn pack_writes_readable_files_for_every_preset() {
        for classes in [presets::toy_squares(), presets::two_feature_example(), presets::fashion_three()] {
            let dir = tempfile::tempdir().expect("temp dir");
            let files = figure_pack(&classes, dir.path(), 7).expect("pack");
            let names: Vec<String> = files.iter().filter_map(|p| p.file_name()?.to_str().map(String::from)).collect();
            for expected in ["tiles.png", "tiles.svg", "dataset_samples.png", "logits_phi_vs_n2.svg", "n2_layers.csv"] {
                assert!(names.iter().any(|n| n == expected), "{expected} in {names:?}");
            }
            assert!(names.iter().any(|n| n.starts_with("n2_layer")), "layer figures in {names:?}");
            for path in &files {
                let bytes = std::fs::read(path).expect("written");
                match path.extension().and_then(|e| e.to_str()) {
                    Some("png") => assert!(image::load_from_memory(&bytes).is_ok(), "{}", path.display()),
                    Some("svg") => assert!(bytes.starts_with(b"<svg"), "{}", path.display()),
                    _ => {
                        let text = String::from_utf8(bytes).expect("UTF-8");
                        let lines = text.lines().count();
                        assert!(text.starts_with("layer,name,kind,"));
                        assert_eq!(lines, 1 + classes_report_rows(&classes));
                    }
                }
            }
        }
    }

    fn classes_report_rows(classes: &ClassSet) -> usize {
        let spec = pack_spec(classes, 0);
        build_n2(classes, spec.height, spec.width).expect("N2").network.report().len()
    }

    #[test]
    fn n2_logits_in_the_chart_equal_direct_phi() {
        let classes = presets::fashion_three();
        let spec = pack_spec(&classes, 3);
        let dataset = dataset::generate(&classes, &spec).expect("dataset");
        let n2 = build_n2(&classes, spec.height, spec.width).expect("N2");
        for sample in dataset.samples.iter().take(3) {
            let logits = n2.logits(sample.image.view()).expect("forward");
            let figure = logits_figure(&classes, sample, &logits);
            let FigureKind::BarChart(chart) = &figure.kind else { panic!("a bar chart") };
            let (phi, net) = (&chart.series[0].values, &chart.series[1].values);
            for (a, b) in net.iter().zip(phi) {
                assert!((a - b).abs() <= 1e-4 * b.abs().max(1.0), "N2 {a} vs φ {b}");
            }
            assert!(phi[sample.label] > 0.0, "the sample's own class is detected");
        }
    }

    #[test]
    fn sample_sheet_has_one_row_per_class_with_labels() {
        let classes = presets::fashion_three();
        let dataset = dataset::generate(&classes, &pack_spec(&classes, 1)).expect("dataset");
        let figure = samples_figure(&classes, &dataset);
        let FigureKind::HeatmapGrid(grid) = &figure.kind else { panic!("a heat-map grid") };
        assert_eq!(grid.cols, SAMPLES_PER_CLASS);
        assert_eq!(grid.panels.len(), SAMPLES_PER_CLASS * classes.len());
        for (row, object) in classes.classes.iter().enumerate() {
            for panel in &grid.panels[row * SAMPLES_PER_CLASS..(row + 1) * SAMPLES_PER_CLASS] {
                assert!(panel.label.starts_with(&object.name), "{} in row of {}", panel.label, object.name);
            }
        }
        let svg = String::from_utf8(render(&figure, Format::Svg).expect("renders")).expect("UTF-8");
        assert!(svg.contains(&format!("{} #1", classes.classes[2].name)));
    }

    #[test]
    fn the_pack_is_reproducible_from_its_seed() {
        let classes = presets::toy_squares();
        let sheet = |seed| {
            let dataset = dataset::generate(&classes, &pack_spec(&classes, seed)).expect("dataset");
            render(&samples_figure(&classes, &dataset), Format::Png { scale: 1.0 }).expect("renders")
        };
        assert_eq!(sheet(5), sheet(5));
        assert_ne!(sheet(5), sheet(6));
    }

    #[test]
    fn layer_figures_prefer_the_pasted_tile_and_stay_bounded() {
        let classes = presets::fashion_three();
        let spec = pack_spec(&classes, 2);
        let dataset = dataset::generate(&classes, &spec).expect("dataset");
        let n2 = build_n2(&classes, spec.height, spec.width).expect("N2");
        let sample = &dataset.samples[0];
        for level in &n2.blocks {
            let shown = shown_channels(&n2, level.layer, level.channels.len(), sample);
            assert!(shown.len() <= MAX_CHANNELS_SHOWN && shown.len() == level.channels.len().min(MAX_CHANNELS_SHOWN));
            let own = |c: &usize| level.channels[*c].places.iter().any(|p| p.tile == sample.placements[0].tile);
            let first_foreign = shown.iter().position(|c| !own(c)).unwrap_or(shown.len());
            assert!(shown[first_foreign..].iter().all(|c| !own(c)), "own-tile channels come first");
            assert!(first_foreign > 0, "the pasted tile has blocks at layer {}", level.layer);
        }
        let activations = n2.network.forward(sample.image.view()).expect("forward");
        let maps: Vec<_> = activations.layers.iter().map(as_map).collect();
        let figures = layer_figures(&classes, &n2, &maps, sample);
        assert!(figures.len() >= n2.blocks.len() + 2, "layer 0, block layers and detection");
        let level = &n2.blocks[0];
        let label = channel_label(&classes, &n2, level.layer, 0);
        let place = level.channels[0].places[0];
        assert!(label.starts_with(&format!("0: {} r{}–", classes.tile_label(place.tile), place.row)), "{label}");
    }
}
