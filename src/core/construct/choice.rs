//! Which network built without training a view shows: one of the proof's template networks
//! (N1, N2) or Mallat's wavelet scattering network (`core::scattering`).

use super::Which;

/// A network built without training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltNetwork {
    /// N1 or N2: template detectors, exactly invariant to translation.
    Template(Which),
    /// Fixed Morlet wavelets, modulus and low-pass: stable to small deformations.
    Scattering,
}

impl Default for BuiltNetwork {
    fn default() -> Self {
        Self::Template(Which::default())
    }
}

impl BuiltNetwork {
    /// Every choice, in the order the app lists them.
    pub const ALL: [Self; 3] = [Self::Template(Which::N1), Self::Template(Which::N2), Self::Scattering];

    /// The short name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Template(which) => which.name(),
            Self::Scattering => "Scattering",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_has_its_own_name() {
        let names: Vec<&str> = BuiltNetwork::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["N1", "N2", "Scattering"]);
        assert_eq!(BuiltNetwork::default(), BuiltNetwork::Template(Which::N1));
    }
}
