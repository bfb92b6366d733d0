//! Running child commands with a clear report of what ran and how long it took.

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::signals;

/// Phase names and durations, printed as a summary at the end of `cargo xtask test`.
#[derive(Debug, Default)]
pub struct Timings {
    phases: Vec<(String, Duration)>,
}

impl Timings {
    /// Runs `step`, records its duration under `name` and returns its result.
    pub fn phase<T>(
        &mut self,
        name: &str,
        step: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        if let Some(signal) = signals::received() {
            bail!("interrupted by signal {signal} before {name}");
        }
        eprintln!("xtask: == {name}");
        let started = Instant::now();
        let result = step();
        let elapsed = started.elapsed();
        self.phases.push((name.to_string(), elapsed));
        eprintln!(
            "xtask: == {name}: {} in {:.1} s",
            if result.is_ok() { "ok" } else { "FAILED" },
            elapsed.as_secs_f64()
        );
        result
    }

    pub fn print_summary(&self) {
        eprintln!("xtask: phase timings:");
        let total: Duration = self.phases.iter().map(|(_, duration)| *duration).sum();
        for (name, duration) in &self.phases {
            eprintln!("  {:>7.1} s  {name}", duration.as_secs_f64());
        }
        eprintln!("  {:>7.1} s  total", total.as_secs_f64());
    }
}

/// Prints `usage` on stdout and exits 0, for `-h` and `--help`.
pub fn exit_with_usage(usage: &str) -> ! {
    println!("{usage}");
    std::process::exit(0)
}

/// Returns the cargo that runs xtask, so nested calls use the same toolchain.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command` in xtask's process group, so a Ctrl-C from the terminal reaches it directly,
/// and fails unless it exits with status 0. A termination signal sent to xtask alone kills it.
pub fn run_checked(mut command: Command) -> anyhow::Result<()> {
    let description = describe(&command);
    eprintln!("xtask: $ {description}");
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot run {description}"))?;
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for child")? {
            return check_status(&description, status);
        }
        if let Some(signal) = signals::received() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("interrupted by signal {signal}; stopped {description}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for a child started with `e2e_tests::spawn_guarded` (its own process group), killing
/// the group when xtask receives a termination signal or `timeout` passes.
pub fn wait_guarded(
    mut child: std::process::Child,
    description: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for child")? {
            return check_status(description, status);
        }
        let stop_reason = match signals::received() {
            Some(signal) => Some(format!("interrupted by signal {signal}")),
            None if Instant::now() >= deadline => Some(format!("timed out after {timeout:?}")),
            None => None,
        };
        if let Some(reason) = stop_reason {
            // SAFETY: plain syscall on our own child's process group.
            unsafe {
                libc::killpg(child.id() as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.wait();
            bail!("{reason}; killed {description}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn check_status(description: &str, status: ExitStatus) -> anyhow::Result<()> {
    if status.success() {
        Ok(())
    } else {
        bail!("{description} failed with {status}")
    }
}

pub fn describe(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(
        command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned()),
    );
    parts.join(" ")
}
