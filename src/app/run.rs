//! Applies the frame's commands (after all views have drawn) and collects finished dataset jobs.

use std::path::Path;

use crate::core::bounded_read::read_at_most;
use crate::core::tile::{ClassSet, single_tile_object};
use crate::core::tileset_file;
use crate::core::tileset_file::ImportOptions;

use super::TilelabApp;
use super::cache::{self, GalleryKey, PickedIdx};
use super::command::{Command, Edit, InsertAt, NEW_TILE_EPSILON, Node, PickedFile, SceneSource};
use super::ids::PathPurpose;
use super::imported::Loaded;
use super::settings::BackgroundChoice;
use super::storage;
use super::training_job::{Control, TrainingJob, TrainingStart};
use crate::core::grey_image::{decode_grey_image, load_grey_image};
use crate::core::scene::file::MAX_BACKGROUND_SIDE;

/// Largest image file the importer reads.
const MAX_IMPORT_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Pixels per tile pixel in the atlas export.
const ATLAS_SCALE: u32 = 4;
/// Pixels per tile pixel in a tile PNG (1: the file re-imports to the same values).
const TILE_PNG_SCALE: u32 = 1;

impl TilelabApp {
    /// Runs the commands pushed during this frame, in order.
    pub(super) fn run_commands(&mut self, ctx: &egui::Context) {
        for command in std::mem::take(&mut self.commands) {
            self.run_command(ctx, command);
        }
    }

