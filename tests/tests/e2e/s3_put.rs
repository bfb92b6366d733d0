//! s3-put against real S3-compatible servers: sizes around the part boundary,
//! checksums, special keys, input checks, signals, credential refresh, and
//! failures injected by a loopback proxy. Every failure case checks that no
//! object and no incomplete multipart upload is left at the key.

mod fault_proxy;

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use e2e_tests::{S3Kind, S3Server, clean_command, scratch_dir, terminal_command, tool_binary};
use fault_proxy::{CannedReply, FaultProxy};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
const PART: usize = 5 * MIB;

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
fn test_data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Builds an s3-put command for `endpoint` with the server's credentials.
fn s3_put(server: &S3Server, endpoint: &str, key: &str, home: &Path) -> Command {
    s3_put_to_bucket(server, &server.bucket, endpoint, key, home)
}

/// Builds an s3-put command like [`s3_put`] for another bucket on the server.
fn s3_put_to_bucket(
    server: &S3Server,
    bucket: &str,
    endpoint: &str,
    key: &str,
    home: &Path,
) -> Command {
    let mut command = clean_command(tool_binary("s3-put"), home);
    command.envs(server.env());
    command.args(["--bucket", bucket, "--key", key, "--endpoint-url", endpoint]);
    command.args(["--part-size", "5MiB"]);
    command
}

fn run_with_input(mut command: Command, input: &[u8]) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    // s3-put may stop reading early (that is the point of several tests), so a
    // broken pipe here is expected.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn result_json(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "s3-put failed with {:?}: {}",
        output.status,
        stderr_of(output)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("stdout is not JSON ({err}): {:?}", output.stdout))
}

fn assert_stored(server: &S3Server, key: &str, data: &[u8], output: &Output) {
    let json = result_json(output);
    assert_eq!(json["key"], key);
    assert_eq!(json["size"], data.len() as u64);
    assert_eq!(json["sha256"], sha256_hex(data));
    let stored = server
        .get_object(key)
        .unwrap_or_else(|| panic!("{}: object {key:?} not found", server.kind));
    assert_eq!(
        stored.len(),
        data.len(),
        "{}: stored size of {key:?}",
        server.kind
    );
    assert!(
        stored == data,
        "{}: stored content of {key:?} differs",
        server.kind
    );
}

fn assert_nothing_left(server: &S3Server, key: &str) {
    assert!(
        !server.object_exists(key),
        "{}: an object exists at {key:?} after a failed upload",
        server.kind
    );
    let uploads = server.incomplete_uploads(key);
    assert!(
        uploads.is_empty(),
        "{}: incomplete uploads left for {key:?}: {uploads:?}",
        server.kind
    );
}

fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "unexpected exit status; stderr: {}",
        stderr_of(output)
    );
}

#[test]
fn sizes_around_part_boundary() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let cases = [
            ("one-byte", 1, 1),
            ("part-minus-one", PART - 1, 1),
            ("exactly-one-part", PART, 1),
            ("part-plus-one", PART + 1, 2),
            ("two-parts", 2 * PART, 2),
        ];
        for (key, len, parts) in cases {
            let data = test_data(len, len as u64);
            let output = run_with_input(s3_put(&server, &server.endpoint, key, home.path()), &data);
            assert_stored(&server, key, &data, &output);
            let json = result_json(&output);
            assert_eq!(json["parts"], parts, "{kind} {key}");
            assert_eq!(json["multipart"], parts > 1, "{kind} {key}");
            assert_eq!(json["part_size"], PART as u64, "{kind} {key}");
            assert!(
                json["etag"].as_str().is_some_and(|etag| !etag.is_empty()),
                "{kind} {key}"
            );
        }
    }
}

#[test]
fn empty_input_needs_allow_empty() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();

        let output = run_with_input(s3_put(&server, &server.endpoint, "empty", home.path()), b"");
        assert_exit(&output, 3);
        assert!(
            stderr_of(&output).contains("--allow-empty"),
            "{}",
            stderr_of(&output)
        );
        assert_nothing_left(&server, "empty");

        let mut command = s3_put(&server, &server.endpoint, "empty", home.path());
        command.arg("--allow-empty");
        let output = run_with_input(command, b"");
        assert_stored(&server, "empty", b"", &output);
    }
}

#[test]
fn large_stream_round_trip() {
    let data = test_data(200 * MIB + 12_345, 200);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let output = run_with_input(
            s3_put(&server, &server.endpoint, "large", home.path()),
            &data,
        );
        assert_stored(&server, "large", &data, &output);
        assert_eq!(result_json(&output)["parts"], 41, "{kind}");
    }
}

