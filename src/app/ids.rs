//! The names commands use for places and file operations: the central views, what a path window
//! is for, and what an export writes. They sit below the views so that commands, the state and the
//! views can all name them.

use serde::{Deserialize, Serialize};

use crate::core::export::view_figures::ViewKind;

/// The tabs of the central area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum View {
    /// The tile editor.
    #[default]
    Tiles,
    /// Generated samples of the valid dataset.
    Dataset,
    /// The constructed networks N1 and N2.
    Networks,
    /// SGD training of the CNN.
    Training,
    /// Logits under background perturbations and translations (Figure 4).
    Invariance,
}

impl View {
    /// Every view, in tab order.
    pub const ALL: [Self; 5] = [Self::Tiles, Self::Dataset, Self::Networks, Self::Training, Self::Invariance];

    /// The view as exports and scenes name it.
    pub fn kind(self) -> ViewKind {
        match self {
            Self::Tiles => ViewKind::Tiles,
            Self::Dataset => ViewKind::Dataset,
            Self::Networks => ViewKind::Networks,
            Self::Training => ViewKind::Training,
            Self::Invariance => ViewKind::Invariance,
        }
    }

    /// The view a scene or an export names.
    pub fn of(kind: ViewKind) -> Self {
        match kind {
            ViewKind::Tiles => Self::Tiles,
            ViewKind::Dataset => Self::Dataset,
            ViewKind::Networks => Self::Networks,
            ViewKind::Training => Self::Training,
            ViewKind::Invariance => Self::Invariance,
        }
    }

    /// The tab label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tiles => "Tiles",
            Self::Dataset => "Dataset",
            Self::Networks => "Networks",
            Self::Training => "Training",
            Self::Invariance => "Invariance",
        }
    }
}

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
    /// Open a scene file.
    OpenScene,
    /// Save the work as a scene file.
    SaveSceneAs,
    /// Save a scene that opens in lecture mode at the current step.
    SaveLectureScene,
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
            Self::OpenScene => "Open scene",
            Self::SaveSceneAs => "Save scene as",
            Self::SaveLectureScene => "Start lecture here: save a scene",
        }
    }

    /// Label of the confirming button.
    pub fn action(self) -> &'static str {
        match self {
            Self::OpenTileSet | Self::OpenIdx | Self::OpenNetwork | Self::OpenScene => "Open",
            Self::SaveTileSetAs | Self::SaveSceneAs | Self::SaveLectureScene => "Save",
            Self::ImportTileImage => "Import",
            Self::ExportAtlas | Self::ExportTilePng => "Export",
            Self::BackgroundImage => "Use",
        }
    }

    /// True when the path is written rather than read.
    pub fn is_save(self) -> bool {
        matches!(
            self,
            Self::SaveTileSetAs | Self::ExportAtlas | Self::ExportTilePng | Self::SaveSceneAs | Self::SaveLectureScene
        )
    }

    /// The file dialog's filter: a name and the extensions.
    pub fn filter(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Self::OpenTileSet | Self::SaveTileSetAs => ("tile set", &["json"]),
            Self::ImportTileImage | Self::BackgroundImage => ("image", &["png", "jpg", "jpeg"]),
            Self::ExportAtlas | Self::ExportTilePng => ("PNG", &["png"]),
            Self::OpenIdx => ("IDX", &["gz", "idx3-ubyte", "idx1-ubyte", "ubyte"]),
            Self::OpenNetwork => ("ONNX", &["onnx"]),
            Self::OpenScene | Self::SaveSceneAs | Self::SaveLectureScene => ("scene", &["tilelab"]),
        }
    }

    /// The file name proposed when saving.
    pub fn default_name(self) -> &'static str {
        match self {
            Self::SaveTileSetAs => "tileset.json",
            Self::ExportAtlas => "atlas.png",
            Self::ExportTilePng => "tile.png",
            Self::SaveSceneAs => "scene.tilelab",
            Self::SaveLectureScene => "lecture-step.tilelab",
            _ => "",
        }
    }
}

/// Which network an export is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// The constructed N1 (Theorem 1).
    N1,
    /// The constructed N2 (Theorem 2).
    N2,
    /// The SGD-trained CNN of the training view.
    Trained,
}

