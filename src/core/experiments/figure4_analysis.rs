//! Reading a Figure 4 study: the images on which N1's invariance breaks, the ε at which each
//! tile's constructed logit first moves (a sweep of ε), and the histogram bins the app draws.
//! Shared by the Invariance view and `tilelab reproduce figure4 --epsilon-sweep`.

use serde::Serialize;

use super::ExperimentError;
use super::figure4::{Classifier, InvarianceResult, Perturbation, Perturbations, invariance};
use crate::core::tile::{ClassSet, TileId};

/// Relative tolerance on "the class logit equals ε" (f32 sums over many windows).
pub const LOGIT_TOLERANCE: f32 = 1e-4;

/// One image on which the constructed net is not invariant.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    /// Name of the tile's class.
    pub tile: String,
    pub kind: Perturbation,
    /// Index of the image in its perturbation set.
    pub image: usize,
    /// Where the tile was pasted.
    pub offset: (usize, usize),
    /// What went wrong.
    pub what: String,
}

/// The images where N1's logits are not exactly "ε for the tile's class, 0 for every other":
/// windows near the tile that match partially (class logit above ε), another class's tile
/// matched (another positive logit), or the tile not detected.
pub fn breaks(result: &InvarianceResult) -> Vec<Break> {
    let mut found = Vec::new();
    for tile in &result.tiles {
        for perturbation in [&tile.background, &tile.translation] {
            for (image, logits) in perturbation.constructed.iter().enumerate() {
                let offset = perturbation.offsets.get(image).copied().unwrap_or_default();
                let mut problems = Vec::new();
                let own = logits.get(tile.label).copied().unwrap_or(0.0);
                if own <= 0.0 {
                    problems.push("the tile's class is not detected".to_owned());
                } else if own > tile.epsilon * (1.0 + LOGIT_TOLERANCE) + LOGIT_TOLERANCE {
                    problems.push(format!(
                        "windows near the tile match partially: class logit {own:.3} > ε = {:.3}",
                        tile.epsilon
                    ));
                }
                for (class, &value) in logits.iter().enumerate() {
                    if class != tile.label && value > 0.0 {
                        let name = result.class_names.get(class).map_or("?", String::as_str);
                        problems.push(format!("class '{name}' matched too (logit {value:.3})"));
                    }
                }
                if !problems.is_empty() {
                    found.push(Break {
                        tile: tile.name.clone(),
                        kind: perturbation.kind,
                        image,
                        offset,
                        what: problems.join("; "),
                    });
                }
            }
        }
    }
    found
}

/// The ε grid of `reproduce figure4 --epsilon-sweep`: powers of two from 1/4 to 1024, wide enough
/// for a 2×2 tile (where `d_T` ≤ 4) and a 28×28 garment (`d_T` ≤ 784) alike.
pub fn epsilon_grid() -> Vec<f32> {
    (-2..=10).map(|power| 2f32.powi(power)).collect()
}

/// Where one tile's constructed logit first moves in an ε sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FirstMove {
    /// Name of the tile's class.
    pub name: String,
    pub label: usize,
    /// The smallest ε of the sweep at which N1 breaks on one of the tile's images (`None`: never).
    pub epsilon: Option<f32>,
    /// On how many of the tile's images it breaks at that ε.
    pub images: usize,
    /// Images per tile at each ε (both perturbations).
    pub of: usize,
}

/// Runs the study at every ε of `epsilons` (ascending; the same ε for every tile, as the
/// Invariance view's slider does) and reports, per tile, the first ε at which N1's logits move.
pub fn epsilon_sweep(
    classes: &ClassSet,
    trained: Classifier<'_>,
    tiles: &[TileId],
    settings: &Perturbations,
    epsilons: &[f32],
) -> Result<Vec<FirstMove>, ExperimentError> {
    let mut moves: Vec<Option<FirstMove>> = vec![None; tiles.len()];
    for &epsilon in epsilons {
        if moves.iter().all(Option::is_some) {
            break;
        }
        let result =
            invariance(classes, trained, tiles, &Perturbations { epsilon_override: Some(epsilon), ..*settings })?;
        let found = breaks(&result);
        for (first, tile) in moves.iter_mut().zip(&result.tiles) {
            let images = found.iter().filter(|b| b.tile == tile.name).count();
            if first.is_none() && images > 0 {
                let of = tile.background.constructed.len() + tile.translation.constructed.len();
                *first =
                    Some(FirstMove { name: tile.name.clone(), label: tile.label, epsilon: Some(epsilon), images, of });
            }
        }
    }
    Ok(tiles
        .iter()
        .zip(moves)
        .map(|(id, first)| {
            first.unwrap_or_else(|| FirstMove {
                name: classes.classes.get(id.class).map_or_else(String::new, |o| o.name.clone()),
                label: id.class,
                epsilon: None,
                images: 0,
                of: 0,
            })
        })
        .collect())
}

