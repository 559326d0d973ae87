//! The containers runtime behind the [`Runtime`] seam: the simulators on the run's private
//! network; a SUT with an image in a container on that network (reached by name, its
//! store under `/var/andon/run`), any other SUT a local process the simulators reach
//! through the host gateway (`host.docker.internal`); faults through the engine.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use andon_contracts::System;
use andon_simulators::History;
use andon_simulators::emitter::EmitterStats;
use andon_simulators::faults::FaultSpec;
use andon_simulators::history::Record;

use super::{Containers, PORT, SutContainer};
use crate::broker::{BrokerConfig, BrokerError, BrokerNode};
use crate::engine::runtime::{
    BoxFuture, Placement, Runtime, RuntimeError, RuntimeKind, SutHandle, rebase_sut,
};
use crate::scenario::EngineFault;
use crate::sut::{Placeholders, ResolvedSut, SutDriver, SutError, SutManifest};

/// Where a SUT in a container finds its run directory (mounted from the host's).
pub const SUT_RUN_DIR: &str = "/var/andon/run";
/// How the simulators' containers reach a SUT running on this host.
pub const HOST_GATEWAY: &str = "host.docker.internal";

impl Runtime for Containers {
    fn placement(&self, manifest: &SutManifest) -> Placement {
        let inside = RuntimeKind::Containers.hosts_sut(manifest);
        let sim_urls = System::ALL
            .into_iter()
            .map(|s| {
                let url = if inside {
                    self.internal_url(s)
                } else {
                    self.host_url(s)
                };
                (s, url)
            })
            .collect();
        Placement {
            sim_urls,
            sut_host: Some(if inside {
                SutContainer::network_name(self)
            } else {
                HOST_GATEWAY.to_string()
            }),
            sut_port: inside.then_some(PORT),
            run_dir: inside.then(|| PathBuf::from(SUT_RUN_DIR)),
        }
    }

    fn start_sut<'a>(
        &'a self,
        manifest: &'a SutManifest,
        sut: &'a mut ResolvedSut,
        ph: &'a Placeholders,
        run_dir: &'a Path,
    ) -> BoxFuture<'a, Result<Box<dyn SutHandle>, SutError>> {
        Box::pin(async move {
            // Where the simulators reach the SUT; andon itself reaches it elsewhere.
            let inside = ph.sut_port.map(|p| format!("http://{}:{p}", ph.sut_host));
            if RuntimeKind::Containers.hosts_sut(manifest)
                && let Some(start) = sut.start.clone()
            {
                let container = SutContainer::create(self, &start, run_dir, &ph.sut_host).await?;
                let outside = container.host_url().await?;
                rebase_sut(sut, inside.as_deref(), &outside);
                let ready = sut
                    .start
                    .as_ref()
                    .map(|s| s.ready.clone())
                    .unwrap_or_default();
                if let Err(e) = container.wait_ready(&ready).await {
                    let _ = container.stop().await;
                    return Err(e);
                }
                return Ok(Box::new(container) as Box<dyn SutHandle>);
            }
            if let Some(p) = ph.sut_port {
                rebase_sut(sut, inside.as_deref(), &format!("http://127.0.0.1:{p}"));
            }
            let mut driver = SutDriver::new(sut.clone(), run_dir)?;
            driver.start().await?;
            Ok(Box::new(driver) as Box<dyn SutHandle>)
        })
    }

    fn start_broker<'a>(
        &'a self,
        manifest: &'a SutManifest,
        dir: &'a Path,
        config: &'a BrokerConfig,
    ) -> BoxFuture<'a, Result<Box<dyn BrokerNode>, BrokerError>> {
        Box::pin(async move {
            let inside = RuntimeKind::Containers.hosts_sut(manifest);
            let b = super::BrokerContainer::start(self, dir, config, inside).await?;
            Ok(Box::new(b) as Box<dyn BrokerNode>)
        })
    }

    fn set_routes<'a>(
        &'a self,
        system: System,
        routes: &'a andon_simulators::emitter::Routes,
    ) -> BoxFuture<'a, Result<(), RuntimeError>> {
        Box::pin(async move {
            match self.admin_of(system) {
                Some(a) => Ok(a
                    .set_routes(routes)
                    .await
                    .map_err(crate::containers::ContainerError::from)?),
                None => Ok(()),
            }
        })
    }

    fn step(&self, system: System, n: usize) -> usize {
        Containers::step(self, system, n);
        0
    }

    fn finish_steps(&self) -> BoxFuture<'_, Option<u64>> {
        Box::pin(async move { Some(Containers::finish_steps(self).await) })
    }

    fn apply_fault(
        &self,
        system: System,
        spec: FaultSpec,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let Some(admin) = self.admin_of(system) else {
                return Ok(());
            };
            admin
                .apply_fault(&spec)
                .await
                .map(drop)
                .map_err(|e| RuntimeError::Fault {
                    system,
                    kind: spec.kind.name().to_string(),
                    source: Box::new(e),
                })
        })
    }

    fn reconfigure(
        &self,
        system: System,
        patch: andon_simulators::core::ConfigPatch,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            match self.admin_of(system) {
                Some(admin) => Ok(admin
                    .configure(&patch)
                    .await
                    .map_err(crate::containers::ContainerError::from)?),
                None => Ok(()),
            }
        })
    }

    fn engine_fault(
        &self,
        system: System,
        fault: EngineFault,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move { Ok(Containers::engine_fault(self, system, fault).await?) })
    }

    fn progress(&self) -> (usize, usize) {
        Containers::progress(self)
    }

    fn emitter_stats(&self) -> BTreeMap<System, EmitterStats> {
        Containers::emitter_stats(self)
    }

    fn live_history(&self) -> Option<&History> {
        None
    }

    fn snapshots(
        &self,
    ) -> BoxFuture<'_, Result<BTreeMap<System, serde_json::Value>, RuntimeError>> {
        Box::pin(async move { Ok(Containers::snapshots(self).await?) })
    }

    fn records(&self) -> BoxFuture<'_, Result<Vec<Record>, RuntimeError>> {
        Box::pin(async move { Ok(Containers::records(self).await?) })
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(Containers::stop(*self))
    }
}

/// A SUT in a container of the run.
impl SutHandle for SutContainer {
    fn restart(&mut self, down: std::time::Duration) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutContainer::restart(self, down))
    }

    fn kill_and_restart(
        &mut self,
        down: std::time::Duration,
    ) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutContainer::kill_and_restart(self, down))
    }

    fn pause(&mut self) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutContainer::pause(self))
    }

    fn resume(&mut self) -> BoxFuture<'_, Result<(), SutError>> {
        Box::pin(SutContainer::resume(self))
    }

    fn stop(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            if let Err(e) = SutContainer::stop(*self).await {
                tracing::warn!(error = %e, "the SUT's container could not be removed");
            }
        })
    }
}
