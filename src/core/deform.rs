//! Small deformations: an image warped by a smooth random displacement field of amplitude τ pixels.
//!
//! `x_τ(p) = x(p − τ·u(p))` with `u` a sum of a few low-frequency sinusoids (one to two periods
//! across the image, random phases), scaled so that `max |u| = 1`, and bilinear resampling
//! (clamped at the border). The warp `p ↦ p − τ·u(p)` is a diffeomorphism while `τ·‖∇u‖ < 1`
//! everywhere; a τ at or beyond that would fold the image and is refused.

use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use thiserror::Error;

/// Sinusoids per displacement component.
const WAVES: usize = 4;
/// Highest spatial frequency, in periods per image side.
const MAX_PERIODS: i32 = 2;

/// Why a deformation was refused.
#[derive(Debug, Error, PartialEq)]
pub enum DeformError {
    #[error("deformation amplitude τ = {tau} must be finite and at least 0")]
    Amplitude { tau: f32 },
    #[error(
        "τ = {tau} pixels would fold this {height}×{width} image: the field's largest stretch needs τ < {limit:.3}"
    )]
    Folds { tau: f32, limit: f32, height: usize, width: usize },
    #[error("an image of {height}×{width} pixels cannot be deformed (each side at least 2)")]
    Size { height: usize, width: usize },
}

/// One displacement component: `Σ a·sin(2π(f_r·r/H + f_c·c/W) + φ)`.
#[derive(Debug, Clone)]
struct Wave {
    amplitude: f64,
    rows: f64,
    cols: f64,
    phase: f64,
}

/// A unit displacement field `u = (u_r, u_c)` on `height×width` pixels (max |u| = 1).
#[derive(Debug, Clone)]
pub struct DisplacementField {
    height: usize,
    width: usize,
    row_waves: Vec<Wave>,
    col_waves: Vec<Wave>,
    /// Largest `max |u|` over the grid before normalisation.
    scale: f64,
    /// Largest Frobenius norm of the Jacobian of the normalised `u` over the grid.
    stretch: f64,
}

