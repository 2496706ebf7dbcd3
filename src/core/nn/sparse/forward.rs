//! The forward engine's loops: padding, the sparse convolution (AVX2/FMA when available) and the
//! sparse fully connected layer.

use ndarray::{Array1, Array3, ArrayViewMut2, Axis};
use rayon::prelude::*;

use super::{Activation, LayerKind, SparseConv, SparseDense};

/// Applies one (validated) layer.
pub(super) fn apply(kind: &LayerKind, input: &Activation) -> Activation {
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
pub(super) fn simd_available() -> bool {
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
pub(super) fn conv_channel_on(
    conv: &SparseConv,
    channel: usize,
    input: &Array3<f32>,
    mut plane: ArrayViewMut2<f32>,
    simd: bool,
) {
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

impl SparseDense {
    /// `σ(bias + Σ w·input)`, accumulated in f64: N1's neurons add hundreds of terms whose
    /// partial sums are far larger than the result (`Σ c` cancels against the bias), and f32
    /// accumulation would lose the 1e-4 agreement with the direct φ.
    fn neuron_value(&self, n: usize, input: &[f32]) -> f32 {
        let range = self.starts[n]..self.starts[n + 1];
        let (inputs, weights) = (&self.inputs[range.clone()], &self.weights[range]);
        // Four independent partial sums, so the adds do not wait on each other's latency.
        let mut partial = [0.0f64; 4];
        let chunks = inputs.chunks_exact(4).zip(weights.chunks_exact(4));
        for (index, weight) in chunks {
            for k in 0..4 {
                partial[k] += f64::from(weight[k]) * f64::from(input[index[k] as usize]);
            }
        }
        let tail = inputs.len() - inputs.len() % 4;
        for (&index, &weight) in inputs[tail..].iter().zip(&weights[tail..]) {
            partial[0] += f64::from(weight) * f64::from(input[index as usize]);
        }
        let sum = (partial[0] + partial[1]) + (partial[2] + partial[3]);
        let value = (f64::from(self.bias[n]) + sum) as f32;
        if self.relu { value.max(0.0) } else { value }
    }
}
