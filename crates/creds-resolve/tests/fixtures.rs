//! Runs every case under tests/fixtures against the built binary.
//!
//! A case directory may contain:
//! - `args`: one argument per line.
//! - `env`: `NAME=value` lines added to the base environment, `-NAME` removes one.
//! - `stdin`: bytes fed to stdin.
//! - `home/`: copied to a temporary HOME (files mode 600 unless `modes` sets another mode).
//! - `work/`: copied to a temporary directory, also the working directory; `*.sh` get mode 755.
//! - `modes`: `home/.aws/credentials 644` lines.
//! - `expect`: `exit N`, `stdout-json` (compare with `stdout.json`), `stdout-text`
//!   (compare with `stdout.txt`), `stderr-contains TEXT`, `stderr-lacks TEXT`, `stderr-empty`.
//!
//! In every text, `{HOME}`, `{WORK}`, `{BIN}`, `{STS}`, `{CONTAINER}`, `{IMDS}` and
//! `{PASSWD_HOME}` are replaced, and `\n` in `env` and `args` becomes a newline.
//! Every fixture secret contains the marker `SEKRIT`; stderr must never contain it.
//! Each case also runs a second time with `--explain` added, which must not change
//! the exit code or stdout, nor show a secret.
//! Set CREDS_RESOLVE_FIXTURE to a case name to run only that case, and
//! CREDS_RESOLVE_FIXTURE_SHOW=1 (with `--nocapture`) to print every outcome.

// Helpers outside #[test] functions count as non-test code for clippy, and a
// panic is the right failure in a test harness.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use support::stubs;

const BIN: &str = env!("CARGO_BIN_EXE_creds-resolve");
const SECRET_MARKER: &str = "SEKRIT";

struct Servers {
    sts: String,
    container: String,
    imds: String,
}

fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| Servers {
        sts: stubs::start_sts(),
        container: stubs::start_container(),
        imds: stubs::start_imds(),
    })
}

/// Home directory of the current user in the user database, read from /etc/passwd.
fn passwd_home() -> String {
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() }.to_string();
    std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.len() >= 7 && fields[2] == uid)
        .map(|fields| fields[5].to_string())
        .unwrap_or_default()
}

struct Context {
    home: PathBuf,
    work: PathBuf,
}

