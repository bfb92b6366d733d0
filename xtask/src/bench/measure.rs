//! Waits for processes and reads the resource usage the kernel accounted to each of them.
//!
//! Every process is reaped with `wait4(pid, ...)`, so its `rusage` covers that process plus the
//! descendants it waited for itself (Linux `getrusage(RUSAGE_BOTH)` semantics for a reaped
//! child). A Python wrapper that starts the real program with `subprocess.call` would therefore
//! report the sum of both CPU times and the larger of both peak RSS values, so the bench starts
//! the real executables. Tools are started through bench-exec, which reaps them the same way
//! and writes the numbers to a report file that `read_report` parses.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Resource usage of one finished process.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// Executable name, for telling the processes of a pipeline apart.
    pub program: String,
    /// Seconds from spawning this process until `wait4` returned for it.
    pub wall_s: f64,
    pub user_s: f64,
    pub system_s: f64,
    /// `ru_maxrss`, which Linux reports in KiB.
    pub max_rss_kib: u64,
}

impl ProcessUsage {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.system_s
    }
}

/// A child that `wait_for` reaps with `wait4`, keeping the time it was spawned.
#[derive(Debug)]
pub struct Started {
    program: String,
    child: Child,
    spawned_at: Instant,
}

impl Started {
    pub fn new(program: &str, child: Child, spawned_at: Instant) -> Started {
        Started {
            program: program.to_string(),
            child,
            spawned_at,
        }
    }
}

/// Maximum run time of one benchmarked process before it is killed. It is far above any expected
/// run (a 2 GiB upload took well under a minute on the 2-core bench machine), so it only ends a
/// hung tool.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Waits for the process with `wait4` and returns its exit status and usage, killing it with
/// SIGKILL and returning a `TimedOut` error once `timeout` has passed.
///
/// The `Child` is consumed without calling `Child::wait`, since the process is already reaped and
/// a second wait would fail with `ECHILD`. Pipes still open in the caller are closed first, so a
/// process waiting for EOF on stdin can finish.
pub fn wait_for(started: Started, timeout: Duration) -> io::Result<(ExitStatus, ProcessUsage)> {
    let Started {
        program,
        mut child,
        spawned_at,
    } = started;
    drop(child.stdin.take());

    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other(format!("process id {} does not fit pid_t", child.id())))?;
    let watchdog = Watchdog::arm(pid, timeout)?;
    let (status, usage) = super::reap::reap(pid)?;
    let wall = spawned_at.elapsed();
    if watchdog.disarm() {
        return Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "{program} timed out after {} s and was killed",
                timeout.as_secs()
            ),
        ));
    }

    let usage = ProcessUsage {
        program,
        wall_s: wall.as_secs_f64(),
        user_s: timeval_seconds(usage.ru_utime),
        system_s: timeval_seconds(usage.ru_stime),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    };
    Ok((ExitStatus::from_raw(status), usage))
}

/// Kills a process with SIGKILL unless disarmed before its deadline.
///
/// It signals through a pidfd, which keeps referring to the same process after it exits, so a
/// late signal can never reach an unrelated process that reused the pid.
struct Watchdog {
    cancel: mpsc::Sender<()>,
    thread: thread::JoinHandle<bool>,
}

impl Watchdog {
    fn arm(pid: libc::pid_t, timeout: Duration) -> io::Result<Watchdog> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let raw = libc::c_int::try_from(raw).map_err(|_| io::Error::last_os_error())?;
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor that this function just opened and nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };

        let (cancel, cancelled) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            if cancelled.recv_timeout(timeout) != Err(mpsc::RecvTimeoutError::Timeout) {
                return false;
            }
            // SAFETY: `pidfd` is open; a null siginfo and zero flags are valid arguments.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    pidfd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                );
            }
            true
        });
        Ok(Watchdog { cancel, thread })
    }

    /// Stops the watchdog and returns whether it had already killed the process.
    fn disarm(self) -> bool {
        let _ = self.cancel.send(());
        self.thread.join().unwrap_or(false)
    }
}

/// Reads the line bench-exec writes: wall nanoseconds, user and system microseconds, `ru_maxrss`
/// in KiB and the raw wait status.
pub fn read_report(path: &Path, program: &str) -> io::Result<(ExitStatus, ProcessUsage)> {
    let text = fs::read_to_string(path)?;
    parse_report(&text, program).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("invalid bench-exec report {}: {text:?}", path.display()),
        )
    })
}

fn parse_report(text: &str, program: &str) -> Option<(ExitStatus, ProcessUsage)> {
    let fields: Vec<i64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let [wall_ns, user_us, system_us, max_rss_kib, status] = fields[..] else {
        return None;
    };
    let usage = ProcessUsage {
        program: program.to_string(),
        wall_s: wall_ns as f64 / 1e9,
        user_s: user_us as f64 / 1e6,
        system_s: system_us as f64 / 1e6,
        max_rss_kib: u64::try_from(max_rss_kib).ok()?,
    };
    let status = ExitStatus::from_raw(libc::c_int::try_from(status).ok()?);
    Some((status, usage))
}

fn timeval_seconds(value: libc::timeval) -> f64 {
    let whole = Duration::from_secs(u64::try_from(value.tv_sec).unwrap_or(0));
    let micros = Duration::from_micros(u64::try_from(value.tv_usec).unwrap_or(0));
    (whole + micros).as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn wait_for_reports_cpu_and_rss() {
        // A shell loop burns some CPU time in the child itself.
        let child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (status, usage) =
            wait_for(Started::new("sh", child, Instant::now()), RUN_TIMEOUT).unwrap();

        assert!(status.success());
        assert!(usage.cpu_s() > 0.0, "no CPU time accounted: {usage:?}");
        assert!(usage.max_rss_kib > 0, "no peak RSS accounted: {usage:?}");
        assert!(usage.wall_s >= usage.user_s * 0.5);
    }

    #[test]
    fn report_line_parsed() {
        let (status, usage) = parse_report("1500000000 250000 125000 2048 256\n", "tool").unwrap();

        assert_eq!(status.code(), Some(1));
        assert_eq!(usage.wall_s, 1.5);
        assert_eq!(usage.user_s, 0.25);
        assert_eq!(usage.system_s, 0.125);
        assert_eq!(usage.max_rss_kib, 2048);
        assert_eq!(usage.program, "tool");
    }

    #[test]
    fn report_line_rejects_garbage() {
        assert!(parse_report("", "tool").is_none());
        assert!(parse_report("1 2 3 4", "tool").is_none());
        assert!(parse_report("1 2 x 4 0", "tool").is_none());
        assert!(parse_report("1 2 3 -4 0", "tool").is_none());
    }

    #[test]
    fn wait_for_kills_after_timeout() {
        let child = Command::new("sleep").arg("30").spawn().unwrap();
        let started = Instant::now();

        let error = wait_for(
            Started::new("sleep", child, started),
            Duration::from_millis(200),
        )
        .unwrap_err();

        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(error.to_string().contains("sleep timed out"), "{error}");
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn wait_for_reports_failure_status() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, _) = wait_for(Started::new("sh", child, Instant::now()), RUN_TIMEOUT).unwrap();

        assert_eq!(status.code(), Some(3));
    }
}
