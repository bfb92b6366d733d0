//! Connecting to one etcd member and reading its status.

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use tonic::transport::Endpoint;

use crate::error::describe_chain;
use crate::insecure::AcceptAnyServerCert;
use crate::settings::Settings;

/// HTTP/2 flow-control windows. A full window is what the client buffers while
/// the output writer stalls, so it bounds memory whatever the snapshot size.
/// 2 MiB allows about 200 MiB/s at a 10 ms round trip. With 4 MiB, measured
/// peak RSS on a 1.4 GB snapshot was 3 MiB higher and the run no faster.
const STREAM_WINDOW: u32 = 2 << 20;
const CONNECTION_WINDOW: u32 = 2 << 20;

/// Status that one member reported about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberStatus {
    pub endpoint: String,
    pub member_id: u64,
    pub cluster_id: u64,
    pub version: String,
    /// Revision of the member's key-value store when the status was taken.
    pub revision: i64,
    pub raft_term: u64,
    /// Member id of the leader this member follows, or 0 without a leader.
    pub leader: u64,
    pub is_learner: bool,
    /// Active alarms and other errors the member reports (e.g. NOSPACE).
    pub errors: Vec<String>,
}

/// Opens a connection to `endpoint` and authenticates when credentials are
/// set. Fails with a one-line description including a hint at the likely
/// cause.
pub async fn connect(endpoint: &str, settings: &Settings) -> Result<Client, String> {
    let link = Link::of(endpoint, settings);
    let mut builder = Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| format!("invalid endpoint {endpoint}: {}", describe_chain(&e)))?
        .connect_timeout(settings.dial_timeout)
        .http2_keep_alive_interval(settings.keepalive_time)
        .keep_alive_timeout(settings.keepalive_timeout)
        .keep_alive_while_idle(false)
        .initial_stream_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONNECTION_WINDOW);

    if endpoint.starts_with("https://") {
        let material = settings.tls.clone().unwrap_or_default();
        let mut tls = TlsOptions::new();
        if let Some((cert, key)) = &material.identity_pem {
            tls = tls.identity(Identity::from_pem(cert, key));
        }
        let configured = if material.insecure_skip_verify {
            builder.tls_config_with_verifier(tls, AcceptAnyServerCert::new())
        } else {
            tls = match &material.ca_pem {
                Some(ca) => tls.ca_certificate(Certificate::from_pem(ca)),
                None => tls.with_native_roots(),
            };
            builder.tls_config(tls)
        };
        builder = configured.map_err(|e| {
            format!(
                "invalid TLS setup for {endpoint}: {}",
                explain_transport(&e, link)
            )
        })?;
    }

    let channel = builder
        .connect()
        .await
        .map_err(|e| format!("cannot connect: {}", explain_transport(&e, link)))?;

    let options = settings
        .credentials
        .as_ref()
        .map(|c| ConnectOptions::new().with_user(c.user.clone(), c.password.clone()));
    Client::from_channel(etcd_client::Channel::Tonic(channel), options)
        .await
        .map_err(|e| match settings.credentials {
            Some(ref c) => format!(
                "authentication as {:?} failed: {}",
                c.user,
                explain(&e, link)
            ),
            None => explain(&e, link),
        })
}

/// Asks the member for its status.
pub async fn status(
    endpoint: &str,
    client: &mut Client,
    link: Link,
) -> Result<MemberStatus, String> {
    let response = client
        .status()
        .await
        .map_err(|e| format!("status request failed: {}", explain(&e, link)))?;
    let header = response
        .header()
        .ok_or_else(|| "status response has no header".to_owned())?;
    Ok(MemberStatus {
        endpoint: endpoint.to_owned(),
        member_id: header.member_id(),
        cluster_id: header.cluster_id(),
        version: response.version().to_owned(),
        revision: header.revision(),
        raft_term: response.raft_term(),
        leader: response.leader(),
        is_learner: response.is_learner(),
        errors: response.errors().to_vec(),
    })
}

/// Facts about the connection that narrow down what an error means.
#[derive(Debug, Clone, Copy, Default)]
pub struct Link {
    pub tls: bool,
    pub client_cert: bool,
    /// Set once the snapshot stream is flowing, when a closed connection no
    /// longer points at a TLS mismatch.
    pub streaming: bool,
}

impl Link {
    pub fn of(endpoint: &str, settings: &Settings) -> Self {
        Link {
            tls: endpoint.starts_with("https://"),
            client_cert: settings
                .tls
                .as_ref()
                .is_some_and(|t| t.identity_pem.is_some()),
            streaming: false,
        }
    }
}