#[test]
fn every_checksum_algorithm_accepted() {
    let data = test_data(2 * PART + 77, 7);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        for (algorithm, reported) in [
            ("crc64nvme", "CRC64NVME"),
            ("crc32c", "CRC32C"),
            ("sha256", "SHA256"),
            ("none", ""),
        ] {
            for (label, input) in [("single", &data[..1000]), ("multipart", &data[..])] {
                let key = format!("checksum-{algorithm}-{label}");
                let mut command = s3_put(&server, &server.endpoint, &key, home.path());
                command.args(["--checksum", algorithm]);
                let output = run_with_input(command, input);
                assert_stored(&server, &key, input, &output);
                let json = result_json(&output);
                if reported.is_empty() {
                    assert!(json["checksum"].is_null(), "{kind} {key}");
                } else {
                    assert_eq!(json["checksum"]["algorithm"], reported, "{kind} {key}");
                }
            }
        }
    }
}

#[test]
fn special_keys_stored_verbatim() {
    let keys = [
        "backups/with space/snap shot.db",
        "plus+sign/a+b=c",
        "double//slash//key",
        "ünïcödé/スナップショット.db",
        "percent%20literal&amp;?query#hash",
    ];
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        for (index, key) in keys.iter().enumerate() {
            for len in [100, PART + 1] {
                let data = test_data(len, index as u64 + 1);
                let output =
                    run_with_input(s3_put(&server, &server.endpoint, key, home.path()), &data);
                assert_stored(&server, key, &data, &output);
            }
        }
    }
}

#[test]
fn part_limit_fails_cleanly() {
    let data = test_data(3 * PART + 1, 3);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let mut command = s3_put(&server, &server.endpoint, "too-many-parts", home.path());
        command.args(["--max-parts", "3"]);
        let output = run_with_input(command, &data);
        assert_exit(&output, 3);
        assert!(
            stderr_of(&output).contains("does not fit in 3 parts"),
            "{}",
            stderr_of(&output)
        );
        assert_nothing_left(&server, "too-many-parts");

        // Exactly the capacity still fits.
        let mut command = s3_put(
            &server,
            &server.endpoint,
            "exactly-three-parts",
            home.path(),
        );
        command.args(["--max-parts", "3"]);
        let output = run_with_input(command, &data[..3 * PART]);
        assert_stored(&server, "exactly-three-parts", &data[..3 * PART], &output);
    }
}

#[test]
fn expected_size_mismatch_aborts() {
    let data = test_data(2 * PART + 10, 4);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        for (key, expected) in [
            ("shorter-than-declared", data.len() + 1),
            ("longer-than-declared", data.len() - 1),
        ] {
            let mut command = s3_put(&server, &server.endpoint, key, home.path());
            command.args(["--expected-size", &expected.to_string()]);
            let output = run_with_input(command, &data);
            assert_exit(&output, 3);
            assert_nothing_left(&server, key);
        }
        let mut command = s3_put(&server, &server.endpoint, "declared-size", home.path());
        command.args(["--expected-size", &data.len().to_string()]);
        assert_stored(
            &server,
            "declared-size",
            &data,
            &run_with_input(command, &data),
        );
    }
}

/// Builds a stand-in for a raw etcd snapshot: whole 4 KiB pages plus their SHA-256.
fn fake_snapshot(pages: usize) -> Vec<u8> {
    let mut data = test_data(pages * 4096, pages as u64);
    let digest = Sha256::digest(&data);
    data.extend_from_slice(&digest);
    data
}

#[test]
fn verify_snapshot_trailer() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        for (label, pages) in [("single", 10), ("multipart", 3000)] {
            let snapshot = fake_snapshot(pages);
            let key = format!("snapshot-{label}");
            let mut command = s3_put(&server, &server.endpoint, &key, home.path());
            command.args(["--verify", "etcd-snapshot"]);
            assert_stored(
                &server,
                &key,
                &snapshot,
                &run_with_input(command, &snapshot),
            );

            let mut corrupt = snapshot.clone();
            corrupt[4096 * (pages / 2)] ^= 0x40;
            let key = format!("corrupt-{label}");
            let mut command = s3_put(&server, &server.endpoint, &key, home.path());
            command.args(["--verify", "etcd-snapshot"]);
            let output = run_with_input(command, &corrupt);
            assert_exit(&output, 3);
            assert!(
                stderr_of(&output).contains("does not match"),
                "{}",
                stderr_of(&output)
            );
            assert_nothing_left(&server, &key);

            let key = format!("truncated-{label}");
            let mut command = s3_put(&server, &server.endpoint, &key, home.path());
            command.args(["--verify", "etcd-snapshot"]);
            let output = run_with_input(command, &snapshot[..snapshot.len() - 4096]);
            assert_exit(&output, 3);
            assert_nothing_left(&server, &key);
        }
    }
}

