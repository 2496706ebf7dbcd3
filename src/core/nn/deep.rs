//! The general trainable CNN: any [`Arch`] (convolutions with stride and dilation, `ReLU`, 2×2
//! max-pool, fully connected layers), its forward pass with every activation, and the per-sample
//! forward and backward passes that training runs.
//!
//! Convolutions are matrix products: `im2col` lays each receptive field out as a column, and the
//! product with the `[filters × C·k·k]` weight matrix (ndarray's `general_mat_mul`, i.e. the
//! `matrixmultiply` kernels, which pick AVX2+FMA at run time) gives every output at once. The
//! backward pass is the same two products transposed, and `col2im` adds the input gradient back.
//!
//! All parameters live in one flat vector (per layer: weight row-major, then bias, in PyTorch's
//! shapes), so that gradients, momentum and the SGD update are plain loops over one slice.

use std::ops::Range;

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array3, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::arch::{Arch, ArchError, BlockShape, ConvBlock};
use super::cnn::{Cnn, argmax};
use super::dense::NnError;

/// Where one layer's parameters sit in the flat vector: a `rows × cols` weight, then `rows` biases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slot {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) start: usize,
}

impl Slot {
    pub(crate) fn weight(&self) -> Range<usize> {
        self.start..self.start + self.rows * self.cols
    }

    pub(crate) fn bias(&self) -> Range<usize> {
        let end = self.start + self.rows * self.cols;
        end..end + self.rows
    }

    fn end(&self) -> usize {
        self.start + self.rows * (self.cols + 1)
    }
}

/// A trainable network of any valid [`Arch`] with its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct DeepNet {
    arch: Arch,
    shapes: Vec<BlockShape>,
    /// One per conv block (`filters × C·k·k`), then one per fully connected layer (`out × in`).
    slots: Vec<Slot>,
    params: Vec<f32>,
}

/// Every activation of one forward pass (for drawing and for selectivity).
#[derive(Debug, Clone, PartialEq)]
pub struct DeepActivations {
    /// Per conv block, the feature maps after `ReLU` (before pooling), `[F, H', W']`.
    pub maps: Vec<Array3<f32>>,
    /// Per conv block, the pooled maps (`None` without pooling).
    pub pooled: Vec<Option<Array3<f32>>>,
    /// The hidden fully connected layer after `ReLU`, if any.
    pub hidden: Option<Array1<f32>>,
    pub logits: Array1<f32>,
    pub probabilities: Array1<f32>,
}

impl DeepActivations {
    /// Every hidden layer's units, flat: each block's `ReLU` maps, then the hidden FC layer.
    pub fn hidden_layers(&self) -> Vec<&[f32]> {
        let mut layers: Vec<&[f32]> = self.maps.iter().map(|m| m.as_slice().unwrap_or(&[])).collect();
        if let Some(hidden) = &self.hidden {
            layers.push(hidden.as_slice().unwrap_or(&[]));
        }
        layers
    }
}

impl DeepNet {
    /// A network with PyTorch's default initialisation, seeded: every weight and bias of a layer
    /// `U(−1/√fan_in, 1/√fan_in)`, drawn layer by layer (for [`Arch::paper`] the same numbers as
    /// [`Cnn::new`]).
    pub fn new(arch: Arch, seed: u64) -> Result<Self, ArchError> {
        let shapes = arch.shapes()?;
        let slots = slots(&arch, &shapes);
        let total = slots.last().map_or(0, Slot::end);
        let mut params = vec![0.0; total];
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for slot in &slots {
            let bound = 1.0 / (slot.cols as f32).sqrt();
            for v in &mut params[slot.start..slot.end()] {
                *v = rng.random_range(-bound..bound);
            }
        }
        Ok(Self { arch, shapes, slots, params })
    }

