//! Where the user's work is kept between sessions: named text entries of a data folder. On a
//! desktop they are files in `~/.local/share/tilelab` written atomically; in the web build they are
//! entries of the browser's local storage (keys `tilelab/<name>`), kept across reloads. Files the
//! user saves or exports are written where asked on a desktop and downloaded in the web build.

use std::path::{Path, PathBuf};

/// False in the web build: a page gets no file paths, so the path windows are not offered there;
/// the browser's file picker and downloads stand in for them.
pub const FILE_PATHS: bool = !cfg!(target_arch = "wasm32");

#[cfg(not(target_arch = "wasm32"))]
pub use files::{default_data_dir, read_text, write_text, write_user_file};
#[cfg(target_arch = "wasm32")]
pub use local_storage::{default_data_dir, read_text, write_text, write_user_file};

#[cfg(not(target_arch = "wasm32"))]
mod files {
    use super::{Path, PathBuf};
    use crate::core::atomic;
    use crate::core::bounded_read::read_text_at_most;

    /// `$XDG_DATA_HOME/tilelab`, else `~/.local/share/tilelab` (`None` without a home folder).
    pub fn default_data_dir() -> Option<PathBuf> {
        if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return Some(PathBuf::from(xdg).join("tilelab"));
        }
        std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|home| PathBuf::from(home).join(".local/share/tilelab"))
    }

    /// Writes `text` as `dir/name` atomically (the folder is created if needed).
    pub fn write_text(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir)?;
        atomic::write_atomic(&dir.join(name), text.as_bytes())?;
        Ok(())
    }

    /// Writes a file the user asked for (a save, an export) atomically.
    pub fn write_user_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
        atomic::write_atomic(path, bytes).map_err(|e| e.to_string())
    }

    /// The text of `dir/name` (at most `limit` bytes); `None` when there is no such file.
    pub fn read_text(dir: &Path, name: &str, limit: u64) -> anyhow::Result<Option<String>> {
        let path = dir.join(name);
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(read_text_at_most(&path, limit)?))
    }
}

#[cfg(target_arch = "wasm32")]
mod local_storage {
    use super::{Path, PathBuf};
    use anyhow::{Context, anyhow};

    /// The key prefix of the work in the page's local storage.
    pub fn default_data_dir() -> Option<PathBuf> {
        Some(PathBuf::from("tilelab"))
    }

    fn storage() -> anyhow::Result<web_sys::Storage> {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .ok_or_else(|| anyhow!("this browser gives the page no local storage"))
    }

    fn key(dir: &Path, name: &str) -> String {
        format!("{}/{name}", dir.display())
    }

    /// Stores `text` under `dir/name` (fails when the browser's quota is used up).
    pub fn write_text(dir: &Path, name: &str, text: &str) -> anyhow::Result<()> {
        storage()?
            .set_item(&key(dir, name), text)
            .map_err(|_| anyhow!("the browser's storage is full ({} kB not kept)", text.len() / 1000))
    }

    /// A file the user asked for (a save, an export) becomes a download of the same name.
    pub fn write_user_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
        let name = path.file_name().map_or_else(|| "tilelab-file".into(), |n| n.to_string_lossy().into_owned());
        crate::app::web_files::download(&name, bytes)
    }

    /// The text stored under `dir/name` (at most `limit` bytes); `None` when nothing is.
    pub fn read_text(dir: &Path, name: &str, limit: u64) -> anyhow::Result<Option<String>> {
        let text = storage()?.get_item(&key(dir, name)).map_err(|_| anyhow!("the browser's storage is unreadable"))?;
        match text {
            Some(text) if text.len() as u64 > limit => {
                Err(anyhow!("{} bytes stored, more than {limit}", text.len())).context(key(dir, name))
            }
            text => Ok(text),
        }
    }
}
