//! The one runner of background work. A job is either one call ([`Work::Once`]) or a state
//! machine stepped until done ([`Work::Steps`]); it reports progress and sees a cancel flag
//! through [`JobShared`], and its result arrives through [`Job::poll`]. The UI thread only polls.
//!
//! [`Keyed`] is the one "newest result for a key" on top of it (start once per key, no retry of a
//! failure, newest result wins, cancel, progress); the caches and views keep their results in it.
//!
//! Where a job runs is decided here, by target: [`native`] gives each job a thread; `sliced`
//! (the web build, which has no threads) advances every job in time slices on the UI thread,
//! when the page calls [`advance`] between frames (`app::web`). Views and caches never see the difference.

#[cfg(not(target_arch = "wasm32"))]
mod native;
#[cfg(any(test, target_arch = "wasm32"))]
mod sliced;

#[cfg(not(target_arch = "wasm32"))]
use native as runner;
#[cfg(target_arch = "wasm32")]
use sliced as runner;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, TryRecvError, channel};
use std::time::Duration;

use crate::core::clock::Instant;

/// Advances the jobs of a runner without threads for about `budget` (a no-op where jobs have
/// threads); returns when a job wants its next slice (`None`: no job is waiting for one).
pub fn advance(budget: Duration) -> Option<Duration> {
    runner::advance(budget)
}

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
    fn new(name: &str, ctx: Option<egui::Context>) -> Self {
        Self {
            name: name.to_owned(),
            progress_millionths: AtomicU32::new(0),
            items_done: AtomicUsize::new(0),
            items_total: AtomicUsize::new(0),
            cancel: AtomicBool::new(false),
            finished: AtomicBool::new(false),
            ctx,
        }
    }

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

/// One step of a steppable job: more to do, nothing to do for a while, or the result.
pub enum Step<T> {
    /// Call again.
    Continue,
    /// Nothing to do now (paused, or paced): call again after this long.
    Wait(Duration),
    /// Finished with this result.
    Done(Result<T, String>),
}

/// A job computed in one call.
pub type OnceWork<T> = Box<dyn FnOnce(&JobShared) -> Result<T, String> + Send>;
/// A job advanced one short step per call.
pub type StepWork<T> = Box<dyn FnMut(&JobShared) -> Step<T> + Send>;

/// What a job computes: one call, or steps until [`Step::Done`] (each step short, so a runner
/// without threads can interleave them with frames).
pub enum Work<T> {
    /// One call producing the result.
    Once(OnceWork<T>),
    /// A state machine advanced one step per call.
    Steps(StepWork<T>),
}

impl<T: 'static> Work<T> {
    /// The work as steps; a [`Work::Once`] is one step.
    fn into_steps(self) -> StepWork<T> {
        match self {
            Self::Once(work) => {
                let mut work = Some(work);
                Box::new(move |shared| match work.take() {
                    Some(work) => Step::Done(work(shared)),
                    None => Step::Done(Err("the job ran twice".to_owned())),
                })
            }
            Self::Steps(step) => step,
        }
    }
}

/// Marks the job finished, hands its outcome to the UI and asks for a repaint.
fn finish<T>(shared: &JobShared, sender: &Sender<Result<T, String>>, outcome: Result<T, String>) {
    shared.finished.store(true, Ordering::Relaxed);
    // The receiver is gone when the app dropped the job: nothing left to tell.
    let _ = sender.send(outcome);
    shared.repaint();
}

/// A running or finished background job producing a `T` (or an error message).
pub struct Job<T> {
    shared: Arc<JobShared>,
    result: Receiver<Result<T, String>>,
    started: Instant,
}

impl<T: Send + 'static> Job<T> {
    /// Starts `work` as one call; `ctx` (if any) is repainted on progress and at the end.
    pub fn spawn(
        name: &str,
        ctx: Option<egui::Context>,
        work: impl FnOnce(&JobShared) -> Result<T, String> + Send + 'static,
    ) -> Self {
        Self::start(name, ctx, Work::Once(Box::new(work)))
    }

    /// Starts `work` on the runner.
    pub fn start(name: &str, ctx: Option<egui::Context>, work: Work<T>) -> Self {
        let shared = Arc::new(JobShared::new(name, ctx));
        let (sender, result) = channel();
        runner::run(Arc::clone(&shared), work, sender);
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

/// The newest result of a background computation keyed by what it was computed from: the last
/// result, the job running, and the last failure, which is not retried for the same key. One job
/// at a time; a newer key starts once the running job is done, and its result replaces the last.
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

/// What [`Keyed::poll`] collected.
pub enum Finished<'a, K, T> {
    /// A result for this key.
    Done(&'a K, &'a Arc<T>, f32),
    /// A failure for this key (or a cancelled job).
    Failed(&'a K, &'a str),
}

