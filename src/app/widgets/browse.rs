//! The system file dialog ("Browse…" through `rfd`) on a helper thread: it blocks there, never the
//! UI; the path windows and the export window poll it each frame.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError, channel};

/// What the system file dialog asks for.
pub enum Pick {
    /// An existing file.
    File,
    /// A file to write, proposing this name.
    Save(String),
    /// A folder.
    Folder,
}

/// The system file dialog, running on a helper thread: it blocks there, never the UI.
pub struct Browse(Receiver<Option<PathBuf>>);

impl Browse {
    /// Opens `dialog` for `pick` on a helper thread; `Err` when no thread could be started.
    pub fn start(ctx: &egui::Context, dialog: rfd::FileDialog, pick: Pick) -> std::io::Result<Self> {
        let (sender, receiver) = channel();
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
        Ok(Self(receiver))
    }

    /// `None` while the dialog is open; then the chosen path, or `Some(None)` when nothing was
    /// chosen (cancelled, or no system dialog available).
    pub fn poll(&self) -> Option<Option<PathBuf>> {
        match self.0.try_recv() {
            Ok(picked) => Some(picked),
            Err(TryRecvError::Disconnected) => Some(None),
            Err(TryRecvError::Empty) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_browse_reports_the_pick_once_the_dialog_closed() {
        let (sender, receiver) = channel();
        let browse = Browse(receiver);
        assert_eq!(browse.poll(), None, "still open");
        sender.send(Some(PathBuf::from("/tmp/x.json"))).unwrap();
        assert_eq!(browse.poll(), Some(Some(PathBuf::from("/tmp/x.json"))));
        drop(sender);
        assert_eq!(browse.poll(), Some(None), "a dialog thread that ended without a pick");
    }
}
