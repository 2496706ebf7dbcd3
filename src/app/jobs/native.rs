//! Where jobs run on a desktop: one named thread per job. This is the seam a target without
//! threads replaces (stepping `Work::Steps` for a time budget each frame, `Work::Once` in one go).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Sender;

use super::{JobShared, Work};

/// Runs `work` on a new thread and sends its outcome (a panic or a failed start is an error).
pub(super) fn run<T: Send + 'static>(shared: Arc<JobShared>, work: Work<T>, sender: Sender<Result<T, String>>) {
    let worker_shared = Arc::clone(&shared);
    let worker_sender = sender.clone();
    let spawned = std::thread::Builder::new().name(format!("tilelab {}", shared.name)).spawn(move || {
        // A panic in the work must reach the UI as an error, not kill it silently.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.run_to_end(&worker_shared)))
            .unwrap_or_else(|_| Err("the background job crashed".to_owned()));
        finish(&worker_shared, &worker_sender, outcome);
    });
    if let Err(error) = spawned {
        finish(&shared, &sender, Err(format!("could not start a thread: {error}")));
    }
}

fn finish<T>(shared: &JobShared, sender: &Sender<Result<T, String>>, outcome: Result<T, String>) {
    shared.finished.store(true, Ordering::Relaxed);
    // The receiver is gone when the app dropped the job: nothing left to tell.
    let _ = sender.send(outcome);
    shared.repaint();
}
