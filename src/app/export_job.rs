//! What File → Export writes, without a window: a copy of what an export reads ([`Source`],
//! taken on the UI thread when the user confirms) and [`run`], the body of the export job that
//! `app::cache::export` starts. Building N1/N2, forward passes, rendering and writing all happen
//! there. The formats are written by `core::export` and `core::interop` (the same functions, the
//! same bytes as `tilelab export` and `tilelab activations`), every file through `core::atomic`;
//! in the web build a file is downloaded instead, and a folder as one ZIP archive.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array2;

use crate::app::ids::{ExportKind, Net, View};
use crate::app::settings::DatasetSettings;
use crate::app::storage;
use crate::core::construct::{Constructed, Which};
use crate::core::dataset::{Dataset, DatasetSpec};
use crate::core::experiments::figure4::{self, Classifier, InvarianceResult};
use crate::core::experiments::figure4_deformation::{self, DeformationStudy};
use crate::core::export::activations::{self, NamedArray};
use crate::core::export::tables::CurvePoint;
use crate::core::export::view_figures::{self, NO_INVARIANCE, ViewExportError, ViewKind, ViewNumbers};
use crate::core::export::{NamedFile, sparse_json, weights_npy, write_folder, zip};
use crate::core::figures;
use crate::core::interop::dataset_files::dataset_files;
use crate::core::interop::onnx_export::{ConstructedKind, export_cnn, export_constructed};
use crate::core::nn::cnn::Cnn;
use crate::core::nn::deep::DeepNet;
use crate::core::nn::n2_shaped::N2Shaped;
use crate::core::plot::{Figure, Format, render};
use crate::core::tile::ClassSet;

/// Seed of the figure pack's samples.
pub const FIGURE_PACK_SEED: u64 = 1;

/// Points of a training curve.
pub type CurvePoints = Vec<CurvePoint>;

/// Copies of what an export reads, taken on the UI thread when the user confirms.
#[derive(Clone)]
pub struct Source {
    pub classes: ClassSet,
    pub view: View,
    /// Image size of the dataset settings.
    pub size: (usize, usize),
    pub dataset: Option<Arc<Dataset>>,
    /// The settings `dataset` was generated from, or why it cannot be exported (missing or stale);
    /// turned into a spec in the export job (a background image file is read there, not in the frame).
    pub dataset_settings: Result<DatasetSettings, String>,
    /// The networks view's input image as shown (a dataset sample, a random one, or a tile
    /// dragged by hand); the dataset sample it points at before that view was opened.
    pub input: Option<Array2<f32>>,
    pub trained: Option<Arc<Cnn>>,
    /// The training run's network when it is not the paper's (its logits join the Networks figure).
    pub other_trained: Option<OtherTrained>,
    /// Training curves for the training and the test set.
    pub curves: Option<(CurvePoints, CurvePoints)>,
    /// The invariance view's study as on screen, if it computed one.
    pub invariance: Option<InvarianceShown>,
    /// N1 and N2 from the app's cache when built for `classes` and `size` (others are built in the job).
    pub built: Vec<(Which, Arc<Constructed>)>,
}

/// A trained network of another architecture than the paper's.
#[derive(Clone)]
pub enum OtherTrained {
    Deep(Arc<DeepNet>),
    Shaped(Arc<N2Shaped>),
}

/// The invariance view's numbers as on screen: the study and the network it compares with N1.
#[derive(Clone)]
pub struct InvarianceShown {
    /// The study.
    pub result: Arc<InvarianceResult>,
    /// The network beside N1, as the view names it ("trained CNN", "untrained CNN", "network x.onnx").
    pub compared: String,
    /// The small-deformation study on screen, if computed.
    pub deformation: Option<Arc<DeformationStudy>>,
}

impl Source {
    /// The dataset and its spec, or why there is none to export.
    fn current_dataset(&self) -> Result<(&Dataset, DatasetSpec), String> {
        let dataset = self.dataset.as_deref().ok_or(NO_DATASET)?;
        Ok((dataset, self.dataset_settings.as_ref().map_err(Clone::clone)?.to_spec()?))
    }

    fn input(&self) -> Result<&Array2<f32>, String> {
        self.input.as_ref().ok_or_else(|| "no input yet: generate the dataset first (Dataset view)".to_owned())
    }

