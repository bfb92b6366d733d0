//! Locations inside the workspace that the harness and xtask share.

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// Returns the workspace root, fixed at compile time from this package's manifest dir.
pub fn workspace_root() -> PathBuf {
    let package_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    match package_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => package_dir.to_path_buf(),
    }
}

/// Returns Cargo's target dir: `CARGO_TARGET_DIR` when set (relative to the workspace root),
/// else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Returns the directory that keeps one log file per server started by the harness.
pub fn logs_dir() -> PathBuf {
    target_dir().join("e2e-logs")
}

/// Returns the path of one of the workspace's binaries in `target/debug`.
///
/// # Panics
/// When the binary has not been built; `cargo xtask test` builds all of them before the suite.
pub fn tool_binary(name: &str) -> PathBuf {
    let path = target_dir().join("debug").join(name);
    assert!(
        path.is_file(),
        "binary {} not found; build it with `cargo build --workspace --bins` \
         or run the suite through `cargo xtask test`",
        path.display()
    );
    path
}

/// A temporary directory under `target/e2e-tmp/`, removed on drop unless the thread is
/// panicking (a failing test), in which case it is kept and its path printed to stderr.
#[derive(Debug)]
pub struct ScratchDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl ScratchDir {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after drop and returns its path.
    pub fn keep(mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let _ = dir.keep();
        }
        self.path.clone()
    }
}

impl Deref for ScratchDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for ScratchDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let kept = dir.keep();
            eprintln!("kept scratch dir of the failed test: {}", kept.display());
        }
    }
}

/// Creates a fresh scratch dir under `target/e2e-tmp/`.
///
/// # Panics
/// When the directory cannot be created.
pub fn scratch_dir() -> ScratchDir {
    scratch_dir_named("scratch")
}

pub(crate) fn scratch_dir_named(prefix: &str) -> ScratchDir {
    let parent = target_dir().join("e2e-tmp");
    std::fs::create_dir_all(&parent)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", parent.display()));
    let dir = tempfile::Builder::new()
        .prefix(&format!("{prefix}-"))
        .tempdir_in(&parent)
        .unwrap_or_else(|error| {
            panic!("cannot create a temp dir in {}: {error}", parent.display())
        });
    let path = dir.path().to_path_buf();
    ScratchDir {
        dir: Some(dir),
        path,
    }
}
