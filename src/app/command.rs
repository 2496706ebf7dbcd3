//! User actions: `Command`s collected during a frame and applied once at its end, the tile-set
//! `Edit`s among them (pure functions of the [`ClassSet`]), and the bounded undo history.

use std::path::PathBuf;
use std::sync::Arc;

use ndarray::Array2;

use crate::core::construct::Which;
use crate::core::presets::Preset;
use crate::core::scattering::ScatteringSpec;
use crate::core::tile::{ClassSet, Feature, Object, Tile, TileError, TileId};
use crate::core::tileset_file::ImportOptions;

use super::cache::{
    DeformationKey, ForwardKey, GalleryKey, ScatteringModelKey, ScatteringPassKey, SelectivityKey, StudyKey,
    StudyNetwork, TrainedUnits, WindowKey,
};
use super::ids::{ExportKind, PathPurpose, View};
use super::settings::DatasetSettings;
use super::theme::Rendering;
use super::training_job::{Control, TrainingStart};

/// ε of a tile the app makes (a new set, a gallery pick, an imported image): an exact paste gives
/// logit ε, noise is far away.
pub const NEW_TILE_EPSILON: f32 = 2.0;

/// A node of the class → feature → tile tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    /// A class (object) by index.
    Class(usize),
    /// A feature: `(class, feature)`.
    Feature(usize, usize),
    /// One tile.
    Tile(TileId),
}

/// Where a tile made from an image goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertAt {
    /// A new class with one feature holding the tile.
    NewClass,
    /// An extra alternative tile in an existing feature `(class, feature)`.
    Feature(usize, usize),
    /// Replaces an existing tile (keeping its ε).
    Replace(TileId),
}

/// A change of the tile set; every edit is one undo step (or merges into the previous one).
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Appends a class named `name` whose one tile is `tile`.
    AddClass { name: String, tile: Tile },
    /// Appends a feature to a class, with a copy of the class's first tile.
    AddFeature { class: usize },
    /// Appends a copy of the feature's first tile as a new alternative.
    AddTile { class: usize, feature: usize },
    /// Inserts a copy of the node right after it.
    Duplicate(Node),
    /// Removes the node; a feature or class left empty goes too.
    Delete(Node),
    /// Swaps the node with its previous (`up`) or next sibling.
    Move { node: Node, up: bool },
    /// Renames a class or feature (tiles have no names of their own).
    Rename { node: Node, name: String },
    /// Sets pixels to `value`, inside (`in_support`) or outside the support; `stroke` groups undo.
    Paint { tile: TileId, pixels: Vec<(usize, usize)>, value: f32, in_support: bool, stroke: u64 },
    /// Flood-fills the 4-connected region of equal pixels around `(row, col)` with `value` in the support.
    Fill { tile: TileId, row: usize, col: usize, value: f32 },
    /// Sets a tile's ε.
    SetEpsilon { tile: TileId, epsilon: f32 },
    /// Resizes a tile (anchored top-left, see [`Tile::resized`]).
    Resize { tile: TileId, rows: usize, cols: usize },
    /// Puts a tile made elsewhere (gallery, image file) into the set.
    Insert { tile: Tile, name: String, at: InsertAt },
    /// Replaces the whole set (new, open, preset).
    ReplaceAll(ClassSet),
}

/// Consecutive edits with the same key merge into one undo step (one stroke, one slider drag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeKey {
    /// Every pixel of one brush stroke.
    Stroke(u64),
    /// Changes of one tile's ε.
    Epsilon(TileId),
    /// Changes of one tile's size.
    Resize(TileId),
    /// One drag of a number field, by the time its press started (the training settings).
    Drag(u64),
}

impl Edit {
    /// The key under which this edit merges with the previous one, if any.
    pub fn merge_key(&self) -> Option<MergeKey> {
        match self {
            Self::Paint { stroke, .. } => Some(MergeKey::Stroke(*stroke)),
            Self::SetEpsilon { tile, .. } => Some(MergeKey::Epsilon(*tile)),
            Self::Resize { tile, .. } => Some(MergeKey::Resize(*tile)),
            _ => None,
        }
    }
}

