//! The scattering transform itself, as Kymatio 0.3's `scattering2d` core with its NumPy backend.
//!
//! `S0 = x ⋆ φ_J`, `S1 = |x ⋆ ψ_{j1,θ1}| ⋆ φ_J`, `S2 = ||x ⋆ ψ_{j1,θ1}| ⋆ ψ_{j2,θ2}| ⋆ φ_J`
//! (j2 > j1). The image is reflected out to a multiple of `2^J` (plus one `2^J` border),
//! every convolution is a product in Fourier, every subsampling by `k` is a periodisation of the
//! spectrum (the mean of its `k×k` aliases) before the inverse FFT, and one pixel is cut from
//! each border of the `2^J`-subsampled result.
//!
//! Spectra are held transposed (`N×M`): a forward 2-D FFT transforms rows, transposes and
//! transforms rows again, and the inverse does the same back, so no transform pays a second
//! transpose. Filters are stored transposed to match.

use std::sync::Arc;

use ndarray::{Array2, Array3, ArrayView2};
use rayon::prelude::*;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use super::filters::{FilterBank, filter_bank};
use super::{ScatteringError, ScatteringSpec};

/// A square or rectangular grid held row-major: `rows×cols` complex values.
struct Grid {
    rows: usize,
    cols: usize,
    data: Vec<Complex32>,
}

/// FFTs of one resolution `(M/2^r)×(N/2^r)`: along rows of `N/2^r` and of `M/2^r` values.
struct Plans {
    forward_n: Arc<dyn Fft<f32>>,
    forward_m: Arc<dyn Fft<f32>>,
    inverse_n: Arc<dyn Fft<f32>>,
    inverse_m: Arc<dyn Fft<f32>>,
}

/// A scattering network for images of one size: its filters in Fourier and its FFT plans.
pub struct Scattering {
    spec: ScatteringSpec,
    height: usize,
    width: usize,
    /// Padded grid `(M, N)`, a multiple of `2^J`.
    padded: (usize, usize),
    /// Reflection padding `(top, left)`.
    pad: (usize, usize),
    /// ψ at each level, transposed (`N_r×M_r`), in Kymatio's order.
    psi: Vec<(usize, Vec<Vec<f32>>)>,
    /// φ at each level `0..J`, transposed.
    phi: Vec<Vec<f32>>,
    plans: Vec<Plans>,
}

/// One output channel: its order and its (scale, angle index) pairs, outermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub steps: Vec<(usize, usize)>,
}

impl Path {
    /// 0, 1 or 2.
    pub fn order(&self) -> usize {
        self.steps.len()
    }

    /// Its meaning in words, e.g. "scale 2, angle 45°, then scale 3, angle 90°".
    pub fn describe(&self, l: usize) -> String {
        if self.steps.is_empty() {
            return "low-pass average of the image".to_owned();
        }
        let step = |&(j, theta): &(usize, usize)| format!("scale {j}, angle {}°", angle_degrees(theta, l));
        self.steps.iter().map(step).collect::<Vec<_>>().join(", then ")
    }
}

/// The angle of orientation `theta` of `l` in whole degrees, `θ·180/L` (0° = horizontal oscillation).
pub fn angle_degrees(theta: usize, l: usize) -> usize {
    (theta * 180).checked_div(l).unwrap_or(0)
}

impl Scattering {
    /// Builds the filters and FFT plans for `height×width` images (see [`ScatteringSpec::check`]).
    pub fn new(spec: ScatteringSpec, height: usize, width: usize) -> Result<Self, ScatteringError> {
        spec.check(height, width)?;
        let step = 1usize << spec.j;
        let padded = (padded_side(height, step), padded_side(width, step));
        let pad = ((padded.0 - height) / 2, (padded.1 - width) / 2);
        let FilterBank { psi, phi } = filter_bank(padded.0, padded.1, spec.j, spec.l);
        let transpose = |level: &Array2<f32>| level.t().iter().copied().collect::<Vec<f32>>();
        let psi = psi.iter().map(|w| (w.j, w.levels.iter().map(transpose).collect())).collect();
        let phi = phi.iter().map(transpose).collect();
        let mut planner = FftPlanner::<f32>::new();
        let plans = (0..=spec.j)
            .map(|r| {
                let (m, n) = (padded.0 >> r, padded.1 >> r);
                Plans {
                    forward_n: planner.plan_fft_forward(n),
                    forward_m: planner.plan_fft_forward(m),
                    inverse_n: planner.plan_fft_inverse(n),
                    inverse_m: planner.plan_fft_inverse(m),
                }
            })
            .collect();
        Ok(Self { spec, height, width, padded, pad, psi, phi, plans })
    }

    pub fn spec(&self) -> ScatteringSpec {
        self.spec
    }

    /// The image size it takes, `(H, W)`.
    pub fn input_size(&self) -> (usize, usize) {
        (self.height, self.width)
    }

    /// The output shape `[K, H', W']` (Kymatio's: `H' = M/2^J − 2` for the padded `M`).
    pub fn output_shape(&self) -> (usize, usize, usize) {
        let step = 1usize << self.spec.j;
        (self.spec.channels(), self.padded.0 / step - 2, self.padded.1 / step - 2)
    }

