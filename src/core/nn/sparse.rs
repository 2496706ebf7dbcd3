//! Sparse layer stacks and their one forward engine: the form the constructed networks N1 and N2
//! take (CONSTRUCTION.md §4–5).
//!
//! A [`SparseNetwork`] is a list of layers: zero padding, convolutions whose kernels are lists of
//! non-zero taps, and fully connected layers stored row by row (CSR). Every output unit carries a
//! human-readable meaning for the app. [`SparseNetwork::forward`] returns every layer's output.
//!
//! # Shapes
//! The input is one grey image `H×W`, seen as a map `[1, H, W]`. A convolution maps `[C, H, W]`
//! to `[C', H − (kh−1)·d, W − (kw−1)·d]` (stride 1, no padding, dilation `d`); a dense layer reads
//! the previous output flattened in `(C, H, W)` row-major order (the order of `PyTorch`'s flatten).

// ndarray views are cheap handles, passed by value throughout the crate (as in `detect`).
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use thiserror::Error;

use super::dense;

/// Why a sparse network cannot be built or run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SparseError {
    #[error("layer {layer} ('{name}'): {reason}")]
    BadLayer { layer: usize, name: String, reason: String },
    #[error("the network expects a {expected_rows}×{expected_cols} image, got {rows}×{cols}")]
    InputSize { expected_rows: usize, expected_cols: usize, rows: usize, cols: usize },
    #[error("the dense form needs {needed} parameters, more than the limit of {limit}")]
    TooManyParameters { needed: usize, limit: usize },
    #[error("the dense engine refused the converted network: {0}")]
    Dense(String),
}

/// The shape of one layer's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Feature maps `[channels, rows, cols]`.
    Map { channels: usize, rows: usize, cols: usize },
    /// A vector of neurons.
    Vector(usize),
}

impl Shape {
    /// Number of values in the flattened output.
    pub fn len(self) -> usize {
        match self {
            Shape::Map { channels, rows, cols } => channels * rows * cols,
            Shape::Vector(n) => n,
        }
    }

    /// True when the output holds no values.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Map { channels, rows, cols } => write!(f, "{channels}×{rows}×{cols}"),
            Shape::Vector(n) => write!(f, "{n}"),
        }
    }
}

/// One non-zero kernel weight: input channel, kernel position `(dy, dx)` (before dilation), weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tap {
    pub channel: usize,
    pub dy: usize,
    pub dx: usize,
    pub weight: f32,
}

/// A convolution with sparse kernels: per output channel its taps and bias.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseConv {
    /// Kernel size `(kh, kw)`.
    pub kernel: (usize, usize),
    /// Spacing between kernel taps (1 = an ordinary convolution).
    pub dilation: usize,
    /// Whether a `ReLU` follows.
    pub relu: bool,
    /// Per output channel, its non-zero taps.
    pub taps: Vec<Vec<Tap>>,
    /// Per output channel, its bias.
    pub bias: Vec<f32>,
}

impl SparseConv {
    /// An empty convolution (channels are added with [`Self::push_channel`]).
    pub fn new(kernel: (usize, usize), dilation: usize, relu: bool) -> Self {
        Self { kernel, dilation, relu, taps: Vec::new(), bias: Vec::new() }
    }

    /// Adds one output channel; returns its index.
    pub fn push_channel(&mut self, taps: Vec<Tap>, bias: f32) -> usize {
        self.taps.push(taps);
        self.bias.push(bias);
        self.taps.len() - 1
    }

    /// Number of output channels.
    pub fn channels(&self) -> usize {
        self.taps.len()
    }
}