/// How serious a log entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something done.
    Info,
    /// Worth knowing, nothing failed.
    Warning,
    /// Something failed.
    Error,
}

/// Everything the user can ask for; views push these, the app applies them after the frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// A tile-set change (undoable).
    Edit(Edit),
    /// Undoes the last edit.
    Undo,
    /// Redoes the last undone edit.
    Redo,
    /// Selects a tile for the editor.
    Select(TileId),
    /// Switches the central view.
    ShowView(View),
    /// Replaces the set by a fresh one-class set (undoable).
    NewTileSet,
    /// Replaces the set by a built-in example (undoable).
    LoadPreset(Preset),
    /// Asks before replacing the set by a built-in example.
    AskLoadPreset(Preset),
    /// Loads a tile-set file.
    OpenTileSet(PathBuf),
    /// Saves to this file and remembers it as the current file.
    SaveTileSet(PathBuf),
    /// Saves to the current file, or asks for one.
    Save,
    /// Imports a PNG/JPEG as a tile.
    ImportTileImage { path: PathBuf, options: ImportOptions, at: InsertAt },
    /// Writes the atlas PNG of all tiles.
    ExportAtlas(PathBuf),
    /// Writes the selected tile as a PNG.
    ExportTilePng(PathBuf),
    /// Opens a pair of IDX files (images, optional labels) in the gallery.
    OpenIdx { images: PathBuf, labels: Option<PathBuf> },
    /// Replaces the dataset settings (size, background, samples, jitter, seed).
    SetDatasetSettings(DatasetSettings),
    /// Shows pixel values with 1 as bright or 1 as ink.
    SetRendering(Rendering),
    /// Sets the dataset view's background image.
    SetBackgroundImage(PathBuf),
    /// Generates the dataset in the background from the current settings.
    GenerateDataset,
    /// Builds N1 or N2 for the current tile set and image size into the cache (once per key).
    BuildNetwork(Which),
    /// Runs an input image through N1 or N2 (once built) into the cache (once per key).
    ForwardPass { which: Which, key: ForwardKey, image: Arc<Array2<f32>> },
    /// Computes parts of N1's or N2's layers on an image (once built) into the cache (once per key).
    LayerWindows { key: WindowKey, image: Arc<Array2<f32>> },
    /// Runs an input image through the opened ONNX network (of version `key.0`) into the cache
    /// (once per key; `key.1` is the image's [`crate::app::cache::image_key`]).
    ImportedForwardPass { key: (u64, u64), image: Arc<Array2<f32>> },
    /// Runs an input image through the training run's weights `cnn` (of version `key.0`) into the
    /// cache (once per key; `key.1` is the image's [`crate::app::cache::image_key`]).
    TrainedForwardPass { key: (u64, u64), cnn: Arc<crate::core::nn::cnn::Cnn>, image: Arc<Array2<f32>> },
    /// Runs an input image through the training run's network of any architecture and measures
    /// its layers' selectivity into the cache (once per [`crate::app::cache::DeepKey`]).
    DeepForwardPass {
        key: crate::app::cache::DeepKey,
        net: Arc<crate::core::nn::deep::DeepNet>,
        image: Arc<Array2<f32>>,
    },
    /// Attributes a class of the Networks view's input (with its pasted windows) on one side's
    /// network into the cache (once per key).
    Attribute {
        side: crate::app::cache::Side,
        key: crate::app::cache::AttributionKey,
        network: crate::app::cache::Explained,
        image: Arc<Array2<f32>>,
        placements: Vec<crate::core::dataset::Placement>,
    },
    /// Scores the interpretability methods on both sides' networks over the dataset into the cache (once per key).
    ScoreInterpretation { key: crate::app::cache::ScoresKey, networks: Vec<crate::app::cache::Explained> },
    /// Computes what a unit wants to see (its preferred stimulus, top examples, recovery) into
    /// the cache (once per key).
    InspectUnit { key: crate::app::cache::PreferredKey, model: crate::app::cache::UnitModel },
    /// The same for an n2-shaped trained network.
    ShapedForwardPass {
        key: crate::app::cache::DeepKey,
        net: Arc<crate::core::nn::n2_shaped::N2Shaped>,
        image: Arc<Array2<f32>>,
    },
    /// Measures the selectivity `key` of a constructed network's units, and of `trained` beside
    /// them, into the cache (once per key).
    MeasureSelectivity { key: SelectivityKey, trained: Option<TrainedUnits> },
    /// Runs the Figure 4 study `key` against `network` into the cache (once per key).
    StudyFigure4 { key: StudyKey, network: Result<StudyNetwork, String> },
    /// Sets the scattering network's J, L and max order (checked where they are used).
    SetScattering(ScatteringSpec),
    /// Runs an input image through the scattering network into the cache (once per key).
    Scatter { key: ScatteringPassKey, image: Arc<Array2<f32>> },
    /// Trains the scattering network's linear classifier on the current dataset (once per key).
    TrainScattering(ScatteringModelKey),
    /// Runs Figure 4's small-deformation study `key` with `network` beside N2 and scattering (once per key).
    StudyDeformation { key: DeformationKey, network: Result<StudyNetwork, String> },
    /// Opens the path dialog for a file operation.
    AskPath(PathPurpose),
    /// Opens the gallery window.
    ShowGallery,
    /// Closes the window (after asking when there is unsaved work).
    Quit,
    /// Saves (asking for a file when there is none), then closes once the save succeeded.
    SaveAndQuit,
    /// Opens the rename window for a class or feature.
    AskRename(Node),
    /// Opens the path window of an export (File → Export, the dataset view's NumPy button).
    AskExport(ExportKind),
    /// Loads an ONNX classifier to stand on the trained side of the networks and invariance views.
    OpenNetwork(PathBuf),
    /// Opens the files the user picked in the browser for `purpose` (one, or for IDX the images
    /// and their labels), by their names and contents: a web page sees no paths.
    OpenPicked { purpose: PathPurpose, files: Vec<PickedFile> },
    /// Puts the trained side back to the SGD run.
    CloseNetwork,
    /// Replaces the training run by a fresh one with these settings on the current data; when it
    /// cannot start, the existing run stays as it is.
    StartTraining(TrainingStart),
    /// Runs, pauses, steps, resets, limits or slows down the training run (if there is one).
    ControlTraining(Control),
    /// Writes an export into this file or folder (in the background).
    Export { kind: ExportKind, path: PathBuf },
    /// Opens a scene, asking first when the tile set has unsaved changes.
    OpenScene(SceneSource),
    /// Opens a scene now (the user agreed to replace the work; undo brings it back).
    OpenSceneNow(SceneSource),
    /// Saves the work as a scene to this file (it becomes the current scene file).
    SaveScene(PathBuf),
    /// Saves the work to the current scene file, or asks for one.
    SaveSceneHere,
    /// Saves a scene that opens in lecture mode at the current step and followed tile.
    SaveLectureScene(PathBuf),
    /// Opens the window where a scene link is pasted.
    AskSceneLink,
    /// Copies a link to the current scene to the clipboard (on the web: the page's address with it).
    CopySceneLink,
    /// Adds a line to the log (what a view noticed: a refused action, a missing input).
    Log(Level, String),
    /// Saves the lecture step's screenshot, cropped to the page (in pixels), as a PNG.
    SaveLectureStep { path: PathBuf, image: Arc<egui::ColorImage>, page: Option<egui::Rect> },
    /// Reads a set of gallery images into the cache (once per key).
    LoadGallery(GalleryKey),
    /// Remembers the folder of the last path confirmed in a path window (the next one starts there).
    SetLastFolder(Option<PathBuf>),
}

