//! Interoperability end to end: `tilelab dataset` writes exactly the generated dataset; PyTorch's
//! exported fixtures give PyTorch's logits in tilelab's engine; and tilelab's exported N2, small
//! N1 and trained CNN give tilelab's values in ONNX Runtime (when Python has it installed).

use std::path::Path;
use std::process::Command;

use ndarray::{Array2, ArrayD, Axis, Ix1, Ix3, IxDyn, stack};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use tilelab::core::construct::{build_n1, build_n2};
use tilelab::core::dataset::{Background, DatasetSpec, generate};
use tilelab::core::export::{load_npy, save_npy};
use tilelab::core::interop::graph::ExportGraph;
use tilelab::core::interop::onnx_export::{ConstructedKind, export_cnn, export_constructed, export_deep};
use tilelab::core::interop::onnx_import::{ImportError, OnnxModel};
use tilelab::core::nn::arch::{Arch, ConvBlock, Preset};
use tilelab::core::nn::cnn::{Cnn, CnnSpec};
use tilelab::core::nn::deep::DeepNet;
use tilelab::core::nn::sparse::LayerKind;
use tilelab::core::tile::ClassSet;
use tilelab::core::{presets, tileset_file};

fn tilelab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

/// The fixture `core::interop`'s unit tests use: two classes, one of two features, a partial support.
fn classes() -> ClassSet {
    tileset_file::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/two_classes.tileset.json"))
        .expect("the fixture is a valid tile set")
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

#[test]
fn dataset_command_writes_exactly_the_generated_images() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("set.json");
    tileset_file::save(&tileset, &classes()).unwrap();
    let out = dir.path().join("data");
    let output = tilelab(&[
        "dataset",
        "--tileset",
        path_str(&tileset),
        "--samples-per-class",
        "6",
        "--seed",
        "11",
        "--height",
        "14",
        "--width",
        "13",
        "--background",
        "smooth:4",
        "--out",
        path_str(&out),
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let spec = DatasetSpec {
        height: 14,
        width: 13,
        samples_per_class: 6,
        background: Background::Smooth { cell: 4 },
        jitter: 0.0,
        seed: 11,
    };
    let dataset = generate(&classes(), &spec).unwrap();
    let images = load_npy::<f32>(&out.join("images.npy")).unwrap().into_dimensionality::<Ix3>().unwrap();
    let labels = load_npy::<i64>(&out.join("labels.npy")).unwrap().into_dimensionality::<Ix1>().unwrap();
    let offsets = load_npy::<i64>(&out.join("offsets.npy")).unwrap().into_dimensionality::<Ix3>().unwrap();
    assert_eq!(images.dim(), (12, 14, 13));
    for (s, sample) in dataset.samples.iter().enumerate() {
        assert_eq!(images.index_axis(Axis(0), s), sample.image, "sample {s}");
        assert_eq!(labels[s], sample.label as i64);
        assert_eq!(offsets[[s, 0, 0]], sample.placements[0].row as i64);
        assert_eq!(offsets[[s, 0, 1]], sample.placements[0].col as i64);
    }
    assert!(out.join("contact_sheet.png").exists() && out.join("dataset.json").exists());
    let bad = tilelab(&[
        "dataset",
        "--tileset",
        path_str(&tileset),
        "--samples-per-class",
        "1",
        "--background",
        "plaid",
        "--out",
        path_str(&out),
    ]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown background"));
}

#[test]
fn pytorch_fixtures_give_pytorch_logits_in_tilelab() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("expected.json")).unwrap()).unwrap();
    let images: Vec<Array2<f32>> = serde_json::from_value::<Vec<Vec<Vec<f32>>>>(expected["images"].clone())
        .unwrap()
        .into_iter()
        .map(|rows| {
            let (h, w) = (rows.len(), rows[0].len());
            Array2::from_shape_vec((h, w), rows.into_iter().flatten().collect()).unwrap()
        })
        .collect();
    let logits: Vec<Vec<f32>> = serde_json::from_value(expected["logits"].clone()).unwrap();
    for file in ["small_cnn_legacy.onnx", "small_cnn_dynamo.onnx"] {
        let model = OnnxModel::load(&folder.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(model.input_size(), (12, 12));
        assert_eq!(model.classes(), 3);
        for (image, want) in images.iter().zip(&logits) {
            let trace = model.run(image.view()).unwrap();
            for (g, w) in trace.logits.iter().zip(want) {
                assert!((g - w).abs() <= 1e-4 * w.abs().max(1.0), "{file}: {g} vs PyTorch's {w}");
            }
            assert!(trace.values.iter().any(|t| t.op_type == "Conv"), "intermediate maps are kept");
        }
    }
}

#[test]
fn logits_command_runs_an_onnx_model() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx");
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("grey.png");
    image::GrayImage::from_fn(12, 12, |x, y| image::Luma([((x * 20 + y * 3) % 256) as u8])).save(&png).unwrap();
    let output = tilelab(&[
        "logits",
        "--model",
        path_str(&folder.join("small_cnn_dynamo.onnx")),
        "--image",
        path_str(&png),
        "--json",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    let model = OnnxModel::load(&folder.join("small_cnn_dynamo.onnx")).unwrap();
    let image = Array2::from_shape_fn((12, 12), |(y, x)| ((x * 20 + y * 3) % 256) as f32 / 255.0);
    let want = model.logits(image.view()).unwrap();
    let got: Vec<f32> = serde_json::from_value(json["logits"].clone()).unwrap();
    assert_eq!(got, want);
    let best = (0..want.len()).max_by(|&a, &b| want[a].total_cmp(&want[b])).unwrap();
    assert_eq!(json["predicted"], best);
}

/// Writes `NAME.onnx`, `NAME.safetensors`, `NAME.images.npy` and `NAME.OUTPUT.npy` (tilelab's
/// value of every graph output for every image) into `dir`.
fn write_model(dir: &Path, name: &str, graph: &ExportGraph, images: &[Array2<f32>], per_image: &[Vec<ArrayD<f32>>]) {
    std::fs::write(dir.join(format!("{name}.onnx")), graph.onnx_bytes()).unwrap();
    std::fs::write(dir.join(format!("{name}.safetensors")), graph.safetensors_bytes().unwrap()).unwrap();
    let views: Vec<_> = images.iter().map(|a| a.view()).collect();
    save_npy(&dir.join(format!("{name}.images.npy")), &stack(Axis(0), &views).unwrap()).unwrap();
    for (index, output) in graph.outputs.iter().enumerate() {
        let views: Vec<_> = per_image.iter().map(|values| values[index].view()).collect();
        save_npy(&dir.join(format!("{name}.{}.npy", output.name)), &stack(Axis(0), &views).unwrap()).unwrap();
    }
}

/// A constructed network exported, with tilelab's value of every graph output for every image.
fn write_constructed(dir: &Path, name: &str, kind: ConstructedKind, classes: &ClassSet, images: &[Array2<f32>]) {
    let (height, width) = images[0].dim();
    let built = match kind {
        ConstructedKind::N1 => build_n1(classes, height, width).unwrap(),
        ConstructedKind::N2 => build_n2(classes, height, width).unwrap(),
    };
    let graph = export_constructed(kind, &built, classes).unwrap();
    let per_image: Vec<Vec<ArrayD<f32>>> = images
        .iter()
        .map(|image| {
            let activations = built.network.forward(image.view()).unwrap();
            built
                .network
                .layers()
                .iter()
                .zip(&activations.layers)
                .filter(|(layer, _)| !matches!(layer.kind, LayerKind::Pad { .. }))
                .zip(&graph.outputs)
                .map(|((_, a), output)| ArrayD::from_shape_vec(IxDyn(&output.dims), a.as_slice().to_vec()).unwrap())
                .collect()
        })
        .collect();
    write_model(dir, name, &graph, images, &per_image);
}

#[test]
fn onnxruntime_gives_tilelabs_values_for_exported_networks() {
    let python_ready =
        Command::new("python3").args(["-c", "import numpy, onnxruntime"]).output().is_ok_and(|o| o.status.success());
    if !python_ready {
        println!("SKIPPED: python3 with numpy and onnxruntime is not available (pip install numpy onnxruntime onnx)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let images: Vec<Array2<f32>> =
        (0..5).map(|_| Array2::from_shape_fn((10, 11), |_| rng.random_range(0.0..1.0f32))).collect();
    write_constructed(dir.path(), "n2", ConstructedKind::N2, &classes(), &images);
    write_constructed(dir.path(), "n1", ConstructedKind::N1, &classes(), &images);
    // The paper's scale: ten 28×28 Fashion-MNIST tiles on 40×40 images, one dataset image per
    // class (so that every detector fires once) and two noise images.
    let fashion = presets::fashion_ten(1);
    let spec = DatasetSpec { height: 40, width: 40, samples_per_class: 1, seed: 3, ..DatasetSpec::default() };
    let mut fashion_images = generate(&fashion, &spec).unwrap().images();
    fashion_images.extend((0..2).map(|_| Array2::from_shape_fn((40, 40), |_| rng.random_range(0.0..1.0f32))));
    write_constructed(dir.path(), "n2_fashion", ConstructedKind::N2, &fashion, &fashion_images);
    let cnn = Cnn::new(CnnSpec { height: 10, width: 11, kernel: 3, filters: 5, classes: 2 }, 9).unwrap();
    let graph = export_cnn(&cnn, &["square".to_owned(), "Bag".to_owned()]).unwrap();
    let per_image: Vec<Vec<ArrayD<f32>>> = images
        .iter()
        .map(|image| {
            let a = cnn.forward(image.view()).unwrap();
            vec![a.post_relu.into_dyn(), a.logits.into_dyn()]
        })
        .collect();
    write_model(dir.path(), "trained", &graph, &images, &per_image);
    // Every kind of layer of the general network: strides, dilations, max-pools, a hidden layer;
    // and the deep preset on the Fashion images.
    let custom = Arch {
        blocks: vec![
            ConvBlock { stride: 2, ..ConvBlock::plain(3, 4) },
            ConvBlock { dilation: 2, ..ConvBlock::plain(2, 3) }.pooled(),
        ],
        hidden: Some(6),
        ..Arch::paper(21, 23, 2)
    };
    let custom_images: Vec<Array2<f32>> =
        (0..4).map(|_| Array2::from_shape_fn((21, 23), |_| rng.random_range(0.0..1.0f32))).collect();
    for (name, net, images) in [
        ("deep_custom", DeepNet::new(custom, 3).unwrap(), &custom_images),
        ("deep_preset", DeepNet::new(Preset::Deep.arch(40, 40, 10), 4).unwrap(), &fashion_images),
    ] {
        let names: Vec<String> = (0..net.arch().classes).map(|c| format!("class {c}")).collect();
        let graph = export_deep(&net, &names).unwrap();
        let per_image: Vec<Vec<ArrayD<f32>>> = images
            .iter()
            .map(|image| {
                let a = net.forward(image.view()).unwrap();
                let mut values: Vec<ArrayD<f32>> = a.maps.into_iter().map(ndarray::ArrayBase::into_dyn).collect();
                values.extend(a.hidden.map(ndarray::ArrayBase::into_dyn));
                values.push(a.logits.into_dyn());
                values
            })
            .collect();
        write_model(dir.path(), name, &graph, images, &per_image);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/check_onnxruntime.py");
    let output = Command::new("python3").arg(script).arg(dir.path()).output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    println!("{report}");
    assert!(output.status.success(), "ONNX Runtime disagrees:\n{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("6 models, 0 failures"), "{report}");
}

#[test]
fn hostile_onnx_files_give_clear_errors() {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/hostile");
    let mut files: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10);
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match OnnxModel::load(&path) {
            Ok(model) => {
                assert!(name.starts_with("ok-"), "{name} should have been refused");
                assert_eq!(model.logits(Array2::zeros((12, 12)).view()).unwrap().len(), 3);
            }
            Err(error) => {
                assert!(name.starts_with("bad-"), "{name}: {error}");
                assert!(!error.to_string().trim().is_empty());
                println!("{name}: {error}");
            }
        }
    }
}

#[test]
fn export_command_writes_models_and_refuses_a_huge_n1() {
    let dir = tempfile::tempdir().unwrap();
    let tileset = dir.path().join("set.json");
    tileset_file::save(&tileset, &classes()).unwrap();
    let out = dir.path().join("n2.onnx");
    let args = ["export", "onnx", "--net", "n2", "--tileset", path_str(&tileset), "--height", "9", "--width", "9"];
    let output = tilelab(&[&args[..], &["--out", path_str(&out)]].concat());
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let model = OnnxModel::load(&out).unwrap();
    assert_eq!((model.input_size(), model.classes()), ((9, 9), 2));
    let weights = dir.path().join("n2.safetensors");
    let output = tilelab(&[&args[..], &["--format", "safetensors", "--out", path_str(&weights)]].concat());
    assert!(output.status.success());
    let (tensors, _) = tilelab::core::interop::safetensors::from_bytes(&std::fs::read(&weights).unwrap()).unwrap();
    assert!(tensors.iter().any(|t| t.name == "layer1.weight"));
    let big = ["export", "onnx", "--net", "n1", "--tileset", path_str(&tileset), "--height", "150", "--width", "150"];
    let output = tilelab(&[&big[..], &["--out", path_str(&dir.path().join("n1.onnx"))]].concat());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--net n2"), "{stderr}");
    assert!(!dir.path().join("n1.onnx").exists());
    let trained = ["export", "onnx", "--net", "trained", "--tileset", path_str(&tileset), "--out", path_str(&out)];
    assert!(String::from_utf8_lossy(&tilelab(&trained).stderr).contains("--weights"));
}

#[test]
fn every_truncation_and_byte_flip_of_a_pytorch_model_is_handled() {
    let bytes =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/small_cnn_legacy.onnx")).unwrap();
    let (mut loaded, mut refused) = (0, 0);
    let mut tally = |outcome: Result<OnnxModel, ImportError>| match outcome {
        Ok(model) => {
            // Whatever loads runs on a blank image and gives as many scores as it reported.
            let (h, w) = model.input_size();
            assert_eq!(model.logits(Array2::zeros((h, w)).view()).unwrap().len(), model.classes());
            loaded += 1;
        }
        Err(error) => {
            assert!(!error.to_string().trim().is_empty());
            refused += 1;
        }
    };
    for end in 0..bytes.len() {
        tally(OnnxModel::from_bytes(&bytes[..end], None));
    }
    for at in 0..bytes.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= flip;
            tally(OnnxModel::from_bytes(&corrupt, None));
        }
    }
    assert!(loaded > 0 && refused > 0, "{loaded} loaded, {refused} refused");
}
