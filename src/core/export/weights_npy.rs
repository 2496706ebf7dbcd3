//! Network weights as NPY folders: a constructed network in its dense form (one weight and bias
//! file per convolution or linear layer, `network.json` listing every layer), and the trained CNN
//! (`conv_weight`, `conv_bias`, `fc_weight`, `fc_bias`, `network.json` with the architecture).

use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use serde_json::json;

use super::{ExportError, NamedFile, json_bytes, npy_bytes, write_folder};
use crate::core::nn::cnn::Cnn;
use crate::core::nn::dense::Layer;
use crate::core::nn::sparse::SparseNetwork;

/// Largest dense parameter count written as NPY (80 MB of f32); N1 on large images exceeds it.
pub const MAX_DENSE_PARAMS: usize = 20_000_000;

/// The network in dense form: `layerNN_weight.npy` / `layerNN_bias.npy` per conv/linear layer and
/// `network.json` listing every layer (pad sizes, dilation, ReLU/flatten) in order; returns the
/// files written, the manifest last.
pub fn write_dense(network: &SparseNetwork, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    write_folder(dir, &dense_files(network)?)
}

/// The files of [`write_dense`], by name, the manifest last.
pub fn dense_files(network: &SparseNetwork) -> Result<Vec<NamedFile>, ExportError> {
    let dense = network.to_dense(MAX_DENSE_PARAMS).map_err(ExportError::DenseForm)?;
    let mut files = Vec::new();
    let mut save = |file: String, values: ArrayD<f32>| -> Result<String, ExportError> {
        files.push((file.clone(), npy_bytes(&values)?));
        Ok(file)
    };
    let mut entries = Vec::new();
    for (n, layer) in dense.layers.iter().enumerate() {
        let entry = match layer {
            Layer::Pad { bottom, right } => json!({ "kind": "pad", "bottom": bottom, "right": right }),
            Layer::Relu => json!({ "kind": "relu" }),
            Layer::Flatten => json!({ "kind": "flatten" }),
            Layer::Conv2d(conv) => {
                let weight = save(format!("layer{n:02}_weight.npy"), conv.weight.clone().into_dyn())?;
                let bias = save(format!("layer{n:02}_bias.npy"), conv.bias.clone().into_dyn())?;
                json!({ "kind": "conv2d", "dilation": conv.dilation, "weight": weight, "bias": bias })
            }
            Layer::Linear(linear) => {
                let weight = save(format!("layer{n:02}_weight.npy"), linear.weight.clone().into_dyn())?;
                let bias = save(format!("layer{n:02}_bias.npy"), linear.bias.clone().into_dyn())?;
                json!({ "kind": "linear", "weight": weight, "bias": bias })
            }
        };
        entries.push(entry);
    }
    let (height, width) = network.input();
    let manifest = json_bytes(&json!({ "input": [1, height, width], "layers": entries }))?;
    files.push(("network.json".to_owned(), manifest));
    Ok(files)
}

/// The trained CNN: `conv_weight.npy [F,1,k,k]`, `conv_bias.npy [F]`, `fc_weight.npy [L, F·H'·W']`,
/// `fc_bias.npy [L]` and `network.json` with the architecture; returns the files written.
pub fn write_trained(cnn: &Cnn, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    write_folder(dir, &trained_files(cnn)?)
}

