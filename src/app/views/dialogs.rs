//! Dialog windows: the path dialog (a text field that always works, plus "Browse…" through `rfd`
//! on a helper thread so the UI never freezes), rename, unsaved-changes, about, shortcuts, log.

use std::path::PathBuf;

use crate::app::command::Level;
use crate::app::command::{Command, Edit, InsertAt, NEW_TILE_EPSILON, Node, SceneSource};
use crate::app::ids::PathPurpose;
use crate::app::state::AppState;
use crate::app::storage;
use crate::app::theme;
use crate::app::widgets::browse::{self, Browse, Pick};
use crate::app::widgets::number;
use crate::app::widgets::path_field::{create_folder_ui, expand_typed, missing_folder, path_field_ui};
use crate::core::presets::Preset;
use crate::core::tileset_file::ImportOptions;

/// A path dialog: the path field, the optional browse thread, and the purpose's options.
pub struct PathDialog {
    /// What the path is for.
    pub purpose: PathPurpose,
    /// The path typed or browsed.
    pub path: String,
    /// Second path (the labels file of an IDX pair).
    pub second_path: String,
    /// Import: largest tile side after resizing.
    pub import: ImportOptions,
    /// Import: replace the selected tile instead of adding a class.
    pub replace_selected: bool,
    browse: Option<Browse>,
    browse_note: Option<String>,
    /// The folder a save would need, after the user confirmed a path inside it.
    missing: Option<PathBuf>,
}

impl PathDialog {
    /// A dialog for `purpose`, starting from `path`.
    pub fn new(purpose: PathPurpose, path: String) -> Self {
        Self {
            purpose,
            path,
            second_path: String::new(),
            import: ImportOptions::plain(28, NEW_TILE_EPSILON),
            replace_selected: false,
            browse: None,
            browse_note: None,
            missing: None,
        }
    }

    /// The command this dialog asks for, given the selected tile.
    pub fn command(&self, app: &AppState) -> Result<Command, String> {
        let path = expand_typed(&self.path);
        if path.as_os_str().is_empty() {
            return Err("type a path first".to_owned());
        }
        Ok(match self.purpose {
            PathPurpose::OpenTileSet => Command::OpenTileSet(path),
            PathPurpose::SaveTileSetAs => Command::SaveTileSet(path),
            PathPurpose::ImportTileImage => {
                let at = match app.selected {
                    Some(id) if self.replace_selected => InsertAt::Replace(id),
                    _ => InsertAt::NewClass,
                };
                Command::ImportTileImage { path, options: self.import, at }
            }
            PathPurpose::ExportAtlas => Command::ExportAtlas(path),
            PathPurpose::ExportTilePng => Command::ExportTilePng(path),
            PathPurpose::OpenIdx => {
                let labels = Some(PathBuf::from(self.second_path.trim())).filter(|p| !p.as_os_str().is_empty());
                Command::OpenIdx { images: path, labels }
            }
            PathPurpose::BackgroundImage => Command::SetBackgroundImage(path),
            PathPurpose::OpenNetwork => Command::OpenNetwork(path),
            PathPurpose::OpenScene => Command::OpenScene(SceneSource::File(path)),
            PathPurpose::SaveSceneAs => Command::SaveScene(path),
            PathPurpose::SaveLectureScene => Command::SaveLectureScene(path),
        })
    }

    fn start_browse(&mut self, ctx: &egui::Context) {
        let (filter_name, extensions) = self.purpose.filter();
        let dialog = browse::Dialog::new().set_title(self.purpose.title()).add_filter(filter_name, extensions);
        let pick = if self.purpose.is_save() { Pick::Save(self.purpose.default_name().to_owned()) } else { Pick::File };
        match Browse::start(ctx, dialog, pick) {
            Ok(browse) => {
                self.browse = Some(browse);
                self.browse_note = None;
            }
            Err(error) => self.browse_note = Some(format!("no file dialog ({error}): type the path")),
        }
    }

    fn poll_browse(&mut self) {
        let Some(picked) = self.browse.as_ref().and_then(Browse::poll) else { return };
        self.browse = None;
        match picked {
            Some(path) => self.path = path.display().to_string(),
            None if browse::unavailable() => self.browse_note = Some(browse::UNAVAILABLE_NOTE.to_owned()),
            None => {}
        }
    }
}

