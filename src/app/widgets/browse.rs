//! The system file dialog ("Browse…" through `rfd`) on a helper thread: it blocks there, never the
//! UI; the path windows and the export window poll it each frame.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

use crate::core::clock::Instant;

/// A dialog that ends without a pick faster than a person can cancel was never shown.
const TOO_FAST_TO_CANCEL: Duration = Duration::from_millis(300);

/// Set once a dialog could not be shown (no portal, headless): the windows stop offering it.
static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

/// True once the system file dialog turned out to be unavailable in this session.
pub fn unavailable() -> bool {
    UNAVAILABLE.load(Ordering::Relaxed)
}

/// What the path windows say, once, when the system file dialog cannot be shown.
pub const UNAVAILABLE_NOTE: &str = "No system file dialog is available here: type the path (~ is your home folder).";

/// What the system file dialog asks for.
pub enum Pick {
    /// An existing file.
    File,
    /// A file to write, proposing this name.
    Save(String),
    /// A folder.
    Folder,
}

/// The dialog to configure (title, filters) before [`Browse::start`].
#[cfg(not(target_arch = "wasm32"))]
pub type Dialog = rfd::FileDialog;
/// The dialog to configure (title, filters) before [`Browse::start`].
#[cfg(target_arch = "wasm32")]
pub type Dialog = rfd::AsyncFileDialog;

/// The system file dialog, running on a helper thread: it blocks there, never the UI.
pub struct Browse(Receiver<Option<PathBuf>>, Instant);

impl Browse {
    /// A web page gets no file paths from the browser's picker (the web build reads bytes instead).
    #[cfg(target_arch = "wasm32")]
    pub fn start(_ctx: &egui::Context, _dialog: Dialog, _pick: Pick) -> std::io::Result<Self> {
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "a web page sees no file paths"))
    }

    /// Opens `dialog` for `pick` on a helper thread; `Err` when no thread could be started.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn start(ctx: &egui::Context, dialog: Dialog, pick: Pick) -> std::io::Result<Self> {
        let (sender, receiver) = std::sync::mpsc::channel();
        let ctx = ctx.clone();
        std::thread::Builder::new().name("tilelab file dialog".to_owned()).spawn(move || {
            let picked = match pick {
                Pick::File => dialog.pick_file(),
                Pick::Save(name) => dialog.set_file_name(name).save_file(),
                Pick::Folder => dialog.pick_folder(),
            };
            // The window asking may have been closed meanwhile: then nobody listens.
            let _ = sender.send(picked);
            ctx.request_repaint();
        })?;
        Ok(Self(receiver, Instant::now()))
    }

    /// `None` while the dialog is open; then the chosen path, or `Some(None)` when nothing was
    /// chosen (cancelled, or no system dialog available).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        let picked = match self.0.try_recv() {
            Ok(picked) => picked,
            Err(TryRecvError::Disconnected) => None,
            Err(TryRecvError::Empty) => return None,
        };
        if picked.is_none() && self.1.elapsed() < TOO_FAST_TO_CANCEL {
            UNAVAILABLE.store(true, Ordering::Relaxed);
        }
        Some(picked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browse_reports_the_pick_once_the_dialog_closed() {
        let (sender, receiver) = std::sync::mpsc::channel();
        let browse = Browse(receiver, Instant::now().checked_sub(TOO_FAST_TO_CANCEL).unwrap());
        assert_eq!(browse.poll(), None, "still open");
        sender.send(Some(PathBuf::from("/tmp/x.json"))).unwrap();
        assert_eq!(browse.poll(), Some(Some(PathBuf::from("/tmp/x.json"))));
        drop(sender);
        assert_eq!(browse.poll(), Some(None), "a dialog thread that ended without a pick");
    }
}
