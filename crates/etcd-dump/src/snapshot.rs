//! One snapshot run: pick a member, stream, verify, complete the output.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcd_client::Client;
use tracing::{info, warn};

use crate::error::DumpError;
use crate::member::{self, Link, MemberStatus, explain};
use crate::output::Output;
use crate::pipe::Pipe;
use crate::progress::Progress;
use crate::select::{self, SelectError};
use crate::settings::Settings;
use crate::summary::{self, Summary};
use crate::trailer::{TrailerError, TrailerVerifier};

/// Time limit for a member's status reply after connecting, equal to
/// etcdctl's default --command-timeout.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);

/// etcd's default --grpc-keepalive-min-time. etcd replies to more frequent
/// pings with GOAWAY, which ends a snapshot whose reader has stalled.
const ETCD_MIN_PING_INTERVAL: Duration = Duration::from_secs(5);

/// Progress of the run, for the message of a --command-timeout.
#[derive(Debug, Default)]
struct Position {
    endpoint: Mutex<Option<String>>,
    received: AtomicU64,
}

/// Takes one snapshot as `settings` describe and returns its summary.
///
/// SIGINT and SIGTERM end the run with [`DumpError::Interrupted`]; dropping
/// the unfinished work removes a partly written `--output` file. Whatever
/// ends a run early also removes its `--summary` file, which may already
/// have been written when the last bytes failed to arrive.
pub async fn run(settings: &Settings) -> Result<Summary, DumpError> {
    let result = tokio::select! {
        result = run_with_deadline(settings) => result,
        error = interrupted() => Err(error),
    };
    if result.is_err()
        && let Some(path) = &settings.summary
        && let Err(cleanup) = summary::remove_stale(path)
    {
        warn!("{cleanup}");
    }
    result
}

/// Waits for SIGINT or SIGTERM; never completes if the handlers cannot be
/// installed, which leaves the default action (termination) in place.
async fn interrupted() -> DumpError {
    use tokio::signal::unix::{SignalKind, signal};

    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => DumpError::Interrupted { signal: "SIGINT", exit_code: 130 },
        _ = terminate.recv() => DumpError::Interrupted { signal: "SIGTERM", exit_code: 143 },
    }
}

async fn run_with_deadline(settings: &Settings) -> Result<Summary, DumpError> {
    let position = Arc::new(Position::default());
    let work = run_unbounded(settings, &position);
    let Some(limit) = settings.command_timeout else {
        return work.await;
    };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => {
            let endpoint = position
                .endpoint
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| settings.endpoints.join(","));
            Err(DumpError::Timeout {
                endpoint,
                received: position.received.load(Ordering::Relaxed),
                seconds: limit.as_secs_f64(),
            })
        }
    }
}

