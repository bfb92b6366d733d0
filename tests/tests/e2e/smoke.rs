//! One write-and-read round trip per server kind, plus a rejected credential, to show each
//! server the harness starts is real, reachable and enforces authentication.

use e2e_tests::{EtcdOptions, EtcdServer, EtcdVersion, S3Kind, S3Server};

fn etcd_round_trip(version: EtcdVersion) {
    let server = EtcdServer::start(
        version,
        EtcdOptions {
            tls: false,
            auth: true,
        },
    );

    let mut put = server.etcdctl();
    put.args(["put", "smoke/key", "smoke value"]);
    let output = put.output().unwrap();
    assert!(output.status.success(), "etcdctl put failed: {output:?}");

    let mut get = server.etcdctl();
    get.args(["get", "smoke/key", "--print-value-only"]);
    let output = get.output().unwrap();
    assert!(output.status.success(), "etcdctl get failed: {output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        "smoke value"
    );

    let mut wrong_password = server.etcdctl();
    wrong_password.args(["--user", "root:wrong-password", "get", "smoke/key"]);
    let output = wrong_password.output().unwrap();
    assert!(
        !output.status.success(),
        "a wrong password was accepted: {output:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("authentication failed"),
        "unexpected error: {stderr}"
    );

    let mut anonymous = server.etcdctl_without_auth();
    anonymous.args(["get", "smoke/key"]);
    let output = anonymous.output().unwrap();
    assert!(
        !output.status.success(),
        "a request without credentials was accepted: {output:?}"
    );
}

#[test]
fn etcd_3_4_round_trip_and_auth() {
    etcd_round_trip(EtcdVersion::V3_4);
}

#[test]
fn etcd_3_5_round_trip_and_auth() {
    etcd_round_trip(EtcdVersion::V3_5);
}

fn s3_round_trip(kind: S3Kind) {
    let server = S3Server::start(kind);
    let body = b"smoke object\n".repeat(1000);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(
            server
                .client()
                .put_object()
                .bucket(&server.bucket)
                .key("smoke/object")
                .body(body.clone().into())
                .send(),
        )
        .unwrap();

    assert_eq!(server.get_object("smoke/object"), Some(body.clone()));
    let head = server.head_object("smoke/object").unwrap();
    assert_eq!(head.size, body.len() as u64);
    assert!(server.object_exists("smoke/object"));
    assert_eq!(server.get_object("smoke/missing"), None);
    assert!(!server.object_exists("smoke/missing"));
    assert!(server.incomplete_uploads("smoke/").is_empty());

    let wrong_secret = aws_sdk_s3::Client::from_conf(
        server
            .client()
            .config()
            .to_builder()
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &server.access_key,
                "wrong-secret-key-0000000000000000000000",
                None,
                None,
                "smoke-test",
            ))
            .build(),
    );
    let result = runtime.block_on(
        wrong_secret
            .get_object()
            .bucket(&server.bucket)
            .key("smoke/object")
            .send(),
    );
    let error = result.expect_err("a request signed with a wrong secret was accepted");
    let status = error.raw_response().map(|raw| raw.status().as_u16());
    assert_eq!(status, Some(403), "unexpected error: {error:?}");
}

#[test]
fn seaweedfs_round_trip_and_signature() {
    s3_round_trip(S3Kind::SeaweedFs);
}

#[test]
fn s3s_fs_round_trip_and_signature() {
    s3_round_trip(S3Kind::S3sFs);
}

#[test]
fn minio_round_trip_and_signature() {
    if !S3Kind::available().contains(&S3Kind::Minio) {
        eprintln!("MinIO is not installed (no `minio` on PATH at install time); nothing to check");
        return;
    }
    s3_round_trip(S3Kind::Minio);
}
