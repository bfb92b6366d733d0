//! etcd servers for the end-to-end suite, one per test, on loopback ports.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::manifest::{EtcdTools, manifest};
use crate::paths::{ScratchDir, scratch_dir_named};
use crate::process::{ServerProcess, free_port};
use crate::random::random_hex;
use crate::runtime::block_on;
use crate::tls::TlsFiles;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: u32 = 3;
const MEMBER_NAME: &str = "e2e";

/// Keys and values as raw bytes, in etcd's key order.
type KeyValuePairs = Vec<(Vec<u8>, Vec<u8>)>;

/// etcd release lines covered by the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtcdVersion {
    V3_4,
    V3_5,
}

impl EtcdVersion {
    pub fn all() -> [EtcdVersion; 2] {
        [EtcdVersion::V3_4, EtcdVersion::V3_5]
    }

    /// Returns the release line, "3.4" or "3.5".
    pub fn label(self) -> &'static str {
        match self {
            EtcdVersion::V3_4 => "3.4",
            EtcdVersion::V3_5 => "3.5",
        }
    }

    /// Returns the installed binaries of this release line.
    pub fn tools(self) -> &'static EtcdTools {
        match self {
            EtcdVersion::V3_4 => &manifest().etcd_3_4,
            EtcdVersion::V3_5 => &manifest().etcd_3_5,
        }
    }
}

impl fmt::Display for EtcdVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.label())
    }
}

pub fn etcd_path(version: EtcdVersion) -> PathBuf {
    version.tools().etcd.clone()
}

pub fn etcdctl_path(version: EtcdVersion) -> PathBuf {
    version.tools().etcdctl.clone()
}

/// Returns `etcdutl`, which exists from etcd 3.5 on.
pub fn etcdutl_path(version: EtcdVersion) -> Option<PathBuf> {
    version.tools().etcdutl.clone()
}

/// Server setup. `auth` creates user `root` with a generated password and enables auth.
#[derive(Clone, Debug, Default)]
pub struct EtcdOptions {
    pub tls: bool,
    pub auth: bool,
}

/// How a client reaches one server: enough to build etcdctl and gRPC clients.
#[derive(Clone)]
struct Connection {
    version: EtcdVersion,
    endpoint: String,
    tls: Option<TlsFiles>,
    auth: Option<(String, String)>,
}

impl Connection {
    fn etcdctl(&self) -> Command {
        let mut command = Command::new(etcdctl_path(self.version));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ETCDCTL_") {
                command.env_remove(&name);
            }
        }
        command.env("ETCDCTL_API", "3");
        command.arg(format!("--endpoints={}", self.endpoint));
        command.arg("--dial-timeout=5s");
        if let Some(tls) = &self.tls {
            command.arg(format!("--cacert={}", tls.ca.display()));
            command.arg(format!("--cert={}", tls.client_cert.display()));
            command.arg(format!("--key={}", tls.client_key.display()));
        }
        // etcdctl exits when ETCDCTL_USER and --user are both set, so the credentials go in a
        // flag, which a later --user flag from a test overrides.
        if let Some((user, password)) = &self.auth {
            command.arg(format!("--user={user}:{password}"));
        }
        command
    }

    /// Sends a real range request, which also checks auth when it is on.
    fn probe(&self) -> Result<(), String> {
        let mut command = self.etcdctl();
        command.args([
            "--command-timeout=3s",
            "get",
            "--limit=1",
            "e2e-readiness-probe",
        ]);
        run(command, None).map(|_| ())
    }
}

