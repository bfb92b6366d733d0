//! Commands under test: how they are spawned in a clean environment and how the page shows them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

/// One program invocation of a benchmarked tool.
#[derive(Clone, Debug)]
pub struct ToolCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Variables shown in the page with their values.
    pub env: Vec<(String, String)>,
    /// Variables shown by name only (credentials).
    pub secret_env: Vec<(String, String)>,
    /// File read as stdin; `None` means /dev/null, unless the command is the second half of a
    /// pipeline.
    pub stdin: Option<PathBuf>,
    /// File written as stdout; `None` means /dev/null, unless the command feeds a pipeline.
    pub stdout: Option<PathBuf>,
}

impl ToolCommand {
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> ToolCommand {
        ToolCommand {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: Vec::new(),
            secret_env: Vec::new(),
            stdin: None,
            stdout: None,
        }
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> ToolCommand {
        self.env.push((name.to_string(), value.into()));
        self
    }

    pub fn secret_env(mut self, name: &str, value: impl Into<String>) -> ToolCommand {
        self.secret_env.push((name.to_string(), value.into()));
        self
    }

    pub fn stdin(mut self, path: impl Into<PathBuf>) -> ToolCommand {
        self.stdin = Some(path.into());
        self
    }

    pub fn stdout(mut self, path: impl Into<PathBuf>) -> ToolCommand {
        self.stdout = Some(path.into());
        self
    }

    /// Returns the executable's file name, used to label its process in the results.
    pub fn program_name(&self) -> String {
        self.program
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.program.display().to_string())
    }

    /// Builds the `Command` with the harness's clean environment: no `AWS_*`, `ETCDCTL_*` or
    /// `RCLONE_*` from the caller, `HOME` set to `home`, IMDS disabled. Stdin and stdout are the
    /// configured files or /dev/null; stderr goes to `stderr_log` so a failure can be shown.
    ///
    /// With `launcher` = `(bench-exec, report)`, the command runs the launcher, which starts the
    /// program and writes its usage to the report file.
    pub fn to_command(
        &self,
        home: &Path,
        stderr_log: &Path,
        launcher: Option<(&Path, &Path)>,
    ) -> Result<Command> {
        let mut command = match launcher {
            Some((launcher, report)) => {
                let mut command = e2e_tests::clean_command(launcher, home);
                command.arg(report).arg(&self.program);
                command
            }
            None => e2e_tests::clean_command(&self.program, home),
        };
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("RCLONE_") {
                command.env_remove(&name);
            }
        }
        command.args(&self.args);
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.envs(self.secret_env.iter().map(|(k, v)| (k, v)));

        match &self.stdin {
            Some(path) => {
                let file = File::open(path)
                    .with_context(|| format!("failed to open input {}", path.display()))?;
                command.stdin(file);
            }
            None => {
                command.stdin(Stdio::null());
            }
        }
        match &self.stdout {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("failed to create output {}", path.display()))?;
                command.stdout(file);
            }
            None => {
                command.stdout(Stdio::null());
            }
        }
        let log = File::create(stderr_log)
            .with_context(|| format!("failed to create log {}", stderr_log.display()))?;
        command.stderr(log);
        Ok(command)
    }

    /// Renders the command as a shell line with secret values shown as `***`, replacing each
    /// `(from, to)` text in `substitutions` (workspace root, endpoints) so that the page does not
    /// depend on this checkout or its ports.
    pub fn display(&self, substitutions: &[(String, String)]) -> String {
        let mut words: Vec<String> = Vec::new();
        for (name, _) in &self.secret_env {
            words.push(format!("{name}=***"));
        }
        for (name, value) in &self.env {
            words.push(format!("{name}={}", shell_quote(value)));
        }
        words.push(shell_quote(&self.program.display().to_string()));
        words.extend(self.args.iter().map(|a| shell_quote(a)));
        if let Some(path) = &self.stdin {
            words.push(format!("< {}", shell_quote(&path.display().to_string())));
        }
        if let Some(path) = &self.stdout {
            words.push(format!("> {}", shell_quote(&path.display().to_string())));
        }

        let mut line = words.join(" ");
        for (from, to) in substitutions {
            line = line.replace(from.as_str(), to);
        }
        line
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%$".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_hides_secrets_and_substitutes() {
        let command = ToolCommand::new("/repo/target/release/s3-put", &["s3://b/k", "--x", "a b"])
            .env("AWS_REGION", "us-east-1")
            .secret_env("AWS_SECRET_ACCESS_KEY", "hunter2")
            .stdin("/repo/target/bench/in.bin");
        let substitutions = vec![("/repo/".to_string(), String::new())];

        let line = command.display(&substitutions);

        assert_eq!(
            line,
            "AWS_SECRET_ACCESS_KEY=*** AWS_REGION=us-east-1 target/release/s3-put s3://b/k \
             --x 'a b' < target/bench/in.bin"
        );
        assert!(!line.contains("hunter2"));
    }

    #[test]
    fn quote_special_words() {
        assert_eq!(shell_quote("plain-word_1.txt"), "plain-word_1.txt");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("import x; x()"), "'import x; x()'");
    }
}