/// A fully connected layer in compressed-row form: neuron `n` reads `inputs[starts[n]..starts[n+1]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseDense {
    /// Whether a `ReLU` follows.
    pub relu: bool,
    starts: Vec<usize>,
    inputs: Vec<u32>,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl SparseDense {
    /// An empty layer (neurons are added with [`Self::push_neuron`]).
    pub fn new(relu: bool) -> Self {
        Self { relu, starts: vec![0], inputs: Vec::new(), weights: Vec::new(), bias: Vec::new() }
    }

    /// Adds a neuron `bias + Σ w·input[index]`; returns its index. Its weights are stored in
    /// input order, so that the forward pass reads the previous layer front to back.
    pub fn push_neuron(&mut self, weights: &[(usize, f32)], bias: f32) -> usize {
        let mut weights = weights.to_vec();
        weights.sort_by_key(|&(index, _)| index);
        for (index, weight) in weights {
            // Indices beyond u32 are caught by `SparseNetwork::new` through the sentinel.
            self.inputs.push(u32::try_from(index).unwrap_or(u32::MAX));
            self.weights.push(weight);
        }
        self.starts.push(self.inputs.len());
        self.bias.push(bias);
        self.bias.len() - 1
    }

    /// Number of neurons.
    pub fn neurons(&self) -> usize {
        self.bias.len()
    }

    /// The `(input index, weight)` pairs of neuron `n`.
    pub fn weights_of(&self, n: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let range = self.starts[n]..self.starts[n + 1];
        self.inputs[range.clone()].iter().map(|&i| i as usize).zip(self.weights[range].iter().copied())
    }

    /// The bias of neuron `n`.
    pub fn bias_of(&self, n: usize) -> f32 {
        self.bias[n]
    }

    /// `σ(bias + Σ w·input)`, accumulated in f64: N1's neurons add hundreds of terms whose
    /// partial sums are far larger than the result (`Σ c` cancels against the bias), and f32
    /// accumulation would lose the 1e-4 agreement with the direct φ.
    fn neuron_value(&self, n: usize, input: &[f32]) -> f32 {
        let range = self.starts[n]..self.starts[n + 1];
        let sum: f64 = self.inputs[range.clone()]
            .iter()
            .zip(&self.weights[range])
            .map(|(&i, &w)| f64::from(w) * f64::from(input[i as usize]))
            .sum();
        let value = (f64::from(self.bias[n]) + sum) as f32;
        if self.relu { value.max(0.0) } else { value }
    }
}

/// What a layer computes.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerKind {
    /// Zero rows at the bottom and zero columns at the right of every channel.
    Pad { bottom: usize, right: usize },
    /// A convolution with sparse kernels.
    Conv(SparseConv),
    /// A fully connected layer over the flattened previous output.
    Dense(SparseDense),
}

/// One named layer with the meaning of each output unit (channel for conv, neuron for dense).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseLayer {
    pub name: String,
    pub kind: LayerKind,
    /// One meaning per channel (conv, pad) or neuron (dense).
    pub meanings: Vec<String>,
}

/// One layer's output.
#[derive(Debug, Clone, PartialEq)]
pub enum Activation {
    /// Feature maps `[C, H, W]`.
    Map(Array3<f32>),
    /// Neurons.
    Vector(Array1<f32>),
}

impl Activation {
    /// The values flattened in `(C, H, W)` order.
    pub fn as_slice(&self) -> &[f32] {
        let slice = match self {
            Activation::Map(map) => map.as_slice(),
            Activation::Vector(v) => v.as_slice(),
        };
        // Both are created in standard layout by the engine.
        slice.unwrap_or(&[])
    }
}

/// Every layer's output for one image, in layer order; the last is the logits.
#[derive(Debug, Clone, PartialEq)]
pub struct Activations {
    pub layers: Vec<Activation>,
}

impl Activations {
    /// The network's output (the last layer, flattened).
    pub fn logits(&self) -> Vec<f32> {
        self.layers.last().map_or_else(Vec::new, |a| a.as_slice().to_vec())
    }
}

/// A row of the per-layer report.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerReport {
    pub name: String,
    /// "pad", "conv" or "dense".
    pub kind: &'static str,
    /// Output channels (pad, conv) or neurons (dense).
    pub units: usize,
    /// Kernel size for conv layers.
    pub kernel: Option<(usize, usize)>,
    /// Dilation for conv layers.
    pub dilation: Option<usize>,
    pub output: Shape,
    /// Weights and biases that are not zero.
    pub params_nonzero: usize,
    /// Weights and biases of the same layer stored densely.
    pub params_dense: usize,
}

/// A validated stack of sparse layers on an `H×W` input.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseNetwork {
    input: (usize, usize),
    layers: Vec<SparseLayer>,
    shapes: Vec<Shape>,
}

