//! `n2-shaped`: N2's own architecture as a trainable network (issue 18). The layers, channel
//! counts, kernels and dilations of [`build_n2`] for the current tile set (zero padding, 1×1
//! values, 2×2 block convolutions with dilation 1, 2, 4, …, the 1×1 detection layer, the output
//! head), every `ReLU` where N2 has one, and softmax cross-entropy on the logits.
//!
//! [`Wiring::Sparse`] keeps N2's connections: each channel reads only the channels and taps N2's
//! channel reads, each output neuron only the units N2's reads; only their weights and the biases
//! are trained. [`Wiring::Dense`] connects every channel to every channel below at every tap (the
//! ordinary CNN of the same shape); it is refused above [`MAX_DENSE_TRAINING_FLOPS`].
//! [`Init::N2`] starts from N2's weights (zero where N2 has no connection), so the untrained
//! network computes N2's logits; [`Init::Random`] draws every weight and bias of a unit from
//! `U(−1/√n, 1/√n)`, `n` its connections (`PyTorch`'s rule, seeded).
//!
//! A convolution channel is a list of connections, each the flat offset of its tap's input at
//! output position 0 and a weight: the output with the input's row stride is then one contiguous
//! multiply-add per connection (as in `sparse::forward`), and so are both gradients.
//!
//! Train it with [`DeepTrainer::from_network`](super::deep_train::DeepTrainer::from_network):
//! it is [`Trainable`].

use ndarray::{Array1, Array3, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cnn::argmax;
use super::deep_train::{SampleWorkspace, Trainable};
use super::dense::NnError;
use super::sparse::{Activation, LayerKind, Shape, SparseLayer};
use crate::core::construct::{ConstructError, build_n2};
use crate::core::tile::ClassSet;

/// Most floating-point operations one training sample of a densely wired network may cost
/// (forward and both gradients): 200 M, about twenty times the `deep` preset. Three 28×28
/// Fashion tiles densely wired cost about 1 G.
pub const MAX_DENSE_TRAINING_FLOPS: f64 = 2e8;

/// Which connections are trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Wiring {
    /// N2's connections only.
    #[default]
    Sparse,
    /// Every channel to every channel below, at every tap; every neuron to every unit below.
    Dense,
}

impl Wiring {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sparse => "sparse",
            Self::Dense => "dense",
        }
    }
}

/// Where the weights start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Seeded `U(−1/√n, 1/√n)` per unit with `n` connections.
    #[default]
    Random,
    /// N2's own weights (zero on connections N2 does not have).
    N2,
}

impl Init {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::N2 => "n2",
        }
    }
}

/// How an n2-shaped network is wired and where its weights start, as the app and scenes keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ShapedSettings {
    pub wiring: Wiring,
    pub init: Init,
}

/// Why an n2-shaped network cannot be built.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ShapedError {
    #[error(transparent)]
    Construct(#[from] ConstructError),
    #[error(
        "N2's layers densely wired would cost {flops:.2e} FLOPs per training sample, more than MAX_DENSE_TRAINING_FLOPS = {MAX_DENSE_TRAINING_FLOPS:.0e}: use the sparse wiring, or fewer or smaller tiles"
    )]
    TooCostly { flops: f64 },
    #[error("{0} classes: an n2-shaped network needs at least 2")]
    Classes(usize),
}

/// What one layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// Zero rows at the bottom and columns at the right (sizes from the shapes).
    Pad,
    /// A convolution (no padding) whose connections are flat input offsets.
    Conv { relu: bool },
    /// A fully connected layer whose connections are input indices.
    Dense { relu: bool },
}

/// One layer: per output unit (channel or neuron) its connections `starts[u]..starts[u + 1]`.
#[derive(Debug, Clone, PartialEq)]
struct Layer {
    name: String,
    op: Op,
    starts: Vec<usize>,
    /// Conv: offset of the tap's input at output `(0, 0)`, `c·H·W + dy·d·W + dx·d`; dense: input index.
    inputs: Vec<usize>,
    /// Where the layer's parameters start: one weight per connection, then one bias per unit.
    first: usize,
}

