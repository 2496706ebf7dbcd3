//! The plain-loop implementation of the fused step (any CPU): the same algorithm as `avx2`, lane by lane.

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
                            let lanes = &mut grads.conv_weight[(f * l.taps() + a * l.kernel + b) * LANES..][..LANES];
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
