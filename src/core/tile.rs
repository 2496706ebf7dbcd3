//! Feature tiles, features, objects and class sets (CONSTRUCTION.md §1), with validation.

use ndarray::Array2;
use thiserror::Error;

/// Largest tile side accepted anywhere (editor, files, networks).
pub const MAX_TILE_SIDE: usize = 64;

/// Why a tile, feature, object or class set is not usable.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TileError {
    #[error("a tile needs at least one pixel in its support")]
    EmptySupport,
    #[error("ε must be a finite number greater than 0 (got {0})")]
    BadEpsilon(f32),
    #[error("tile pixel ({row}, {col}) is {value}: values must lie in [0, 1]")]
    BadValue { row: usize, col: usize, value: f32 },
    #[error("tile size {rows}×{cols} is not allowed (1 to {MAX_TILE_SIDE} per side)")]
    BadSize { rows: usize, cols: usize },
    #[error("support mask is {mask_rows}×{mask_cols} but the tile is {rows}×{cols}")]
    SupportShape { rows: usize, cols: usize, mask_rows: usize, mask_cols: usize },
    #[error("tile {tile_rows}×{tile_cols} of class '{class}' does not fit in a {height}×{width} image")]
    TooLarge { class: String, tile_rows: usize, tile_cols: usize, height: usize, width: usize },
    #[error("the tile set has no classes")]
    NoClasses,
    #[error("class '{0}' has no features")]
    NoFeatures(String),
    #[error("feature '{0}' has no tiles")]
    NoTiles(String),
}

/// A feature tile: values `t`, the pixels that count (`support`), and the tolerance ε.
///
/// `d_T(x, i, j) = Σ_{(a,b) ∈ S} |x[i+a][j+b] − t[a][b]|`; `x` contains the tile iff some
/// window has `d_T < ε`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tile {
    values: Array2<f32>,
    support: Array2<bool>,
    epsilon: f32,
}

impl Tile {
    /// A validated tile with an explicit support mask.
    pub fn new(values: Array2<f32>, support: Array2<bool>, epsilon: f32) -> Result<Self, TileError> {
        let (rows, cols) = values.dim();
        check_size(rows, cols)?;
        if support.dim() != (rows, cols) {
            let (mask_rows, mask_cols) = support.dim();
            return Err(TileError::SupportShape { rows, cols, mask_rows, mask_cols });
        }
        for ((row, col), &value) in values.indexed_iter() {
            if !(0.0..=1.0).contains(&value) {
                return Err(TileError::BadValue { row, col, value });
            }
        }
        if !support.iter().any(|&s| s) {
            return Err(TileError::EmptySupport);
        }
        check_epsilon(epsilon)?;
        // Standard layout lets the detectors read rows as contiguous slices.
        let values = values.as_standard_layout().into_owned();
        let support = support.as_standard_layout().into_owned();
        Ok(Self { values, support, epsilon })
    }

    /// A tile whose support is its non-zero pixels (the paper's `S = supp(t)`).
    pub fn from_values(values: Array2<f32>, epsilon: f32) -> Result<Self, TileError> {
        let support = values.mapv(|v| v != 0.0);
        Self::new(values, support, epsilon)
    }

    /// A `rows×cols` tile of one value with every pixel in the support.
    pub fn filled(rows: usize, cols: usize, value: f32, epsilon: f32) -> Result<Self, TileError> {
        check_size(rows, cols)?;
        Self::new(Array2::from_elem((rows, cols), value), Array2::from_elem((rows, cols), true), epsilon)
    }

    /// The values `t`, `k×l`.
    pub fn values(&self) -> &Array2<f32> {
        &self.values
    }

    /// The support mask `S`, `k×l`.
    pub fn support(&self) -> &Array2<bool> {
        &self.support
    }

    /// The tolerance ε.
    pub fn epsilon(&self) -> f32 {
        self.epsilon
    }

    /// Number of rows `k`.
    pub fn rows(&self) -> usize {
        self.values.nrows()
    }

    /// Number of columns `l`.
    pub fn cols(&self) -> usize {
        self.values.ncols()
    }

