//! Versions of every tool in the comparison, and the time stamp of the run.

use std::path::Path;
use std::process::Command;

use e2e_tests::ToolsManifest;

use super::peers::version_line;
use super::report::Version;
use super::setup::Setup;

/// Returns the current UTC time in RFC 3339 form, e.g. "2026-12-04T22:41:07Z".
pub fn utc_now() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0);
    match now {
        Ok(now) => now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| "unknown".to_string()),
        Err(_) => "unknown".to_string(),
    }
}

pub fn collect(setup: &Setup, manifest: &ToolsManifest) -> Vec<Version> {
    let home = &setup.runner.home;
    let ours = &setup.ours;
    let peers = &setup.peers;
    let commit = git_commit();
    let entry = |tool: &str, version: String| Version {
        tool: tool.to_string(),
        version,
    };

    vec![
        entry(
            "etcd-dump",
            format!(
                "{} ({commit})",
                version_line(home, &ours.etcd_dump, &["--version"])
            ),
        ),
        entry(
            "s3-put",
            format!(
                "{} ({commit})",
                version_line(home, &ours.s3_put, &["--version"])
            ),
        ),
        entry(
            "creds-resolve",
            format!(
                "{} ({commit})",
                version_line(home, &ours.creds_resolve, &["--version"])
            ),
        ),
        entry(
            "rustc",
            version_line(home, Path::new("rustc"), &["--version"]),
        ),
        entry("etcd server", format!("etcd {}", manifest.etcd_3_5.version)),
        entry("etcdctl", version_line(home, &setup.etcdctl, &["version"])),
        entry(
            "SeaweedFS",
            version_line(home, &manifest.weed, &["version"]),
        ),
        entry("aws-cli", version_line(home, &peers.aws, &["--version"])),
        entry(
            "botocore",
            version_line(
                home,
                &peers.python,
                &[
                    "-c",
                    "import botocore; print('botocore', botocore.__version__)",
                ],
            ),
        ),
        entry("s5cmd", version_line(home, &peers.s5cmd, &["version"])),
        entry("rclone", version_line(home, &peers.rclone, &["version"])),
        entry("Python", version_line(home, &peers.python, &["--version"])),
    ]
}

/// Returns the short commit hash of the workspace, marked "modified" when the tree has changes.
fn git_commit() -> String {
    let root = e2e_tests::workspace_root();
    let run = |args: &[&str]| {
        Command::new("git")
            .current_dir(&root)
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_string())
    };
    let Some(commit) = run(&["rev-parse", "--short", "HEAD"]) else {
        return "commit unknown".to_string();
    };
    let modified = run(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|status| !status.is_empty());
    if modified {
        format!("commit {commit}, modified")
    } else {
        format!("commit {commit}")
    }
}
