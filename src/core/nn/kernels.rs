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
//! The AVX2+FMA path is chosen at run time; the portable path is the same algorithm in plain loops.
//! Both are tested against the readable [`Cnn::loss_and_gradient`].

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

    /// The padded copy of `cnn` with a chosen backend (`Avx2Fma` falls back if the CPU lacks it).
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
        let backend = if backend == Backend::Avx2Fma { Backend::detect() } else { backend };
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

/// The plain-loop implementation (any CPU): the same algorithm as `avx2`, lane by lane.
mod portable {
    use super::{FastCnn, Gradients, LANES, Slot};

    /// Convolution + ReLU of every slot, then the FC forward pass (weights read once for all slots).
    pub(super) fn forward(net: &FastCnn, slots: &mut [Slot]) {
        let l = &net.layout;
        for slot in slots.iter_mut() {
            conv(net, slot);
            slot.logit_lanes.fill(0.0);
        }
        for class in 0..l.classes {
            let weights = &net.fc_weight[class * l.features..(class + 1) * l.features];
            for slot in slots.iter_mut() {
                let lanes = &mut slot.logit_lanes[class * LANES..(class + 1) * LANES];
                for (i, (&w, &v)) in weights.iter().zip(&slot.features).enumerate() {
                    lanes[i % LANES] += w * v;
                }
            }
        }
    }

    /// `features = mask · max(0, bias + Σ_{a,b} w[a,b] · image[y+a][x+b])`, row by row.
    fn conv(net: &FastCnn, slot: &mut Slot) {
        let l = &net.layout;
        for f in 0..l.filters {
            for y in 0..l.map_h {
                let offset = f * l.plane + y * l.padded_w;
                let row = &mut slot.features[offset..offset + l.padded_w];
                row.fill(net.conv_bias[f]);
                for a in 0..l.kernel {
                    let src = &slot.image[(y + a) * l.image_stride..];
                    for b in 0..l.kernel {
                        let w = net.conv_weight[f * l.taps() + a * l.kernel + b];
                        for (o, &x) in row.iter_mut().zip(&src[b..b + l.padded_w]) {
                            *o += w * x;
                        }
                    }
                }
                for (v, &m) in row.iter_mut().zip(&l.mask) {
                    *v = v.max(0.0) * m;
                }
            }
        }
    }

