//! The spatial operators over `[N, C, …]` tensors with 1 to 3 spatial axes: convolution (grouped
//! and depthwise too), transposed convolution and pooling, with padding, strides, dilations,
//! `auto_pad` and `ceil_mode` as ONNX defines them. Every rank runs as 3-D: lower ranks get
//! leading spatial axes of size 1.

use ndarray::{Array2, Array3, Array5, ArrayD, ArrayView5, Axis, IxDyn, s};
use rayon::prelude::*;

use super::{OpError, Window, check_shape, check_work};

/// Output positions one im2col block holds (bounds its memory: columns × positions floats).
const GEMM_BLOCK: usize = 1024;

/// One spatial axis of a window: input size, kernel, stride, dilation, padding and output size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geometry {
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    before: usize,
    after: usize,
    out: usize,
}

/// An axis of size 1 read by a kernel of 1: what lifting to 3-D adds in front.
const UNIT: Geometry = Geometry { size: 1, kernel: 1, stride: 1, dilation: 1, before: 0, after: 0, out: 1 };

/// The number of spatial axes of `x` (`[N, C, …]` with 1 to 3 of them).
fn spatial_rank(x: &ArrayD<f32>, what: &str) -> Result<usize, OpError> {
    x.ndim().checked_sub(2).filter(|r| (1..=3).contains(r)).ok_or_else(|| {
        OpError::Invalid(format!("{what} must be [N, C, …] with 1 to 3 spatial axes, got {:?}", x.shape()))
    })
}

/// `x` as `[N, C, D, H, W]` (leading spatial axes of size 1 added).
fn lift(x: &ArrayD<f32>) -> Result<Array5<f32>, OpError> {
    let mut shape = [1usize; 5];
    shape[0] = x.shape()[0];
    shape[1] = x.shape()[1];
    let rank = x.ndim() - 2;
    shape[5 - rank..].copy_from_slice(&x.shape()[2..]);
    x.as_standard_layout().into_owned().into_shape_with_order(shape).map_err(|e| OpError::Invalid(e.to_string()))
}

/// Fails unless every list of `window` is empty or has one entry per spatial axis.
fn check_window_rank(window: &Window, rank: usize) -> Result<(), OpError> {
    let fits = |len: usize, per_axis: usize| len == 0 || len == per_axis * rank;
    if window.kernel.as_ref().is_some_and(|k| k.len() != rank)
        || !fits(window.strides.len(), 1)
        || !fits(window.dilations.len(), 1)
        || !fits(window.pads.len(), 2)
    {
        return Err(OpError::Invalid(format!(
            "kernel_shape {:?}, strides {:?}, dilations {:?} and pads {:?} do not fit {rank} spatial axes",
            window.kernel, window.strides, window.dilations, window.pads
        )));
    }
    Ok(())
}

/// Output size and padding of one spatial axis.
fn axis_geometry(size: usize, kernel: usize, axis: usize, rank: usize, window: &Window) -> Result<Geometry, OpError> {
    let (stride, dilation) = (window.stride(axis), window.dilation(axis));
    let pads = window.pad(axis, rank);
    // Attributes come from the file: every step is checked, so absurd values give an error.
    let too_big = || format!("the window geometry overflows (kernel {kernel}, dilation {dilation}, pads {pads:?})");
    if size == 0 || kernel == 0 {
        return Err(OpError::Invalid(format!("an empty axis (size {size}, kernel {kernel})")));
    }
    let reach = (kernel - 1).checked_mul(dilation).and_then(|r| r.checked_add(1)).ok_or_else(too_big)?;
    let (before, after) = match window.same {
        Some(upper) => {
            let out = size.div_ceil(stride);
            let needed = (out - 1).checked_mul(stride).and_then(|r| r.checked_add(reach)).ok_or_else(too_big)?;
            let total = needed.saturating_sub(size);
            let small = total / 2;
            if upper { (small, total - small) } else { (total - small, small) }
        }
        None => pads,
    };
    let padded = size.checked_add(before).and_then(|p| p.checked_add(after)).ok_or_else(too_big)?;
    if padded < reach {
        return Err(OpError::Invalid(format!(
            "the {kernel}-wide window (dilation {dilation}) does not fit an axis of {size} (+{before}+{after} padding)"
        )));
    }
    let span = padded - reach;
    let mut out = span / stride + 1;
    if window.ceil_mode && !span.is_multiple_of(stride) {
        out += 1;
        // The last window must start inside the input or the leading padding.
        if (out - 1).saturating_mul(stride) >= size + before {
            out -= 1;
        }
    }
    // The farthest index the loops compute, `(out − 1)·stride + reach`, must fit too.
    (out - 1).checked_mul(stride).and_then(|v| v.checked_add(reach)).ok_or_else(too_big)?;
    Ok(Geometry { size, kernel, stride, dilation, before, after, out })
}