/// Every dialog that can be open.
// Independent windows, each simply open or closed: a bool each is the plain model.
#[allow(clippy::struct_excessive_bools)]
#[derive(Default)]
pub struct Dialogs {
    /// The path dialog, if open.
    pub path: Option<PathDialog>,
    /// The last path confirmed in the path window, with its purpose (reopening it after a failed
    /// save or open starts from what was typed).
    pub last_typed: Option<(PathPurpose, String)>,
    /// Renaming a class or feature: the node and the name being typed.
    pub rename: Option<(Node, String)>,
    /// The "unsaved changes" question before closing.
    pub confirm_quit: bool,
    /// "Replace the tile set by this example?" (lecture step 6 asks before loading one).
    pub confirm_preset: Option<Preset>,
    /// "Replace the work by this scene?" when the tile set has unsaved changes.
    pub confirm_scene: Option<SceneSource>,
    /// The window where a scene link is pasted, with what was pasted so far.
    pub scene_link: Option<String>,
    /// Set once the user agreed to close; the next close request goes through.
    pub quit_confirmed: bool,
    /// "Save and quit" asked for a file: close once it is saved.
    pub quit_after_save: bool,
    /// The welcome window with the first steps (at the first start, and from Help → Getting started).
    pub welcome: bool,
    /// The about box.
    pub about: bool,
    /// The keyboard shortcut list.
    pub shortcuts: bool,
    /// The log window.
    pub log: bool,
}

/// Draws the open dialogs; they push commands into `app`.
pub fn ui(ctx: &egui::Context, app: &AppState, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    path_dialog_ui(ctx, app, dialogs, commands);
    rename_ui(ctx, dialogs, commands);
    confirm_quit_ui(ctx, dialogs, commands);
    confirm_preset_ui(ctx, app, dialogs, commands);
    confirm_scene_ui(ctx, dialogs, commands);
    scene_link_ui(ctx, dialogs, commands);
    info_windows_ui(ctx, app, dialogs);
}

fn path_dialog_ui(ctx: &egui::Context, app: &AppState, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    let Some(dialog) = &mut dialogs.path else { return };
    dialog.poll_browse();
    let mut open = true;
    let (mut done, mut cancelled) = (false, false);
    egui::Window::new(dialog.purpose.title()).open(&mut open).collapsible(false).show(ctx, |ui| {
        let label = if dialog.purpose == PathPurpose::OpenIdx { "Images file" } else { "Path" };
        let mut entered = false;
        ui.horizontal(|ui| {
            ui.label(label);
            entered = path_field_ui(ui, &mut dialog.path, 360.0);
            let can_browse = dialog.browse.is_none() && !browse::unavailable();
            let button = ui.add_enabled(can_browse, egui::Button::new("Browse…"));
            if button.on_disabled_hover_text(browse::UNAVAILABLE_NOTE).clicked() {
                dialog.start_browse(ctx);
            }
        });
        if dialog.purpose == PathPurpose::OpenIdx {
            ui.horizontal(|ui| {
                ui.label("Labels file (optional)");
                ui.add(egui::TextEdit::singleline(&mut dialog.second_path).desired_width(300.0));
            });
        }
        if dialog.purpose == PathPurpose::ImportTileImage {
            import_options_ui(ui, dialog, app.selected.is_some());
        }
        if let Some(note) = &dialog.browse_note {
            ui.colored_label(theme::WARNING, note);
        }
        let mut folder_made = false;
        if let Some(folder) = dialog.missing.clone() {
            match create_folder_ui(ui, &folder, dialog.purpose.action()) {
                Ok(made) => folder_made = made,
                Err(message) => dialog.browse_note = Some(message),
            }
        }
        ui.horizontal(|ui| {
            let confirmed = ui.button(dialog.purpose.action()).clicked() || entered;
            cancelled = ui.button("Cancel").clicked();
            if confirmed || folder_made {
                done = confirm(app, dialog, &mut dialogs.last_typed, commands);
            }
        });
    });
    if cancelled || !open {
        // "Save and quit" does not quit without the save.
        dialogs.quit_after_save = false;
    }
    if done || cancelled || !open {
        dialogs.path = None;
    }
}

/// Pushes the dialog's command unless its path needs a missing folder first (then it offers to
/// create it); remembers what was typed and its folder. True when the command went out.
fn confirm(
    app: &AppState,
    dialog: &mut PathDialog,
    last_typed: &mut Option<(PathPurpose, String)>,
    commands: &mut Vec<Command>,
) -> bool {
    let path = expand_typed(&dialog.path);
    *last_typed = Some((dialog.purpose, dialog.path.clone()));
    if dialog.purpose.is_save() {
        dialog.missing = missing_folder(&path);
        if dialog.missing.is_some() {
            return false;
        }
    }
    match dialog.command(app) {
        Ok(command) => {
            commands.push(Command::SetLastFolder(path.parent().filter(|p| p.is_absolute()).map(PathBuf::from)));
            commands.push(command);
            true
        }
        Err(message) => {
            dialog.browse_note = Some(message);
            false
        }
    }
}

