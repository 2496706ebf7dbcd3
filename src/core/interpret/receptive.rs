//! The gradient of one unit of N1's or N2's sparse stack, computed on the unit's receptive field
//! only. Going back from the unit, each layer keeps the channels and the rectangle of positions
//! the unit depends on ([`Region`]), so a detector of N2 reads a tile-sized patch of a few
//! channels of each map instead of every channel of the whole image (issue 20's speed goals).
//!
//! Every kept value is computed with the same arithmetic, in the same order, as over whole maps
//! (bias first, then the taps in order; dense sums in `f64`), so the values and gradients are
//! identical to a pass over every layer (a test checks this against such a pass).

use std::ops::Range;

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::Unit;
use crate::core::nn::sparse::{LayerKind, Shape, SparseConv, SparseDense, SparseNetwork};

/// Layers with fewer kept values than this run on one thread (a thread hand-off costs more).
const PARALLEL_VALUES: usize = 1 << 16;

/// Some channels of a layer's output over one rectangle of positions; a vector is one channel of
/// one row. Kept values are stored channel by channel, row by row (the *compact* layout).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Region {
    /// Ascending.
    channels: Vec<usize>,
    rows: Range<usize>,
    cols: Range<usize>,
}

impl Region {
    fn len(&self) -> usize {
        self.channels.len() * self.plane()
    }

    fn plane(&self) -> usize {
        self.rows.len() * self.cols.len()
    }

    /// The region holding exactly the flat indices `indices` of a `dims`-shaped layer, and more
    /// where their bounding rectangle is larger.
    fn around(indices: impl Iterator<Item = usize>, dims: (usize, usize, usize)) -> Self {
        let mut channels = Vec::new();
        let (mut top, mut bottom, mut left, mut right) = (usize::MAX, 0, usize::MAX, 0);
        for index in indices {
            let (channel, y, x) = unflat(index, dims);
            channels.push(channel);
            (top, bottom) = (top.min(y), bottom.max(y + 1));
            (left, right) = (left.min(x), right.max(x + 1));
        }
        channels.sort_unstable();
        channels.dedup();
        if channels.is_empty() {
            return Self { channels, rows: 0..0, cols: 0..0 };
        }
        Self { channels, rows: top..bottom, cols: left..right }
    }

    /// The flat indices (in a `dims`-shaped layer) of the kept values, in compact order.
    fn flat_indices(&self, dims: (usize, usize, usize)) -> impl Iterator<Item = usize> + '_ {
        let (_, rows, cols) = dims;
        self.channels.iter().flat_map(move |&c| {
            self.rows.clone().flat_map(move |y| self.cols.clone().map(move |x| (c * rows + y) * cols + x))
        })
    }
}

/// Maps flat indices of a whole layer to positions in a region's compact layout.
struct Compact<'r> {
    region: &'r Region,
    dims: (usize, usize, usize),
    /// For each channel of the layer, its position in `region.channels`.
    slot: Vec<Option<usize>>,
}

impl<'r> Compact<'r> {
    fn new(region: &'r Region, dims: (usize, usize, usize)) -> Self {
        let mut slot = vec![None; dims.0];
        for (k, &c) in region.channels.iter().enumerate() {
            slot[c] = Some(k);
        }
        Self { region, dims, slot }
    }

    /// Where channel `channel`, row `y`, column `x` sits in the compact layout (inside the region).
    fn at(&self, channel: usize, y: usize, x: usize) -> usize {
        let k = self.slot[channel].unwrap_or(0);
        let r = self.region;
        (k * r.rows.len() + y - r.rows.start) * r.cols.len() + x - r.cols.start
    }

    fn of_flat(&self, index: usize) -> usize {
        let (channel, y, x) = unflat(index, self.dims);
        self.at(channel, y, x)
    }
}

/// `(channel, row, column)` of flat index `index` in a `dims`-shaped layer.
fn unflat(index: usize, (_, rows, cols): (usize, usize, usize)) -> (usize, usize, usize) {
    (index / (rows * cols), index / cols % rows, index % cols)
}

