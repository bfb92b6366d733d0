//! S3 servers for the end-to-end suite: SeaweedFS, s3s-fs and (when installed) MinIO, each with
//! generated credentials, on loopback ports, with one empty bucket created at start.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};

use crate::manifest::manifest;
use crate::paths::{ScratchDir, scratch_dir_named};
use crate::process::{ServerProcess, free_port};
use crate::random::random_hex;
use crate::runtime::block_on;

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const START_ATTEMPTS: u32 = 3;
const BUCKET: &str = "e2e-bucket";
const REGION: &str = "us-east-1";
/// Object written and deleted at start to prove the write path works (SeaweedFS needs its
/// volume server registered with the master before uploads succeed).
const PROBE_KEY: &str = "e2e-readiness-probe";

/// S3 server implementations covered by the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum S3Kind {
    SeaweedFs,
    S3sFs,
    Minio,
}

impl S3Kind {
    /// Returns SeaweedFS and s3s-fs, plus MinIO when `cargo xtask install` found a `minio`
    /// binary on PATH.
    pub fn available() -> Vec<S3Kind> {
        let mut kinds = vec![S3Kind::SeaweedFs, S3Kind::S3sFs];
        if manifest().minio.is_some() {
            kinds.push(S3Kind::Minio);
        }
        kinds
    }

    /// Returns the name used in logs and `cargo xtask servers --s3`.
    pub fn label(self) -> &'static str {
        match self {
            S3Kind::SeaweedFs => "seaweedfs",
            S3Kind::S3sFs => "s3s-fs",
            S3Kind::Minio => "minio",
        }
    }

    /// Parses a label as printed by [`S3Kind::label`].
    pub fn from_label(label: &str) -> Option<S3Kind> {
        [S3Kind::SeaweedFs, S3Kind::S3sFs, S3Kind::Minio]
            .into_iter()
            .find(|kind| kind.label() == label)
    }
}

impl fmt::Display for S3Kind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.label())
    }
}

/// Response of HeadObject, reduced to what tests compare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectHead {
    pub size: u64,
    pub etag: Option<String>,
    /// User metadata (`x-amz-meta-*`) without the prefix.
    pub metadata: HashMap<String, String>,
    pub content_type: Option<String>,
}

/// Client-side view of one S3 server.
#[derive(Clone)]
struct S3Access {
    endpoint: String,
    access_key: String,
    secret_key: String,
}

impl S3Access {
    /// Builds a client with static credentials only: no default credential chain, no IMDS.
    fn client(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "e2e-harness",
            ))
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Lists buckets, creates the test bucket and writes then deletes a probe object in it.
    fn prepare(&self) -> Result<(), String> {
        block_on(async {
            let client = self.client();
            let buckets = client
                .list_buckets()
                .send()
                .await
                .map_err(|error| format!("ListBuckets: {}", error_text(&error)))?;
            let exists = buckets
                .buckets()
                .iter()
                .any(|bucket| bucket.name() == Some(BUCKET));
            if !exists {
                client
                    .create_bucket()
                    .bucket(BUCKET)
                    .send()
                    .await
                    .map_err(|error| format!("CreateBucket: {}", error_text(&error)))?;
            }
            client
                .put_object()
                .bucket(BUCKET)
                .key(PROBE_KEY)
                .body(b"probe".to_vec().into())
                .send()
                .await
                .map_err(|error| format!("PutObject: {}", error_text(&error)))?;
            client
                .delete_object()
                .bucket(BUCKET)
                .key(PROBE_KEY)
                .send()
                .await
                .map_err(|error| format!("DeleteObject: {}", error_text(&error)))?;
            Ok(())
        })
    }
}

/// Formats an SDK error with its service error code when there is one.
fn error_text<E, R>(error: &aws_sdk_s3::error::SdkError<E, R>) -> String
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{} ({})",
            service.code().unwrap_or("no error code"),
            service.message().unwrap_or("no message")
        ),
        None => format!("{}", aws_sdk_s3::error::DisplayErrorContext(error)),
    }
}

/// One running S3 server. Killed on drop; its scratch dir is removed unless a test failed.
pub struct S3Server {
    pub kind: S3Kind,
    /// "http://127.0.0.1:PORT".
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
    /// Created empty at start.
    pub bucket: String,
    /// Directory that contains the server's stored data.
    pub data_dir: PathBuf,
    process: ServerProcess,
    _scratch: ScratchDir,
}

