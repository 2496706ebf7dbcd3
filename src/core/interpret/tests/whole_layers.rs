//! The gradient of a sparse stack's unit over whole layers, as `backward` computed it before it
//! kept only the unit's receptive field: the reference the fast path must equal exactly.

use ndarray::{Array2, ArrayView2};

use crate::core::interpret::Unit;
use crate::core::nn::sparse::{LayerKind, Shape, SparseConv, SparseDense, SparseNetwork};

/// Every layer's pre- and post-activation output up to the unit's layer, flattened.
struct Trace {
    input: Vec<f32>,
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
}

impl Trace {
    fn input_of(&self, layer: usize) -> &[f32] {
        if layer == 0 { &self.input } else { &self.post[layer - 1] }
    }
}

pub(super) fn whole_layer_gradient(net: &SparseNetwork, image: ArrayView2<f32>, unit: Unit) -> (f32, Array2<f32>) {
    let trace = sparse_forward(net, image, unit.layer);
    let value = trace.pre[unit.layer][unit.index];
    let mut grad = vec![0.0; trace.pre[unit.layer].len()];
    grad[unit.index] = 1.0;
    for layer in (0..=unit.layer).rev() {
        let kind = &net.layers()[layer].kind;
        // The unit's own ReLU is skipped: its pre-activation is what is differentiated.
        if layer < unit.layer && has_relu(kind) {
            for (g, &pre) in grad.iter_mut().zip(&trace.pre[layer]) {
                if pre <= 0.0 {
                    *g = 0.0;
                }
            }
        }
        grad = layer_backward(kind, input_shape(net, layer), net.shapes()[layer], &grad, trace.input_of(layer).len());
    }
    (value, Array2::from_shape_vec(net.input(), grad).unwrap_or_else(|_| Array2::zeros(net.input())))
}

fn sparse_forward(net: &SparseNetwork, image: ArrayView2<f32>, last: usize) -> Trace {
    let input: Vec<f32> = image.iter().copied().collect();
    let mut trace = Trace { input, pre: Vec::with_capacity(last + 1), post: Vec::with_capacity(last + 1) };
    for layer in 0..=last {
        let kind = &net.layers()[layer].kind;
        let pre = layer_forward(kind, input_shape(net, layer), net.shapes()[layer], trace.input_of(layer));
        let post = if has_relu(kind) { pre.iter().map(|v| v.max(0.0)).collect() } else { pre.clone() };
        trace.pre.push(pre);
        trace.post.push(post);
    }
    trace
}

fn input_shape(net: &SparseNetwork, layer: usize) -> Shape {
    match layer.checked_sub(1) {
        Some(previous) => net.shapes()[previous],
        None => Shape::Map { channels: 1, rows: net.input().0, cols: net.input().1 },
    }
}

fn has_relu(kind: &LayerKind) -> bool {
    match kind {
        LayerKind::Pad { .. } => false,
        LayerKind::Conv(conv) => conv.relu,
        LayerKind::Dense(dense) => dense.relu,
    }
}

/// `(rows, cols)` of a map shape (a vector is one row).
fn plane(shape: Shape) -> (usize, usize) {
    match shape {
        Shape::Map { rows, cols, .. } => (rows, cols),
        Shape::Vector(n) => (1, n),
    }
}

/// The layer's output before its `ReLU`.
fn layer_forward(kind: &LayerKind, input: Shape, output: Shape, values: &[f32]) -> Vec<f32> {
    match kind {
        LayerKind::Pad { .. } => pad_forward(values, input, output),
        LayerKind::Conv(conv) => conv_forward(conv, values, plane(input), plane(output)),
        LayerKind::Dense(dense) => dense_forward(dense, values),
    }
}

/// `∂value/∂layer input` from `∂value/∂layer output (before its ReLU)`.
fn layer_backward(kind: &LayerKind, input: Shape, output: Shape, grad: &[f32], input_len: usize) -> Vec<f32> {
    match kind {
        LayerKind::Pad { .. } => pad_backward(grad, input, output),
        LayerKind::Conv(conv) => conv_backward(conv, grad, input_len, plane(input), plane(output)),
        LayerKind::Dense(dense) => dense_backward(dense, grad, input_len),
    }
}