    /// A network from a flat parameter vector (the layout of [`DeepNet::parameters`]), checked.
    pub fn from_parameters(arch: Arch, params: Vec<f32>) -> Result<Self, NnError> {
        let mut net = Self::new(arch, 0).map_err(|e| NnError::BadSpec(e.to_string()))?;
        if params.len() != net.params.len() {
            return Err(NnError::BadSpec(format!("{} parameters, expected {}", params.len(), net.params.len())));
        }
        if params.iter().any(|v| !v.is_finite()) {
            return Err(NnError::BadSpec("a parameter is not a finite number".to_owned()));
        }
        net.params = params;
        Ok(net)
    }

    /// The paper's network as a general one (same weights, same outputs).
    pub fn from_cnn(cnn: &Cnn) -> Self {
        let spec = cnn.spec();
        let arch = Arch {
            blocks: vec![ConvBlock::plain(spec.kernel, spec.filters)],
            ..Arch::paper(spec.height, spec.width, spec.classes)
        };
        let params: Vec<f32> = cnn
            .conv()
            .weight
            .iter()
            .chain(&cnn.conv().bias)
            .chain(&cnn.fc().weight)
            .chain(&cnn.fc().bias)
            .copied()
            .collect();
        // A valid Cnn has a valid paper architecture and finite parameters in this order.
        Self::from_parameters(arch, params).unwrap_or_else(|e| unreachable!("a valid Cnn converts: {e}"))
    }

    /// The architecture.
    pub fn arch(&self) -> &Arch {
        &self.arch
    }

    /// The shapes of the conv blocks.
    pub fn shapes(&self) -> &[BlockShape] {
        &self.shapes
    }

    /// Every parameter, layer by layer (weight row-major, then bias).
    pub fn parameters(&self) -> &[f32] {
        &self.params
    }

    pub(crate) fn parameters_mut(&mut self) -> &mut [f32] {
        &mut self.params
    }

    /// Conv block `i`'s weight `[F, C, k, k]` and bias `[F]`.
    pub fn conv_weights(&self, i: usize) -> Option<(ArrayView4<'_, f32>, ArrayView1<'_, f32>)> {
        let (block, shape, slot) = (self.arch.blocks.get(i)?, self.shapes.get(i)?, self.slots.get(i)?);
        let dims = (block.filters, shape.input.0, block.kernel, block.kernel);
        let weight = ArrayView4::from_shape(dims, &self.params[slot.weight()]).ok()?;
        Some((weight, ArrayView1::from(&self.params[slot.bias()])))
    }

    /// Fully connected layer `i`'s weight `[out, in]` and bias `[out]` (the last one gives the logits).
    pub fn fc_weights(&self, i: usize) -> Option<(ArrayView2<'_, f32>, ArrayView1<'_, f32>)> {
        let slot = self.slots.get(self.arch.blocks.len() + i)?;
        let weight = ArrayView2::from_shape((slot.rows, slot.cols), &self.params[slot.weight()]).ok()?;
        Some((weight, ArrayView1::from(&self.params[slot.bias()])))
    }

    /// Number of fully connected layers (1 or 2).
    pub fn fc_count(&self) -> usize {
        self.slots.len() - self.arch.blocks.len()
    }

