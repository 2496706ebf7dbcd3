//! The JSON tile-set file format, and PNG/JPEG import and PNG export of single tiles and atlases.
//!
//! ```json
//! {"format":"tilelab-tileset","version":1,"classes":[{"name":"Bag","features":[{"name":"Bag",
//!   "tiles":[{"rows":2,"cols":2,"values":[0.0,0.5,1.0,0.25],"support":[0,1,1,1],"epsilon":2.0}]}]}]}
//! ```
//! `values` and `support` are row-major; `support` (0/1) is optional and defaults to the
//! non-zero values. Loading checks the size of the file, the format and version, every size
//! before allocating, every value, and names the place of any problem
//! (`class 2 'Bag', feature 1, tile 1: …`, counted from 1).

use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{GrayAlphaImage, ImageReader, LumaA, Rgb, RgbImage, imageops::FilterType};
use ndarray::Array2;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::atomic::write_atomic;
use super::bounded_read::{BoundedReadError, read_text_at_most};
use super::tile::{ClassSet, Feature, MAX_TILE_SIDE, Object, Tile, TileError};

/// The `format` field of every tile-set file.
pub const FORMAT: &str = "tilelab-tileset";
/// The only `version` this build reads and writes.
pub const VERSION: u64 = 1;
/// Largest tile-set file accepted (a thousand 64×64 tiles take about 20 MB).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Largest image side accepted when importing a tile from PNG/JPEG.
pub const MAX_IMPORT_SIDE: u32 = 8192;
/// Most memory the image decoder may allocate while importing.
pub const MAX_IMPORT_ALLOC_BYTES: u64 = 256 * 1024 * 1024;
/// Largest side of an exported atlas image, in pixels.
pub const MAX_ATLAS_SIDE: usize = 16_384;

