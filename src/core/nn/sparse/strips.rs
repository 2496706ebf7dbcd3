//! Evaluation that keeps no activation it does not need: the leading convolutions stream over
//! strips of image rows, each layer keeping only the rows the next layer still has to read.
//!
//! A 2×2 kernel with dilation `d` reads rows `r..=r + d` to make output row `r`, so once a strip
//! of rows is done a layer keeps its last `reach` rows of output for the next strip and drops the
//! rest: no row is computed twice and no layer is ever held whole. For N2 on a 256×256 image
//! that is the difference between about 900 MB of activations and a few tens of MB.

use ndarray::{Array3, s};

use super::forward::apply;
use super::{Activation, LayerKind, Shape, SparseNetwork};

/// Values the strips of one evaluation may hold at once (64 M values, 256 MB of f32): the strip
/// height is chosen to stay under it. Raise it for taller strips (fewer, larger convolution
/// calls), lower it to save memory; the result does not change.
pub const STRIP_BUDGET: usize = 64 * 1024 * 1024;

/// How one evaluation runs: leading pads on the whole image, convolutions `first..end` in strips,
/// then the remaining layers whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Plan {
    /// The first convolution (after the leading padding layers).
    pub first: usize,
    /// One past the last convolution run in strips (`first` when none is).
    pub end: usize,
    /// Output rows of layer `end − 1` made per strip.
    pub strip_rows: usize,
    /// Most values held at once, strips and whole layers together.
    pub peak: usize,
}

/// Rows of input a convolution reads beyond its output row (`(kh − 1)·d`; 0 for other layers
/// and past the last layer).
fn reach(network: &SparseNetwork, layer: usize) -> usize {
    match network.layers.get(layer).map(|l| &l.kind) {
        Some(LayerKind::Conv(conv)) => (conv.kernel.0 - 1) * conv.dilation,
        _ => 0,
    }
}

/// The shape a layer reads.
fn input_shape(network: &SparseNetwork, layer: usize) -> Shape {
    match layer.checked_sub(1) {
        Some(previous) => network.shapes[previous],
        None => Shape::Map { channels: 1, rows: network.input.0, cols: network.input.1 },
    }
}

/// Values of one row of every channel of a map (0 for a vector).
fn row_len(shape: Shape) -> usize {
    match shape {
        Shape::Map { channels, cols, .. } => channels * cols,
        Shape::Vector(_) => 0,
    }
}

/// The plan for computing layer `target`'s output with `budget` values for the strips
/// ([`STRIP_BUDGET`] outside tests).
pub(super) fn plan(network: &SparseNetwork, target: usize, budget: usize) -> Plan {
    let layers = &network.layers[..=target.min(network.layers.len().saturating_sub(1))];
    let first = layers.iter().take_while(|l| matches!(l.kind, LayerKind::Pad { .. })).count();
    let end = first + layers[first..].iter().take_while(|l| matches!(l.kind, LayerKind::Conv(_))).count();
    let image = input_shape(network, first).len();
    // A layer's input and its new output rows are alive together, plus every layer's kept tail.
    let per_row = (first..end).map(|k| row_len(input_shape(network, k)) + row_len(network.shapes[k])).max();
    let tails: usize = (first..end).map(|k| reach(network, k + 1) * row_len(network.shapes[k])).sum();
    let longest_reach = (first..end).map(|k| reach(network, k)).max().unwrap_or(0);
    let (strip_rows, strips_peak, prefix_output) = match (per_row, end.checked_sub(1)) {
        (Some(per_row), Some(last)) if end > first => {
            let rows = match network.shapes[last] {
                Shape::Map { rows, .. } => rows,
                Shape::Vector(_) => 1,
            };
            let strip_rows = (budget / per_row.max(1)).saturating_sub(longest_reach).clamp(1, rows.max(1));
            (strip_rows, (strip_rows + longest_reach) * per_row + tails, network.shapes[last].len())
        }
        _ => (1, 0, 0),
    };
    // After the strips, each later layer holds its input and its output.
    let whole = (end..layers.len()).map(|k| input_shape(network, k).len() + network.shapes[k].len()).max().unwrap_or(0);
    let peak = (image + strips_peak + prefix_output).max(whole);
    Plan { first, end, strip_rows, peak }
}

