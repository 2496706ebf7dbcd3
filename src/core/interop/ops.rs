//! The ONNX operators tilelab runs, on `f32` tensors in NCHW layout: parsed once from a node's
//! attributes into an [`Op`], then applied by [`Op::apply`]. Every output shape is computed and
//! checked against [`MAX_TENSOR_ELEMENTS`] before anything is allocated.
//!
//! Supported: `Conv` (2-D, group 1, pads, strides, dilations, `auto_pad`), `Relu`, `LeakyRelu`,
//! `Sigmoid`, `Tanh`, `MaxPool`, `AveragePool`, `GlobalAveragePool`, `GlobalMaxPool`, `ReduceMean`,
//! `ReduceMax`, `ReduceSum`, `BatchNormalization` (inference), `Flatten`, `Reshape`, `Gemm`, `MatMul`,
//! `Add`, `Mul`, `Identity`, `Dropout` (inference), `Softmax`, `Pad` (constant). Convolutions skip zero weights (exact for finite inputs),
//! which keeps tilelab's mostly-zero constructed networks fast.

use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn, Zip};
use thiserror::Error;

use super::proto::AttributeProto;
use spatial::{conv, pool};

mod spatial;

/// Most elements one tensor may have (16 Mi floats, 64 MiB).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
/// Highest tensor rank accepted.
pub const MAX_RANK: usize = 8;
/// Most multiply-adds one `Conv`, pooling, `Gemm` or `MatMul` may take (a few seconds), so that a
/// hostile model cannot hang the app.
#[cfg(target_pointer_width = "64")]
pub const MAX_MULTIPLY_ADDS: usize = 1 << 32;
/// Most multiply-adds one operator may take where `usize` has 32 bits (the web build): all it counts.
#[cfg(not(target_pointer_width = "64"))]
pub const MAX_MULTIPLY_ADDS: usize = usize::MAX;

/// Why an operator cannot be parsed or applied.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OpError {
    /// The operator, or one of its modes, is not one tilelab runs.
    #[error("{0}")]
    Unsupported(String),
    /// An attribute or input is malformed or does not fit the operator (missing, wrong type or shape).
    #[error("{0}")]
    Invalid(String),
    /// A tensor would have more dimensions than [`MAX_RANK`].
    #[error("rank {0} exceeds the limit of {MAX_RANK}")]
    RankTooHigh(usize),
    /// A tensor would have more elements than [`MAX_TENSOR_ELEMENTS`].
    #[error("a tensor of shape {0:?} exceeds the limit of {MAX_TENSOR_ELEMENTS} elements")]
    TooManyElements(Vec<usize>),
    /// An operation would need more than [`MAX_MULTIPLY_ADDS`] multiply-adds.
    #[error("{0} multiply-adds exceed the limit of {MAX_MULTIPLY_ADDS}")]
    TooMuchWork(usize),
}

impl From<String> for OpError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

impl From<&str> for OpError {
    fn from(message: &str) -> Self {
        Self::Invalid(message.to_owned())
    }
}

/// A tensor flowing through the graph: float data, or integers (shapes, axes, pads).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Value {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Value::F32(a) => a.shape(),
            Value::I64(a) => a.shape(),
        }
    }
}

/// How a reduction combines values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    Mean,
    Max,
    Sum,
}

/// Window geometry of a convolution or pooling (2-D).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// `kernel_shape`, when given (Conv may take it from the weight).
    pub kernel: Option<[usize; 2]>,
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    pub dilations: [usize; 2],
    /// `auto_pad` `SAME_UPPER` (`Some(true)`) / `SAME_LOWER` (pads then computed from the input size).
    pub same: Option<bool>,
    pub ceil_mode: bool,
}

/// A parsed operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv(Window),
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Identity,
    MaxPool(Window),
    AveragePool { window: Window, count_include_pad: bool },
    GlobalPool(Reduction),
    Reduce { kind: Reduction, axes: Option<Vec<i64>>, keepdims: bool, noop_with_empty_axes: bool },
    BatchNormalization { epsilon: f32 },
    Flatten { axis: i64 },
    Reshape { allowzero: bool },
    Gemm { alpha: f32, beta: f32, trans_a: bool, trans_b: bool },
    MatMul,
    Add,
    Mul,
    Softmax { axis: i64, coerce_2d: bool },
    Pad { pads: Option<Vec<i64>>, value: f32 },
}