/// The files of [`write_trained`], by name, the manifest last.
pub fn trained_files(cnn: &Cnn) -> Result<Vec<NamedFile>, ExportError> {
    let arrays: [(&str, ArrayD<f32>); 4] = [
        ("conv_weight", cnn.conv().weight.clone().into_dyn()),
        ("conv_bias", cnn.conv().bias.clone().into_dyn()),
        ("fc_weight", cnn.fc().weight.clone().into_dyn()),
        ("fc_bias", cnn.fc().bias.clone().into_dyn()),
    ];
    let mut files = Vec::new();
    for (name, values) in &arrays {
        files.push((format!("{name}.npy"), npy_bytes(values)?));
    }
    let spec = cnn.spec();
    let manifest = json!({
        "architecture": "conv k×k (stride 1, no padding) → ReLU → flatten (F, H', W') → linear",
        "height": spec.height, "width": spec.width, "kernel": spec.kernel, "filters": spec.filters, "classes": spec.classes,
    });
    files.push(("network.json".to_owned(), json_bytes(&manifest)?));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use ndarray::Axis;
    use serde_json::Value;

    use super::*;
    use crate::core::construct::{build_n1, build_n2};
    use crate::core::export::load_npy;
    use crate::core::nn::cnn::CnnSpec;
    use crate::core::nn::dense::{Conv2d, Linear, Network};
    use crate::core::{detect, presets};

    /// Rebuilds the dense network from the folder's files alone.
    fn read_dense(folder: &Path) -> Network {
        let manifest: Value = serde_json::from_slice(&std::fs::read(folder.join("network.json")).unwrap()).unwrap();
        let mut layers = Vec::new();
        for entry in manifest["layers"].as_array().unwrap() {
            let load = |key: &str| load_npy::<f32>(&folder.join(entry[key].as_str().unwrap())).unwrap();
            let size = |key: &str| entry[key].as_u64().unwrap() as usize;
            layers.push(match entry["kind"].as_str().unwrap() {
                "pad" => Layer::Pad { bottom: size("bottom"), right: size("right") },
                "relu" => Layer::Relu,
                "flatten" => Layer::Flatten,
                "conv2d" => Layer::Conv2d(
                    Conv2d::new(
                        load("weight").into_dimensionality().unwrap(),
                        load("bias").into_dimensionality().unwrap(),
                        size("dilation"),
                    )
                    .unwrap(),
                ),
                _ => Layer::Linear(
                    Linear::new(
                        load("weight").into_dimensionality().unwrap(),
                        load("bias").into_dimensionality().unwrap(),
                    )
                    .unwrap(),
                ),
            });
        }
        Network { layers }
    }

    #[test]
    fn the_dense_folder_alone_computes_the_direct_logits() {
        let classes = presets::toy_squares();
        let n2 = build_n2(&classes, 8, 8).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = write_dense(&n2.network, dir.path()).unwrap();
        assert!(files.len() >= 3 && files.last().unwrap().ends_with("network.json"));
        let network = read_dense(dir.path());
        let image = ndarray::Array2::from_shape_fn((8, 8), |(r, c)| ((r * 3 + c) % 5) as f32 / 4.0);
        let logits = network.forward(image.view().insert_axis(Axis(0))).unwrap();
        for (a, b) in logits.iter().zip(detect::logits(&classes, image.view())) {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{a} vs {b}");
        }
    }

    #[test]
    fn n1_too_large_for_the_dense_form_is_refused_before_writing() {
        let n1 = build_n1(&presets::toy_squares(), 120, 120).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("n1");
        let error = write_dense(&n1.network, &folder).unwrap_err();
        assert!(matches!(error, ExportError::DenseForm(_)));
        assert!(error.to_string().contains("sparse JSON"), "{error}");
        assert!(!folder.exists());
    }

    #[test]
    fn trained_weights_are_the_cnn_tensors() {
        let cnn = Cnn::new(CnnSpec { height: 8, width: 8, kernel: 3, filters: 2, classes: 2 }, 7).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = write_trained(&cnn, dir.path()).unwrap();
        assert_eq!(files.len(), 5);
        assert_eq!(load_npy::<f32>(&dir.path().join("conv_weight.npy")).unwrap(), cnn.conv().weight.clone().into_dyn());
        assert_eq!(load_npy::<f32>(&dir.path().join("fc_bias.npy")).unwrap(), cnn.fc().bias.clone().into_dyn());
        let manifest: Value = serde_json::from_slice(&std::fs::read(dir.path().join("network.json")).unwrap()).unwrap();
        assert_eq!(manifest["filters"], 2);
    }
}
