//! The fast fused training step of the trainable CNN (conv k×k → ReLU → FC → softmax CE).
//!
//! One sample is processed start to finish while it is still in cache: convolution, ReLU and the
//! FC forward pass row by row, then loss, then per feature-map row the FC input and weight
//! gradients and the convolution weight gradient. Threads work on disjoint parts of a batch, each
//! with its own gradient buffers ([`Workspace`]), which are reduced once per batch by [`sgd_update`].
//!
//! Layout: feature-map rows are padded to a multiple of 8 columns (one AVX register), so every
//! inner loop runs over whole registers. The padding columns of the FC weights are zero and their
//! features are masked to zero, so they never receive a gradient and never change the result.
//! The AVX2+FMA path is chosen at run time, the WebAssembly SIMD path in the web build; the
//! portable path is the same algorithm in plain loops.
//! All are tested against the readable [`Cnn::loss_and_gradient`] (the SIMD ones where they run).

use ndarray::{Array1, Array2, Array4};
use rayon::prelude::*;

use super::cnn::{Cnn, CnnSpec, argmax};
use super::dense::NnError;

/// Floats per SIMD register (AVX: 8 × f32).
const LANES: usize = 8;

/// Which implementation of the per-sample step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// AVX2 + FMA intrinsics (x86-64, detected at run time).
    Avx2Fma,
    /// WebAssembly 128-bit SIMD (the web build, which is compiled with it).
    Simd128,
    /// Plain loops, any CPU.
    Portable,
}

impl Backend {
    /// The fastest backend this CPU supports.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                return Backend::Avx2Fma;
            }
        }
        if cfg!(all(target_arch = "wasm32", target_feature = "simd128")) {
            return Backend::Simd128;
        }
        Backend::Portable
    }
}

/// Sizes and strides of the padded layout.
#[derive(Debug, Clone, PartialEq)]
struct Layout {
    height: usize,
    width: usize,
    kernel: usize,
    filters: usize,
    classes: usize,
    map_h: usize,
    map_w: usize,
    /// Feature-map row length rounded up to a multiple of [`LANES`].
    padded_w: usize,
    /// Row stride of the zero-padded image copy: every kernel tap of every padded column fits.
    image_stride: usize,
    /// Floats per padded feature map, `map_h · padded_w`.
    plane: usize,
    /// Floats per padded feature vector, `filters · plane`.
    features: usize,
    /// 1.0 for real columns, 0.0 for padding, `[padded_w]`.
    mask: Vec<f32>,
}

impl Layout {
    fn new(spec: CnnSpec) -> Self {
        let (map_h, map_w) = (spec.map_height(), spec.map_width());
        let padded_w = map_w.div_ceil(LANES) * LANES;
        let plane = map_h * padded_w;
        Self {
            height: spec.height,
            width: spec.width,
            kernel: spec.kernel,
            filters: spec.filters,
            classes: spec.classes,
            map_h,
            map_w,
            padded_w,
            image_stride: padded_w + spec.kernel - 1,
            plane,
            features: spec.filters * plane,
            mask: (0..padded_w).map(|x| if x < map_w { 1.0 } else { 0.0 }).collect(),
        }
    }

    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }
}

/// The network's parameters in the padded layout the kernels read.
#[derive(Debug, Clone, PartialEq)]
pub struct FastCnn {
    spec: CnnSpec,
    layout: Layout,
    backend: Backend,
    /// `[F][k·k]`.
    conv_weight: Vec<f32>,
    /// `[F]`.
    conv_bias: Vec<f32>,
    /// `[L][F][H'][padded W']`, zero in the padding columns.
    fc_weight: Vec<f32>,
    /// `[L]`.
    fc_bias: Vec<f32>,
}

impl FastCnn {
    /// The padded copy of `cnn`, using the fastest backend of this CPU.
    pub fn from_cnn(cnn: &Cnn) -> Self {
        Self::with_backend(cnn, Backend::detect())
    }