/// Runs the leading pads on the whole image and the convolutions `first..end` in strips; returns
/// the output of layer `end − 1` (the padded image when no convolution runs in strips).
pub(super) fn run(network: &SparseNetwork, plan: Plan, image: Activation) -> Activation {
    let last = plan.end.max(plan.first).checked_sub(1);
    let mut output = match last.map(|k| network.shapes[k]) {
        Some(Shape::Map { channels, rows, cols }) => Array3::zeros((channels, rows, cols)),
        _ => return image,
    };
    stream(network, plan, image, &mut |layer, first_row, rows| {
        if Some(layer) == last {
            output.slice_mut(s![.., first_row..first_row + rows.dim().1, ..]).assign(rows);
        }
    });
    Activation::Map(output)
}

/// Runs layers `..plan.end` (the leading pads whole, the convolutions in strips) and hands each
/// layer's new output rows to `sink(layer, first row, rows [C, n, W])`, once per row; keeps
/// nothing itself but the strips.
pub(super) fn stream(
    network: &SparseNetwork,
    plan: Plan,
    image: Activation,
    sink: &mut dyn FnMut(usize, usize, &Array3<f32>),
) {
    let mut padded = image;
    for (k, layer) in network.layers[..plan.first].iter().enumerate() {
        padded = apply(&layer.kind, &padded);
        if let Activation::Map(map) = &padded {
            sink(k, 0, map);
        }
    }
    if plan.end == plan.first {
        return;
    }
    let Activation::Map(image) = &padded else { return };
    let Shape::Map { rows, .. } = network.shapes[plan.end - 1] else { return };
    let convs = plan.first..plan.end;
    // `still[k]`: rows layer k's output must reach beyond the strip for the layers after it.
    let still: Vec<usize> = convs.clone().map(|k| (k + 1..plan.end).map(|j| reach(network, j)).sum()).collect();
    // Image rows already read by the first convolution.
    let mut image_done = 0;
    let mut tails: Vec<Option<Array3<f32>>> = vec![None; convs.len()];
    // Output rows each convolution has made so far.
    let mut made = vec![0; convs.len()];
    let mut start = 0;
    while start < rows {
        let stop = (start + plan.strip_rows).min(rows);
        let first_reach = reach(network, plan.first);
        let wanted = stop + still[0];
        let mut input = image.slice(s![.., image_done..wanted + first_reach, ..]).as_standard_layout().into_owned();
        image_done = wanted;
        for (i, k) in convs.clone().enumerate() {
            let Activation::Map(new_rows) = apply(&network.layers[k].kind, &Activation::Map(input)) else { return };
            sink(k, made[i], &new_rows);
            made[i] += new_rows.dim().1;
            let joined = match tails[i].take() {
                Some(tail) => stack_rows(&tail, &new_rows),
                None => new_rows,
            };
            let keep = reach(network, k + 1).min(joined.dim().1);
            if k + 1 < plan.end && keep > 0 {
                let from = joined.dim().1 - keep;
                tails[i] = Some(joined.slice(s![.., from.., ..]).as_standard_layout().into_owned());
            }
            input = joined;
        }
        start = stop;
    }
}

/// `top` above `bottom` (same channels and columns), in standard layout as the convolution reads it.
fn stack_rows(top: &Array3<f32>, bottom: &Array3<f32>) -> Array3<f32> {
    let (channels, top_rows, cols) = top.dim();
    let rows = top_rows + bottom.dim().1;
    let mut stacked = Array3::zeros((channels, rows, cols));
    stacked.slice_mut(s![.., ..top_rows, ..]).assign(top);
    stacked.slice_mut(s![.., top_rows.., ..]).assign(bottom);
    stacked
}
