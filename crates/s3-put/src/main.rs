use std::io::{IsTerminal, Write};
use std::sync::Arc;

use clap::Parser;
use s3_put::cli::Args;
use s3_put::error::{EXIT_FAILED, Interrupt};
use s3_put::progress::{Progress, spawn_reporter};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use tracing_subscriber::EnvFilter;

fn main() {
    let args = Args::parse();
    init_logging(args.quiet);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!("cannot start the async runtime: {err}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let code = runtime.block_on(run(args));
    // Exit without waiting for the blocking stdin reader, which may still be
    // parked in read(2) after a failure.
    std::process::exit(code);
}

async fn run(args: Args) -> i32 {
    let interrupt = match watch_signals() {
        Ok(interrupt) => interrupt,
        Err(err) => {
            tracing::error!("cannot install signal handlers: {err}");
            return EXIT_FAILED;
        }
    };

    let progress = Arc::new(Progress::default());
    let reporter =
        (!args.quiet && std::io::stderr().is_terminal()).then(|| spawn_reporter(progress.clone()));

    let result = s3_put::app::execute(args, progress, interrupt).await;
    if let Some(reporter) = reporter {
        reporter.abort();
        eprintln!();
    }

    match result {
        Ok(outcome) => {
            let line = serde_json::to_string(&outcome).unwrap_or_default();
            // A closed stdout (for example `| head -c0`) is not an error: the object is stored.
            let _ = writeln!(std::io::stdout(), "{line}");
            tracing::info!(bucket = %outcome.bucket, key = %outcome.key, size = outcome.size, "object stored");
            0
        }
        Err(err) => {
            let err = anyhow::Error::new(err);
            let code = err
                .downcast_ref::<s3_put::error::PutError>()
                .map_or(EXIT_FAILED, |err| err.exit_code());
            tracing::error!("{err:#}");
            code
        }
    }
}

fn watch_signals() -> std::io::Result<watch::Receiver<Option<Interrupt>>> {
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (sender, receiver) = watch::channel(None);
    tokio::spawn(async move {
        let signal = tokio::select! {
            _ = sigint.recv() => Interrupt::Sigint,
            _ = sigterm.recv() => Interrupt::Sigterm,
        };
        tracing::warn!("received {signal}; aborting the upload");
        let _ = sender.send(Some(signal));
        // Keep the sender alive so receivers do not see a closed channel.
        std::future::pending::<()>().await;
    });
    Ok(receiver)
}

fn init_logging(quiet: bool) {
    let default = if quiet { "s3_put=warn" } else { "s3_put=info" };
    let filter = EnvFilter::try_from_env("S3_PUT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