impl Context {
    fn substitute(&self, text: &str) -> String {
        let servers = servers();
        text.replace("{HOME}", &self.home.display().to_string())
            .replace("{WORK}", &self.work.display().to_string())
            .replace("{BIN}", BIN)
            .replace("{STS}", &servers.sts)
            .replace("{CONTAINER}", &servers.container)
            .replace("{IMDS}", &servers.imds)
            .replace("{PASSWD_HOME}", &passwd_home())
    }
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

/// Copies a fixture tree, substituting placeholders in UTF-8 files, and returns
/// the texts written (for the secret scan).
fn copy_tree(from: &Path, to: &Path, ctx: &Context, texts: &mut Vec<String>) {
    if !from.exists() {
        return;
    }
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target, ctx, texts);
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        let bytes = match String::from_utf8(bytes) {
            Ok(text) => {
                let text = ctx.substitute(&text);
                texts.push(text.clone());
                text.into_bytes()
            }
            Err(err) => {
                texts.push(String::from_utf8_lossy(err.as_bytes()).into_owned());
                err.into_bytes()
            }
        };
        std::fs::write(&target, bytes).unwrap();
        let mode = if target.extension().is_some_and(|e| e == "sh") {
            0o755
        } else {
            0o600
        };
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn read_optional(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Rejects fixtures that could reach anything but loopback.
fn check_loopback_only(case: &str, env: &BTreeMap<String, String>, texts: &[String]) {
    let all = env.values().chain(texts.iter());
    for text in all {
        for scheme in ["http://", "https://"] {
            for (index, _) in text.match_indices(scheme) {
                let rest = &text[index + scheme.len()..];
                assert!(
                    rest.starts_with("127.0.0.1") || rest.starts_with("[::1]"),
                    "{case}: fixture names a non-loopback URL: {scheme}{rest:.40}"
                );
            }
        }
    }
    assert!(
        !env.contains_key("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        "{case}: the relative container URI always targets 169.254.170.2"
    );
    let imds_off = env
        .get("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let imds_stub = env
        .get("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .is_some_and(|v| v.starts_with("http://127.0.0.1"));
    assert!(
        imds_off || imds_stub,
        "{case}: instance metadata must be disabled or pointed at the loopback stub"
    );
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run_binary(
    args: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    stdin: Option<Vec<u8>>,
) -> Result<Outcome, String> {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {BIN}: {e}"))?;
    if let Some(bytes) = stdin {
        let mut input = child.stdin.take().unwrap();
        input.write_all(&bytes).unwrap();
    }

    let pid = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    let output = match receiver.recv_timeout(Duration::from_secs(60)) {
        Ok(output) => output.map_err(|e| e.to_string())?,
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; pid is our child.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            return Err("timed out after 60 s".into());
        }
    };
    Ok(Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn secrets_in(texts: &[String]) -> Vec<String> {
    let mut secrets: Vec<String> = stubs::STUB_SECRETS.iter().map(|s| s.to_string()).collect();
    for text in texts {
        let words = text.split(|c: char| !(c.is_ascii_alphanumeric() || "_+/=-".contains(c)));
        for word in words.filter(|w| w.contains(SECRET_MARKER)) {
            secrets.push(word.to_string());
        }
    }
    secrets
}

fn run_case(dir: &Path) -> Result<(), String> {
    let case = dir.file_name().unwrap().to_string_lossy().into_owned();
    let temp = tempfile::tempdir().unwrap();
    let ctx = Context {
        home: temp.path().join("home"),
        work: temp.path().join("work"),
    };
    std::fs::create_dir_all(&ctx.home).unwrap();
    std::fs::create_dir_all(&ctx.work).unwrap();

    let mut texts = Vec::new();
    copy_tree(&dir.join("home"), &ctx.home, &ctx, &mut texts);
    copy_tree(&dir.join("work"), &ctx.work, &ctx, &mut texts);
    if let Some(modes) = read_optional(&dir.join("modes")) {
        for line in modes.lines().filter(|l| !l.trim().is_empty()) {
            let (path, mode) = line.trim().split_once(' ').unwrap();
            let mode = u32::from_str_radix(mode.trim(), 8).unwrap();
            let path = temp.path().join(path);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    }

    let mut env = BTreeMap::new();
    env.insert(
        "PATH".to_string(),
        std::env::var("PATH").unwrap_or_default(),
    );
    env.insert("HOME".to_string(), ctx.home.display().to_string());
    env.insert("AWS_EC2_METADATA_DISABLED".to_string(), "true".to_string());
    // Any STS or SSO call a fixture does not point at a stub goes to a closed
    // loopback port instead of AWS.
    env.insert(
        "AWS_ENDPOINT_URL".to_string(),
        "http://127.0.0.1:9".to_string(),
    );
    if let Some(lines) = read_optional(&dir.join("env")) {
        for line in lines.lines().filter(|l| !l.is_empty()) {
            if let Some(name) = line.strip_prefix('-') {
                env.remove(name);
                continue;
            }
            let (name, value) = line.split_once('=').unwrap();
            let value = unescape(&ctx.substitute(value));
            texts.push(value.clone());
            env.insert(name.to_string(), value);
        }
    }

    let args: Vec<String> = read_optional(&dir.join("args"))
        .unwrap_or_default()
        .lines()
        .map(|line| unescape(&ctx.substitute(line)))
        .collect();
    texts.extend(args.iter().cloned());
    let stdin = std::fs::read(dir.join("stdin")).ok();
    if let Some(bytes) = &stdin {
        texts.push(String::from_utf8_lossy(bytes).into_owned());
    }

    check_loopback_only(&case, &env, &texts);
    let outcome = run_binary(&args, &env, &ctx.work, stdin)?;
    if std::env::var_os("CREDS_RESOLVE_FIXTURE_SHOW").is_some() {
        println!(
            "== {case}: exit {:?}\n{}{}",
            outcome.code, outcome.stdout, outcome.stderr
        );
    }
    let expect = read_optional(&dir.join("expect")).ok_or("missing expect file")?;
    let mut problems = Vec::new();

    for secret in secrets_in(&texts) {
        if outcome.stderr.contains(&secret) {
            problems.push(format!("stderr contains the fixture secret {secret}"));
        }
    }
    if outcome.stderr.contains(SECRET_MARKER) {
        problems.push("stderr contains part of a fixture secret".to_string());
    }

    let mut stdout_checked = false;
    for line in expect.lines().filter(|l| !l.trim().is_empty()) {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = ctx.substitute(rest);
        match word {
            "exit" => {
                let expected: i32 = rest.trim().parse().unwrap();
                if outcome.code != Some(expected) {
                    problems.push(format!("exit code {:?}, expected {expected}", outcome.code));
                }
                if expected != 0 && !outcome.stdout.is_empty() {
                    problems.push("stdout is not empty after a failure".to_string());
                }
            }
            "stdout-json" => {
                stdout_checked = true;
                let expected =
                    ctx.substitute(&std::fs::read_to_string(dir.join("stdout.json")).unwrap());
                let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
                let lines: Vec<&str> = outcome.stdout.lines().collect();
                match serde_json::from_str::<serde_json::Value>(&outcome.stdout) {
                    Ok(actual) if actual == expected && lines.len() == 1 => {}
                    Ok(actual) => {
                        problems.push(format!("stdout JSON {actual}, expected {expected}"))
                    }
                    Err(err) => problems.push(format!(
                        "stdout is not one JSON object ({err}): {:?}",
                        outcome.stdout
                    )),
                }
            }
            "stdout-text" => {
                stdout_checked = true;
                let expected =
                    ctx.substitute(&std::fs::read_to_string(dir.join("stdout.txt")).unwrap());
                if outcome.stdout != expected {
                    problems.push(format!(
                        "stdout {:?}, expected {expected:?}",
                        outcome.stdout
                    ));
                }
            }
            "stderr-contains" => {
                if !outcome.stderr.contains(&rest) {
                    problems.push(format!("stderr lacks {rest:?}"));
                }
            }
            "stderr-lacks" => {
                if outcome.stderr.contains(&rest) {
                    problems.push(format!("stderr contains {rest:?}"));
                }
            }
            "stderr-empty" => {
                if !outcome.stderr.is_empty() {
                    problems.push("stderr is not empty".to_string());
                }
            }
            other => return Err(format!("unknown expect keyword {other}")),
        }
    }
    if outcome.code == Some(0) && !stdout_checked {
        problems.push("a success case must check stdout".to_string());
    }

    // Run again with --explain: the report must not change the outcome or show a secret.
    if !args.iter().any(|a| a == "--explain") {
        let mut explain_args = args.clone();
        explain_args.push("--explain".to_string());
        let stdin = std::fs::read(dir.join("stdin")).ok();
        let explained = run_binary(&explain_args, &env, &ctx.work, stdin)?;
        if explained.code != outcome.code {
            problems.push(format!(
                "exit code {:?} with --explain, {:?} without",
                explained.code, outcome.code
            ));
        }
        if explained.stdout != outcome.stdout {
            problems.push("stdout differs with --explain".to_string());
        }
        for secret in secrets_in(&texts) {
            if explained.stderr.contains(&secret) {
                problems.push(format!(
                    "stderr with --explain contains the fixture secret {secret}"
                ));
            }
        }
        if explained.stderr.contains(SECRET_MARKER) {
            problems.push("stderr with --explain contains part of a fixture secret".to_string());
        }
    }

    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}\n--- stdout\n{}--- stderr\n{}",
            problems.join("\n"),
            outcome.stdout,
            outcome.stderr
        ))
    }
}

#[test]
fn every_fixture_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let only = std::env::var("CREDS_RESOLVE_FIXTURE").ok();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .filter(|p| only.as_deref().is_none_or(|o| p.file_name().unwrap() == o))
        .collect();
    cases.sort();
    assert!(
        !cases.is_empty(),
        "no fixture cases found under {}",
        root.display()
    );

    let mut failures = Vec::new();
    for case in &cases {
        if let Err(message) = run_case(case) {
            failures.push(format!(
                "== {}: {message}",
                case.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
