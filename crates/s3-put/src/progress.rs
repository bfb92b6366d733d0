//! Byte counters and the progress line on a terminal.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Counters shared by the reader and the part uploads.
#[derive(Debug, Default)]
pub struct Progress {
    read: AtomicU64,
    uploaded: AtomicU64,
}

impl Progress {
    pub fn add_read(&self, bytes: u64) {
        self.read.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn add_uploaded(&self, bytes: u64) {
        self.uploaded.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Prints a progress line to stderr once a second until the task is aborted.
pub fn spawn_reporter(progress: Arc<Progress>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let start = Instant::now();
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let read = progress.read.load(Ordering::Relaxed);
            let uploaded = progress.uploaded.load(Ordering::Relaxed);
            let rate = uploaded as f64 / start.elapsed().as_secs_f64().max(0.001);
            let _ = write!(
                std::io::stderr(),
                "\r\x1b[Kread {:.1} MiB, uploaded {:.1} MiB, {:.1} MiB/s",
                mib(read),
                mib(uploaded),
                rate / 1_048_576.0
            );
        }
    })
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}
