//! One log line per finished training epoch (test accuracy, speed, and why the run stopped): the
//! web build's console shows it (the browser test reads it), as the desktop's log does with
//! `RUST_LOG=info`.

use super::training_job::Progress;

/// The last epoch logged, and whether the run had stopped then.
#[derive(Debug, Default)]
pub struct TrainingLog {
    last: Option<(usize, bool)>,
}

impl TrainingLog {
    /// Logs `progress` when its epoch moved on or the run stopped since the last line.
    pub fn note(&mut self, progress: &Progress) {
        let key = (progress.epoch, progress.stopped.is_some());
        if progress.epoch == 0 || self.last == Some(key) {
            return;
        }
        self.last = Some(key);
        log::info!("{}", line(progress));
    }
}

fn line(progress: &Progress) -> String {
    let accuracy = progress.test_accuracy().map_or_else(|| "n/a".to_owned(), |a| format!("{:.2}", a * 100.0));
    let stopped = progress.stopped.map(|s| format!(", {}", s.message())).unwrap_or_default();
    format!(
        "training epoch {}: test accuracy {accuracy} %, {:.0} samples/s{stopped}",
        progress.epoch, progress.samples_per_second
    )
}