impl fmt::Debug for S3Server {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("S3Server")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field("bucket", &self.bucket)
            .field("pid", &self.process.pid())
            .field("log", &self.process.log_path())
            .finish_non_exhaustive()
    }
}

impl S3Server {
    /// Starts a server of `kind` with generated credentials and an empty bucket.
    ///
    /// # Panics
    /// When the server is not installed or does not become ready; the message contains the
    /// tail of its log.
    pub fn start(kind: S3Kind) -> S3Server {
        launch(kind).unwrap_or_else(|message| panic!("{kind} failed to start: {message}"))
    }

    fn access(&self) -> S3Access {
        S3Access {
            endpoint: self.endpoint.clone(),
            access_key: self.access_key.clone(),
            secret_key: self.secret_key.clone(),
        }
    }

    /// Returns a client with the server's credentials, built like the harness's own client.
    /// Use it inside a tokio runtime.
    pub fn client(&self) -> aws_sdk_s3::Client {
        self.access().client()
    }

    /// Returns AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION for this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".to_string(), self.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), self.secret_key.clone()),
            ("AWS_REGION".to_string(), self.region.clone()),
        ]
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Sends SIGKILL and waits for the server to exit.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit before killing the server.
    pub fn stop(&mut self, grace: Duration) {
        self.process.stop(grace);
    }

    /// Returns the exit status text once the server has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        self.process.exit_status()
    }

    /// Returns the object's bytes from the test bucket, or `None` when it does not exist.
    ///
    /// # Panics
    /// On any other error.
    pub fn get_object(&self, key: &str) -> Option<Vec<u8>> {
        let access = self.access();
        let bucket = self.bucket.clone();
        block_on(async move {
            let result = access
                .client()
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await;
            match result {
                Ok(output) => {
                    let bytes = output
                        .body
                        .collect()
                        .await
                        .unwrap_or_else(|error| panic!("reading object {key}: {error}"));
                    Some(bytes.into_bytes().to_vec())
                }
                Err(error)
                    if error
                        .as_service_error()
                        .is_some_and(|service| service.is_no_such_key()) =>
                {
                    None
                }
                Err(error) => panic!("GetObject {key}: {}", error_text(&error)),
            }
        })
    }

    pub fn object_exists(&self, key: &str) -> bool {
        self.head_object(key).is_some()
    }

    /// Returns the object's metadata, or `None` when it does not exist.
    ///
    /// # Panics
    /// On any other error.
    pub fn head_object(&self, key: &str) -> Option<ObjectHead> {
        let access = self.access();
        let bucket = self.bucket.clone();
        block_on(async move {
            let result = access
                .client()
                .head_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await;
            match result {
                Ok(output) => Some(ObjectHead {
                    size: output
                        .content_length()
                        .and_then(|length| u64::try_from(length).ok())
                        .unwrap_or(0),
                    etag: output.e_tag().map(str::to_string),
                    metadata: output.metadata().cloned().unwrap_or_default(),
                    content_type: output.content_type().map(str::to_string),
                }),
                Err(error)
                    if error
                        .raw_response()
                        .is_some_and(|raw| raw.status().as_u16() == 404) =>
                {
                    None
                }
                Err(error) => panic!("HeadObject {key}: {}", error_text(&error)),
            }
        })
    }

    /// Returns the upload ids of multipart uploads under `key` that were neither completed nor
    /// aborted.
    ///
    /// # Panics
    /// When ListMultipartUploads fails.
    pub fn incomplete_uploads(&self, key: &str) -> Vec<String> {
        if self.kind == S3Kind::S3sFs {
            return s3s_fs_incomplete_uploads(&self.data_dir, &self.bucket, key);
        }
        let access = self.access();
        let bucket = self.bucket.clone();
        block_on(async move {
            let output = access
                .client()
                .list_multipart_uploads()
                .bucket(&bucket)
                .prefix(key)
                .send()
                .await
                .unwrap_or_else(|error| {
                    panic!("ListMultipartUploads {key}: {}", error_text(&error))
                });
            output
                .uploads()
                .iter()
                .filter_map(|upload| upload.upload_id().map(str::to_string))
                .collect()
        })
    }
}

