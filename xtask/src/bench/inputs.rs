//! Bench inputs: files of random bytes and etcd databases filled with random values.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};

/// Size of each etcd value. Large values fill the database quickly; 1 MiB stays below etcd's
/// default request limit (`--max-request-bytes`, 1.5 MiB).
pub const ETCD_VALUE_BYTES: usize = 1024 * 1024;

/// Parallel puts while loading; etcd batches concurrent writes into fewer WAL syncs.
const LOAD_CONCURRENCY: u64 = 4;

/// Writes `bytes` random bytes to `path`, keeping an existing file of exactly that size.
///
/// Random bytes defeat any compression on the way, so every tool moves the full size.
pub fn random_file(path: &Path, bytes: u64) -> Result<()> {
    if fs::metadata(path)
        .map(|m| m.len() == bytes)
        .unwrap_or(false)
    {
        return Ok(());
    }
    eprintln!("bench: writing {bytes} random bytes to {}", path.display());

    let partial = path.with_extension("partial");
    let mut source = File::open("/dev/urandom").context("failed to open /dev/urandom")?;
    let mut target = File::create(&partial)
        .with_context(|| format!("failed to create {}", partial.display()))?;
    let mut buffer = vec![0u8; 4 * 1024 * 1024];
    let mut remaining = bytes;
    while remaining > 0 {
        let chunk = usize::try_from(remaining.min(buffer.len() as u64)).unwrap_or(buffer.len());
        source
            .read_exact(&mut buffer[..chunk])
            .context("failed to read /dev/urandom")?;
        target
            .write_all(&buffer[..chunk])
            .with_context(|| format!("failed to write {}", partial.display()))?;
        remaining -= chunk as u64;
    }
    target
        .sync_all()
        .with_context(|| format!("failed to sync {}", partial.display()))?;
    fs::rename(&partial, path).with_context(|| format!("failed to rename to {}", path.display()))
}

/// Puts `count` keys `bench/value/NNNNNN`, starting at index `first`, each holding
/// `ETCD_VALUE_BYTES` random bytes, through the etcd gRPC API.
pub fn load_etcd(endpoint: &str, first: u64, count: u64) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;

    runtime.block_on(async {
        let client = etcd_client::Client::connect([endpoint], None)
            .await
            .with_context(|| format!("failed to connect to etcd at {endpoint}"))?;
        let next = Arc::new(AtomicU64::new(first));
        let end = first + count;

        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..LOAD_CONCURRENCY {
            let mut kv = client.kv_client();
            let next = Arc::clone(&next);
            workers.spawn(async move {
                let mut urandom = File::open("/dev/urandom")?;
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= end {
                        return Ok::<(), anyhow::Error>(());
                    }
                    let mut value = vec![0u8; ETCD_VALUE_BYTES];
                    urandom.read_exact(&mut value)?;
                    kv.put(format!("bench/value/{index:06}"), value, None)
                        .await
                        .with_context(|| format!("failed to put key {index} into etcd"))?;
                }
            });
        }
        while let Some(joined) = workers.join_next().await {
            joined.context("an etcd load task panicked")??;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_file_has_size_and_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("random.bin");

        random_file(&path, 5_000_000).unwrap();
        let first = fs::read(&path).unwrap();
        random_file(&path, 5_000_000).unwrap();

        assert_eq!(first.len(), 5_000_000);
        assert_eq!(
            fs::read(&path).unwrap(),
            first,
            "an existing file of the right size is kept"
        );
        assert!(first.iter().any(|&b| b != 0));
    }
}
