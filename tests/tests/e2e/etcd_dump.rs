//! etcd-dump against real etcd 3.4 and 3.5 servers. Snapshots restore with every key and value,
//! and the summary describes the bytes written. Each kind of failure (server killed mid-stream,
//! wrong CA, client certificate or password, missing preset file, dead endpoint) exits non-zero
//! with a message that names the cause.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use e2e_tests::{
    EtcdOptions, EtcdServer, EtcdVersion, clean_command, free_port, scratch_dir, terminal_command,
    tool_binary,
};
use sha2::{Digest, Sha256};

type KeyValues = Vec<(Vec<u8>, Vec<u8>)>;

const EXIT_FAILED: i32 = 1;
const EXIT_USAGE: i32 = 2;
const EXIT_BROKEN_PIPE: i32 = 141;

/// Value size and count for the tests that kill the server mid-stream: 64 MiB of incompressible
/// data, far more than the socket buffers and etcd-dump's own buffers hold in flight.
const LARGE_VALUE_SIZE: usize = 512 * 1024;
const LARGE_VALUE_COUNT: usize = 128;

/// Keys with text, binary and empty values, and binary keys, so the restore check is
/// byte-exact rather than only textual.
fn small_data() -> KeyValues {
    let mut items: KeyValues = (0..500)
        .map(|i| {
            (
                format!("/registry/item/{i:04}").into_bytes(),
                format!("value-{i}").repeat(i % 7 + 1).into_bytes(),
            )
        })
        .collect();
    items.push((vec![0x00, 0xff, 0x10], vec![0xde, 0xad, 0xbe, 0xef]));
    items.push((b"empty-value".to_vec(), Vec::new()));
    items
}

/// Pseudo-random bytes from a simple xorshift, so values do not compress and the run is
/// reproducible.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn large_data() -> KeyValues {
    (0..LARGE_VALUE_COUNT)
        .map(|i| {
            (
                format!("/large/{i:04}").into_bytes(),
                noise(LARGE_VALUE_SIZE, i as u64 + 1),
            )
        })
        .collect()
}

/// Builds an etcd-dump command with a clean environment and `--endpoints` set to the server.
fn dump_command(server: &EtcdServer, home: &Path) -> Command {
    let mut command = clean_command(tool_binary("etcd-dump"), home);
    command.arg("--endpoints").arg(&server.endpoint);
    command
}

/// Adds the server's TLS files to `command`.
fn with_tls(command: &mut Command, server: &EtcdServer) {
    let tls = server.tls.as_ref().expect("server started with TLS");
    command
        .arg("--cacert")
        .arg(&tls.ca)
        .arg("--cert")
        .arg(&tls.client_cert)
        .arg("--key")
        .arg(&tls.client_key);
}

fn run(mut command: Command) -> Output {
    command
        .stdin(Stdio::null())
        .output()
        .expect("etcd-dump runs")
}

