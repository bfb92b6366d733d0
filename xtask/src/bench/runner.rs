//! Runs single commands, `&&` chains and two-process pipelines, and alternates tools over rounds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{self, ExitStatus, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::command::ToolCommand;
use super::measure::{ProcessUsage, RUN_TIMEOUT, Started, read_report, wait_for};
use super::results::{Run, ToolResult};
use super::stats::{format_kib, format_seconds};

/// Spawns commands with a throwaway `HOME` and keeps each command's stderr in `log_dir`.
#[derive(Debug)]
pub struct Runner {
    pub home: PathBuf,
    pub log_dir: PathBuf,
    /// bench-exec, which starts each command from a small process so that its peak RSS does
    /// not include xtask's. Without it, commands are spawned directly.
    pub launcher: Option<PathBuf>,
}

impl Runner {
    pub fn new(home: &Path, log_dir: &Path, launcher: Option<&Path>) -> Result<Runner> {
        fs::create_dir_all(log_dir)
            .with_context(|| format!("failed to create {}", log_dir.display()))?;
        Ok(Runner {
            home: home.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            launcher: launcher.map(Path::to_path_buf),
        })
    }

    /// Builds the command, through the launcher when there is one.
    fn prepare(&self, command: &ToolCommand, slot: usize) -> Result<process::Command> {
        let log = self.log_path(command, slot);
        match &self.launcher {
            Some(launcher) => {
                let report = self.report_path(command, slot);
                let _ = fs::remove_file(&report);
                command.to_command(&self.home, &log, Some((launcher, &report)))
            }
            None => command.to_command(&self.home, &log, None),
        }
    }

    /// Waits for a process started from `prepare` and returns the status and usage of the tool
    /// itself, read from the launcher's report when there is a launcher.
    fn reap(
        &self,
        command: &ToolCommand,
        slot: usize,
        child: process::Child,
        spawned_at: Instant,
    ) -> Result<(ExitStatus, ProcessUsage)> {
        let program = command.program_name();
        let (status, usage) = wait_for(Started::new(&program, child, spawned_at), RUN_TIMEOUT)
            .with_context(|| format!("failed to wait for {}", command.program.display()))?;
        if self.launcher.is_none() {
            return Ok((status, usage));
        }

        if !status.success() {
            bail!(
                "bench-exec failed to run {} ({status}){}",
                command.program.display(),
                stderr_tail(&self.log_path(command, slot))
            );
        }
        let report = self.report_path(command, slot);
        read_report(&report, &program)
            .with_context(|| format!("failed to read the usage of {}", command.program.display()))
    }

    /// Runs one command to completion and fails, showing its stderr, unless it exits with 0.
    pub fn run_single(&self, command: &ToolCommand) -> Result<Run> {
        self.run_sequence(std::slice::from_ref(command))
    }

    /// Runs the commands one after another as `a && b` would, stopping at the first failure.
    pub fn run_sequence(&self, commands: &[ToolCommand]) -> Result<Run> {
        let mut processes = Vec::new();
        for (slot, command) in commands.iter().enumerate() {
            let log = self.log_path(command, slot);
            let mut process = self.prepare(command, slot)?;
            let spawned_at = Instant::now();
            let child = process
                .spawn()
                .with_context(|| format!("failed to start {}", command.program.display()))?;

            let (status, usage) = self.reap(command, slot, child, spawned_at)?;
            if !status.success() {
                bail!(
                    "{} failed with {status}{}",
                    command.program.display(),
                    stderr_tail(&log)
                );
            }
            processes.push(usage);
        }
        Ok(Run::sequential(processes))
    }