/// `(channels, rows, cols)` of a layer; a vector is one channel of one row.
fn dims(shape: Shape) -> (usize, usize, usize) {
    match shape {
        Shape::Map { channels, rows, cols } => (channels, rows, cols),
        Shape::Vector(n) => (1, 1, n),
    }
}

/// One layer restricted to the kept values, its indices already in the compact layouts.
#[derive(Debug, Clone)]
enum Op {
    /// Padding: `(output, input)` pairs of copied values; the rest of the output is zero.
    Pad(Vec<(usize, usize)>),
    /// A sparse convolution: per kept output channel, its bias and its taps as `(where the tap
    /// reads the kept output's first position in the compact input, weight)`.
    Conv { channels: Vec<(f32, Vec<(usize, f32)>)>, out_cols: usize, in_cols: usize },
    /// A sparse dense layer: per kept neuron, its bias and its `(compact input, weight)` pairs.
    Dense(Vec<(f32, Vec<(usize, f32)>)>),
}

#[derive(Debug, Clone)]
struct Step {
    op: Op,
    relu: bool,
    /// Kept values of the output.
    len: usize,
    /// Kept values of the input.
    input_len: usize,
}

/// The forward and backward pass of one unit over its receptive field.
#[derive(Debug, Clone)]
pub(super) struct ReceptivePlan {
    steps: Vec<Step>,
    /// `(compact input, image row, image column)` of every kept input pixel.
    pixels: Vec<(usize, usize, usize)>,
    input: (usize, usize),
}

impl ReceptivePlan {
    /// The plan of `unit` (which must exist) of `net`.
    pub(super) fn new(net: &SparseNetwork, unit: Unit) -> Self {
        let shapes = net.shapes();
        let (rows, cols) = net.input();
        let image_dims = (1, rows, cols);
        let dims_in = |layer: usize| layer.checked_sub(1).map_or(image_dims, |p| dims(shapes[p]));
        let mut output = Region::around(std::iter::once(unit.index), dims(shapes[unit.layer]));
        let mut regions = Vec::with_capacity(unit.layer + 2);
        for layer in (0..=unit.layer).rev() {
            let input = input_region(&net.layers()[layer].kind, dims_in(layer), dims(shapes[layer]), &output);
            regions.push(std::mem::replace(&mut output, input));
        }
        regions.push(output);
        regions.reverse();
        // regions[0] is the image's, regions[l + 1] layer l's output.
        let steps = (0..=unit.layer)
            .map(|layer| {
                let (input, output) = (&regions[layer], &regions[layer + 1]);
                let kind = &net.layers()[layer].kind;
                Step {
                    op: compact_op(kind, (input, dims_in(layer)), (output, dims(shapes[layer]))),
                    relu: has_relu(kind),
                    len: output.len(),
                    input_len: input.len(),
                }
            })
            .collect();
        let compact = Compact::new(&regions[0], image_dims);
        let pixels = regions[0].flat_indices(image_dims).map(|i| (compact.of_flat(i), i / cols, i % cols)).collect();
        Self { steps, pixels, input: (rows, cols) }
    }

    /// Values kept by one pass: every kept layer output, before and after its `ReLU`.
    pub(super) fn kept_values(&self) -> usize {
        2 * self.steps.iter().map(|s| s.len).sum::<usize>()
    }

