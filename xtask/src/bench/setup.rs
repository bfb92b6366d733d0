//! Shared state of all comparisons: the runner, the binaries, the rounds and the scratch directory.

use std::path::PathBuf;

use super::peers::Peers;
use super::runner::Runner;
use super::tools::OurTools;

/// Input sizes and repetitions of one bench mode.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// 1 MiB values in the smaller etcd database.
    pub etcd_small_values: u64,
    /// 1 MiB values in the larger etcd database (the smaller one plus more keys).
    pub etcd_large_values: u64,
    /// 1 MiB values in the largest database, snapshotted by etcd-dump alone for its peak RSS
    /// against input size.
    pub etcd_largest_values: u64,
    /// The random stream every S3 client uploads.
    pub stream_bytes: u64,
    /// The two inputs of the s3-put peak RSS against input size check.
    pub memory_small_bytes: u64,
    pub memory_large_bytes: u64,
    /// Runs per tool in the credential resolution comparison.
    pub creds_runs: u32,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

impl Sizes {
    pub fn full() -> Sizes {
        Sizes {
            etcd_small_values: 300,
            etcd_large_values: 1024,
            etcd_largest_values: 2048,
            stream_bytes: GIB,
            memory_small_bytes: 256 * MIB,
            memory_large_bytes: 2 * GIB,
            creds_runs: 50,
        }
    }

    /// Small enough for a smoke check of a few minutes; the numbers mean little.
    pub fn quick() -> Sizes {
        Sizes {
            etcd_small_values: 16,
            etcd_large_values: 48,
            etcd_largest_values: 128,
            stream_bytes: 64 * MIB,
            memory_small_bytes: 16 * MIB,
            memory_large_bytes: 128 * MIB,
            creds_runs: 10,
        }
    }
}

#[derive(Debug)]
pub struct Setup {
    pub rounds: u32,
    pub sizes: Sizes,
    pub runner: Runner,
    pub ours: OurTools,
    pub peers: Peers,
    /// etcdctl of the same etcd version as the server (3.5).
    pub etcdctl: PathBuf,
    /// Scratch directory for inputs and snapshot files (target/bench).
    pub work: PathBuf,
    /// Workspace root with a trailing slash, cut from paths shown in the page.
    pub root_prefix: String,
}

impl Setup {
    /// Returns the text substitutions for displayed commands: the workspace root and `extra`.
    pub fn substitutions(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut substitutions = vec![(self.root_prefix.clone(), String::new())];
        substitutions.extend(
            extra
                .iter()
                .map(|(from, to)| (from.to_string(), to.to_string())),
        );
        substitutions
    }
}
