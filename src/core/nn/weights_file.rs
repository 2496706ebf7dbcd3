//! The JSON file format of trained weights.
//!
//! ```json
//! {
//!   "format": "tilelab-cnn-weights",
//!   "version": 1,
//!   "architecture": { "height": 40, "width": 40, "kernel": 5, "filters": 12, "classes": 10 },
//!   "conv_weight": [ … F·k·k numbers, shape [F, 1, k, k], row-major … ],
//!   "conv_bias": [ … F numbers … ],
//!   "fc_weight": [ … L·F·H'·W' numbers, shape [L, F·H'·W'], row-major; features flattened F, H', W' … ],
//!   "fc_bias": [ … L numbers … ]
//! }
//! ```
//! The layout is PyTorch's (`conv.weight`, `conv.bias`, `fc.weight`, `fc.bias` flattened), so the
//! arrays load into a PyTorch model of the same architecture with a reshape. Non-finite numbers
//! are refused before writing (JSON has no NaN; `serde_json` would write `null`). Files are written
//! atomically, and loading checks the file size and the architecture's limits before allocating.

use std::path::Path;

use ndarray::{Array1, Array2, Array4};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::cnn::{Cnn, CnnSpec};
use super::dense::NnError;
use crate::core::atomic::write_atomic;
use crate::core::bounded_read::{BoundedReadError, read_text_at_most};

/// The `format` field of every weights file.
pub const FORMAT: &str = "tilelab-cnn-weights";
/// The version this code writes and reads.
pub const VERSION: u32 = 1;
/// Largest weights file accepted, 512 MiB.
pub const MAX_FILE_BYTES: u64 = 512 << 20;

