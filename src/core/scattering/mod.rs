//! Mallat's wavelet scattering network: the other way to build a CNN without training it.
//!
//! Fixed Morlet wavelets, a modulus and a low-pass average, in two layers: locally invariant to
//! translation and stable to small deformations, but not selective the way N1/N2's templates are.
//! `filters` builds ψ_{j,θ} and `φ_J`, `transform` computes S0, S1, S2 exactly as Kymatio 0.3's
//! NumPy frontend (checked by `tests/scattering_kymatio.rs`), and `classifier` is the linear
//! (multinomial logistic) classifier trained on the coefficients.

pub mod classifier;
pub mod filters;
pub mod maps;
pub mod transform;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use transform::{Path, Scattering};

/// Most orientations per scale (Kymatio's filters are designed for 8).
pub const MAX_ORIENTATIONS: usize = 32;
/// Largest image side the network is built for.
pub const MAX_SIDE: usize = 1024;
/// Most filter values (all wavelets at all resolutions, f32) a network may hold: 256 MB.
pub const MAX_FILTER_VALUES: usize = 64 << 20;

/// Why a scattering network could not be built or run.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScatteringError {
    #[error("J = {j} is out of range: J must be at least 1 and 2^J at most the image's smaller side ({side} pixels)")]
    Scale { j: usize, side: usize },
    #[error("L = {l} orientations is out of range: L must be between 1 and {MAX_ORIENTATIONS}")]
    Orientations { l: usize },
    #[error("max order {0} is not supported: the scattering network computes order 1 or 2")]
    Order(usize),
    #[error("an image of {height}×{width} pixels is out of range: each side must be between 2 and {MAX_SIDE}")]
    Side { height: usize, width: usize },
    #[error(
        "J = {j}, L = {l} on {height}×{width} images needs {values} filter values, more than the limit of {MAX_FILTER_VALUES}"
    )]
    TooLarge { j: usize, l: usize, height: usize, width: usize, values: usize },
    #[error("the network takes {}×{} images, this one is {}×{}", expected.0, expected.1, found.0, found.1)]
    ImageSize { expected: (usize, usize), found: (usize, usize) },
    #[error("internal error: the coefficients do not fill their array")]
    Internal,
}

/// The network's settings: `J` scales, `L` orientations, and the highest order kept (1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ScatteringSpec {
    pub j: usize,
    pub l: usize,
    pub max_order: usize,
}

impl Default for ScatteringSpec {
    /// Kymatio's usual choice for small images: J = 2, L = 8, order 2.
    fn default() -> Self {
        Self { j: 2, l: 8, max_order: 2 }
    }
}

impl ScatteringSpec {
    /// Number of output channels `K = 1 + J·L (+ L²·J(J−1)/2 with order 2)`.
    pub fn channels(&self) -> usize {
        let second = if self.max_order == 2 { self.l * self.l * self.j * self.j.saturating_sub(1) / 2 } else { 0 };
        1 + self.j * self.l + second
    }

    /// Checks the limits for `height×width` images before anything is allocated.
    pub fn check(&self, height: usize, width: usize) -> Result<(), ScatteringError> {
        if !(2..=MAX_SIDE).contains(&height) || !(2..=MAX_SIDE).contains(&width) {
            return Err(ScatteringError::Side { height, width });
        }
        let side = height.min(width);
        if self.j == 0 || self.j >= usize::BITS as usize || (1usize << self.j) > side {
            return Err(ScatteringError::Scale { j: self.j, side });
        }
        if !(1..=MAX_ORIENTATIONS).contains(&self.l) {
            return Err(ScatteringError::Orientations { l: self.l });
        }
        if !(1..=2).contains(&self.max_order) {
            return Err(ScatteringError::Order(self.max_order));
        }
        // Each wavelet holds at most 4/3 of a padded grid over its resolutions; φ as much again.
        let step = 1usize << self.j;
        let grid = (height + 2 * step) * (width + 2 * step);
        let values = (self.j * self.l + 1) * grid * 4 / 3;
        if values > MAX_FILTER_VALUES {
            return Err(ScatteringError::TooLarge { j: self.j, l: self.l, height, width, values });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_named_before_anything_is_built() {
        let spec = |j, l, max_order| ScatteringSpec { j, l, max_order };
        assert_eq!(Scattering::new(spec(6, 8, 2), 40, 40).err(), Some(ScatteringError::Scale { j: 6, side: 40 }));
        assert_eq!(Scattering::new(spec(0, 8, 2), 40, 40).err(), Some(ScatteringError::Scale { j: 0, side: 40 }));
        assert_eq!(Scattering::new(spec(200, 8, 2), 40, 40).err(), Some(ScatteringError::Scale { j: 200, side: 40 }));
        assert_eq!(Scattering::new(spec(2, 0, 2), 40, 40).err(), Some(ScatteringError::Orientations { l: 0 }));
        assert_eq!(
            Scattering::new(spec(2, 1_000_000, 2), 40, 40).err(),
            Some(ScatteringError::Orientations { l: 1_000_000 })
        );
        assert_eq!(Scattering::new(spec(2, 8, 3), 40, 40).err(), Some(ScatteringError::Order(3)));
        assert_eq!(Scattering::new(spec(2, 8, 0), 40, 40).err(), Some(ScatteringError::Order(0)));
        assert!(matches!(Scattering::new(spec(1, 8, 2), 1, 40), Err(ScatteringError::Side { .. })));
        assert!(matches!(Scattering::new(spec(9, 32, 2), 1024, 1024), Err(ScatteringError::TooLarge { .. })));
        let message = ScatteringError::Scale { j: 6, side: 40 }.to_string();
        assert!(message.contains("2^J") && message.contains("40"), "{message}");
    }

    #[test]
    fn channel_count_matches_kymatio() {
        assert_eq!(ScatteringSpec { j: 2, l: 8, max_order: 2 }.channels(), 81);
        assert_eq!(ScatteringSpec { j: 3, l: 8, max_order: 2 }.channels(), 217);
        assert_eq!(ScatteringSpec { j: 3, l: 4, max_order: 1 }.channels(), 13);
    }
}
