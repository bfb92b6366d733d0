//! `cargo xtask demo`: the README's backup pipeline, end to end, on loopback servers.
//!
//! Loads Kubernetes-shaped sample data into a local etcd, runs the Quick start pipeline
//! (`etcd-dump | s3-put --credentials <(creds-resolve --profile backup)`) in bash against a
//! local S3 server, downloads the object, restores it into a new etcd, and compares every key
//! and value. The servers stop when the demo ends, also on failure.

mod compare;
mod quick_start;
mod sample_data;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use e2e_tests::{EtcdOptions, EtcdServer, EtcdVersion, S3Kind, S3Server, ToolsManifest};

use crate::{run, servers};
use sample_data::SampleSize;

/// Seed of the sample data, fixed so that every run loads the same keys and values.
const SEED: u64 = 20_261_204;
const TOOLS: [&str; 3] = ["creds-resolve", "etcd-dump", "s3-put"];
const USAGE: &str =
    "usage: cargo xtask demo [--etcd 3.4|3.5] [--s3 seaweedfs|s3s-fs|minio] [--release]";

struct Options {
    etcd: EtcdVersion,
    s3: S3Kind,
    release: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        etcd: EtcdVersion::V3_5,
        s3: S3Kind::SeaweedFs,
        release: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--etcd" => options.etcd = servers::parse_etcd_version(args.next())?,
            "--s3" => options.s3 = servers::parse_s3_kind(args.next())?,
            "--release" => options.release = true,
            "-h" | "--help" => run::exit_with_usage(USAGE),
            other => bail!("unknown option {other:?}; {USAGE}"),
        }
    }
    Ok(options)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    if ToolsManifest::load().is_err() {
        eprintln!("xtask demo: no servers provisioned yet, running `cargo xtask install` first");
        crate::install::run(&[])?;
    }
    if options.s3 == S3Kind::Minio && !S3Kind::available().contains(&S3Kind::Minio) {
        bail!("MinIO is not installed: put a `minio` binary on PATH and run `cargo xtask install`");
    }
    let tools_dir = build_tools(options.release)?;

    eprintln!(
        "xtask demo: starting etcd {} and {} on loopback",
        options.etcd, options.s3
    );
    let etcd = EtcdServer::start(options.etcd, EtcdOptions::default());
    let s3 = S3Server::start(options.s3);

    let data = sample_data::generate(SampleSize::DEMO, SEED);
    let load_started = Instant::now();
    etcd.put_many(&data);
    let loaded_bytes = sample_data::total_bytes(&data);
    eprintln!(
        "xtask demo: loaded {} keys ({}) into etcd {} in {:.1} s",
        data.len(),
        mebibytes(loaded_bytes as u64),
        etcd.endpoint,
        load_started.elapsed().as_secs_f64()
    );

    let scratch = e2e_tests::scratch_dir();
    let home = scratch.join("home");
    write_credentials(&home, &s3)?;
    let key = format!("demo/etcd-{}-{}.db", etcd.version, unix_seconds());

    let backup = run_pipeline(&tools_dir, &home, &etcd, &s3, &key)?;
    println!("{}", backup.result_json.trim());
    let head = s3.head_object(&key).with_context(|| {
        format!(
            "s3-put reported success but s3://{}/{key} does not exist",
            s3.bucket
        )
    })?;
    println!();
    println!(
        "keys loaded:     {} ({})",
        data.len(),
        mebibytes(loaded_bytes as u64)
    );
    println!(
        "snapshot size:   {} ({} bytes)",
        mebibytes(head.size),
        head.size
    );
    println!(
        "object:          s3://{}/{key} on {}",
        s3.bucket, s3.endpoint
    );
    println!("backup time:     {:.1} s", backup.elapsed.as_secs_f64());

    let snapshot = s3
        .get_object(&key)
        .with_context(|| format!("s3://{}/{key} disappeared before the download", s3.bucket))?;
    let snapshot_path = scratch.join("downloaded.db");
    fs::write(&snapshot_path, &snapshot)
        .with_context(|| format!("cannot write {}", snapshot_path.display()))?;
    let restore_started = Instant::now();
    let restored = EtcdServer::start_from_snapshot(etcd.version, &snapshot_path);
    let comparison = compare::compare(&data, &restored.all_keys_and_values());
    println!(
        "restore:         etcd {} started from the downloaded object in {:.1} s",
        restored.version,
        restore_started.elapsed().as_secs_f64()
    );
    println!("keys matched:    {} of {}", comparison.matched, data.len());

    if !comparison.is_exact() {
        bail!(
            "the restored etcd differs from the source: {} keys missing (first: {:?}), {} values \
             changed (first: {:?}), {} unexpected keys (first: {:?})",
            comparison.missing.len(),
            comparison.missing.first(),
            comparison.changed.len(),
            comparison.changed.first(),
            comparison.extra.len(),
            comparison.extra.first(),
        );
    }
    println!("result:          backup restored and every key and value matched");
    Ok(())
}