#[test]
fn producer_exit_status_decides() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let script = format!("head -c {} /dev/zero; exit 7", 2 * PART + 3);
        let mut command = s3_put(&server, &server.endpoint, "producer-failed", home.path());
        command.args(["--", "sh", "-c", &script]);
        let output = run_with_input(command, b"");
        assert_exit(&output, 4);
        assert!(
            stderr_of(&output).contains("exited with status 7"),
            "{}",
            stderr_of(&output)
        );
        assert_nothing_left(&server, "producer-failed");

        let script = format!("head -c {} /dev/zero", 2 * PART + 3);
        let mut command = s3_put(&server, &server.endpoint, "producer-ok", home.path());
        command.args(["--", "sh", "-c", &script]);
        let output = run_with_input(command, b"");
        assert_stored(&server, "producer-ok", &vec![0u8; 2 * PART + 3], &output);
    }
}

#[test]
fn metadata_tags_and_content_type() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let summary = home.path().join("summary.json");
        std::fs::write(
            &summary,
            r#"{"revision":42,"etcdVersion":"3.5.1","hash":{"crc32":"abc"}}"#,
        )
        .unwrap();
        for (key, len) in [("meta-single", 10), ("meta-multipart", PART + 10)] {
            let data = test_data(len, 9);
            let mut command = s3_put(&server, &server.endpoint, key, home.path());
            command.args(["--metadata", "Cluster=prod", "--tag", "team=sre"]);
            command.args(["--content-type", "application/x-etcd-snapshot"]);
            command.arg("--metadata-json").arg(&summary);
            assert_stored(&server, key, &data, &run_with_input(command, &data));

            let head = server.head_object(key).unwrap();
            assert_eq!(
                head.content_type.as_deref(),
                Some("application/x-etcd-snapshot"),
                "{kind} {key}"
            );
            assert_eq!(
                head.metadata.get("cluster").map(String::as_str),
                Some("prod"),
                "{kind} {key}"
            );
            assert_eq!(
                head.metadata.get("etcd-revision").map(String::as_str),
                Some("42"),
                "{kind} {key}"
            );
            assert_eq!(
                head.metadata.get("etcd-hash-crc32").map(String::as_str),
                Some("abc"),
                "{kind} {key}"
            );
        }
    }
}

#[test]
fn if_none_match_keeps_existing_object() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        for (key, len) in [("exists-single", 100), ("exists-multipart", PART + 100)] {
            let original = test_data(len, 1);
            let output = run_with_input(
                s3_put(&server, &server.endpoint, key, home.path()),
                &original,
            );
            assert_stored(&server, key, &original, &output);

            let replacement = test_data(len, 2);
            let mut command = s3_put(&server, &server.endpoint, key, home.path());
            command.arg("--if-none-match");
            let output = run_with_input(command, &replacement);
            assert!(
                !output.status.success(),
                "{kind} {key}: overwrite was accepted"
            );
            assert!(
                server.get_object(key).unwrap() == original,
                "{kind} {key}: object changed"
            );
            assert!(
                server.incomplete_uploads(key).is_empty(),
                "{kind} {key}: upload left behind"
            );
        }
    }
}

/// Starts s3-put reading from a pipe that the test feeds by hand.
fn spawn_streaming(mut command: Command) -> Child {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command.spawn().unwrap()
}

