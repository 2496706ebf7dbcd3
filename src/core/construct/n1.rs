//! N1 (Theorem 1, CONSTRUCTION.md §4): one conv layer of 2×2 value/identity filters, a hidden FC
//! layer of monosemantic neurons `σ(ε − d_T(x,i,j))`, and the output head.
//!
//! Images with fewer than 2 rows or columns are padded with a zero row/column at the bottom/right
//! that no window reads (every tile fits the unpadded image), so any image size works.

use std::collections::BTreeSet;

use super::min_tree::output_layers;
use super::{
    ConstructError, Constructed, DistinctValues, Limit, MAX_WEIGHTS, TileDetector, abs_term, check_limit, validate,
};
use crate::core::nn::sparse::{LayerKind, SparseConv, SparseDense, SparseLayer, SparseNetwork, Tap};
use crate::core::tile::{ClassSet, Tile, TileId};

/// The kernel positions `q` of a 2×2 kernel, in filter order.
const KERNEL_POSITIONS: [(usize, usize); 4] = [(0, 0), (0, 1), (1, 0), (1, 1)];

/// Numbering of N1's conv filters: for each `q`, the value filters `A_{q,c}` then `A_{q,id}`.
struct Filters<'a> {
    values: &'a DistinctValues,
    /// Conv output size `(H'−1, W'−1)` of the (possibly padded) `H'×W'` image.
    map: (usize, usize),
}

impl Filters<'_> {
    fn per_position(&self) -> usize {
        self.values.len() + 1
    }

    fn value_filter(&self, q: usize, c: f32) -> Option<usize> {
        self.values.position(c).map(|v| q * self.per_position() + v)
    }

    fn identity_filter(&self, q: usize) -> usize {
        q * self.per_position() + self.values.len()
    }

    /// Flat index of filter `filter`'s output at position `p`.
    fn unit(&self, filter: usize, p: (usize, usize)) -> usize {
        (filter * self.map.0 + p.0) * self.map.1 + p.1
    }
}

/// [`MAX_WEIGHTS`] as it applies to N1.
const N1_WEIGHTS: Limit = Limit {
    value: MAX_WEIGHTS,
    constant: "MAX_WEIGHTS",
    hint: "use a smaller image or fewer tiles; N2 computes the same logits with far fewer weights",
};

/// The weights of N1's hidden layer, `Σ_T windows · 2|supp t|` (saturating: sizes come from users).
pub fn n1_weights(classes: &ClassSet, height: usize, width: usize) -> usize {
    classes
        .tiles()
        .map(|(_, t)| {
            let windows = (height.saturating_sub(t.rows()) + 1).saturating_mul(width.saturating_sub(t.cols()) + 1);
            windows.saturating_mul(2 * t.support_len())
        })
        .fold(0, usize::saturating_add)
}

/// Whether N1 for `height×width` images stays within [`MAX_WEIGHTS`]: the error [`build_n1`]
/// would return, without building anything (a view says N1 is left out while showing N2).
pub fn n1_fits(classes: &ClassSet, height: usize, width: usize) -> Result<(), ConstructError> {
    check_limit("N1", "weights", n1_weights(classes, height, width), &N1_WEIGHTS)
}

/// Builds N1 for `height×width` images.
pub fn build_n1(classes: &ClassSet, height: usize, width: usize) -> Result<Constructed, ConstructError> {
    validate(classes, height, width)?;
    n1_fits(classes, height, width)?;
    let (rows, cols) = (height.max(2), width.max(2));
    let values = DistinctValues::of(classes);
    let filters = Filters { values: &values, map: (rows - 1, cols - 1) };

    let mut layers = Vec::new();
    if (rows, cols) != (height, width) {
        layers.push(SparseLayer {
            name: "zero padding".into(),
            kind: LayerKind::Pad { bottom: rows - height, right: cols - width },
            meanings: vec!["the image, padded with zeros no window reads".into()],
        });
    }
    layers.push(conv_layer(&values));
    let (hidden, detectors) = hidden_layer(classes, &filters, (height, width));
    layers.push(hidden);
    let detector_layer = layers.len() - 1;
    let units_of = |id: TileId| detectors.iter().find(|d| d.tile == id).map(TileDetector::units).unwrap_or_default();
    layers.extend(output_layers(classes, &units_of));
    let network = SparseNetwork::new((height, width), layers)?;
    Ok(Constructed {
        network,
        detectors: super::Detectors { layer: detector_layer, tiles: detectors },
        blocks: Vec::new(),
    })
}

/// The 2×2 conv layer: [`value_filters`] and the [`identity_filter`] for every kernel position.
fn conv_layer(values: &DistinctValues) -> SparseLayer {
    let mut conv = SparseConv::new((2, 2), 1, true);
    let mut meanings = Vec::new();
    for q in KERNEL_POSITIONS {
        for (taps, bias, meaning) in value_filters(q, values).into_iter().chain([identity_filter(q)]) {
            conv.push_channel(taps, bias);
            meanings.push(meaning);
        }
    }
    SparseLayer { name: "conv 2×2 (value & identity filters)".into(), kind: LayerKind::Conv(conv), meanings }
}

