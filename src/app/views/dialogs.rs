//! Dialog windows: the path dialog (a text field that always works, plus "Browse…" through `rfd`
//! on a helper thread so the UI never freezes), rename, unsaved-changes, about, shortcuts, log.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, channel};

use ndarray::Array2;

use crate::app::command::{Command, Edit, InsertAt, Node, Preset};
use crate::app::state::{AppState, Level};
use crate::app::theme;
use crate::app::views::gallery::GALLERY_EPSILON;
use crate::app::widgets;
use crate::core::tileset_file::ImportOptions;

/// Largest side of an image the app decodes (a background or an imported tile).
pub const MAX_IMAGE_SIDE: u32 = 8192;
/// Most bytes a decoder may allocate for one image.
pub const MAX_IMAGE_ALLOC: u64 = 256 * 1024 * 1024;

/// What a path dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPurpose {
    /// Open a tile-set JSON file.
    OpenTileSet,
    /// Save the tile set under a new name.
    SaveTileSetAs,
    /// Import a PNG/JPEG as a tile.
    ImportTileImage,
    /// Write the atlas PNG.
    ExportAtlas,
    /// Write the selected tile as PNG.
    ExportTilePng,
    /// Open IDX image (and label) files in the gallery.
    OpenIdx,
    /// Choose the dataset background image.
    BackgroundImage,
    /// Open an ONNX classifier for the trained side of the networks view.
    OpenNetwork,
}

impl PathPurpose {
    /// Window title.
    pub fn title(self) -> &'static str {
        match self {
            Self::OpenTileSet => "Open tile set",
            Self::SaveTileSetAs => "Save tile set as",
            Self::ImportTileImage => "Import tile image",
            Self::ExportAtlas => "Export atlas PNG",
            Self::ExportTilePng => "Export tile PNG",
            Self::OpenIdx => "Open IDX files",
            Self::BackgroundImage => "Background image",
            Self::OpenNetwork => "Open network (ONNX)",
        }
    }

    /// Label of the confirming button.
    pub fn action(self) -> &'static str {
        match self {
            Self::OpenTileSet | Self::OpenIdx | Self::OpenNetwork => "Open",
            Self::SaveTileSetAs => "Save",
            Self::ImportTileImage => "Import",
            Self::ExportAtlas | Self::ExportTilePng => "Export",
            Self::BackgroundImage => "Use",
        }
    }

    fn is_save(self) -> bool {
        matches!(self, Self::SaveTileSetAs | Self::ExportAtlas | Self::ExportTilePng)
    }

    fn filter(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::OpenTileSet | Self::SaveTileSetAs => ("tile set", &["json"]),
            Self::ImportTileImage | Self::BackgroundImage => ("image", &["png", "jpg", "jpeg"]),
            Self::ExportAtlas | Self::ExportTilePng => ("PNG", &["png"]),
            Self::OpenIdx => ("IDX", &["gz", "idx3-ubyte", "idx1-ubyte", "ubyte"]),
            Self::OpenNetwork => ("ONNX", &["onnx"]),
        }
    }

    fn default_name(self) -> &'static str {
        match self {
            Self::SaveTileSetAs => "tileset.json",
            Self::ExportAtlas => "atlas.png",
            Self::ExportTilePng => "tile.png",
            _ => "",
        }
    }
}

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
}

impl PathDialog {
    /// A dialog for `purpose`, starting from `path`.
    pub fn new(purpose: PathPurpose, path: String) -> Self {
        Self {
            purpose,
            path,
            second_path: String::new(),
            import: ImportOptions::plain(28, GALLERY_EPSILON),
            replace_selected: false,
            browse: None,
            browse_note: None,
        }
    }

    /// The command this dialog asks for, given the selected tile.
    pub fn command(&self, app: &AppState) -> Result<Command, String> {
        let path = PathBuf::from(self.path.trim());
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
        })
    }

    fn start_browse(&mut self, ctx: &egui::Context) {
        let (filter_name, extensions) = self.purpose.filter();
        let dialog = rfd::FileDialog::new().set_title(self.purpose.title()).add_filter(filter_name, extensions);
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
            None => {
                self.browse_note =
                    Some("No file chosen (or no system file dialog is available): type the path above.".to_owned());
            }
        }
    }
}

/// What the system file dialog asks for.
pub enum Pick {
    /// An existing file.
    File,
    /// A file to write, proposing this name.
    Save(String),
    /// A folder.
    Folder,
}

