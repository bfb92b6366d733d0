//! `bench-exec REPORT PROGRAM [ARGS...]`: runs PROGRAM and writes its resource usage to REPORT.
//!
//! `cargo xtask bench` starts every measured tool through this small launcher. Linux seeds a
//! new process's `ru_maxrss` with the peak RSS of the memory image it replaces at `execve`, and
//! a child spawned by xtask replaces (or shares, with `vfork`) an image the size of xtask
//! itself, about 25 MiB. Forked from this launcher instead, whose own peak RSS is about 1 MiB,
//! the tool's `ru_maxrss` reflects the tool.
//!
//! REPORT receives one line: wall nanoseconds from spawn to reap, user and system microseconds,
//! `ru_maxrss` in KiB, and the raw wait status. The launcher exits 0 once REPORT is written.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};
use std::time::Instant;

#[path = "reap.rs"]
mod reap;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-exec: {error}");
            ExitCode::from(125)
        }
    }
}

fn run() -> io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(report), Some(program)) = (args.next(), args.next()) else {
        return Err(io::Error::other(
            "usage: bench-exec REPORT PROGRAM [ARGS...]",
        ));
    };
    let rest: Vec<OsString> = args.collect();

    let mut command = Command::new(&program);
    command.args(&rest);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            // The tool dies with the launcher, so xtask's watchdog killing the launcher also
            // ends a hung tool.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }

    let spawned_at = Instant::now();
    let child = command.spawn().map_err(|error| {
        io::Error::other(format!(
            "failed to start {}: {error}",
            program.to_string_lossy()
        ))
    })?;
    // Only the tool keeps the launcher's stdin and stdout, so a pipe reaches EOF or EPIPE when
    // the tool exits rather than when the launcher does.
    // SAFETY: closing descriptors 0 and 1 of this process; nothing here reads or writes them.
    unsafe {
        libc::close(0);
        libc::close(1);
    }

    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("process id does not fit pid_t"))?;
    let (status, usage) = reap::reap(pid)?;
    let wall_ns = spawned_at.elapsed().as_nanos();

    let micros = |time: libc::timeval| time.tv_sec * 1_000_000 + time.tv_usec;
    let line = format!(
        "{wall_ns} {} {} {} {status}\n",
        micros(usage.ru_utime),
        micros(usage.ru_stime),
        usage.ru_maxrss
    );
    std::fs::write(&report, line)
}
