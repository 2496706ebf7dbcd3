//! A network trained elsewhere, opened as ONNX ("File → Open network…"): loaded and checked in a
//! job, then shown on the trained side of the networks and invariance views instead of the SGD
//! run. Its path is kept in the session, so it comes back after a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::jobs::Job;
use crate::core::interop::onnx_import::OnnxModel;

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
    pub fn mismatch(&self, height: usize, width: usize, classes: usize) -> Option<String> {
        let (rows, cols) = self.model.input_size();
        if (rows, cols) != (height, width) {
            return Some(format!(
                "{} takes {rows}×{cols} images but the dataset makes {height}×{width}: set the image size to \
                 {rows}×{cols} in the Dataset view, or export the model for {height}×{width} inputs.",
                self.name()
            ));
        }
        let scores = self.model.classes();
        (scores != classes).then(|| {
            format!(
                "{} outputs {scores} class scores but the tile set has {classes} classes: open a tile set with \
                 {scores} classes (in the model's class order), or a model trained on this one.",
                self.name()
            )
        })
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
    /// Starts loading `path` in the background (replacing a load in progress).
    pub fn open(&mut self, ctx: Option<&egui::Context>, path: &Path) {
        let file = path.to_path_buf();
        let job =
            Job::spawn("opening the network", ctx.cloned(), move |_| OnnxModel::load(&file).map_err(|e| e.to_string()));
        self.job = Some((path.to_path_buf(), job));
    }

    /// True only the first time it is asked: when the session's network is reopened.
    pub fn first_poll(&mut self) -> bool {
        !std::mem::replace(&mut self.polled, true)
    }

    /// True while a model is being loaded.
    pub fn is_loading(&self) -> bool {
        self.job.is_some()
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
                self.loads += 1;
                let network = ImportedNetwork { model, path, version: self.loads };
                let message = format!(
                    "opened {}: {}×{} input, {} class scores, {} nodes",
                    network.path.display(),
                    network.model.input_size().0,
                    network.model.input_size().1,
                    network.model.classes(),
                    network.model.nodes().len()
                );
                self.network = Some(Arc::new(network));
                Loaded::Opened(message)
            }
            Err(error) => Loaded::Failed(format!("could not open {}: {error}", path.display())),
        })
    }
}