impl DisplacementField {
    /// A random smooth field for `height×width` images, the same for the same `seed`.
    pub fn random(height: usize, width: usize, seed: u64) -> Result<Self, DeformError> {
        if height < 2 || width < 2 {
            return Err(DeformError::Size { height, width });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut waves = || -> Vec<Wave> {
            (0..WAVES)
                .map(|_| {
                    let (fr, fc) = loop {
                        let pair = (rng.random_range(-MAX_PERIODS..=MAX_PERIODS), rng.random_range(0..=MAX_PERIODS));
                        if pair != (0, 0) {
                            break pair;
                        }
                    };
                    Wave {
                        amplitude: rng.random_range(0.5..1.0),
                        rows: 2.0 * std::f64::consts::PI * f64::from(fr) / height as f64,
                        cols: 2.0 * std::f64::consts::PI * f64::from(fc) / width as f64,
                        phase: rng.random_range(0.0..2.0 * std::f64::consts::PI),
                    }
                })
                .collect()
        };
        let (row_waves, col_waves) = (waves(), waves());
        let mut field = Self { height, width, row_waves, col_waves, scale: 1.0, stretch: 0.0 };
        let mut scale = 0.0f64;
        let mut stretch = 0.0f64;
        for r in 0..height {
            for c in 0..width {
                let (ur, uc) = field.raw(r as f64, c as f64);
                scale = scale.max(ur.hypot(uc));
                let jacobian = field.raw_jacobian(r as f64, c as f64);
                stretch = stretch.max(jacobian.iter().map(|v| v * v).sum::<f64>().sqrt());
            }
        }
        field.scale = scale.max(f64::MIN_POSITIVE);
        field.stretch = stretch / field.scale;
        Ok(field)
    }

    /// The largest τ the field takes without folding the image.
    pub fn fold_limit(&self) -> f32 {
        (1.0 / self.stretch.max(f64::MIN_POSITIVE)) as f32
    }

    fn raw(&self, r: f64, c: f64) -> (f64, f64) {
        let sum = |waves: &[Wave]| waves.iter().map(|w| w.amplitude * (w.rows * r + w.cols * c + w.phase).sin()).sum();
        (sum(&self.row_waves), sum(&self.col_waves))
    }

    /// `[∂u_r/∂r, ∂u_r/∂c, ∂u_c/∂r, ∂u_c/∂c]` before normalisation.
    fn raw_jacobian(&self, r: f64, c: f64) -> [f64; 4] {
        let derivative = |waves: &[Wave], along_rows: bool| {
            waves
                .iter()
                .map(|w| {
                    w.amplitude * (w.rows * r + w.cols * c + w.phase).cos() * if along_rows { w.rows } else { w.cols }
                })
                .sum()
        };
        [
            derivative(&self.row_waves, true),
            derivative(&self.row_waves, false),
            derivative(&self.col_waves, true),
            derivative(&self.col_waves, false),
        ]
    }

    /// `x_τ`: the image warped by `τ·u`, bilinear, clamped at the border.
    pub fn warp(&self, image: ArrayView2<f32>, tau: f32) -> Result<Array2<f32>, DeformError> {
        if !tau.is_finite() || tau < 0.0 {
            return Err(DeformError::Amplitude { tau });
        }
        let (height, width) = image.dim();
        if (height, width) != (self.height, self.width) {
            return Err(DeformError::Size { height, width });
        }
        if tau >= self.fold_limit() {
            return Err(DeformError::Folds { tau, limit: self.fold_limit(), height, width });
        }
        let amplitude = f64::from(tau) / self.scale;
        Ok(Array2::from_shape_fn((height, width), |(r, c)| {
            let (ur, uc) = self.raw(r as f64, c as f64);
            bilinear(image, r as f64 - amplitude * ur, c as f64 - amplitude * uc)
        }))
    }
}

/// The image's value at a real position, bilinear between the four nearest pixels (clamped).
fn bilinear(image: ArrayView2<f32>, r: f64, c: f64) -> f32 {
    let (height, width) = image.dim();
    let r = r.clamp(0.0, (height - 1) as f64);
    let c = c.clamp(0.0, (width - 1) as f64);
    let (r0, c0) = (r.floor() as usize, c.floor() as usize);
    let (r1, c1) = ((r0 + 1).min(height - 1), (c0 + 1).min(width - 1));
    let (fr, fc) = ((r - r0 as f64) as f32, (c - c0 as f64) as f32);
    let top = image[[r0, c0]] * (1.0 - fc) + image[[r0, c1]] * fc;
    let bottom = image[[r1, c0]] * (1.0 - fc) + image[[r1, c1]] * fc;
    top * (1.0 - fr) + bottom * fr
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Array2<f32> {
        Array2::from_shape_fn((40, 40), |(r, c)| (r * 40 + c) as f32 / 1600.0)
    }

    #[test]
    fn zero_amplitude_is_the_identity_and_small_ones_move_little() {
        let field = DisplacementField::random(40, 40, 7).unwrap();
        let image = ramp();
        assert_eq!(field.warp(image.view(), 0.0).unwrap(), image);
        let warped = field.warp(image.view(), 1.0).unwrap();
        // A ramp moved by at most one pixel changes by at most one row step (1/40) plus one column step.
        let worst = (&warped - &image).iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(worst > 0.0 && worst <= 41.0 / 1600.0 + 1e-5, "{worst}");
    }

    #[test]
    fn folding_and_bad_amplitudes_are_refused() {
        let field = DisplacementField::random(40, 40, 7).unwrap();
        let limit = field.fold_limit();
        assert!(limit > 0.5 && limit < 40.0, "{limit}");
        assert!(matches!(field.warp(ramp().view(), limit * 1.01), Err(DeformError::Folds { .. })));
        assert!(field.warp(ramp().view(), limit * 0.99).is_ok());
        assert_eq!(field.warp(ramp().view(), f32::NAN).err().map(|e| e.to_string().contains("finite")), Some(true));
        assert!(matches!(field.warp(ramp().view(), -1.0), Err(DeformError::Amplitude { .. })));
        assert!(matches!(DisplacementField::random(1, 40, 0), Err(DeformError::Size { .. })));
    }

    #[test]
    fn bilinear_interpolates_between_pixels() {
        let image = ndarray::arr2(&[[0.0f32, 1.0], [2.0, 3.0]]);
        assert!((bilinear(image.view(), 0.5, 0.5) - 1.5).abs() < 1e-6);
        assert!((bilinear(image.view(), -3.0, 9.0) - 1.0).abs() < 1e-6);
    }
}