/// A node's attributes, looked up by name.
pub struct Attributes<'a>(pub &'a [AttributeProto]);

impl Attributes<'_> {
    fn find(&self, name: &str) -> Option<&AttributeProto> {
        self.0.iter().find(|a| a.name.as_deref() == Some(name))
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.find(name).and_then(|a| a.i).unwrap_or(default)
    }

    fn float(&self, name: &str, default: f32) -> f32 {
        self.find(name).and_then(|a| a.f).unwrap_or(default)
    }

    fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.find(name).map(|a| a.ints.clone())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.find(name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
    }
}

/// `n` non-negative sizes from an attribute, or `default`.
fn sizes<const N: usize>(attributes: &Attributes, name: &str, default: [usize; N]) -> Result<[usize; N], OpError> {
    let Some(values) = attributes.ints(name) else { return Ok(default) };
    let values: Vec<usize> = values
        .iter()
        .map(|&v| usize::try_from(v))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{name} must be non-negative, got {values:?}"))?;
    values
        .try_into()
        .map_err(|v: Vec<usize>| OpError::Invalid(format!("{name} must have {N} entries (2-D only), got {}", v.len())))
}

fn window(attributes: &Attributes, pooling: bool) -> Result<Window, OpError> {
    let kernel = match attributes.ints("kernel_shape") {
        Some(_) => Some(sizes::<2>(attributes, "kernel_shape", [1, 1])?),
        None if pooling => return Err("kernel_shape is required".into()),
        None => None,
    };
    if kernel.is_some_and(|k| k.contains(&0)) {
        return Err("kernel_shape must be positive".into());
    }
    let strides = sizes::<2>(attributes, "strides", [1, 1])?;
    let dilations = sizes::<2>(attributes, "dilations", [1, 1])?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err("strides and dilations must be positive".into());
    }
    let same = match attributes.string("auto_pad").as_deref() {
        None | Some("NOTSET" | "VALID" | "") => None,
        Some("SAME_UPPER") => Some(true),
        Some("SAME_LOWER") => Some(false),
        Some(other) => return Err(OpError::Unsupported(format!("auto_pad '{other}' is not supported"))),
    };
    let pads = if attributes.string("auto_pad").as_deref() == Some("VALID") {
        [0; 4]
    } else {
        sizes::<4>(attributes, "pads", [0; 4])?
    };
    Ok(Window { kernel, strides, pads, dilations, same, ceil_mode: attributes.int("ceil_mode", 0) != 0 })
}

