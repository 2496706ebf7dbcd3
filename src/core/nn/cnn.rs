//! The trainable network of the paper: conv (k×k, F filters, stride 1, no padding) → ReLU →
//! flatten → fully connected → L logits, with softmax cross-entropy.
//!
//! This file holds the architecture, PyTorch's default initialisation, the forward pass with every
//! activation (for the app), and the readable backward pass built from the generic dense layers;
//! `nn::kernels` holds the fast fused version that training uses, tested against this one.

// ndarray views are cheap handles, passed by value as ndarray's own API does.
#![allow(clippy::needless_pass_by_value)]

use ndarray::{Array1, Array2, Array3, Array4, ArrayView2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::dense::{Conv2d, Layer, Linear, Network, NnError, cross_entropy, softmax};

/// Largest image side the trainable network accepts (keeps weight files and memory bounded).
pub const MAX_IMAGE_SIDE: usize = 512;
/// Largest number of convolution filters.
pub const MAX_FILTERS: usize = 256;
/// Largest number of classes.
pub const MAX_CLASSES: usize = 1024;
/// Largest number of fully connected weights (`classes × features`), 64 Mi floats = 256 MiB.
pub const MAX_FC_WEIGHTS: usize = 1 << 26;

/// The architecture: image size, square kernel side, filter count and class count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CnnSpec {
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub filters: usize,
    pub classes: usize,
}

impl CnnSpec {
    /// The paper's Fashion-MNIST network (Section 6.2): 40×40 → conv 5×5×12 → FC → 10.
    pub fn fashion() -> Self {
        Self { height: 40, width: 40, kernel: 5, filters: 12, classes: 10 }
    }

    /// The paper's toy network (Section 6.1): 4×4 → conv 2×2 × `filters` → FC → 2.
    pub fn toy(filters: usize) -> Self {
        Self { height: 4, width: 4, kernel: 2, filters, classes: 2 }
    }

    /// Checks every size against its limits, with a readable reason.
    pub fn validate(&self) -> Result<(), NnError> {
        let bad = |message: String| Err(NnError::BadSpec(message));
        if self.height == 0 || self.width == 0 || self.height > MAX_IMAGE_SIDE || self.width > MAX_IMAGE_SIDE {
            return bad(format!("image {}×{} (1 to {MAX_IMAGE_SIDE} per side)", self.height, self.width));
        }
        if self.kernel == 0 || self.kernel > self.height || self.kernel > self.width {
            return bad(format!("a {0}×{0} kernel on a {1}×{2} image", self.kernel, self.height, self.width));
        }
        if self.filters == 0 || self.filters > MAX_FILTERS {
            return bad(format!("{} filters (1 to {MAX_FILTERS})", self.filters));
        }
        if self.classes < 2 || self.classes > MAX_CLASSES {
            return bad(format!("{} classes (2 to {MAX_CLASSES})", self.classes));
        }
        if self.fc_weight_count() > MAX_FC_WEIGHTS {
            return bad(format!("{} fully connected weights (at most {MAX_FC_WEIGHTS})", self.fc_weight_count()));
        }
        Ok(())
    }

    /// Height of each feature map, `H − k + 1`.
    pub fn map_height(&self) -> usize {
        self.height + 1 - self.kernel
    }

    /// Width of each feature map, `W − k + 1`.
    pub fn map_width(&self) -> usize {
        self.width + 1 - self.kernel
    }

    /// Length of the flattened feature vector, `F · H' · W'`.
    pub fn features(&self) -> usize {
        self.filters * self.map_height() * self.map_width()
    }

    fn fc_weight_count(&self) -> usize {
        self.classes.saturating_mul(self.features())
    }

    /// Total number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.filters * (self.kernel * self.kernel + 1) + self.classes * (self.features() + 1)
    }

    /// Floating-point operations of one training sample (forward, backward, gradient accumulation).
    ///
    /// Conv forward and conv weight gradient each `2·F·H'·W'·k²`; FC forward, weight gradient and
    /// input gradient each `2·L·features`. The first layer needs no input gradient.
    pub fn training_flops_per_sample(&self) -> f64 {
        let conv = (self.features() * self.kernel * self.kernel) as f64;
        let fc = (self.classes * self.features()) as f64;
        2.0 * (2.0 * conv + 3.0 * fc)
    }
}

