//! SIGINT/SIGTERM/SIGHUP handling, so xtask can stop the processes it started before exiting.

use std::sync::atomic::{AtomicI32, Ordering};

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record_signal(signal: libc::c_int) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Replaces the default action (exit) of SIGINT, SIGTERM and SIGHUP with a flag that
/// [`received`] reads.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(signal, record_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Returns the number of the last termination signal received, if any.
pub fn received() -> Option<i32> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        signal => Some(signal),
    }
}
