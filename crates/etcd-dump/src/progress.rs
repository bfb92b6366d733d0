//! Transfer progress on stderr, for people watching a terminal.

use std::io::Write;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_secs(1);
const MIB: f64 = 1024.0 * 1024.0;

/// Prints bytes received and the mean rate at most once per second.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    started: Instant,
    last_print: Instant,
    printed: bool,
}

impl Progress {
    pub fn new(enabled: bool) -> Self {
        let now = Instant::now();
        Progress {
            enabled,
            started: now,
            last_print: now,
            printed: false,
        }
    }

    /// Records that `received` bytes have arrived so far.
    pub fn update(&mut self, received: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last_print) < INTERVAL {
            return;
        }
        self.last_print = now;
        self.printed = true;
        let line = format_line(received, now.duration_since(self.started));
        let mut stderr = std::io::stderr().lock();
        // A failed progress write must not stop the snapshot.
        let _ = write!(stderr, "\r{line}\x1b[K");
        let _ = stderr.flush();
    }

    /// Ends the progress line so later messages start on a new line.
    pub fn finish(&mut self) {
        if self.enabled && self.printed {
            let _ = writeln!(std::io::stderr());
            self.printed = false;
        }
    }
}

fn format_line(received: u64, elapsed: Duration) -> String {
    let mib = received as f64 / MIB;
    let seconds = elapsed.as_secs_f64().max(1e-3);
    format!("{mib:.1} MiB received, {:.1} MiB/s", mib / seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_size_and_rate() {
        assert_eq!(
            format_line(10 * 1024 * 1024, Duration::from_secs(4)),
            "10.0 MiB received, 2.5 MiB/s"
        );
    }
}