fn stderr_of(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns whether `bytes` end with the SHA-256 of everything before them.
fn has_valid_trailer(bytes: &[u8]) -> bool {
    if bytes.len() < 32 {
        return false;
    }
    let (db, trailer) = bytes.split_at(bytes.len() - 32);
    Sha256::digest(db).as_slice() == trailer
}

fn read_summary(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("summary written");
    serde_json::from_str(&text).expect("summary is JSON")
}

/// Asserts that `summary` describes exactly `snapshot`, taken from `server`.
fn assert_summary_matches(summary: &serde_json::Value, snapshot: &[u8], server: &EtcdServer) {
    let db = &snapshot[..snapshot.len() - 32];
    assert_eq!(summary["endpoint"], server.endpoint.as_str());
    assert_eq!(summary["size"], snapshot.len() as u64);
    assert_eq!(summary["db_size"], db.len() as u64);
    assert_eq!(summary["sha256"], hex::encode(Sha256::digest(snapshot)));
    assert_eq!(summary["db_sha256"], hex::encode(Sha256::digest(db)));
    assert_eq!(summary["db_sha256"], hex::encode(&snapshot[db.len()..]));
    let version = summary["etcd_version"].as_str().unwrap();
    assert!(
        version.starts_with(server.version.label()),
        "etcd_version {version} for etcd {}",
        server.version
    );
    assert!(summary["revision"].as_i64().unwrap() > 1, "{summary}");
    assert!(!summary["member_id"].as_str().unwrap().is_empty());
    assert!(!summary["cluster_id"].as_str().unwrap().is_empty());
    let started = summary["started_at"].as_str().unwrap();
    let finished = summary["finished_at"].as_str().unwrap();
    assert!(
        started.ends_with('Z') && finished.ends_with('Z'),
        "{summary}"
    );
    assert!(started <= finished, "{summary}");
}

/// Writes `snapshot` to a file, restores it into a new server and compares every key and
/// value with `expected`.
fn assert_restores(
    version: EtcdVersion,
    snapshot: &[u8],
    auth: Option<(String, String)>,
    expected: &KeyValues,
) {
    let dir = scratch_dir();
    let file = dir.path().join("snapshot.db");
    std::fs::write(&file, snapshot).unwrap();
    let restored = EtcdServer::start_from_snapshot_with_auth(version, &file, auth);
    let actual = restored.all_keys_and_values();
    assert_eq!(actual.len(), expected.len(), "key count after restore");
    assert!(actual == *expected, "keys or values differ after restore");
}

#[test]
fn plain_snapshot_restores() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(version, EtcdOptions::default());
        server.put_many(&small_data());
        let expected = server.all_keys_and_values();
        let home = scratch_dir();
        let summary_path = home.path().join("summary.json");

        let mut command = dump_command(&server, home.path());
        command.arg("--summary").arg(&summary_path);
        let output = run(command);

        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");
        assert_eq!(
            output.stdout.len() % 512,
            32,
            "etcd {version}: restore length rule"
        );
        assert_summary_matches(&read_summary(&summary_path), &output.stdout, &server);
        assert_restores(version, &output.stdout, None, &expected);
    }
}

#[test]
fn tls_snapshot_restores() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: true,
                auth: false,
            },
        );
        server.put_many(&small_data());
        let expected = server.all_keys_and_values();
        let home = scratch_dir();

        let mut command = dump_command(&server, home.path());
        with_tls(&mut command, &server);
        let output = run(command);

        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");
        assert_restores(version, &output.stdout, None, &expected);
    }
}

#[test]
fn auth_snapshot_restores() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: false,
                auth: true,
            },
        );
        server.put_many(&small_data());
        let expected = server.all_keys_and_values();
        let (user, password) = server.auth.clone().expect("auth enabled");
        let home = scratch_dir();
        let password_file = home.path().join("password");
        std::fs::write(&password_file, format!("{password}\n")).unwrap();

        let mut command = dump_command(&server, home.path());
        command
            .arg("--user")
            .arg(&user)
            .arg("--password-file")
            .arg(&password_file);
        let output = run(command);

        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");
        assert_restores(version, &output.stdout, server.auth.clone(), &expected);
    }
}

#[test]
fn output_file_and_spool_modes() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(version, EtcdOptions::default());
        server.put_many(&small_data());
        let home = scratch_dir();

        let file = home.path().join("out/snapshot.db");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut command = dump_command(&server, home.path());
        command.arg("--output").arg(&file);
        let output = run(command);
        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(
            output.stdout.is_empty(),
            "etcd {version}: stdout must stay empty"
        );
        let written = std::fs::read(&file).unwrap();
        assert!(has_valid_trailer(&written), "etcd {version}");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&file).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "etcd {version}: snapshot file mode");
        assert!(!home.path().join("out/snapshot.db.part").exists());

        let spool = home.path().join("spool");
        std::fs::create_dir_all(&spool).unwrap();
        let mut command = dump_command(&server, home.path());
        command.arg("--spool-dir").arg(&spool);
        let output = run(command);
        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");
        let leftovers = std::fs::read_dir(&spool).unwrap().count();
        assert_eq!(leftovers, 0, "etcd {version}: spool file must be unlinked");
    }
}

/// Reads all of `child`'s stdout on a thread, so the child never blocks on a full pipe.
fn drain_stdout(child: &mut Child) -> std::thread::JoinHandle<Vec<u8>> {
    let mut stdout = child.stdout.take().expect("stdout piped");
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout
            .read_to_end(&mut bytes)
            .expect("read etcd-dump stdout");
        bytes
    })
}

