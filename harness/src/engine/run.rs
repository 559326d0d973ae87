//! One run of a scenario against a SUT, in-process: scenario → simulators → SUT → load
//! with the fault timeline → settling → run directory → checkers → reports.
//!
//! ```text
//! load scenario + manifest ─ refuse before anything starts (exit 2)
//! start the four simulators (127.0.0.1:0, one history), options applied
//! start the SUT (placeholders filled), wait for ready, point the emitters at its ingress
//! drive the load (open model); the fault timeline fires on the same clock:
//!   simulator faults through their registries, SUT faults through the driver
//! settle: quiet history, empty emitter buffers, and a 0 backlog when the SUT reports one
//! collect snapshots and dead letters, write the run directory, check, report
//! ```
//!
//! The run directory ([`RunDir`]) holds everything [`crate::check::RunData::load`] needs,
//! plus `scenario.yaml` (as written), `run.json` ([`RunMeta`] and what the engine did),
//! `sut.toml` and `sut.log`, so `andon check` re-judges and `andon replay` re-drives it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use andon_contracts::System;
use andon_simulators::MasterData;
use andon_simulators::faults::FaultSpec;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::load::{self, LoadStats};
use super::runtime::{Runtime, RuntimeError, Sims, SystemSettings};
use super::settle::{Settled, settle};
use crate::check::{self, LoadError, RunData, Verdict};
use crate::load::live::Live;
use crate::load::measure::Measures;
use crate::load::report::LoadReport;
use crate::report::{self, Exit, ReportError, RunMeta, RunReport, SutAction};
use crate::scenario::{Scenario, ScenarioError, SutFault, SutFaultKind};
use crate::sut::{ManifestError, Placeholders, SutDriver, SutError, SutManifest, free_port};

/// The bundled reference middleware's manifest (started as `{andon} reference-sut`).
pub const REFERENCE_MANIFEST: &str =
    include_str!("../../../examples/reference-middleware/sut.toml");
/// How messages name the bundled manifest.
pub const REFERENCE_MANIFEST_NAME: &str = "examples/reference-middleware/sut.toml (bundled)";

/// The scenario as written, in the run directory.
pub const SCENARIO_FILE: &str = "scenario.yaml";
/// What the engine recorded about the run ([`RunRecord`]).
pub const RUN_FILE: &str = "run.json";
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
    /// A task of the run failed in a way that is a bug of andon.
    #[error("internal: {0}")]
    Internal(String),
    /// A flag of `andon load` cannot apply to the scenario.
    #[error("{file}: {message}")]
    Load {
        /// The scenario.
        file: String,
        /// Which flag and why.
        message: String,
    },
}

