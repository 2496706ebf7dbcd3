//! The architecture of a trainable CNN of any depth: convolution blocks (kernel, filters, stride,
//! dilation, optional 2×2 max-pool, each followed by `ReLU`), an optional hidden fully connected
//! layer with `ReLU`, and the output layer; softmax cross-entropy on top.
//!
//! [`Arch::validate`] checks every size before anything is allocated and names the layer that
//! cannot work and why (a kernel wider than the map that reaches it, zero filters, too many blocks).
//! The presets are the paper's network and the `deep` one of issue 18.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cnn::{MAX_CLASSES, MAX_FILTERS, MAX_IMAGE_SIDE};

/// Most convolution blocks in one network.
pub const MAX_BLOCKS: usize = 8;
/// Largest kernel side, stride and dilation.
pub const MAX_KERNEL: usize = 64;
/// Largest hidden fully connected layer.
pub const MAX_HIDDEN: usize = 4096;
/// Largest number of trainable parameters (64 Mi floats = 256 MiB).
pub const MAX_PARAMETERS: usize = 1 << 26;

/// Why an architecture cannot be built; every variant names the layer and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ArchError {
    #[error("image {height}×{width}: each side must be 1 to {MAX_IMAGE_SIDE}")]
    Image { height: usize, width: usize },
    #[error("{0} classes: 2 to {MAX_CLASSES}")]
    Classes(usize),
    #[error("the network has no convolution block")]
    NoBlocks,
    #[error("{0} convolution blocks: at most {MAX_BLOCKS}")]
    TooManyBlocks(usize),
    #[error("conv block {block}: {filters} filters (1 to {MAX_FILTERS})")]
    Filters { block: usize, filters: usize },
    #[error("conv block {block}: {what} {value} (1 to {MAX_KERNEL})")]
    Setting { block: usize, what: &'static str, value: usize },
    #[error(
        "conv block {block}: a {kernel}×{kernel} kernel with dilation {dilation} spans {span} pixels, but the map that reaches it is {height}×{width}"
    )]
    KernelTooLarge { block: usize, kernel: usize, dilation: usize, span: usize, height: usize, width: usize },
    #[error("conv block {block}: a 2×2 max-pool needs a map of at least 2×2, the convolution gives {height}×{width}")]
    PoolTooLarge { block: usize, height: usize, width: usize },
    #[error("hidden fully connected layer: {0} units (1 to {MAX_HIDDEN})")]
    Hidden(usize),
    #[error("{0} trainable parameters: at most {MAX_PARAMETERS}")]
    TooManyParameters(usize),
}

/// A named architecture with its training settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The paper's network, plain SGD lr 0.03 (trained on the fused fast path).
    Paper,
    /// Issue 18's deep network, SGD with momentum 0.9, lr 0.01.
    Deep,
}

impl Preset {
    /// The architecture for `height×width` images and `classes` classes.
    pub fn arch(self, height: usize, width: usize, classes: usize) -> Arch {
        match self {
            Self::Paper => Arch::paper(height, width, classes),
            Self::Deep => Arch::deep(height, width, classes),
        }
    }

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Paper => "paper",
            Self::Deep => "deep",
        }
    }
}

/// One convolution block: conv (no padding) → `ReLU` → optional 2×2 max-pool with stride 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvBlock {
    pub kernel: usize,
    pub filters: usize,
    pub stride: usize,
    pub dilation: usize,
    pub pool: bool,
}

impl ConvBlock {
    /// A `kernel×kernel×filters` convolution with stride 1, dilation 1 and no pooling.
    pub fn plain(kernel: usize, filters: usize) -> Self {
        Self { kernel, filters, stride: 1, dilation: 1, pool: false }
    }

    /// The same block followed by a 2×2 max-pool.
    #[must_use]
    pub fn pooled(self) -> Self {
        Self { pool: true, ..self }
    }

    /// Pixels one kernel covers along a side, `dilation·(kernel − 1) + 1`.
    pub fn span(&self) -> usize {
        self.dilation * (self.kernel - 1) + 1
    }
}

/// The shape of one block's maps: the convolution output and what leaves the block (after pooling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockShape {
    /// Input channels, height, width.
    pub input: (usize, usize, usize),
    /// Convolution output (= `ReLU` output) height and width.
    pub conv: (usize, usize),
    /// Output height and width (after the pool, if any).
    pub output: (usize, usize),
}

/// A whole trainable network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Arch {
    pub height: usize,
    pub width: usize,
    pub classes: usize,
    pub blocks: Vec<ConvBlock>,
    /// Units of the hidden fully connected layer (with `ReLU`), if any.
    pub hidden: Option<usize>,
}

impl Arch {
    /// The paper's network: conv 5×5×12 → `ReLU` → FC.
    pub fn paper(height: usize, width: usize, classes: usize) -> Self {
        Self { height, width, classes, blocks: vec![ConvBlock::plain(5, 12)], hidden: None }
    }

