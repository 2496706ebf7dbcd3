//! The checks behind every fuzz target, shared with `tests/corpus_replay.rs` (included there by path)
//! so that `cargo test` replays the committed corpus through exactly what the fuzzer ran.
//!
//! Each check feeds raw bytes to one loader. A loader may refuse the bytes with its typed error
//! (returned here as the error's message, which must not be empty); whatever it accepts must
//! survive a save and a reload unchanged. Anything else (a panic, an unequal round trip) is a bug.

use tilelab::core::interop::onnx_import::OnnxModel;
use tilelab::core::interop::safetensors;
use tilelab::core::nn::weights_file;
use tilelab::core::{export, idx, scene, tileset_file};

/// What a loader made of one input: a summary of what loaded, or the typed error's message.
pub type Outcome = Result<String, String>;

/// A check: one loader run on raw bytes.
pub type Check = fn(&[u8]) -> Outcome;

/// Every fuzz target by name (also its folder under `tests/corpus/`) with its check.
pub const TARGETS: [(&str, Check); 9] = [
    ("tileset_json", tileset_json),
    ("idx", idx),
    ("import_image", import_image),
    ("weights_json", weights_json),
    ("npy", npy),
    ("safetensors", safetensors),
    ("onnx_model", onnx_model),
    ("scene_json", scene_json),
    ("scene_link", scene_link),
];

/// The error's message; an empty message would leave the user with nothing to act on.
fn message(error: &dyn std::error::Error) -> String {
    let text = error.to_string();
    assert!(!text.trim().is_empty(), "an error with an empty message: {error:?}");
    text
}

/// Files are read with `read_to_string`, which refuses invalid UTF-8 before any parsing.
fn utf8(data: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(data).map_err(|e| message(&e))
}

/// `tileset_file::from_json`, then save and reload: the set must come back equal.
pub fn tileset_json(data: &[u8]) -> Outcome {
    let set = tileset_file::from_json(utf8(data)?).map_err(|e| message(&e))?;
    let json = tileset_file::to_json(&set).expect("a set that loaded can be saved");
    let again = tileset_file::from_json(&json).expect("a saved set loads");
    assert_eq!(again, set, "the tile set changed in a save/load round trip");
    Ok(format!("{} classes, {} tiles", set.len(), set.tiles().count()))
}

/// `idx::read_images` and `idx::read_labels` (gzip or plain); what loads must be self-consistent.
pub fn idx(data: &[u8]) -> Outcome {
    let images = idx::read_images(data);
    let labels = idx::read_labels(data);
    match (images, labels) {
        (Ok(images), _) => {
            let size = images.rows * images.cols;
            assert_eq!(images.len() * size, images.pixels.len(), "pixels are not a whole number of images");
            if let Some(last) = images.len().checked_sub(1) {
                let image = images.image(last).expect("the last image exists");
                assert_eq!(image.dim(), (images.rows, images.cols));
                assert!(image.iter().all(|v| (0.0..=1.0).contains(v)), "a pixel outside [0, 1]");
            }
            assert!(images.image(images.len()).is_none(), "an image past the end");
            Ok(format!("{} images of {}×{}", images.len(), images.rows, images.cols))
        }
        (Err(_), Ok(labels)) => Ok(format!("{} labels", labels.len())),
        (Err(images), Err(labels)) => Err(format!("images: {}; labels: {}", message(&images), message(&labels))),
    }
}

/// `tileset_file::import_tile_image` with parameters taken from the input's length (so corpus
/// files are plain images); an imported tile must export to PNG and import back unchanged.
pub fn import_image(data: &[u8]) -> Outcome {
    let max_side = 1 + data.len() % 64;
    let threshold = (data.len() % 2 == 1).then_some(0.5);
    let epsilon = 2.0;
    let crop = data.len().is_multiple_of(3);
    let options = tileset_file::ImportOptions { max_side, threshold, crop, epsilon };
    let tile = tileset_file::import_tile_image(data, &options).map_err(|e| message(&e))?;
    assert!(tile.rows() <= max_side && tile.cols() <= max_side, "the tile was not shrunk to {max_side}");
    let png = tileset_file::tile_png(&tile, 1).expect("an imported tile exports");
    let back = tileset_file::import_tile_image(&png, &tileset_file::ImportOptions::plain(max_side, epsilon))
        .expect("an exported tile imports");
    // Support pixels are all non-zero (threshold 0.5, or non-zero), so the export keeps them exactly.
    assert_eq!(back.support(), tile.support(), "the support changed in a PNG round trip");
    for ((value, original), &inside) in back.values().iter().zip(tile.values()).zip(tile.support()) {
        assert!(
            !inside || value.to_bits() == original.to_bits(),
            "a support pixel changed in a PNG round trip: {original} → {value}"
        );
    }
    Ok(format!("{}×{} tile", tile.rows(), tile.cols()))
}

