//! Commands for running our tools without leaking the caller's AWS or etcdctl setup.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Proxy variables, removed so that no request of a test leaves loopback through a proxy
/// the machine happens to configure. A test that needs one sets it itself.
const PROXY_VARIABLES: [&str; 4] = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"];

/// Builds a command that runs `program` with every `AWS_*`, `ETCDCTL_*` and proxy variable
/// removed, `HOME` set to `home` (so `~/.aws` resolves inside it) and
/// `AWS_EC2_METADATA_DISABLED=true`. `PATH` and all other variables are kept.
pub fn clean_command(program: impl AsRef<OsStr>, home: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        let proxy = PROXY_VARIABLES.contains(&name_text.to_ascii_lowercase().as_str());
        if name_text.starts_with("AWS_") || name_text.starts_with("ETCDCTL_") || proxy {
            command.env_remove(&name);
        }
    }
    command.env("HOME", home);
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Builds a [`clean_command`] that runs `shell_command` on a pseudo-terminal, for tests of
/// what a tool does when stdin or stdout is a terminal. script(1) from util-linux provides
/// the terminal, and its `-e` returns the command's exit status. The tool's output arrives
/// on the command's stdout, stderr included.
pub fn terminal_command(shell_command: &str, home: &Path) -> Command {
    let mut command = clean_command("script", home);
    command.arg("-qec").arg(shell_command).arg("/dev/null");
    command
}
