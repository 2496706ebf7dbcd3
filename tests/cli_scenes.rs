//! Scenes headless: every bundled scene opens and `tilelab figures --scene` writes what the core
//! computes for it; links printed by `tilelab scene link` open to the same scene; `tilelab dataset
//! --scene` and `tilelab reproduce figure4 --scene` use the scene's settings, seeds and weights.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tilelab::core::experiments::figure4;
use tilelab::core::interop::dataset_files::save_dataset;
use tilelab::core::nn::arch::ConvBlock;
use tilelab::core::nn::layers::Layers;
use tilelab::core::scene::{self, Scene, TrainedWeights, compute};

fn tilelab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tilelab")).args(args).output().expect("the tilelab binary runs")
}

fn ok(args: &[&str]) -> String {
    let output = tilelab(args);
    assert!(output.status.success(), "tilelab {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn text(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temporary path")
}

fn bundled_scenes() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths
}

/// Every file in `dir`, by name, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

fn open(path: &Path) -> Scene {
    let (scene, warnings) = scene::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(warnings.is_empty(), "{}: {warnings:?}", path.display());
    scene
}

/// The toy scene with trained weights, saved in `dir`.
fn trained_toy(dir: &Path) -> (PathBuf, Scene) {
    let mut scene = open(&bundled_scenes().into_iter().find(|p| p.ends_with("paper-toy.tilelab")).unwrap());
    scene.training.epochs = 2;
    scene.trained = Some(compute::train(&scene, &mut |_, _| {}).unwrap());
    let path = dir.join("trained.tilelab");
    scene::save(&path, &scene).unwrap();
    (path, scene)
}

#[test]
fn every_bundled_scene_opens_and_its_figures_are_the_cores() {
    let scenes = bundled_scenes();
    assert!(scenes.len() >= 6, "the issue asks for six bundled scenes: {scenes:?}");
    let dir = tempfile::tempdir().unwrap();
    for path in scenes {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let scene = open(&path);
        assert!(!scene.title.is_empty(), "{name} has a title for File → Examples");
        let (cli, core) = (dir.path().join(format!("cli-{name}")), dir.path().join(format!("core-{name}")));
        ok(&["figures", "--scene", text(&path), "--out", text(&cli)]);
        let written = compute::write_views(&scene, &core, 1.0).unwrap();
        let (cli_files, core_files) = (files(&cli), files(&core));
        // Tiles, Dataset, Networks and Invariance always; Training only with weights in the scene.
        assert!(cli_files.len() >= 12, "{name}: {:?}", cli_files.iter().map(|f| &f.0).collect::<Vec<_>>());
        assert_eq!(written.written.len(), core_files.len());
        assert!(cli_files == core_files, "{name}: the CLI and the core wrote different bytes");
    }
}

#[test]
fn a_scene_with_weights_also_writes_the_training_view() {
    let dir = tempfile::tempdir().unwrap();
    let (path, scene) = trained_toy(dir.path());
    let out = dir.path().join("figures");
    let printed = ok(&["figures", "--scene", text(&path), "--out", text(&out)]);
    assert!(printed.contains("training.csv"), "{printed}");
    let csv = std::fs::read_to_string(out.join("training.csv")).unwrap();
    let run = scene.trained.unwrap();
    assert_eq!(csv.lines().count(), 1 + run.train_curve.len() + run.test_curve.len(), "{csv}");
}

#[test]
fn a_link_opens_to_the_same_scene_without_its_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (path, scene) = trained_toy(dir.path());
    let output = tilelab(&["scene", "link", text(&path)]);
    assert!(output.status.success());
    let link = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(String::from_utf8_lossy(&output.stderr).contains("trained weights are not in the link"));
    assert!(link.len() <= 2000, "a preset scene's link has {} characters", link.len());
    let back = dir.path().join("back.tilelab");
    ok(&["scene", "open-link", &format!("https://example.org/#scene={link}"), "--out", text(&back)]);
    assert_eq!(open(&back), Scene { trained: None, ..scene });
}

#[test]
fn the_dataset_of_a_scene_is_the_one_its_settings_make() {
    let dir = tempfile::tempdir().unwrap();
    let path = bundled_scenes().into_iter().find(|p| p.ends_with("two-feature-object.tilelab")).unwrap();
    let scene = open(&path);
    let (cli, core) = (dir.path().join("cli"), dir.path().join("core"));
    ok(&["dataset", "--scene", text(&path), "--out", text(&cli)]);
    let classes = scene.tiles.classes();
    save_dataset(&core, &classes, &scene.dataset, &compute::dataset(&scene).unwrap()).unwrap();
    assert!(files(&cli) == files(&core), "the CLI and the core wrote different datasets");
}

