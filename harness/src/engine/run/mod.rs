//! One run of a scenario against a SUT: scenario → simulators → SUT → load with the
//! fault timeline → settling → run directory → checkers → reports, as its stages:
//!
//! ```text
//! prepare   read the scenario and manifest, refuse before anything starts (exit 2),
//!           make the run directory                                       (prepare.rs)
//! start     the four simulators in the runtime, options applied; the SUT placed by the
//!           runtime (placeholders filled), ready awaited; emitters → its ingress (start.rs)
//! drive     the load (open model); the fault timeline on the same clock:
//!           simulator faults through the runtime, SUT faults through its handle (drive.rs)
//! settle    quiet history, empty emitter buffers, a 0 backlog when the SUT reports one
//! collect   snapshots, history, dead letters; the SUT and the simulators stopped
//! judge     every checker
//! report    the run directory and every reporter (load.json too, in a load run) (finish.rs)
//! ```
//!
//! The run directory ([`crate::history::RunDir`]) holds everything
//! [`crate::check::RunData::load`] needs, plus `scenario.yaml` (as written), `run.json`
//! ([`RunRecord`]), `sut.toml` and `sut.log`, so `andon check` re-judges and `andon replay`
//! re-drives it ([`recorded`]).

mod broker_faults;
mod drive;
mod finish;
mod instances;
mod prepare;
pub mod recorded;
mod start;
mod transport;

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::load::LoadStats;
use super::runtime::{RuntimeError, RuntimeKind};
use super::settle::Settled;
use crate::check::{LoadError, Verdict};
use crate::history::RunDir;
use crate::load::report::LoadReport;
use crate::report::{Exit, ReportError, RunMeta, RunReport};
use crate::scenario::ScenarioError;
use crate::sut::ManifestError;

pub use recorded::{recheck, replay_options};

use drive::{Progress, drive};
use finish::{LoadStage, collect, finish_error, judge, report, settle_run};
use prepare::{Prepared, prepare};
use start::{Start, start};

/// The bundled reference middleware's manifest (started as `{andon} reference-sut`).
pub const REFERENCE_MANIFEST: &str =
    include_str!("../../../../examples/reference-middleware/sut.toml");

/// How messages name the bundled manifest.
pub const REFERENCE_MANIFEST_NAME: &str = "examples/reference-middleware/sut.toml (bundled)";

/// The scenario as written, in the run directory.
pub const SCENARIO_FILE: &str = "scenario.yaml";

/// What the engine recorded about the run ([`RunRecord`]).
pub const RUN_FILE: &str = crate::history::rundir::RUN_FILE;

/// The SUT manifest as written.
pub const MANIFEST_FILE: &str = "sut.toml";

/// History records without a change, and no backlog, for this long: the run has settled.
const QUIET_WITH_BACKLOG: Duration = Duration::from_secs(1);

/// The same without a backlog capability: longer than the reference middleware's longest
/// retry backoff is not knowable for any SUT, so this is a compromise (documented).
const QUIET_WITHOUT_BACKLOG: Duration = Duration::from_secs(5);

/// Why a run could not be carried out. Every variant is a configuration error (exit 2)
/// except [`RunError::Runtime`] and [`RunError::Io`].
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The scenario was refused.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The master data could not be read.
    #[error("{0}")]
    MasterData(String),
    /// The manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// `--defect` names something the reference middleware does not have, or is given
    /// with another SUT.
    #[error("{0}")]
    Defect(String),
    /// The report directory holds files that are not an earlier run's.
    #[error(
        "{0}: the report directory is not empty and is not an andon run directory (no run.json); \
         choose another --report-dir or empty it"
    )]
    ReportDir(PathBuf),
    /// A recorded run directory is missing something.
    #[error(transparent)]
    RunDir(#[from] LoadError),
    /// The simulators could not start.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// Writing the run directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing the reports failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The recorded run never reached its verdict: there is nothing whole to judge.
    #[error(
        "{}: the run was interrupted before its end ({why}); its history is incomplete, \
         so it is not judged: run it again",
        dir.display()
    )]
    Interrupted {
        /// The run directory.
        dir: PathBuf,
        /// What `run.json` says.
        why: String,
    },
    /// The run's MQTT broker could not be had (exit 2 when Mosquitto is not installed).
    #[error(transparent)]
    Broker(#[from] crate::broker::BrokerError),
    /// A plant's events are to go over a transport the SUT does not consume.
    #[error("{0}")]
    Transport(String),
    /// A task of the run failed in a way that is a bug of andon.
    #[error("internal: {0}")]
    Internal(String),
    /// A flag of `andon load` cannot apply to the scenario.
    #[error("{file}: {source}")]
    Load {
        /// The scenario.
        file: String,
        /// Which flag and why.
        source: crate::load::OverrideError,
    },
}

