//! A generated dataset as `.npy` files, so that the exact images tilelab trains on can be loaded in
//! Python: `np.load("images.npy")`.
//!
//! | file | dtype, shape | content |
//! | --- | --- | --- |
//! | `images.npy` | float32 `[N, H, W]` | grey levels in [0, 1], sample order of [`generate`] |
//! | `labels.npy` | int64 `[N]` | class index (`label = s mod L`) |
//! | `offsets.npy` | int64 `[N, P, 2]` | `(row, col)` of the top-left pixel of each feature's pasted tile, `P` = most features of any class; `-1` where a class has fewer |
//! | `tiles.npy` | int64 `[N, P]` | which tile was pasted: its index in the tile set's class → feature → tile order; `-1` padding |
//! | `dataset.json` | JSON | the spec (size, samples per class, seed, background, jitter), class names, rejections |
//! | `contact_sheet.png` | PNG | up to 10 samples per class, one row per class (fewer when the sheet would pass 16,384 px) |
//!
//! [`generate`]: crate::core::dataset::generate

use std::path::{Path, PathBuf};

use image::{GrayImage, Luma};
use ndarray::{Array1, Array2, Array3};
use serde::Serialize;

use super::InteropError;
use crate::core::atomic::write_atomic;
use crate::core::dataset::{Dataset, DatasetSpec};
use crate::core::export::{NamedFile, npy_bytes};
use crate::core::tile::ClassSet;

/// Samples per class shown on the contact sheet.
pub const SHEET_SAMPLES_PER_CLASS: usize = 10;
/// Pixel magnification of the contact sheet.
pub const SHEET_SCALE: usize = 2;
/// Grey of the gap between images on the contact sheet.
const SHEET_GAP_GREY: u8 = 128;
/// Largest contact-sheet side in pixels (bigger sheets are refused rather than allocated).
const MAX_SHEET_SIDE: usize = 16_384;

/// The dataset as arrays, ready for `.npy`.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetArrays {
    /// `[N, H, W]` grey levels.
    pub images: Array3<f32>,
    /// `[N]` class indices.
    pub labels: Array1<i64>,
    /// `[N, P, 2]` `(row, col)` per feature placement, `-1` padding.
    pub offsets: Array3<i64>,
    /// `[N, P]` flat tile index per feature placement, `-1` padding.
    pub tiles: Array2<i64>,
}

/// What `dataset.json` records besides the arrays.
#[derive(Debug, Serialize)]
struct DatasetInfo<'a> {
    format: &'static str,
    spec: &'a DatasetSpec,
    classes: Vec<&'a str>,
    samples: usize,
    rejected_draws: usize,
    files: [&'static str; 5],
}

/// Converts a generated dataset into the arrays of the `.npy` files.
pub fn dataset_arrays(classes: &ClassSet, dataset: &Dataset, height: usize, width: usize) -> DatasetArrays {
    let n = dataset.samples.len();
    let places = dataset.samples.iter().map(|s| s.placements.len()).max().unwrap_or(0).max(classes.max_features());
    let tile_index: Vec<_> = classes.tiles().map(|(id, _)| id).collect();
    let mut images = Array3::zeros((n, height, width));
    let mut offsets = Array3::from_elem((n, places, 2), -1i64);
    let mut tiles = Array2::from_elem((n, places), -1i64);
    for (s, sample) in dataset.samples.iter().enumerate() {
        if sample.image.dim() == (height, width) {
            images.index_axis_mut(ndarray::Axis(0), s).assign(&sample.image);
        }
        for (p, placement) in sample.placements.iter().enumerate() {
            offsets[[s, p, 0]] = placement.row as i64;
            offsets[[s, p, 1]] = placement.col as i64;
            tiles[[s, p]] = tile_index.iter().position(|&id| id == placement.tile).map_or(-1, |i| i as i64);
        }
    }
    let labels = dataset.samples.iter().map(|s| s.label as i64).collect();
    DatasetArrays { images, labels, offsets, tiles }
}