    /// FC input and weight gradients, ReLU, and the convolution weight and bias gradients.
    pub(super) fn backward(net: &FastCnn, slots: &[Slot], grads: &mut Gradients) {
        let l = &net.layout;
        for slot in slots {
            for f in 0..l.filters {
                for y in 0..l.map_h {
                    let offset = f * l.plane + y * l.padded_w;
                    let features = &slot.features[offset..offset + l.padded_w];
                    // The gradient of this feature row, built in 8-lane chunks so nothing is allocated.
                    for x0 in (0..l.padded_w).step_by(LANES) {
                        let mut grad = [0.0f32; LANES];
                        for (class, &d) in slot.grad_logits.iter().enumerate() {
                            let at = class * l.features + offset + x0;
                            let weights = &net.fc_weight[at..at + LANES];
                            let grad_weights = &mut grads.fc_weight[at..at + LANES];
                            for k in 0..LANES {
                                grad[k] += d * weights[k];
                                grad_weights[k] += d * features[x0 + k];
                            }
                        }
                        // ReLU passes the gradient only where the feature is positive.
                        for (k, g) in grad.iter_mut().enumerate() {
                            if features[x0 + k] <= 0.0 {
                                *g = 0.0;
                            }
                            grads.conv_bias[f * LANES + k] += *g;
                        }
                        for a in 0..l.kernel {
                            let src = &slot.image[(y + a) * l.image_stride + x0..];
                            for b in 0..l.kernel {
                                let lanes =
                                    &mut grads.conv_weight[(f * l.taps() + a * l.kernel + b) * LANES..][..LANES];
                                for k in 0..LANES {
                                    lanes[k] += grad[k] * src[b + k];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The AVX2 + FMA implementation: 8 columns per register, several registers per row, and the
/// FC weights and their gradients read once for a pair of samples.
#[cfg(target_arch = "x86_64")]
// The register blocks index several arrays (accumulators, features, gradients) with one index.
#[allow(clippy::needless_range_loop)]
mod avx2 {
    use std::arch::x86_64::{
        __m256, _CMP_GT_OQ, _mm256_add_ps, _mm256_and_ps, _mm256_cmp_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_max_ps, _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };

    use super::{FastCnn, Gradients, LANES, Slot};

    /// Registers of one row handled at once by the convolution: 2 filters × 5 registers.
    const CONV_BLOCK: usize = 5;
    /// Classes whose logits are accumulated at once: 2 samples × 5 classes = 10 registers.
    const CLASS_BLOCK: usize = 5;

    /// Convolution + ReLU of every slot, then the FC forward pass.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn forward(net: &FastCnn, slots: &mut [Slot]) {
        for slot in slots.iter_mut() {
            // SAFETY: the caller checked AVX2 + FMA.
            unsafe { conv(net, slot) };
        }
        let classes = net.layout.classes;
        let mut l0 = 0;
        while l0 < classes {
            let g = (classes - l0).min(CLASS_BLOCK);
            // SAFETY: indices stay inside the buffers sized by the layout (see `fc_group`).
            unsafe {
                match (slots.len(), g) {
                    (1, 1) => fc_group::<1, 1>(net, slots, l0),
                    (1, 2) => fc_group::<1, 2>(net, slots, l0),
                    (1, 3) => fc_group::<1, 3>(net, slots, l0),
                    (1, 4) => fc_group::<1, 4>(net, slots, l0),
                    (1, _) => fc_group::<1, 5>(net, slots, l0),
                    (_, 1) => fc_group::<2, 1>(net, slots, l0),
                    (_, 2) => fc_group::<2, 2>(net, slots, l0),
                    (_, 3) => fc_group::<2, 3>(net, slots, l0),
                    (_, 4) => fc_group::<2, 4>(net, slots, l0),
                    (_, _) => fc_group::<2, 5>(net, slots, l0),
                }
            }
            l0 += g;
        }
    }

    /// Convolution + ReLU + mask of one slot into its `features`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn conv(net: &FastCnn, slot: &mut Slot) {
        let l = &net.layout;
        let registers = l.padded_w / LANES;
        let mut f = 0;
        while f < l.filters {
            let pair = l.filters - f >= 2;
            for y in 0..l.map_h {
                let mut v0 = 0;
                while v0 < registers {
                    let n = (registers - v0).min(CONV_BLOCK);
                    // SAFETY: all indices stay inside the buffers sized by the layout (see `conv_block`).
                    unsafe {
                        match (pair, n) {
                            (true, 1) => conv_block::<2, 1>(net, slot, f, y, v0),
                            (true, 2) => conv_block::<2, 2>(net, slot, f, y, v0),
                            (true, 3) => conv_block::<2, 3>(net, slot, f, y, v0),
                            (true, 4) => conv_block::<2, 4>(net, slot, f, y, v0),
                            (true, _) => conv_block::<2, 5>(net, slot, f, y, v0),
                            (false, 1) => conv_block::<1, 1>(net, slot, f, y, v0),
                            (false, 2) => conv_block::<1, 2>(net, slot, f, y, v0),
                            (false, 3) => conv_block::<1, 3>(net, slot, f, y, v0),
                            (false, 4) => conv_block::<1, 4>(net, slot, f, y, v0),
                            (false, _) => conv_block::<1, 5>(net, slot, f, y, v0),
                        }
                    }
                    v0 += n;
                }
            }
            f += if pair { 2 } else { 1 };
        }
    }

    /// `N` registers of row `y` of filters `f..f+FB`: convolution, ReLU, mask, store.
    ///
    /// Bounds: the image is `H × image_stride` with `image_stride = padded_w + k − 1`, and the
    /// highest column read is `(v0 + N)·8 − 1 + (k − 1) < image_stride`; rows `y + a < H`.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn conv_block<const FB: usize, const N: usize>(
        net: &FastCnn,
        slot: &mut Slot,
        f: usize,
        y: usize,
        v0: usize,
    ) {
        let l = &net.layout;
        let k = l.kernel;
        let taps = l.taps();
        let image = slot.image.as_ptr();
        let mut acc = [[_mm256_setzero_ps(); N]; FB];
        for (i, acc) in acc.iter_mut().enumerate() {
            *acc = [_mm256_set1_ps(net.conv_bias[f + i]); N];
        }
        for a in 0..k {
            let row = image.wrapping_add((y + a) * l.image_stride + v0 * LANES);
            for b in 0..k {
                let mut w = [_mm256_setzero_ps(); FB];
                for (i, w) in w.iter_mut().enumerate() {
                    *w = _mm256_set1_ps(net.conv_weight[(f + i) * taps + a * k + b]);
                }
                for v in 0..N {
                    // SAFETY: in bounds by the layout (see the doc comment).
                    let x = unsafe { _mm256_loadu_ps(row.add(b + v * LANES)) };
                    for i in 0..FB {
                        acc[i][v] = _mm256_fmadd_ps(w[i], x, acc[i][v]);
                    }
                }
            }
        }
        let zero = _mm256_setzero_ps();
        for (i, acc) in acc.iter().enumerate() {
            let offset = (f + i) * l.plane + y * l.padded_w + v0 * LANES;
            for (v, value) in acc.iter().enumerate() {
                // SAFETY: the mask has padded_w entries, v0 + v < padded_w / 8, and
                // offset + (v + 1)·8 ≤ features.len() by the layout.
                unsafe {
                    let mask = _mm256_loadu_ps(l.mask.as_ptr().add((v0 + v) * LANES));
                    let out = _mm256_mul_ps(_mm256_max_ps(*value, zero), mask);
                    _mm256_storeu_ps(slot.features.as_mut_ptr().add(offset + v * LANES), out);
                }
            }
        }
    }

    /// Partial logits of classes `l0..l0+G` for the first `S` slots: each weight register is
    /// loaded once and used for every slot.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fc_group<const S: usize, const G: usize>(net: &FastCnn, slots: &mut [Slot], l0: usize) {
        let l = &net.layout;
        let mut features = [std::ptr::null::<f32>(); S];
        for (s, pointer) in features.iter_mut().enumerate() {
            *pointer = slots[s].features.as_ptr();
        }
        let weights = net.fc_weight.as_ptr();
        let mut acc = [[_mm256_setzero_ps(); G]; S];
        let mut x = [_mm256_setzero_ps(); S];
        // SAFETY: i + 8 ≤ features (a multiple of 8) and (l0 + g + 1)·features ≤ fc_weight.len().
        unsafe {
            for i in (0..l.features).step_by(LANES) {
                for s in 0..S {
                    x[s] = _mm256_loadu_ps(features[s].add(i));
                }
                for g in 0..G {
                    let w = _mm256_loadu_ps(weights.add((l0 + g) * l.features + i));
                    for s in 0..S {
                        acc[s][g] = _mm256_fmadd_ps(w, x[s], acc[s][g]);
                    }
                }
            }
            for (s, acc) in acc.iter().enumerate() {
                for (g, value) in acc.iter().enumerate() {
                    _mm256_storeu_ps(slots[s].logit_lanes.as_mut_ptr().add((l0 + g) * LANES), *value);
                }
            }
        }
    }

    /// FC input and weight gradients, ReLU, and the convolution weight and bias gradients.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn backward(net: &FastCnn, slots: &[Slot], grads: &mut Gradients) {
        let l = &net.layout;
        let registers = l.padded_w / LANES;
        // Two samples keep 2 × 2 × N registers live (features and gradients): N ≤ 2 avoids spills.
        let block = if slots.len() == 1 { 5 } else { 2 };
        for f in 0..l.filters {
            for y in 0..l.map_h {
                let mut v0 = 0;
                while v0 < registers {
                    let n = (registers - v0).min(block);
                    // SAFETY: all indices stay inside the buffers sized by the layout.
                    unsafe {
                        match (slots.len(), n) {
                            (1, 1) => backward_block::<1, 1>(net, slots, grads, f, y, v0),
                            (1, 2) => backward_block::<1, 2>(net, slots, grads, f, y, v0),
                            (1, 3) => backward_block::<1, 3>(net, slots, grads, f, y, v0),
                            (1, 4) => backward_block::<1, 4>(net, slots, grads, f, y, v0),
                            (1, _) => backward_block::<1, 5>(net, slots, grads, f, y, v0),
                            (_, 1) => backward_block::<2, 1>(net, slots, grads, f, y, v0),
                            (_, _) => backward_block::<2, 2>(net, slots, grads, f, y, v0),
                        }
                    }
                    v0 += n;
                }
            }
        }
    }

    /// `N` registers of row `y` of filter `f`, for the first `S` slots: the whole backward pass.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn backward_block<const S: usize, const N: usize>(
        net: &FastCnn,
        slots: &[Slot],
        grads: &mut Gradients,
        f: usize,
        y: usize,
        v0: usize,
    ) {
        let l = &net.layout;
        let k = l.kernel;
        let offset = f * l.plane + y * l.padded_w + v0 * LANES;
        let zero = _mm256_setzero_ps();
        let mut features = [[zero; N]; S];
        let mut grad = [[zero; N]; S];
        // SAFETY (whole block): offsets are those of the forward pass; gradient buffers share its layout.
        unsafe {
            for s in 0..S {
                for v in 0..N {
                    features[s][v] = _mm256_loadu_ps(slots[s].features.as_ptr().add(offset + v * LANES));
                }
            }
            let mut d = [zero; S];
            for class in 0..l.classes {
                for s in 0..S {
                    d[s] = _mm256_set1_ps(slots[s].grad_logits[class]);
                }
                let at = class * l.features + offset;
                let weights = net.fc_weight.as_ptr().add(at);
                let grad_weights = grads.fc_weight.as_mut_ptr().add(at);
                for v in 0..N {
                    let w = _mm256_loadu_ps(weights.add(v * LANES));
                    let gw = grad_weights.add(v * LANES);
                    let mut sum = _mm256_loadu_ps(gw);
                    for s in 0..S {
                        grad[s][v] = _mm256_fmadd_ps(d[s], w, grad[s][v]);
                        sum = _mm256_fmadd_ps(d[s], features[s][v], sum);
                    }
                    _mm256_storeu_ps(gw, sum);
                }
            }
            // ReLU passes the gradient only where the feature is positive.
            let bias_lanes = grads.conv_bias.as_mut_ptr().add(f * LANES);
            let mut bias = _mm256_loadu_ps(bias_lanes);
            for s in 0..S {
                for v in 0..N {
                    grad[s][v] = _mm256_and_ps(grad[s][v], _mm256_cmp_ps::<_CMP_GT_OQ>(features[s][v], zero));
                    bias = _mm256_add_ps(bias, grad[s][v]);
                }
            }
            _mm256_storeu_ps(bias_lanes, bias);
            for a in 0..k {
                let mut rows = [std::ptr::null::<f32>(); S];
                for s in 0..S {
                    rows[s] = slots[s].image.as_ptr().add((y + a) * l.image_stride + v0 * LANES);
                }
                for b in 0..k {
                    let lanes = grads.conv_weight.as_mut_ptr().add((f * l.taps() + a * k + b) * LANES);
                    let mut sum: __m256 = _mm256_loadu_ps(lanes);
                    for s in 0..S {
                        for v in 0..N {
                            sum = _mm256_fmadd_ps(grad[s][v], _mm256_loadu_ps(rows[s].add(b + v * LANES)), sum);
                        }
                    }
                    _mm256_storeu_ps(lanes, sum);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::cnn::CnnGradient;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random_images(spec: CnnSpec, count: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pixels = (0..count * spec.height * spec.width).map(|_| rng.random_range(0.0..1.0)).collect();
        let labels = (0..count).map(|_| rng.random_range(0..spec.classes)).collect();
        (pixels, labels)
    }

    /// The summed gradient of `indices` by the readable reference path.
    fn reference_sum(cnn: &Cnn, pixels: &[f32], labels: &[usize], indices: &[usize]) -> (f64, CnnGradient) {
        let s = cnn.spec();
        let n = s.height * s.width;
        let mut total: Option<CnnGradient> = None;
        let mut loss = 0.0;
        for &i in indices {
            let image = Array2::from_shape_vec((s.height, s.width), pixels[i * n..(i + 1) * n].to_vec()).unwrap();
            let (l, g) = cnn.loss_and_gradient(image.view(), labels[i]).unwrap();
            loss += f64::from(l);
            total = Some(match total {
                None => g,
                Some(t) => CnnGradient {
                    conv_weight: t.conv_weight + g.conv_weight,
                    conv_bias: t.conv_bias + g.conv_bias,
                    fc_weight: t.fc_weight + g.fc_weight,
                    fc_bias: t.fc_bias + g.fc_bias,
                },
            });
        }
        (loss, total.unwrap())
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{what}[{i}]: {g} vs {w}");
        }
    }

    /// Runs a batch through the fast path, then one SGD step with lr 1, and compares the weight
    /// change (which is −mean gradient) and the loss with the reference path.
    fn check(spec: CnnSpec, backend: Backend, threads: usize, seed: u64) {
        let cnn = Cnn::new(spec, seed).unwrap();
        let (pixels, labels) = random_images(spec, 8, seed + 1);
        // Seven samples: every thread count below leaves some thread an odd number (a lone sample).
        let indices = [3, 0, 6, 1, 5, 2, 7];
        let (ref_loss, reference) = reference_sum(&cnn, &pixels, &labels, &indices);
        let mut fast = FastCnn::with_backend(&cnn, backend);
        assert_eq!(fast.backend(), backend);
        assert_eq!(fast.to_cnn().unwrap(), cnn, "padding round trip");
        let mut workspaces: Vec<Workspace> = (0..threads).map(|_| Workspace::new(&fast)).collect();
        accumulate_batch(&fast, &mut workspaces, &pixels, &labels, &indices);
        let loss: f64 = workspaces.iter_mut().map(|ws| ws.take_totals().0).sum();
        assert!((loss - ref_loss).abs() < 1e-4 * ref_loss.abs().max(1.0), "{loss} vs {ref_loss}");
        let step = SgdStep { learning_rate: 1.0, momentum: 0.0, weight_decay: 0.0, batch_len: indices.len() };
        sgd_update(&mut fast, &mut workspaces, &mut Velocity::default(), step);
        let after = fast.to_cnn().unwrap();
        let n = indices.len() as f32;
        let flat = |a: ndarray::ArrayViewD<f32>| a.iter().copied().collect::<Vec<f32>>();
        // With lr 1 and the mean over n samples, (old − new)·n is the summed gradient.
        let change = |new: ndarray::ArrayViewD<f32>, old: ndarray::ArrayViewD<f32>| -> Vec<f32> {
            flat(old).iter().zip(&flat(new)).map(|(o, w)| (o - w) * n).collect()
        };
        let parts = [
            (
                "conv weight",
                after.conv().weight.view().into_dyn(),
                cnn.conv().weight.view().into_dyn(),
                reference.conv_weight.view().into_dyn(),
            ),
            (
                "conv bias",
                after.conv().bias.view().into_dyn(),
                cnn.conv().bias.view().into_dyn(),
                reference.conv_bias.view().into_dyn(),
            ),
            (
                "fc weight",
                after.fc().weight.view().into_dyn(),
                cnn.fc().weight.view().into_dyn(),
                reference.fc_weight.view().into_dyn(),
            ),
            (
                "fc bias",
                after.fc().bias.view().into_dyn(),
                cnn.fc().bias.view().into_dyn(),
                reference.fc_bias.view().into_dyn(),
            ),
        ];
        for (what, new, old, want) in parts {
            assert_close(&change(new, old), &flat(want), what);
        }
        assert!(workspaces.iter().all(|ws| ws.grads.fc_weight.iter().all(|&g| g == 0.0)), "cleared");
    }

    #[test]
    fn fast_step_matches_the_reference_on_many_shapes() {
        let specs = [
            CnnSpec::toy(1),
            CnnSpec::toy(3),
            CnnSpec { height: 12, width: 21, kernel: 3, filters: 5, classes: 3 },
            CnnSpec { height: 9, width: 60, kernel: 4, filters: 2, classes: 4 },
            CnnSpec { height: 3, width: 3, kernel: 3, filters: 1, classes: 2 },
            CnnSpec::fashion(),
        ];
        for (seed, spec) in specs.into_iter().enumerate() {
            for threads in [1, 2, 3] {
                check(spec, Backend::Portable, threads, seed as u64);
                if Backend::detect() == Backend::Avx2Fma {
                    check(spec, Backend::Avx2Fma, threads, seed as u64);
                }
            }
        }
    }

    #[test]
    fn momentum_and_weight_decay_follow_pytorch() {
        let step = SgdStep { learning_rate: 0.1, momentum: 0.9, weight_decay: 0.01, batch_len: 1 };
        let mut w = [1.0f32];
        let mut v = [0.0f32];
        apply(&mut w, &[0.5], &mut v, step, 1.0);
        // d = 0.5 + 0.01 = 0.51, v = 0.51, w = 1 − 0.051.
        assert!((w[0] - 0.949).abs() < 1e-6 && (v[0] - 0.51).abs() < 1e-6);
        apply(&mut w, &[0.5], &mut v, step, 1.0);
        let d = 0.5 + 0.01 * 0.949;
        let v2 = 0.9 * 0.51 + d;
        assert!((v[0] - v2).abs() < 1e-6 && (w[0] - (0.949 - 0.1 * v2)).abs() < 1e-6);
    }
}