    /// The unit's pre-activation on `image` and its gradient `∂value/∂image` (`H×W`).
    pub(super) fn gradient(&self, image: ArrayView2<f32>) -> (f32, Array2<f32>) {
        let trace = self.forward(image);
        let Some(unit_pre) = trace.pre.last() else { return (0.0, Array2::zeros(self.input)) };
        let value = unit_pre.first().copied().unwrap_or(0.0);
        // The unit's region is the unit alone.
        let mut grad = vec![1.0; unit_pre.len()];
        let last = self.steps.len() - 1;
        for (layer, step) in self.steps.iter().enumerate().rev() {
            // The unit's own ReLU is skipped: its pre-activation is what is differentiated.
            if layer < last && step.relu {
                for (g, &pre) in grad.iter_mut().zip(&trace.pre[layer]) {
                    if pre <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            grad = step_backward(step, &grad);
        }
        let mut image_grad = Array2::zeros(self.input);
        for &(k, y, x) in &self.pixels {
            image_grad[[y, x]] = grad[k];
        }
        (value, image_grad)
    }

    fn forward(&self, image: ArrayView2<f32>) -> Trace {
        let input: Vec<f32> = self.pixels.iter().map(|&(_, y, x)| image[[y, x]]).collect();
        let mut trace = Trace { pre: Vec::with_capacity(self.steps.len()), post: Vec::with_capacity(self.steps.len()) };
        for step in &self.steps {
            let values = trace.post.last().unwrap_or(&input);
            let pre = step_forward(step, values);
            let post = if step.relu { pre.iter().map(|v| v.max(0.0)).collect() } else { pre.clone() };
            trace.pre.push(pre);
            trace.post.push(post);
        }
        trace
    }
}

/// Each kept layer's output before and after its `ReLU`, in compact layout.
struct Trace {
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
}

fn has_relu(kind: &LayerKind) -> bool {
    match kind {
        LayerKind::Pad { .. } => false,
        LayerKind::Conv(conv) => conv.relu,
        LayerKind::Dense(dense) => dense.relu,
    }
}

/// The part of a layer's input that its `output` region reads.
fn input_region(
    kind: &LayerKind,
    input: (usize, usize, usize),
    output: (usize, usize, usize),
    region: &Region,
) -> Region {
    match kind {
        LayerKind::Pad { .. } => Region {
            channels: region.channels.clone(),
            rows: region.rows.start.min(input.1)..region.rows.end.min(input.1),
            cols: region.cols.start.min(input.2)..region.cols.end.min(input.2),
        },
        LayerKind::Conv(conv) => {
            let mut channels: Vec<usize> =
                region.channels.iter().flat_map(|&o| conv.taps[o].iter().map(|t| t.channel)).collect();
            channels.sort_unstable();
            channels.dedup();
            let (reach_y, reach_x) = ((conv.kernel.0 - 1) * conv.dilation, (conv.kernel.1 - 1) * conv.dilation);
            Region {
                channels,
                rows: region.rows.start..region.rows.end + reach_y,
                cols: region.cols.start..region.cols.end + reach_x,
            }
        }
        LayerKind::Dense(dense) => {
            let read = region.flat_indices(output).flat_map(|n| dense.weights_of(n).map(|(i, _)| i));
            Region::around(read, input)
        }
    }
}

fn compact_op(
    kind: &LayerKind,
    (input, in_dims): (&Region, (usize, usize, usize)),
    (output, out_dims): (&Region, (usize, usize, usize)),
) -> Op {
    let inside = Compact::new(input, in_dims);
    match kind {
        LayerKind::Pad { .. } => {
            let (_, rows, cols) = in_dims;
            let copies = output
                .flat_indices(out_dims)
                .enumerate()
                .filter_map(|(k, flat)| {
                    let (c, y, x) = unflat(flat, out_dims);
                    (y < rows && x < cols).then(|| (k, inside.at(c, y, x)))
                })
                .collect();
            Op::Pad(copies)
        }
        LayerKind::Conv(conv) => conv_op(conv, &inside, output),
        LayerKind::Dense(dense) => dense_op(dense, &inside, output, out_dims),
    }
}

fn conv_op(conv: &SparseConv, inside: &Compact, output: &Region) -> Op {
    let channels = output
        .channels
        .iter()
        .map(|&o| {
            let taps = conv.taps[o]
                .iter()
                .map(|t| {
                    let first = inside.at(t.channel, output.rows.start, output.cols.start);
                    (first + t.dy * conv.dilation * inside.region.cols.len() + t.dx * conv.dilation, t.weight)
                })
                .collect();
            (conv.bias[o], taps)
        })
        .collect();
    Op::Conv { channels, out_cols: output.cols.len(), in_cols: inside.region.cols.len() }
}

fn dense_op(dense: &SparseDense, inside: &Compact, output: &Region, out_dims: (usize, usize, usize)) -> Op {
    let neurons = output
        .flat_indices(out_dims)
        .map(|n| (dense.bias_of(n), dense.weights_of(n).map(|(i, w)| (inside.of_flat(i), w)).collect()))
        .collect();
    Op::Dense(neurons)
}

/// The step's output before its `ReLU`.
fn step_forward(step: &Step, values: &[f32]) -> Vec<f32> {
    match &step.op {
        Op::Pad(copies) => {
            let mut out = vec![0.0; step.len];
            for &(o, i) in copies {
                out[o] = values[i];
            }
            out
        }
        Op::Conv { channels, out_cols, in_cols } => conv_forward(channels, values, step.len, *out_cols, *in_cols),
        Op::Dense(neurons) => dense_forward(neurons, values),
    }
}

/// `∂value/∂step input` from `∂value/∂step output (before its ReLU)`.
fn step_backward(step: &Step, grad: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; step.input_len];
    match &step.op {
        Op::Pad(copies) => {
            for &(o, i) in copies {
                out[i] = grad[o];
            }
        }
        Op::Conv { channels, out_cols, in_cols } => conv_backward(channels, grad, &mut out, *out_cols, *in_cols),
        Op::Dense(neurons) => {
            for ((_, weights), &g) in neurons.iter().zip(grad).filter(|(_, g)| **g != 0.0) {
                for &(i, w) in weights {
                    out[i] += w * g;
                }
            }
        }
    }
    out
}

/// `out[o][y][x] = bias[o] + Σ_taps w · in[first + y·in_cols + x]`.
fn conv_forward(
    channels: &[(f32, Vec<(usize, f32)>)],
    values: &[f32],
    len: usize,
    out_cols: usize,
    in_cols: usize,
) -> Vec<f32> {
    let mut out = vec![0.0; len];
    let plane = (len / channels.len().max(1)).max(1);
    let one_channel = |(bias, taps): &(f32, Vec<(usize, f32)>), plane: &mut [f32]| {
        plane.fill(*bias);
        for &(first, weight) in taps {
            for (y, out_row) in plane.chunks_exact_mut(out_cols.max(1)).enumerate() {
                let in_row = &values[first + y * in_cols..][..out_row.len()];
                for (acc, &x) in out_row.iter_mut().zip(in_row) {
                    *acc += weight * x;
                }
            }
        }
    };
    if len >= PARALLEL_VALUES {
        out.par_chunks_mut(plane).zip(channels).for_each(|(plane, channel)| one_channel(channel, plane));
    } else {
        out.chunks_mut(plane).zip(channels).for_each(|(plane, channel)| one_channel(channel, plane));
    }
    out
}

/// `∂in[first + y·in_cols + x] += w · ∂out[o][y][x]`, skipping rows with no gradient.
fn conv_backward(
    channels: &[(f32, Vec<(usize, f32)>)],
    grad: &[f32],
    out: &mut [f32],
    out_cols: usize,
    in_cols: usize,
) {
    let plane = (grad.len() / channels.len().max(1)).max(1);
    for ((_, taps), grad_plane) in channels.iter().zip(grad.chunks(plane)) {
        for &(first, weight) in taps {
            for (y, grad_row) in grad_plane.chunks_exact(out_cols.max(1)).enumerate() {
                if grad_row.iter().all(|&g| g == 0.0) {
                    continue;
                }
                let in_row = &mut out[first + y * in_cols..][..grad_row.len()];
                for (acc, &g) in in_row.iter_mut().zip(grad_row) {
                    *acc += weight * g;
                }
            }
        }
    }
}

/// `bias + Σ w·in`, accumulated in f64 like the forward engine (N1's sums cancel against its bias).
fn dense_forward(neurons: &[(f32, Vec<(usize, f32)>)], values: &[f32]) -> Vec<f32> {
    let one = |(bias, weights): &(f32, Vec<(usize, f32)>)| {
        let sum: f64 = weights.iter().map(|&(i, w)| f64::from(w) * f64::from(values[i])).sum();
        (f64::from(*bias) + sum) as f32
    };
    if neurons.len() >= 256 {
        neurons.par_iter().with_min_len(256).map(one).collect()
    } else {
        neurons.iter().map(one).collect()
    }
}