fn wait_for_upload(server: &S3Server, key: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.incomplete_uploads(key).is_empty() {
        assert!(
            Instant::now() < deadline,
            "{}: multipart upload for {key} never started",
            server.kind
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn sigint_aborts_upload() {
    for kind in S3Kind::available() {
        for (signal, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
            let server = S3Server::start(kind);
            let home = scratch_dir();
            let key = format!("interrupted-{code}");
            let mut child = spawn_streaming(s3_put(&server, &server.endpoint, &key, home.path()));
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(&test_data(PART + 1, 5)).unwrap();
            wait_for_upload(&server, &key);

            // SAFETY: kill(2) on the pid of a child this test spawned and has not reaped.
            let result = unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            assert_eq!(result, 0);
            let output = child.wait_with_output().unwrap();
            drop(stdin);
            assert_exit(&output, code);
            assert_nothing_left(&server, &key);
        }
    }
}

#[test]
fn credential_process_refreshes() {
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let counter = home.path().join("invocations");
        let script = home.path().join("credentials.sh");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho run >> '{}'\nexpires=$(date -u -d '+12 seconds' +%Y-%m-%dT%H:%M:%SZ)\n\
                 printf '{{\"Version\":1,\"AccessKeyId\":\"%s\",\"SecretAccessKey\":\"%s\",\"Expiration\":\"%s\"}}\\n' \
                 '{}' '{}' \"$expires\"\n",
                counter.display(),
                server.access_key,
                server.secret_key
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .unwrap();

        let mut command = clean_command(tool_binary("s3-put"), home.path());
        command.args([
            "--bucket",
            &server.bucket,
            "--key",
            "refreshed",
            "--endpoint-url",
            &server.endpoint,
        ]);
        command.args(["--part-size", "5MiB", "--credential-process"]);
        command.arg(&script);
        let mut child = spawn_streaming(command);
        let mut stdin = child.stdin.take().unwrap();
        let data = test_data(3 * PART, 11);
        // The lazy identity cache refreshes 10 s (plus jitter) before expiry,
        // so a gap of several seconds between parts forces a second run.
        for chunk in data.chunks(PART) {
            stdin.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_secs(4));
        }
        drop(stdin);
        let output = child.wait_with_output().unwrap();
        assert_stored(&server, "refreshed", &data, &output);
        let runs = std::fs::read_to_string(&counter).unwrap().lines().count();
        assert!(
            runs > 1,
            "{kind}: the credential process ran {runs} time(s)"
        );
    }
}

#[test]
fn missing_credentials_explained() {
    let home = scratch_dir();
    let mut command = clean_command(tool_binary("s3-put"), home.path());
    command.args([
        "--bucket",
        "b",
        "--key",
        "k",
        "--endpoint-url",
        "http://127.0.0.1:9",
    ]);
    let output = run_with_input(command, b"data");
    assert_exit(&output, 2);
    assert!(
        stderr_of(&output).contains("creds-resolve"),
        "{}",
        stderr_of(&output)
    );
}

/// Endpoint mistakes: each case gives the `--endpoint-url` value, the exit
/// code and a text the message must contain.
#[test]
fn endpoint_mistakes_explained() {
    let home = scratch_dir();
    // Port 9 (discard) has no listener in the test namespace or on a normal host.
    let cases = [
        ("", 2, "--endpoint-url is empty"),
        ("http://127.0.0.1:107033", 2, "1 to 65535"),
        ("127.0.0.1:9000", 2, "http://"),
        ("http://127.0.0.1:9", 1, "nothing accepts connections"),
    ];
    for (endpoint, code, text) in cases {
        let mut command = clean_command(tool_binary("s3-put"), home.path());
        command
            .args(["--bucket", "b", "--key", "k", "--endpoint-url", endpoint])
            .args(["--max-attempts", "2"])
            .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
            .env("AWS_SECRET_ACCESS_KEY", "example-secret");
        let output = run_with_input(command, b"data");

        assert_exit(&output, code);
        let stderr = stderr_of(&output);
        assert!(stderr.contains(text), "{endpoint:?}: {stderr}");
    }
}

#[test]
fn terminal_stdin_rejected() {
    let home = scratch_dir();
    let binary = tool_binary("s3-put");
    let mut command = terminal_command(
        &format!(
            "{} --bucket b --key k --endpoint-url http://127.0.0.1:9",
            binary.display()
        ),
        home.path(),
    );
    command
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "example-secret")
        .stdin(Stdio::null());
    let output = command.output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(2), "{text}");
    assert!(text.contains("stdin is a terminal"), "{text}");
}

#[test]
fn part_failures_are_retried() {
    let data = test_data(3 * PART + 5, 21);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let proxy = FaultProxy::start(&server.endpoint);
        proxy.faults.upload_part_500.store(3, Ordering::SeqCst);
        proxy.faults.upload_part_drop.store(2, Ordering::SeqCst);
        let output = run_with_input(
            s3_put(&server, &proxy.endpoint, "retried", home.path()),
            &data,
        );
        assert_stored(&server, "retried", &data, &output);
        assert_eq!(
            proxy.faults.upload_part_500.load(Ordering::SeqCst),
            0,
            "{kind}"
        );
        assert_eq!(
            proxy.faults.upload_part_drop.load(Ordering::SeqCst),
            0,
            "{kind}"
        );
        assert!(
            proxy.faults.upload_parts_seen.load(Ordering::SeqCst) >= 4 + 5,
            "{kind}"
        );
    }
}

