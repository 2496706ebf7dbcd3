//! The ONNX operators tilelab runs, on `f32` tensors in NCHW layout: parsed once from a node's
//! attributes into an [`Op`], then applied by [`Op::apply`]. Every output shape is computed and
//! checked against [`MAX_TENSOR_ELEMENTS`] before anything is allocated.
//!
//! Supported: the operators PyTorch CNN code exports (README's "Bringing a model in" lists them):
//! convolutions (grouped, depthwise, transposed; 1-D to 3-D, in `spatial`), poolings, LRN and the
//! normalisations, the element-wise functions, linear algebra, and the shape operators (in
//! `shape_ops`, on float and int64 values alike). Dense convolutions run as im2col matrix products;
//! mostly-zero ones skip zero weights (exact for finite inputs), which keeps tilelab's constructed
//! networks fast.

use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn, Zip};
use thiserror::Error;

use super::proto::{AttributeProto, DATA_TYPE_FLOAT, DATA_TYPE_INT64, TensorProto};
use spatial::{conv, conv_transpose, pool};

mod adjoint;
pub use adjoint::{InputGradients, Operand};
mod shape_ops;
pub(crate) use shape_ops::nearest;
mod spatial;

/// Most elements one tensor may have (128 Mi floats, 512 MiB: VGG-19's first fully connected weight has 98 Mi).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 27;
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
    Min,
    Sum,
}

/// Window geometry of a convolution or pooling over 1 to 3 spatial axes.
///
/// An empty list means the default for every spatial axis (stride 1, no padding, dilation 1).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Window {
    /// `kernel_shape`, when given (Conv may take it from the weight).
    pub kernel: Option<Vec<usize>>,
    pub strides: Vec<usize>,
    /// The begins of every spatial axis, then their ends (`[top, left, bottom, right]` in 2-D).
    pub pads: Vec<usize>,
    pub dilations: Vec<usize>,
    /// `auto_pad` `SAME_UPPER` (`Some(true)`) / `SAME_LOWER` (pads then computed from the input size).
    pub same: Option<bool>,
    pub ceil_mode: bool,
    /// Channel groups of a convolution (1 for poolings; the channel count for depthwise).
    pub group: usize,
}

impl Window {
    /// The stride along spatial axis `axis`.
    pub fn stride(&self, axis: usize) -> usize {
        self.strides.get(axis).copied().unwrap_or(1)
    }

    /// The dilation along spatial axis `axis`.
    pub fn dilation(&self, axis: usize) -> usize {
        self.dilations.get(axis).copied().unwrap_or(1)
    }

    /// The explicit padding `(before, after)` of spatial axis `axis` out of `rank`.
    pub fn pad(&self, axis: usize, rank: usize) -> (usize, usize) {
        let at = |i: usize| self.pads.get(i).copied().unwrap_or(0);
        (at(axis), at(axis + rank))
    }
}

/// An element-wise function of one value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    Neg,
    Abs,
    Sqrt,
    Exp,
    Log,
    Softplus,
    Softsign,
    HardSwish,
    Elu { alpha: f32 },
    Selu { alpha: f32, gamma: f32 },
    HardSigmoid { alpha: f32, beta: f32 },
}

impl Unary {
    /// The function applied to one value.
    pub fn eval(self, v: f32) -> f32 {
        match self {
            Unary::Neg => -v,
            Unary::Abs => v.abs(),
            Unary::Sqrt => v.sqrt(),
            Unary::Exp => v.exp(),
            Unary::Log => v.ln(),
            // ln(1 + e^v) without overflow for large v.
            Unary::Softplus => v.max(0.0) + (-v.abs()).exp().ln_1p(),
            Unary::Softsign => v / (1.0 + v.abs()),
            Unary::HardSwish => v * (v / 6.0 + 0.5).clamp(0.0, 1.0),
            Unary::Elu { alpha } => {
                if v >= 0.0 {
                    v
                } else {
                    alpha * v.exp_m1()
                }
            }
            Unary::Selu { alpha, gamma } => gamma * if v > 0.0 { v } else { alpha * v.exp_m1() },
            Unary::HardSigmoid { alpha, beta } => (alpha * v + beta).clamp(0.0, 1.0),
        }
    }
}

/// An element-wise function of two broadcast values (`Sum`, `Max`, `Min` fold it over more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    Sub,
    Div,
    Pow,
    Max,
    Min,
    /// `x` where positive, `slope · x` elsewhere (the slope broadcast to `x`).
    PRelu,
}