impl RunError {
    /// Whether the user can fix it in their files or arguments (exit 2).
    pub fn is_usage(&self) -> bool {
        use crate::containers::ContainerError;
        match self {
            // No engine or no image: the run cannot be made here as asked.
            Self::Runtime(RuntimeError::Containers(
                ContainerError::NoEngine(_) | ContainerError::NoImage(_),
            )) => true,
            Self::Runtime(_) | Self::Io { .. } | Self::Report(_) | Self::Internal(_) => false,
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
    pub runtime: Runtime,
    /// Measure the run as a load test (`andon load`), with what its flags change in the
    /// scenario: buffer depths sampled, the live line, `load.json` and `latency.hlog`.
    /// `None`: a plain run.
    pub load: Option<crate::load::Overrides>,
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
            runtime: Runtime::InProcess,
            load: None,
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

/// A run directory's paths.
#[derive(Debug, Clone)]
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// A file of the run directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Makes the directory empty and ready. A run starts from nothing: the SUT keeps its
    /// state under `{run.dir}`, and the same seed gives the same event ids, so a store left
    /// from an earlier run would take every event for a duplicate. A directory of an
    /// earlier run (it has `run.json`) is replaced; any other non-empty one is refused.
    pub fn prepare(&self) -> Result<(), RunError> {
        let io = |source| RunError::Io {
            path: self.0.clone(),
            source,
        };
        match std::fs::read_dir(&self.0) {
            Ok(mut entries) => {
                if entries.next().is_some() {
                    if !self.file(RUN_FILE).exists() {
                        return Err(RunError::ReportDir(self.0.clone()));
                    }
                    std::fs::remove_dir_all(&self.0).map_err(io)?;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        std::fs::create_dir_all(&self.0).map_err(io)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> Result<(), RunError> {
        let path = self.file(name);
        std::fs::write(&path, bytes).map_err(|source| RunError::Io { path, source })
    }

    /// Writes `run.json`.
    fn write_record(&self, record: &RunRecord) -> Result<(), RunError> {
        self.write(
            RUN_FILE,
            serde_json::to_vec_pretty(record).unwrap_or_default(),
        )
    }

    /// Makes `run.json` say why the run stopped short (best effort: the run is failing
    /// already).
    fn record_error(&self, e: &RunError) {
        if let Ok(Some(mut record)) = read_record(&self.0) {
            record.meta.exit = Exit::Error(e.to_string());
            record.meta.ended = Utc::now();
            let _ = self.write_record(&record);
        }
    }
}

/// The manifest of `opts`: the user's, or the bundled one.
fn manifest_of(opts: &RunOptions) -> Result<SutManifest, RunError> {
    match &opts.sut {
        Some(p) => {
            if !opts.defects.is_empty() {
                return Err(RunError::Defect(
                    "--defect switches defects of the bundled reference middleware; it cannot \
                     be combined with --sut"
                        .into(),
                ));
            }
            let m = SutManifest::load(p)?;
            // A program that does not exist is the manifest's mistake (exit 2), found
            // before anything starts.
            if !runs_in_container(&m, opts.runtime) {
                m.check_program()?;
            }
            Ok(m)
        }
        None => {
            for d in &opts.defects {
                d.parse::<andon_reference_middleware::Defect>()
                    .map_err(|e| RunError::Defect(e.to_string()))?;
            }
            Ok(SutManifest::parse(
                REFERENCE_MANIFEST,
                REFERENCE_MANIFEST_NAME,
            )?)
        }
    }
}

/// Whether the SUT of `manifest` runs in a container under `runtime` (its `image`), not
/// as the manifest's command.
pub fn runs_in_container(manifest: &SutManifest, runtime: Runtime) -> bool {
    runtime == Runtime::Containers && manifest.start.as_ref().is_some_and(|s| s.image.is_some())
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
        prepared.dir.record_error(e);
    }
    out
}

/// A run read and checked, its directory made: `scenario.yaml`, `sut.toml` (secrets
/// redacted) and a `run.json` that says *interrupted* until the verdict replaces it.
struct Prepared {
    scenario: Scenario,
    master: MasterData,
    manifest: SutManifest,
    dir: RunDir,
    record: RunRecord,
}

/// Stage 1: reads the scenario (with `andon load`'s overrides), the master data and the
/// manifest, refusing what is wrong before anything starts, and makes the run directory.
fn prepare(opts: &RunOptions) -> Result<Prepared, RunError> {
    let text = std::fs::read_to_string(&opts.scenario).map_err(|source| {
        RunError::Scenario(ScenarioError::Io {
            file: opts.scenario.display().to_string(),
            source,
        })
    })?;
    let mut scenario = Scenario::load(&opts.scenario)?;
    if let Some(overrides) = &opts.load {
        overrides
            .apply(&mut scenario)
            .map_err(|message| RunError::Load {
                file: opts.scenario.display().to_string(),
                message,
            })?;
    }
    let base = opts.scenario.parent().unwrap_or(Path::new("."));
    let master = match &opts.master {
        Some(m) => MasterData::load(m),
        None => scenario.master_data(base),
    }
    .map_err(|e| RunError::MasterData(e.to_string()))?;
    let manifest = manifest_of(opts)?;

    let dir = RunDir(opts.report_dir.clone().unwrap_or_else(|| {
        PathBuf::from("runs").join(format!(
            "{}-{}",
            scenario.name,
            Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    }));
    dir.prepare()?;
    dir.write(SCENARIO_FILE, &text)?;
    // Run directories become CI artifacts: no client secret or password in them.
    dir.write(MANIFEST_FILE, crate::sut::redact::redact(&manifest.text).0)?;
    let record = RunRecord {
        meta: RunMeta {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            andon_version: env!("CARGO_PKG_VERSION").to_string(),
            sut: manifest.name.clone(),
            started: Utc::now(),
            ended: Utc::now(),
            // Until the verdict replaces it: a run stopped by a signal or killed leaves
            // this behind.
            exit: Exit::Interrupted(INTERRUPTED.to_string()),
            sut_actions: Vec::new(),
        },
        scenario_file: opts.scenario.display().to_string(),
        manifest_file: opts.sut.as_ref().map(|p| p.display().to_string()),
        defects: opts.defects.clone(),
        load: LoadStats::default(),
        settled: None,
        fault_errors: Vec::new(),
        load_overrides: opts.load.clone(),
    };
    // Written now so that an interrupted run still leaves a run directory (and records its
    // seed); rewritten at the end.
    dir.write_record(&record)?;
    Ok(Prepared {
        scenario,
        master,
        manifest,
        dir,
        record,
    })
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

/// The simulators and the SUT of a run, up and connected.
struct Started {
    rt: Arc<Sims>,
    sut: crate::sut::ResolvedSut,
    /// When the SUT was started.
    at: chrono::DateTime<Utc>,
}

/// How [`start`] ended.
#[allow(clippy::large_enum_variant)] // once per run
enum Start {
    /// Up, with the SUT's driver (which the SUT faults then own until settling).
    Ready(Started, SutRun),
    /// The SUT did not start or never became ready: why, with its log's tail.
    SutFailed(String),
}

/// Stage 2: starts the four simulators in the runtime, then the SUT (placeholders filled,
/// ready awaited), and points the simulators' emitters at the SUT's ingress.
async fn start(opts: &RunOptions, p: &Prepared) -> Result<Start, RunError> {
    let settings: BTreeMap<System, SystemSettings> = System::ALL
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
        .collect();
    let rt = Sims::start(opts.runtime, &p.master, &settings).await?;
    // The SUT runs in a container when the runtime is containers and the manifest names an
    // image; it then finds the simulators by name on the run's network.
    let in_container = runs_in_container(&p.manifest, opts.runtime);
    let urls = System::ALL
        .into_iter()
        .map(|s| (s, rt.url_for_sut(s, in_container)))
        .collect();
    let port = match (p.manifest.is_managed(), in_container) {
        (false, _) => None,
        (true, true) => Some(crate::containers::PORT),
        (true, false) => Some(free_port().map_err(|source| RunError::Io {
            path: "127.0.0.1:0".into(),
            source,
        })?),
    };
    let mut ph = Placeholders::new(urls, port, &p.dir.0);
    if let Some(a) = &opts.andon {
        ph.andon = a.clone();
    }
    if let Sims::Docker(c) = &rt {
        ph.sut_host = if in_container {
            crate::containers::SutContainer::network_name(c)
        } else {
            // A local SUT, reached by the simulators' containers through the host gateway.
            "host.docker.internal".to_string()
        };
        if in_container {
            ph.run_dir = PathBuf::from("/var/andon/run");
        }
    }
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
    let driver = match SutRun::start(&rt, &mut sut, &ph, in_container, &p.dir.0).await {
        Ok(d) => d,
        Err(e) => {
            rt.stop().await;
            return Ok(Start::SutFailed(e.to_string()));
        }
    };
    for (system, url) in &sut.ingress {
        if let Err(e) = rt.set_ingress(*system, url).await {
            driver.stop().await;
            rt.stop().await;
            return Err(e.into());
        }
    }
    Ok(Start::Ready(
        Started {
            rt: Arc::new(rt),
            sut,
            at,
        },
        driver,
    ))
}

/// What [`drive`] leaves.
struct Driven {
    /// The SUT, back from the fault task.
    sut: SutRun,
    /// Why the SUT failed, if it did (it did not come back after a fault).
    sut_failure: Option<String>,
    /// When the load began.
    t0: chrono::DateTime<Utc>,
}

/// Stage 3: drives the load (open model) while the fault timeline fires on the same clock:
/// simulator faults through the runtime, SUT faults through the driver. Records what the
/// load driver and the faults did in `record`.
async fn drive(
    scenario: &Scenario,
    started: &Started,
    driver: SutRun,
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
    Ok(Driven {
        sut,
        sut_failure,
        t0: load_start,
    })
}

/// Stage 4: waits until the run has settled — no new history record for a while, every
/// emitter buffer empty and, when the SUT reports one, a 0 backlog — up to the scenario's
/// settle limit, never a fixed sleep.
async fn settle_run(started: &Started, scenario: &Scenario) -> Settled {
    let backlog = BacklogProbe::new(started.sut.backlog.clone());
    let quiet = if backlog.is_some() {
        QUIET_WITH_BACKLOG
    } else {
        QUIET_WITHOUT_BACKLOG
    };
    settle_with_backlog(&started.rt, &backlog, scenario.settle.0, quiet).await
}

/// What every simulator recorded, and what the SUT says it dead-lettered.
struct Collected {
    records: Vec<andon_simulators::history::Record>,
    snapshots: BTreeMap<System, serde_json::Value>,
    dead_letters: Option<Vec<serde_json::Value>>,
    emitters: BTreeMap<System, andon_simulators::emitter::EmitterStats>,
}

/// Stage 5: collects the dead letters, the emitters' figures, the snapshots and the
/// history, then stops the SUT and the simulators.
async fn collect(started: Started, sut: SutRun) -> Result<Collected, RunError> {
    let dead_letters = match &started.sut.dead_letters {
        Some(url) => fetch_dead_letters(url).await,
        None => None,
    };
    let rt = started.rt;
    let emitters = rt.emitter_stats();
    let collected = match (rt.snapshots().await, rt.records().await) {
        (Ok(s), Ok(r)) => Ok((s, r)),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    sut.stop().await;
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

/// Stage 6: every checker over what was collected.
fn judge(c: Collected, master: &MasterData, scenario: &Scenario) -> (RunData, Vec<Verdict>) {
    let data = RunData {
        records: c.records,
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
struct LoadStage {
    live: Live,
}

/// What the load stage measured: `load.json`'s report and the HDR interval log.
type Measured = (LoadReport, Result<Vec<u8>, String>);

impl LoadStage {
    fn new() -> Self {
        Self { live: Live::new() }
    }

    fn measure(
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
fn report(
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
        )?;
        match hlog {
            Ok(bytes) => dir.write(crate::load::hlog::FILE, bytes)?,
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

/// A fault of the simulators' timeline.
enum SimFault {
    /// Through the simulator's fault registry / admin API.
    Spec(FaultSpec),
    /// Through the container engine.
    Engine(crate::scenario::EngineFault),
}

/// The simulator and engine faults of a scenario, in time order.
fn sim_timeline(scenario: &Scenario) -> Vec<(Duration, System, SimFault)> {
    let mut v: Vec<(Duration, System, SimFault)> = scenario
        .simulator_faults()
        .map(|(at, s, spec)| (at.0, s, SimFault::Spec(spec.clone())))
        .chain(
            scenario
                .engine_faults()
                .map(|(at, s, f)| (at.0, s, SimFault::Engine(f))),
        )
        .collect();
    v.sort_by_key(|(at, _, _)| *at);
    v
}

/// Applies the simulator faults at their times (an engine fault runs on its own task
/// until its `for` has passed); returns what could not be applied, with why.
async fn drive_sim_faults(
    rt: Arc<Sims>,
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

/// The SUT of a run: a local process, or a container.
#[allow(clippy::large_enum_variant)] // one per run, never copied
enum SutRun {
    Process(SutDriver),
    Container(crate::containers::SutContainer),
}

impl SutRun {
    /// Starts the SUT and waits until it is ready. The ready and capability URLs of `sut`
    /// are rewritten to where andon reaches the SUT (its published port, or 127.0.0.1 for
    /// a local SUT that the simulators' containers reach through the host gateway).
    async fn start(
        rt: &Sims,
        sut: &mut crate::sut::ResolvedSut,
        ph: &Placeholders,
        in_container: bool,
        run_dir: &Path,
    ) -> Result<Self, SutError> {
        let inside = ph.sut_port.map(|p| format!("http://{}:{p}", ph.sut_host));
        if in_container && let (Sims::Docker(c), Some(start)) = (rt, sut.start.clone()) {
            let container = crate::containers::SutContainer::create(c, &start, run_dir).await?;
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
            return Ok(Self::Container(container));
        }
        if let Some(p) = ph.sut_port.filter(|_| matches!(rt, Sims::Docker(_))) {
            rebase_sut(sut, inside.as_deref(), &format!("http://127.0.0.1:{p}"));
        }
        let mut driver = SutDriver::new(sut.clone(), run_dir)?;
        driver.start().await?;
        Ok(Self::Process(driver))
    }

    async fn restart(&mut self) -> Result<(), SutError> {
        match self {
            Self::Process(d) => d.restart().await,
            Self::Container(c) => c.restart().await,
        }
    }

    async fn kill_and_restart(&mut self) -> Result<(), SutError> {
        match self {
            Self::Process(d) => d.kill_and_restart().await,
            Self::Container(c) => c.kill_and_restart().await,
        }
    }

    async fn pause(&mut self) -> Result<(), SutError> {
        match self {
            Self::Process(d) => d.pause().await,
            Self::Container(c) => c.pause().await,
        }
    }

    async fn resume(&mut self) -> Result<(), SutError> {
        match self {
            Self::Process(d) => d.resume().await,
            Self::Container(c) => c.resume().await,
        }
    }

    /// Stops the SUT (and removes its container, its output kept in `sut.log`).
    async fn stop(self) {
        match self {
            Self::Process(mut d) => {
                let _ = d.stop().await;
            }
            Self::Container(c) => {
                if let Err(e) = c.stop().await {
                    tracing::warn!(error = %e, "the SUT's container could not be removed");
                }
            }
        }
    }
}

/// Rewrites the URLs andon itself calls (ready, dead letters, backlog) from the SUT's
/// address as the simulators see it (`inside`) to `outside`.
fn rebase_sut(sut: &mut crate::sut::ResolvedSut, inside: Option<&str>, outside: &str) {
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

/// The exit of a run's verdicts, by the one rule of [`crate::check::overall`].
pub fn exit_of(expect: &crate::check::Expect, verdicts: &[Verdict]) -> Exit {
    match crate::check::overall(expect, verdicts) {
        crate::check::Overall::Pass => Exit::Pass,
        crate::check::Overall::Fail => Exit::Fail,
        crate::check::Overall::Inconclusive(why) => Exit::Inconclusive(why),
    }
}

/// Writes the run directory and the reports.
fn finish(
    dir: &RunDir,
    record: RunRecord,
    data: &RunData,
    verdicts: Vec<Verdict>,
) -> Result<RunOutcome, RunError> {
    finish_with(dir, record, data, verdicts, None)
}

/// [`finish`], with the load section of a load run in the reports.
fn finish_with(
    dir: &RunDir,
    record: RunRecord,
    data: &RunData,
    verdicts: Vec<Verdict>,
    load: Option<LoadReport>,
) -> Result<RunOutcome, RunError> {
    data.save(&dir.0)?;
    let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
    dir.write(RUN_FILE, json)?;
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
async fn finish_error(
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

/// The `run.json` of a run directory; `None` when there is none.
fn read_record(dir: &Path) -> Result<Option<RunRecord>, RunError> {
    let file = dir.join(RUN_FILE);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RunError::RunDir(LoadError::Io { file, source })),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        RunError::RunDir(LoadError::Json {
            file,
            message: e.to_string(),
        })
    })
}

/// What `run.json` says of a run that has not reached its verdict.
pub const INTERRUPTED: &str =
    "the run did not reach its verdict: it was stopped (Ctrl-C, SIGTERM) or killed";

/// Re-runs every checker on a recorded run directory and renders the reports again. A run
/// that never reached its verdict (interrupted) is refused, as is an empty history.
pub fn recheck(dir: &Path) -> Result<RunOutcome, RunError> {
    let record = read_record(dir)?;
    if let Some(RunRecord {
        meta: RunMeta {
            exit: Exit::Interrupted(why),
            ..
        },
        ..
    }) = &record
    {
        return Err(RunError::Interrupted {
            dir: dir.to_path_buf(),
            why: why.clone(),
        });
    }
    let data = RunData::load(dir)?;
    let mut meta = match record {
        Some(record) => record.meta,
        // A history from elsewhere (merged from shards, or written by a test): judge it
        // with what the history itself says.
        None => RunMeta {
            scenario: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            seed: 0,
            andon_version: env!("CARGO_PKG_VERSION").to_string(),
            sut: "unknown (no run.json)".to_string(),
            started: data.records.first().map(|r| r.at).unwrap_or_else(Utc::now),
            ended: data.records.last().map(|r| r.at).unwrap_or_else(Utc::now),
            exit: Exit::Pass,
            sut_actions: Vec::new(),
        },
    };
    let verdicts = check::run_all(&data);
    if !matches!(meta.exit, Exit::Error(_)) {
        meta.exit = exit_of(&data.expect, &verdicts);
    }
    let mut report = RunReport::from_run(meta, &data, verdicts);
    // A load run keeps what its load concluded in its report.
    let load: Option<LoadReport> = std::fs::read(dir.join(crate::load::report::FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    report.load = load.clone();
    // Freeing a million records takes a noticeable part of a second: let it happen off the
    // caller's path (a CLI exits before it is done, which is as good).
    std::thread::spawn(move || drop(data));
    let files = report::write_all(dir, &report)?;
    Ok(RunOutcome {
        dir: dir.to_path_buf(),
        report,
        files,
        load,
    })
}

/// The options that re-drive a recorded run: its scenario as written, its seed and
/// master data, against `sut` (default: the SUT it ran against, when that was the
/// bundled middleware with the same defects), into `report_dir` (default
/// `RUN_DIR/replay-<time>`).
pub fn replay_options(
    run_dir: &Path,
    sut: Option<PathBuf>,
    report_dir: Option<PathBuf>,
) -> Result<RunOptions, RunError> {
    let record = read_record(run_dir)?.ok_or_else(|| {
        RunError::RunDir(LoadError::Io {
            file: run_dir.join(RUN_FILE),
            source: std::io::ErrorKind::NotFound.into(),
        })
    })?;
    let scenario = run_dir.join(SCENARIO_FILE);
    // The manifest the run was made with, where it still is (the run directory's copy has
    // its secrets redacted, and relative paths in it were relative to it), else the copy.
    let sut = sut.or_else(|| {
        record.manifest_file.as_ref().map(|original| {
            let original = PathBuf::from(original);
            if original.is_file() {
                original
            } else {
                run_dir.join(MANIFEST_FILE)
            }
        })
    });
    let defects = if sut.is_none() {
        record.defects.clone()
    } else {
        Vec::new()
    };
    Ok(RunOptions {
        scenario,
        sut,
        defects,
        report_dir: Some(report_dir.unwrap_or_else(|| {
            run_dir.join(format!("replay-{}", Utc::now().format("%Y%m%dT%H%M%SZ")))
        })),
        master: Some(run_dir.join(check::rundir::MASTER)),
        progress: true,
        andon: None,
        runtime: Runtime::InProcess,
        // A load run is re-driven as the same load.
        load: record.load_overrides.clone(),
    })
}

/// Applies the SUT faults at their times; returns the driver, what was done, and why the
/// SUT failed if it did (it did not come back).
async fn drive_sut_faults(
    mut driver: SutRun,
    faults: Vec<(Duration, SutFault)>,
    t0: Instant,
) -> (SutRun, Vec<SutAction>, Option<String>) {
    let mut actions = Vec::new();
    for (at, fault) in faults {
        tokio::time::sleep_until(t0 + at).await;
        let started = Utc::now();
        let kind = fault.kind.name().to_string();
        let result = match fault.kind {
            SutFaultKind::Restart => driver.restart().await,
            SutFaultKind::Kill => driver.kill_and_restart().await,
            SutFaultKind::Pause => match driver.pause().await {
                Ok(()) => {
                    let d = fault.duration.map(|d| d.0).unwrap_or_default();
                    tokio::time::sleep(d).await;
                    driver.resume().await
                }
                Err(e) => Err(e),
            },
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

/// Settles on the history, the emitters and, when the SUT reports one, its backlog.
async fn settle_with_backlog(
    rt: &Sims,
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

/// Reads the SUT's `backlog` capability.
#[derive(Debug, Clone)]
struct BacklogProbe {
    url: String,
    client: reqwest::Client,
}

impl BacklogProbe {
    fn new(url: Option<String>) -> Option<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        url.map(|url| Self { url, client })
    }

    /// The backlog; an unreadable answer counts as 1 (not settled yet).
    async fn fetch(&self) -> u64 {
        let Ok(resp) = self.client.get(&self.url).send().await else {
            return 1;
        };
        match resp.json::<serde_json::Value>().await {
            Ok(v) => v["backlog"].as_u64().unwrap_or(1),
            Err(_) => 1,
        }
    }
}

/// The SUT's dead letters, or `None` (with a warning) when they cannot be read.
async fn fetch_dead_letters(url: &str) -> Option<Vec<serde_json::Value>> {
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

/// `1s 250ms`, `300ms` (whole milliseconds).
fn humantime_ms(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// A progress bar over the run's wall time, on stderr when it is a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(wanted: bool, scenario: &Scenario) -> Self {
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

    fn tick(&self, t: Duration, emitted: u64) {
        if let Some(b) = &self.bar {
            b.set_position(t.as_secs());
            b.set_message(format!("{emitted} events"));
        }
    }

    /// Sets the position and the message (the live line of a load run).
    fn position(&self, t: Duration, message: String) {
        if let Some(b) = &self.bar {
            b.set_position(t.as_secs());
            b.set_message(message);
        }
    }

    fn settling(&self) {
        if let Some(b) = &self.bar {
            b.set_message("settling");
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