/// Lists open multipart uploads from s3s-fs's data dir, because s3s-fs 0.14 returns
/// NotImplemented for ListMultipartUploads.
///
/// s3s-fs keeps `.upload-<id>.json` while an upload is open, and
/// `.bucket-<bucket>.object-<key>.upload-<id>.metadata.json` with bucket and key in unpadded
/// URL-safe base64.
fn s3s_fs_incomplete_uploads(root: &Path, bucket: &str, key_prefix: &str) -> Vec<String> {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let entries = std::fs::read_dir(root)
        .unwrap_or_else(|error| panic!("cannot list s3s-fs data dir {}: {error}", root.display()));
    let bucket_prefix = format!(".bucket-{}.object-", URL_SAFE_NO_PAD.encode(bucket));
    let mut upload_ids = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name
            .strip_prefix(&bucket_prefix)
            .and_then(|rest| rest.strip_suffix(".metadata.json"))
        else {
            continue;
        };
        let Some((encoded_key, upload_id)) = rest.rsplit_once(".upload-") else {
            continue;
        };
        let Ok(key) = URL_SAFE_NO_PAD.decode(encoded_key) else {
            continue;
        };
        let open = root.join(format!(".upload-{upload_id}.json")).exists();
        if open && key.starts_with(key_prefix.as_bytes()) {
            upload_ids.push(upload_id.to_string());
        }
    }
    upload_ids.sort();
    upload_ids
}

/// Builds the server command for `kind` with its data under `scratch`.
fn server_command(
    kind: S3Kind,
    scratch: &Path,
    port: u16,
    access: &S3Access,
) -> Result<Command, String> {
    match kind {
        S3Kind::SeaweedFs => seaweedfs_command(scratch, port, access),
        S3Kind::S3sFs => {
            let root = scratch.join("data");
            std::fs::create_dir_all(&root)
                .map_err(|error| format!("cannot create {}: {error}", root.display()))?;
            let mut command = Command::new(&manifest().s3s_fs);
            command
                .arg("--host=127.0.0.1")
                .arg(format!("--port={port}"))
                .arg(format!("--access-key={}", access.access_key))
                .arg(format!("--secret-key={}", access.secret_key))
                .arg(&root);
            Ok(command)
        }
        S3Kind::Minio => {
            let minio = manifest().minio.clone().ok_or_else(|| {
                "MinIO is not installed: put a `minio` binary on PATH and rerun \
                 `cargo xtask install`"
                    .to_string()
            })?;
            // NOTE: this command line has not been run against a real MinIO server yet.
            let mut command = Command::new(minio);
            command
                .arg("server")
                .arg(format!("--address=127.0.0.1:{port}"))
                .arg(format!("--console-address=127.0.0.1:{}", free_port()))
                .arg(scratch.join("data"))
                .env("MINIO_ROOT_USER", &access.access_key)
                .env("MINIO_ROOT_PASSWORD", &access.secret_key)
                .env("MINIO_UPDATE", "off")
                .env("MINIO_BROWSER", "off");
            Ok(command)
        }
    }
}

/// `weed server` with master, volume, filer and S3 gateway on loopback ports, telemetry off,
/// and an identities file that holds only the generated test credentials.
fn seaweedfs_command(scratch: &Path, s3_port: u16, access: &S3Access) -> Result<Command, String> {
    let data = scratch.join("data");
    std::fs::create_dir_all(&data)
        .map_err(|error| format!("cannot create {}: {error}", data.display()))?;
    let identities = serde_json::json!({
        "identities": [{
            "name": "e2e",
            "credentials": [{ "accessKey": access.access_key, "secretKey": access.secret_key }],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]
        }]
    });
    let config = scratch.join("s3-identities.json");
    std::fs::write(&config, identities.to_string())
        .map_err(|error| format!("cannot write {}: {error}", config.display()))?;

    let mut command = Command::new(&manifest().weed);
    command
        .arg("server")
        .arg(format!("-dir={}", data.display()))
        .arg("-ip=127.0.0.1")
        .arg("-ip.bind=127.0.0.1")
        .arg(format!("-master.port={}", free_port()))
        .arg(format!("-master.port.grpc={}", free_port()))
        .arg("-master.telemetry=false")
        .arg("-master.volumeSizeLimitMB=256")
        .arg(format!("-volume.port={}", free_port()))
        .arg(format!("-volume.port.grpc={}", free_port()))
        .arg("-volume.max=32")
        .arg("-filer")
        .arg(format!("-filer.port={}", free_port()))
        .arg(format!("-filer.port.grpc={}", free_port()))
        .arg(format!(
            "-filer.localSocket={}",
            scratch.join("filer.sock").display()
        ))
        .arg("-s3")
        .arg(format!("-s3.port={s3_port}"))
        .arg(format!("-s3.port.grpc={}", free_port()))
        .arg(format!("-s3.config={}", config.display()))
        .arg(format!(
            "-s3.localSocket={}",
            scratch.join("s3.sock").display()
        ))
        // Uploads to a missing bucket must fail as they do on AWS.
        .arg("-s3.autoCreateBucket=false")
        .arg("-s3.port.iceberg=0")
        .arg("-s3.port.lance=0")
        // SSE-S3 stays disabled until a key-encryption key is configured.
        .env("WEED_S3_SSE_KEK", random_hex(32));
    Ok(command)
}