impl Op {
    /// Parses `op_type` with its attributes for the model's `opset`; `Err` says what is unsupported.
    pub fn parse(op_type: &str, attributes: &Attributes, opset: i64) -> Result<Op, OpError> {
        Ok(match op_type {
            "Conv" => {
                if attributes.int("group", 1) != 1 {
                    return Err(OpError::Unsupported(format!(
                        "group {} (only group 1 is supported)",
                        attributes.int("group", 1)
                    )));
                }
                Op::Conv(window(attributes, false)?)
            }
            "Relu" => Op::Relu,
            "LeakyRelu" => Op::LeakyRelu(attributes.float("alpha", 0.01)),
            "Sigmoid" => Op::Sigmoid,
            "Tanh" => Op::Tanh,
            "Identity" | "Dropout" => Op::Identity,
            "MaxPool" => {
                if attributes.int("storage_order", 0) != 0 {
                    return Err(OpError::Unsupported("storage_order 1 is not supported".into()));
                }
                Op::MaxPool(window(attributes, true)?)
            }
            "AveragePool" => Op::AveragePool {
                window: window(attributes, true)?,
                count_include_pad: attributes.int("count_include_pad", 0) != 0,
            },
            "GlobalAveragePool" => Op::GlobalPool(Reduction::Mean),
            "GlobalMaxPool" => Op::GlobalPool(Reduction::Max),
            "ReduceMean" | "ReduceMax" | "ReduceSum" => Op::Reduce {
                kind: match op_type {
                    "ReduceMean" => Reduction::Mean,
                    "ReduceMax" => Reduction::Max,
                    _ => Reduction::Sum,
                },
                axes: attributes.ints("axes"),
                keepdims: attributes.int("keepdims", 1) != 0,
                noop_with_empty_axes: attributes.int("noop_with_empty_axes", 0) != 0,
            },
            "BatchNormalization" => {
                if attributes.int("training_mode", 0) != 0 {
                    return Err(OpError::Unsupported("training_mode 1 (only inference is supported)".into()));
                }
                Op::BatchNormalization { epsilon: attributes.float("epsilon", 1e-5) }
            }
            "Flatten" => Op::Flatten { axis: attributes.int("axis", 1) },
            "Reshape" => Op::Reshape { allowzero: attributes.int("allowzero", 0) != 0 },
            "Gemm" => Op::Gemm {
                alpha: attributes.float("alpha", 1.0),
                beta: attributes.float("beta", 1.0),
                trans_a: attributes.int("transA", 0) != 0,
                trans_b: attributes.int("transB", 0) != 0,
            },
            "MatMul" => Op::MatMul,
            "Add" => Op::Add,
            "Mul" => Op::Mul,
            "Softmax" => {
                let legacy = opset < 13;
                Op::Softmax { axis: attributes.int("axis", if legacy { 1 } else { -1 }), coerce_2d: legacy }
            }
            "Pad" => {
                let mode = attributes.string("mode").unwrap_or_else(|| "constant".into());
                if mode != "constant" {
                    return Err(OpError::Unsupported(format!("mode '{mode}' (only 'constant' is supported)")));
                }
                Op::Pad { pads: attributes.ints("pads"), value: attributes.float("value", 0.0) }
            }
            other => return Err(OpError::Unsupported(format!("operator '{other}' is not supported"))),
        })
    }

    /// Applies the operator to its inputs (`None` = an omitted optional input).
    pub fn apply(&self, inputs: &[Option<&Value>]) -> Result<Value, OpError> {
        let x = || float(inputs, 0);
        let out = match self {
            Op::Conv(window) => conv(x()?, float(inputs, 1)?, optional_float(inputs, 2)?, window)?,
            Op::Relu => x()?.mapv(|v| v.max(0.0)),
            Op::LeakyRelu(alpha) => x()?.mapv(|v| if v >= 0.0 { v } else { alpha * v }),
            Op::Sigmoid => x()?.mapv(|v| 1.0 / (1.0 + (-v).exp())),
            Op::Tanh => x()?.mapv(f32::tanh),
            Op::Identity => return inputs.first().copied().flatten().cloned().ok_or_else(|| "missing input".into()),
            Op::MaxPool(window) => pool(x()?, window, None)?,
            Op::AveragePool { window, count_include_pad } => pool(x()?, window, Some(*count_include_pad))?,
            Op::GlobalPool(kind) => {
                let x = x()?;
                if x.ndim() < 3 {
                    return Err(OpError::Invalid(format!("expects [N, C, …], got {:?}", x.shape())));
                }
                reduce(x, &(2..x.ndim() as i64).collect::<Vec<_>>(), true, *kind)?
            }
            Op::Reduce { kind, axes, keepdims, noop_with_empty_axes } => {
                let x = x()?;
                let axes = match (axes, inputs.get(1).copied().flatten()) {
                    (Some(axes), _) => axes.clone(),
                    (None, Some(Value::I64(a))) => a.iter().copied().collect(),
                    (None, Some(Value::F32(_))) => return Err("axes must be int64".into()),
                    (None, None) => Vec::new(),
                };
                if axes.is_empty() && *noop_with_empty_axes {
                    x.clone()
                } else if axes.is_empty() {
                    reduce(x, &(0..x.ndim() as i64).collect::<Vec<_>>(), *keepdims, *kind)?
                } else {
                    reduce(x, &axes, *keepdims, *kind)?
                }
            }
            Op::BatchNormalization { epsilon } => batch_norm(inputs, *epsilon)?,
            Op::Flatten { axis } => {
                let x = x()?;
                // Flatten's axis lies in [-r, r]: a negative one counts from the end.
                let axis = if *axis < 0 { *axis + x.ndim() as i64 } else { *axis };
                let axis = usize::try_from(axis).ok().filter(|&a| a <= x.ndim()).ok_or("axis out of range")?;
                let rows: usize = x.shape()[..axis].iter().product();
                reshaped(x, &[rows, x.len() / rows.max(1)])?
            }
            Op::Reshape { allowzero } => {
                let Some(Value::I64(shape)) = inputs.get(1).copied().flatten() else {
                    return Err("the shape input must be a constant int64 tensor".into());
                };
                let shape = reshape_target(x()?.shape(), &shape.iter().copied().collect::<Vec<_>>(), *allowzero)?;
                reshaped(x()?, &shape)?
            }
            Op::Gemm { alpha, beta, trans_a, trans_b } => {
                gemm(x()?, float(inputs, 1)?, optional_float(inputs, 2)?, *alpha, *beta, *trans_a, *trans_b)?
            }
            Op::MatMul => matmul(x()?, float(inputs, 1)?)?,
            Op::Add => broadcast_with(x()?, float(inputs, 1)?, |a, b| a + b)?,
            Op::Mul => broadcast_with(x()?, float(inputs, 1)?, |a, b| a * b)?,
            Op::Softmax { axis, coerce_2d } => softmax(x()?, *axis, *coerce_2d)?,
            Op::Pad { pads, value } => pad(inputs, pads.as_deref(), *value)?,
        };
        Ok(Value::F32(out))
    }
}

