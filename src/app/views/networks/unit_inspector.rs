//! The unit inspector of the Networks view (issue 20): click a unit on either side and a window
//! shows what it wants to see: its preferred stimulus (gradient ascent from noise, computed in the
//! cache with progress, `Command::InspectUnit`), the window it reads cut out beside it, for a
//! constructed detector its tile with the recovery distance `d_T`, and its top examples among the
//! dataset's samples with the window where it answered. The ascent's options (steps, jitter, blur,
//! L2, the starting noise) are edited here; each change asks for a new inspection.

use egui::RichText;

use crate::app::cache::{Inspected, Inspection, PreferredKey, TopExample, UnitRef};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::{self, Rendering, TextureCache};
use crate::app::widgets::heatmap;
use crate::app::widgets::stimulus::{cut_out, image_ui, recovery_ui, status_ui, tile_ui};
use crate::core::interpret::AscentOptions;
use crate::core::tile::ClassSet;

/// Side of the preferred stimulus on screen, in points.
const STIMULUS_SIDE: f32 = 200.0;
/// Side of the window cut-out and the tile, in points.
const CLOSE_UP_SIDE: f32 = 120.0;
/// Side of one top example, in points.
const EXAMPLE_SIDE: f32 = 96.0;
/// Most ascent steps the window offers (the core allows more; this keeps one inspection to seconds).
const MOST_STEPS: usize = 4096;
/// Most jitter the window offers, in pixels.
const MOST_JITTER: usize = 4;

/// What the inspector remembers: the open unit and the ascent's options (the core's defaults at first).
#[derive(Debug, Default)]
pub struct UnitInspector {
    inspected: Option<Inspected>,
    pub options: AscentOptions,
}

impl UnitInspector {
    /// Opens the window on `inspected` (replacing the unit shown).
    pub fn open(&mut self, inspected: Inspected) {
        self.inspected = Some(inspected);
    }

    /// The open unit.
    pub fn inspected(&self) -> Option<&Inspected> {
        self.inspected.as_ref()
    }

    /// What the open unit's inspection is keyed by, under the current options and dataset.
    pub fn key(&self, app: &AppState) -> Option<PreferredKey> {
        let inspected = self.inspected.as_ref()?;
        Some(inspected.key(self.options, app.cache.dataset_generation()))
    }
}

/// The inspector window, while a unit is open.
pub fn window_ui(
    ctx: &egui::Context,
    app: &AppState,
    textures: &mut TextureCache,
    inspector: &mut UnitInspector,
    commands: &mut Vec<Command>,
) {
    let Some(inspected) = inspector.inspected.clone() else { return };
    let key = inspected.key(inspector.options, app.cache.dataset_generation());
    if app.cache.inspections(key.network).needs(&key) {
        commands.push(Command::InspectUnit { key: key.clone(), model: inspected.model.clone() });
    }
    let mut open = true;
    egui::Window::new("Unit inspector").open(&mut open).default_pos(egui::pos2(360.0, 80.0)).default_width(660.0).show(
        ctx,
        |ui| {
            ui.label(RichText::new(&inspected.title).strong());
            options_ui(ui, &mut inspector.options);
            ui.separator();
            status_ui(ui, app.cache.inspections(key.network), &key);
            if let Some(inspection) = app.cache.inspection(&key) {
                let rendering = app.session.rendering;
                preferred_row_ui(ui, textures, &app.classes, &inspected.unit, &inspection, rendering);
                ui.separator();
                examples_ui(ui, textures, &app.classes, &inspection.examples, rendering);
            }
        },
    );
    if !open {
        inspector.inspected = None;
    }
}

/// Steps, jitter, blur, L2 and the starting noise; the defaults are the core's.
fn options_ui(ui: &mut egui::Ui, options: &mut AscentOptions) {
    ui.horizontal_wrapped(|ui| {
        ui.add(egui::Slider::new(&mut options.steps, 16..=MOST_STEPS).logarithmic(true).text("steps"))
            .on_hover_text("Gradient ascent steps from the starting noise; the step size decays over them");
        ui.add(egui::Slider::new(&mut options.jitter, 0..=MOST_JITTER).text("jitter")).on_hover_text(
            "Each step shifts the image by up to this many pixels and back (a trained unit's stimulus gets smoother)",
        );
        ui.add(egui::Slider::new(&mut options.blur, 0.0..=1.0).text("blur"))
            .on_hover_text("Each step moves the image this far towards its 3×3 blur");
        ui.add(egui::Slider::new(&mut options.l2, 0.0..=1.0).text("L2"))
            .on_hover_text("Weight of the penalty l2/2·‖x‖², which keeps pixels the unit ignores dark");
        if ui.button("New noise").on_hover_text("Start the ascent from other random pixels").clicked() {
            options.seed = options.seed.wrapping_add(1);
        }
        if ui.button("Defaults").clicked() {
            *options = AscentOptions { seed: options.seed, ..AscentOptions::default() };
        }
    });
}

/// The preferred stimulus with the unit's window outlined, the window cut out, and for a
/// constructed detector its tile and the recovery distance.
fn preferred_row_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    classes: &ClassSet,
    unit: &UnitRef,
    inspection: &Inspection,
    rendering: Rendering,
) {
    let image = &inspection.preferred.image;
    let tile = unit.tile.and_then(|id| classes.tile(id));
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label("Preferred stimulus");
            let outline = [(unit.field, heatmap::OUTLINE)];
            image_ui(ui, textures, ("unit inspector stimulus", image.view()), rendering, STIMULUS_SIDE, &outline);
            ui.small(format!("unit value {}", heatmap::format_value(inspection.preferred.value)));
        });
        ui.vertical(|ui| {
            ui.label("Its window");
            let crop = cut_out(image.view(), unit.field);
            image_ui(ui, textures, ("unit inspector window", crop.view()), rendering, CLOSE_UP_SIDE, &[]);
        });
        if let Some(tile) = tile {
            ui.vertical(|ui| {
                ui.label("The tile it detects");
                tile_ui(ui, textures, ("unit inspector tile", tile), rendering, CLOSE_UP_SIDE);
            });
        }
    });
    match (inspection.recovery, tile) {
        (Some(recovery), Some(_)) => recovery_ui(ui, &recovery, unit.field),
        _ => {
            ui.weak("A trained unit has no tile to compare with: its preferred stimulus is all it says.");
        }
    }
}

/// The top examples, each with the window where the unit answered most.
fn examples_ui(
    ui: &mut egui::Ui,
    textures: &mut TextureCache,
    classes: &ClassSet,
    examples: &[TopExample],
    rendering: Rendering,
) {
    ui.label(RichText::new("Top examples").strong());
    if examples.is_empty() {
        ui.weak("None yet: the dataset is generated in the Dataset view.");
        return;
    }
    ui.horizontal_top(|ui| {
        for (rank, example) in examples.iter().enumerate() {
            ui.vertical(|ui| {
                let outline = [(example.field, theme::PLACEMENT_OUTLINE)];
                let key = format!("unit inspector example {rank}");
                image_ui(ui, textures, (&key, example.image.view()), rendering, EXAMPLE_SIDE, &outline);
                let class = classes.classes.get(example.label).map_or("?", |o| o.name.as_str());
                ui.small(format!("sample {} ({class})", example.sample));
                ui.small(format!("value {}", heatmap::format_value(example.activation)));
            });
        }
    });
}