fn import_options_ui(ui: &mut egui::Ui, dialog: &mut PathDialog, has_selection: bool) {
    let import = &mut dialog.import;
    ui.add(number::slider(&mut import.max_side, 1..=crate::core::tile::MAX_TILE_SIDE, "Largest side"));
    let mut thresholded = import.threshold.is_some();
    ui.checkbox(&mut thresholded, "Support = pixels above a threshold (else the non-zero pixels)");
    if thresholded {
        let mut threshold = import.threshold.unwrap_or(0.1);
        ui.add(number::slider(&mut threshold, 0.0..=1.0, "Threshold"));
        import.threshold = Some(threshold);
    } else {
        import.threshold = None;
    }
    ui.checkbox(&mut import.crop, "Crop to the content (trim borders without support pixels)");
    if has_selection {
        ui.checkbox(&mut dialog.replace_selected, "Replace the selected tile (else add a new class)");
    }
}

fn rename_ui(ctx: &egui::Context, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    let Some((node, name)) = &mut dialogs.rename else { return };
    let mut close = false;
    egui::Window::new("Rename").collapsible(false).show(ctx, |ui| {
        let response = ui.add(egui::TextEdit::singleline(name).desired_width(240.0));
        let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        // Type right away: the box takes the keyboard, its text selected, when the window opens.
        if !entered && ui.memory(|m| m.focused().is_none()) {
            response.request_focus();
            let mut state = egui::TextEdit::load_state(ui.ctx(), response.id).unwrap_or_default();
            state.cursor.set_char_range(Some(egui::text::CCursorRange::select_all_str(name)));
            state.store(ui.ctx(), response.id);
        }
        ui.horizontal(|ui| {
            if ui.button("OK").clicked() || entered {
                commands.push(Command::Edit(Edit::Rename { node: *node, name: name.clone() }));
                close = true;
            }
            if ui.button("Cancel").clicked() {
                close = true;
            }
        });
    });
    if close {
        dialogs.rename = None;
    }
}

fn confirm_quit_ui(ctx: &egui::Context, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    if !dialogs.confirm_quit {
        return;
    }
    egui::Window::new("Unsaved changes").collapsible(false).resizable(false).show(ctx, |ui| {
        ui.label("The tile set has changes that were not saved to a file. (They stay in the autosave either way.)");
        ui.horizontal(|ui| {
            if ui.button("Save and quit").clicked() {
                commands.push(Command::SaveAndQuit);
                dialogs.confirm_quit = false;
            }
            if ui.button("Quit without saving").clicked() {
                dialogs.quit_confirmed = true;
                dialogs.confirm_quit = false;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            }
            if ui.button("Cancel").clicked() {
                dialogs.confirm_quit = false;
            }
        });
    });
}

/// Asks before an example replaces the tile set, naming what it replaces and how to get it back.
fn confirm_preset_ui(ctx: &egui::Context, app: &AppState, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    let Some(preset) = dialogs.confirm_preset else { return };
    let current = app.session.tileset_path.as_ref().map_or_else(
        || "the current tile set".to_owned(),
        |p| format!("the tile set from {}", p.file_name().unwrap_or(p.as_os_str()).to_string_lossy()),
    );
    let mut close = false;
    egui::Window::new("Replace the tile set?").collapsible(false).resizable(false).show(ctx, |ui| {
        ui.label(format!("\"{}\" replaces {current}.", preset.label()));
        ui.label("Undo (Ctrl+Z, or the Edit menu) brings it back, with its file.");
        ui.horizontal(|ui| {
            if ui.button("Load the example").clicked() {
                commands.push(Command::LoadPreset(preset));
                close = true;
            }
            close |= ui.button("Cancel").clicked();
        });
    });
    if close {
        dialogs.confirm_preset = None;
    }
}

/// Asks before a scene replaces unsaved work, saying how to get it back.
fn confirm_scene_ui(ctx: &egui::Context, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    let Some(source) = &dialogs.confirm_scene else { return };
    let mut close = false;
    egui::Window::new("Open the scene?").collapsible(false).resizable(false).show(ctx, |ui| {
        ui.label(format!("The tile set has unsaved changes; the scene {} replaces them.", source.describe()));
        ui.label("Undo (Ctrl+Z, or the Edit menu) brings them back, with the settings, the trained network and the opened model.");
        ui.horizontal(|ui| {
            if ui.button("Open the scene").clicked() {
                commands.push(Command::OpenSceneNow(source.clone()));
                close = true;
            }
            close |= ui.button("Cancel").clicked();
        });
    });
    if close {
        dialogs.confirm_scene = None;
    }
}

