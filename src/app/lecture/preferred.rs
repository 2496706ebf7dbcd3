//! Step 8 of the lecture, "What does a neuron want to see?": the preferred stimulus of one
//! constructed detector (N2's, or N1's where N2 cannot be built) beside the tile it detects, with
//! the recovery distance `d_T`, and beside them the preferred stimulus of one unit of the trained
//! CNN, which has no tile to compare with. Both come from the unit inspector's cache job
//! (`Command::InspectUnit`), the same one the Networks view uses, drawn by `widgets::stimulus`.

use egui::RichText;

use crate::app::cache::{Inspected, UnitModel, UnitNetwork, UnitRef};
use crate::app::command::Command;
use crate::app::state::AppState;
use crate::app::theme::{self, TextureCache};
use crate::app::widgets::heatmap;
use crate::app::widgets::stimulus::{cut_out, image_ui, recovery_ui, status_ui, tile_ui};
use crate::core::construct::Which;
use crate::core::interpret::{AscentOptions, Unit};

use super::LectureState;
use super::data;
use super::steps::{formula, note, tile_picker, two_columns};

/// Side of a preferred stimulus on the page, in points.
const STIMULUS_SIDE: f32 = 240.0;
/// Side of a tile or a window cut-out on the page, in points.
const CLOSE_UP_SIDE: f32 = 120.0;

/// Step 8: a constructed detector's preferred stimulus beside its tile, and a trained unit's.
pub fn preferred_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    let constructed = constructed_unit(app, lecture, commands);
    let trained = trained_unit(app, lecture);
    two_columns(
        ui,
        &mut (&mut *lecture, &mut *commands),
        |ui, (lecture, commands)| {
            ui.columns(2, |columns| {
                match &constructed {
                    Some(inspected) => unit_ui(&mut columns[0], app, textures, inspected, commands),
                    None => {
                        columns[0].spinner();
                    }
                }
                trained_column_ui(&mut columns[1], app, lecture, textures, trained.as_ref(), commands);
            });
        },
        |ui, (lecture, _)| {
            tile_picker(ui, app, &mut lecture.interaction.tile);
            note(
                ui,
                "Start from noise and change the image, pixel by pixel, to make one neuron fire as hard as it can.",
            );
            formula(ui, "x ← clip(x + η · ∂a/∂x, 0, 1)");
            note(
                ui,
                "The constructed detector wants to see exactly its tile in its window: the stimulus holds the tile \
                 (d_T < ε). It is monosemantic.",
            );
            note(
                ui,
                "The trained unit has no tile: what it wants to see is a texture of edges that answers several \
                 classes (polysemantic).",
            );
        },
    );
}

/// The followed tile's detector at the middle of its valid windows, in N2 (N1 where N2 fails).
fn constructed_unit(app: &AppState, lecture: &LectureState, commands: &mut Vec<Command>) -> Option<Inspected> {
    let tile_id = data::followed_tile(app, lecture.interaction.tile)?;
    let which = if data::network_error(app, Which::N2).is_some() { Which::N1 } else { Which::N2 };
    let net = data::network(app, which, commands)?;
    let detector = net.detectors.tiles.iter().find(|d| d.tile == tile_id)?;
    let window = (detector.valid.0 / 2, detector.valid.1 / 2);
    let index = detector.unit(window.0, window.1)?;
    let tile = app.classes.tile(tile_id)?;
    let unit = UnitRef {
        unit: Unit { layer: net.detectors.layer, index },
        channel: detector.channel.unwrap_or(index),
        field: (window.0, window.1, tile.rows(), tile.cols()),
        tile: Some(tile_id),
    };
    let (height, width) = data::image_size(app);
    Some(Inspected {
        network: UnitNetwork::Constructed(which, (app.classes_version, height, width)),
        model: UnitModel::Constructed(net, Some(tile.clone())),
        unit,
        title: format!("{} detector of {}", which.name(), app.classes.tile_label(tile_id)),
    })
}

/// The trained CNN's unit of filter `lecture.interaction.preferred_filter` at the middle of its map.
fn trained_unit(app: &AppState, lecture: &mut LectureState) -> Option<Inspected> {
    let (cnn, version) = {
        let progress = app.training.as_ref()?.progress();
        (progress.cnn.clone()?, progress.version)
    };
    let spec = cnn.spec();
    let filter = &mut lecture.interaction.preferred_filter;
    *filter = (*filter).min(spec.filters.saturating_sub(1));
    let (row, col) = (spec.map_height() / 2, spec.map_width() / 2);
    let unit = UnitRef {
        unit: Unit { layer: 0, index: (*filter * spec.map_height() + row) * spec.map_width() + col },
        channel: *filter,
        field: (row, col, spec.kernel, spec.kernel),
        tile: None,
    };
    Some(Inspected {
        network: UnitNetwork::Trained(version),
        model: UnitModel::Trained(cnn),
        unit,
        title: format!("trained CNN, filter {filter}"),
    })
}

/// The trained column: a filter chooser and the unit, or why there is none.
fn trained_column_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    lecture: &mut LectureState,
    textures: &mut TextureCache,
    trained: Option<&Inspected>,
    commands: &mut Vec<Command>,
) {
    let Some(inspected) = trained else {
        ui.label(RichText::new("Trained CNN").strong());
        note(ui, "No trained network yet: start training in step 7, and its units appear here.");
        return;
    };
    if let UnitModel::Trained(cnn) = &inspected.model {
        let last = cnn.spec().filters.saturating_sub(1);
        ui.add(egui::Slider::new(&mut lecture.interaction.preferred_filter, 0..=last).text("filter"));
    }
    unit_ui(ui, app, textures, inspected, commands);
}

/// One unit: its name, its preferred stimulus (window outlined), the window cut out and, for a
/// detector, its tile and `d_T`.
fn unit_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    textures: &mut TextureCache,
    inspected: &Inspected,
    commands: &mut Vec<Command>,
) {
    let key = inspected.key(AscentOptions::default(), app.cache.dataset_generation());
    if app.cache.inspections(key.network).needs(&key) {
        commands.push(Command::InspectUnit { key: key.clone(), model: inspected.model.clone() });
    }
    ui.label(RichText::new(&inspected.title).strong().size(20.0));
    status_ui(ui, app.cache.inspections(key.network), &key);
    let Some(inspection) = app.cache.inspection(&key) else { return };
    let rendering = app.session.rendering;
    let side = if inspected.unit.tile.is_some() { "constructed" } else { "trained" };
    let image = &inspection.preferred.image;
    let outline = [(inspected.unit.field, heatmap::OUTLINE)];
    let stimulus_key = format!("lecture {side} stimulus");
    image_ui(ui, textures, (&stimulus_key, image.view()), rendering, STIMULUS_SIDE, &outline);
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.label("its window");
            let crop = cut_out(image.view(), inspected.unit.field);
            let key = format!("lecture {side} window");
            image_ui(ui, textures, (&key, crop.view()), rendering, CLOSE_UP_SIDE, &[]);
        });
        if let Some(tile) = inspected.unit.tile.and_then(|id| app.classes.tile(id)) {
            ui.vertical(|ui| {
                ui.label("its tile");
                tile_ui(ui, textures, ("lecture constructed tile", tile), rendering, CLOSE_UP_SIDE);
            });
        }
    });
    match inspection.recovery {
        Some(recovery) => recovery_ui(ui, &recovery, inspected.unit.field),
        None => {
            ui.colored_label(theme::TRAINED_COLOR, "no tile to compare with: polysemantic");
        }
    }
}
