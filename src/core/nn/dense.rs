//! The generic dense engine: padding, 2-D convolution, ReLU, flatten and fully connected layers,
//! with a forward pass that keeps every layer's output and the backward pass right next to it.
//!
//! It is the readable reference: the constructed networks N1/N2 are converted to it to show that
//! they are ordinary CNNs, the trainable network is an instance of it, and the fast fused training
//! kernel (`nn::kernels`) is tested against it.

// ndarray views are cheap handles, passed by value as ndarray's own API does.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, ArrayView1, ArrayView3, ArrayViewD, Axis, IxDyn, Zip, s};
use rayon::prelude::*;
use thiserror::Error;

/// Why a network cannot run on an input (or a layer is malformed).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum NnError {
    #[error("layer {layer} ({kind}) expects {expected}, got an input of shape {got:?}")]
    InputShape { layer: usize, kind: &'static str, expected: String, got: Vec<usize> },
    #[error("layer {layer} ({kind}) is malformed: {message}")]
    BadLayer { layer: usize, kind: &'static str, message: String },
    #[error("the network has no layers")]
    NoLayers,
    #[error("the network's output has shape {0:?}; logits must be a vector")]
    NotLogits(Vec<usize>),
    #[error("{got} activations given for a network of {layers} layers")]
    ActivationCount { got: usize, layers: usize },
    #[error("the output gradient has {got} entries but the network has {expected} outputs")]
    GradientShape { got: usize, expected: usize },
    #[error("label {label} is out of range for {classes} classes")]
    BadLabel { label: usize, classes: usize },
    #[error("invalid network specification: {0}")]
    BadSpec(String),
}

/// A 2-D convolution, stride 1, no padding, optional dilation.
///
/// `out[o,y,x] = bias[o] + Σ_{c,a,b} weight[o,c,a,b] · in[c, y + a·d, x + b·d]`.
///
/// # Shapes
/// weight `[O, C, kh, kw]`, bias `[O]`; input `[C, H, W]` → output `[O, H − d(kh−1), W − d(kw−1)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv2d {
    pub weight: Array4<f32>,
    pub bias: Array1<f32>,
    pub dilation: usize,
}

/// A fully connected layer `out = weight · in + bias`.
///
/// # Shapes
/// weight `[O, I]`, bias `[O]`; input `[I]` → output `[O]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub weight: Array2<f32>,
    pub bias: Array1<f32>,
}

/// One layer of a [`Network`].
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// Zero rows at the bottom and zero columns at the right of every channel: `[C,H,W]` → `[C,H+bottom,W+right]`.
    Pad { bottom: usize, right: usize },
    /// See [`Conv2d`].
    Conv2d(Conv2d),
    /// `max(x, 0)` element-wise, any shape.
    Relu,
    /// `[C,H,W]` → `[C·H·W]`, row-major (PyTorch's order).
    Flatten,
    /// See [`Linear`].
    Linear(Linear),
}

/// A feed-forward network: the layers applied in order to a `[C,H,W]` input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Network {
    pub layers: Vec<Layer>,
}

/// The gradients of one layer's parameters (only convolution and linear layers have them).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamGradient {
    /// Same shape as the layer's weight (`[O,C,kh,kw]` or `[O,I]`).
    pub weight: ArrayD<f32>,
    /// Same shape as the layer's bias.
    pub bias: Array1<f32>,
}

/// `(∂weight, ∂bias, ∂input)` of a convolution.
pub type ConvGradients = (Array4<f32>, Array1<f32>, Array3<f32>);

/// `(∂weight, ∂bias, ∂input)` of a fully connected layer.
pub type LinearGradients = (Array2<f32>, Array1<f32>, Array1<f32>);

/// The result of [`Network::backward`].
#[derive(Debug, Clone, PartialEq)]
pub struct Backward {
    /// `∂loss/∂input`, `[C,H,W]`.
    pub input: Array3<f32>,
    /// Per layer, the parameter gradients (`None` for layers without parameters).
    pub params: Vec<Option<ParamGradient>>,
}

