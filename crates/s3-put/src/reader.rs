//! Reads the input into part-sized buffers from a fixed pool.
//!
//! Each buffer is filled completely (or up to end of input) before it becomes a
//! part, and the reader peeks one byte further to tell whether the part is the
//! last one. A buffer goes back to the pool when the last reference to its part
//! is dropped, wherever that happens (upload task, hashing thread, SDK retry
//! state). The reader waits for a returned buffer once all are in use, so at
//! most `buffers` parts exist at any time, and nothing is allocated or freed
//! until the part size grows. Allocating and freeing a buffer per part, on
//! several threads, made measured peak RSS exceed that bound and grow with the
//! input size.

use std::io::{BufRead, BufReader, Read};

use bytes::Bytes;
use tokio::sync::mpsc;

/// Capacity of the peek buffer; reads into part buffers bypass it.
const PEEK_BUFFER: usize = 64 * 1024;

/// New buffers are zeroed in steps of this size as input arrives, so a short
/// input never touches the pages of a whole part.
const ZERO_STEP: usize = 1024 * 1024;

type Source = BufReader<Box<dyn Read + Send>>;

/// One part's worth of input.
#[derive(Debug)]
pub struct Chunk {
    pub data: Bytes,
    /// Whether the input ended with this chunk.
    pub last: bool,
}

/// Reader of part-sized chunks backed by a bounded pool of buffers.
pub struct PartReader {
    source: Option<Source>,
    pool: BufferPool,
}

impl std::fmt::Debug for PartReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartReader")
            .field("buffers", &self.pool.limit)
            .finish_non_exhaustive()
    }
}

impl PartReader {
    /// Wraps `input`, which is stdin or the producer's stdout. At most `buffers`
    /// parts are held in memory at once.
    pub fn new(input: Box<dyn Read + Send>, buffers: usize) -> Self {
        Self {
            source: Some(BufReader::with_capacity(PEEK_BUFFER, input)),
            pool: BufferPool::new(buffers.max(1)),
        }
    }

    /// Reads up to `size` bytes, fewer only at the end of input. Waits while
    /// every pool buffer is still in use.
    pub async fn next_chunk(&mut self, size: usize) -> std::io::Result<Chunk> {
        let buffer = self.pool.take(size).await;
        let source = self.source.take().ok_or_else(|| {
            std::io::Error::other("input reader was lost after an earlier failure")
        })?;

        let (source, result) = tokio::task::spawn_blocking(move || {
            let mut source = source;
            let result = fill(&mut source, buffer, size);
            (source, result)
        })
        .await
        .map_err(std::io::Error::other)?;
        self.source = Some(source);

        let (buffer, len, last) = result?;
        let data = Bytes::from_owner(Pooled {
            buffer,
            len,
            home: self.pool.home.clone(),
        });
        Ok(Chunk { data, last })
    }
}

/// Buffers handed out and returned through a channel.
struct BufferPool {
    home: mpsc::UnboundedSender<Vec<u8>>,
    returned: mpsc::UnboundedReceiver<Vec<u8>>,
    allocated: usize,
    limit: usize,
}

impl BufferPool {
    fn new(limit: usize) -> Self {
        let (home, returned) = mpsc::unbounded_channel();
        Self {
            home,
            returned,
            allocated: 0,
            limit,
        }
    }

    async fn take(&mut self, size: usize) -> Vec<u8> {
        loop {
            let buffer = match self.returned.try_recv() {
                Ok(buffer) => buffer,
                Err(_) if self.allocated < self.limit => {
                    self.allocated += 1;
                    return Vec::with_capacity(size);
                }
                // The pool keeps a sender of its own, so the channel never closes.
                Err(_) => match self.returned.recv().await {
                    Some(buffer) => buffer,
                    None => unreachable!("the pool holds a sender"),
                },
            };
            if buffer.capacity() >= size {
                return buffer;
            }
            // Parts have grown past this buffer, so free it and let the next
            // turn allocate one of the new size in its place.
            self.allocated -= 1;
        }
    }
}

