//! What the SUT driver reports: why it could not do what it was asked ([`SutError`]), and
//! what happened to the SUT's process ([`SutEvent`]).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Why the driver could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum SutError {
    /// The manifest has no `[start]`: andon does not control the process.
    #[error(
        "{action} is not applicable: the manifest has no [start], so the SUT runs outside andon's control"
    )]
    NotApplicable {
        /// What was asked (`restart`, `kill`, `pause`, `resume`).
        action: &'static str,
    },
    /// The manifest names a container image, which the in-process runtime cannot run.
    #[error(
        "the manifest starts the SUT from the image {image:?}: that needs the containers runtime"
    )]
    NeedsContainers {
        /// The image.
        image: String,
    },
    /// The program could not be started.
    #[error("could not start the SUT ({command}): {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Cause.
        source: std::io::Error,
    },
    /// `sut.log` could not be opened.
    #[error("could not open {path}: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The SUT exited before it answered its readiness URL.
    #[error("the SUT exited before it was ready ({status}); the end of sut.log:\n{log_tail}")]
    Died {
        /// How it exited.
        status: ExitStatus,
        /// The last lines of `sut.log`.
        log_tail: String,
    },
    /// The SUT never answered 2xx at its readiness URL (it has been killed).
    #[error(
        "the SUT did not answer 2xx at {url} within {}s (it was killed); the end of sut.log:\n{log_tail}",
        waited.as_secs_f64()
    )]
    NeverReady {
        /// The readiness URL.
        url: String,
        /// How long andon waited.
        waited: Duration,
        /// The last lines of `sut.log`.
        log_tail: String,
    },
    /// The SUT is not running.
    #[error("the SUT is not running")]
    NotRunning,
    /// The container engine failed to start, stop, kill or pause the SUT's container.
    #[error("the SUT's container: {0}")]
    Container(String),
    /// A signal could not be sent.
    #[error("could not send {signal} to the SUT: {source}")]
    Signal {
        /// The signal.
        signal: &'static str,
        /// Cause.
        source: nix::Error,
    },
}

/// Something that happened to the SUT process (for the history and the report).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SutEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    #[serde(flatten)]
    pub what: SutEventKind,
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SutEventKind {
    /// The process was spawned.
    Started {
        /// Process id.
        pid: u32,
    },
    /// The readiness URL answered 2xx.
    Ready {
        /// Milliseconds from spawn.
        after_ms: u64,
    },
    /// The driver sent a signal.
    Signalled {
        /// Process id.
        pid: u32,
        /// `SIGTERM`, `SIGKILL`, `SIGSTOP`, `SIGCONT`.
        signal: String,
    },
    /// The process exited.
    Exited {
        /// Process id.
        pid: u32,
        /// How (`exit status: 0`, `signal: 9 (SIGKILL)`).
        status: String,
        /// Whether the driver caused it (stop, kill, restart); false is a crash.
        expected: bool,
    },
}
