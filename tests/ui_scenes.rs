//! Scenes in the app, driven with `egui_kittest`: File → Examples opens a bundled scene (in the
//! background) and undo brings the whole previous work back — settings, trained network, opened
//! model — while redo brings the scene's; File → Save scene as… writes a scene that File → Recent
//! scenes opens again (asking first over unsaved work); a dropped `.tilelab` file and a pasted link
//! open; a broken link or file changes nothing; File → Copy link to this scene copies a link that
//! holds the current work; a scene picked in the browser (its name and bytes) opens too.
#![cfg(feature = "gui")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{harness, readme_snapshot, wait_until};
use egui::accesskit::Role;
use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tilelab::app::TilelabApp;
use tilelab::app::command::{Command, Edit, Node, PickedFile};
use tilelab::app::ids::{PathPurpose, View};
use tilelab::app::training_job::{Control, Limits, Speed, TrainingStart};
use tilelab::core::construct::Which;
use tilelab::core::construct::choice::BuiltNetwork;
use tilelab::core::nn::cnn::Cnn;
use tilelab::core::presets;
use tilelab::core::scene;

fn settle(harness: &mut Harness<'_, TilelabApp>) {
    harness.run_steps(3);
}

/// Steps until no scene is being opened or saved in the background.
fn wait_for_scene(harness: &mut Harness<'_, TilelabApp>) {
    wait_until(harness, "the scene job", |app| !app.state.scene_jobs.is_busy());
}

/// The text of a bundled scene.
fn bundled(name: &str) -> &'static str {
    scene::BUNDLED.iter().find(|(n, _)| *n == name).unwrap().1
}

fn click_through(harness: &mut Harness<'_, TilelabApp>, labels: &[&str]) {
    for label in labels {
        harness.get_by_label(label).click();
        settle(harness);
    }
}

/// Replaces the open path window's text with `path`.
fn type_path(harness: &mut Harness<'_, TilelabApp>, path: &Path) {
    harness.get_by_role(Role::TextInput).focus();
    settle(harness);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_role(Role::TextInput).type_text(&path.display().to_string());
    settle(harness);
}

#[test]
fn an_example_opens_from_the_file_menu_and_undo_brings_the_work_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = harness.state().state.session.dataset.clone();
    click_through(&mut harness, &["File", "Examples", "mnist-ten"]);
    wait_for_scene(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::mnist_ten(1), "{:?}", app.last_message().map(|m| &m.text));
    assert_eq!((app.session.dataset.samples_per_class, app.session.view), (10, View::Dataset));

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "undo brings the tile set back");
    assert_eq!(app.session.dataset, before, "and the dataset settings");
    assert_eq!(app.session.view, View::Tiles, "and the view");
    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    settle(&mut harness);
    assert_eq!(harness.state().state.session.dataset.samples_per_class, 10, "redo opens the scene's settings again");
}

#[test]
fn a_saved_scene_reopens_from_recent_scenes_after_asking() {
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("class.tilelab");
    let mut harness = harness(dir.path());
    harness.state_mut().state.session.dataset.seed = 77;
    click_through(&mut harness, &["File", "Save scene as…"]);
    type_path(&mut harness, &path);
    harness.get_by_role_and_label(Role::Button, "Save").click();
    settle(&mut harness);
    wait_for_scene(&mut harness);
    let (saved, warnings) = scene::open(&path).unwrap();
    assert!(warnings.is_empty());
    assert_eq!((saved.dataset.seed, saved.tiles.classes()), (77, presets::fashion_three()));
    assert_eq!(harness.state().state.session.recent_scenes, std::slice::from_ref(&path));

    harness.state_mut().push(Command::Edit(Edit::Delete(Node::Class(0))));
    harness.state_mut().state.session.dataset.seed = 5;
    settle(&mut harness);
    click_through(&mut harness, &["File", "Recent scenes", "class.tilelab"]);
    harness.get_by_label("Open the scene?");
    assert_eq!(harness.state().state.classes.len(), 2, "nothing changes before the answer");
    harness.get_by_label("Open the scene").click();
    settle(&mut harness);
    wait_for_scene(&mut harness);
    let app = &harness.state().state;
    assert_eq!((app.classes.len(), app.session.dataset.seed), (3, 77));
}

