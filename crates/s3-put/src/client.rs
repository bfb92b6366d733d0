//! S3 client construction: region, endpoint, addressing, TLS, proxy, retries.

use std::path::PathBuf;
use std::time::Duration;

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpClientBuilder, Connector};

/// Region used with `--endpoint-url` when none is configured; MinIO, SeaweedFS
/// and most S3-compatible servers expect it by default.
pub const DEFAULT_ENDPOINT_REGION: &str = "us-east-1";

/// Settings for [`build_client`].
#[derive(Debug)]
pub struct ClientSettings {
    pub region: String,
    pub endpoint: Option<Endpoint>,
    pub force_path_style: bool,
    pub ca_bundle: Option<PathBuf>,
    /// Accept any server certificate (`--insecure-skip-tls-verify`).
    pub insecure_skip_tls_verify: bool,
    pub max_attempts: u32,
    pub credentials: SharedCredentialsProvider,
}

/// A parsed `--endpoint-url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub https: bool,
    /// Whether the host is an IP address or `localhost`, where virtual-hosted
    /// bucket names cannot resolve.
    pub ip_or_localhost: bool,
}

/// Error in the client settings.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint URL {url:?} from {source_name}: {reason}")]
    BadEndpoint {
        url: String,
        source_name: &'static str,
        reason: &'static str,
    },

    #[error(
        "--endpoint-url is empty; pass the endpoint, for example http://127.0.0.1:9000 \
         (check that the shell variable meant to hold it is set), or leave the flag out \
         to upload to AWS S3"
    )]
    EmptyEndpointFlag,

    #[error(
        "no region: pass --region, set AWS_REGION, or pass --endpoint-url \
         (then us-east-1 is used)"
    )]
    NoRegion,

    #[error("cannot read --ca-bundle {path}: {error}")]
    CaBundle {
        path: PathBuf,
        // Not a `source`: the message already contains it, and the binary prints
        // the source chain too.
        error: std::io::Error,
    },

    #[error("invalid --ca-bundle {path}: {reason}")]
    BadCaBundle { path: PathBuf, reason: String },

    #[error("cannot set up TLS for --insecure-skip-tls-verify: {0}")]
    InsecureTls(String),
}

impl Endpoint {
    /// Parses an `http://` or `https://` URL. The flag or variable it came
    /// from, `source_name`, goes into errors.
    pub fn parse(url: &str, source_name: &'static str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::BadEndpoint {
            url: url.to_owned(),
            source_name,
            reason,
        };
        let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(bad("expected a URL starting with http:// or https://"));
        };

        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, rest) = bracketed.split_once(']').unwrap_or((bracketed, ""));
            (host, rest.strip_prefix(':'))
        } else {
            match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err(bad("the URL has no host"));
        }
        if let Some(port) = port
            && !port.parse::<u16>().is_ok_and(|port| port > 0)
        {
            return Err(bad("the port must be a number from 1 to 65535"));
        }

        let ip_or_localhost =
            host.parse::<std::net::IpAddr>().is_ok() || host.eq_ignore_ascii_case("localhost");
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            https,
            ip_or_localhost,
        })
    }
}