impl Conv2d {
    /// A validated convolution (bias length = output channels, dilation ≥ 1, non-empty kernel).
    pub fn new(weight: Array4<f32>, bias: Array1<f32>, dilation: usize) -> Result<Self, NnError> {
        let conv = Self { weight, bias, dilation };
        conv.check(0)?;
        Ok(conv)
    }

    fn check(&self, layer: usize) -> Result<(), NnError> {
        let bad = |message: String| NnError::BadLayer { layer, kind: "conv2d", message };
        let (out_channels, in_channels, kh, kw) = self.weight.dim();
        if out_channels == 0 || in_channels == 0 || kh == 0 || kw == 0 {
            return Err(bad(format!("weight shape {:?} has an empty axis", self.weight.shape())));
        }
        if self.bias.len() != out_channels {
            return Err(bad(format!("{} biases for {out_channels} output channels", self.bias.len())));
        }
        if self.dilation == 0 {
            return Err(bad("dilation must be at least 1".to_owned()));
        }
        Ok(())
    }

    /// Output `(height, width)` for an input of `height×width`, or `None` if the kernel does not fit.
    pub fn output_size(&self, height: usize, width: usize) -> Option<(usize, usize)> {
        let (_, _, kh, kw) = self.weight.dim();
        let reach_rows = self.dilation * (kh.max(1) - 1);
        let reach_cols = self.dilation * (kw.max(1) - 1);
        (height > reach_rows && width > reach_cols).then(|| (height - reach_rows, width - reach_cols))
    }

    fn output_checked(&self, layer: usize, input: &[usize]) -> Result<(usize, usize), NnError> {
        self.check(layer)?;
        let (_, in_channels, kh, kw) = self.weight.dim();
        let shape_error = || NnError::InputShape {
            layer,
            kind: "conv2d",
            expected: format!("[{in_channels}, H, W] with the {kh}×{kw} kernel (dilation {}) inside", self.dilation),
            got: input.to_vec(),
        };
        match *input {
            [channels, height, width] if channels == in_channels => {
                self.output_size(height, width).ok_or_else(shape_error)
            }
            _ => Err(shape_error()),
        }
    }

    /// The convolution of one `[C,H,W]` input. Output channels are computed in parallel.
    pub fn forward(&self, input: ArrayView3<f32>) -> Result<Array3<f32>, NnError> {
        self.forward_at(0, input)
    }

    fn forward_at(&self, layer: usize, input: ArrayView3<f32>) -> Result<Array3<f32>, NnError> {
        let (out_h, out_w) = self.output_checked(layer, input.shape())?;
        let (out_channels, in_channels, kh, kw) = self.weight.dim();
        let d = self.dilation;
        let mut out = Array3::zeros((out_channels, out_h, out_w));
        out.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(o, mut plane)| {
            plane.fill(self.bias[o]);
            for c in 0..in_channels {
                for a in 0..kh {
                    for b in 0..kw {
                        let w = self.weight[[o, c, a, b]];
                        // Constructed networks are mostly zeros: skipping them is exact and fast.
                        if w == 0.0 {
                            continue;
                        }
                        for y in 0..out_h {
                            let src = input.slice(s![c, y + a * d, b * d..b * d + out_w]);
                            Zip::from(plane.row_mut(y)).and(src).for_each(|o, &x| *o += w * x);
                        }
                    }
                }
            }
        });
        Ok(out)
    }

    /// Gradients of the weights, the bias and the input, given the input and `∂loss/∂output`.
    ///
    /// `∂W[o,c,a,b] = Σ_{y,x} g[o,y,x]·in[c,y+ad,x+bd]`, `∂bias[o] = Σ g[o]`,
    /// `∂in[c,y+ad,x+bd] += W[o,c,a,b]·g[o,y,x]`.
    pub fn backward(&self, input: ArrayView3<f32>, grad_output: ArrayView3<f32>) -> Result<ConvGradients, NnError> {
        let (out_h, out_w) = self.output_checked(0, input.shape())?;
        let (out_channels, in_channels, kh, kw) = self.weight.dim();
        if grad_output.dim() != (out_channels, out_h, out_w) {
            return Err(NnError::GradientShape { got: grad_output.len(), expected: out_channels * out_h * out_w });
        }
        let d = self.dilation;
        let mut grad_weight = Array4::zeros(self.weight.raw_dim());
        let mut grad_input = Array3::zeros(input.raw_dim());
        let grad_bias = grad_output.sum_axis(Axis(2)).sum_axis(Axis(1));
        for o in 0..out_channels {
            let g = grad_output.index_axis(Axis(0), o);
            for c in 0..in_channels {
                for a in 0..kh {
                    for b in 0..kw {
                        let window = input.slice(s![c, a * d..a * d + out_h, b * d..b * d + out_w]);
                        grad_weight[[o, c, a, b]] = (&g * &window).sum();
                        let w = self.weight[[o, c, a, b]];
                        let mut target = grad_input.slice_mut(s![c, a * d..a * d + out_h, b * d..b * d + out_w]);
                        target.scaled_add(w, &g);
                    }
                }
            }
        }
        Ok((grad_weight, grad_bias, grad_input))
    }
}

