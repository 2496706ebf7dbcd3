//! The Training view's architecture editor: the presets (the paper's network on the fused fast
//! path, issue 18's `deep` network with its momentum, and N2's own layers trained by SGD with
//! their wiring and start), 1 to 4 convolution blocks (kernel, filters, stride, dilation, optional
//! 2×2 max-pool) and an optional hidden fully connected layer. What `Arch::validate` says is shown
//! under the block or field it names, so Start is never dead without a reason on screen; an
//! n2-shaped network is checked when its run builds it (that needs N2, too slow for a frame), and
//! the run then says why it cannot start.

use crate::app::theme;
use crate::app::training_job::TrainingConfig;
use crate::app::widgets::number;
use crate::core::nn::arch::{ArchError, MAX_HIDDEN, MAX_KERNEL};
use crate::core::nn::cnn::MAX_FILTERS;
use crate::core::nn::layers::{Layers, MAX_EDITED_BLOCKS};
use crate::core::nn::n2_shaped::{Init, ShapedSettings, Wiring};
use crate::core::nn::train::Hyper;

/// Units a newly added hidden layer starts with.
const DEFAULT_HIDDEN: usize = 64;

/// Which preset the settings equal, for the selected look of its button.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Preset {
    Paper,
    Deep,
    N2Shaped,
}

impl Preset {
    const ALL: [Self; 3] = [Self::Paper, Self::Deep, Self::N2Shaped];

    fn name(self) -> &'static str {
        match self {
            Self::Paper => "Paper",
            Self::Deep => "Deep",
            Self::N2Shaped => "N2-shaped",
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::Paper => "conv 5×5 ×12, ReLU, fully connected; plain SGD lr 0.03 (the paper's network, fast path)",
            Self::Deep => "conv 3×3×16, pool, conv 3×3×32, pool, fully connected; SGD momentum 0.9, lr 0.01",
            Self::N2Shaped => {
                "N2's layers for this tile set (1×1 values, 2×2 blocks with dilation 1, 2, 4, …, detection, output) \
                 trained by SGD; momentum 0.9, lr 0.01"
            }
        }
    }

    /// Sets the architecture and the optimiser of the preset; data sizes and seed stay, and so do
    /// an n2-shaped network's wiring and start.
    fn apply(self, config: &mut TrainingConfig) {
        let defaults = TrainingConfig::default();
        match self {
            Self::Paper => {
                (config.layers, config.filters, config.kernel) = (None, defaults.filters, defaults.kernel);
                config.n2_shaped = None;
                config.hyper = Hyper::paper_fashion();
            }
            Self::Deep => {
                (config.layers, config.n2_shaped) = (Some(Layers::deep()), None);
                config.hyper = Hyper::deep();
            }
            Self::N2Shaped => {
                (config.layers, config.n2_shaped) = (None, Some(config.n2_shaped.unwrap_or_default()));
                // The depth experiment trains N2's shape with the deep preset's SGD.
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
        if config.n2_shaped.is_none() {
            let mut blocks = config.layers.is_some();
            let edit = ui.checkbox(&mut blocks, "Edit blocks").on_hover_text("Train any stack of convolution blocks");
            if edit.changed() {
                config.layers = blocks.then(|| paper_as_blocks(config));
            }
        }
    });
    if let Some(shaped) = config.n2_shaped.as_mut() {
        shaped_ui(ui, shaped);
    } else if let Some(layers) = config.layers.as_mut() {
        layers_ui(ui, layers, size);
    }
}

/// The wiring and the start of an n2-shaped network.
fn shaped_ui(ui: &mut egui::Ui, shaped: &mut ShapedSettings) {
    ui.horizontal(|ui| {
        ui.label("Wiring");
        let sparse = "N2's connections only: each channel reads the channels and taps N2's does";
        let dense = "every channel reads every channel below at every tap (refused above a cost per sample)";
        for (wiring, hint) in [(Wiring::Sparse, sparse), (Wiring::Dense, dense)] {
            if ui.selectable_label(shaped.wiring == wiring, wiring.name()).on_hover_text(hint).clicked() {
                shaped.wiring = wiring;
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("Start from");
        let starts = [(Init::Random, "random weights"), (Init::N2, "N2's weights")];
        for (init, name) in starts {
            if ui.selectable_label(shaped.init == init, name).clicked() {
                shaped.init = init;
            }
        }
    });
    ui.small("Built for the current tile set and image size when the run starts.");
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
