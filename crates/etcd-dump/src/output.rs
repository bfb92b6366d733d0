//! Destinations of the snapshot bytes and how each is completed once the
//! trailer has verified.

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::DumpError;
use crate::settings::OutputMode;

/// An opened destination. Dropping it before [`Output::complete`] removes a
/// partly written `--output` file.
#[derive(Debug)]
pub struct Output {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Stdout,
    Spool,
    File { path: PathBuf, part: PathBuf },
}

impl Output {
    /// Opens the destination and returns the file the snapshot bytes go to
    /// first: stdout itself, the spool file, or `<path>.part`.
    pub fn open(mode: &OutputMode) -> Result<(Output, File), DumpError> {
        match mode {
            OutputMode::Stream => Ok((Output { kind: Kind::Stdout }, stdout_file()?)),
            OutputMode::SpoolThenStdout(dir) => {
                // Opening stdout first reports a closed stdout before any work.
                drop(stdout_file()?);
                let spool = tempfile::tempfile_in(dir).map_err(|e| {
                    DumpError::io(
                        format!(
                            "cannot create spool file in {} (--spool-dir)",
                            dir.display()
                        ),
                        e,
                    )
                })?;
                Ok((Output { kind: Kind::Spool }, spool))
            }
            OutputMode::File(path) => {
                let part = part_path(path);
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&part)
                    .map_err(|e| DumpError::io(format!("cannot create {}", part.display()), e))?;
                let output = Output {
                    kind: Kind::File {
                        path: path.clone(),
                        part,
                    },
                };
                Ok((output, file))
            }
        }
    }

    /// Names the destination in error messages.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Stdout => "stdout".to_owned(),
            Kind::Spool => "the spool file".to_owned(),
            Kind::File { part, .. } => part.display().to_string(),
        }
    }

    /// Finishes a verified snapshot whose bytes are all in `file`: copies
    /// the spool file to stdout, or syncs and renames the `.part` file.
    ///
    /// Dropping the returned future before it completes (SIGTERM during the
    /// final sync) still removes the `.part` file, unless the rename has
    /// already happened, in which case the complete file stays.
    pub async fn complete(mut self, file: File) -> Result<(), DumpError> {
        let kind = self.kind.clone();
        let result = tokio::task::spawn_blocking(move || complete_blocking(kind, file)).await;
        // Success or a failure that already removed the `.part` file: nothing
        // is left for Drop to clean up.
        self.kind = Kind::Stdout;
        match result {
            Ok(outcome) => outcome,
            Err(join_error) => Err(DumpError::io(
                "cannot complete output",
                std::io::Error::other(join_error.to_string()),
            )),
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Kind::File { part, .. } = &self.kind {
            // Best effort: the run has already failed with a better error.
            let _ = std::fs::remove_file(part);
        }
    }
}

fn complete_blocking(kind: Kind, mut file: File) -> Result<(), DumpError> {
    match kind {
        Kind::Stdout => Ok(()),
        Kind::Spool => {
            file.seek(SeekFrom::Start(0))
                .map_err(|e| DumpError::io("cannot rewind the spool file", e))?;
            let mut stdout = stdout_file()?;
            // File-to-pipe copies use copy_file_range/sendfile on Linux.
            std::io::copy(&mut file, &mut stdout)
                .and_then(|_| stdout.flush())
                .map_err(|e| DumpError::io("cannot write snapshot to stdout", e))?;
            Ok(())
        }
        Kind::File { path, part, .. } => {
            let result = rename_into_place(&path, &part, file);
            if result.is_err() {
                // Best effort: the returned error describes the failure.
                let _ = std::fs::remove_file(&part);
            }
            result
        }
    }
}

fn rename_into_place(path: &Path, part: &Path, file: File) -> Result<(), DumpError> {
    file.sync_all()
        .map_err(|e| DumpError::io(format!("cannot sync {}", part.display()), e))?;
    drop(file);
    std::fs::rename(part, path).map_err(|e| {
        DumpError::io(
            format!("cannot rename {} to {}", part.display(), path.display()),
            e,
        )
    })?;
    sync_parent(path)
}

/// Makes the rename durable across a crash.
fn sync_parent(path: &Path) -> Result<(), DumpError> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| DumpError::io(format!("cannot sync directory {}", dir.display()), e))
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Returns a handle to stdout that bypasses Rust's line-buffered `Stdout`.
fn stdout_file() -> Result<File, DumpError> {
    std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| DumpError::io("cannot use stdout", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn file_output_renames_on_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.db");
        let (output, mut file) = Output::open(&OutputMode::File(path.clone())).unwrap();
        let part = dir.path().join("snap.db.part");
        let mode = std::fs::metadata(&part).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        file.write_all(b"data").unwrap();
        output.complete(file).await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
        assert!(!part.exists());
    }

    #[test]
    fn file_output_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snap.db");
        let (output, _file) = Output::open(&OutputMode::File(path.clone())).unwrap();
        assert!(dir.path().join("snap.db.part").exists());
        drop(output);
        assert!(!dir.path().join("snap.db.part").exists());
        assert!(!path.exists());
    }

    #[test]
    fn missing_spool_dir_named() {
        let error = Output::open(&OutputMode::SpoolThenStdout(PathBuf::from(
            "/nonexistent/spool",
        )))
        .unwrap_err();
        assert!(error.to_string().contains("/nonexistent/spool"), "{error}");
    }
}
