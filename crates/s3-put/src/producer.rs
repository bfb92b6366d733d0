//! The producer command given after `--`, whose stdout is the upload's input.

use std::ffi::OsString;
use std::io::Read;
use std::process::{Child, Command, Stdio};

use crate::error::PutError;

/// A running producer. Dropping it without [`Producer::wait`] kills it.
#[derive(Debug)]
pub struct Producer {
    child: Option<Child>,
    command: String,
}

impl Producer {
    /// Starts `argv` with stdin and stderr inherited and stdout piped to us.
    pub fn spawn(argv: &[OsString]) -> Result<(Self, Box<dyn Read + Send>), PutError> {
        let command = argv
            .iter()
            .map(|arg| shell_quote(&arg.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ");
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| PutError::Usage("no command after --".to_owned()))?;

        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|error| PutError::ProducerSpawn {
                command: command.clone(),
                error,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| PutError::Internal("producer stdout was not captured".to_owned()))?;

        let producer = Self {
            child: Some(child),
            command,
        };
        Ok((producer, Box::new(stdout)))
    }

    /// Waits for the producer to exit and fails unless it exited with status 0.
    pub async fn wait(mut self) -> Result<(), PutError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let command = self.command.clone();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|err| PutError::Internal(err.to_string()))?
            .map_err(|err| PutError::Producer {
                command: command.clone(),
                status: format!("could not be waited for: {err}"),
            })?;
        if status.success() {
            return Ok(());
        }
        Err(PutError::Producer {
            command,
            status: describe_status(status),
        })
    }
}

fn describe_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("failed ({status})"),
    }
}

/// Quotes `arg` for a POSIX shell when it contains anything but safe characters,
/// so an error message shows where the arguments of the command split.
fn shell_quote(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        return arg.to_owned();
    }
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl Drop for Producer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The upload failed before the producer finished; it must not keep
            // running (and possibly blocking on a full pipe) after we exit.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_unsafe_arguments() {
        assert_eq!(shell_quote("etcd-dump"), "etcd-dump");
        assert_eq!(
            shell_quote("--endpoints=http://127.0.0.1:2379"),
            "--endpoints=http://127.0.0.1:2379"
        );
        assert_eq!(
            shell_quote("set -o pipefail; a | b"),
            "'set -o pipefail; a | b'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