/// `A_{q,c}`: weight 2 at `q`, bias `−2c`, so it outputs `σ(2x[p+q] − 2c)`; one per distinct value.
fn value_filters(q: (usize, usize), values: &DistinctValues) -> Vec<(Vec<Tap>, f32, String)> {
    values
        .values
        .iter()
        .map(|&c| {
            let tap = Tap { channel: 0, dy: q.0, dx: q.1, weight: 2.0 };
            (vec![tap], -2.0 * c, format!("A(q={q:?}, c={c:.4}) = σ(2x[p+q] − 2c)"))
        })
        .collect()
}

/// `A_{q,id}`: weight 1 at `q`, bias 0, so it outputs `σ(x[p+q]) = x[p+q]`.
fn identity_filter(q: (usize, usize)) -> (Vec<Tap>, f32, String) {
    (vec![Tap { channel: 0, dy: q.0, dx: q.1, weight: 1.0 }], 0.0, format!("A(q={q:?}, id) = x[p+q]"))
}

/// The hidden FC layer: one neuron `h_{T,i,j} = σ(ε − d_T(x,i,j))` per tile and valid window.
fn hidden_layer(
    classes: &ClassSet,
    filters: &Filters,
    (height, width): (usize, usize),
) -> (SparseLayer, Vec<TileDetector>) {
    let mut dense = SparseDense::new(true);
    let mut meanings = Vec::new();
    let mut detectors = Vec::new();
    for (id, tile) in classes.tiles() {
        let valid = (height - tile.rows() + 1, width - tile.cols() + 1);
        let first_unit = dense.neurons();
        let label = classes.tile_label(id);
        for i in 0..valid.0 {
            for j in 0..valid.1 {
                let (weights, bias) = detector_neuron(tile, filters, i, j);
                dense.push_neuron(&weights, bias);
                meanings.push(format!("tile '{label}', window ({i}, {j}): σ(ε − d)"));
            }
        }
        detectors.push(TileDetector {
            tile: id,
            epsilon: tile.epsilon(),
            valid,
            channel: None,
            first_unit,
            row_stride: valid.1,
        });
    }
    let layer =
        SparseLayer { name: "hidden FC (monosemantic detectors)".into(), kind: LayerKind::Dense(dense), meanings };
    (layer, detectors)
}

/// The weights and bias of `σ(ε − Σ_{(a,b)∈S} |x[u][v] − t[a][b]|)`: each term is the
/// [`abs_term`] of the filters that read pixel `(u, v) = (i+a, j+b)`, at
/// `p = (min(u, H'−2), min(v, W'−2))`, `q = (u − p0, v − p1)`; the sum enters with weight −1.
fn detector_neuron(tile: &Tile, filters: &Filters, i: usize, j: usize) -> (Vec<(usize, f32)>, f32) {
    let mut weights = Vec::with_capacity(2 * tile.support_len());
    // Σc can reach hundreds: sum it in f64 so the stored bias is the correctly rounded ε − Σc.
    let mut constant = 0.0f64;
    for (a, b, c) in tile.support_pixels() {
        let (u, v) = (i + a, j + b);
        let p = (u.min(filters.map.0 - 1), v.min(filters.map.1 - 1));
        let q = (u - p.0) * 2 + (v - p.1);
        let value_unit = filters.value_filter(q, c).map(|f| filters.unit(f, p));
        let (term, bias) = abs_term(value_unit, filters.unit(filters.identity_filter(q), p), c);
        weights.extend(term.into_iter().map(|(unit, w)| (unit, -w)));
        constant += f64::from(bias);
    }
    (weights, (f64::from(tile.epsilon()) - constant) as f32)
}

/// The filters one tile reads against the paper's bound `4(|supp t| + 1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct TileFilters {
    pub tile: TileId,
    /// Distinct conv filters its detector neurons read.
    pub read: usize,
    /// `4(|supp t| + 1)`.
    pub bound: usize,
}

/// N1's filter count against the paper's bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterReport {
    /// Filters in the conv layer: `4(#distinct non-zero support values + 1)`.
    pub filters: usize,
    /// The bound for the whole set, `4(Σ_T |supp t_T| + 1)`.
    pub set_bound: usize,
    pub per_tile: Vec<TileFilters>,
}

/// Counts, from N1's actual weights, the filters each tile's detectors read.
pub fn filter_report(n1: &Constructed, classes: &ClassSet) -> FilterReport {
    let layers = n1.network.layers();
    let conv_layer = n1.detectors.layer.saturating_sub(1);
    let (filters, plane) = match (&layers[conv_layer].kind, n1.network.shapes()[conv_layer]) {
        (LayerKind::Conv(conv), crate::core::nn::sparse::Shape::Map { rows, cols, .. }) => {
            (conv.channels(), rows * cols)
        }
        _ => (0, 1),
    };
    let LayerKind::Dense(hidden) = &layers[n1.detectors.layer].kind else {
        return FilterReport { filters, set_bound: 0, per_tile: Vec::new() };
    };
    let mut total_support = 0;
    let per_tile = n1
        .detectors
        .tiles
        .iter()
        .filter_map(|detector| {
            let support = classes.tile(detector.tile)?.support_len();
            total_support += support;
            let read: BTreeSet<usize> =
                detector.units().into_iter().flat_map(|n| hidden.weights_of(n).map(|(unit, _)| unit / plane)).collect();
            Some(TileFilters { tile: detector.tile, read: read.len(), bound: 4 * (support + 1) })
        })
        .collect();
    FilterReport { filters, set_bound: 4 * (total_support + 1), per_tile }
}
