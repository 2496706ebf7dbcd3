//! The backward pass of the operators plain CNNs use (issue 20: gradients through imported
//! models): given an operator's inputs, its output and the gradient of its output, the gradients
//! of the inputs that carry the image. Weights and other constants get none: nothing is trained.
//!
//! Covered: `Conv` (grouped and depthwise too), `Relu`, `LeakyRelu`, `Clip`, `Sigmoid`, `Tanh`,
//! `Identity`/`Dropout`, `MaxPool`, `AveragePool`, `GlobalAveragePool`, `GlobalMaxPool`,
//! `BatchNormalization`, `Flatten`, `Reshape`, `Squeeze`, `Unsqueeze`, `Transpose`, `Gemm`,
//! `MatMul` (its left-hand side), `Add`, `Sub`, `Mul`, `Concat`, constant `Pad`, `ReduceSum` and
//! `ReduceMean` (the last three are how tilelab exports N1 and N2). At a kink (`ReLU` at 0, a
//! tie in a max pooling) the gradient is one of the one-sided ones, as in PyTorch.

use ndarray::{Array2, ArrayD, Axis, IxDyn, Zip};

use super::spatial::{conv_input_gradient, pool_input_gradient};
use super::{Binary, Op, OpError, PadMode, Reduction, Value, normalise_axis};

/// The gradients of an operator's inputs, one entry per input (`None`: not asked for).
pub type InputGradients = Vec<Option<ArrayD<f32>>>;

/// One input of an operator, borrowed: float values, or integers (pads, axes, shapes).
#[derive(Debug, Clone, Copy)]
pub enum Operand<'a> {
    F32(&'a ArrayD<f32>),
    I64(&'a ArrayD<i64>),
}

impl<'a> From<&'a Value> for Operand<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::F32(a) => Operand::F32(a),
            Value::I64(a) => Operand::I64(a),
        }
    }
}

