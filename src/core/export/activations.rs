//! Every layer's output on one image, named: N1/N2 (every layer of the sparse stack) or the trained
//! CNN (convolution, ReLU maps, logits), written as one long CSV or a folder of NPY files.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, ArrayView2, Dimension};
use serde_json::json;

use super::{CsvValue, ExportError, NamedFile, Table, csv_bytes, json_bytes, npy_bytes, write_folder};
use crate::core::nn::cnn::Cnn;
use crate::core::nn::sparse::{Activation, SparseNetwork};

/// One layer's output with its name: `[C,H,W]` maps, `[N]` vectors, or the `[H,W]` input.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedArray {
    /// The layer's name (`input` for the image itself).
    pub name: String,
    /// Its values.
    pub values: ArrayD<f32>,
}

fn input_layer(image: ArrayView2<f32>) -> NamedArray {
    NamedArray { name: "input".to_owned(), values: image.to_owned().into_dyn() }
}

/// The input and every layer's output of a sparse network (N1, N2) on `image`.
pub fn of_sparse(network: &SparseNetwork, image: ArrayView2<f32>) -> Result<Vec<NamedArray>, ExportError> {
    let outputs = network.forward(image)?;
    let mut layers = vec![input_layer(image)];
    for (layer, output) in network.layers().iter().zip(outputs.layers) {
        let values = match output {
            Activation::Map(map) => map.into_dyn(),
            Activation::Vector(vector) => vector.into_dyn(),
        };
        layers.push(NamedArray { name: layer.name.clone(), values });
    }
    Ok(layers)
}

/// The input, the convolution before and after ReLU, and the logits of the trained CNN on `image`.
pub fn of_cnn(cnn: &Cnn, image: ArrayView2<f32>) -> Result<Vec<NamedArray>, ExportError> {
    let outputs = cnn.forward(image)?;
    Ok(vec![
        input_layer(image),
        NamedArray { name: "conv (before ReLU)".to_owned(), values: outputs.pre_relu.into_dyn() },
        NamedArray { name: "ReLU feature maps".to_owned(), values: outputs.post_relu.into_dyn() },
        NamedArray { name: "logits".to_owned(), values: outputs.logits.into_dyn() },
    ])
}

/// Long-format CSV bytes: `layer,name,channel,row,col,value` (vectors: `channel` = neuron,
/// `row` = `col` = 0; the 2-D input: `channel` = 0).
pub fn csv(layers: &[NamedArray]) -> Result<Vec<u8>, ExportError> {
    let mut table = Table::new(["layer", "name", "channel", "row", "col", "value"]);
    for (index, layer) in layers.iter().enumerate() {
        for (position, &value) in layer.values.indexed_iter() {
            let (channel, row, col) = match *position.slice() {
                [c, r, k] => (c, r, k),
                [r, k] => (0, r, k),
                [n] => (n, 0, 0),
                _ => (0, 0, 0),
            };
            let name = CsvValue::Text(layer.name.clone());
            table.push_row(vec![index.into(), name, channel.into(), row.into(), col.into(), value.into()])?;
        }
    }
    csv_bytes(&table)
}

/// A folder with `layerNN.npy` per layer and `layers.json` naming each file and its shape; returns
/// the files written, the manifest last.
pub fn write_npy_folder(dir: &Path, layers: &[NamedArray]) -> Result<Vec<PathBuf>, ExportError> {
    write_folder(dir, &npy_folder_files(layers)?)
}

