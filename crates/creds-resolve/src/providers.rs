//! Running aws-config's credential providers and turning their results into
//! chain outcomes.

use crate::env::EnvVars;
use crate::error::Error;
use crate::profiles::ParsedProfiles;
use crate::secret::{ResolvedCredentials, Secret, ValueProblem, clean_value};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_types::region::Region;

/// Region STS calls use when neither the environment nor the profile sets one.
/// It is the region of the global STS endpoint, as aws-cli uses.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Outcome of one provider that did not fail.
#[derive(Debug)]
pub enum Attempt {
    /// The provider returned credentials.
    Found(ResolvedCredentials),
    /// The provider had nothing configured; the text gives the reason.
    Skipped(String),
}

/// Chooses the region for STS: `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's
/// `region`, else [`FALLBACK_REGION`]. Returns the region and where it came from.
pub fn choose_region(
    env: &EnvVars,
    parsed: Option<&ParsedProfiles>,
    profile: &str,
) -> (Region, String) {
    for name in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Some(value) = env.value(name) {
            return (Region::new(value.to_string()), format!("from {name}"));
        }
    }
    let from_profile = parsed
        .and_then(|p| p.merged.get_profile(profile))
        .and_then(|p| p.get("region"))
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(region) = from_profile {
        return (
            Region::new(region.to_string()),
            format!("from profile \"{profile}\""),
        );
    }
    (
        Region::from_static(FALLBACK_REGION),
        "default, none configured".to_string(),
    )
}

/// Builds the provider configuration. No network access happens here.
pub fn provider_config(region: Region) -> ProviderConfig {
    ProviderConfig::without_region().with_region(Some(region))
}

/// Runs one provider. "Not loaded" becomes a skip; a configuration error becomes
/// [`Error::Misconfigured`]; any other failure becomes [`Error::SourceFailed`].
pub async fn attempt(step: &str, provider: &impl ProvideCredentials) -> Result<Attempt, Error> {
    match provider.provide_credentials().await {
        Ok(creds) => Ok(Attempt::Found(convert(step, &creds)?)),
        Err(err @ CredentialsError::CredentialsNotLoaded(_)) => {
            Ok(Attempt::Skipped(error_chain(&err).to_string()))
        }
        Err(err @ CredentialsError::InvalidConfiguration(_)) => Err(Error::Misconfigured(format!(
            "{step}: {}",
            error_chain(&err)
        ))),
        Err(err) => Err(Error::SourceFailed {
            source_name: step.to_string(),
            message: error_chain(&err).to_string(),
        }),
    }
}

/// Validates provider output the same way as every other source.
fn convert(step: &str, creds: &Credentials) -> Result<ResolvedCredentials, Error> {
    let field = |name: &str, raw: &str| -> Result<Option<String>, Error> {
        clean_value(raw).map_err(|problem| match problem {
            ValueProblem::InnerWhitespace => Error::SourceFailed {
                source_name: step.to_string(),
                message: format!("returned a {name} with whitespace, a line break or a non-ASCII character inside it"),
            },
        })
    };
    let missing = |name: &str| Error::SourceFailed {
        source_name: step.to_string(),
        message: format!("returned an empty {name}"),
    };

    let access_key_id =
        field("access key id", creds.access_key_id())?.ok_or_else(|| missing("access key id"))?;
    let secret = field("secret access key", creds.secret_access_key())?
        .ok_or_else(|| missing("secret access key"))?;
    let token = match creds.session_token() {
        Some(raw) => field("session token", raw)?,
        None => None,
    };

    Ok(ResolvedCredentials {
        access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: token.map(Secret::new),
        expiration: creds.expiry(),
    })
}

/// Formats an error and its sources with `Display` only. aws-smithy's
/// `DisplayErrorContext` appends the `Debug` form, which can include raw response
/// bodies, and a credentials response body contains secrets.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(error) = current {
        let text = error.to_string();
        if !text.is_empty() && parts.last() != Some(&text) {
            parts.push(text);
        }
        current = error.source();
    }
    parts.join(": ")
}
