//! The JSON record written by --summary.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::DumpError;
use crate::member::MemberStatus;
use crate::trailer::Verified;

/// Facts about one verified snapshot.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// Client URL the snapshot was read from.
    pub endpoint: String,
    /// Member and cluster ids in hex, as etcdctl prints them.
    pub member_id: String,
    pub cluster_id: String,
    /// etcd server version reported by the member.
    pub etcd_version: String,
    /// Store revision of the member just before the snapshot started. The
    /// snapshot contains this revision or a later one.
    pub revision: i64,
    /// Bytes of the whole output: database plus the 32-byte trailer.
    pub size: u64,
    /// SHA-256 (hex) of the whole output, as `sha256sum` prints it for the
    /// saved file.
    pub sha256: String,
    /// Bytes of the bolt database alone (`size - 32`).
    pub db_size: u64,
    /// SHA-256 (hex) of the database bytes, equal to the trailer that
    /// `etcdutl snapshot restore` checks.
    pub db_sha256: String,
    /// When the snapshot request was sent and when the trailer verified
    /// (RFC 3339, UTC).
    pub started_at: String,
    pub finished_at: String,
}

impl Summary {
    pub fn new(
        member: &MemberStatus,
        verified: &Verified,
        started_at: time::OffsetDateTime,
        finished_at: time::OffsetDateTime,
    ) -> Self {
        Summary {
            endpoint: member.endpoint.clone(),
            member_id: format!("{:x}", member.member_id),
            cluster_id: format!("{:x}", member.cluster_id),
            etcd_version: member.version.clone(),
            revision: member.revision,
            size: verified.stream_size(),
            sha256: hex::encode(verified.stream_sha256),
            db_size: verified.db_size,
            db_sha256: hex::encode(verified.db_sha256),
            started_at: rfc3339(started_at),
            finished_at: rfc3339(finished_at),
        }
    }
}

/// Formats `at` as RFC 3339 in UTC with exactly three fractional digits, so
/// that the strings sort like the instants they name.
fn rfc3339(at: time::OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let at = at.to_offset(time::UtcOffset::UTC);
    at.format(&format)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Removes a summary left by an earlier run, so a failed run never leaves a
/// record that describes another snapshot.
pub fn remove_stale(path: &Path) -> Result<(), DumpError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(DumpError::io(
            format!("cannot remove old summary {}", path.display()),
            source,
        )),
    }
}

/// Writes the summary atomically: to a temporary file beside `path`, then
/// renamed, so a reader never sees half a record.
pub fn write(path: &Path, summary: &Summary) -> Result<(), DumpError> {
    let context = || format!("cannot write summary {}", path.display());
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| DumpError::io(context(), e))?;
    let mut json = serde_json::to_vec_pretty(summary)
        .map_err(|e| DumpError::io(context(), std::io::Error::other(e)))?;
    json.push(b'\n');
    file.write_all(&json)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| DumpError::io(context(), e))?;
    file.persist(path)
        .map_err(|e| DumpError::io(context(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn summary_fields() {
        let member = MemberStatus {
            endpoint: "http://127.0.0.1:2379".to_owned(),
            member_id: 0x8e9e05c52164694d,
            cluster_id: 0xcdf818194e3a8c32,
            version: "3.5.1".to_owned(),
            revision: 42,
            raft_term: 2,
            leader: 1,
            is_learner: false,
            errors: vec![],
        };
        let db = vec![5u8; 4096];
        let db_sha256: [u8; 32] = Sha256::digest(&db).into();
        let mut whole = db.clone();
        whole.extend_from_slice(&db_sha256);
        let verified = Verified {
            db_size: 4096,
            db_sha256,
            stream_sha256: Sha256::digest(&whole).into(),
            trailer: db_sha256,
        };
        let started = time::macros::datetime!(2026-01-02 03:04:05.123456 UTC);
        let finished = time::macros::datetime!(2026-01-02 05:04:05.9 +02:00);
        let summary = Summary::new(&member, &verified, started, finished);

        assert_eq!(summary.member_id, "8e9e05c52164694d");
        assert_eq!(summary.cluster_id, "cdf818194e3a8c32");
        assert_eq!(summary.size, 4128);
        assert_eq!(summary.db_size, 4096);
        assert_eq!(summary.sha256, hex::encode(Sha256::digest(&whole)));
        assert_eq!(summary.db_sha256, hex::encode(db_sha256));
        assert_eq!(summary.started_at, "2026-01-02T03:04:05.123Z");
        assert_eq!(summary.finished_at, "2026-01-02T03:04:05.900Z");
    }

    #[test]
    fn write_replaces_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, "old").unwrap();
        remove_stale(&path).unwrap();
        assert!(!path.exists());
        remove_stale(&path).unwrap();
    }
}