    /// `|S|`, the number of pixels that count.
    pub fn support_len(&self) -> usize {
        self.support.iter().filter(|&&s| s).count()
    }

    /// The support pixels as `(row, col, value)`, row-major.
    pub fn support_pixels(&self) -> impl Iterator<Item = (usize, usize, f32)> + '_ {
        self.values.indexed_iter().filter(|&((r, c), _)| self.support[[r, c]]).map(|((r, c), &v)| (r, c, v))
    }

    /// Sets ε, rejecting non-finite or non-positive values.
    pub fn set_epsilon(&mut self, epsilon: f32) -> Result<(), TileError> {
        check_epsilon(epsilon)?;
        self.epsilon = epsilon;
        Ok(())
    }

    /// Paints one pixel: `value` is clamped to [0, 1]; `in_support` decides whether it counts.
    ///
    /// Refuses to remove the last support pixel (the tile would match every image).
    pub fn set_pixel(&mut self, row: usize, col: usize, value: f32, in_support: bool) -> Result<(), TileError> {
        if row >= self.rows() || col >= self.cols() {
            return Ok(());
        }
        let value = if value.is_nan() { 0.0 } else { value.clamp(0.0, 1.0) };
        if !in_support && self.support[[row, col]] && self.support_len() == 1 {
            return Err(TileError::EmptySupport);
        }
        self.values[[row, col]] = value;
        self.support[[row, col]] = in_support;
        Ok(())
    }

    /// The same tile resized to `rows×cols` (new pixels 0 and outside the support, anchored top-left).
    pub fn resized(&self, rows: usize, cols: usize) -> Result<Self, TileError> {
        check_size(rows, cols)?;
        let mut values = Array2::zeros((rows, cols));
        let mut support = Array2::from_elem((rows, cols), false);
        for r in 0..rows.min(self.rows()) {
            for c in 0..cols.min(self.cols()) {
                values[[r, c]] = self.values[[r, c]];
                support[[r, c]] = self.support[[r, c]];
            }
        }
        if !support.iter().any(|&s| s) {
            support[[0, 0]] = true;
        }
        Self::new(values, support, self.epsilon)
    }
}

fn check_size(rows: usize, cols: usize) -> Result<(), TileError> {
    if rows == 0 || cols == 0 || rows > MAX_TILE_SIDE || cols > MAX_TILE_SIDE {
        return Err(TileError::BadSize { rows, cols });
    }
    Ok(())
}

fn check_epsilon(epsilon: f32) -> Result<(), TileError> {
    if epsilon.is_finite() && epsilon > 0.0 { Ok(()) } else { Err(TileError::BadEpsilon(epsilon)) }
}

/// A feature `F = {T_1..T_q}`: alternatives; an image contains `F` iff it contains one of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    pub tiles: Vec<Tile>,
}

/// An object `O = [F_1..F_m]`, one class: an image contains it iff it contains all its features.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The class name shown everywhere (its label is its index in the [`ClassSet`]).
    pub name: String,
    pub features: Vec<Feature>,
}

/// Identifies one tile inside a class set: `(class, feature, tile)` indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TileId {
    pub class: usize,
    pub feature: usize,
    pub tile: usize,
}

/// The labelled objects `O_1..O_L`; the label of an object is its index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClassSet {
    pub classes: Vec<Object>,
}

