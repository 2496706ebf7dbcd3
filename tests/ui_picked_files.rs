//! Files picked in the browser (their names and bytes, as the web build's file picker hands them
//! to the app), driven with `egui_kittest` through `Command::OpenPicked`: a tile set replaces the
//! work, IDX images and labels (in either order) open in the gallery, an image becomes the dataset
//! background; each refuses a bad file with the desktop's checks and changes nothing.
#![cfg(feature = "gui")]

mod common;

use common::{harness, wait_until};
use egui_kittest::Harness;
use tilelab::app::TilelabApp;
use tilelab::app::command::{Command, PickedFile};
use tilelab::app::ids::PathPurpose;
use tilelab::app::settings::BackgroundChoice;
use tilelab::core::{presets, tileset_file};

fn pick(harness: &mut Harness<'_, TilelabApp>, purpose: PathPurpose, files: &[(&str, Vec<u8>)]) {
    let files = files.iter().map(|(name, bytes)| PickedFile { name: (*name).to_owned(), bytes: bytes.clone() });
    harness.state_mut().push(Command::OpenPicked { purpose, files: files.collect() });
    harness.run_steps(3);
}

fn last_message(harness: &Harness<'_, TilelabApp>) -> String {
    harness.state().state.last_message().map(|m| m.text.clone()).unwrap_or_default()
}

fn asset(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/assets/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::GrayImage::from_fn(width, height, |x, y| image::Luma([((x * 40 + y * 7) % 256) as u8]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

#[test]
fn a_picked_tile_set_replaces_the_work_and_a_broken_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = harness.state().state.classes.clone();
    pick(&mut harness, PathPurpose::OpenTileSet, &[("broken.json", b"{\"format\": \"tilelab-tiles\"".to_vec())]);
    assert_eq!(harness.state().state.classes, before, "a broken file changes nothing");
    let message = last_message(&harness);
    assert!(message.starts_with("could not open broken.json: "), "{message}");
    pick(&mut harness, PathPurpose::OpenTileSet, &[("binary.json", vec![0xff, 0xfe])]);
    assert_eq!(last_message(&harness), "could not open binary.json: it is not a text file");

    let toy = tileset_file::to_json(&presets::toy_squares()).unwrap();
    pick(&mut harness, PathPurpose::OpenTileSet, &[("toy.json", toy.into_bytes())]);
    let app = &harness.state().state;
    assert_eq!(app.classes, presets::toy_squares());
    assert_eq!(app.session.tileset_path, None, "a picked file has no path to save back to");
    assert_eq!(last_message(&harness), "loaded toy.json");
    assert!(harness.state().state.history.can_undo(), "undo brings the previous set back");
}

#[test]
fn picked_idx_files_open_in_the_gallery_in_either_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let images = ("mnist-images.gz", asset("mnist-subset-images-idx3-ubyte.gz"));
    let labels = ("mnist-labels.gz", asset("mnist-subset-labels-idx1-ubyte.gz"));
    pick(&mut harness, PathPurpose::OpenIdx, &[labels.clone(), images.clone()]);
    wait_until(&mut harness, "the picked IDX files", |app| {
        app.views.gallery.source().is_some_and(|source| source.name == "mnist-images.gz")
    });
    let gallery = &harness.state().views.gallery;
    assert!(gallery.open, "the gallery shows them");
    let source = gallery.source().unwrap();
    assert_eq!(source.name, "mnist-images.gz", "named by the images file, whichever came first");
    let expected = tilelab::core::idx::read_labels(&labels.1).unwrap();
    assert_eq!(source.labels.as_ref(), Some(&expected));
    assert_eq!(source.images.len(), expected.len());
}

#[test]
fn picked_idx_files_that_do_not_pair_say_why() {
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("labels.gz", "mnist-subset-labels-idx1-ubyte.gz")], "labels.gz: "),
        // Two image files: the second is read as labels.
        (
            &[
                ("mnist.gz", "mnist-subset-images-idx3-ubyte.gz"),
                ("fashion.gz", "fashion-mnist-subset-images-idx3-ubyte.gz"),
            ],
            "fashion.gz: ",
        ),
        (
            &[
                ("a.gz", "mnist-subset-images-idx3-ubyte.gz"),
                ("b.gz", "mnist-subset-labels-idx1-ubyte.gz"),
                ("c.gz", "mnist-subset-labels-idx1-ubyte.gz"),
            ],
            "3 files picked: ",
        ),
    ];
    for (files, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let mut harness = harness(dir.path());
        let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(name, asset_name)| (*name, asset(asset_name))).collect();
        pick(&mut harness, PathPurpose::OpenIdx, &files);
        wait_until(&mut harness, "the refused IDX files", |app| app.state.cache.gallery().failed().is_some());
        let message = last_message(&harness);
        assert!(message.starts_with(&format!("could not load the gallery: {expected}")), "{message}");
    }
}

#[test]
fn a_picked_image_becomes_the_background_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut harness = harness(dir.path());
    let before = harness.state().state.session.dataset.background.clone();
    pick(&mut harness, PathPurpose::BackgroundImage, &[("notes.png", b"not an image".to_vec())]);
    assert_eq!(harness.state().state.session.dataset.background, before);
    assert!(
        last_message(&harness).starts_with("cannot use this background: notes.png: "),
        "{}",
        last_message(&harness)
    );
    pick(&mut harness, PathPurpose::BackgroundImage, &[("wide.png", png(1025, 2))]);
    assert_eq!(harness.state().state.session.dataset.background, before);
    let message = last_message(&harness);
    assert!(message.contains("1025×2") && message.contains("at most 1024"), "{message}");

    let bytes = png(5, 3);
    pick(&mut harness, PathPurpose::BackgroundImage, &[("ramp.png", bytes.clone())]);
    let expected = tilelab::core::grey_image::decode_grey_image(&bytes, "ramp.png").unwrap();
    assert_eq!(expected.dim(), (3, 5));
    assert!((expected[[2, 4]] - 174.0 / 255.0).abs() < 1e-6, "independently: (4·40 + 2·7) / 255");
    assert_eq!(harness.state().state.session.dataset.background, BackgroundChoice::Picture(expected));
    assert_eq!(last_message(&harness), "the dataset background is ramp.png");
}