impl Op {
    /// Whether [`Op::backward`] can give the gradient of input `index`.
    pub fn differentiates(&self, index: usize) -> bool {
        match self {
            Op::Conv(_)
            | Op::Relu
            | Op::LeakyRelu(_)
            | Op::Sigmoid
            | Op::Tanh
            | Op::Clip { .. }
            | Op::Identity
            | Op::MaxPool(_)
            | Op::AveragePool { .. }
            | Op::GlobalPool(Reduction::Mean | Reduction::Max)
            | Op::Reduce { kind: Reduction::Sum | Reduction::Mean, .. }
            | Op::Pad { mode: PadMode::Constant, .. }
            | Op::BatchNormalization { .. }
            | Op::Flatten { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Transpose { .. }
            | Op::Gemm { .. }
            | Op::MatMul => index == 0,
            Op::Add | Op::Mul | Op::Binary(Binary::Sub) => index < 2,
            Op::Concat { .. } => true,
            _ => false,
        }
    }

    /// The gradients of the inputs marked in `wanted`, from `grad`, the gradient of the output
    /// `output` that `inputs` gave (`None` for omitted or integer inputs). Fails for an input
    /// [`Op::differentiates`] refuses.
    pub fn backward(
        &self,
        inputs: &[Option<Operand>],
        output: &ArrayD<f32>,
        grad: &ArrayD<f32>,
        wanted: &[bool],
    ) -> Result<InputGradients, OpError> {
        if let Some(index) = (0..inputs.len()).find(|&i| wanted.get(i) == Some(&true) && !self.differentiates(i)) {
            return Err(OpError::Unsupported(format!("no backward pass for input {index} of this operator")));
        }
        let x = || input(inputs, 0);
        let first = |g: ArrayD<f32>| -> Result<InputGradients, OpError> {
            let mut grads = vec![None; inputs.len()];
            grads[0] = Some(g);
            Ok(grads)
        };
        if !wanted.iter().any(|&w| w) {
            return Ok(vec![None; inputs.len()]);
        }
        match self {
            Op::Conv(window) => first(conv_input_gradient(x()?.shape(), input(inputs, 1)?, window, grad)?),
            Op::Relu => first(elementwise(x()?, grad, |v, g| if v > 0.0 { g } else { 0.0 })?),
            Op::LeakyRelu(alpha) => first(elementwise(x()?, grad, |v, g| if v >= 0.0 { g } else { alpha * g })?),
            Op::Sigmoid => first(elementwise(output, grad, |y, g| g * y * (1.0 - y))?),
            Op::Tanh => first(elementwise(output, grad, |y, g| g * (1.0 - y * y))?),
            Op::Clip { min, max } => {
                let low = bound(inputs, 1, *min)?.unwrap_or(f32::NEG_INFINITY);
                let high = bound(inputs, 2, *max)?.unwrap_or(f32::INFINITY);
                first(elementwise(x()?, grad, |v, g| if (low..=high).contains(&v) { g } else { 0.0 })?)
            }
            Op::Identity => first(grad.clone()),
            Op::MaxPool(window) => first(pool_input_gradient(x()?, window, None, grad)?),
            Op::AveragePool { window, count_include_pad } => {
                first(pool_input_gradient(x()?, window, Some(*count_include_pad), grad)?)
            }
            Op::GlobalPool(kind) => first(global_pool_gradient(x()?, *kind, grad)?),
            Op::Reduce { kind, axes, keepdims, noop_with_empty_axes } => {
                let axes = axes.clone().or_else(|| integers(inputs, 1)).unwrap_or_default();
                if axes.is_empty() && *noop_with_empty_axes {
                    return first(grad.clone());
                }
                first(reduce_gradient(x()?, &axes, *keepdims, *kind, grad)?)
            }
            Op::Pad { pads, .. } => {
                let pads = pads.clone().or_else(|| integers(inputs, 1)).ok_or("pads must be given")?;
                let axes = integers(inputs, 3);
                first(pad_gradient(x()?, &pads, axes.as_deref(), grad)?)
            }
            Op::BatchNormalization { epsilon } => first(batch_norm_gradient(inputs, *epsilon, grad)?),
            Op::Flatten { .. } | Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                first(reshaped(grad, x()?.shape())?)
            }
            Op::Transpose { perm } => {
                let rank = grad.ndim();
                let perm: Vec<usize> = perm.clone().unwrap_or_else(|| (0..rank).rev().collect());
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..rank).collect::<Vec<_>>() {
                    return Err(OpError::Invalid(format!("perm {perm:?} does not fit a gradient of rank {rank}")));
                }
                let mut inverse = vec![0; rank];
                for (i, &p) in perm.iter().enumerate() {
                    inverse[p] = i;
                }
                first(grad.view().permuted_axes(IxDyn(&inverse)).as_standard_layout().into_owned())
            }
            Op::Gemm { alpha, trans_a, trans_b, .. } => first(gemm_gradient(inputs, grad, *alpha, *trans_a, *trans_b)?),
            Op::MatMul => first(matmul_gradient(x()?, input(inputs, 1)?, grad)?),
            Op::Add | Op::Binary(Binary::Sub) | Op::Mul => arithmetic_gradients(self, inputs, grad, wanted),
            Op::Concat { axis } => concat_gradients(inputs, grad, *axis, wanted),
            _ => Err(OpError::Unsupported("no backward pass for this operator".into())),
        }
    }
}

fn input<'a>(inputs: &[Option<Operand<'a>>], index: usize) -> Result<&'a ArrayD<f32>, OpError> {
    match inputs.get(index).copied().flatten() {
        Some(Operand::F32(a)) => Ok(a),
        _ => Err(OpError::Invalid(format!("float input {index} is missing"))),
    }
}

fn integers(inputs: &[Option<Operand>], index: usize) -> Option<Vec<i64>> {
    match inputs.get(index).copied().flatten() {
        Some(Operand::I64(a)) => Some(a.iter().copied().collect()),
        _ => None,
    }
}

/// A scalar bound of `Clip` from input `index`, else `fallback`.
fn bound(inputs: &[Option<Operand>], index: usize, fallback: Option<f32>) -> Result<Option<f32>, OpError> {
    match inputs.get(index).copied().flatten() {
        None => Ok(fallback),
        Some(Operand::F32(v)) if v.len() == 1 => Ok(v.iter().next().copied()),
        Some(_) => Err(OpError::Invalid(format!("input {index} (a bound) must be one float32"))),
    }
}

/// `f(value, gradient)` entry by entry, for a value (the input or output) of the gradient's shape.
fn elementwise(value: &ArrayD<f32>, grad: &ArrayD<f32>, f: impl Fn(f32, f32) -> f32) -> Result<ArrayD<f32>, OpError> {
    if value.shape() != grad.shape() {
        return Err(OpError::Invalid(format!("gradient {:?} for a value {:?}", grad.shape(), value.shape())));
    }
    Ok(Zip::from(value).and(grad).map_collect(|&v, &g| f(v, g)))
}

fn reshaped(grad: &ArrayD<f32>, shape: &[usize]) -> Result<ArrayD<f32>, OpError> {
    grad.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| OpError::Invalid(e.to_string()))
}