/// Describes an etcd client error in one line and, when the text matches a
/// known cause, adds what to check.
pub fn explain(error: &etcd_client::Error, link: Link) -> String {
    let text = match error {
        // tonic's Display for a status embeds the Debug form of its source;
        // the code, the message and the plain source chain read better.
        etcd_client::Error::GRpcStatus(status) => match std::error::Error::source(status) {
            Some(source)
                if status.code() == tonic::Code::Unknown
                    || status.code() == tonic::Code::Cancelled =>
            {
                describe_chain(source)
            }
            Some(source) => format!(
                "{:?}: {}: {}",
                status.code(),
                status.message(),
                describe_chain(source)
            ),
            None => format!("{:?}: {}", status.code(), status.message()),
        },
        other => describe_chain(other),
    };
    match hint(&text, link) {
        Some(hint) => format!("{text} ({hint})"),
        None => text,
    }
}

/// Describes a transport error; see [`explain`].
fn explain_transport(error: &tonic::transport::Error, link: Link) -> String {
    let text = describe_chain(error);
    match hint(&text, link) {
        Some(hint) => format!("{text} ({hint})"),
        None => text,
    }
}

/// Returns whether the error text describes a connection the server closed
/// before replying.
fn dropped_early(lower: &str) -> bool {
    [
        "connection closed",
        "broken pipe",
        "connection reset",
        "connection was not ready",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn hint(text: &str, link: Link) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    if has("unknownissuer") || has("unknown issuer") || has("invalid peer certificate") {
        Some(
            "the server certificate is not signed by the CA given with --cacert, \
             or by a system CA when none is given",
        )
    } else if has("notvalidforname") {
        Some(
            "the server certificate does not name this host; use a host name or IP address it lists",
        )
    } else if has("certificaterequired")
        || has("badcertificate")
        || has("unknownca")
        || has("certificate required")
        || has("bad certificate")
        || has("unknown ca")
    {
        Some("the server rejected the client certificate; check --cert and --key")
    } else if has("authentication failed") || has("invalid user id or password") {
        Some("check the user name and password")
    } else if has("user name is empty") {
        Some("the server requires authentication; give --user")
    } else if has("authentication is not enabled") {
        Some("the server has authentication disabled; drop --user")
    } else if has("permission denied") {
        Some("taking a snapshot needs a user with the root role")
    } else if has("corrupt message") || has("invalidcontenttype") || has("invalid content type") {
        Some("the endpoint does not speak TLS; use http://")
    } else if has("tls handshake eof") {
        Some(
            "the server closed the TLS handshake; if etcd serves plain HTTP there, use \
             http://, and if it requires a client certificate, give --cert and --key",
        )
    } else if has("connection refused") {
        Some("nothing listens at this address; check --endpoints (or ETCDCTL_ENDPOINTS)")
    } else if link.streaming {
        None
    } else if link.tls && !link.client_cert && dropped_early(&lower) {
        Some("the server may require a client certificate; give --cert and --key")
    } else if link.tls && dropped_early(&lower) {
        // With TLS 1.3 the client finishes its handshake before the server
        // checks the client certificate, so a rejection shows up as a
        // connection that closes on the first request.
        Some("the server may have rejected the client certificate; check --cert and --key")
    } else if !link.tls && dropped_early(&lower) {
        Some("if the server uses TLS, use an https:// endpoint or give --cacert")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TLS_WITH_CERT: Link = Link {
        tls: true,
        client_cert: true,
        streaming: false,
    };

    #[test]
    fn hints_for_tls_failures() {
        let unknown_issuer = hint("invalid peer certificate: UnknownIssuer", TLS_WITH_CERT);
        assert!(unknown_issuer.unwrap().contains("--cacert"));
        let rejected = hint("received fatal alert: BadCertificate", TLS_WITH_CERT);
        assert!(rejected.unwrap().contains("--cert"));
        assert_eq!(hint("something else", TLS_WITH_CERT), None);
    }

    #[test]
    fn handshake_eof_suggests_plain_http() {
        let text = hint("transport error: tls handshake eof", TLS_WITH_CERT).unwrap();

        assert!(text.contains("http://"), "{text}");
    }

    #[test]
    fn auth_hints() {
        let missing = hint("Unknown: auth: user name is empty", Link::default());
        assert!(missing.unwrap().contains("give --user"));
        let wrong = hint(
            "etcdserver: authentication failed, invalid user ID or password",
            Link::default(),
        );
        assert!(wrong.unwrap().contains("password"));
        let denied = hint("auth: permission denied", Link::default());
        assert!(denied.unwrap().contains("root role"));
    }

    #[test]
    fn closed_connection_hint_depends_on_link() {
        let no_cert = Link {
            tls: true,
            client_cert: false,
            streaming: false,
        };
        let not_ready = "operation was canceled: connection was not ready";
        assert!(hint(not_ready, TLS_WITH_CERT).unwrap().contains("rejected"));
        let closed = "operation was canceled: connection closed";
        assert!(hint(closed, no_cert).unwrap().contains("--cert"));
        assert!(hint(closed, Link::default()).unwrap().contains("https://"));
        assert!(hint(closed, TLS_WITH_CERT).unwrap().contains("rejected"));
        let streaming = Link {
            streaming: true,
            ..Link::default()
        };
        assert_eq!(hint("connection reset", streaming), None);
    }
}
