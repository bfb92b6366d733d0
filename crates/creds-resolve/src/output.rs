//! Rendering credentials for stdout.

use crate::cli::Format;
use crate::secret::ResolvedCredentials;
use serde::Serialize;
use std::time::SystemTime;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The `credential_process` JSON object. Optional fields are left out, never null
/// or empty, because some SDKs reject those.
#[derive(Serialize)]
struct ProcessOutput<'a> {
    #[serde(rename = "Version")]
    version: u8,
    #[serde(rename = "AccessKeyId")]
    access_key_id: &'a str,
    #[serde(rename = "SecretAccessKey")]
    secret_access_key: &'a str,
    #[serde(rename = "SessionToken", skip_serializing_if = "Option::is_none")]
    session_token: Option<&'a str>,
    #[serde(rename = "Expiration", skip_serializing_if = "Option::is_none")]
    expiration: Option<String>,
}

/// Renders credentials in the requested format, ending with a newline.
pub fn render(creds: &ResolvedCredentials, format: Format) -> String {
    match format {
        Format::Process => render_process(creds),
        Format::Env => render_env(creds),
    }
}

fn render_process(creds: &ResolvedCredentials) -> String {
    let output = ProcessOutput {
        version: 1,
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose(),
        session_token: creds.session_token.as_ref().map(|t| t.expose()),
        expiration: creds.expiration.map(format_expiration),
    };
    // Serializing a struct of strings and integers cannot fail.
    let mut json = serde_json::to_string(&output).unwrap_or_default();
    json.push('\n');
    json
}

/// Renders `export` lines. A source without a token or expiry emits `unset` for
/// those variables, so `eval` never leaves a stale token from an earlier run next
/// to new keys.
fn render_env(creds: &ResolvedCredentials) -> String {
    let mut lines = vec![
        export("AWS_ACCESS_KEY_ID", &creds.access_key_id),
        export("AWS_SECRET_ACCESS_KEY", creds.secret_access_key.expose()),
    ];
    match &creds.session_token {
        Some(token) => lines.push(export("AWS_SESSION_TOKEN", token.expose())),
        None => lines.push("unset AWS_SESSION_TOKEN".to_string()),
    }
    match creds.expiration {
        Some(expiry) => lines.push(export(
            "AWS_CREDENTIAL_EXPIRATION",
            &format_expiration(expiry),
        )),
        None => lines.push("unset AWS_CREDENTIAL_EXPIRATION".to_string()),
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

fn export(name: &str, value: &str) -> String {
    format!("export {name}={}", shell_quote(value))
}

/// Quotes a value for POSIX shells: single quotes, with each `'` written as `'\''`.
pub fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// Formats an expiry as RFC 3339 in UTC ending in `Z`, rounded down to whole
/// seconds so the output never claims a later expiry than the source.
pub fn format_expiration(expiry: SystemTime) -> String {
    let time = OffsetDateTime::from(expiry);
    let time = time.replace_nanosecond(0).unwrap_or(time);
    time.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::time::Duration;

    fn creds(token: Option<&str>, expiration: Option<SystemTime>) -> ResolvedCredentials {
        ResolvedCredentials {
            access_key_id: "AKIA1".into(),
            secret_access_key: Secret::new("s'1"),
            session_token: token.map(Secret::new),
            expiration,
        }
    }

    #[test]
    fn process_json_leaves_out_missing_fields() {
        let json = render(&creds(None, None), Format::Process);
        assert_eq!(
            json,
            "{\"Version\":1,\"AccessKeyId\":\"AKIA1\",\"SecretAccessKey\":\"s'1\"}\n"
        );
    }

    #[test]
    fn process_json_with_token_and_expiry() {
        let expiry = SystemTime::UNIX_EPOCH + Duration::from_millis(1_893_456_000_500);
        let json = render(&creds(Some("t1"), Some(expiry)), Format::Process);
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["SessionToken"], "t1");
        assert_eq!(value["Expiration"], "2030-01-01T00:00:00Z");
    }

    #[test]
    fn env_lines_quote_and_unset() {
        let text = render(&creds(None, None), Format::Env);
        assert_eq!(
            text,
            "export AWS_ACCESS_KEY_ID='AKIA1'\nexport AWS_SECRET_ACCESS_KEY='s'\\''1'\n\
             unset AWS_SESSION_TOKEN\nunset AWS_CREDENTIAL_EXPIRATION\n"
        );
    }
}
