//! The WebAssembly SIMD implementation of the fused step (the web build): the algorithm of `avx2`,
//! with each 8-column register held as two 128-bit vectors ([`F8`]) and smaller register blocks,
//! since the browser maps them onto 16 SSE/NEON registers. WebAssembly SIMD has no fused
//! multiply-add, so every `fmadd` is a multiply and an add.

use std::arch::wasm32::{
    f32x4_add, f32x4_gt, f32x4_mul, f32x4_pmax, f32x4_splat, v128, v128_and, v128_load, v128_store,
};

use super::{FastCnn, Gradients, LANES, Slot};

/// Registers of one row handled at once by the convolution: 2 filters × 2 registers.
const CONV_BLOCK: usize = 2;
/// Classes whose logits are accumulated at once: 2 samples × 2 classes.
const CLASS_BLOCK: usize = 2;

/// Eight lanes, the unit of the padded layout ([`LANES`]), as two WebAssembly vectors.
#[derive(Clone, Copy)]
struct F8([v128; 2]);

impl F8 {
    fn splat(value: f32) -> Self {
        Self([f32x4_splat(value); 2])
    }

    /// The 8 floats at `at`.
    ///
    /// # Safety
    /// `at..at + 8` is readable.
    unsafe fn load(at: *const f32) -> Self {
        // SAFETY: by the caller; v128 loads need no alignment.
        unsafe { Self([v128_load(at.cast()), v128_load(at.add(4).cast())]) }
    }

    /// Writes the 8 floats to `at`.
    ///
    /// # Safety
    /// `at..at + 8` is writable.
    unsafe fn store(self, at: *mut f32) {
        // SAFETY: by the caller.
        unsafe {
            v128_store(at.cast(), self.0[0]);
            v128_store(at.add(4).cast(), self.0[1]);
        }
    }

    /// `a · b + self`.
    fn mul_add(self, a: Self, b: Self) -> Self {
        Self([f32x4_add(f32x4_mul(a.0[0], b.0[0]), self.0[0]), f32x4_add(f32x4_mul(a.0[1], b.0[1]), self.0[1])])
    }

    fn add(self, other: Self) -> Self {
        Self([f32x4_add(self.0[0], other.0[0]), f32x4_add(self.0[1], other.0[1])])
    }

    /// `max(self, 0) · mask` (a NaN becomes 0, as in the AVX2 path).
    fn relu_masked(self, mask: Self) -> Self {
        let zero = f32x4_splat(0.0);
        Self([f32x4_mul(f32x4_pmax(zero, self.0[0]), mask.0[0]), f32x4_mul(f32x4_pmax(zero, self.0[1]), mask.0[1])])
    }

    /// `self` where `positive > 0`, else 0.
    fn where_positive(self, positive: Self) -> Self {
        let zero = f32x4_splat(0.0);
        Self([v128_and(self.0[0], f32x4_gt(positive.0[0], zero)), v128_and(self.0[1], f32x4_gt(positive.0[1], zero))])
    }
}

/// Convolution + ReLU of every slot, then the FC forward pass.
pub(super) fn forward(net: &FastCnn, slots: &mut [Slot]) {
    for slot in slots.iter_mut() {
        conv(net, slot);
    }
    let classes = net.layout.classes;
    let mut l0 = 0;
    while l0 < classes {
        let g = (classes - l0).min(CLASS_BLOCK);
        match (slots.len(), g) {
            (1, 1) => fc_group::<1, 1>(net, slots, l0),
            (1, _) => fc_group::<1, 2>(net, slots, l0),
            (_, 1) => fc_group::<2, 1>(net, slots, l0),
            (_, _) => fc_group::<2, 2>(net, slots, l0),
        }
        l0 += g;
    }
}

/// Convolution + ReLU + mask of one slot into its `features`.
fn conv(net: &FastCnn, slot: &mut Slot) {
    let l = &net.layout;
    let registers = l.padded_w / LANES;
    let mut f = 0;
    while f < l.filters {
        let pair = l.filters - f >= 2;
        for y in 0..l.map_h {
            let mut v0 = 0;
            while v0 < registers {
                let n = (registers - v0).min(CONV_BLOCK);
                match (pair, n) {
                    (true, 1) => conv_block::<2, 1>(net, slot, f, y, v0),
                    (true, _) => conv_block::<2, 2>(net, slot, f, y, v0),
                    (false, 1) => conv_block::<1, 1>(net, slot, f, y, v0),
                    (false, _) => conv_block::<1, 2>(net, slot, f, y, v0),
                }
                v0 += n;
            }
        }
        f += if pair { 2 } else { 1 };
    }
}

/// `N` registers of row `y` of filters `f..f+FB`: convolution, ReLU, mask, store.
///
/// Bounds: as in `avx2::conv_block` (the image rows are `image_stride = padded_w + k − 1` long).
fn conv_block<const FB: usize, const N: usize>(net: &FastCnn, slot: &mut Slot, f: usize, y: usize, v0: usize) {
    let l = &net.layout;
    let k = l.kernel;
    let taps = l.taps();
    let image = slot.image.as_ptr();
    let mut acc = [[F8::splat(0.0); N]; FB];
    for (i, acc) in acc.iter_mut().enumerate() {
        *acc = [F8::splat(net.conv_bias[f + i]); N];
    }
    for a in 0..k {
        let row = image.wrapping_add((y + a) * l.image_stride + v0 * LANES);
        for b in 0..k {
            let mut w = [F8::splat(0.0); FB];
            for (i, w) in w.iter_mut().enumerate() {
                *w = F8::splat(net.conv_weight[(f + i) * taps + a * k + b]);
            }
            for v in 0..N {
                // SAFETY: in bounds by the layout (see the doc comment).
                let x = unsafe { F8::load(row.add(b + v * LANES)) };
                for (acc, w) in acc.iter_mut().zip(&w) {
                    acc[v] = acc[v].mul_add(*w, x);
                }
            }
        }
    }
    for (i, acc) in acc.iter().enumerate() {
        let offset = (f + i) * l.plane + y * l.padded_w + v0 * LANES;
        for (v, value) in acc.iter().enumerate() {
            // SAFETY: the mask has padded_w entries, v0 + v < padded_w / 8, and
            // offset + (v + 1)·8 ≤ features.len() by the layout.
            unsafe {
                let mask = F8::load(l.mask.as_ptr().add((v0 + v) * LANES));
                value.relu_masked(mask).store(slot.features.as_mut_ptr().add(offset + v * LANES));
            }
        }
    }
}

