//! Scores of the methods against the ground truth only tilelab has: every constructed detector
//! unit means "this tile in this window", and every dataset image knows where its tiles were pasted.

use ndarray::ArrayView2;

use super::InterpretError;
use crate::core::construct::{BlockChannel, BlockLevel};
use crate::core::dataset::Placement;
use crate::core::detect;
use crate::core::tile::{ClassSet, Tile};

/// Whether a preferred stimulus holds a tile (or block) at a unit's window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Recovery {
    /// `d_T` (or the block's distance) at the unit's window.
    pub distance: f32,
    /// The tile's ε.
    pub epsilon: f32,
    /// `distance < ε`.
    pub recovered: bool,
}

/// Whether `stimulus` contains `tile` at window `(row, col)`: `d_T(stimulus, row, col) < ε`.
pub fn recovery(
    tile: &Tile,
    stimulus: ArrayView2<f32>,
    (row, col): (usize, usize),
) -> Result<Recovery, InterpretError> {
    check_window(stimulus, (row, col), (tile.rows(), tile.cols()))?;
    let distance = detect::distance(tile, stimulus, row, col);
    Ok(Recovery { distance, epsilon: tile.epsilon(), recovered: distance < tile.epsilon() })
}

/// The same for channel `channel` of N2's block level `level` read at `(row, col)`: the
/// distance of the window to the channel's block (its first place), against that tile's ε.
pub fn block_recovery(
    classes: &ClassSet,
    level: &BlockLevel,
    channel: usize,
    stimulus: ArrayView2<f32>,
    (row, col): (usize, usize),
) -> Result<Recovery, InterpretError> {
    let units = level.channels.len();
    let no_unit = InterpretError::NoUnit { layer: level.layer, unit: channel, units };
    let place = level.channels.get(channel).and_then(|c: &BlockChannel| c.places.first()).ok_or(no_unit.clone())?;
    let tile = classes.tile(place.tile).ok_or(no_unit)?;
    check_window(stimulus, (row, col), (level.size, level.size))?;
    let mut distance = 0.0;
    for (a, b, value) in tile.support_pixels() {
        let inside =
            (place.row..place.row + level.size).contains(&a) && (place.col..place.col + level.size).contains(&b);
        if inside {
            distance += (stimulus[[row + a - place.row, col + b - place.col]] - value).abs();
        }
    }
    Ok(Recovery { distance, epsilon: tile.epsilon(), recovered: distance < tile.epsilon() })
}

fn check_window(
    stimulus: ArrayView2<f32>,
    (row, col): (usize, usize),
    (rows, cols): (usize, usize),
) -> Result<(), InterpretError> {
    let (height, width) = stimulus.dim();
    if row + rows > height || col + cols > width {
        #[allow(clippy::cast_precision_loss)]
        return Err(InterpretError::OutOfRange {
            what: "the window's last row and column",
            got: (row + rows).max(col + cols) as f64,
            min: 0.0,
            max: height.min(width) as f64,
        });
    }
    Ok(())
}

fn inside(placements: &[Placement], y: usize, x: usize) -> bool {
    placements.iter().any(|p| (p.row..p.row + p.rows).contains(&y) && (p.col..p.col + p.cols).contains(&x))
}

/// Whether the largest absolute attribution lies inside one of the pasted tiles' windows
/// (false for an attribution that is zero everywhere).
pub fn pointing_game(attribution: ArrayView2<f32>, placements: &[Placement]) -> bool {
    let best = attribution.indexed_iter().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()));
    best.is_some_and(|((y, x), value)| *value != 0.0 && inside(placements, y, x))
}

/// The share of absolute attribution inside the pasted tiles' windows (0 for a zero attribution).
pub fn mass_in_window(attribution: ArrayView2<f32>, placements: &[Placement]) -> f32 {
    let (mut total, mut within) = (0.0f64, 0.0f64);
    for ((y, x), value) in attribution.indexed_iter() {
        let value = f64::from(value.abs());
        total += value;
        if inside(placements, y, x) {
            within += value;
        }
    }
    if total > 0.0 { (within / total) as f32 } else { 0.0 }
}
