//! Runs commands and reads the resource usage the kernel accounted to each finished process.
//!
//! Every process is reaped with `wait4(pid, ...)`, so its `rusage` covers that process plus the
//! descendants it waited for itself (Linux `getrusage(RUSAGE_BOTH)` semantics for a reaped
//! child). A Python wrapper that starts the real program with `subprocess.call` would therefore
//! report the sum of both CPU times and the larger of both peak RSS values. The bench runs the
//! real executables directly so that the numbers belong to the tool alone.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
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

/// Waits for the process with `wait4` and returns its exit status and usage.
///
/// The `Child` is consumed without calling `Child::wait`, since the process is already reaped and
/// a second wait would fail with `ECHILD`. Pipes still open in the caller are closed first, so a
/// process waiting for EOF on stdin can finish.
pub fn wait_for(started: Started) -> io::Result<(ExitStatus, ProcessUsage)> {
    let Started {
        program,
        mut child,
        spawned_at,
    } = started;
    drop(child.stdin.take());

    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other(format!("process id {} does not fit pid_t", child.id())))?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `status` and `usage` are valid, writable and live for the whole call.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
    let wall = spawned_at.elapsed();

    let usage = ProcessUsage {
        program,
        wall_s: wall.as_secs_f64(),
        user_s: timeval_seconds(usage.ru_utime),
        system_s: timeval_seconds(usage.ru_stime),
        max_rss_kib: u64::try_from(usage.ru_maxrss).unwrap_or(0),
    };
    Ok((ExitStatus::from_raw(status), usage))
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
        let (status, usage) = wait_for(Started::new("sh", child, Instant::now())).unwrap();

        assert!(status.success());
        assert!(usage.cpu_s() > 0.0, "no CPU time accounted: {usage:?}");
        assert!(usage.max_rss_kib > 0, "no peak RSS accounted: {usage:?}");
        assert!(usage.wall_s >= usage.user_s * 0.5);
    }

    #[test]
    fn wait_for_reports_failure_status() {
        let child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
        let (status, _) = wait_for(Started::new("sh", child, Instant::now())).unwrap();

        assert_eq!(status.code(), Some(3));
    }
}
