//! Command lines of our tools and of the peers, as the benchmark runs and documents them.
//!
//! Every S3 client gets the loopback endpoint explicitly, so none of them can fall back to an
//! AWS endpoint, and credentials only through variables of the clean environment.

use std::path::{Path, PathBuf};

use super::command::ToolCommand;
use super::peers::Peers;

/// Shown in place of the S3 server's URL, whose port changes with every server start.
pub const S3_ENDPOINT_PLACEHOLDER: &str = "$S3_ENDPOINT";
/// Shown in place of the etcd server's URL.
pub const ETCD_ENDPOINT_PLACEHOLDER: &str = "$ETCD_ENDPOINT";
/// Region every client signs for; the loopback servers accept any, AWS clients want one.
pub const REGION: &str = "us-east-1";

/// Our release binaries.
#[derive(Clone, Debug)]
pub struct OurTools {
    pub etcd_dump: PathBuf,
    pub s3_put: PathBuf,
    pub creds_resolve: PathBuf,
}

impl OurTools {
    pub fn in_dir(release_dir: &Path) -> OurTools {
        OurTools {
            etcd_dump: release_dir.join("etcd-dump"),
            s3_put: release_dir.join("s3-put"),
            creds_resolve: release_dir.join("creds-resolve"),
        }
    }
}

/// Upload target: endpoint, bucket and credentials.
#[derive(Clone, Debug)]
pub struct S3Access {
    pub endpoint: String,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl S3Access {
    pub fn of(server: &e2e_tests::S3Server) -> S3Access {
        S3Access {
            endpoint: server.endpoint.clone(),
            bucket: server.bucket.clone(),
            access_key: server.access_key.clone(),
            secret_key: server.secret_key.clone(),
        }
    }

    /// Returns the same target with the endpoint replaced by a placeholder, for the page.
    pub fn placeholder(bucket: &str) -> S3Access {
        S3Access {
            endpoint: S3_ENDPOINT_PLACEHOLDER.to_string(),
            bucket: bucket.to_string(),
            access_key: String::new(),
            secret_key: String::new(),
        }
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// Adds the AWS variables read by aws-cli, s5cmd and s3-put.
    fn aws_env(&self, command: ToolCommand) -> ToolCommand {
        command
            .env("AWS_REGION", REGION)
            .secret_env("AWS_ACCESS_KEY_ID", &self.access_key)
            .secret_env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
    }
}

/// `s3-put` uploading stdin.
pub fn s3_put(ours: &OurTools, access: &S3Access, key: &str) -> ToolCommand {
    let command = ToolCommand::new(
        &ours.s3_put,
        &[
            "--bucket",
            &access.bucket,
            "--key",
            key,
            "--endpoint-url",
            &access.endpoint,
        ],
    );
    access.aws_env(command)
}

/// `aws s3 cp SOURCE s3://...`, where SOURCE is `-` for stdin or a file path.
pub fn aws_cp(peers: &Peers, access: &S3Access, source: &str, key: &str) -> ToolCommand {
    let command = ToolCommand::new(
        &peers.aws,
        &[
            "--endpoint-url",
            &access.endpoint,
            "--region",
            REGION,
            "s3",
            "cp",
            "--no-progress",
            source,
            &access.url(key),
        ],
    );
    access.aws_env(command)
}

/// `s5cmd pipe s3://...` uploading stdin.
pub fn s5cmd_pipe(peers: &Peers, access: &S3Access, key: &str) -> ToolCommand {
    let command = ToolCommand::new(
        &peers.s5cmd,
        &["--endpoint-url", &access.endpoint, "pipe", &access.url(key)],
    );
    access.aws_env(command)
}

/// `rclone rcat bench:BUCKET/KEY` with the remote defined entirely by `RCLONE_CONFIG_BENCH_*`
/// variables and no config file, so no user configuration can change the target.
pub fn rclone_rcat(peers: &Peers, access: &S3Access, home: &Path, key: &str) -> ToolCommand {
    let remote = format!("bench:{}/{key}", access.bucket);
    ToolCommand::new(&peers.rclone, &["rcat", &remote])
        .env(
            "RCLONE_CONFIG",
            home.join("rclone.conf").display().to_string(),
        )
        .env("RCLONE_CONFIG_BENCH_TYPE", "s3")
        .env("RCLONE_CONFIG_BENCH_PROVIDER", "SeaweedFS")
        .env("RCLONE_CONFIG_BENCH_ENDPOINT", &access.endpoint)
        .env("RCLONE_CONFIG_BENCH_REGION", REGION)
        .env("RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE", "true")
        .env("RCLONE_CONFIG_BENCH_ENV_AUTH", "false")
        .secret_env("RCLONE_CONFIG_BENCH_ACCESS_KEY_ID", &access.access_key)
        .secret_env("RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY", &access.secret_key)
}

/// `etcd-dump --endpoints URL > output`.
pub fn etcd_dump(ours: &OurTools, endpoint: &str, output: Option<&Path>) -> ToolCommand {
    let command = ToolCommand::new(&ours.etcd_dump, &["--endpoints", endpoint]);
    match output {
        Some(path) => command.stdout(path),
        None => command,
    }
}

/// `etcd-dump --endpoints URL --output FILE`, which syncs and renames FILE as etcdctl does.
pub fn etcd_dump_output(ours: &OurTools, endpoint: &str, file: &Path) -> ToolCommand {
    ToolCommand::new(
        &ours.etcd_dump,
        &[
            "--endpoints",
            endpoint,
            "--output",
            &file.display().to_string(),
        ],
    )
}

/// `etcdctl snapshot save FILE`.
pub fn etcdctl_save(etcdctl: &Path, endpoint: &str, file: &Path) -> ToolCommand {
    ToolCommand::new(
        etcdctl,
        &[
            "--endpoints",
            endpoint,
            "snapshot",
            "save",
            &file.display().to_string(),
        ],
    )
    .env("ETCDCTL_API", "3")
}

/// Tool labels used in the results, the page and the target checks.
pub mod label {
    pub const ETCD_DUMP: &str = "etcd-dump";
    pub const ETCD_DUMP_OUTPUT: &str = "etcd-dump --output";
    pub const ETCDCTL_SAVE: &str = "etcdctl snapshot save";
    pub const S3_PUT: &str = "s3-put";
    pub const AWS_CP: &str = "aws s3 cp";
    pub const S5CMD_PIPE: &str = "s5cmd pipe";
    pub const RCLONE_RCAT: &str = "rclone rcat";
    pub const PIPELINE_OURS: &str = "etcd-dump | s3-put";
    pub const PIPELINE_SCRIPT: &str = "etcdctl snapshot save && aws s3 cp";
    pub const CREDS_RESOLVE: &str = "creds-resolve";
    pub const BOTOCORE: &str = "botocore";
    pub const PYTHON_STARTUP: &str = "python startup";
    pub const EMPTY_PROCESS: &str = "true (measurement floor)";
    pub const S3_PUT_SMALL_INPUT: &str = "s3-put, smaller input";
    pub const S3_PUT_LARGE_INPUT: &str = "s3-put, larger input";
}