/// One row of the layer description shown by the app and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerDescription {
    pub name: String,
    /// Output shape, e.g. `[12, 36, 36]`.
    pub output: Vec<usize>,
    /// Trainable weights + biases.
    pub parameters: usize,
}

/// Every activation of one forward pass (for drawing).
#[derive(Debug, Clone, PartialEq)]
pub struct CnnActivations {
    /// Convolution output before ReLU, `[F, H', W']`.
    pub pre_relu: Array3<f32>,
    /// Feature maps after ReLU, `[F, H', W']`.
    pub post_relu: Array3<f32>,
    /// The logits, `[L]`.
    pub logits: Array1<f32>,
    /// `softmax(logits)`, `[L]`.
    pub probabilities: Array1<f32>,
}

/// Gradients of the loss with respect to every parameter (same shapes as the parameters).
#[derive(Debug, Clone, PartialEq)]
pub struct CnnGradient {
    pub conv_weight: Array4<f32>,
    pub conv_bias: Array1<f32>,
    pub fc_weight: Array2<f32>,
    pub fc_bias: Array1<f32>,
}

/// Accuracy and mean cross-entropy loss on a set of images.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evaluation {
    pub accuracy: f32,
    pub loss: f32,
    pub samples: usize,
}

/// The trainable CNN with its weights.
///
/// # Shapes
/// conv weight `[F, 1, k, k]`, conv bias `[F]`, FC weight `[L, F·H'·W']` (features flattened
/// `F, H', W'` row-major as PyTorch does), FC bias `[L]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cnn {
    spec: CnnSpec,
    conv: Conv2d,
    fc: Linear,
}

impl Cnn {
    /// A network with PyTorch's default initialisation, seeded.
    ///
    /// `kaiming_uniform_(a = √5)` gives weights `U(−1/√fan_in, 1/√fan_in)`, and biases use the same
    /// bound; `fan_in` is `k²` for the convolution and the feature count for the FC layer.
    pub fn new(spec: CnnSpec, seed: u64) -> Result<Self, NnError> {
        spec.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = spec.kernel;
        let conv_bound = 1.0 / ((k * k) as f32).sqrt();
        let fc_bound = 1.0 / (spec.features() as f32).sqrt();
        let mut uniform = |bound: f32| rng.random_range(-bound..bound);
        let conv_weight = Array4::from_shape_simple_fn((spec.filters, 1, k, k), || uniform(conv_bound));
        let conv_bias = Array1::from_shape_simple_fn(spec.filters, || uniform(conv_bound));
        let fc_weight = Array2::from_shape_simple_fn((spec.classes, spec.features()), || uniform(fc_bound));
        let fc_bias = Array1::from_shape_simple_fn(spec.classes, || uniform(fc_bound));
        Self::from_parameters(spec, conv_weight, conv_bias, fc_weight, fc_bias)
    }

    /// A network from given parameters, checking their shapes against `spec` and that they are finite.
    pub fn from_parameters(
        spec: CnnSpec,
        conv_weight: Array4<f32>,
        conv_bias: Array1<f32>,
        fc_weight: Array2<f32>,
        fc_bias: Array1<f32>,
    ) -> Result<Self, NnError> {
        spec.validate()?;
        let k = spec.kernel;
        let shapes = [
            ("conv weight", conv_weight.shape().to_vec(), vec![spec.filters, 1, k, k]),
            ("conv bias", conv_bias.shape().to_vec(), vec![spec.filters]),
            ("fc weight", fc_weight.shape().to_vec(), vec![spec.classes, spec.features()]),
            ("fc bias", fc_bias.shape().to_vec(), vec![spec.classes]),
        ];
        for (name, got, want) in shapes {
            if got != want {
                return Err(NnError::BadSpec(format!("{name} has shape {got:?}, expected {want:?}")));
            }
        }
        let finite = conv_weight.iter().chain(&conv_bias).chain(&fc_weight).chain(&fc_bias).all(|v| v.is_finite());
        if !finite {
            return Err(NnError::BadSpec("a parameter is not a finite number".to_owned()));
        }
        let conv = Conv2d::new(conv_weight.as_standard_layout().into_owned(), conv_bias, 1)?;
        let fc = Linear::new(fc_weight.as_standard_layout().into_owned(), fc_bias)?;
        Ok(Self { spec, conv, fc })
    }