    /// True when every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.params.iter().all(|v| v.is_finite())
    }

    fn check_image(&self, image: ArrayView2<f32>) -> Result<(), NnError> {
        if image.dim() != (self.arch.height, self.arch.width) {
            return Err(NnError::InputShape {
                layer: 0,
                kind: "conv2d",
                expected: format!("a {}×{} image", self.arch.height, self.arch.width),
                got: image.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// The forward pass with every activation.
    pub fn forward(&self, image: ArrayView2<f32>) -> Result<DeepActivations, NnError> {
        self.check_image(image)?;
        let pixels: Vec<f32> = image.iter().copied().collect();
        let mut ws = Workspace::new(self);
        forward_sample(self, &mut ws, &pixels);
        let mut maps = Vec::new();
        let mut pooled = Vec::new();
        for ((block, shape), buffers) in self.arch.blocks.iter().zip(&self.shapes).zip(&ws.blocks) {
            let (h, w) = shape.conv;
            maps.push(to_array3(&buffers.relu, (block.filters, h, w)));
            let (ph, pw) = shape.output;
            pooled.push(block.pool.then(|| to_array3(&buffers.pooled, (block.filters, ph, pw))));
        }
        let hidden = (self.fc_count() == 2).then(|| Array1::from(ws.fc_out[0].clone()));
        let logits = Array1::from(ws.fc_out.last().cloned().unwrap_or_default());
        let probabilities = super::dense::softmax(logits.view());
        Ok(DeepActivations { maps, pooled, hidden, logits, probabilities })
    }

    /// The logits alone.
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Array1<f32>, NnError> {
        Ok(self.forward(image)?.logits)
    }

    /// Cross-entropy loss of one labelled image and the gradient of every parameter (flat layout).
    pub fn loss_and_gradient(&self, image: ArrayView2<f32>, label: usize) -> Result<(f32, Vec<f32>), NnError> {
        self.check_image(image)?;
        if label >= self.arch.classes {
            return Err(NnError::BadLabel { label, classes: self.arch.classes });
        }
        let pixels: Vec<f32> = image.iter().copied().collect();
        let mut ws = Workspace::new(self);
        train_sample(self, &mut ws, &pixels, label);
        Ok((ws.loss_sum as f32, ws.grads))
    }
}

fn to_array3(values: &[f32], dims: (usize, usize, usize)) -> Array3<f32> {
    Array3::from_shape_vec(dims, values.to_vec()).unwrap_or_else(|_| unreachable!("buffers match their shapes"))
}

/// The parameter slots of `arch` (conv blocks, then the fully connected layers).
fn slots(arch: &Arch, shapes: &[BlockShape]) -> Vec<Slot> {
    let mut slots = Vec::new();
    let mut start = 0;
    let mut push = |rows: usize, cols: usize| {
        let slot = Slot { rows, cols, start };
        start = slot.end();
        slots.push(slot);
    };
    for (block, shape) in arch.blocks.iter().zip(shapes) {
        push(block.filters, shape.input.0 * block.kernel * block.kernel);
    }
    let mut inputs = Arch::flat_features(shapes, &arch.blocks);
    for outputs in arch.hidden.into_iter().chain([arch.classes]) {
        push(outputs, inputs);
        inputs = outputs;
    }
    slots
}

/// One block's buffers for one sample.
#[derive(Debug, Clone)]
struct BlockBuffers {
    /// `[C·k·k × P]` receptive fields (`P` = output pixels); reused for their gradient in backward.
    cols: Vec<f32>,
    /// `[F × P]` after `ReLU`.
    relu: Vec<f32>,
    /// `[F × P']` after pooling (empty without pooling).
    pooled: Vec<f32>,
    /// Index into `relu` of each pooled maximum.
    argmax: Vec<u32>,
    /// `[F × P]`: gradient at the convolution output.
    grad: Vec<f32>,
    /// Gradient at the block's output (pooled or `ReLU` maps).
    out_grad: Vec<f32>,
}

/// Per-thread scratch buffers and gradient sums, reused for every sample.
#[derive(Debug, Clone)]
pub struct Workspace {
    blocks: Vec<BlockBuffers>,
    /// Outputs of each fully connected layer (hidden after `ReLU`, then the logits).
    fc_out: Vec<Vec<f32>>,
    /// Gradients at each fully connected layer's output.
    fc_grad: Vec<Vec<f32>>,
    /// Gradient sums, same layout as the parameters.
    pub(crate) grads: Vec<f32>,
    pub(crate) loss_sum: f64,
    pub(crate) correct: usize,
    pub(crate) samples: usize,
}

impl Workspace {
    /// Buffers for `net`'s architecture.
    pub fn new(net: &DeepNet) -> Self {
        let blocks = net
            .arch
            .blocks
            .iter()
            .zip(&net.shapes)
            .map(|(block, shape)| {
                let p = shape.conv.0 * shape.conv.1;
                let taps = shape.input.0 * block.kernel * block.kernel;
                let out = block.filters * shape.output.0 * shape.output.1;
                BlockBuffers {
                    cols: vec![0.0; taps * p],
                    relu: vec![0.0; block.filters * p],
                    pooled: if block.pool { vec![0.0; out] } else { Vec::new() },
                    argmax: if block.pool { vec![0; out] } else { Vec::new() },
                    grad: vec![0.0; block.filters * p],
                    out_grad: vec![0.0; out],
                }
            })
            .collect();
        let fc_sizes: Vec<usize> = net.slots[net.arch.blocks.len()..].iter().map(|s| s.rows).collect();
        Self {
            blocks,
            fc_out: fc_sizes.iter().map(|&n| vec![0.0; n]).collect(),
            fc_grad: fc_sizes.iter().map(|&n| vec![0.0; n]).collect(),
            grads: vec![0.0; net.params.len()],
            loss_sum: 0.0,
            correct: 0,
            samples: 0,
        }
    }

    /// `(loss sum, correct, samples)` since the last call, and resets them.
    pub fn take_totals(&mut self) -> (f64, usize, usize) {
        let totals = (self.loss_sum, self.correct, self.samples);
        (self.loss_sum, self.correct, self.samples) = (0.0, 0, 0);
        totals
    }
}

/// A row-major matrix view of a slice whose length matches by construction.
fn matrix(values: &[f32], rows: usize, cols: usize) -> ArrayView2<'_, f32> {
    ArrayView2::from_shape((rows, cols), values).unwrap_or_else(|_| unreachable!("buffer sized by its layout"))
}

fn matrix_mut(values: &mut [f32], rows: usize, cols: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, cols), values).unwrap_or_else(|_| unreachable!("buffer sized by its layout"))
}

