//! Stage 3: the load (open model) with the fault timeline on the same clock: simulator
//! and engine faults through the runtime, SUT faults through the SUT's handle; and the
//! progress bar.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::faults::FaultSpec;
use chrono::Utc;
use tokio::time::Instant;

use super::finish::LoadStage;
use super::start::Started;
use super::{RunError, RunRecord, humantime_ms};
use crate::engine::load;
use crate::engine::runtime::{Runtime, SutHandle};
use crate::report::SutAction;
use crate::scenario::{BrokerFault, Scenario, SutFault, SutFaultKind};
use crate::sut::SutError;

/// What [`drive`] leaves.
pub(super) struct Driven {
    /// The SUT, back from the fault task.
    pub(super) sut: Box<dyn SutHandle>,
    /// Why the SUT failed, if it did (it did not come back after a fault).
    pub(super) sut_failure: Option<String>,
    /// When the load began.
    pub(super) t0: chrono::DateTime<Utc>,
}

/// Stage 3: drives the load (open model) while the fault timeline fires on the same clock:
/// simulator faults through the runtime, SUT faults through the driver. Records what the
/// load driver and the faults did in `record`.
pub(super) async fn drive(
    scenario: &Scenario,
    started: &Started,
    driver: Box<dyn SutHandle>,
    mut load: Option<&mut LoadStage>,
    bar: &Progress,
    record: &mut RunRecord,
) -> Result<Driven, RunError> {
    let rt = &started.rt;
    let t0 = Instant::now();
    let load_start = Utc::now();
    // SUT faults run on their own task: the driver's start waits for readiness.
    let sut_faults: Vec<(Duration, SutFault)> =
        scenario.sut_faults().map(|(at, f)| (at.0, f)).collect();
    let sut_task = tokio::spawn(drive_sut_faults(driver, sut_faults, t0));
    // Simulator faults, and faults through the container engine, on their own clock.
    let sim_task = tokio::spawn(drive_sim_faults(rt.clone(), sim_timeline(scenario), t0));
    let broker_faults: Vec<(Duration, BrokerFault)> =
        scenario.broker_faults().map(|(at, f)| (at.0, f)).collect();
    let broker_task = tokio::spawn(super::broker_faults::drive(
        started.broker.clone(),
        broker_faults,
        t0,
    ));

    let now = std::cell::Cell::new(Duration::ZERO);
    let mut carry: BTreeMap<System, f64> = BTreeMap::new();
    let emitted = AtomicU64::new(0);
    record.load = load::drive(
        scenario.duration.0,
        scenario.seed,
        scenario.mix(),
        |t| scenario.rate_at(t),
        |system| {
            let owed = carry.entry(system).or_insert(0.0);
            *owed += scenario.burst_factor(system, now.get());
            let n = owed.floor();
            *owed -= n;
            let out = rt.step(system, n as usize);
            emitted.fetch_add(out as u64, Ordering::Relaxed);
            out
        },
        |t| {
            now.set(t);
            match load.as_deref_mut() {
                Some(l) => {
                    if let Some(line) = l.live.tick(t, || rt.emitter_stats(), rt.live_history()) {
                        bar.position(t, line);
                    }
                }
                None => bar.tick(t, emitted.load(Ordering::Relaxed)),
            }
        },
    )
    .await;
    if let Some(n) = rt.finish_steps().await {
        record.load.emitted = n;
    }
    record.fault_errors = sim_task
        .await
        .unwrap_or_else(|e| vec![format!("the fault task failed: {e}")]);
    // The SUT faults end within the run; wait for them (and the driver) before settling.
    let (sut, actions, sut_failure) = sut_task
        .await
        .map_err(|e| RunError::Internal(format!("the SUT fault task failed: {e}")))?;
    record.meta.sut_actions = actions;
    let broker_actions = broker_task
        .await
        .map_err(|e| RunError::Internal(format!("the broker fault task failed: {e}")))?;
    record.meta.sut_actions.extend(broker_actions);
    record.meta.sut_actions.sort_by_key(|a| a.at);
    Ok(Driven {
        sut,
        sut_failure,
        t0: load_start,
    })
}

/// A fault of the simulators' timeline.
pub(super) enum SimFault {
    /// Through the simulator's fault registry / admin API.
    Spec(FaultSpec),
    /// Through the container engine.
    Engine(crate::scenario::EngineFault),
    /// The simulator's switches changed (a vendor upgrade cut over).
    Config(andon_simulators::core::ConfigPatch),
}

/// The simulator and engine faults of a scenario, in time order.
pub(super) fn sim_timeline(scenario: &Scenario) -> Vec<(Duration, System, SimFault)> {
    let mut v: Vec<(Duration, System, SimFault)> = scenario
        .simulator_faults()
        .map(|(at, s, spec)| (at.0, s, SimFault::Spec(spec.clone())))
        .chain(
            scenario
                .engine_faults()
                .map(|(at, s, f)| (at.0, s, SimFault::Engine(f))),
        )
        .chain(
            scenario
                .cutovers()
                .map(|(at, p)| (at.0, System::Erp, SimFault::Config(p))),
        )
        .collect();
    v.sort_by_key(|(at, _, _)| *at);
    v
}