    /// Issue 18's `deep` preset: conv 3×3×16, `ReLU`, pool, conv 3×3×32, `ReLU`, pool, FC.
    pub fn deep(height: usize, width: usize, classes: usize) -> Self {
        let blocks = vec![ConvBlock::plain(3, 16).pooled(), ConvBlock::plain(3, 32).pooled()];
        Self { height, width, classes, blocks, hidden: None }
    }

    /// Checks every size, layer by layer, without allocating anything proportional to them.
    pub fn validate(&self) -> Result<(), ArchError> {
        self.shapes().map(|_| ())
    }

    /// The shapes of every block, or why the architecture cannot work.
    pub fn shapes(&self) -> Result<Vec<BlockShape>, ArchError> {
        let side_ok = |s: usize| (1..=MAX_IMAGE_SIDE).contains(&s);
        if !side_ok(self.height) || !side_ok(self.width) {
            return Err(ArchError::Image { height: self.height, width: self.width });
        }
        if !(2..=MAX_CLASSES).contains(&self.classes) {
            return Err(ArchError::Classes(self.classes));
        }
        if self.blocks.is_empty() {
            return Err(ArchError::NoBlocks);
        }
        if self.blocks.len() > MAX_BLOCKS {
            return Err(ArchError::TooManyBlocks(self.blocks.len()));
        }
        let mut shapes = Vec::with_capacity(self.blocks.len());
        let (mut channels, mut height, mut width) = (1, self.height, self.width);
        for (i, block) in self.blocks.iter().enumerate() {
            let shape = block_shape(i + 1, block, (channels, height, width))?;
            (channels, (height, width)) = (block.filters, shape.output);
            shapes.push(shape);
        }
        if let Some(hidden) = self.hidden
            && !(1..=MAX_HIDDEN).contains(&hidden)
        {
            return Err(ArchError::Hidden(hidden));
        }
        let parameters = parameter_count(self, &shapes);
        if parameters > MAX_PARAMETERS {
            return Err(ArchError::TooManyParameters(parameters));
        }
        Ok(shapes)
    }

    /// Length of the flattened output of the last block.
    pub(crate) fn flat_features(shapes: &[BlockShape], blocks: &[ConvBlock]) -> usize {
        match (shapes.last(), blocks.last()) {
            (Some(s), Some(b)) => b.filters * s.output.0 * s.output.1,
            _ => 0,
        }
    }

    /// Total number of trainable parameters (0 if the architecture is invalid).
    pub fn parameter_count(&self) -> usize {
        self.shapes().map_or(0, |shapes| parameter_count(self, &shapes))
    }

    /// Floating-point operations of one training sample: forward, weight gradients and input
    /// gradients (none for the first layer), two per multiply-add.
    pub fn training_flops_per_sample(&self) -> f64 {
        let Ok(shapes) = self.shapes() else { return 0.0 };
        let mut flops = 0.0;
        for (i, (block, shape)) in self.blocks.iter().zip(&shapes).enumerate() {
            let macs =
                (block.filters * shape.input.0 * block.kernel * block.kernel * shape.conv.0 * shape.conv.1) as f64;
            flops += 2.0 * macs * if i == 0 { 2.0 } else { 3.0 };
        }
        let mut inputs = Self::flat_features(&shapes, &self.blocks);
        for outputs in self.hidden.into_iter().chain([self.classes]) {
            flops += 2.0 * 3.0 * (inputs * outputs) as f64;
            inputs = outputs;
        }
        flops
    }

    /// One line per layer, e.g. `conv 3×3×16 stride 1 dilation 1 → 38×38, max-pool → 19×19`.
    pub fn describe(&self) -> Vec<String> {
        let Ok(shapes) = self.shapes() else { return Vec::new() };
        let mut lines = vec![format!("input 1×{}×{}", self.height, self.width)];
        for (block, shape) in self.blocks.iter().zip(&shapes) {
            let mut line = format!(
                "conv {k}×{k}×{f}, stride {s}, dilation {d}, ReLU → {f}×{h}×{w}",
                k = block.kernel,
                f = block.filters,
                s = block.stride,
                d = block.dilation,
                h = shape.conv.0,
                w = shape.conv.1
            );
            if block.pool {
                let _ = write!(line, ", max-pool 2×2 → {}×{}×{}", block.filters, shape.output.0, shape.output.1);
            }
            lines.push(line);
        }
        if let Some(hidden) = self.hidden {
            lines.push(format!("fully connected → {hidden}, ReLU"));
        }
        lines.push(format!("fully connected → {} logits", self.classes));
        lines
    }
}