impl RunError {
    /// Whether the user can fix it in their files or arguments (exit 2).
    pub fn is_usage(&self) -> bool {
        match self {
            // The runtime cannot be had here as asked (no engine, no image).
            Self::Runtime(e) => e.is_usage(),
            Self::Broker(e) => matches!(
                e,
                crate::broker::BrokerError::NotInstalled
                    | crate::broker::BrokerError::NoImage(_)
                    | crate::broker::BrokerError::NoPartition(_)
            ),
            Self::Io { .. } | Self::Report(_) | Self::Internal(_) => false,
            _ => true,
        }
    }
}

/// What to run. Built with [`RunOptions::new`]; defaults: the bundled reference
/// middleware, a run directory `runs/<scenario>-<UTC time>`, progress on a terminal.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The SUT manifest (`None`: the bundled reference middleware).
    pub sut: Option<PathBuf>,
    /// Defects of the bundled reference middleware to switch on.
    pub defects: Vec<String>,
    /// Where the run directory goes (`None`: `runs/<scenario>-<time>`).
    pub report_dir: Option<PathBuf>,
    /// Master data to use instead of the scenario's (replay uses the recorded one).
    pub master: Option<PathBuf>,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// The program `{andon}` names (default: the running binary).
    pub andon: Option<PathBuf>,
    /// Where the simulators and the SUT run.
    pub runtime: RuntimeKind,
    /// Measure the run as a load test (`andon load`), with what its flags change in the
    /// scenario: buffer depths sampled, the live line, `load.json` and `latency.hlog`.
    /// `None`: a plain run.
    pub load: Option<crate::load::Overrides>,
    /// The API every plant's ERP speaks, whatever the scenario says (its cut-overs are
    /// dropped): the self-test's dialect columns, an upgrade gate over scenarios.
    pub erp_dialect: Option<andon_simulators::dialect::Binding>,
    /// The transport every plant's events take, for each system whose events the SUT
    /// consumes over it, unless the scenario names a plant's own: the self-test's MQTT
    /// column. `None`: the scenario's, else the manifest's first (webhook, then mqtt).
    pub transport: Option<crate::sut::Transport>,
}

impl RunOptions {
    /// Runs `scenario` against the reference middleware, with the defaults above.
    pub fn new(scenario: impl Into<PathBuf>) -> Self {
        Self {
            scenario: scenario.into(),
            sut: None,
            defects: Vec::new(),
            report_dir: None,
            master: None,
            progress: true,
            andon: None,
            runtime: RuntimeKind::InProcess,
            load: None,
            erp_dialect: None,
            transport: None,
        }
    }
}

/// What the engine recorded about a run, besides the history (`run.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Scenario, seed, versions, times, exit, SUT actions.
    pub meta: RunMeta,
    /// The scenario file the run was made from.
    pub scenario_file: String,
    /// The manifest file (`None`: the bundled reference middleware).
    pub manifest_file: Option<String>,
    /// Defects of the reference middleware switched on.
    #[serde(default)]
    pub defects: Vec<String>,
    /// What the load driver did.
    pub load: LoadStats,
    /// How settling ended.
    pub settled: Option<Settled>,
    /// Faults of the timeline that could not be applied, with why.
    #[serde(default)]
    pub fault_errors: Vec<String>,
    /// What `andon load`'s flags changed in the scenario (a load run only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_overrides: Option<crate::load::Overrides>,
}

/// A finished run: where it is and what it concluded.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub dir: PathBuf,
    /// What the reporters rendered.
    pub report: RunReport,
    /// The files written.
    pub files: Vec<PathBuf>,
    /// What the load concluded (a load run only).
    pub load: Option<LoadReport>,
}

