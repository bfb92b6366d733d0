#!/bin/bash
# Streams one etcd snapshot into one S3 object. etcd-backup.service runs this
# script and sets the variables below through its Environment= lines, and nothing
# is written to local disk.
#
# Credentials: creds-resolve follows the K3s order (flags, environment
# variables, the shared credentials file, then the instance role). Under
# systemd HOME is unset, so creds-resolve reads the home directory from the
# user database (/root for root) and uses <home>/.aws/credentials with the
# profile named by AWS_PROFILE, unless AWS_SHARED_CREDENTIALS_FILE names
# another file.
set -euo pipefail

: "${ETCD_ENDPOINT:?is not set: add Environment=ETCD_ENDPOINT=https://127.0.0.1:2379 to etcd-backup.service}"
: "${S3_BUCKET:?is not set: add Environment=S3_BUCKET=<bucket name> to etcd-backup.service}"

etcd_options=(--endpoints "$ETCD_ENDPOINT")
if [[ -n "${ETCD_CACERT:-}" ]]; then etcd_options+=(--cacert "$ETCD_CACERT"); fi
if [[ -n "${ETCD_CERT:-}" ]]; then etcd_options+=(--cert "$ETCD_CERT"); fi
if [[ -n "${ETCD_KEY:-}" ]]; then etcd_options+=(--key "$ETCD_KEY"); fi

s3_options=(--bucket "$S3_BUCKET")
if [[ -n "${S3_ENDPOINT_URL:-}" ]]; then s3_options+=(--endpoint-url "$S3_ENDPOINT_URL"); fi
if [[ -n "${S3_REGION:-}" ]]; then s3_options+=(--region "$S3_REGION"); fi
if [[ "${S3_FORCE_PATH_STYLE:-false}" == true ]]; then s3_options+=(--force-path-style); fi

# One object per run, named after the host and the UTC start time, so runs on
# several control-plane nodes never overwrite each other.
key="${S3_PREFIX:+${S3_PREFIX%/}/}${HOSTNAME}-$(date -u +%Y%m%dT%H%M%SZ).db"

# pipefail makes the script fail when etcd-dump fails. --verify etcd-snapshot
# makes s3-put check the SHA-256 trailer at the end of the stream before it
# completes the upload, so a snapshot cut short never becomes an object.
# A failing creds-resolve inside <( ) is not seen by pipefail: s3-put then
# reads no credentials and fails on its own.
etcd-dump "${etcd_options[@]}" |
	s3-put --credentials <(creds-resolve) "${s3_options[@]}" --key "$key" --verify etcd-snapshot
