//! Turns SDK errors into messages that name the operation, the cause and the fix.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error_chain;

/// A failed S3 request.
#[derive(Debug, thiserror::Error)]
#[error("{operation} failed for s3://{bucket}/{key}: {detail}")]
pub struct S3Error {
    pub operation: &'static str,
    pub bucket: String,
    pub key: String,
    /// S3 error code such as `AccessDenied`, when the server sent one.
    pub code: Option<String>,
    pub status: Option<u16>,
    pub detail: String,
}

/// Request context used to word an [`S3Error`].
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub region: &'a str,
}

impl S3Error {
    /// Describes `err`, returned by `operation` on `target`.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: Target<'_>,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = err
            .raw_response()
            .map(|response| response.status().as_u16());
        let bucket_region = err
            .raw_response()
            .and_then(|response| response.headers().get("x-amz-bucket-region"))
            .map(str::to_owned);
        let code = err.code().map(str::to_owned);
        let message = err.message().unwrap_or_default().to_owned();

        let detail = describe(
            operation,
            target,
            code.as_deref(),
            status,
            &message,
            bucket_region.as_deref(),
        )
        .or_else(|| describe_certificate_error(&err))
        .or_else(|| describe_connection_error(&err))
        .unwrap_or_else(|| format!("{}", DisplayErrorContext(&err)));

        Self {
            operation,
            bucket: target.bucket.to_owned(),
            key: target.key.to_owned(),
            code,
            status,
            detail,
        }
    }

    /// Returns whether the server replied that the upload id is unknown.
    pub fn is_no_such_upload(&self) -> bool {
        self.code.as_deref() == Some("NoSuchUpload") || self.status == Some(404)
    }
}

fn describe(
    operation: &str,
    target: Target<'_>,
    code: Option<&str>,
    status: Option<u16>,
    message: &str,
    bucket_region: Option<&str>,
) -> Option<String> {
    let bucket = target.bucket;
    let wrong_region = matches!(
        code,
        Some(
            "PermanentRedirect"
                | "AuthorizationHeaderMalformed"
                | "IllegalLocationConstraintException"
        )
    ) || status == Some(301);

    if wrong_region {
        let actual = bucket_region
            .map(str::to_owned)
            .or_else(|| region_from_message(message));
        return Some(match actual {
            Some(actual) => format!(
                "bucket {bucket} is in region {actual}, not {}; pass --region {actual}",
                target.region
            ),
            None => format!(
                "bucket {bucket} is not in region {} and the server did not name its region; \
                 pass the bucket's region with --region ({})",
                target.region,
                code.unwrap_or("301")
            ),
        });
    }

    let text = match code? {
        "AccessDenied" => format!(
            "access denied; the credentials lack permission for {operation} on bucket {bucket} \
             (s3:PutObject covers PutObject and the multipart calls, \
             s3:AbortMultipartUpload and s3:ListMultipartUploadParts the cleanup): {message}"
        ),
        "RequestTimeTooSkewed" => format!(
            "the local clock differs from the server's by more than 15 minutes, so the request \
             signature is rejected; synchronize the clock (NTP) and retry: {message}"
        ),
        "NoSuchBucket" => format!("bucket {bucket} does not exist"),
        "InvalidAccessKeyId" => {
            "the access key id is not known to the server; check the credentials".to_owned()
        }
        "SignatureDoesNotMatch" => {
            "the request signature was rejected; check the secret access key and the region"
                .to_owned()
        }
        "ExpiredToken" | "TokenRefreshRequired" => {
            "the session token expired; use --credential-process so s3-put can refresh it"
                .to_owned()
        }
        "PreconditionFailed" => {
            "an object already exists at this key and --if-none-match forbids overwriting it"
                .to_owned()
        }
        "ConditionalRequestConflict" => {
            "another upload to this key finished first (--if-none-match); nothing was stored"
                .to_owned()
        }
        "InvalidRequest" | "InvalidArgument" | "NotImplemented" | "BadDigest" | "InvalidDigest" => {
            format!("{}: {message}", code?)
        }
        other => format!("{other}: {message}"),
    };
    Some(text)
}

/// Explains a server certificate that TLS verification rejected.
fn describe_certificate_error<E>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    let SdkError::DispatchFailure(failure) = err else {
        return None;
    };
    let cause = crate::tls_failure::certificate_error(failure.as_connector_error()?)?;
    Some(format!(
        "the server's TLS certificate was rejected ({cause}); pass the CA that signed it with \
         --ca-bundle PATH, or check that --endpoint-url names the intended server"
    ))
}

/// Explains a request that never reached a server: nothing listening, a host
/// name that does not resolve, or a connection that timed out.
fn describe_connection_error<E>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    let SdkError::DispatchFailure(failure) = err else {
        return None;
    };
    let connector = failure.as_connector_error()?;
    let text = error_chain::text(connector);
    let cause = if error_chain::has_io_kind(connector, std::io::ErrorKind::ConnectionRefused) {
        "connection refused, so nothing accepts connections at the endpoint; check \
         --endpoint-url (or AWS_ENDPOINT_URL) and that the server is running"
    } else if text.contains("dns error") || text.contains("failed to lookup address") {
        "the endpoint's host name does not resolve; check --endpoint-url (or \
         AWS_ENDPOINT_URL) and --region, and the DNS setup of this machine"
    } else if failure.is_timeout() {
        "the connection timed out; check that the endpoint is reachable from this machine \
         (firewall, proxy variables)"
    } else {
        return None;
    };
    Some(format!("{cause} (after every attempt): {text}"))
}

/// Extracts the expected region from an `AuthorizationHeaderMalformed` message
/// such as "the region 'us-east-1' is wrong; expecting 'eu-west-1'".
fn region_from_message(message: &str) -> Option<String> {
    let rest = &message[message.find("expecting '")? + "expecting '".len()..];
    let end = rest.find('\'')?;
    Some(rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGET: Target<'static> = Target {
        bucket: "backups",
        key: "k",
        region: "us-east-1",
    };

    #[test]
    fn wrong_region_names_bucket_region() {
        let text = describe(
            "PutObject",
            TARGET,
            Some("PermanentRedirect"),
            Some(301),
            "",
            Some("eu-west-1"),
        );
        let text = text.unwrap();
        assert!(text.contains("eu-west-1"), "{text}");
        assert!(text.contains("--region eu-west-1"), "{text}");
    }

    #[test]
    fn malformed_authorization_names_region() {
        let message = "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'ap-south-1'";
        let text = describe(
            "UploadPart",
            TARGET,
            Some("AuthorizationHeaderMalformed"),
            Some(400),
            message,
            None,
        );
        assert!(text.unwrap().contains("region ap-south-1"));
    }

    #[test]
    fn bare_redirect_still_explains() {
        let text = describe("PutObject", TARGET, None, Some(301), "", None).unwrap();
        assert!(text.contains("--region"), "{text}");
    }

    #[test]
    fn access_denied_names_operation() {
        let text = describe(
            "CreateMultipartUpload",
            TARGET,
            Some("AccessDenied"),
            Some(403),
            "denied",
            None,
        );
        assert!(text.unwrap().contains("CreateMultipartUpload"));
    }

    #[test]
    fn clock_skew_explained() {
        let text = describe(
            "PutObject",
            TARGET,
            Some("RequestTimeTooSkewed"),
            Some(403),
            "",
            None,
        );
        assert!(text.unwrap().contains("clock"));
    }

    #[test]
    fn unknown_error_without_code_falls_back() {
        assert_eq!(
            describe("PutObject", TARGET, None, Some(500), "", None),
            None
        );
    }
}
