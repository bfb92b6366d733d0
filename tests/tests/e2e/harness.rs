//! Self-tests of the harness: TLS, snapshot restore, the clean environment, multipart upload
//! listing, and that servers never outlive the process that started them.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_tests::{
    EtcdOptions, EtcdServer, EtcdVersion, S3Kind, S3Server, clean_command, scratch_dir,
};

#[test]
fn etcd_tls_requires_trusted_client_cert() {
    for version in EtcdVersion::all() {
        let server = EtcdServer::start(
            version,
            EtcdOptions {
                tls: true,
                auth: false,
            },
        );
        assert!(server.endpoint.starts_with("https://127.0.0.1:"));
        let tls = server.tls.as_ref().unwrap();

        server.put_many(&[(b"tls/key".to_vec(), b"tls value".to_vec())]);
        assert_eq!(
            server.all_keys_and_values(),
            vec![(b"tls/key".to_vec(), b"tls value".to_vec())]
        );

        let mut untrusted = server.etcdctl();
        untrusted
            .arg(format!("--cert={}", tls.other_client_cert.display()))
            .arg(format!("--key={}", tls.other_client_key.display()))
            .args(["--command-timeout=3s", "get", "tls/key"]);
        let output = untrusted.output().unwrap();
        assert!(
            !output.status.success(),
            "etcd {version} accepted a client certificate from an untrusted CA"
        );

        let mut without_cert = Command::new(e2e_tests::etcdctl_path(version));
        without_cert
            .env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={}", server.endpoint))
            .arg(format!("--cacert={}", tls.ca.display()))
            .args([
                "--dial-timeout=3s",
                "--command-timeout=3s",
                "get",
                "tls/key",
            ]);
        let output = without_cert.output().unwrap();
        assert!(
            !output.status.success(),
            "etcd {version} accepted a client without a certificate"
        );
    }
}

fn snapshot_round_trip(version: EtcdVersion) {
    let server = EtcdServer::start(version, EtcdOptions::default());
    let mut items: Vec<(Vec<u8>, Vec<u8>)> = (0..500u32)
        .map(|index| {
            (
                format!("restore/{index:04}").into_bytes(),
                index.to_be_bytes().repeat(64),
            )
        })
        .collect();
    // Keys and values that are not UTF-8 must survive too.
    items.push((vec![0xff, 0x00, 0x80], vec![0x00, 0xfe, 0x0a]));
    server.put_many(&items);

    let scratch = scratch_dir();
    let snapshot = scratch.join("snapshot.db");
    let mut save = server.etcdctl();
    save.arg("snapshot").arg("save").arg(&snapshot);
    let output = save.output().unwrap();
    assert!(
        output.status.success(),
        "etcdctl snapshot save failed: {output:?}"
    );

    let restored = EtcdServer::start_from_snapshot(version, &snapshot);
    let mut expected = items.clone();
    expected.sort();
    assert_eq!(restored.all_keys_and_values(), expected);
    assert_ne!(restored.endpoint, server.endpoint);
}

#[test]
fn etcd_3_4_snapshot_restore() {
    snapshot_round_trip(EtcdVersion::V3_4);
}

#[test]
fn etcd_3_5_snapshot_restore() {
    snapshot_round_trip(EtcdVersion::V3_5);
}

#[test]
fn clean_command_strips_caller_environment() {
    let home = scratch_dir();
    let output = clean_command("env", home.path()).output().unwrap();
    assert!(output.status.success());
    let environment = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = environment.lines().collect();

    assert!(lines.contains(&format!("HOME={}", home.path().display()).as_str()));
    assert!(lines.contains(&"AWS_EC2_METADATA_DISABLED=true"));
    assert!(lines.iter().any(|line| line.starts_with("PATH=")));
    let leaked: Vec<&&str> = lines
        .iter()
        .filter(|line| {
            (line.starts_with("AWS_") && !line.starts_with("AWS_EC2_METADATA_DISABLED="))
                || line.starts_with("ETCDCTL_")
        })
        .collect();
    assert!(leaked.is_empty(), "variables kept: {leaked:?}");
}

