//! Streaming check of the SHA-256 trailer that ends an etcd snapshot.
//!
//! etcd's Maintenance.Snapshot RPC sends the bolt database in pieces and then
//! one more message whose blob is the SHA-256 of all database bytes. Nothing
//! marks the last 32 bytes as the digest except the end of the stream, so
//! the verifier always keeps the newest 32 bytes back and only releases bytes
//! that are known to belong to the database.

use sha2::{Digest, Sha256};

/// Length of the SHA-256 digest that etcd appends to the database.
pub const TRAILER_LEN: usize = 32;

/// etcdutl and etcdctl decide whether a snapshot file carries the digest
/// from its length alone: `size % 512 == 32`. A database whose length is not
/// a multiple of 512 would therefore be restored without the hash check.
const RESTORE_ALIGNMENT: u64 = 512;

/// Reason a finished stream is not a valid snapshot.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrailerError {
    #[error("stream ended after {received} bytes, too short to hold the 32-byte SHA-256 trailer")]
    Short { received: u64 },

    #[error("stream held only the 32-byte trailer and no database bytes")]
    EmptyDatabase,

    #[error(
        "SHA-256 trailer mismatch: the stream ends with {trailer} but the {db_size} database bytes hash to {computed}"
    )]
    Mismatch {
        db_size: u64,
        trailer: String,
        computed: String,
    },

    #[error(
        "etcd announced a {announced}-byte database in its first message but sent {db_size} bytes"
    )]
    LengthMismatch { announced: u64, db_size: u64 },

    #[error(
        "database size {db_size} is not a multiple of 512, so restore tools would not recognise the trailer"
    )]
    Misaligned { db_size: u64 },
}

/// Bytes released by one [`TrailerVerifier::push`], in output order: first
/// the part of the previously held-back tail, then the part of the new chunk.
#[derive(Debug)]
pub struct Released<'a> {
    head: [u8; TRAILER_LEN],
    head_len: usize,
    body: &'a [u8],
}

impl<'a> Released<'a> {
    /// Bytes that had been held back from earlier chunks.
    pub fn head(&self) -> &[u8] {
        &self.head[..self.head_len]
    }

    /// Bytes taken from the chunk just pushed.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// Number of bytes released.
    pub fn len(&self) -> usize {
        self.head_len + self.body.len()
    }

    /// True when the push released nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Result of a stream whose trailer matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Number of database bytes, trailer excluded.
    pub db_size: u64,
    /// SHA-256 of the database bytes; equal to the trailer.
    pub db_sha256: [u8; 32],
    /// SHA-256 of the whole stream (database then trailer), which is what
    /// `sha256sum` prints for the saved snapshot file.
    pub stream_sha256: [u8; 32],
    /// The trailer itself, still to be written after the database bytes.
    pub trailer: [u8; TRAILER_LEN],
}

impl Verified {
    /// Number of bytes in the whole stream.
    pub fn stream_size(&self) -> u64 {
        self.db_size + TRAILER_LEN as u64
    }
}

/// Hashes database bytes as they pass and keeps the newest 32 back.
#[derive(Debug, Clone, Default)]
pub struct TrailerVerifier {
    hasher: Sha256,
    tail: [u8; TRAILER_LEN],
    tail_len: usize,
    released: u64,
}