impl Linear {
    /// A validated fully connected layer (bias length = output count, no empty axis).
    pub fn new(weight: Array2<f32>, bias: Array1<f32>) -> Result<Self, NnError> {
        let linear = Self { weight, bias };
        linear.check(0)?;
        Ok(linear)
    }

    fn check(&self, layer: usize) -> Result<(), NnError> {
        let (outputs, inputs) = self.weight.dim();
        if outputs == 0 || inputs == 0 || self.bias.len() != outputs {
            return Err(NnError::BadLayer {
                layer,
                kind: "linear",
                message: format!("weight {:?} with {} biases", self.weight.shape(), self.bias.len()),
            });
        }
        Ok(())
    }

    fn input_checked<'a>(&self, layer: usize, input: &'a ArrayViewD<'a, f32>) -> Result<ArrayView1<'a, f32>, NnError> {
        self.check(layer)?;
        let inputs = self.weight.ncols();
        match input.view().into_dimensionality::<ndarray::Ix1>() {
            Ok(vector) if vector.len() == inputs => Ok(vector),
            _ => Err(NnError::InputShape {
                layer,
                kind: "linear",
                expected: format!("a vector of {inputs} (flatten first)"),
                got: input.shape().to_vec(),
            }),
        }
    }

    /// `weight · input + bias`.
    pub fn forward(&self, input: ArrayView1<f32>) -> Result<Array1<f32>, NnError> {
        let input = input.into_dyn();
        let vector = self.input_checked(0, &input)?;
        Ok(self.weight.dot(&vector) + &self.bias)
    }

    /// Gradients `(∂W = g ⊗ in, ∂bias = g, ∂in = Wᵀ g)` given the input and `g = ∂loss/∂output`.
    pub fn backward(&self, input: ArrayView1<f32>, grad_output: ArrayView1<f32>) -> Result<LinearGradients, NnError> {
        let input_dyn = input.into_dyn();
        let input = self.input_checked(0, &input_dyn)?;
        if grad_output.len() != self.weight.nrows() {
            return Err(NnError::GradientShape { got: grad_output.len(), expected: self.weight.nrows() });
        }
        let column = grad_output.insert_axis(Axis(1));
        let row = input.insert_axis(Axis(0));
        let grad_weight = column.dot(&row);
        let grad_input = self.weight.t().dot(&grad_output);
        Ok((grad_weight, grad_output.to_owned(), grad_input))
    }
}

