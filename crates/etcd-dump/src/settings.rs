//! Turns flags, the preset and ETCDCTL_* variables into one checked
//! configuration.
//!
//! Precedence for every value: the flag, then the preset, then the
//! environment variable, then the built-in default. The command line is the
//! more specific statement, so an ETCDCTL_ENDPOINTS exported for interactive
//! etcdctl use never redirects a --preset or --endpoints run. Unlike in
//! etcdctl 3.4, having both is not an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Args, parse_duration};
use crate::error::DumpError;
use crate::preset::Preset;

const DEFAULT_ENDPOINT: &str = "127.0.0.1:2379";
const DEFAULT_DIAL_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_KEEPALIVE_TIME: Duration = Duration::from_secs(10);
const DEFAULT_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(6);

/// Destination of the snapshot bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputMode {
    /// Straight to stdout as they arrive; the trailer is written only after
    /// it has verified.
    Stream,
    /// To an unlinked temporary file in this directory, then to stdout once
    /// the whole snapshot has verified.
    SpoolThenStdout(PathBuf),
    /// To `<path>.part`, renamed to the path once verified.
    File(PathBuf),
}

/// TLS material read from disk.
#[derive(Clone, Default)]
pub struct TlsMaterial {
    pub ca_pem: Option<Vec<u8>>,
    pub identity_pem: Option<(Vec<u8>, Vec<u8>)>,
    pub insecure_skip_verify: bool,
}

impl fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("ca_pem", &self.ca_pem.as_ref().map(Vec::len))
            .field("client_identity", &self.identity_pem.is_some())
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

/// User name and password for etcd authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Checked configuration of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Client URLs, each with an explicit http:// or https:// scheme.
    pub endpoints: Vec<String>,
    /// Present when any endpoint uses https.
    pub tls: Option<TlsMaterial>,
    pub credentials: Option<Credentials>,
    pub dial_timeout: Duration,
    pub command_timeout: Option<Duration>,
    pub keepalive_time: Duration,
    pub keepalive_timeout: Duration,
    pub output: OutputMode,
    pub summary: Option<PathBuf>,
    pub quiet: bool,
    pub write_to_terminal: bool,
}

/// A certificate path and the setting it came from, for error messages.
struct Sourced {
    path: PathBuf,
    origin: String,
    preset: Option<Preset>,
}