fn wait_with_stderr(mut child: Child) -> (std::process::ExitStatus, String) {
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .unwrap();
    (child.wait().unwrap(), stderr)
}

#[test]
fn killed_server_fails_stream() {
    for version in EtcdVersion::all() {
        let mut server = EtcdServer::start(version, EtcdOptions::default());
        server.put_many(&large_data());
        let endpoint = server.endpoint.clone();
        let home = scratch_dir();

        let mut child = dump_command(&server, home.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // Read a little, then stop reading: etcd-dump's buffers and the HTTP/2 window fill and
        // etcd waits, so the kill lands mid-stream.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = vec![0u8; 1024 * 1024];
        stdout.read_exact(&mut first).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        server.kill();
        let mut rest = Vec::new();
        stdout.read_to_end(&mut rest).unwrap();
        let (status, stderr) = wait_with_stderr(child);

        let mut received = first;
        received.extend_from_slice(&rest);
        assert_eq!(status.code(), Some(EXIT_FAILED), "etcd {version}: {stderr}");
        assert!(stderr.contains(&endpoint), "etcd {version}: {stderr}");
        assert!(stderr.contains("failed after"), "etcd {version}: {stderr}");
        assert!(
            received.len() < LARGE_VALUE_COUNT * LARGE_VALUE_SIZE,
            "etcd {version}: the kill came after the transfer"
        );
        assert!(!has_valid_trailer(&received), "etcd {version}");
    }
}

/// Returns the bytes `pid` has passed to write(2) so far, from /proc/PID/io.
fn written_bytes(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines()
        .find_map(|line| line.strip_prefix("wchar: "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

fn signal(pid: u32, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child.
    let result = unsafe { libc::kill(pid, signal) };
    assert_eq!(result, 0, "kill({pid}, {signal})");
}

/// Waits until `child` has passed `bytes` to write(2). Returns false when it exits first.
fn wait_for_written(child: &mut Child, bytes: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while written_bytes(child.id()) < bytes {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(Instant::now() < deadline, "etcd-dump made no progress");
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// How often a test that has to catch a transfer in flight tries again when a busy machine
/// let the whole transfer finish before the test could act.
const MID_TRANSFER_ATTEMPTS: usize = 3;

#[test]
fn killed_server_spool_writes_nothing() {
    for version in EtcdVersion::all() {
        let mut caught_mid_transfer = false;
        for attempt in 1..=MID_TRANSFER_ATTEMPTS {
            let mut server = EtcdServer::start(version, EtcdOptions::default());
            server.put_many(&large_data());
            let home = scratch_dir();

            let mut child = dump_command(&server, home.path())
                .arg("--verify-before-output")
                .arg("--spool-dir")
                .arg(home.path())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let stdout = drain_stdout(&mut child);

            // The spool file fills as fast as etcd sends, so etcd-dump is paused once a few MiB
            // have been written, etcd is killed, and etcd-dump resumes into the reset
            // connection.
            let started = wait_for_written(&mut child, 4 * 1024 * 1024);
            if started {
                signal(child.id(), libc::SIGSTOP);
                server.kill();
                signal(child.id(), libc::SIGCONT);
            }
            let (status, stderr) = wait_with_stderr(child);
            let received = stdout.join().unwrap();
            if status.success() {
                eprintln!("etcd {version}, attempt {attempt}: transfer finished before the kill");
                continue;
            }

            assert_eq!(status.code(), Some(EXIT_FAILED), "etcd {version}: {stderr}");
            assert!(stderr.contains("failed after"), "etcd {version}: {stderr}");
            assert!(
                received.is_empty(),
                "etcd {version}: {} bytes reached stdout",
                received.len()
            );
            caught_mid_transfer = true;
            break;
        }
        assert!(
            caught_mid_transfer,
            "etcd {version}: never killed mid-transfer"
        );
    }
}

#[test]
fn wrong_ca_rejected() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: true,
                auth: false,
            },
        );
        let tls = server.tls.clone().unwrap();
        let home = scratch_dir();

        let mut command = dump_command(&server, home.path());
        command
            .arg("--cacert")
            .arg(&tls.other_ca)
            .arg("--cert")
            .arg(&tls.client_cert)
            .arg("--key")
            .arg(&tls.client_key);
        let output = run(command);
        let stderr = stderr_of(&output);

        assert_eq!(
            output.status.code(),
            Some(EXIT_FAILED),
            "etcd {version}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "etcd {version}");
        assert!(stderr.contains("UnknownIssuer"), "etcd {version}: {stderr}");
        assert!(stderr.contains("--cacert"), "etcd {version}: {stderr}");
    }
}

#[test]
fn wrong_client_cert_rejected() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: true,
                auth: false,
            },
        );
        let tls = server.tls.clone().unwrap();
        let home = scratch_dir();

        let mut command = dump_command(&server, home.path());
        command
            .arg("--cacert")
            .arg(&tls.ca)
            .arg("--cert")
            .arg(&tls.other_client_cert)
            .arg("--key")
            .arg(&tls.other_client_key);
        let output = run(command);
        let stderr = stderr_of(&output);

        assert_eq!(
            output.status.code(),
            Some(EXIT_FAILED),
            "etcd {version}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "etcd {version}");
        assert!(
            stderr.contains("client certificate"),
            "etcd {version}: {stderr}"
        );
        assert!(stderr.contains("--cert"), "etcd {version}: {stderr}");
    }
}