/// Partial logits of classes `l0..l0+G` for the first `S` slots: each weight register is
/// loaded once and used for every slot.
fn fc_group<const S: usize, const G: usize>(net: &FastCnn, slots: &mut [Slot], l0: usize) {
    let l = &net.layout;
    let mut features = [std::ptr::null::<f32>(); S];
    for (s, pointer) in features.iter_mut().enumerate() {
        *pointer = slots[s].features.as_ptr();
    }
    let weights = net.fc_weight.as_ptr();
    let mut acc = [[F8::splat(0.0); G]; S];
    let mut x = [F8::splat(0.0); S];
    // SAFETY: i + 8 ≤ features (a multiple of 8) and (l0 + g + 1)·features ≤ fc_weight.len().
    unsafe {
        for i in (0..l.features).step_by(LANES) {
            for s in 0..S {
                x[s] = F8::load(features[s].add(i));
            }
            for g in 0..G {
                let w = F8::load(weights.add((l0 + g) * l.features + i));
                for s in 0..S {
                    acc[s][g] = acc[s][g].mul_add(w, x[s]);
                }
            }
        }
        for (s, acc) in acc.iter().enumerate() {
            for (g, value) in acc.iter().enumerate() {
                value.store(slots[s].logit_lanes.as_mut_ptr().add((l0 + g) * LANES));
            }
        }
    }
}

/// FC input and weight gradients, ReLU, and the convolution weight and bias gradients.
pub(super) fn backward(net: &FastCnn, slots: &[Slot], grads: &mut Gradients) {
    let l = &net.layout;
    let registers = l.padded_w / LANES;
    // Two samples keep 2 × 2 × N vectors pairs live (features and gradients): N = 1 avoids spills.
    let block = if slots.len() == 1 { 2 } else { 1 };
    for f in 0..l.filters {
        for y in 0..l.map_h {
            let mut v0 = 0;
            while v0 < registers {
                let n = (registers - v0).min(block);
                match (slots.len(), n) {
                    (1, 1) => backward_block::<1, 1>(net, slots, grads, f, y, v0),
                    (1, _) => backward_block::<1, 2>(net, slots, grads, f, y, v0),
                    (_, _) => backward_block::<2, 1>(net, slots, grads, f, y, v0),
                }
                v0 += n;
            }
        }
    }
}

/// `N` registers of row `y` of filter `f`, for the first `S` slots: the whole backward pass.
fn backward_block<const S: usize, const N: usize>(
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
    let zero = F8::splat(0.0);
    let mut features = [[zero; N]; S];
    let mut grad = [[zero; N]; S];
    // SAFETY (whole block): offsets are those of the forward pass; gradient buffers share its layout.
    unsafe {
        for s in 0..S {
            for v in 0..N {
                features[s][v] = F8::load(slots[s].features.as_ptr().add(offset + v * LANES));
            }
        }
        let mut d = [zero; S];
        for class in 0..l.classes {
            for s in 0..S {
                d[s] = F8::splat(slots[s].grad_logits[class]);
            }
            let at = class * l.features + offset;
            let weights = net.fc_weight.as_ptr().add(at);
            let grad_weights = grads.fc_weight.as_mut_ptr().add(at);
            for v in 0..N {
                let w = F8::load(weights.add(v * LANES));
                let gw = grad_weights.add(v * LANES);
                let mut sum = F8::load(gw);
                for s in 0..S {
                    grad[s][v] = grad[s][v].mul_add(d[s], w);
                    sum = sum.mul_add(d[s], features[s][v]);
                }
                sum.store(gw);
            }
        }
        // ReLU passes the gradient only where the feature is positive.
        let bias_lanes = grads.conv_bias.as_mut_ptr().add(f * LANES);
        let mut bias = F8::load(bias_lanes);
        for s in 0..S {
            for v in 0..N {
                grad[s][v] = grad[s][v].where_positive(features[s][v]);
                bias = bias.add(grad[s][v]);
            }
        }
        bias.store(bias_lanes);
        for a in 0..k {
            let mut rows = [std::ptr::null::<f32>(); S];
            for s in 0..S {
                rows[s] = slots[s].image.as_ptr().add((y + a) * l.image_stride + v0 * LANES);
            }
            for b in 0..k {
                let lanes = grads.conv_weight.as_mut_ptr().add((f * l.taps() + a * k + b) * LANES);
                let mut sum = F8::load(lanes);
                for s in 0..S {
                    for v in 0..N {
                        sum = sum.mul_add(grad[s][v], F8::load(rows[s].add(b + v * LANES)));
                    }
                }
                sum.store(lanes);
            }
        }
    }
}
