//! SHA-256 of the whole stream and the etcd snapshot trailer check, in one pass.
//!
//! A raw etcd snapshot (`etcdctl snapshot save`, the Maintenance.Snapshot RPC)
//! ends with 32 bytes that are the SHA-256 of everything before them. The hasher
//! here lags 32 bytes behind the input, so at the end it can produce both the
//! digest of the prefix (to compare with the trailer) and the digest of the
//! whole stream without hashing any byte twice.

use sha2::{Digest, Sha256};

/// Length of the SHA-256 trailer of an etcd snapshot.
pub const TRAILER_LEN: usize = 32;

/// A bbolt database is a whole number of pages, and pages are multiples of 512 bytes.
const SNAPSHOT_ALIGNMENT: u64 = 512;

/// Incremental SHA-256 that keeps the last 32 bytes of the input aside.
#[derive(Clone, Debug, Default)]
pub struct StreamDigest {
    prefix: Sha256,
    tail: Vec<u8>,
    len: u64,
}

/// Result of [`StreamDigest::finish`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    /// Number of bytes in the stream.
    pub len: u64,
    /// SHA-256 of the whole stream.
    pub sha256: [u8; 32],
    /// SHA-256 of all but the last 32 bytes, when the stream has at least 32 bytes.
    pub prefix_sha256: Option<[u8; 32]>,
    /// The last 32 bytes, when the stream has at least 32 bytes.
    pub trailer: Option<[u8; 32]>,
}

/// Reason why a stream is not a complete raw etcd snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("the input is {len} bytes, too short for an etcd snapshot")]
    TooShort { len: u64 },

    #[error(
        "the input is {len} bytes, but a raw etcd snapshot is a multiple of 512 bytes plus \
         a 32-byte SHA-256 trailer; it is truncated, compressed or not a raw snapshot"
    )]
    BadLength { len: u64 },

    #[error(
        "the SHA-256 trailer of the etcd snapshot does not match its content \
         (trailer {trailer}, computed {computed}); the snapshot is corrupt or truncated"
    )]
    TrailerMismatch { trailer: String, computed: String },
}

impl StreamDigest {
    /// Creates an empty digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `data` to the stream.
    pub fn update(&mut self, data: &[u8]) {
        self.len += data.len() as u64;

        if data.len() >= TRAILER_LEN {
            self.prefix.update(&self.tail);
            let (head, tail) = data.split_at(data.len() - TRAILER_LEN);
            self.prefix.update(head);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
            return;
        }

        self.tail.extend_from_slice(data);
        if self.tail.len() > TRAILER_LEN {
            let excess = self.tail.len() - TRAILER_LEN;
            self.prefix.update(&self.tail[..excess]);
            self.tail.drain(..excess);
        }
    }

    /// Finishes the stream.
    pub fn finish(self) -> StreamSummary {
        let tail: Option<[u8; 32]> = self.tail.as_slice().try_into().ok();
        let prefix_sha256 = tail.map(|_| self.prefix.clone().finalize().into());

        let mut whole = self.prefix;
        whole.update(&self.tail);

        StreamSummary {
            len: self.len,
            sha256: whole.finalize().into(),
            prefix_sha256,
            trailer: tail,
        }
    }
}

impl StreamSummary {
    /// Checks that the stream is a complete raw etcd snapshot: its length is a
    /// multiple of 512 plus 32 and its last 32 bytes are the SHA-256 of the rest.
    pub fn verify_etcd_snapshot(&self) -> Result<(), SnapshotError> {
        let (Some(prefix), Some(trailer)) = (self.prefix_sha256, self.trailer) else {
            return Err(SnapshotError::TooShort { len: self.len });
        };
        if self.len <= TRAILER_LEN as u64 {
            return Err(SnapshotError::TooShort { len: self.len });
        }
        if self.len % SNAPSHOT_ALIGNMENT != TRAILER_LEN as u64 {
            return Err(SnapshotError::BadLength { len: self.len });
        }
        if prefix != trailer {
            return Err(SnapshotError::TrailerMismatch {
                trailer: hex::encode(trailer),
                computed: hex::encode(prefix),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(body_len: usize) -> Vec<u8> {
        let body: Vec<u8> = (0..body_len).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = body.clone();
        out.extend_from_slice(&Sha256::digest(&body));
        out
    }

    fn digest_in_chunks(data: &[u8], chunk: usize) -> StreamSummary {
        let mut digest = StreamDigest::new();
        for piece in data.chunks(chunk.max(1)) {
            digest.update(piece);
        }
        digest.finish()
    }

    #[test]
    fn whole_sha256_matches_for_any_chunking() {
        let data = snapshot(4096);
        let expected: [u8; 32] = Sha256::digest(&data).into();
        for chunk in [1, 5, 31, 32, 33, 100, 4096, 10_000] {
            let summary = digest_in_chunks(&data, chunk);
            assert_eq!(summary.sha256, expected, "chunk size {chunk}");
            assert_eq!(summary.len, data.len() as u64);
        }
    }

    #[test]
    fn valid_snapshot_verifies_for_any_chunking() {
        let data = snapshot(8192);
        for chunk in [1, 7, 32, 512, 8224] {
            assert_eq!(
                digest_in_chunks(&data, chunk).verify_etcd_snapshot(),
                Ok(())
            );
        }
    }

    #[test]
    fn flipped_byte_fails_trailer_check() {
        let mut data = snapshot(4096);
        data[100] ^= 1;
        let result = digest_in_chunks(&data, 1000).verify_etcd_snapshot();
        assert!(matches!(result, Err(SnapshotError::TrailerMismatch { .. })));
    }

    #[test]
    fn truncated_snapshot_fails_length_check() {
        let data = snapshot(4096);
        let result = digest_in_chunks(&data[..data.len() - 1], 64).verify_etcd_snapshot();
        assert_eq!(result, Err(SnapshotError::BadLength { len: 4127 }));
    }

    #[test]
    fn snapshot_cut_at_page_boundary_fails() {
        // Cut after a whole number of pages plus 32 bytes: the length looks right,
        // but the last 32 bytes are data, not the digest of what precedes them.
        let data = snapshot(8192);
        let result = digest_in_chunks(&data[..4096 + 32], 512).verify_etcd_snapshot();
        assert!(matches!(result, Err(SnapshotError::TrailerMismatch { .. })));
    }

    #[test]
    fn short_input_fails() {
        for len in [0, 1, 31, 32] {
            let data = vec![0u8; len];
            let result = digest_in_chunks(&data, 8).verify_etcd_snapshot();
            assert_eq!(result, Err(SnapshotError::TooShort { len: len as u64 }));
        }
    }

    #[test]
    fn empty_stream_digest() {
        let summary = StreamDigest::new().finish();
        assert_eq!(
            hex::encode(summary.sha256),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(summary.trailer, None);
    }
}
