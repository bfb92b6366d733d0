//! The backup pipeline exactly as the README's Quick start shows it.
//!
//! `cargo xtask demo` and the end-to-end suite run this text with bash, and a unit test checks
//! that README.md contains it, so the documented command is the tested one. The end-to-end
//! suite includes this file with `#[path]`, so it depends on nothing.

/// Bash pipeline that streams a snapshot from `$ETCD_ENDPOINT` into `s3://$BUCKET/$KEY` at
/// `$S3_ENDPOINT_URL`, with credentials from the `backup` profile. The caller adds
/// `set -o pipefail`.
pub const PIPELINE: &str = r#"etcd-dump --endpoints "$ETCD_ENDPOINT" |
  s3-put --credentials <(creds-resolve --profile backup) \
    --bucket "$BUCKET" --key "$KEY" --endpoint-url "$S3_ENDPOINT_URL" \
    --verify etcd-snapshot"#;