/// A file dropped onto the window, as the platform reports it.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn a_dropped_scene_file_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.tilelab");
    std::fs::write(&path, bundled("paper-toy")).unwrap();
    let mut harness = harness(dir.path());
    harness.input_mut().dropped_files.push(Arc::new(Dropped(path.clone())));
    settle(&mut harness);
    wait_for_scene(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::toy_squares());
    assert_eq!(app.session.scene_path.as_deref(), Some(path.as_path()));
    assert_eq!(app.session.recent_scenes, [path]);
}

#[test]
fn a_broken_pasted_link_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());

    click_through(&mut harness, &["Edit", "Open scene from link…"]);
    harness.get_by_role(Role::TextInput).focus();
    settle(&mut harness);
    harness.get_by_role(Role::TextInput).type_text("1.not-a-scene");
    settle(&mut harness);
    harness.get_by_role_and_label(Role::Button, "Open").click();
    settle(&mut harness);
    wait_for_scene(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "a broken link leaves the work as it was");
    assert!(!app.history.can_undo(), "and records no undo step");
    let message = app.last_message().map(|m| m.text.clone()).unwrap_or_default();
    assert!(message.starts_with("could not open the scene from the link: not a scene link"), "{message}");
    let shown = harness.query_all_by_label_contains("could not open the scene from the link").count();
    assert_eq!(shown, 2, "the status line and a toast say why");
}

#[test]
fn a_pasted_link_opens_its_scene() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let (toy, _) = scene::from_json(bundled("paper-toy")).unwrap();
    let (link, _) = scene::to_link(&toy).unwrap();

    click_through(&mut harness, &["Edit", "Open scene from link…"]);
    harness.get_by_role(Role::TextInput).focus();
    settle(&mut harness);
    harness.event(egui::Event::Paste(link));
    settle(&mut harness);
    harness.get_by_role_and_label(Role::Button, "Open").click();
    settle(&mut harness);
    wait_for_scene(&mut harness);
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::toy_squares(), "{:?}", app.last_message().map(|m| &m.text));
    assert_eq!((app.session.view, app.session.dataset.height), (View::Networks, 4));
    assert!(harness.query_by_label("Open scene from link").is_none(), "the link window closed");
    // The status line may already show a later line (the scene's dataset being generated).
    let opened = format!("opened the scene from the link: {}", toy.title);
    assert!(app.log.iter().any(|entry| entry.text == opened), "the log says {opened:?}");
}

#[test]
fn copy_link_to_this_scene_puts_a_link_to_the_current_work_on_the_clipboard() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    click_through(&mut harness, &["File", "Examples", "paper-toy"]);
    wait_for_scene(&mut harness);
    settle(&mut harness);
    click_through(&mut harness, &["File"]);
    harness.get_by_label("Copy link to this scene").click();
    // The command runs at the end of the frame that sees the click; its output holds the copy.
    harness.step();
    let copied: Vec<&String> = harness
        .output()
        .platform_output
        .commands
        .iter()
        .filter_map(|command| match command {
            egui::OutputCommand::CopyText(text) => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(copied.len(), 1, "one text copied: {copied:?}");
    let (linked, _) = scene::from_link(copied[0]).unwrap();
    let (current, _) = harness.state().capture_scene(None).unwrap();
    assert_eq!(linked, current, "the link holds the work as it is");
    assert_eq!(linked.tiles, scene::from_json(bundled("paper-toy")).unwrap().0.tiles);
    let message = harness.state().state.last_message().map(|m| m.text.clone()).unwrap_or_default();
    assert!(message.starts_with("copied the link to this scene ("), "{message}");
}

#[test]
fn a_scene_picked_in_the_browser_opens_by_its_name_and_a_binary_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let picked = |name: &str, bytes: Vec<u8>| Command::OpenPicked {
        purpose: PathPurpose::OpenScene,
        files: vec![PickedFile { name: name.to_owned(), bytes }],
    };
    harness.state_mut().push(picked("garbage.tilelab", vec![0xff, 0xfe, 0x00]));
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "a file that is not text changes nothing");
    let message = app.last_message().map(|m| m.text.clone()).unwrap_or_default();
    assert_eq!(message, "could not open the scene garbage.tilelab: it is not a text file");

    harness.state_mut().push(picked("toy.tilelab", bundled("paper-toy").as_bytes().to_vec()));
    settle(&mut harness);
    wait_for_scene(&mut harness);
    settle(&mut harness);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::toy_squares(), "{:?}", app.last_message().map(|m| &m.text));
    assert!(app.log.iter().any(|entry| entry.text.starts_with("opened the scene toy.tilelab: ")), "named by the file");
    assert_eq!(app.session.scene_path, None, "a picked file has no path to save back to");
}