/// `cols[(c·k + a)·k + b][y·W' + x] = input[c][y·s + a·d][x·s + b·d]`.
fn im2col(input: &[f32], block: &ConvBlock, shape: &BlockShape, cols: &mut [f32]) {
    let (channels, height, width) = shape.input;
    let (oh, ow) = shape.conv;
    let (k, s, d) = (block.kernel, block.stride, block.dilation);
    let p = oh * ow;
    for c in 0..channels {
        let plane = &input[c * height * width..(c + 1) * height * width];
        for a in 0..k {
            for b in 0..k {
                let row = &mut cols[((c * k + a) * k + b) * p..][..p];
                for y in 0..oh {
                    let src = &plane[(y * s + a * d) * width + b * d..];
                    let dst = &mut row[y * ow..(y + 1) * ow];
                    if s == 1 {
                        dst.copy_from_slice(&src[..ow]);
                    } else {
                        for (x, v) in dst.iter_mut().enumerate() {
                            *v = src[x * s];
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds each column entry back to the input pixel it came from.
fn col2im(cols: &[f32], block: &ConvBlock, shape: &BlockShape, input_grad: &mut [f32]) {
    let (channels, height, width) = shape.input;
    let (oh, ow) = shape.conv;
    let (k, s, d) = (block.kernel, block.stride, block.dilation);
    let p = oh * ow;
    input_grad.fill(0.0);
    for c in 0..channels {
        let plane = &mut input_grad[c * height * width..(c + 1) * height * width];
        for a in 0..k {
            for b in 0..k {
                let row = &cols[((c * k + a) * k + b) * p..][..p];
                for y in 0..oh {
                    let dst = &mut plane[(y * s + a * d) * width + b * d..];
                    let src = &row[y * ow..(y + 1) * ow];
                    if s == 1 {
                        for (o, v) in dst[..ow].iter_mut().zip(src) {
                            *o += v;
                        }
                    } else {
                        for (x, v) in src.iter().enumerate() {
                            dst[x * s] += v;
                        }
                    }
                }
            }
        }
    }
}

/// 2×2 max-pool with stride 2 of `[F × H' × W']` maps, remembering where each maximum was.
fn max_pool(
    maps: &[f32],
    filters: usize,
    conv: (usize, usize),
    out: (usize, usize),
    pooled: &mut [f32],
    at: &mut [u32],
) {
    let (h, w) = conv;
    let (ph, pw) = out;
    for f in 0..filters {
        for y in 0..ph {
            for x in 0..pw {
                let base = f * h * w + 2 * y * w + 2 * x;
                let mut best = base;
                for candidate in [base + 1, base + w, base + w + 1] {
                    if maps[candidate] > maps[best] {
                        best = candidate;
                    }
                }
                let o = (f * ph + y) * pw + x;
                pooled[o] = maps[best];
                at[o] = best as u32;
            }
        }
    }
}

/// The forward pass of one sample: fills every block's buffers and the FC outputs.
fn forward_sample(net: &DeepNet, ws: &mut Workspace, image: &[f32]) {
    let blocks = &net.arch.blocks;
    for i in 0..blocks.len() {
        let (before, rest) = ws.blocks.split_at_mut(i);
        let buffers = &mut rest[0];
        let input: &[f32] = match before.last() {
            None => image,
            Some(previous) if blocks[i - 1].pool => &previous.pooled,
            Some(previous) => &previous.relu,
        };
        let (block, shape, slot) = (&blocks[i], &net.shapes[i], &net.slots[i]);
        im2col(input, block, shape, &mut buffers.cols);
        let p = shape.conv.0 * shape.conv.1;
        let weight = matrix(&net.params[slot.weight()], slot.rows, slot.cols);
        let mut out = matrix_mut(&mut buffers.relu, slot.rows, p);
        general_mat_mul(1.0, &weight, &matrix(&buffers.cols, slot.cols, p), 0.0, &mut out);
        for (row, &bias) in buffers.relu.chunks_exact_mut(p).zip(&net.params[slot.bias()]) {
            for v in row {
                *v = (*v + bias).max(0.0);
            }
        }
        if block.pool {
            max_pool(&buffers.relu, block.filters, shape.conv, shape.output, &mut buffers.pooled, &mut buffers.argmax);
        }
    }
    let last = blocks.len() - 1;
    let features: &[f32] = if blocks[last].pool { &ws.blocks[last].pooled } else { &ws.blocks[last].relu };
    let fc_slots = &net.slots[blocks.len()..];
    for (j, slot) in fc_slots.iter().enumerate() {
        let (done, rest) = ws.fc_out.split_at_mut(j);
        let input: &[f32] = done.last().map_or(features, Vec::as_slice);
        let weight = &net.params[slot.weight()];
        let relu = j + 1 < fc_slots.len();
        for ((o, row), &bias) in rest[0].iter_mut().zip(weight.chunks_exact(slot.cols)).zip(&net.params[slot.bias()]) {
            let v = dot(row, input) + bias;
            *o = if relu { v.max(0.0) } else { v };
        }
    }
}

/// `Σ a[i]·b[i]` with eight partial sums (vectorisable); always inlined, so that inside a function
/// compiled for AVX2 it vectorises with AVX2 (`n2_shaped` does that).
#[allow(clippy::inline_always)]
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a8.zip(b8) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Softmax cross-entropy of the logits in `ws`: fills the logit gradient, returns `(loss, correct)`.
fn finish_forward(ws: &mut Workspace, label: usize) -> (f32, bool) {
    let logits = ws.fc_out.last().map_or(&[][..], Vec::as_slice);
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let total: f32 = logits.iter().map(|&v| (v - max).exp()).sum();
    let loss = total.ln() + max - logits[label];
    let correct = argmax(logits) == label;
    if let Some(grad) = ws.fc_grad.last_mut() {
        for (g, &z) in grad.iter_mut().zip(logits) {
            *g = (z - max).exp() / total;
        }
        grad[label] -= 1.0;
    }
    (loss, correct)
}

/// Forward and loss of one sample, counted in the workspace's totals (no gradients).
pub(crate) fn evaluate_sample(net: &DeepNet, ws: &mut Workspace, image: &[f32], label: usize) {
    forward_sample(net, ws, image);
    let (loss, correct) = finish_forward(ws, label);
    ws.loss_sum += f64::from(loss);
    ws.correct += usize::from(correct);
    ws.samples += 1;
}

/// Forward, loss and backward of one sample, adding its gradient to the workspace's sums.
pub(crate) fn train_sample(net: &DeepNet, ws: &mut Workspace, image: &[f32], label: usize) {
    evaluate_sample(net, ws, image, label);
    backward_fc(net, ws);
    backward_blocks(net, ws);
}

/// Gradients of the fully connected layers; leaves the gradient at the last block's output.
fn backward_fc(net: &DeepNet, ws: &mut Workspace) {
    let blocks = &net.arch.blocks;
    let last = blocks.len() - 1;
    let fc_slots = &net.slots[blocks.len()..];
    for j in (0..fc_slots.len()).rev() {
        let slot = &fc_slots[j];
        let Workspace { blocks: block_buffers, fc_out, fc_grad, grads, .. } = ws;
        let (lower, upper) = fc_grad.split_at_mut(j);
        let grad = &upper[0];
        let (input, input_grad): (&[f32], &mut [f32]) = if j == 0 {
            let b = &mut block_buffers[last];
            let input = if blocks[last].pool { &b.pooled } else { &b.relu };
            (input, &mut b.out_grad)
        } else {
            (&fc_out[j - 1], &mut lower[j - 1])
        };
        let weight = &net.params[slot.weight()];
        let (grad_weight, grad_bias) = grads[slot.start..slot.end()].split_at_mut(slot.rows * slot.cols);
        for ((g_row, &g), gb) in grad_weight.chunks_exact_mut(slot.cols).zip(grad.iter()).zip(grad_bias.iter_mut()) {
            *gb += g;
            for (gw, &x) in g_row.iter_mut().zip(input) {
                *gw += g * x;
            }
        }
        input_grad.fill(0.0);
        for (row, &g) in weight.chunks_exact(slot.cols).zip(grad.iter()) {
            for (gi, &w) in input_grad.iter_mut().zip(row) {
                *gi += g * w;
            }
        }
        // The ReLU of the layer below passes the gradient only where its output was positive.
        for (gi, &x) in input_grad.iter_mut().zip(input) {
            if x <= 0.0 {
                *gi = 0.0;
            }
        }
    }
}

/// Gradients of the conv blocks, from the gradient at the last block's output.
fn backward_blocks(net: &DeepNet, ws: &mut Workspace) {
    let blocks = &net.arch.blocks;
    for i in (0..blocks.len()).rev() {
        let (block, shape, slot) = (&blocks[i], &net.shapes[i], &net.slots[i]);
        let p = shape.conv.0 * shape.conv.1;
        let (before, rest) = ws.blocks.split_at_mut(i);
        let b = &mut rest[0];
        if block.pool {
            b.grad.fill(0.0);
            for (&at, &g) in b.argmax.iter().zip(&b.out_grad) {
                b.grad[at as usize] += g;
            }
        } else {
            b.grad.copy_from_slice(&b.out_grad);
        }
        for (g, &x) in b.grad.iter_mut().zip(&b.relu) {
            if x <= 0.0 {
                *g = 0.0;
            }
        }
        let (grad_weight, grad_bias) = ws.grads[slot.start..slot.end()].split_at_mut(slot.rows * slot.cols);
        for (gb, row) in grad_bias.iter_mut().zip(b.grad.chunks_exact(p)) {
            *gb += row.iter().sum::<f32>();
        }
        let grad = matrix(&b.grad, slot.rows, p);
        let mut gw = matrix_mut(grad_weight, slot.rows, slot.cols);
        general_mat_mul(1.0, &grad, &matrix(&b.cols, slot.cols, p).t(), 1.0, &mut gw);
        let Some(previous) = before.last_mut() else { continue };
        // The receptive fields are no longer needed: their buffer takes their gradient.
        let weight = matrix(&net.params[slot.weight()], slot.rows, slot.cols);
        let mut cols_grad = matrix_mut(&mut b.cols, slot.cols, p);
        general_mat_mul(1.0, &weight.t(), &grad, 0.0, &mut cols_grad);
        // The ReLU mask of the block below is applied when that block is reached.
        col2im(&b.cols, block, shape, &mut previous.out_grad);
    }
}

#[cfg(test)]
mod tests;
