//! The tools manifest written by `cargo xtask install`: where each server binary lives.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::paths::{target_dir, workspace_root};

/// Environment variable that overrides the tools dir (default `target/tools`).
pub const TOOLS_DIR_ENV: &str = "ETCD_S3_PIPES_TOOLS";

/// Binaries of one etcd release line.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct EtcdTools {
    /// Full version reported by `etcd --version`, for example `3.4.23`.
    pub version: String,
    pub etcd: PathBuf,
    pub etcdctl: PathBuf,
    /// `etcdutl` exists from etcd 3.5 on.
    pub etcdutl: Option<PathBuf>,
}

/// Contents of `manifest.json` in the tools dir.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ToolsManifest {
    pub etcd_3_4: EtcdTools,
    pub etcd_3_5: EtcdTools,
    /// SeaweedFS `weed` binary.
    pub weed: PathBuf,
    pub s3s_fs: PathBuf,
    /// MinIO server, recorded only when a `minio` binary was on PATH at install time.
    pub minio: Option<PathBuf>,
}

/// Returns the tools dir: `ETCD_S3_PIPES_TOOLS` when set, else `target/tools`.
pub fn tools_dir() -> PathBuf {
    match std::env::var_os(TOOLS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => target_dir().join("tools"),
    }
}

pub fn manifest_path() -> PathBuf {
    tools_dir().join("manifest.json")
}

impl ToolsManifest {
    /// Reads the manifest from the tools dir.
    pub fn load() -> Result<ToolsManifest, String> {
        let path = manifest_path();
        let text = std::fs::read_to_string(&path).map_err(|error| {
            format!(
                "cannot read the tools manifest {}: {error}; run `cargo xtask install` \
                 (or `cargo xtask test`, which runs it) to provision etcd and the S3 servers",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|error| {
            format!(
                "invalid tools manifest {}: {error}; rerun `cargo xtask install`",
                path.display()
            )
        })
    }

    /// Writes the manifest as pretty JSON.
    pub fn save(&self) -> std::io::Result<()> {
        let path = manifest_path();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, text + "\n")
    }
}

/// Returns the manifest, read once per process.
///
/// # Panics
/// When the manifest is missing or invalid; the panic message names the command that creates it.
pub fn manifest() -> &'static ToolsManifest {
    static MANIFEST: OnceLock<ToolsManifest> = OnceLock::new();
    MANIFEST.get_or_init(|| ToolsManifest::load().unwrap_or_else(|message| panic!("{message}")))
}