#[test]
fn wrong_password_rejected() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: false,
                auth: true,
            },
        );
        let home = scratch_dir();

        let mut command = dump_command(&server, home.path());
        command.arg("--user").arg("root:not-the-password");
        let output = run(command);
        let stderr = stderr_of(&output);

        assert_eq!(
            output.status.code(),
            Some(EXIT_FAILED),
            "etcd {version}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "etcd {version}");
        assert!(
            stderr.contains("authentication"),
            "etcd {version}: {stderr}"
        );
        assert!(stderr.contains("password"), "etcd {version}: {stderr}");
        assert!(
            !stderr.contains("not-the-password"),
            "etcd {version}: password leaked"
        );
    }
}

/// Lays the server's TLS files out as K3s does under `<data-dir>/server/tls/etcd`.
fn k3s_layout(server: &EtcdServer, data_dir: &Path) -> PathBuf {
    let tls = server.tls.as_ref().unwrap();
    let etcd_dir = data_dir.join("server/tls/etcd");
    std::fs::create_dir_all(&etcd_dir).unwrap();
    std::fs::copy(&tls.ca, etcd_dir.join("server-ca.crt")).unwrap();
    std::fs::copy(&tls.client_cert, etcd_dir.join("client.crt")).unwrap();
    std::fs::copy(&tls.client_key, etcd_dir.join("client.key")).unwrap();
    etcd_dir
}

#[test]
fn preset_layout_used_and_checked() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: true,
                auth: false,
            },
        );
        let home = scratch_dir();
        let data_dir = home.path().join("k3s");
        let etcd_dir = k3s_layout(&server, &data_dir);

        // The preset's endpoint is 127.0.0.1:2379; --endpoints points it at the test server.
        let preset_command = || {
            let mut command = dump_command(&server, home.path());
            command
                .arg("--preset")
                .arg("k3s")
                .arg("--preset-dir")
                .arg(&data_dir);
            command
        };
        let output = run(preset_command());
        assert!(
            output.status.success(),
            "etcd {version}: {}",
            stderr_of(&output)
        );
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");

        let key = etcd_dir.join("client.key");
        std::fs::remove_file(&key).unwrap();
        let output = run(preset_command());
        let stderr = stderr_of(&output);
        assert_eq!(
            output.status.code(),
            Some(EXIT_USAGE),
            "etcd {version}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "etcd {version}");
        assert!(stderr.contains("preset k3s"), "etcd {version}: {stderr}");
        assert!(
            stderr.contains(key.to_str().unwrap()),
            "etcd {version}: {stderr}"
        );
    }
}