    /// Runs `producer | consumer` and fails unless both exit with 0.
    pub fn run_pipeline(&self, producer: &ToolCommand, consumer: &ToolCommand) -> Result<Run> {
        let producer_log = self.log_path(producer, 0);
        let consumer_log = self.log_path(consumer, 1);
        let mut first = self.prepare(producer, 0)?;
        first.stdout(Stdio::piped());
        let mut second = self.prepare(consumer, 1)?;

        let spawned_at = Instant::now();
        let mut producer_child = first
            .spawn()
            .with_context(|| format!("failed to start {}", producer.program.display()))?;
        let pipe = producer_child
            .stdout
            .take()
            .context("producer has no stdout pipe")?;
        second.stdin(pipe);
        let consumer_spawned_at = Instant::now();
        let spawned = second.spawn();
        // `second` still owns the parent's copy of the pipe's read end. Closing it leaves the
        // consumer as the only reader, so the producer gets EPIPE if the consumer exits early
        // instead of blocking on a full pipe forever.
        drop(second);
        let consumer_child = match spawned {
            Ok(child) => child,
            Err(error) => {
                let _ = producer_child.kill();
                let _ = producer_child.wait();
                return Err(error)
                    .with_context(|| format!("failed to start {}", consumer.program.display()));
            }
        };

        // Both are reaped before any error is returned, so neither is left as a zombie.
        let producer_waited = self.reap(producer, 0, producer_child, spawned_at);
        let consumer_waited = self.reap(consumer, 1, consumer_child, consumer_spawned_at);
        let (producer_status, producer_usage) = producer_waited?;
        let (consumer_status, consumer_usage) = consumer_waited?;
        let wall_s = spawned_at.elapsed().as_secs_f64();

        // Both failures are reported, because a consumer that fails early makes the producer
        // fail too, with a broken pipe that hides the cause.
        let mut failures = Vec::new();
        for (command, status, log) in [
            (consumer, consumer_status, &consumer_log),
            (producer, producer_status, &producer_log),
        ] {
            if !status.success() {
                let program = command.program.display();
                failures.push(format!(
                    "{program} failed with {status}{}",
                    stderr_tail(log)
                ));
            }
        }
        if !failures.is_empty() {
            bail!("{}", failures.join("\n"));
        }
        Ok(Run::concurrent(
            wall_s,
            vec![producer_usage, consumer_usage],
        ))
    }

    /// Returns the stderr log of the command at position `slot` of a chain or pipeline; the
    /// position keeps two processes of the same program apart.
    fn log_path(&self, command: &ToolCommand, slot: usize) -> PathBuf {
        self.log_dir
            .join(format!("{slot}-{}.stderr", command.program_name()))
    }

    fn report_path(&self, command: &ToolCommand, slot: usize) -> PathBuf {
        self.log_dir
            .join(format!("{slot}-{}.rusage", command.program_name()))
    }
}

/// Returns the last lines of a stderr log, prefixed for appending to an error message.
fn stderr_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(15)..].join("\n");
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("; stderr ({}):\n{tail}", log.display())
    }
}

/// One tool in a comparison: its results so far and the closure that performs one run, including
/// checking the output. `C` is whatever each round prepares for all tools, such as a fresh server.
pub struct Contender<'a, C> {
    pub result: ToolResult,
    pub run_once: RunOnce<'a, C>,
}

/// Performs one measured run of one tool with the round's context.
pub type RunOnce<'a, C> = Box<dyn FnMut(&C) -> Result<Run> + 'a>;

impl<'a, C> Contender<'a, C> {
    pub fn new(
        tool: &str,
        command: String,
        run_once: impl FnMut(&C) -> Result<Run> + 'a,
    ) -> Contender<'a, C> {
        Contender {
            result: ToolResult::new(tool, command),
            run_once: Box::new(run_once),
        }
    }
}

