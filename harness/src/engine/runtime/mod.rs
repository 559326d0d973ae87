//! The runtime seam: where the four simulators and the SUT of a run are placed, how they
//! reach each other, and how faults beyond a simulator's own registry are made. The run
//! ([`crate::engine::run`]) sees only the [`Runtime`] trait; each runtime is one room:
//!
//! * [`in_process`] — the embedded default: each simulator a task on a 127.0.0.1
//!   ephemeral port, all appending to one history; the SUT a child process.
//! * [`containers`] — every simulator in its own container on a private network
//!   (testcontainers); the SUT in a container when its manifest names an image.
//!
//! A new runtime implements [`Runtime`] (and, when it hosts the SUT itself, [`SutHandle`])
//! and is chosen in [`start`] by its [`RuntimeKind`].

pub mod containers;
pub mod in_process;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use andon_contracts::System;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::faults::FaultSpec;
use andon_simulators::history::Record;
use andon_simulators::{History, MasterData};

use crate::broker::{BrokerConfig, BrokerError, BrokerNode};
use crate::scenario::EngineFault;
use crate::sut::{Placeholders, ResolvedSut, SutError, SutManifest};

pub use in_process::InProcess;

/// A boxed future, so that [`Runtime`] can be used as `dyn Runtime`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which runtime a run uses (`--runtime`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum RuntimeKind {
    /// Simulators inside the andon process, the SUT as a child process.
    #[default]
    InProcess,
    /// Every simulator in its own container on a private network; the SUT in a container
    /// when its manifest names an image (otherwise a local process).
    Containers,
}

impl RuntimeKind {
    /// Whether this runtime hosts the SUT of `manifest` itself (the containers runtime,
    /// when the manifest names an image) rather than as the manifest's local command.
    pub fn hosts_sut(self, manifest: &SutManifest) -> bool {
        self == Self::Containers && manifest.start.as_ref().is_some_and(|s| s.image.is_some())
    }

    /// What must exist on this machine before a run of this kind can start, checked up
    /// front (the containers runtime: an engine and its images).
    pub async fn check_ready(self, reference_sut: bool) -> Result<(), RuntimeError> {
        match self {
            Self::InProcess => Ok(()),
            Self::Containers => {
                Ok(containers::check_engine(&containers::images_needed(reference_sut)).await?)
            }
        }
    }
}

/// Starts the four simulators of a run in the runtime of `kind`.
pub async fn start(
    kind: RuntimeKind,
    master: &MasterData,
    settings: &BTreeMap<System, SystemSettings>,
) -> Result<Box<dyn Runtime>, RuntimeError> {
    Ok(match kind {
        RuntimeKind::InProcess => Box::new(InProcess::start(master, settings).await?),
        RuntimeKind::Containers => Box::new(containers::Containers::start(master, settings).await?),
    })
}

/// Errors of a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The containers runtime failed.
    #[error(transparent)]
    Containers(#[from] containers::ContainerError),
    /// A listener could not be bound.
    #[error("could not bind a port for the {system} simulator: {source}")]
    Bind {
        /// Which simulator.
        system: System,
        /// Cause.
        source: std::io::Error,
    },
    /// A fault was refused by the simulator.
    #[error("the {system} simulator refused fault {kind}: {source}")]
    Fault {
        /// Which simulator.
        system: System,
        /// Fault kind.
        kind: String,
        /// Why: the simulator's refusal, or the container engine's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An option was refused.
    #[error("option for {system} refused: {source}")]
    Option {
        /// Which simulator.
        system: System,
        /// Why.
        source: andon_simulators::core::ConfigPatchError,
    },
}

impl RuntimeError {
    /// Whether the run cannot be made here as asked (no engine, no image): the user's to
    /// fix, not a failure of the run.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Containers(
                containers::ContainerError::NoEngine(_) | containers::ContainerError::NoImage(_)
            )
        )
    }
}

/// What one simulator starts with, in any runtime (`andon simulator --settings FILE` reads
/// the same JSON); it lives with the simulators, whose standalone entrypoint reads it.
pub use andon_simulators::core::SystemSettings;

/// Where a runtime placed the run: how the SUT reaches the simulators and how they reach
/// the SUT. It fills the manifest's placeholders.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Each simulator's base URL as the SUT reaches it (`{erp.url}`, …).
    pub sim_urls: BTreeMap<System, String>,
    /// The host the simulators reach the SUT by (`{sut.host}`); `None`: 127.0.0.1.
    pub sut_host: Option<String>,
    /// The port the SUT must listen on when the runtime fixes it; `None`: a free port of
    /// this host (`{sut.port}`).
    pub sut_port: Option<u16>,
    /// The run directory as the SUT sees it (`{run.dir}`); `None`: the host's own.
    pub run_dir: Option<PathBuf>,
}