/// A file picked in the browser: its name (a page sees no path) and its contents.
#[derive(Debug, Clone, PartialEq)]
pub struct PickedFile {
    /// The file's name.
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Where a scene to open comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum SceneSource {
    /// A `.tilelab` file.
    File(PathBuf),
    /// A bundled example, by name (`core::scene::BUNDLED`).
    Example(&'static str),
    /// A scene link (or an address ending in `#scene=…`).
    Link(String),
    /// A scene file picked in the browser: its name and text.
    Picked { name: String, text: String },
}

impl SceneSource {
    /// Where it comes from, for messages.
    pub fn describe(&self) -> String {
        match self {
            Self::File(path) => path.display().to_string(),
            Self::Example(name) => format!("example '{name}'"),
            Self::Link(_) => "from the link".to_owned(),
            Self::Picked { name, .. } => name.clone(),
        }
    }
}

/// Applies an edit; returns the tile to select afterwards (if the selection should move).
pub fn apply_edit(classes: &mut ClassSet, edit: Edit) -> Result<Option<TileId>, EditError> {
    match edit {
        Edit::AddClass { name, tile } => {
            classes.classes.push(crate::core::tile::single_tile_object(&name, tile));
            Ok(Some(TileId { class: classes.len() - 1, feature: 0, tile: 0 }))
        }
        Edit::AddFeature { class } => {
            let object = object_mut(classes, class)?;
            let tile = first_tile(object).ok_or(EditError::NoSuchNode)?;
            let name = format!("feature {}", object.features.len() + 1);
            object.features.push(Feature { name, tiles: vec![tile] });
            Ok(Some(TileId { class, feature: object.features.len() - 1, tile: 0 }))
        }
        Edit::AddTile { class, feature } => {
            let feature_ref = feature_mut(classes, class, feature)?;
            let tile = feature_ref.tiles.first().cloned().ok_or(EditError::NoSuchNode)?;
            feature_ref.tiles.push(tile);
            Ok(Some(TileId { class, feature, tile: feature_ref.tiles.len() - 1 }))
        }
        Edit::Duplicate(node) => duplicate(classes, node),
        Edit::Delete(node) => delete(classes, node),
        Edit::Move { node, up } => move_node(classes, node, up),
        Edit::Rename { node, name } => {
            let name = name.trim().to_owned();
            if name.is_empty() {
                return Err(EditError::EmptyName);
            }
            match node {
                Node::Class(c) => rename_class(object_mut(classes, c)?, name),
                Node::Feature(c, f) => feature_mut(classes, c, f)?.name = name,
                Node::Tile(_) => return Err(EditError::NoSuchNode),
            }
            Ok(None)
        }
        Edit::Paint { tile, pixels, value, in_support, .. } => {
            let target = tile_mut(classes, tile)?;
            for (row, col) in pixels {
                target.set_pixel(row, col, value, in_support)?;
            }
            Ok(None)
        }
        Edit::Fill { tile, row, col, value } => {
            let target = tile_mut(classes, tile)?;
            for (r, c) in flood_region(target, row, col) {
                target.set_pixel(r, c, value, true)?;
            }
            Ok(None)
        }
        Edit::SetEpsilon { tile, epsilon } => {
            tile_mut(classes, tile)?.set_epsilon(epsilon)?;
            Ok(None)
        }
        Edit::Resize { tile, rows, cols } => {
            let target = tile_mut(classes, tile)?;
            *target = target.resized(rows, cols)?;
            Ok(None)
        }
        Edit::Insert { tile, name, at } => insert(classes, tile, name, at),
        Edit::ReplaceAll(set) => {
            *classes = set;
            Ok(first_id(classes))
        }
    }
}

/// Why an edit could not be applied (the set is left unchanged by the failing step).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    #[error("that class, feature or tile no longer exists")]
    NoSuchNode,
    #[error("a name cannot be empty")]
    EmptyName,
    #[error(transparent)]
    Tile(#[from] TileError),
}

/// The first tile of the set, if any.
pub fn first_id(classes: &ClassSet) -> Option<TileId> {
    classes.tiles().next().map(|(id, _)| id)
}

/// The pixels of the 4-connected region around `(row, col)` with the same value and support state.
pub fn flood_region(tile: &Tile, row: usize, col: usize) -> Vec<(usize, usize)> {
    if row >= tile.rows() || col >= tile.cols() {
        return Vec::new();
    }
    let key = |r: usize, c: usize| (tile.values()[[r, c]].to_bits(), tile.support()[[r, c]]);
    let target = key(row, col);
    let mut seen = Array2::from_elem((tile.rows(), tile.cols()), false);
    let mut stack = vec![(row, col)];
    let mut region = Vec::new();
    seen[[row, col]] = true;
    while let Some((r, c)) = stack.pop() {
        region.push((r, c));
        let neighbours = [(r.wrapping_sub(1), c), (r + 1, c), (r, c.wrapping_sub(1)), (r, c + 1)];
        for (nr, nc) in neighbours {
            if nr < tile.rows() && nc < tile.cols() && !seen[[nr, nc]] && key(nr, nc) == target {
                seen[[nr, nc]] = true;
                stack.push((nr, nc));
            }
        }
    }
    region
}

/// Renames a class; its only feature, named after the class, keeps carrying the class's name
/// (N1's report, lecture step 6 and the saved file show feature names).
fn rename_class(object: &mut Object, name: String) {
    if let [feature] = object.features.as_mut_slice()
        && feature.name == object.name
    {
        feature.name.clone_from(&name);
    }
    object.name = name;
}

fn object_mut(classes: &mut ClassSet, class: usize) -> Result<&mut Object, EditError> {
    classes.classes.get_mut(class).ok_or(EditError::NoSuchNode)
}

fn feature_mut(classes: &mut ClassSet, class: usize, feature: usize) -> Result<&mut Feature, EditError> {
    object_mut(classes, class)?.features.get_mut(feature).ok_or(EditError::NoSuchNode)
}

fn tile_mut(classes: &mut ClassSet, id: TileId) -> Result<&mut Tile, EditError> {
    feature_mut(classes, id.class, id.feature)?.tiles.get_mut(id.tile).ok_or(EditError::NoSuchNode)
}

fn first_tile(object: &Object) -> Option<Tile> {
    object.features.first()?.tiles.first().cloned()
}

fn duplicate(classes: &mut ClassSet, node: Node) -> Result<Option<TileId>, EditError> {
    match node {
        Node::Class(c) => {
            let mut copy = classes.classes.get(c).cloned().ok_or(EditError::NoSuchNode)?;
            copy.name = format!("{} copy", copy.name);
            classes.classes.insert(c + 1, copy);
            Ok(Some(TileId { class: c + 1, feature: 0, tile: 0 }))
        }
        Node::Feature(c, f) => {
            let object = object_mut(classes, c)?;
            let mut copy = object.features.get(f).cloned().ok_or(EditError::NoSuchNode)?;
            copy.name = format!("{} copy", copy.name);
            object.features.insert(f + 1, copy);
            Ok(Some(TileId { class: c, feature: f + 1, tile: 0 }))
        }
        Node::Tile(id) => {
            let feature = feature_mut(classes, id.class, id.feature)?;
            let copy = feature.tiles.get(id.tile).cloned().ok_or(EditError::NoSuchNode)?;
            feature.tiles.insert(id.tile + 1, copy);
            Ok(Some(TileId { tile: id.tile + 1, ..id }))
        }
    }
}

fn delete(classes: &mut ClassSet, node: Node) -> Result<Option<TileId>, EditError> {
    match node {
        Node::Class(c) => {
            if c >= classes.len() {
                return Err(EditError::NoSuchNode);
            }
            classes.classes.remove(c);
        }
        Node::Feature(c, f) => {
            let object = object_mut(classes, c)?;
            if f >= object.features.len() {
                return Err(EditError::NoSuchNode);
            }
            object.features.remove(f);
            if object.features.is_empty() {
                classes.classes.remove(c);
            }
        }
        Node::Tile(id) => {
            let feature = feature_mut(classes, id.class, id.feature)?;
            if id.tile >= feature.tiles.len() {
                return Err(EditError::NoSuchNode);
            }
            feature.tiles.remove(id.tile);
            if feature.tiles.is_empty() {
                return delete(classes, Node::Feature(id.class, id.feature));
            }
        }
    }
    Ok(first_id(classes))
}

fn move_node(classes: &mut ClassSet, node: Node, up: bool) -> Result<Option<TileId>, EditError> {
    let swap = |len: usize, index: usize| -> Option<usize> {
        if up { index.checked_sub(1) } else { (index + 1 < len).then_some(index + 1) }
    };
    match node {
        Node::Class(c) => {
            let other = swap(classes.len(), c).ok_or(EditError::NoSuchNode)?;
            classes.classes.swap(c, other);
            Ok(Some(TileId { class: other, feature: 0, tile: 0 }))
        }
        Node::Feature(c, f) => {
            let object = object_mut(classes, c)?;
            let other = swap(object.features.len(), f).ok_or(EditError::NoSuchNode)?;
            object.features.swap(f, other);
            Ok(Some(TileId { class: c, feature: other, tile: 0 }))
        }
        Node::Tile(id) => {
            let feature = feature_mut(classes, id.class, id.feature)?;
            let other = swap(feature.tiles.len(), id.tile).ok_or(EditError::NoSuchNode)?;
            feature.tiles.swap(id.tile, other);
            Ok(Some(TileId { tile: other, ..id }))
        }
    }
}

fn insert(classes: &mut ClassSet, tile: Tile, name: String, at: InsertAt) -> Result<Option<TileId>, EditError> {
    match at {
        InsertAt::NewClass => apply_edit(classes, Edit::AddClass { name, tile }),
        InsertAt::Feature(c, f) => {
            let feature = feature_mut(classes, c, f)?;
            feature.tiles.push(tile);
            Ok(Some(TileId { class: c, feature: f, tile: feature.tiles.len() - 1 }))
        }
        InsertAt::Replace(id) => {
            let target = tile_mut(classes, id)?;
            let epsilon = target.epsilon();
            let mut tile = tile;
            tile.set_epsilon(epsilon)?;
            *target = tile;
            Ok(Some(id))
        }
    }
}

/// Most undo steps kept; older ones are dropped.
pub const HISTORY_LIMIT: usize = 200;

/// Undo/redo as snapshots of the whole document `T` (the app keeps the class set and the file it
/// belongs to; small: a few hundred KB at most).
#[derive(Debug)]
pub struct History<T> {
    undo: Vec<T>,
    redo: Vec<T>,
    last_key: Option<MergeKey>,
}

impl<T> Default for History<T> {
    fn default() -> Self {
        Self { undo: Vec::new(), redo: Vec::new(), last_key: None }
    }
}

impl<T: Clone> History<T> {
    /// Records the state before an edit, unless it continues the previous edit (same merge key).
    pub fn record(&mut self, before: &T, key: Option<MergeKey>) {
        let continues = key.is_some() && key == self.last_key;
        self.last_key = key;
        self.redo.clear();
        if continues {
            return;
        }
        self.undo.push(before.clone());
        if self.undo.len() > HISTORY_LIMIT {
            self.undo.remove(0);
        }
    }

    /// Ends the current merge group (the next edit is a new undo step).
    pub fn break_merge(&mut self) {
        self.last_key = None;
    }

    /// The state to return to, given the current one (which becomes redoable).
    pub fn undo(&mut self, current: &T) -> Option<T> {
        let previous = self.undo.pop()?;
        self.redo.push(current.clone());
        self.last_key = None;
        Some(previous)
    }

    /// The state to go forward to, given the current one (which becomes undoable).
    pub fn redo(&mut self, current: &T) -> Option<T> {
        let next = self.redo.pop()?;
        self.undo.push(current.clone());
        self.last_key = None;
        Some(next)
    }

    /// The state the next undo returns to.
    pub fn next_undo(&self) -> Option<&T> {
        self.undo.last()
    }

    /// The state the next redo goes forward to.
    pub fn next_redo(&self) -> Option<&T> {
        self.redo.last()
    }

    /// True when there is something to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// True when there is something to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
}

#[cfg(test)]
// Painted values are assigned, not computed: exact comparison is the right check.
#[allow(clippy::float_cmp)]
mod tests {
    use super::*;
    use crate::core::tile::single_tile_object;

    fn set() -> ClassSet {
        let a = Tile::filled(3, 3, 1.0, 0.5).unwrap();
        let b = Tile::filled(2, 4, 0.0, 0.5).unwrap();
        ClassSet { classes: vec![single_tile_object("a", a), single_tile_object("b", b)] }
    }

    fn id(class: usize, feature: usize, tile: usize) -> TileId {
        TileId { class, feature, tile }
    }

    #[test]
    fn renaming_a_class_renames_its_only_feature_named_after_it() {
        let mut s = set();
        let rename = |node, name: &str| Edit::Rename { node, name: name.to_owned() };
        apply_edit(&mut s, rename(Node::Class(0), " boot ")).unwrap();
        assert_eq!((s.classes[0].name.as_str(), s.classes[0].features[0].name.as_str()), ("boot", "boot"));
        apply_edit(&mut s, rename(Node::Feature(1, 0), "sole")).unwrap();
        apply_edit(&mut s, rename(Node::Class(1), "bag")).unwrap();
        assert_eq!(s.classes[1].features[0].name, "sole", "a feature with its own name keeps it");
        apply_edit(&mut s, Edit::AddFeature { class: 0 }).unwrap();
        apply_edit(&mut s, rename(Node::Class(0), "shoe")).unwrap();
        assert_eq!(s.classes[0].features[0].name, "boot", "with two features none is renamed");
    }

    #[test]
    fn structure_edits_keep_the_tree_consistent() {
        let mut s = set();
        assert_eq!(apply_edit(&mut s, Edit::AddTile { class: 0, feature: 0 }).unwrap(), Some(id(0, 0, 1)));
        assert_eq!(apply_edit(&mut s, Edit::AddFeature { class: 1 }).unwrap(), Some(id(1, 1, 0)));
        assert_eq!(s.tiles().count(), 4);
        apply_edit(&mut s, Edit::Duplicate(Node::Class(0))).unwrap();
        assert_eq!(s.classes[1].name, "a copy");
        apply_edit(&mut s, Edit::Move { node: Node::Class(2), up: true }).unwrap();
        assert_eq!(s.classes[1].name, "b");
        assert!(apply_edit(&mut s, Edit::Move { node: Node::Class(0), up: true }).is_err());
        // Deleting the last tile of a one-feature class removes the class.
        apply_edit(&mut s, Edit::Delete(Node::Feature(1, 0))).unwrap();
        apply_edit(&mut s, Edit::Delete(Node::Tile(id(1, 0, 0)))).unwrap();
        assert_eq!(s.classes.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["a", "a copy"]);
        assert_eq!(
            apply_edit(&mut s, Edit::Rename { node: Node::Class(1), name: "  ".into() }),
            Err(EditError::EmptyName)
        );
        apply_edit(&mut s, Edit::Rename { node: Node::Class(1), name: " c ".into() }).unwrap();
        assert_eq!(s.classes[1].name, "c");
        assert_eq!(apply_edit(&mut s, Edit::Delete(Node::Class(9))), Err(EditError::NoSuchNode));
    }

    #[test]
    fn paint_fill_epsilon_and_resize() {
        let mut s = set();
        let t = id(0, 0, 0);
        let paint = Edit::Paint { tile: t, pixels: vec![(0, 0), (1, 1)], value: 0.25, in_support: true, stroke: 1 };
        apply_edit(&mut s, paint).unwrap();
        assert_eq!(s.tile(t).unwrap().values()[[1, 1]], 0.25);
        let erase = Edit::Paint { tile: t, pixels: vec![(2, 2)], value: 0.0, in_support: false, stroke: 2 };
        apply_edit(&mut s, erase).unwrap();
        assert!(!s.tile(t).unwrap().support()[[2, 2]]);
        // The 1.0s 4-connected to (0,1) are (0,1), (0,2), (1,2): (1,0), (2,0), (2,1) are cut off.
        apply_edit(&mut s, Edit::Fill { tile: t, row: 0, col: 1, value: 0.5 }).unwrap();
        let tile = s.tile(t).unwrap();
        assert_eq!(tile.values().iter().filter(|&&v| v == 0.5).count(), 3);
        assert_eq!((tile.values()[[1, 2]], tile.values()[[1, 0]], tile.values()[[2, 2]]), (0.5, 1.0, 0.0));
        apply_edit(&mut s, Edit::SetEpsilon { tile: t, epsilon: 3.0 }).unwrap();
        assert!(apply_edit(&mut s, Edit::SetEpsilon { tile: t, epsilon: f32::NAN }).is_err());
        assert_eq!(s.tile(t).unwrap().epsilon(), 3.0);
        apply_edit(&mut s, Edit::Resize { tile: t, rows: 5, cols: 2 }).unwrap();
        assert_eq!((s.tile(t).unwrap().rows(), s.tile(t).unwrap().cols()), (5, 2));
        assert!(apply_edit(&mut s, Edit::Resize { tile: t, rows: 65, cols: 2 }).is_err());
    }

    #[test]
    fn flood_region_is_four_connected() {
        let tile = Tile::from_values(ndarray::array![[1.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], 1.0).unwrap();
        let mut region = flood_region(&tile, 0, 0);
        region.sort_unstable();
        assert_eq!(region, [(0, 0), (1, 0)]);
        assert_eq!(flood_region(&tile, 0, 2).len(), 4, "(0,2),(1,2),(2,2),(2,1)");
        assert!(flood_region(&tile, 5, 0).is_empty());
    }

    #[test]
    fn one_stroke_is_one_undo_step() {
        let mut s = set();
        let mut history = History::default();
        let original = s.clone();
        for (i, stroke) in [1, 1, 1, 2].into_iter().enumerate() {
            let edit = Edit::Paint { tile: id(1, 0, 0), pixels: vec![(0, i)], value: 1.0, in_support: true, stroke };
            history.record(&s, edit.merge_key());
            apply_edit(&mut s, edit).unwrap();
        }
        let after_first_stroke = s.tile(id(1, 0, 0)).unwrap().values()[[0, 3]];
        assert_eq!(after_first_stroke, 1.0);
        s = history.undo(&s).unwrap();
        assert_eq!(s.tile(id(1, 0, 0)).unwrap().values()[[0, 3]], 0.0);
        assert_eq!(s.tile(id(1, 0, 0)).unwrap().values()[[0, 2]], 1.0);
        s = history.undo(&s).unwrap();
        assert_eq!(s, original);
        assert!(!history.can_undo());
        s = history.redo(&s).unwrap();
        assert_eq!(s.tile(id(1, 0, 0)).unwrap().values()[[0, 2]], 1.0);
        assert!(history.can_redo());
    }

    #[test]
    fn history_is_bounded() {
        let mut history = History::default();
        let s = set();
        for _ in 0..HISTORY_LIMIT + 10 {
            history.record(&s, None);
        }
        let mut steps = 0;
        while history.undo(&s).is_some() {
            steps += 1;
        }
        assert_eq!(steps, HISTORY_LIMIT);
    }
}