/// Picks the endpoint URL and where it came from: the flag, then AWS_ENDPOINT_URL_S3, then
/// AWS_ENDPOINT_URL, the variables the AWS SDKs read. A user who exported them for a local
/// server must not have s3-put send the upload to AWS instead. AWS_IGNORE_CONFIGURED_ENDPOINT_URLS
/// set to `true` turns the variables off, as it does in the SDKs.
pub fn resolve_endpoint_url(
    flag: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<(String, &'static str)>, ClientError> {
    // A blank flag usually comes from an unset shell variable, and falling back
    // to AWS S3 then would send the backup somewhere the user never named.
    match flag {
        Some(url) if url.trim().is_empty() => return Err(ClientError::EmptyEndpointFlag),
        Some(url) => return Ok(Some((url.to_owned(), "--endpoint-url"))),
        None => {}
    }

    let ignore_env = lookup("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"));
    if ignore_env {
        return Ok(None);
    }
    let set = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    Ok(["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .into_iter()
        .find_map(|name| set(lookup(name)).map(|url| (url, name))))
}

/// Picks the region: the flag, then AWS_REGION, then AWS_DEFAULT_REGION, then
/// us-east-1 when an endpoint is given.
pub fn resolve_region(
    flag: Option<&str>,
    lookup: impl Fn(&str) -> Option<String>,
    has_endpoint: bool,
) -> Result<String, ClientError> {
    let from_env = || {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .into_iter()
            .find_map(|name| lookup(name).filter(|value| !value.is_empty()))
    };
    flag.map(str::to_owned)
        .filter(|value| !value.is_empty())
        .or_else(from_env)
        .or_else(|| has_endpoint.then(|| DEFAULT_ENDPOINT_REGION.to_owned()))
        .ok_or(ClientError::NoRegion)
}

/// Builds the S3 client.
///
/// Checksum behaviour is fixed in code (`WhenRequired` both ways), because s3-put
/// computes and sends its checksums itself. Left to the environment, the
/// AWS_REQUEST_CHECKSUM_CALCULATION variable could make the SDK add a second one.
pub fn build_client(settings: ClientSettings) -> Result<aws_sdk_s3::Client, ClientError> {
    let path_style = settings.force_path_style
        || settings
            .endpoint
            .as_ref()
            .is_some_and(|endpoint| endpoint.ip_or_localhost);

    let retry = RetryConfig::standard()
        .with_max_attempts(settings.max_attempts)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20));

    // Per-attempt timeouts are set per request because they depend on the body size.
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(120))
        .build();

    let http_client = if settings.insecure_skip_tls_verify {
        tracing::warn!(
            "--insecure-skip-tls-verify: the server certificate is not checked, so anyone on \
             the network path can read and change this upload"
        );
        crate::insecure::insecure_http_client()
            .map_err(|err| ClientError::InsecureTls(err.to_string()))?
    } else {
        http_client(settings.ca_bundle.as_ref())?
    };

    let mut builder = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region))
        .credentials_provider(settings.credentials)
        .retry_config(retry)
        .retry_classifier(crate::tls_failure::NoRetryOnCertificateError)
        .timeout_config(timeouts)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .force_path_style(path_style)
        .http_client(http_client);

    if let Some(endpoint) = settings.endpoint {
        builder = builder.endpoint_url(endpoint.url);
    }
    Ok(aws_sdk_s3::Client::from_conf(builder.build()))
}