/// A grey PNG with up to `per_class` samples of every class, one row per class, 1-pixel grey gaps.
pub fn contact_sheet_png(
    dataset: &Dataset,
    classes: usize,
    per_class: usize,
    scale: usize,
) -> Result<Vec<u8>, InteropError> {
    let Some(first) = dataset.samples.first() else { return Err(InteropError::Png("the dataset is empty".into())) };
    let (height, width) = first.image.dim();
    let scale = scale.max(1);
    let columns = per_class.max(1);
    let rows = classes.max(1);
    let sheet_width = (columns * (width + 1) + 1) * scale;
    let sheet_height = (rows * (height + 1) + 1) * scale;
    if sheet_width > MAX_SHEET_SIDE || sheet_height > MAX_SHEET_SIDE {
        return Err(InteropError::TooLarge(format!("a {sheet_width}×{sheet_height} contact sheet")));
    }
    let mut sheet = GrayImage::from_pixel(sheet_width as u32, sheet_height as u32, Luma([SHEET_GAP_GREY]));
    let mut shown = vec![0usize; rows];
    for sample in &dataset.samples {
        let Some(count) = shown.get_mut(sample.label) else { continue };
        if *count >= columns || sample.image.dim() != (height, width) {
            continue;
        }
        let (top, left) = ((sample.label * (height + 1) + 1) * scale, (*count * (width + 1) + 1) * scale);
        for ((y, x), &v) in sample.image.indexed_iter() {
            let grey = Luma([(v.clamp(0.0, 1.0) * 255.0).round() as u8]);
            for dy in 0..scale {
                for dx in 0..scale {
                    sheet.put_pixel((left + x * scale + dx) as u32, (top + y * scale + dy) as u32, grey);
                }
            }
        }
        *count += 1;
    }
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(sheet)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .map_err(|e| InteropError::Png(e.to_string()))?;
    Ok(bytes)
}

/// `(class rows, samples per row, scale)` of a contact sheet that stays within [`MAX_SHEET_SIDE`]:
/// magnified when it fits, else at scale 1 with as many classes and samples as fit.
pub fn sheet_layout(classes: usize, height: usize, width: usize) -> (usize, usize, usize) {
    let fits = |scale: usize, side: usize| (MAX_SHEET_SIDE / scale - 1) / (side + 1);
    let magnified = fits(SHEET_SCALE, height) >= classes && fits(SHEET_SCALE, width) >= SHEET_SAMPLES_PER_CLASS;
    let scale = if magnified { SHEET_SCALE } else { 1 };
    (classes.min(fits(scale, height)), SHEET_SAMPLES_PER_CLASS.min(fits(scale, width)), scale)
}

/// Writes every file of the table above into `dir` (created if needed), atomically; returns their paths.
pub fn save_dataset(
    dir: &Path,
    classes: &ClassSet,
    spec: &DatasetSpec,
    dataset: &Dataset,
) -> Result<Vec<PathBuf>, InteropError> {
    let files = dataset_files(classes, spec, dataset)?;
    std::fs::create_dir_all(dir).map_err(|source| InteropError::Io { path: dir.to_path_buf(), source })?;
    let mut written = Vec::with_capacity(files.len());
    for (name, bytes) in files {
        let path = dir.join(name);
        write_atomic(&path, &bytes).map_err(|source| InteropError::Io { path: path.clone(), source })?;
        written.push(path);
    }
    Ok(written)
}

