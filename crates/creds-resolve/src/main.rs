//! `creds-resolve`: prints AWS credentials for the next tool in a pipe.

use anyhow::Context;
use clap::Parser;
use creds_resolve::env::EnvVars;
use creds_resolve::explain::{Report, print_stderr};
use creds_resolve::{Args, Error, Plan, exit_code, output};
use std::io::{ErrorKind, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // --help and --version are "errors" that go to stdout and succeed.
            let code = if err.use_stderr() {
                exit_code::USAGE
            } else {
                exit_code::SUCCESS
            };
            let _ = err.print();
            return ExitCode::from(code);
        }
    };
    init_tracing();

    let format = args.format;
    let mut report = Report::new(args.explain);
    let plan = match Plan::prepare(args, EnvVars::from_process(), &mut report) {
        Ok(plan) => plan,
        Err(err) => return fail(&err),
    };

    for (name, value) in plan.process_env_overrides() {
        // SAFETY: no other thread exists yet: the tokio runtime is built below and
        // nothing before this point spawns threads.
        unsafe { std::env::set_var(name, value) };
    }

    let result = match run(&plan, &mut report) {
        Ok(result) => result,
        Err(err) => {
            print_stderr(format_args!("creds-resolve: error: {err:#}"));
            return ExitCode::from(exit_code::SOURCE_FAILED);
        }
    };
    let creds = match result {
        Ok(creds) => creds,
        Err(err) => return fail(&err),
    };

    let text = output::render(&creds, format);
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::from(exit_code::SUCCESS),
        // The reader went away; nothing useful can be reported to it.
        Err(err) if err.kind() == ErrorKind::BrokenPipe => ExitCode::from(exit_code::SUCCESS),
        Err(err) => {
            print_stderr(format_args!(
                "creds-resolve: error: cannot write to stdout: {err}"
            ));
            ExitCode::from(exit_code::SOURCE_FAILED)
        }
    }
}

fn run(
    plan: &Plan,
    report: &mut Report,
) -> anyhow::Result<Result<creds_resolve::ResolvedCredentials, Error>> {
    // One thread is enough: the chain runs one provider at a time.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok(runtime.block_on(creds_resolve::resolve(plan, report)))
}

fn fail(err: &Error) -> ExitCode {
    print_stderr(format_args!("creds-resolve: error: {err}"));
    ExitCode::from(err.exit_code())
}

/// Logs go to stderr, filtered by CREDS_RESOLVE_LOG (default: errors only).
/// aws-config logs `credential_process` command lines at trace level, so trace
/// output may show secrets passed as command arguments.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CREDS_RESOLVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
