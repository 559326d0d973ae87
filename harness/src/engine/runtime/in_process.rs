//! The in-process runtime (the embedded default): each simulator a task on a 127.0.0.1
//! ephemeral port, all appending to one history, and the SUT a child process of andon.
//! Engine faults have stand-ins made of the simulator's own faults for the same `for`.

use std::collections::BTreeMap;
use std::path::Path;

use andon_contracts::System;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::faults::FaultSpec;
use andon_simulators::history::Record;
use andon_simulators::{History, MasterData, Simulator};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{BoxFuture, Placement, Runtime, RuntimeError, SutHandle, SystemSettings};
use crate::broker::{Broker, BrokerConfig, BrokerError, BrokerNode};
use crate::scenario::EngineFault;
use crate::sut::{Placeholders, ResolvedSut, SutDriver, SutError, SutManifest};

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
            s.patch
                .apply(&sim.core)
                .map_err(|source| RuntimeError::Option { system, source })?;
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
            .add(spec)
            .map_err(|e| RuntimeError::Fault {
                system,
                kind,
                source: Box::new(e),
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

impl Runtime for InProcess {
    fn placement(&self, _manifest: &SutManifest) -> Placement {
        Placement {
            sim_urls: System::ALL
                .into_iter()
                .map(|s| (s, self.url(s).to_string()))
                .collect(),
            sut_host: None,
            sut_port: None,
            run_dir: None,
        }
    }

    fn start_sut<'a>(
        &'a self,
        _manifest: &'a SutManifest,
        sut: &'a mut ResolvedSut,
        _ph: &'a Placeholders,
        run_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Box<dyn SutHandle>, SutError>> {
        Box::pin(async move {
            let mut driver = SutDriver::new(sut.clone(), run_dir)?;
            driver.start().await?;
            Ok(Box::new(driver) as Box<dyn SutHandle>)
        })
    }

    fn start_broker<'a>(
        &'a self,
        _manifest: &'a SutManifest,
        dir: &'a Path,
        config: &'a BrokerConfig,
    ) -> BoxFuture<'a, Result<Box<dyn BrokerNode>, BrokerError>> {
        Box::pin(
            async move { Ok(Box::new(Broker::start(dir, config).await?) as Box<dyn BrokerNode>) },
        )
    }

    fn set_routes<'a>(
        &'a self,
        system: System,
        routes: &'a andon_simulators::emitter::Routes,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        self.sims[&system].core.emitter.set_routes(routes.clone());
        Box::pin(async { Ok(()) })
    }

    fn step(&self, system: System, n: usize) -> usize {
        InProcess::step(self, system, n)
    }

    fn finish_steps(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async { None })
    }

    fn apply_fault(
        &self,
        system: System,
        spec: FaultSpec,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let r = InProcess::apply_fault(self, system, spec).map(drop);
        Box::pin(async move { r })
    }

    fn reconfigure(
        &self,
        system: System,
        patch: andon_simulators::core::ConfigPatch,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let r = patch
            .apply(&self.sims[&system].core)
            .map_err(|source| RuntimeError::Option { system, source });
        Box::pin(async move { r })
    }

    fn engine_fault(
        &self,
        system: System,
        fault: EngineFault,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            for kind in fault.kind.in_process() {
                let mut spec = FaultSpec::new(kind);
                spec.duration = Some(fault.duration);
                InProcess::apply_fault(self, system, spec)?;
            }
            tokio::time::sleep(fault.duration.0).await;
            Ok(())
        })
    }

    fn progress(&self) -> (usize, usize) {
        (self.history().activity(), self.pending())
    }

    fn emitter_stats(&self) -> BTreeMap<System, EmitterStats> {
        InProcess::emitter_stats(self)
    }

    fn live_history(&self) -> Option<&History> {
        Some(self.history())
    }

    fn snapshots(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<System, serde_json::Value>, RuntimeError>> {
        let s = InProcess::snapshots(self);
        Box::pin(async move { Ok(s) })
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RuntimeError>> {
        let r = InProcess::records(self);
        Box::pin(async move { Ok(r) })
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(InProcess::stop(*self))
    }
}

/// A SUT run as a local process by its manifest's command.
impl SutHandle for SutDriver {
    fn restart(&mut self, down: std::time::Duration) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutDriver::restart_after(self, down))
    }

    fn kill_and_restart(
        &mut self,
        down: std::time::Duration,
    ) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutDriver::kill_and_restart_after(self, down))
    }

    fn pause(&mut self) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutDriver::pause(self))
    }

    fn resume(&mut self) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutDriver::resume(self))
    }

    fn stop(mut self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = SutDriver::stop(&mut self).await;
        })
    }
}
