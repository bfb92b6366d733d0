//! Harness for the end-to-end suite: finds the servers that `cargo xtask install` provisioned,
//! starts them on loopback with their own ports and data dirs, and stops them again.
//!
//! Everything is blocking, so tests are plain `#[test]` functions. Servers are killed on drop,
//! and they also get SIGKILL from the kernel when the process that started them dies.

mod command;
mod etcd;
mod manifest;
mod paths;
mod process;
mod random;
mod runtime;
mod s3;
mod tls;

pub use command::{clean_command, terminal_command};
pub use etcd::{EtcdOptions, EtcdServer, EtcdVersion, etcd_path, etcdctl_path, etcdutl_path};
pub use manifest::{EtcdTools, TOOLS_DIR_ENV, ToolsManifest, manifest, manifest_path, tools_dir};
pub use paths::{ScratchDir, logs_dir, scratch_dir, target_dir, tool_binary, workspace_root};
pub use process::{RUN_ID_ENV, ServerProcess, free_port, spawn_guarded};
pub use s3::{ObjectHead, S3Kind, S3Server};
pub use tls::TlsFiles;