#[test]
fn part_failing_every_attempt_aborts() {
    let data = test_data(3 * PART + 5, 22);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let proxy = FaultProxy::start(&server.endpoint);
        proxy
            .faults
            .upload_part_500
            .store(u32::MAX, Ordering::SeqCst);
        let mut command = s3_put(&server, &proxy.endpoint, "always-failing", home.path());
        command.args(["--max-attempts", "3"]);
        let output = run_with_input(command, &data);
        assert_exit(&output, 1);
        assert!(
            stderr_of(&output).contains("UploadPart"),
            "{}",
            stderr_of(&output)
        );
        assert_nothing_left(&server, "always-failing");
    }
}

/// S3 error responses that neither test server returns on its own, because
/// neither enforces a region, rejects a clock within its own limit or has
/// bucket policies. The proxy returns them for every UploadPart, and each case
/// lists what s3-put's message must contain.
fn rejected_part_cases() -> Vec<(&'static str, CannedReply, Vec<&'static str>)> {
    vec![
        (
            "wrong-region",
            CannedReply {
                status: "400 Bad Request",
                headers: vec![],
                body: "<Error><Code>AuthorizationHeaderMalformed</Code><Message>The \
                       authorization header is malformed; the region 'us-east-1' is wrong; \
                       expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>",
            },
            vec!["UploadPart", "region eu-west-1", "--region eu-west-1"],
        ),
        (
            "clock-skew",
            CannedReply {
                status: "403 Forbidden",
                headers: vec![],
                body: "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference \
                       between the request time and the current time is too large.</Message>\
                       <MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds></Error>",
            },
            vec!["UploadPart", "clock", "NTP"],
        ),
        (
            "access-denied",
            CannedReply {
                status: "403 Forbidden",
                headers: vec![("x-amz-request-id", "test-proxy")],
                body: "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
            },
            vec!["access denied", "UploadPart", "s3:PutObject"],
        ),
    ]
}

#[test]
fn rejected_part_explained_and_aborted() {
    let data = test_data(2 * PART + 17, 27);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let proxy = FaultProxy::start(&server.endpoint);

        for (key, reply, expected) in rejected_part_cases() {
            *proxy.faults.upload_part_reply.lock().unwrap() = Some(reply);
            let mut command = s3_put(&server, &proxy.endpoint, key, home.path());
            command.args(["--max-attempts", "2"]);
            let output = run_with_input(command, &data);

            assert_exit(&output, 1);
            let stderr = stderr_of(&output);
            for text in expected {
                assert!(
                    stderr.contains(text),
                    "{kind} {key}: {text:?} missing in {stderr}"
                );
            }
            assert_nothing_left(&server, key);
        }
    }
}

/// Object Lock retention, SSE-S3 and the storage class are stored with the
/// object, for a single PUT and a multipart upload. Only SeaweedFS implements
/// them, because s3s-fs ignores these headers.
#[test]
fn retention_encryption_and_storage_class_stored() {
    use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
    use aws_sdk_s3::types::{ObjectLockMode, ServerSideEncryption, StorageClass};

    let server = S3Server::start(S3Kind::SeaweedFs);
    let home = scratch_dir();
    let client = server.client();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let locked = "e2e-locked";
    runtime
        .block_on(
            client
                .create_bucket()
                .bucket(locked)
                .object_lock_enabled_for_bucket(true)
                .send(),
        )
        .unwrap();
    let retain_until =
        DateTime::from_secs(DateTime::from(std::time::SystemTime::now()).secs() + 86_400);
    let retain_until_text = retain_until.fmt(DateTimeFormat::DateTime).unwrap();

    for (key, len) in [("single", 1000), ("multipart", 2 * PART + 3)] {
        let data = test_data(len, 51);

        let mut command = s3_put_to_bucket(&server, locked, &server.endpoint, key, home.path());
        command
            .args(["--object-lock-mode", "GOVERNANCE"])
            .args(["--object-lock-retain-until", &retain_until_text]);
        let output = run_with_input(command, &data);
        let json = result_json(&output);
        let head = runtime
            .block_on(client.head_object().bucket(locked).key(key).send())
            .unwrap();
        assert_eq!(
            head.object_lock_mode(),
            Some(&ObjectLockMode::Governance),
            "{key}"
        );
        assert_eq!(
            head.object_lock_retain_until_date(),
            Some(&retain_until),
            "{key}"
        );
        assert_eq!(head.content_length(), Some(len as i64), "{key}");
        let version = head.version_id().unwrap().to_owned();
        assert_eq!(json["version_id"], version.as_str(), "{key}");
        let delete = runtime.block_on(
            client
                .delete_object()
                .bucket(locked)
                .key(key)
                .version_id(&version)
                .send(),
        );
        assert!(delete.is_err(), "{key}: a locked version was deleted");

        let encrypted = format!("encrypted-{key}");
        let mut command = s3_put(&server, &server.endpoint, &encrypted, home.path());
        command
            .args(["--sse", "AES256"])
            .args(["--storage-class", "STANDARD_IA"]);
        let output = run_with_input(command, &data);
        assert_stored(&server, &encrypted, &data, &output);
        let head = runtime
            .block_on(
                client
                    .head_object()
                    .bucket(&server.bucket)
                    .key(&encrypted)
                    .send(),
            )
            .unwrap();
        assert_eq!(
            head.server_side_encryption(),
            Some(&ServerSideEncryption::Aes256),
            "{key}"
        );
        assert_eq!(
            head.storage_class(),
            Some(&StorageClass::StandardIa),
            "{key}"
        );
    }
}

