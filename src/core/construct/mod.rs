//! The proof's networks: N1 (Theorem 1) and N2 (Theorem 2), built as sparse layer stacks
//! (CONSTRUCTION.md §3–5).
//!
//! Both end in the same monosemantic detector neurons `σ(ε − d_T(x,i,j))`, one per tile and
//! window, and the same output head ([`min_tree`]). [`Constructed::detectors`] tells the app where
//! those neurons live; for N2, [`Constructed::blocks`] describes the block hierarchy.

// ndarray views are cheap handles, passed by value throughout the crate (as in `detect`).
#![allow(clippy::needless_pass_by_value)]

pub mod choice;
pub mod min_tree;
pub mod n1;
pub mod n2;

use std::collections::HashMap;

use thiserror::Error;

use super::nn::sparse::{SparseError, SparseNetwork};
use super::tile::{ClassSet, TileError, TileId};

pub use n1::{FilterReport, TileFilters, build_n1, filter_report, n1_fits, n1_weights};
pub use n2::build_n2;

/// One of the proof's two networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Which {
    /// Theorem 1: 2×2 value filters, one hidden FC layer of detectors.
    #[default]
    N1,
    /// Theorem 2: hierarchical block distances with dilated 2×2 kernels.
    N2,
}

impl Which {
    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::N1 => "N1",
            Self::N2 => "N2",
        }
    }

    /// Builds this network for `classes` on `height × width` images.
    pub fn build(self, classes: &ClassSet, height: usize, width: usize) -> Result<Constructed, ConstructError> {
        match self {
            Self::N1 => build_n1(classes, height, width),
            Self::N2 => build_n2(classes, height, width),
        }
    }
}

/// Largest number of weights a constructed network may hold (20 M, with their indices and the
/// neurons' meanings about 400 MB), so that a big image with many tiles gives an error instead of
/// exhausting memory. N1's hidden layer holds `2|supp t|` weights per tile and window, so N1 meets
/// it first (ten full 28×28 tiles: from about 60×60 images on); N2's per image only in its head.
pub const MAX_WEIGHTS: usize = 20_000_000;

/// Largest number of N2 channels (about 200 bytes each with taps and meaning: 100 MB). N2's
/// channels grow with the tiles' distinct blocks, not with the image: only a tile set of
/// thousands of large tiles meets it.
pub const MAX_N2_CHANNELS: usize = 500_000;

/// Why a network cannot be constructed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ConstructError {
    #[error(transparent)]
    Tiles(#[from] TileError),
    #[error("the image must be at least 1×1 (got {height}×{width})")]
    EmptyImage { height: usize, width: usize },
    #[error("{network} would need {needed} {what}, more than {constant} = {limit}: {hint}")]
    TooLarge {
        network: &'static str,
        what: &'static str,
        needed: usize,
        limit: usize,
        /// The name of the limit's constant, so that the message says what to change.
        constant: &'static str,
        hint: &'static str,
    },
    #[error("internal construction error: {0}")]
    Sparse(#[from] SparseError),
}

/// Where tile `tile`'s detector neurons `σ(ε − d_T(x,i,j))` sit in the detector layer's output.
#[derive(Debug, Clone, PartialEq)]
pub struct TileDetector {
    pub tile: TileId,
    /// The tile's ε (the detector's bias).
    pub epsilon: f32,
    /// Number of valid window offsets `(H − k + 1, W − l + 1)`.
    pub valid: (usize, usize),
    /// For N2, the detection channel of this tile; `None` for N1 (its detectors are FC neurons).
    pub channel: Option<usize>,
    /// Flat index (in the layer's `(C,H,W)`-flattened output) of window `(0, 0)`.
    pub first_unit: usize,
    /// Flat distance between windows `(i, j)` and `(i + 1, j)`.
    pub row_stride: usize,
}

impl TileDetector {
    /// Flat index of the neuron for window `(i, j)`, or `None` if that offset is not valid.
    pub fn unit(&self, i: usize, j: usize) -> Option<usize> {
        (i < self.valid.0 && j < self.valid.1).then(|| self.first_unit + i * self.row_stride + j)
    }

    /// Flat indices of every valid window, row-major.
    pub fn units(&self) -> Vec<usize> {
        let (rows, cols) = self.valid;
        (0..rows).flat_map(|i| (0..cols).map(move |j| self.first_unit + i * self.row_stride + j)).collect()
    }
}

/// The monosemantic layer of a constructed network and each tile's neurons in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Detectors {
    /// Index of the layer whose outputs are the detectors.
    pub layer: usize,
    /// One entry per tile, in [`ClassSet::tiles`] order.
    pub tiles: Vec<TileDetector>,
}