impl SparseNetwork {
    /// Checks every layer against its input shape (taps inside kernels and channels, indices inside
    /// the previous output, finite weights, one meaning per unit).
    pub fn new(input: (usize, usize), layers: Vec<SparseLayer>) -> Result<Self, SparseError> {
        let mut shape = Shape::Map { channels: 1, rows: input.0, cols: input.1 };
        let mut shapes = Vec::with_capacity(layers.len());
        for (index, layer) in layers.iter().enumerate() {
            let bad = |reason: String| SparseError::BadLayer { layer: index, name: layer.name.clone(), reason };
            shape = output_shape(&layer.kind, shape).map_err(bad)?;
            let units = match shape {
                Shape::Map { channels, .. } => channels,
                Shape::Vector(n) => n,
            };
            if layer.meanings.len() != units {
                return Err(bad(format!("{} meanings for {units} units", layer.meanings.len())));
            }
            shapes.push(shape);
        }
        Ok(Self { input, layers, shapes })
    }

    /// The input size `(H, W)`.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// The layers in order.
    pub fn layers(&self) -> &[SparseLayer] {
        &self.layers
    }

    /// The output shape of each layer.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// Runs the image through every layer and keeps every output.
    pub fn forward(&self, image: ArrayView2<f32>) -> Result<Activations, SparseError> {
        let input = self.input_activation(image)?;
        let mut layers: Vec<Activation> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let next = apply(&layer.kind, layers.last().unwrap_or(&input));
            layers.push(next);
        }
        Ok(Activations { layers })
    }

    /// The logits only (every layer is still computed; intermediate outputs are dropped early).
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, SparseError> {
        let mut current = self.input_activation(image)?;
        for layer in &self.layers {
            current = apply(&layer.kind, &current);
        }
        Ok(current.as_slice().to_vec())
    }

    /// [`Self::forward`] for many images, in parallel over the images.
    pub fn forward_batch(&self, images: &[ndarray::Array2<f32>]) -> Result<Vec<Activations>, SparseError> {
        images.par_iter().map(|x| self.forward(x.view())).collect()
    }

    /// [`Self::logits`] for many images, in parallel over the images.
    pub fn logits_batch(&self, images: &[ndarray::Array2<f32>]) -> Result<Vec<Vec<f32>>, SparseError> {
        images.par_iter().map(|x| self.logits(x.view())).collect()
    }

    /// The meaning of unit `unit` (channel or neuron) of layer `layer`.
    pub fn meaning(&self, layer: usize, unit: usize) -> String {
        self.layers
            .get(layer)
            .and_then(|l| l.meanings.get(unit))
            .cloned()
            .unwrap_or_else(|| format!("layer {layer}, unit {unit}"))
    }

    /// The input pixels that position `(y, x)` of conv/pad layer `layer` depends on, as
    /// `(row, col, rows, cols)` clipped to the input image; `None` for dense layers or positions
    /// outside the map (or windows lying wholly in the padding).
    pub fn receptive_field(&self, layer: usize, y: usize, x: usize) -> Option<(usize, usize, usize, usize)> {
        let Shape::Map { rows, cols, .. } = *self.shapes.get(layer)? else { return None };
        if y >= rows || x >= cols {
            return None;
        }
        let (mut height, mut width) = (1, 1);
        for layer in &self.layers[..=layer] {
            if let LayerKind::Conv(conv) = &layer.kind {
                height += (conv.kernel.0 - 1) * conv.dilation;
                width += (conv.kernel.1 - 1) * conv.dilation;
            }
        }
        // Stride 1 and padding only at the bottom/right keep (y, x) anchored at input (y, x).
        let (input_rows, input_cols) = self.input;
        if y >= input_rows || x >= input_cols {
            return None;
        }
        Some((y, x, height.min(input_rows - y), width.min(input_cols - x)))
    }

    /// Per-layer counts: units, kernel, dilation, output shape, non-zero and dense parameters.
    pub fn report(&self) -> Vec<LayerReport> {
        let mut input = Shape::Map { channels: 1, rows: self.input.0, cols: self.input.1 };
        let mut rows = Vec::with_capacity(self.layers.len());
        for (layer, &output) in self.layers.iter().zip(&self.shapes) {
            rows.push(layer_report(layer, input, output));
            input = output;
        }
        rows
    }

    /// The same network as dense conv/linear layers for the generic engine of [`dense`], refusing
    /// when it would hold more than `max_params` weights and biases.
    pub fn to_dense(&self, max_params: usize) -> Result<dense::Network, SparseError> {
        let needed: usize = self.report().iter().map(|r| r.params_dense).sum();
        if needed > max_params {
            return Err(SparseError::TooManyParameters { needed, limit: max_params });
        }
        let mut input = Shape::Map { channels: 1, rows: self.input.0, cols: self.input.1 };
        let mut layers = Vec::new();
        for (layer, &output) in self.layers.iter().zip(&self.shapes) {
            push_dense_layers(&mut layers, &layer.kind, input);
            input = output;
        }
        Ok(dense::Network { layers })
    }

    fn input_activation(&self, image: ArrayView2<f32>) -> Result<Activation, SparseError> {
        let (rows, cols) = image.dim();
        if (rows, cols) != self.input {
            let (expected_rows, expected_cols) = self.input;
            return Err(SparseError::InputSize { expected_rows, expected_cols, rows, cols });
        }
        let map = image.as_standard_layout().into_owned().insert_axis(Axis(0));
        Ok(Activation::Map(map))
    }
}