/// The simulators of a run, wherever they run. Every method means the same in every
/// runtime; a runtime that cannot know something at once says so in the type (`Option`).
pub trait Runtime: Send + Sync {
    /// Where the SUT of `manifest` goes and how it and the simulators reach each other.
    fn placement(&self, manifest: &SutManifest) -> Placement;

    /// Starts the SUT (its placeholders already filled with [`Runtime::placement`]) and
    /// waits until it is ready. The URLs andon itself calls (ready, dead letters, backlog)
    /// are rewritten in `sut` to where andon reaches the SUT.
    fn start_sut<'a>(
        &'a self,
        manifest: &'a SutManifest,
        sut: &'a mut ResolvedSut,
        ph: &'a Placeholders,
        run_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Box<dyn SutHandle>, SutError>>;

    /// Starts the run's MQTT broker where this runtime puts it, its files under `dir`
    /// (before the SUT, whose `{broker}` it fills).
    fn start_broker<'a>(
        &'a self,
        manifest: &'a SutManifest,
        dir: &'a Path,
        config: &'a BrokerConfig,
    ) -> BoxFuture<'a, Result<Box<dyn BrokerNode>, BrokerError>>;

    /// Sets where a simulator delivers its events: every plant's ingress, and the plants'
    /// own (a plant whose events go to a broker).
    fn set_routes<'a>(
        &'a self,
        system: System,
        routes: &'a andon_simulators::emitter::Routes,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// Asks `system` for `n` steps of plant activity; returns the events emitted when the
    /// runtime knows at once (otherwise 0, and [`Runtime::finish_steps`] counts them).
    fn step(&self, system: System, n: usize) -> usize;

    /// Waits for every step asked for; the events they emitted when [`Runtime::step`] did
    /// not count them (`None`: it did).
    fn finish_steps(&self) -> BoxFuture<'_, Option<u64>>;

    /// Applies a fault through the simulator's own registry.
    fn apply_fault(
        &self,
        system: System,
        spec: FaultSpec,
    ) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Changes a simulator's run-time switches (a vendor release cut over: `dialects`).
    fn reconfigure(
        &self,
        system: System,
        patch: andon_simulators::core::ConfigPatch,
    ) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// Carries out a fault of the runtime itself (pause, stop, disconnect a simulator; the
    /// in-process runtime stands in with the simulator's own faults) and returns when its
    /// `for` has passed and it is undone.
    fn engine_fault(
        &self,
        system: System,
        fault: EngineFault,
    ) -> BoxFuture<'_, Result<(), RuntimeError>>;

    /// History records that are not idle reads (`Entry::is_idle_read`) and buffered events
    /// over every simulator (as last read).
    fn progress(&self) -> (usize, usize);

    /// Each simulator's emitter counters (as last read).
    fn emitter_stats(&self) -> BTreeMap<System, EmitterStats>;

    /// The history as it grows, when it can be read while the run goes on.
    fn live_history(&self) -> Option<&History>;

    /// Final state snapshots of every simulator.
    fn snapshots(&self)
    -> BoxFuture<'_, Result<BTreeMap<System, serde_json::Value>, RuntimeError>>;

    /// The run's history.
    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RuntimeError>>;

    /// Stops every simulator and removes what the runtime made.
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// The SUT of a run, as its runtime started it: a local process or one the runtime hosts.
pub trait SutHandle: Send {
    /// Stops it gracefully and starts it again after `down`.
    fn restart(&mut self, down: std::time::Duration) -> BoxFuture<'_, Result<(), SutError>>;
    /// Kills it (no chance to flush) and starts it again after `down`.
    fn kill_and_restart(
        &mut self,
        down: std::time::Duration,
    ) -> BoxFuture<'_, Result<(), SutError>>;
    /// Freezes it.
    fn pause(&mut self) -> BoxFuture<'_, Result<(), SutError>>;
    /// Lets it go on after [`SutHandle::pause`].
    fn resume(&mut self) -> BoxFuture<'_, Result<(), SutError>>;
    /// Stops it (a container removed, its output kept in `sut.log`).
    fn stop(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// Rewrites the URLs andon itself calls (ready, dead letters, backlog) from the SUT's
/// address as the simulators see it (`inside`) to `outside`.
pub fn rebase_sut(sut: &mut ResolvedSut, inside: Option<&str>, outside: &str) {
    let Some(inside) = inside else {
        return;
    };
    let fix = |u: &mut String| {
        if let Some(rest) = u.strip_prefix(inside) {
            *u = format!("{outside}{rest}");
        }
    };
    if let Some(s) = sut.start.as_mut() {
        fix(&mut s.ready);
    }
    for u in sut.dead_letters.iter_mut().chain(sut.backlog.iter_mut()) {
        fix(u);
    }
}