    /// The channels in output order: order 0, then order 1 by (j, θ), then order 2 by (j1, θ1, j2, θ2).
    pub fn paths(&self) -> Vec<Path> {
        let ScatteringSpec { j: j_max, l, max_order } = self.spec;
        let first: Vec<(usize, usize)> = (0..j_max).flat_map(|j| (0..l).map(move |t| (j, t))).collect();
        let mut paths = vec![Path { steps: Vec::new() }];
        paths.extend(first.iter().map(|&step| Path { steps: vec![step] }));
        if max_order == 2 {
            for &outer in &first {
                paths.extend(
                    first.iter().filter(|inner| inner.0 > outer.0).map(|&inner| Path { steps: vec![outer, inner] }),
                );
            }
        }
        paths
    }

    /// The coefficients of one image, `[K, H', W']`.
    pub fn transform(&self, image: ArrayView2<f32>) -> Result<Array3<f32>, ScatteringError> {
        if image.dim() != (self.height, self.width) {
            return Err(ScatteringError::ImageSize { expected: (self.height, self.width), found: image.dim() });
        }
        let (channels, out_h, out_w) = self.output_shape();
        let mut out = Vec::with_capacity(channels * out_h * out_w);
        // Order 2 is computed beside order 1 (it reuses |x ⋆ ψ1|) but stored after all of order 1.
        let mut second = Vec::new();
        let u0 = self.forward(self.padded_image(image), 0);
        self.low_pass(&u0, 0, &mut out);
        for (n1, (j1, levels1)) in self.psi.iter().enumerate() {
            let u1 = self.modulus_step(&u0, &levels1[0], 0, *j1);
            self.low_pass(&u1, *j1, &mut out);
            if self.spec.max_order < 2 {
                continue;
            }
            for (j2, levels2) in self.psi.iter().skip(n1 + 1).filter(|(j2, _)| j2 > j1) {
                let u2 = self.modulus_step(&u1, &levels2[*j1], *j1, *j2);
                self.low_pass(&u2, *j2, &mut second);
            }
        }
        out.extend(second);
        Array3::from_shape_vec((channels, out_h, out_w), out).map_err(|_| ScatteringError::Internal)
    }

    /// The coefficients of many images, in parallel, in input order.
    pub fn transform_batch(&self, images: &[Array2<f32>]) -> Result<Vec<Array3<f32>>, ScatteringError> {
        images.par_iter().map(|image| self.transform(image.view())).collect()
    }

    /// The image reflected out to the padded grid (NumPy's `mode='reflect'`: the edge is not repeated).
    fn padded_image(&self, image: ArrayView2<f32>) -> Grid {
        let (m, n) = self.padded;
        let mut data = Vec::with_capacity(m * n);
        for row in 0..m {
            let source_row = reflect(row as isize - self.pad.0 as isize, self.height);
            for col in 0..n {
                let source_col = reflect(col as isize - self.pad.1 as isize, self.width);
                data.push(Complex32::new(image[[source_row, source_col]], 0.0));
            }
        }
        Grid { rows: m, cols: n, data }
    }

    /// `|x ⋆ ψ|` at resolution `to`, from the spectrum `x` at resolution `from`, returned in Fourier.
    fn modulus_step(&self, spectrum: &Grid, filter: &[f32], from: usize, to: usize) -> Grid {
        let filtered = filter_and_subsample(spectrum, filter, 1 << (to - from));
        let mut spatial = self.inverse(filtered, to);
        for value in &mut spatial.data {
            // `hypot`'s care for overflow costs a tenth of the transform and values here are ≤ 1e3.
            *value = Complex32::new(value.norm_sqr().sqrt(), 0.0);
        }
        self.forward(spatial, to)
    }

    /// Appends `unpad(x ⋆ φ_J)` subsampled to resolution `J`, from the spectrum `x` at `level`.
    fn low_pass(&self, spectrum: &Grid, level: usize, out: &mut Vec<f32>) {
        let j_max = self.spec.j;
        let filtered = filter_and_subsample(spectrum, &self.phi[level], 1 << (j_max - level));
        let spatial = self.inverse(filtered, j_max);
        for row in 1..spatial.rows - 1 {
            out.extend(spatial.data[row * spatial.cols + 1..(row + 1) * spatial.cols - 1].iter().map(|v| v.re));
        }
    }

    /// 2-D FFT of a spatial `M_r×N_r` grid at resolution `level`, returned transposed (`N_r×M_r`).
    fn forward(&self, mut grid: Grid, level: usize) -> Grid {
        let plans = &self.plans[level];
        plans.forward_n.process(&mut grid.data);
        let mut transposed = transpose(&grid);
        plans.forward_m.process(&mut transposed.data);
        transposed
    }