/// The output shape of a layer on `input`, or why the layer does not fit it.
fn output_shape(kind: &LayerKind, input: Shape) -> Result<Shape, String> {
    match kind {
        LayerKind::Pad { bottom, right } => match input {
            Shape::Map { channels, rows, cols } => Ok(Shape::Map { channels, rows: rows + bottom, cols: cols + right }),
            Shape::Vector(_) => Err("padding needs feature maps".into()),
        },
        LayerKind::Conv(conv) => conv_output_shape(conv, input),
        LayerKind::Dense(layer) => {
            let len = input.len();
            if layer.bias.iter().any(|b| !b.is_finite()) || layer.weights.iter().any(|w| !w.is_finite()) {
                return Err("non-finite weight or bias".into());
            }
            if let Some(&bad) = layer.inputs.iter().find(|&&i| i as usize >= len) {
                return Err(format!("a neuron reads input {bad} of {len}"));
            }
            Ok(Shape::Vector(layer.neurons()))
        }
    }
}

fn conv_output_shape(conv: &SparseConv, input: Shape) -> Result<Shape, String> {
    let Shape::Map { channels, rows, cols } = input else { return Err("convolution needs feature maps".into()) };
    let (kh, kw) = conv.kernel;
    if kh == 0 || kw == 0 || conv.dilation == 0 {
        return Err("kernel size and dilation must be at least 1".into());
    }
    let (reach_y, reach_x) = ((kh - 1) * conv.dilation, (kw - 1) * conv.dilation);
    if reach_y >= rows || reach_x >= cols {
        return Err(format!("kernel {kh}×{kw} (dilation {}) is larger than the {rows}×{cols} input", conv.dilation));
    }
    for (taps, bias) in conv.taps.iter().zip(&conv.bias) {
        if !bias.is_finite() {
            return Err("non-finite bias".into());
        }
        for tap in taps {
            if tap.channel >= channels || tap.dy >= kh || tap.dx >= kw || !tap.weight.is_finite() {
                return Err(format!("bad tap {tap:?} for {channels} input channels"));
            }
        }
    }
    if conv.taps.len() != conv.bias.len() {
        return Err("taps and biases differ in count".into());
    }
    Ok(Shape::Map { channels: conv.channels(), rows: rows - reach_y, cols: cols - reach_x })
}

/// Applies one (validated) layer.
fn apply(kind: &LayerKind, input: &Activation) -> Activation {
    match (kind, input) {
        (LayerKind::Pad { bottom, right }, Activation::Map(map)) => Activation::Map(pad(map, *bottom, *right)),
        (LayerKind::Conv(conv), Activation::Map(map)) => Activation::Map(conv_forward(conv, map)),
        (LayerKind::Dense(layer), input) => Activation::Vector(dense_forward(layer, input.as_slice())),
        // Validation in `SparseNetwork::new` rules these out.
        (_, Activation::Vector(v)) => Activation::Vector(v.clone()),
    }
}

fn pad(map: &Array3<f32>, bottom: usize, right: usize) -> Array3<f32> {
    let (channels, rows, cols) = map.dim();
    let mut out = Array3::zeros((channels, rows + bottom, cols + right));
    out.slice_mut(ndarray::s![.., ..rows, ..cols]).assign(map);
    out
}