/// The mean spreads each plane's gradient evenly; the max passes it to the plane's (first) largest value.
fn global_pool_gradient(x: &ArrayD<f32>, kind: Reduction, grad: &ArrayD<f32>) -> Result<ArrayD<f32>, OpError> {
    if x.ndim() < 3 || grad.len() != x.shape()[0] * x.shape()[1] {
        return Err(OpError::Invalid(format!("gradient {:?} for a global pooling of {:?}", grad.shape(), x.shape())));
    }
    let planes = x.shape()[0] * x.shape()[1];
    let size = x.len() / planes.max(1);
    let values = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((planes, size))
        .map_err(|e| OpError::Invalid(e.to_string()))?;
    let mut out = Array2::<f32>::zeros((planes, size));
    for ((mut row, values), &g) in out.outer_iter_mut().zip(values.outer_iter()).zip(grad.iter()) {
        match kind {
            Reduction::Max => {
                let largest = (0..size).reduce(|best, i| if values[i] > values[best] { i } else { best });
                if let Some(at) = largest {
                    row[at] = g;
                }
            }
            _ => row.fill(g / size.max(1) as f32),
        }
    }
    reshaped(&out.into_dyn(), x.shape())
}

/// A sum (or mean) over `axes` passes each output's gradient (divided by the count) to every
/// value it summed.
fn reduce_gradient(
    x: &ArrayD<f32>,
    axes: &[i64],
    keepdims: bool,
    kind: Reduction,
    grad: &ArrayD<f32>,
) -> Result<ArrayD<f32>, OpError> {
    let mut axes: Vec<usize> = if axes.is_empty() {
        (0..x.ndim()).collect()
    } else {
        axes.iter().map(|&a| normalise_axis(a, x.ndim())).collect::<Result<_, _>>()?
    };
    axes.sort_unstable();
    axes.dedup();
    let mut kept = grad.clone();
    if !keepdims {
        for &axis in &axes {
            kept = kept.insert_axis(Axis(axis));
        }
    }
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let scale = if kind == Reduction::Mean { 1.0 / count.max(1) as f32 } else { 1.0 };
    let spread = kept
        .broadcast(x.raw_dim())
        .ok_or_else(|| OpError::Invalid(format!("gradient {:?} for a reduction of {:?}", grad.shape(), x.shape())))?;
    Ok(spread.mapv(|g| g * scale))
}

