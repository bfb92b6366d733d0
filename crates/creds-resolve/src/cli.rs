//! Command-line interface.

use clap::{Parser, ValueEnum};
use std::fmt;
use std::path::PathBuf;

/// Output format on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One JSON object in the `credential_process` shape.
    Process,
    /// Shell `export AWS_...=` lines for `eval`.
    Env,
}

/// Resolve AWS credentials and print them for the next tool in a pipe.
///
/// Order: flags, environment, shared credentials file, config file profile
/// (static keys, credential_process, assume role, SSO), web identity, container
/// credentials, EC2 instance metadata. A half-configured source is an error.
/// Exit codes: 0 success, 1 no credentials, 2 usage error, 3 misconfiguration,
/// 4 a configured source failed while fetching.
#[derive(Parser, Clone)]
#[command(name = "creds-resolve", version)]
pub struct Args {
    /// Profile to use from the shared files (default: $AWS_PROFILE, else "default").
    /// Names are case-sensitive. When given, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    /// in the environment are ignored.
    #[arg(long, value_name = "NAME", conflicts_with = "access_key_id")]
    pub profile: Option<String>,

    /// Access key id to use as is. Needs --secret-access-key or --secret-access-key-file.
    #[arg(long, value_name = "ID")]
    pub access_key_id: Option<String>,

    /// Secret access key. Visible to other users in `ps`; prefer --secret-access-key-file.
    #[arg(
        long,
        value_name = "KEY",
        requires = "access_key_id",
        conflicts_with = "secret_access_key_file"
    )]
    pub secret_access_key: Option<String>,

    /// File holding the secret access key ("-" reads stdin). Surrounding whitespace,
    /// including the final newline, is removed.
    #[arg(long, value_name = "PATH", requires = "access_key_id")]
    pub secret_access_key_file: Option<PathBuf>,

    /// Session token for temporary keys. Visible in `ps`; prefer --session-token-file.
    #[arg(
        long,
        value_name = "TOKEN",
        requires = "access_key_id",
        conflicts_with = "session_token_file"
    )]
    pub session_token: Option<String>,

    /// File holding the session token ("-" reads stdin).
    #[arg(long, value_name = "PATH", requires = "access_key_id")]
    pub session_token_file: Option<PathBuf>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Process)]
    pub format: Format,

    /// Print every source in order with its outcome, and the files and profile
    /// consulted, on stderr. Never prints a secret.
    #[arg(long)]
    pub explain: bool,

    /// Fail instead of warning when a credentials or config file is accessible by
    /// group or others.
    #[arg(long)]
    pub strict_permissions: bool,
}

impl fmt::Debug for Args {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Args")
            .field("profile", &self.profile)
            .field("access_key_id", &redacted(&self.access_key_id))
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("secret_access_key_file", &self.secret_access_key_file)
            .field("session_token", &redacted(&self.session_token))
            .field("session_token_file", &self.session_token_file)
            .field("format", &self.format)
            .field("explain", &self.explain)
            .field("strict_permissions", &self.strict_permissions)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_flag_secrets() {
        let args = Args::try_parse_from([
            "creds-resolve",
            "--access-key-id",
            "AKIAFLAG",
            "--secret-access-key",
            "flag-secret-xyz",
            "--session-token",
            "flag-token-xyz",
        ])
        .unwrap();
        let debug = format!("{args:?}");
        assert!(!debug.contains("flag-secret-xyz"), "{debug}");
        assert!(!debug.contains("flag-token-xyz"), "{debug}");
    }

    #[test]
    fn profile_conflicts_with_flag_keys() {
        let err = Args::try_parse_from([
            "creds-resolve",
            "--profile",
            "x",
            "--access-key-id",
            "A",
            "--secret-access-key",
            "B",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