/// Builds the three tools and returns the directory that contains them.
fn build_tools(release: bool) -> anyhow::Result<PathBuf> {
    let mut command = run::cargo();
    command.args(["build", "--bins"]);
    for tool in TOOLS {
        command.args(["--package", tool]);
    }
    if release {
        command.arg("--release");
    }
    run::run_checked(command)?;

    let dir = e2e_tests::target_dir().join(if release { "release" } else { "debug" });
    for tool in TOOLS {
        let path = dir.join(tool);
        if !path.is_file() {
            bail!("cargo build succeeded but {} is missing", path.display());
        }
    }
    Ok(dir)
}

/// Writes `<home>/.aws/credentials` (mode 0600) with the S3 server's keys as profile `backup`.
fn write_credentials(home: &Path, s3: &S3Server) -> anyhow::Result<()> {
    let dir = home.join(".aws");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("credentials");
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    write!(
        file,
        "[backup]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
        s3.access_key, s3.secret_key
    )
    .with_context(|| format!("cannot write {}", path.display()))
}

struct Backup {
    result_json: String,
    elapsed: Duration,
}

/// Runs the Quick start pipeline in bash with `set -o pipefail`, HOME at `home`, our tools
/// first on PATH and no AWS_* variables from the caller.
fn run_pipeline(
    tools_dir: &Path,
    home: &Path,
    etcd: &EtcdServer,
    s3: &S3Server,
    key: &str,
) -> anyhow::Result<Backup> {
    let path = match std::env::var("PATH") {
        Ok(rest) => format!("{}:{rest}", tools_dir.display()),
        Err(_) => tools_dir.display().to_string(),
    };
    let variables = [
        ("ETCD_ENDPOINT", etcd.endpoint.clone()),
        ("BUCKET", s3.bucket.clone()),
        ("KEY", key.to_string()),
        ("S3_ENDPOINT_URL", s3.endpoint.clone()),
    ];

    eprintln!(
        "xtask demo: running the Quick start pipeline with HOME={}, where",
        home.display()
    );
    eprintln!("            ~/.aws/credentials contains the S3 server's keys as profile [backup]:");
    for (name, value) in &variables {
        eprintln!("  {name}={value}");
    }
    eprintln!("  set -o pipefail");
    for line in quick_start::PIPELINE.lines() {
        eprintln!("  {line}");
    }

    let mut command: Command = e2e_tests::clean_command("bash", home);
    command
        .arg("-c")
        .arg(format!("set -o pipefail\n{}", quick_start::PIPELINE))
        .env("PATH", path)
        .envs(variables)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let started = Instant::now();
    let output = command.output().context("cannot run bash")?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        bail!("the backup pipeline failed with {}", output.status);
    }
    Ok(Backup {
        result_json: String::from_utf8_lossy(&output.stdout).into_owned(),
        elapsed,
    })
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_shows_demo_pipeline() {
        let readme_path = e2e_tests::workspace_root().join("README.md");
        let readme = fs::read_to_string(&readme_path).expect("read README.md");
        assert!(
            readme.contains(quick_start::PIPELINE),
            "README.md must show the pipeline that `cargo xtask demo` runs:\n{}",
            quick_start::PIPELINE
        );
    }

    #[test]
    fn options_default_to_etcd_3_5_and_seaweedfs() {
        let options = parse(&[]).expect("no options parse");
        assert_eq!(options.etcd, EtcdVersion::V3_5);
        assert_eq!(options.s3, S3Kind::SeaweedFs);
        assert!(!options.release);
    }

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--etcd", "3.4", "--s3", "s3s-fs", "--release"]
            .iter()
            .map(|arg| arg.to_string())
            .collect();
        let options = parse(&args).expect("options parse");
        assert_eq!(options.etcd, EtcdVersion::V3_4);
        assert_eq!(options.s3, S3Kind::S3sFs);
        assert!(options.release);
    }

    #[test]
    fn invalid_option_values_rejected() {
        for args in [["--etcd", "3.6"], ["--s3", "ceph"]] {
            let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
            assert!(parse(&args).is_err(), "{args:?} must be rejected");
        }
    }
}
