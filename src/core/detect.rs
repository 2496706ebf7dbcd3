//! The direct detectors `d_T`, `φ_T`, `φ_F`, `φ_O` and the argmax classifier (CONSTRUCTION.md §2):
//! the "template matching" reference that every network must equal.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::tile::{ClassSet, Feature, Object, Tile};

/// `σ = ReLU`.
pub fn relu(y: f32) -> f32 {
    y.max(0.0)
}

/// `d_T(x, i, j) = Σ_{(a,b) ∈ S} |x[i+a][j+b] − t[a][b]|`, the distance of window `(i, j)` to the tile.
///
/// The window must lie inside the image (`i ≤ H−k`, `j ≤ W−l`).
pub fn distance(tile: &Tile, image: ArrayView2<f32>, i: usize, j: usize) -> f32 {
    let mask = tile.support();
    let values = tile.values();
    let mut sum = 0.0;
    for a in 0..tile.rows() {
        let window = image.row(i + a);
        for b in 0..tile.cols() {
            // The mask as a 0/1 factor keeps the inner loop branch-free.
            let weight = f32::from(u8::from(mask[[a, b]]));
            sum += weight * (window[j + b] - values[[a, b]]).abs();
        }
    }
    sum
}

/// `d_T(x, i, j)` for every valid window: an `(H−k+1)×(W−l+1)` map (empty if the tile does not fit).
pub fn distance_map(tile: &Tile, image: ArrayView2<f32>) -> Array2<f32> {
    let (height, width) = image.dim();
    if tile.rows() > height || tile.cols() > width {
        return Array2::zeros((0, 0));
    }
    let (rows, cols) = (height - tile.rows() + 1, width - tile.cols() + 1);
    let weights = tile.support().mapv(|s| f32::from(u8::from(s)));
    let values = tile.values();
    let image = image.as_standard_layout();
    let mut map = Array2::zeros((rows, cols));
    for a in 0..tile.rows() {
        let (t_row, w_row) = (values.row(a), weights.row(a));
        for i in 0..rows {
            let x_row = image.row(i + a);
            let x_row = x_row.as_slice().unwrap_or(&[]);
            let out = map.row_mut(i);
            accumulate_row(out, x_row, t_row.as_slice().unwrap_or(&[]), w_row.as_slice().unwrap_or(&[]));
        }
    }
    map
}

/// `out[j] += Σ_b w[b]·|x[j+b] − t[b]|` for every `j`.
fn accumulate_row(mut out: ndarray::ArrayViewMut1<f32>, x: &[f32], t: &[f32], w: &[f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        let window = &x[j..j + t.len()];
        *o += window.iter().zip(t).zip(w).map(|((&xv, &tv), &wv)| wv * (xv - tv).abs()).sum::<f32>();
    }
}

/// `σ(ε − d_T(x,i,j))` for every valid window: the monosemantic detector map of a tile.
pub fn detector_map(tile: &Tile, image: ArrayView2<f32>) -> Array2<f32> {
    distance_map(tile, image).mapv(|d| relu(tile.epsilon() - d))
}

/// `φ_T(x) = Σ_{i,j} σ(ε − d_T(x,i,j))`; positive iff `x` contains `T`.
pub fn phi_tile(tile: &Tile, image: ArrayView2<f32>) -> f32 {
    detector_map(tile, image).sum()
}

/// `φ_F(x) = Σ_{T∈F} φ_T(x)`.
pub fn phi_feature(feature: &Feature, image: ArrayView2<f32>) -> f32 {
    feature.tiles.iter().map(|t| phi_tile(t, image)).sum()
}

/// `φ_O(x) = min_{F∈O} φ_F(x)`.
pub fn phi_object(object: &Object, image: ArrayView2<f32>) -> f32 {
    object.features.iter().map(|f| phi_feature(f, image)).fold(f32::INFINITY, f32::min).max(0.0)
}

/// The logits `φ_{O_ℓ}(x)` of every class, computed in parallel over classes.
pub fn logits(classes: &ClassSet, image: ArrayView2<f32>) -> Vec<f32> {
    classes.classes.par_iter().map(|o| phi_object(o, image)).collect()
}

