//! Stage 2: the four simulators started in the runtime, the SUT placed by the runtime
//! (its placeholders filled from the [`Placement`]) and started, ready awaited, and the
//! simulators' emitters pointed at its ingress.

use std::collections::BTreeMap;
use std::sync::Arc;

use andon_contracts::System;
use chrono::Utc;

use super::prepare::Prepared;
use super::{RunError, RunOptions, transport};
use crate::broker::{BrokerConfig, BrokerNode};
use crate::engine::runtime::{self, Runtime, SutHandle, SystemSettings};
use crate::sut::{Placeholders, free_port};

/// The simulators and the SUT of a run, up and connected.
pub(super) struct Started {
    pub(super) rt: Arc<Box<dyn Runtime>>,
    pub(super) sut: crate::sut::ResolvedSut,
    /// When the SUT was started.
    pub(super) at: chrono::DateTime<Utc>,
    /// The run's MQTT broker, when a plant publishes to one.
    pub(super) broker: Option<Arc<tokio::sync::Mutex<Box<dyn BrokerNode>>>>,
    /// The SUT's other instances, when the scenario runs several.
    pub(super) more: Vec<super::instances::Instance>,
}

/// How [`start`] ended.
#[allow(clippy::large_enum_variant)] // once per run
pub(super) enum Start {
    /// Up, with the SUT's handle (which the SUT faults then own until settling).
    Ready(Started, Box<dyn SutHandle>),
    /// The SUT did not start or never became ready: why, with its log's tail.
    SutFailed(String),
}

/// Stage 2: starts the four simulators in the runtime, then the SUT where the runtime
/// places it (placeholders filled, ready awaited), and points the simulators' emitters at
/// the SUT's ingress.
pub(super) async fn start(opts: &RunOptions, p: &Prepared) -> Result<Start, RunError> {
    let plan = transport::plan(&p.manifest, &p.scenario)?;
    refuse_early(opts, p, &plan)?;
    let rt = runtime::start(opts.runtime, &p.master, &sim_settings(p)).await?;
    let mut ph = match placeholders(rt.as_ref(), opts, p) {
        Ok(ph) => ph,
        Err(e) => {
            rt.stop().await;
            return Err(e);
        }
    };
    let broker = if plan.uses_mqtt() {
        match start_broker(rt.as_ref(), p).await {
            Ok(b) => Some(b),
            Err(e) => {
                rt.stop().await;
                return Err(e);
            }
        }
    } else {
        None
    };
    ph.broker = broker.as_ref().map(|b| b.sut_url());
    if plan.uses_mqtt() {
        tracing::info!(transports = %plan.describe(), "events go over a broker");
    }
    let broker_address = broker.as_ref().map(|b| b.publish_address());
    let mut sut = match p.manifest.resolve(&ph) {
        Ok(s) => s,
        Err(e) => {
            rt.stop().await;
            return Err(e.into());
        }
    };
    if let Some(start) = sut.start.as_mut().filter(|_| !opts.defects.is_empty()) {
        start
            .env
            .insert("DEFECTS".to_string(), opts.defects.join(","));
    }
    let at = Utc::now();
    let driver = match rt.start_sut(&p.manifest, &mut sut, &ph, &p.dir.0).await {
        Ok(d) => d,
        Err(e) => {
            rt.stop().await;
            return Ok(Start::SutFailed(e.to_string()));
        }
    };
    let more = match super::instances::start_more(rt.as_ref(), opts, p, &ph).await {
        Ok(Ok(more)) => more,
        Ok(Err(why)) => {
            driver.stop().await;
            rt.stop().await;
            return Ok(Start::SutFailed(why));
        }
        Err(e) => {
            driver.stop().await;
            rt.stop().await;
            return Err(e);
        }
    };
    if let Err(e) = point_emitters(rt.as_ref(), &plan, &sut, broker_address.as_deref()).await {
        driver.stop().await;
        for i in more {
            i.handle.stop().await;
        }
        rt.stop().await;
        return Err(e);
    }
    Ok(Start::Ready(
        Started {
            rt: Arc::new(rt),
            sut,
            at,
            broker: broker.map(|b| Arc::new(tokio::sync::Mutex::new(b))),
            more,
        },
        driver,
    ))
}

