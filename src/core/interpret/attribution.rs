//! Attribution of a class logit to the input pixels: the gradient, gradient × input, integrated
//! gradients (Sundararajan et al. 2017) and occlusion (Zeiler & Fergus 2014). Occlusion needs
//! only the forward pass, so it runs on every model, ONNX included.

use std::str::FromStr;

use ndarray::{Array2, ArrayView2, s};

use super::{InterpretError, Model, check_count, check_range};

/// A forward pass as occlusion takes it: an image's class scores.
pub type LogitsFn<'a> = dyn Fn(ArrayView2<f32>) -> Result<Vec<f32>, InterpretError> + 'a;

/// Most integrated-gradients steps.
pub const MAX_IG_STEPS: usize = 10_000;

/// Integrated-gradients points evaluated together (in parallel).
const IG_POINTS_AT_ONCE: usize = 16;

/// The reference image of integrated gradients and the fill of occlusion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Baseline {
    /// Every pixel 0.
    Black,
    /// Every pixel this grey level: the mean of the backgrounds ("mean background").
    Grey(f32),
}

impl Baseline {
    fn level(self) -> f32 {
        match self {
            Baseline::Black => 0.0,
            Baseline::Grey(level) => level,
        }
    }

    fn validate(self) -> Result<(), InterpretError> {
        check_range("the baseline grey level", f64::from(self.level()), 0.0, 1.0)
    }
}

/// An attribution method with its options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// `∂z_c/∂x`.
    Gradient,
    /// `x ⊙ ∂z_c/∂x`.
    GradientTimesInput,
    /// `(x − b) ⊙ (1/m) Σ_{k=1..m} ∂z_c/∂x (b + k/m · (x − b))`.
    IntegratedGradients { steps: usize, baseline: Baseline },
    /// Per pixel, the mean drop of `z_c` when a `patch×patch` square covering it is filled with
    /// the baseline (squares every `max(patch/2, 1)` pixels).
    Occlusion { patch: usize, baseline: Baseline },
}

impl Method {
    /// The method's name on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            Method::Gradient => "gradient",
            Method::GradientTimesInput => "gradient-x-input",
            Method::IntegratedGradients { .. } => "integrated-gradients",
            Method::Occlusion { .. } => "occlusion",
        }
    }

    /// Checks the options for `input`-sized images: steps in `1..=MAX_IG_STEPS`, patch inside the image.
    pub fn validate(self, input: (usize, usize)) -> Result<(), InterpretError> {
        match self {
            Method::Gradient | Method::GradientTimesInput => Ok(()),
            Method::IntegratedGradients { steps, baseline } => {
                check_count("the number of integrated-gradients steps", steps, MAX_IG_STEPS)?;
                baseline.validate()
            }
            Method::Occlusion { patch, baseline } => {
                check_count("the occlusion patch size", patch, input.0.min(input.1))?;
                baseline.validate()
            }
        }
    }
}

impl FromStr for Method {
    type Err = InterpretError;

    /// A method by name with its default options (50 steps, 4-pixel patches, black baseline).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "gradient" => Ok(Method::Gradient),
            "gradient-x-input" => Ok(Method::GradientTimesInput),
            "integrated-gradients" => Ok(Method::IntegratedGradients { steps: 50, baseline: Baseline::Black }),
            "occlusion" => Ok(Method::Occlusion { patch: 4, baseline: Baseline::Black }),
            other => Err(InterpretError::UnknownMethod(other.to_owned())),
        }
    }
}

/// The attribution map (`H×W`) of the logit of `class` on `image`.
pub fn attribute(
    model: &Model,
    image: ArrayView2<f32>,
    class: usize,
    method: Method,
) -> Result<Array2<f32>, InterpretError> {
    model.check_input(image)?;
    method.validate(model.input())?;
    match method {
        Method::Gradient => Ok(model.class_gradient(class)?.at(image)?.1),
        Method::GradientTimesInput => Ok(model.class_gradient(class)?.at(image)?.1 * image),
        Method::IntegratedGradients { steps, baseline } => integrated_gradients(model, image, class, steps, baseline),
        Method::Occlusion { patch, baseline } => {
            occlusion_with(&|occluded| model.logits(occluded), image, class, patch, baseline)
        }
    }
}