#[test]
fn figure4_of_a_scene_uses_its_weights_or_trains_the_same_network_from_its_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let (path, scene) = trained_toy(dir.path());
    let (cli, core) = (dir.path().join("cli"), dir.path().join("core"));
    ok(&["reproduce", "figure4", "--scene", text(&path), "--out", text(&cli), "--json"]);
    let compared = compute::trained_network(&scene, &scene.trained.clone().unwrap().weights).unwrap();
    figure4::write_outputs(&compute::invariance(&scene, &compared).unwrap(), &core).unwrap();
    assert!(files(&cli) == files(&core), "with weights, the CLI compares exactly those weights");

    let untrained = dir.path().join("untrained.tilelab");
    scene::save(&untrained, &Scene { trained: None, ..scene }).unwrap();
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    ok(&["reproduce", "figure4", "--scene", text(&untrained), "--out", text(&first), "--json"]);
    ok(&["reproduce", "figure4", "--scene", text(&untrained), "--out", text(&second), "--json"]);
    assert!(files(&first) == files(&second), "the same seeds train the same network");
    assert!(files(&first) == files(&core), "and it is the network whose weights the scene kept");
}

#[test]
fn a_scene_of_a_deep_run_shows_and_compares_that_network() {
    let dir = tempfile::tempdir().unwrap();
    let mut scene = open(&bundled_scenes().into_iter().find(|p| p.ends_with("paper-toy.tilelab")).unwrap());
    scene.training.epochs = 1;
    scene.training.layers = Some(Layers::new(&[ConvBlock::plain(3, 4)], Some(8)).unwrap());
    let run = compute::train(&scene, &mut |_, _| {}).unwrap();
    assert!(matches!(run.weights, TrainedWeights::Deep(_)), "the settings' network is trained");
    scene.trained = Some(run);
    let path = dir.path().join("deep.tilelab");
    scene::save(&path, &scene).unwrap();
    assert_eq!(open(&path), scene, "its weights are kept");

    let (cli, core) = (dir.path().join("cli"), dir.path().join("core"));
    ok(&["figures", "--scene", text(&path), "--out", text(&cli)]);
    compute::write_views(&scene, &core, 1.0).unwrap();
    assert!(files(&cli) == files(&core), "the CLI and the core wrote different bytes");
    let logits = std::fs::read_to_string(cli.join("networks.csv")).unwrap();
    assert!(logits.lines().next().is_some_and(|h| h.ends_with(",trained")), "the deep network's logits: {logits}");
    let opened = compute::compared_as_opened(&scene).unwrap();
    assert!(matches!(opened, compute::Compared::TrainedDeep(_)), "Figure 4 compares the deep network");

    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    ok(&["reproduce", "figure4", "--scene", text(&path), "--out", text(&first), "--json"]);
    let compared = compute::trained_network(&scene, &scene.trained.clone().unwrap().weights).unwrap();
    figure4::write_outputs(&compute::invariance(&scene, &compared).unwrap(), &second).unwrap();
    assert!(files(&first) == files(&second), "with deep weights, the CLI compares exactly those weights");
}

#[test]
fn hostile_scenes_and_links_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.tilelab");
    std::fs::write(&path, r#"{"format": "tilelab-scene", "version": 1, "tiles": {"preset": "toy_squares"}}"#).unwrap();
    let output = tilelab(&["figures", "--scene", text(&path), "--out", text(&dir.path().join("out"))]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing field `dataset`"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "nothing is written for a scene that does not open");

    let output = tilelab(&["scene", "open-link", "1.not-a-scene", "--out", text(&dir.path().join("x.tilelab"))]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a scene link"));
}

#[test]
fn every_bundled_example_of_the_app_opens_without_warnings() {
    for (name, text) in scene::BUNDLED {
        let (opened, warnings) = scene::from_json(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("assets/scenes/{name}.tilelab"));
        assert_eq!(open(&path), opened, "{name}: the app's copy is the file's");
    }
    assert_eq!(scene::BUNDLED.len(), bundled_scenes().len(), "every file in assets/scenes is an example");
}

#[test]
fn the_large_epsilon_scene_breaks_n1s_invariance_where_the_tiles_own_epsilon_does_not() {
    let path = bundled_scenes().into_iter().find(|p| p.ends_with("large-epsilon.tilelab")).unwrap();
    let large = open(&path);
    assert!(large.figure4.epsilon_override.is_some());
    let own =
        Scene { figure4: scene::Figure4Settings { epsilon_override: None, ..large.figure4.clone() }, ..large.clone() };
    // N1's class logit under a redrawn background: its spread over the images.
    let spread = |scene: &Scene| -> f32 {
        let study = compute::invariance(scene, &compute::compared_as_opened(scene).unwrap()).unwrap();
        study.tiles.iter().map(|t| t.background.constructed_spread.std[t.label]).fold(0.0, f32::max)
    };
    assert!(spread(&own) <= 0.0, "with its own ε, N1's class logit does not move");
    assert!(spread(&large) > 0.0, "with a large ε it does");
}

#[test]
fn the_imported_model_scene_compares_n1_with_its_embedded_model() {
    let path = bundled_scenes().into_iter().find(|p| p.ends_with("imported-model.tilelab")).unwrap();
    let scene = open(&path);
    let compared = compute::compared_as_opened(&scene).unwrap();
    assert_eq!(compared.caption(), "network toy-n2.onnx");
    // The model is N2 written by `tilelab export`: it gives N1's logits on every image.
    let study = compute::invariance(&scene, &compared).unwrap();
    for tile in &study.tiles {
        for (model, n1) in tile.background.trained.iter().zip(&tile.background.constructed) {
            assert!(model.iter().zip(n1).all(|(a, b)| (a - b).abs() < 1e-4), "{model:?} vs {n1:?}");
        }
    }
}