/// Edit → Open scene from link: paste the link (or the web address holding it) and open it.
fn scene_link_ui(ctx: &egui::Context, dialogs: &mut Dialogs, commands: &mut Vec<Command>) {
    let Some(text) = &mut dialogs.scene_link else { return };
    let (mut open, mut close) = (true, false);
    egui::Window::new("Open scene from link").open(&mut open).collapsible(false).show(ctx, |ui| {
        ui.label("Paste a scene link (Ctrl+V), or a web address ending in #scene=…");
        let field = ui.add(egui::TextEdit::singleline(text).desired_width(420.0).hint_text("1.…"));
        let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            if (ui.button("Open").clicked() || entered) && !text.trim().is_empty() {
                commands.push(Command::OpenScene(SceneSource::Link(text.trim().to_owned())));
                close = true;
            }
            close |= ui.button("Cancel").clicked();
        });
    });
    if close || !open {
        dialogs.scene_link = None;
    }
}

/// Keyboard shortcuts as shown in the Help menu.
pub const SHORTCUTS: [(&str, &str); 13] = [
    ("Ctrl+N", "New tile set"),
    ("Ctrl+O", "Open tile set"),
    ("Ctrl+S", "Save"),
    ("Ctrl+Shift+S", "Save as"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "Redo"),
    ("Ctrl+Z / Ctrl+Shift+Z in Training", "Undo / redo a change of the network and SGD settings"),
    ("Ctrl+Plus / Ctrl+Minus", "Zoom in / out"),
    ("Ctrl+0", "Reset zoom"),
    ("F11", "Full screen"),
    ("Ctrl+Q", "Quit"),
    ("Drag on the tile", "Paint with the active tool"),
    ("Right-click a class or tile", "Rename, duplicate, move, delete"),
];

fn info_windows_ui(ctx: &egui::Context, app: &AppState, dialogs: &mut Dialogs) {
    egui::Window::new("About tilelab").open(&mut dialogs.about).collapsible(false).show(ctx, |ui| {
        ui.label(format!("tilelab {}", env!("CARGO_PKG_VERSION")));
        ui.label("Why CNNs are good at feature extraction: hand-constructed monosemantic networks beside an SGD-trained CNN.");
        ui.label("Fashion-MNIST © Zalando SE (MIT); MNIST © Y. LeCun and C. Cortes (CC BY-SA 3.0).");
        ui.label(format!("Data folder: {}", app.data_dir.as_ref().map_or("none".to_owned(), |d| d.display().to_string())));
    });
    egui::Window::new("Keyboard shortcuts").open(&mut dialogs.shortcuts).collapsible(false).show(ctx, |ui| {
        egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
            // A page is closed by its tab: the web build has no Quit.
            for (keys, action) in SHORTCUTS.into_iter().filter(|(_, action)| storage::FILE_PATHS || *action != "Quit") {
                ui.monospace(keys);
                ui.label(action);
                ui.end_row();
            }
        });
    });
    egui::Window::new("Log").open(&mut dialogs.log).default_height(300.0).show(ctx, |ui| {
        egui::ScrollArea::vertical().stick_to_bottom(true).show(ui, |ui| {
            for entry in &app.log {
                let color = match entry.level {
                    Level::Info => ui.visuals().text_color(),
                    Level::Warning => theme::WARNING,
                    Level::Error => theme::ERROR,
                };
                ui.colored_label(color, &entry.text);
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_dialog_turns_into_commands() {
        let app = AppState::new(None);
        let mut dialog = PathDialog::new(PathPurpose::OpenTileSet, "  ".to_owned());
        assert!(dialog.command(&app).is_err(), "an empty path is refused");
        dialog.path = "/tmp/a.json".to_owned();
        assert_eq!(dialog.command(&app), Ok(Command::OpenTileSet(PathBuf::from("/tmp/a.json"))));
        let mut import = PathDialog::new(PathPurpose::ImportTileImage, "/tmp/x.png".to_owned());
        import.replace_selected = true;
        let Ok(Command::ImportTileImage { at, .. }) = import.command(&app) else { panic!("import command expected") };
        assert_eq!(at, InsertAt::Replace(app.selected.unwrap()));
        let idx = PathDialog::new(PathPurpose::OpenIdx, "/tmp/i.gz".to_owned());
        assert_eq!(idx.command(&app), Ok(Command::OpenIdx { images: PathBuf::from("/tmp/i.gz"), labels: None }));
    }
}
