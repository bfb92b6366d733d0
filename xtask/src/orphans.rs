//! Finds server processes that outlived the end-to-end suite.

use std::path::{Path, PathBuf};

use anyhow::bail;
use e2e_tests::RUN_ID_ENV;

const SERVER_NAMES: [&str; 4] = ["etcd", "weed", "s3s-fs", "minio"];

#[derive(Debug)]
struct ProcessInfo {
    pid: u32,
    command_line: String,
    cwd: Option<PathBuf>,
    run_id: Option<String>,
}

fn read_process(pid: u32) -> Option<ProcessInfo> {
    let dir = PathBuf::from(format!("/proc/{pid}"));
    let command_line = std::fs::read(dir.join("cmdline")).ok()?;
    // Zombies and kernel threads have an empty command line.
    if command_line.is_empty() {
        return None;
    }
    let command_line = String::from_utf8_lossy(&command_line).replace('\0', " ");
    let environment = std::fs::read(dir.join("environ")).unwrap_or_default();
    let prefix = format!("{RUN_ID_ENV}=");
    let run_id = environment
        .split(|byte| *byte == 0)
        .map(String::from_utf8_lossy)
        .find_map(|entry| entry.strip_prefix(&prefix).map(str::to_string));
    Some(ProcessInfo {
        pid,
        command_line: command_line.trim().to_string(),
        cwd: std::fs::read_link(dir.join("cwd")).ok(),
        run_id,
    })
}

fn all_processes() -> Vec<ProcessInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != std::process::id())
        .filter_map(read_process)
        .collect()
}

fn is_server(process: &ProcessInfo) -> bool {
    let program = process.command_line.split(' ').next().unwrap_or_default();
    let name = Path::new(program)
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    SERVER_NAMES.contains(&name)
}

/// Fails when a process tagged with `run_id` is still alive (and kills it), and warns about
/// etcd/weed/s3s-fs/minio processes running in `target_dir` that belong to another run.
pub fn check(run_id: &str, target_dir: &Path) -> anyhow::Result<()> {
    let mut survivors = Vec::new();
    for process in all_processes() {
        if process.run_id.as_deref() == Some(run_id) {
            survivors.push(process);
        } else if is_server(&process)
            && process
                .cwd
                .as_deref()
                .is_some_and(|cwd| cwd.starts_with(target_dir))
        {
            eprintln!(
                "xtask: warning: server process {} ({}) runs in {} but belongs to another run",
                process.pid,
                process.command_line,
                target_dir.display()
            );
        }
    }

    if survivors.is_empty() {
        eprintln!("xtask: no server process of this run survived the suite");
        return Ok(());
    }
    let mut report = String::new();
    for process in &survivors {
        report.push_str(&format!(
            "\n  pid {}: {}",
            process.pid, process.command_line
        ));
        // SAFETY: plain syscall; the process carries this run's id, so this run started it.
        unsafe {
            libc::kill(process.pid as libc::pid_t, libc::SIGKILL);
        }
    }
    bail!(
        "{} process(es) started by this run survived the end-to-end suite and were killed now:{report}",
        survivors.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    #[test]
    fn survivor_with_run_id_fails_and_is_killed() {
        let run_id = format!("orphan-test-{}", std::process::id());
        let mut survivor = Command::new("sleep")
            .arg("60")
            .env(RUN_ID_ENV, &run_id)
            .spawn()
            .unwrap();
        let target = std::env::temp_dir();

        // /proc/PID/environ shows the new environment only after exec.
        let deadline = Instant::now() + Duration::from_secs(5);
        while read_process(survivor.id())
            .and_then(|process| process.run_id)
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "the test process never showed its run id"
            );
            std::thread::sleep(Duration::from_millis(20));
        }

        let error = check(&run_id, &target).unwrap_err().to_string();
        assert!(error.contains(&format!("pid {}", survivor.id())), "{error}");
        let status = survivor.wait().unwrap();
        assert!(!status.success(), "the survivor was not killed: {status}");
    }

    #[test]
    fn other_run_ids_pass() {
        let run_id = format!("unused-run-{}", std::process::id());
        check(&run_id, &std::env::temp_dir()).unwrap();
    }
}