fn pad_forward(values: &[f32], input: Shape, output: Shape) -> Vec<f32> {
    let ((rows, cols), (out_rows, out_cols)) = (plane(input), plane(output));
    let mut out = vec![0.0; output.len()];
    for (in_plane, out_plane) in values.chunks_exact(rows * cols).zip(out.chunks_exact_mut(out_rows * out_cols)) {
        for (in_row, out_row) in in_plane.chunks_exact(cols).zip(out_plane.chunks_exact_mut(out_cols)) {
            out_row[..cols].copy_from_slice(in_row);
        }
    }
    out
}

fn pad_backward(grad: &[f32], input: Shape, output: Shape) -> Vec<f32> {
    let ((rows, cols), (out_rows, out_cols)) = (plane(input), plane(output));
    let mut out = Vec::with_capacity(input.len());
    for out_plane in grad.chunks_exact(out_rows * out_cols) {
        for out_row in out_plane.chunks_exact(out_cols).take(rows) {
            out.extend_from_slice(&out_row[..cols]);
        }
    }
    out
}

/// Where tap `(channel, dy, dx)`'s input row 0 starts in the flat input.
fn tap_start(conv: &SparseConv, tap: &crate::core::nn::sparse::Tap, (rows, cols): (usize, usize)) -> usize {
    tap.channel * rows * cols + tap.dy * conv.dilation * cols + tap.dx * conv.dilation
}

/// `out[o][y][x] = bias[o] + Σ_taps w · in[c][y + dy·d][x + dx·d]`, parallel over output channels.
fn conv_forward(
    conv: &SparseConv,
    values: &[f32],
    input: (usize, usize),
    (out_rows, out_cols): (usize, usize),
) -> Vec<f32> {
    let size = out_rows * out_cols;
    let mut out = vec![0.0; conv.channels() * size];
    out.chunks_mut(size.max(1)).enumerate().for_each(|(o, plane)| {
        plane.fill(conv.bias[o]);
        for tap in &conv.taps[o] {
            let start = tap_start(conv, tap, input);
            for (y, out_row) in plane.chunks_exact_mut(out_cols).enumerate() {
                let in_row = &values[start + y * input.1..][..out_cols];
                for (acc, &x) in out_row.iter_mut().zip(in_row) {
                    *acc += tap.weight * x;
                }
            }
        }
    });
    out
}

/// `∂in[c][y + dy·d][x + dx·d] += w · ∂out[o][y][x]`, skipping channels with no gradient.
fn conv_backward(
    conv: &SparseConv,
    grad: &[f32],
    input_len: usize,
    input: (usize, usize),
    (out_rows, out_cols): (usize, usize),
) -> Vec<f32> {
    let mut out = vec![0.0; input_len];
    for (o, plane) in grad.chunks_exact((out_rows * out_cols).max(1)).enumerate() {
        if plane.iter().all(|&g| g == 0.0) {
            continue;
        }
        for tap in &conv.taps[o] {
            let start = tap_start(conv, tap, input);
            for (y, grad_row) in plane.chunks_exact(out_cols).enumerate() {
                let in_row = &mut out[start + y * input.1..][..out_cols];
                for (acc, &g) in in_row.iter_mut().zip(grad_row) {
                    *acc += tap.weight * g;
                }
            }
        }
    }
    out
}

/// `bias + Σ w·in`, accumulated in f64 like the forward engine (N1's sums cancel against its bias).
fn dense_forward(layer: &SparseDense, values: &[f32]) -> Vec<f32> {
    (0..layer.neurons())
        .map(|n| {
            let sum: f64 = layer.weights_of(n).map(|(i, w)| f64::from(w) * f64::from(values[i])).sum();
            (f64::from(layer.bias_of(n)) + sum) as f32
        })
        .collect()
}

fn dense_backward(layer: &SparseDense, grad: &[f32], input_len: usize) -> Vec<f32> {
    let mut out = vec![0.0; input_len];
    for (n, &g) in grad.iter().enumerate().filter(|(_, g)| **g != 0.0) {
        for (i, w) in layer.weights_of(n) {
            out[i] += w * g;
        }
    }
    out
}