/// SSE-KMS needs a KMS behind the server, which neither test server has, so
/// this checks the headers s3-put sends through the proxy to s3s-fs, which
/// ignores them and stores the object.
#[test]
fn sse_kms_headers_sent() {
    let server = S3Server::start(S3Kind::S3sFs);
    let home = scratch_dir();
    let proxy = FaultProxy::start(&server.endpoint);

    for (key, len) in [("kms-single", 1000), ("kms-multipart", 2 * PART + 3)] {
        let data = test_data(len, 53);
        let mut command = s3_put(&server, &proxy.endpoint, key, home.path());
        command
            .args(["--sse", "aws:kms"])
            .args(["--sse-kms-key-id", "backup-key"]);
        let output = run_with_input(command, &data);
        assert_stored(&server, key, &data, &output);
    }

    let heads = proxy.faults.request_heads.lock().unwrap().clone();
    let creating: Vec<&String> = heads
        .iter()
        .filter(|head| {
            let line = head.lines().next().unwrap_or("");
            (line.starts_with("PUT ") && !line.contains("partNumber="))
                || (line.starts_with("POST ") && line.contains("uploads"))
        })
        .collect();
    assert_eq!(creating.len(), 2, "{heads:#?}");
    for head in creating {
        let lower = head.to_ascii_lowercase();
        assert!(
            lower.contains("x-amz-server-side-encryption: aws:kms\r\n"),
            "{head}"
        );
        assert!(
            lower.contains("x-amz-server-side-encryption-aws-kms-key-id: backup-key\r\n"),
            "{head}"
        );
    }
}

/// HTTP_PROXY routes every request through the proxy it names, and NO_PROXY
/// exempts the endpoint again.
#[test]
fn proxy_variables_honoured() {
    let data = test_data(2 * PART + 11, 57);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let proxy = FaultProxy::start(&server.endpoint);

        let mut command = s3_put(&server, &server.endpoint, "via-proxy", home.path());
        command.env("HTTP_PROXY", &proxy.endpoint);
        let output = run_with_input(command, &data);
        assert_stored(&server, "via-proxy", &data, &output);
        let proxied = proxy.faults.request_heads.lock().unwrap().len();
        assert!(
            proxied >= 4,
            "{kind}: only {proxied} requests went through the proxy"
        );

        let mut command = s3_put(&server, &server.endpoint, "proxy-exempt", home.path());
        command
            .env("HTTP_PROXY", &proxy.endpoint)
            .env("NO_PROXY", "127.0.0.1");
        let output = run_with_input(command, &data);
        assert_stored(&server, "proxy-exempt", &data, &output);
        let after = proxy.faults.request_heads.lock().unwrap().len();
        assert_eq!(after, proxied, "{kind}: NO_PROXY was ignored");
    }
}