/// Why a tile set or tile image could not be read or written.
#[derive(Debug, Error)]
pub enum TileSetFileError {
    #[error("not a valid tile-set file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a tilelab tile set: \"format\" is {0:?}, expected \"{FORMAT}\"")]
    WrongFormat(String),
    #[error("tile-set version {0} is not supported (this tilelab reads version {VERSION})")]
    UnsupportedVersion(u64),
    #[error("the tile set has no classes")]
    NoClasses,
    #[error("{place}: {problem}")]
    Invalid { place: String, problem: String },
    #[error("{place}: {what} is {value}, which JSON cannot hold")]
    NotFinite { place: String, what: &'static str, value: f32 },
    #[error("{place}: {source}")]
    Tile { place: String, source: TileError },
    #[error("{path}: the file is {size} bytes, more than the {limit}-byte limit")]
    TooLarge { path: PathBuf, size: u64, limit: u64 },
    #[error("cannot access {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot read the image: {0}")]
    Image(#[from] image::ImageError),
    #[error("the image would be {width}×{height} pixels, more than {MAX_ATLAS_SIDE} per side")]
    ImageTooLarge { width: usize, height: usize },
}

/// A tile-set document field for field, for formats that embed one (a scene's `"tileset"`).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDoc {
    format: String,
    version: u64,
    classes: Vec<FileClass>,
}

/// Read first, ignoring everything else, so a wrong format is reported as such.
#[derive(Deserialize)]
struct FileHeader {
    format: Option<String>,
    version: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileClass {
    name: String,
    features: Vec<FileFeature>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFeature {
    name: String,
    tiles: Vec<FileTile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTile {
    rows: usize,
    cols: usize,
    values: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    support: Option<Vec<u8>>,
    epsilon: f32,
}

/// The tile set as pretty JSON; refuses non-finite numbers (JSON would turn them into `null`).
pub fn to_json(classes: &ClassSet) -> Result<String, TileSetFileError> {
    Ok(serde_json::to_string_pretty(&to_doc(classes)?)?)
}

/// The tile set as its document; refuses non-finite numbers.
pub fn to_doc(classes: &ClassSet) -> Result<FileDoc, TileSetFileError> {
    Ok(FileDoc {
        format: FORMAT.to_owned(),
        version: VERSION,
        classes: classes.classes.iter().enumerate().map(|(c, o)| file_class(c, o)).collect::<Result<_, _>>()?,
    })
}

/// How many classes a document holds (checked before any tile is built).
pub fn class_count(doc: &FileDoc) -> usize {
    doc.classes.len()
}

/// Parses and validates a tile set.
pub fn from_json(text: &str) -> Result<ClassSet, TileSetFileError> {
    let header: FileHeader = serde_json::from_str(text)?;
    match header.format {
        Some(format) if format == FORMAT => {}
        other => return Err(TileSetFileError::WrongFormat(other.unwrap_or_default())),
    }
    match header.version {
        Some(VERSION) => {}
        other => return Err(TileSetFileError::UnsupportedVersion(other.unwrap_or(0))),
    }
    from_doc(&serde_json::from_str(text)?)
}

/// Checks and builds the tile set of a document (its format and version included).
pub fn from_doc(doc: &FileDoc) -> Result<ClassSet, TileSetFileError> {
    if doc.format != FORMAT {
        return Err(TileSetFileError::WrongFormat(doc.format.clone()));
    }
    if doc.version != VERSION {
        return Err(TileSetFileError::UnsupportedVersion(doc.version));
    }
    if doc.classes.is_empty() {
        return Err(TileSetFileError::NoClasses);
    }
    let classes = doc.classes.iter().enumerate().map(|(c, class)| object(c, class)).collect::<Result<_, _>>()?;
    Ok(ClassSet { classes })
}

/// Loads a tile-set file (at most [`MAX_FILE_BYTES`]).
pub fn load(path: &Path) -> Result<ClassSet, TileSetFileError> {
    let text = read_limited(path)?;
    from_json(&text)
}

/// Saves a tile set atomically (a crash leaves the old file or the new one).
pub fn save(path: &Path, classes: &ClassSet) -> Result<(), TileSetFileError> {
    let json = to_json(classes)?;
    write_atomic(path, json.as_bytes()).map_err(|source| TileSetFileError::Io { path: path.to_owned(), source })
}

fn read_limited(path: &Path) -> Result<String, TileSetFileError> {
    read_text_at_most(path, MAX_FILE_BYTES).map_err(|error| match error {
        BoundedReadError::Io(source) => TileSetFileError::Io { path: path.to_owned(), source },
        BoundedReadError::TooLarge { size, limit } => TileSetFileError::TooLarge { path: path.to_owned(), size, limit },
    })
}

fn class_place(c: usize, name: &str) -> String {
    format!("class {} '{name}'", c + 1)
}

fn feature_place(c: usize, class: &str, f: usize) -> String {
    format!("{}, feature {}", class_place(c, class), f + 1)
}

fn tile_place(c: usize, class: &str, f: usize, t: usize) -> String {
    format!("{}, tile {}", feature_place(c, class, f), t + 1)
}

fn file_class(c: usize, object: &Object) -> Result<FileClass, TileSetFileError> {
    let features = object
        .features
        .iter()
        .enumerate()
        .map(|(f, feature)| {
            let tiles = feature
                .tiles
                .iter()
                .enumerate()
                .map(|(t, tile)| {
                    file_tile(tile).map_err(|(what, value)| TileSetFileError::NotFinite {
                        place: tile_place(c, &object.name, f, t),
                        what,
                        value,
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok::<_, TileSetFileError>(FileFeature { name: feature.name.clone(), tiles })
        })
        .collect::<Result<_, _>>()?;
    Ok(FileClass { name: object.name.clone(), features })
}

/// The tile as stored, or which number (`ε`, `a value`) is not finite.
fn file_tile(tile: &Tile) -> Result<FileTile, (&'static str, f32)> {
    if !tile.epsilon().is_finite() {
        return Err(("ε", tile.epsilon()));
    }
    if let Some(&v) = tile.values().iter().find(|v| !v.is_finite()) {
        return Err(("a value", v));
    }
    let default_support = tile.values().mapv(|v| v != 0.0);
    let support = (default_support != *tile.support()).then(|| tile.support().iter().map(|&s| u8::from(s)).collect());
    Ok(FileTile {
        rows: tile.rows(),
        cols: tile.cols(),
        values: tile.values().iter().copied().collect(),
        support,
        epsilon: tile.epsilon(),
    })
}

fn invalid(place: String, problem: String) -> TileSetFileError {
    TileSetFileError::Invalid { place, problem }
}

fn object(c: usize, class: &FileClass) -> Result<Object, TileSetFileError> {
    if class.features.is_empty() {
        return Err(invalid(class_place(c, &class.name), "the class has no features".into()));
    }
    let mut features = Vec::with_capacity(class.features.len());
    for (f, feature) in class.features.iter().enumerate() {
        if feature.tiles.is_empty() {
            return Err(invalid(feature_place(c, &class.name, f), "the feature has no tiles".into()));
        }
        let tiles = feature
            .tiles
            .iter()
            .enumerate()
            .map(|(t, tile)| self::tile(tile, &tile_place(c, &class.name, f, t)))
            .collect::<Result<_, _>>()?;
        features.push(Feature { name: feature.name.clone(), tiles });
    }
    Ok(Object { name: class.name.clone(), features })
}

fn tile(file: &FileTile, place: &str) -> Result<Tile, TileSetFileError> {
    let (rows, cols) = (file.rows, file.cols);
    // Sizes first, so that no array is built from a hostile "rows": 1000000000.
    if rows == 0 || cols == 0 || rows > MAX_TILE_SIDE || cols > MAX_TILE_SIDE {
        return Err(TileSetFileError::Tile { place: place.to_owned(), source: TileError::BadSize { rows, cols } });
    }
    let expected = rows * cols;
    if file.values.len() != expected {
        let problem = format!("values has {} entries, expected {expected} ({rows}×{cols})", file.values.len());
        return Err(invalid(place.to_owned(), problem));
    }
    let values = Array2::from_shape_vec((rows, cols), file.values.clone())
        .map_err(|e| invalid(place.to_owned(), e.to_string()))?;
    let support = match &file.support {
        None => values.mapv(|v| v != 0.0),
        Some(mask) => {
            if mask.len() != expected {
                let problem = format!("support has {} entries, expected {expected} ({rows}×{cols})", mask.len());
                return Err(invalid(place.to_owned(), problem));
            }
            if let Some(bad) = mask.iter().find(|&&s| s > 1) {
                return Err(invalid(place.to_owned(), format!("support entries must be 0 or 1, found {bad}")));
            }
            Array2::from_shape_fn((rows, cols), |(r, c)| mask[r * cols + c] == 1)
        }
    };
    Tile::new(values, support, file.epsilon)
        .map_err(|source| TileSetFileError::Tile { place: place.to_owned(), source })
}

/// How an image becomes a tile.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImportOptions {
    /// Largest tile side: bigger images are shrunk (aspect kept), never enlarged.
    pub max_side: usize,
    /// The support is the pixels `≥ threshold`, or the non-zero pixels when `None`.
    pub threshold: Option<f32>,
    /// Trims the border rows and columns without a support pixel before shrinking.
    pub crop: bool,
    /// ε of the new tile.
    pub epsilon: f32,
}

impl ImportOptions {
    /// Whole image, support = non-zero pixels.
    pub fn plain(max_side: usize, epsilon: f32) -> Self {
        Self { max_side, threshold: None, crop: false, epsilon }
    }
}

/// Imports a PNG/JPEG as a tile: grey, optionally cropped to its content, shrunk to fit
/// `max_side` (aspect kept), values `pixel/255`.
///
/// Transparent pixels count as 0. The decoder runs with size limits ([`MAX_IMPORT_SIDE`],
/// [`MAX_IMPORT_ALLOC_BYTES`]), so a hostile file cannot exhaust memory.
pub fn import_tile_image(bytes: &[u8], options: &ImportOptions) -> Result<Tile, TileSetFileError> {
    let ImportOptions { max_side, threshold, crop, epsilon } = *options;
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().map_err(image::ImageError::IoError)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMPORT_SIDE);
    limits.max_image_height = Some(MAX_IMPORT_SIDE);
    limits.max_alloc = Some(MAX_IMPORT_ALLOC_BYTES);
    reader.limits(limits);
    let mut grey = composite_on_black(&reader.decode()?.to_luma_alpha8());
    if crop && let Some((x, y, width, height)) = content_box(&grey, threshold) {
        grey = image::imageops::crop_imm(&grey, x, y, width, height).to_image();
    }
    let max_side = max_side.clamp(1, MAX_TILE_SIDE) as u32;
    let (width, height) = fit(grey.width(), grey.height(), max_side);
    let small = if (width, height) == grey.dimensions() {
        grey
    } else {
        image::imageops::resize(&grey, width, height, FilterType::Triangle)
    };
    let values = Array2::from_shape_fn((height as usize, width as usize), |(r, c)| {
        f32::from(small[(c as u32, r as u32)].0[0]) / 255.0
    });
    let support = match threshold {
        Some(t) => values.mapv(|v| v >= t),
        None => values.mapv(|v| v != 0.0),
    };
    Tile::new(values, support, epsilon)
        .map_err(|source| TileSetFileError::Tile { place: "imported image".into(), source })
}

/// `(x, y, width, height)` of the smallest rectangle holding every support pixel (as `import_tile_image`
/// defines it at full size); `None` when there is none.
fn content_box(image: &image::GrayImage, threshold: Option<f32>) -> Option<(u32, u32, u32, u32)> {
    let inside = |v: u8| match threshold {
        Some(t) => f32::from(v) / 255.0 >= t,
        None => v != 0,
    };
    let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, pixel) in image.enumerate_pixels() {
        if inside(pixel.0[0]) {
            (left, top, right, bottom) = (left.min(x), top.min(y), right.max(x), bottom.max(y));
        }
    }
    (left <= right).then(|| (left, top, right - left + 1, bottom - top + 1))
}

/// Grey times alpha: a transparent pixel becomes black (0, outside the default support).
fn composite_on_black(image: &GrayAlphaImage) -> image::GrayImage {
    image::GrayImage::from_fn(image.width(), image.height(), |x, y| {
        let LumaA([v, a]) = image[(x, y)];
        image::Luma([((u16::from(v) * u16::from(a) + 127) / 255) as u8])
    })
}

/// `width×height` shrunk (never enlarged) so that the longer side is at most `max_side`.
fn fit(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    let longest = width.max(height);
    if longest <= max_side {
        return (width, height);
    }
    let scale =
        |side: u32| ((u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest)).max(1);
    (scale(width) as u32, scale(height) as u32)
}

/// The tile as a grey+alpha PNG, each pixel a `scale×scale` square; pixels outside the support are transparent.
pub fn tile_png(tile: &Tile, scale: u32) -> Result<Vec<u8>, TileSetFileError> {
    let scale = scale.max(1) as usize;
    let (width, height) = (tile.cols() * scale, tile.rows() * scale);
    check_image_size(width, height)?;
    let image = GrayAlphaImage::from_fn(width as u32, height as u32, |x, y| {
        let (r, c) = (y as usize / scale, x as usize / scale);
        let alpha = if tile.support()[[r, c]] { 255 } else { 0 };
        LumaA([to_byte(tile.values()[[r, c]]), alpha])
    });
    encode_png(&image.into())
}

/// Colour of the grid between tiles in [`atlas_png`].
const ATLAS_GRID: Rgb<u8> = Rgb([128, 128, 128]);

/// Every tile of the set as one RGB PNG: one row per class, its tiles left to right.
///
/// Cells are as large as the largest tile, separated by a grey grid one `scale` wide; support
/// pixels are grey levels, pixels outside the support are tinted blue (they do not count).
pub fn atlas_png(classes: &ClassSet, scale: u32) -> Result<Vec<u8>, TileSetFileError> {
    let scale = scale.max(1) as usize;
    let cell_rows = classes.tiles().map(|(_, t)| t.rows()).max().unwrap_or(1);
    let cell_cols = classes.tiles().map(|(_, t)| t.cols()).max().unwrap_or(1);
    let per_row = classes.classes.iter().map(|o| o.features.iter().map(|f| f.tiles.len()).sum::<usize>()).max();
    let (grid_cols, grid_rows) = (per_row.unwrap_or(0).max(1), classes.len().max(1));
    // Cell plus one grid line, in tile pixels, then everything scaled.
    let width = (grid_cols * (cell_cols + 1) + 1).saturating_mul(scale);
    let height = (grid_rows * (cell_rows + 1) + 1).saturating_mul(scale);
    check_image_size(width, height)?;
    let mut atlas = RgbImage::from_pixel(width as u32, height as u32, ATLAS_GRID);
    for (row, object) in classes.classes.iter().enumerate() {
        for (col, tile) in object.features.iter().flat_map(|f| &f.tiles).enumerate() {
            let top = (row * (cell_rows + 1) + 1) * scale;
            let left = (col * (cell_cols + 1) + 1) * scale;
            draw_tile(&mut atlas, tile, top, left, scale);
        }
    }
    encode_png(&atlas.into())
}

fn draw_tile(atlas: &mut RgbImage, tile: &Tile, top: usize, left: usize, scale: usize) {
    for ((r, c), &value) in tile.values().indexed_iter() {
        let v = to_byte(value);
        let colour = if tile.support()[[r, c]] { Rgb([v, v, v]) } else { Rgb([v / 2, v / 2, v / 2 + 96]) };
        for dy in 0..scale {
            for dx in 0..scale {
                atlas.put_pixel((left + c * scale + dx) as u32, (top + r * scale + dy) as u32, colour);
            }
        }
    }
}

fn check_image_size(width: usize, height: usize) -> Result<(), TileSetFileError> {
    if width > MAX_ATLAS_SIDE || height > MAX_ATLAS_SIDE {
        return Err(TileSetFileError::ImageTooLarge { width, height });
    }
    Ok(())
}

fn to_byte(value: f32) -> u8 {
    (value.clamp(0.0, 1.0) * 255.0).round() as u8
}

fn encode_png(image: &image::DynamicImage) -> Result<Vec<u8>, TileSetFileError> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tile::single_tile_object;
    use ndarray::array;
    use proptest::prelude::*;

    fn example() -> ClassSet {
        let partial = Tile::new(array![[0.0, 0.5], [1.0, 0.25]], array![[true, false], [true, true]], 2.0).unwrap();
        let second = Tile::from_values(array![[0.0, 0.75, 0.0]], 0.5).unwrap();
        let object = Object {
            name: "Bag".into(),
            features: vec![
                Feature { name: "handle".into(), tiles: vec![partial, second] },
                Feature { name: "body".into(), tiles: vec![Tile::filled(3, 1, 1.0, 0.1).unwrap()] },
            ],
        };
        ClassSet { classes: vec![single_tile_object("black", Tile::filled(2, 2, 1.0, 0.5).unwrap()), object] }
    }

    /// A valid one-tile file with `tile` spliced in as the tile's JSON object.
    fn file_with_tile(tile: &str) -> String {
        format!(
            r#"{{"format":"tilelab-tileset","version":1,"classes":[{{"name":"a","features":[{{"name":"f","tiles":[{{"rows":1,"cols":1,"values":[1],"epsilon":1}}]}}]}},{{"name":"Bag","features":[{{"name":"f","tiles":[{{"rows":1,"cols":1,"values":[1],"epsilon":1}},{tile}]}}]}}]}}"#
        )
    }

    fn error_text(text: &str) -> String {
        from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn round_trip_keeps_everything() {
        let set = example();
        let json = to_json(&set).unwrap();
        assert_eq!(from_json(&json).unwrap(), set);
        // Support is written only when it differs from the non-zero pixels.
        assert_eq!(json.matches("\"support\"").count(), 1);
    }

    #[test]
    fn missing_support_defaults_to_nonzero_values() {
        let set = from_json(&file_with_tile(r#"{"rows":1,"cols":3,"values":[0,0.5,1],"epsilon":0.2}"#)).unwrap();
        let tile = &set.classes[1].features[0].tiles[1];
        assert_eq!(tile.support(), &array![[false, true, true]]);
    }

    #[test]
    fn errors_name_the_place() {
        let cases = [
            (
                r#"{"rows":4,"cols":4,"values":[0,0,0,0,0,0,0,0,0,0,0,1],"epsilon":1}"#,
                "class 2 'Bag', feature 1, tile 2: values has 12 entries, expected 16",
            ),
            (
                r#"{"rows":1,"cols":2,"values":[1,1],"support":[1],"epsilon":1}"#,
                "tile 2: support has 1 entries, expected 2",
            ),
            (
                r#"{"rows":1,"cols":2,"values":[1,1],"support":[1,2],"epsilon":1}"#,
                "support entries must be 0 or 1, found 2",
            ),
            (
                r#"{"rows":1000000000,"cols":1000000000,"values":[1],"epsilon":1}"#,
                "tile 2: tile size 1000000000×1000000000 is not allowed",
            ),
            (r#"{"rows":1,"cols":1,"values":[1.5],"epsilon":1}"#, "tile 2: tile pixel (0, 0) is 1.5"),
            (r#"{"rows":1,"cols":1,"values":[1e40],"epsilon":1}"#, "tile pixel (0, 0) is inf"),
            (r#"{"rows":1,"cols":1,"values":[1],"epsilon":-1}"#, "tile 2: ε must be a finite number greater than 0"),
            (
                r#"{"rows":1,"cols":1,"values":[0],"epsilon":1}"#,
                "tile 2: a tile needs at least one pixel in its support",
            ),
            (r#"{"rows":1,"cols":1,"values":[null],"epsilon":1}"#, "not a valid tile-set file: invalid type: null"),
            (r#"{"rows":1,"cols":1,"values":[1],"epsilon":1,"extra":3}"#, "unknown field `extra`"),
        ];
        for (tile, want) in cases {
            let got = error_text(&file_with_tile(tile));
            assert!(got.contains(want), "{tile}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn header_and_structure_errors() {
        let cases = [
            (r#"{"format":"other","version":1,"classes":[]}"#, "\"format\" is \"other\""),
            (r#"{"version":1}"#, "\"format\" is \"\""),
            (r#"{"format":"tilelab-tileset","version":2,"classes":[]}"#, "version 2 is not supported"),
            (r#"{"format":"tilelab-tileset","version":1,"classes":[]}"#, "the tile set has no classes"),
            (
                r#"{"format":"tilelab-tileset","version":1,"classes":[{"name":"x","features":[]}]}"#,
                "class 1 'x': the class has no features",
            ),
            (
                r#"{"format":"tilelab-tileset","version":1,"classes":[{"name":"x","features":[{"name":"f","tiles":[]}]}]}"#,
                "class 1 'x', feature 1: the feature has no tiles",
            ),
            (r#"{"format":"tilelab-tileset","version":1,"cla"#, "not a valid tile-set file: EOF"),
            ("", "not a valid tile-set file"),
            ("[1,2]", "not a valid tile-set file"),
        ];
        for (text, want) in cases {
            let got = error_text(text);
            assert!(got.contains(want), "{text}\n got: {got}\nwant: {want}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing_the_stack() {
        // Typed parsing stops at the first value of the wrong type, serde_json skips ignored
        // values without recursion, and its recursion limit (128) guards the rest.
        let deep = |open: &str, close: &str| format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        let cases = [
            format!(r#"{{"format":"tilelab-tileset","version":1,"classes":{}}}"#, deep("[", "]")),
            format!(r#"{{"format":"tilelab-tileset","version":1,"extra":{},"classes":[]}}"#, deep(r#"{"a":"#, "}")),
            file_with_tile(&format!(r#"{{"rows":1,"cols":1,"values":{},"epsilon":1}}"#, deep("[", "]"))),
            deep("[", "]"),
        ];
        for text in cases {
            assert!(error_text(&text).starts_with("not a valid tile-set file"));
        }
    }

    #[test]
    fn save_and_load_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("set.json");
        save(&path, &example()).unwrap();
        assert_eq!(load(&path).unwrap(), example());
        assert!(matches!(load(&dir.path().join("missing.json")), Err(TileSetFileError::Io { .. })));
        let huge = dir.path().join("huge.json");
        std::fs::File::create(&huge).unwrap().set_len(MAX_FILE_BYTES + 1).unwrap();
        assert!(matches!(load(&huge), Err(TileSetFileError::TooLarge { .. })));
    }

    #[test]
    fn png_round_trip_keeps_values_and_support() {
        let tile = Tile::new(array![[0.0, 0.2], [1.0, 0.6]], array![[false, true], [true, true]], 1.5).unwrap();
        let back = import_tile_image(&tile_png(&tile, 1).unwrap(), &ImportOptions::plain(28, 1.5)).unwrap();
        assert_eq!(back.support(), tile.support());
        for (a, b) in back.values().iter().zip(tile.values()) {
            assert!((a - b).abs() <= 0.5 / 255.0 + 1e-6, "{a} vs {b}");
        }
        let scaled = image::load_from_memory(&tile_png(&tile, 3).unwrap()).unwrap().to_luma_alpha8();
        assert_eq!(scaled.dimensions(), (6, 6));
        assert_eq!((scaled[(5, 5)], scaled[(2, 2)]), (LumaA([153, 255]), LumaA([0, 0])));
    }

    #[test]
    fn import_shrinks_keeps_aspect_and_thresholds() {
        let wide = image::GrayImage::from_fn(200, 100, |x, _| image::Luma([if x < 100 { 40 } else { 255 }]));
        let mut png = Vec::new();
        image::DynamicImage::from(wide).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let thresholded = ImportOptions { threshold: Some(0.5), ..ImportOptions::plain(28, 2.0) };
        let tile = import_tile_image(&png, &thresholded).unwrap();
        assert_eq!((tile.rows(), tile.cols()), (14, 28));
        assert!(!tile.support()[[0, 0]] && tile.support()[[0, 27]]);
        // max_side is clamped to the tile limit.
        let tile = import_tile_image(&png, &ImportOptions::plain(10_000, 2.0)).unwrap();
        assert_eq!((tile.rows(), tile.cols()), (MAX_TILE_SIDE / 2, MAX_TILE_SIDE));
        let plain = ImportOptions::plain(28, 2.0);
        assert!(matches!(import_tile_image(b"not an image", &plain), Err(TileSetFileError::Image(_))));
        let black = tile_png(&Tile::filled(2, 2, 0.0, 1.0).unwrap(), 1).unwrap();
        for crop in [false, true] {
            let options = ImportOptions { crop, ..plain };
            assert!(matches!(import_tile_image(&black, &options), Err(TileSetFileError::Tile { .. })));
        }
    }

    #[test]
    fn crop_trims_the_border_without_support_before_shrinking() {
        // A 4×2 bright block at (x 30..34, y 10..12) on a 100×60 black image.
        let image = image::GrayImage::from_fn(100, 60, |x, y| {
            image::Luma([if (30..34).contains(&x) && (10..12).contains(&y) { 200 } else { 0 }])
        });
        let mut png = Vec::new();
        image::DynamicImage::from(image).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        let cropped = ImportOptions { crop: true, ..ImportOptions::plain(28, 2.0) };
        let tile = import_tile_image(&png, &cropped).unwrap();
        assert_eq!((tile.rows(), tile.cols()), (2, 4), "exactly the block, at full resolution");
        assert!(tile.support().iter().all(|&s| s));
        assert!(tile.values().iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
        // A threshold above the block's grey finds no content: nothing is cropped (and no support).
        let above = ImportOptions { threshold: Some(0.9), ..cropped };
        assert!(matches!(import_tile_image(&png, &above), Err(TileSetFileError::Tile { .. })));
        // Without crop the whole image is shrunk to 28 wide.
        let tile = import_tile_image(&png, &ImportOptions::plain(28, 2.0)).unwrap();
        assert_eq!((tile.rows(), tile.cols()), (17, 28));
    }

    #[test]
    fn import_refuses_oversized_images() {
        let mut png = Vec::new();
        let image = image::GrayImage::new(MAX_IMPORT_SIDE + 1, 1);
        image::DynamicImage::from(image).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        assert!(matches!(import_tile_image(&png, &ImportOptions::plain(28, 2.0)), Err(TileSetFileError::Image(_))));
    }

    #[test]
    fn atlas_lays_out_one_row_per_class() {
        let set = example();
        let atlas = image::load_from_memory(&atlas_png(&set, 2).unwrap()).unwrap().to_rgb8();
        // Cells are 3×3 (largest tile) plus a grid line; 2 class rows, 3 tiles in the widest row.
        assert_eq!(atlas.dimensions(), ((3 * 4 + 1) * 2, (2 * 4 + 1) * 2));
        assert_eq!(atlas[(0, 0)], ATLAS_GRID);
        // Class 1's first tile (all 1s) starts at the first cell.
        assert_eq!(atlas[(2, 2)], Rgb([255, 255, 255]));
        // Class 2's first tile, pixel (0,1) is outside the support: tinted.
        assert_eq!(atlas[(2 + 2, 10)], Rgb([64, 64, 160]));
    }

    fn arb_tile() -> impl Strategy<Value = Tile> {
        (1usize..6, 1usize..6, 0.01f32..50.0).prop_flat_map(|(rows, cols, epsilon)| {
            (
                proptest::collection::vec(0.0f32..=1.0, rows * cols),
                proptest::collection::vec(any::<bool>(), rows * cols),
            )
                .prop_filter_map("empty support", move |(values, mut support)| {
                    support[0] = true;
                    let values = Array2::from_shape_vec((rows, cols), values).ok()?;
                    let support = Array2::from_shape_vec((rows, cols), support).ok()?;
                    Tile::new(values, support, epsilon).ok()
                })
        })
    }

    fn arb_class_set() -> impl Strategy<Value = ClassSet> {
        let feature = ("[a-zA-Z \"\\\\é]{0,8}", proptest::collection::vec(arb_tile(), 1..3))
            .prop_map(|(name, tiles)| Feature { name, tiles });
        let object =
            (".{0,6}", proptest::collection::vec(feature, 1..3)).prop_map(|(name, features)| Object { name, features });
        proptest::collection::vec(object, 1..4).prop_map(|classes| ClassSet { classes })
    }

    proptest! {
        #[test]
        fn random_class_sets_round_trip(set in arb_class_set()) {
            let json = to_json(&set).unwrap();
            prop_assert_eq!(from_json(&json).unwrap(), set);
        }
    }
}