/// A parsed operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// A convolution, grouped when `window.group > 1`.
    Conv(Window),
    /// A transposed convolution: `output_padding` and `output_shape` as in ONNX.
    ConvTranspose {
        window: Window,
        output_padding: Vec<usize>,
        output_shape: Option<Vec<usize>>,
    },
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    Unary(Unary),
    /// `min(max(x, min), max)`: bounds from the attributes (opset < 11) or the inputs.
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    Identity,
    MaxPool(Window),
    AveragePool {
        window: Window,
        count_include_pad: bool,
    },
    GlobalPool(Reduction),
    Reduce {
        kind: Reduction,
        axes: Option<Vec<i64>>,
        keepdims: bool,
        noop_with_empty_axes: bool,
    },
    BatchNormalization {
        epsilon: f32,
    },
    InstanceNormalization {
        epsilon: f32,
    },
    /// Local response normalisation across channels.
    Lrn {
        size: usize,
        alpha: f32,
        beta: f32,
        bias: f32,
    },
    Flatten {
        axis: i64,
    },
    Reshape {
        allowzero: bool,
    },
    Gemm {
        alpha: f32,
        beta: f32,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Add,
    Mul,
    Binary(Binary),
    /// `Sum`, `Max`, `Min` or `Mean` of any number of broadcast inputs.
    Variadic(Reduction),
    Softmax {
        axis: i64,
        coerce_2d: bool,
    },
    LogSoftmax {
        axis: i64,
        coerce_2d: bool,
    },
    Pad {
        pads: Option<Vec<i64>>,
        value: f32,
        mode: PadMode,
    },
    Concat {
        axis: i64,
    },
    /// Splits along `axis` into `parts` pieces (sizes from `split` or the second input, else equal).
    Split {
        axis: i64,
        split: Option<Vec<i64>>,
        parts: usize,
    },
    Transpose {
        perm: Option<Vec<usize>>,
    },
    Squeeze {
        axes: Option<Vec<i64>>,
    },
    Unsqueeze {
        axes: Option<Vec<i64>>,
    },
    Shape {
        start: i64,
        end: Option<i64>,
    },
    Gather {
        axis: i64,
    },
    ConstantOfShape {
        value: Value,
    },
    Slice {
        attributes: Option<SliceSpec>,
    },
    Tile,
    /// Nearest-neighbour `Upsample` / `Resize`.
    Resize(Resize),
}

/// How `Pad` fills the border.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
}

/// `Slice`'s attributes (opset < 10; later opsets take inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliceSpec {
    pub starts: Vec<i64>,
    pub ends: Vec<i64>,
    pub axes: Option<Vec<i64>>,
}

/// Nearest-neighbour resizing: where output pixels sample the input.
#[derive(Debug, Clone, PartialEq)]
pub struct Resize {
    /// `scales` given as an attribute (`Upsample` before opset 9).
    pub scales: Option<Vec<f32>>,
    /// Index of the `scales` input and of the `sizes` input (absent for `Upsample`).
    pub scales_input: usize,
    pub sizes_input: Option<usize>,
    pub coordinates: Coordinates,
    pub rounding: Rounding,
}

/// `coordinate_transformation_mode`: the input coordinate of output index `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coordinates {
    HalfPixel,
    PytorchHalfPixel,
    Asymmetric,
    AlignCorners,
}

/// `nearest_mode`: how a fractional input coordinate becomes an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
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

    fn floats(&self, name: &str) -> Option<Vec<f32>> {
        self.find(name).map(|a| a.floats.clone())
    }

    fn string(&self, name: &str) -> Option<String> {
        self.find(name).and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned())
    }

    fn tensor(&self, name: &str) -> Option<&TensorProto> {
        self.find(name).and_then(|a| a.t.as_ref())
    }
}

/// Non-negative sizes from an attribute (empty if absent).
fn sizes(attributes: &Attributes, name: &str) -> Result<Vec<usize>, OpError> {
    let values = attributes.ints(name).unwrap_or_default();
    let sizes: Vec<usize> = values
        .iter()
        .map(|&v| usize::try_from(v))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{name} must be non-negative, got {values:?}"))?;
    if sizes.len() > MAX_RANK {
        return Err(OpError::Invalid(format!("{name} has {} entries", sizes.len())));
    }
    Ok(sizes)
}

fn window(attributes: &Attributes, pooling: bool) -> Result<Window, OpError> {
    let kernel = match attributes.ints("kernel_shape") {
        Some(_) => Some(sizes(attributes, "kernel_shape")?),
        None if pooling => return Err("kernel_shape is required".into()),
        None => None,
    };
    if kernel.as_ref().is_some_and(|k| k.is_empty() || k.contains(&0)) {
        return Err("kernel_shape must be positive".into());
    }
    let strides = sizes(attributes, "strides")?;
    let dilations = sizes(attributes, "dilations")?;
    if strides.contains(&0) || dilations.contains(&0) {
        return Err("strides and dilations must be positive".into());
    }
    let same = match attributes.string("auto_pad").as_deref() {
        None | Some("NOTSET" | "VALID" | "") => None,
        Some("SAME_UPPER") => Some(true),
        Some("SAME_LOWER") => Some(false),
        Some(other) => return Err(OpError::Unsupported(format!("auto_pad '{other}' is not supported"))),
    };
    let pads =
        if attributes.string("auto_pad").as_deref() == Some("VALID") { Vec::new() } else { sizes(attributes, "pads")? };
    let group = usize::try_from(attributes.int("group", 1))
        .ok()
        .filter(|&g| g >= 1)
        .ok_or_else(|| format!("group {} must be positive", attributes.int("group", 1)))?;
    Ok(Window { kernel, strides, pads, dilations, same, ceil_mode: attributes.int("ceil_mode", 0) != 0, group })
}