/// The system file dialog, running on a helper thread: it blocks there, never the UI.
pub struct Browse(Receiver<Option<PathBuf>>);

impl Browse {
    /// Opens `dialog` for `pick` on a helper thread; `Err` when no thread could be started.
    pub fn start(ctx: &egui::Context, dialog: rfd::FileDialog, pick: Pick) -> std::io::Result<Self> {
        let (sender, receiver) = channel();
        let ctx = ctx.clone();
        std::thread::Builder::new().name("tilelab file dialog".to_owned()).spawn(move || {
            let picked = match pick {
                Pick::File => dialog.pick_file(),
                Pick::Save(name) => dialog.set_file_name(name).save_file(),
                Pick::Folder => dialog.pick_folder(),
            };
            // The window asking may have been closed meanwhile: then nobody listens.
            let _ = sender.send(picked);
            ctx.request_repaint();
        })?;
        Ok(Self(receiver))
    }

    /// `None` while the dialog is open; then the chosen path, or `Some(None)` when nothing was
    /// chosen (cancelled, or no system dialog available).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        match self.0.try_recv() {
            Ok(picked) => Some(picked),
            Err(TryRecvError::Disconnected) => Some(None),
            Err(TryRecvError::Empty) => None,
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
    /// Renaming a class or feature: the node and the name being typed.
    pub rename: Option<(Node, String)>,
    /// The "unsaved changes" question before closing.
    pub confirm_quit: bool,
    /// "Replace the tile set by this example?" (lecture step 6 asks before loading one).
    pub confirm_preset: Option<Preset>,
    /// Set once the user agreed to close; the next close request goes through.
    pub quit_confirmed: bool,
    /// "Save and quit" asked for a file: close once it is saved.
    pub quit_after_save: bool,
    /// The about box.
    pub about: bool,
    /// The keyboard shortcut list.
    pub shortcuts: bool,
    /// The log window.
    pub log: bool,
}

/// Draws the open dialogs; they push commands into `app`.
pub fn ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
    path_dialog_ui(ctx, app, dialogs);
    rename_ui(ctx, app, dialogs);
    confirm_quit_ui(ctx, app, dialogs);
    confirm_preset_ui(ctx, app, dialogs);
    info_windows_ui(ctx, app, dialogs);
}

