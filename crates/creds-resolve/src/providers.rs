//! Running aws-config's credential providers and turning their results into
//! chain outcomes.

use crate::env::EnvVars;
use crate::error::Error;
use crate::profiles::ParsedProfiles;
use crate::secret::{ResolvedCredentials, Secret, ValueProblem, clean_value};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_types::region::Region;

/// Region STS calls use when neither the environment nor the profile sets one.
/// It is the region of the global STS endpoint, as aws-cli uses.
pub const FALLBACK_REGION: &str = "us-east-1";

/// Outcome of one provider that did not fail.
#[derive(Debug)]
pub enum Attempt {
    /// The provider returned credentials; the text says how it got them.
    Found(ResolvedCredentials, String),
    /// The provider had nothing configured; the text says why.
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
        Ok(creds) => {
            let how = describe_features(&creds);
            Ok(Attempt::Found(convert(step, &creds)?, how))
        }
        Err(err @ CredentialsError::CredentialsNotLoaded(_)) => {
            Ok(Attempt::Skipped(DisplayErrorContext(&err).to_string()))
        }
        Err(err @ CredentialsError::InvalidConfiguration(_)) => Err(Error::Misconfigured(format!(
            "{step}: {}",
            DisplayErrorContext(&err)
        ))),
        Err(err) => Err(Error::SourceFailed {
            source_name: step.to_string(),
            message: DisplayErrorContext(&err).to_string(),
        }),
    }
}

/// Validates provider output the same way as every other source.
fn convert(step: &str, creds: &Credentials) -> Result<ResolvedCredentials, Error> {
    let field = |name: &str, raw: &str| -> Result<Option<String>, Error> {
        clean_value(raw).map_err(|problem| match problem {
            ValueProblem::InnerWhitespace => Error::SourceFailed {
                source_name: step.to_string(),
                message: format!("returned a {name} with whitespace or a line break inside it"),
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

/// Names the mechanisms aws-config reports it used, e.g. "credential_process".
fn describe_features(creds: &Credentials) -> String {
    let Some(features) = creds.get_property::<Vec<AwsCredentialFeature>>() else {
        return "credentials returned".to_string();
    };
    let mut names: Vec<String> = Vec::new();
    for feature in features {
        let name = match feature {
            AwsCredentialFeature::CredentialsProfile => "static keys".to_string(),
            AwsCredentialFeature::CredentialsProfileSourceProfile => "source_profile".to_string(),
            AwsCredentialFeature::CredentialsProfileNamedProvider => {
                "credential_source".to_string()
            }
            AwsCredentialFeature::CredentialsProfileProcess
            | AwsCredentialFeature::CredentialsProcess => "credential_process".to_string(),
            AwsCredentialFeature::CredentialsStsAssumeRole => "STS AssumeRole".to_string(),
            AwsCredentialFeature::CredentialsStsAssumeRoleWebId
            | AwsCredentialFeature::CredentialsProfileStsWebIdToken
            | AwsCredentialFeature::CredentialsEnvVarsStsWebIdToken => {
                "STS AssumeRoleWithWebIdentity".to_string()
            }
            AwsCredentialFeature::CredentialsProfileSso | AwsCredentialFeature::CredentialsSso => {
                "SSO".to_string()
            }
            AwsCredentialFeature::CredentialsHttp => "container endpoint".to_string(),
            AwsCredentialFeature::CredentialsImds => "instance metadata".to_string(),
            AwsCredentialFeature::CredentialsEnvVars => "environment keys".to_string(),
            other => format!("{other:?}"),
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        "credentials returned".to_string()
    } else {
        names.join(", ")
    }
}