/// Runs `command` to completion and returns its stdout, or an error with its stderr.
fn run(mut command: Command, stdin: Option<&[u8]>) -> Result<Vec<u8>, String> {
    command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let description = format!("{:?}", command.get_args().collect::<Vec<_>>());
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .spawn()
        .map_err(|error| format!("cannot run {program}: {error}"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input)
            .map_err(|error| format!("cannot write to {program}: {error}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|error| format!("cannot wait for {program}: {error}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(format!(
            "{program} {description} failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// One running etcd member. Killed on drop; its scratch dir is removed unless a test failed.
pub struct EtcdServer {
    pub version: EtcdVersion,
    /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
    pub endpoint: String,
    pub tls: Option<TlsFiles>,
    /// (user, password) when auth is on; the user is "root".
    pub auth: Option<(String, String)>,
    pub data_dir: PathBuf,
    process: ServerProcess,
    // Declared last so the server is killed before its files are removed.
    _scratch: ScratchDir,
}

impl fmt::Debug for EtcdServer {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("EtcdServer")
            .field("version", &self.version)
            .field("endpoint", &self.endpoint)
            .field("tls", &self.tls.is_some())
            .field("auth_user", &self.auth.as_ref().map(|(user, _)| user))
            .field("data_dir", &self.data_dir)
            .field("pid", &self.process.pid())
            .field("log", &self.process.log_path())
            .finish()
    }
}

impl EtcdServer {
    /// Starts a fresh single-member cluster.
    ///
    /// # Panics
    /// When the server does not become ready; the message contains the tail of its log.
    pub fn start(version: EtcdVersion, opts: EtcdOptions) -> EtcdServer {
        Self::start_with_quota(version, opts, None)
    }

    /// Like [`EtcdServer::start`], with `--quota-backend-bytes` set when `quota_backend_bytes` is
    /// given, for databases that outgrow etcd's default quota of 2 GiB (benchmarks).
    pub fn start_with_quota(
        version: EtcdVersion,
        opts: EtcdOptions,
        quota_backend_bytes: Option<u64>,
    ) -> EtcdServer {
        let scratch = scratch_dir_named(&format!("etcd-{version}"));
        let tls = if opts.tls {
            Some(
                TlsFiles::generate(&scratch.join("tls"))
                    .unwrap_or_else(|message| panic!("{message}")),
            )
        } else {
            None
        };
        let server = launch(version, scratch, tls, None, None, quota_backend_bytes)
            .unwrap_or_else(|message| panic!("etcd {version} failed to start: {message}"));
        if opts.auth {
            server
                .enable_auth()
                .unwrap_or_else(|message| panic!("cannot enable auth on etcd {version}: {message}"))
        } else {
            server
        }
    }

    /// Restores `snapshot` into a new data dir (etcdutl for 3.5, etcdctl for 3.4), starts etcd
    /// on it without TLS, and returns it.
    ///
    /// # Panics
    /// When the restore fails or the server does not become ready.
    pub fn start_from_snapshot(version: EtcdVersion, snapshot: &Path) -> EtcdServer {
        Self::start_from_snapshot_with_auth(version, snapshot, None)
    }

    /// Like [`EtcdServer::start_from_snapshot`] for a snapshot taken with auth enabled: auth
    /// state is part of the snapshot, so the caller passes the (user, password) it contains.
    pub fn start_from_snapshot_with_auth(
        version: EtcdVersion,
        snapshot: &Path,
        auth: Option<(String, String)>,
    ) -> EtcdServer {
        let scratch = scratch_dir_named(&format!("etcd-{version}-restored"));
        launch(version, scratch, None, Some(snapshot), auth, None).unwrap_or_else(|message| {
            panic!(
                "etcd {version} failed to start from snapshot {}: {message}",
                snapshot.display()
            )
        })
    }

    fn connection(&self) -> Connection {
        Connection {
            version: self.version,
            endpoint: self.endpoint.clone(),
            tls: self.tls.clone(),
            auth: self.auth.clone(),
        }
    }

    /// Returns an etcdctl command with `ETCDCTL_API=3`, the endpoint, TLS flags and, when auth
    /// is on, `--user=root:PASSWORD` preset; other `ETCDCTL_*` variables are removed. A later
    /// `--user` argument overrides the preset one.
    pub fn etcdctl(&self) -> Command {
        self.connection().etcdctl()
    }

    /// Returns an etcdctl command like [`EtcdServer::etcdctl`] but without credentials.
    pub fn etcdctl_without_auth(&self) -> Command {
        Connection {
            auth: None,
            ..self.connection()
        }
        .etcdctl()
    }

    /// Process id of the etcd server.
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

    /// Creates user root with a generated password, grants it the root role and enables auth.
    fn enable_auth(mut self) -> Result<EtcdServer, String> {
        let password = random_hex(12);

        let mut add_user = self.etcdctl();
        add_user.args(["user", "add", "root", "--interactive=false"]);
        run(add_user, Some(format!("{password}\n").as_bytes()))?;

        let mut grant = self.etcdctl();
        grant.args(["user", "grant-role", "root", "root"]);
        run(grant, None)?;

        let mut enable = self.etcdctl();
        enable.args(["auth", "enable"]);
        run(enable, None)?;

        self.auth = Some(("root".to_string(), password));
        self.connection().probe()?;
        Ok(self)
    }

    /// Writes `items` with gRPC transactions of up to 100 puts or about 1 MiB each, which keeps
    /// every request under etcd's default limits (128 operations, 1.5 MiB).
    ///
    /// # Panics
    /// When a write fails, for example because one value alone exceeds 1.5 MiB.
    pub fn put_many(&self, items: &[(Vec<u8>, Vec<u8>)]) {
        let connection = self.connection();
        block_on(async move { put_batches(&connection, items).await })
            .unwrap_or_else(|message| panic!("put_many on etcd {}: {message}", self.version));
    }

    /// Returns every key and value, sorted by key, read with `etcdctl get --prefix "" -w json`.
    ///
    /// # Panics
    /// When etcdctl fails or prints something that is not its JSON format.
    pub fn all_keys_and_values(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut command = self.etcdctl();
        command.args(["--command-timeout=60s", "get", "", "--prefix", "-w", "json"]);
        let output = run(command, None).unwrap_or_else(|message| panic!("{message}"));
        let mut pairs = parse_get_json(&output).unwrap_or_else(|message| panic!("{message}"));
        pairs.sort();
        pairs
    }
}

fn parse_get_json(output: &[u8]) -> Result<KeyValuePairs, String> {
    #[derive(serde::Deserialize)]
    struct KeyValue {
        key: String,
        #[serde(default)]
        value: String,
    }
    #[derive(serde::Deserialize)]
    struct GetResponse {
        #[serde(default)]
        kvs: Vec<KeyValue>,
    }

    let response: GetResponse = serde_json::from_slice(output)
        .map_err(|error| format!("invalid `etcdctl get -w json` output: {error}"))?;
    response
        .kvs
        .into_iter()
        .map(|pair| {
            let key = BASE64
                .decode(&pair.key)
                .map_err(|error| format!("invalid base64 key {:?}: {error}", pair.key))?;
            let value = BASE64
                .decode(&pair.value)
                .map_err(|error| format!("invalid base64 value of key {:?}: {error}", pair.key))?;
            Ok((key, value))
        })
        .collect()
}

async fn put_batches(connection: &Connection, items: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    const MAX_OPS: usize = 100;
    const MAX_BYTES: usize = 1024 * 1024;

    let mut options = etcd_client::ConnectOptions::new();
    if let Some((user, password)) = &connection.auth {
        options = options.with_user(user.clone(), password.clone());
    }
    if let Some(tls) = &connection.tls {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))
        };
        let identity =
            etcd_client::Identity::from_pem(read(&tls.client_cert)?, read(&tls.client_key)?);
        options = options.with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(read(&tls.ca)?))
                .identity(identity),
        );
    }
    let mut client = etcd_client::Client::connect([connection.endpoint.as_str()], Some(options))
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", connection.endpoint))?;

    let mut start = 0;
    while start < items.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < items.len() && end - start < MAX_OPS {
            let size = items[end].0.len() + items[end].1.len();
            if end > start && bytes + size > MAX_BYTES {
                break;
            }
            bytes += size;
            end += 1;
        }
        let operations: Vec<etcd_client::TxnOp> = items[start..end]
            .iter()
            .map(|(key, value)| etcd_client::TxnOp::put(key.clone(), value.clone(), None))
            .collect();
        client
            .txn(etcd_client::Txn::new().and_then(operations))
            .await
            .map_err(|error| format!("transaction with keys {start}..{end} failed: {error}"))?;
        start = end;
    }
    Ok(())
}