#[test]
fn dead_endpoint_skipped() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(version, EtcdOptions::default());
        let dead = format!("http://127.0.0.1:{}", free_port());
        let home = scratch_dir();

        let mut command = clean_command(tool_binary("etcd-dump"), home.path());
        command
            .arg("--endpoints")
            .arg(format!("{dead},{}", server.endpoint));
        let output = run(command);
        let stderr = stderr_of(&output);

        assert!(output.status.success(), "etcd {version}: {stderr}");
        assert!(has_valid_trailer(&output.stdout), "etcd {version}");
        assert!(
            stderr.contains(&format!("taking snapshot from {}", server.endpoint)),
            "etcd {version}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("skipping {dead}")),
            "etcd {version}: {stderr}"
        );
    }
}

#[test]
fn endpoint_mistakes_explained() {
    let server = EtcdServer::start(EtcdVersion::V3_5, EtcdOptions::default());
    let home = scratch_dir();
    let https = server.endpoint.replace("http://", "https://");
    let cases = [
        (
            "http://127.0.0.1:369690".to_owned(),
            EXIT_USAGE,
            "1 to 65535",
        ),
        (https, EXIT_FAILED, "plain HTTP"),
    ];

    for (endpoint, code, text) in cases {
        let mut command = clean_command(tool_binary("etcd-dump"), home.path());
        command.arg("--endpoints").arg(&endpoint);
        let output = run(command);
        let stderr = stderr_of(&output);

        assert_eq!(output.status.code(), Some(code), "{endpoint}: {stderr}");
        assert!(output.stdout.is_empty(), "{endpoint}");
        assert!(stderr.contains(text), "{endpoint}: {stderr}");
    }
}

#[test]
fn all_endpoints_dead_fails() {
    let home = scratch_dir();
    let dead = format!("http://127.0.0.1:{}", free_port());
    let summary = home.path().join("summary.json");
    std::fs::write(&summary, "{}").unwrap();
    let mut command = clean_command(tool_binary("etcd-dump"), home.path());
    command
        .arg("--endpoints")
        .arg(&dead)
        .arg("--summary")
        .arg(&summary);
    let output = run(command);
    let stderr = stderr_of(&output);

    assert_eq!(output.status.code(), Some(EXIT_FAILED), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(stderr.contains(&dead), "{stderr}");
    assert!(stderr.contains("Connection refused"), "{stderr}");
    assert!(!summary.exists(), "a summary from an earlier run survived");
}

#[test]
fn terminal_stdout_rejected() {
    let home = scratch_dir();
    let binary = tool_binary("etcd-dump");
    let command = terminal_command(
        &format!("{} --endpoints http://127.0.0.1:1", binary.display()),
        home.path(),
    );
    let output = run(command);
    let text = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(EXIT_USAGE), "{text}");
    assert!(text.contains("stdout is a terminal"), "{text}");
    assert!(text.contains("--write-to-terminal"), "{text}");
}

#[test]
fn closed_stdout_exits_quietly() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(version, EtcdOptions::default());
        server.put_many(&large_data()[..16]);
        let home = scratch_dir();

        let summary = home.path().join("summary.json");

        let mut child = dump_command(&server, home.path())
            .arg("--summary")
            .arg(&summary)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 4096];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let (status, stderr) = wait_with_stderr(child);

        assert_eq!(
            status.code(),
            Some(EXIT_BROKEN_PIPE),
            "etcd {version}: {stderr}"
        );
        assert!(!stderr.contains("ERROR"), "etcd {version}: {stderr}");
        assert!(
            !summary.exists(),
            "etcd {version}: summary of an undelivered snapshot"
        );
    }
}