impl Layer {
    fn units(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn parameter_count(&self) -> usize {
        self.inputs.len() + self.units()
    }

    fn has_parameters(&self) -> bool {
        self.op != Op::Pad
    }
}

/// N2's architecture with trainable weights.
#[derive(Debug, Clone, PartialEq)]
pub struct N2Shaped {
    input: (usize, usize),
    classes: usize,
    wiring: Wiring,
    layers: Vec<Layer>,
    /// Each layer's output shape.
    shapes: Vec<Shape>,
    params: Vec<f32>,
}

impl N2Shaped {
    /// N2's shape for `classes` on `height×width` images, wired and initialised as asked.
    pub fn new(
        classes: &ClassSet,
        (height, width): (usize, usize),
        wiring: Wiring,
        init: Init,
        seed: u64,
    ) -> Result<Self, ShapedError> {
        if classes.len() < 2 {
            return Err(ShapedError::Classes(classes.len()));
        }
        let n2 = build_n2(classes, height, width)?;
        let sparse = n2.network.layers();
        let shapes = n2.network.shapes().to_vec();
        if wiring == Wiring::Dense {
            let flops = dense_training_flops(sparse, &shapes, (height, width));
            if flops > MAX_DENSE_TRAINING_FLOPS {
                return Err(ShapedError::TooCostly { flops });
            }
        }
        let mut layers = Vec::with_capacity(sparse.len());
        let mut params = Vec::new();
        let mut below = Shape::Map { channels: 1, rows: height, cols: width };
        for (layer, &shape) in sparse.iter().zip(&shapes) {
            let (built, n2_params) = convert(layer, below, wiring, params.len());
            params.extend(n2_params);
            layers.push(built);
            below = shape;
        }
        let mut net = Self { input: (height, width), classes: classes.len(), wiring, layers, shapes, params };
        if init == Init::Random {
            net.randomise(seed);
        }
        Ok(net)
    }

    /// `U(−1/√n, 1/√n)` for every weight and bias of a unit with `n` connections.
    fn randomise(&mut self, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for layer in self.layers.iter().filter(|l| l.has_parameters()) {
            let bias_at = layer.first + layer.inputs.len();
            for unit in 0..layer.units() {
                let (start, end) = (layer.starts[unit], layer.starts[unit + 1]);
                let bound = 1.0 / ((end - start).max(1) as f32).sqrt();
                for w in &mut self.params[layer.first + start..layer.first + end] {
                    *w = rng.random_range(-bound..bound);
                }
                self.params[bias_at + unit] = rng.random_range(-bound..bound);
            }
        }
    }

    /// The input image size `(height, width)`.
    pub fn input(&self) -> (usize, usize) {
        self.input
    }

    /// Number of classes (logits).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// The wiring it was built with.
    pub fn wiring(&self) -> Wiring {
        self.wiring
    }

    /// Every layer's name (N2's names), in order.
    pub fn layer_names(&self) -> Vec<&str> {
        self.layers.iter().map(|l| l.name.as_str()).collect()
    }

    /// Every layer's output shape.
    pub fn shapes(&self) -> &[Shape] {
        &self.shapes
    }

    /// The layers whose units are hidden neurons: all but the padding and the output.
    pub fn hidden_layers(&self) -> Vec<usize> {
        let last = self.layers.len().saturating_sub(1);
        (0..last).filter(|&l| self.layers[l].has_parameters()).collect()
    }

    /// Every trainable parameter, layer by layer (weights in connection order, then biases).
    pub fn parameters(&self) -> &[f32] {
        &self.params
    }

    /// Floating-point operations of one training sample (forward and both gradients).
    pub fn training_flops_per_sample(&self) -> f64 {
        let mut flops = 0.0;
        for (layer, &shape) in self.layers.iter().zip(&self.shapes) {
            let positions = match (layer.op, shape) {
                (Op::Conv { .. }, Shape::Map { rows, cols, .. }) => rows * cols,
                _ => 1,
            };
            flops += 6.0 * (layer.inputs.len() * positions) as f64;
        }
        flops
    }