impl ClassSet {
    /// Number of classes `L`.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// True when there are no classes.
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// Every tile with its id, in class → feature → tile order (the order networks use).
    pub fn tiles(&self) -> impl Iterator<Item = (TileId, &Tile)> + '_ {
        self.classes.iter().enumerate().flat_map(|(class, object)| {
            object.features.iter().enumerate().flat_map(move |(feature, f)| {
                f.tiles.iter().enumerate().map(move |(tile, t)| (TileId { class, feature, tile }, t))
            })
        })
    }

    /// The tile with this id, if it exists.
    pub fn tile(&self, id: TileId) -> Option<&Tile> {
        self.classes.get(id.class)?.features.get(id.feature)?.tiles.get(id.tile)
    }

    /// A readable name such as `"Bag / feature 1 / tile 2"` (or just the class for one tile).
    pub fn tile_label(&self, id: TileId) -> String {
        let Some(object) = self.classes.get(id.class) else { return format!("tile {id:?}") };
        let single = object.features.len() == 1 && object.features[0].tiles.len() == 1;
        if single {
            return object.name.clone();
        }
        let feature = object.features.get(id.feature).map_or("?", |f| f.name.as_str());
        format!("{} / {} #{}", object.name, feature, id.tile + 1)
    }

    /// Largest number of features of any class (`max m`).
    pub fn max_features(&self) -> usize {
        self.classes.iter().map(|o| o.features.len()).max().unwrap_or(0)
    }

    /// Checks that the set is usable at all: classes, features and tiles present.
    pub fn validate(&self) -> Result<(), TileError> {
        if self.classes.is_empty() {
            return Err(TileError::NoClasses);
        }
        for object in &self.classes {
            if object.features.is_empty() {
                return Err(TileError::NoFeatures(object.name.clone()));
            }
            for feature in &object.features {
                if feature.tiles.is_empty() {
                    return Err(TileError::NoTiles(feature.name.clone()));
                }
            }
        }
        Ok(())
    }

    /// Checks [`Self::validate`] and that every tile fits in an `height×width` image.
    pub fn validate_for_image(&self, height: usize, width: usize) -> Result<(), TileError> {
        self.validate()?;
        for (id, tile) in self.tiles() {
            if tile.rows() > height || tile.cols() > width {
                return Err(TileError::TooLarge {
                    class: self.classes[id.class].name.clone(),
                    tile_rows: tile.rows(),
                    tile_cols: tile.cols(),
                    height,
                    width,
                });
            }
        }
        Ok(())
    }
}

/// A class of one feature with one tile, the common case (`m = 1`, `q = 1`).
pub fn single_tile_object(name: &str, tile: Tile) -> Object {
    Object { name: name.to_owned(), features: vec![Feature { name: name.to_owned(), tiles: vec![tile] }] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn support_defaults_to_nonzero_pixels() {
        let tile = Tile::from_values(array![[0.0, 0.5], [1.0, 0.0]], 0.1).unwrap();
        assert_eq!(tile.support_len(), 2);
        assert!(!tile.support()[[0, 0]] && tile.support()[[0, 1]]);
    }

    #[test]
    fn invalid_tiles_give_typed_errors() {
        let cases: Vec<(Result<Tile, TileError>, TileError)> = vec![
            (Tile::from_values(array![[0.0]], 0.1), TileError::EmptySupport),
            (Tile::filled(1, 1, 0.5, 0.0), TileError::BadEpsilon(0.0)),
            (Tile::from_values(array![[1.5]], 0.1), TileError::BadValue { row: 0, col: 0, value: 1.5 }),
            (Tile::filled(0, 3, 0.5, 0.1), TileError::BadSize { rows: 0, cols: 3 }),
        ];
        for (got, want) in cases {
            assert_eq!(got.unwrap_err(), want);
        }
        assert!(matches!(Tile::filled(1, 1, 0.5, f32::NAN), Err(TileError::BadEpsilon(_))));
        assert!(matches!(Tile::from_values(array![[f32::NAN]], 0.1), Err(TileError::BadValue { .. })));
    }

    #[test]
    fn last_support_pixel_cannot_be_erased() {
        let mut tile = Tile::filled(1, 2, 0.5, 0.1).unwrap();
        tile.set_pixel(0, 0, 0.0, false).unwrap();
        assert_eq!(tile.set_pixel(0, 1, 0.0, false), Err(TileError::EmptySupport));
    }

    #[test]
    fn class_set_validation() {
        assert_eq!(ClassSet::default().validate(), Err(TileError::NoClasses));
        let set = ClassSet { classes: vec![single_tile_object("a", Tile::filled(3, 5, 1.0, 0.5).unwrap())] };
        assert!(set.validate_for_image(3, 5).is_ok());
        assert!(matches!(set.validate_for_image(4, 4), Err(TileError::TooLarge { .. })));
    }
}
