//! The layers of a trainable network as the Training view edits them and a scene stores them: 1 to
//! [`MAX_EDITED_BLOCKS`] convolution blocks and an optional hidden fully connected layer, without
//! the image size and class count (those come from the dataset). A fixed array keeps it `Copy`,
//! like the rest of the training settings; [`Layers::arch`] gives the [`Arch`] to validate and train.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::arch::{Arch, ConvBlock};

/// Most convolution blocks the editor offers.
pub const MAX_EDITED_BLOCKS: usize = 4;

/// Why stored layers cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0} convolution blocks: 1 to {MAX_EDITED_BLOCKS}")]
pub struct LayersError(usize);

/// Convolution blocks `blocks[..count]` and an optional hidden fully connected layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "LayersDoc", try_from = "LayersDoc")]
pub struct Layers {
    blocks: [ConvBlock; MAX_EDITED_BLOCKS],
    count: usize,
    /// Units of the hidden fully connected layer, if any.
    pub hidden: Option<usize>,
}

/// How layers are written: only the blocks in use.
#[derive(Serialize, Deserialize)]
struct LayersDoc {
    blocks: Vec<ConvBlock>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden: Option<usize>,
}

impl From<Layers> for LayersDoc {
    fn from(layers: Layers) -> Self {
        Self { blocks: layers.blocks().to_vec(), hidden: layers.hidden }
    }
}

impl TryFrom<LayersDoc> for Layers {
    type Error = LayersError;

    fn try_from(doc: LayersDoc) -> Result<Self, LayersError> {
        Self::new(&doc.blocks, doc.hidden)
    }
}

impl Layers {
    /// These blocks (1 to [`MAX_EDITED_BLOCKS`]) and hidden layer.
    pub fn new(blocks: &[ConvBlock], hidden: Option<usize>) -> Result<Self, LayersError> {
        if blocks.is_empty() || blocks.len() > MAX_EDITED_BLOCKS {
            return Err(LayersError(blocks.len()));
        }
        let mut all = [blocks[blocks.len() - 1]; MAX_EDITED_BLOCKS];
        all[..blocks.len()].copy_from_slice(blocks);
        Ok(Self { blocks: all, count: blocks.len(), hidden })
    }

    /// Issue 18's `deep` preset: conv 3×3×16, pool, conv 3×3×32, pool (no hidden layer).
    pub fn deep() -> Self {
        let arch = Arch::deep(1, 1, 2);
        Self::new(&arch.blocks, arch.hidden).unwrap_or_else(|_| unreachable!("the preset has two blocks"))
    }

    /// The blocks in use.
    pub fn blocks(&self) -> &[ConvBlock] {
        &self.blocks[..self.count]
    }

    /// The blocks in use, to edit.
    pub fn blocks_mut(&mut self) -> &mut [ConvBlock] {
        &mut self.blocks[..self.count]
    }

    /// Appends a copy of the last block (false when there are [`MAX_EDITED_BLOCKS`] already).
    pub fn push_block(&mut self) -> bool {
        if self.count == MAX_EDITED_BLOCKS {
            return false;
        }
        self.blocks[self.count] = self.blocks[self.count - 1];
        self.count += 1;
        true
    }

    /// Removes the last block (false when only one is left).
    pub fn pop_block(&mut self) -> bool {
        if self.count == 1 {
            return false;
        }
        self.count -= 1;
        true
    }

    /// The whole network for `height×width` images and `classes` classes (validate it before use).
    pub fn arch(&self, height: usize, width: usize, classes: usize) -> Arch {
        Arch { height, width, classes, blocks: self.blocks().to_vec(), hidden: self.hidden }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deep_preset_is_the_arch_preset() {
        assert_eq!(Layers::deep().arch(40, 40, 3), Arch::deep(40, 40, 3));
    }

    #[test]
    fn blocks_are_added_and_removed_within_bounds() {
        let mut layers = Layers::deep();
        assert!(layers.push_block() && layers.push_block());
        assert!(!layers.push_block(), "at most {MAX_EDITED_BLOCKS}");
        assert_eq!(layers.blocks().len(), MAX_EDITED_BLOCKS);
        assert_eq!(layers.blocks()[3], layers.blocks()[1], "a new block copies the last one");
        for _ in 0..3 {
            assert!(layers.pop_block());
        }
        assert!(!layers.pop_block(), "at least one block");
        assert_eq!(layers.blocks(), &[ConvBlock::plain(3, 16).pooled()]);
    }

    #[test]
    fn only_the_blocks_in_use_are_written_and_bad_counts_are_refused() {
        let layers = Layers { hidden: Some(64), ..Layers::deep() };
        let json = serde_json::to_string(&layers).unwrap();
        assert_eq!(json.matches("kernel").count(), 2, "{json}");
        assert_eq!(serde_json::from_str::<Layers>(&json).unwrap(), layers);
        let none = r#"{"blocks": []}"#;
        assert!(serde_json::from_str::<Layers>(none).unwrap_err().to_string().contains("0 convolution blocks"));
        let block = r#"{"kernel": 3, "filters": 4, "stride": 1, "dilation": 1, "pool": false}"#;
        let five = format!(r#"{{"blocks": [{}]}}"#, [block; 5].join(","));
        assert!(serde_json::from_str::<Layers>(&five).is_err());
    }
}
