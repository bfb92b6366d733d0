//! `cargo xtask test`: every check the project has, ending with the end-to-end suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use e2e_tests::{RUN_ID_ENV, target_dir, workspace_root};

use crate::orphans;
use crate::run::{Timings, cargo, describe, run_checked, wait_guarded};
use crate::signals;

/// Default parallelism of the e2e binary. The servers mostly wait on I/O, so this exceeds the
/// two cores CI has; override with E2E_TEST_THREADS.
const DEFAULT_TEST_THREADS: &str = "4";

/// Default limit for the whole e2e suite, so a hung test fails the run instead of using up a CI
/// job's time. The suite took about two minutes on a two-core machine; override with
/// E2E_SUITE_TIMEOUT_SECS.
const DEFAULT_SUITE_TIMEOUT_SECS: u64 = 30 * 60;

struct Options {
    e2e_only: bool,
    test_args: Vec<String>,
}

const USAGE: &str = "usage: cargo xtask test [--e2e-only] [-- TEST-ARGS]";

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        e2e_only: false,
        test_args: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--e2e-only" => options.e2e_only = true,
            "--" => {
                options.test_args = args.cloned().collect();
                break;
            }
            "-h" | "--help" => crate::run::exit_with_usage(USAGE),
            other => bail!("unknown option {other:?}; {USAGE}"),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    signals::install();
    let mut timings = Timings::default();
    let result = run_phases(&options, &mut timings);
    timings.print_summary();
    result
}

fn run_phases(options: &Options, timings: &mut Timings) -> anyhow::Result<()> {
    if !options.e2e_only {
        timings.phase("formatting (cargo fmt --check)", || {
            let mut command = cargo();
            command.args(["fmt", "--all", "--", "--check"]);
            run_checked(command)
        })?;
        timings.phase("clippy", || {
            let mut command = cargo();
            command.args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]);
            run_checked(command)
        })?;
        timings.phase("unit tests", || {
            let mut command = cargo();
            command.arg("test");
            run_checked(command)?;
            // The harness library's own unit tests; its e2e binary runs below.
            let mut command = cargo();
            command.args(["test", "-p", "e2e-tests", "--lib"]);
            run_checked(command)
        })?;
    }

    timings.phase("install servers (cargo xtask install)", || {
        crate::install::run(&[]).map(|_| ())
    })?;
    let suite = timings.phase("build tools and the e2e binary", || {
        let mut command = cargo();
        command.args(["build", "--workspace", "--bins"]);
        run_checked(command)?;
        build_e2e_binary()
    })?;

    let run_id = format!("{}-{}", std::process::id(), unix_seconds());
    let suite_result = timings.phase("end-to-end suite", || {
        run_suite(&suite, &options.test_args, &run_id)
    });
    let orphan_result = timings.phase("check for surviving servers", || {
        orphans::check(&run_id, &target_dir())
    });
    suite_result?;
    orphan_result
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Builds the e2e test binary and returns its path from cargo's JSON messages.
fn build_e2e_binary() -> anyhow::Result<PathBuf> {
    let mut command = cargo();
    command
        .args(["test", "-p", "e2e-tests", "--test", "e2e", "--no-run"])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    eprintln!("xtask: $ {}", describe(&command));
    let output = command.output().context("cannot run cargo test --no-run")?;
    if !output.status.success() {
        bail!("building the e2e test binary failed with {}", output.status);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let is_e2e = message["reason"] == "compiler-artifact" && message["target"]["name"] == "e2e";
        if let (true, Some(executable)) = (is_e2e, message["executable"].as_str()) {
            return Ok(PathBuf::from(executable));
        }
    }
    bail!("cargo did not report the e2e test executable")
}

/// Returns the `ip` binary when `unshare -n` can create a network namespace with loopback up.
fn network_namespace_ip() -> Option<PathBuf> {
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .map(PathBuf::from)
        .find(|path| path.exists())?;
    let status = Command::new("unshare")
        .args(["-n", "--"])
        .arg(&ip)
        .args(["link", "set", "lo", "up"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(ip)
}

fn run_suite(binary: &Path, test_args: &[String], run_id: &str) -> anyhow::Result<()> {
    let home = target_dir().join("e2e-tmp").join("home");
    std::fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let threads = std::env::var("E2E_TEST_THREADS").unwrap_or_else(|_| DEFAULT_TEST_THREADS.into());

    let mut command = match network_namespace_ip() {
        Some(ip) => {
            eprintln!("xtask: running the e2e suite in a private network namespace (unshare -n)");
            let mut command = Command::new("unshare");
            command
                .args([
                    "-n",
                    "--",
                    "sh",
                    "-c",
                    r#""$0" link set lo up && shift && exec "$@""#,
                ])
                .arg(ip)
                .arg("e2e")
                .arg(binary);
            command
        }
        None => {
            eprintln!(
                "xtask: warning: `unshare -n` is not available (it needs root or user \
                 namespaces, plus `ip`), so the e2e suite runs in the host network namespace"
            );
            Command::new(binary)
        }
    };
    command
        .arg(format!("--test-threads={threads}"))
        .args(test_args)
        .current_dir(workspace_root().join("tests"))
        .env(RUN_ID_ENV, run_id)
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_BACKTRACE", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") && name != "AWS_EC2_METADATA_DISABLED" {
            command.env_remove(&name);
        }
    }

    let description = describe(&command);
    eprintln!("xtask: $ {description}");
    let child =
        e2e_tests::spawn_guarded(command).with_context(|| format!("cannot start {description}"))?;
    wait_guarded(child, "the e2e suite", suite_timeout()?)
}

fn suite_timeout() -> anyhow::Result<Duration> {
    let seconds = match std::env::var("E2E_SUITE_TIMEOUT_SECS") {
        Ok(text) => text.parse::<u64>().with_context(|| {
            format!("invalid E2E_SUITE_TIMEOUT_SECS {text:?}: expected a number of seconds")
        })?,
        Err(_) => DEFAULT_SUITE_TIMEOUT_SECS,
    };
    Ok(Duration::from_secs(seconds))
}