    /// The padded copy of `cnn` with a chosen backend (one this CPU or build lacks falls back to [`Backend::detect`]).
    pub fn with_backend(cnn: &Cnn, backend: Backend) -> Self {
        let spec = cnn.spec();
        let layout = Layout::new(spec);
        let mut fc_weight = vec![0.0; spec.classes * layout.features];
        let dense = cnn.fc().weight.as_standard_layout();
        for (l, row) in dense.outer_iter().enumerate() {
            for (i, &w) in row.iter().enumerate() {
                fc_weight[l * layout.features + padded_index(&layout, i)] = w;
            }
        }
        let backend = if backend == Backend::Portable { backend } else { Backend::detect() };
        Self {
            spec,
            backend,
            conv_weight: cnn.conv().weight.iter().copied().collect(),
            conv_bias: cnn.conv().bias.to_vec(),
            fc_weight,
            fc_bias: cnn.fc().bias.to_vec(),
            layout,
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The architecture.
    pub fn spec(&self) -> CnnSpec {
        self.spec
    }

    /// Back to the plain [`Cnn`] (fails only if a parameter is not finite).
    pub fn to_cnn(&self) -> Result<Cnn, NnError> {
        let (conv_weight, conv_bias, fc_weight, fc_bias) = self.unpadded();
        Cnn::from_parameters(self.spec, conv_weight, conv_bias, fc_weight, fc_bias)
    }

    /// Back to the plain [`Cnn`] without the finiteness check, for callers that keep weights finite.
    pub(crate) fn to_cnn_trusted(&self) -> Cnn {
        let (conv_weight, conv_bias, fc_weight, fc_bias) = self.unpadded();
        Cnn::from_trusted_parameters(self.spec, conv_weight, conv_bias, fc_weight, fc_bias)
    }

    /// The parameters in the plain layout: conv weight, conv bias, FC weight, FC bias.
    fn unpadded(&self) -> (Array4<f32>, Array1<f32>, Array2<f32>, Array1<f32>) {
        let s = self.spec;
        let k = s.kernel;
        let conv_weight =
            Array4::from_shape_fn((s.filters, 1, k, k), |(f, _, a, b)| self.conv_weight[(f * k + a) * k + b]);
        let fc_weight = Array2::from_shape_fn((s.classes, s.features()), |(l, i)| {
            self.fc_weight[l * self.layout.features + padded_index(&self.layout, i)]
        });
        (conv_weight, Array1::from(self.conv_bias.clone()), fc_weight, Array1::from(self.fc_bias.clone()))
    }

    /// True when every parameter is finite.
    pub fn is_finite(&self) -> bool {
        [&self.conv_weight, &self.conv_bias, &self.fc_weight, &self.fc_bias]
            .iter()
            .all(|p| p.iter().all(|v| v.is_finite()))
    }
}

/// Position in the padded feature vector of flat feature `i` (`F, H', W'` row-major).
fn padded_index(layout: &Layout, i: usize) -> usize {
    let per_filter = layout.map_h * layout.map_w;
    let (f, rest) = (i / per_filter, i % per_filter);
    let (y, x) = (rest / layout.map_w, rest % layout.map_w);
    f * layout.plane + y * layout.padded_w + x
}

/// Gradient sums of one thread, in the padded layout.
#[derive(Debug, Clone, PartialEq)]
struct Gradients {
    /// `[F][k·k][LANES]`: per-lane partial sums, reduced when the update is applied.
    conv_weight: Vec<f32>,
    /// `[F][LANES]`, per-lane partial sums.
    conv_bias: Vec<f32>,
    /// `[L][F][H'][padded W']`.
    fc_weight: Vec<f32>,
    /// `[L]`.
    fc_bias: Vec<f32>,
}

impl Gradients {
    fn zeros(layout: &Layout) -> Self {
        Self {
            conv_weight: vec![0.0; layout.filters * layout.taps() * LANES],
            conv_bias: vec![0.0; layout.filters * LANES],
            fc_weight: vec![0.0; layout.classes * layout.features],
            fc_bias: vec![0.0; layout.classes],
        }
    }

    fn clear(&mut self) {
        for part in [&mut self.conv_weight, &mut self.conv_bias, &mut self.fc_weight, &mut self.fc_bias] {
            part.fill(0.0);
        }
    }
}

/// Samples processed together: the FC weights and their gradients are read once per pair.
const PAIR: usize = 2;

/// The buffers of one sample in flight.
#[derive(Debug, Clone)]
struct Slot {
    /// Zero-padded copy of the image, `[H][image_stride]`.
    image: Vec<f32>,
    /// Feature maps after ReLU, `[F][H'][padded W']`, zero in the padding columns.
    features: Vec<f32>,
    /// Per-lane partial logits, `[L][LANES]`.
    logit_lanes: Vec<f32>,
    /// `∂loss/∂logits`, `[L]`.
    grad_logits: Vec<f32>,
}

impl Slot {
    fn new(layout: &Layout) -> Self {
        Self {
            image: vec![0.0; layout.height * layout.image_stride],
            features: vec![0.0; layout.features],
            logit_lanes: vec![0.0; layout.classes * LANES],
            grad_logits: vec![0.0; layout.classes],
        }
    }

    fn load_image(&mut self, layout: &Layout, image: &[f32]) {
        let (w, stride) = (layout.width, layout.image_stride);
        for (dst, src) in self.image.chunks_exact_mut(stride).zip(image.chunks_exact(w)) {
            dst[..w].copy_from_slice(src);
            dst[w..].fill(0.0);
        }
    }

    /// Softmax cross-entropy from the lane partials: fills `grad_logits`, returns `(loss, correct)`.
    fn finish_forward(&mut self, bias: &[f32], label: usize) -> (f32, bool) {
        let logits: Vec<f32> = bias
            .iter()
            .enumerate()
            .map(|(l, b)| self.logit_lanes[l * LANES..(l + 1) * LANES].iter().sum::<f32>() + b)
            .collect();
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let total: f32 = logits.iter().map(|&v| (v - max).exp()).sum();
        for (g, &z) in self.grad_logits.iter_mut().zip(&logits) {
            *g = (z - max).exp() / total;
        }
        self.grad_logits[label] -= 1.0;
        (total.ln() + max - logits[label], argmax(&logits) == label)
    }
}

/// Per-thread scratch buffers and gradient sums; allocated once, reused for every sample.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Buffers of the samples in flight ([`PAIR`] of them).
    slots: Vec<Slot>,
    grads: Gradients,
    /// Sum of the losses since the last [`Workspace::take_totals`].
    loss_sum: f64,
    /// Correct predictions (before the update) since the last [`Workspace::take_totals`].
    correct: usize,
    /// Samples since the last [`Workspace::take_totals`].
    samples: usize,
}

impl Workspace {
    /// Buffers for `net`'s architecture.
    pub fn new(net: &FastCnn) -> Self {
        Self {
            slots: (0..PAIR).map(|_| Slot::new(&net.layout)).collect(),
            grads: Gradients::zeros(&net.layout),
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

    /// Zeroes the gradient sums (after a step that is thrown away).
    pub fn clear_gradients(&mut self) {
        self.grads.clear();
    }
}

/// Forward pass and loss of one or two samples (fills each slot's `features` and `grad_logits`).
///
/// `images[s]` is `H·W` row-major; `labels[s] < L` (callers validate both).
fn forward_samples(net: &FastCnn, ws: &mut Workspace, images: &[&[f32]], labels: &[usize]) {
    let slots = &mut ws.slots[..images.len()];
    for (slot, image) in slots.iter_mut().zip(images) {
        slot.load_image(&net.layout, image);
    }
    match net.backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the backend is Avx2Fma only when the CPU reported AVX2 and FMA (Backend::detect).
        Backend::Avx2Fma => unsafe { avx2::forward(net, slots) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Backend::Simd128 => simd128::forward(net, slots),
        _ => portable::forward(net, slots),
    }
    for (slot, &label) in slots.iter_mut().zip(labels) {
        let (loss, correct) = slot.finish_forward(&net.fc_bias, label);
        ws.loss_sum += f64::from(loss);
        ws.correct += usize::from(correct);
        ws.samples += 1;
    }
}

/// Forward, loss and backward of one or two samples, adding their gradients to the workspace.
fn train_samples(net: &FastCnn, ws: &mut Workspace, images: &[&[f32]], labels: &[usize]) {
    forward_samples(net, ws, images, labels);
    let slots = &ws.slots[..images.len()];
    match net.backend {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `forward_samples`.
        Backend::Avx2Fma => unsafe { avx2::backward(net, slots, &mut ws.grads) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Backend::Simd128 => simd128::backward(net, slots, &mut ws.grads),
        _ => portable::backward(net, slots, &mut ws.grads),
    }
    for slot in slots {
        for (g, d) in ws.grads.fc_bias.iter_mut().zip(&slot.grad_logits) {
            *g += d;
        }
    }
}

/// Splits `indices` into one contiguous part per workspace and runs `per_group` on pairs of
/// samples (the last one alone if the count is odd), in parallel over the workspaces.
fn for_each_pair(
    net: &FastCnn,
    workspaces: &mut [Workspace],
    images: &[f32],
    labels: &[usize],
    indices: &[usize],
    per_group: impl Fn(&FastCnn, &mut Workspace, &[&[f32]], &[usize]) + Sync,
) {
    let pixels = net.layout.height * net.layout.width;
    let part = indices.len().div_ceil(workspaces.len().max(1)).max(1);
    workspaces.par_iter_mut().zip(indices.par_chunks(part)).for_each(|(ws, chunk)| {
        for group in chunk.chunks(PAIR) {
            let mut group_images: [&[f32]; PAIR] = [&[]; PAIR];
            let mut group_labels = [0; PAIR];
            for (k, &i) in group.iter().enumerate() {
                group_images[k] = &images[i * pixels..(i + 1) * pixels];
                group_labels[k] = labels[i];
            }
            per_group(net, ws, &group_images[..group.len()], &group_labels[..group.len()]);
        }
    });
}

/// Loss and accuracy (no gradients) of the samples `indices`, added to the workspaces' totals.
pub fn evaluate_batch(
    net: &FastCnn,
    workspaces: &mut [Workspace],
    images: &[f32],
    labels: &[usize],
    indices: &[usize],
) {
    for_each_pair(net, workspaces, images, labels, indices, forward_samples);
}

/// Accumulates the gradients of the samples `indices` of `images` (packed `N·H·W`) over the workspaces.
///
/// The indices are split into one contiguous part per workspace, processed in parallel.
pub fn accumulate_batch(
    net: &FastCnn,
    workspaces: &mut [Workspace],
    images: &[f32],
    labels: &[usize],
    indices: &[usize],
) {
    for_each_pair(net, workspaces, images, labels, indices, train_samples);
}

/// SGD settings for [`sgd_update`] (PyTorch's `torch.optim.SGD` semantics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdStep {
    pub learning_rate: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    /// Samples whose gradients are in the workspaces (the mean is taken over them).
    pub batch_len: usize,
}

/// Momentum buffers, one per parameter (padded layout); `Velocity::default()` (empty) means no momentum.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Velocity {
    conv_weight: Vec<f32>,
    conv_bias: Vec<f32>,
    fc_weight: Vec<f32>,
    fc_bias: Vec<f32>,
}

impl Velocity {
    /// Zero buffers for `net`.
    pub fn new(net: &FastCnn) -> Self {
        Self {
            conv_weight: vec![0.0; net.conv_weight.len()],
            conv_bias: vec![0.0; net.conv_bias.len()],
            fc_weight: vec![0.0; net.fc_weight.len()],
            fc_bias: vec![0.0; net.fc_bias.len()],
        }
    }
}

/// Applies one SGD step with the mean gradient of the workspaces, then clears them.
///
/// `d = ḡ + weight_decay·w`; with momentum `v = μ·v + d`, `d = v`; then `w −= lr·d`.
pub fn sgd_update(net: &mut FastCnn, workspaces: &mut [Workspace], velocity: &mut Velocity, step: SgdStep) {
    let scale = 1.0 / step.batch_len.max(1) as f32;
    let reduce_lanes = |part: fn(&Gradients) -> &Vec<f32>, index: usize| -> f32 {
        workspaces.iter().map(|ws| part(&ws.grads)[index * LANES..(index + 1) * LANES].iter().sum::<f32>()).sum()
    };
    // The small parameters: sums over threads and lanes (a few hundred numbers).
    let conv_w: Vec<f32> = (0..net.conv_weight.len()).map(|i| reduce_lanes(|g| &g.conv_weight, i)).collect();
    let conv_b: Vec<f32> = (0..net.conv_bias.len()).map(|i| reduce_lanes(|g| &g.conv_bias, i)).collect();
    let fc_b: Vec<f32> =
        (0..net.fc_bias.len()).map(|i| workspaces.iter().map(|ws| ws.grads.fc_bias[i]).sum()).collect();
    apply(&mut net.conv_weight, &conv_w, &mut velocity.conv_weight, step, scale);
    apply(&mut net.conv_bias, &conv_b, &mut velocity.conv_bias, step, scale);
    apply(&mut net.fc_bias, &fc_b, &mut velocity.fc_bias, step, scale);
    // The FC weights are the bulk: the other threads' sums are added into the first thread's
    // buffer chunk by chunk, in parallel, and applied while the chunk is in cache.
    let Some((first, rest)) = workspaces.split_first_mut() else { return };
    let others: Vec<&[f32]> = rest.iter().map(|ws| ws.grads.fc_weight.as_slice()).collect();
    let has_momentum = velocity.fc_weight.len() == net.fc_weight.len();
    let chunks = net.fc_weight.par_chunks_mut(FC_CHUNK).zip(first.grads.fc_weight.par_chunks_mut(FC_CHUNK)).enumerate();
    if has_momentum {
        chunks.zip(velocity.fc_weight.par_chunks_mut(FC_CHUNK)).for_each(|((c, (w, g)), v)| {
            update_fc_chunk(w, g, v, &others, c * FC_CHUNK, step, scale);
        });
    } else {
        chunks.for_each(|(c, (w, g))| update_fc_chunk(w, g, &mut [], &others, c * FC_CHUNK, step, scale));
    }
    rest.par_iter_mut().for_each(|ws| ws.grads.clear());
    first.grads.conv_weight.fill(0.0);
    first.grads.conv_bias.fill(0.0);
    first.grads.fc_bias.fill(0.0);
}

/// FC weights updated per parallel task.
const FC_CHUNK: usize = 4096;

/// Sums the other threads' gradients into `grad`, applies the SGD rule to `weights`, clears `grad`.
///
/// `start` is the chunk's offset in the full buffers; `velocity` is empty without momentum.
fn update_fc_chunk(
    weights: &mut [f32],
    grad: &mut [f32],
    velocity: &mut [f32],
    others: &[&[f32]],
    start: usize,
    step: SgdStep,
    scale: f32,
) {
    for other in others {
        for (g, o) in grad.iter_mut().zip(&other[start..start + weights.len()]) {
            *g += o;
        }
    }
    let (lr, decay) = (step.learning_rate, step.weight_decay);
    if velocity.is_empty() {
        // Plain SGD: a branch-free loop the compiler vectorises.
        for (w, g) in weights.iter_mut().zip(grad.iter()) {
            *w -= lr * (g * scale + decay * *w);
        }
    } else {
        apply(weights, grad, velocity, step, scale);
    }
    grad.fill(0.0);
}

/// `w −= lr·d` for one parameter slice with gradient `scale · grad` (see [`sgd_update`]);
/// `velocity` is empty without momentum.
fn apply(weights: &mut [f32], grad: &[f32], velocity: &mut [f32], step: SgdStep, scale: f32) {
    for (i, (w, &g)) in weights.iter_mut().zip(grad).enumerate() {
        apply_one(w, g * scale, velocity.get_mut(i), step);
    }
}

/// The SGD rule for one parameter.
fn apply_one(w: &mut f32, mean_grad: f32, velocity: Option<&mut f32>, step: SgdStep) {
    let mut d = mean_grad + step.weight_decay * *w;
    if let Some(v) = velocity {
        *v = step.momentum * *v + d;
        d = *v;
    }
    *w -= step.learning_rate * d;
}

mod portable;

#[cfg(target_arch = "x86_64")]
// The register blocks index several arrays (accumulators, features, gradients) with one index.
#[allow(clippy::needless_range_loop)]
mod avx2;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
// As in `avx2`: the register blocks index several arrays with one index.
#[allow(clippy::needless_range_loop)]
mod simd128;

#[cfg(test)]
mod tests;
