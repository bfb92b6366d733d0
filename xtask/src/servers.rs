//! `cargo xtask servers`: etcd and an S3 server on loopback for manual runs of the tools.

use std::time::Duration;

use anyhow::{Context, bail};
use e2e_tests::{EtcdOptions, EtcdServer, EtcdVersion, S3Kind, S3Server};

use crate::signals;

const STOP_GRACE: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: cargo xtask servers [--etcd 3.4|3.5] [--s3 seaweedfs|s3s-fs|minio] \
                     [--tls] [--auth]";

struct Options {
    etcd: EtcdVersion,
    s3: S3Kind,
    etcd_options: EtcdOptions,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let mut options = Options {
        etcd: EtcdVersion::V3_5,
        s3: S3Kind::SeaweedFs,
        etcd_options: EtcdOptions::default(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--etcd" => options.etcd = parse_etcd_version(args.next())?,
            "--s3" => options.s3 = parse_s3_kind(args.next())?,
            "--tls" => options.etcd_options.tls = true,
            "--auth" => options.etcd_options.auth = true,
            "-h" | "--help" => crate::run::exit_with_usage(USAGE),
            other => bail!("unknown option {other:?}; {USAGE}"),
        }
    }
    Ok(options)
}

/// Parses the value of `--etcd`, shared by `cargo xtask servers` and `cargo xtask demo`.
pub fn parse_etcd_version(value: Option<&String>) -> anyhow::Result<EtcdVersion> {
    let value = value.context("--etcd needs a value: 3.4 or 3.5")?;
    EtcdVersion::all()
        .into_iter()
        .find(|version| version.label() == value)
        .with_context(|| format!("invalid --etcd {value:?}: use 3.4 or 3.5"))
}

/// Parses the value of `--s3`, shared by `cargo xtask servers` and `cargo xtask demo`.
pub fn parse_s3_kind(value: Option<&String>) -> anyhow::Result<S3Kind> {
    let value = value.context("--s3 needs a value: seaweedfs, s3s-fs or minio")?;
    S3Kind::from_label(value)
        .with_context(|| format!("invalid --s3 {value:?}: use seaweedfs, s3s-fs or minio"))
}

/// Quotes `value` for a POSIX shell.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn describe(etcd: &EtcdServer, s3: &S3Server) -> (serde_json::Value, String) {
    let tls = etcd.tls.as_ref().map(|tls| {
        serde_json::json!({
            "ca": tls.ca, "cert": tls.client_cert, "key": tls.client_key,
        })
    });
    let json = serde_json::json!({
        "etcd": {
            "version": etcd.version.label(),
            "endpoint": etcd.endpoint,
            "etcdctl": e2e_tests::etcdctl_path(etcd.version),
            "tls": tls,
            "user": etcd.auth.as_ref().map(|(user, _)| user),
            "password": etcd.auth.as_ref().map(|(_, password)| password),
            "pid": etcd.pid(),
            "log": etcd.log_path(),
        },
        "s3": {
            "kind": s3.kind.label(),
            "endpoint": s3.endpoint,
            "region": s3.region,
            "bucket": s3.bucket,
            "access_key_id": s3.access_key,
            "secret_access_key": s3.secret_key,
            "pid": s3.pid(),
            "log": s3.log_path(),
        },
    });

    // etcdctl and etcd-dump both read the ETCDCTL_* variables, and s3-put and the AWS SDKs read
    // AWS_ENDPOINT_URL. ETCD_ENDPOINT, S3_ENDPOINT_URL and BUCKET are the names the README's
    // Quick start pipeline uses.
    let mut exports = vec![
        ("ETCDCTL_API", "3".to_string()),
        ("ETCDCTL_ENDPOINTS", etcd.endpoint.clone()),
        ("ETCD_ENDPOINT", etcd.endpoint.clone()),
        ("AWS_ENDPOINT_URL", s3.endpoint.clone()),
        ("S3_ENDPOINT_URL", s3.endpoint.clone()),
        ("AWS_REGION", s3.region.clone()),
        ("AWS_ACCESS_KEY_ID", s3.access_key.clone()),
        ("AWS_SECRET_ACCESS_KEY", s3.secret_key.clone()),
        ("BUCKET", s3.bucket.clone()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
    ];
    if let Some(tls) = &etcd.tls {
        exports.push(("ETCDCTL_CACERT", tls.ca.display().to_string()));
        exports.push(("ETCDCTL_CERT", tls.client_cert.display().to_string()));
        exports.push(("ETCDCTL_KEY", tls.client_key.display().to_string()));
    }
    if let Some((user, password)) = &etcd.auth {
        exports.push(("ETCDCTL_USER", format!("{user}:{password}")));
    }
    let exports = exports
        .into_iter()
        .map(|(name, value)| format!("export {name}={}", shell_quote(&value)))
        .collect::<Vec<_>>()
        .join("\n");
    (json, exports)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    e2e_tests::ToolsManifest::load().map_err(anyhow::Error::msg)?;
    signals::install();

    eprintln!(
        "xtask servers: starting etcd {} and {}",
        options.etcd, options.s3
    );
    let mut etcd = EtcdServer::start(options.etcd, options.etcd_options.clone());
    let mut s3 = S3Server::start(options.s3);

    let (json, exports) = describe(&etcd, &s3);
    println!("{}", serde_json::to_string_pretty(&json)?);
    println!("{exports}");
    eprintln!("xtask servers: running; press Ctrl-C to stop them");

    let outcome = loop {
        if let Some(signal) = signals::received() {
            eprintln!("xtask servers: signal {signal} received, stopping the servers");
            break Ok(());
        }
        if let Some(status) = etcd.exit_status() {
            break Err(anyhow::anyhow!(
                "etcd exited with {status}; log: {}",
                etcd.log_path().display()
            ));
        }
        if let Some(status) = s3.exit_status() {
            break Err(anyhow::anyhow!(
                "{} exited with {status}; log: {}",
                s3.kind,
                s3.log_path().display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    etcd.stop(STOP_GRACE);
    s3.stop(STOP_GRACE);
    eprintln!("xtask servers: stopped");
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_escapes_single_quotes() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn parse_reads_versions_and_kinds() {
        let args: Vec<String> = ["--etcd", "3.4", "--s3", "s3s-fs", "--tls"]
            .map(String::from)
            .to_vec();
        let options = parse(&args).unwrap();
        assert_eq!(options.etcd, EtcdVersion::V3_4);
        assert_eq!(options.s3, S3Kind::S3sFs);
        assert!(options.etcd_options.tls);
        assert!(!options.etcd_options.auth);
    }

    #[test]
    fn parse_rejects_unknown_version() {
        let args: Vec<String> = ["--etcd", "3.6"].map(String::from).to_vec();
        let error = parse(&args).err().unwrap().to_string();
        assert!(error.contains("invalid --etcd \"3.6\""), "{error}");
    }
}