/// Builds the HTTP client: rustls with the system roots plus `--ca-bundle`, and
/// the HTTP_PROXY/HTTPS_PROXY/NO_PROXY variables, which aws-smithy-http-client
/// only honours when asked to (its default is no proxy).
fn http_client(
    ca_bundle: Option<&PathBuf>,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient, ClientError> {
    let mut trust_store = TrustStore::default();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|error| ClientError::CaBundle {
            path: path.clone(),
            error,
        })?;
        if !pem
            .windows(27)
            .any(|window| window == b"-----BEGIN CERTIFICATE-----")
        {
            return Err(ClientError::BadCaBundle {
                path: path.clone(),
                reason: "no PEM certificate (-----BEGIN CERTIFICATE-----) found".to_owned(),
            });
        }
        trust_store = trust_store.with_pem_certificate(pem);
    }
    let tls_context = TlsContext::builder()
        .with_trust_store(trust_store)
        .build()
        .map_err(|err| ClientError::BadCaBundle {
            path: ca_bundle.cloned().unwrap_or_default(),
            reason: err.to_string(),
        })?;

    // NOTE: build_with_connector_fn is public but hidden from aws-smithy-http-client's
    // docs; it is the only way in 1.5 to combine a custom TLS context with a proxy.
    Ok(
        HttpClientBuilder::new().build_with_connector_fn(move |settings, components| {
            let mut connector = Connector::builder().proxy_config(ProxyConfig::from_env());
            connector.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                connector.set_sleep_impl(components.sleep_impl());
            }
            connector
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(tls_context.clone())
                .build()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_ip_uses_path_style() {
        for url in [
            "http://127.0.0.1:9000",
            "https://10.0.0.5",
            "http://[::1]:8333/",
            "http://localhost:9000",
            "http://user@127.0.0.1:1",
        ] {
            assert!(
                Endpoint::parse(url, "--endpoint-url")
                    .unwrap()
                    .ip_or_localhost,
                "{url}"
            );
        }
    }

    #[test]
    fn endpoint_hostname_is_virtual_host() {
        let endpoint = Endpoint::parse("https://s3.example.com/", "--endpoint-url").unwrap();
        assert!(!endpoint.ip_or_localhost);
        assert!(endpoint.https);
        assert_eq!(endpoint.url, "https://s3.example.com");
    }

    #[test]
    fn endpoint_without_scheme_rejected() {
        assert!(Endpoint::parse("127.0.0.1:9000", "--endpoint-url").is_err());
        assert!(Endpoint::parse("http://", "--endpoint-url").is_err());
    }

    #[test]
    fn endpoint_url_order() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL_S3" => Some("http://127.0.0.1:2".to_owned()),
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:3".to_owned()),
            _ => None,
        };
        assert_eq!(
            resolve_endpoint_url(Some("http://127.0.0.1:1"), env).unwrap(),
            Some(("http://127.0.0.1:1".to_owned(), "--endpoint-url"))
        );
        assert_eq!(
            resolve_endpoint_url(None, env).unwrap(),
            Some(("http://127.0.0.1:2".to_owned(), "AWS_ENDPOINT_URL_S3"))
        );

        let general_only =
            |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:3".to_owned());
        assert_eq!(
            resolve_endpoint_url(None, general_only).unwrap(),
            Some(("http://127.0.0.1:3".to_owned(), "AWS_ENDPOINT_URL"))
        );

        let blank = |name: &str| (name == "AWS_ENDPOINT_URL_S3").then(|| "  ".to_owned());
        assert_eq!(resolve_endpoint_url(None, blank).unwrap(), None);
        assert_eq!(resolve_endpoint_url(None, |_| None).unwrap(), None);
    }

    #[test]
    fn blank_endpoint_flag_rejected() {
        let env =
            |name: &str| (name == "AWS_ENDPOINT_URL").then(|| "http://127.0.0.1:3".to_owned());

        let result = resolve_endpoint_url(Some(" "), env);

        assert!(
            matches!(result, Err(ClientError::EmptyEndpointFlag)),
            "{result:?}"
        );
    }

    #[test]
    fn endpoint_port_out_of_range_rejected() {
        for url in [
            "http://127.0.0.1:107033",
            "http://127.0.0.1:0",
            "http://127.0.0.1:x",
            "http://[::1]:70000",
        ] {
            let err = Endpoint::parse(url, "--endpoint-url").unwrap_err();
            assert!(err.to_string().contains("1 to 65535"), "{url}: {err}");
        }
        assert!(Endpoint::parse("http://[::1]:9000", "--endpoint-url").is_ok());
        assert!(Endpoint::parse("https://s3.example.com:443/", "--endpoint-url").is_ok());
    }

    #[test]
    fn endpoint_url_env_can_be_ignored() {
        let env = |name: &str| match name {
            "AWS_ENDPOINT_URL" => Some("http://127.0.0.1:3".to_owned()),
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" => Some("TRUE".to_owned()),
            _ => None,
        };
        assert_eq!(resolve_endpoint_url(None, env).unwrap(), None);
        assert_eq!(
            resolve_endpoint_url(Some("http://127.0.0.1:1"), env).unwrap(),
            Some(("http://127.0.0.1:1".to_owned(), "--endpoint-url"))
        );
    }

    #[test]
    fn region_order() {
        let env = |name: &str| match name {
            "AWS_REGION" => Some("eu-west-1".to_owned()),
            "AWS_DEFAULT_REGION" => Some("eu-central-1".to_owned()),
            _ => None,
        };
        assert_eq!(
            resolve_region(Some("ap-south-1"), env, false).unwrap(),
            "ap-south-1"
        );
        assert_eq!(resolve_region(None, env, false).unwrap(), "eu-west-1");
        let default_only =
            |name: &str| (name == "AWS_DEFAULT_REGION").then(|| "eu-central-1".to_owned());
        assert_eq!(
            resolve_region(None, default_only, false).unwrap(),
            "eu-central-1"
        );
        assert_eq!(resolve_region(None, |_| None, true).unwrap(), "us-east-1");
        assert!(resolve_region(None, |_| None, false).is_err());
    }
}
