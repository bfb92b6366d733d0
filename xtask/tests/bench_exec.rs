//! Runs the `bench-exec` launcher as `cargo xtask bench` does.
//!
//! This integration test also makes `cargo test` build bench-exec before any test of the xtask
//! package runs, because Cargo builds a package's binaries only for its integration tests. The
//! runner's unit tests look for bench-exec next to their own test binary.

use std::process::Command;

fn bench_exec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bench-exec"))
}

/// Returns the numbers of a report line: wall ns, user µs, system µs, max RSS KiB, wait status.
fn report_fields(text: &str) -> Vec<i64> {
    text.split_whitespace()
        .map(|field| field.parse().expect("report field is an integer"))
        .collect()
}

#[test]
fn report_for_successful_program() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");

    let status = bench_exec().arg(&report).arg("true").status().unwrap();
    assert!(status.success(), "bench-exec exited with {status}");

    let fields = report_fields(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(fields.len(), 5, "report fields: {fields:?}");
    assert!(fields[0] > 0, "wall time must be positive: {fields:?}");
    assert!(fields[3] > 0, "max RSS must be positive: {fields:?}");
    assert_eq!(fields[4], 0, "wait status of `true`: {fields:?}");
}

#[test]
fn report_keeps_failing_status() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");

    let status = bench_exec().arg(&report).arg("false").status().unwrap();
    assert!(status.success(), "bench-exec exited with {status}");

    let fields = report_fields(&std::fs::read_to_string(&report).unwrap());
    assert_eq!(fields.len(), 5, "report fields: {fields:?}");
    assert_ne!(
        fields[4], 0,
        "wait status of `false` must be non-zero: {fields:?}"
    );
}

#[test]
fn missing_program_is_error() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");

    let output = bench_exec()
        .arg(&report)
        .arg(dir.path().join("no-such-program"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("failed to start"), "stderr: {stderr}");
}
