//! A SUT's process: spawned in its own process group with its output pumped into
//! `sut.log` and its exit watched, and every group this andon started known process-wide
//! so that a stopped andon stops them all ([`stop_own`]).

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::{SutError, SutEvent, SutEventKind};
use super::manifest::ResolvedStart;

/// How long [`stop_own`] gives the SUTs after SIGTERM before SIGKILL.
const STOP_OWN_GRACE: Duration = Duration::from_secs(5);

/// The process groups of the SUTs this process started and has not finished with.
static OWN_GROUPS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

pub(super) fn own_groups() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
    OWN_GROUPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every SUT this process started and has not finished with: SIGCONT and SIGTERM to
/// each process group, SIGKILL to those still there after a grace of 5 s. Returns how many
/// groups there were. For a command told to stop mid-run (its drivers are not dropped in
/// order when the process exits).
pub async fn stop_own() -> usize {
    let groups: Vec<u32> = std::mem::take(&mut *own_groups()).into_iter().collect();
    let alive = |pgid: u32| killpg(Pid::from_raw(pgid as i32), None::<Signal>).is_ok();
    for &g in &groups {
        let _ = killpg(Pid::from_raw(g as i32), Signal::SIGCONT);
        let _ = killpg(Pid::from_raw(g as i32), Signal::SIGTERM);
    }
    let deadline = Instant::now() + STOP_OWN_GRACE;
    let mut left: Vec<u32> = groups.clone();
    while !left.is_empty() && Instant::now() < deadline {
        // The leaders are reaped by their drivers' monitor tasks, which keep running.
        tokio::time::sleep(Duration::from_millis(20)).await;
        left.retain(|&g| alive(g));
    }
    for g in left {
        let _ = killpg(Pid::from_raw(g as i32), Signal::SIGKILL);
    }
    groups.len()
}

/// Appends timestamped lines to `sut.log`.
#[derive(Clone)]
pub(super) struct Log {
    pub(super) path: PathBuf,
    file: Arc<Mutex<File>>,
}

impl Log {
    pub(super) fn open(path: PathBuf) -> Result<Self, SutError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| SutError::Log {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    pub(super) fn line(&self, stream: &str, text: &str) {
        let ts = Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writeln!(f, "{ts} [{stream}] {text}") {
            tracing::warn!(path = %self.path.display(), error = %e, "could not write sut.log");
        }
    }

    pub(super) fn tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// One spawned process.
pub(super) struct Proc {
    pub(super) pid: u32,
    pub(super) spawned: Instant,
    pub(super) exit: watch::Receiver<Option<ExitStatus>>,
    pub(super) expected: Arc<AtomicBool>,
    pub(super) readers: Vec<JoinHandle<()>>,
    pub(super) monitor: JoinHandle<()>,
}

impl Proc {
    pub(super) fn exited(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    pub(super) async fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let _ = tokio::time::timeout(limit, self.exit.wait_for(Option::is_some)).await;
        self.exited()
    }

    /// Waits (briefly) until the pipes are drained into the log.
    pub(super) async fn drain(&mut self) {
        for r in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(1), r).await;
        }
    }
}

/// Copies one output stream into the log, line by line.
async fn pump(stream: impl AsyncRead + Unpin, name: &'static str, log: Log) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                log.line(name, text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// Spawns the SUT's command in its own process group, its output pumped into the log and
/// its exit watched (an exit the driver did not cause is reported as a crash).
pub(super) fn spawn(
    start: &ResolvedStart,
    log: &Log,
    events: &mpsc::UnboundedSender<SutEvent>,
) -> Result<Proc, SutError> {
    let (program, args) = start.command.split_first().ok_or_else(|| SutError::Spawn {
        command: String::new(),
        source: std::io::Error::other("empty command"),
    })?;
    let command_line = start.command.join(" ");
    let mut cmd = Command::new(program);
    cmd.args(args)
        .envs(&start.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| SutError::Spawn {
        command: command_line.clone(),
        source,
    })?;
    let pid = child.id().unwrap_or_default();
    own_groups().insert(pid);
    log.line("andon", &format!("started pid {pid}: {command_line}"));
    tracing::info!(pid, command = %command_line, "SUT started");
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(tokio::spawn(pump(out, "stdout", log.clone())));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(tokio::spawn(pump(err, "stderr", log.clone())));
    }
    let (exit_tx, exit) = watch::channel(None);
    let expected = Arc::new(AtomicBool::new(false));
    let monitor = {
        let log = log.clone();
        let events = events.clone();
        let expected = expected.clone();
        tokio::spawn(async move {
            let status = child.wait().await;
            let expected = expected.load(Ordering::SeqCst);
            match status {
                Ok(status) => {
                    log.line(
                        "andon",
                        &format!(
                            "pid {pid} exited: {status}{}",
                            if expected { "" } else { " (unexpected)" }
                        ),
                    );
                    if !expected {
                        tracing::warn!(pid, %status, "the SUT exited unexpectedly");
                    }
                    let _ = events.send(SutEvent {
                        at: Utc::now(),
                        what: SutEventKind::Exited {
                            pid,
                            status: status.to_string(),
                            expected,
                        },
                    });
                    let _ = exit_tx.send(Some(status));
                }
                Err(e) => {
                    log.line("andon", &format!("could not wait for pid {pid}: {e}"));
                }
            }
        })
    };
    Ok(Proc {
        pid,
        spawned: Instant::now(),
        exit,
        expected,
        readers,
        monitor,
    })
}