/// Applies the simulator faults at their times (an engine fault runs on its own task
/// until its `for` has passed); returns what could not be applied, with why.
pub(super) async fn drive_sim_faults(
    rt: Arc<Box<dyn Runtime>>,
    faults: Vec<(Duration, System, SimFault)>,
    t0: Instant,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut engine = tokio::task::JoinSet::new();
    for (at, system, fault) in faults {
        tokio::time::sleep_until(t0 + at).await;
        match fault {
            SimFault::Spec(spec) => {
                if let Err(e) = rt.apply_fault(system, spec).await {
                    tracing::warn!(error = %e, "fault not applied");
                    errors.push(format!("at {}: {e}", humantime_ms(at)));
                }
            }
            SimFault::Config(patch) => {
                if let Err(e) = rt.reconfigure(system, patch).await {
                    errors.push(format!(
                        "at {}: the cut-over on {system}: {e}",
                        humantime_ms(at)
                    ));
                }
            }
            SimFault::Engine(f) => {
                let rt = rt.clone();
                engine.spawn(async move {
                    rt.engine_fault(system, f).await.map_err(|e| {
                        format!(
                            "at {}: {} on {system}: {e}",
                            humantime_ms(at),
                            f.kind.name()
                        )
                    })
                });
            }
        }
    }
    while let Some(r) = engine.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push(e),
            Err(e) => errors.push(format!("an engine fault task failed: {e}")),
        }
    }
    errors
}

/// Applies the SUT faults at their times; returns the driver, what was done, and why the
/// SUT failed if it did (it did not come back).
pub(super) async fn drive_sut_faults(
    mut driver: Box<dyn SutHandle>,
    faults: Vec<(Duration, SutFault)>,
    t0: Instant,
) -> (Box<dyn SutHandle>, Vec<SutAction>, Option<String>) {
    let mut actions = Vec::new();
    for (at, fault) in faults {
        tokio::time::sleep_until(t0 + at).await;
        let started = Utc::now();
        let kind = fault.kind.name().to_string();
        // How long a restart or a kill keeps the SUT down (pause: its own `for`).
        let down = fault.duration.map(|d| d.0).unwrap_or_default();
        let result = match fault.kind {
            SutFaultKind::Restart => driver.restart(down).await,
            SutFaultKind::Kill => driver.kill_and_restart(down).await,
            SutFaultKind::Pause => match driver.pause().await {
                Ok(()) => {
                    tokio::time::sleep(down).await;
                    driver.resume().await
                }
                Err(e) => Err(e),
            },
            SutFaultKind::Slow => slow(driver.as_mut(), down).await,
        };
        let ended = Utc::now();
        match result {
            Ok(()) => actions.push(SutAction {
                kind,
                at: started,
                until: Some(ended),
                note: Some(format!(
                    "back after {}",
                    humantime_ms((ended - started).to_std().unwrap_or_default())
                )),
            }),
            Err(SutError::NotApplicable { action }) => actions.push(SutAction {
                kind,
                at: started,
                until: None,
                note: Some(format!(
                    "not applicable: andon does not start the SUT ({action})"
                )),
            }),
            Err(e) => {
                let why = format!("{kind} at {}: {e}", humantime_ms(at));
                actions.push(SutAction {
                    kind,
                    at: started,
                    until: None,
                    note: Some(why.clone()),
                });
                return (driver, actions, Some(why));
            }
        }
    }
    (driver, actions, None)
}

/// A slow consumer for `d`: the SUT frozen 800 ms of every second and running 200 ms.
async fn slow(driver: &mut dyn SutHandle, d: Duration) -> Result<(), SutError> {
    const FROZEN: Duration = Duration::from_millis(800);
    const RUNNING: Duration = Duration::from_millis(200);
    let end = Instant::now() + d;
    while Instant::now() < end {
        driver.pause().await?;
        tokio::time::sleep(FROZEN.min(end.saturating_duration_since(Instant::now()))).await;
        driver.resume().await?;
        tokio::time::sleep(RUNNING.min(end.saturating_duration_since(Instant::now()))).await;
    }
    Ok(())
}

/// A progress bar over the run's wall time, on stderr when it is a terminal.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub(super) fn new(wanted: bool, scenario: &Scenario) -> Self {
        let on = wanted && std::io::stderr().is_terminal();
        let bar = on.then(|| {
            let b = indicatif::ProgressBar::new(scenario.duration.0.as_secs().max(1));
            b.set_style(
                indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len}s {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_prefix(scenario.name.clone());
            b
        });
        Self { bar }
    }

    pub(super) fn tick(&self, t: Duration, emitted: u64) {
        if let Some(b) = &self.bar {
            b.set_position(t.as_secs());
            b.set_message(format!("{emitted} events"));
        }
    }

    /// Sets the position and the message (the live line of a load run).
    pub(super) fn position(&self, t: Duration, message: String) {
        if let Some(b) = &self.bar {
            b.set_position(t.as_secs());
            b.set_message(message);
        }
    }

    pub(super) fn settling(&self) {
        if let Some(b) = &self.bar {
            b.set_message("settling");
        }
    }

    pub(super) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
