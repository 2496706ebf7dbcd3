//! N2 (Theorem 2, CONSTRUCTION.md §5): hierarchical compositionality. Tiles are padded to `K×K`
//! (`K = 2^r`); layer 1 measures the distance of every 2×2 window to each distinct aligned 2×2
//! block of the tiles, and layer `s` adds up four quadrant distances (2×2 kernels, dilation
//! `2^(s−1)`) into the distance to a `2^s×2^s` block, until layer `r` holds `d_T` for every tile.

use std::collections::HashMap;
use std::hash::Hash;

use ndarray::Array2;

use super::min_tree::output_layers;
use super::{
    BlockChannel, BlockLevel, BlockPlace, ConstructError, Constructed, Detectors, DistinctValues, Limit,
    MAX_N2_CHANNELS, MAX_WEIGHTS, TileDetector, abs_term, check_limit, span, validate,
};
use crate::core::nn::sparse::{LayerKind, SparseConv, SparseLayer, SparseNetwork, Tap};
use crate::core::tile::{ClassSet, TileId};

/// A tile padded to `K×K`; the new pixels are outside the support.
struct PaddedTile {
    id: TileId,
    label: String,
    values: Array2<f32>,
    support: Array2<bool>,
}

/// One block layer while it is built: the conv, its channels, and for every tile the channel of
/// each of its aligned blocks (`grid[tile][a·n + b]`, `None` for an empty block).
struct Level {
    conv: SparseConv,
    channels: Vec<BlockChannel>,
    grid: Vec<Vec<Option<usize>>>,
}

/// Builds N2 for `height×width` images.
pub fn build_n2(classes: &ClassSet, height: usize, width: usize) -> Result<Constructed, ConstructError> {
    validate(classes, height, width)?;
    check_limit("N2", "channels", channel_bound(classes), &N2_CHANNELS)?;
    check_limit("N2", "weights in its output head", head_weights(classes, height, width), &N2_HEAD)?;
    let side = block_side(classes);
    let min_rows = classes.tiles().map(|(_, t)| t.rows()).min().unwrap_or(1);
    let min_cols = classes.tiles().map(|(_, t)| t.cols()).min().unwrap_or(1);
    let (pad_rows, pad_cols) = (side - min_rows, side - min_cols);
    let tiles: Vec<PaddedTile> = classes.tiles().map(|(id, t)| pad_tile(classes, id, t, side)).collect();
    let values = DistinctValues::of(classes);

    let mut levels = vec![distinct_blocks(&tiles, &values, side)];
    let mut size = 2;
    while size < side {
        size *= 2;
        let next = quadrant_blocks(&levels[levels.len() - 1].grid, &tiles, side, size);
        levels.push(next);
    }
    let mut layers = vec![SparseLayer {
        name: "zero padding".into(),
        kind: LayerKind::Pad { bottom: pad_rows, right: pad_cols },
        meanings: vec![format!(
            "the image, padded by {pad_rows} rows and {pad_cols} columns (read only at invalid offsets)"
        )],
    }];
    layers.push(layer0(&values));
    let mut block_levels = Vec::with_capacity(levels.len());
    let mut top_grid = Vec::new();
    for (s, level) in (1..).zip(levels) {
        let meanings = level.channels.iter().map(|c| block_meaning(s, c, &tiles)).collect();
        let dilation = level.conv.dilation;
        let name = format!("layer {s}: {0}×{0} blocks (2×2 kernel, dilation {dilation})", 1 << s);
        layers.push(SparseLayer { name, kind: LayerKind::Conv(level.conv), meanings });
        block_levels.push(BlockLevel { layer: layers.len() - 1, size: 1 << s, channels: level.channels });
        top_grid = level.grid;
    }
    let map = (height - min_rows + 1, width - min_cols + 1);
    let (detection, detectors) = detection_layer(classes, &tiles, &top_grid, (height, width), map);
    layers.push(detection);
    let detector_layer = layers.len() - 1;
    let units_of = |id: TileId| detectors.iter().find(|d| d.tile == id).map(TileDetector::units).unwrap_or_default();
    layers.extend(output_layers(classes, &units_of));
    let network = SparseNetwork::new((height, width), layers)?;
    Ok(Constructed { network, detectors: Detectors { layer: detector_layer, tiles: detectors }, blocks: block_levels })
}

/// [`MAX_N2_CHANNELS`] with what to change.
const N2_CHANNELS: Limit =
    Limit { value: MAX_N2_CHANNELS, constant: "MAX_N2_CHANNELS", hint: "use fewer or smaller tiles" };

/// [`MAX_WEIGHTS`] as it applies to N2's head (one weight per tile and window).
const N2_HEAD: Limit =
    Limit { value: MAX_WEIGHTS, constant: "MAX_WEIGHTS", hint: "use a smaller image or fewer tiles" };