fn resize(op_type: &str, attributes: &Attributes, opset: i64) -> Result<Resize, OpError> {
    let mode = attributes.string("mode").unwrap_or_else(|| "nearest".into());
    if mode != "nearest" {
        return Err(OpError::Unsupported(format!("mode '{mode}' (only 'nearest' is supported)")));
    }
    let upsample = op_type == "Upsample";
    let coordinates = match attributes.string("coordinate_transformation_mode").as_deref() {
        None if upsample || opset < 11 => Coordinates::Asymmetric,
        None | Some("half_pixel") => Coordinates::HalfPixel,
        Some("pytorch_half_pixel") => Coordinates::PytorchHalfPixel,
        Some("asymmetric") => Coordinates::Asymmetric,
        Some("align_corners") => Coordinates::AlignCorners,
        Some(other) => return Err(OpError::Unsupported(format!("coordinate_transformation_mode '{other}'"))),
    };
    let rounding = match attributes.string("nearest_mode").as_deref() {
        None if upsample || opset < 11 => Rounding::Floor,
        None | Some("round_prefer_floor") => Rounding::RoundPreferFloor,
        Some("round_prefer_ceil") => Rounding::RoundPreferCeil,
        Some("floor") => Rounding::Floor,
        Some("ceil") => Rounding::Ceil,
        Some(other) => return Err(OpError::Unsupported(format!("nearest_mode '{other}'"))),
    };
    let scales =
        if upsample && opset < 9 { Some(attributes.floats("scales").ok_or("scales is required")?) } else { None };
    let (scales_input, sizes_input) = if upsample || opset < 11 { (1, None) } else { (2, Some(3)) };
    Ok(Resize { scales, scales_input, sizes_input, coordinates, rounding })
}

fn constant_of_shape(attributes: &Attributes) -> Result<Value, OpError> {
    let Some(tensor) = attributes.tensor("value") else { return Ok(Value::F32(ArrayD::zeros(IxDyn(&[])))) };
    let count = tensor.dims.iter().product::<i64>();
    let one = |v: Option<Value>| v.filter(|v| v.shape().iter().product::<usize>() == 1 && count == 1);
    let value = match tensor.data_type {
        Some(DATA_TYPE_FLOAT) => tensor
            .float_data
            .first()
            .copied()
            .or_else(|| tensor.raw_data.as_deref().and_then(|r| Some(f32::from_le_bytes(r.get(..4)?.try_into().ok()?))))
            .map(|v| Value::F32(ArrayD::from_elem(IxDyn(&[]), v))),
        Some(DATA_TYPE_INT64) => tensor
            .int64_data
            .first()
            .copied()
            .or_else(|| tensor.raw_data.as_deref().and_then(|r| Some(i64::from_le_bytes(r.get(..8)?.try_into().ok()?))))
            .map(|v| Value::I64(ArrayD::from_elem(IxDyn(&[]), v))),
        other => return Err(OpError::Unsupported(format!("value of data type {other:?} (float32 or int64 only)"))),
    };
    one(value).ok_or_else(|| "value must hold exactly one element".into())
}

impl Op {
    /// Parses `op_type` with its attributes for the model's `opset`; `Err` says what is unsupported.
    pub fn parse(op_type: &str, attributes: &Attributes, opset: i64) -> Result<Op, OpError> {
        Self::parse_with_outputs(op_type, attributes, opset, 1)
    }