/// Runs the contenders in turn (A B C A B C ...) for `rounds` rounds, so that slow drifts of the
/// machine (page cache, other load, server compaction) spread over all tools alike.
/// `prepare_round` runs before each round; an error from it, or a termination signal received
/// by xtask, ends the comparison.
///
/// A failed run is recorded and the tool is left out of later rounds, because a tool that failed
/// once would mostly repeat the same error and cost the same time again.
pub fn alternate<C>(
    label: &str,
    rounds: u32,
    mut prepare_round: impl FnMut(u32) -> Result<C>,
    contenders: Vec<Contender<'_, C>>,
) -> Result<Vec<ToolResult>> {
    let mut contenders = contenders;
    for round in 1..=rounds {
        let context = prepare_round(round)
            .with_context(|| format!("failed to prepare round {round} of {label}"))?;
        for contender in contenders.iter_mut() {
            if let Some(signal) = crate::signals::received() {
                bail!("interrupted by signal {signal} during {label}");
            }
            if !contender.result.failures.is_empty() {
                continue;
            }
            match (contender.run_once)(&context) {
                Ok(run) => {
                    eprintln!(
                        "bench: {label}, round {round}/{rounds}, {}: {} wall, {} CPU, {} peak RSS",
                        contender.result.tool,
                        format_seconds(run.wall_s),
                        format_seconds(run.cpu_s),
                        format_kib(run.max_rss_kib)
                    );
                    contender.result.push(run);
                }
                Err(error) => {
                    eprintln!(
                        "bench: {label}, round {round}/{rounds}, {} failed: {error:#}",
                        contender.result.tool
                    );
                    contender.result.failures.push(format!("{error:#}"));
                }
            }
        }
    }
    Ok(contenders.into_iter().map(|c| c.result).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns bench-exec from the target directory of this test binary. `cargo test` builds it
    /// first because the package has an integration test (tests/bench_exec.rs).
    fn launcher() -> Option<PathBuf> {
        let test_binary = std::env::current_exe().unwrap();
        let path = test_binary.parent()?.parent()?.join("bench-exec");
        assert!(
            path.is_file(),
            "{} is missing; run `cargo test -p xtask`",
            path.display()
        );
        Some(path)
    }

    #[test]
    fn launcher_keeps_xtask_rss_out() {
        let dir = tempfile::tempdir().unwrap();
        // Grows this process's RSS well beyond that of a small program.
        let ballast = vec![1u8; 64 * 1024 * 1024];
        std::hint::black_box(&ballast);
        let direct = Runner::new(dir.path(), &dir.path().join("direct"), None).unwrap();
        let launched = Runner::new(
            dir.path(),
            &dir.path().join("launched"),
            launcher().as_deref(),
        )
        .unwrap();
        let command = ToolCommand::new("true", &[]);

        let direct_rss = direct.run_single(&command).unwrap().max_rss_kib;
        let launched_rss = launched.run_single(&command).unwrap().max_rss_kib;

        assert!(
            direct_rss > 64 * 1024,
            "direct spawn should include the ballast: {direct_rss}"
        );
        assert!(
            launched_rss < 16 * 1024,
            "launched `true` peaked at {launched_rss} KiB"
        );
    }

    #[test]
    fn alternate_interleaves_and_skips_failed() {
        let order = std::cell::RefCell::new(Vec::new());
        let ok = |name: &'static str| {
            let order = &order;
            move |round: &u32| -> Result<Run> {
                order.borrow_mut().push(format!("{name}{round}"));
                Ok(Run::sequential(Vec::new()))
            }
        };
        let failing = |round: &u32| -> Result<Run> {
            order.borrow_mut().push(format!("c{round}"));
            bail!("broken")
        };
        let contenders = vec![
            Contender::new("a", "a".to_string(), ok("a")),
            Contender::new("b", "b".to_string(), ok("b")),
            Contender::new("c", "c".to_string(), failing),
        ];

        let results = alternate("test", 2, Ok, contenders).unwrap();

        assert_eq!(*order.borrow(), vec!["a1", "b1", "c1", "a2", "b2"]);
        assert_eq!(results[0].runs.len(), 2);
        assert_eq!(results[2].runs.len(), 0);
        assert_eq!(results[2].failures, vec!["broken".to_string()]);
    }

    #[test]
    fn pipeline_measures_both_processes() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out");
        let runner =
            Runner::new(dir.path(), &dir.path().join("logs"), launcher().as_deref()).unwrap();
        let producer = ToolCommand::new("sh", &["-c", "head -c 100000 /dev/zero"]);
        let consumer = ToolCommand::new("wc", &["-c"]).stdout(&output);

        let run = runner.run_pipeline(&producer, &consumer).unwrap();

        assert_eq!(run.processes.len(), 2);
        assert_eq!(fs::read_to_string(&output).unwrap().trim(), "100000");
        assert!(run.max_rss_kib >= run.processes[0].max_rss_kib);
    }

    #[test]
    fn pipeline_reports_consumer_failure() {
        let dir = tempfile::tempdir().unwrap();
        let runner =
            Runner::new(dir.path(), &dir.path().join("logs"), launcher().as_deref()).unwrap();
        let producer = ToolCommand::new("sh", &["-c", "head -c 10000000 /dev/zero"]);
        let consumer = ToolCommand::new("sh", &["-c", "echo 'access denied' >&2; exit 4"]);

        let error = runner.run_pipeline(&producer, &consumer).unwrap_err();

        let message = format!("{error:#}");
        assert!(message.contains("access denied"), "{message}");
        assert!(message.contains("exit status: 4"), "{message}");
    }

    #[test]
    fn sequence_reports_stderr_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let runner =
            Runner::new(dir.path(), &dir.path().join("logs"), launcher().as_deref()).unwrap();
        let failing = ToolCommand::new("sh", &["-c", "echo 'no such bucket' >&2; exit 1"]);

        let error = runner.run_sequence(&[failing]).unwrap_err();

        assert!(format!("{error:#}").contains("no such bucket"), "{error:#}");
    }
}
