//! Secret values and the resolved credential set, with redacting `Debug`.

use std::fmt;
use std::time::SystemTime;

/// A secret string (secret access key or session token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Returns the secret for output. Callers must not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials ready for output.
#[derive(Clone)]
pub struct ResolvedCredentials {
    /// Access key id, without surrounding whitespace.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Session token; `None` when the source has none or an empty one.
    pub session_token: Option<Secret>,
    /// Expiry time when the source reports one.
    pub expiration: Option<SystemTime>,
}

impl fmt::Debug for ResolvedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedCredentials")
            .field("access_key_id", &redact_key_id(&self.access_key_id))
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration)
            .finish()
    }
}

/// Shows the first four characters of an access key id (the key type prefix such as
/// `AKIA` or `ASIA`), which is enough to tell long-term from temporary keys.
pub fn redact_key_id(access_key_id: &str) -> String {
    let prefix: String = access_key_id.chars().take(4).collect();
    format!("{prefix}<redacted>")
}

/// Reason a raw credential value cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueProblem {
    /// The value contains a line break, tab, space, control character or non-ASCII
    /// character inside it.
    InnerWhitespace,
}

/// Cleans one raw credential value: surrounding whitespace is removed and a blank
/// value counts as unset (`Ok(None)`). A value with whitespace, control or non-ASCII
/// characters inside it is rejected: AWS key ids, secrets and session tokens are
/// printable ASCII, and anything else would break the `Authorization` header.
pub fn clean_value(raw: &str) -> Result<Option<String>, ValueProblem> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if !trimmed.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ValueProblem::InnerWhitespace);
    }
    Ok(Some(trimmed.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("wJalrXUtnFEMI");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn credentials_debug_hides_every_secret() {
        let creds = ResolvedCredentials {
            access_key_id: "AKIAEXAMPLEKEYID".into(),
            secret_access_key: Secret::new("secret-value-123"),
            session_token: Some(Secret::new("token-value-456")),
            expiration: None,
        };
        let debug = format!("{creds:?}");
        assert!(!debug.contains("secret-value-123"), "{debug}");
        assert!(!debug.contains("token-value-456"), "{debug}");
        assert!(!debug.contains("EXAMPLEKEYID"), "{debug}");
        assert!(debug.contains("AKIA<redacted>"), "{debug}");
    }

    #[test]
    fn clean_value_trims_and_blanks() {
        assert_eq!(clean_value("  abc \r\n"), Ok(Some("abc".into())));
        assert_eq!(clean_value(" \t "), Ok(None));
        assert_eq!(clean_value(""), Ok(None));
    }

    #[test]
    fn clean_value_rejects_inner_newline() {
        assert_eq!(clean_value("ab\ncd"), Err(ValueProblem::InnerWhitespace));
        assert_eq!(clean_value("ab cd"), Err(ValueProblem::InnerWhitespace));
        assert_eq!(clean_value("ab\u{0}cd"), Err(ValueProblem::InnerWhitespace));
        assert_eq!(
            clean_value("ab\u{FFFD}cd"),
            Err(ValueProblem::InnerWhitespace)
        );
    }
}