/// `weights_file::from_json`, a forward pass, then save and reload: the network must come back equal.
pub fn weights_json(data: &[u8]) -> Outcome {
    let cnn = weights_file::from_json(utf8(data)?).map_err(|e| message(&e))?;
    let spec = cnn.spec();
    let logits = cnn.logits(ndarray::Array2::zeros((spec.height, spec.width)).view()).map_err(|e| message(&e))?;
    assert_eq!(logits.len(), spec.classes);
    let json = weights_file::to_json(&cnn).expect("weights that loaded can be saved");
    let again = weights_file::from_json(&json).expect("saved weights load");
    assert_eq!(again, cnn, "the weights changed in a save/load round trip");
    Ok(format!("{spec:?}"))
}

/// `export::npy_from_bytes::<f32>`; an array that loads must save and load back bit for bit (NaN included).
pub fn npy(data: &[u8]) -> Outcome {
    let array = export::npy_from_bytes::<f32>(data).map_err(|e| message(&e))?;
    let bytes = export::npy_bytes(&array).expect("a loaded array saves");
    let again = export::npy_from_bytes::<f32>(&bytes).expect("a saved array loads");
    assert_eq!(again.shape(), array.shape(), "the shape changed in a save/load round trip");
    assert!(again.iter().zip(&array).all(|(a, b)| a.to_bits() == b.to_bits()), "values changed in a round trip");
    Ok(format!("f32 array of shape {:?}", array.shape()))
}

/// `interop::safetensors::from_bytes`; what loads must save and load back bit for bit (NaN included).
pub fn safetensors(data: &[u8]) -> Outcome {
    let (tensors, metadata) = safetensors::from_bytes(data).map_err(|e| message(&e))?;
    let metadata: Vec<(String, String)> = metadata.into_iter().collect();
    let bytes = safetensors::to_bytes(&tensors, &metadata).expect("tensors that loaded save");
    let (again, again_metadata) = safetensors::from_bytes(&bytes).expect("saved tensors load");
    assert_eq!(again_metadata.into_iter().collect::<Vec<_>>(), metadata, "metadata changed in a round trip");
    assert_eq!(again.len(), tensors.len(), "tensors were lost in a round trip");
    for (a, b) in again.iter().zip(&tensors) {
        let same = a.name == b.name && a.dims == b.dims && a.data.le_bytes() == b.data.le_bytes();
        assert!(same, "tensor '{}' changed in a round trip", b.name);
    }
    Ok(format!("{} tensors", tensors.len()))
}

/// `OnnxModel::from_bytes` without a folder (external data is refused); a model that loads must
/// run on a blank image and give as many scores as it reported.
pub fn onnx_model(data: &[u8]) -> Outcome {
    let model = OnnxModel::from_bytes(data, None).map_err(|e| message(&e))?;
    let (height, width) = model.input_size();
    let logits = model.logits(ndarray::Array2::zeros((height, width)).view()).expect("a loaded model runs");
    assert_eq!(logits.len(), model.classes(), "the score count changed between runs");
    Ok(format!("{} nodes, {height}×{width} input, {} classes", model.nodes().len(), model.classes()))
}

/// `scene::from_json`, then save and reopen: the scene must come back equal, and a second save
/// must write the same bytes as the first.
pub fn scene_json(data: &[u8]) -> Outcome {
    let (opened, warnings) = scene::from_json(utf8(data)?).map_err(|e| message(&e))?;
    let json = scene::to_json(&opened).expect("a scene that opened can be saved");
    let (again, again_warnings) = scene::from_json(&json).expect("a saved scene opens");
    assert!(again_warnings.is_empty(), "a saved scene reopens with warnings: {again_warnings:?}");
    assert_eq!(again, opened, "the scene changed in a save/open round trip");
    assert_eq!(scene::to_json(&again).expect("saves again"), json, "a re-save wrote other bytes");
    Ok(format!("{} classes, {} warnings", opened.tiles.classes().len(), warnings.len()))
}

/// `scene::from_link`; a scene that opens from a link must make a link that opens to the same scene.
pub fn scene_link(data: &[u8]) -> Outcome {
    let (opened, _) = scene::from_link(utf8(data)?).map_err(|e| message(&e))?;
    // Another compressor may have packed it tighter than ours: too big for our link is an answer too.
    if let Ok((link, left_out)) = scene::to_link(&opened) {
        assert!(left_out.is_empty(), "a scene from a link held weights");
        let (again, _) = scene::from_link(&link).expect("a link we made opens");
        assert_eq!(again, opened, "the scene changed in a link round trip");
    }
    Ok(format!("{} classes", opened.tiles.classes().len()))
}