impl Settings {
    /// Resolves `args` against the environment seen through `env`.
    pub fn resolve(
        args: &Args,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, DumpError> {
        let layout = args
            .preset
            .map(|p| (p, p.layout(args.preset_dir.as_deref())));
        let env_nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());

        let pick_path = |flag: &Option<PathBuf>,
                         flag_name: &str,
                         from_preset: Option<(Preset, &Path)>,
                         env_name: &str|
         -> Option<Sourced> {
            if let Some(path) = flag {
                return Some(Sourced {
                    path: path.clone(),
                    origin: flag_name.to_owned(),
                    preset: None,
                });
            }
            if let Some((preset, path)) = from_preset {
                return Some(Sourced {
                    path: path.to_owned(),
                    origin: format!("--preset {preset}"),
                    preset: Some(preset),
                });
            }
            env_nonempty(env_name).map(|value| Sourced {
                path: PathBuf::from(value),
                origin: env_name.to_owned(),
                preset: None,
            })
        };
        let cacert = pick_path(
            &args.cacert,
            "--cacert",
            layout.as_ref().map(|(p, l)| (*p, l.cacert.as_path())),
            "ETCDCTL_CACERT",
        );
        let cert = pick_path(
            &args.cert,
            "--cert",
            layout.as_ref().map(|(p, l)| (*p, l.cert.as_path())),
            "ETCDCTL_CERT",
        );
        let key = pick_path(
            &args.key,
            "--key",
            layout.as_ref().map(|(p, l)| (*p, l.key.as_path())),
            "ETCDCTL_KEY",
        );

        let insecure_skip_verify = args.insecure_skip_tls_verify
            || match env_nonempty("ETCDCTL_INSECURE_SKIP_TLS_VERIFY") {
                Some(value) => parse_bool(&value).ok_or_else(|| {
                    DumpError::Usage(format!(
                        "ETCDCTL_INSECURE_SKIP_TLS_VERIFY: invalid value {value:?}; use true or false"
                    ))
                })?,
                None => false,
            };

        let endpoint_list = args
            .endpoints
            .clone()
            .or_else(|| layout.as_ref().map(|(_, l)| l.endpoint.clone()))
            .or_else(|| env_nonempty("ETCDCTL_ENDPOINTS"))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let wants_tls = cacert.is_some() || cert.is_some() || key.is_some() || insecure_skip_verify;
        let endpoints = normalize_endpoints(&endpoint_list, wants_tls)?;

        let tls = if endpoints.iter().any(|e| e.starts_with("https://")) {
            Some(read_tls(cacert, cert, key, insecure_skip_verify)?)
        } else {
            None
        };

        let credentials = resolve_credentials(args, &env_nonempty)?;

        let duration = |flag: Option<Duration>, env_name: &str| -> Result<_, DumpError> {
            if flag.is_some() {
                return Ok(flag);
            }
            match env_nonempty(env_name) {
                Some(value) => parse_duration(&value)
                    .map(Some)
                    .map_err(|e| DumpError::Usage(format!("{env_name}: {e}"))),
                None => Ok(None),
            }
        };
        let dial_timeout =
            duration(args.dial_timeout, "ETCDCTL_DIAL_TIMEOUT")?.unwrap_or(DEFAULT_DIAL_TIMEOUT);
        let command_timeout = duration(args.command_timeout, "ETCDCTL_COMMAND_TIMEOUT")?;
        let keepalive_time = duration(args.keepalive_time, "ETCDCTL_KEEPALIVE_TIME")?
            .unwrap_or(DEFAULT_KEEPALIVE_TIME);
        let keepalive_timeout = duration(args.keepalive_timeout, "ETCDCTL_KEEPALIVE_TIMEOUT")?
            .unwrap_or(DEFAULT_KEEPALIVE_TIMEOUT);
        for (name, value) in [
            ("--dial-timeout", dial_timeout),
            ("--keepalive-time", keepalive_time),
            ("--keepalive-timeout", keepalive_timeout),
        ] {
            if value.is_zero() {
                return Err(DumpError::Usage(format!("{name} must be greater than 0")));
            }
        }

        let output = if let Some(path) = &args.output {
            OutputMode::File(path.clone())
        } else if let Some(dir) = &args.spool_dir {
            OutputMode::SpoolThenStdout(dir.clone())
        } else if args.verify_before_output {
            OutputMode::SpoolThenStdout(std::env::temp_dir())
        } else {
            OutputMode::Stream
        };

        Ok(Settings {
            endpoints,
            tls,
            credentials,
            dial_timeout,
            command_timeout,
            keepalive_time,
            keepalive_timeout,
            output,
            summary: args.summary.clone(),
            quiet: args.quiet,
            write_to_terminal: args.write_to_terminal,
        })
    }
}

/// Parses the boolean forms Go's strconv.ParseBool accepts.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Splits the comma-separated list and gives every entry a scheme.
fn normalize_endpoints(list: &str, wants_tls: bool) -> Result<Vec<String>, DumpError> {
    let mut endpoints = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let url = if entry.starts_with("https://") {
            entry.to_owned()
        } else if let Some(host) = entry.strip_prefix("http://") {
            if wants_tls {
                return Err(DumpError::Usage(format!(
                    "endpoint {entry} uses plain http but TLS options are set; use https://{host}"
                )));
            }
            entry.to_owned()
        } else if entry.contains("://") {
            return Err(DumpError::Usage(format!(
                "endpoint {entry} has an unsupported scheme; use http:// or https://"
            )));
        } else if wants_tls {
            format!("https://{entry}")
        } else {
            format!("http://{entry}")
        };
        check_port(entry, &url)?;
        if !endpoints.contains(&url) {
            endpoints.push(url);
        }
    }
    if endpoints.is_empty() {
        return Err(DumpError::Usage(format!(
            "no endpoint in {list:?}; give --endpoints host:port[,host:port...]"
        )));
    }
    Ok(endpoints)
}

/// Rejects a port that is not a number from 1 to 65535, which tonic would
/// otherwise report as a refused connection.
fn check_port(entry: &str, url: &str) -> Result<(), DumpError> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let port = match authority.rsplit_once(']') {
        Some((_, after)) => after.strip_prefix(':'),
        None => authority.rsplit_once(':').map(|(_, port)| port),
    };
    match port {
        Some(port) if !port.parse::<u16>().is_ok_and(|port| port > 0) => Err(DumpError::Usage(
            format!("endpoint {entry} has an invalid port {port:?}; use a number from 1 to 65535"),
        )),
        _ => Ok(()),
    }
}

