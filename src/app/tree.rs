//! The left panel: classes → features → tiles with thumbnails; select, add, duplicate, rename,
//! delete and reorder (right-click a node for its menu).

use egui::{Image, Vec2, load::SizedTexture};

use crate::core::tile::{ClassSet, Tile, TileId};

use super::command::{Command, Edit, Node};
use super::state::AppState;
use super::theme::{self, TextureCache};
use super::views::dialogs::Dialogs;

/// Side and ε of a new class's tile when the set is empty.
const NEW_TILE_SIDE: usize = 8;
const NEW_TILE_EPSILON: f32 = 2.0;

/// Draws the class tree; actions become commands (renames open the rename dialog).
pub fn tree_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    dialogs: &mut Dialogs,
    textures: &mut TextureCache,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.heading("Classes");
        if ui.button("Add class").on_hover_text("A new class with one blank tile").clicked()
            && let Some(edit) = new_class_edit(&app.classes)
        {
            commands.push(Command::Edit(edit));
        }
    });
    ui.label(format!("{} classes, {} tiles", app.classes.len(), app.classes.tiles().count()));
    ui.separator();
    egui::ScrollArea::vertical().auto_shrink([false, false]).show(ui, |ui| {
        for class in 0..app.classes.len() {
            class_ui(ui, app, dialogs, textures, class, commands);
        }
    });
}

/// The edit that adds a class: a blank (all-zero, full-support) tile the size of the first tile.
pub fn new_class_edit(classes: &ClassSet) -> Option<Edit> {
    let (rows, cols) = classes.tiles().next().map_or((NEW_TILE_SIDE, NEW_TILE_SIDE), |(_, t)| (t.rows(), t.cols()));
    let name = unique_name(classes, "Class");
    // An all-zero tile with full support is valid (it is the toy's "white square").
    let tile = Tile::filled(rows, cols, 0.0, NEW_TILE_EPSILON).ok()?;
    Some(Edit::AddClass { name, tile })
}

/// "Class 3" for the class that gets label 3, or the next number no other class has taken (the
/// tree shows "3: Class 3": label and name agree).
fn unique_name(classes: &ClassSet, stem: &str) -> String {
    // Of these len + 1 candidates at most len are taken, so one is free.
    (classes.len()..=2 * classes.len())
        .map(|n| format!("{stem} {n}"))
        .find(|name| classes.classes.iter().all(|o| &o.name != name))
        .unwrap_or_else(|| stem.to_owned())
}

fn class_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    dialogs: &mut Dialogs,
    textures: &mut TextureCache,
    class: usize,
    commands: &mut Vec<Command>,
) {
    let object = &app.classes.classes[class];
    let name = object.name.clone();
    let single = object.features.len() == 1 && object.features[0].tiles.len() == 1;
    if single {
        let id = TileId { class, feature: 0, tile: 0 };
        let response = tile_button(ui, app, textures, id, &format!("{class}: {name}"), commands)
            .on_hover_text("Double-click to rename, right-click for actions");
        if response.double_clicked() {
            dialogs.rename = Some((Node::Class(class), name.clone()));
        }
        response.context_menu(|ui| class_menu(ui, app, dialogs, class, commands));
        return;
    }
    let header = egui::CollapsingHeader::new(format!("{class}: {name}")).id_salt(("class", class)).default_open(true);
    let response = header
        .show(ui, |ui| {
            let features = app.classes.classes[class].features.len();
            for feature in 0..features {
                feature_ui(ui, app, dialogs, textures, (class, feature), commands);
            }
        })
        .header_response
        .on_hover_text("Double-click to rename, right-click for actions");
    if response.double_clicked() {
        dialogs.rename = Some((Node::Class(class), name));
    }
    response.context_menu(|ui| class_menu(ui, app, dialogs, class, commands));
}

