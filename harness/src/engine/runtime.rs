//! Runtimes host the four simulators for a run. In-process (the embedded default): each
//! simulator is a task on a 127.0.0.1 ephemeral port, all appending to one history.

use std::collections::BTreeMap;

use andon_contracts::System;
use andon_simulators::core::ConfigPatch;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::faults::FaultSpec;
use andon_simulators::history::Record;
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Where simulators and the SUT run.
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
pub enum Runtime {
    /// Simulators inside the andon process, the SUT as a child process.
    #[default]
    InProcess,
    /// Every simulator in its own container on a private network; the SUT in a container
    /// when its manifest names an image (otherwise a local process).
    Containers,
}

/// The images a containers run needs: the simulators', and the reference middleware's
/// when it is the SUT.
pub fn images_needed(reference_sut: bool) -> Vec<String> {
    let tag = crate::containers::image_tag();
    let mut v = vec![format!("{}:{tag}", crate::containers::IMAGE)];
    if reference_sut {
        v.push(format!("{}:{tag}", crate::containers::REFERENCE_IMAGE));
    }
    v
}

/// Errors of a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The containers runtime failed.
    #[error(transparent)]
    Containers(#[from] crate::containers::ContainerError),
    /// A listener could not be bound.
    #[error("could not bind a port for the {system} simulator: {source}")]
    Bind {
        /// Which simulator.
        system: System,
        /// Cause.
        source: std::io::Error,
    },
    /// A fault was refused by the simulator.
    #[error("the {system} simulator refused fault {kind}: {reason}")]
    Fault {
        /// Which simulator.
        system: System,
        /// Fault kind.
        kind: String,
        /// Why.
        reason: String,
    },
    /// An option was refused.
    #[error("option for {system} refused: {reason}")]
    Option {
        /// Which simulator.
        system: System,
        /// Why.
        reason: String,
    },
}

/// Per-system settings of a run.
#[derive(Debug, Clone, Default)]
pub struct SystemSettings {
    /// Settings at start.
    pub config: SimConfig,
    /// Run-time switches applied right after start (idempotency, auth, periods).
    pub patch: ConfigPatch,
}

/// The four simulators of a run, in this process.
pub struct InProcess {
    sims: BTreeMap<System, Simulator>,
    urls: BTreeMap<System, String>,
    history: History,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl InProcess {
    /// Starts every simulator on 127.0.0.1:0 with one shared history.
    pub async fn start(
        master: &MasterData,
        settings: &BTreeMap<System, SystemSettings>,
    ) -> Result<Self, RuntimeError> {
        let history = History::new();
        let (shutdown, _) = watch::channel(false);
        let mut sims = BTreeMap::new();
        let mut urls = BTreeMap::new();
        let mut tasks = JoinSet::new();
        for system in System::ALL {
            let s = settings.get(&system).cloned().unwrap_or_default();
            let sim = Simulator::new(system, s.config, master.clone(), history.clone());
            apply_patch(&sim, &s.patch)
                .map_err(|reason| RuntimeError::Option { system, reason })?;
            let listener = TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|source| RuntimeError::Bind { system, source })?;
            let addr = listener
                .local_addr()
                .map_err(|source| RuntimeError::Bind { system, source })?;
            urls.insert(system, format!("http://{addr}"));
            let mut rx = shutdown.subscribe();
            let served = sim.clone();
            tasks.spawn(async move {
                let stop = async move {
                    let _ = rx.wait_for(|v| *v).await;
                };
                if let Err(e) = served.serve(listener, stop).await {
                    tracing::error!(%system, error = %e, "simulator stopped serving");
                }
            });
            sims.insert(system, sim);
        }
        Ok(Self {
            sims,
            urls,
            history,
            shutdown,
            tasks,
        })
    }