/// The three (lifted) axes of a window of `kernel` over the spatial `sizes`.
fn geometry(window: &Window, sizes: &[usize], kernel: &[usize]) -> Result<[Geometry; 3], OpError> {
    let rank = sizes.len();
    check_window_rank(window, rank)?;
    let mut axes = [UNIT; 3];
    for a in 0..rank {
        axes[3 - rank + a] = axis_geometry(sizes[a], kernel[a], a, rank, window)?;
    }
    Ok(axes)
}

impl Geometry {
    /// The input index read by output `o` at kernel tap `k`, if inside the input.
    fn source(&self, o: usize, k: usize) -> Option<usize> {
        (o * self.stride + k * self.dilation).checked_sub(self.before).filter(|&i| i < self.size)
    }
}

/// `[N, M, spatial outputs…]` of a window over `axes`, at the input's rank.
fn output_shape(n: usize, m: usize, axes: &[Geometry; 3], rank: usize) -> Vec<usize> {
    let mut shape = vec![n, m];
    shape.extend(axes[3 - rank..].iter().map(|g| g.out));
    shape
}

pub(super) fn conv(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    window: &Window,
) -> Result<ArrayD<f32>, OpError> {
    let rank = spatial_rank(x, "the input")?;
    if w.ndim() != x.ndim() {
        return Err(OpError::Invalid(format!("the weight {:?} must have the input's rank {}", w.shape(), x.ndim())));
    }
    let (n, c, m, per_group) = (x.shape()[0], x.shape()[1], w.shape()[0], w.shape()[1]);
    let group = window.group;
    if !c.is_multiple_of(group) || !m.is_multiple_of(group) {
        return Err(OpError::Invalid(format!(
            "group {group} does not divide the {c} input channels and the {m} output channels"
        )));
    }
    if per_group * group != c {
        return Err(OpError::Invalid(format!(
            "the weight expects {per_group} input channels per group, the input has {c} in {group} group(s)"
        )));
    }
    let kernel = &w.shape()[2..];
    if window.kernel.as_ref().is_some_and(|k| k != kernel) {
        return Err(OpError::Invalid(format!("kernel_shape {:?} differs from the weight's {kernel:?}", window.kernel)));
    }
    if kernel.contains(&0) {
        return Err("the weight has an empty kernel".into());
    }
    let bias: Vec<f32> = match bias {
        Some(b) if b.len() == m => b.iter().copied().collect(),
        Some(b) => return Err(OpError::Invalid(format!("{} biases for {m} output channels", b.len()))),
        None => vec![0.0; m],
    };
    let axes = geometry(window, &x.shape()[2..], kernel)?;
    let shape = output_shape(n, m, &axes, rank);
    check_shape(&shape)?;
    let positions: usize = axes.iter().map(|g| g.out).product();
    let taps: usize = kernel.iter().product();
    check_work(&[n, m, positions, per_group, taps])?;
    let (x, w) = (lift(x)?, lift(w)?);
    // Mostly-zero weights (tilelab's constructed networks) run fastest skipping zeros; dense ones as matrix products.
    let zeros = w.iter().filter(|&&v| v == 0.0).count();
    let out = if zeros * 2 > w.len() {
        conv_direct(x.view(), w.view(), &bias, &axes, group)
    } else {
        conv_gemm(x.view(), w.view(), &bias, &axes, group)?
    };
    out.into_shape_with_order(IxDyn(&shape)).map_err(|e| OpError::Invalid(e.to_string()))
}

