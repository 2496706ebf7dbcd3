//! The preferred stimulus of a unit: gradient ascent on the input image from noise, pixels kept
//! in [0, 1], with the usual regularisers (jitter, blur, L2) as options.
//!
//! Each step moves every pixel by at most the step size (the gradient divided by its largest
//! entry), and the step size decays geometrically to a thousandth of its start: the constructed
//! detectors' gradients are signs (`d_T` is a sum of absolute values), and a decaying step lets
//! the pixels settle on the tile instead of oscillating around it.

use ndarray::{Array2, ArrayView2, Zip};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{InterpretError, UnitGradient, check_count, check_range};

/// Most ascent steps (about a minute on N2 at 40×40).
pub const MAX_ASCENT_STEPS: usize = 100_000;

/// Whether the unit's value is driven up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Goal {
    /// What the unit responds to most (a detector, a trained feature).
    #[default]
    Maximise,
    /// What makes the unit zero: for N2's block channels, which measure a *distance* to their block.
    Minimise,
}

/// How the ascent runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AscentOptions {
    pub steps: usize,
    /// The first step's largest pixel change.
    pub step_size: f32,
    /// Each step the image is shifted (with wrap-around) by up to this many pixels, then back.
    pub jitter: usize,
    /// Each step the image moves this far (0 to 1) towards its 3×3 box blur.
    pub blur: f32,
    /// Weight of the penalty `l2/2 · ‖x‖²`.
    pub l2: f32,
    pub goal: Goal,
    /// Seed of the starting noise and the jitter.
    pub seed: u64,
}

impl Default for AscentOptions {
    fn default() -> Self {
        Self { steps: 256, step_size: 0.05, jitter: 0, blur: 0.0, l2: 0.0, goal: Goal::Maximise, seed: 0 }
    }
}

impl AscentOptions {
    /// Checks every option: steps in `1..=MAX_ASCENT_STEPS`, finite sizes, blur in [0, 1].
    pub fn validate(&self, input: (usize, usize)) -> Result<(), InterpretError> {
        check_count("the number of ascent steps", self.steps, MAX_ASCENT_STEPS)?;
        check_range("the step size", f64::from(self.step_size), 1e-6, 1.0)?;
        check_range("the blur", f64::from(self.blur), 0.0, 1.0)?;
        check_range("the L2 weight", f64::from(self.l2), 0.0, 1e3)?;
        #[allow(clippy::cast_precision_loss)]
        check_range("the jitter", self.jitter as f64, 0.0, (input.0.min(input.1) / 2) as f64)?;
        Ok(())
    }
}

/// A preferred stimulus and the unit's pre-activation on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferred {
    pub image: Array2<f32>,
    pub value: f32,
}

/// The preferred stimulus of `gradient`'s unit; `progress` hears the share of steps done.
pub fn preferred(
    gradient: &UnitGradient,
    options: &AscentOptions,
    progress: &mut dyn FnMut(f32),
) -> Result<Preferred, InterpretError> {
    let input = gradient.input();
    options.validate(input)?;
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let mut image = Array2::from_shape_simple_fn(input, || rng.random::<f32>());
    let sign = if options.goal == Goal::Maximise { 1.0 } else { -1.0 };
    #[allow(clippy::cast_precision_loss)]
    let decay = 1e-3f32.powf(1.0 / options.steps as f32);
    let mut step_size = options.step_size;
    for step in 0..options.steps {
        let shift = random_shift(&mut rng, options.jitter);
        let (_, grad) = gradient.at(rolled(image.view(), shift).view())?;
        let mut direction = rolled(grad.view(), (-shift.0, -shift.1)) * sign;
        direction.scaled_add(-options.l2, &image);
        let largest = direction.iter().fold(0.0f32, |m, g| m.max(g.abs()));
        if largest > 0.0 {
            let scale = step_size / largest;
            Zip::from(&mut image).and(&direction).for_each(|x, &g| *x = (*x + scale * g).clamp(0.0, 1.0));
        }
        if options.blur > 0.0 {
            image = blurred(image.view(), options.blur);
        }
        step_size *= decay;
        #[allow(clippy::cast_precision_loss)]
        progress((step + 1) as f32 / options.steps as f32);
    }
    let (value, _) = gradient.at(image.view())?;
    Ok(Preferred { image, value })
}

#[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)] // the jitter is at most half the image side
fn random_shift(rng: &mut ChaCha8Rng, jitter: usize) -> (isize, isize) {
    if jitter == 0 {
        return (0, 0);
    }
    let j = jitter as i64;
    (rng.random_range(-j..=j) as isize, rng.random_range(-j..=j) as isize)
}

/// The image shifted by `(dy, dx)` with wrap-around.
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
fn rolled(image: ArrayView2<f32>, (dy, dx): (isize, isize)) -> Array2<f32> {
    let (rows, cols) = image.dim();
    if (dy, dx) == (0, 0) {
        return image.to_owned();
    }
    Array2::from_shape_fn((rows, cols), |(y, x)| {
        let source_y = (y as isize - dy).rem_euclid(rows as isize) as usize;
        let source_x = (x as isize - dx).rem_euclid(cols as isize) as usize;
        image[[source_y, source_x]]
    })
}

/// `(1 − amount)·x + amount·box3(x)`, the box clipped at the border.
fn blurred(image: ArrayView2<f32>, amount: f32) -> Array2<f32> {
    let (rows, cols) = image.dim();
    Array2::from_shape_fn((rows, cols), |(y, x)| {
        let (mut sum, mut count) = (0.0, 0.0);
        for yy in y.saturating_sub(1)..(y + 2).min(rows) {
            for xx in x.saturating_sub(1)..(x + 2).min(cols) {
                sum += image[[yy, xx]];
                count += 1.0;
            }
        }
        (1.0 - amount) * image[[y, x]] + amount * sum / count
    })
}
