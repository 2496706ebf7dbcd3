//! The trained network of any architecture in the cache: its pass over the input image (every
//! block's maps, or every layer of an n2-shaped network) and the selectivity of every hidden
//! layer over the dataset's samples (the class selectivity index and the classes-per-unit curve
//! over thresholds), one background job keyed by the weights version, the input and the dataset
//! generation. The frame only draws the result.

use std::sync::Arc;

use ndarray::Array2;

use crate::core::nn::arch::Arch;
use crate::core::nn::deep::{DeepActivations, DeepNet};
use crate::core::nn::n2_shaped::N2Shaped;
use crate::core::nn::sparse::Activation;
use crate::core::selectivity::{self, ClassMaxima};

use super::Cache;
use crate::app::jobs::{Job, Keyed};

/// Most dataset samples the per-layer selectivity is measured over (a pass per sample and weights version).
pub const DEEP_PROBES: usize = 300;

/// What a deep pass is computed from: the weights version, the input's [`super::image_key`] and
/// the dataset generation whose samples are the probes.
pub type DeepKey = (u64, u64, u64);

/// A general trained network's pass over one input and the selectivity of its hidden layers.
pub struct DeepPass {
    pub net: Arc<DeepNet>,
    pub activations: DeepActivations,
    /// One per hidden layer (each conv block's `ReLU` maps, then the hidden FC layer): its name and
    /// per-class statistics; empty when no dataset of this generation was there to probe.
    pub layers: Vec<(String, ClassMaxima)>,
    /// Probe samples measured.
    pub probes: usize,
}

/// An n2-shaped network's pass over one input and the selectivity of its hidden layers.
pub struct ShapedPass {
    pub net: Arc<N2Shaped>,
    /// Every layer's output, N2's shapes (the last is the logits).
    pub outputs: Vec<Activation>,
    /// As [`DeepPass::layers`], with N2's layer names.
    pub layers: Vec<(String, ClassMaxima)>,
    pub probes: usize,
}

/// The dataset's first [`DEEP_PROBES`] images and labels, if they have the input's size.
fn probe_samples(data: Option<&crate::core::dataset::Dataset>, dim: (usize, usize)) -> (Vec<Array2<f32>>, Vec<usize>) {
    let samples = data.map_or(&[][..], |d| &d.samples[..d.samples.len().min(DEEP_PROBES)]);
    if samples.iter().any(|s| s.image.dim() != dim) {
        return (Vec::new(), Vec::new());
    }
    samples.iter().map(|s| (s.image.clone(), s.label)).unzip()
}

impl Cache {
    /// The n2-shaped passes (the newest, the running one, the last failure).
    pub fn shaped_forward(&self) -> &Keyed<DeepKey, ShapedPass> {
        &self.shaped_forward
    }

    /// Runs `image` through the n2-shaped `net` and measures its hidden layers over the dataset's
    /// first [`DEEP_PROBES`] samples, unless done, failed or running.
    pub fn shaped_forward_pass(
        &mut self,
        ctx: Option<&egui::Context>,
        net: &Arc<N2Shaped>,
        key: DeepKey,
        image: &Arc<Array2<f32>>,
    ) {
        let data = self.dataset().filter(|_| self.dataset_generation() == key.2).cloned();
        self.shaped_forward.request(key, || {
            let (net, image) = (Arc::clone(net), Arc::clone(image));
            Job::spawn("n2-shaped network pass and selectivity", ctx.cloned(), move |shared| {
                let outputs = net.forward(image.view()).map_err(|e| e.to_string())?;
                shared.set_progress(0.1);
                let (images, labels) = probe_samples(data.as_deref(), image.dim());
                let layers = if images.is_empty() {
                    Vec::new()
                } else {
                    selectivity::n2_shaped_layers(&net, &images, &labels).map_err(|e| e.to_string())?
                };
                let probes = if layers.is_empty() { 0 } else { images.len() };
                Ok(ShapedPass { net, outputs, layers, probes })
            })
        });
    }

    /// The deep passes (the newest, the running one, the last failure).
    pub fn deep_forward(&self) -> &Keyed<DeepKey, DeepPass> {
        &self.deep_forward
    }

    /// Runs `image` through `net` and measures its layers over the dataset's first [`DEEP_PROBES`]
    /// samples, unless done, failed or running.
    pub fn deep_forward_pass(
        &mut self,
        ctx: Option<&egui::Context>,
        net: &Arc<DeepNet>,
        key: DeepKey,
        image: &Arc<Array2<f32>>,
    ) {
        let data = self.dataset().filter(|_| self.dataset_generation() == key.2).cloned();
        self.deep_forward.request(key, || {
            let (net, image) = (Arc::clone(net), Arc::clone(image));
            Job::spawn("trained network pass and selectivity", ctx.cloned(), move |shared| {
                let activations = net.forward(image.view()).map_err(|e| e.to_string())?;
                shared.set_progress(0.1);
                let (images, labels) = probe_samples(data.as_deref(), image.dim());
                let layers = if images.is_empty() {
                    Vec::new()
                } else {
                    selectivity::trained_layers(&net, &images, &labels).map_err(|e| e.to_string())?
                };
                Ok(DeepPass { net, activations, probes: if layers.is_empty() { 0 } else { images.len() }, layers })
            })
        });
    }
}

/// One line per layer, as `Arch::describe` says it with the arrows the app's font lacks written as "gives".
pub fn describe(arch: &Arch) -> String {
    arch.describe().join("\n").replace(" → ", " gives ")
}

/// The input pixels `(row, col, rows, cols)` that unit `(row, col)` of block `block`'s
/// convolution output (before pooling) reads, through every block below it.
pub fn receptive_field(net: &DeepNet, block: usize, row: usize, col: usize) -> (usize, usize, usize, usize) {
    let blocks = &net.arch().blocks;
    let (mut rows, mut cols) = ((row, row), (col, col));
    for (i, b) in blocks.iter().enumerate().take(block + 1).rev() {
        if i < block && b.pool {
            // A pooled unit reads a 2×2 window of its block's convolution output.
            (rows, cols) = ((2 * rows.0, 2 * rows.1 + 1), (2 * cols.0, 2 * cols.1 + 1));
        }
        let reach = b.dilation * (b.kernel - 1);
        (rows, cols) = ((rows.0 * b.stride, rows.1 * b.stride + reach), (cols.0 * b.stride, cols.1 * b.stride + reach));
    }
    (rows.0, cols.0, rows.1 - rows.0 + 1, cols.1 - cols.0 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::arch::ConvBlock;

    #[test]
    fn receptive_fields_grow_through_strides_dilations_and_pools() {
        let deep = DeepNet::new(Arch::deep(40, 40, 3), 1).unwrap();
        assert_eq!(receptive_field(&deep, 0, 5, 7), (5, 7, 3, 3), "a 3×3 kernel");
        // Block 2's unit (1, 2) reads pooled rows 1..=3, conv rows 2..=7, input rows 2..=9.
        assert_eq!(receptive_field(&deep, 1, 1, 2), (2, 4, 8, 8));
        let arch = Arch {
            blocks: vec![
                ConvBlock { kernel: 3, filters: 2, stride: 2, dilation: 2, pool: false },
                ConvBlock::plain(2, 2),
            ],
            ..Arch::deep(20, 20, 2)
        };
        let net = DeepNet::new(arch, 1).unwrap();
        assert_eq!(receptive_field(&net, 0, 1, 0), (2, 0, 5, 5), "span 5 from 2·1");
        assert_eq!(receptive_field(&net, 1, 1, 0), (2, 0, 7, 7), "two units of stride 2 and span 5");
    }
}
