//! The Morlet wavelets ψ_{j,θ} and the Gaussian low-pass `φ_J` of a 2-D scattering network, built
//! in Fourier exactly as Kymatio 0.3's `scattering2d/filter_bank.py` builds them.
//!
//! A Gabor filter in space is `g_σ(u) e^{i ξ·u}` with an elliptic Gaussian envelope (`slant`
//! squeezes it across the oscillation), periodised over 5×5 copies of the grid; a Morlet filter
//! subtracts `K·g_σ` so that its mean is zero. Each filter is kept as the real part of its 2-D
//! DFT at every resolution the transform needs ([`periodize`]: the DFT of the filter subsampled
//! by `2^res`). Kymatio's constants are kept on purpose, down to its `3.1415` in the Gabor
//! normalisation, so that the coefficients match the reference to float precision.

use ndarray::Array2;
use rustfft::FftPlanner;
use rustfft::num_complex::Complex64;

/// Kymatio's Gabor normalisation divides by `2·3.1415·σ²`, not `2πσ²`; kept so the filters match.
#[allow(clippy::approx_constant)]
pub const KYMATIO_PI: f64 = 3.1415;

/// One wavelet: its scale `j`, its angle index `theta` and its Fourier transform at resolutions
/// `0..levels.len()` (level `r` is `(M/2^r)×(N/2^r)`).
#[derive(Debug, Clone)]
pub struct Wavelet {
    pub j: usize,
    pub theta: usize,
    pub levels: Vec<Array2<f32>>,
}

/// The wavelets in Kymatio's order (scale major, angle minor) and the low-pass `φ_J` at
/// resolutions `0..J`, for a padded grid of `M×N`.
#[derive(Debug, Clone)]
pub struct FilterBank {
    pub psi: Vec<Wavelet>,
    pub phi: Vec<Array2<f32>>,
}

/// Shape parameters of one Morlet wavelet ψ_{j,θ} (Kymatio's choice for `L` angles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MorletShape {
    /// Width of the Gaussian envelope, `0.8·2^j` pixels.
    pub sigma: f64,
    /// Direction of the oscillation in radians, `(⌊L/2 − 1⌋ − θ)·π/L`.
    pub angle: f64,
    /// Central frequency `3π/4 · 2^{-j}` radians per pixel.
    pub xi: f64,
    /// Envelope aspect `4/L`.
    pub slant: f64,
}

impl MorletShape {
    /// The wavelet at scale `j` and angle index `theta` of `l` orientations.
    pub fn new(j: usize, theta: usize, l: usize) -> Self {
        let l_f = l as f64;
        // Python's int(L − L/2 − 1) truncates towards zero (L = 1 gives 0, not −1).
        let first = (l_f / 2.0 - 1.0).trunc();
        Self {
            sigma: 0.8 * 2f64.powi(j as i32),
            angle: (first - theta as f64) * std::f64::consts::PI / l_f,
            xi: 3.0 / 4.0 * std::f64::consts::PI / 2f64.powi(j as i32),
            slant: 4.0 / l_f,
        }
    }
}

/// Builds the filter bank for a padded `m×n` grid, `j_max` scales and `l` angles, as Kymatio's
/// `filter_bank(M, N, J, L)`.
pub fn filter_bank(m: usize, n: usize, j_max: usize, l: usize) -> FilterBank {
    let mut planner = FftPlanner::<f64>::new();
    let mut fourier = |spatial: Array2<Complex64>| real_fft2(&mut planner, spatial);
    let mut psi = Vec::with_capacity(j_max * l);
    for j in 0..j_max {
        for theta in 0..l {
            let shape = MorletShape::new(j, theta, l);
            let hat = fourier(morlet_2d(m, n, shape));
            let levels = (0..(j + 1).min(j_max.saturating_sub(1).max(1))).map(|res| periodize(&hat, res)).collect();
            psi.push(Wavelet { j, theta, levels });
        }
    }
    let phi_hat = fourier(gabor_2d(m, n, 0.8 * 2f64.powi(j_max as i32 - 1), 0.0, 0.0, 1.0));
    let phi = (0..j_max).map(|res| periodize(&phi_hat, res)).collect();
    FilterBank { psi, phi }
}

/// A Morlet wavelet in space: `gabor(ξ) − K·gabor(0)` with `K` making its sum zero.
pub fn morlet_2d(m: usize, n: usize, shape: MorletShape) -> Array2<Complex64> {
    let MorletShape { sigma, angle, xi, slant } = shape;
    let wave = gabor_2d(m, n, sigma, angle, xi, slant);
    let envelope = gabor_2d(m, n, sigma, angle, 0.0, slant);
    let k = wave.sum() / envelope.sum();
    wave - envelope.mapv(|e| k * e)
}

