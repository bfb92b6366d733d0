//! Loopback HTTP stubs for STS, the container credentials endpoint and EC2
//! instance metadata. Each binds 127.0.0.1 on a free port and serves one request
//! per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

/// Expiry every stub returns.
pub const STUB_EXPIRATION: &str = "2099-01-01T00:00:00Z";

/// Secret values the stubs return; they must never appear on stderr.
pub const STUB_SECRETS: &[&str] = &[
    "stsRoleSEKRITsecret",
    "webIdSEKRITsecret",
    "containerSEKRITsecret",
    "containerSEKRITtoken",
    "imdsSEKRITsecret",
    "imdsSEKRITtoken",
];

/// One parsed HTTP request.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

/// One HTTP response.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub extra_header: Option<(&'static str, &'static str)>,
    pub body: String,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Self {
        Response {
            status,
            content_type,
            extra_header: None,
            body: body.into(),
        }
    }
}

type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// Starts a server on 127.0.0.1 and returns its base URL.
fn serve(handler: Handler) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let handler = handler.clone();
            std::thread::spawn(move || handle(stream, &handler));
        }
    });
    url
}

fn handle(stream: TcpStream, handler: &Handler) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();

    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);

    let request = Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let response = handler(&request);
    let extra = response
        .extra_header
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .unwrap_or_default();
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {} Stub\r\nContent-Type: {}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{}",
        response.status,
        response.content_type,
        response.body.len(),
        response.body
    );
    let _ = stream.flush();
}

/// Decodes an `application/x-www-form-urlencoded` body.
fn form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns the access key id and region from a SigV4 `Authorization` header.
fn signer(request: &Request) -> (String, String) {
    let auth = request
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_default();
    let Some((_, rest)) = auth.split_once("Credential=") else {
        return ("unsigned".into(), "none".into());
    };
    let scope: Vec<&str> = rest
        .split(',')
        .next()
        .unwrap_or_default()
        .split('/')
        .collect();
    (
        scope.first().unwrap_or(&"").to_string(),
        scope.get(2).unwrap_or(&"").to_string(),
    )
}

fn sts_error(code: &str, message: &str) -> Response {
    Response::new(
        403,
        "text/xml",
        format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
             <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
             <RequestId>stub</RequestId></ErrorResponse>"
        ),
    )
}

fn sts_credentials(action: &str, key: &str, secret: &str, token: &str) -> Response {
    Response::new(
        200,
        "text/xml",
        format!(
            "<{action}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
             <{action}Result><Credentials><AccessKeyId>{key}</AccessKeyId>\
             <SecretAccessKey>{secret}</SecretAccessKey><SessionToken>{token}</SessionToken>\
             <Expiration>{STUB_EXPIRATION}</Expiration></Credentials>\
             <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/stub/s</Arn>\
             <AssumedRoleId>AROASTUB:s</AssumedRoleId></AssumedRoleUser></{action}Result>\
             <ResponseMetadata><RequestId>stub</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

/// STS stub. `AssumeRole` returns a session token that names the signing key id
/// and region, so a fixture can check which source credentials and region were used.
/// A role ARN containing "denied" gets AccessDenied.
/// `AssumeRoleWithWebIdentity` needs the token `stub-web-identity-jwt`.
pub fn start_sts() -> String {
    serve(Arc::new(|request: &Request| {
        let params = form(&request.body);
        let action = params.get("Action").cloned().unwrap_or_default();
        let role = params.get("RoleArn").cloned().unwrap_or_default();
        match action.as_str() {
            "AssumeRole" if role.contains("denied") => {
                sts_error("AccessDenied", "stub refuses this role")
            }
            "AssumeRole" => {
                let (key, region) = signer(request);
                sts_credentials(
                    "AssumeRole",
                    "ASIASTUBROLE",
                    "stsRoleSEKRITsecret",
                    &format!("stub-role-token-signed-by-{key}-in-{region}"),
                )
            }
            "AssumeRoleWithWebIdentity" => {
                if params.get("WebIdentityToken").map(String::as_str)
                    != Some("stub-web-identity-jwt")
                {
                    return sts_error("InvalidIdentityToken", "stub rejects this token");
                }
                let role_name = role.rsplit('/').next().unwrap_or_default().to_string();
                sts_credentials(
                    "AssumeRoleWithWebIdentity",
                    "ASIASTUBWEBID",
                    "webIdSEKRITsecret",
                    &format!("stub-web-identity-token-for-{role_name}"),
                )
            }
            _ => sts_error("InvalidAction", "stub supports AssumeRole only"),
        }
    }))
}

/// Container credentials stub. `/creds` serves every request; `/auth` needs the header
/// `Authorization: stub-container-auth`, as EKS Pod Identity sends it.
pub fn start_container() -> String {
    serve(Arc::new(|request: &Request| {
        let authorized =
            request.headers.get("authorization").map(String::as_str) == Some("stub-container-auth");
        match request.path.as_str() {
            "/creds" => container_json(),
            "/auth" if authorized => container_json(),
            "/auth" => Response::new(401, "text/plain", "missing or wrong Authorization"),
            _ => Response::new(404, "text/plain", "not found"),
        }
    }))
}

fn container_json() -> Response {
    Response::new(
        200,
        "application/json",
        format!(
            "{{\"AccessKeyId\":\"ASIASTUBCONTAINER\",\"SecretAccessKey\":\"containerSEKRITsecret\",\
             \"Token\":\"containerSEKRITtoken\",\"Expiration\":\"{STUB_EXPIRATION}\"}}"
        ),
    )
}

/// IMDSv2 stub: every GET needs the session token from `PUT /latest/api/token`,
/// and the token request needs the TTL header, as on EC2.
pub fn start_imds() -> String {
    const SESSION: &str = "stub-imds-session";
    serve(Arc::new(|request: &Request| {
        if request.method == "PUT" && request.path == "/latest/api/token" {
            if !request
                .headers
                .contains_key("x-aws-ec2-metadata-token-ttl-seconds")
            {
                return Response::new(400, "text/plain", "missing TTL header");
            }
            let mut response = Response::new(200, "text/plain", SESSION);
            response.extra_header = Some(("x-aws-ec2-metadata-token-ttl-seconds", "21600"));
            return response;
        }
        if request
            .headers
            .get("x-aws-ec2-metadata-token")
            .map(String::as_str)
            != Some(SESSION)
        {
            return Response::new(401, "text/plain", "IMDSv2 session token required");
        }
        match request.path.as_str() {
            "/latest/meta-data/iam/security-credentials/" => {
                Response::new(200, "text/plain", "stub-instance-role")
            }
            "/latest/meta-data/iam/security-credentials/stub-instance-role" => Response::new(
                200,
                "application/json",
                format!(
                    "{{\"Code\":\"Success\",\"LastUpdated\":\"2026-01-01T00:00:00Z\",\
                     \"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIASTUBIMDS\",\
                     \"SecretAccessKey\":\"imdsSEKRITsecret\",\"Token\":\"imdsSEKRITtoken\",\
                     \"Expiration\":\"{STUB_EXPIRATION}\"}}"
                ),
            ),
            _ => Response::new(404, "text/plain", "not found"),
        }
    }))
}
