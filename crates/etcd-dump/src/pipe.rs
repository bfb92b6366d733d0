//! Bounded hand-off of snapshot bytes from the receive loop to a blocking
//! writer thread.
//!
//! The receive loop copies each message into a 256 KiB buffer and sends full
//! buffers through a channel of fixed depth. A slow reader of stdout fills
//! the channel, the loop then waits in `send`, stops reading the gRPC
//! stream, and HTTP/2 flow control pauses etcd. At most `QUEUE_DEPTH + 2`
//! buffers exist (queued, being written, being filled) whatever the snapshot
//! size. The runtime threads never block on a write, so the HTTP/2
//! connection still sends and acknowledges keepalive pings while the reader
//! is slow.

use std::fs::File;
use std::io::{self, Write};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const BUFFER_SIZE: usize = 256 << 10;
const QUEUE_DEPTH: usize = 4;

/// Writer side of the hand-off; owns the thread that performs the writes.
#[derive(Debug)]
pub struct Pipe {
    sender: Option<mpsc::Sender<Vec<u8>>>,
    recycled: std::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    writer: Option<JoinHandle<io::Result<File>>>,
    written: u64,
}

impl Pipe {
    /// Starts the writer thread for `file`.
    pub fn spawn(file: File) -> Self {
        let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(QUEUE_DEPTH);
        let (recycle, recycled) = std::sync::mpsc::channel();
        let writer = tokio::task::spawn_blocking(move || {
            let mut file = file;
            while let Some(mut buffer) = receiver.blocking_recv() {
                file.write_all(&buffer)?;
                buffer.clear();
                // The receive loop may have finished; then the buffer is freed.
                let _ = recycle.send(buffer);
            }
            file.flush()?;
            Ok(file)
        });
        Pipe {
            sender: Some(sender),
            recycled,
            current: Vec::with_capacity(BUFFER_SIZE),
            writer: Some(writer),
            written: 0,
        }
    }

    /// Bytes accepted so far (some may still be queued).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Queues `data`, waiting while the writer is behind. Returns the
    /// writer's error if it has stopped.
    pub async fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let room = BUFFER_SIZE - self.current.len();
            let take = room.min(data.len());
            self.current.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.written += take as u64;
            if self.current.len() == BUFFER_SIZE {
                self.ship().await?;
            }
        }
        Ok(())
    }

    /// Sends what is buffered, waits until everything is written and
    /// returns the file.
    pub async fn finish(mut self) -> io::Result<File> {
        if !self.current.is_empty() {
            self.ship().await?;
        }
        self.sender = None;
        self.join().await
    }

    async fn ship(&mut self) -> io::Result<()> {
        // The next buffer is taken only after the send has queued this one,
        // which keeps the buffer count at QUEUE_DEPTH + 2.
        let full = std::mem::take(&mut self.current);
        let sent = match &self.sender {
            Some(sender) => sender.send(full).await.is_ok(),
            None => false,
        };
        if sent {
            self.current = self
                .recycled
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BUFFER_SIZE));
            return Ok(());
        }
        // The writer only drops its receiver when a write failed.
        self.sender = None;
        self.join().await.map(|_| ())
    }

    async fn join(&mut self) -> io::Result<File> {
        let Some(writer) = self.writer.take() else {
            return Err(io::Error::other("output writer already stopped"));
        };
        match writer.await {
            Ok(result) => result,
            Err(join_error) => Err(io::Error::other(format!(
                "output writer thread failed: {join_error}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom};

    #[tokio::test]
    async fn writes_everything_in_order() {
        let file = tempfile::tempfile().unwrap();
        let mut pipe = Pipe::spawn(file);
        let data: Vec<u8> = (0..(3 * BUFFER_SIZE + 12345)).map(|i| i as u8).collect();
        for piece in data.chunks(32 * 1024 + 7) {
            pipe.write(piece).await.unwrap();
        }
        assert_eq!(pipe.written(), data.len() as u64);
        let mut file = pipe.finish().await.unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[tokio::test]
    async fn reports_broken_pipe() {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut pipe = Pipe::spawn(File::from(std::os::fd::OwnedFd::from(writer)));
        let data = vec![0u8; BUFFER_SIZE];
        let mut result = Ok(());
        for _ in 0..(QUEUE_DEPTH + 3) {
            result = pipe.write(&data).await;
            if result.is_err() {
                break;
            }
        }
        let error = match result {
            Err(e) => e,
            Ok(()) => pipe.finish().await.unwrap_err(),
        };
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }
}