impl TrailerVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Total bytes pushed so far, held-back tail included.
    pub fn received(&self) -> u64 {
        self.released + self.tail_len as u64
    }

    /// Takes the next chunk of the stream and returns the bytes that are now
    /// known to be database bytes. They are hashed already.
    pub fn push<'a>(&mut self, chunk: &'a [u8]) -> Released<'a> {
        let mut released = Released {
            head: [0; TRAILER_LEN],
            head_len: 0,
            body: &[],
        };

        let total = self.tail_len + chunk.len();
        if total <= TRAILER_LEN {
            self.tail[self.tail_len..total].copy_from_slice(chunk);
            self.tail_len = total;
            return released;
        }

        // Everything except the newest 32 bytes is database. Those bytes come
        // from the front of the held-back tail first, then from the chunk.
        let release = total - TRAILER_LEN;
        let from_tail = release.min(self.tail_len);
        let from_chunk = release - from_tail;

        released.head[..from_tail].copy_from_slice(&self.tail[..from_tail]);
        released.head_len = from_tail;
        released.body = &chunk[..from_chunk];
        self.hasher.update(released.head());
        self.hasher.update(released.body);

        let kept = self.tail_len - from_tail;
        self.tail.copy_within(from_tail..self.tail_len, 0);
        let rest = &chunk[from_chunk..];
        self.tail[kept..kept + rest.len()].copy_from_slice(rest);
        self.tail_len = kept + rest.len();
        self.released += release as u64;

        released
    }

    /// Checks the held-back tail against the hash of everything before it.
    /// Call once the stream has ended.
    pub fn finish(&self) -> Result<Verified, TrailerError> {
        if self.tail_len < TRAILER_LEN {
            return Err(TrailerError::Short {
                received: self.received(),
            });
        }
        if self.released == 0 {
            return Err(TrailerError::EmptyDatabase);
        }

        let db_sha256: [u8; 32] = self.hasher.clone().finalize().into();
        if db_sha256 != self.tail {
            return Err(TrailerError::Mismatch {
                db_size: self.released,
                trailer: hex::encode(self.tail),
                computed: hex::encode(db_sha256),
            });
        }
        if !self.released.is_multiple_of(RESTORE_ALIGNMENT) {
            return Err(TrailerError::Misaligned {
                db_size: self.released,
            });
        }

        let mut whole = self.hasher.clone();
        whole.update(self.tail);
        Ok(Verified {
            db_size: self.released,
            db_sha256,
            stream_sha256: whole.finalize().into(),
            trailer: self.tail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a fake database of `len` bytes whose pattern shifts per byte.
    fn database(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn stream_of(db: &[u8]) -> Vec<u8> {
        let mut stream = db.to_vec();
        stream.extend_from_slice(&Sha256::digest(db));
        stream
    }

    /// Pushes `stream` in pieces of the given sizes (cycled) and returns the
    /// released bytes and the verifier.
    fn feed(stream: &[u8], piece_sizes: &[usize]) -> (Vec<u8>, TrailerVerifier) {
        let mut verifier = TrailerVerifier::new();
        let mut out = Vec::new();
        let mut offset = 0;
        let mut sizes = piece_sizes.iter().cycle();
        while offset < stream.len() {
            let size = (*sizes.next().unwrap()).min(stream.len() - offset);
            let released = verifier.push(&stream[offset..offset + size]);
            out.extend_from_slice(released.head());
            out.extend_from_slice(released.body());
            offset += size;
        }
        (out, verifier)
    }

    #[test]
    fn verifies_across_piece_sizes() {
        let db = database(8 * 4096);
        let stream = stream_of(&db);
        let patterns: &[&[usize]] = &[
            &[32 * 1024],
            &[1],
            &[31],
            &[32],
            &[33],
            &[5, 27, 64, 1],
            &[4096],
            &[stream.len()],
            &[0, 100],
        ];
        for pattern in patterns {
            let (out, verifier) = feed(&stream, pattern);
            assert_eq!(out, db, "released bytes for pieces {pattern:?}");
            let verified = verifier.finish().unwrap();
            assert_eq!(verified.db_size, db.len() as u64);
            assert_eq!(verified.db_sha256, <[u8; 32]>::from(Sha256::digest(&db)));
            assert_eq!(verified.trailer, verified.db_sha256);
            assert_eq!(
                verified.stream_sha256,
                <[u8; 32]>::from(Sha256::digest(&stream))
            );
            assert_eq!(verified.stream_size(), stream.len() as u64);
        }
    }

    #[test]
    fn digest_alone_after_exact_multiple() {
        // etcd sends a database of exactly N * 32 KiB as N full messages (the
        // last reporting remaining_bytes == 0) and then the digest message.
        let chunk = 32 * 1024;
        let db = database(4 * chunk);
        let mut verifier = TrailerVerifier::new();
        let mut out = Vec::new();
        for piece in db.chunks(chunk) {
            let released = verifier.push(piece);
            out.extend_from_slice(released.head());
            out.extend_from_slice(released.body());
        }
        assert_eq!(
            verifier.finish(),
            Err(TrailerError::Mismatch {
                db_size: (db.len() - TRAILER_LEN) as u64,
                trailer: hex::encode(&db[db.len() - TRAILER_LEN..]),
                computed: hex::encode(Sha256::digest(&db[..db.len() - TRAILER_LEN])),
            })
        );

        let digest = Sha256::digest(&db);
        let released = verifier.push(&digest);
        out.extend_from_slice(released.head());
        out.extend_from_slice(released.body());
        assert_eq!(out, db);
        assert_eq!(verifier.finish().unwrap().db_size, db.len() as u64);
    }

    #[test]
    fn stream_without_digest_fails() {
        let db = database(4096);
        let (_, verifier) = feed(&db, &[1000]);
        assert!(matches!(
            verifier.finish(),
            Err(TrailerError::Mismatch { db_size: 4064, .. })
        ));
    }

    #[test]
    fn short_stream_fails() {
        for len in [0, 1, 31] {
            let (out, verifier) = feed(&database(len), &[7]);
            assert!(out.is_empty(), "{len} bytes must all be held back");
            assert_eq!(
                verifier.finish(),
                Err(TrailerError::Short {
                    received: len as u64
                })
            );
        }
    }

    #[test]
    fn digest_only_stream_fails() {
        let stream = stream_of(&[]);
        let (_, verifier) = feed(&stream, &[32]);
        assert_eq!(verifier.finish(), Err(TrailerError::EmptyDatabase));
    }

    #[test]
    fn flipped_byte_fails() {
        let db = database(2 * 4096);
        for position in [0, 4095, db.len() - 1, db.len(), db.len() + 31] {
            let mut stream = stream_of(&db);
            stream[position] ^= 0x01;
            let (_, verifier) = feed(&stream, &[1024]);
            assert!(
                matches!(verifier.finish(), Err(TrailerError::Mismatch { .. })),
                "flip at {position}"
            );
        }
    }

    #[test]
    fn truncated_stream_fails() {
        let stream = stream_of(&database(4096));
        let (_, verifier) = feed(&stream[..stream.len() - 1], &[512]);
        assert!(matches!(
            verifier.finish(),
            Err(TrailerError::Mismatch { .. })
        ));
    }

    #[test]
    fn misaligned_database_fails() {
        let db = database(1000);
        let (_, verifier) = feed(&stream_of(&db), &[300]);
        assert_eq!(
            verifier.finish(),
            Err(TrailerError::Misaligned { db_size: 1000 })
        );
    }

    #[test]
    fn received_counts_held_back_bytes() {
        let mut verifier = TrailerVerifier::new();
        assert!(verifier.push(&[1; 20]).is_empty());
        assert_eq!(verifier.received(), 20);
        let released = verifier.push(&[2; 20]);
        assert_eq!(released.len(), 8);
        assert_eq!(released.head(), &[1; 8]);
        assert!(released.body().is_empty());
        assert_eq!(verifier.received(), 40);
    }
}
