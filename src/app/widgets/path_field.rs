//! What the path windows share: a typed path with `~` expanded, Enter to confirm, an absolute
//! default folder the user can see (the tile set's folder, the last one used, or the documents
//! folder), and the missing folder a save would need (which the windows offer to create).

use std::path::{Path, PathBuf};

/// The path `text` means: trimmed, with a leading `~` standing for the home folder.
pub fn expand_typed(text: &str) -> PathBuf {
    let text = text.trim();
    let rest = match text.strip_prefix('~') {
        Some("") => Some(""),
        Some(rest) if rest.starts_with('/') || rest.starts_with(std::path::MAIN_SEPARATOR) => Some(&rest[1..]),
        _ => None,
    };
    match (rest, home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(text),
    }
}

/// The user's home folder, if the environment names one.
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE")).filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Where a new file goes by default: the last folder used, else the tile set's folder, else the
/// documents folder (or home), else the working folder, always absolute so the window can show it.
pub fn default_folder(last_folder: Option<&Path>, tileset: Option<&Path>) -> PathBuf {
    let tileset_folder = tileset.and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
    let documents = home().map(|h| h.join("Documents")).filter(|d| d.is_dir());
    let folder = last_folder.or(tileset_folder).map(Path::to_path_buf).or(documents).or_else(home);
    let folder = folder.unwrap_or_else(|| PathBuf::from("."));
    std::path::absolute(&folder).unwrap_or(folder)
}

/// The folder `path` would be written into when it does not exist yet.
pub fn missing_folder(path: &Path) -> Option<PathBuf> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty())?;
    (!parent.exists()).then(|| parent.to_path_buf())
}

/// The path text field; true when Enter was pressed in it (the window's main button).
pub fn path_field_ui(ui: &mut egui::Ui, text: &mut String, width: f32) -> bool {
    let response = ui.add(egui::TextEdit::singleline(text).desired_width(width).hint_text("/path/to/file"));
    response.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// The offer to create a missing folder; true when the user accepted (the folder then exists).
pub fn create_folder_ui(ui: &mut egui::Ui, folder: &Path, action: &str) -> Result<bool, String> {
    ui.colored_label(crate::app::theme::WARNING, format!("The folder {} does not exist.", folder.display()));
    if ui.button(format!("Create the folder and {}", action.to_lowercase())).clicked() {
        std::fs::create_dir_all(folder).map_err(|e| format!("could not create {}: {e}", folder.display()))?;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tilde_is_the_home_folder() {
        let Some(home) = home() else { return };
        assert_eq!(expand_typed("  ~/figures/a.png "), home.join("figures/a.png"));
        assert_eq!(expand_typed("~"), home);
        assert_eq!(expand_typed("~other/a.png"), PathBuf::from("~other/a.png"), "another user's ~ is left alone");
        assert_eq!(expand_typed("/tmp/~/a"), PathBuf::from("/tmp/~/a"));
    }

    #[test]
    fn the_default_folder_is_absolute_and_prefers_the_last_one_then_the_tile_set() {
        let last = Path::new("/data/last");
        let tileset = Path::new("/data/sets/a.tileset.json");
        assert_eq!(default_folder(Some(last), Some(tileset)), last);
        assert_eq!(default_folder(None, Some(tileset)), Path::new("/data/sets"));
        assert!(default_folder(None, None).is_absolute());
        assert!(default_folder(None, Some(Path::new("a.json"))).is_absolute());
    }

    #[test]
    fn a_missing_folder_is_found_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(missing_folder(&dir.path().join("a.png")), None);
        let deep = dir.path().join("x/y/a.png");
        assert_eq!(missing_folder(&deep), Some(dir.path().join("x/y")));
        assert_eq!(missing_folder(Path::new("a.png")), None);
    }
}
