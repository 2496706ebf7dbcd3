//! What a scattering network looks like from inside, for display: its wavelets ψ_{j,θ} in space
//! (real and imaginary parts) and the maps `U1 = |x ⋆ ψ_{j1,θ1}|` and `U2 = ||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}|`
//! of one image, before the low-pass `φ_J` averages them into the coefficients.
//!
//! The maps are computed at full resolution on the same reflected, padded grid and with the same
//! Fourier filters as `transform` (which subsamples `U1` by `2^{j1}`; a subsampled `U1` is every
//! `2^{j1}`-th pixel of this one), then cropped back to the image. The transform itself stays in
//! `transform`; nothing here is on its path.

use ndarray::{Array2, ArrayView2};
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

use super::filters::{MorletShape, filter_bank, morlet_2d};
use super::transform::{Path, padded_side, reflect};
use super::{MAX_ORIENTATIONS, MAX_SIDE, ScatteringError, ScatteringSpec};

/// Largest side of a wavelet shown in space, in pixels.
pub const MAX_FILTER_SIDE: usize = 65;

/// One wavelet ψ_{j,θ} in space, centred, real and imaginary parts.
#[derive(Debug, Clone)]
pub struct SpatialWavelet {
    pub j: usize,
    pub theta: usize,
    pub real: Array2<f32>,
    pub imaginary: Array2<f32>,
}

/// The wavelets of `spec` in Kymatio's order (scale major, angle minor), each on a square of
/// side `min(MAX_FILTER_SIDE, 2·⌈3σ_J/slant⌉ + 1)`, large enough for the widest one.
pub fn spatial_wavelets(spec: ScatteringSpec) -> Result<Vec<SpatialWavelet>, ScatteringError> {
    // The limits on J, L and the order as for the largest image (the image's own size is checked by `maps`).
    if spec.j == 0 || (1usize << spec.j.min(usize::BITS as usize - 1)) > MAX_SIDE {
        return Err(ScatteringError::Scale { j: spec.j, side: MAX_SIDE });
    }
    if !(1..=MAX_ORIENTATIONS).contains(&spec.l) {
        return Err(ScatteringError::Orientations { l: spec.l });
    }
    if !(1..=2).contains(&spec.max_order) {
        return Err(ScatteringError::Order(spec.max_order));
    }
    let side = filter_side(spec);
    let half = side / 2;
    let mut wavelets = Vec::with_capacity(spec.j * spec.l);
    for j in 0..spec.j {
        for theta in 0..spec.l {
            let spatial = morlet_2d(side, side, MorletShape::new(j, theta, spec.l));
            // The filter is centred on pixel (0, 0) of a periodic grid: shift it to the middle.
            let centred = |part: fn(&rustfft::num_complex::Complex64) -> f64| {
                Array2::from_shape_fn((side, side), |(r, c)| {
                    part(&spatial[[(r + side - half) % side, (c + side - half) % side]]) as f32
                })
            };
            wavelets.push(SpatialWavelet { j, theta, real: centred(|v| v.re), imaginary: centred(|v| v.im) });
        }
    }
    Ok(wavelets)
}

/// Side of the square the wavelets are shown on (odd, so the centre is a pixel).
fn filter_side(spec: ScatteringSpec) -> usize {
    let sigma = 0.8 * 2f64.powi(spec.j.clamp(1, 10) as i32 - 1);
    let slant = 4.0 / spec.l.max(1) as f64;
    let half = (3.0 * sigma / slant.min(1.0)).ceil() as usize;
    (2 * half + 1).min(MAX_FILTER_SIDE)
}

/// The intermediate maps of one image: `U1` per order-1 path and `U2` per order-2 path, in the
/// transform's channel order (order 1 by (j, θ), order 2 by (j1, θ1, j2, θ2)), each `H×W`.
#[derive(Debug, Clone)]
pub struct Maps {
    pub order1: Vec<(Path, Array2<f32>)>,
    pub order2: Vec<(Path, Array2<f32>)>,
}

/// Computes `U1` and, with max order 2, `U2` of `image` at full resolution.
pub fn maps(spec: ScatteringSpec, image: ArrayView2<f32>) -> Result<Maps, ScatteringError> {
    let (height, width) = image.dim();
    spec.check(height, width)?;
    let step = 1usize << spec.j;
    let (m, n) = (padded_side(height, step), padded_side(width, step));
    let (top, left) = ((m - height) / 2, (n - width) / 2);
    let bank = filter_bank(m, n, spec.j, spec.l);
    let fft = Fft2::new(m, n);
    let mut padded = Vec::with_capacity(m * n);
    for row in 0..m {
        let source_row = reflect(row as isize - top as isize, height);
        for col in 0..n {
            let source_col = reflect(col as isize - left as isize, width);
            padded.push(Complex32::new(image[[source_row, source_col]], 0.0));
        }
    }
    fft.forward(&mut padded);
    let crop =
        |spatial: &[Complex32]| Array2::from_shape_fn((height, width), |(r, c)| spatial[(r + top) * n + c + left].re);
    // |x ⋆ ψ| from the spectrum of x: the modulus in space, and its spectrum for the next order.
    let modulus = |spectrum: &[Complex32], filter: &Array2<f32>| -> Vec<Complex32> {
        let mut product: Vec<Complex32> = spectrum.iter().zip(filter.iter()).map(|(s, &f)| s * f).collect();
        fft.inverse(&mut product);
        product.iter().map(|v| Complex32::new(v.norm(), 0.0)).collect()
    };
    let mut order1 = Vec::with_capacity(bank.psi.len());
    let mut order2 = Vec::new();
    for (index, outer) in bank.psi.iter().enumerate() {
        let u1 = modulus(&padded, &outer.levels[0]);
        order1.push((Path { steps: vec![(outer.j, outer.theta)] }, crop(&u1)));
        if spec.max_order < 2 {
            continue;
        }
        let mut u1_spectrum = u1;
        fft.forward(&mut u1_spectrum);
        for inner in bank.psi.iter().skip(index + 1).filter(|inner| inner.j > outer.j) {
            let u2 = modulus(&u1_spectrum, &inner.levels[0]);
            order2.push((Path { steps: vec![(outer.j, outer.theta), (inner.j, inner.theta)] }, crop(&u2)));
        }
    }
    Ok(Maps { order1, order2 })
}

