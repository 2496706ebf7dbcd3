//! Where jobs run on a desktop: one named thread per job, calling its steps until it is done. The
//! only module of the app that knows about threads (the web build uses `sliced` instead).

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use super::{JobShared, Step, Work, finish};

/// Runs `work` on a new thread and sends its outcome (a panic or a failed start is an error).
pub(super) fn run<T: Send + 'static>(shared: Arc<JobShared>, work: Work<T>, sender: Sender<Result<T, String>>) {
    let worker_shared = Arc::clone(&shared);
    let worker_sender = sender.clone();
    let spawned = std::thread::Builder::new().name(format!("tilelab {}", shared.name)).spawn(move || {
        // A panic in the work must reach the UI as an error, not kill it silently.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_to_end(work, &worker_shared)))
            .unwrap_or_else(|_| Err("the background job crashed".to_owned()));
        finish(&worker_shared, &worker_sender, outcome);
    });
    if let Err(error) = spawned {
        finish(&shared, &sender, Err(format!("could not start a thread: {error}")));
    }
}

/// Calls the work's steps until it is done, sleeping through its waits.
fn run_to_end<T: 'static>(work: Work<T>, shared: &JobShared) -> Result<T, String> {
    let mut step = work.into_steps();
    loop {
        match step(shared) {
            Step::Continue => {}
            Step::Wait(pause) => std::thread::sleep(pause),
            Step::Done(outcome) => return outcome,
        }
    }
}

/// Jobs have threads of their own here: nothing to advance.
#[allow(clippy::unnecessary_wraps)]
pub(super) fn advance(_budget: Duration) -> Option<Duration> {
    None
}