impl Layer {
    /// A short name of the layer kind ("pad", "conv2d", "relu", "flatten", "linear").
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Pad { .. } => "pad",
            Layer::Conv2d(_) => "conv2d",
            Layer::Relu => "relu",
            Layer::Flatten => "flatten",
            Layer::Linear(_) => "linear",
        }
    }

    /// Number of trainable parameters (weights + biases).
    pub fn parameter_count(&self) -> usize {
        match self {
            Layer::Conv2d(conv) => conv.weight.len() + conv.bias.len(),
            Layer::Linear(linear) => linear.weight.len() + linear.bias.len(),
            Layer::Pad { .. } | Layer::Relu | Layer::Flatten => 0,
        }
    }

    /// This layer applied to `input`; `layer` is its index, for error messages.
    fn forward(&self, layer: usize, input: ArrayViewD<f32>) -> Result<ArrayD<f32>, NnError> {
        match self {
            Layer::Pad { bottom, right } => {
                let input = as_3d(layer, "pad", input)?;
                let (c, h, w) = input.dim();
                let mut out = Array3::zeros((c, h + bottom, w + right));
                out.slice_mut(s![.., ..h, ..w]).assign(&input);
                Ok(out.into_dyn())
            }
            Layer::Conv2d(conv) => Ok(conv.forward_at(layer, as_3d(layer, "conv2d", input)?)?.into_dyn()),
            Layer::Relu => Ok(input.mapv(|v| v.max(0.0))),
            Layer::Flatten => {
                let flat: Vec<f32> = input.iter().copied().collect();
                Ok(Array1::from(flat).into_dyn())
            }
            Layer::Linear(linear) => {
                let vector = linear.input_checked(layer, &input)?;
                Ok((linear.weight.dot(&vector) + &linear.bias).into_dyn())
            }
        }
    }

    /// `(∂loss/∂input, parameter gradients)` given the layer's input, output and `∂loss/∂output`.
    fn backward(
        &self,
        layer: usize,
        input: ArrayViewD<f32>,
        output: ArrayViewD<f32>,
        grad_output: ArrayD<f32>,
    ) -> Result<(ArrayD<f32>, Option<ParamGradient>), NnError> {
        let (got, expected) = (grad_output.len(), output.len());
        let mismatch = || NnError::GradientShape { got, expected };
        if grad_output.shape() != output.shape() {
            return Err(mismatch());
        }
        match self {
            Layer::Pad { .. } => {
                let (h, w) = (input.shape()[1], input.shape()[2]);
                Ok((grad_output.slice(s![.., ..h, ..w]).to_owned().into_dyn(), None))
            }
            Layer::Conv2d(conv) => {
                let input = as_3d(layer, "conv2d", input)?;
                let grad = grad_output.into_dimensionality::<ndarray::Ix3>().map_err(|_| mismatch())?;
                let (weight, bias, grad_input) = conv.backward(input, grad.view())?;
                Ok((grad_input.into_dyn(), Some(ParamGradient { weight: weight.into_dyn(), bias })))
            }
            Layer::Relu => {
                // ReLU passes the gradient where its output is positive (subgradient 0 at 0).
                let mut grad = grad_output;
                Zip::from(&mut grad).and(&output).for_each(|g, &y| {
                    if y <= 0.0 {
                        *g = 0.0;
                    }
                });
                Ok((grad, None))
            }
            Layer::Flatten => {
                let grad = grad_output.into_shape_with_order(IxDyn(input.shape())).map_err(|_| mismatch())?;
                Ok((grad, None))
            }
            Layer::Linear(linear) => {
                let vector = linear.input_checked(layer, &input)?;
                let grad = grad_output.into_dimensionality::<ndarray::Ix1>().map_err(|_| mismatch())?;
                let (weight, bias, grad_input) = linear.backward(vector, grad.view())?;
                Ok((grad_input.into_dyn(), Some(ParamGradient { weight: weight.into_dyn(), bias })))
            }
        }
    }
}

