//! Process-level behaviour that the fixture cases cannot express.

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_creds-resolve");

fn command(home: &std::path::Path) -> Command {
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", "AKIAPIPE")
        .env("AWS_SECRET_ACCESS_KEY", "pipeSEKRITsecret");
    command
}

#[test]
fn closed_stdout_exits_quietly() {
    let home = tempfile::tempdir().unwrap();
    for _ in 0..20 {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = command(home.path())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    }
}

#[test]
fn help_and_version_succeed() {
    let home = tempfile::tempdir().unwrap();
    for flag in ["--help", "--version"] {
        let output = command(home.path()).arg(flag).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{flag}");
        assert!(!output.stdout.is_empty(), "{flag}");
    }
}

#[test]
fn help_mentions_exit_codes_and_ps_warning() {
    let home = tempfile::tempdir().unwrap();
    let output = command(home.path()).arg("--help").output().unwrap();
    // Help text is wrapped to the terminal width, so compare word sequences.
    let help = String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(help.contains("3 misconfiguration"), "{help}");
    assert!(help.contains("Visible to other users in `ps`"), "{help}");
}

#[test]
fn closed_stderr_still_prints_credentials() {
    let home = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = command(home.path())
        .arg("--explain")
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["AccessKeyId"], "AKIAPIPE");
}
