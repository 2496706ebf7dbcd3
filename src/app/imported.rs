//! A network trained elsewhere, opened as ONNX ("File → Open network…"): loaded and checked in a
//! job, then shown on the trained side of the networks and invariance views instead of the SGD
//! run. Its path is kept in the session, so it comes back after a restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ndarray::Array2;

use crate::app::jobs::Job;
use crate::core::dataset::MAX_INTERACTIVE_SIDE;
use crate::core::interop::onnx_import::{OnnxModel, Trace};
use crate::core::interop::receptive_field::{Field, receptive_fields};
use crate::core::tile::ClassSet;

/// An opened model with where it came from.
pub struct ImportedNetwork {
    pub model: OnnxModel,
    pub path: PathBuf,
    /// Counts opened models (texture stamps and caches use it).
    pub version: u64,
}

impl ImportedNetwork {
    /// The file name, for headings and legends.
    pub fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    /// Why the model cannot run on `height×width` images of `classes` classes, saying what to
    /// change; `None` when it fits.
    pub fn mismatch(&self, height: usize, width: usize, classes: &ClassSet) -> Option<String> {
        let (rows, cols) = self.model.input_size();
        if (rows, cols) != (height, width) {
            let change = if self.dataset_can_take_its_size() {
                format!("set the image size to {rows}×{cols} in the Dataset view, or ")
            } else {
                format!("the Dataset view makes images up to {MAX_INTERACTIVE_SIDE}×{MAX_INTERACTIVE_SIDE}: ")
            };
            return Some(format!(
                "{} takes {rows}×{cols} images but the dataset makes {height}×{width}: {change}export the model \
                 for {height}×{width} inputs.",
                self.name()
            ));
        }
        let scores = self.model.classes();
        (scores != classes.len()).then(|| {
            format!(
                "{} outputs {scores} class scores but the tile set has {} classes: open a tile set with \
                 {scores} classes (in the model's class order), or a model trained on this one.",
                self.name(),
                classes.len()
            )
        })
    }

    /// True when the Dataset view can make images of the model's input size.
    pub fn dataset_can_take_its_size(&self) -> bool {
        let (rows, cols) = self.model.input_size();
        rows.max(cols) <= MAX_INTERACTIVE_SIDE
    }

    /// A warning when the model names its classes (as tilelab's exports do, in `tilelab.classes`)
    /// and they differ from the tile set's, in the same order.
    pub fn class_name_warning(&self, classes: &ClassSet) -> Option<String> {
        let (_, json) = self.model.metadata().iter().find(|(key, _)| key == "tilelab.classes")?;
        let named: Vec<String> = serde_json::from_str(json).ok()?;
        let ours: Vec<&str> = classes.classes.iter().map(|o| o.name.as_str()).collect();
        (named != ours).then(|| {
            format!(
                "{} was exported for the classes {} but the tile set's are {}: its scores are read in the tile set's order.",
                self.name(),
                named.join(", "),
                ours.join(", ")
            )
        })
    }
}

/// The forward pass of an input through the opened model, with each map's receptive field.
pub struct ImportedForward {
    pub trace: Trace,
    pub fields: HashMap<String, Field>,
    /// Texture stamp: changes with the model and the input.
    pub stamp: u64,
}

impl ImportedForward {
    /// Runs `image` through `network` (the heavy part: a background job of the cache).
    pub fn of(network: &ImportedNetwork, image: &Array2<f32>, stamp: u64) -> Result<Self, String> {
        let trace = network.model.run(image.view()).map_err(|e| e.to_string())?;
        let fields = receptive_fields(&network.model, &trace);
        Ok(Self { trace, fields, stamp })
    }
}

/// The opened model and the load in progress.
#[derive(Default)]
pub struct Imported {
    pub network: Option<Arc<ImportedNetwork>>,
    job: Option<(PathBuf, Job<OnnxModel>)>,
    loads: u64,
    polled: bool,
}