    /// A network from parameters whose shapes match `spec` by construction (the trainer's copies).
    pub(crate) fn from_trusted_parameters(
        spec: CnnSpec,
        conv_weight: Array4<f32>,
        conv_bias: Array1<f32>,
        fc_weight: Array2<f32>,
        fc_bias: Array1<f32>,
    ) -> Self {
        Self {
            spec,
            conv: Conv2d { weight: conv_weight, bias: conv_bias, dilation: 1 },
            fc: Linear { weight: fc_weight, bias: fc_bias },
        }
    }

    /// The architecture.
    pub fn spec(&self) -> CnnSpec {
        self.spec
    }

    /// The convolution layer (weight `[F,1,k,k]`).
    pub fn conv(&self) -> &Conv2d {
        &self.conv
    }

    /// The fully connected layer (weight `[L, F·H'·W']`).
    pub fn fc(&self) -> &Linear {
        &self.fc
    }

    /// The same network as a generic [`Network`]: conv → ReLU → flatten → linear.
    pub fn to_network(&self) -> Network {
        Network {
            layers: vec![Layer::Conv2d(self.conv.clone()), Layer::Relu, Layer::Flatten, Layer::Linear(self.fc.clone())],
        }
    }

    /// Per-layer description: names, output shapes and parameter counts.
    pub fn describe(&self) -> Vec<LayerDescription> {
        let s = self.spec;
        let k = s.kernel;
        let maps = vec![s.filters, s.map_height(), s.map_width()];
        vec![
            LayerDescription { name: "input".to_owned(), output: vec![1, s.height, s.width], parameters: 0 },
            LayerDescription {
                name: format!("conv {k}×{k}, {} filters", s.filters),
                output: maps.clone(),
                parameters: s.filters * (k * k + 1),
            },
            LayerDescription { name: "ReLU".to_owned(), output: maps, parameters: 0 },
            LayerDescription { name: "flatten".to_owned(), output: vec![s.features()], parameters: 0 },
            LayerDescription {
                name: format!("fully connected → {}", s.classes),
                output: vec![s.classes],
                parameters: s.classes * (s.features() + 1),
            },
        ]
    }

    fn check_image(&self, image: ArrayView2<f32>) -> Result<(), NnError> {
        if image.dim() != (self.spec.height, self.spec.width) {
            return Err(NnError::InputShape {
                layer: 0,
                kind: "conv2d",
                expected: format!("a {}×{} image", self.spec.height, self.spec.width),
                got: image.shape().to_vec(),
            });
        }
        Ok(())
    }

    /// The forward pass with every activation.
    pub fn forward(&self, image: ArrayView2<f32>) -> Result<CnnActivations, NnError> {
        self.check_image(image)?;
        let pre_relu = self.conv.forward(image.insert_axis(Axis(0)))?;
        let post_relu = pre_relu.mapv(|v| v.max(0.0));
        let flat = post_relu
            .view()
            .into_shape_with_order(self.spec.features())
            .map_err(|e| NnError::BadSpec(e.to_string()))?;
        let logits = self.fc.forward(flat)?;
        let probabilities = softmax(logits.view());
        Ok(CnnActivations { pre_relu, post_relu, logits, probabilities })
    }

    /// The logits alone.
    pub fn logits(&self, image: ArrayView2<f32>) -> Result<Array1<f32>, NnError> {
        Ok(self.forward(image)?.logits)
    }

    /// The predicted class, `argmax` of the logits.
    pub fn predict(&self, image: ArrayView2<f32>) -> Result<usize, NnError> {
        Ok(argmax(self.logits(image)?.as_slice().unwrap_or(&[])))
    }

    /// Cross-entropy loss of one labelled image and its gradient, by the readable layer-wise backward pass.
    pub fn loss_and_gradient(&self, image: ArrayView2<f32>, label: usize) -> Result<(f32, CnnGradient), NnError> {
        let act = self.forward(image)?;
        let (loss, grad_logits) = cross_entropy(act.logits.view(), label)?;
        let flat = act
            .post_relu
            .view()
            .into_shape_with_order(self.spec.features())
            .map_err(|e| NnError::BadSpec(e.to_string()))?;
        let (fc_weight, fc_bias, grad_flat) = self.fc.backward(flat, grad_logits.view())?;
        let mut grad_maps =
            grad_flat.into_shape_with_order(act.pre_relu.raw_dim()).map_err(|e| NnError::BadSpec(e.to_string()))?;
        // ReLU: the gradient passes only where the convolution output was positive.
        ndarray::Zip::from(&mut grad_maps).and(&act.pre_relu).for_each(|g, &pre| {
            if pre <= 0.0 {
                *g = 0.0;
            }
        });
        let (conv_weight, conv_bias, _) = self.conv.backward(image.insert_axis(Axis(0)), grad_maps.view())?;
        Ok((loss, CnnGradient { conv_weight, conv_bias, fc_weight, fc_bias }))
    }