fn read_tls(
    cacert: Option<Sourced>,
    cert: Option<Sourced>,
    key: Option<Sourced>,
    insecure_skip_verify: bool,
) -> Result<TlsMaterial, DumpError> {
    let identity_pem = match (cert, key) {
        (Some(cert), Some(key)) => Some((
            read_pem(&cert, "client certificate")?,
            read_pem(&key, "client key")?,
        )),
        (Some(cert), None) => {
            return Err(DumpError::Usage(format!(
                "client certificate from {} has no key; give --key",
                cert.origin
            )));
        }
        (None, Some(key)) => {
            return Err(DumpError::Usage(format!(
                "client key from {} has no certificate; give --cert",
                key.origin
            )));
        }
        (None, None) => None,
    };
    let ca_pem = cacert
        .map(|ca| read_pem(&ca, "CA certificate"))
        .transpose()?;
    Ok(TlsMaterial {
        ca_pem,
        identity_pem,
        insecure_skip_verify,
    })
}

fn read_pem(file: &Sourced, what: &str) -> Result<Vec<u8>, DumpError> {
    match std::fs::read(&file.path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match file.preset {
            Some(preset) => Err(DumpError::Usage(format!(
                "preset {preset}: {what} {} not found; {}",
                file.path.display(),
                preset.dir_hint()
            ))),
            None => Err(DumpError::Usage(format!(
                "{what} {} (from {}) not found",
                file.path.display(),
                file.origin
            ))),
        },
        // Usually a permission problem: a setup error like a missing file.
        Err(source) => Err(DumpError::Usage(format!(
            "cannot read {what} {} (from {}): {source}",
            file.path.display(),
            file.origin
        ))),
    }
}

