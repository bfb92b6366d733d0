//! Command-line interface.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

use crate::checksum::ChecksumAlgorithm;
use crate::part_size::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

/// Streams stdin (or the output of COMMAND) into one S3 object.
///
/// Input that fits in one part goes up with a single PutObject, anything
/// longer as a multipart upload. On any failure, SIGINT or SIGTERM the
/// multipart upload is aborted, so no object and no billed parts are left.
/// The result is one JSON object on stdout.
#[derive(Debug, Parser)]
#[command(version, after_help = AFTER_HELP)]
pub struct Args {
    /// Bucket to write to.
    #[arg(long)]
    pub bucket: String,

    /// Object key, stored byte for byte (spaces, '+', '//' and non-ASCII included).
    #[arg(long)]
    pub key: String,

    /// Region to sign for [default: AWS_REGION, AWS_DEFAULT_REGION, or us-east-1 with --endpoint-url].
    #[arg(long)]
    pub region: Option<String>,

    /// S3-compatible endpoint such as http://127.0.0.1:9000 [default: AWS_ENDPOINT_URL_S3,
    /// then AWS_ENDPOINT_URL]. IP and localhost endpoints use path-style addressing
    /// automatically.
    #[arg(long)]
    pub endpoint_url: Option<String>,

    /// Use path-style addressing (https://host/bucket/key) instead of virtual-hosted style.
    #[arg(long)]
    pub force_path_style: bool,

    /// PEM file with extra CA certificates to trust, added to the system roots.
    #[arg(long, value_name = "PATH")]
    pub ca_bundle: Option<PathBuf>,

    /// Accept any TLS certificate from the endpoint. Only for testing: it allows
    /// anyone on the network path to read and change the upload.
    #[arg(long, conflicts_with = "ca_bundle")]
    pub insecure_skip_tls_verify: bool,

    /// Credentials JSON from creds-resolve (a file or <(creds-resolve ...)), read once at start.
    #[arg(long, value_name = "PATH", conflicts_with = "credential_process")]
    pub credentials: Option<PathBuf>,

    /// Shell command printing credentials JSON (for example 'creds-resolve'); run again before
    /// the Expiration it prints, so long uploads survive credential rotation.
    #[arg(long, value_name = "CMD")]
    pub credential_process: Option<String>,

    /// Part size in bytes (suffixes KiB, MiB, GiB accepted). Parts double in size after every
    /// 1000 parts so an unknown-length stream fits in 10,000 parts.
    #[arg(long, default_value = "8MiB", value_parser = parse_part_size)]
    pub part_size: u64,

    /// Parts uploaded in parallel. Memory use is about (concurrency + 1) × part size.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,

    /// Maximum parts per upload; stop with an error before exceeding it.
    #[arg(long, default_value_t = MAX_PARTS, hide = true, value_parser = clap::value_parser!(u32).range(1..=MAX_PARTS as i64))]
    pub max_parts: u32,

    /// Attempts per request (first try included) for transient errors.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,

    /// Checksum sent with every part and checked by the server.
    #[arg(long, value_enum, default_value = "crc64nvme")]
    pub checksum: ChecksumAlgorithm,

    /// Never overwrite: fail when an object already exists at the key (If-None-Match: *).
    #[arg(long)]
    pub if_none_match: bool,

    /// Storage class, for example STANDARD, STANDARD_IA or GLACIER_IR.
    #[arg(long)]
    pub storage_class: Option<String>,

    /// Server-side encryption.
    #[arg(long, value_parser = ["AES256", "aws:kms"])]
    pub sse: Option<String>,

    /// KMS key id or ARN for --sse aws:kms.
    #[arg(long, requires = "sse")]
    pub sse_kms_key_id: Option<String>,

    /// User metadata KEY=VALUE stored as x-amz-meta-KEY (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub metadata: Vec<String>,

    /// JSON object (such as etcd-dump's summary) stored as flattened x-amz-meta-etcd-* entries.
    #[arg(long, value_name = "PATH")]
    pub metadata_json: Option<PathBuf>,

    /// Object tag KEY=VALUE (repeatable).
    #[arg(long, value_name = "KEY=VALUE")]
    pub tag: Vec<String>,

    /// Content-Type of the object.
    #[arg(long, default_value = "application/octet-stream")]
    pub content_type: String,

    /// Object Lock retention mode; needs --object-lock-retain-until.
    #[arg(long, value_parser = ["GOVERNANCE", "COMPLIANCE"], requires = "object_lock_retain_until")]
    pub object_lock_mode: Option<String>,

    /// Object Lock retention end as an RFC 3339 time, for example 2027-01-01T00:00:00Z.
    #[arg(long, requires = "object_lock_mode")]
    pub object_lock_retain_until: Option<String>,

    /// Accept empty input and store an empty object.
    #[arg(long)]
    pub allow_empty: bool,

    /// Fail unless the input is exactly this many bytes.
    #[arg(long, value_name = "BYTES")]
    pub expected_size: Option<u64>,

    /// Check the input before completing the upload.
    #[arg(long, value_enum)]
    pub verify: Option<VerifyMode>,

    /// No progress and no informational logs on stderr.
    #[arg(long, short)]
    pub quiet: bool,

    /// Producer command whose stdout is uploaded; the upload completes only when it exits 0.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Input check selected with `--verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyMode {
    /// Raw etcd snapshot: the last 32 bytes are the SHA-256 of everything before.
    EtcdSnapshot,
}

const AFTER_HELP: &str = "\
Credentials: --credentials, --credential-process, or AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN). Use creds-resolve to get
credentials from profiles, web identity or instance metadata.

Exit codes: 0 stored; 1 upload failed and was cleaned up; 2 usage error;
3 input rejected (empty, wrong size, failed --verify, too many parts);
4 producer COMMAND failed; 5 cleanup could not be confirmed (an incomplete
upload may remain); 130 SIGINT; 143 SIGTERM.";

/// Parses a byte size such as `16MiB`, `5M` or `8388608`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let number: u64 = digits.parse().map_err(|_| {
        format!("invalid size {text:?}: expected a number with an optional KiB, MiB or GiB suffix")
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "invalid size unit in {text:?}: use KiB, MiB or GiB"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("size {text:?} is too large"))
}

fn parse_part_size(text: &str) -> Result<u64, String> {
    let size = parse_size(text)?;
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&size) {
        return Err(format!(
            "part size {size} is outside S3's limits of 5 MiB to 5 GiB"
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("8388608"), Ok(8 << 20));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("5M"), Ok(5 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("16 MB").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn part_size_limits() {
        assert!(parse_part_size("4MiB").is_err());
        assert!(parse_part_size("5MiB").is_ok());
        assert!(parse_part_size("6GiB").is_err());
    }

    #[test]
    fn command_after_double_dash() {
        let args = Args::try_parse_from([
            "s3-put",
            "--bucket",
            "b",
            "--key",
            "k",
            "--",
            "etcd-dump",
            "--endpoints",
            "x",
        ])
        .unwrap();
        assert_eq!(args.command, ["etcd-dump", "--endpoints", "x"]);
        assert_eq!(args.checksum, ChecksumAlgorithm::Crc64nvme);
    }

    #[test]
    fn credentials_flags_conflict() {
        let result = Args::try_parse_from([
            "s3-put",
            "--bucket",
            "b",
            "--key",
            "k",
            "--credentials",
            "/x",
            "--credential-process",
            "y",
        ]);
        assert!(result.is_err());
    }
}