/// At most as many channels as N2 can have before blocks are deduplicated: every aligned block of
/// every padded tile at every level, plus the value channels (counted before anything is built).
pub fn channel_bound(classes: &ClassSet) -> usize {
    let side = block_side(classes);
    let blocks_per_tile = (1..usize::BITS).map(|s| (side >> s) * (side >> s)).take_while(|&n| n > 0).sum::<usize>();
    let values: usize = classes.tiles().map(|(_, t)| t.support_len()).fold(1, usize::saturating_add);
    classes.tiles().count().saturating_mul(blocks_per_tile + 1).saturating_add(values)
}

/// The weights of N2's output head: one per tile and valid window (saturating).
fn head_weights(classes: &ClassSet, height: usize, width: usize) -> usize {
    classes
        .tiles()
        .map(|(_, t)| (height.saturating_sub(t.rows()) + 1).saturating_mul(width.saturating_sub(t.cols()) + 1))
        .fold(0, usize::saturating_add)
}

/// `K`: the smallest power of two that is at least 2 and at least every tile side.
pub fn block_side(classes: &ClassSet) -> usize {
    let largest = classes.tiles().map(|(_, t)| t.rows().max(t.cols())).max().unwrap_or(1);
    largest.max(2).next_power_of_two()
}

fn pad_tile(classes: &ClassSet, id: TileId, tile: &crate::core::tile::Tile, side: usize) -> PaddedTile {
    let mut values = Array2::zeros((side, side));
    let mut support = Array2::from_elem((side, side), false);
    for (a, b, c) in tile.support_pixels() {
        values[[a, b]] = c;
        support[[a, b]] = true;
    }
    PaddedTile { id, label: classes.tile_label(id), values, support }
}

/// Layer 0, 1×1 kernels: `σ(2x − 2c)` per distinct non-zero support value `c`, then `σ(x)`.
fn layer0(values: &DistinctValues) -> SparseLayer {
    let mut conv = SparseConv::new((1, 1), 1, true);
    let mut meanings = Vec::new();
    for &c in &values.values {
        conv.push_channel(vec![Tap { channel: 0, dy: 0, dx: 0, weight: 2.0 }], -2.0 * c);
        meanings.push(format!("σ(2x − 2c), c = {c:.4}"));
    }
    conv.push_channel(vec![Tap { channel: 0, dy: 0, dx: 0, weight: 1.0 }], 0.0);
    meanings.push("σ(x) = x (identity)".into());
    SparseLayer { name: "layer 0: values (1×1 kernels)".into(), kind: LayerKind::Conv(conv), meanings }
}

/// Layer 1: one channel per distinct aligned 2×2 block `P` (same support, same values on it):
/// `Σ_{q∈supp P} |x[p+q] − P_q|`, each term an [`abs_term`] of layer 0's channels.
fn distinct_blocks(tiles: &[PaddedTile], values: &DistinctValues, side: usize) -> Level {
    let identity = values.len();
    let per_side = side / 2;
    let mut dedupe = Dedupe::default();
    let mut grid = Vec::with_capacity(tiles.len());
    for tile in tiles {
        let mut cells = Vec::with_capacity(per_side * per_side);
        for a in 0..per_side {
            for b in 0..per_side {
                let pixels: Vec<(usize, usize, u32)> = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .into_iter()
                    .filter(|&(dy, dx)| tile.support[[2 * a + dy, 2 * b + dx]])
                    .map(|(dy, dx)| (dy, dx, tile.values[[2 * a + dy, 2 * b + dx]].to_bits()))
                    .collect();
                let place = BlockPlace { tile: tile.id, row: 2 * a, col: 2 * b };
                let cell = (!pixels.is_empty())
                    .then(|| dedupe.channel(pixels, place, |pixels| block_taps(pixels, values, identity)));
                cells.push(cell);
            }
        }
        grid.push(cells);
    }
    dedupe.into_level((2, 2), 1, grid)
}

/// The taps and bias of a layer-1 channel for the block pixels `(dy, dx, value bits)`.
fn block_taps(
    pixels: &[(usize, usize, u32)],
    values: &DistinctValues,
    identity: usize,
) -> (Vec<Tap>, f32, [Option<usize>; 4]) {
    let mut taps = Vec::new();
    let mut bias = 0.0;
    for &(dy, dx, bits) in pixels {
        let c = f32::from_bits(bits);
        let (term, constant) = abs_term(values.position(c), identity, c);
        taps.extend(term.into_iter().map(|(channel, weight)| Tap { channel, dy, dx, weight }));
        bias += constant;
    }
    (taps, bias, [None; 4])
}