/// What cannot run here, refused before anything starts: instances andon cannot start,
/// broker faults with no plant on the broker, a broker that is not installed or not in
/// this runtime.
fn refuse_early(opts: &RunOptions, p: &Prepared, plan: &transport::Plan) -> Result<(), RunError> {
    if let Some(why) = super::instances::refuse(opts, p) {
        return Err(RunError::Transport(why));
    }
    if !plan.uses_mqtt() && p.scenario.broker_faults().next().is_some() {
        return Err(RunError::Transport(format!(
            "{}: the scenario has broker faults, and no plant publishes to the broker (`transport: mqtt`, for a system whose events the SUT consumes from one)",
            opts.scenario.display()
        )));
    }
    if plan.uses_mqtt() && opts.runtime == crate::engine::runtime::RuntimeKind::InProcess {
        crate::broker::find()?;
    }
    let partitioned = p
        .scenario
        .broker_faults()
        .any(|(_, f)| f.kind == crate::scenario::BrokerFaultKind::Partition);
    if partitioned && !opts.runtime.hosts_sut(&p.manifest) {
        return Err(crate::broker::BrokerError::NoPartition(format!(
            "{} cuts the broker off the SUT",
            opts.scenario.display()
        ))
        .into());
    }
    Ok(())
}

/// What each simulator starts with.
fn sim_settings(p: &Prepared) -> BTreeMap<System, SystemSettings> {
    System::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                SystemSettings {
                    config: p.scenario.sim_config(s),
                    patch: p.scenario.config_patch(s),
                },
            )
        })
        .collect()
}

/// Points every simulator's emitter at the SUT: its webhooks, and topics on the broker
/// (`broker`: `host:port` as the simulators reach it).
async fn point_emitters(
    rt: &dyn Runtime,
    plan: &transport::Plan,
    sut: &crate::sut::ResolvedSut,
    broker: Option<&str>,
) -> Result<(), RunError> {
    for system in System::ALL {
        let routes = plan.routes(system, sut, broker);
        rt.set_routes(system, &routes).await?;
    }
    Ok(())
}

/// The run's broker configuration, as the scenario sets it up.
pub(super) fn broker_config(p: &Prepared) -> BrokerConfig {
    let mut config = BrokerConfig::default();
    if let Some(n) = p.scenario.broker.max_queued_messages {
        config.max_queued_messages = n;
    }
    config
}

/// Starts the run's broker as the scenario sets it up, and leaves on it the stale retained
/// events the scenario asks for (before the SUT subscribes).
async fn start_broker(rt: &dyn Runtime, p: &Prepared) -> Result<Box<dyn BrokerNode>, RunError> {
    let options = &p.scenario.broker;
    let config = broker_config(p);
    let broker = rt
        .start_broker(&p.manifest, &p.dir.0.join("broker"), &config)
        .await?;
    if options.stale_retained > 0 {
        let Some(wms) = p
            .manifest
            .ingress
            .get(&System::Wms)
            .and_then(|i| i.mqtt.as_ref())
        else {
            return Err(RunError::Transport(
                "broker.stale_retained leaves events on the WMS's topics, and the SUT's manifest declares no mqtt ingress for wms".into(),
            ));
        };
        let events = crate::broker::stale::events(&p.master, options.stale_retained);
        let topics = crate::broker::stale::publish(&broker.host_address(), wms, &events)
            .await
            .map_err(RunError::Transport)?;
        tracing::info!(
            n = events.len(),
            ?topics,
            "stale retained events left on the broker"
        );
    }
    Ok(broker)
}

/// The manifest's placeholders where the runtime placed the run: the simulators' URLs as
/// the SUT reaches them, the SUT's host and port, and the run directory as it sees it.
fn placeholders(
    rt: &dyn Runtime,
    opts: &RunOptions,
    p: &Prepared,
) -> Result<Placeholders, RunError> {
    let placement = rt.placement(&p.manifest);
    let port = match (p.manifest.is_managed(), placement.sut_port) {
        (false, _) => None,
        (true, Some(fixed)) => Some(fixed),
        (true, None) => Some(free_port().map_err(|source| RunError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?),
    };
    let mut ph = Placeholders::new(placement.sim_urls, port, &p.dir.0);
    ph.dialects = p.scenario.erp_dialects();
    if let Some(a) = &opts.andon {
        ph.andon = a.clone();
    }
    if let Some(host) = placement.sut_host {
        ph.sut_host = host;
    }
    if let Some(dir) = placement.run_dir {
        ph.run_dir = dir;
    }
    Ok(ph)
}