/// The shape of block `number` (1-based) on an input of `(channels, height, width)`.
fn block_shape(number: usize, block: &ConvBlock, input: (usize, usize, usize)) -> Result<BlockShape, ArchError> {
    if block.filters == 0 || block.filters > MAX_FILTERS {
        return Err(ArchError::Filters { block: number, filters: block.filters });
    }
    for (what, value) in [("kernel", block.kernel), ("stride", block.stride), ("dilation", block.dilation)] {
        if value == 0 || value > MAX_KERNEL {
            return Err(ArchError::Setting { block: number, what, value });
        }
    }
    let (_, height, width) = input;
    let span = block.span();
    if span > height || span > width {
        let (kernel, dilation) = (block.kernel, block.dilation);
        return Err(ArchError::KernelTooLarge { block: number, kernel, dilation, span, height, width });
    }
    let conv = ((height - span) / block.stride + 1, (width - span) / block.stride + 1);
    let output = if block.pool {
        if conv.0 < 2 || conv.1 < 2 {
            return Err(ArchError::PoolTooLarge { block: number, height: conv.0, width: conv.1 });
        }
        (conv.0 / 2, conv.1 / 2)
    } else {
        conv
    };
    Ok(BlockShape { input, conv, output })
}

fn parameter_count(arch: &Arch, shapes: &[BlockShape]) -> usize {
    let conv: usize = arch
        .blocks
        .iter()
        .zip(shapes)
        .map(|(b, s)| b.filters.saturating_mul(s.input.0 * b.kernel * b.kernel + 1))
        .fold(0, usize::saturating_add);
    let mut total = conv;
    let mut inputs = Arch::flat_features(shapes, &arch.blocks);
    for outputs in arch.hidden.into_iter().chain([arch.classes]) {
        total = total.saturating_add(outputs.saturating_mul(inputs.saturating_add(1)));
        inputs = outputs;
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_have_the_documented_shapes() {
        let deep = Arch::deep(40, 40, 10);
        let shapes = deep.shapes().unwrap();
        assert_eq!(shapes[0].conv, (38, 38));
        assert_eq!(shapes[0].output, (19, 19));
        assert_eq!(shapes[1].input, (16, 19, 19));
        assert_eq!(shapes[1].conv, (17, 17));
        assert_eq!(shapes[1].output, (8, 8));
        assert_eq!(deep.parameter_count(), 16 * 10 + 32 * (16 * 9 + 1) + 10 * (32 * 64 + 1));
        let paper = Arch::paper(40, 40, 10);
        assert_eq!(paper.parameter_count(), 12 * 26 + 10 * 15_553);
        let strided = Arch {
            blocks: vec![ConvBlock { kernel: 3, filters: 4, stride: 2, dilation: 2, pool: false }],
            ..Arch::paper(11, 12, 3)
        };
        assert_eq!(strided.shapes().unwrap()[0].conv, (4, 4), "span 5: (11−5)/2+1 and (12−5)/2+1");
    }

    #[test]
    fn impossible_architectures_name_the_layer() {
        let base = Arch::deep(40, 40, 10);
        let with_blocks = |blocks: Vec<ConvBlock>| Arch { blocks, ..base.clone() };
        let cases: Vec<(Arch, &str)> = vec![
            (with_blocks(vec![ConvBlock::plain(3, 16).pooled(); 64]), "64 convolution blocks"),
            (with_blocks(vec![ConvBlock::plain(3, 0)]), "conv block 1: 0 filters"),
            (
                with_blocks(vec![
                    ConvBlock::plain(3, 8).pooled(),
                    ConvBlock::plain(3, 8).pooled(),
                    ConvBlock::plain(9, 8),
                ]),
                "conv block 3: a 9×9 kernel with dilation 1 spans 9 pixels, but the map that reaches it is 8×8",
            ),
            (
                with_blocks(vec![ConvBlock { dilation: 20, ..ConvBlock::plain(3, 8) }]),
                "conv block 1: a 3×3 kernel with dilation 20 spans 41",
            ),
            (with_blocks(vec![ConvBlock { stride: 0, ..ConvBlock::plain(3, 8) }]), "conv block 1: stride 0"),
            (with_blocks(vec![ConvBlock::plain(40, 8).pooled()]), "conv block 1: a 2×2 max-pool"),
            (with_blocks(Vec::new()), "no convolution block"),
            (Arch { hidden: Some(0), ..base.clone() }, "hidden fully connected layer: 0 units"),
            (Arch { classes: 1, ..base.clone() }, "1 classes"),
            (Arch { height: 0, ..base.clone() }, "image 0×40"),
        ];
        for (arch, words) in cases {
            let error = arch.validate().unwrap_err().to_string();
            assert!(error.contains(words), "{error} should say {words}");
        }
    }

    #[test]
    fn flops_count_forward_and_both_gradients() {
        let paper = Arch::paper(40, 40, 10);
        let spec = super::super::cnn::CnnSpec::fashion();
        assert!((paper.training_flops_per_sample() - spec.training_flops_per_sample()).abs() < 1.0);
    }
}