    /// Inverse 2-D FFT (normalised, as `ifft2`) of a transposed spectrum, returned as `M_r×N_r`.
    fn inverse(&self, mut grid: Grid, level: usize) -> Grid {
        let plans = &self.plans[level];
        plans.inverse_m.process(&mut grid.data);
        let mut spatial = transpose(&grid);
        plans.inverse_n.process(&mut spatial.data);
        let scale = 1.0 / (spatial.rows * spatial.cols) as f32;
        for value in &mut spatial.data {
            *value *= scale;
        }
        spatial
    }
}

/// Kymatio's padded side: the next multiple of `step` above `side + step`.
pub(super) fn padded_side(side: usize, step: usize) -> usize {
    ((side + step) / step + 1) * step
}

/// Index of `i` (possibly outside `0..len`) under repeated mirror reflection without edge repeat.
pub(super) fn reflect(i: isize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len as isize - 1);
    let folded = i.rem_euclid(period);
    if folded < len as isize { folded as usize } else { (period - folded) as usize }
}

fn transpose(grid: &Grid) -> Grid {
    let mut data = Vec::with_capacity(grid.data.len());
    for col in 0..grid.cols {
        data.extend((0..grid.rows).map(|row| grid.data[row * grid.cols + col]));
    }
    Grid { rows: grid.cols, cols: grid.rows, data }
}

/// `x̂·f̂` periodised by `k` (Kymatio's `cdgmm` then `subsample_fourier`): the mean of the `k×k`
/// aliases of each kept frequency, i.e. the spectrum of the product subsampled by `k` in space.
fn filter_and_subsample(spectrum: &Grid, filter: &[f32], k: usize) -> Grid {
    let (rows, cols) = (spectrum.rows / k, spectrum.cols / k);
    let mut data = vec![Complex32::new(0.0, 0.0); rows * cols];
    // Row by row and in runs of `cols`, so the aliases are found without a division per value.
    let rows_in = spectrum.data.chunks_exact(spectrum.cols).zip(filter.chunks_exact(spectrum.cols));
    for (row, (x_row, f_row)) in rows_in.enumerate() {
        let out_row = &mut data[(row % rows) * cols..][..cols];
        for (x_run, f_run) in x_row.chunks_exact(cols).zip(f_row.chunks_exact(cols)) {
            for ((out, &x), &f) in out_row.iter_mut().zip(x_run).zip(f_run) {
                *out += x * f;
            }
        }
    }
    let scale = 1.0 / (k * k) as f32;
    for value in &mut data {
        *value *= scale;
    }
    Grid { rows, cols, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflection_matches_numpy_reflect() {
        // np.pad([0, 1, 2], 4, mode='reflect') = [2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0]
        let indices: Vec<usize> = (-4..7).map(|i| reflect(i, 3)).collect();
        assert_eq!(indices, vec![0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2]);
    }

    #[test]
    fn output_shape_and_paths_follow_kymatio() {
        let net = Scattering::new(ScatteringSpec { j: 2, l: 8, max_order: 2 }, 40, 40).unwrap();
        assert_eq!(net.output_shape(), (1 + 16 + 64, 10, 10));
        let paths = net.paths();
        assert_eq!(paths.len(), 81);
        assert_eq!(paths[17].steps, vec![(0, 0), (1, 0)]);
        assert_eq!(paths[80].steps, vec![(0, 7), (1, 7)]);
        assert_eq!(Path { steps: vec![(2, 2), (3, 4)] }.describe(8), "scale 2, angle 45°, then scale 3, angle 90°");
        let odd = Scattering::new(ScatteringSpec { j: 3, l: 4, max_order: 1 }, 28, 30).unwrap();
        assert_eq!(odd.output_shape(), (13, 3, 3));
    }

    #[test]
    fn a_constant_image_has_only_its_mean_at_order_zero() {
        let net = Scattering::new(ScatteringSpec { j: 2, l: 4, max_order: 2 }, 16, 16).unwrap();
        let out = net.transform(Array2::from_elem((16, 16), 0.5).view()).unwrap();
        let gain = (std::f64::consts::PI / super::super::filters::KYMATIO_PI) as f32;
        assert!(out.index_axis(ndarray::Axis(0), 0).iter().all(|&v| (v - 0.5 * gain).abs() < 1e-4));
        assert!(out.slice(ndarray::s![1.., .., ..]).iter().all(|&v| v.abs() < 1e-4));
    }

    #[test]
    fn coefficients_are_locally_translation_invariant() {
        let net = Scattering::new(ScatteringSpec { j: 3, l: 8, max_order: 2 }, 32, 32).unwrap();
        let blob = |shift: usize| {
            Array2::from_shape_fn((32, 32), |(r, c)| {
                let (dr, dc) = (r as f32 - 14.0 - shift as f32, c as f32 - 15.0);
                (-(dr * dr + dc * dc) / 8.0).exp()
            })
        };
        let (a, b) = (net.transform(blob(0).view()).unwrap(), net.transform(blob(1).view()).unwrap());
        let distance = (&a - &b).mapv(|v| v * v).sum().sqrt();
        let size = a.mapv(|v| v * v).sum().sqrt();
        assert!(distance < 0.2 * size, "a one-pixel shift moved the coefficients by {distance} of {size}");
    }
}