/// Logits for many images, in parallel over the images.
pub fn logits_batch(classes: &ClassSet, images: &[Array2<f32>]) -> Vec<Vec<f32>> {
    images.par_iter().map(|x| classes.classes.iter().map(|o| phi_object(o, x.view())).collect()).collect()
}

/// `argmax_ℓ` of the logits, or `None` when no logit is positive (no object found).
pub fn classify(logits: &[f32]) -> Option<usize> {
    logits.iter().enumerate().filter(|(_, v)| **v > 0.0).max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i)
}

/// The largest `d_T` any image can reach: `Σ_{(a,b) ∈ S} max(t[a][b], 1 − t[a][b])`.
///
/// With `ε` above it, every window of every image in `[0,1]` matches the tile.
pub fn max_distance(tile: &Tile) -> f32 {
    tile.support_pixels().map(|(_, _, t)| t.max(1.0 - t)).sum()
}

/// True iff some window of `image` holds the tile (`d_T < ε`).
pub fn contains_tile(tile: &Tile, image: ArrayView2<f32>) -> bool {
    distance_map(tile, image).iter().any(|&d| d < tile.epsilon())
}

/// True iff `image` contains every feature of the object.
pub fn contains_object(object: &Object, image: ArrayView2<f32>) -> bool {
    object.features.iter().all(|f| f.tiles.iter().any(|t| contains_tile(t, image)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tile::single_tile_object;
    use ndarray::array;

    fn brute_distance(tile: &Tile, x: &Array2<f32>, i: usize, j: usize) -> f32 {
        tile.support_pixels().map(|(a, b, t)| (x[[i + a, j + b]] - t).abs()).sum()
    }

    #[test]
    fn distance_map_matches_the_formula() {
        let tile =
            Tile::new(array![[0.2, 0.0, 1.0], [0.7, 0.4, 0.0]], array![[true, true, false], [true, false, true]], 0.3)
                .unwrap();
        let x = Array2::from_shape_fn((5, 6), |(r, c)| ((r * 7 + c * 3) % 11) as f32 / 10.0);
        let map = distance_map(&tile, x.view());
        assert_eq!(map.dim(), (4, 4));
        for ((i, j), &d) in map.indexed_iter() {
            assert!((d - brute_distance(&tile, &x, i, j)).abs() < 1e-5);
            assert!((d - distance(&tile, x.view(), i, j)).abs() < 1e-5);
        }
    }

    #[test]
    fn max_distance_is_reached_by_the_opposite_image() {
        let tile = Tile::new(array![[0.2, 0.0], [1.0, 0.7]], array![[true, true], [true, false]], 0.3).unwrap();
        assert!((max_distance(&tile) - (0.8 + 1.0 + 1.0)).abs() < 1e-6);
        let opposite = tile.values().mapv(|t| if t < 0.5 { 1.0 } else { 0.0 });
        assert!((distance(&tile, opposite.view(), 0, 0) - max_distance(&tile)).abs() < 1e-6);
    }

    #[test]
    #[allow(clippy::float_cmp)] // the claim is an exact 0
    fn exact_copy_is_detected_and_classified() {
        let black = Tile::filled(2, 2, 1.0, 0.5).unwrap();
        let white = Tile::filled(2, 2, 0.0, 0.5).unwrap();
        let classes =
            ClassSet { classes: vec![single_tile_object("black", black), single_tile_object("white", white)] };
        let mut x = Array2::from_elem((4, 4), 0.5);
        x.slice_mut(ndarray::s![1..3, 2..4]).fill(1.0);
        let l = logits(&classes, x.view());
        assert!((l[0] - 0.5).abs() < 1e-6, "one exact window gives σ(ε − 0) = ε");
        assert_eq!(l[1], 0.0, "the other class is exactly 0");
        assert_eq!(classify(&l), Some(0));
        assert_eq!(classify(&[0.0, 0.0]), None);
    }
}