fn float<'a>(inputs: &[Option<&'a Value>], index: usize) -> Result<&'a ArrayD<f32>, OpError> {
    match inputs.get(index).copied().flatten() {
        Some(Value::F32(a)) => Ok(a),
        Some(Value::I64(_)) => Err(OpError::Invalid(format!("input {index} must be float32, got int64"))),
        None => Err(OpError::Invalid(format!("input {index} is missing"))),
    }
}

fn optional_float<'a>(inputs: &[Option<&'a Value>], index: usize) -> Result<Option<&'a ArrayD<f32>>, OpError> {
    match inputs.get(index).copied().flatten() {
        None => Ok(None),
        Some(_) => float(inputs, index).map(Some),
    }
}

/// Fails when an operation needs more than [`MAX_MULTIPLY_ADDS`]: the product of `factors`.
fn check_work(factors: &[usize]) -> Result<(), OpError> {
    let work = factors.iter().fold(1usize, |acc, &f| acc.saturating_mul(f));
    if work > MAX_MULTIPLY_ADDS {
        return Err(OpError::TooMuchWork(work));
    }
    Ok(())
}

/// Fails when a tensor of `shape` would exceed the limits.
pub fn check_shape(shape: &[usize]) -> Result<(), OpError> {
    if shape.len() > MAX_RANK {
        return Err(OpError::RankTooHigh(shape.len()));
    }
    match shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)) {
        Some(n) if n <= MAX_TENSOR_ELEMENTS => Ok(()),
        _ => Err(OpError::TooManyElements(shape.to_vec())),
    }
}

fn normalise_axis(axis: i64, rank: usize) -> Result<usize, OpError> {
    let rank_i = rank as i64;
    let a = if axis < 0 { axis + rank_i } else { axis };
    if (0..rank_i).contains(&a) {
        Ok(a as usize)
    } else {
        Err(OpError::Invalid(format!("axis {axis} is out of range for rank {rank}")))
    }
}

fn reshaped(x: &ArrayD<f32>, shape: &[usize]) -> Result<ArrayD<f32>, OpError> {
    let data: Vec<f32> = x.iter().copied().collect();
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|_| OpError::Invalid(format!("cannot reshape {:?} to {shape:?}", x.shape())))
}