fn feature_ui(
    ui: &mut egui::Ui,
    app: &AppState,
    dialogs: &mut Dialogs,
    textures: &mut TextureCache,
    (class, feature): (usize, usize),
    commands: &mut Vec<Command>,
) {
    let Some(f) = app.classes.classes.get(class).and_then(|o| o.features.get(feature)) else { return };
    let (name, tiles) = (f.name.clone(), f.tiles.len());
    let response = ui.label(format!("feature: {name}")).on_hover_text("Right-click for actions");
    response.context_menu(|ui| {
        if ui.button("Rename feature…").clicked() {
            dialogs.rename = Some((Node::Feature(class, feature), name.clone()));
        }
        node_actions(ui, Node::Feature(class, feature), "feature", commands);
        if ui.button("Add alternative tile").clicked() {
            commands.push(Command::Edit(Edit::AddTile { class, feature }));
        }
    });
    ui.indent(("feature", class, feature), |ui| {
        for tile in 0..tiles {
            let id = TileId { class, feature, tile };
            let response = tile_button(ui, app, textures, id, &format!("tile {}", tile + 1), commands);
            response.context_menu(|ui| node_actions(ui, Node::Tile(id), "tile", commands));
        }
    });
}

/// A selectable row: the tile's thumbnail and a label.
fn tile_button(
    ui: &mut egui::Ui,
    app: &AppState,
    textures: &mut TextureCache,
    id: TileId,
    label: &str,
    commands: &mut Vec<Command>,
) -> egui::Response {
    let Some(tile) = app.classes.tile(id) else { return ui.label(label) };
    let rendering = app.session.rendering;
    let stamp = theme::content_hash(tile.values().view(), rendering as u64);
    let key = format!("thumbnail {}/{}/{}", id.class, id.feature, id.tile);
    let texture = textures.get(ui.ctx(), &key, stamp, || {
        theme::tile_image(tile.values().view(), tile.support().view(), rendering, false)
    });
    let image = Image::from_texture(SizedTexture::new(texture.id(), Vec2::splat(theme::THUMBNAIL_SIZE)));
    let selected = app.selected == Some(id);
    let response = ui.add(egui::Button::image_and_text(image, label).selected(selected));
    if response.clicked() {
        commands.push(Command::Select(id));
    }
    response
}

fn class_menu(ui: &mut egui::Ui, app: &AppState, dialogs: &mut Dialogs, class: usize, commands: &mut Vec<Command>) {
    if ui.button("Rename class…").clicked() {
        let name = app.classes.classes.get(class).map(|o| o.name.clone()).unwrap_or_default();
        dialogs.rename = Some((Node::Class(class), name));
    }
    node_actions(ui, Node::Class(class), "class", commands);
    if ui.button("Add feature").on_hover_text("An object needs all its features (min over features)").clicked() {
        commands.push(Command::Edit(Edit::AddFeature { class }));
    }
    if ui.button("Add alternative tile").on_hover_text("Any one tile of a feature is enough").clicked() {
        commands.push(Command::Edit(Edit::AddTile { class, feature: 0 }));
    }
}

/// Duplicate, move and delete, shared by classes, features and tiles.
fn node_actions(ui: &mut egui::Ui, node: Node, noun: &str, commands: &mut Vec<Command>) {
    let actions = [
        (format!("Duplicate {noun}"), Edit::Duplicate(node)),
        (format!("Move {noun} up"), Edit::Move { node, up: true }),
        (format!("Move {noun} down"), Edit::Move { node, up: false }),
        (format!("Delete {noun}"), Edit::Delete(node)),
    ];
    for (label, edit) in actions {
        if ui.button(label).clicked() {
            commands.push(Command::Edit(edit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::command::apply_edit;

    #[test]
    fn new_classes_get_unique_names_and_the_first_tile_size() {
        let mut classes = ClassSet::default();
        let edit = new_class_edit(&classes).unwrap();
        apply_edit(&mut classes, edit).unwrap();
        assert_eq!(classes.classes[0].name, "Class 0", "the name carries the class's label");
        assert_eq!(classes.tile(TileId { class: 0, feature: 0, tile: 0 }).unwrap().rows(), NEW_TILE_SIDE);
        apply_edit(&mut classes, Edit::Resize { tile: TileId { class: 0, feature: 0, tile: 0 }, rows: 3, cols: 5 })
            .unwrap();
        let edit = new_class_edit(&classes).unwrap();
        apply_edit(&mut classes, edit).unwrap();
        let second = classes.tile(TileId { class: 1, feature: 0, tile: 0 }).unwrap();
        assert_eq!((second.rows(), second.cols()), (3, 5));
        assert_eq!(classes.classes[1].name, "Class 1");
        classes.classes[0].name = "Class 2".into();
        assert_eq!(unique_name(&classes, "Class"), "Class 3", "label 2 is taken by name: the next free number");
    }
}