/// The sparse convolution, parallel over output channels.
fn conv_forward(conv: &SparseConv, input: &Array3<f32>) -> Array3<f32> {
    let (_, rows, cols) = input.dim();
    let (reach_y, reach_x) = ((conv.kernel.0 - 1) * conv.dilation, (conv.kernel.1 - 1) * conv.dilation);
    let (out_rows, out_cols) = (rows - reach_y, cols - reach_x);
    let mut out = Array3::zeros((conv.channels(), out_rows, out_cols));
    out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(channel, plane)| {
        conv_channel(conv, channel, input, plane);
    });
    out
}

/// One output channel, with AVX2 and FMA (8 columns per instruction) when the CPU has them.
fn conv_channel(conv: &SparseConv, channel: usize, input: &Array3<f32>, plane: ArrayViewMut2<f32>) {
    conv_channel_on(conv, channel, input, plane, simd_available());
}

/// True when the CPU runs [`conv_rows_avx2`].
fn simd_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// [`conv_channel`] on the SIMD path or the portable one.
fn conv_channel_on(conv: &SparseConv, channel: usize, input: &Array3<f32>, mut plane: ArrayViewMut2<f32>, simd: bool) {
    let (_, rows, cols) = input.dim();
    let out_cols = plane.ncols();
    let input = input.as_slice().unwrap_or(&[]);
    let Some(out) = plane.as_slice_mut() else { return };
    // Where each tap's input row 0 starts in the flat input.
    let taps: Vec<(usize, f32)> = conv.taps[channel]
        .iter()
        .map(|t| (t.channel * rows * cols + t.dy * conv.dilation * cols + t.dx * conv.dilation, t.weight))
        .collect();
    let rows = ConvRows { taps: &taps, bias: conv.bias[channel], relu: conv.relu, input, cols, out_cols };
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when the CPU supports AVX2 and FMA (`simd_available`).
        unsafe { conv_rows_avx2(&rows, out) };
        return;
    }
    // `simd` is only read on x86_64.
    let _ = simd;
    conv_rows::<false>(&rows, out);
}

/// What [`conv_rows`] needs to compute one output channel.
struct ConvRows<'a> {
    /// `(start of the tap's input row 0 in the flat input, weight)`.
    taps: &'a [(usize, f32)],
    bias: f32,
    relu: bool,
    input: &'a [f32],
    /// Input row length.
    cols: usize,
    /// Output row length.
    out_cols: usize,
}

/// [`conv_rows`] compiled for AVX2 with fused multiply-adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn conv_rows_avx2(rows: &ConvRows, out: &mut [f32]) {
    conv_rows::<true>(rows, out);
}

/// `out = σ(bias + Σ_taps w · input[c][y + dy·d][x + dx·d])`.
///
/// Maps are narrow (about 40 columns), so instead of row by row each tap runs one long
/// contiguous loop over the flat input in the input's row stride: position `k = y·cols + x` of
/// a scratch plane gets `w · input[start + k]`. The columns `x ≥ out_cols` of each scratch row
/// hold wrapped-around values that are simply dropped when the rows are copied out (with the
/// `ReLU`). One vectorised loop per tap instead of one per tap and row.
// Inlining into `conv_rows_avx2` is what makes the loops use AVX2: it must not be left to chance.
#[allow(clippy::inline_always)]
#[inline(always)]
fn conv_rows<const FMA: bool>(rows: &ConvRows, out: &mut [f32]) {
    let ConvRows { taps, bias, relu, input, cols, out_cols } = *rows;
    let out_rows = out.len() / out_cols.max(1);
    let Some(len) = out_rows.checked_sub(1).map(|r| r * cols + out_cols) else { return };
    let mut scratch = vec![bias; len];
    for &(start, weight) in taps {
        for (acc, &x) in scratch.iter_mut().zip(&input[start..start + len]) {
            *acc = multiply_add::<FMA>(weight, x, *acc);
        }
    }
    for (y, out_row) in out.chunks_exact_mut(out_cols).enumerate() {
        let values = &scratch[y * cols..][..out_cols];
        for (o, &v) in out_row.iter_mut().zip(values) {
            *o = if relu { v.max(0.0) } else { v };
        }
    }
}

/// `w·x + acc`, as one fused instruction when `FMA` (only inside an FMA-enabled function: elsewhere
/// `mul_add` would be a slow library call).
#[allow(clippy::inline_always)]
#[inline(always)]
fn multiply_add<const FMA: bool>(w: f32, x: f32, acc: f32) -> f32 {
    if FMA { w.mul_add(x, acc) } else { w * x + acc }
}