/// Every file of the table above, by name.
pub fn dataset_files(
    classes: &ClassSet,
    spec: &DatasetSpec,
    dataset: &Dataset,
) -> Result<Vec<NamedFile>, InteropError> {
    let arrays = dataset_arrays(classes, dataset, spec.height, spec.width);
    let info = DatasetInfo {
        format: "tilelab-dataset",
        spec,
        classes: classes.classes.iter().map(|o| o.name.as_str()).collect(),
        samples: dataset.samples.len(),
        rejected_draws: dataset.rejections.total,
        files: ["images.npy", "labels.npy", "offsets.npy", "tiles.npy", "contact_sheet.png"],
    };
    Ok(vec![
        ("images.npy".to_owned(), npy_bytes(&arrays.images)?),
        ("labels.npy".to_owned(), npy_bytes(&arrays.labels)?),
        ("offsets.npy".to_owned(), npy_bytes(&arrays.offsets)?),
        ("tiles.npy".to_owned(), npy_bytes(&arrays.tiles)?),
        ("dataset.json".to_owned(), serde_json::to_vec_pretty(&info)?),
        ("contact_sheet.png".to_owned(), {
            let (rows, columns, scale) = sheet_layout(classes.len(), spec.height, spec.width);
            contact_sheet_png(dataset, rows, columns, scale)?
        }),
    ])
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;
    use crate::core::dataset::{Background, generate};
    use crate::core::export::load_npy;
    use crate::core::tile::{Feature, Object, Tile, single_tile_object};
    use ndarray::{Ix1, Ix2, Ix3, array};

    fn two_feature_set() -> ClassSet {
        let bar = Tile::from_values(array![[1.0, 1.0, 1.0]], 0.5).unwrap();
        let dot = Tile::from_values(array![[1.0, 0.0], [0.0, 1.0]], 0.5).unwrap();
        let square = Tile::filled(2, 2, 1.0, 0.5).unwrap();
        let pair = Object {
            name: "pair".into(),
            features: vec![
                Feature { name: "bar".into(), tiles: vec![bar] },
                Feature { name: "dot".into(), tiles: vec![dot.clone()] },
            ],
        };
        ClassSet { classes: vec![single_tile_object("square", square), pair] }
    }

    #[test]
    fn files_hold_exactly_the_generated_dataset() {
        let classes = two_feature_set();
        let spec = DatasetSpec {
            height: 9,
            width: 11,
            samples_per_class: 7,
            background: Background::Constant(0.0),
            jitter: 0.0,
            seed: 42,
        };
        let dataset = generate(&classes, &spec).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let written = save_dataset(dir.path(), &classes, &spec, &dataset).unwrap();
        assert_eq!(written.len(), 6);
        let images = load_npy::<f32>(&dir.path().join("images.npy")).unwrap().into_dimensionality::<Ix3>().unwrap();
        let labels = load_npy::<i64>(&dir.path().join("labels.npy")).unwrap().into_dimensionality::<Ix1>().unwrap();
        let offsets = load_npy::<i64>(&dir.path().join("offsets.npy")).unwrap().into_dimensionality::<Ix3>().unwrap();
        let tiles = load_npy::<i64>(&dir.path().join("tiles.npy")).unwrap().into_dimensionality::<Ix2>().unwrap();
        assert_eq!(images.dim(), (14, 9, 11));
        assert_eq!(offsets.dim(), (14, 2, 2));
        for (s, sample) in dataset.samples.iter().enumerate() {
            assert_eq!(images.index_axis(ndarray::Axis(0), s), sample.image);
            assert_eq!(labels[s], sample.label as i64);
            for p in 0..2 {
                match sample.placements.get(p) {
                    Some(place) => {
                        assert_eq!((offsets[[s, p, 0]], offsets[[s, p, 1]]), (place.row as i64, place.col as i64));
                        let flat = classes.tiles().position(|(id, _)| id == place.tile).unwrap();
                        assert_eq!(tiles[[s, p]], flat as i64);
                        // The constant-0 background shows the tile's 1-pixels exactly where it was pasted.
                        let tile = classes.tile(place.tile).unwrap();
                        for (a, b, v) in tile.support_pixels() {
                            assert_eq!(sample.image[[place.row + a, place.col + b]], v);
                        }
                    }
                    None => assert_eq!((offsets[[s, p, 0]], tiles[[s, p]]), (-1, -1)),
                }
            }
        }
        let info: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("dataset.json")).unwrap()).unwrap();
        assert_eq!(info["classes"][1], "pair");
        assert_eq!(info["spec"]["seed"], 42);
        let sheet = image::load_from_memory(&std::fs::read(dir.path().join("contact_sheet.png")).unwrap()).unwrap();
        assert_eq!((sheet.width(), sheet.height()), (((10 * 12) + 1) * 2, ((2 * 10) + 1) * 2));
    }

    #[test]
    fn contact_sheet_places_each_sample_in_its_class_row() {
        let classes = two_feature_set();
        let spec = DatasetSpec { height: 8, width: 8, samples_per_class: 3, seed: 1, ..DatasetSpec::default() };
        let dataset = generate(&classes, &spec).unwrap();
        let png = contact_sheet_png(&dataset, 2, 3, 1).unwrap();
        let sheet = image::load_from_memory(&png).unwrap().into_luma8();
        let second_of_class_1 = &dataset.samples[3];
        assert_eq!(second_of_class_1.label, 1);
        for ((y, x), &v) in second_of_class_1.image.indexed_iter() {
            // Class 1's row and its second column both start at 9 + 1 (a 1-pixel gap per 8-pixel image).
            let pixel = sheet.get_pixel((10 + x) as u32, (10 + y) as u32)[0];
            assert_eq!(pixel, (v * 255.0).round() as u8);
        }
        assert!(contact_sheet_png(&dataset, 2, 10_000, 4).is_err(), "too large a sheet is refused");
        assert_eq!(sheet_layout(2, 40, 40), (2, 10, 2));
        assert_eq!(sheet_layout(20, 512, 512), (20, 10, 1), "too big magnified");
        assert_eq!(sheet_layout(40, 512, 512), (31, 10, 1), "only the classes that fit");
        let (rows, columns, scale) = sheet_layout(1000, 512, 512);
        assert!((rows * 513 + 1) * scale <= MAX_SHEET_SIDE && (columns * 513 + 1) * scale <= MAX_SHEET_SIDE);
    }
}