    // One arm per command: the whole table in one place reads better than split halves.
    #[allow(clippy::too_many_lines)]
    fn run_command(&mut self, ctx: &egui::Context, command: Command) {
        let state = &mut self.state;
        match command {
            Command::Edit(edit) => state.edit(edit),
            Command::Undo => self.undo(ctx),
            Command::Redo => self.redo(ctx),
            Command::Select(id) => {
                state.selected = Some(id);
                state.history.break_merge();
            }
            Command::ShowView(view) => {
                state.session.view = view;
                state.changed();
            }
            Command::NewTileSet => {
                let tile = crate::core::tile::Tile::filled(8, 8, 0.0, NEW_TILE_EPSILON);
                match tile {
                    Ok(tile) => self
                        .replace_set(ClassSet { classes: vec![single_tile_object("Class 0", tile)] }, "new tile set"),
                    Err(error) => self.state.error(format!("could not create a tile: {error}")),
                }
            }
            Command::LoadPreset(preset) => self.replace_set(preset.classes(), preset.label()),
            Command::AskLoadPreset(preset) => self.views.dialogs.confirm_preset = Some(preset),
            Command::OpenTileSet(path) => self.open_tileset(&path),
            Command::SaveTileSet(path) => {
                self.save_tileset(&path);
                if std::mem::take(&mut self.views.dialogs.quit_after_save) {
                    self.quit_if_saved(ctx);
                }
            }
            Command::SaveAndQuit => {
                if let Some(path) = state.session.tileset_path.clone() {
                    self.save_tileset(&path);
                    self.quit_if_saved(ctx);
                } else {
                    self.ask_path(ctx, PathPurpose::SaveTileSetAs);
                    self.views.dialogs.quit_after_save = true;
                }
            }
            Command::Save => match state.session.tileset_path.clone() {
                Some(path) => self.save_tileset(&path),
                None => self.ask_path(ctx, PathPurpose::SaveTileSetAs),
            },
            Command::ImportTileImage { path, options, at } => match import_image(&path, &options) {
                Ok(tile) => {
                    let name =
                        path.file_stem().map_or_else(|| "imported".to_owned(), |s| s.to_string_lossy().into_owned());
                    state.edit(Edit::Insert { tile, name, at });
                    state.info(format!("imported {}", path.display()));
                }
                Err(error) => state.error(format!("could not import {}: {error}", path.display())),
            },
            Command::ExportAtlas(path) => {
                let result = tileset_file::atlas_png(&state.classes, ATLAS_SCALE).map_err(|e| e.to_string());
                self.write_file(&path, result, "atlas");
            }
            Command::ExportTilePng(path) => {
                let tile = state.selected.and_then(|id| state.classes.tile(id));
                let result = tile
                    .ok_or_else(|| "no tile selected".to_owned())
                    .and_then(|t| tileset_file::tile_png(t, TILE_PNG_SCALE).map_err(|e| e.to_string()));
                self.write_file(&path, result, "tile");
            }
            Command::OpenIdx { images, labels } => {
                self.views.gallery.open = true;
                state.cache.load_gallery(Some(ctx), GalleryKey::Idx { images, labels });
            }
            Command::SaveLectureStep { path, image, page } => {
                self.views.lecture.saving(cache::save_png(ctx, path, image, page));
            }
            Command::LoadGallery(key) => state.cache.load_gallery(Some(ctx), key),
            Command::SetBackgroundImage(path) => match load_grey_image(&path) {
                Ok(_) => {
                    state.session.dataset.background = BackgroundChoice::ImageFile { path };
                    state.changed();
                }
                Err(error) => state.error(format!("cannot use this background: {error}")),
            },
            Command::GenerateDataset => {
                let request = state.dataset_request();
                state.cache.generate_dataset(Some(ctx), &state.classes, request);
            }
            Command::BuildNetwork(which) => {
                let key = (state.classes_version, state.session.dataset.height, state.session.dataset.width);
                state.cache.build_network(Some(ctx), &state.classes, which, key);
            }
            Command::ForwardPass { which, key, image } => {
                state.cache.forward_pass(Some(ctx), &state.classes, which, key, &image);
            }
            Command::LayerWindows { key, image } => state.cache.layer_windows(Some(ctx), key, &image),
            Command::ImportedForwardPass { key, image } => {
                if let Some(network) = state.imported.network.as_ref().filter(|n| n.version == key.0) {
                    state.cache.imported_forward_pass(Some(ctx), network, key, &image);
                }
            }
            Command::TrainedForwardPass { key, cnn, image } => {
                state.cache.trained_forward_pass(Some(ctx), &cnn, key, &image);
            }
            Command::DeepForwardPass { key, net, image } => state.cache.deep_forward_pass(Some(ctx), &net, key, &image),
            Command::Attribute { side, key, network, image, placements } => {
                state.cache.attribute(Some(ctx), side, key, network, (image, placements));
            }
            Command::ScoreInterpretation { key, networks } => {
                state.cache.score_interpretation(Some(ctx), &state.classes, key, networks);
            }
            Command::InspectUnit { key, model } => state.cache.inspect_unit(Some(ctx), key, model),
            Command::ShapedForwardPass { key, net, image } => {
                state.cache.shaped_forward_pass(Some(ctx), &net, key, &image);
            }
            Command::MeasureSelectivity { key, trained } => {
                state.cache.measure_selectivity(Some(ctx), state.classes.len(), key, trained);
            }
            Command::StudyFigure4 { key, network } => {
                state.cache.study_figure4(Some(ctx), &state.classes, key, network);
            }
            Command::SetScattering(spec) => state.session.scattering = spec,
            Command::Scatter { key, image } => state.cache.scatter(Some(ctx), key, &image),
            Command::TrainScattering(key) => state.cache.train_scattering(Some(ctx), state.classes.len(), key),
            Command::StudyDeformation { key, network } => {
                state.cache.study_deformation(Some(ctx), &state.classes, key, network);
            }
            Command::AskPath(purpose) => self.ask_path(ctx, purpose),
            Command::ShowGallery => self.views.gallery.open = true,
            Command::SetDatasetSettings(settings) => {
                state.session.dataset = settings;
                state.changed();
            }
            Command::SetRendering(rendering) => {
                state.session.rendering = rendering;
                state.changed();
            }
            Command::StartTraining(start) => self.start_training(ctx, &start),
            Command::ControlTraining(control) => {
                if let Some(job) = &mut state.training {
                    job.send(control);
                }
            }
            Command::Export { kind, path } => {
                let networks = &self.views.networks;
                let shown = networks.input().map(|input| &input.image);
                let invariance = super::views::invariance::shown(&state.cache);
                let source = super::export_menu::source(state, shown, networks.sample_index, invariance);
                self.views.exports.start(cache::export(ctx, kind, source, path));
            }
            Command::AskRename(node) => {
                let name = match node {
                    Node::Class(c) => state.classes.classes.get(c).map(|o| o.name.clone()),
                    Node::Feature(c, f) => {
                        state.classes.classes.get(c).and_then(|o| o.features.get(f)).map(|f| f.name.clone())
                    }
                    Node::Tile(_) => None,
                };
                if let Some(name) = name {
                    self.views.dialogs.rename = Some((node, name));
                }
            }
            Command::AskExport(kind) => {
                if let Some(export) = self.views.exports.ask(kind, state) {
                    self.run_command(ctx, export);
                }
            }
            Command::OpenNetwork(path) => state.imported.open(&path, cache::open_network(Some(ctx), &path)),
            Command::OpenPicked { purpose, files } => self.open_picked(ctx, purpose, files),
            Command::CloseNetwork => {
                state.imported.close();
                state.session.network_path = None;
                state.changed();
                state.info("the trained side shows the SGD run again");
            }
            Command::OpenScene(source) => {
                if state.is_dirty() {
                    self.views.dialogs.confirm_scene = Some(source);
                } else {
                    self.open_scene(ctx, source);
                }
            }
            Command::OpenSceneNow(source) => self.open_scene(ctx, source),
            Command::SaveScene(path) => self.save_scene(ctx, path, None),
            Command::SaveSceneHere => match state.session.scene_path.clone() {
                Some(path) => self.save_scene(ctx, path, None),
                None => self.ask_path(ctx, PathPurpose::SaveSceneAs),
            },
            Command::SaveLectureScene(path) => {
                let lecture = &self.views.lecture;
                let start = super::scenes::lecture_start(lecture.step, lecture.interaction.tile);
                self.save_scene(ctx, path, Some(start));
            }
            Command::AskSceneLink => self.views.dialogs.scene_link = Some(String::new()),
            Command::CopySceneLink => self.copy_scene_link(ctx),
            Command::Log(level, text) => state.add_log(level, text),
            Command::SetLastFolder(folder) => state.session.last_folder = folder,
            Command::Quit => {
                if state.is_dirty() && !self.views.dialogs.quit_confirmed {
                    self.views.dialogs.confirm_quit = true;
                } else {
                    self.views.dialogs.quit_confirmed = true;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
            }
        }
    }

    /// Closes the window when the last save succeeded (a failed save was logged; the window stays).
    fn quit_if_saved(&mut self, ctx: &egui::Context) {
        if !self.state.is_dirty() {
            self.run_command(ctx, Command::Quit);
        }
    }

    /// Replaces the training run by a fresh one on the current tile set and dataset settings; a
    /// refused start leaves the existing run (and its weights) as they are.
    fn start_training(&mut self, ctx: &egui::Context, start: &TrainingStart) {
        let state = &mut self.state;
        let started = state.session.dataset.to_spec().and_then(|spec| {
            TrainingJob::start(state.classes.clone(), spec, start.config, state.dataset_request(), Some(ctx.clone()))
        });
        match started {
            Ok(mut job) => {
                job.send(Control::SetLimits(start.limits));
                job.send(Control::SetSpeed(start.speed));
                if start.run {
                    job.send(Control::Run);
                }
                state.training = Some(job);
            }
            Err(error) => state.error(format!("cannot train: {error}")),
        }
    }

    /// Replaces the set (undoable); it no longer belongs to the file it came from.
    fn replace_set(&mut self, classes: ClassSet, what: &str) {
        self.state.edit(Edit::ReplaceAll(classes));
        self.state.session.tileset_path = None;
        self.state.info(format!("loaded {what}"));
    }

    fn open_tileset(&mut self, path: &Path) {
        match tileset_file::load(path) {
            Ok(classes) => {
                self.state.edit(Edit::ReplaceAll(classes));
                self.state.session.tileset_path = Some(path.to_owned());
                self.state.mark_saved();
                self.state.info(format!("opened {}", path.display()));
            }
            Err(error) => self.state.error(format!("could not open {}: {error}", path.display())),
        }
    }

    fn save_tileset(&mut self, path: &Path) {
        let text = tileset_file::to_json(&self.state.classes).map_err(|e| e.to_string());
        match text.and_then(|text| storage::write_user_file(path, text.as_bytes())) {
            Ok(()) => {
                self.state.session.tileset_path = Some(path.to_owned());
                self.state.mark_saved();
                self.state.info(format!("saved {}", path.display()));
            }
            Err(error) => self.state.error(format!("could not save {}: {error}", path.display())),
        }
    }

    fn write_file(&mut self, path: &Path, bytes: Result<Vec<u8>, String>, what: &str) {
        match bytes.and_then(|b| storage::write_user_file(path, &b)) {
            Ok(()) => self.state.info(format!("exported the {what} to {}", path.display())),
            Err(error) => self.state.error(format!("could not export the {what} to {}: {error}", path.display())),
        }
    }

    /// Takes a finished network load: the trained side shows it, and the session remembers it.
    pub(super) fn poll_imported(&mut self, ctx: &egui::Context) {
        let state = &mut self.state;
        if state.imported.first_poll()
            && let Some(path) = state.session.network_path.clone()
        {
            state.imported.open(&path, cache::open_network(Some(ctx), &path));
        }
        match state.imported.poll() {
            Some(Loaded::Opened(message)) => {
                // A page cannot reopen a picked file after a reload: it is not remembered there.
                state.session.network_path =
                    state.imported.network.as_ref().map(|n| n.path.clone()).filter(|_| storage::FILE_PATHS);
                state.changed();
                state.info(message);
            }
            Some(Loaded::Failed(message)) => {
                if state.imported.network.is_none() {
                    state.session.network_path = None;
                    state.changed();
                }
                state.error(message);
            }
            None => {}
        }
    }
}

impl TilelabApp {
    /// Opens files picked in the browser, with the desktop's checks: a scene, a tile set, an ONNX
    /// model, an image imported as a new class (with the import window's starting settings), an
    /// image as the dataset background, or IDX images (and labels) in the gallery.
    fn open_picked(&mut self, ctx: &egui::Context, purpose: PathPurpose, files: Vec<PickedFile>) {
        if purpose == PathPurpose::OpenIdx {
            self.views.gallery.open = true;
            self.state.cache.load_gallery(Some(ctx), GalleryKey::Picked(PickedIdx::new(files)));
            return;
        }
        // Every other picker takes one file.
        let Some(PickedFile { name, bytes }) = files.into_iter().next() else { return };
        let state = &mut self.state;
        match purpose {
            PathPurpose::OpenScene => match String::from_utf8(bytes) {
                Ok(text) => self.run_command(ctx, Command::OpenScene(SceneSource::Picked { name, text })),
                Err(_) => state.error(format!("could not open the scene {name}: it is not a text file")),
            },
            PathPurpose::OpenTileSet => {
                let classes = std::str::from_utf8(&bytes).map_err(|_| "it is not a text file".to_owned());
                match classes.and_then(|text| tileset_file::from_json(text).map_err(|e| e.to_string())) {
                    Ok(classes) => self.replace_set(classes, &name),
                    Err(error) => state.error(format!("could not open {name}: {error}")),
                }
            }
            PathPurpose::OpenNetwork => {
                state.imported.open(Path::new(&name), cache::open_picked_network(Some(ctx), bytes));
            }
            PathPurpose::ImportTileImage => {
                let options = ImportOptions::plain(28, NEW_TILE_EPSILON);
                match tileset_file::import_tile_image(&bytes, &options) {
                    Ok(tile) => {
                        let stem = Path::new(&name).file_stem().map(|s| s.to_string_lossy().into_owned());
                        let at = InsertAt::NewClass;
                        state.edit(Edit::Insert { tile, name: stem.unwrap_or_else(|| name.clone()), at });
                        state.info(format!("imported {name}"));
                    }
                    Err(error) => state.error(format!("could not import {name}: {error}")),
                }
            }
            PathPurpose::BackgroundImage => match picked_background(&bytes, &name) {
                Ok(picture) => {
                    state.session.dataset.background = BackgroundChoice::Picture(picture);
                    state.changed();
                    state.info(format!("the dataset background is {name}"));
                }
                Err(error) => state.error(format!("cannot use this background: {error}")),
            },
            // A picker opens files to read; saves are downloads.
            PathPurpose::SaveTileSetAs
            | PathPurpose::ExportAtlas
            | PathPurpose::ExportTilePng
            | PathPurpose::SaveSceneAs
            | PathPurpose::SaveLectureScene
            | PathPurpose::OpenIdx => {}
        }
    }
}

/// A background picked in the browser: decoded as the desktop reads a file, and kept with the
/// work as a picture (a page cannot read a path again), so at most the side a scene holds.
fn picked_background(bytes: &[u8], name: &str) -> Result<ndarray::Array2<f32>, String> {
    let picture = decode_grey_image(bytes, name).map_err(|e| e.to_string())?;
    let (height, width) = picture.dim();
    if height.max(width) > MAX_BACKGROUND_SIDE {
        return Err(format!(
            "{name} is {width}×{height} pixels; a background kept with your work is at most {MAX_BACKGROUND_SIDE} per side"
        ));
    }
    Ok(picture)
}

fn import_image(path: &Path, options: &ImportOptions) -> Result<crate::core::tile::Tile, String> {
    let bytes = read_at_most(path, MAX_IMPORT_FILE_BYTES).map_err(|e| e.to_string())?;
    tileset_file::import_tile_image(&bytes, options).map_err(|e| e.to_string())
}