    /// [`Op::parse`] for a node that declares `outputs` outputs (`Split` makes that many pieces).
    #[allow(clippy::too_many_lines)] // one arm per operator: a table reads best in one place
    pub fn parse_with_outputs(
        op_type: &str,
        attributes: &Attributes,
        opset: i64,
        outputs: usize,
    ) -> Result<Op, OpError> {
        let unary = |u| Ok(Op::Unary(u));
        let softmax_axis = if opset < 13 { 1 } else { -1 };
        let optional_axes = |name| attributes.ints(name);
        match op_type {
            "Conv" => Ok(Op::Conv(window(attributes, false)?)),
            "ConvTranspose" => Ok(Op::ConvTranspose {
                window: window(attributes, false)?,
                output_padding: sizes(attributes, "output_padding")?,
                output_shape: attributes.ints("output_shape").map(|_| sizes(attributes, "output_shape")).transpose()?,
            }),
            "Relu" => Ok(Op::Relu),
            "LeakyRelu" => Ok(Op::LeakyRelu(attributes.float("alpha", 0.01))),
            "Sigmoid" => Ok(Op::Sigmoid),
            "Tanh" => Ok(Op::Tanh),
            "Neg" => unary(Unary::Neg),
            "Abs" => unary(Unary::Abs),
            "Sqrt" => unary(Unary::Sqrt),
            "Exp" => unary(Unary::Exp),
            "Log" => unary(Unary::Log),
            "Softplus" => unary(Unary::Softplus),
            "Softsign" => unary(Unary::Softsign),
            "HardSwish" => unary(Unary::HardSwish),
            "Elu" => unary(Unary::Elu { alpha: attributes.float("alpha", 1.0) }),
            "Selu" => unary(Unary::Selu {
                alpha: attributes.float("alpha", 1.673_263_2),
                gamma: attributes.float("gamma", 1.050_701),
            }),
            "HardSigmoid" => {
                unary(Unary::HardSigmoid { alpha: attributes.float("alpha", 0.2), beta: attributes.float("beta", 0.5) })
            }
            "Clip" => Ok(Op::Clip {
                min: attributes.find("min").and_then(|a| a.f),
                max: attributes.find("max").and_then(|a| a.f),
            }),
            "Identity" | "Dropout" => Ok(Op::Identity),
            "MaxPool" => {
                if attributes.int("storage_order", 0) != 0 {
                    return Err(OpError::Unsupported("storage_order 1 is not supported".into()));
                }
                Ok(Op::MaxPool(window(attributes, true)?))
            }
            "AveragePool" => Ok(Op::AveragePool {
                window: window(attributes, true)?,
                count_include_pad: attributes.int("count_include_pad", 0) != 0,
            }),
            "GlobalAveragePool" => Ok(Op::GlobalPool(Reduction::Mean)),
            "GlobalMaxPool" => Ok(Op::GlobalPool(Reduction::Max)),
            "ReduceMean" | "ReduceMax" | "ReduceSum" => Ok(Op::Reduce {
                kind: match op_type {
                    "ReduceMean" => Reduction::Mean,
                    "ReduceMax" => Reduction::Max,
                    _ => Reduction::Sum,
                },
                axes: attributes.ints("axes"),
                keepdims: attributes.int("keepdims", 1) != 0,
                noop_with_empty_axes: attributes.int("noop_with_empty_axes", 0) != 0,
            }),
            "BatchNormalization" => {
                if attributes.int("training_mode", 0) != 0 {
                    return Err(OpError::Unsupported("training_mode 1 (only inference is supported)".into()));
                }
                Ok(Op::BatchNormalization { epsilon: attributes.float("epsilon", 1e-5) })
            }
            "InstanceNormalization" => Ok(Op::InstanceNormalization { epsilon: attributes.float("epsilon", 1e-5) }),
            "LRN" => {
                let size = usize::try_from(attributes.int("size", 0))
                    .ok()
                    .filter(|&s| s >= 1)
                    .ok_or("size must be a positive integer")?;
                Ok(Op::Lrn {
                    size,
                    alpha: attributes.float("alpha", 1e-4),
                    beta: attributes.float("beta", 0.75),
                    bias: attributes.float("bias", 1.0),
                })
            }
            "Flatten" => Ok(Op::Flatten { axis: attributes.int("axis", 1) }),
            "Reshape" => Ok(Op::Reshape { allowzero: attributes.int("allowzero", 0) != 0 }),
            "Gemm" => Ok(Op::Gemm {
                alpha: attributes.float("alpha", 1.0),
                beta: attributes.float("beta", 1.0),
                trans_a: attributes.int("transA", 0) != 0,
                trans_b: attributes.int("transB", 0) != 0,
            }),
            "MatMul" => Ok(Op::MatMul),
            "Add" => Ok(Op::Add),
            "Mul" => Ok(Op::Mul),
            "Sub" => Ok(Op::Binary(Binary::Sub)),
            "Div" => Ok(Op::Binary(Binary::Div)),
            "Pow" => Ok(Op::Binary(Binary::Pow)),
            "PRelu" => Ok(Op::Binary(Binary::PRelu)),
            "Sum" => Ok(Op::Variadic(Reduction::Sum)),
            "Mean" => Ok(Op::Variadic(Reduction::Mean)),
            "Max" => Ok(Op::Variadic(Reduction::Max)),
            "Min" => Ok(Op::Variadic(Reduction::Min)),
            "Softmax" => Ok(Op::Softmax { axis: attributes.int("axis", softmax_axis), coerce_2d: opset < 13 }),
            "LogSoftmax" => Ok(Op::LogSoftmax { axis: attributes.int("axis", softmax_axis), coerce_2d: opset < 13 }),
            "Pad" => {
                let mode = match attributes.string("mode").as_deref() {
                    None | Some("constant") => PadMode::Constant,
                    Some("reflect") => PadMode::Reflect,
                    Some("edge") => PadMode::Edge,
                    Some(other) => {
                        return Err(OpError::Unsupported(format!(
                            "mode '{other}' (constant, reflect and edge are supported)"
                        )));
                    }
                };
                let pads = attributes.ints("pads").or_else(|| attributes.ints("paddings"));
                Ok(Op::Pad { pads, value: attributes.float("value", 0.0), mode })
            }
            "Concat" => Ok(Op::Concat { axis: attributes.find("axis").and_then(|a| a.i).ok_or("axis is required")? }),
            "Split" => {
                Ok(Op::Split { axis: attributes.int("axis", 0), split: attributes.ints("split"), parts: outputs })
            }
            "Transpose" => {
                Ok(Op::Transpose { perm: attributes.ints("perm").map(|_| sizes(attributes, "perm")).transpose()? })
            }
            "Squeeze" => Ok(Op::Squeeze { axes: optional_axes("axes") }),
            "Unsqueeze" => Ok(Op::Unsqueeze { axes: optional_axes("axes") }),
            "Shape" => {
                Ok(Op::Shape { start: attributes.int("start", 0), end: attributes.find("end").and_then(|a| a.i) })
            }
            "Gather" => Ok(Op::Gather { axis: attributes.int("axis", 0) }),
            "ConstantOfShape" => Ok(Op::ConstantOfShape { value: constant_of_shape(attributes)? }),
            "Slice" => Ok(Op::Slice {
                attributes: attributes.ints("starts").map(|starts| SliceSpec {
                    starts,
                    ends: attributes.ints("ends").unwrap_or_default(),
                    axes: attributes.ints("axes"),
                }),
            }),
            "Tile" => Ok(Op::Tile),
            "Upsample" | "Resize" => Ok(Op::Resize(resize(op_type, attributes, opset)?)),
            other => Err(OpError::Unsupported(format!("operator '{other}' is not supported"))),
        }
    }