impl<K: Clone + PartialEq, T: Send + 'static> Keyed<K, T> {
    /// Collects a finished job (a success clears the last failure); reports what finished.
    pub fn poll(&mut self) -> Option<Finished<'_, K, T>> {
        let (_, job) = self.running.as_mut()?;
        let outcome = job.poll()?;
        let seconds = job.elapsed_seconds();
        let (key, _) = self.running.take()?;
        match outcome {
            Ok(value) => {
                self.failed = None;
                let (key, value) = self.done.insert((key, Arc::new(value)));
                Some(Finished::Done(key, value, seconds))
            }
            Err(error) => {
                let (key, error) = self.failed.insert((key, error));
                Some(Finished::Failed(key, error))
            }
        }
    }

    /// True when nothing for `key` is done, running or failed, and no other job runs.
    pub fn needs(&self, key: &K) -> bool {
        self.running.is_none()
            && self.done.as_ref().is_none_or(|(k, _)| k != key)
            && self.failed.as_ref().is_none_or(|(k, _)| k != key)
    }

    /// Runs `job` for `key` (the caller checked [`Self::needs`]).
    pub fn start(&mut self, key: K, job: Job<T>) {
        self.running = Some((key, job));
    }

    /// Collects a finished job, then starts `spawn()` for `key` when [`Self::needs`] it.
    pub fn request(&mut self, key: K, spawn: impl FnOnce() -> Job<T>) {
        self.poll();
        if self.needs(&key) {
            self.start(key, spawn());
        }
    }

    /// Records a failure for `key` that happened before any job could start.
    pub fn fail(&mut self, key: K, error: String) {
        self.failed = Some((key, error));
    }

    /// The last result with its key.
    pub fn done(&self) -> Option<&(K, Arc<T>)> {
        self.done.as_ref()
    }

    /// The result computed for exactly `key`.
    pub fn get(&self, key: &K) -> Option<Arc<T>> {
        self.done.as_ref().filter(|(k, _)| k == key).map(|(_, v)| Arc::clone(v))
    }

    /// The newest result whose key satisfies `accept` (e.g. the same network, an older input).
    pub fn latest(&self, accept: impl Fn(&K) -> bool) -> Option<Arc<T>> {
        self.done.as_ref().filter(|(k, _)| accept(k)).map(|(_, v)| Arc::clone(v))
    }

    /// The last failure with its key.
    pub fn failed(&self) -> Option<&(K, String)> {
        self.failed.as_ref()
    }

    /// Why computing for exactly `key` failed.
    pub fn error(&self, key: &K) -> Option<&str> {
        self.failed.as_ref().filter(|(k, _)| k == key).map(|(_, e)| e.as_str())
    }

    /// The running job with its key (progress, cancel).
    pub fn running(&self) -> Option<&(K, Job<T>)> {
        self.running.as_ref()
    }

    /// True while a job runs.
    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Asks the running job to stop; it ends as a failure of its key, which is not retried.
    pub fn cancel(&self) {
        if let Some((_, job)) = &self.running {
            job.shared().cancel();
        }
    }

    /// Stops waiting for the running job (it finishes unobserved).
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
    fn a_cancelled_keyed_job_fails_its_key_and_a_success_clears_the_failure() {
        let mut keyed: Keyed<u32, u32> = Keyed::default();
        keyed.start(
            1,
            Job::spawn("loop", None, |shared| {
                while !shared.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err("cancelled".to_owned())
            }),
        );
        assert!(keyed.is_running() && !keyed.needs(&2), "one job at a time");
        keyed.cancel();
        let mut spawns = 0;
        settle(&mut keyed, 1, &mut spawns);
        assert_eq!((keyed.error(&1), spawns), (Some("cancelled"), 0), "a cancelled key is not retried");
        settle(&mut keyed, 5, &mut spawns);
        assert_eq!((keyed.get(&5).map(|v| *v), keyed.failed().is_none()), (Some(25), true));
        assert_eq!(keyed.latest(|k| *k > 4).map(|v| *v), Some(25));
        assert!(keyed.latest(|k| *k > 5).is_none());
    }

    #[test]
    fn steppable_work_runs_step_by_step_to_its_result() {
        let mut count = 0;
        let work = Work::Steps(Box::new(move |shared: &JobShared| {
            count += 1;
            shared.set_progress(count as f32 / 4.0);
            if count == 4 { Step::Done(Ok(count)) } else { Step::Continue }
        }));
        let mut job = Job::start("steps", None, work);
        assert_eq!(wait(&mut job), Ok(4));
        assert!((job.shared().progress() - 1.0).abs() < 1e-6);
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
