//! A scene as compact URL-safe text: `1.` then the scene's one-line JSON, deflated (raw DEFLATE,
//! RFC 1951) and written in base64url without padding (RFC 4648 §5). The web build opens it from
//! `index.html#scene=…`, the desktop app from the clipboard.
//!
//! A link never holds weights: trained weights and an embedded ONNX model are left out, and the
//! caller is told so. Decoding needs no file system and never inflates past [`MAX_UNPACKED_BYTES`],
//! so a decompression bomb is refused early with a clear message.

use std::io::{Read, Write};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::file::{from_json, to_compact_json};
use super::{Scene, SceneError, Warning};

/// What every link starts with: the link format's version.
pub const PREFIX: &str = "1.";
/// Longest link written or read, in characters.
pub const MAX_LINK_CHARS: usize = 65_536;
/// Most bytes a link may unpack to.
pub const MAX_UNPACKED_BYTES: usize = 1 << 20;
/// What precedes a link in a web address.
pub const URL_FRAGMENT: &str = "#scene=";

/// The scene as a link, with what was left out of it (weights never travel in links).
pub fn to_link(scene: &Scene) -> Result<(String, Vec<Warning>), SceneError> {
    let mut light = scene.clone();
    let mut left_out = Vec::new();
    if light.trained.take().is_some() {
        left_out.push(Warning(
            "the trained weights are not in the link (links never hold weights): the same seeds train the same \
             network; share the .tilelab file to keep them"
                .to_owned(),
        ));
    }
    if let Some(model) = light.model.take() {
        left_out.push(Warning(format!(
            "the ONNX model '{}' is not in the link (links never hold weights): share the .tilelab file to keep it",
            model.name
        )));
    }
    let json = to_compact_json(&light)?;
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
    let packed = encoder
        .write_all(json.as_bytes())
        .and_then(|()| encoder.finish())
        .map_err(|e| SceneError::Link(format!("cannot compress: {e}")))?;
    let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(packed));
    if text.len() > MAX_LINK_CHARS {
        return Err(SceneError::TooBigForLink { chars: text.len(), limit: MAX_LINK_CHARS });
    }
    Ok((text, left_out))
}

/// The scene a link holds. Takes the bare link or a whole address ending in `#scene=…`; blanks
/// around it (a pasted line) are ignored.
pub fn from_link(text: &str) -> Result<(Scene, Vec<Warning>), SceneError> {
    let text = text.trim();
    let text = text.rfind(URL_FRAGMENT).map_or(text, |at| &text[at + URL_FRAGMENT.len()..]);
    if text.len() > MAX_LINK_CHARS {
        return Err(SceneError::Link(format!(
            "{} characters, more than the {MAX_LINK_CHARS} a link may have",
            text.len()
        )));
    }
    let payload = text.strip_prefix(PREFIX).ok_or_else(|| {
        SceneError::Link(format!("a scene link starts with '{PREFIX}' (this text starts with {:?})", preview(text)))
    })?;
    let packed = URL_SAFE_NO_PAD
        .decode(payload.as_bytes())
        .map_err(|e| SceneError::Link(format!("the text is not base64url: {e}")))?;
    let json = unpack(&packed)?;
    let json =
        String::from_utf8(json).map_err(|_| SceneError::Link("the unpacked scene is not UTF-8 text".to_owned()))?;
    from_json(&json)
}

/// Inflates at most [`MAX_UNPACKED_BYTES`] (one byte more tells that the limit was passed).
fn unpack(packed: &[u8]) -> Result<Vec<u8>, SceneError> {
    let mut json = Vec::new();
    DeflateDecoder::new(packed)
        .take(MAX_UNPACKED_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|e| SceneError::Link(format!("the text does not unpack: {e}")))?;
    if json.len() > MAX_UNPACKED_BYTES {
        return Err(SceneError::LinkTooLarge { limit: MAX_UNPACKED_BYTES });
    }
    Ok(json)
}

/// The first characters of `text`, for a message.
fn preview(text: &str) -> String {
    text.chars().take(12).collect()
}