    /// Applies the operator to its inputs (`None` = an omitted optional input): its first output.
    pub fn apply(&self, inputs: &[Option<&Value>]) -> Result<Value, OpError> {
        self.apply_all(inputs)?.into_iter().next().ok_or_else(|| "no output".into())
    }

    /// Applies the operator and returns every output (more than one only for `Split`).
    #[allow(clippy::too_many_lines)] // one arm per operator, as in parse_with_outputs
    pub fn apply_all(&self, inputs: &[Option<&Value>]) -> Result<Vec<Value>, OpError> {
        let x = || float(inputs, 0);
        let value = |i: usize| {
            inputs.get(i).copied().flatten().ok_or_else(|| OpError::Invalid(format!("input {i} is missing")))
        };
        let out = match self {
            Op::Conv(window) => conv(x()?, float(inputs, 1)?, optional_float(inputs, 2)?, window)?,
            Op::ConvTranspose { window, output_padding, output_shape } => conv_transpose(
                x()?,
                float(inputs, 1)?,
                optional_float(inputs, 2)?,
                window,
                output_padding,
                output_shape.as_deref(),
            )?,
            Op::Relu => x()?.mapv(|v| v.max(0.0)),
            Op::LeakyRelu(alpha) => x()?.mapv(|v| if v >= 0.0 { v } else { alpha * v }),
            Op::Sigmoid => x()?.mapv(|v| 1.0 / (1.0 + (-v).exp())),
            Op::Tanh => x()?.mapv(f32::tanh),
            Op::Unary(f) => x()?.mapv(|v| f.eval(v)),
            Op::Clip { min, max } => clip(inputs, *min, *max)?,
            Op::Identity => return Ok(vec![value(0)?.clone()]),
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
            Op::InstanceNormalization { epsilon } => {
                instance_norm(x()?, float(inputs, 1)?, float(inputs, 2)?, *epsilon)?
            }
            Op::Lrn { size, alpha, beta, bias } => lrn(x()?, *size, *alpha, *beta, *bias)?,
            Op::Flatten { axis } => {
                let x = value(0)?;
                // Flatten's axis lies in [-r, r]: a negative one counts from the end.
                let rank = x.shape().len();
                let axis = if *axis < 0 { *axis + rank as i64 } else { *axis };
                let axis = usize::try_from(axis).ok().filter(|&a| a <= rank).ok_or("axis out of range")?;
                let rows: usize = x.shape()[..axis].iter().product();
                let total: usize = x.shape().iter().product();
                return Ok(vec![reshape_value(x, &[rows, total / rows.max(1)])?]);
            }
            Op::Reshape { allowzero } => {
                let Some(Value::I64(shape)) = inputs.get(1).copied().flatten() else {
                    return Err("the shape input must be an int64 tensor".into());
                };
                let x = value(0)?;
                let shape = reshape_target(x.shape(), &shape.iter().copied().collect::<Vec<_>>(), *allowzero)?;
                return Ok(vec![reshape_value(x, &shape)?]);
            }
            Op::Gemm { alpha, beta, trans_a, trans_b } => {
                gemm(x()?, float(inputs, 1)?, optional_float(inputs, 2)?, *alpha, *beta, *trans_a, *trans_b)?
            }
            Op::MatMul => matmul(x()?, float(inputs, 1)?)?,
            Op::Add => return Ok(vec![arithmetic(value(0)?, value(1)?, Arithmetic::Add)?]),
            Op::Mul => return Ok(vec![arithmetic(value(0)?, value(1)?, Arithmetic::Mul)?]),
            Op::Binary(Binary::Sub) => return Ok(vec![arithmetic(value(0)?, value(1)?, Arithmetic::Sub)?]),
            Op::Binary(Binary::Div) => return Ok(vec![arithmetic(value(0)?, value(1)?, Arithmetic::Div)?]),
            Op::Binary(Binary::Pow) => broadcast_with(x()?, float(inputs, 1)?, f32::powf)?,
            Op::Binary(Binary::Max) => broadcast_with(x()?, float(inputs, 1)?, f32::max)?,
            Op::Binary(Binary::Min) => broadcast_with(x()?, float(inputs, 1)?, f32::min)?,
            Op::Binary(Binary::PRelu) => prelu(x()?, float(inputs, 1)?)?,
            Op::Variadic(kind) => variadic(inputs, *kind)?,
            Op::Softmax { axis, coerce_2d } => softmax(x()?, *axis, *coerce_2d, false)?,
            Op::LogSoftmax { axis, coerce_2d } => softmax(x()?, *axis, *coerce_2d, true)?,
            Op::Pad { pads, value, mode } => pad(inputs, pads.as_deref(), *value, *mode)?,
            Op::Concat { axis } => return Ok(vec![shape_ops::concat(inputs, *axis)?]),
            Op::Split { axis, split, parts } => return shape_ops::split(inputs, *axis, split.as_deref(), *parts),
            Op::Transpose { perm } => return Ok(vec![shape_ops::transpose(value(0)?, perm.as_deref())?]),
            Op::Squeeze { axes } => {
                return Ok(vec![shape_ops::squeeze(value(0)?, axes_of(axes.as_ref(), inputs)?.as_deref())?]);
            }
            Op::Unsqueeze { axes } => {
                let axes = axes_of(axes.as_ref(), inputs)?.ok_or("axes are required")?;
                return Ok(vec![shape_ops::unsqueeze(value(0)?, &axes)?]);
            }
            Op::Shape { start, end } => return Ok(vec![shape_ops::shape(value(0)?, *start, *end)]),
            Op::Gather { axis } => return Ok(vec![shape_ops::gather(value(0)?, value(1)?, *axis)?]),
            Op::ConstantOfShape { value: fill } => return Ok(vec![shape_ops::constant_of_shape(value(0)?, fill)?]),
            Op::Slice { attributes } => return Ok(vec![shape_ops::slice(inputs, attributes.as_ref())?]),
            Op::Tile => return Ok(vec![shape_ops::tile(value(0)?, value(1)?)?]),
            Op::Resize(spec) => shape_ops::resize(x()?, inputs, spec)?,
        };
        Ok(vec![Value::F32(out)])
    }
}