#[test]
fn a_broken_scene_file_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.tilelab");
    std::fs::write(&path, bundled("paper-toy").replace("toy_squares", "no_such_preset")).unwrap();
    let mut harness = harness(dir.path());
    harness.state_mut().push(Command::OpenScene(tilelab::app::command::SceneSource::File(path.clone())));
    settle(&mut harness);
    wait_for_scene(&mut harness);
    let app = &harness.state().state;
    assert_eq!((app.classes.clone(), app.session.view), (presets::fashion_three(), View::Tiles));
    assert!(!app.history.can_undo() && app.session.recent_scenes.is_empty());
    let message = app.last_message().map(|m| m.text.clone()).unwrap_or_default();
    assert!(message.starts_with(&format!("could not open the scene {}", path.display())), "{message}");
}

/// The weights, place in the schedule and number of curve points of the run, if any.
fn run_of(app: &TilelabApp) -> Option<(Cnn, u64, usize, usize)> {
    let job = app.state.training.as_ref()?;
    let progress = job.progress();
    let cnn = progress.cnn.as_ref()?;
    Some((Cnn::clone(cnn), progress.step, progress.epoch, progress.train_curve.len()))
}

/// What opening a scene replaces besides the tile set, as the user sees it.
#[derive(Debug, PartialEq)]
struct Work {
    run: Option<(Cnn, u64, usize, usize)>,
    filters: usize,
    network: Option<PathBuf>,
    network_path: Option<PathBuf>,
    which: Which,
    shown: BuiltNetwork,
    figure4: (usize, u64, bool, u32, bool),
    dataset: tilelab::app::settings::DatasetSettings,
    view: View,
}

fn work_of(app: &TilelabApp) -> Work {
    let invariance = &app.views.invariance;
    Work {
        run: run_of(app),
        filters: app.views.training.config.filters,
        network: app.state.imported.network.as_ref().map(|n| n.path.clone()),
        network_path: app.state.session.network_path.clone(),
        which: app.views.networks.which,
        shown: app.views.networks.shown,
        figure4: (
            invariance.samples,
            invariance.seed,
            invariance.override_epsilon,
            invariance.epsilon.to_bits(),
            invariance.every_offset,
        ),
        dataset: app.state.session.dataset.clone(),
        view: app.state.session.view,
    }
}