/// Layer `s ≥ 2` (block side `size = 2^s`): one channel per distinct aligned block, the sum of its
/// non-empty quadrants' channels read at `(0,0), (0,h), (h,0), (h,h)` with dilation `h = size/2`.
fn quadrant_blocks(previous: &[Vec<Option<usize>>], tiles: &[PaddedTile], side: usize, size: usize) -> Level {
    let (per_side, previous_side) = (side / size, 2 * side / size);
    let mut dedupe = Dedupe::default();
    let mut grid = Vec::with_capacity(tiles.len());
    for (tile, cells_below) in tiles.iter().zip(previous) {
        let mut cells = Vec::with_capacity(per_side * per_side);
        for a in 0..per_side {
            for b in 0..per_side {
                let quadrants = [(0, 0), (0, 1), (1, 0), (1, 1)]
                    .map(|(qy, qx)| cells_below[(2 * a + qy) * previous_side + 2 * b + qx]);
                let place = BlockPlace { tile: tile.id, row: a * size, col: b * size };
                // Equal blocks have equal quadrant channels (those are deduplicated already).
                let cell = quadrants
                    .iter()
                    .any(Option::is_some)
                    .then(|| dedupe.channel(quadrants, place, |_| quadrant_taps(quadrants)));
                cells.push(cell);
            }
        }
        grid.push(cells);
    }
    dedupe.into_level((2, 2), size / 2, grid)
}

/// Taps summing the non-empty quadrant channels.
fn quadrant_taps(quadrants: [Option<usize>; 4]) -> (Vec<Tap>, f32, [Option<usize>; 4]) {
    let taps = [(0, 0), (0, 1), (1, 0), (1, 1)]
        .into_iter()
        .zip(quadrants)
        .filter_map(|((dy, dx), q)| q.map(|channel| Tap { channel, dy, dx, weight: 1.0 }))
        .collect();
    (taps, 0.0, quadrants)
}

/// Channels keyed by block content: the same block anywhere gets one channel.
struct Dedupe<K> {
    index: HashMap<K, usize>,
    channels: Vec<(Vec<Tap>, f32, BlockChannel)>,
}

impl<K> Default for Dedupe<K> {
    fn default() -> Self {
        Self { index: HashMap::new(), channels: Vec::new() }
    }
}

impl<K: Hash + Eq> Dedupe<K> {
    /// The channel of the (non-empty) block `key` seen at `place`, created by `make` on first sight.
    fn channel(
        &mut self,
        key: K,
        place: BlockPlace,
        make: impl FnOnce(&K) -> (Vec<Tap>, f32, [Option<usize>; 4]),
    ) -> usize {
        let channel = if let Some(&channel) = self.index.get(&key) {
            channel
        } else {
            let (taps, bias, quadrants) = make(&key);
            self.channels.push((taps, bias, BlockChannel { places: Vec::new(), quadrants }));
            self.index.insert(key, self.channels.len() - 1);
            self.channels.len() - 1
        };
        self.channels[channel].2.places.push(place);
        channel
    }

    fn into_level(self, kernel: (usize, usize), dilation: usize, grid: Vec<Vec<Option<usize>>>) -> Level {
        let mut conv = SparseConv::new(kernel, dilation, true);
        let mut channels = Vec::with_capacity(self.channels.len());
        for (taps, bias, channel) in self.channels {
            conv.push_channel(taps, bias);
            channels.push(channel);
        }
        Level { conv, channels, grid }
    }
}

/// "layer 2: distance to 4×4 block (rows 4–7, cols 0–3) of tile 'Bag' (+2 more places)".
fn block_meaning(s: usize, channel: &BlockChannel, tiles: &[PaddedTile]) -> String {
    let size = 1 << s;
    let Some(first) = channel.places.first() else { return format!("layer {s}: unused block") };
    let label = tiles.iter().find(|t| t.id == first.tile).map_or("?", |t| t.label.as_str());
    let more = match channel.places.len() {
        1 => String::new(),
        n => format!(" (+{} more places)", n - 1),
    };
    format!(
        "layer {s}: distance to {size}×{size} block ({}) of tile '{label}'{more}",
        span(first.row, first.col, size, size)
    )
}

/// Detection, 1×1: `σ(ε − D_T)` per tile, read from the tile's top-level block channel.
fn detection_layer(
    classes: &ClassSet,
    tiles: &[PaddedTile],
    top_grid: &[Vec<Option<usize>>],
    (height, width): (usize, usize),
    map: (usize, usize),
) -> (SparseLayer, Vec<TileDetector>) {
    let mut conv = SparseConv::new((1, 1), 1, true);
    let mut meanings = Vec::new();
    let mut detectors = Vec::new();
    for (tile, cells) in tiles.iter().zip(top_grid) {
        let Some(original) = classes.tile(tile.id) else { continue };
        // The whole padded tile is one non-empty block: its support is never empty.
        let distance = cells.first().copied().flatten().unwrap_or(0);
        let channel =
            conv.push_channel(vec![Tap { channel: distance, dy: 0, dx: 0, weight: -1.0 }], original.epsilon());
        meanings.push(format!("tile '{}': σ(ε − d_T) (monosemantic detector)", tile.label));
        detectors.push(TileDetector {
            tile: tile.id,
            epsilon: original.epsilon(),
            valid: (height - original.rows() + 1, width - original.cols() + 1),
            channel: Some(channel),
            first_unit: channel * map.0 * map.1,
            row_stride: map.1,
        });
    }
    (SparseLayer { name: "detection (1×1)".into(), kind: LayerKind::Conv(conv), meanings }, detectors)
}
