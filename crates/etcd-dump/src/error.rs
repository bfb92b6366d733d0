//! Errors of the snapshot run and the exit code each one maps to.

use std::path::PathBuf;

use crate::trailer::TrailerError;

/// Exit status of a run that wrote a verified snapshot.
pub const EXIT_OK: i32 = 0;
/// Exit status when the snapshot could not be taken or written.
pub const EXIT_FAILED: i32 = 1;
/// Exit status for invalid flags, environment or local files.
pub const EXIT_USAGE: i32 = 2;
/// Exit status when the received stream failed verification.
pub const EXIT_VERIFICATION: i32 = 3;
/// Exit status when the reader of stdout went away. A shell reports 141
/// (128 + SIGPIPE) for a process killed by SIGPIPE, so `set -o pipefail`
/// scripts see the same status they see from other tools.
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Everything that can stop a snapshot run.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{0}")]
    Usage(String),

    #[error("cannot read {flag} file {path}: {source}")]
    ReadFile {
        flag: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no usable etcd member among {count} endpoint(s):\n{details}")]
    NoUsableMember { count: usize, details: String },

    #[error("{0}")]
    ClusterMismatch(String),

    #[error("snapshot from {endpoint} failed after {received} bytes: {message}")]
    Stream {
        endpoint: String,
        received: u64,
        message: String,
    },

    #[error(
        "snapshot from {endpoint} timed out after {seconds}s (--command-timeout) with {received} bytes received"
    )]
    Timeout {
        endpoint: String,
        received: u64,
        seconds: f64,
    },

    #[error("snapshot from {endpoint} failed verification after {received} bytes: {source}")]
    Verification {
        endpoint: String,
        received: u64,
        #[source]
        source: TrailerError,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("stdout was closed by the reading process")]
    BrokenPipe,

    #[error("interrupted by {signal}")]
    Interrupted {
        signal: &'static str,
        exit_code: i32,
    },
}

impl DumpError {
    /// Returns the documented process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            DumpError::Usage(_) | DumpError::ReadFile { .. } | DumpError::ClusterMismatch(_) => {
                EXIT_USAGE
            }
            DumpError::Verification { .. } => EXIT_VERIFICATION,
            DumpError::BrokenPipe => EXIT_BROKEN_PIPE,
            DumpError::Interrupted { exit_code, .. } => *exit_code,
            DumpError::NoUsableMember { .. }
            | DumpError::Stream { .. }
            | DumpError::Timeout { .. }
            | DumpError::Io { .. } => EXIT_FAILED,
        }
    }

    /// Wraps a local I/O error, turning EPIPE into [`DumpError::BrokenPipe`].
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            return DumpError::BrokenPipe;
        }
        DumpError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Formats an error with all its sources, skipping a source whose text the
/// previous message already contains (tonic and hyper repeat themselves).
pub fn describe_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}