/// 2-D FFTs of an `m×n` row-major grid (unnormalised forward, `1/(mn)` inverse, as NumPy's).
struct Fft2 {
    m: usize,
    n: usize,
    forward_rows: Arc<dyn Fft<f32>>,
    forward_cols: Arc<dyn Fft<f32>>,
    inverse_rows: Arc<dyn Fft<f32>>,
    inverse_cols: Arc<dyn Fft<f32>>,
}

impl Fft2 {
    fn new(m: usize, n: usize) -> Self {
        let mut planner = FftPlanner::<f32>::new();
        Self {
            m,
            n,
            forward_rows: planner.plan_fft_forward(n),
            forward_cols: planner.plan_fft_forward(m),
            inverse_rows: planner.plan_fft_inverse(n),
            inverse_cols: planner.plan_fft_inverse(m),
        }
    }

    fn forward(&self, data: &mut [Complex32]) {
        self.both(data, &self.forward_rows, &self.forward_cols);
    }

    fn inverse(&self, data: &mut [Complex32]) {
        self.both(data, &self.inverse_rows, &self.inverse_cols);
        let scale = 1.0 / (self.m * self.n) as f32;
        for value in data.iter_mut() {
            *value *= scale;
        }
    }

    fn both(&self, data: &mut [Complex32], rows: &Arc<dyn Fft<f32>>, cols: &Arc<dyn Fft<f32>>) {
        let (m, n) = (self.m, self.n);
        rows.process(data);
        let mut transposed: Vec<Complex32> = (0..n * m).map(|i| data[(i % m) * n + i / m]).collect();
        cols.process(&mut transposed);
        for (i, value) in transposed.into_iter().enumerate() {
            data[(i % m) * n + i / m] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::scattering::Scattering;

    const SPEC: ScatteringSpec = ScatteringSpec { j: 2, l: 8, max_order: 2 };

    #[test]
    fn maps_follow_the_transforms_paths_and_wavelets_have_zero_mean() {
        let image = Array2::from_shape_fn((24, 20), |(r, c)| ((r * 7 + c * 3) % 11) as f32 / 10.0);
        let found = maps(SPEC, image.view()).unwrap();
        let paths = Scattering::new(SPEC, 24, 20).unwrap().paths();
        let mine: Vec<Path> = found.order1.iter().chain(&found.order2).map(|(p, _)| p.clone()).collect();
        assert_eq!(mine, paths[1..], "every order-1 and order-2 channel, in the transform's order");
        assert!(
            found.order1.iter().chain(&found.order2).all(|(_, m)| m.dim() == (24, 20) && m.iter().all(|&v| v >= 0.0))
        );
        // A constant image has no detail at any scale: zero-mean wavelets give zero maps.
        let flat = maps(SPEC, Array2::from_elem((24, 20), 0.7).view()).unwrap();
        let largest = flat.order1.iter().flat_map(|(_, m)| m.iter().copied()).fold(0.0f32, f32::max);
        assert!(largest < 1e-4, "{largest}");
        let wavelets = spatial_wavelets(SPEC).unwrap();
        assert_eq!(wavelets.len(), 16);
        for w in &wavelets {
            assert!(w.real.sum().abs() < 1e-3 && w.imaginary.sum().abs() < 1e-3, "ψ_{},{} mean", w.j, w.theta);
        }
    }

    #[test]
    fn stripes_light_up_the_wavelet_of_their_orientation() {
        // Stripes varying along the rows (constant along a row) at ψ_{0,θ}'s frequency 3π/4.
        let image = Array2::from_shape_fn((32, 32), |(r, _)| (0.75 * std::f32::consts::PI * r as f32).cos());
        let found = maps(ScatteringSpec { j: 1, l: 8, max_order: 1 }, image.view()).unwrap();
        let energy = |m: &Array2<f32>| m.iter().map(|v| v * v).sum::<f32>();
        let strongest = found.order1.iter().max_by(|a, b| energy(&a.1).total_cmp(&energy(&b.1))).unwrap();
        // θ index 3 of 8 has angle (3 − 3)·π/8 = 0: oscillation along the rows.
        assert_eq!(strongest.0.steps, vec![(0, 3)], "{}", strongest.0.describe(8));
    }

    #[test]
    fn bad_settings_are_refused_with_the_transforms_messages() {
        let image = Array2::<f32>::zeros((40, 40));
        assert_eq!(
            maps(ScatteringSpec { j: 6, l: 8, max_order: 2 }, image.view()).err(),
            Some(ScatteringError::Scale { j: 6, side: 40 })
        );
        assert_eq!(
            spatial_wavelets(ScatteringSpec { j: 2, l: 0, max_order: 2 }).err(),
            Some(ScatteringError::Orientations { l: 0 })
        );
        assert_eq!(
            spatial_wavelets(ScatteringSpec { j: 2, l: 8, max_order: 3 }).err(),
            Some(ScatteringError::Order(3))
        );
    }
}