/// The sparse fully connected layer, parallel over neurons.
fn dense_forward(layer: &SparseDense, input: &[f32]) -> Array1<f32> {
    let values: Vec<f32> =
        (0..layer.neurons()).into_par_iter().with_min_len(256).map(|n| layer.neuron_value(n, input)).collect();
    Array1::from(values)
}

fn layer_report(layer: &SparseLayer, input: Shape, output: Shape) -> LayerReport {
    let name = layer.name.clone();
    match &layer.kind {
        LayerKind::Pad { .. } => {
            let units = if let Shape::Map { channels, .. } = output { channels } else { 0 };
            LayerReport {
                name,
                kind: "pad",
                units,
                kernel: None,
                dilation: None,
                output,
                params_nonzero: 0,
                params_dense: 0,
            }
        }
        LayerKind::Conv(conv) => {
            let channels_in = if let Shape::Map { channels, .. } = input { channels } else { 0 };
            let weights = conv.taps.iter().flatten().filter(|t| t.weight != 0.0).count();
            let biases = conv.bias.iter().filter(|&&b| b != 0.0).count();
            let dense = conv.channels() * (channels_in * conv.kernel.0 * conv.kernel.1 + 1);
            LayerReport {
                name,
                kind: "conv",
                units: conv.channels(),
                kernel: Some(conv.kernel),
                dilation: Some(conv.dilation),
                output,
                params_nonzero: weights + biases,
                params_dense: dense,
            }
        }
        LayerKind::Dense(layer) => {
            let weights = layer.weights.iter().filter(|&&w| w != 0.0).count();
            let biases = layer.bias.iter().filter(|&&b| b != 0.0).count();
            LayerReport {
                name,
                kind: "dense",
                units: layer.neurons(),
                kernel: None,
                dilation: None,
                output,
                params_nonzero: weights + biases,
                params_dense: layer.neurons() * (input.len() + 1),
            }
        }
    }
}

