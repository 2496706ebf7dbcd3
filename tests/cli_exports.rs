//! Everything the File → Export menu writes about a network can be written headless: the app's
//! export code path and `tilelab export` / `tilelab activations` write the same bytes.
#![cfg(feature = "gui")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use ndarray::Array2;
use tilelab::app::export_job::{self, Source};
use tilelab::app::ids::View;
use tilelab::app::ids::{ExportKind, Net};
use tilelab::core::experiments::figure4_deformation::{self, Networks};
use tilelab::core::nn::cnn::{Cnn, CnnSpec};
use tilelab::core::nn::weights_file;
use tilelab::core::scattering::{Scattering, ScatteringSpec};
use tilelab::core::{presets, tileset_file};

const SIZE: usize = 8;

fn tilelab(args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs");
    assert!(output.status.success(), "tilelab {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

/// Every file under `path` (or the file itself), by name, with its bytes.
fn files(path: &Path) -> Vec<(String, Vec<u8>)> {
    if path.is_file() {
        return vec![(String::new(), std::fs::read(path).unwrap())];
    }
    let mut files: Vec<_> = std::fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// A grey PNG whose levels are `k/255`, so the CLI reads exactly the image the app holds.
fn write_image(path: &Path) -> Array2<f32> {
    let levels = Array2::from_shape_fn((SIZE, SIZE), |(r, c)| ((r * 37 + c * 91) % 256) as u8);
    let png =
        image::GrayImage::from_fn(SIZE as u32, SIZE as u32, |x, y| image::Luma([levels[[y as usize, x as usize]]]));
    png.save(path).unwrap();
    levels.mapv(|level| f32::from(level) / 255.0)
}

struct Fixture {
    dir: tempfile::TempDir,
    source: Source,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let classes = presets::toy_squares();
        tileset_file::save(&dir.path().join("set.json"), &classes).unwrap();
        let input = write_image(&dir.path().join("image.png"));
        let spec = CnnSpec { height: SIZE, width: SIZE, kernel: 3, filters: 2, classes: classes.len() };
        let cnn = Cnn::new(spec, 5).unwrap();
        weights_file::save(&dir.path().join("weights.json"), &cnn).unwrap();
        let source = Source {
            classes,
            view: View::Networks,
            size: (SIZE, SIZE),
            dataset: None,
            dataset_settings: Err("no dataset in this test".to_owned()),
            input: Some(input),
            trained: Some(Arc::new(cnn)),
            other_trained: None,
            curves: None,
            invariance: None,
            built: Vec::new(),
        };
        Self { dir, source }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `--net`, `--tileset` and (for the trained CNN) `--weights`.
    fn net_args(&self, net: Net) -> Vec<String> {
        let mut args = vec!["--net".into(), net.tag().into(), "--tileset".into(), text(&self.path("set.json")).into()];
        if net == Net::Trained {
            args.extend(["--weights".into(), text(&self.path("weights.json")).into()]);
        }
        args
    }

    /// Writes `kind` through the app's export and runs the CLI with `args` + `--out`; the files must match.
    fn check(&self, kind: ExportKind, name: &str, args: &[String]) {
        let (app, cli) = (self.path(&format!("app-{name}")), self.path(&format!("cli-{name}")));
        export_job::run(kind, &self.source, &app).unwrap();
        let args: Vec<&str> = args.iter().map(String::as_str).chain(["--out", text(&cli)]).collect();
        tilelab(&args);
        let (app_files, cli_files) = (files(&app), files(&cli));
        assert!(!app_files.is_empty() && app_files.iter().all(|(_, bytes)| !bytes.is_empty()), "{name}");
        assert!(app_files == cli_files, "{name}: the app and the CLI wrote different bytes");
    }
}

#[test]
fn activations_are_the_same_bytes_from_the_menu_and_the_cli() {
    let fixture = Fixture::new();
    for net in [Net::N1, Net::N2, Net::Trained] {
        for (npy, format) in [(false, "csv"), (true, "npy")] {
            let mut args = vec!["activations".to_owned()];
            args.extend(fixture.net_args(net));
            args.extend(["--image".into(), text(&fixture.path("image.png")).into(), "--format".into(), format.into()]);
            fixture.check(ExportKind::Activations { net, npy }, &format!("activations-{}-{format}", net.tag()), &args);
        }
    }
}

#[test]
fn weights_and_models_are_the_same_bytes_from_the_menu_and_the_cli() {
    let fixture = Fixture::new();
    let size = ["--height".to_owned(), SIZE.to_string(), "--width".to_owned(), SIZE.to_string()];
    let mut cases = Vec::new();
    for net in [Net::N1, Net::N2, Net::Trained] {
        cases.push((ExportKind::Onnx { net, safetensors: false }, net, "onnx"));
        cases.push((ExportKind::Onnx { net, safetensors: true }, net, "safetensors"));
        cases.push((ExportKind::Weights { net, npy: true }, net, "npy"));
    }
    cases.push((ExportKind::Weights { net: Net::N1, npy: false }, Net::N1, "sparse-json"));
    cases.push((ExportKind::Weights { net: Net::N2, npy: false }, Net::N2, "sparse-json"));
    for (kind, net, format) in cases {
        let mut args = vec!["export".to_owned()];
        args.extend(fixture.net_args(net));
        args.extend(size.iter().cloned());
        args.extend(["--format".into(), format.into()]);
        fixture.check(kind, &format!("{}-{format}", net.tag()), &args);
    }
}

/// File → Export → This view (PNG 1×, SVG, CSV) for every view of a scene, and `tilelab figures
/// --scene`: the same bytes (the Networks view's input is the dataset's first sample).
#[test]
fn view_figures_and_csvs_are_the_same_bytes_from_the_menu_and_the_cli() {
    use tilelab::core::construct::Which;
    use tilelab::core::scene::{self, compute};

    let dir = tempfile::tempdir().unwrap();
    let toy = scene::BUNDLED.iter().find(|(name, _)| *name == "paper-toy").unwrap().1;
    let (mut opened, _) = scene::from_json(toy).unwrap();
    opened.training.epochs = 1;
    let run = compute::train(&opened, &mut |_, _| {}).unwrap();
    let scene::TrainedWeights::Paper(cnn) = &run.weights else { panic!("the toy scene trains the paper's network") };
    opened.trained = Some(run.clone());
    let path = dir.path().join("toy.tilelab");
    scene::save(&path, &opened).unwrap();
    let cli = dir.path().join("cli");
    tilelab(&["figures", "--scene", text(&path), "--out", text(&cli)]);

    let classes = opened.tiles.classes();
    let dataset = compute::dataset(&opened).unwrap();
    let compared = compute::compared_as_opened(&opened).unwrap();
    let study = compute::invariance(&opened, &compared).unwrap();
    let (height, width) = (opened.dataset.height, opened.dataset.width);
    let built = [Which::N1, Which::N2].map(|which| (which, Arc::new(which.build(&classes, height, width).unwrap())));
    let mut source = Source {
        classes,
        view: View::Tiles,
        size: (height, width),
        input: Some(dataset.samples[0].image.clone()),
        dataset: Some(Arc::new(dataset)),
        dataset_settings: Err("not exported here".to_owned()),
        trained: Some(Arc::new(cnn.clone())),
        other_trained: None,
        curves: Some((compute::table_curve(&run.train_curve), compute::table_curve(&run.test_curve))),
        invariance: Some(export_job::InvarianceShown {
            result: Arc::new(study),
            compared: compared.caption(),
            deformation: None,
        }),
        built: built.to_vec(),
    };
    for view in View::ALL {
        source.view = view;
        let stem = view.kind().file_stem();
        for (kind, name) in [
            (ExportKind::ViewFigure { png_scale: Some(1.0) }, format!("{stem}.png")),
            (ExportKind::ViewFigure { png_scale: None }, format!("{stem}.svg")),
            (ExportKind::ViewData, format!("{stem}.csv")),
        ] {
            let app = dir.path().join(format!("app-{name}"));
            export_job::run(kind, &source, &app).unwrap();
            let (app_bytes, cli_bytes) = (std::fs::read(&app).unwrap(), std::fs::read(cli.join(&name)).unwrap());
            assert!(
                !app_bytes.is_empty() && app_bytes == cli_bytes,
                "{name}: the app and the CLI wrote different bytes"
            );
        }
    }
    // Figure 4's small deformations: the Invariance export writes what `reproduce figure4 --deformation` writes.
    let scattering = Scattering::new(ScatteringSpec::default(), height, width).unwrap();
    let networks = Networks { cnn, scattering: &scattering, scattering_classifier: None };
    let tiles: Vec<_> = source.classes.tiles().map(|(id, _)| id).take(2).collect();
    let deformed = figure4_deformation::deformation_study(&source.classes, &networks, &tiles, 3, 0.2, 7).unwrap();
    if let Some(shown) = source.invariance.as_mut() {
        shown.deformation = Some(Arc::new(deformed.clone()));
    }
    let app = dir.path().join("app-figure4");
    export_job::run(ExportKind::Figure4Study, &source, &app).unwrap();
    let cli = dir.path().join("cli-figure4");
    let written = figure4_deformation::write_outputs(&deformed, &cli).unwrap();
    assert_eq!(written.len(), 2);
    for name in ["figure4_deformation.csv", "figure4_deformation.json"] {
        assert_eq!(std::fs::read(app.join(name)).unwrap(), std::fs::read(cli.join(name)).unwrap(), "{name}");
    }
}