/// One occurrence of a deduplicated block: tile and top-left pixel of the block in the padded tile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockPlace {
    pub tile: TileId,
    pub row: usize,
    pub col: usize,
}

/// A channel of N2's layer s: the distance of each `2^s×2^s` window to one distinct block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockChannel {
    /// Every place where this block occurs (all tiles sharing it).
    pub places: Vec<BlockPlace>,
    /// The channels of the previous block layer summed here, by quadrant (top-left, top-right,
    /// bottom-left, bottom-right); `None` for an empty quadrant. All `None` at layer 1, which
    /// reads pixels through layer 0 instead.
    pub quadrants: [Option<usize>; 4],
}

/// One block layer of N2 (`s = 1..r`).
#[derive(Debug, Clone, PartialEq)]
pub struct BlockLevel {
    /// Index of the layer in the network.
    pub layer: usize,
    /// Block side `2^s`.
    pub size: usize,
    pub channels: Vec<BlockChannel>,
}

/// A constructed network with the facts the app and the checks need about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Constructed {
    pub network: SparseNetwork,
    pub detectors: Detectors,
    /// N2's block layers, bottom-up; empty for N1.
    pub blocks: Vec<BlockLevel>,
}

impl Constructed {
    /// The logits `N(x)`, one per class.
    pub fn logits(&self, image: ndarray::ArrayView2<f32>) -> Result<Vec<f32>, SparseError> {
        self.network.logits(image)
    }
}

/// The distinct non-zero values that occur in some tile's support, ascending, with a lookup
/// from the value's bits to its index (the value filters/channels are numbered this way).
#[derive(Debug, Clone, PartialEq)]
pub struct DistinctValues {
    pub values: Vec<f32>,
    index: HashMap<u32, usize>,
}

impl DistinctValues {
    /// Collects the distinct non-zero support values of every tile.
    pub fn of(classes: &ClassSet) -> Self {
        let mut values: Vec<f32> =
            classes.tiles().flat_map(|(_, t)| t.support_pixels().map(|(_, _, v)| v)).filter(|&v| v != 0.0).collect();
        values.sort_by(f32::total_cmp);
        values.dedup();
        let index = values.iter().enumerate().map(|(i, v)| (v.to_bits(), i)).collect();
        Self { values, index }
    }

    /// Index of a non-zero support value.
    pub fn position(&self, value: f32) -> Option<usize> {
        self.index.get(&value.to_bits()).copied()
    }

    /// Number of distinct values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when every support value is 0.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// `|y − c| = σ(2y − 2c) − σ(y) + c` for `y ≥ 0`, read from a value unit (`σ(2y − 2c)`) and an
/// identity unit (`σ(y)`): the weights and the bias contribution. For `c = 0` it is `σ(y)` alone.
pub fn abs_term(value_unit: Option<usize>, identity_unit: usize, c: f32) -> (Vec<(usize, f32)>, f32) {
    match value_unit {
        Some(unit) if c != 0.0 => (vec![(unit, 1.0), (identity_unit, -1.0)], c),
        _ => (vec![(identity_unit, 1.0)], 0.0),
    }
}

/// A short "rows a–b, cols c–d" description of a rectangle.
fn span(row: usize, col: usize, rows: usize, cols: usize) -> String {
    format!("rows {row}–{}, cols {col}–{}", row + rows - 1, col + cols - 1)
}

/// A limit of the construction: its value, its constant's name and what to do beyond it.
struct Limit {
    value: usize,
    constant: &'static str,
    hint: &'static str,
}

/// Fails with [`ConstructError::TooLarge`] when `needed` exceeds `limit`.
fn check_limit(network: &'static str, what: &'static str, needed: usize, limit: &Limit) -> Result<(), ConstructError> {
    if needed <= limit.value {
        return Ok(());
    }
    Err(ConstructError::TooLarge {
        network,
        what,
        needed,
        limit: limit.value,
        constant: limit.constant,
        hint: limit.hint,
    })
}

/// Checks the class set and the image size shared by N1 and N2.
fn validate(classes: &ClassSet, height: usize, width: usize) -> Result<(), ConstructError> {
    if height == 0 || width == 0 {
        return Err(ConstructError::EmptyImage { height, width });
    }
    classes.validate_for_image(height, width)?;
    Ok(())
}

#[cfg(test)]
mod tests;
