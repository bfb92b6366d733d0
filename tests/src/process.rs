//! Server processes that cannot outlive the process that started them.
//!
//! Each server runs in its own process group with `PR_SET_PDEATHSIG(SIGKILL)`. The kernel sends
//! that signal when the *thread* that forked the child exits, not the process. So all spawns go
//! through one long-lived thread, and a server started from a short-lived thread (or stored in
//! a static) stays up until the process exits or the server is dropped.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::paths::logs_dir;

/// Environment variable that tags every server with the id of the `cargo xtask test` run, so
/// xtask can find survivors of its own run without confusing them with other runs.
pub const RUN_ID_ENV: &str = "ETCD_S3_PIPES_RUN_ID";

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, receiver) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("e2e-spawner".into())
            .spawn(move || {
                for (mut command, reply) in receiver {
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("start the spawner thread");
        Mutex::new(sender)
    })
}

/// Spawns `command` from the long-lived spawner thread, in a new process group, with
/// SIGKILL as its parent-death signal, so it dies with this process.
pub fn spawn_guarded(mut command: Command) -> std::io::Result<Child> {
    let parent_pid = std::process::id();
    command.process_group(0);
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
    // functions (prctl, getppid).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl; then no signal will come.
            if libc::getppid() as u32 != parent_pid {
                return Err(std::io::Error::other(
                    "parent exited before the server started",
                ));
            }
            Ok(())
        });
    }

    let (reply_sender, reply_receiver) = mpsc::channel();
    spawner()
        .lock()
        .map_err(|_| std::io::Error::other("spawner lock poisoned"))?
        .send((command, reply_sender))
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?;
    reply_receiver
        .recv()
        .map_err(|_| std::io::Error::other("spawner thread is gone"))?
}

/// Returns a loopback TCP port that was free a moment ago and that this process has not handed
/// out before. Another process may still take it before the server binds, so server starts
/// retry with new ports when the log reports "address already in use".
pub fn free_port() -> u16 {
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let mut ports = handed_out.lock().expect("port set lock");
        if ports.insert(port) {
            return port;
        }
    }
}

/// One running server with its log file.
#[derive(Debug)]
pub struct ServerProcess {
    name: String,
    child: Option<Child>,
    pid: u32,
    log_path: PathBuf,
}

impl ServerProcess {
    /// Starts `command` with stdout and stderr appended to a new log file in `target/e2e-logs/`.
    pub fn spawn(name: &str, mut command: Command) -> Result<ServerProcess, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let logs = logs_dir();
        std::fs::create_dir_all(&logs)
            .map_err(|error| format!("cannot create {}: {error}", logs.display()))?;
        let log_path = logs.join(format!(
            "{name}-{}-{}.log",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let log = File::create(&log_path)
            .map_err(|error| format!("cannot create {}: {error}", log_path.display()))?;
        let log_for_stderr = log
            .try_clone()
            .map_err(|error| format!("cannot reopen {}: {error}", log_path.display()))?;

        command
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_for_stderr);
        if let Ok(run_id) = std::env::var(RUN_ID_ENV) {
            command.env(RUN_ID_ENV, run_id);
        }
        let program = command.get_program().to_string_lossy().into_owned();
        let child = spawn_guarded(command)
            .map_err(|error| format!("cannot start {name} ({program}): {error}"))?;
        Ok(ServerProcess {
            name: name.to_string(),
            pid: child.id(),
            child: Some(child),
            log_path,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Returns the exit status text when the process has exited.
    pub fn exit_status(&mut self) -> Option<String> {
        match self.child.as_mut() {
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(error) => Some(format!("unknown ({error})")),
            },
            None => Some("killed by the harness".to_string()),
        }
    }

    /// Returns the whole log.
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// Returns about the last `max_bytes` of the log.
    pub fn log_tail(&self, max_bytes: u64) -> String {
        let Ok(mut file) = File::open(&self.log_path) else {
            return String::new();
        };
        let length = file.metadata().map(|meta| meta.len()).unwrap_or(0);
        let start = length.saturating_sub(max_bytes);
        let _ = file.seek(SeekFrom::Start(start));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Formats a failure report with the log path and its tail.
    pub fn describe_failure(&self, summary: &str) -> String {
        format!(
            "{summary}\n--- last lines of the {} log {} ---\n{}\n--- end of log ---",
            self.name,
            self.log_path.display(),
            self.log_tail(6000)
        )
    }

    /// Sends SIGKILL to the server's process group and waits for the server.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall; the group id is the child's pid because of process_group(0).
            unsafe {
                libc::killpg(self.pid as libc::pid_t, libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM, waits up to `grace` for a clean exit, then kills.
    pub fn stop(&mut self, grace: Duration) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // SAFETY: plain syscall on our own child.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                self.child = None;
                // Helpers the server forked may still be in its group.
                // SAFETY: plain syscall.
                unsafe {
                    libc::killpg(self.pid as libc::pid_t, libc::SIGKILL);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
    }

    /// Polls `probe` until it succeeds, the server exits or `timeout` passes. The error includes
    /// the last probe error and the log tail.
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<(), String>,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(self.describe_failure(&format!(
                    "{} exited during startup with {status}",
                    self.name
                )));
            }
            let last_error = match probe() {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if Instant::now() >= deadline {
                return Err(self.describe_failure(&format!(
                    "{} was not ready within {timeout:?}; last readiness error: {last_error}",
                    self.name
                )));
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Reports whether the log shows a port was taken, so the caller can retry with new ports.
    pub fn port_conflict(&self) -> bool {
        self.log().contains("address already in use")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if std::thread::panicking() && self.child.is_some() {
            eprintln!(
                "{}",
                self.describe_failure("test failed while this server ran")
            );
        }
        self.kill();
    }
}