/// The convolution loop by loop, skipping zero weights (exact for finite inputs).
fn conv_direct(
    x: ArrayView5<f32>,
    w: ArrayView5<f32>,
    bias: &[f32],
    axes: &[Geometry; 3],
    group: usize,
) -> Array5<f32> {
    let (n, per_group) = (x.shape()[0], w.shape()[1]);
    let (m, outs_per_group) = (w.shape()[0], w.shape()[0] / group);
    let [gd, gh, gw] = *axes;
    let mut out = Array5::<f32>::zeros((n, m, gd.out, gh.out, gw.out));
    for (batch, mut planes) in out.outer_iter_mut().enumerate() {
        let input = x.index_axis(Axis(0), batch);
        planes.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(o, mut plane)| {
            plane.fill(bias[o]);
            let first = (o / outs_per_group) * per_group;
            for ci in 0..per_group {
                for ((a, b, k), &weight) in w.index_axis(Axis(0), o).index_axis(Axis(0), ci).indexed_iter() {
                    if weight == 0.0 {
                        continue;
                    }
                    for oz in 0..gd.out {
                        let Some(iz) = gd.source(oz, a) else { continue };
                        for oy in 0..gh.out {
                            let Some(iy) = gh.source(oy, b) else { continue };
                            for ox in 0..gw.out {
                                if let Some(ix) = gw.source(ox, k) {
                                    plane[[oz, oy, ox]] += weight * input[[first + ci, iz, iy, ix]];
                                }
                            }
                        }
                    }
                }
            }
        });
    }
    out
}

/// The convolution as matrix products: per sample, group and block of output positions, the
/// weights `[M/g, C/g·taps]` times the input patches `[C/g·taps, positions]` (im2col).
fn conv_gemm(
    x: ArrayView5<f32>,
    w: ArrayView5<f32>,
    bias: &[f32],
    axes: &[Geometry; 3],
    group: usize,
) -> Result<Array5<f32>, OpError> {
    let (n, m, per_group) = (x.shape()[0], w.shape()[0], w.shape()[1]);
    let outs_per_group = m / group;
    let [gd, gh, gw] = *axes;
    let (taps, positions) = (gd.kernel * gh.kernel * gw.kernel, gd.out * gh.out * gw.out);
    let rows = per_group * taps;
    let weights = w.as_standard_layout().into_owned().into_shape_with_order((m, rows)).map_err(|e| e.to_string())?;
    let position = |p: usize| (p / (gh.out * gw.out), (p / gw.out) % gh.out, p % gw.out);
    let mut out = Array3::<f32>::zeros((n, m, positions));
    for batch in 0..n {
        for g in 0..group {
            let kernel = weights.slice(s![g * outs_per_group..(g + 1) * outs_per_group, ..]);
            let blocks: Vec<(usize, Array2<f32>)> = (0..positions)
                .step_by(GEMM_BLOCK)
                .collect::<Vec<_>>()
                .into_par_iter()
                .map(|start| {
                    let len = GEMM_BLOCK.min(positions - start);
                    let mut patches = Array2::<f32>::zeros((rows, len));
                    for (row, mut line) in patches.outer_iter_mut().enumerate() {
                        let (ci, tap) = (g * per_group + row / taps, row % taps);
                        let (a, b, k) = (tap / (gh.kernel * gw.kernel), (tap / gw.kernel) % gh.kernel, tap % gw.kernel);
                        for (j, slot) in line.iter_mut().enumerate() {
                            let (oz, oy, ox) = position(start + j);
                            if let (Some(iz), Some(iy), Some(ix)) =
                                (gd.source(oz, a), gh.source(oy, b), gw.source(ox, k))
                            {
                                *slot = x[[batch, ci, iz, iy, ix]];
                            }
                        }
                    }
                    (start, kernel.dot(&patches))
                })
                .collect();
            for (start, block) in blocks {
                let len = block.ncols();
                out.slice_mut(s![batch, g * outs_per_group..(g + 1) * outs_per_group, start..start + len])
                    .assign(&block);
            }
        }
    }
    for (o, mut lane) in out.axis_iter_mut(Axis(1)).enumerate() {
        lane.mapv_inplace(|v| v + bias[o]);
    }
    out.into_shape_with_order((n, m, gd.out, gh.out, gw.out)).map_err(|e| OpError::Invalid(e.to_string()))
}

