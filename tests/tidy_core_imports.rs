//! The core's modules import each other without a circle: between any two modules that are not
//! one folder module and its own files, imports run one way (`use crate::core::…`, `super::…`).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("source folder is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `core/interop/ops.rs` and `core/interop/ops/mod.rs` are both `["interop", "ops"]`.
fn module_of(root: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(root).expect("under src/core").with_extension("");
    let mut parts: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The code before the first `#[cfg(test)]` (test-only imports do not make layers).
fn non_test_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// Every path named after `prefix` (`a::b` and, for `a::{b, c::d}`, `a::b` and `a::c::d`).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for (start, _) in code.match_indices(prefix) {
        let rest = &code[start + prefix.len()..];
        let head: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        let head: Vec<String> = head.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
        let after = &rest[rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len())..];
        if let Some(group) = after.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split([',', '{']) {
                let item: Vec<String> = item.trim().split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect();
                paths.push(head.iter().cloned().chain(item).collect());
            }
        } else {
            paths.push(head);
        }
    }
    paths
}

fn import_graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let modules: BTreeMap<Module, PathBuf> = files.iter().map(|f| (module_of(&root, f), f.clone())).collect();
    let resolve = |base: &[String], path: &[String]| -> Option<Module> {
        (0..=path.len())
            .rev()
            .map(|n| base.iter().chain(&path[..n]).cloned().collect())
            .find(|m| modules.contains_key(m))
    };
    let mut graph = BTreeMap::new();
    for (module, file) in &modules {
        let code = non_test_code(&fs::read_to_string(file).expect("readable"));
        let parent = &module[..module.len().saturating_sub(1)];
        let named = paths_after(&code, "crate::core::")
            .into_iter()
            .filter_map(|p| resolve(&[], &p))
            .chain(paths_after(&code, "super::").into_iter().filter_map(|p| resolve(parent, &p)));
        let nested = |a: &Module, b: &Module| a.starts_with(b) || b.starts_with(a);
        graph.insert(module.clone(), named.filter(|target| !nested(module, target)).collect());
    }
    graph
}

/// A circle through `start`, if any, by depth-first search.
fn circle_from(graph: &BTreeMap<Module, BTreeSet<Module>>, start: &Module) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((module, path)) = stack.pop() {
        for next in graph.get(&module).into_iter().flatten() {
            if next == start {
                return Some(path);
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), path.iter().cloned().chain([next.clone()]).collect()));
            }
        }
    }
    None
}

#[test]
fn core_modules_import_each_other_without_a_circle() {
    let graph = import_graph();
    assert!(graph.len() > 40, "every core module is read: {}", graph.len());
    let safetensors = graph.get(&vec!["interop".to_owned(), "safetensors".to_owned()]).expect("a module");
    assert!(safetensors.contains(&vec!["interop".to_owned(), "tensor".to_owned()]), "super:: imports are seen");
    let circles: Vec<_> = graph.keys().filter_map(|m| circle_from(&graph, m)).collect();
    assert!(circles.is_empty(), "import circles in src/core: {circles:?}");
}

#[test]
fn a_brace_group_names_each_module() {
    let paths = paths_after("use super::{graph::ExportGraph, tensor::{NamedTensor, TensorData}};", "super::");
    assert!(paths.contains(&vec!["graph".to_owned(), "ExportGraph".to_owned()]), "{paths:?}");
    assert!(paths.iter().any(|p| p.first().is_some_and(|m| m == "tensor")), "{paths:?}");
}
