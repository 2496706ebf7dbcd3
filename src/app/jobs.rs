//! Background work on named threads: progress, cancel flag, a result channel and a repaint
//! request from the worker. The UI thread only polls; it never does heavy work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, channel};
use std::time::Instant;

/// Shared between a job's worker and the UI: what the status line shows and the cancel button sets.
#[derive(Debug)]
pub struct JobShared {
    /// Name shown in the status line.
    pub name: String,
    /// Progress in millionths (`0..=1_000_000`), so an atomic integer can hold it.
    progress_millionths: AtomicU32,
    items_done: AtomicUsize,
    items_total: AtomicUsize,
    cancel: AtomicBool,
    finished: AtomicBool,
    ctx: Option<egui::Context>,
}

impl JobShared {
    /// Sets the progress in [0, 1] and asks the UI to repaint.
    pub fn set_progress(&self, fraction: f32) {
        let fraction = if fraction.is_nan() { 0.0 } else { fraction.clamp(0.0, 1.0) };
        self.progress_millionths.store((fraction * 1_000_000.0) as u32, Ordering::Relaxed);
        self.repaint();
    }

    /// The progress in [0, 1]: items done over the total when a total is set, else the last fraction set.
    pub fn progress(&self) -> f32 {
        let total = self.items_total.load(Ordering::Relaxed);
        if total > 0 {
            return (self.items_done.load(Ordering::Relaxed) as f32 / total as f32).min(1.0);
        }
        self.progress_millionths.load(Ordering::Relaxed) as f32 / 1_000_000.0
    }

    /// Declares how many items the job will count in [`Self::items_done`].
    pub fn set_total(&self, total: usize) {
        self.items_total.store(total, Ordering::Relaxed);
    }

    /// A counter the worker (or a core function) increments per finished item.
    pub fn items_done(&self) -> &AtomicUsize {
        &self.items_done
    }

    /// True once the user asked to stop; workers check it between steps.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The cancel flag itself, for core functions that take an `&AtomicBool`.
    pub fn cancel_flag(&self) -> &AtomicBool {
        &self.cancel
    }

    /// Asks the worker to stop.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// True once the worker has sent its result.
    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Relaxed)
    }

    fn repaint(&self) {
        if let Some(ctx) = &self.ctx {
            ctx.request_repaint();
        }
    }
}

