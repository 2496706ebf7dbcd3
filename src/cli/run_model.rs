//! `tilelab run`: runs an ONNX model on NumPy inputs of any shape it accepts (any batch, any
//! channel count) and writes its outputs, and with `--all-values` every intermediate value, as
//! `.npy` files named by the graph's value names, with `values.json` listing them.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use ndarray::ArrayD;
use serde_json::json;

use crate::core::export::{create_folder, load_npy, save_npy, write_file};
use crate::core::interop::onnx_import::OnnxGraph;
use crate::core::interop::ops::Value;

/// Arguments of `tilelab run`.
#[derive(Args)]
pub struct RunArgs {
    /// The ONNX model.
    #[arg(long)]
    model: PathBuf,
    /// An input as `NAME=x.npy` (float32/float64, or int32/int64 for integer inputs); once per
    /// graph input. A model with one input also takes a bare `x.npy`.
    #[arg(long = "input", required = true)]
    inputs: Vec<String>,
    /// The folder the `.npy` files are written to.
    #[arg(long)]
    out: PathBuf,
    /// Write every intermediate float value too, not only the outputs.
    #[arg(long)]
    all_values: bool,
}

/// Runs `tilelab run …`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let graph =
        OnnxGraph::load(&args.model).with_context(|| format!("cannot load the model {}", args.model.display()))?;
    let feeds = read_inputs(&graph, &args.inputs)?;
    let evaluation = graph.evaluate(&feeds, args.all_values)?;
    create_folder(&args.out)?;
    let mut written = Vec::new();
    let mut used = HashSet::new();
    for traced in &evaluation.values {
        written.push(write_value(&args.out, &traced.name, &Value::F32(traced.value.clone()), &mut used)?);
    }
    let already: HashSet<&str> = evaluation.values.iter().map(|t| t.name.as_str()).collect();
    for (name, value) in evaluation.outputs.iter().filter(|(name, _)| !already.contains(name.as_str())) {
        written.push(write_value(&args.out, name, value, &mut used)?);
    }
    let manifest = args.out.join("values.json");
    let outputs: Vec<&String> = evaluation.outputs.iter().map(|(name, _)| name).collect();
    let text = serde_json::to_vec_pretty(&json!({ "outputs": outputs, "values": written }))?;
    write_file(&manifest, &text)?;
    for entry in &written {
        println!("{}", args.out.join(entry["file"].as_str().unwrap_or_default()).display());
    }
    Ok(())
}

/// One value per graph input from `NAME=path` arguments (a bare path for a one-input model).
fn read_inputs(graph: &OnnxGraph, arguments: &[String]) -> anyhow::Result<HashMap<String, Value>> {
    let mut feeds = HashMap::new();
    for argument in arguments {
        let (name, path) = match argument.split_once('=') {
            Some((name, path)) => (name.to_owned(), path),
            None => match graph.inputs() {
                [only] => (only.name.clone(), argument.as_str()),
                _ => bail!("'{argument}': the model has {} inputs, so give each as NAME=x.npy", graph.inputs().len()),
            },
        };
        if !graph.inputs().iter().any(|i| i.name == name) {
            let names: Vec<&str> = graph.inputs().iter().map(|i| i.name.as_str()).collect();
            bail!("the model has no input '{name}' (its inputs: {})", names.join(", "));
        }
        let value = read_npy(Path::new(path)).with_context(|| format!("cannot read input '{name}' from {path}"))?;
        feeds.insert(name, value);
    }
    Ok(feeds)
}

/// An `.npy` file as a value: floats as float32, integers as int64.
fn read_npy(path: &Path) -> anyhow::Result<Value> {
    if let Ok(a) = load_npy::<f32>(path) {
        return Ok(Value::F32(a));
    }
    if let Ok(a) = load_npy::<f64>(path) {
        return Ok(Value::F32(a.mapv(|v| v as f32)));
    }
    if let Ok(a) = load_npy::<i64>(path) {
        return Ok(Value::I64(a));
    }
    match load_npy::<i32>(path) {
        Ok(a) => Ok(Value::I64(a.mapv(i64::from))),
        Err(error) => Err(error).context("expected float32, float64, int32 or int64 data"),
    }
}

/// `name` as a file stem: characters other than letters, digits, `.`, `-` and `_` become `_`.
pub fn file_stem(name: &str) -> String {
    let stem: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect();
    if stem.is_empty() || stem.starts_with('.') { format!("_{stem}") } else { stem }
}

/// Writes `value` as `<stem>.npy` (a numbered stem when two names sanitise alike); its manifest entry.
fn write_value(dir: &Path, name: &str, value: &Value, used: &mut HashSet<String>) -> anyhow::Result<serde_json::Value> {
    let stem = file_stem(name);
    // One of the first `used.len() + 1` names is free.
    let file = (1..=used.len() + 1)
        .map(|n| if n == 1 { format!("{stem}.npy") } else { format!("{stem}_{n}.npy") })
        .find(|f| !used.contains(f))
        .unwrap_or_default();
    used.insert(file.clone());
    let path = dir.join(&file);
    match value {
        Value::F32(a) => save_npy::<f32, _, _>(&path, a)?,
        Value::I64(a) => save_npy::<i64, _, _>(&path, &ArrayD::clone(a))?,
    }
    Ok(json!({ "file": file, "name": name, "shape": value.shape() }))
}

#[cfg(test)]
mod tests {
    use super::file_stem;

    #[test]
    fn value_names_become_safe_file_stems() {
        assert_eq!(file_stem("gpu_0/conv1_1"), "gpu_0_conv1_1");
        assert_eq!(file_stem("/features/features.0/Conv_output_0"), "_features_features.0_Conv_output_0");
        assert_eq!(file_stem("../etc"), "_.._etc");
        assert_eq!(file_stem(""), "_");
        assert_eq!(file_stem("logits"), "logits");
    }
}