/// A constant padding's gradient is the output gradient without the border.
fn pad_gradient(
    x: &ArrayD<f32>,
    pads: &[i64],
    axes: Option<&[i64]>,
    grad: &ArrayD<f32>,
) -> Result<ArrayD<f32>, OpError> {
    let rank = x.ndim();
    let axes: Vec<usize> = match axes {
        Some(axes) => axes.iter().map(|&a| normalise_axis(a, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() || grad.ndim() != rank {
        return Err(OpError::Invalid(format!("pads {pads:?} do not fit the input {:?}", x.shape())));
    }
    let mut inner = grad.view();
    for (i, &axis) in axes.iter().enumerate() {
        let before = usize::try_from(pads[i]).map_err(|_| "negative pads")?;
        if before + x.shape()[axis] > inner.shape()[axis] {
            return Err(OpError::Invalid(format!("gradient {:?} for a padding of {:?}", grad.shape(), x.shape())));
        }
        inner.slice_axis_inplace(Axis(axis), ndarray::Slice::from(before..before + x.shape()[axis]));
    }
    Ok(inner.to_owned())
}

/// `∂/∂x = grad · scale / √(var + ε)`, channel by channel (inference mode: the statistics are constants).
fn batch_norm_gradient(inputs: &[Option<Operand>], epsilon: f32, grad: &ArrayD<f32>) -> Result<ArrayD<f32>, OpError> {
    let (scale, var) = (input(inputs, 1)?, input(inputs, 4)?);
    let channels = grad.shape().get(1).copied().unwrap_or(0);
    if scale.len() != channels || var.len() != channels {
        return Err(OpError::Invalid(format!("scale and variance must have {channels} values")));
    }
    let mut out = grad.clone();
    for ((mut lane, &s), &v) in out.axis_iter_mut(Axis(1)).zip(scale.iter()).zip(var.iter()) {
        let factor = s / (v + epsilon).sqrt();
        lane.mapv_inplace(|g| g * factor);
    }
    Ok(out)
}

/// `Y = α·A'·B' + β·C` with `A' = A` or `Aᵀ`: `∂/∂A' = α · grad · B'ᵀ`, transposed back when `A` was.
fn gemm_gradient(
    inputs: &[Option<Operand>],
    grad: &ArrayD<f32>,
    alpha: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<ArrayD<f32>, OpError> {
    let b = matrix(input(inputs, 1)?, "B")?;
    let b = if trans_b { b.t() } else { b.view() };
    let grad = matrix(grad, "the output gradient")?;
    if grad.ncols() != b.ncols() {
        return Err(OpError::Invalid(format!("gradient {:?} for B' {:?}", grad.shape(), b.shape())));
    }
    let grad_a = grad.dot(&b.t()) * alpha;
    let grad_a = if trans_a { grad_a.reversed_axes().as_standard_layout().into_owned() } else { grad_a };
    Ok(grad_a.into_dyn())
}

fn matrix(x: &ArrayD<f32>, what: &str) -> Result<Array2<f32>, OpError> {
    x.view()
        .into_dimensionality()
        .map(|m| m.to_owned())
        .map_err(|_| OpError::Invalid(format!("{what} must be 2-D, got {:?}", x.shape())))
}

/// `[…, M, K] × [K, N]`: `∂/∂a = grad · bᵀ`, rows of `a` taken together.
fn matmul_gradient(a: &ArrayD<f32>, b: &ArrayD<f32>, grad: &ArrayD<f32>) -> Result<ArrayD<f32>, OpError> {
    let b = matrix(b, "the right-hand side of MatMul")?;
    let rows = grad.len() / b.ncols().max(1);
    let grad = reshaped(grad, &[rows, b.ncols()])?;
    let grad = matrix(&grad, "the output gradient")?;
    reshaped(&grad.dot(&b.t()).into_dyn(), a.shape())
}

/// `Add`, `Sub`, `Mul` of two broadcast inputs: each input's gradient summed over the axes it was broadcast along.
fn arithmetic_gradients(
    op: &Op,
    inputs: &[Option<Operand>],
    grad: &ArrayD<f32>,
    wanted: &[bool],
) -> Result<InputGradients, OpError> {
    let mut grads = vec![None; inputs.len()];
    for index in (0..2).filter(|&i| wanted.get(i) == Some(&true)) {
        let this = input(inputs, index)?;
        let full = match op {
            Op::Mul => {
                let other = input(inputs, 1 - index)?;
                let other = other.broadcast(grad.raw_dim()).ok_or("the inputs do not broadcast to the output")?;
                Zip::from(grad).and(&other).map_collect(|&g, &o| g * o)
            }
            Op::Binary(Binary::Sub) if index == 1 => grad.mapv(|g| -g),
            _ => grad.clone(),
        };
        grads[index] = Some(unbroadcast(full, this.shape())?);
    }
    Ok(grads)
}

/// `grad` summed down to `shape`, undoing a broadcast to `grad`'s shape.
fn unbroadcast(mut grad: ArrayD<f32>, shape: &[usize]) -> Result<ArrayD<f32>, OpError> {
    let full = grad.shape().to_vec();
    let mismatch = || OpError::Invalid(format!("{shape:?} does not broadcast to {full:?}"));
    let lead = grad.ndim().checked_sub(shape.len()).ok_or_else(mismatch)?;
    for _ in 0..lead {
        grad = grad.sum_axis(Axis(0));
    }
    for (axis, &len) in shape.iter().enumerate() {
        if len == 1 && grad.shape()[axis] != 1 {
            grad = grad.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    if grad.shape() == shape { Ok(grad) } else { Err(mismatch()) }
}

/// Each input gets its slice of the gradient along the concatenation axis.
fn concat_gradients(
    inputs: &[Option<Operand>],
    grad: &ArrayD<f32>,
    axis: i64,
    wanted: &[bool],
) -> Result<InputGradients, OpError> {
    let axis = normalise_axis(axis, grad.ndim())?;
    let mut start = 0;
    let mut grads = vec![None; inputs.len()];
    for (index, x) in inputs.iter().enumerate() {
        // An omitted input adds nothing to the output.
        let Some(Operand::F32(x)) = x else { continue };
        let len = x.shape().get(axis).copied().ok_or("an input of lower rank")?;
        if start + len > grad.shape()[axis] {
            return Err(OpError::Invalid(format!("the inputs exceed the gradient {:?}", grad.shape())));
        }
        if wanted.get(index) == Some(&true) {
            grads[index] = Some(grad.slice_axis(Axis(axis), ndarray::Slice::from(start..start + len)).to_owned());
        }
        start += len;
    }
    Ok(grads)
}
