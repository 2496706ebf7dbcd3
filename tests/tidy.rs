//! Conventions the code keeps: the numerical core never imports the UI, and every module says what it owns.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).expect("source folder is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn src(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(sub)
}

#[test]
fn core_does_not_depend_on_the_ui() {
    let offenders: Vec<_> = rust_files(&src("core"))
        .into_iter()
        .filter(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            text.lines().any(|line| {
                let code = line.split("//").next().unwrap_or("");
                ["egui", "eframe", "rfd::", "crate::app"].iter().any(|word| code.contains(word))
            })
        })
        .collect();
    assert!(offenders.is_empty(), "src/core must not use the UI: {offenders:?}");
}

#[test]
fn every_module_starts_with_a_doc_line() {
    let missing: Vec<_> = rust_files(&src(""))
        .into_iter()
        .filter(|path| path.file_name().is_some_and(|n| n != "main.rs"))
        .filter(|path| !fs::read_to_string(path).unwrap_or_default().trim_start().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "modules without a `//!` line: {missing:?}");
}

/// The lines of `path` that are code (comments and the unit tests dropped).
fn code_lines(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .take_while(|line| !line.contains("#[cfg(test)]"))
        .map(|line| line.split("//").next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn lower_app_modules_never_import_a_view() {
    let lower = [
        "ids.rs",
        "settings.rs",
        "theme.rs",
        "cache.rs",
        "command.rs",
        "state.rs",
        "imported.rs",
        "training_job.rs",
        "export_job.rs",
        "scene_jobs.rs",
    ];
    let mut files: Vec<PathBuf> = lower.iter().map(|name| src("app").join(name)).collect();
    files.extend(rust_files(&src("app/widgets")));
    files.extend(rust_files(&src("app/jobs")));
    let views = ["views::", "lecture::", "export_menu", "tree::", "TilelabApp"];
    let offenders: Vec<_> = files
        .iter()
        .flat_map(|path| {
            code_lines(path)
                .into_iter()
                .filter(|code| views.iter().any(|view| code.contains(view)))
                .map(move |code| format!("{}: {}", path.display(), code.trim()))
        })
        .collect();
    assert!(offenders.is_empty(), "a lower module reaches up into the views: {offenders:#?}");
}

#[test]
fn views_reach_no_other_view_and_start_no_jobs_of_shared_data() {
    let dataset_view = code_lines(&src("app/views/dataset.rs"));
    assert!(!dataset_view.iter().any(|code| code.contains("export_menu")), "the dataset view imports the export menu");
    let exports = code_lines(&src("app/export_menu.rs"));
    assert!(!exports.iter().any(|code| code.contains("views::")), "the export menu imports a view");
    for path in rust_files(&src("app/lecture")) {
        let code = code_lines(&path);
        assert!(!code.iter().any(|line| line.contains("views::")), "{} imports a view", path.display());
        assert!(
            !code.iter().any(|line| line.contains("build_n1") || line.contains("build_n2")),
            "{} builds N1/N2 itself instead of reading the cache",
            path.display()
        );
    }
}

/// Views read `&AppState` and push commands; background work starts in `app::jobs` (the runner)
/// and `app::cache` (with its submodules), and the training run, a steppable job of its own module.
#[test]
fn views_read_the_state_and_only_the_runner_and_the_cache_start_jobs() {
    let app = src("app");
    let starters = [app.join("cache.rs"), app.join("training_job.rs")];
    for path in rust_files(&app) {
        let code = code_lines(&path);
        assert!(
            !code.iter().any(|line| line.contains("&mut AppState")),
            "{} writes the state instead of pushing a command",
            path.display()
        );
        if path.starts_with(app.join("jobs")) || path.starts_with(app.join("cache")) || starters.contains(&path) {
            continue;
        }
        assert!(!code.iter().any(|line| starts_a_job(line)), "{} starts a background job itself", path.display());
    }
}

/// True when `code` calls `Job::spawn` or `Job::start` (not, say, `TrainingJob::start`).
fn starts_a_job(code: &str) -> bool {
    ["Job::spawn(", "Job::start("]
        .iter()
        .any(|call| code.match_indices(call).any(|(at, _)| at == 0 || !code.as_bytes()[at - 1].is_ascii_alphanumeric()))
}