    /// Accuracy and mean loss on `images` with `labels`, in parallel over the images.
    pub fn evaluate(&self, images: &[Array2<f32>], labels: &[usize]) -> Result<Evaluation, NnError> {
        if images.len() != labels.len() {
            return Err(NnError::BadSpec(format!("{} images but {} labels", images.len(), labels.len())));
        }
        let per_sample: Vec<(f32, bool)> = images
            .par_iter()
            .zip(labels)
            .map(|(image, &label)| {
                let logits = self.logits(image.view())?;
                let (loss, _) = cross_entropy(logits.view(), label)?;
                Ok((loss, argmax(logits.as_slice().unwrap_or(&[])) == label))
            })
            .collect::<Result<_, NnError>>()?;
        Ok(summarise(&per_sample))
    }

    /// Mutable parameter arrays `(conv weight, conv bias, fc weight, fc bias)`, for gradient checks.
    #[cfg(test)]
    pub(crate) fn parameters_mut(
        &mut self,
    ) -> (&mut Array4<f32>, &mut Array1<f32>, &mut Array2<f32>, &mut Array1<f32>) {
        (&mut self.conv.weight, &mut self.conv.bias, &mut self.fc.weight, &mut self.fc.bias)
    }

    /// True when every parameter is finite.
    pub fn is_finite(&self) -> bool {
        self.conv
            .weight
            .iter()
            .chain(&self.conv.bias)
            .chain(&self.fc.weight)
            .chain(&self.fc.bias)
            .all(|v| v.is_finite())
    }
}

/// Accuracy and mean loss from per-sample `(loss, correct)` pairs.
pub(crate) fn summarise(per_sample: &[(f32, bool)]) -> Evaluation {
    let samples = per_sample.len();
    if samples == 0 {
        return Evaluation { accuracy: 0.0, loss: 0.0, samples };
    }
    let correct = per_sample.iter().filter(|(_, c)| *c).count();
    let loss: f64 = per_sample.iter().map(|(l, _)| f64::from(*l)).sum();
    Evaluation { accuracy: correct as f32 / samples as f32, loss: (loss / samples as f64) as f32, samples }
}

