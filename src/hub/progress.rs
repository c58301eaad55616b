//! What a person sees while a model downloads: on a terminal, one line redrawn with the bytes,
//! the rate and the time left; otherwise (a service's log) a log line every few seconds. It
//! also keeps the size the hub announced, so that a download that ended short is caught before
//! anything takes it for the whole file.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a non-terminal download logs its progress.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How often the terminal line is redrawn.
const DRAW_EVERY: Duration = Duration::from_millis(200);

pub struct DownloadProgress {
    model: String,
    file: String,
    /// The size the hub announced, shared with the caller.
    expected: Arc<AtomicUsize>,
    done: usize,
    started: Instant,
    /// Bytes already on disk when this attempt began (a resumed download).
    resumed_from: usize,
    /// When the last line was drawn or logged (the start, before the first).
    last_report: Instant,
    terminal: bool,
    /// hf-hub reports the bytes already on disk right after each (re)start of a transfer.
    awaiting_offset: bool,
    attempts: usize,
}

impl DownloadProgress {
    /// `terminal`: draw a line on stderr (when it is one) instead of logging.
    pub fn new(model: &str, file: &str, terminal: bool, expected: Arc<AtomicUsize>) -> Self {
        Self {
            model: model.to_owned(),
            file: file.to_owned(),
            expected,
            done: 0,
            started: Instant::now(),
            resumed_from: 0,
            last_report: Instant::now(),
            terminal: terminal && std::io::stderr().is_terminal(),
            awaiting_offset: false,
            attempts: 0,
        }
    }

    fn report(&mut self, last: bool) {
        let now = Instant::now();
        let every = if self.terminal { DRAW_EVERY } else { LOG_EVERY };
        // A file done within the first interval reports only its last line.
        if !last && now - self.last_report < every {
            return;
        }
        self.last_report = now;
        let total = self.expected.load(Ordering::Relaxed);
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (self.done.saturating_sub(self.resumed_from)) as f64 / elapsed;
        let left = if rate > 0.0 {
            total.saturating_sub(self.done) as f64 / rate
        } else {
            f64::INFINITY
        };
        let mb = |bytes: usize| bytes as f64 / 1e6;
        if self.terminal {
            let mut stderr = std::io::stderr();
            let _ = write!(
                stderr,
                "\r{}: {:.1} / {:.1} MB, {:.1} MB/s, {} left   ",
                self.file,
                mb(self.done),
                mb(total),
                rate / 1e6,
                duration(left)
            );
            if last {
                let _ = writeln!(stderr);
            }
            let _ = stderr.flush();
        } else {
            tracing::info!(
                model = %self.model,
                file = %self.file,
                downloaded_bytes = self.done,
                total_bytes = total,
                mb_per_second = format!("{:.1}", rate / 1e6),
                seconds_left = if left.is_finite() { left.round() as u64 } else { 0 },
                "{}",
                if last { "downloaded" } else { "downloading" }
            );
        }
    }
}

fn duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "?".to_owned();
    }
    let seconds = seconds.round() as u64;
    match seconds {
        0..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, seconds % 3600 / 60),
    }
}

impl hf_hub::api::Progress for DownloadProgress {
    fn init(&mut self, size: usize, _filename: &str) {
        self.expected.store(size, Ordering::Relaxed);
        self.awaiting_offset = true;
    }

    fn update(&mut self, size: usize) {
        if self.awaiting_offset {
            self.awaiting_offset = false;
            self.done = size;
            self.attempts += 1;
            if self.attempts == 1 {
                self.resumed_from = size;
            }
            return;
        }
        self.done += size;
        self.report(false);
    }

    fn finish(&mut self) {
        self.report(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_would() {
        assert_eq!(duration(42.2), "42s");
        assert_eq!(duration(125.0), "2m05s");
        assert_eq!(duration(7300.0), "2h01m");
        assert_eq!(duration(f64::INFINITY), "?");
    }
}
