//! `tilelab scene`: a scene file as a link (`link`), a link back as a file (`open-link`), and a
//! scene file read and checked (`check`), with what it holds that this tilelab does not know.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::core::scene::{self, Scene, Warning};

/// Arguments of `tilelab scene`.
#[derive(Args)]
pub struct SceneArgs {
    #[command(subcommand)]
    action: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Print the scene as a compact URL-safe link (trained weights and models are left out).
    Link {
        /// The scene file (`.tilelab`).
        file: PathBuf,
    },
    /// Write the scene a link holds (the link, or a whole address ending in `#scene=…`) to a file.
    OpenLink {
        /// The link text.
        link: String,
        /// The scene file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Open a scene file, check everything in it and say what it holds.
    Check {
        /// The scene file (`.tilelab`).
        file: PathBuf,
    },
}

/// Runs the chosen action.
pub fn run(args: &SceneArgs) -> anyhow::Result<()> {
    match &args.action {
        Action::Link { file } => {
            let scene = open(file)?;
            let (link, left_out) = scene::to_link(&scene)?;
            for note in left_out {
                eprintln!("note: {note}");
            }
            println!("{link}");
            Ok(())
        }
        Action::OpenLink { link, out } => {
            let (scene, warnings) = scene::from_link(link).context("cannot open the link")?;
            tell(&warnings);
            scene::save(out, &scene).with_context(|| format!("cannot write {}", out.display()))?;
            println!("{}", out.display());
            Ok(())
        }
        Action::Check { file } => {
            let scene = open(file)?;
            println!("{}", summary(&scene));
            Ok(())
        }
    }
}

/// Opens a scene file for a command, printing its warnings on stderr.
pub fn open(path: &Path) -> anyhow::Result<Scene> {
    let (scene, warnings) = scene::open(path).with_context(|| format!("cannot open the scene {}", path.display()))?;
    tell(&warnings);
    Ok(scene)
}

fn tell(warnings: &[Warning]) {
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
}

/// One line per part of the scene.
fn summary(scene: &Scene) -> String {
    let classes = scene.tiles.classes();
    let d = &scene.dataset;
    let t = &scene.training;
    let mut lines = vec![
        format!("title: {}", if scene.title.is_empty() { "(none)" } else { &scene.title }),
        format!(
            "tiles: {} classes ({})",
            classes.len(),
            if matches!(scene.tiles, scene::SceneTiles::Preset(_)) { "a bundled preset" } else { "its own tiles" }
        ),
        format!("dataset: {}×{}, {} per class, seed {}", d.height, d.width, d.samples_per_class, d.seed),
        format!(
            "training: conv {0}×{0} ×{1}, lr {2}, batch {3}, {4} epochs, seed {5}",
            t.kernel, t.filters, t.hyper.learning_rate, t.hyper.batch_size, t.epochs, t.seed
        ),
        format!("trained weights: {}", if scene.trained.is_some() { "yes" } else { "no" }),
    ];
    if let Some(model) = &scene.model {
        lines.push(format!("ONNX model: {} ({} bytes)", model.name, model.bytes.len()));
    }
    lines.push(format!("view: {}", scene.view.file_stem()));
    if let Some(lecture) = scene.lecture {
        lines.push(format!("lecture: step {}", lecture.step));
    }
    lines.join("\n")
}
