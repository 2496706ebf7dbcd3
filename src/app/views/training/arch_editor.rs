//! The Training view's architecture editor: the presets (the paper's network on the fused fast
//! path, issue 18's `deep` network with its momentum), 1 to 4 convolution blocks (kernel, filters,
//! stride, dilation, optional 2×2 max-pool) and an optional hidden fully connected layer. What
//! `Arch::validate` says is shown under the block or field it names, so Start is never dead
//! without a reason on screen.

use crate::app::theme;
use crate::app::training_job::TrainingConfig;
use crate::app::widgets::number;
use crate::core::nn::arch::{ArchError, MAX_HIDDEN, MAX_KERNEL};
use crate::core::nn::cnn::MAX_FILTERS;
use crate::core::nn::layers::{Layers, MAX_EDITED_BLOCKS};
use crate::core::nn::train::Hyper;

/// Units a newly added hidden layer starts with.
const DEFAULT_HIDDEN: usize = 64;

/// Which preset the settings equal, for the selected look of its button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preset {
    Paper,
    Deep,
}

impl Preset {
    const ALL: [Self; 2] = [Self::Paper, Self::Deep];

    fn name(self) -> &'static str {
        match self {
            Self::Paper => "Paper",
            Self::Deep => "Deep",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::Paper => "conv 5×5 ×12, ReLU, fully connected; plain SGD lr 0.03 (the paper's network, fast path)",
            Self::Deep => "conv 3×3×16, pool, conv 3×3×32, pool, fully connected; SGD momentum 0.9, lr 0.01",
        }
    }

    /// Sets the architecture and the optimiser of the preset; data sizes and seed stay.
    fn apply(self, config: &mut TrainingConfig) {
        let defaults = TrainingConfig::default();
        match self {
            Self::Paper => {
                (config.layers, config.filters, config.kernel) = (None, defaults.filters, defaults.kernel);
                config.hyper = Hyper::paper_fashion();
            }
            Self::Deep => {
                config.layers = Some(Layers::deep());
                config.hyper = Hyper::deep();
            }
        }
    }

    fn matches(self, config: &TrainingConfig) -> bool {
        let mut preset = *config;
        self.apply(&mut preset);
        preset == *config
    }
}

/// The preset buttons and, for a network of blocks, the blocks and the hidden layer; `size` is the
/// images' height, width and the number of classes the network is checked against.
pub fn ui(ui: &mut egui::Ui, config: &mut TrainingConfig, size: (usize, usize, usize)) {
    ui.horizontal(|ui| {
        ui.label("Architecture");
        for preset in Preset::ALL {
            let button = ui.selectable_label(preset.matches(config), preset.name()).on_hover_text(preset.hint());
            if button.clicked() {
                preset.apply(config);
            }
        }
        let mut blocks = config.layers.is_some();
        if ui.checkbox(&mut blocks, "Edit blocks").on_hover_text("Train any stack of convolution blocks").changed() {
            config.layers = blocks.then(|| paper_as_blocks(config));
        }
    });
    if let Some(layers) = config.layers.as_mut() {
        layers_ui(ui, layers, size);
    }
}

/// The paper's network of `filters` and `kernel` as one block, to edit further.
fn paper_as_blocks(config: &TrainingConfig) -> Layers {
    let block = crate::core::nn::arch::ConvBlock::plain(config.kernel.max(1), config.filters.max(1));
    Layers::new(&[block], None).unwrap_or_else(|_| Layers::deep())
}

/// The blocks, their problems, the hidden layer and what the network looks like.
fn layers_ui(ui: &mut egui::Ui, layers: &mut Layers, (height, width, classes): (usize, usize, usize)) {
    let error = layers.arch(height, width, classes).validate().err();
    let block_error =
        |number: usize| error.as_ref().filter(|e| block_error_number(e) == Some(number)).map(ToString::to_string);
    for (i, block) in layers.blocks_mut().iter_mut().enumerate() {
        ui.horizontal(|ui| {
            ui.label(format!("Block {}", i + 1));
            let kernel = ui.label("kernel");
            ui.add(number::field(&mut block.kernel).range(0..=MAX_KERNEL)).labelled_by(kernel.id);
            let filters = ui.label("filters");
            ui.add(number::field(&mut block.filters).range(0..=MAX_FILTERS)).labelled_by(filters.id);
        });
        ui.horizontal(|ui| {
            ui.add_space(48.0);
            let stride = ui.label("stride");
            ui.add(number::field(&mut block.stride).range(0..=MAX_KERNEL)).labelled_by(stride.id);
            let dilation = ui.label("dilation");
            ui.add(number::field(&mut block.dilation).range(0..=MAX_KERNEL)).labelled_by(dilation.id);
            ui.checkbox(&mut block.pool, "max-pool").on_hover_text("2×2 max-pool with stride 2 after the ReLU");
        });
        if let Some(message) = block_error(i + 1) {
            ui.colored_label(theme::ERROR, message);
        }
    }
    ui.horizontal(|ui| {
        let can_add = layers.blocks().len() < MAX_EDITED_BLOCKS;
        if ui.add_enabled(can_add, egui::Button::new("Add block")).on_disabled_hover_text("At most 4 blocks").clicked()
        {
            layers.push_block();
        }
        let can_remove = layers.blocks().len() > 1;
        if ui.add_enabled(can_remove, egui::Button::new("Remove block")).clicked() {
            layers.pop_block();
        }
    });
    hidden_ui(ui, layers);
    // The hidden layer, the parameter count and the data size are named here, under the last field.
    if let Some(other) = error.as_ref().filter(|e| block_error_number(e).is_none()) {
        ui.colored_label(theme::ERROR, other.to_string());
    }
    if error.is_none() {
        let arch = layers.arch(height, width, classes);
        ui.small(crate::app::cache::describe(&arch));
        ui.small(format!("{} trainable parameters", arch.parameter_count()));
    }
}

/// The block an error names, if it names one.
fn block_error_number(error: &ArchError) -> Option<usize> {
    match error {
        ArchError::Filters { block, .. }
        | ArchError::Setting { block, .. }
        | ArchError::KernelTooLarge { block, .. }
        | ArchError::PoolTooLarge { block, .. } => Some(*block),
        _ => None,
    }
}

/// The optional hidden fully connected layer.
fn hidden_ui(ui: &mut egui::Ui, layers: &mut Layers) {
    ui.horizontal(|ui| {
        let mut on = layers.hidden.is_some();
        let mut units = layers.hidden.unwrap_or(DEFAULT_HIDDEN);
        ui.checkbox(&mut on, "Hidden fully connected layer");
        ui.add_enabled(on, number::field(&mut units).range(0..=MAX_HIDDEN).suffix(" units"));
        layers.hidden = on.then_some(units);
    });
}