/// One axis of a transposed convolution: `(output size, leading padding)`.
fn transposed_axis(
    size: usize,
    kernel: usize,
    axis: usize,
    rank: usize,
    window: &Window,
    output_padding: usize,
    target: Option<usize>,
) -> Result<(usize, usize), OpError> {
    let (stride, dilation) = (window.stride(axis), window.dilation(axis));
    let too_big = || OpError::Invalid(format!("the output size overflows (stride {stride}, kernel {kernel})"));
    let full = (size.max(1) - 1)
        .checked_mul(stride)
        .and_then(|v| v.checked_add(output_padding))
        .and_then(|v| (kernel - 1).checked_mul(dilation).and_then(|r| v.checked_add(r + 1)))
        .ok_or_else(too_big)?;
    // With output_shape or auto_pad, the padding is what makes the size come out right.
    let split = |total: usize, upper: bool| if upper { total / 2 } else { total - total / 2 };
    match (target, window.same) {
        (Some(out), same) => {
            let total = full.checked_sub(out).ok_or_else(|| {
                OpError::Invalid(format!("output_shape {out} exceeds the {full} the kernel and strides reach"))
            })?;
            Ok((out, split(total, same == Some(true))))
        }
        (None, Some(upper)) => {
            let out = size.checked_mul(stride).ok_or_else(too_big)?;
            Ok((out, split(full.saturating_sub(out), upper)))
        }
        (None, None) => {
            let (before, after) = window.pad(axis, rank);
            let out = full.checked_sub(before.saturating_add(after)).filter(|&o| o > 0).ok_or_else(|| {
                OpError::Invalid(format!("pads {before} and {after} leave nothing of an output of {full}"))
            })?;
            Ok((out, before))
        }
    }
}

pub(super) fn conv_transpose(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    window: &Window,
    output_padding: &[usize],
    output_shape: Option<&[usize]>,
) -> Result<ArrayD<f32>, OpError> {
    let rank = spatial_rank(x, "the input")?;
    if w.ndim() != x.ndim() {
        return Err(OpError::Invalid(format!("the weight {:?} must have the input's rank {}", w.shape(), x.ndim())));
    }
    check_window_rank(window, rank)?;
    let (n, c, wc, per_group) = (x.shape()[0], x.shape()[1], w.shape()[0], w.shape()[1]);
    let group = window.group;
    if wc != c || !c.is_multiple_of(group) {
        return Err(OpError::Invalid(format!(
            "the weight has {wc} input channels, the input {c}, in {group} group(s)"
        )));
    }
    let m = per_group.checked_mul(group).ok_or("too many output channels")?;
    let kernel = &w.shape()[2..];
    if kernel.contains(&0) || window.kernel.as_ref().is_some_and(|k| k != kernel) {
        return Err(OpError::Invalid(format!("kernel_shape {:?} and the weight's {kernel:?}", window.kernel)));
    }
    if !output_padding.is_empty() && output_padding.len() != rank {
        return Err(OpError::Invalid(format!("output_padding {output_padding:?} does not fit {rank} spatial axes")));
    }
    // output_shape may list the spatial sizes only or the whole shape.
    let targets = output_shape.map(|s| &s[s.len().saturating_sub(rank)..]);
    if targets.is_some_and(|t| t.len() != rank) {
        return Err(OpError::Invalid(format!("output_shape {output_shape:?} does not fit {rank} spatial axes")));
    }
    let bias: Vec<f32> = match bias {
        Some(b) if b.len() == m => b.iter().copied().collect(),
        Some(b) => return Err(OpError::Invalid(format!("{} biases for {m} output channels", b.len()))),
        None => vec![0.0; m],
    };
    let mut axes = [UNIT; 3];
    for a in 0..rank {
        let size = x.shape()[2 + a];
        let pad = output_padding.get(a).copied().unwrap_or(0);
        let (out, before) = transposed_axis(size, kernel[a], a, rank, window, pad, targets.map(|t| t[a]))?;
        axes[3 - rank + a] = Geometry {
            size: out,
            kernel: kernel[a],
            stride: window.stride(a),
            dilation: window.dilation(a),
            before,
            after: 0,
            out: size,
        };
    }
    let shape = output_shape_of_transposed(n, m, &axes, rank);
    check_shape(&shape)?;
    let inputs: usize = axes.iter().map(|g| g.out).product();
    check_work(&[n, c, inputs, per_group, kernel.iter().product()])?;
    let (x, w) = (lift(x)?, lift(w)?);
    let [gd, gh, gw] = axes;
    let mut out = Array5::<f32>::zeros((n, m, gd.size, gh.size, gw.size));
    for (o, mut lane) in out.axis_iter_mut(Axis(1)).enumerate() {
        lane.fill(bias[o]);
    }
    let per_input_group = c / group;
    // Each input pixel adds its kernel, scaled, at `position · stride − pad` (Geometry::source, read backwards).
    for ((batch, ci, iz, iy, ix), &value) in x.indexed_iter() {
        let g = ci / per_input_group;
        for oc in 0..per_group {
            for ((a, b, k), &weight) in w.index_axis(Axis(0), ci).index_axis(Axis(0), oc).indexed_iter() {
                if let (Some(z), Some(y), Some(xx)) = (gd.source(iz, a), gh.source(iy, b), gw.source(ix, k)) {
                    out[[batch, g * per_group + oc, z, y, xx]] += value * weight;
                }
            }
        }
    }
    out.into_shape_with_order(IxDyn(&shape)).map_err(|e| OpError::Invalid(e.to_string()))
}