#[test]
fn undo_after_opening_a_scene_brings_back_the_training_run_the_model_and_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx/small_cnn_legacy.onnx");
    harness.state_mut().push(Command::OpenNetwork(model.clone()));
    let mut config = harness.state().views.training.config;
    (config.filters, config.train_per_class, config.test_per_class, config.hyper.batch_size) = (3, 30, 10, 10);
    harness.state_mut().views.training.config = config;
    let start = TrainingStart { config, limits: Limits::default(), speed: Speed::Full, run: false };
    harness.state_mut().push(Command::StartTraining(start));
    harness.state_mut().push(Command::ControlTraining(Control::Step(7)));
    {
        let app = harness.state_mut();
        app.views.networks.which = Which::N2;
        app.views.networks.shown = BuiltNetwork::Scattering;
        let invariance = &mut app.views.invariance;
        (invariance.samples, invariance.seed, invariance.override_epsilon) = (37, 9, true);
        (invariance.epsilon, invariance.every_offset) = (0.75, true);
    }
    harness.state_mut().push(Command::ShowView(View::Training));
    wait_until(&mut harness, "seven training steps and the model", |app| {
        run_of(app).is_some_and(|(_, step, _, _)| step == 7) && app.state.imported.network.is_some()
    });
    let before = work_of(harness.state());
    assert_eq!(before.network.as_deref(), Some(model.as_path()));

    click_through(&mut harness, &["File", "Examples", "imported-model"]);
    wait_for_scene(&mut harness);
    let opened = work_of(harness.state());
    let app = harness.state();
    assert_eq!(app.state.classes, presets::toy_squares(), "{:?}", app.state.last_message().map(|m| &m.text));
    assert!(opened.run.is_none(), "the scene holds no trained network");
    let scene_model = opened.network.clone().expect("the scene's model is open");
    assert!(scene_model.starts_with(dir.path()), "kept in the data folder: {}", scene_model.display());
    assert_eq!((opened.which, opened.shown), (Which::N1, BuiltNetwork::Template(Which::N1)));
    assert_eq!((opened.figure4.0, opened.view), (100, View::Invariance));

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let app = harness.state();
    assert_eq!(app.state.classes, presets::fashion_three(), "undo brings the tile set back");
    assert_eq!(work_of(app), before, "and the run (weights, step, curves), the model and every setting");
    assert!(!app.state.training.as_ref().unwrap().progress().running, "the run comes back paused");

    harness.key_press_modifiers(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z);
    settle(&mut harness);
    let app = harness.state();
    assert_eq!(app.state.classes, presets::toy_squares(), "redo opens the scene again");
    assert_eq!(work_of(app), opened, "with its model and settings");
}

#[test]
fn a_lecture_scene_opens_in_lecture_mode_at_its_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    click_through(&mut harness, &["File", "Examples", "two-feature-object"]);
    wait_for_scene(&mut harness);
    let app = harness.state();
    assert!(app.views.lecture.active, "{:?}", app.state.last_message().map(|m| &m.text));
    assert_eq!(app.views.lecture.step, 5, "step 6, counted from 1 in the file");
    assert_eq!(app.state.classes, presets::two_feature_example());

    harness.key_press_modifiers(Modifiers::COMMAND, Key::Z);
    settle(&mut harness);
    let app = harness.state();
    assert!(!app.views.lecture.active, "undo leaves the lecture the scene started");
    assert_eq!(app.state.classes, presets::fashion_three());
}

/// Writes `text` into the named pipe `fifo` once a reader opens it (on a thread: opening blocks).
#[cfg(unix)]
fn feed(fifo: &Path, text: &'static str) -> std::thread::JoinHandle<()> {
    let fifo = fifo.to_owned();
    std::thread::spawn(move || std::fs::write(fifo, text).unwrap())
}

#[cfg(unix)]
#[test]
fn a_scene_slow_to_read_says_it_is_opening_keeps_the_window_responsive_and_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    // A named pipe: reading it waits until a writer comes, like a slow disk or network share.
    let fifo = dir.path().join("slow.tilelab");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut harness = harness(dir.path());
    let open = Command::OpenScene(tilelab::app::command::SceneSource::File(fifo.clone()));

    harness.state_mut().push(open.clone());
    let started = std::time::Instant::now();
    harness.run_steps(20);
    assert!(started.elapsed().as_secs_f32() < 5.0, "frames go on while the file is read");
    let opening = format!("opening the scene {}…", fifo.display());
    harness.get_by_label_contains(&opening);
    harness.get_by_role_and_label(Role::Button, "Cancel").click();
    settle(&mut harness);
    feed(&fifo, bundled("mnist-ten")).join().unwrap();
    harness.run_steps(10);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::fashion_three(), "a cancelled scene changes nothing");
    assert!(!app.history.can_undo() && !app.scene_jobs.is_busy());
    assert!(harness.query_by_label_contains(&opening).is_none(), "the opening window went");
    harness.get_by_label_contains("stopped opening the scene: the work is as it was");

    harness.state_mut().push(open);
    settle(&mut harness);
    let writer = feed(&fifo, bundled("mnist-ten"));
    wait_for_scene(&mut harness);
    writer.join().unwrap();
    assert_eq!(harness.state().state.classes, presets::mnist_ten(1), "once read, the scene opens");
}

#[test]
fn snapshot_of_the_examples_menu() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    click_through(&mut harness, &["File", "Examples"]);
    readme_snapshot(&mut harness, "scenes-examples", "scenes");
}