async fn run_unbounded(settings: &Settings, position: &Position) -> Result<Summary, DumpError> {
    if settings.keepalive_time < ETCD_MIN_PING_INTERVAL {
        warn!(
            "--keepalive-time {:?} is below etcd's default --grpc-keepalive-min-time of 5s; \
             etcd may close the connection while the reader of the snapshot is slow",
            settings.keepalive_time
        );
    }
    if let Some(path) = &settings.summary {
        summary::remove_stale(path)?;
    }
    let (output, file) = Output::open(&settings.output)?;

    let (mut client, member) = pick_member(settings).await?;
    if let Ok(mut endpoint) = position.endpoint.lock() {
        *endpoint = Some(member.endpoint.clone());
    }
    info!(
        "taking snapshot from {} (member {:x}, etcd {}, revision {})",
        member.endpoint, member.member_id, member.version, member.revision
    );
    for error in &member.errors {
        warn!("{} reports: {error}", member.endpoint);
    }

    let started_at = time::OffsetDateTime::now_utc();
    let endpoint = member.endpoint.clone();
    let mut link = Link::of(&endpoint, settings);
    let stream_error = |received: u64, message: String| DumpError::Stream {
        endpoint: endpoint.clone(),
        received,
        message,
    };
    let destination = output.describe();
    let output_error =
        |e: std::io::Error| DumpError::io(format!("cannot write snapshot to {destination}"), e);

    let mut stream = client
        .snapshot()
        .await
        .map_err(|e| stream_error(0, explain(&e, link)))?;
    let mut pipe = Pipe::spawn(file);
    let mut verifier = TrailerVerifier::new();
    let mut progress = Progress::new(!settings.quiet && std::io::stderr().is_terminal());
    let mut announced: Option<u64> = None;
    link.streaming = true;

    loop {
        let message = match stream.message().await {
            Ok(Some(message)) => message,
            Ok(None) => break,
            Err(e) => {
                progress.finish();
                return Err(stream_error(verifier.received(), explain(&e, link)));
            }
        };
        let blob = message.blob();
        if announced.is_none() {
            // remaining_bytes counts database bytes still to come after this
            // message, so the first message announces the database size.
            announced = Some(message.remaining_bytes() + blob.len() as u64);
        }

        let released = verifier.push(blob);
        pipe.write(released.head()).await.map_err(output_error)?;
        pipe.write(released.body()).await.map_err(output_error)?;
        position
            .received
            .store(verifier.received(), Ordering::Relaxed);
        progress.update(verifier.received());
    }
    progress.finish();

    let verification_error = |source: TrailerError| DumpError::Verification {
        endpoint: endpoint.clone(),
        received: verifier.received(),
        source,
    };
    let verified = verifier.finish().map_err(verification_error)?;
    // etcd 3.4 and 3.5 announce the database size without the trailer. A
    // server that counts the trailer too is accepted as well.
    if let Some(announced) = announced
        && announced != verified.db_size
        && announced != verified.stream_size()
    {
        return Err(verification_error(TrailerError::LengthMismatch {
            announced,
            db_size: verified.db_size,
        }));
    }

    let summary = Summary::new(
        &member,
        &verified,
        started_at,
        time::OffsetDateTime::now_utc(),
    );
    if let Some(path) = &settings.summary {
        summary::write(path, &summary)?;
    }

    // The trailer is released only now, so a consumer that checks it (or
    // etcdutl at restore time) rejects any output of a failed run.
    pipe.write(&verified.trailer).await.map_err(output_error)?;
    let file = pipe.finish().await.map_err(output_error)?;
    output.complete(file).await?;

    info!(
        "snapshot of {} bytes from {} verified (sha256 {})",
        summary.size, summary.endpoint, summary.sha256
    );
    Ok(summary)
}

/// Checks every endpoint at once and returns a client for the chosen one.
async fn pick_member(settings: &Settings) -> Result<(Client, MemberStatus), DumpError> {
    let probe_limit = settings.dial_timeout + STATUS_TIMEOUT;
    let probes = futures::future::join_all(settings.endpoints.iter().map(|endpoint| async move {
        match tokio::time::timeout(probe_limit, probe(endpoint, settings)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {}s", probe_limit.as_secs_f64())),
        }
    }))
    .await;

    let mut clients = Vec::with_capacity(probes.len());
    let mut statuses = Vec::with_capacity(probes.len());
    for probe in probes {
        match probe {
            Ok((client, status)) => {
                clients.push(Some(client));
                statuses.push(Ok(status));
            }
            Err(reason) => {
                clients.push(None);
                statuses.push(Err(reason));
            }
        }
    }

    let chosen = match select::choose(&settings.endpoints, &statuses) {
        Ok(index) => index,
        Err(SelectError::NoUsable(details)) => {
            return Err(DumpError::NoUsableMember {
                count: settings.endpoints.len(),
                details,
            });
        }
        Err(SelectError::ClusterMismatch(message)) => {
            return Err(DumpError::ClusterMismatch(message));
        }
    };

    for (endpoint, status) in settings.endpoints.iter().zip(&statuses) {
        match status {
            Err(reason) => warn!("skipping {endpoint}: {reason}"),
            Ok(status) => {
                if let Some(reason) = select::unsuitability(status) {
                    warn!("skipping {endpoint}: {reason}");
                }
            }
        }
    }

    match (clients.swap_remove(chosen), statuses.swap_remove(chosen)) {
        (Some(client), Ok(status)) => Ok((client, status)),
        _ => Err(DumpError::NoUsableMember {
            count: settings.endpoints.len(),
            details: "internal error: chosen member has no connection".to_owned(),
        }),
    }
}

async fn probe(endpoint: &str, settings: &Settings) -> Result<(Client, MemberStatus), String> {
    let mut client = member::connect(endpoint, settings).await?;
    let status = member::status(endpoint, &mut client, Link::of(endpoint, settings)).await?;
    Ok((client, status))
}