/// Runs the scenario of `opts` and writes its run directory and reports, stage by stage:
/// [`prepare`] (read and check everything, make the run directory), [`start`] (the
/// simulators and the SUT), [`drive`] (the load and the fault timeline), [`settle_run`],
/// [`collect`] (what every simulator recorded), [`judge`] (the checkers) and [`report`].
///
/// Configuration errors (the scenario, the manifest, the master data) are returned
/// before anything starts. A SUT that never becomes ready or dies is not an `Err`: the
/// run directory is written with [`Exit::Error`] and the tail of the SUT's log.
pub async fn run(opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let prepared = prepare(opts)?;
    let out = stages(opts, &prepared).await;
    if let Err(e) = &out {
        // Not interrupted: say what stopped it.
        record_error(&prepared.dir, e);
    }
    out
}

/// The stages after [`prepare`].
async fn stages(opts: &RunOptions, p: &Prepared) -> Result<RunOutcome, RunError> {
    let mut record = p.record.clone();
    let (started, driver) = match start(opts, p).await? {
        Start::Ready(s, driver) => (s, driver),
        Start::SutFailed(why) => {
            return finish_error(&p.dir, record, &p.master, &p.scenario, why).await;
        }
    };
    record.meta.started = started.at;
    let bar = Progress::new(opts.progress, &p.scenario);
    let mut load = opts.load.is_some().then(LoadStage::new);
    let driven = drive(
        &p.scenario,
        &started,
        driver,
        load.as_mut(),
        &bar,
        &mut record,
    )
    .await?;
    bar.settling();
    record.settled = Some(settle_run(&started, &p.scenario).await);
    let dropped = broker_faults::droppings(
        started.broker.as_ref(),
        start::broker_config(p).max_queued_messages,
    );
    record.meta.sut_actions.extend(dropped.await);
    let collected = collect(started, driven.sut).await;
    bar.finish();
    let collected = collected?;
    record.meta.ended = Utc::now();
    let measured = load.map(|l| l.measure(&collected, &record, &p.scenario, opts, driven.t0));
    let (data, verdicts) = judge(collected, &p.master, &p.scenario);
    record.meta.exit = match driven.sut_failure {
        Some(why) => Exit::Error(why),
        None => exit_of(&data.expect, &verdicts),
    };
    report(&p.dir, record, &data, verdicts, measured)
}

/// The exit of a run's verdicts, by the one rule of [`crate::check::overall`].
pub fn exit_of(expect: &crate::check::Expect, verdicts: &[Verdict]) -> Exit {
    match crate::check::overall(expect, verdicts) {
        crate::check::Overall::Pass => Exit::Pass,
        crate::check::Overall::Fail => Exit::Fail,
        crate::check::Overall::Inconclusive(why) => Exit::Inconclusive(why),
    }
}

/// What `run.json` says of a run that has not reached its verdict.
pub const INTERRUPTED: &str =
    "the run did not reach its verdict: it was stopped (Ctrl-C, SIGTERM) or killed";

/// `1s 250ms`, `300ms` (whole milliseconds).
fn humantime_ms(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// A run directory's failure to be written, as the run's error: an I/O error of the run
/// (not the user's), a directory that is not a run's (the user's).
fn dir_err(e: LoadError) -> RunError {
    match e {
        LoadError::Io { file, source } => RunError::Io { path: file, source },
        LoadError::NotARunDir(p) => RunError::ReportDir(p),
        e => RunError::RunDir(e),
    }
}

/// Writes `run.json`.
fn write_record(dir: &RunDir, record: &RunRecord) -> Result<(), RunError> {
    dir.write(
        RUN_FILE,
        serde_json::to_vec_pretty(record).unwrap_or_default(),
    )
    .map_err(dir_err)
}

/// Makes `run.json` say why the run stopped short (best effort: the run is failing
/// already).
fn record_error(dir: &RunDir, e: &RunError) {
    if let Ok(Some(mut record)) = recorded::read_record(&dir.0) {
        record.meta.exit = Exit::Error(e.to_string());
        record.meta.ended = Utc::now();
        let _ = write_record(dir, &record);
    }
}