    fn cnn(&self) -> Result<&Cnn, String> {
        self.trained.as_deref().ok_or_else(|| "no trained network yet: start training in the Training view".to_owned())
    }

    fn constructed(&self, net: Net) -> Result<Arc<Constructed>, String> {
        let which = if net == Net::N1 { Which::N1 } else { Which::N2 };
        if let Some((_, built)) = self.built.iter().find(|(w, _)| *w == which) {
            return Ok(Arc::clone(built));
        }
        let (height, width) = self.size;
        which.build(&self.classes, height, width).map(Arc::new).map_err(|e| e.to_string())
    }
}

/// Why an export of the dataset is refused when there is none.
pub const NO_DATASET: &str = "no dataset yet: generate the dataset first (Dataset view)";

/// What an export makes: one file's bytes, or the named files of a folder.
pub enum Output {
    /// The bytes of one file.
    File(Vec<u8>),
    /// The files of a folder, by name.
    Folder(Vec<NamedFile>),
}

/// Runs an export into `path` (a file, or a folder it creates); returns the files written. Where
/// there are no file paths (the web build) the file is downloaded under the name `path` ends in,
/// and a folder as one ZIP archive named after it.
pub fn run(kind: ExportKind, source: &Source, path: &Path) -> Result<Vec<PathBuf>, String> {
    match output(kind, source)? {
        Output::File(bytes) => {
            write(path, &bytes)?;
            Ok(vec![path.to_owned()])
        }
        Output::Folder(files) if storage::FILE_PATHS => write_folder(path, &files).map_err(|e| e.to_string()),
        Output::Folder(files) => {
            let archive = zip_name(path);
            write(&archive, &zip::zip(&files).map_err(|e| e.to_string())?)?;
            Ok(vec![archive])
        }
    }
}

/// The archive a folder export becomes where there are no folders to write: `name.zip`.
fn zip_name(folder: &Path) -> PathBuf {
    let mut name = folder.as_os_str().to_owned();
    name.push(".zip");
    PathBuf::from(name)
}

/// What the export `kind` makes of `source`: the bytes `run` writes.
pub fn output(kind: ExportKind, source: &Source) -> Result<Output, String> {
    let file = |bytes: Result<Vec<u8>, String>| bytes.map(Output::File);
    let folder = |files: Result<Vec<NamedFile>, String>| files.map(Output::Folder);
    match kind {
        ExportKind::ViewFigure { png_scale } => {
            let figure = view_figure(source)?;
            let format = png_scale.map_or(Format::Svg, |scale| Format::Png { scale });
            file(render(&figure, format).map_err(|e| e.to_string()))
        }
        ExportKind::ViewData => file(view_csv(source)),
        ExportKind::Activations { net, npy } => {
            let layers = layer_outputs(source, net)?;
            if npy {
                folder(activations::npy_folder_files(&layers).map_err(|e| e.to_string()))
            } else {
                file(activations::csv(&layers).map_err(|e| e.to_string()))
            }
        }
        ExportKind::Weights { net, npy } => weights(source, net, npy),
        ExportKind::Onnx { net, safetensors } => file(onnx_bytes(source, net, safetensors)),
        ExportKind::DatasetNpy => {
            let (dataset, spec) = source.current_dataset()?;
            folder(dataset_files(&source.classes, &spec, dataset).map_err(|e| e.to_string()))
        }
        ExportKind::FigurePack => {
            folder(figures::figure_pack_files(&source.classes, FIGURE_PACK_SEED).map_err(|e| e.to_string()))
        }
        ExportKind::Figure4Study => {
            let shown = source.invariance.as_ref().ok_or(NO_INVARIANCE)?;
            let mut files = figure4::output_files(&shown.result).map_err(|e| e.to_string())?;
            if let Some(study) = &shown.deformation {
                files.extend(figure4_deformation::output_files(study).map_err(|e| e.to_string())?);
            }
            Ok(Output::Folder(files))
        }
    }
}