/// Occlusion (see [`Method::Occlusion`]) with any forward pass `logits`: it needs no backward
/// pass, so it also runs on networks a [`Model`] does not hold (the app's deep trained networks).
pub fn occlusion_with(
    logits: &LogitsFn<'_>,
    image: ArrayView2<f32>,
    class: usize,
    patch: usize,
    baseline: Baseline,
) -> Result<Array2<f32>, InterpretError> {
    Method::Occlusion { patch, baseline }.validate(image.dim())?;
    occlusion(logits, image, class, patch, baseline.level())
}

fn integrated_gradients(
    model: &Model,
    image: ArrayView2<f32>,
    class: usize,
    steps: usize,
    baseline: Baseline,
) -> Result<Array2<f32>, InterpretError> {
    let gradient = model.class_gradient(class)?;
    let difference = image.mapv(|x| x - baseline.level());
    // Points run in parallel, a few at a time (10^4 steps of a large image would not fit in
    // memory at once); their gradients are summed in order, as one after the other.
    let mut sum = Array2::zeros(image.dim());
    let ks: Vec<usize> = (1..=steps).collect();
    for chunk in ks.chunks(IG_POINTS_AT_ONCE) {
        #[allow(clippy::cast_precision_loss)]
        let points: Vec<Array2<f32>> =
            chunk.iter().map(|&k| difference.mapv(|d| baseline.level() + k as f32 / steps as f32 * d)).collect();
        for (_, point_gradient) in gradient.at_each(&points)? {
            sum += &point_gradient;
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let mean = sum / steps as f32;
    Ok(mean * difference)
}

fn occlusion(
    logits_of: &LogitsFn<'_>,
    image: ArrayView2<f32>,
    class: usize,
    patch: usize,
    fill: f32,
) -> Result<Array2<f32>, InterpretError> {
    let logits = logits_of(image)?;
    let classes = logits.len();
    let reference = *logits.get(class).ok_or(InterpretError::NoClass { class, classes })?;
    let (rows, cols) = image.dim();
    let stride = (patch / 2).max(1);
    let mut drop = Array2::<f32>::zeros((rows, cols));
    let mut covered = Array2::<f32>::zeros((rows, cols));
    for top in starts(rows, patch, stride) {
        for left in starts(cols, patch, stride) {
            let mut occluded = image.to_owned();
            occluded.slice_mut(s![top..top + patch, left..left + patch]).fill(fill);
            let change = reference - logits_of(occluded.view())?[class];
            drop.slice_mut(s![top..top + patch, left..left + patch]).mapv_inplace(|d| d + change);
            covered.slice_mut(s![top..top + patch, left..left + patch]).mapv_inplace(|c| c + 1.0);
        }
    }
    Ok(drop / covered.mapv(|c| c.max(1.0)))
}

/// Patch starts every `stride` pixels, the last one flush with the border so every pixel is covered.
fn starts(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = len - patch;
    let mut starts: Vec<usize> = (0..=last).step_by(stride).collect();
    if starts.last() != Some(&last) {
        starts.push(last);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// For a linear score `z = Σ w·x`, a 1-pixel patch filled with black drops `z` by exactly
    /// `w·x` at that pixel (every pixel is covered by its own patch once).
    #[test]
    fn occlusion_of_a_linear_score_is_weight_times_pixel() {
        let weights = Array2::from_shape_fn((5, 6), |(y, x)| (y as f32) - 0.5 * (x as f32));
        let image = Array2::from_shape_fn((5, 6), |(y, x)| ((y * 6 + x) % 7) as f32 / 7.0);
        let score = |x: ArrayView2<f32>| Ok(vec![0.0, (&x * &weights).sum()]);
        let map = occlusion_with(&score, image.view(), 1, 1, Baseline::Black).unwrap();
        let expected = &weights * &image;
        let error = (&map - &expected).iter().fold(0.0f32, |m, d| m.max(d.abs()));
        assert!(error < 1e-5, "largest error {error}");
        let bad = occlusion_with(&score, image.view(), 1, 9, Baseline::Black);
        assert!(matches!(bad, Err(InterpretError::OutOfRange { .. })), "a patch larger than the image: {bad:?}");
        let missing = occlusion_with(&score, image.view(), 4, 1, Baseline::Black);
        assert!(matches!(missing, Err(InterpretError::NoClass { class: 4, classes: 2 })), "{missing:?}");
    }
}