/// ONNX Reshape's target: `0` copies the input's dimension (unless `allowzero`), one `-1` is inferred.
fn reshape_target(input: &[usize], spec: &[i64], allowzero: bool) -> Result<Vec<usize>, OpError> {
    let total: usize = input.iter().product();
    let mut shape = Vec::with_capacity(spec.len());
    let mut infer = None;
    for (i, &d) in spec.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                shape.push(1);
            }
            0 if !allowzero => shape.push(*input.get(i).ok_or("a 0 in the shape has no input dimension")?),
            d if d >= 0 => shape.push(d as usize),
            _ => return Err(OpError::Invalid(format!("invalid target shape {spec:?}"))),
        }
    }
    let known = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or("the target shape overflows")?;
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return Err(OpError::Invalid(format!("cannot reshape {input:?} to {spec:?}")));
        }
        shape[i] = total / known;
    } else if known != total {
        return Err(OpError::Invalid(format!("cannot reshape {input:?} ({total} elements) to {spec:?}")));
    }
    check_shape(&shape)?;
    Ok(shape)
}

/// The broadcast shape of two shapes (`NumPy` rules), or `None`.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| if i + s.len() < rank { 1 } else { s[i + s.len() - rank] };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn broadcast_with(a: &ArrayD<f32>, b: &ArrayD<f32>, f: impl Fn(f32, f32) -> f32) -> Result<ArrayD<f32>, OpError> {
    let mismatch = || format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape());
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(mismatch)?;
    check_shape(&shape)?;
    let (av, bv) = (a.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?, b.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?);
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

fn reduce(x: &ArrayD<f32>, axes: &[i64], keepdims: bool, kind: Reduction) -> Result<ArrayD<f32>, OpError> {
    let mut axes: Vec<usize> = axes.iter().map(|&a| normalise_axis(a, x.ndim())).collect::<Result<_, _>>()?;
    axes.sort_unstable();
    axes.dedup();
    let mut out = x.clone();
    for &axis in axes.iter().rev() {
        let len = out.shape()[axis];
        if len == 0 {
            return Err(OpError::Invalid(format!("cannot reduce the empty axis {axis}")));
        }
        out = match kind {
            Reduction::Sum => out.sum_axis(Axis(axis)),
            Reduction::Mean => out.sum_axis(Axis(axis)) / len as f32,
            Reduction::Max => out.fold_axis(Axis(axis), f32::NEG_INFINITY, |&a, &b| a.max(b)),
        };
        if keepdims {
            out = out.insert_axis(Axis(axis));
        }
    }
    Ok(out)
}

fn batch_norm(inputs: &[Option<&Value>], epsilon: f32) -> Result<ArrayD<f32>, OpError> {
    let x = float(inputs, 0)?;
    if x.ndim() < 2 {
        return Err(OpError::Invalid(format!("expects [N, C, …], got {:?}", x.shape())));
    }
    let channels = x.shape()[1];
    let params: Vec<&ArrayD<f32>> = (1..5).map(|i| float(inputs, i)).collect::<Result<_, _>>()?;
    if params.iter().any(|p| p.len() != channels) {
        return Err(OpError::Invalid(format!("scale, bias, mean and variance must have {channels} values")));
    }
    let flat = |p: &ArrayD<f32>| p.iter().copied().collect::<Vec<f32>>();
    let (scale, bias, mean, var) = (flat(params[0]), flat(params[1]), flat(params[2]), flat(params[3]));
    let mut out = x.clone();
    for (c, mut lane) in out.axis_iter_mut(Axis(1)).enumerate() {
        let factor = scale[c] / (var[c] + epsilon).sqrt();
        lane.mapv_inplace(|v| (v - mean[c]) * factor + bias[c]);
    }
    Ok(out)
}

fn matrix<'a>(x: &'a ArrayD<f32>, what: &str) -> Result<ArrayView2<'a, f32>, OpError> {
    x.view().into_dimensionality().map_err(|_| OpError::Invalid(format!("{what} must be 2-D, got {:?}", x.shape())))
}

fn gemm(
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    c: Option<&ArrayD<f32>>,
    alpha: f32,
    beta: f32,
    trans_a: bool,
    trans_b: bool,
) -> Result<ArrayD<f32>, OpError> {
    let a = matrix(a, "A")?;
    let b = matrix(b, "B")?;
    let (a, b) = (if trans_a { a.t() } else { a }, if trans_b { b.t() } else { b });
    if a.ncols() != b.nrows() {
        return Err(OpError::Invalid(format!("A is {:?} and B is {:?} after transposition", a.shape(), b.shape())));
    }
    check_shape(&[a.nrows(), b.ncols()])?;
    check_work(&[a.nrows(), b.ncols(), a.ncols()])?;
    let mut out: Array2<f32> = a.dot(&b) * alpha;
    if let Some(c) = c {
        let c = c
            .broadcast(out.raw_dim())
            .ok_or_else(|| format!("C {:?} does not broadcast to {:?}", c.shape(), out.shape()))?;
        Zip::from(&mut out).and(&c).for_each(|o, &v| *o += beta * v);
    }
    Ok(out.into_dyn())
}