#[test]
fn complete_error_in_200_body() {
    let data = test_data(2 * PART + 5, 23);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();

        // Once: the SDK treats it as a retryable error and the retry succeeds.
        let proxy = FaultProxy::start(&server.endpoint);
        proxy.faults.complete_200_error.store(1, Ordering::SeqCst);
        let output = run_with_input(
            s3_put(&server, &proxy.endpoint, "complete-once", home.path()),
            &data,
        );
        assert_stored(&server, "complete-once", &data, &output);
        assert!(
            proxy.faults.completes_seen.load(Ordering::SeqCst) >= 2,
            "{kind}"
        );

        // Always: no object may appear, and the upload must be aborted.
        proxy
            .faults
            .complete_200_error
            .store(u32::MAX, Ordering::SeqCst);
        let mut command = s3_put(&server, &proxy.endpoint, "complete-never", home.path());
        command.args(["--max-attempts", "2"]);
        let output = run_with_input(command, &data);
        assert_exit(&output, 1);
        assert!(
            stderr_of(&output).contains("CompleteMultipartUpload"),
            "{}",
            stderr_of(&output)
        );
        assert_nothing_left(&server, "complete-never");
    }
}

#[test]
fn lost_complete_response() {
    let data = test_data(2 * PART + 9, 24);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let proxy = FaultProxy::start(&server.endpoint);
        proxy
            .faults
            .complete_drop_response
            .store(1, Ordering::SeqCst);
        let output = run_with_input(
            s3_put(&server, &proxy.endpoint, "complete-lost", home.path()),
            &data,
        );
        assert_eq!(
            proxy.faults.complete_drop_response.load(Ordering::SeqCst),
            0,
            "{kind}"
        );

        // The server stored the object, and the retried Complete finds the upload
        // gone. Where HeadObject reports the full-object checksum, s3-put proves
        // the object is its own and succeeds. s3s-fs 0.14 reports none, so there
        // s3-put fails although the object exists, the limit in docs/s3-put.md.
        if kind == S3Kind::S3sFs {
            assert_exit(&output, 1);
            assert!(
                server.get_object("complete-lost").unwrap() == data,
                "{kind}"
            );
        } else {
            assert_stored(&server, "complete-lost", &data, &output);
        }
        assert!(
            server.incomplete_uploads("complete-lost").is_empty(),
            "{kind}"
        );
    }
}

#[test]
fn server_killed_mid_upload() {
    for kind in S3Kind::available() {
        let mut server = S3Server::start(kind);
        let home = scratch_dir();
        let mut command = s3_put(&server, &server.endpoint, "server-killed", home.path());
        command.args(["--max-attempts", "2"]);
        let mut child = spawn_streaming(command);
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&test_data(PART + 1, 31)).unwrap();
        wait_for_upload(&server, "server-killed");

        server.kill();
        // Feeding more input makes s3-put send the next part to the dead server.
        let _ = stdin.write_all(&test_data(2 * PART, 32));
        drop(stdin);
        let output = child.wait_with_output().unwrap();

        // The abort cannot reach a dead server, so s3-put must report that and
        // print the command that removes the upload later.
        assert_exit(&output, 5);
        let stderr = stderr_of(&output);
        assert!(stderr.contains("abort-multipart-upload"), "{stderr}");
        assert!(
            !output.stdout.iter().any(|b| !b.is_ascii_whitespace()),
            "{kind}: result printed"
        );
    }
}

/// A TLS terminator in Python that forwards decrypted bytes to `upstream`, so
/// s3-put can talk HTTPS to servers that the harness starts with plain HTTP.
const TLS_TERMINATOR: &str = r#"
import socket, ssl, sys, threading
cert, key, host, port, rejected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)