/// Appends the dense-engine layers equal to one sparse layer reading `input`.
fn push_dense_layers(layers: &mut Vec<dense::Layer>, kind: &LayerKind, input: Shape) {
    match kind {
        LayerKind::Pad { bottom, right } => layers.push(dense::Layer::Pad { bottom: *bottom, right: *right }),
        LayerKind::Conv(conv) => {
            let channels_in = if let Shape::Map { channels, .. } = input { channels } else { 0 };
            let mut weight = ndarray::Array4::zeros((conv.channels(), channels_in, conv.kernel.0, conv.kernel.1));
            for (out, taps) in conv.taps.iter().enumerate() {
                for tap in taps {
                    weight[[out, tap.channel, tap.dy, tap.dx]] += tap.weight;
                }
            }
            let bias = Array1::from(conv.bias.clone());
            layers.push(dense::Layer::Conv2d(dense::Conv2d { weight, bias, dilation: conv.dilation }));
            if conv.relu {
                layers.push(dense::Layer::Relu);
            }
        }
        LayerKind::Dense(layer) => {
            if matches!(input, Shape::Map { .. }) {
                layers.push(dense::Layer::Flatten);
            }
            let mut weight = ndarray::Array2::zeros((layer.neurons(), input.len()));
            for n in 0..layer.neurons() {
                for (index, w) in layer.weights_of(n) {
                    weight[[n, index]] += w;
                }
            }
            let bias = Array1::from(layer.bias.clone());
            layers.push(dense::Layer::Linear(dense::Linear { weight, bias }));
            if layer.relu {
                layers.push(dense::Layer::Relu);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// A random sparse conv with `taps` taps per channel.
    fn random_conv(
        rng: &mut ChaCha8Rng,
        inputs: usize,
        outputs: usize,
        kernel: (usize, usize),
        dilation: usize,
    ) -> SparseConv {
        let mut conv = SparseConv::new(kernel, dilation, true);
        for _ in 0..outputs {
            let taps = (0..rng.random_range(0..5))
                .map(|_| Tap {
                    channel: rng.random_range(0..inputs),
                    dy: rng.random_range(0..kernel.0),
                    dx: rng.random_range(0..kernel.1),
                    weight: rng.random_range(-1.0..1.0),
                })
                .collect();
            conv.push_channel(taps, rng.random_range(-1.0..1.0));
        }
        conv
    }

    fn layer(name: &str, kind: LayerKind, units: usize) -> SparseLayer {
        SparseLayer { name: name.into(), kind, meanings: (0..units).map(|u| format!("{name} unit {u}")).collect() }
    }

    /// The convolution formula with plain indices.
    fn conv_by_formula(conv: &SparseConv, input: &Array3<f32>) -> Array3<f32> {
        let (_, rows, cols) = input.dim();
        let d = conv.dilation;
        let (out_rows, out_cols) = (rows - (conv.kernel.0 - 1) * d, cols - (conv.kernel.1 - 1) * d);
        Array3::from_shape_fn((conv.channels(), out_rows, out_cols), |(c, y, x)| {
            let sum: f32 = conv.taps[c].iter().map(|t| t.weight * input[[t.channel, y + t.dy * d, x + t.dx * d]]).sum();
            (conv.bias[c] + sum).max(0.0)
        })
    }

    fn random_network(rng: &mut ChaCha8Rng) -> (SparseNetwork, SparseConv, SparseConv, SparseDense) {
        let first = random_conv(rng, 1, 3, (1, 1), 1);
        let second = random_conv(rng, 3, 4, (2, 3), 2);
        // Input 7×9 → pad 8×10 → 1×1 conv 3×8×10 → 2×3 dilation 2: 4×6×6 = 144 → dense 5.
        let mut dense = SparseDense::new(false);
        for _ in 0..5 {
            let weights: Vec<(usize, f32)> =
                (0..rng.random_range(0..20)).map(|_| (rng.random_range(0..144), rng.random_range(-1.0..1.0))).collect();
            dense.push_neuron(&weights, rng.random_range(-1.0..1.0));
        }
        let layers = vec![
            layer("pad", LayerKind::Pad { bottom: 1, right: 1 }, 1),
            layer("first", LayerKind::Conv(first.clone()), 3),
            layer("second", LayerKind::Conv(second.clone()), 4),
            layer("dense", LayerKind::Dense(dense.clone()), 5),
        ];
        (SparseNetwork::new((7, 9), layers).unwrap(), first, second, dense)
    }

    #[test]
    fn forward_matches_the_formulas_and_keeps_every_layer() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..10 {
            let (network, first, second, dense) = random_network(&mut rng);
            let image = Array2::from_shape_fn((7, 9), |_| rng.random_range(0.0..1.0f32));
            let activations = network.forward(image.view()).unwrap();
            assert_eq!(activations.layers.len(), 4);
            let mut padded = Array3::zeros((1, 8, 10));
            padded.slice_mut(ndarray::s![0, ..7, ..9]).assign(&image);
            let a1 = conv_by_formula(&first, &padded);
            let a2 = conv_by_formula(&second, &a1);
            let flat = a2.as_slice().unwrap();
            let logits: Vec<f32> =
                (0..5).map(|n| dense.bias_of(n) + dense.weights_of(n).map(|(i, w)| w * flat[i]).sum::<f32>()).collect();
            for (got, want) in [(&activations.layers[1], a1.as_slice().unwrap()), (&activations.layers[2], flat)] {
                assert!(got.as_slice().iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5));
            }
            let got = activations.logits();
            assert!(got.iter().zip(&logits).all(|(g, w)| (g - w).abs() < 1e-4), "{got:?} vs {logits:?}");
            assert_eq!(network.logits(image.view()).unwrap(), got, "the fast path computes the same");
            let batch = network.logits_batch(&[image.clone(), image.clone()]).unwrap();
            assert_eq!(batch, vec![got.clone(), got]);
        }
    }

    #[test]
    fn portable_and_simd_paths_agree_with_the_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let conv = random_conv(&mut rng, 3, 6, (2, 3), 2);
        let input = Array3::from_shape_fn((3, 9, 11), |_| rng.random_range(-1.0..1.0f32));
        let want = conv_by_formula(&conv, &input);
        for simd in [false, simd_available()] {
            let mut out = Array3::zeros(want.dim());
            for (channel, plane) in out.axis_iter_mut(Axis(0)).enumerate() {
                conv_channel_on(&conv, channel, &input, plane, simd);
            }
            assert!(out.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-5), "simd = {simd}");
        }
    }

    #[test]
    fn dense_form_gives_the_same_outputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let (network, ..) = random_network(&mut rng);
        let image = Array2::from_shape_fn((7, 9), |_| rng.random_range(0.0..1.0f32));
        let dense = network.to_dense(100_000).unwrap();
        let dense_logits = dense.forward(image.clone().insert_axis(Axis(0)).view()).unwrap();
        let sparse_logits = network.logits(image.view()).unwrap();
        assert!(dense_logits.iter().zip(&sparse_logits).all(|(a, b)| (a - b).abs() < 1e-4));
        let needed: usize = network.report().iter().map(|r| r.params_dense).sum();
        assert_eq!(needed, 3 * 2 + 4 * (3 * 6 + 1) + 5 * 145);
        assert!(matches!(network.to_dense(needed - 1), Err(SparseError::TooManyParameters { .. })));
    }

    #[test]
    fn report_counts_units_and_parameters() {
        let mut conv = SparseConv::new((2, 2), 1, true);
        conv.push_channel(vec![Tap { channel: 0, dy: 1, dx: 0, weight: 2.0 }], -1.0);
        conv.push_channel(vec![Tap { channel: 0, dy: 0, dx: 0, weight: 1.0 }], 0.0);
        let mut dense = SparseDense::new(true);
        dense.push_neuron(&[(0, 1.0), (5, -1.0)], 0.5);
        let network = SparseNetwork::new(
            (3, 4),
            vec![layer("c", LayerKind::Conv(conv), 2), layer("d", LayerKind::Dense(dense), 1)],
        )
        .unwrap();
        let report = network.report();
        assert_eq!(report[0].output, Shape::Map { channels: 2, rows: 2, cols: 3 });
        assert_eq!((report[0].params_nonzero, report[0].params_dense), (3, 2 * (4 + 1)));
        assert_eq!((report[1].params_nonzero, report[1].params_dense), (3, 12 + 1));
        assert_eq!(report[0].kernel, Some((2, 2)));
        assert_eq!(network.meaning(1, 0), "d unit 0");
        assert_eq!(network.meaning(7, 0), "layer 7, unit 0");
    }

    #[test]
    fn receptive_fields_grow_with_kernel_and_dilation() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let (network, ..) = random_network(&mut rng);
        assert_eq!(network.receptive_field(1, 2, 3), Some((2, 3, 1, 1)));
        // 2×3 kernel, dilation 2: 3 rows × 5 columns.
        assert_eq!(network.receptive_field(2, 1, 1), Some((1, 1, 3, 5)));
        assert_eq!(network.receptive_field(2, 5, 5), Some((5, 5, 2, 4)), "clipped to the 7×9 image");
        assert_eq!(network.receptive_field(2, 6, 0), None, "outside the 6×6 map");
        assert_eq!(network.receptive_field(0, 7, 0), None, "only padding");
        assert_eq!(network.receptive_field(3, 0, 0), None, "dense layers have no map");
    }

    #[test]
    fn malformed_layers_and_inputs_are_rejected() {
        let mut conv = SparseConv::new((2, 2), 1, true);
        conv.push_channel(vec![Tap { channel: 1, dy: 0, dx: 0, weight: 1.0 }], 0.0);
        let bad_channel = SparseNetwork::new((3, 3), vec![layer("c", LayerKind::Conv(conv), 1)]);
        assert!(matches!(bad_channel, Err(SparseError::BadLayer { layer: 0, .. })));
        let big = SparseConv::new((4, 1), 1, true);
        assert!(SparseNetwork::new((3, 3), vec![layer("c", LayerKind::Conv(big), 0)]).is_err());
        let mut dense = SparseDense::new(false);
        dense.push_neuron(&[(9, 1.0)], 0.0);
        assert!(SparseNetwork::new((3, 3), vec![layer("d", LayerKind::Dense(dense), 1)]).is_err());
        let mut nan = SparseDense::new(false);
        nan.push_neuron(&[(0, f32::NAN)], 0.0);
        assert!(SparseNetwork::new((3, 3), vec![layer("d", LayerKind::Dense(nan), 1)]).is_err());
        let meanings = SparseNetwork::new((3, 3), vec![layer("p", LayerKind::Pad { bottom: 1, right: 0 }, 2)]);
        assert!(meanings.is_err(), "one meaning per channel");
        let network = SparseNetwork::new((3, 3), vec![layer("p", LayerKind::Pad { bottom: 1, right: 0 }, 1)]).unwrap();
        assert!(matches!(network.forward(array![[1.0]].view()), Err(SparseError::InputSize { .. })));
    }
}