fn resolve_credentials(
    args: &Args,
    env_nonempty: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, DumpError> {
    let Some(user) = args
        .user
        .as_ref()
        .map(|u| u.0.clone())
        .or_else(|| env_nonempty("ETCDCTL_USER"))
    else {
        if args.password_file.is_some() {
            return Err(DumpError::Usage(
                "--password-file needs --user (or ETCDCTL_USER)".to_owned(),
            ));
        }
        return Ok(None);
    };

    // As in etcdctl: a separately given password makes the whole --user value
    // the name; otherwise the name ends at the first ':'.
    let password = match &args.password_file {
        Some(path) => Some(read_password_file(path)?),
        None => env_nonempty("ETCDCTL_PASSWORD"),
    };
    let (user, password) = match password {
        Some(password) => (user, password),
        None => match user.split_once(':') {
            Some((name, password)) => (name.to_owned(), password.to_owned()),
            None => {
                return Err(DumpError::Usage(format!(
                    "no password for etcd user {user:?}: use --user NAME:PASSWORD, \
                     --password-file FILE or ETCDCTL_PASSWORD"
                )));
            }
        },
    };
    if user.is_empty() {
        return Err(DumpError::Usage("etcd user name is empty".to_owned()));
    }
    Ok(Some(Credentials { user, password }))
}

fn read_password_file(path: &Path) -> Result<String, DumpError> {
    let text = std::fs::read_to_string(path).map_err(|source| DumpError::ReadFile {
        flag: "--password-file",
        path: path.to_owned(),
        source,
    })?;
    let line = text.lines().next().unwrap_or_default();
    Ok(line.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    fn resolve(argv: &[&str], env: &[(&str, &str)]) -> Result<Settings, DumpError> {
        let mut full = vec!["etcd-dump"];
        full.extend_from_slice(argv);
        let args = Args::try_parse_from(full).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::resolve(&args, &|name| env.get(name).cloned())
    }

    /// Creates the preset's files under a temp dir and returns the dir.
    fn preset_tree(preset: Preset) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let layout = preset.layout(Some(dir.path()));
        for (path, content) in [
            (&layout.cacert, "ca"),
            (&layout.cert, "cert"),
            (&layout.key, "key"),
        ] {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        dir
    }

    #[test]
    fn default_endpoint_is_plain_local() {
        let settings = resolve(&[], &[]).unwrap();
        assert_eq!(settings.endpoints, vec!["http://127.0.0.1:2379"]);
        assert!(settings.tls.is_none());
        assert_eq!(settings.dial_timeout, Duration::from_secs(2));
        assert_eq!(settings.command_timeout, None);
        assert_eq!(settings.output, OutputMode::Stream);
    }

    #[test]
    fn endpoint_port_out_of_range_rejected() {
        for list in [
            "127.0.0.1:369690",
            "http://127.0.0.1:0",
            "[::1]:70000",
            "host:x",
        ] {
            let err = normalize_endpoints(list, false).unwrap_err();
            assert!(err.to_string().contains("1 to 65535"), "{list}: {err}");
        }
        assert!(normalize_endpoints("[::1]:2379,https://etcd.example.com", false).is_ok());
        assert!(normalize_endpoints("[::1]:2379,etcd.example.com:2379", false).is_ok());
    }

    #[test]
    fn endpoints_flag_beats_env() {
        let settings = resolve(
            &["--endpoints", "10.0.0.1:2379"],
            &[("ETCDCTL_ENDPOINTS", "10.9.9.9:2379")],
        )
        .unwrap();
        assert_eq!(settings.endpoints, vec!["http://10.0.0.1:2379"]);
    }

    #[test]
    fn endpoints_env_used_without_flag() {
        let settings = resolve(&[], &[("ETCDCTL_ENDPOINTS", "a:1, b:2,,a:1")]).unwrap();
        assert_eq!(settings.endpoints, vec!["http://a:1", "http://b:2"]);
    }

    #[test]
    fn preset_beats_env() {
        let dir = preset_tree(Preset::K3s);
        let settings = resolve(
            &[
                "--preset",
                "k3s",
                "--preset-dir",
                dir.path().to_str().unwrap(),
            ],
            &[
                ("ETCDCTL_ENDPOINTS", "10.9.9.9:2379"),
                ("ETCDCTL_CACERT", "/nonexistent/ca.crt"),
            ],
        )
        .unwrap();
        assert_eq!(settings.endpoints, vec!["https://127.0.0.1:2379"]);
        let tls = settings.tls.unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(&b"ca"[..]));
        assert_eq!(tls.identity_pem, Some((b"cert".to_vec(), b"key".to_vec())));
    }

    #[test]
    fn flags_beat_preset() {
        let dir = preset_tree(Preset::Kubeadm);
        let own_ca = dir.path().join("own-ca.pem");
        std::fs::write(&own_ca, "own").unwrap();
        let settings = resolve(
            &[
                "--preset",
                "kubeadm",
                "--preset-dir",
                dir.path().to_str().unwrap(),
                "--cacert",
                own_ca.to_str().unwrap(),
                "--endpoints",
                "https://10.1.1.1:2379",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(settings.endpoints, vec!["https://10.1.1.1:2379"]);
        let tls = settings.tls.unwrap();
        assert_eq!(tls.ca_pem.as_deref(), Some(&b"own"[..]));
        assert_eq!(tls.identity_pem.unwrap().0, b"cert".to_vec());
    }

    #[test]
    fn preset_missing_file_names_path_and_preset() {
        let dir = preset_tree(Preset::Rke2);
        let layout = Preset::Rke2.layout(Some(dir.path()));
        std::fs::remove_file(&layout.key).unwrap();
        let error = resolve(
            &[
                "--preset",
                "rke2",
                "--preset-dir",
                dir.path().to_str().unwrap(),
            ],
            &[],
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(message.contains("preset rke2"), "{message}");
        assert!(message.contains(layout.key.to_str().unwrap()), "{message}");
        assert_eq!(error.exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn env_tls_files_used_without_flags() {
        let dir = preset_tree(Preset::K3s);
        let layout = Preset::K3s.layout(Some(dir.path()));
        let settings = resolve(
            &[],
            &[
                ("ETCDCTL_CACERT", layout.cacert.to_str().unwrap()),
                ("ETCDCTL_CERT", layout.cert.to_str().unwrap()),
                ("ETCDCTL_KEY", layout.key.to_str().unwrap()),
            ],
        )
        .unwrap();
        assert_eq!(settings.endpoints, vec!["https://127.0.0.1:2379"]);
        assert!(settings.tls.unwrap().identity_pem.is_some());
    }

    #[test]
    fn unreadable_cert_is_usage_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = resolve(&["--cacert", dir.path().to_str().unwrap()], &[]).unwrap_err();
        assert!(error.to_string().contains("--cacert"), "{error}");
        assert_eq!(error.exit_code(), crate::error::EXIT_USAGE);
    }

    #[test]
    fn cert_without_key_rejected() {
        let dir = preset_tree(Preset::K3s);
        let layout = Preset::K3s.layout(Some(dir.path()));
        let error = resolve(&["--cert", layout.cert.to_str().unwrap()], &[]).unwrap_err();
        assert!(error.to_string().contains("--key"), "{error}");
    }

    #[test]
    fn http_endpoint_with_tls_rejected() {
        let dir = preset_tree(Preset::K3s);
        let layout = Preset::K3s.layout(Some(dir.path()));
        let error = resolve(
            &[
                "--endpoints",
                "http://127.0.0.1:2379",
                "--cacert",
                layout.cacert.to_str().unwrap(),
            ],
            &[],
        )
        .unwrap_err();
        assert!(
            error.to_string().contains("https://127.0.0.1:2379"),
            "{error}"
        );
    }

    #[test]
    fn user_with_inline_password() {
        let settings = resolve(&["--user", "root:pa:ss"], &[]).unwrap();
        assert_eq!(
            settings.credentials,
            Some(Credentials {
                user: "root".to_owned(),
                password: "pa:ss".to_owned()
            })
        );
    }

    #[test]
    fn password_env_makes_user_whole_name() {
        let settings = resolve(&["--user", "a:b"], &[("ETCDCTL_PASSWORD", "secret")]).unwrap();
        assert_eq!(
            settings.credentials,
            Some(Credentials {
                user: "a:b".to_owned(),
                password: "secret".to_owned()
            })
        );
    }

    #[test]
    fn password_file_beats_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let settings = resolve(
            &["--user", "root", "--password-file", file.to_str().unwrap()],
            &[("ETCDCTL_PASSWORD", "from-env")],
        )
        .unwrap();
        assert_eq!(settings.credentials.unwrap().password, "from-file");
    }

    #[test]
    fn user_from_env() {
        let settings = resolve(&[], &[("ETCDCTL_USER", "root:pw")]).unwrap();
        assert_eq!(settings.credentials.unwrap().user, "root");
    }

    #[test]
    fn user_without_password_rejected() {
        let error = resolve(&["--user", "root"], &[]).unwrap_err();
        assert!(error.to_string().contains("--password-file"), "{error}");
    }

    #[test]
    fn credentials_debug_hides_password() {
        let settings = resolve(&["--user", "root:hunter2"], &[]).unwrap();
        let debug = format!("{settings:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn durations_from_flag_then_env() {
        let settings = resolve(
            &["--dial-timeout", "5s"],
            &[
                ("ETCDCTL_DIAL_TIMEOUT", "9s"),
                ("ETCDCTL_COMMAND_TIMEOUT", "1m"),
            ],
        )
        .unwrap();
        assert_eq!(settings.dial_timeout, Duration::from_secs(5));
        assert_eq!(settings.command_timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn bad_env_duration_names_variable() {
        let error = resolve(&[], &[("ETCDCTL_DIAL_TIMEOUT", "soon")]).unwrap_err();
        assert!(
            error.to_string().contains("ETCDCTL_DIAL_TIMEOUT"),
            "{error}"
        );
    }

    #[test]
    fn insecure_env_switches_scheme() {
        let settings = resolve(&[], &[("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "true")]).unwrap();
        assert_eq!(settings.endpoints, vec!["https://127.0.0.1:2379"]);
        assert!(settings.tls.unwrap().insecure_skip_verify);
    }

    #[test]
    fn invalid_insecure_env_rejected() {
        let error = resolve(&[], &[("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "yes")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("ETCDCTL_INSECURE_SKIP_TLS_VERIFY"),
            "{error}"
        );
        let settings = resolve(&[], &[("ETCDCTL_INSECURE_SKIP_TLS_VERIFY", "false")]).unwrap();
        assert!(settings.tls.is_none());
    }

    #[test]
    fn spool_dir_implies_verified_output() {
        let settings = resolve(&["--spool-dir", "/var/tmp"], &[]).unwrap();
        assert_eq!(
            settings.output,
            OutputMode::SpoolThenStdout(PathBuf::from("/var/tmp"))
        );
    }
}
