//! Sparse layer stacks and their one forward engine: the form the constructed networks N1 and N2
//! take (CONSTRUCTION.md §4–5).
//!
//! A [`SparseNetwork`] is a list of layers: zero padding, convolutions whose kernels are lists of
//! non-zero taps, and fully connected layers stored row by row (CSR). Every output unit carries a
//! human-readable meaning for the app. [`SparseNetwork::forward`] returns every layer's output
//! (within [`MAX_KEPT_ACTIVATIONS`]); [`SparseNetwork::logits`] and [`SparseNetwork::output_of`]
//! keep only what they return, streaming the leading convolutions over strips of rows
//! ([`strips`]), so they have no limit but [`MAX_EVALUATION_VALUES`]; so do
//! [`SparseNetwork::forward_from`] (the last layers only) and [`SparseNetwork::windows`] (parts of
//! layers, for drawing).
//!
//! # Shapes
//! The input is one grey image `H×W`, seen as a map `[1, H, W]`. A convolution maps `[C, H, W]`
//! to `[C', H − (kh−1)·d, W − (kw−1)·d]` (stride 1, no padding, dilation `d`); a dense layer reads
//! the previous output flattened in `(C, H, W)` row-major order (the order of `PyTorch`'s flatten).

// ndarray views are cheap handles, passed by value throughout the crate (as in `detect`).
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array3, ArrayView2, Axis};
use rayon::prelude::*;
use thiserror::Error;

use super::dense;
use forward::apply;
use report::{layer_report, push_dense_layers};
pub use strips::STRIP_BUDGET;
pub use window::{LayerWindow, WindowValues};

/// Most values [`SparseNetwork::forward`] may keep (every layer of one image: 50 M values, 200 MB
/// of f32), for drawing and exporting activations. Beyond it ask for the logits or one layer
/// ([`SparseNetwork::output_of`]), or use a smaller image or fewer tiles.
pub const MAX_KEPT_ACTIVATIONS: usize = 50_000_000;

/// Most values one evaluation without kept activations may hold at once (150 M values, 600 MB of
/// f32), so that a network too large for this machine is refused before it allocates.
pub const MAX_EVALUATION_VALUES: usize = 150_000_000;