/// A filled buffer that returns to its pool when the last `Bytes` is dropped.
struct Pooled {
    buffer: Vec<u8>,
    len: usize,
    home: mpsc::UnboundedSender<Vec<u8>>,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Fails only once the reader is gone, and then the buffer is freed here.
        let _ = self.home.send(std::mem::take(&mut self.buffer));
    }
}

fn fill(
    source: &mut Source,
    mut buffer: Vec<u8>,
    size: usize,
) -> std::io::Result<(Vec<u8>, usize, bool)> {
    // A reused buffer keeps its old length because those bytes get
    // overwritten, so only the space beyond them has to be zeroed.
    let mut filled = 0;
    while filled < size {
        if buffer.len() <= filled {
            buffer.resize(filled + (size - filled).min(ZERO_STEP), 0);
        }
        let end = buffer.len().min(size);
        match source.read(&mut buffer[filled..end]) {
            Ok(0) => return Ok((buffer, filled, true)),
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
    Ok((buffer, filled, last))
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Waker};

    use super::*;

    fn reader(data: Vec<u8>, buffers: usize) -> PartReader {
        PartReader::new(Box::new(std::io::Cursor::new(data)), buffers)
    }

    #[tokio::test]
    async fn exact_multiple_marks_last_part() {
        let mut parts = reader(vec![7u8; 20], 2);
        let first = parts.next_chunk(10).await.unwrap();
        assert_eq!(first.data.len(), 10);
        assert!(!first.last);
        let second = parts.next_chunk(10).await.unwrap();
        assert_eq!(second.data.len(), 10);
        assert!(second.last);
    }

    #[tokio::test]
    async fn short_tail_is_last() {
        let mut parts = reader((0..25u8).collect(), 3);
        assert!(!parts.next_chunk(10).await.unwrap().last);
        assert!(!parts.next_chunk(10).await.unwrap().last);
        let tail = parts.next_chunk(10).await.unwrap();
        assert_eq!(&tail.data[..], &[20, 21, 22, 23, 24]);
        assert!(tail.last);
    }

    #[tokio::test]
    async fn empty_input_is_last_and_empty() {
        let chunk = reader(Vec::new(), 1).next_chunk(10).await.unwrap();
        assert!(chunk.data.is_empty());
        assert!(chunk.last);
    }

    #[tokio::test]
    async fn dropped_part_buffer_is_reused() {
        let mut parts = reader((0..30u8).collect(), 1);
        let first = parts.next_chunk(10).await.unwrap();
        let address = first.data.as_ptr();
        let shared = first.data.clone();
        drop(first);
        drop(shared);

        let second = parts.next_chunk(10).await.unwrap();
        assert_eq!(second.data.as_ptr(), address);
        assert_eq!(&second.data[..], &(10..20u8).collect::<Vec<_>>()[..]);
    }

    #[tokio::test]
    async fn waits_for_a_free_buffer() {
        let mut parts = reader((0..30u8).collect(), 2);
        let first = parts.next_chunk(10).await.unwrap();
        let second = parts.next_chunk(10).await.unwrap();
        let clone_of_first = first.data.clone();

        {
            let third = parts.next_chunk(10);
            let mut third = std::pin::pin!(third);
            let mut context = Context::from_waker(Waker::noop());
            assert!(third.as_mut().poll(&mut context).is_pending());

            // One reference left keeps the buffer out of the pool.
            drop(first);
            assert!(third.as_mut().poll(&mut context).is_pending());

            drop(clone_of_first);
            let third = third.await.unwrap();
            assert_eq!(&third.data[..], &(20..30u8).collect::<Vec<_>>()[..]);
        }
        drop(second);
    }

    #[tokio::test]
    async fn larger_part_replaces_small_buffer() {
        let mut parts = reader((0..30u8).collect(), 1);
        drop(parts.next_chunk(5).await.unwrap());
        let bigger = parts.next_chunk(20).await.unwrap();
        assert_eq!(&bigger.data[..], &(5..25u8).collect::<Vec<_>>()[..]);
    }
}