/// Axes from the attribute or, from opset 13 on, the second input.
fn axes_of(attribute: Option<&Vec<i64>>, inputs: &[Option<&Value>]) -> Result<Option<Vec<i64>>, OpError> {
    match (attribute, inputs.get(1).copied().flatten()) {
        (Some(axes), _) => Ok(Some(axes.clone())),
        (None, Some(Value::I64(a))) => Ok(Some(a.iter().copied().collect())),
        (None, Some(Value::F32(_))) => Err("axes must be int64".into()),
        (None, None) => Ok(None),
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

fn reshaped<T: Clone>(x: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, OpError> {
    let data: Vec<T> = x.iter().cloned().collect();
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .map_err(|_| OpError::Invalid(format!("cannot reshape {:?} to {shape:?}", x.shape())))
}

fn reshape_value(x: &Value, shape: &[usize]) -> Result<Value, OpError> {
    Ok(match x {
        Value::F32(a) => Value::F32(reshaped(a, shape)?),
        Value::I64(a) => Value::I64(reshaped(a, shape)?),
    })
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

fn broadcast_with<T: Copy>(a: &ArrayD<T>, b: &ArrayD<T>, f: impl Fn(T, T) -> T) -> Result<ArrayD<T>, OpError> {
    let mismatch = || format!("shapes {:?} and {:?} do not broadcast", a.shape(), b.shape());
    let shape = broadcast_shape(a.shape(), b.shape()).ok_or_else(mismatch)?;
    check_shape(&shape)?;
    let (av, bv) = (a.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?, b.broadcast(IxDyn(&shape)).ok_or_else(mismatch)?);
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

/// The four arithmetic operators, which also run on int64 (shape computations).
#[derive(Debug, Clone, Copy)]
enum Arithmetic {
    Add,
    Sub,
    Mul,
    Div,
}

fn arithmetic(a: &Value, b: &Value, op: Arithmetic) -> Result<Value, OpError> {
    Ok(match (a, b) {
        (Value::F32(a), Value::F32(b)) => Value::F32(match op {
            Arithmetic::Add => broadcast_with(a, b, |x, y| x + y)?,
            Arithmetic::Sub => broadcast_with(a, b, |x, y| x - y)?,
            Arithmetic::Mul => broadcast_with(a, b, |x, y| x * y)?,
            Arithmetic::Div => broadcast_with(a, b, |x, y| x / y)?,
        }),
        (Value::I64(a), Value::I64(b)) => Value::I64(match op {
            Arithmetic::Add => broadcast_with(a, b, i64::wrapping_add)?,
            Arithmetic::Sub => broadcast_with(a, b, i64::wrapping_sub)?,
            Arithmetic::Mul => broadcast_with(a, b, i64::wrapping_mul)?,
            Arithmetic::Div => {
                if b.iter().any(|&v| v == 0) {
                    return Err("integer division by zero".into());
                }
                broadcast_with(a, b, i64::wrapping_div)?
            }
        }),
        _ => return Err("the two inputs must have the same element type".into()),
    })
}

/// `Sum`, `Mean`, `Max`, `Min` over every input, broadcast together.
fn variadic(inputs: &[Option<&Value>], kind: Reduction) -> Result<ArrayD<f32>, OpError> {
    let first = float(inputs, 0)?;
    let mut out = first.clone();
    for i in 1..inputs.len() {
        let next = float(inputs, i)?;
        out = match kind {
            Reduction::Sum | Reduction::Mean => broadcast_with(&out, next, |a, b| a + b)?,
            Reduction::Max => broadcast_with(&out, next, f32::max)?,
            Reduction::Min => broadcast_with(&out, next, f32::min)?,
        };
    }
    if kind == Reduction::Mean {
        let count = inputs.len() as f32;
        out.mapv_inplace(|v| v / count);
    }
    Ok(out)
}

/// `x` where positive, `slope · x` elsewhere; the slope broadcasts to `x`'s shape, or (opset < 7,
/// what older PyTorch exports) holds one value per channel of `[N, C, …]`.
fn prelu(x: &ArrayD<f32>, slope: &ArrayD<f32>) -> Result<ArrayD<f32>, OpError> {
    let per_channel = x.ndim() > 2 && slope.ndim() == 1 && slope.len() == x.shape()[1] && slope.len() > 1;
    let slope = if per_channel && broadcast_shape(x.shape(), slope.shape()).is_none() {
        let mut shape = vec![1; x.ndim() - 1];
        shape[0] = slope.len();
        reshaped(slope, &shape)?
    } else {
        slope.clone()
    };
    let out = broadcast_with(x, &slope, |v, s| if v >= 0.0 { v } else { s * v })?;
    if out.shape() != x.shape() {
        return Err(OpError::Invalid(format!("the slope {:?} does not broadcast to {:?}", slope.shape(), x.shape())));
    }
    Ok(out)
}

/// One scalar bound of `Clip` from input `index`, else `fallback`.
fn clip_bound(inputs: &[Option<&Value>], index: usize, fallback: Option<f32>) -> Result<Option<f32>, OpError> {
    match inputs.get(index).copied().flatten() {
        None => Ok(fallback),
        Some(Value::F32(v)) if v.len() == 1 => Ok(v.iter().next().copied()),
        Some(_) => Err(OpError::Invalid(format!("input {index} (a bound) must be one float32"))),
    }
}

fn clip(inputs: &[Option<&Value>], min: Option<f32>, max: Option<f32>) -> Result<ArrayD<f32>, OpError> {
    let low = clip_bound(inputs, 1, min)?.unwrap_or(f32::NEG_INFINITY);
    let high = clip_bound(inputs, 2, max)?.unwrap_or(f32::INFINITY);
    Ok(float(inputs, 0)?.mapv(|v| v.max(low).min(high)))
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
            Reduction::Min => out.fold_axis(Axis(axis), f32::INFINITY, |&a, &b| a.min(b)),
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

/// `scale · (x − mean) / √(var + ε) + bias` with mean and variance over each `(n, c)` plane.
fn instance_norm(
    x: &ArrayD<f32>,
    scale: &ArrayD<f32>,
    bias: &ArrayD<f32>,
    epsilon: f32,
) -> Result<ArrayD<f32>, OpError> {
    if x.ndim() < 3 {
        return Err(OpError::Invalid(format!("expects [N, C, …], got {:?}", x.shape())));
    }
    let channels = x.shape()[1];
    if scale.len() != channels || bias.len() != channels {
        return Err(OpError::Invalid(format!("scale and bias must have {channels} values")));
    }
    let (scale, bias): (Vec<f32>, Vec<f32>) = (scale.iter().copied().collect(), bias.iter().copied().collect());
    let mut out = x.as_standard_layout().into_owned();
    for mut sample in out.outer_iter_mut() {
        for (c, mut plane) in sample.outer_iter_mut().enumerate() {
            let count = plane.len().max(1) as f32;
            let mean = plane.sum() / count;
            let var = plane.fold(0.0, |acc, &v| acc + (v - mean) * (v - mean)) / count;
            let factor = scale[c] / (var + epsilon).sqrt();
            plane.mapv_inplace(|v| (v - mean) * factor + bias[c]);
        }
    }
    Ok(out)
}

/// `x / (bias + α/size · Σ x²)^β`, the sum over the `size` channels around each one.
fn lrn(x: &ArrayD<f32>, size: usize, alpha: f32, beta: f32, bias: f32) -> Result<ArrayD<f32>, OpError> {
    if x.ndim() < 3 {
        return Err(OpError::Invalid(format!("expects [N, C, …], got {:?}", x.shape())));
    }
    let channels = x.shape()[1];
    let (below, above) = ((size - 1) / 2, size.div_ceil(2) - 1);
    let x = x.as_standard_layout();
    let squares = x.mapv(|v| v * v);
    let mut out = x.to_owned();
    for (mut sample, squares) in out.outer_iter_mut().zip(squares.outer_iter()) {
        for (c, mut plane) in sample.outer_iter_mut().enumerate() {
            let (from, to) = (c.saturating_sub(below), (c + above).min(channels - 1));
            let mut sum = squares.index_axis(Axis(0), from).to_owned();
            for k in from + 1..=to {
                sum += &squares.index_axis(Axis(0), k);
            }
            Zip::from(&mut plane).and(&sum).for_each(|v, &s| *v /= (bias + alpha / size as f32 * s).powf(beta));
        }
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

fn softmax(x: &ArrayD<f32>, axis: i64, coerce_2d: bool, log: bool) -> Result<ArrayD<f32>, OpError> {
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
        let sum = lane.fold(0.0, |s, &v| s + (v - max).exp());
        if log {
            let shift = max + sum.ln();
            lane.mapv_inplace(|v| v - shift);
        } else {
            lane.mapv_inplace(|v| (v - max).exp() / sum);
        }
    }
    if coerce_2d { reshaped(&out, x.shape()) } else { Ok(out) }
}

fn pad(
    inputs: &[Option<&Value>],
    pads_attribute: Option<&[i64]>,
    value_attribute: f32,
    mode: PadMode,
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
    let fits = |axis: usize| {
        let (n, b) = (x.shape()[axis], before[axis]);
        let e = shape[axis] - n - b;
        match mode {
            PadMode::Constant => true,
            PadMode::Edge => n > 0 || b + e == 0,
            PadMode::Reflect => (b < n && e < n) || b + e == 0,
        }
    };
    if !(0..rank).all(fits) {
        return Err(OpError::Invalid(format!(
            "{mode:?} padding of {:?} by {pads:?} reaches past the input",
            x.shape()
        )));
    }
    if mode == PadMode::Constant {
        let mut out = ArrayD::from_elem(IxDyn(&shape), value);
        let mut region = out.view_mut();
        for (axis, &b) in before.iter().enumerate() {
            region.slice_axis_inplace(Axis(axis), ndarray::Slice::from(b..b + x.shape()[axis]));
        }
        region.assign(x);
        return Ok(out);
    }
    // Reflect mirrors about the edge pixel; edge repeats it.
    let source = |i: usize, axis: usize| -> usize {
        let n = x.shape()[axis] as i64;
        let p = i as i64 - before[axis] as i64;
        let inside = match mode {
            PadMode::Reflect => {
                let period = 2 * (n - 1).max(1);
                let r = p.rem_euclid(period);
                if r < n { r } else { period - r }
            }
            _ => p.clamp(0, n - 1),
        };
        inside.clamp(0, n - 1) as usize
    };
    let mut index = vec![0usize; rank];
    Ok(ArrayD::from_shape_fn(IxDyn(&shape), |i| {
        for (axis, slot) in index.iter_mut().enumerate() {
            *slot = source(i[axis], axis);
        }
        x[IxDyn(&index)]
    }))
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests;
