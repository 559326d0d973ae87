//! Stages 4 to 7: settling, collecting what every simulator recorded and what the SUT
//! dead-lettered, judging, and writing the run directory and the reports (with the load
//! stage's `load.json` and `latency.hlog` in a load run).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::MasterData;
use chrono::Utc;

use super::start::Started;
use super::{
    QUIET_WITH_BACKLOG, QUIET_WITHOUT_BACKLOG, RUN_FILE, RunError, RunOptions, RunOutcome,
    RunRecord, dir_err,
};
use crate::check::{self, RunData, Verdict};
use crate::engine::runtime::{Runtime, SutHandle};
use crate::engine::settle::{Settled, settle};
use crate::history::RunDir;
use crate::load::live::Live;
use crate::load::measure::Measures;
use crate::load::report::LoadReport;
use crate::report::{self, Exit, RunReport};
use crate::scenario::Scenario;

/// Stage 4: waits until the run has settled — no new history record for a while, every
/// emitter buffer empty and, when the SUT reports one, a 0 backlog — up to the scenario's
/// settle limit, never a fixed sleep.
pub(super) async fn settle_run(started: &Started, scenario: &Scenario) -> Settled {
    let urls: Vec<String> = std::iter::once(&started.sut)
        .chain(started.more.iter().map(|i| &i.sut))
        .filter_map(|s| s.backlog.clone())
        .collect();
    let backlog = BacklogProbe::new(urls);
    let quiet = if backlog.is_some() {
        QUIET_WITH_BACKLOG
    } else {
        QUIET_WITHOUT_BACKLOG
    };
    settle_with_backlog(
        started.rt.as_ref().as_ref(),
        &backlog,
        scenario.settle.0,
        quiet,
    )
    .await
}