    fn check_image(&self, image: ArrayView2<f32>) -> Result<(), NnError> {
        if image.dim() != self.input {
            return Err(NnError::InputShape {
                layer: 0,
                kind: "n2-shaped",
                expected: format!("a {}×{} image", self.input.0, self.input.1),
                got: image.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// Every layer's output for one image (the last is the logits), in the shapes of N2's.
    pub fn forward(&self, image: ArrayView2<f32>) -> Result<Vec<Activation>, NnError> {
        self.check_image(image)?;
        let pixels: Vec<f32> = image.iter().copied().collect();
        let mut ws = self.workspace();
        self.forward_sample(&mut ws, &pixels);
        Ok(ws.outputs.into_iter().zip(&self.shapes).map(|(values, &shape)| activation(values, shape)).collect())
    }

    /// The logits of one image.
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Vec<f32>, NnError> {
        self.check_image(image)?;
        let pixels: Vec<f32> = image.iter().copied().collect();
        let mut ws = self.workspace();
        self.forward_sample(&mut ws, &pixels);
        Ok(ws.outputs.pop().unwrap_or_default())
    }

    /// The mean cross-entropy loss of one sample and its gradient (flat parameter layout).
    pub fn loss_and_gradient(&self, image: ArrayView2<f32>, label: usize) -> Result<(f32, Vec<f32>), NnError> {
        self.check_image(image)?;
        if label >= self.classes {
            return Err(NnError::BadLabel { label, classes: self.classes });
        }
        let pixels: Vec<f32> = image.iter().copied().collect();
        let mut ws = self.workspace();
        self.train_sample(&mut ws, &pixels, label);
        Ok((ws.loss_sum as f32, ws.param_grads))
    }

    /// The same network with other parameters (the layout of [`Self::parameters`]), checked.
    pub fn with_parameters(&self, params: Vec<f32>) -> Result<Self, NnError> {
        if params.len() != self.params.len() {
            return Err(NnError::BadSpec(format!("{} parameters, expected {}", params.len(), self.params.len())));
        }
        if params.iter().any(|v| !v.is_finite()) {
            return Err(NnError::BadSpec("a parameter is not a finite number".to_owned()));
        }
        Ok(Self { params, ..self.clone() })
    }

    /// Fills every layer's output in `ws` from the flat image.
    fn forward_sample(&self, ws: &mut ShapedWorkspace, image: &[f32]) {
        let mut below_shape = Shape::Map { channels: 1, rows: self.input.0, cols: self.input.1 };
        for (l, layer) in self.layers.iter().enumerate() {
            let (done, rest) = ws.outputs.split_at_mut(l);
            let input: &[f32] = done.last().map_or(image, Vec::as_slice);
            let out = &mut rest[0];
            let params = &self.params[layer.first..layer.first + layer.parameter_count()];
            match layer.op {
                Op::Pad => pad(input, below_shape, self.shapes[l], out),
                Op::Conv { relu } => {
                    conv_forward(layer, params, input, below_shape, self.shapes[l], relu, out, &mut ws.wide);
                }
                Op::Dense { relu } => dense_forward(layer, params, input, relu, out),
            }
            below_shape = self.shapes[l];
        }
    }

    /// The gradients of every parameter from the logit gradient in `ws`, added to its sums.
    fn backward_sample(&self, ws: &mut ShapedWorkspace, image: &[f32]) {
        let first_trained = self.layers.iter().position(Layer::has_parameters).unwrap_or(0);
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let below_shape = if l == 0 {
                Shape::Map { channels: 1, rows: self.input.0, cols: self.input.1 }
            } else {
                self.shapes[l - 1]
            };
            let ShapedWorkspace { outputs, grads: out_grads, wide, param_grads, .. } = ws;
            let (lower, upper) = out_grads.split_at_mut(l);
            let grad = &mut upper[0];
            if let Op::Conv { relu: true } | Op::Dense { relu: true } = layer.op {
                for (g, &y) in grad.iter_mut().zip(&outputs[l]) {
                    if y <= 0.0 {
                        *g = 0.0;
                    }
                }
            }
            let input: &[f32] = if l == 0 { image } else { &outputs[l - 1] };
            // Below the first trained layer no gradient is needed.
            let input_grad = if l > first_trained { lower.last_mut().map(Vec::as_mut_slice) } else { None };
            let span = layer.first..layer.first + layer.parameter_count();
            let (params, param_grad) = (&self.params[span.clone()], &mut param_grads[span]);
            match layer.op {
                Op::Pad => {
                    if let Some(input_grad) = input_grad {
                        unpad(grad, self.shapes[l], below_shape, input_grad);
                    }
                }
                Op::Conv { .. } => {
                    let sizes = (below_shape, self.shapes[l]);
                    conv_backward(layer, params, input, sizes, grad, param_grad, input_grad, wide);
                }
                Op::Dense { .. } => dense_backward(layer, params, input, grad, param_grad, input_grad),
            }
        }
    }
}

/// One layer of N2 as a trainable layer on inputs of shape `below`; returns it and N2's parameters
/// in its layout (zero on connections N2 does not have).
fn convert(layer: &SparseLayer, below: Shape, wiring: Wiring, first: usize) -> (Layer, Vec<f32>) {
    let name = layer.name.clone();
    match &layer.kind {
        LayerKind::Pad { .. } => (Layer { name, op: Op::Pad, starts: vec![0], inputs: Vec::new(), first }, Vec::new()),
        LayerKind::Conv(conv) => {
            let (channels, rows, cols) = map_dims(below);
            let offset = |c: usize, dy: usize, dx: usize| c * rows * cols + (dy * cols + dx) * conv.dilation;
            let mut starts = vec![0];
            let (mut inputs, mut weights) = (Vec::new(), Vec::new());
            for taps in &conv.taps {
                match wiring {
                    Wiring::Sparse => {
                        for tap in taps {
                            inputs.push(offset(tap.channel, tap.dy, tap.dx));
                            weights.push(tap.weight);
                        }
                    }
                    Wiring::Dense => {
                        for c in 0..channels {
                            for dy in 0..conv.kernel.0 {
                                for dx in 0..conv.kernel.1 {
                                    let tap = taps.iter().find(|t| (t.channel, t.dy, t.dx) == (c, dy, dx));
                                    inputs.push(offset(c, dy, dx));
                                    weights.push(tap.map_or(0.0, |t| t.weight));
                                }
                            }
                        }
                    }
                }
                starts.push(inputs.len());
            }
            weights.extend(&conv.bias);
            (Layer { name, op: Op::Conv { relu: conv.relu }, starts, inputs, first }, weights)
        }
        LayerKind::Dense(dense) => {
            let mut starts = vec![0];
            let (mut inputs, mut weights) = (Vec::new(), Vec::new());
            for n in 0..dense.neurons() {
                match wiring {
                    Wiring::Sparse => {
                        for (input, weight) in dense.weights_of(n) {
                            inputs.push(input);
                            weights.push(weight);
                        }
                    }
                    Wiring::Dense => {
                        let mut row = vec![0.0; below.len()];
                        for (input, weight) in dense.weights_of(n) {
                            row[input] += weight;
                        }
                        inputs.extend(0..below.len());
                        weights.extend(row);
                    }
                }
                starts.push(inputs.len());
            }
            weights.extend((0..dense.neurons()).map(|n| dense.bias_of(n)));
            (Layer { name, op: Op::Dense { relu: dense.relu }, starts, inputs, first }, weights)
        }
    }
}

/// Training FLOPs of N2's layers densely wired, from the shapes alone (nothing allocated).
fn dense_training_flops(layers: &[SparseLayer], shapes: &[Shape], input: (usize, usize)) -> f64 {
    let mut below = Shape::Map { channels: 1, rows: input.0, cols: input.1 };
    let mut flops = 0.0;
    for (layer, &shape) in layers.iter().zip(shapes) {
        let connections = match &layer.kind {
            LayerKind::Pad { .. } => 0.0,
            LayerKind::Conv(conv) => {
                let (_, rows, cols) = map_dims(shape);
                (conv.channels() * map_dims(below).0 * conv.kernel.0 * conv.kernel.1 * rows * cols) as f64
            }
            LayerKind::Dense(dense) => (dense.neurons() * below.len()) as f64,
        };
        flops += 6.0 * connections;
        below = shape;
    }
    flops
}

fn map_dims(shape: Shape) -> (usize, usize, usize) {
    match shape {
        Shape::Map { channels, rows, cols } => (channels, rows, cols),
        Shape::Vector(n) => (n, 1, 1),
    }
}

fn activation(values: Vec<f32>, shape: Shape) -> Activation {
    match shape {
        Shape::Map { channels, rows, cols } => Activation::Map(
            Array3::from_shape_vec((channels, rows, cols), values)
                .unwrap_or_else(|_| unreachable!("buffers match their shapes")),
        ),
        Shape::Vector(_) => Activation::Vector(Array1::from(values)),
    }
}

fn pad(input: &[f32], below: Shape, shape: Shape, out: &mut [f32]) {
    let ((channels, rows, cols), (_, out_rows, out_cols)) = (map_dims(below), map_dims(shape));
    out.fill(0.0);
    for c in 0..channels {
        for y in 0..rows {
            let src = &input[(c * rows + y) * cols..][..cols];
            out[(c * out_rows + y) * out_cols..][..cols].copy_from_slice(src);
        }
    }
}

/// The adjoint of [`pad`]: the gradient of the padded map's original pixels.
fn unpad(grad: &[f32], shape: Shape, below: Shape, input_grad: &mut [f32]) {
    let ((channels, rows, cols), (_, out_rows, out_cols)) = (map_dims(below), map_dims(shape));
    for c in 0..channels {
        for y in 0..rows {
            let src = &grad[(c * out_rows + y) * out_cols..][..cols];
            input_grad[(c * rows + y) * cols..][..cols].copy_from_slice(src);
        }
    }
}

/// `out[u][y][x] = σ(b_u + Σ w · input[offset + y·W + x])`, computed with the input's row stride
/// `W` in `wide` (one contiguous multiply-add per connection), then compacted.
#[allow(clippy::too_many_arguments)]
fn conv_forward(
    layer: &Layer,
    params: &[f32],
    input: &[f32],
    below: Shape,
    shape: Shape,
    relu: bool,
    out: &mut [f32],
    wide: &mut Vec<f32>,
) {
    let ((_, _, cols), (_, rows, out_cols)) = (map_dims(below), map_dims(shape));
    let len = (rows - 1) * cols + out_cols;
    let (weights, biases) = params.split_at(layer.inputs.len());
    wide.resize(len, 0.0);
    for (unit, (plane, &bias)) in out.chunks_exact_mut(rows * out_cols).zip(biases).enumerate() {
        wide.fill(bias);
        let range = layer.starts[unit]..layer.starts[unit + 1];
        for (&start, &weight) in layer.inputs[range.clone()].iter().zip(&weights[range]) {
            axpy(wide, weight, &input[start..start + len]);
        }
        for (y, row) in plane.chunks_exact_mut(out_cols).enumerate() {
            for (o, &v) in row.iter_mut().zip(&wide[y * cols..]) {
                *o = if relu { v.max(0.0) } else { v };
            }
        }
    }
}

/// Weight, bias and (if asked) input gradients of a convolution from its output gradient `grad`
/// (already masked by its `ReLU`), each connection one contiguous dot product or multiply-add.
#[allow(clippy::too_many_arguments)]
fn conv_backward(
    layer: &Layer,
    params: &[f32],
    input: &[f32],
    (below, shape): (Shape, Shape),
    grad: &[f32],
    param_grad: &mut [f32],
    mut input_grad: Option<&mut [f32]>,
    wide: &mut Vec<f32>,
) {
    let ((_, _, cols), (_, rows, out_cols)) = (map_dims(below), map_dims(shape));
    let len = (rows - 1) * cols + out_cols;
    let connections = layer.inputs.len();
    let weights = &params[..connections];
    let (weight_grad, bias_grad) = param_grad.split_at_mut(connections);
    if let Some(input_grad) = input_grad.as_deref_mut() {
        input_grad.fill(0.0);
    }
    wide.resize(len, 0.0);
    for (unit, plane) in grad.chunks_exact(rows * out_cols).enumerate() {
        bias_grad[unit] += plane.iter().sum::<f32>();
        // The wrapped-around columns get no gradient: they are not outputs.
        wide.fill(0.0);
        for (y, row) in plane.chunks_exact(out_cols).enumerate() {
            wide[y * cols..y * cols + out_cols].copy_from_slice(row);
        }
        for k in layer.starts[unit]..layer.starts[unit + 1] {
            let start = layer.inputs[k];
            weight_grad[k] += dot(wide, &input[start..start + len]);
            if let Some(input_grad) = input_grad.as_deref_mut() {
                axpy(&mut input_grad[start..start + len], weights[k], wide);
            }
        }
    }
}

fn dense_forward(layer: &Layer, params: &[f32], input: &[f32], relu: bool, out: &mut [f32]) {
    let (weights, biases) = params.split_at(layer.inputs.len());
    for (unit, (o, &bias)) in out.iter_mut().zip(biases).enumerate() {
        let range = layer.starts[unit]..layer.starts[unit + 1];
        let sum: f32 = layer.inputs[range.clone()].iter().zip(&weights[range]).map(|(&i, &w)| w * input[i]).sum();
        let v = bias + sum;
        *o = if relu { v.max(0.0) } else { v };
    }
}

fn dense_backward(
    layer: &Layer,
    params: &[f32],
    input: &[f32],
    grad: &[f32],
    param_grad: &mut [f32],
    mut input_grad: Option<&mut [f32]>,
) {
    let connections = layer.inputs.len();
    let weights = &params[..connections];
    let (weight_grad, bias_grad) = param_grad.split_at_mut(connections);
    if let Some(input_grad) = input_grad.as_deref_mut() {
        input_grad.fill(0.0);
    }
    for (unit, &g) in grad.iter().enumerate() {
        bias_grad[unit] += g;
        for k in layer.starts[unit]..layer.starts[unit + 1] {
            let i = layer.inputs[k];
            weight_grad[k] += g * input[i];
            if let Some(input_grad) = input_grad.as_deref_mut() {
                input_grad[i] += g * weights[k];
            }
        }
    }
}

/// `y += a·x`, with AVX2 and FMA when the CPU has them.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: `simd` is true only when the CPU supports AVX2 and FMA.
        unsafe { axpy_avx2(y, a, x) };
        return;
    }
    axpy_plain(y, a, x);
}

/// `Σ a·b`, with AVX2 and FMA when the CPU has them.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd() {
        // SAFETY: as in `axpy`.
        return unsafe { dot_avx2(a, b) };
    }
    super::deep::dot(a, b)
}