fn as_3d<'a>(layer: usize, kind: &'static str, input: ArrayViewD<'a, f32>) -> Result<ArrayView3<'a, f32>, NnError> {
    let got = input.shape().to_vec();
    input.into_dimensionality::<ndarray::Ix3>().map_err(|_| NnError::InputShape {
        layer,
        kind,
        expected: "a [C, H, W] feature map".to_owned(),
        got,
    })
}

impl Network {
    /// Every layer's output, in order (`result[i]` is the output of `layers[i]`).
    ///
    /// # Shapes
    /// input `[C, H, W]`; each output as its layer documents. Shape mismatches are typed errors.
    pub fn forward_all(&self, input: ArrayView3<f32>) -> Result<Vec<ArrayD<f32>>, NnError> {
        if self.layers.is_empty() {
            return Err(NnError::NoLayers);
        }
        let mut outputs: Vec<ArrayD<f32>> = Vec::with_capacity(self.layers.len());
        for (index, layer) in self.layers.iter().enumerate() {
            let previous = outputs.last().map_or_else(|| input.into_dyn(), |o| o.view());
            let output = layer.forward(index, previous)?;
            outputs.push(output);
        }
        Ok(outputs)
    }

    /// The final output, which must be a vector (the logits).
    ///
    /// # Shapes
    /// input `[C, H, W]` → `[L]`.
    pub fn forward(&self, input: ArrayView3<f32>) -> Result<Array1<f32>, NnError> {
        let mut outputs = self.forward_all(input)?;
        let last = outputs.pop().ok_or(NnError::NoLayers)?;
        let shape = last.shape().to_vec();
        last.into_dimensionality::<ndarray::Ix1>().map_err(|_| NnError::NotLogits(shape))
    }

    /// Back-propagates `∂loss/∂logits` through the layers, given the input and [`Self::forward_all`]'s outputs.
    pub fn backward(
        &self,
        input: ArrayView3<f32>,
        outputs: &[ArrayD<f32>],
        grad_logits: ArrayView1<f32>,
    ) -> Result<Backward, NnError> {
        if outputs.len() != self.layers.len() || outputs.is_empty() {
            return Err(NnError::ActivationCount { got: outputs.len(), layers: self.layers.len() });
        }
        let mut params = vec![None; self.layers.len()];
        let mut grad = grad_logits.to_owned().into_dyn();
        for index in (0..self.layers.len()).rev() {
            let layer_input = if index == 0 { input.into_dyn() } else { outputs[index - 1].view() };
            let (grad_input, param) = self.layers[index].backward(index, layer_input, outputs[index].view(), grad)?;
            params[index] = param;
            grad = grad_input;
        }
        let shape = grad.shape().to_vec();
        let input_grad = grad.into_dimensionality::<ndarray::Ix3>().map_err(|_| NnError::NotLogits(shape))?;
        Ok(Backward { input: input_grad, params })
    }

    /// Total number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.layers.iter().map(Layer::parameter_count).sum()
    }
}

/// Softmax of the logits, computed stably (the maximum is subtracted first).
pub fn softmax(logits: ArrayView1<f32>) -> Array1<f32> {
    let max = logits.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let exp = logits.mapv(|v| (v - max).exp());
    let total = exp.sum();
    exp / total
}

