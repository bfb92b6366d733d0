//! Reads the input into part-sized buffers on a blocking thread.
//!
//! Each buffer is filled completely (or up to end of input) before it becomes a
//! part, and the reader peeks one byte further to tell whether the part is the
//! last one. Buffers are reused once every upload and hashing task has dropped
//! its reference, so steady-state uploads allocate nothing per part.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc;

use bytes::{Bytes, BytesMut};

/// Capacity of the peek buffer; reads into part buffers bypass it.
const PEEK_BUFFER: usize = 64 * 1024;

type Source = BufReader<Box<dyn Read + Send>>;

/// One part's worth of input.
#[derive(Debug)]
pub struct Chunk {
    pub data: Bytes,
    /// Whether the input ended with this chunk.
    pub last: bool,
}

/// Reader of part-sized chunks with a pool of reusable buffers.
pub struct PartReader {
    source: Option<Source>,
    returned: mpsc::Receiver<Bytes>,
    recycle: mpsc::Sender<Bytes>,
}

impl std::fmt::Debug for PartReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartReader").finish_non_exhaustive()
    }
}

impl PartReader {
    /// Wraps `input` (stdin or the producer's stdout).
    pub fn new(input: Box<dyn Read + Send>) -> Self {
        let (recycle, returned) = mpsc::channel();
        Self {
            source: Some(BufReader::with_capacity(PEEK_BUFFER, input)),
            returned,
            recycle,
        }
    }

    /// Returns a sender through which finished part buffers come back for reuse.
    pub fn recycler(&self) -> mpsc::Sender<Bytes> {
        self.recycle.clone()
    }

    /// Reads up to `size` bytes; fewer only at the end of input.
    pub async fn next_chunk(&mut self, size: usize) -> std::io::Result<Chunk> {
        let source = self.source.take().ok_or_else(|| {
            std::io::Error::other("input reader was lost after an earlier failure")
        })?;
        let buffer = self.reusable_buffer(size);

        let (source, result) = tokio::task::spawn_blocking(move || {
            let mut source = source;
            let result = fill(&mut source, buffer, size);
            (source, result)
        })
        .await
        .map_err(std::io::Error::other)?;

        self.source = Some(source);
        result
    }

    /// Takes one returned buffer and drops the others, so idle buffers never
    /// add to the memory held by parts in flight.
    fn reusable_buffer(&self, size: usize) -> BytesMut {
        let mut reusable = None;
        while let Ok(bytes) = self.returned.try_recv() {
            if reusable.is_none()
                && let Ok(buffer) = bytes.try_into_mut()
                && buffer.capacity() >= size
            {
                reusable = Some(buffer);
            }
        }
        reusable.unwrap_or_else(|| BytesMut::with_capacity(size))
    }
}

fn fill(source: &mut Source, mut buffer: BytesMut, size: usize) -> std::io::Result<Chunk> {
    // Keep the old length of a reused buffer: its bytes get overwritten, so
    // only newly grown space has to be zeroed.
    buffer.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match source.read(&mut buffer[filled..]) {
            Ok(0) => {
                buffer.truncate(filled);
                return Ok(Chunk {
                    data: buffer.freeze(),
                    last: true,
                });
            }
            Ok(n) => filled += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }

    let last = loop {
        match source.fill_buf() {
            Ok(peek) => break peek.is_empty(),
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    };
    Ok(Chunk {
        data: buffer.freeze(),
        last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(data: Vec<u8>) -> PartReader {
        PartReader::new(Box::new(std::io::Cursor::new(data)))
    }

    #[tokio::test]
    async fn exact_multiple_marks_last_part() {
        let mut parts = reader(vec![7u8; 20]);
        let first = parts.next_chunk(10).await.unwrap();
        assert_eq!(first.data.len(), 10);
        assert!(!first.last);
        let second = parts.next_chunk(10).await.unwrap();
        assert_eq!(second.data.len(), 10);
        assert!(second.last);
    }

    #[tokio::test]
    async fn short_tail_is_last() {
        let mut parts = reader((0..25u8).collect());
        assert!(!parts.next_chunk(10).await.unwrap().last);
        assert!(!parts.next_chunk(10).await.unwrap().last);
        let tail = parts.next_chunk(10).await.unwrap();
        assert_eq!(&tail.data[..], &[20, 21, 22, 23, 24]);
        assert!(tail.last);
    }

    #[tokio::test]
    async fn empty_input_is_last_and_empty() {
        let chunk = reader(Vec::new()).next_chunk(10).await.unwrap();
        assert!(chunk.data.is_empty());
        assert!(chunk.last);
    }

    #[tokio::test]
    async fn returned_buffers_are_reused_with_fresh_content() {
        let mut parts = reader((0..30u8).collect());
        let recycle = parts.recycler();
        let first = parts.next_chunk(10).await.unwrap();
        let address = first.data.as_ptr();
        recycle.send(first.data).unwrap();
        let second = parts.next_chunk(10).await.unwrap();
        assert_eq!(second.data.as_ptr(), address);
        assert_eq!(&second.data[..], &(10..20u8).collect::<Vec<_>>()[..]);
    }
}
