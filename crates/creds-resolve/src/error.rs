//! Errors and the exit codes they map to.

/// Documented exit codes of the `creds-resolve` binary.
pub mod exit_code {
    /// Credentials were printed.
    pub const SUCCESS: u8 = 0;
    /// No source had credentials.
    pub const NO_CREDENTIALS: u8 = 1;
    /// The command line is invalid (clap uses the same code for its own usage errors).
    pub const USAGE: u8 = 2;
    /// A source is configured wrongly: half a key pair, a missing named profile or file,
    /// a parse error, loose file permissions under `--strict-permissions`, a recursion loop.
    pub const MISCONFIGURED: u8 = 3;
    /// A configured source failed while fetching: STS, `credential_process`, the container
    /// endpoint or instance metadata returned an error or timed out. Retrying may help.
    pub const SOURCE_FAILED: u8 = 4;
}

/// Error of one resolution run. Messages never contain a secret value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is invalid.
    #[error("{0}")]
    Usage(String),

    /// Every source was tried and none had credentials.
    #[error("no credentials found in any source ({0}); run with --explain to see every source")]
    NoCredentials(String),

    /// A source is present but configured wrongly.
    #[error("{0}")]
    Misconfigured(String),

    /// A configured source failed while fetching credentials.
    #[error("{source_name} failed: {message}")]
    SourceFailed {
        /// The chain step, e.g. `config file profile "backup"`.
        source_name: String,
        /// Failure description, as reported by the provider.
        message: String,
    },
}

impl Error {
    /// Returns the process exit code documented for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit_code::USAGE,
            Error::NoCredentials(_) => exit_code::NO_CREDENTIALS,
            Error::Misconfigured(_) => exit_code::MISCONFIGURED,
            Error::SourceFailed { .. } => exit_code::SOURCE_FAILED,
        }
    }
}