/// Softmax cross-entropy `−log softmax(z)[label]` and its gradient `softmax(z) − onehot(label)`.
pub fn cross_entropy(logits: ArrayView1<f32>, label: usize) -> Result<(f32, Array1<f32>), NnError> {
    if label >= logits.len() {
        return Err(NnError::BadLabel { label, classes: logits.len() });
    }
    let mut grad = softmax(logits);
    // −log p computed from the log-sum-exp, so a tiny probability does not become −log 0 = ∞.
    let max = logits.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let log_sum = logits.iter().map(|&v| (v - max).exp()).sum::<f32>().ln() + max;
    let loss = log_sum - logits[label];
    grad[label] -= 1.0;
    Ok((loss, grad))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, array};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(shape: &[usize], rng: &mut ChaCha8Rng) -> ArrayD<f32> {
        Array::from_shape_fn(IxDyn(shape), |_| rng.random_range(-1.0..1.0))
    }

    fn small_network(rng: &mut ChaCha8Rng) -> Network {
        let conv = Conv2d::new(
            random(&[3, 2, 2, 3], rng).into_dimensionality().unwrap(),
            random(&[3], rng).into_dimensionality().unwrap(),
            2,
        )
        .unwrap();
        // input [2,5,6] → pad [2,6,7] → conv (reach 2×4) [3,4,3] → flatten 36 → linear 4.
        let linear = Linear::new(
            random(&[4, 36], rng).into_dimensionality().unwrap(),
            random(&[4], rng).into_dimensionality().unwrap(),
        )
        .unwrap();
        Network {
            layers: vec![
                Layer::Pad { bottom: 1, right: 1 },
                Layer::Conv2d(conv),
                Layer::Relu,
                Layer::Flatten,
                Layer::Linear(linear),
            ],
        }
    }

    /// The convolution formula written out with plain indices.
    fn conv_by_formula(conv: &Conv2d, input: &Array3<f32>) -> Array3<f32> {
        let (o_n, c_n, kh, kw) = conv.weight.dim();
        let (_, h, w) = input.dim();
        let d = conv.dilation;
        let (oh, ow) = (h - d * (kh - 1), w - d * (kw - 1));
        Array3::from_shape_fn((o_n, oh, ow), |(o, y, x)| {
            let mut sum = conv.bias[o];
            for c in 0..c_n {
                for a in 0..kh {
                    for b in 0..kw {
                        sum += conv.weight[[o, c, a, b]] * input[[c, y + a * d, x + b * d]];
                    }
                }
            }
            sum
        })
    }

    #[test]
    fn conv_matches_the_formula() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for dilation in 1..=3 {
            let conv = Conv2d::new(
                random(&[4, 3, 3, 2], &mut rng).into_dimensionality().unwrap(),
                random(&[4], &mut rng).into_dimensionality().unwrap(),
                dilation,
            )
            .unwrap();
            let input: Array3<f32> = random(&[3, 9, 8], &mut rng).into_dimensionality().unwrap();
            let got = conv.forward(input.view()).unwrap();
            let want = conv_by_formula(&conv, &input);
            assert_eq!(got.dim(), want.dim());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-5, "{g} vs {w}");
            }
        }
    }

    #[test]
    fn flatten_is_row_major_and_pad_adds_zeros() {
        let net = Network { layers: vec![Layer::Pad { bottom: 1, right: 0 }, Layer::Flatten] };
        let input = array![[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]];
        let out = net.forward(input.view()).unwrap();
        assert_eq!(out.to_vec(), vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 5.0, 6.0, 7.0, 8.0, 0.0, 0.0]);
    }

    #[test]
    fn shape_errors_are_typed() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let net = small_network(&mut rng);
        let wrong_channels = Array3::zeros((1, 5, 6));
        assert!(matches!(net.forward(wrong_channels.view()), Err(NnError::InputShape { layer: 1, .. })));
        let too_small = Array3::zeros((2, 1, 1));
        assert!(matches!(net.forward(too_small.view()), Err(NnError::InputShape { layer: 1, .. })));
        let wrong_size = Array3::zeros((2, 6, 6));
        assert!(matches!(net.forward(wrong_size.view()), Err(NnError::InputShape { layer: 4, .. })));
        let unflattened =
            Network { layers: vec![Layer::Linear(Linear::new(Array2::zeros((2, 4)), Array1::zeros(2)).unwrap())] };
        assert!(matches!(unflattened.forward(Array3::zeros((1, 2, 2)).view()), Err(NnError::InputShape { .. })));
        assert_eq!(Network::default().forward(wrong_size.view()), Err(NnError::NoLayers));
        assert!(Conv2d::new(Array4::zeros((2, 1, 2, 2)), Array1::zeros(3), 1).is_err());
        assert!(Conv2d::new(Array4::zeros((2, 1, 2, 2)), Array1::zeros(2), 0).is_err());
        assert!(Linear::new(Array2::zeros((2, 3)), Array1::zeros(1)).is_err());
        let relu_only = Network { layers: vec![Layer::Relu] };
        assert!(matches!(relu_only.forward(wrong_size.view()), Err(NnError::NotLogits(_))));
    }

    #[test]
    fn cross_entropy_matches_the_definition() {
        let logits = array![1.0f32, -2.0, 0.5];
        let (loss, grad) = cross_entropy(logits.view(), 2).unwrap();
        let total: f32 = logits.iter().map(|v| v.exp()).sum();
        assert!((loss - (total.ln() - 0.5)).abs() < 1e-6);
        for (i, g) in grad.iter().enumerate() {
            let p = logits[i].exp() / total;
            let want = if i == 2 { p - 1.0 } else { p };
            assert!((g - want).abs() < 1e-6);
        }
        let (huge, _) = cross_entropy(array![1000.0f32, -1000.0].view(), 1).unwrap();
        assert!((huge - 2000.0).abs() < 1e-2, "stable for large logits: {huge}");
        assert!(matches!(cross_entropy(logits.view(), 3), Err(NnError::BadLabel { .. })));
    }

    /// Loss of the whole network for the finite-difference check.
    fn loss_of(net: &Network, input: &Array3<f32>, label: usize) -> f64 {
        let logits = net.forward(input.view()).unwrap();
        f64::from(cross_entropy(logits.view(), label).unwrap().0)
    }

    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = small_network(&mut rng);
        let input: Array3<f32> = random(&[2, 5, 6], &mut rng).into_dimensionality().unwrap();
        let label = 1;
        let outputs = net.forward_all(input.view()).unwrap();
        let logits = outputs.last().unwrap().view().into_dimensionality::<ndarray::Ix1>().unwrap();
        let (_, grad_logits) = cross_entropy(logits, label).unwrap();
        let backward = net.backward(input.view(), &outputs, grad_logits.view()).unwrap();
        let h = 1e-2f32;
        let close = |analytic: f32, numeric: f64| (f64::from(analytic) - numeric).abs() < 2e-3 * (1.0 + numeric.abs());
        // Parameters of the conv (layer 1) and linear (layer 4) layers.
        for layer in [1, 4] {
            let grad = backward.params[layer].as_ref().unwrap();
            for index in 0..grad.weight.len() {
                let mut plus = net.clone();
                let mut minus = net.clone();
                nudge_weight(&mut plus.layers[layer], index, h);
                nudge_weight(&mut minus.layers[layer], index, -h);
                let numeric = (loss_of(&plus, &input, label) - loss_of(&minus, &input, label)) / f64::from(2.0 * h);
                let analytic = grad.weight.iter().nth(index).copied().unwrap();
                assert!(close(analytic, numeric), "layer {layer} weight {index}: {analytic} vs {numeric}");
            }
            assert!(backward.params[0].is_none() && backward.params[2].is_none());
        }
        for index in 0..input.len() {
            let mut plus = input.clone();
            let mut minus = input.clone();
            *plus.iter_mut().nth(index).unwrap() += h;
            *minus.iter_mut().nth(index).unwrap() -= h;
            let numeric = (loss_of(&net, &plus, label) - loss_of(&net, &minus, label)) / f64::from(2.0 * h);
            let analytic = backward.input.iter().nth(index).copied().unwrap();
            assert!(close(analytic, numeric), "input {index}: {analytic} vs {numeric}");
        }
    }

    fn nudge_weight(layer: &mut Layer, index: usize, delta: f32) {
        match layer {
            Layer::Conv2d(conv) => *conv.weight.iter_mut().nth(index).unwrap() += delta,
            Layer::Linear(linear) => *linear.weight.iter_mut().nth(index).unwrap() += delta,
            _ => panic!("layer has no weights"),
        }
    }
}