/// The shared bin range of all finite logits; a single value gets a unit-wide range around it,
/// no finite value the range [0, 1].
pub fn bin_range(logits: &[Vec<f32>]) -> (f64, f64) {
    let values = logits.iter().flatten().filter(|v| v.is_finite()).map(|&v| f64::from(v));
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !low.is_finite() {
        (0.0, 1.0)
    } else if high - low < 1e-9 {
        (low - 0.5, high + 0.5)
    } else {
        (low, high)
    }
}

/// Counts of the finite `values` in `bins` bins of `bin_width` from `low`; values below `low` go
/// to the first bin, the top edge and above to the last.
pub fn histogram(values: impl Iterator<Item = f64>, low: f64, bin_width: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0; bins];
    if bins == 0 {
        return counts;
    }
    for v in values.filter(|v| v.is_finite()) {
        let bin = ((v - low) / bin_width).floor().max(0.0) as usize;
        counts[bin.min(bins - 1)] += 1;
    }
    counts
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // powers of two and ε values are exact
mod tests {
    use super::*;
    use crate::core::experiments::figure4::Spread;
    use crate::core::nn::cnn::{Cnn, CnnSpec};
    use crate::core::presets;

    fn tiles() -> Vec<TileId> {
        (0..3).map(|class| TileId { class, feature: 0, tile: 0 }).collect()
    }

    fn cnn() -> Cnn {
        Cnn::new(CnnSpec { classes: 3, ..CnnSpec::fashion() }, 1).unwrap()
    }

    fn study(epsilon: Option<f32>) -> InvarianceResult {
        let settings = Perturbations { epsilon_override: epsilon, ..Perturbations::random(8, 3) };
        invariance(&presets::fashion_three(), Classifier::Cnn(&cnn()), &tiles(), &settings).unwrap()
    }

    #[test]
    fn small_epsilon_has_no_breaks_and_a_flat_class_logit() {
        let result = study(None);
        assert_eq!(breaks(&result), Vec::new());
        for tile in &result.tiles {
            let spread = Spread::of(&tile.background.constructed);
            assert!(spread.std[tile.label].abs() < 1e-6, "the true logit does not move under background perturbations");
            assert!((spread.mean[tile.label] - tile.epsilon).abs() < 1e-3);
        }
    }

    #[test]
    fn a_huge_epsilon_breaks_invariance_and_says_how() {
        let found = breaks(&study(Some(400.0)));
        assert!(!found.is_empty());
        assert!(found.iter().any(|b| b.what.contains("matched too") || b.what.contains("near the tile")), "{found:?}");
    }

    #[test]
    fn the_sweep_reports_the_first_epsilon_with_a_break() {
        let settings = Perturbations::random(8, 3);
        let grid = [1.0, 400.0, 800.0];
        let moves =
            epsilon_sweep(&presets::fashion_three(), Classifier::Cnn(&cnn()), &tiles(), &settings, &grid).unwrap();
        assert_eq!(moves.len(), 3);
        // Checked against the direct definition: the first ε of the grid where `breaks` names the tile.
        let at: Vec<Vec<Break>> = grid.iter().map(|&e| breaks(&study(Some(e)))).collect();
        for first in &moves {
            let expected = grid.iter().zip(&at).find(|(_, found)| found.iter().any(|b| b.tile == first.name));
            assert_eq!(first.epsilon, expected.map(|(&e, _)| e), "{}", first.name);
            if let Some((_, found)) = expected {
                assert_eq!(first.images, found.iter().filter(|b| b.tile == first.name).count());
                assert_eq!(first.of, 16);
            }
        }
        assert!(moves.iter().any(|m| m.epsilon.is_some()), "ε = 800 breaks some tile");
        let never =
            epsilon_sweep(&presets::fashion_three(), Classifier::Cnn(&cnn()), &tiles(), &settings, &[0.5]).unwrap();
        assert!(never.iter().all(|m| m.epsilon.is_none() && m.images == 0), "{never:?}");
    }

    #[test]
    fn the_grid_is_ascending_powers_of_two() {
        let grid = epsilon_grid();
        assert_eq!((grid[0], *grid.last().unwrap()), (0.25, 1024.0));
        assert!(grid.windows(2).all(|w| w[1] == 2.0 * w[0]));
    }

    #[test]
    fn histograms_count_every_finite_value_once() {
        let values = [0.0, 0.5, 1.0, 1.0, f64::NAN, -3.0];
        let counts = histogram(values.into_iter(), 0.0, 0.05, 20);
        assert_eq!(counts.iter().sum::<usize>(), 5, "NaN is skipped, values below the range go to the first bin");
        assert_eq!(counts[19], 2, "the top edge belongs to the last bin");
        assert_eq!(counts[10], 1, "0.5 = low + 10 bin widths starts bin 10");
        assert_eq!(counts[0], 2);
        assert!(histogram(values.into_iter(), 0.0, 0.05, 0).is_empty());
        assert_eq!(bin_range(&[vec![2.0, 2.0]]), (1.5, 2.5));
        assert_eq!(bin_range(&[vec![f32::NAN]]), (0.0, 1.0));
        assert_eq!(bin_range(&[vec![-1.0, 3.0], vec![f32::INFINITY, 0.5]]), (-1.0, 3.0));
    }
}