/// A running or finished background job producing a `T` (or an error message).
pub struct Job<T> {
    shared: Arc<JobShared>,
    result: Receiver<Result<T, String>>,
    started: Instant,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` on a thread named after the job; `ctx` (if any) is repainted on progress and at the end.
    pub fn spawn(
        name: &str,
        ctx: Option<egui::Context>,
        work: impl FnOnce(&JobShared) -> Result<T, String> + Send + 'static,
    ) -> Self {
        let shared = Arc::new(JobShared {
            name: name.to_owned(),
            progress_millionths: AtomicU32::new(0),
            items_done: AtomicUsize::new(0),
            items_total: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            ctx,
        });
        let (sender, result) = channel();
        let worker_shared = Arc::clone(&shared);
        let spawned = std::thread::Builder::new().name(format!("tilelab {name}")).spawn(move || {
            // A panic in the work must reach the UI as an error, not kill it silently.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&worker_shared)))
                .unwrap_or_else(|_| Err("the background job crashed".to_owned()));
            worker_shared.finished.store(true, Ordering::Relaxed);
            // The receiver is gone when the app dropped the job: nothing left to tell.
            let _ = sender.send(outcome);
            worker_shared.repaint();
        });
        if let Err(error) = spawned {
            let (sender, receiver) = channel();
            let _ = sender.send(Err(format!("could not start a thread: {error}")));
            shared.finished.store(true, Ordering::Relaxed);
            return Self { shared, result: receiver, started: Instant::now() };
        }
        Self { shared, result, started: Instant::now() }
    }

    /// The result once the worker is done (`Some` exactly once), without blocking.
    pub fn poll(&mut self) -> Option<Result<T, String>> {
        match self.result.try_recv() {
            Ok(outcome) => Some(outcome),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Err("the background job ended without a result".to_owned())),
        }
    }

    /// What the status line shows and the cancel button uses.
    pub fn shared(&self) -> &Arc<JobShared> {
        &self.shared
    }

    /// Seconds since the job started.
    pub fn elapsed_seconds(&self) -> f32 {
        self.started.elapsed().as_secs_f32()
    }
}

/// The newest result of a background computation keyed by what it was computed from (a network
/// and an input): the last result, the job running, and the last failure, which is not retried
/// for the same key. One job at a time; a newer key starts once the running job is done.
pub struct Keyed<K, T> {
    done: Option<(K, Arc<T>)>,
    running: Option<(K, Job<T>)>,
    failed: Option<(K, String)>,
}

impl<K, T> Default for Keyed<K, T> {
    fn default() -> Self {
        Self { done: None, running: None, failed: None }
    }
}

impl<K: Copy + PartialEq, T: Send + 'static> Keyed<K, T> {
    /// Collects a finished job, then starts `spawn()` for `key` unless it is done, failed or a job runs.
    pub fn request(&mut self, key: K, spawn: impl FnOnce() -> Job<T>) {
        if let Some((job_key, job)) = &mut self.running
            && let Some(outcome) = job.poll()
        {
            match outcome {
                Ok(value) => self.done = Some((*job_key, Arc::new(value))),
                Err(error) => self.failed = Some((*job_key, error)),
            }
            self.running = None;
        }
        let have = self.done.as_ref().is_some_and(|(k, _)| *k == key);
        let failed = self.failed.as_ref().is_some_and(|(k, _)| *k == key);
        if !have && !failed && self.running.is_none() {
            self.running = Some((key, spawn()));
        }
    }

    /// The last result with its key.
    pub fn done(&self) -> Option<&(K, Arc<T>)> {
        self.done.as_ref()
    }

    /// The last failure with its key.
    pub fn failed(&self) -> Option<&(K, String)> {
        self.failed.as_ref()
    }

    /// Stops waiting for the running job (its thread finishes unobserved).
    pub fn abandon_running(&mut self) {
        self.running = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait<T: Send + 'static>(job: &mut Job<T>) -> Result<T, String> {
        for _ in 0..500 {
            if let Some(outcome) = job.poll() {
                return outcome;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("job did not finish in 5 s");
    }

    /// Requests `key` until a result or a failure for it is there.
    fn settle(keyed: &mut Keyed<u32, u32>, key: u32, spawns: &mut u32) {
        for _ in 0..500 {
            keyed.request(key, || {
                *spawns += 1;
                Job::spawn("square", None, move |_| if key == 0 { Err("zero".to_owned()) } else { Ok(key * key) })
            });
            if keyed.done().is_some_and(|(k, _)| *k == key) || keyed.failed().is_some_and(|(k, _)| *k == key) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("key {key} did not settle in 5 s");
    }

    #[test]
    fn keyed_results_start_once_per_key_and_failures_are_not_retried() {
        let (mut keyed, mut spawns) = (Keyed::default(), 0);
        settle(&mut keyed, 3, &mut spawns);
        assert_eq!(keyed.done().map(|(k, v)| (*k, **v)), Some((3, 9)));
        settle(&mut keyed, 3, &mut spawns);
        assert_eq!(spawns, 1, "a key that is done is not computed again");
        settle(&mut keyed, 0, &mut spawns);
        assert_eq!(keyed.failed().map(|(k, e)| (*k, e.as_str())), Some((0, "zero")));
        assert_eq!(keyed.done().map(|(k, _)| *k), Some(3), "the last result stays");
        settle(&mut keyed, 0, &mut spawns);
        assert_eq!(spawns, 2, "a failed key is not retried");
        settle(&mut keyed, 4, &mut spawns);
        assert_eq!((keyed.done().map(|(k, v)| (*k, **v)), spawns), (Some((4, 16)), 3));
    }

    #[test]
    fn job_reports_progress_and_result() {
        let mut job = Job::spawn("sum", None, |shared| {
            shared.set_progress(0.5);
            Ok((1..=10).sum::<u32>())
        });
        assert_eq!(wait(&mut job), Ok(55));
        assert!(job.shared().is_finished());
        assert!((job.shared().progress() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn counted_items_give_the_progress() {
        let mut job = Job::spawn("count", None, |shared| {
            shared.set_total(4);
            shared.items_done().fetch_add(3, Ordering::Relaxed);
            Ok(())
        });
        assert_eq!(wait(&mut job), Ok(()));
        assert!((job.shared().progress() - 0.75).abs() < 1e-6);
    }

    #[test]
    fn cancel_reaches_the_worker() {
        let mut job = Job::spawn("loop", None, |shared| {
            for step in 0..1000 {
                if shared.is_cancelled() {
                    return Err(format!("cancelled at step {step}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        });
        job.shared().cancel();
        assert!(wait(&mut job).unwrap_err().starts_with("cancelled"));
    }

    #[test]
    fn a_panicking_job_is_an_error() {
        let mut job: Job<()> = Job::spawn("boom", None, |_| panic!("deliberate"));
        assert_eq!(wait(&mut job), Err("the background job crashed".to_owned()));
    }
}
