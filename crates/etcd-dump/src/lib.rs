//! Library behind the `etcd-dump` binary: takes an etcd v3 snapshot through
//! the Maintenance.Snapshot RPC, checks its SHA-256 trailer while streaming
//! and writes the exact bytes `etcdctl snapshot save` would store.

pub mod cli;
pub mod error;
mod insecure;
pub mod member;
pub mod output;
pub mod pipe;
pub mod preset;
pub mod progress;
pub mod select;
pub mod settings;
pub mod snapshot;
pub mod summary;
pub mod trailer;

pub use cli::Args;
pub use error::DumpError;
pub use settings::{OutputMode, Settings};
pub use snapshot::run;
pub use summary::Summary;