#[test]
fn sigterm_removes_partial_output() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(version, EtcdOptions::default());
        server.put_many(&large_data());
        let home = scratch_dir();
        let file = home.path().join("snapshot.db");
        let part = home.path().join("snapshot.db.part");
        let summary = home.path().join("summary.json");

        let mut caught_mid_transfer = false;
        for attempt in 1..=MID_TRANSFER_ATTEMPTS {
            let _ = std::fs::remove_file(&file);
            let mut child = dump_command(&server, home.path())
                .arg("--output")
                .arg(&file)
                .arg("--summary")
                .arg(&summary)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();

            // Freezing etcd once data flows keeps the transfer unfinished when SIGTERM lands.
            let started = wait_for_written(&mut child, 1024 * 1024);
            if started {
                signal(server.pid(), libc::SIGSTOP);
                assert!(part.exists(), "etcd {version}: no .part file while writing");
                signal(child.id(), libc::SIGTERM);
            }
            let (status, stderr) = wait_with_stderr(child);
            signal(server.pid(), libc::SIGCONT);
            if status.success() {
                eprintln!("etcd {version}, attempt {attempt}: transfer finished before the signal");
                continue;
            }

            assert_eq!(status.code(), Some(143), "etcd {version}: {stderr}");
            assert!(stderr.contains("SIGTERM"), "etcd {version}: {stderr}");
            assert!(!part.exists(), "etcd {version}: .part file left behind");
            assert!(!file.exists(), "etcd {version}: snapshot file created");
            assert!(!summary.exists(), "etcd {version}: summary written");
            caught_mid_transfer = true;
            break;
        }
        assert!(
            caught_mid_transfer,
            "etcd {version}: never signalled mid-transfer"
        );
    }
}

#[test]
fn insecure_skip_verify_accepts_unknown_ca() {
    let server = EtcdServer::start(
        EtcdVersion::V3_5,
        EtcdOptions {
            tls: true,
            auth: false,
        },
    );
    let tls = server.tls.clone().unwrap();
    let home = scratch_dir();

    let mut command = dump_command(&server, home.path());
    command
        .arg("--insecure-skip-tls-verify")
        .arg("--cacert")
        .arg(&tls.other_ca)
        .arg("--cert")
        .arg(&tls.client_cert)
        .arg("--key")
        .arg(&tls.client_key);
    let output = run(command);

    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(has_valid_trailer(&output.stdout));
}

#[test]
fn etcdctl_environment_honoured() {
    let server = EtcdServer::start(
        EtcdVersion::V3_5,
        EtcdOptions {
            tls: true,
            auth: true,
        },
    );
    let tls = server.tls.clone().unwrap();
    let (user, password) = server.auth.clone().unwrap();
    let dead = format!("https://127.0.0.1:{}", free_port());
    let home = scratch_dir();
    let with_environment = |endpoints: &str| {
        let mut command = clean_command(tool_binary("etcd-dump"), home.path());
        command
            .env("ETCDCTL_ENDPOINTS", endpoints)
            .env("ETCDCTL_CACERT", &tls.ca)
            .env("ETCDCTL_CERT", &tls.client_cert)
            .env("ETCDCTL_KEY", &tls.client_key)
            .env("ETCDCTL_USER", &user)
            .env("ETCDCTL_PASSWORD", &password);
        command
    };

    let output = run(with_environment(&server.endpoint));
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(has_valid_trailer(&output.stdout));

    // The flag wins over ETCDCTL_ENDPOINTS instead of being a conflict.
    let mut command = with_environment(&dead);
    command.arg("--endpoints").arg(&server.endpoint);
    let output = run(command);
    assert!(output.status.success(), "{}", stderr_of(&output));

    let output = run(with_environment(&dead));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(EXIT_FAILED), "{stderr}");
    assert!(stderr.contains(&dead), "{stderr}");
}

/// A reader that stops for longer than the keepalive interval (as s3-put does while it uploads a
/// part) must not cost the snapshot: etcd closes connections that ping too often, and a
/// blocked writer must not starve the HTTP/2 connection.
#[test]
fn stalled_reader_keeps_connection() {
    let server = EtcdServer::start(EtcdVersion::V3_5, EtcdOptions::default());
    server.put_many(&large_data()[..48]);
    let expected = server.all_keys_and_values();
    let home = scratch_dir();

    let mut child = dump_command(&server, home.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut snapshot = vec![0u8; 1024 * 1024];
    stdout.read_exact(&mut snapshot).unwrap();
    // Longer than the default --keepalive-time (10s) plus etcd's 5s minimum ping interval.
    std::thread::sleep(Duration::from_secs(16));
    stdout.read_to_end(&mut snapshot).unwrap();
    let (status, stderr) = wait_with_stderr(child);

    assert!(status.success(), "{stderr}");
    assert!(has_valid_trailer(&snapshot));
    assert_restores(EtcdVersion::V3_5, &snapshot, None, &expected);
}