/// `net` as ONNX bytes, or its weights as safetensors: the bytes `tilelab export onnx` writes.
fn onnx_bytes(source: &Source, net: Net, safetensors: bool) -> Result<Vec<u8>, String> {
    let graph = match net {
        Net::Trained => export_cnn(source.cnn()?, &view_figures::class_names(&source.classes)),
        Net::N1 => export_constructed(ConstructedKind::N1, &*source.constructed(net)?, &source.classes),
        Net::N2 => export_constructed(ConstructedKind::N2, &*source.constructed(net)?, &source.classes),
    }
    .map_err(|e| e.to_string())?;
    if safetensors { graph.safetensors_bytes().map_err(|e| e.to_string()) } else { Ok(graph.onnx_bytes()) }
}

/// Writes one file (a download in the web build, whose path is just the name).
fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    storage::write_user_file(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The logits of direct φ, N1, N2 and (if trained) the CNN on the current input.
fn input_logits(source: &Source) -> Result<Vec<(String, Vec<f32>)>, String> {
    let image = source.input()?.view();
    let (n1, n2) = (source.constructed(Net::N1)?, source.constructed(Net::N2)?);
    let trained = match (&source.trained, &source.other_trained) {
        (Some(cnn), _) => Some(Classifier::Cnn(cnn)),
        (None, Some(OtherTrained::Deep(net))) => Some(Classifier::Deep(net)),
        (None, Some(OtherTrained::Shaped(net))) => Some(Classifier::N2Shaped(net)),
        (None, None) => None,
    };
    view_figures::input_logits(&source.classes, image, &n1, &n2, trained).map_err(|e| e.to_string())
}

/// The figure or the CSV of the current view, from the numbers it needs (computed here only for
/// that view): `core::export::view_figures`, the functions `tilelab figures --scene` calls too.
fn with_view_numbers<T>(
    source: &Source,
    make: impl FnOnce(ViewKind, &ViewNumbers<'_>) -> Result<T, ViewExportError>,
) -> Result<T, String> {
    let view = source.view.kind();
    let logits = if view == ViewKind::Networks { Some(input_logits(source)?) } else { None };
    let curves = source.curves.as_ref().map(|(train, test)| (train.as_slice(), test.as_slice()));
    let numbers = ViewNumbers {
        classes: &source.classes,
        dataset: source.dataset.as_deref(),
        logits: logits.as_deref(),
        curves,
        invariance: source.invariance.as_ref().map(|shown| (&*shown.result, shown.compared.as_str())),
    };
    make(view, &numbers).map_err(|e| e.to_string())
}

/// The current view as a figure.
pub fn view_figure(source: &Source) -> Result<Figure, String> {
    with_view_numbers(source, view_figures::view_figure)
}

/// The numbers behind the current view, as CSV bytes.
pub fn view_csv(source: &Source) -> Result<Vec<u8>, String> {
    with_view_numbers(source, view_figures::view_csv)
}

/// Every layer's output of `net` on the current input, the input first.
pub fn layer_outputs(source: &Source, net: Net) -> Result<Vec<NamedArray>, String> {
    let image = source.input()?.view();
    let layers = match net {
        Net::N1 | Net::N2 => activations::of_sparse(&source.constructed(net)?.network, image),
        Net::Trained => activations::of_cnn(source.cnn()?, image),
    };
    layers.map_err(|e| e.to_string())
}

/// `net`'s weights as JSON (a file) or NPY (a folder).
fn weights(source: &Source, net: Net, npy: bool) -> Result<Output, String> {
    let output = match (net, npy) {
        (Net::Trained, false) => {
            let text = crate::core::nn::weights_file::to_json(source.cnn()?).map_err(|e| e.to_string())?;
            Output::File(text.into_bytes())
        }
        (Net::Trained, true) => Output::Folder(weights_npy::trained_files(source.cnn()?).map_err(|e| e.to_string())?),
        (_, false) => {
            Output::File(sparse_json::to_bytes(&source.constructed(net)?.network).map_err(|e| e.to_string())?)
        }
        (_, true) => {
            Output::Folder(weights_npy::dense_files(&source.constructed(net)?.network).map_err(|e| e.to_string())?)
        }
    };
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::generate;
    use crate::core::{detect, presets};

    fn point(epoch: f32, loss: f32, accuracy: f32) -> CurvePoint {
        CurvePoint { epoch, loss, accuracy }
    }

    fn source(view: View) -> Source {
        let classes = presets::toy_squares();
        let spec = DatasetSpec { height: 8, width: 8, samples_per_class: 3, ..DatasetSpec::default() };
        let dataset = Arc::new(generate(&classes, &spec).unwrap());
        let input = dataset.samples.first().map(|s| s.image.clone());
        Source {
            classes,
            view,
            size: (8, 8),
            dataset: Some(dataset),
            dataset_settings: Ok(DatasetSettings {
                height: spec.height,
                width: spec.width,
                samples_per_class: spec.samples_per_class,
                seed: spec.seed,
                ..DatasetSettings::default()
            }),
            input,
            trained: None,
            other_trained: None,
            curves: Some((vec![point(0.5, 1.0, 0.4), point(1.0, 0.5, 0.8)], vec![point(1.0, 0.6, 0.75)])),
            invariance: None,
            built: Vec::new(),
        }
    }

    /// `a` equals `b` to 1e-4 relative (absolute near zero).
    fn assert_close(a: &[f32], b: &[f32], what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: as many logits");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= 1e-4 * y.abs().max(1.0), "{what}: {x} vs {y}");
        }
    }

    /// A source whose trained network is a seeded, untrained CNN for its 8×8 images.
    fn source_with_cnn() -> (Source, Cnn) {
        let mut s = source(View::Networks);
        let spec = crate::core::nn::cnn::CnnSpec { height: 8, width: 8, kernel: 3, filters: 3, classes: 2 };
        let cnn = Cnn::new(spec, 11).unwrap();
        s.trained = Some(Arc::new(cnn.clone()));
        (s, cnn)
    }

    #[test]
    fn the_logits_figure_takes_a_deep_or_n2_shaped_run() {
        use crate::core::nn::arch::{Arch, ConvBlock};
        use crate::core::nn::n2_shaped::{Init, Wiring};
        let mut s = source(View::Networks);
        let arch = Arch { blocks: vec![ConvBlock::plain(3, 2).pooled()], ..Arch::deep(8, 8, 2) };
        let deep = Arc::new(DeepNet::new(arch, 3).unwrap());
        let shaped = Arc::new(N2Shaped::new(&s.classes, (8, 8), Wiring::Sparse, Init::Random, 3).unwrap());
        let image = s.input.clone().unwrap();
        let cases = [
            (OtherTrained::Deep(Arc::clone(&deep)), deep.logits(image.view()).unwrap().to_vec()),
            (OtherTrained::Shaped(Arc::clone(&shaped)), shaped.logits(image.view()).unwrap()),
        ];
        for (other, expected) in cases {
            s.other_trained = Some(other);
            let series = input_logits(&s).unwrap();
            let names: Vec<&str> = series.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["direct φ", "N1", "N2", "trained"]);
            assert_eq!(series[3].1, expected, "the run's own logits");
        }
    }

    #[test]
    fn onnx_exports_of_n2_and_the_trained_cnn_compute_tilelab_logits() {
        use crate::core::interop::onnx_import::OnnxModel;
        let dir = tempfile::tempdir().unwrap();
        let (s, cnn) = source_with_cnn();
        let n2 = s.constructed(Net::N2).unwrap();
        let n2_path = dir.path().join(ExportKind::Onnx { net: Net::N2, safetensors: false }.default_name(View::Tiles));
        assert!(n2_path.ends_with("n2.onnx"));
        let cnn_path = dir.path().join("nested").join("trained.onnx");
        assert_eq!(
            run(ExportKind::Onnx { net: Net::N2, safetensors: false }, &s, &n2_path).unwrap(),
            std::slice::from_ref(&n2_path)
        );
        run(ExportKind::Onnx { net: Net::Trained, safetensors: false }, &s, &cnn_path).unwrap();
        let n2_bytes = std::fs::read(&n2_path).unwrap();
        // The same bytes as `tilelab export onnx --net n2`.
        let cli = export_constructed(ConstructedKind::N2, &n2, &s.classes).unwrap().onnx_bytes();
        assert_eq!(n2_bytes, cli);
        let n2_model = OnnxModel::from_bytes(&n2_bytes, None).unwrap();
        let cnn_model = OnnxModel::from_bytes(&std::fs::read(&cnn_path).unwrap(), None).unwrap();
        for sample in &s.dataset.as_ref().unwrap().samples {
            let image = sample.image.view();
            assert_close(&n2_model.run(image).unwrap().logits, &n2.logits(image).unwrap(), "N2");
            assert_close(&cnn_model.run(image).unwrap().logits, cnn.logits(image).unwrap().as_slice().unwrap(), "CNN");
        }
    }

    #[test]
    fn safetensors_hold_the_graph_weights_under_the_same_names() {
        use crate::core::interop::safetensors;
        let dir = tempfile::tempdir().unwrap();
        let (s, cnn) = source_with_cnn();
        let cases = [
            (Net::N2, export_constructed(ConstructedKind::N2, &s.constructed(Net::N2).unwrap(), &s.classes).unwrap()),
            (Net::Trained, export_cnn(&cnn, &view_figures::class_names(&s.classes)).unwrap()),
        ];
        for (net, graph) in cases {
            let kind = ExportKind::Onnx { net, safetensors: true };
            let path = dir.path().join(kind.default_name(View::Networks));
            assert_eq!(path.extension().unwrap(), "safetensors");
            run(kind, &s, &path).unwrap();
            let (tensors, _) = safetensors::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(tensors.len(), graph.weights.len(), "{net:?}");
            for tensor in &graph.weights {
                let back = tensors.iter().find(|t| t.name == tensor.name).unwrap_or_else(|| panic!("{}", tensor.name));
                assert_eq!(back, tensor, "{net:?}");
            }
        }
    }

    #[test]
    fn onnx_export_errors_are_messages() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = source(View::Networks);
        let trained = run(ExportKind::Onnx { net: Net::Trained, safetensors: false }, &s, &dir.path().join("t.onnx"));
        assert!(trained.unwrap_err().contains("no trained network"));
        // N1 on 120×120 images needs a dense hidden layer beyond the export limit.
        s.size = (120, 120);
        let path = dir.path().join("n1.onnx");
        let error = run(ExportKind::Onnx { net: Net::N1, safetensors: false }, &s, &path).unwrap_err();
        assert!(error.contains("export limit") && error.contains("N2"), "{error}");
        assert!(!path.exists(), "nothing is written on error");
        run(ExportKind::Onnx { net: Net::N2, safetensors: false }, &s, &dir.path().join("n2.onnx")).unwrap();
    }

    #[test]
    fn the_dataset_as_npy_reads_back_equal() {
        use ndarray_npy::ReadNpyExt;
        let dir = tempfile::tempdir().unwrap();
        let s = source(View::Dataset);
        let folder = dir.path().join(ExportKind::DatasetNpy.default_name(View::Dataset));
        let files = run(ExportKind::DatasetNpy, &s, &folder).unwrap();
        for name in ["images.npy", "labels.npy", "offsets.npy", "tiles.npy", "dataset.json", "contact_sheet.png"] {
            assert!(files.contains(&folder.join(name)), "{name} written");
        }
        let read = |name: &str| std::fs::File::open(folder.join(name)).unwrap();
        let images = ndarray::Array3::<f32>::read_npy(read("images.npy")).unwrap();
        let labels = ndarray::Array1::<i64>::read_npy(read("labels.npy")).unwrap();
        let dataset = s.dataset.as_ref().unwrap();
        assert_eq!(images.dim(), (dataset.samples.len(), 8, 8));
        for ((image, label), sample) in images.outer_iter().zip(&labels).zip(&dataset.samples) {
            assert_eq!(image, sample.image);
            assert_eq!(*label, i64::try_from(sample.label).unwrap());
        }
    }

    #[test]
    fn a_missing_or_stale_dataset_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = source(View::Dataset);
        s.dataset_settings = Err("the dataset is out of date: generate the dataset first".to_owned());
        let error = run(ExportKind::DatasetNpy, &s, &dir.path().join("stale")).unwrap_err();
        assert!(error.contains("out of date"), "{error}");
        s.dataset = None;
        let error = run(ExportKind::DatasetNpy, &s, &dir.path().join("none")).unwrap_err();
        assert!(error.contains("generate the dataset first"), "{error}");
        assert!(!dir.path().join("stale").exists() && !dir.path().join("none").exists());
    }

    fn parse_csv(bytes: &[u8]) -> Vec<Vec<String>> {
        String::from_utf8(bytes.to_vec()).unwrap().lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
    }

    #[test]
    fn every_view_has_a_figure_and_data() {
        let dir = tempfile::tempdir().unwrap();
        for view in [View::Tiles, View::Dataset, View::Networks, View::Training] {
            let s = source(view);
            let png = dir.path().join(format!("{view:?}.png"));
            run(ExportKind::ViewFigure { png_scale: Some(2.0) }, &s, &png).unwrap();
            let figure = view_figure(&s).unwrap();
            let decoded = image::open(&png).unwrap();
            assert_eq!(decoded.width(), 2 * figure.width_px, "{view:?} at 2×");
            let svg = dir.path().join(format!("{view:?}.svg"));
            run(ExportKind::ViewFigure { png_scale: None }, &s, &svg).unwrap();
            assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
            let rows = parse_csv(&view_csv(&s).unwrap());
            assert!(rows.len() > 1, "{view:?} has data rows");
            assert!(rows.iter().all(|r| r.len() == rows[0].len()), "{view:?}: rectangular CSV");
        }
        assert!(view_figure(&source(View::Invariance)).is_err(), "no invariance computed yet");
    }

    #[test]
    fn network_logits_table_matches_the_direct_logits() {
        let s = source(View::Networks);
        let rows = parse_csv(&view_csv(&s).unwrap());
        assert_eq!(rows[0], ["class", "direct φ", "N1", "N2"]);
        let direct = detect::logits(&s.classes, s.input.as_ref().unwrap().view());
        for (row, phi) in rows[1..].iter().zip(&direct) {
            for cell in &row[1..] {
                let v: f32 = cell.parse().unwrap();
                assert!((v - phi).abs() <= 1e-3 * phi.abs().max(1.0), "{v} vs {phi}");
            }
        }
    }

    /// Every file under `dir`, by name, with its bytes.
    fn folder_bytes(dir: &Path) -> Vec<(std::ffi::OsString, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_owned(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn activations_are_the_core_export_of_the_shown_input() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(View::Networks);
        let n2 = s.constructed(Net::N2).unwrap();
        let layers = activations::of_sparse(&n2.network, s.input.as_ref().unwrap().view()).unwrap();
        let csv_path = dir.path().join("acts.csv");
        run(ExportKind::Activations { net: Net::N2, npy: false }, &s, &csv_path).unwrap();
        assert_eq!(std::fs::read(&csv_path).unwrap(), activations::csv(&layers).unwrap());
        let (app_dir, core_dir) = (dir.path().join("app"), dir.path().join("core"));
        let files = run(ExportKind::Activations { net: Net::N2, npy: true }, &s, &app_dir).unwrap();
        assert_eq!(files.len(), layers.len() + 1, "one NPY per layer and the manifest");
        activations::write_npy_folder(&core_dir, &layers).unwrap();
        assert_eq!(folder_bytes(&app_dir), folder_bytes(&core_dir));
        assert!(layer_outputs(&s, Net::Trained).is_err(), "no trained network yet");
    }

    #[test]
    fn constructed_weights_are_the_core_sparse_json_and_dense_npy() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(View::Networks);
        let built = s.constructed(Net::N2).unwrap();
        let json_path = dir.path().join("n2.json");
        run(ExportKind::Weights { net: Net::N2, npy: false }, &s, &json_path).unwrap();
        assert_eq!(std::fs::read(&json_path).unwrap(), sparse_json::to_bytes(&built.network).unwrap());
        let (app_dir, core_dir) = (dir.path().join("app"), dir.path().join("core"));
        let files = run(ExportKind::Weights { net: Net::N2, npy: true }, &s, &app_dir).unwrap();
        assert!(files.len() >= 3);
        weights_npy::write_dense(&built.network, &core_dir).unwrap();
        assert_eq!(folder_bytes(&app_dir), folder_bytes(&core_dir));
    }

    #[test]
    fn trained_weights_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = source(View::Training);
        let spec = crate::core::nn::cnn::CnnSpec { height: 8, width: 8, kernel: 3, filters: 2, classes: 2 };
        let cnn = Cnn::new(spec, 7).unwrap();
        s.trained = Some(Arc::new(cnn.clone()));
        let json_path = dir.path().join("cnn.json");
        run(ExportKind::Weights { net: Net::Trained, npy: false }, &s, &json_path).unwrap();
        let back = crate::core::nn::weights_file::load(&json_path).unwrap();
        assert_eq!(back, cnn);
        let (app_dir, core_dir) = (dir.path().join("app"), dir.path().join("core"));
        run(ExportKind::Weights { net: Net::Trained, npy: true }, &s, &app_dir).unwrap();
        weights_npy::write_trained(&cnn, &core_dir).unwrap();
        assert_eq!(folder_bytes(&app_dir), folder_bytes(&core_dir));
        let layers = layer_outputs(&s, Net::Trained).unwrap();
        assert_eq!(layers.last().unwrap().values.len(), 2, "two logits");
    }

    #[test]
    fn errors_are_messages_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = source(View::Dataset);
        s.dataset = None;
        s.input = None;
        assert!(run(ExportKind::ViewFigure { png_scale: Some(1.0) }, &s, &dir.path().join("a.png")).is_err());
        assert!(run(ExportKind::Activations { net: Net::N1, npy: false }, &s, &dir.path().join("a.csv")).is_err());
        let blocked = dir.path().join("file");
        std::fs::write(&blocked, b"x").unwrap();
        let s = source(View::Tiles);
        let under_a_file = blocked.join("tiles.png");
        assert!(run(ExportKind::ViewFigure { png_scale: Some(1.0) }, &s, &under_a_file).is_err());
    }

    #[test]
    fn the_figure_pack_writes_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(View::Tiles);
        let files = run(ExportKind::FigurePack, &s, &dir.path().join("pack")).unwrap();
        assert!(!files.is_empty());
        for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "png")) {
            image::open(file).unwrap();
        }
    }

    #[test]
    fn a_folder_export_makes_the_files_it_writes_so_its_zip_holds_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = source(View::Networks);
        let kinds = [
            ExportKind::DatasetNpy,
            ExportKind::Activations { net: Net::N2, npy: true },
            ExportKind::Weights { net: Net::N2, npy: true },
        ];
        for kind in kinds {
            let Ok(Output::Folder(files)) = output(kind, &s) else { panic!("{kind:?} makes a folder") };
            let folder = dir.path().join(kind.default_name(View::Networks));
            run(kind, &s, &folder).unwrap();
            let names = |files: &[NamedFile]| files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
            let written: Vec<NamedFile> = folder_bytes(&folder)
                .into_iter()
                .map(|(name, bytes)| (name.to_string_lossy().into_owned(), bytes))
                .collect();
            let mut made = files.clone();
            made.sort();
            assert_eq!(names(&made), names(&written), "{kind:?}: the same names");
            assert_eq!(made, written, "{kind:?}: the same bytes");
            assert_eq!(&zip::zip(&files).unwrap()[..4], b"PK\x03\x04");
        }
        assert_eq!(zip_name(Path::new("figures")), Path::new("figures.zip"));
        assert!(matches!(output(ExportKind::ViewFigure { png_scale: None }, &s), Ok(Output::File(_))));
    }

    #[test]
    fn kinds_name_files_and_folders() {
        let kind = ExportKind::Activations { net: Net::Trained, npy: true };
        assert!(kind.is_folder());
        assert_eq!(kind.default_name(View::Networks), "activations_trained_cnn");
        assert_eq!(ExportKind::ViewFigure { png_scale: Some(2.0) }.default_name(View::Dataset), "dataset.png");
        assert!(!ExportKind::ViewData.is_folder());
        assert!(ExportKind::DatasetNpy.is_folder());
        let onnx = |net, safetensors| ExportKind::Onnx { net, safetensors };
        assert!(!onnx(Net::N1, false).is_folder());
        assert_eq!(onnx(Net::N1, false).default_name(View::Tiles), "n1.onnx");
        assert_eq!(onnx(Net::Trained, true).default_name(View::Tiles), "trained.safetensors");
    }
}