/// The files of [`write_npy_folder`], by name, the manifest last.
pub fn npy_folder_files(layers: &[NamedArray]) -> Result<Vec<NamedFile>, ExportError> {
    let mut files = Vec::new();
    let mut index = Vec::new();
    for (n, layer) in layers.iter().enumerate() {
        let file = format!("layer{n:02}.npy");
        index.push(json!({ "file": file, "name": layer.name, "shape": layer.values.shape() }));
        files.push((file, npy_bytes(&layer.values)?));
    }
    files.push(("layers.json".to_owned(), json_bytes(&json!({ "layers": index }))?));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use ndarray::{Array2, ArrayD};
    use serde_json::Value;

    use super::*;
    use crate::core::construct::build_n2;
    use crate::core::export::load_npy;
    use crate::core::nn::cnn::CnnSpec;
    use crate::core::presets;

    fn image() -> Array2<f32> {
        Array2::from_shape_fn((8, 8), |(r, c)| ((r * 5 + c * 3) % 7) as f32 / 6.0)
    }

    fn rows(bytes: &[u8]) -> Vec<Vec<String>> {
        String::from_utf8(bytes.to_vec()).unwrap().lines().map(|l| l.split(',').map(str::to_owned).collect()).collect()
    }

    #[test]
    fn csv_has_one_row_per_value_at_its_position() {
        let layers = vec![
            NamedArray { name: "input".into(), values: Array2::from_elem((2, 3), 0.5f32).into_dyn() },
            NamedArray { name: "maps".into(), values: ArrayD::from_shape_fn(vec![2, 1, 2], |i| i[2] as f32) },
            NamedArray { name: "logits".into(), values: ndarray::arr1(&[1.5f32, -2.0]).into_dyn() },
        ];
        let rows = rows(&csv(&layers).unwrap());
        assert_eq!(rows[0], ["layer", "name", "channel", "row", "col", "value"]);
        assert_eq!(rows.len(), 1 + 6 + 4 + 2);
        assert_eq!(rows[6], ["0", "input", "0", "1", "2", "0.5"], "2-D input: channel 0");
        assert_eq!(rows[10], ["1", "maps", "1", "0", "1", "1"], "maps: channel, row, col");
        assert_eq!(rows[12], ["2", "logits", "1", "0", "0", "-2"], "vectors: channel = neuron");
    }

    #[test]
    fn n2_activations_end_in_its_logits_and_round_trip_as_npy() {
        let classes = presets::toy_squares();
        let n2 = build_n2(&classes, 8, 8).unwrap();
        let layers = of_sparse(&n2.network, image().view()).unwrap();
        assert_eq!(layers.len(), n2.network.layers().len() + 1, "the input, then every layer");
        assert_eq!(layers[0].values, image().into_dyn());
        let logits: Vec<f32> = layers.last().unwrap().values.iter().copied().collect();
        assert_eq!(logits, n2.logits(image().view()).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let files = write_npy_folder(&dir.path().join("acts"), &layers).unwrap();
        assert_eq!(files.len(), layers.len() + 1);
        for (layer, file) in layers.iter().zip(&files) {
            assert_eq!(load_npy::<f32>(file).unwrap(), layer.values, "{}", layer.name);
        }
        let manifest: Value = serde_json::from_slice(&std::fs::read(files.last().unwrap()).unwrap()).unwrap();
        assert_eq!(manifest["layers"][1]["name"], layers[1].name.as_str());
        let shape: Vec<usize> = serde_json::from_value(manifest["layers"][1]["shape"].clone()).unwrap();
        assert_eq!(shape, layers[1].values.shape());
    }

    #[test]
    fn cnn_activations_are_the_forward_pass() {
        let cnn = Cnn::new(CnnSpec { height: 8, width: 8, kernel: 3, filters: 2, classes: 2 }, 3).unwrap();
        let layers = of_cnn(&cnn, image().view()).unwrap();
        let forward = cnn.forward(image().view()).unwrap();
        assert_eq!(layers[1].values, forward.pre_relu.into_dyn());
        assert_eq!(layers[2].values, forward.post_relu.into_dyn());
        assert_eq!(layers[3].values, forward.logits.into_dyn());
        let wrong_size = Array2::<f32>::zeros((9, 8));
        assert!(matches!(of_cnn(&cnn, wrong_size.view()), Err(ExportError::Cnn(_))));
        let n2 = build_n2(&presets::toy_squares(), 8, 8).unwrap();
        assert!(matches!(of_sparse(&n2.network, wrong_size.view()), Err(ExportError::Network(_))));
    }
}
