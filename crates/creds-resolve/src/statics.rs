//! Assembling a static key pair from one source, with the half-pair checks that
//! the SDK chains skip silently.

use crate::error::Error;
use crate::secret::{ResolvedCredentials, Secret, ValueProblem, clean_value};

/// Raw values of one source plus the names used for them in messages.
#[derive(Clone, Copy)]
pub struct KeyParts<'a> {
    /// The source, e.g. `environment` or `profile "x" in /root/.aws/credentials`.
    pub source: &'a str,
    /// Names of the three settings as the user wrote them.
    pub names: [&'a str; 3],
    /// Access key id, secret access key and session token as read.
    pub values: [Option<&'a str>; 3],
}

impl std::fmt::Debug for KeyParts<'_> {
    // The values are secrets, so only the source and names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyParts")
            .field("source", &self.source)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// Setting names of the shared files.
pub const FILE_NAMES: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Variable names of the environment source.
pub const ENV_NAMES: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Builds credentials from one source. Returns `Ok(None)` when none of the three
/// settings has a value, and an error naming what is missing when only some do.
pub fn assemble(parts: KeyParts<'_>) -> Result<Option<ResolvedCredentials>, Error> {
    let [key_name, secret_name, token_name] = parts.names;
    let mut cleaned: [Option<String>; 3] = [None, None, None];
    for (index, raw) in parts.values.iter().enumerate() {
        let Some(raw) = raw else { continue };
        cleaned[index] = clean_value(raw).map_err(|problem| match problem {
            ValueProblem::InnerWhitespace => {
                let hint = if parts.names == FILE_NAMES {
                    "; an indented line after a setting continues its value, so remove the \
                     indentation or the stray text"
                } else {
                    ""
                };
                Error::Misconfigured(format!(
                    "{}: {} contains whitespace, a line break or a non-ASCII character inside the value{hint}",
                    parts.source, parts.names[index]
                ))
            }
        })?;
    }

    let [key, secret, token] = cleaned;
    match (key, secret, token) {
        (None, None, None) => Ok(None),
        (Some(access_key_id), Some(secret), token) => Ok(Some(ResolvedCredentials {
            access_key_id,
            secret_access_key: Secret::new(secret),
            session_token: token.map(Secret::new),
            expiration: None,
        })),
        (Some(_), None, _) => Err(half(parts.source, key_name, secret_name)),
        (None, Some(_), _) => Err(half(parts.source, secret_name, key_name)),
        (None, None, Some(_)) => Err(Error::Misconfigured(format!(
            "{}: {token_name} is set but {key_name} and {secret_name} are not; a session token \
             is only valid with the key pair it was issued with, so set all three or remove it",
            parts.source
        ))),
    }
}

fn half(source: &str, present: &str, missing: &str) -> Error {
    Error::Misconfigured(format!(
        "{source}: {present} is set but {missing} is missing or blank; set both, or remove \
         both to use the next source"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts<'a>(values: [Option<&'a str>; 3]) -> KeyParts<'a> {
        KeyParts {
            source: "environment",
            names: ENV_NAMES,
            values,
        }
    }

    #[test]
    fn nothing_set_is_none() {
        assert!(
            assemble(parts([None, Some("  "), Some("")]))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn full_pair_with_blank_token() {
        let creds = assemble(parts([Some(" AKIA1 "), Some("s1\n"), Some(" ")]))
            .unwrap()
            .unwrap();
        assert_eq!(creds.access_key_id, "AKIA1");
        assert_eq!(creds.secret_access_key.expose(), "s1");
        assert!(creds.session_token.is_none());
    }

    #[test]
    fn half_pairs_name_the_missing_part() {
        let err = assemble(parts([Some("AKIA1"), None, None])).unwrap_err();
        assert!(
            err.to_string().contains("AWS_SECRET_ACCESS_KEY is missing"),
            "{err}"
        );
        let err = assemble(parts([None, Some("s"), None])).unwrap_err();
        assert!(
            err.to_string().contains("AWS_ACCESS_KEY_ID is missing"),
            "{err}"
        );
        let err = assemble(parts([None, None, Some("t")])).unwrap_err();
        assert!(
            err.to_string().contains("AWS_SESSION_TOKEN is set"),
            "{err}"
        );
    }

    #[test]
    fn inner_newline_is_rejected_without_value() {
        let err = assemble(parts([Some("AKIA1"), Some("sec\nret-part"), None])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AWS_SECRET_ACCESS_KEY contains whitespace"),
            "{text}"
        );
        assert!(!text.contains("ret-part"), "{text}");
    }
}
