//! Parts of layer outputs, for drawing networks whose activations are too large to keep: some
//! channels of a feature map over a rectangle of positions, with the value range of the whole
//! layer (for a shared colour scale). The leading convolutions stream in strips ([`super::strips`]),
//! so only the parts asked for are ever held, whatever the image size.

use std::ops::Range;

use ndarray::{Array3, s};

use super::{STRIP_BUDGET, Shape, SparseError, SparseNetwork, check_evaluation, check_kept, strips};

/// Some channels of one feature-map layer over rows `rows` and columns `cols` of its output.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LayerWindow {
    pub layer: usize,
    pub channels: Vec<usize>,
    pub rows: Range<usize>,
    pub cols: Range<usize>,
}

/// The values of one [`LayerWindow`].
#[derive(Debug, Clone, PartialEq)]
pub struct WindowValues {
    /// `[channels, rows, cols]` of the window, clipped to the layer's map.
    pub maps: Array3<f32>,
    /// The first row and column of `maps` in the layer's map.
    pub origin: (usize, usize),
    /// Smallest and largest value of the whole layer (every channel and position).
    pub low: f32,
    pub high: f32,
}

impl WindowValues {
    /// The value of the window's `index`-th channel at position `(y, x)` of the whole map.
    pub fn at(&self, index: usize, y: usize, x: usize) -> Option<f32> {
        let (row, col) = (y.checked_sub(self.origin.0)?, x.checked_sub(self.origin.1)?);
        self.maps.get([index, row, col]).copied()
    }
}

/// Why a window cannot be computed.
fn bad(layer: usize, reason: &'static str) -> SparseError {
    SparseError::BadWindow { layer, reason }
}

impl SparseNetwork {
    /// The values of `windows` on `image` in one streamed evaluation: no layer is held whole.
    /// Every window's layer must be a feature map among the leading padding and convolution
    /// layers (all of N1's and N2's maps are); its rows and columns are clipped to the map.
    /// Refused before allocating beyond [`super::MAX_KEPT_ACTIVATIONS`] (the windows) or
    /// [`super::MAX_EVALUATION_VALUES`] (the strips).
    pub fn windows(
        &self,
        image: ndarray::ArrayView2<f32>,
        windows: &[LayerWindow],
    ) -> Result<Vec<WindowValues>, SparseError> {
        let input = self.input_activation(image)?;
        let Some(deepest) = windows.iter().map(|w| w.layer).max() else { return Ok(Vec::new()) };
        let plan = strips::plan(self, deepest.min(self.layers.len().saturating_sub(1)), STRIP_BUDGET);
        let mut clipped = Vec::with_capacity(windows.len());
        for window in windows {
            let Some(&Shape::Map { channels, rows, cols }) = self.shapes.get(window.layer) else {
                return Err(bad(window.layer, "it is not a feature map"));
            };
            if window.layer >= plan.end.max(plan.first) {
                return Err(bad(window.layer, "it does not follow the input through padding and convolutions alone"));
            }
            if window.channels.iter().any(|&c| c >= channels) {
                return Err(bad(window.layer, "a channel past the layer's channels"));
            }
            let clip = |range: &Range<usize>, len: usize| range.start.min(len)..range.end.min(len);
            clipped.push((clip(&window.rows, rows), clip(&window.cols, cols)));
        }
        let needed: usize = windows.iter().zip(&clipped).map(|(w, (r, c))| w.channels.len() * r.len() * c.len()).sum();
        check_kept(needed, "keeping these parts of the layers", "ask for fewer channels or a smaller part of the map")?;
        check_evaluation(plan.peak)?;
        let mut values: Vec<WindowValues> = windows
            .iter()
            .zip(clipped)
            .map(|(window, (rows, cols))| WindowValues {
                maps: Array3::zeros((window.channels.len(), rows.len(), cols.len())),
                origin: (rows.start, cols.start),
                low: f32::INFINITY,
                high: f32::NEG_INFINITY,
            })
            .collect();
        strips::stream(self, plan, input, &mut |layer, first_row, new_rows| {
            for (window, value) in windows.iter().zip(values.iter_mut()).filter(|(w, _)| w.layer == layer) {
                copy_rows(window, value, first_row, new_rows);
            }
        });
        Ok(values)
    }
}

/// Adds rows `first_row..` of a layer (every channel) to `value`: their range, and the window's part.
fn copy_rows(window: &LayerWindow, value: &mut WindowValues, first_row: usize, new_rows: &Array3<f32>) {
    for &v in new_rows {
        value.low = value.low.min(v);
        value.high = value.high.max(v);
    }
    let (_, rows, cols) = value.maps.dim();
    let (top, left) = value.origin;
    let from = first_row.max(top);
    let to = (first_row + new_rows.dim().1).min(top + rows);
    if from >= to {
        return;
    }
    for (index, &channel) in window.channels.iter().enumerate() {
        let part = new_rows.slice(s![channel, from - first_row..to - first_row, left..left + cols]);
        value.maps.slice_mut(s![index, from - top..to - top, ..]).assign(&part);
    }
}