/// What a finished load reports, for the log.
pub enum Loaded {
    Opened(String),
    Failed(String),
}

impl Imported {
    /// Waits for `job`, the load of `path` (replacing a load in progress).
    pub fn open(&mut self, path: &Path, job: Job<OnnxModel>) {
        self.job = Some((path.to_path_buf(), job));
    }

    /// True only the first time it is asked: when the session's network is reopened.
    pub fn first_poll(&mut self) -> bool {
        !std::mem::replace(&mut self.polled, true)
    }

    /// The file being loaded, if any.
    pub fn loading(&self) -> Option<&Path> {
        self.job.as_ref().map(|(path, _)| path.as_path())
    }

    /// `model`, read from `path`, as a network to show (numbered after every one opened so far).
    pub fn adopt(&mut self, model: OnnxModel, path: PathBuf) -> Arc<ImportedNetwork> {
        self.loads += 1;
        Arc::new(ImportedNetwork { model, path, version: self.loads })
    }

    /// Puts the trained side back to the SGD run.
    pub fn close(&mut self) {
        self.network = None;
        self.job = None;
    }

    /// Takes a finished load.
    pub fn poll(&mut self) -> Option<Loaded> {
        let (_, job) = self.job.as_mut()?;
        let outcome = job.poll()?;
        let (path, _) = self.job.take()?;
        Some(match outcome {
            Ok(model) => {
                let network = self.adopt(model, path);
                let message = format!(
                    "opened {}: {}×{} input, {} class scores, {} nodes",
                    network.path.display(),
                    network.model.input_size().0,
                    network.model.input_size().1,
                    network.model.classes(),
                    network.model.nodes().len()
                );
                self.network = Some(network);
                Loaded::Opened(message)
            }
            Err(error) => Loaded::Failed(format!("could not open {}: {error}", path.display())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::interop::onnx_export::export_cnn;
    use crate::core::nn::cnn::{Cnn, CnnSpec};
    use crate::core::presets;

    fn exported(classes: &ClassSet, height: usize, width: usize) -> ImportedNetwork {
        let spec = CnnSpec { height, width, kernel: 3, filters: 2, classes: classes.len() };
        let names: Vec<String> = classes.classes.iter().map(|o| o.name.clone()).collect();
        let bytes = export_cnn(&Cnn::new(spec, 1).unwrap(), &names).unwrap().onnx_bytes();
        ImportedNetwork { model: OnnxModel::from_bytes(&bytes, None).unwrap(), path: "dir/net.onnx".into(), version: 1 }
    }

    #[test]
    fn mismatches_say_what_to_change() {
        let classes = presets::fashion_three();
        let network = exported(&classes, 12, 10);
        assert_eq!(network.name(), "net.onnx");
        assert_eq!(network.mismatch(12, 10, &classes), None);
        let size = network.mismatch(40, 40, &classes).unwrap();
        assert!(size.contains("takes 12×10 images but the dataset makes 40×40"), "{size}");
        let two = presets::toy_squares();
        let count = network.mismatch(12, 10, &two).unwrap();
        assert!(count.contains("outputs 3 class scores but the tile set has 2 classes"), "{count}");
        assert!(network.dataset_can_take_its_size());
        // A size the Dataset view cannot make is not offered.
        let huge = exported(&classes, 300, 8);
        assert!(!huge.dataset_can_take_its_size());
        let message = huge.mismatch(40, 40, &classes).unwrap();
        assert!(message.contains("up to 256×256") && !message.contains("set the image size"), "{message}");
    }

    #[test]
    fn differently_named_classes_are_pointed_out() {
        let classes = presets::fashion_three();
        let network = exported(&classes, 8, 8);
        assert_eq!(network.class_name_warning(&classes), None);
        let mut renamed = classes.clone();
        renamed.classes.swap(0, 1);
        let warning = network.class_name_warning(&renamed).unwrap();
        assert!(warning.contains("exported for the classes Trouser, Sneaker, Bag"), "{warning}");
    }
}
