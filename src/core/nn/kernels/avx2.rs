//! The AVX2 + FMA implementation of the fused step: 8 columns per register, several registers
//! per row, and the FC weights and their gradients read once for a pair of samples.

use std::arch::x86_64::{
    __m256, _CMP_GT_OQ, _mm256_add_ps, _mm256_and_ps, _mm256_cmp_ps, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_max_ps,
    _mm256_mul_ps, _mm256_set1_ps, _mm256_setzero_ps, _mm256_storeu_ps,
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
unsafe fn conv_block<const FB: usize, const N: usize>(net: &FastCnn, slot: &mut Slot, f: usize, y: usize, v0: usize) {
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