#[cfg(target_arch = "x86_64")]
fn simd() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn axpy_avx2(y: &mut [f32], a: f32, x: &[f32]) {
    axpy_plain(y, a, x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    super::deep::dot(a, b)
}

// Inlined into the AVX2 wrappers so that their loops are compiled for AVX2.
#[allow(clippy::inline_always)]
#[inline(always)]
fn axpy_plain(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// One thread's buffers: every layer's output and output gradient, and the gradient sums.
#[derive(Debug, Clone)]
pub struct ShapedWorkspace {
    outputs: Vec<Vec<f32>>,
    grads: Vec<Vec<f32>>,
    /// A conv channel with the input's row stride.
    wide: Vec<f32>,
    param_grads: Vec<f32>,
    loss_sum: f64,
    correct: usize,
    samples: usize,
}

impl SampleWorkspace for ShapedWorkspace {
    fn gradients(&self) -> &[f32] {
        &self.param_grads
    }

    fn gradients_mut(&mut self) -> &mut [f32] {
        &mut self.param_grads
    }

    fn take_totals(&mut self) -> (f64, usize, usize) {
        let totals = (self.loss_sum, self.correct, self.samples);
        (self.loss_sum, self.correct, self.samples) = (0.0, 0, 0);
        totals
    }
}

impl ShapedWorkspace {
    /// Softmax cross-entropy of the logits: fills the logit gradient, counts loss and accuracy.
    fn finish_forward(&mut self, label: usize) {
        let logits = self.outputs.last().map_or(&[][..], Vec::as_slice);
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let total: f32 = logits.iter().map(|&v| (v - max).exp()).sum();
        let loss = total.ln() + max - logits[label];
        self.correct += usize::from(argmax(logits) == label);
        if let Some(grad) = self.grads.last_mut() {
            for (g, &z) in grad.iter_mut().zip(logits) {
                *g = (z - max).exp() / total;
            }
            grad[label] -= 1.0;
        }
        self.loss_sum += f64::from(loss);
        self.samples += 1;
    }
}

impl Trainable for N2Shaped {
    type Workspace = ShapedWorkspace;

    fn input_and_classes(&self) -> (usize, usize, usize) {
        (self.input.0, self.input.1, self.classes)
    }

    fn parameters(&self) -> &[f32] {
        &self.params
    }

    fn parameters_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    fn workspace(&self) -> ShapedWorkspace {
        let buffers = || self.shapes.iter().map(|s| vec![0.0; s.len()]).collect::<Vec<_>>();
        ShapedWorkspace {
            outputs: buffers(),
            grads: buffers(),
            wide: Vec::new(),
            param_grads: vec![0.0; self.params.len()],
            loss_sum: 0.0,
            correct: 0,
            samples: 0,
        }
    }

    fn evaluate_sample(&self, ws: &mut ShapedWorkspace, image: &[f32], label: usize) {
        self.forward_sample(ws, image);
        ws.finish_forward(label);
    }

    fn train_sample(&self, ws: &mut ShapedWorkspace, image: &[f32], label: usize) {
        self.evaluate_sample(ws, image, label);
        self.backward_sample(ws, image);
    }
}

#[cfg(test)]
mod tests;