    /// Base URL of a simulator (`http://127.0.0.1:PORT`).
    pub fn url(&self, system: System) -> &str {
        self.urls
            .get(&system)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The simulator of `system`.
    pub fn sim(&self, system: System) -> &Simulator {
        &self.sims[&system]
    }

    /// The shared history.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Sets where a simulator delivers its events.
    pub fn set_ingress(&self, system: System, url: Option<String>) {
        self.sims[&system].core.emitter.set_ingress(url);
    }

    /// Applies a fault; returns its id.
    pub fn apply_fault(&self, system: System, spec: FaultSpec) -> Result<String, RuntimeError> {
        let kind = spec.kind.name().to_string();
        self.sims[&system]
            .core
            .faults
            .apply(spec)
            .map_err(|reason| RuntimeError::Fault {
                system,
                kind,
                reason,
            })
    }

    /// Generates `n` steps of plant activity on `system`; returns the events emitted.
    pub fn step(&self, system: System, n: usize) -> usize {
        self.sims[&system].behaviour.step(n)
    }

    /// Final state snapshots of every simulator.
    pub fn snapshots(&self) -> BTreeMap<System, serde_json::Value> {
        self.sims
            .iter()
            .map(|(s, sim)| (*s, sim.behaviour.snapshot()))
            .collect()
    }

    /// Events waiting in the emitters' buffers, over all simulators.
    pub fn pending(&self) -> usize {
        self.sims
            .values()
            .map(|s| s.core.emitter.stats().pending)
            .sum()
    }

    /// Each simulator's emitter counters.
    pub fn emitter_stats(&self) -> BTreeMap<System, EmitterStats> {
        self.sims
            .iter()
            .map(|(s, sim)| (*s, sim.core.emitter.stats()))
            .collect()
    }

    /// A copy of the history.
    pub fn records(&self) -> Vec<Record> {
        self.history.snapshot()
    }

    /// Stops every simulator.
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Applies run-time switches to a simulator.
pub fn apply_patch(sim: &Simulator, patch: &ConfigPatch) -> Result<(), String> {
    if let Some(periods) = &patch.open_periods {
        if let Some(bad) = periods
            .iter()
            .find(|p| andon_simulators::masterdata::parse_period(p).is_none())
        {
            return Err(format!("open period {bad:?} must be YYYY/MM"));
        }
        sim.core
            .master
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .open_periods = periods.clone();
    }
    if let Ok(mut c) = sim.core.config.write() {
        if let Some(i) = patch.idempotency {
            c.idempotency = i;
        }
        if let Some(t) = patch.over_confirmation_tolerance_pct {
            c.over_confirmation_tolerance_pct = t;
        }
    }
    if let Some(a) = patch.auth {
        sim.core.auth.set_enabled(a);
    }
    Ok(())
}

/// The simulators of a run, in either runtime.
pub enum Sims {
    /// In this process.
    Local(InProcess),
    /// In containers.
    Docker(Box<crate::containers::Containers>),
}

impl Sims {
    /// Starts the four simulators in `runtime`.
    pub async fn start(
        runtime: Runtime,
        master: &MasterData,
        settings: &BTreeMap<System, SystemSettings>,
    ) -> Result<Self, RuntimeError> {
        match runtime {
            Runtime::InProcess => Ok(Self::Local(InProcess::start(master, settings).await?)),
            Runtime::Containers => {
                let settings = settings
                    .iter()
                    .map(|(s, v)| {
                        (
                            *s,
                            crate::containers::SimulatorSettings {
                                config: v.config.clone(),
                                patch: v.patch.clone(),
                            },
                        )
                    })
                    .collect();
                Ok(Self::Docker(Box::new(
                    crate::containers::Containers::start(master, &settings).await?,
                )))
            }
        }
    }

    /// A simulator's URL as the SUT reaches it: on the run's network when the SUT is a
    /// container (`in_network`), else on this host.
    pub fn url_for_sut(&self, system: System, in_network: bool) -> String {
        match self {
            Self::Local(rt) => rt.url(system).to_string(),
            Self::Docker(rt) if in_network => rt.internal_url(system),
            Self::Docker(rt) => rt.host_url(system),
        }
    }

    /// Sets where a simulator delivers its events.
    pub async fn set_ingress(&self, system: System, url: &str) -> Result<(), RuntimeError> {
        match self {
            Self::Local(rt) => {
                rt.set_ingress(system, Some(url.to_string()));
                Ok(())
            }
            Self::Docker(rt) => Ok(rt.set_ingress(system, Some(url)).await?),
        }
    }

    /// `n` steps of activity on `system`; returns the events emitted when known at once
    /// (in containers they are counted by [`Sims::finish_steps`]).
    pub fn step(&self, system: System, n: usize) -> usize {
        match self {
            Self::Local(rt) => rt.step(system, n),
            Self::Docker(rt) => {
                rt.step(system, n);
                0
            }
        }
    }

    /// Waits for the steps sent in the background; the events they emitted (`None`
    /// in-process, where [`Sims::step`] counted them).
    pub async fn finish_steps(&self) -> Option<u64> {
        match self {
            Self::Local(_) => None,
            Self::Docker(rt) => Some(rt.finish_steps().await),
        }
    }

    /// Applies a simulator fault.
    pub async fn apply_fault(&self, system: System, spec: FaultSpec) -> Result<(), RuntimeError> {
        match self {
            Self::Local(rt) => rt.apply_fault(system, spec).map(drop),
            Self::Docker(rt) => {
                rt.apply_fault(system, &spec)
                    .await
                    .map(drop)
                    .map_err(|e| RuntimeError::Fault {
                        system,
                        kind: spec.kind.name().to_string(),
                        reason: e.to_string(),
                    })
            }
        }
    }

    /// Carries out a fault through the container engine (in-process: its stand-ins for
    /// the same `for`) and returns when it has ended.
    pub async fn engine_fault(
        &self,
        system: System,
        fault: crate::scenario::EngineFault,
    ) -> Result<(), RuntimeError> {
        match self {
            Self::Local(rt) => {
                for kind in fault.kind.in_process() {
                    let mut spec = FaultSpec::new(kind);
                    spec.duration = Some(fault.duration);
                    rt.apply_fault(system, spec)?;
                }
                tokio::time::sleep(fault.duration.0).await;
                Ok(())
            }
            Self::Docker(rt) => Ok(rt.engine_fault(system, fault).await?),
        }
    }

    /// History records and buffered events over every simulator.
    pub fn progress(&self) -> (usize, usize) {
        match self {
            Self::Local(rt) => (rt.history().len(), rt.pending()),
            Self::Docker(rt) => rt.progress(),
        }
    }

    /// Each simulator's emitter counters (in containers, as last polled).
    pub fn emitter_stats(&self) -> BTreeMap<System, EmitterStats> {
        match self {
            Self::Local(rt) => rt.emitter_stats(),
            Self::Docker(rt) => rt.emitter_stats(),
        }
    }

    /// The in-process history, which can be read while the run goes on (`None` in
    /// containers).
    pub fn live_history(&self) -> Option<&History> {
        match self {
            Self::Local(rt) => Some(rt.history()),
            Self::Docker(_) => None,
        }
    }

    /// Final state snapshots.
    pub async fn snapshots(&self) -> Result<BTreeMap<System, serde_json::Value>, RuntimeError> {
        match self {
            Self::Local(rt) => Ok(rt.snapshots()),
            Self::Docker(rt) => Ok(rt.snapshots().await?),
        }
    }

    /// The run's history.
    pub async fn records(&self) -> Result<Vec<Record>, RuntimeError> {
        match self {
            Self::Local(rt) => Ok(rt.records()),
            Self::Docker(rt) => Ok(rt.records().await?),
        }
    }

    /// Stops every simulator (and removes the containers and the network).
    pub async fn stop(self) {
        match self {
            Self::Local(rt) => rt.stop().await,
            Self::Docker(rt) => rt.stop().await,
        }
    }
}
