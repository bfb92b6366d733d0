//! Command-line flags. Environment variables are applied in `settings`, so
//! that the order "flag, then preset, then ETCDCTL_* variable" stays in one
//! place and can be tested without touching the process environment.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

use crate::preset::Preset;

/// Exit codes, the same table as docs/etcd-dump.md in short.
const AFTER_HELP: &str = "\
Exit codes: 0 snapshot verified and written; 1 snapshot not taken or not
written (connection, TLS, authentication, etcd error, stream cut short, write
failure); 2 usage error (flags, environment, certificate, password or preset
file, stdout is a terminal); 3 the stream failed verification; 141 the reader
closed stdout; 130 SIGINT; 143 SIGTERM.";

/// Stream a verified etcd v3 snapshot to stdout.
///
/// The output is exactly the file `etcdctl snapshot save` writes: the bolt
/// database followed by its 32-byte SHA-256, which `etcdutl snapshot restore`
/// checks. Each flag falls back to its ETCDCTL_* environment variable when
/// neither the flag nor --preset sets it.
#[derive(Debug, Parser)]
#[command(name = "etcd-dump", version, max_term_width = 100, after_help = AFTER_HELP)]
pub struct Args {
    /// Comma-separated client URLs; a URL without scheme uses https when any
    /// TLS option is set, else http [env: ETCDCTL_ENDPOINTS] [default:
    /// 127.0.0.1:2379]. With several, the snapshot comes from one healthy,
    /// non-learner member.
    #[arg(long, value_name = "URLS")]
    pub endpoints: Option<String>,

    /// CA bundle that signed the server certificates [env: ETCDCTL_CACERT].
    /// Without it, https endpoints are checked against the system roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Client certificate (PEM) [env: ETCDCTL_CERT].
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,

    /// Private key of the client certificate (PEM) [env: ETCDCTL_KEY].
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,

    /// User name, or NAME:PASSWORD when no password is given otherwise
    /// [env: ETCDCTL_USER].
    #[arg(long, value_name = "NAME[:PASSWORD]")]
    pub user: Option<UserArg>,

    /// File whose first line is the password of --user; the user name is
    /// then taken whole. ETCDCTL_PASSWORD is used when this is not given.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// Accept any server certificate. Only for tests: anyone on the path can
    /// read and alter the snapshot [env: ETCDCTL_INSECURE_SKIP_TLS_VERIFY].
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,

    /// Timeout for establishing each connection, e.g. 2s, 500ms
    /// [env: ETCDCTL_DIAL_TIMEOUT] [default: 2s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub dial_timeout: Option<Duration>,

    /// Deadline for the whole run, member checks and transfer included
    /// [env: ETCDCTL_COMMAND_TIMEOUT] [default: none, as etcdctl snapshot
    /// save has none].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub command_timeout: Option<Duration>,

    /// Idle time after which an HTTP/2 ping checks the connection; etcd
    /// closes connections that ping more often than its
    /// --grpc-keepalive-min-time (5s by default)
    /// [env: ETCDCTL_KEEPALIVE_TIME] [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive_time: Option<Duration>,

    /// Time to wait for a ping reply before the connection counts as lost
    /// [env: ETCDCTL_KEEPALIVE_TIMEOUT] [default: 6s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive_timeout: Option<Duration>,

    /// Take endpoint and client certificates from a distribution's default
    /// layout; explicit flags still win.
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,

    /// Root of the preset's layout: the K3s or RKE2 data dir (default
    /// /var/lib/rancher/k3s or /var/lib/rancher/rke2), or kubeadm's
    /// certificate dir (default /etc/kubernetes/pki).
    #[arg(long, value_name = "DIR", requires = "preset")]
    pub preset_dir: Option<PathBuf>,

    /// Write the snapshot to FILE instead of stdout: written as FILE.part
    /// (mode 0600), verified, synced, then renamed to FILE.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Write nothing to stdout until the whole snapshot has verified, by
    /// spooling it to an unlinked temporary file first.
    #[arg(long, conflicts_with = "output")]
    pub verify_before_output: bool,

    /// Directory for the spool file of --verify-before-output (implies it);
    /// needs free space for one snapshot [default: $TMPDIR or /tmp].
    #[arg(long, value_name = "DIR", conflicts_with = "output")]
    pub spool_dir: Option<PathBuf>,

    /// Write a JSON record of the snapshot (member, revision, size, SHA-256,
    /// times) to PATH once it has verified, before the last bytes reach
    /// stdout. Any older file at PATH is removed at start.
    #[arg(long, value_name = "PATH")]
    pub summary: Option<PathBuf>,

    /// Print only warnings and errors on stderr, and no progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Write the binary snapshot even when stdout is a terminal.
    #[arg(long)]
    pub write_to_terminal: bool,
}

/// Value of --user. Its Debug output hides everything after the first ':'
/// because that part may be the password.
#[derive(Clone, PartialEq, Eq)]
pub struct UserArg(pub String);

impl FromStr for UserArg {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if value.is_empty() {
            return Err("user name must not be empty".to_owned());
        }
        Ok(UserArg(value.to_owned()))
    }
}

impl fmt::Debug for UserArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once(':') {
            Some((name, _)) => write!(f, "UserArg({name:?}:<redacted>)"),
            None => write!(f, "UserArg({:?})", self.0),
        }
    }
}

/// Parses a Go-style duration as etcdctl takes it: one or more
/// `<number><unit>` parts with units h, m, s, ms, us or ns (`1m30s`,
/// `500ms`, `2.5s`). A bare number counts as seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}: expected e.g. 2s, 500ms or 1m30s");
    let text_trimmed = text.trim();
    if text_trimmed.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text_trimmed.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }

    let mut total = 0f64;
    let mut rest = text_trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];

        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds_per_unit = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return Err(invalid()),
        };
        total += number * seconds_per_unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_forms() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn duration_rejects_garbage() {
        for text in ["", "s", "5x", "ten seconds", "-1s", "1s2"] {
            assert!(parse_duration(text).is_err(), "{text:?} must be rejected");
        }
    }

    #[test]
    fn user_debug_hides_password() {
        let debug = format!("{:?}", UserArg("root:hunter2".to_owned()));
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("root"), "{debug}");
    }

    #[test]
    fn args_parse() {
        let args = Args::try_parse_from([
            "etcd-dump",
            "--endpoints",
            "a:1,b:2",
            "--preset",
            "rke2",
            "--preset-dir",
            "/x",
            "--dial-timeout",
            "3s",
        ])
        .unwrap();
        assert_eq!(args.endpoints.as_deref(), Some("a:1,b:2"));
        assert_eq!(args.preset, Some(Preset::Rke2));
        assert_eq!(args.dial_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn output_conflicts_with_verified_stdout() {
        let result = Args::try_parse_from(["etcd-dump", "--output", "f", "--verify-before-output"]);
        assert!(result.is_err());
    }
}
