//! Where jobs run without threads (the web build): every job lives in a list on the UI thread,
//! and [`advance`], called by the page between frames, calls their steps round-robin for a time budget. A
//! `Work::Steps` job (training) thus interleaves with the frames; a `Work::Once` job runs as one
//! slice, whole, which is fine because those jobs are short (a forward pass, a build, an export).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use crate::core::clock::Instant;

use super::{JobShared, Step, StepWork, Work, finish};

/// One job as the runner sees it: its next step, and when it wants it.
struct Task {
    step: Box<dyn FnMut() -> Option<Duration>>,
    due: Instant,
}

thread_local! {
    /// The jobs started on this (the UI) thread and not finished yet.
    static TASKS: RefCell<Vec<Task>> = const { RefCell::new(Vec::new()) };
}

/// Queues `work`; its steps run in [`advance`] and its outcome is sent when it is done.
pub(super) fn run<T: 'static>(shared: Arc<JobShared>, work: Work<T>, sender: Sender<Result<T, String>>) {
    let mut step: StepWork<T> = work.into_steps();
    let task = move || match step(&shared) {
        Step::Continue => Some(Duration::ZERO),
        Step::Wait(pause) => Some(pause),
        Step::Done(outcome) => {
            finish(&shared, &sender, outcome);
            None
        }
    };
    TASKS.with(|tasks| tasks.borrow_mut().push(Task { step: Box::new(task), due: Instant::now() }));
}

/// Calls the steps of the jobs that are due, round-robin (each due job at least once), until
/// `budget` is spent or none is due; returns how long until the next job is due (`None`: no job left).
pub(super) fn advance(budget: Duration) -> Option<Duration> {
    let started = Instant::now();
    // Taken out of the list, so a step may start a job of its own.
    let mut tasks = TASKS.with(|tasks| std::mem::take(&mut *tasks.borrow_mut()));
    loop {
        let mut stepped = false;
        tasks.retain_mut(|task| {
            let now = Instant::now();
            if task.due > now {
                return true;
            }
            stepped = true;
            (task.step)().map(|pause| task.due = now + pause).is_some()
        });
        if !stepped || started.elapsed() >= budget {
            break;
        }
    }
    TASKS.with(|list| {
        let mut list = list.borrow_mut();
        let started_meanwhile = std::mem::take(&mut *list);
        *list = tasks;
        list.extend(started_meanwhile);
        let now = Instant::now();
        list.iter().map(|task| task.due.saturating_duration_since(now)).min()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::jobs::{Job, JobShared};
    use std::sync::mpsc::channel;

    /// A job started on this runner (not the target's own).
    fn start<T: 'static>(name: &str, work: Work<T>) -> Job<T> {
        let shared = Arc::new(JobShared::new(name, None));
        let (sender, result) = channel();
        run(Arc::clone(&shared), work, sender);
        Job { shared, result, started: Instant::now() }
    }

    #[test]
    fn jobs_run_to_completion_in_slices_on_the_calling_thread() {
        let mut count = 0;
        let mut counting = start(
            "count",
            Work::Steps(Box::new(move |shared: &JobShared| {
                count += 1;
                shared.set_progress(count as f32 / 50.0);
                match count {
                    10 => Step::Wait(Duration::from_millis(5)),
                    50 => Step::Done(Ok(count)),
                    _ => Step::Continue,
                }
            })),
        );
        let mut once = start("once", Work::Once(Box::new(|_: &JobShared| Ok("whole"))));
        assert!(counting.poll().is_none() && once.poll().is_none(), "nothing runs before advance");
        // A zero budget gives every due job one step per call.
        assert_eq!(advance(Duration::ZERO), Some(Duration::ZERO));
        assert!(once.poll() == Some(Ok("whole")) && counting.poll().is_none(), "a Once job is one slice");
        let mut calls = 1;
        loop {
            let next = advance(Duration::ZERO);
            calls += 1;
            let Some(next) = next else { break };
            assert!(next <= Duration::from_millis(5) && calls < 1000, "{next:?} after {calls} calls");
            std::thread::sleep(next);
        }
        assert_eq!((calls, counting.poll()), (50, Some(Ok(50))), "one step per call");
        assert!(counting.shared().is_finished() && (counting.shared().progress() - 1.0).abs() < 1e-6);
        assert_eq!(advance(Duration::from_millis(1)), None, "no job left");
    }
}
