//! The output head shared by N1 and N2 (CONSTRUCTION.md §4.3): sums of detector neurons, then for
//! objects with several features a tree of min-layers built from `min(a, b) = σ(a) − σ(a − b)`.
//!
//! A class's running values are linear combinations of the current layer's neurons. A min-layer
//! pairs them up: for `(a, b)` it has the neurons `σ(a)` and `σ(a − b)`, whose difference is
//! `min(a, b)` because `a ≥ 0`; an odd one out (or a class already down to one value) is carried
//! as `σ(a) = a`. The last layer is linear and outputs each class's single remaining value.

use crate::core::nn::sparse::{LayerKind, SparseDense, SparseLayer};
use crate::core::tile::{ClassSet, TileId};

/// A linear combination `Σ w·unit` of the previous layer's outputs.
type Combination = Vec<(usize, f32)>;

/// The layers after the detector layer: `units_of(tile)` gives the flat indices of that tile's
/// detectors at valid offsets. One linear layer for `m = 1`; otherwise a feature-sum layer,
/// `⌈log2 max m⌉` min-layers and a linear output layer.
pub fn output_layers(classes: &ClassSet, units_of: &dyn Fn(TileId) -> Vec<usize>) -> Vec<SparseLayer> {
    let feature_sums: Vec<Vec<Combination>> = classes
        .classes
        .iter()
        .enumerate()
        .map(|(class, object)| {
            (0..object.features.len()).map(|feature| feature_sum(classes, class, feature, units_of)).collect()
        })
        .collect();
    if classes.max_features() <= 1 {
        let sums: Vec<Combination> = feature_sums.into_iter().map(|mut f| f.pop().unwrap_or_default()).collect();
        return vec![logit_layer(classes, &sums)];
    }
    let (features, mut values) = feature_layer(classes, &feature_sums);
    let mut layers = vec![features];
    let mut depth = 1;
    while values.iter().any(|v| v.len() > 1) {
        let (layer, next) = min_layer(classes, &values, depth);
        layers.push(layer);
        values = next;
        depth += 1;
    }
    let finals: Vec<Combination> = values.into_iter().map(|mut v| v.pop().unwrap_or_default()).collect();
    layers.push(logit_layer(classes, &finals));
    layers
}

/// `Σ_{T∈F} Σ_{i,j} h_{T,i,j}` as a combination of detector units (weights 1).
fn feature_sum(
    classes: &ClassSet,
    class: usize,
    feature: usize,
    units_of: &dyn Fn(TileId) -> Vec<usize>,
) -> Combination {
    let tiles = classes.classes[class].features[feature].tiles.len();
    (0..tiles).flat_map(|tile| units_of(TileId { class, feature, tile })).map(|unit| (unit, 1.0)).collect()
}

/// The hidden layer of feature sums `f_F = σ(Σ h)` (non-negative, so the `ReLU` is exact).
fn feature_layer(classes: &ClassSet, sums: &[Vec<Combination>]) -> (SparseLayer, Vec<Vec<Combination>>) {
    let mut dense = SparseDense::new(true);
    let mut meanings = Vec::new();
    let mut values = Vec::new();
    for (object, class_sums) in classes.classes.iter().zip(sums) {
        let mut class_values = Vec::new();
        for (feature, sum) in object.features.iter().zip(class_sums) {
            let unit = dense.push_neuron(sum, 0.0);
            meanings.push(format!("class '{}': feature '{}' = Σ of its detectors", object.name, feature.name));
            class_values.push(vec![(unit, 1.0)]);
        }
        values.push(class_values);
    }
    let layer = SparseLayer { name: "feature sums".into(), kind: LayerKind::Dense(dense), meanings };
    (layer, values)
}

/// One min-layer: pairs `(a, b)` become `σ(a)`, `σ(a − b)`; an odd value becomes `σ(a)`.
/// Returns the layer and each class's values as combinations of its neurons.
pub fn min_layer(
    classes: &ClassSet,
    values: &[Vec<Combination>],
    depth: usize,
) -> (SparseLayer, Vec<Vec<Combination>>) {
    let mut dense = SparseDense::new(true);
    let mut meanings = Vec::new();
    let mut next = Vec::with_capacity(values.len());
    for (object, class_values) in classes.classes.iter().zip(values) {
        let mut class_next = Vec::new();
        for (pair_index, pair) in class_values.chunks(2).enumerate() {
            let what = format!("class '{}', min-layer {depth}, value {}", object.name, pair_index + 1);
            let a = dense.push_neuron(&pair[0], 0.0);
            meanings.push(format!("{what}: σ(a)"));
            if let [first, second] = pair {
                let difference: Combination =
                    first.iter().copied().chain(second.iter().map(|&(u, w)| (u, -w))).collect();
                let a_minus_b = dense.push_neuron(&difference, 0.0);
                meanings.push(format!("{what}: σ(a − b), min(a, b) = σ(a) − σ(a − b)"));
                class_next.push(vec![(a, 1.0), (a_minus_b, -1.0)]);
            } else {
                class_next.push(vec![(a, 1.0)]);
            }
        }
        next.push(class_next);
    }
    let layer = SparseLayer { name: format!("min-layer {depth}"), kind: LayerKind::Dense(dense), meanings };
    (layer, next)
}

/// The linear output layer: logit `ℓ` = the class's final combination.
fn logit_layer(classes: &ClassSet, finals: &[Combination]) -> SparseLayer {
    let mut dense = SparseDense::new(false);
    let mut meanings = Vec::new();
    for (object, combination) in classes.classes.iter().zip(finals) {
        dense.push_neuron(combination, 0.0);
        meanings.push(format!("logit of class '{}'", object.name));
    }
    SparseLayer { name: "output".into(), kind: LayerKind::Dense(dense), meanings }
}