/// Settles on the history, the emitters and, when the SUT reports one, its backlog.
pub(super) async fn settle_with_backlog(
    rt: &dyn Runtime,
    backlog: &Option<BacklogProbe>,
    limit: Duration,
    quiet: Duration,
) -> Settled {
    let latest = Arc::new(AtomicU64::new(0));
    // The backlog is fetched on its own task (settle's probes are synchronous).
    let poller = backlog.clone().map(|probe| {
        let latest = latest.clone();
        tokio::spawn(async move {
            loop {
                latest.store(probe.fetch().await, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    if let Some(probe) = backlog {
        latest.store(probe.fetch().await, Ordering::Relaxed);
    }
    let out = settle(
        limit,
        quiet,
        || rt.progress().0,
        || rt.progress().1 + latest.load(Ordering::Relaxed) as usize,
    )
    .await;
    if let Some(p) = poller {
        p.abort();
    }
    out
}

/// Reads the SUT's `backlog` capability (of every instance: their sum).
#[derive(Debug, Clone)]
pub(super) struct BacklogProbe {
    urls: Vec<String>,
    client: reqwest::Client,
}

impl BacklogProbe {
    /// A probe of `urls`; none when there are none.
    pub(super) fn new(urls: Vec<String>) -> Option<Self> {
        if urls.is_empty() {
            return None;
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        Some(Self { urls, client })
    }

    /// The backlog of every instance together; an unreadable answer counts as 1 (not
    /// settled yet).
    async fn fetch(&self) -> u64 {
        let mut sum = 0;
        for url in &self.urls {
            sum += match self.client.get(url).send().await {
                Ok(resp) => match resp.json::<serde_json::Value>().await {
                    Ok(v) => v["backlog"].as_u64().unwrap_or(1),
                    Err(_) => 1,
                },
                Err(_) => 1,
            };
        }
        sum
    }
}

/// What every simulator recorded, and what the SUT says it dead-lettered.
pub(super) struct Collected {
    pub(super) records: Vec<andon_simulators::history::Record>,
    pub(super) snapshots: BTreeMap<System, serde_json::Value>,
    pub(super) dead_letters: Option<Vec<serde_json::Value>>,
    pub(super) emitters: BTreeMap<System, andon_simulators::emitter::EmitterStats>,
}

/// Stage 5: collects the dead letters, the emitters' figures, the snapshots and the
/// history, then stops the SUT and the simulators.
pub(super) async fn collect(
    started: Started,
    sut: Box<dyn SutHandle>,
) -> Result<Collected, RunError> {
    let mut dead_letters = match &started.sut.dead_letters {
        Some(url) => fetch_dead_letters(url).await,
        None => None,
    };
    for i in &started.more {
        if let (Some(all), Some(url)) = (dead_letters.as_mut(), &i.sut.dead_letters)
            && let Some(more) = fetch_dead_letters(url).await
        {
            all.extend(more);
        }
    }
    let rt = started.rt;
    let more = started.more;
    let emitters = rt.emitter_stats();
    let collected = match (rt.snapshots().await, rt.records().await) {
        (Ok(s), Ok(r)) => Ok((s, r)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    sut.stop().await;
    for i in more {
        i.handle.stop().await;
    }
    if let Some(b) = started.broker.and_then(|b| Arc::try_unwrap(b).ok()) {
        b.into_inner().remove().await;
    }
    if let Ok(rt) = Arc::try_unwrap(rt) {
        rt.stop().await;
    }
    let (snapshots, records) = collected?;
    Ok(Collected {
        records,
        snapshots,
        dead_letters,
        emitters,
    })
}

/// The SUT's dead letters, or `None` (with a warning) when they cannot be read.
pub(super) async fn fetch_dead_letters(url: &str) -> Option<Vec<serde_json::Value>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .ok()?;
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => match r.json::<Vec<serde_json::Value>>().await {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(url, error = %e, "dead letters are not a JSON array");
                None
            }
        },
        Ok(r) => {
            tracing::warn!(url, status = %r.status(), "dead letters could not be read");
            None
        }
        Err(e) => {
            tracing::warn!(url, error = %e, "dead letters could not be read");
            None
        }
    }
}

/// Stage 6: every checker over what was collected.
pub(super) fn judge(
    c: Collected,
    master: &MasterData,
    scenario: &Scenario,
) -> (RunData, Vec<Verdict>) {
    let mut records = c.records;
    crate::history::trace::attribute_by_trace(&mut records);
    let data = RunData {
        records,
        snapshots: c.snapshots,
        master: master.clone(),
        expect: scenario.expect.clone(),
        dead_letters: c.dead_letters,
    };
    let verdicts = check::run_all(&data);
    (data, verdicts)
}

/// The load-test stage of `andon load`: samples buffer depths and draws the live line
/// while the load runs, then measures the run against the scenario's thresholds.
pub(super) struct LoadStage {
    pub(super) live: Live,
}

/// What the load stage measured: `load.json`'s report and the HDR interval log.
pub(super) type Measured = (LoadReport, Result<Vec<u8>, String>);

impl LoadStage {
    pub(super) fn new() -> Self {
        Self { live: Live::new() }
    }

    pub(super) fn measure(
        self,
        c: &Collected,
        record: &RunRecord,
        scenario: &Scenario,
        opts: &RunOptions,
        load_start: chrono::DateTime<Utc>,
    ) -> Measured {
        let measures = Measures::from_records(&c.records, load_start, scenario.duration.0);
        let connections = System::ALL
            .into_iter()
            .map(|s| scenario.sim_config(s).emitter.lanes)
            .max()
            .unwrap_or(0);
        let emitters = if c.emitters.is_empty() {
            self.live.emitters.clone()
        } else {
            c.emitters.clone()
        };
        let overrides = opts.load.clone().unwrap_or_default();
        let report = LoadReport::build(crate::load::report::Inputs {
            measures: &measures,
            driver: &record.load,
            emitters: &emitters,
            depths: &self.live.depths,
            thresholds: &scenario.thresholds,
            overrides: &overrides,
            connections,
        });
        (report, crate::load::hlog::render(&measures))
    }
}

/// Stage 7: writes the run directory (history, snapshots, `run.json`), the load files of a
/// load run, and every report.
pub(super) fn report(
    dir: &RunDir,
    record: RunRecord,
    data: &RunData,
    verdicts: Vec<Verdict>,
    measured: Option<Measured>,
) -> Result<RunOutcome, RunError> {
    if let Some((report, hlog)) = &measured {
        dir.write(
            crate::load::report::FILE,
            serde_json::to_vec_pretty(report).unwrap_or_default(),
        )
        .map_err(dir_err)?;
        match hlog {
            Ok(bytes) => dir.write(crate::load::hlog::FILE, bytes).map_err(dir_err)?,
            Err(e) => tracing::warn!(error = %e, "the HDR interval log could not be written"),
        }
    }
    let load = measured.map(|(r, _)| r);
    let mut outcome = finish_with(dir, record, data, verdicts, load)?;
    if outcome.load.is_some() {
        outcome.files.push(dir.file(crate::load::report::FILE));
        outcome.files.push(dir.file(crate::load::hlog::FILE));
    }
    Ok(outcome)
}

/// Writes the run directory and the reports.
pub(super) fn finish(
    dir: &RunDir,
    record: RunRecord,
    data: &RunData,
    verdicts: Vec<Verdict>,
) -> Result<RunOutcome, RunError> {
    finish_with(dir, record, data, verdicts, None)
}

/// [`finish`], with the load section of a load run in the reports.
pub(super) fn finish_with(
    dir: &RunDir,
    record: RunRecord,
    data: &RunData,
    verdicts: Vec<Verdict>,
    load: Option<LoadReport>,
) -> Result<RunOutcome, RunError> {
    data.save(&dir.0)?;
    let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    dir.write(RUN_FILE, json).map_err(dir_err)?;
    let mut report = RunReport::from_run(record.meta, data, verdicts);
    report.load = load.clone();
    let files = report::write_all(&dir.0, &report)?;
    Ok(RunOutcome {
        dir: dir.0.clone(),
        report,
        files,
        load,
    })
}

/// A run that could not get going (the SUT never became ready): its directory, with the
/// reason as the exit and no verdicts.
pub(super) async fn finish_error(
    dir: &RunDir,
    mut record: RunRecord,
    master: &MasterData,
    scenario: &Scenario,
    why: String,
) -> Result<RunOutcome, RunError> {
    record.meta.ended = Utc::now();
    record.meta.exit = Exit::Error(why);
    let data = RunData {
        records: Vec::new(),
        snapshots: BTreeMap::new(),
        master: master.clone(),
        expect: scenario.expect.clone(),
        dead_letters: None,
    };
    finish(dir, record, &data, Vec::new())
}