/// Environment variable that makes the child process of `servers_die_with_their_process`
/// start servers and write their pids to the file it names.
const PID_FILE_ENV: &str = "E2E_SERVER_PID_FILE";

/// Helper run as a child process by `servers_die_with_their_process`; without its variable
/// it does nothing.
#[test]
#[ignore = "helper process of servers_die_with_their_process"]
fn start_servers_and_wait() {
    let Some(pid_file) = std::env::var_os(PID_FILE_ENV) else {
        return;
    };
    let etcd = EtcdServer::start(EtcdVersion::V3_5, EtcdOptions::default());
    let s3 = S3Server::start(S3Kind::S3sFs);
    let pids = format!("{} {}", etcd.pid(), s3.pid());
    let temporary = Path::new(&pid_file).with_extension("tmp");
    std::fs::write(&temporary, pids).unwrap();
    std::fs::rename(&temporary, &pid_file).unwrap();
    // The parent kills this process while it sleeps.
    std::thread::sleep(Duration::from_secs(300));
}

/// Reports whether `pid` is gone; a zombie counts as gone because it runs no code.
fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn servers_die_with_their_process() {
    let scratch = scratch_dir();
    let pid_file = scratch.join("pids");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "harness::start_servers_and_wait",
            "--ignored",
            "--nocapture",
        ])
        .env(PID_FILE_ENV, &pid_file)
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(90);
    while !pid_file.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the helper process exited before it wrote the server pids"
        );
        assert!(
            Instant::now() < deadline,
            "the helper process did not start its servers"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pids: Vec<u32> = std::fs::read_to_string(&pid_file)
        .unwrap()
        .split_whitespace()
        .map(|pid| pid.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    assert!(
        pids.iter().all(|pid| !process_gone(*pid)),
        "servers not running"
    );

    child.kill().unwrap();
    child.wait().unwrap();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids.iter().all(|pid| process_gone(*pid)) {
        assert!(
            Instant::now() < deadline,
            "servers {pids:?} survived the SIGKILL of the process that started them"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks that `incomplete_uploads` lists an open upload, and neither an aborted nor a
/// completed one, on every S3 server kind.
#[test]
fn incomplete_uploads_track_multipart_state() {
    use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

    for kind in S3Kind::available() {
        let server = S3Server::start(kind);
        let client = server.client();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let create = |key: &'static str| {
            runtime
                .block_on(
                    client
                        .create_multipart_upload()
                        .bucket(&server.bucket)
                        .key(key)
                        .send(),
                )
                .unwrap()
                .upload_id()
                .unwrap()
                .to_string()
        };

        let open = create("uploads/open");
        let aborted = create("uploads/aborted");
        let completed = create("uploads/completed");
        assert_eq!(
            server.incomplete_uploads("uploads/open"),
            vec![open.clone()],
            "{kind}"
        );
        assert_eq!(server.incomplete_uploads("uploads/").len(), 3, "{kind}");

        runtime
            .block_on(
                client
                    .abort_multipart_upload()
                    .bucket(&server.bucket)
                    .key("uploads/aborted")
                    .upload_id(&aborted)
                    .send(),
            )
            .unwrap();
        let part = runtime
            .block_on(
                client
                    .upload_part()
                    .bucket(&server.bucket)
                    .key("uploads/completed")
                    .upload_id(&completed)
                    .part_number(1)
                    .body(b"only part".to_vec().into())
                    .send(),
            )
            .unwrap();
        let parts = CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            )
            .build();
        runtime
            .block_on(
                client
                    .complete_multipart_upload()
                    .bucket(&server.bucket)
                    .key("uploads/completed")
                    .upload_id(&completed)
                    .multipart_upload(parts)
                    .send(),
            )
            .unwrap();

        assert_eq!(server.incomplete_uploads("uploads/"), vec![open], "{kind}");
        assert_eq!(
            server.get_object("uploads/completed"),
            Some(b"only part".to_vec()),
            "{kind}"
        );
        assert!(!server.object_exists("uploads/aborted"), "{kind}");
    }
}
