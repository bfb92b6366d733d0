//! A loopback HTTP/1.1 proxy that sits between s3-put and a real S3 server and
//! injects failures into chosen requests.
//!
//! Every client connection carries one request: the proxy forwards it upstream
//! on a fresh connection and adds `Connection: close` to the response, so the
//! client never reuses a socket the proxy is about to close.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Failures still to inject; each counter is decremented per injected failure.
#[derive(Debug, Default)]
pub struct Faults {
    /// UploadPart requests that get a 500 InternalError response.
    pub upload_part_500: AtomicU32,
    /// UploadPart requests whose connection is closed halfway through the body.
    pub upload_part_drop: AtomicU32,
    /// CompleteMultipartUpload requests that get a 200 response with an <Error> body.
    pub complete_200_error: AtomicU32,
    /// CompleteMultipartUpload requests forwarded to the server whose response is
    /// then dropped, as when a connection breaks after the server completed.
    pub complete_drop_response: AtomicU32,
    /// Response sent to every UploadPart request instead of forwarding it, as
    /// from a server that rejects the request.
    pub upload_part_reply: Mutex<Option<CannedReply>>,
    /// Heads (request line and headers) of every request received, in order.
    pub request_heads: Mutex<Vec<String>>,
    /// UploadPart requests seen, injected or not.
    pub upload_parts_seen: AtomicU32,
    /// CompleteMultipartUpload requests seen, injected or not.
    pub completes_seen: AtomicU32,
}

/// An S3 error response: status line, extra headers and XML body.
#[derive(Debug, Clone)]
pub struct CannedReply {
    pub status: &'static str,
    pub headers: Vec<(&'static str, &'static str)>,
    pub body: &'static str,
}

/// A running proxy; it stops accepting when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    pub faults: Arc<Faults>,
    stopped: Arc<AtomicBool>,
    port: u16,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` ("http://127.0.0.1:PORT").
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("the proxy forwards plain HTTP only")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let faults = Arc::new(Faults::default());
        let stopped = Arc::new(AtomicBool::new(false));

        let (thread_faults, thread_stopped) = (faults.clone(), stopped.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if thread_stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (faults, upstream) = (thread_faults.clone(), upstream.clone());
                thread::spawn(move || {
                    // Errors only mean that one side hung up; the client sees and reports them.
                    let _ = handle(stream, &upstream, &faults);
                });
            }
        });

        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            faults,
            stopped,
            port,
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so it checks the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

enum Action {
    Forward,
    Fail500,
    DropMidBody,
    Complete200Error,
    ForwardDropResponse,
    Reply(CannedReply),
}

fn take_one(counter: &AtomicU32) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn choose(method: &str, target: &str, faults: &Faults) -> Action {
    let query = target.split_once('?').map(|(_, query)| query).unwrap_or("");
    let has = |name: &str| query.split('&').any(|pair| pair.starts_with(name));

    if method == "PUT" && has("partNumber=") && has("uploadId=") {
        faults.upload_parts_seen.fetch_add(1, Ordering::SeqCst);
        if let Some(reply) = faults.upload_part_reply.lock().unwrap().clone() {
            return Action::Reply(reply);
        }
        if take_one(&faults.upload_part_500) {
            return Action::Fail500;
        }
        if take_one(&faults.upload_part_drop) {
            return Action::DropMidBody;
        }
    }
    if method == "POST" && has("uploadId=") {
        faults.completes_seen.fetch_add(1, Ordering::SeqCst);
        if take_one(&faults.complete_200_error) {
            return Action::Complete200Error;
        }
        if take_one(&faults.complete_drop_response) {
            return Action::ForwardDropResponse;
        }
    }
    Action::Forward
}

fn handle(client: TcpStream, upstream: &str, faults: &Faults) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let end = line == b"\r\n";
        head.extend_from_slice(&line);
        if end {
            break;
        }
    }

    let text = String::from_utf8_lossy(&head).to_string();
    faults.request_heads.lock().unwrap().push(text.clone());
    let mut request_line = text.lines().next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let content_length: usize = text
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    assert!(
        !text
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "s3-put sent a chunked request body: {text}"
    );

    let mut client = client;
    match choose(&method, &target, faults) {
        Action::DropMidBody => {
            let mut half = vec![0u8; content_length / 2];
            reader.read_exact(&mut half)?;
            client.shutdown(Shutdown::Both)?;
            Ok(())
        }
        Action::Fail500 => {
            std::io::copy(
                &mut (&mut reader).take(content_length as u64),
                &mut std::io::sink(),
            )?;
            respond(
                &mut client,
                "500 Internal Server Error",
                "<Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>",
            )
        }
        Action::Complete200Error => {
            std::io::copy(
                &mut (&mut reader).take(content_length as u64),
                &mut std::io::sink(),
            )?;
            respond(
                &mut client,
                "200 OK",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code>\
                 <Message>injected by the test proxy</Message></Error>",
            )
        }
        Action::Reply(reply) => {
            std::io::copy(
                &mut (&mut reader).take(content_length as u64),
                &mut std::io::sink(),
            )?;
            respond_with(&mut client, reply.status, &reply.headers, reply.body)
        }
        Action::Forward => forward(&mut reader, &mut client, upstream, &head, content_length),
        Action::ForwardDropResponse => {
            forward(
                &mut reader,
                &mut std::io::sink(),
                upstream,
                &head,
                content_length,
            )?;
            client.shutdown(Shutdown::Both)
        }
    }
}

fn respond(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    respond_with(client, status, &[], body)
}

fn respond_with(
    client: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Type: application/xml\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())?;
    client.flush()
}

fn forward(
    reader: &mut BufReader<TcpStream>,
    client: &mut dyn Write,
    upstream: &str,
    head: &[u8],
    content_length: usize,
) -> std::io::Result<()> {
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&with_connection_close(head))?;
    std::io::copy(&mut reader.take(content_length as u64), &mut server)?;
    server.flush()?;

    let mut response = BufReader::new(server);
    let mut response_head = Vec::new();
    loop {
        let mut line = Vec::new();
        if response.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let end = line == b"\r\n";
        response_head.extend_from_slice(&line);
        if end {
            break;
        }
    }
    client.write_all(&with_connection_close(&response_head))?;
    std::io::copy(&mut response, client)?;
    client.flush()
}

/// Replaces any Connection header in an HTTP head with `Connection: close`.
fn with_connection_close(head: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}
