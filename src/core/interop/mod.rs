//! Interoperability: tilelab's networks and datasets out to ONNX, safetensors and `.npy`, and a
//! small CNN trained elsewhere in through ONNX.
//!
//! - [`dataset_files`]: a generated dataset as `images.npy`, `labels.npy`, `offsets.npy`,
//!   `tiles.npy`, `dataset.json` and a PNG contact sheet.
//! - [`proto`]: the ONNX protobuf messages (hand-written `prost` structs).
//! - [`graph`]: a network as named nodes and weights, written as ONNX or safetensors.
//! - [`onnx_export`]: N1, N2 and the trained CNN as [`graph::ExportGraph`]s.
//! - [`tensor`]: named constant tensors, what both the ONNX graph and safetensors hold.
//! - [`safetensors`]: the safetensors file format (write and read).
//! - [`onnx_import`] and [`ops`]: parse an ONNX model, check it against limits, and run it in
//!   tilelab's own engine keeping every intermediate value; [`receptive_field`]: which input
//!   pixels each unit of its feature maps reads.

pub mod dataset_files;
pub mod graph;
pub mod onnx_export;
pub mod onnx_import;
pub mod ops;
pub mod proto;
pub mod receptive_field;
pub mod safetensors;
pub mod tensor;

use std::path::PathBuf;

use thiserror::Error;

/// Why an export (dataset, ONNX, safetensors) failed.
#[derive(Debug, Error)]
pub enum InteropError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Export(#[from] crate::core::export::ExportError),
    #[error("cannot encode the PNG: {0}")]
    Png(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the network cannot be exported: {0}")]
    Network(String),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests;
