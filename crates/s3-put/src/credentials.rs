//! Credential sources: creds-resolve JSON, a credential process, or AWS_* variables.
//!
//! s3-put never uses the AWS default chain, so it never reads profile files or
//! queries an instance metadata service. `creds-resolve` walks that chain in the
//! order K3s uses and prints the JSON this module reads.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use serde::Deserialize;

const PROVIDER_NAME: &str = "s3-put";

/// Credential source chosen on the command line.
#[derive(Clone, Debug)]
pub enum CredentialSource {
    /// A file (or `/dev/fd/N`) with credential_process JSON, read once.
    File(PathBuf),
    /// A shell command printing credential_process JSON, run again before expiry.
    Process(String),
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`.
    Environment,
}

/// Error while loading credentials.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read credentials file {path}: {error}")]
    Read {
        path: PathBuf,
        // Not a `source`: the message already contains it, and the binary prints
        // the source chain too.
        error: std::io::Error,
    },

    #[error("invalid credentials JSON in {origin}: {reason}")]
    Invalid { origin: String, reason: String },

    #[error("the credentials in {origin} expired at {expiration}; run creds-resolve again")]
    Expired { origin: String, expiration: String },

    #[error("{set} is set but {missing} is not; set both, or pass --credentials <(creds-resolve)")]
    HalfSetEnvironment {
        set: &'static str,
        missing: &'static str,
    },

    #[error(
        "no credentials: pass --credentials <(creds-resolve), \
         --credential-process 'creds-resolve', or set AWS_ACCESS_KEY_ID and \
         AWS_SECRET_ACCESS_KEY; s3-put does not read profiles or instance metadata"
    )]
    Missing,
}

/// JSON printed by a credential_process (the AWS CLI's external process format).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessJson {
    version: Option<i64>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Parses credential_process JSON; `origin` names the source in errors.
pub fn parse_process_json(
    text: &str,
    origin: &str,
    now: SystemTime,
) -> Result<Credentials, CredentialsError> {
    let invalid = |reason: String| CredentialsError::Invalid {
        origin: origin.to_owned(),
        reason,
    };

    // Empty input usually means the command behind <(creds-resolve ...) failed and
    // printed its own error, so point there instead of at a JSON syntax error.
    if text.trim().is_empty() {
        return Err(invalid(
            "the input is empty; if it comes from a command such as creds-resolve, that \
             command failed, see its error above"
                .to_owned(),
        ));
    }

    // serde_json's own message can quote a value, which may be a secret, so
    // only the kind of error and its position are reported.
    let json: ProcessJson = serde_json::from_str(text).map_err(|err| {
        invalid(format!(
            "{:?} error at line {} column {}",
            err.classify(),
            err.line(),
            err.column()
        ))
    })?;

    match json.version {
        Some(1) => {}
        Some(other) => return Err(invalid(format!("\"Version\" is {other}, expected 1"))),
        None => return Err(invalid("\"Version\" is missing, expected 1".to_owned())),
    }

    let access_key_id = non_empty(json.access_key_id)
        .ok_or_else(|| invalid("\"AccessKeyId\" is missing or empty".to_owned()))?;
    let secret_access_key = non_empty(json.secret_access_key)
        .ok_or_else(|| invalid("\"SecretAccessKey\" is missing or empty".to_owned()))?;
    let session_token = non_empty(json.session_token);

    let expiration = match non_empty(json.expiration) {
        None => None,
        Some(text) => {
            let parsed =
                time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .map_err(|err| {
                        invalid(format!(
                            "\"Expiration\" {text:?} is not an RFC 3339 time: {err}"
                        ))
                    })?;
            let expiration = SystemTime::from(parsed);
            if expiration <= now {
                return Err(CredentialsError::Expired {
                    origin: origin.to_owned(),
                    expiration: text,
                });
            }
            Some(expiration)
        }
    };

    Ok(Credentials::new(
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
        PROVIDER_NAME,
    ))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|text| !text.is_empty())
}

/// Reads a creds-resolve JSON file once.
pub fn read_credentials_file(path: &Path) -> Result<Credentials, CredentialsError> {
    let text = std::fs::read_to_string(path).map_err(|error| CredentialsError::Read {
        path: path.to_owned(),
        error,
    })?;
    parse_process_json(&text, &path.display().to_string(), SystemTime::now())
}

/// Reads credentials from AWS_* variables through `lookup` (the process
/// environment in production). Returns `Ok(None)` when neither key is set.
pub fn credentials_from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<Credentials>, CredentialsError> {
    let get = |name: &str| lookup(name).filter(|value| !value.is_empty());
    let access_key_id = get("AWS_ACCESS_KEY_ID");
    let secret_access_key = get("AWS_SECRET_ACCESS_KEY");

    match (access_key_id, secret_access_key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(CredentialsError::HalfSetEnvironment {
            set: "AWS_ACCESS_KEY_ID",
            missing: "AWS_SECRET_ACCESS_KEY",
        }),
        (None, Some(_)) => Err(CredentialsError::HalfSetEnvironment {
            set: "AWS_SECRET_ACCESS_KEY",
            missing: "AWS_ACCESS_KEY_ID",
        }),
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(Credentials::new(
            access_key_id,
            secret_access_key,
            get("AWS_SESSION_TOKEN"),
            None,
            PROVIDER_NAME,
        ))),
    }
}

/// Builds the credentials provider for `source`.
///
/// A file and the environment give fixed credentials. A process is run through
/// `sh -c` by aws-config's `CredentialProcessProvider`. The SDK's identity cache
/// runs it again shortly before the `Expiration` it printed, so uploads that
/// outlive one set of credentials keep going.
pub fn provider(source: &CredentialSource) -> Result<SharedCredentialsProvider, CredentialsError> {
    match source {
        CredentialSource::File(path) => {
            Ok(SharedCredentialsProvider::new(read_credentials_file(path)?))
        }
        CredentialSource::Process(command) => Ok(SharedCredentialsProvider::new(
            aws_config::credential_process::CredentialProcessProvider::new(command.clone()),
        )),
        CredentialSource::Environment => credentials_from_env(|name| std::env::var(name).ok())?
            .map(SharedCredentialsProvider::new)
            .ok_or(CredentialsError::Missing),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn empty_input_points_at_producer() {
        for text in ["", " \n"] {
            let err = parse_process_json(text, "/dev/fd/63", now()).unwrap_err();
            let message = err.to_string();
            assert!(message.contains("/dev/fd/63"), "{message}");
            assert!(message.contains("the input is empty"), "{message}");
        }
    }

    #[test]
    fn full_json_parses() {
        let text = r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"SECRET",
            "SessionToken":"TOKEN","Expiration":"2030-01-01T00:00:00Z"}"#;
        let creds = parse_process_json(text, "test", now()).unwrap();
        assert_eq!(creds.access_key_id(), "AKID");
        assert_eq!(creds.secret_access_key(), "SECRET");
        assert_eq!(creds.session_token(), Some("TOKEN"));
        assert!(creds.expiry().is_some());
    }

    #[test]
    fn minimal_json_parses() {
        let text = r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"SECRET"}"#;
        let creds = parse_process_json(text, "test", now()).unwrap();
        assert_eq!(creds.session_token(), None);
        assert_eq!(creds.expiry(), None);
    }

    #[test]
    fn wrong_version_rejected() {
        let text = r#"{"Version":2,"AccessKeyId":"AKID","SecretAccessKey":"SECRET"}"#;
        let err = parse_process_json(text, "test", now()).unwrap_err();
        assert!(err.to_string().contains("\"Version\" is 2"), "{err}");
    }

    #[test]
    fn missing_version_rejected() {
        let text = r#"{"AccessKeyId":"AKID","SecretAccessKey":"SECRET"}"#;
        assert!(parse_process_json(text, "test", now()).is_err());
    }

    #[test]
    fn empty_secret_rejected() {
        let text = r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":""}"#;
        let err = parse_process_json(text, "test", now()).unwrap_err();
        assert!(err.to_string().contains("SecretAccessKey"), "{err}");
    }

    #[test]
    fn expired_rejected() {
        let text = r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"SECRET",
            "Expiration":"2020-01-01T00:00:00Z"}"#;
        let err = parse_process_json(text, "test", now()).unwrap_err();
        assert!(matches!(err, CredentialsError::Expired { .. }), "{err}");
    }

    #[test]
    fn bad_expiration_rejected() {
        let text = r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"SECRET",
            "Expiration":"tomorrow"}"#;
        let err = parse_process_json(text, "test", now()).unwrap_err();
        assert!(err.to_string().contains("tomorrow"), "{err}");
    }

    #[test]
    fn errors_never_contain_secret() {
        let text =
            r#"{"Version":"SUPERSECRET","AccessKeyId":"AKID","SecretAccessKey":"SUPERSECRET"}"#;
        let err = parse_process_json(text, "test", now()).unwrap_err();
        assert!(!err.to_string().contains("SUPERSECRET"), "{err}");
        let creds = parse_process_json(
            r#"{"Version":1,"AccessKeyId":"AKID","SecretAccessKey":"SUPERSECRET"}"#,
            "test",
            now(),
        )
        .unwrap();
        assert!(!format!("{creds:?}").contains("SUPERSECRET"));
    }

    #[test]
    fn env_pair_and_token() {
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("AKID".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("SECRET".to_owned()),
            "AWS_SESSION_TOKEN" => Some("TOKEN".to_owned()),
            _ => None,
        };
        let creds = credentials_from_env(env).unwrap().unwrap();
        assert_eq!(creds.session_token(), Some("TOKEN"));
    }

    #[test]
    fn env_unset_is_none() {
        assert!(credentials_from_env(|_| None).unwrap().is_none());
    }

    #[test]
    fn env_half_set_rejected() {
        let env = |name: &str| (name == "AWS_ACCESS_KEY_ID").then(|| "AKID".to_owned());
        let err = credentials_from_env(env).unwrap_err();
        assert!(matches!(err, CredentialsError::HalfSetEnvironment { .. }));
        let env = |name: &str| (name == "AWS_SECRET_ACCESS_KEY").then(|| "SECRET".to_owned());
        assert!(credentials_from_env(env).is_err());
    }
}