fn launch(kind: S3Kind) -> Result<S3Server, String> {
    let (access_key, secret_key) = match kind {
        S3Kind::Minio => (
            std::env::var("MINIO_ROOT_USER")
                .unwrap_or_else(|_| format!("E2E{}", random_hex(8).to_uppercase())),
            std::env::var("MINIO_ROOT_PASSWORD").unwrap_or_else(|_| random_hex(20)),
        ),
        _ => (
            format!("E2E{}", random_hex(8).to_uppercase()),
            random_hex(20),
        ),
    };
    let mut last_error = String::new();

    for _attempt in 0..START_ATTEMPTS {
        let scratch = scratch_dir_named(kind.label());
        let port = free_port();
        let access = S3Access {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: access_key.clone(),
            secret_key: secret_key.clone(),
        };
        let mut command = server_command(kind, scratch.path(), port, &access)?;
        command
            .current_dir(scratch.path())
            .env("HOME", scratch.path());

        let mut process = ServerProcess::spawn(kind.label(), command)?;
        match process.wait_ready(READY_TIMEOUT, || access.prepare()) {
            Ok(()) => {
                return Ok(S3Server {
                    kind,
                    endpoint: access.endpoint,
                    region: REGION.to_string(),
                    access_key,
                    secret_key,
                    bucket: BUCKET.to_string(),
                    data_dir: scratch.join("data"),
                    process,
                    _scratch: scratch,
                });
            }
            Err(message) => {
                let retry = process.port_conflict();
                process.kill();
                last_error = message;
                if !retry {
                    break;
                }
            }
        }
    }
    Err(last_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn touch(dir: &Path, name: &str) {
        std::fs::write(dir.join(name), b"{}").unwrap();
    }

    #[test]
    fn s3s_fs_uploads_are_read_from_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = URL_SAFE_NO_PAD.encode("b");
        let key = |text: &str| URL_SAFE_NO_PAD.encode(text);

        // Open upload under the prefix.
        touch(
            dir.path(),
            &format!(
                ".bucket-{bucket}.object-{}.upload-u1.metadata.json",
                key("etcd/snap.db")
            ),
        );
        touch(dir.path(), ".upload-u1.json");
        // Completed upload: its id file is gone.
        touch(
            dir.path(),
            &format!(
                ".bucket-{bucket}.object-{}.upload-u2.metadata.json",
                key("etcd/old.db")
            ),
        );
        // Open upload outside the prefix.
        touch(
            dir.path(),
            &format!(
                ".bucket-{bucket}.object-{}.upload-u3.metadata.json",
                key("other")
            ),
        );
        touch(dir.path(), ".upload-u3.json");
        // Open upload in another bucket.
        let other_bucket = URL_SAFE_NO_PAD.encode("c");
        touch(
            dir.path(),
            &format!(
                ".bucket-{other_bucket}.object-{}.upload-u4.metadata.json",
                key("etcd/x")
            ),
        );
        touch(dir.path(), ".upload-u4.json");
        // Metadata of a finished object.
        touch(
            dir.path(),
            &format!(".bucket-{bucket}.object-{}.metadata.json", key("etcd/done")),
        );

        assert_eq!(
            s3s_fs_incomplete_uploads(dir.path(), "b", "etcd/"),
            vec!["u1".to_string()]
        );
        assert_eq!(
            s3s_fs_incomplete_uploads(dir.path(), "b", ""),
            vec!["u1".to_string(), "u3".to_string()]
        );
    }

    #[test]
    fn kind_labels_round_trip() {
        for kind in [S3Kind::SeaweedFs, S3Kind::S3sFs, S3Kind::Minio] {
            assert_eq!(S3Kind::from_label(kind.label()), Some(kind));
        }
        assert_eq!(S3Kind::from_label("aws"), None);
    }
}