/// Index of the largest value (the first one on ties; 0 for an empty slice).
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    fn random_image(spec: CnnSpec, seed: u64) -> Array2<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        Array2::from_shape_simple_fn((spec.height, spec.width), || rng.random_range(0.0..1.0))
    }

    #[test]
    fn init_follows_pytorch_bounds_and_is_seeded() {
        let spec = CnnSpec::fashion();
        let net = Cnn::new(spec, 7).unwrap();
        assert_eq!(net, Cnn::new(spec, 7).unwrap());
        assert_ne!(net, Cnn::new(spec, 8).unwrap());
        let conv_bound = 1.0 / 5.0;
        let fc_bound = 1.0 / (15_552f32).sqrt();
        assert!(net.conv().weight.iter().all(|w| w.abs() <= conv_bound));
        assert!(net.fc().weight.iter().all(|w| w.abs() <= fc_bound));
        // A uniform distribution over ±b has standard deviation b/√3.
        let std = (net.fc().weight.iter().map(|w| w * w).sum::<f32>() / net.fc().weight.len() as f32).sqrt();
        assert!((std - fc_bound / 3f32.sqrt()).abs() < 0.02 * fc_bound, "{std}");
        assert_eq!(spec.parameter_count(), 12 * 26 + 10 * 15_553);
        assert_eq!(net.to_network().parameter_count(), spec.parameter_count());
        assert!((spec.training_flops_per_sample() - 2.488_32e6).abs() < 1.0);
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let base = CnnSpec::fashion();
        let cases = [
            CnnSpec { filters: 0, ..base },
            CnnSpec { kernel: 41, ..base },
            CnnSpec { kernel: 0, ..base },
            CnnSpec { classes: 1, ..base },
            CnnSpec { height: 0, ..base },
            CnnSpec { width: MAX_IMAGE_SIDE + 1, ..base },
        ];
        for spec in cases {
            assert!(matches!(Cnn::new(spec, 0), Err(NnError::BadSpec(_))), "{spec:?}");
        }
        let net = Cnn::new(CnnSpec::toy(1), 0).unwrap();
        let wrong = Array2::zeros((5, 4));
        assert!(matches!(net.forward(wrong.view()), Err(NnError::InputShape { .. })));
        let mut bad_fc = net.fc().weight.clone();
        bad_fc[[0, 0]] = f32::NAN;
        let nan = Cnn::from_parameters(
            net.spec(),
            net.conv().weight.clone(),
            net.conv().bias.clone(),
            bad_fc,
            net.fc().bias.clone(),
        );
        assert!(nan.is_err());
    }

    #[test]
    fn forward_agrees_with_the_generic_network() {
        let spec = CnnSpec { height: 9, width: 7, kernel: 3, filters: 4, classes: 3 };
        let net = Cnn::new(spec, 1).unwrap();
        let image = random_image(spec, 2);
        let act = net.forward(image.view()).unwrap();
        let generic = net.to_network().forward(image.view().insert_axis(Axis(0))).unwrap();
        for (a, b) in act.logits.iter().zip(&generic) {
            assert!((a - b).abs() < 1e-5);
        }
        assert_eq!(act.pre_relu.dim(), (4, 7, 5));
        assert!((act.probabilities.sum() - 1.0).abs() < 1e-5);
        assert_eq!(net.describe()[4].parameters, 3 * (4 * 7 * 5 + 1));
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let spec = CnnSpec { height: 6, width: 5, kernel: 3, filters: 2, classes: 3 };
        let net = Cnn::new(spec, 3).unwrap();
        let image = random_image(spec, 4);
        let label = 2;
        let (_, grad) = net.loss_and_gradient(image.view(), label).unwrap();
        let loss = |n: &Cnn| f64::from(n.loss_and_gradient(image.view(), label).unwrap().0);
        let h = 1e-2;
        let check = |analytic: f32, plus: &Cnn, minus: &Cnn, what: &str| {
            let numeric = (loss(plus) - loss(minus)) / (2.0 * h);
            assert!(
                (f64::from(analytic) - numeric).abs() < 2e-3 * (1.0 + numeric.abs()),
                "{what}: {analytic} vs {numeric}"
            );
        };
        let n_params = [grad.conv_weight.len(), grad.conv_bias.len(), grad.fc_weight.len(), grad.fc_bias.len()];
        for (part, &count) in n_params.iter().enumerate() {
            for index in 0..count {
                let mut plus = net.clone();
                let mut minus = net.clone();
                nudge(&mut plus, part, index, h as f32);
                nudge(&mut minus, part, index, -h as f32);
                let analytic = match part {
                    0 => grad.conv_weight.iter().nth(index),
                    1 => grad.conv_bias.iter().nth(index),
                    2 => grad.fc_weight.iter().nth(index),
                    _ => grad.fc_bias.iter().nth(index),
                };
                check(*analytic.unwrap(), &plus, &minus, &format!("part {part} index {index}"));
            }
        }
    }

    fn nudge(net: &mut Cnn, part: usize, index: usize, delta: f32) {
        let (cw, cb, fw, fb) = net.parameters_mut();
        let value = match part {
            0 => cw.iter_mut().nth(index),
            1 => cb.iter_mut().nth(index),
            2 => fw.iter_mut().nth(index),
            _ => fb.iter_mut().nth(index),
        };
        *value.unwrap() += delta;
    }

    #[test]
    fn evaluate_counts_correct_predictions() {
        let spec = CnnSpec::toy(1);
        let net = Cnn::new(spec, 5).unwrap();
        let images: Vec<Array2<f32>> = (0..6).map(|s| random_image(spec, s)).collect();
        let predictions: Vec<usize> = images.iter().map(|x| net.predict(x.view()).unwrap()).collect();
        let flipped: Vec<usize> = predictions.iter().map(|p| 1 - p).collect();
        assert_eq!(net.evaluate(&images, &predictions).unwrap().accuracy, 1.0);
        assert_eq!(net.evaluate(&images, &flipped).unwrap().accuracy, 0.0);
        assert!(net.evaluate(&images, &predictions[..2]).is_err());
        assert_eq!(argmax(&[0.1, 0.5, 0.5, -1.0]), 1);
    }
}