fn path_dialog_ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
    let Some(dialog) = &mut dialogs.path else { return };
    dialog.poll_browse();
    let mut open = true;
    let (mut done, mut cancelled) = (false, false);
    egui::Window::new(dialog.purpose.title()).open(&mut open).collapsible(false).show(ctx, |ui| {
        let label = if dialog.purpose == PathPurpose::OpenIdx { "Images file" } else { "Path" };
        ui.horizontal(|ui| {
            ui.label(label);
            ui.add(egui::TextEdit::singleline(&mut dialog.path).desired_width(360.0).hint_text("/path/to/file"));
            let browsing = dialog.browse.is_some();
            if ui.add_enabled(!browsing, egui::Button::new("Browse…")).clicked() {
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
        ui.horizontal(|ui| {
            if ui.button(dialog.purpose.action()).clicked() {
                match dialog.command(app) {
                    Ok(command) => {
                        app.push(command);
                        done = true;
                    }
                    Err(message) => dialog.browse_note = Some(message),
                }
            }
            cancelled = ui.button("Cancel").clicked();
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

fn import_options_ui(ui: &mut egui::Ui, dialog: &mut PathDialog, has_selection: bool) {
    let import = &mut dialog.import;
    ui.add(widgets::slider(&mut import.max_side, 1..=crate::core::tile::MAX_TILE_SIDE, "Largest side"));
    let mut thresholded = import.threshold.is_some();
    ui.checkbox(&mut thresholded, "Support = pixels above a threshold (else the non-zero pixels)");
    if thresholded {
        let mut threshold = import.threshold.unwrap_or(0.1);
        ui.add(widgets::slider(&mut threshold, 0.0..=1.0, "Threshold"));
        import.threshold = Some(threshold);
    } else {
        import.threshold = None;
    }
    ui.checkbox(&mut import.crop, "Crop to the content (trim borders without support pixels)");
    if has_selection {
        ui.checkbox(&mut dialog.replace_selected, "Replace the selected tile (else add a new class)");
    }
}

fn rename_ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
    let Some((node, name)) = &mut dialogs.rename else { return };
    let mut close = false;
    egui::Window::new("Rename").collapsible(false).show(ctx, |ui| {
        let response = ui.add(egui::TextEdit::singleline(name).desired_width(240.0));
        let entered = response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        ui.horizontal(|ui| {
            if ui.button("OK").clicked() || entered {
                app.push(Command::Edit(Edit::Rename { node: *node, name: name.clone() }));
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

fn confirm_quit_ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
    if !dialogs.confirm_quit {
        return;
    }
    egui::Window::new("Unsaved changes").collapsible(false).resizable(false).show(ctx, |ui| {
        ui.label("The tile set has changes that were not saved to a file. (They stay in the autosave either way.)");
        ui.horizontal(|ui| {
            if ui.button("Save and quit").clicked() {
                app.push(Command::SaveAndQuit);
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
fn confirm_preset_ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
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
                app.push(Command::LoadPreset(preset));
                close = true;
            }
            close |= ui.button("Cancel").clicked();
        });
    });
    if close {
        dialogs.confirm_preset = None;
    }
}

/// Keyboard shortcuts as shown in the Help menu.
pub const SHORTCUTS: [(&str, &str); 12] = [
    ("Ctrl+N", "New tile set"),
    ("Ctrl+O", "Open tile set"),
    ("Ctrl+S", "Save"),
    ("Ctrl+Shift+S", "Save as"),
    ("Ctrl+Z", "Undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "Redo"),
    ("Ctrl+Plus / Ctrl+Minus", "Zoom in / out"),
    ("Ctrl+0", "Reset zoom"),
    ("F11", "Full screen"),
    ("Ctrl+Q", "Quit"),
    ("Drag on the tile", "Paint with the active tool"),
    ("Right-click a class or tile", "Rename, duplicate, move, delete"),
];

fn info_windows_ui(ctx: &egui::Context, app: &mut AppState, dialogs: &mut Dialogs) {
    egui::Window::new("About tilelab").open(&mut dialogs.about).collapsible(false).show(ctx, |ui| {
        ui.label(format!("tilelab {}", env!("CARGO_PKG_VERSION")));
        ui.label("Why CNNs are good at feature extraction: hand-constructed monosemantic networks beside an SGD-trained CNN.");
        ui.label("Fashion-MNIST © Zalando SE (MIT); MNIST © Y. LeCun and C. Cortes (CC BY-SA 3.0).");
        ui.label(format!("Data folder: {}", app.data_dir.as_ref().map_or("none".to_owned(), |d| d.display().to_string())));
    });
    egui::Window::new("Keyboard shortcuts").open(&mut dialogs.shortcuts).collapsible(false).show(ctx, |ui| {
        egui::Grid::new("shortcuts").striped(true).show(ui, |ui| {
            for (keys, action) in SHORTCUTS {
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

/// Reads an image file as grey values in [0, 1] (decoder limits set before decoding).
pub fn load_grey_image(path: &Path) -> Result<Array2<f32>, String> {
    let describe = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let mut reader =
        image::ImageReader::open(path).map_err(|e| describe(&e))?.with_guessed_format().map_err(|e| describe(&e))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let grey = reader.decode().map_err(|e| describe(&e))?.into_luma8();
    let (width, height) = (grey.width() as usize, grey.height() as usize);
    Array2::from_shape_vec((height, width), grey.into_raw().into_iter().map(|v| f32::from(v) / 255.0).collect())
        .map_err(|e| describe(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_images_load_with_their_shape_and_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let image = image::GrayImage::from_fn(3, 2, |x, y| image::Luma([(x * 100 + y * 10) as u8]));
        image.save(&path).unwrap();
        let loaded = load_grey_image(&path).unwrap();
        assert_eq!(loaded.dim(), (2, 3));
        assert!((loaded[[1, 2]] - 210.0 / 255.0).abs() < 1e-6);
        assert!(load_grey_image(&dir.path().join("missing.png")).is_err());
        std::fs::write(dir.path().join("bad.png"), b"not a png").unwrap();
        assert!(load_grey_image(&dir.path().join("bad.png")).is_err());
    }

    #[test]
    fn a_browse_reports_the_pick_once_the_dialog_closed() {
        let (sender, receiver) = channel();
        let browse = Browse(receiver);
        assert_eq!(browse.poll(), None, "still open");
        sender.send(Some(PathBuf::from("/tmp/x.json"))).unwrap();
        assert_eq!(browse.poll(), Some(Some(PathBuf::from("/tmp/x.json"))));
        drop(sender);
        assert_eq!(browse.poll(), Some(None), "a dialog thread that ended without a pick");
    }

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
