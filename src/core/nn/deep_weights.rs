//! The JSON file of a general trained network's weights:
//! `{"format": "tilelab-deep-weights", "version": 1, "arch": {…}, "parameters": [ … ]}`, the
//! parameters in [`DeepNet::parameters`]' order (per layer PyTorch's weight, row-major, then bias).
//! Written atomically; read size-capped, the architecture validated before the parameters are used.

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::arch::Arch;
use super::deep::DeepNet;
use super::dense::NnError;
use crate::core::atomic::write_atomic;
use crate::core::bounded_read::{BoundedReadError, read_text_at_most};

/// The `format` field.
pub const FORMAT: &str = "tilelab-deep-weights";
/// The version written and read.
pub const VERSION: u32 = 1;
/// Largest file accepted, 512 MiB.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Why weights could not be saved or loaded.
#[derive(Debug, Error)]
pub enum DeepWeightsError {
    #[error("cannot write the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("cannot read the file: {0}")]
    Read(#[from] BoundedReadError),
    #[error("not a weights file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the file is '{format}' version {version}, expected '{FORMAT}' version {VERSION}")]
    Format { format: String, version: u32 },
    #[error("architecture: {0}")]
    Arch(#[from] super::arch::ArchError),
    #[error("{0}")]
    Network(#[from] NnError),
}

/// The file's document, also embedded whole in a scene's trained run.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeepWeightsDoc {
    format: String,
    version: u32,
    arch: Arch,
    parameters: Vec<f32>,
}

/// Writes `net` to `path` (its parameters are finite by the trainer's invariant).
pub fn save(net: &DeepNet, path: &Path) -> Result<(), DeepWeightsError> {
    write_atomic(path, to_json(net)?.as_bytes())?;
    Ok(())
}

/// The file's text for `net`.
pub fn to_json(net: &DeepNet) -> Result<String, DeepWeightsError> {
    Ok(serde_json::to_string(&to_doc(net))?)
}

/// The document of `net`.
pub fn to_doc(net: &DeepNet) -> DeepWeightsDoc {
    DeepWeightsDoc {
        format: FORMAT.to_owned(),
        version: VERSION,
        arch: net.arch().clone(),
        parameters: net.parameters().to_vec(),
    }
}

/// Reads a network saved by [`save`], checking format, architecture and parameter count.
pub fn load(path: &Path) -> Result<DeepNet, DeepWeightsError> {
    from_json(&read_text_at_most(path, MAX_FILE_BYTES)?)
}

/// The network in a file's text, checked as [`load`] does.
pub fn from_json(text: &str) -> Result<DeepNet, DeepWeightsError> {
    from_doc(serde_json::from_str(text)?)
}

/// The network of a document, checking format, architecture and parameter count.
pub fn from_doc(file: DeepWeightsDoc) -> Result<DeepNet, DeepWeightsError> {
    if file.format != FORMAT || file.version != VERSION {
        return Err(DeepWeightsError::Format { format: file.format, version: file.version });
    }
    file.arch.validate()?;
    Ok(DeepNet::from_parameters(file.arch, file.parameters)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::nn::arch::ConvBlock;

    #[test]
    fn weights_are_saved_and_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep.json");
        let arch = Arch {
            blocks: vec![ConvBlock { stride: 2, ..ConvBlock::plain(3, 4) }.pooled()],
            hidden: Some(5),
            ..Arch::paper(12, 12, 3)
        };
        let net = DeepNet::new(arch, 4).unwrap();
        save(&net, &path).unwrap();
        assert_eq!(load(&path).unwrap(), net);
        std::fs::write(&path, r#"{"format":"tilelab-deep-weights","version":1,"arch":{"height":12,"width":12,"classes":3,"blocks":[],"hidden":null},"parameters":[]}"#).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("no convolution block"));
        std::fs::write(&path, "[1, 2").unwrap();
        assert!(matches!(load(&path), Err(DeepWeightsError::Json(_))));
    }
}