def pipe(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

def handle(client):
    try:
        secure = context.wrap_socket(client, server_side=True)
    except (ssl.SSLError, OSError):
        client.close()
        with open(rejected, "a") as log:
            log.write("handshake failed\n")
        return
    upstream = socket.create_connection((host, port))
    threading.Thread(target=pipe, args=(secure, upstream), daemon=True).start()
    pipe(upstream, secure)

while True:
    connection, _ = listener.accept()
    threading.Thread(target=handle, args=(connection,), daemon=True).start()
"#;

struct TlsTerminator {
    endpoint: String,
    child: Child,
    /// File with one line per failed TLS handshake.
    rejected: std::path::PathBuf,
}

impl TlsTerminator {
    /// Counts failed handshakes, waiting up to 5 s for the first one to be
    /// logged because the terminator may write it after the client has exited.
    fn failed_handshakes(&self) -> usize {
        let count = || {
            std::fs::read_to_string(&self.rejected)
                .map(|text| text.lines().count())
                .unwrap_or(0)
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while count() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        count()
    }
}

impl Drop for TlsTerminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_terminator(upstream: &str, dir: &Path) -> (TlsTerminator, std::path::PathBuf) {
    // webpki rejects a self-signed CA certificate used as the server's own, so
    // the test makes a CA and a server certificate signed by it.
    let ca_cert = dir.join("ca.pem");
    let ca_key = dir.join("ca-key.pem");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let csr = dir.join("server.csr");
    let extensions = dir.join("server.ext");
    let rejected = dir.join("rejected-handshakes.log");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<std::ffi::OsString>; 3] = [
        ["req", "-x509", "-days", "1", "-subj", "/CN=s3-put test CA"]
            .iter()
            .chain(ec.iter())
            .map(Into::into)
            .chain([
                "-keyout".into(),
                ca_key.clone().into(),
                "-out".into(),
                ca_cert.clone().into(),
            ])
            .collect(),
        ["req", "-subj", "/CN=127.0.0.1"]
            .iter()
            .chain(ec.iter())
            .map(Into::into)
            .chain([
                "-keyout".into(),
                key.clone().into(),
                "-out".into(),
                csr.clone().into(),
            ])
            .collect(),
        ["x509", "-req", "-days", "1"]
            .iter()
            .map(Into::into)
            .chain([
                "-in".into(),
                csr.clone().into(),
                "-CA".into(),
                ca_cert.clone().into(),
                "-CAkey".into(),
                ca_key.clone().into(),
                "-CAcreateserial".into(),
                "-extfile".into(),
                extensions.clone().into(),
                "-out".into(),
                cert.clone().into(),
            ])
            .collect(),
    ];
    for args in steps {
        let output = Command::new("openssl").args(&args).output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let (host, port) = upstream
        .trim_start_matches("http://")
        .rsplit_once(':')
        .unwrap();
    let mut command = Command::new("python3");
    command
        .args(["-c", TLS_TERMINATOR])
        .arg(&cert)
        .arg(&key)
        .args([host, port])
        .arg(&rejected)
        .stdout(Stdio::piped());
    let mut child = e2e_tests::spawn_guarded(command).unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let endpoint = format!("https://127.0.0.1:{}", line.trim());
    let terminator = TlsTerminator {
        endpoint,
        child,
        rejected,
    };
    (terminator, ca_cert)
}

#[test]
fn https_endpoint_trust_options() {
    let data = test_data(PART + 321, 41);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();
        let (tls, cert) = start_tls_terminator(&server.endpoint, home.path());

        // A rejected certificate is not retried, so the one request made
        // (CreateMultipartUpload) fails at its first handshake.
        let command = s3_put(&server, &tls.endpoint, "tls-untrusted", home.path());
        let output = run_with_input(command, &data);
        assert_exit(&output, 1);
        assert_eq!(tls.failed_handshakes(), 1, "{}", stderr_of(&output));
        let stderr = stderr_of(&output);
        assert!(stderr.contains("certificate was rejected"), "{stderr}");
        assert!(stderr.contains("--ca-bundle"), "{stderr}");
        assert_nothing_left(&server, "tls-untrusted");

        // HTTPS with a checksum signs with UNSIGNED-PAYLOAD, so this also shows
        // the server accepts that.
        let mut command = s3_put(&server, &tls.endpoint, "tls-ca-bundle", home.path());
        command.arg("--ca-bundle").arg(&cert);
        assert_stored(
            &server,
            "tls-ca-bundle",
            &data,
            &run_with_input(command, &data),
        );

        let mut command = s3_put(&server, &tls.endpoint, "tls-insecure", home.path());
        command.arg("--insecure-skip-tls-verify");
        let output = run_with_input(command, &data);
        assert_stored(&server, "tls-insecure", &data, &output);
        assert!(
            stderr_of(&output).contains("not checked"),
            "{}",
            stderr_of(&output)
        );
    }
}

#[test]
fn endpoint_from_environment() {
    let data = test_data(1000, 31);
    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let home = scratch_dir();

        // The same variables the AWS SDKs read, and no --endpoint-url.
        for (variable, key) in [
            ("AWS_ENDPOINT_URL_S3", "endpoint-env/s3"),
            ("AWS_ENDPOINT_URL", "endpoint-env/general"),
        ] {
            let mut command = clean_command(tool_binary("s3-put"), home.path());
            command.envs(server.env());
            command.env(variable, &server.endpoint);
            command.args(["--bucket", &server.bucket, "--key", key]);
            let output = run_with_input(command, &data);
            assert_stored(&server, key, &data, &output);
        }
    }
}