/// Why weights could not be saved or loaded.
#[derive(Debug, Error)]
pub enum WeightsFileError {
    #[error("cannot read or write the file: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file is {0} bytes, more than the limit of {MAX_FILE_BYTES}")]
    TooLarge(u64),
    #[error("not valid JSON for a weights file: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the file's format is '{0}', expected '{FORMAT}'")]
    Format(String),
    #[error("weights file version {0} is not supported (this is version {VERSION})")]
    Version(u32),
    #[error("{name} has {got} numbers, expected {expected} for the architecture")]
    Length { name: &'static str, got: usize, expected: usize },
    #[error("{0} contains a value that is not a finite number")]
    NonFinite(&'static str),
    #[error(transparent)]
    Network(#[from] NnError),
}

/// The file's contents, field for field (formats that embed weights hold this document).
#[derive(Debug, Serialize, Deserialize)]
pub struct WeightsFile {
    format: String,
    version: u32,
    architecture: CnnSpec,
    conv_weight: Vec<f32>,
    conv_bias: Vec<f32>,
    fc_weight: Vec<f32>,
    fc_bias: Vec<f32>,
}

/// The network as JSON text (refuses non-finite parameters).
pub fn to_json(cnn: &Cnn) -> Result<String, WeightsFileError> {
    Ok(serde_json::to_string(&to_doc(cnn)?)?)
}

/// The network as its document (refuses non-finite parameters).
pub fn to_doc(cnn: &Cnn) -> Result<WeightsFile, WeightsFileError> {
    let flat = |a: &[f32]| a.to_vec();
    let file = WeightsFile {
        format: FORMAT.to_owned(),
        version: VERSION,
        architecture: cnn.spec(),
        conv_weight: cnn.conv().weight.iter().copied().collect(),
        conv_bias: flat(cnn.conv().bias.as_slice().unwrap_or(&[])),
        fc_weight: cnn.fc().weight.iter().copied().collect(),
        fc_bias: flat(cnn.fc().bias.as_slice().unwrap_or(&[])),
    };
    for (name, values) in [
        ("conv_weight", &file.conv_weight),
        ("conv_bias", &file.conv_bias),
        ("fc_weight", &file.fc_weight),
        ("fc_bias", &file.fc_bias),
    ] {
        if values.iter().any(|v| !v.is_finite()) {
            return Err(WeightsFileError::NonFinite(name));
        }
    }
    Ok(file)
}

/// The network from JSON text, with every field checked.
pub fn from_json(text: &str) -> Result<Cnn, WeightsFileError> {
    // Read the header first so a wrong format or version is reported as such, not as a missing field.
    #[derive(Deserialize)]
    struct Header {
        format: String,
        version: u32,
    }
    let header: Header = serde_json::from_str(text)?;
    if header.format != FORMAT {
        return Err(WeightsFileError::Format(header.format));
    }
    if header.version != VERSION {
        return Err(WeightsFileError::Version(header.version));
    }
    from_doc(serde_json::from_str(text)?)
}

/// Checks and builds the network of a document (its format and version included).
pub fn from_doc(file: WeightsFile) -> Result<Cnn, WeightsFileError> {
    if file.format != FORMAT {
        return Err(WeightsFileError::Format(file.format));
    }
    if file.version != VERSION {
        return Err(WeightsFileError::Version(file.version));
    }
    let spec = file.architecture;
    spec.validate()?;
    let k = spec.kernel;
    let expect = |name, values: &[f32], expected: usize| {
        if values.len() != expected {
            return Err(WeightsFileError::Length { name, got: values.len(), expected });
        }
        Ok(())
    };
    expect("conv_weight", &file.conv_weight, spec.filters * k * k)?;
    expect("conv_bias", &file.conv_bias, spec.filters)?;
    expect("fc_weight", &file.fc_weight, spec.classes * spec.features())?;
    expect("fc_bias", &file.fc_bias, spec.classes)?;
    let shape_error = |e: ndarray::ShapeError| WeightsFileError::Network(NnError::BadSpec(e.to_string()));
    let conv_weight = Array4::from_shape_vec((spec.filters, 1, k, k), file.conv_weight).map_err(shape_error)?;
    let fc_weight = Array2::from_shape_vec((spec.classes, spec.features()), file.fc_weight).map_err(shape_error)?;
    Ok(Cnn::from_parameters(spec, conv_weight, Array1::from(file.conv_bias), fc_weight, Array1::from(file.fc_bias))?)
}

/// Writes the network to `path` atomically.
pub fn save(path: &Path, cnn: &Cnn) -> Result<(), WeightsFileError> {
    let text = to_json(cnn)?;
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// Reads a network from `path` (size-checked before reading).
pub fn load(path: &Path) -> Result<Cnn, WeightsFileError> {
    let text = read_text_at_most(path, MAX_FILE_BYTES).map_err(|error| match error {
        BoundedReadError::Io(source) => WeightsFileError::from(source),
        BoundedReadError::TooLarge { size, .. } => WeightsFileError::TooLarge(size),
    })?;
    from_json(&text)
}

#[cfg(test)]
#[allow(clippy::float_cmp)] // exact values are expected here
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_exact() {
        for spec in [CnnSpec::toy(3), CnnSpec::fashion()] {
            let cnn = Cnn::new(spec, 9).unwrap();
            assert_eq!(from_json(&to_json(&cnn).unwrap()).unwrap(), cnn);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("net.json");
        let cnn = Cnn::new(CnnSpec::toy(2), 1).unwrap();
        save(&path, &cnn).unwrap();
        assert_eq!(load(&path).unwrap(), cnn);
    }

    #[test]
    fn the_layout_is_pytorch_order() {
        let cnn = Cnn::new(CnnSpec::toy(2), 4).unwrap();
        let value: serde_json::Value = serde_json::from_str(&to_json(&cnn).unwrap()).unwrap();
        assert_eq!(value["format"], FORMAT);
        assert_eq!(value["architecture"]["filters"], 2);
        // conv_weight[f·4 + a·2 + b] = weight[f, 0, a, b]; fc_weight[l·18 + i] = fc[l, i].
        assert_eq!(value["conv_weight"][4 + 2 + 1].as_f64().unwrap() as f32, cnn.conv().weight[[1, 0, 1, 1]]);
        assert_eq!(value["fc_weight"][18 + 10].as_f64().unwrap() as f32, cnn.fc().weight[[1, 10]]);
    }

    #[test]
    fn bad_files_give_readable_errors() {
        let good: serde_json::Value =
            serde_json::from_str(&to_json(&Cnn::new(CnnSpec::toy(1), 1).unwrap()).unwrap()).unwrap();
        let edit = |key: &str, value: serde_json::Value| {
            let mut v = good.clone();
            v[key] = value;
            from_json(&v.to_string()).unwrap_err().to_string()
        };
        assert!(edit("format", "other".into()).contains("format"));
        assert!(edit("version", 7.into()).contains("version 7"));
        assert!(edit("conv_bias", serde_json::json!([1.0, 2.0])).contains("conv_bias has 2 numbers"));
        assert!(edit("fc_bias", serde_json::json!([1.0, null])).contains("JSON"));
        assert!(
            edit("architecture", serde_json::json!({"height": 4, "width": 4, "kernel": 9, "filters": 1, "classes": 2}))
                .contains("kernel")
        );
        let huge = serde_json::json!({"height": 512, "width": 512, "kernel": 1, "filters": 256, "classes": 1024});
        assert!(edit("architecture", huge).contains("weights"), "limits checked before allocating");
        assert!(from_json("{").is_err());
        assert!(load(Path::new("/nonexistent/net.json")).is_err());
    }
}