/// Restores `snapshot` into `data_dir` for a member whose peer URL is `peer_url`.
fn restore(
    version: EtcdVersion,
    snapshot: &Path,
    data_dir: &Path,
    peer_url: &str,
) -> Result<(), String> {
    let mut command = match etcdutl_path(version) {
        Some(etcdutl) => Command::new(etcdutl),
        None => {
            let mut command = Command::new(etcdctl_path(version));
            command.env("ETCDCTL_API", "3");
            command
        }
    };
    command
        .arg("snapshot")
        .arg("restore")
        .arg(snapshot)
        .arg(format!("--data-dir={}", data_dir.display()))
        .arg(format!("--name={MEMBER_NAME}"))
        .arg(format!("--initial-cluster={MEMBER_NAME}={peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={peer_url}"))
        .arg(format!("--initial-cluster-token={MEMBER_NAME}"));
    run(command, None).map(|_| ())
}

/// Starts etcd in `scratch`, retrying with new ports when one was taken meanwhile.
fn launch(
    version: EtcdVersion,
    scratch: ScratchDir,
    tls: Option<TlsFiles>,
    snapshot: Option<&Path>,
    auth: Option<(String, String)>,
    quota_backend_bytes: Option<u64>,
) -> Result<EtcdServer, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let data_dir = scratch.join("data");
    let mut last_error = String::new();

    for _attempt in 0..START_ATTEMPTS {
        let _ = std::fs::remove_dir_all(&data_dir);
        let client_url = format!("{scheme}://127.0.0.1:{}", free_port());
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        if let Some(snapshot) = snapshot {
            restore(version, snapshot, &data_dir, &peer_url)?;
        }

        let mut command = Command::new(etcd_path(version));
        command
            .current_dir(scratch.path())
            .env("HOME", scratch.path())
            .arg(format!("--name={MEMBER_NAME}"))
            .arg(format!("--data-dir={}", data_dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={MEMBER_NAME}={peer_url}"))
            .arg(format!("--initial-cluster-token={MEMBER_NAME}"))
            .arg("--initial-cluster-state=new")
            .arg("--logger=zap")
            .arg("--log-outputs=stderr");
        if let Some(bytes) = quota_backend_bytes {
            command.arg(format!("--quota-backend-bytes={bytes}"));
        }
        if let Some(tls) = &tls {
            command
                .arg(format!("--cert-file={}", tls.server_cert.display()))
                .arg(format!("--key-file={}", tls.server_key.display()))
                .arg(format!("--trusted-ca-file={}", tls.ca.display()))
                .arg("--client-cert-auth");
        }

        let mut process = ServerProcess::spawn(&format!("etcd-{version}"), command)?;
        let connection = Connection {
            version,
            endpoint: client_url.clone(),
            tls: tls.clone(),
            auth: auth.clone(),
        };
        match process.wait_ready(READY_TIMEOUT, || connection.probe()) {
            Ok(()) => {
                return Ok(EtcdServer {
                    version,
                    endpoint: client_url,
                    tls,
                    auth,
                    data_dir,
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

    #[test]
    fn get_json_decodes_binary_pairs() {
        let output = br#"{"header":{"revision":3},"kvs":[
            {"key":"YQ==","create_revision":2,"mod_revision":2,"version":1,"value":"/wA="},
            {"key":"Yg==","create_revision":3,"mod_revision":3,"version":1}
        ],"count":2}"#;
        let pairs = parse_get_json(output).unwrap();
        assert_eq!(
            pairs,
            vec![
                (b"a".to_vec(), vec![0xff, 0x00]),
                (b"b".to_vec(), Vec::new())
            ]
        );
    }

    #[test]
    fn get_json_without_kvs_is_empty() {
        let output = br#"{"header":{"revision":1}}"#;
        assert_eq!(parse_get_json(output).unwrap(), Vec::new());
    }

    #[test]
    fn get_json_rejects_invalid_base64() {
        let output = br#"{"kvs":[{"key":"%%%","value":""}]}"#;
        let error = parse_get_json(output).unwrap_err();
        assert!(error.contains("invalid base64 key"), "{error}");
    }
}