/// A Gabor filter in space, periodised over 5×5 copies of the `m×n` grid (Kymatio's `gabor_2d`
/// with offset 0): `Σ exp(−uᵀ C u + i ξ (u₀ cos θ + u₁ sin θ)) / (2·3.1415·σ²/slant)` with
/// `C = R diag(1, slant²) R⁻¹ / 2σ²`.
pub fn gabor_2d(m: usize, n: usize, sigma: f64, angle: f64, xi: f64, slant: f64) -> Array2<Complex64> {
    // Kymatio stores the rotation in float32; the rounding is part of its filters.
    let (c, s) = (f64::from(angle.cos() as f32), f64::from(angle.sin() as f32));
    let rotation = [[c, -s], [s, c]];
    let inverse = [[c, s], [-s, c]];
    let diagonal = [1.0, slant * slant];
    let mut curv = [[0.0; 2]; 2];
    for (a, row) in curv.iter_mut().enumerate() {
        for (b, value) in row.iter_mut().enumerate() {
            *value = (0..2).map(|k| rotation[a][k] * diagonal[k] * inverse[k][b]).sum::<f64>() / (2.0 * sigma * sigma);
        }
    }
    let (kx, ky) = (xi * angle.cos(), xi * angle.sin());
    let (m_i, n_i) = (m as i64, n as i64);
    let mut gabor = Array2::<Complex64>::zeros((m, n));
    for ex in -2..=2 {
        for ey in -2..=2 {
            for ((row, col), value) in gabor.indexed_iter_mut() {
                let xx = (row as i64 + ex * m_i) as f64;
                let yy = (col as i64 + ey * n_i) as f64;
                let quadratic = curv[0][0] * xx * xx + (curv[0][1] + curv[1][0]) * xx * yy + curv[1][1] * yy * yy;
                *value += Complex64::from_polar((-quadratic).exp(), kx * xx + ky * yy);
            }
        }
    }
    let norm = 2.0 * KYMATIO_PI * sigma * sigma / slant;
    gabor.mapv_inplace(|v| v / norm);
    gabor
}

/// The real part of the 2-D DFT (unnormalised, as `scipy.fft.fft2`).
fn real_fft2(planner: &mut FftPlanner<f64>, mut spatial: Array2<Complex64>) -> Array2<f64> {
    let (m, n) = spatial.dim();
    let rows = planner.plan_fft_forward(n);
    let cols = planner.plan_fft_forward(m);
    for mut row in spatial.rows_mut() {
        if let Some(slice) = row.as_slice_mut() {
            rows.process(slice);
        }
    }
    let mut transposed = spatial.t().as_standard_layout().into_owned();
    for mut row in transposed.rows_mut() {
        if let Some(slice) = row.as_slice_mut() {
            cols.process(slice);
        }
    }
    transposed.t().mapv(|v| v.re)
}

/// Kymatio's `periodize_filter_fft`: zero the frequencies above the band a `2^res` subsampling
/// keeps, then fold the spectrum onto `(M/2^res)×(N/2^res)` by summing its aliases.
pub fn periodize(hat: &Array2<f64>, res: usize) -> Array2<f32> {
    let (m, n) = hat.dim();
    let factor = 1usize << res;
    let (mr, nr) = (m / factor, n / factor);
    let fraction = 2f64.powi(-(res as i32));
    let band = |size: usize| {
        let size_f = size as f64;
        let length = (size_f * (1.0 - fraction)) as usize;
        let start = (size_f * fraction / 2.0) as usize;
        start..start + length
    };
    let (rows_cut, cols_cut) = (band(m), band(n));
    let mut crop = Array2::<f64>::zeros((mr, nr));
    for ((row, col), &value) in hat.indexed_iter() {
        if !rows_cut.contains(&row) && !cols_cut.contains(&col) {
            crop[[row % mr, col % nr]] += value;
        }
    }
    crop.mapv(|v| v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn morlet_wavelets_have_zero_mean_and_phi_has_unit_gain() {
        let bank = filter_bank(16, 16, 2, 4);
        assert_eq!(bank.psi.len(), 8);
        assert_eq!(bank.phi.len(), 2);
        for wavelet in &bank.psi {
            // The DC coefficient of the spectrum is the wavelet's sum.
            assert!(
                wavelet.levels[0][[0, 0]].abs() < 1e-5,
                "ψ_{}{} has mean {}",
                wavelet.j,
                wavelet.theta,
                wavelet.levels[0][[0, 0]]
            );
        }
        // φ's sum is π/3.1415 (Kymatio's rounded π).
        assert!((bank.phi[0][[0, 0]] - (std::f64::consts::PI / KYMATIO_PI) as f32).abs() < 1e-3);
    }

    #[test]
    fn periodizing_sums_the_aliases_of_the_kept_band() {
        let hat = Array2::from_shape_fn((4, 4), |(r, c)| (r * 4 + c) as f64);
        assert_eq!(periodize(&hat, 0).mapv(f64::from), hat);
        // res 1 on size 4: rows/cols 1..3 are cut, so only (0|3, 0|3) remain, folded onto 2×2.
        let folded = periodize(&hat, 1);
        assert_eq!(folded, ndarray::arr2(&[[0.0, 3.0], [12.0, 15.0]]));
    }

    #[test]
    fn angles_follow_kymatio() {
        let pi = std::f64::consts::PI;
        assert!((MorletShape::new(0, 0, 8).angle - 3.0 * pi / 8.0).abs() < 1e-12);
        assert!((MorletShape::new(1, 7, 8).angle + 4.0 * pi / 8.0).abs() < 1e-12);
        assert!((MorletShape::new(0, 0, 1).angle).abs() < 1e-12);
        assert!((MorletShape::new(2, 0, 8).sigma - 3.2).abs() < 1e-12);
    }
}