/// Why a sparse network cannot be built or run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SparseError {
    #[error("layer {layer} ('{name}'): {reason}")]
    BadLayer { layer: usize, name: String, reason: LayerProblem },
    #[error("the network expects a {expected_rows}×{expected_cols} image, got {rows}×{cols}")]
    InputSize { expected_rows: usize, expected_cols: usize, rows: usize, cols: usize },
    #[error("the dense form needs {needed} parameters, more than the limit of {limit}")]
    TooManyParameters { needed: usize, limit: usize },
    #[error("the dense engine refused the converted network: {0}")]
    Dense(String),
    #[error("layer {layer} has no window to draw: {reason}")]
    BadWindow { layer: usize, reason: &'static str },
    #[error("{what} needs {needed} values in memory, more than {constant} = {limit}: {hint}")]
    TooManyValues { what: &'static str, needed: usize, limit: usize, constant: &'static str, hint: &'static str },
}

/// What is wrong with one layer of a [`SparseNetwork`].
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LayerProblem {
    /// Padding or a convolution after a dense layer.
    #[error("{0} needs feature maps")]
    NeedsMaps(&'static str),
    /// A weight or bias is NaN or infinite.
    #[error("non-finite {0}")]
    NonFinite(&'static str),
    /// A dense neuron reads past the previous layer's output.
    #[error("a neuron reads input {input} of {len}")]
    InputOutOfRange { input: usize, len: usize },
    /// A zero kernel size or dilation.
    #[error("kernel size and dilation must be at least 1")]
    EmptyKernel,
    /// The dilated kernel does not fit the input.
    #[error("kernel {}×{} (dilation {dilation}) is larger than the {}×{} input", kernel.0, kernel.1, input.0, input.1)]
    KernelTooLarge { kernel: (usize, usize), dilation: usize, input: (usize, usize) },
    /// A tap outside the kernel or the input channels, or with a non-finite weight.
    #[error("bad tap {tap:?} for {channels} input channels")]
    BadTap { tap: Tap, channels: usize },
    /// Not one bias per output channel.
    #[error("taps and biases differ in count")]
    TapBiasCount,
    /// Not one meaning per unit.
    #[error("{meanings} meanings for {units} units")]
    Meanings { meanings: usize, units: usize },
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
            let bad = |reason: LayerProblem| SparseError::BadLayer { layer: index, name: layer.name.clone(), reason };
            shape = output_shape(&layer.kind, shape).map_err(bad)?;
            let units = match shape {
                Shape::Map { channels, .. } => channels,
                Shape::Vector(n) => n,
            };
            if layer.meanings.len() != units {
                return Err(bad(LayerProblem::Meanings { meanings: layer.meanings.len(), units }));
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

    /// Values [`Self::forward`] keeps: the input and every layer's output.
    pub fn kept_activations(&self) -> usize {
        self.input.0 * self.input.1 + self.shapes.iter().map(|s| s.len()).sum::<usize>()
    }

    /// Runs the image through every layer and keeps every output; refused (before allocating)
    /// beyond [`MAX_KEPT_ACTIVATIONS`].
    pub fn forward(&self, image: ArrayView2<f32>) -> Result<Activations, SparseError> {
        let needed = self.kept_activations();
        check_kept(
            needed,
            "keeping every layer's output",
            "ask for the logits or one layer instead, or use a smaller image or fewer tiles",
        )?;
        let input = self.input_activation(image)?;
        let mut layers: Vec<Activation> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let next = apply(&layer.kind, layers.last().unwrap_or(&input));
            layers.push(next);
        }
        Ok(Activations { layers })
    }

    /// Most values [`Self::output_of`] holds at once for layer `layer`.
    pub fn evaluation_values(&self, layer: usize) -> usize {
        strips::plan(self, layer, STRIP_BUDGET).peak
    }

    /// The output of layer `layer` alone: nothing else is kept, and the leading convolutions run
    /// in strips of rows. Refused (before allocating) beyond [`MAX_EVALUATION_VALUES`].
    pub fn output_of(&self, image: ArrayView2<f32>, layer: usize) -> Result<Activation, SparseError> {
        let input = self.input_activation(image)?;
        if layer >= self.layers.len() {
            return Ok(input);
        }
        let plan = strips::plan(self, layer, STRIP_BUDGET);
        check_evaluation(plan.peak)?;
        let mut current = strips::run(self, plan, input);
        for layer in &self.layers[plan.end..=layer] {
            current = apply(&layer.kind, &current);
        }
        Ok(current)
    }

    /// The outputs of layers `from..` (the last is the logits), keeping none before `from`: what
    /// a view needs of a network too large for [`Self::forward`]. Refused (before allocating)
    /// beyond [`MAX_KEPT_ACTIVATIONS`] or [`MAX_EVALUATION_VALUES`].
    pub fn forward_from(&self, image: ArrayView2<f32>, from: usize) -> Result<Vec<Activation>, SparseError> {
        let needed: usize = self.shapes.iter().skip(from).map(|s| s.len()).sum();
        check_kept(
            needed,
            "keeping the last layers' outputs",
            "keep fewer layers, or use a smaller image or fewer tiles",
        )?;
        if from >= self.layers.len() {
            return Ok(Vec::new());
        }
        let mut current = self.output_of(image, from)?;
        let mut kept = Vec::with_capacity(self.layers.len() - from);
        for layer in &self.layers[from + 1..] {
            let next = apply(&layer.kind, &current);
            kept.push(std::mem::replace(&mut current, next));
        }
        kept.push(current);
        Ok(kept)
    }

    /// The logits only, keeping no other activation ([`Self::output_of`] the last layer).
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, SparseError> {
        let last = self.layers.len().saturating_sub(1);
        let output = if self.layers.is_empty() { self.input_activation(image)? } else { self.output_of(image, last)? };
        Ok(output.as_slice().to_vec())
    }

    /// [`Self::logits`] for many images: in parallel over the images while their evaluations fit
    /// [`STRIP_BUDGET`] together, otherwise one after the other (each parallel inside).
    pub fn logits_batch(&self, images: &[ndarray::Array2<f32>]) -> Result<Vec<Vec<f32>>, SparseError> {
        let together = self.evaluation_values(self.layers.len().saturating_sub(1)) * rayon::current_num_threads();
        if together <= STRIP_BUDGET {
            images.par_iter().map(|x| self.logits(x.view())).collect()
        } else {
            images.iter().map(|x| self.logits(x.view())).collect()
        }
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
fn output_shape(kind: &LayerKind, input: Shape) -> Result<Shape, LayerProblem> {
    match kind {
        LayerKind::Pad { bottom, right } => match input {
            Shape::Map { channels, rows, cols } => Ok(Shape::Map { channels, rows: rows + bottom, cols: cols + right }),
            Shape::Vector(_) => Err(LayerProblem::NeedsMaps("padding")),
        },
        LayerKind::Conv(conv) => conv_output_shape(conv, input),
        LayerKind::Dense(layer) => {
            let len = input.len();
            if layer.bias.iter().any(|b| !b.is_finite()) || layer.weights.iter().any(|w| !w.is_finite()) {
                return Err(LayerProblem::NonFinite("weight or bias"));
            }
            if let Some(&bad) = layer.inputs.iter().find(|&&i| i as usize >= len) {
                return Err(LayerProblem::InputOutOfRange { input: bad as usize, len });
            }
            Ok(Shape::Vector(layer.neurons()))
        }
    }
}

fn conv_output_shape(conv: &SparseConv, input: Shape) -> Result<Shape, LayerProblem> {
    let Shape::Map { channels, rows, cols } = input else { return Err(LayerProblem::NeedsMaps("convolution")) };
    let (kh, kw) = conv.kernel;
    if kh == 0 || kw == 0 || conv.dilation == 0 {
        return Err(LayerProblem::EmptyKernel);
    }
    let (reach_y, reach_x) = ((kh - 1) * conv.dilation, (kw - 1) * conv.dilation);
    if reach_y >= rows || reach_x >= cols {
        return Err(LayerProblem::KernelTooLarge { kernel: (kh, kw), dilation: conv.dilation, input: (rows, cols) });
    }
    for (taps, bias) in conv.taps.iter().zip(&conv.bias) {
        if !bias.is_finite() {
            return Err(LayerProblem::NonFinite("bias"));
        }
        for tap in taps {
            if tap.channel >= channels || tap.dy >= kh || tap.dx >= kw || !tap.weight.is_finite() {
                return Err(LayerProblem::BadTap { tap: *tap, channels });
            }
        }
    }
    if conv.taps.len() != conv.bias.len() {
        return Err(LayerProblem::TapBiasCount);
    }
    Ok(Shape::Map { channels: conv.channels(), rows: rows - reach_y, cols: cols - reach_x })
}

mod forward;
mod report;
mod strips;

/// Refuses, before allocating, keeping `needed` values beyond [`MAX_KEPT_ACTIVATIONS`]; `what`
/// and `hint` say what would have been kept and what to change.
fn check_kept(needed: usize, what: &'static str, hint: &'static str) -> Result<(), SparseError> {
    if needed > MAX_KEPT_ACTIVATIONS {
        return Err(SparseError::TooManyValues {
            what,
            needed,
            limit: MAX_KEPT_ACTIVATIONS,
            constant: "MAX_KEPT_ACTIVATIONS",
            hint,
        });
    }
    Ok(())
}

/// Refuses, before allocating, an evaluation that would hold more than [`MAX_EVALUATION_VALUES`] at once.
fn check_evaluation(peak: usize) -> Result<(), SparseError> {
    if peak > MAX_EVALUATION_VALUES {
        return Err(SparseError::TooManyValues {
            what: "evaluating the network",
            needed: peak,
            limit: MAX_EVALUATION_VALUES,
            constant: "MAX_EVALUATION_VALUES",
            hint: "use a smaller image or fewer tiles",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
mod window;