impl Net {
    /// Short name used in menus and file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::N1 => "N1",
            Self::N2 => "N2",
            Self::Trained => "trained CNN",
        }
    }

    /// Lower-case tag used in ONNX/safetensors file names (`n1`, `n2`, `trained`), as the CLI's `--net`.
    pub fn tag(self) -> &'static str {
        match self {
            Self::N1 => "n1",
            Self::N2 => "n2",
            Self::Trained => "trained",
        }
    }
}

/// What is exported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExportKind {
    /// The current view as a figure, PNG at `scale` or SVG (`None`).
    ViewFigure { png_scale: Option<f32> },
    /// The numbers behind the current view, as CSV.
    ViewData,
    /// Every layer's output on the current input: one CSV, or a folder of NPY files.
    Activations { net: Net, npy: bool },
    /// The weights: JSON, or a folder of NPY files.
    Weights { net: Net, npy: bool },
    /// A network as an ONNX model, or (`safetensors`) the same weights under the same names.
    Onnx { net: Net, safetensors: bool },
    /// The current dataset as NumPy files (`images.npy`, `labels.npy`, …) into a folder.
    DatasetNpy,
    /// The paper-style figure pack into a folder.
    FigurePack,
    /// The invariance view's study into a folder: both networks' histograms as PNG and SVG, every
    /// logit as CSV, a JSON summary.
    Figure4Study,
}

impl ExportKind {
    /// True when the target is a folder rather than a file.
    pub fn is_folder(self) -> bool {
        matches!(
            self,
            Self::FigurePack
                | Self::Figure4Study
                | Self::DatasetNpy
                | Self::Activations { npy: true, .. }
                | Self::Weights { npy: true, .. }
        )
    }

    /// A default file or folder name.
    pub fn default_name(self, view: View) -> String {
        let view = view.label().to_lowercase();
        let slug = |net: Net| net.name().replace(' ', "_").to_lowercase();
        match self {
            Self::ViewFigure { png_scale: Some(_) } => format!("{view}.png"),
            Self::ViewFigure { png_scale: None } => format!("{view}.svg"),
            Self::ViewData => format!("{view}.csv"),
            Self::Activations { net, npy: false } => format!("activations_{}.csv", slug(net)),
            Self::Activations { net, npy: true } => format!("activations_{}", slug(net)),
            Self::Weights { net, npy: false } => format!("weights_{}.json", slug(net)),
            Self::Weights { net, npy: true } => format!("weights_{}", slug(net)),
            Self::Onnx { net, safetensors } => format!("{}.{}", net.tag(), onnx_extension(safetensors)),
            Self::DatasetNpy => "dataset".to_owned(),
            Self::FigurePack => "figures".to_owned(),
            Self::Figure4Study => "figure4".to_owned(),
        }
    }

    /// The format name of an activations export.
    pub fn csv_or_npy(npy: bool) -> &'static str {
        if npy { "NPY" } else { "CSV" }
    }

    /// The window title.
    pub fn title(self) -> String {
        match self {
            Self::ViewFigure { png_scale: Some(s) } => format!("Export this view as PNG ({s}×)"),
            Self::ViewFigure { png_scale: None } => "Export this view as SVG".to_owned(),
            Self::ViewData => "Export this view's data as CSV".to_owned(),
            Self::Activations { net, npy } => format!("Export {} activations as {}", net.name(), Self::csv_or_npy(npy)),
            Self::Weights { net, npy } => {
                format!("Export {} weights as {}", net.name(), if npy { "NPY" } else { "JSON" })
            }
            Self::Onnx { net, safetensors: false } => format!("Export {} as ONNX", net.name()),
            Self::Onnx { net, safetensors: true } => format!("Export {} weights as safetensors", net.name()),
            Self::DatasetNpy => "Export the dataset as NumPy".to_owned(),
            Self::FigurePack => "Write the figure pack".to_owned(),
            Self::Figure4Study => "Export the Figure 4 study".to_owned(),
        }
    }
}

fn onnx_extension(safetensors: bool) -> &'static str {
    if safetensors { "safetensors" } else { "onnx" }
}

/// What "Export as NumPy…" writes, for hover texts.
pub const DATASET_FILES_HINT: &str = "Writes images.npy (float32 [N,H,W]), labels.npy, offsets.npy, tiles.npy, \
                                      dataset.json and contact_sheet.png into a folder";