/// `[N, M, spatial…]` of a transposed convolution (its output sizes are the `size` fields).
fn output_shape_of_transposed(n: usize, m: usize, axes: &[Geometry; 3], rank: usize) -> Vec<usize> {
    let mut shape = vec![n, m];
    shape.extend(axes[3 - rank..].iter().map(|g| g.size));
    shape
}

/// Max pooling (`average = None`) or average pooling (`Some(count_include_pad)`).
pub(super) fn pool(x: &ArrayD<f32>, window: &Window, average: Option<bool>) -> Result<ArrayD<f32>, OpError> {
    let rank = spatial_rank(x, "the input")?;
    let kernel = window.kernel.as_deref().ok_or("kernel_shape is required")?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let axes = geometry(window, &x.shape()[2..], kernel)?;
    let shape = output_shape(n, c, &axes, rank);
    check_shape(&shape)?;
    let positions: usize = axes.iter().map(|g| g.out).product();
    check_work(&[n, c, positions, kernel.iter().product()])?;
    let x = lift(x)?;
    let [gd, gh, gw] = axes;
    // With count_include_pad, the padding counts but positions past it (ceil_mode) do not.
    let padded = |g: &Geometry, o: usize, k: usize| o * g.stride + k * g.dilation < g.size + g.before + g.after;
    let out = Array5::from_shape_fn((n, c, gd.out, gh.out, gw.out), |(b, ch, oz, oy, ox)| {
        let (mut best, mut sum, mut count, mut padded_count) = (f32::NEG_INFINITY, 0.0f32, 0usize, 0usize);
        for a in 0..gd.kernel {
            for k in 0..gh.kernel {
                for l in 0..gw.kernel {
                    if padded(&gd, oz, a) && padded(&gh, oy, k) && padded(&gw, ox, l) {
                        padded_count += 1;
                    }
                    if let (Some(iz), Some(iy), Some(ix)) = (gd.source(oz, a), gh.source(oy, k), gw.source(ox, l)) {
                        let v = x[[b, ch, iz, iy, ix]];
                        best = best.max(v);
                        sum += v;
                        count += 1;
                    }
                }
            }
        }
        match average {
            None => best,
            Some(true) => sum / padded_count.max(1) as f32,
            Some(false) => sum / count.max(1) as f32,
        }
    });
    out.into_shape_with_order(IxDyn(&shape)).map_err(|e| OpError::Invalid(e.to_string()))
}

