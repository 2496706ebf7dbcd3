//! The spatial operators: 2-D convolution and pooling over `[N, C, H, W]` tensors, with padding,
//! strides, dilations, `auto_pad` and `ceil_mode` as ONNX defines them.

use ndarray::{Array4, ArrayD, Axis};
use rayon::prelude::*;

use super::{OpError, Window, check_shape, check_work};

fn as_4d<'a>(x: &'a ArrayD<f32>, what: &str) -> Result<ndarray::ArrayView4<'a, f32>, OpError> {
    x.view()
        .into_dimensionality()
        .map_err(|_| OpError::Invalid(format!("{what} must be 4-D [N, C, H, W], got {:?}", x.shape())))
}

/// Output size and `(pad before)` of one spatial axis.
fn axis_geometry(
    size: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    pads: (usize, usize),
    window: &Window,
) -> Result<(usize, usize), OpError> {
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
    Ok((out, before))
}

pub(super) fn conv(
    x: &ArrayD<f32>,
    w: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    window: &Window,
) -> Result<ArrayD<f32>, OpError> {
    let x = as_4d(x, "the input")?;
    let w = as_4d(w, "the weight")?;
    let (n, c, h, width) = x.dim();
    let (m, wc, kh, kw) = w.dim();
    if wc != c {
        return Err(OpError::Invalid(format!("the weight expects {wc} input channels, the input has {c}")));
    }
    if window.kernel.is_some_and(|k| k != [kh, kw]) {
        return Err(OpError::Invalid(format!("kernel_shape {:?} differs from the weight's {kh}×{kw}", window.kernel)));
    }
    if kh == 0 || kw == 0 {
        return Err("the weight has an empty kernel".into());
    }
    let bias: Vec<f32> = match bias {
        Some(b) if b.len() == m => b.iter().copied().collect(),
        Some(b) => return Err(OpError::Invalid(format!("{} biases for {m} output channels", b.len()))),
        None => vec![0.0; m],
    };
    let [sy, sx] = window.strides;
    let [dy, dx] = window.dilations;
    let (oh, top) = axis_geometry(h, kh, sy, dy, (window.pads[0], window.pads[2]), window)?;
    let (ow, left) = axis_geometry(width, kw, sx, dx, (window.pads[1], window.pads[3]), window)?;
    check_shape(&[n, m, oh, ow])?;
    check_work(&[n, m, oh, ow, c, kh, kw])?;
    let x = x.as_standard_layout();
    let mut out = Array4::<f32>::zeros((n, m, oh, ow));
    for (batch, mut planes) in out.outer_iter_mut().enumerate() {
        let input = x.index_axis(Axis(0), batch);
        planes.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(o, mut plane)| {
            plane.fill(bias[o]);
            for ci in 0..c {
                for a in 0..kh {
                    for b in 0..kw {
                        let weight = w[[o, ci, a, b]];
                        if weight == 0.0 {
                            continue;
                        }
                        for oy in 0..oh {
                            let Some(iy) = (oy * sy + a * dy).checked_sub(top).filter(|&iy| iy < h) else { continue };
                            for ox in 0..ow {
                                if let Some(ix) = (ox * sx + b * dx).checked_sub(left).filter(|&ix| ix < width) {
                                    plane[[oy, ox]] += weight * input[[ci, iy, ix]];
                                }
                            }
                        }
                    }
                }
            }
        });
    }
    Ok(out.into_dyn())
}

/// Max pooling (`average = None`) or average pooling (`Some(count_include_pad)`).
pub(super) fn pool(x: &ArrayD<f32>, window: &Window, average: Option<bool>) -> Result<ArrayD<f32>, OpError> {
    let x = as_4d(x, "the input")?;
    let (n, c, h, w) = x.dim();
    let [kh, kw] = window.kernel.ok_or("kernel_shape is required")?;
    let [sy, sx] = window.strides;
    let [dy, dx] = window.dilations;
    let (oh, top) = axis_geometry(h, kh, sy, dy, (window.pads[0], window.pads[2]), window)?;
    let (ow, left) = axis_geometry(w, kw, sx, dx, (window.pads[1], window.pads[3]), window)?;
    check_shape(&[n, c, oh, ow])?;
    check_work(&[n, c, oh, ow, kh, kw])?;
    // With count_include_pad, the explicit padding counts but positions past it do not.
    let padded = |size: usize, a: usize, b: usize| size.saturating_add(a).saturating_add(b);
    let (padded_h, padded_w) = (padded(h, window.pads[0], window.pads[2]), padded(w, window.pads[1], window.pads[3]));
    let out = Array4::from_shape_fn((n, c, oh, ow), |(b, ch, oy, ox)| {
        let (mut best, mut sum, mut count, mut padded_count) = (f32::NEG_INFINITY, 0.0f32, 0usize, 0usize);
        for a in 0..kh {
            for k in 0..kw {
                let (py, px) = (oy * sy + a * dy, ox * sx + k * dx);
                if py < padded_h && px < padded_w {
                    padded_count += 1;
                }
                let (Some(iy), Some(ix)) = (py.checked_sub(top), px.checked_sub(left)) else { continue };
                if iy < h && ix < w {
                    let v = x[[b, ch, iy, ix]];
                    best = best.max(v);
                    sum += v;
                    count += 1;
                }
            }
        }
        match average {
            None => best,
            Some(true) => sum / padded_count.max(1) as f32,
            Some(false) => sum / count.max(1) as f32,
        }
    });
    Ok(out.into_dyn())
}