/// `[…, M, K] × [K, N]` (the 2-D right-hand side of every small classifier).
fn matmul(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>, OpError> {
    let b = matrix(b, "the right-hand side of MatMul (only a 2-D right-hand side is supported)")?;
    let k = b.nrows();
    if a.ndim() == 0 || a.shape()[a.ndim() - 1] != k {
        return Err(OpError::Invalid(format!("MatMul of {:?} and {:?}", a.shape(), b.shape())));
    }
    let rows = a.len() / k.max(1);
    let mut shape = a.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = b.ncols();
    }
    check_shape(&shape)?;
    check_work(&[rows, k, b.ncols()])?;
    let a2 = Array2::from_shape_vec((rows, k), a.iter().copied().collect()).map_err(|e| e.to_string())?;
    let out = a2.dot(&b);
    ArrayD::from_shape_vec(IxDyn(&shape), out.into_iter().collect()).map_err(|e| OpError::Invalid(e.to_string()))
}

fn softmax(x: &ArrayD<f32>, axis: i64, coerce_2d: bool) -> Result<ArrayD<f32>, OpError> {
    let axis = normalise_axis(axis, x.ndim())?;
    let mut out = if coerce_2d {
        let rows: usize = x.shape()[..axis].iter().product();
        reshaped(x, &[rows, x.len() / rows.max(1)])?
    } else {
        x.clone()
    };
    let lane_axis = if coerce_2d { 1 } else { axis };
    for mut lane in out.lanes_mut(Axis(lane_axis)) {
        let max = lane.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        lane.mapv_inplace(|v| (v - max).exp());
        let sum = lane.sum();
        lane.mapv_inplace(|v| v / sum);
    }
    if coerce_2d { reshaped(&out, x.shape()) } else { Ok(out) }
}

fn pad(
    inputs: &[Option<&Value>],
    pads_attribute: Option<&[i64]>,
    value_attribute: f32,
) -> Result<ArrayD<f32>, OpError> {
    let x = float(inputs, 0)?;
    let rank = x.ndim();
    let pads: Vec<i64> = match (pads_attribute, inputs.get(1).copied().flatten()) {
        (Some(p), _) => p.to_vec(),
        (None, Some(Value::I64(p))) => p.iter().copied().collect(),
        _ => return Err("pads must be given as an int64 input or attribute".into()),
    };
    let value = match inputs.get(2).copied().flatten() {
        Some(Value::F32(v)) if v.len() == 1 => v.iter().copied().next().unwrap_or(0.0),
        Some(_) => return Err("constant_value must be one float32".into()),
        None => value_attribute,
    };
    let axes: Vec<usize> = match inputs.get(3).copied().flatten() {
        Some(Value::I64(a)) => a.iter().map(|&a| normalise_axis(a, rank)).collect::<Result<_, _>>()?,
        Some(Value::F32(_)) => return Err("axes must be int64".into()),
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
        return Err(OpError::Invalid(format!("pads {pads:?} must be {} non-negative values", 2 * axes.len())));
    }
    let mut before = vec![0usize; rank];
    let mut shape = x.shape().to_vec();
    for (i, &axis) in axes.iter().enumerate() {
        let (b, e) = (pads[i] as usize, pads[i + axes.len()] as usize);
        before[axis] = b;
        shape[axis] = shape[axis].checked_add(b).and_then(|s| s.checked_add(e)).ok_or("pads overflow")?;
    }
    check_shape(&shape)?;
    let mut out = ArrayD::from_elem(IxDyn(&shape), value);
    let mut region = out.view_mut();
    for (axis, &b) in before.iter().enumerate() {
        region.slice_axis_inplace(Axis(axis), ndarray::Slice::from(b..b + x.shape()[axis]));
    }
    region.assign(x);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests;