/// `∂/∂x` of [`conv`] from `grad = ∂/∂output`: each output's gradient flows back to the inputs it
/// read, times the weight that read them. Parallel over input channels (no two write one plane).
pub(super) fn conv_input_gradient(
    x_shape: &[usize],
    w: &ArrayD<f32>,
    window: &Window,
    grad: &ArrayD<f32>,
) -> Result<ArrayD<f32>, OpError> {
    let rank = x_shape.len().checked_sub(2).filter(|r| (1..=3).contains(r)).ok_or("the input must be [N, C, …]")?;
    if w.ndim() != x_shape.len() || w.shape()[1] * window.group != x_shape[1] {
        return Err(OpError::Invalid(format!("the weight {:?} does not fit the input {x_shape:?}", w.shape())));
    }
    let axes = geometry(window, &x_shape[2..], &w.shape()[2..])?;
    if grad.shape() != output_shape(x_shape[0], w.shape()[0], &axes, rank).as_slice() {
        return Err(OpError::Invalid(format!("the output gradient {:?} does not fit the convolution", grad.shape())));
    }
    let (g, w) = (lift(grad)?, lift(w)?);
    let (per_group, outs_per_group) = (w.shape()[1], w.shape()[0] / window.group);
    let [gd, gh, gw] = axes;
    let mut out = Array5::<f32>::zeros((x_shape[0], x_shape[1], gd.size, gh.size, gw.size));
    for (batch, mut planes) in out.outer_iter_mut().enumerate() {
        let grad = g.index_axis(Axis(0), batch);
        planes.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(c, mut plane)| {
            let (group, ci) = (c / per_group, c % per_group);
            for o in group * outs_per_group..(group + 1) * outs_per_group {
                for ((a, b, k), &weight) in w.index_axis(Axis(0), o).index_axis(Axis(0), ci).indexed_iter() {
                    if weight == 0.0 {
                        continue;
                    }
                    for oz in 0..gd.out {
                        let Some(iz) = gd.source(oz, a) else { continue };
                        for oy in 0..gh.out {
                            let Some(iy) = gh.source(oy, b) else { continue };
                            for ox in 0..gw.out {
                                if let Some(ix) = gw.source(ox, k) {
                                    plane[[iz, iy, ix]] += weight * grad[[o, oz, oy, ox]];
                                }
                            }
                        }
                    }
                }
            }
        });
    }
    out.into_shape_with_order(IxDyn(x_shape)).map_err(|e| OpError::Invalid(e.to_string()))
}

/// `∂/∂x` of [`pool`] from `grad = ∂/∂output`: a max pooling passes each output's gradient to the
/// (first) input that was largest, an average pooling spreads it over the inputs it averaged.
pub(super) fn pool_input_gradient(
    x: &ArrayD<f32>,
    window: &Window,
    average: Option<bool>,
    grad: &ArrayD<f32>,
) -> Result<ArrayD<f32>, OpError> {
    let rank = spatial_rank(x, "the input")?;
    let kernel = window.kernel.as_deref().ok_or("kernel_shape is required")?;
    let (n, c) = (x.shape()[0], x.shape()[1]);
    let axes = geometry(window, &x.shape()[2..], kernel)?;
    if grad.shape() != output_shape(n, c, &axes, rank).as_slice() {
        return Err(OpError::Invalid(format!("the output gradient {:?} does not fit the pooling", grad.shape())));
    }
    let (lifted, g) = (lift(x)?, lift(grad)?);
    let [gd, gh, gw] = axes;
    let padded = |g: &Geometry, o: usize, k: usize| o * g.stride + k * g.dilation < g.size + g.before + g.after;
    let mut out = Array5::<f32>::zeros(lifted.raw_dim());
    for ((b, ch, oz, oy, ox), &gradient) in g.indexed_iter() {
        let mut sources = Vec::with_capacity(gd.kernel * gh.kernel * gw.kernel);
        let mut padded_count = 0usize;
        for a in 0..gd.kernel {
            for k in 0..gh.kernel {
                for l in 0..gw.kernel {
                    if padded(&gd, oz, a) && padded(&gh, oy, k) && padded(&gw, ox, l) {
                        padded_count += 1;
                    }
                    if let (Some(iz), Some(iy), Some(ix)) = (gd.source(oz, a), gh.source(oy, k), gw.source(ox, l)) {
                        sources.push([b, ch, iz, iy, ix]);
                    }
                }
            }
        }
        match average {
            None => {
                let largest =
                    sources.iter().copied().reduce(|best, at| if lifted[at] > lifted[best] { at } else { best });
                if let Some(at) = largest {
                    out[at] += gradient;
                }
            }
            Some(include_pad) => {
                let count = if include_pad { padded_count } else { sources.len() };
                let share = gradient / count.max(1) as f32;
                for at in sources {
                    out[at] += share;
                }
            }
        }
    }
    out.into_shape_with_order(IxDyn(x.shape())).map_err(|e| OpError::Invalid(e.to_string()))
}
