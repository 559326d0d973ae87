//! Stage 1: the scenario (with `andon load`'s overrides), the master data and the
//! manifest read and checked before anything starts, and the run directory made.

use std::path::{Path, PathBuf};

use andon_simulators::MasterData;
use chrono::Utc;

use super::{
    INTERRUPTED, MANIFEST_FILE, REFERENCE_MANIFEST, REFERENCE_MANIFEST_NAME, RunError, RunOptions,
    RunRecord, SCENARIO_FILE, dir_err, write_record,
};
use crate::engine::load::LoadStats;
use crate::history::RunDir;
use crate::report::{Exit, RunMeta};
use crate::scenario::{Scenario, ScenarioError};
use crate::sut::SutManifest;

/// The manifest of `opts`: the user's, or the bundled one.
pub(super) fn manifest_of(opts: &RunOptions) -> Result<SutManifest, RunError> {
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
            if !opts.runtime.hosts_sut(&m) {
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

/// A run read and checked, its directory made: `scenario.yaml`, `sut.toml` (secrets
/// redacted) and a `run.json` that says *interrupted* until the verdict replaces it.
pub(super) struct Prepared {
    pub(super) scenario: Scenario,
    pub(super) master: MasterData,
    pub(super) manifest: SutManifest,
    pub(super) dir: RunDir,
    pub(super) record: RunRecord,
}

/// Puts every plant's ERP on `b` (dropping the scenario's cut-overs); the scenario as run,
/// for the run directory (so that a replay runs the same).
fn with_erp_dialect(
    scenario: &mut Scenario,
    b: &andon_simulators::dialect::Binding,
) -> Result<String, RunError> {
    for p in &mut scenario.plants {
        p.erp = b.dialect.per_plant().then(|| b.clone());
    }
    scenario.upgrades.clear();
    as_run(
        scenario,
        &format!("--dialect erp={b}: every plant's ERP speaks it"),
    )
}

/// The scenario as run after `flag` changed it, for the run directory (so that a replay
/// runs the same).
fn as_run(scenario: &Scenario, flag: &str) -> Result<String, RunError> {
    let yaml = serde_norway::to_string(scenario).map_err(|e| RunError::Io {
        path: PathBuf::from(SCENARIO_FILE),
        source: std::io::Error::other(e),
    })?;
    Ok(format!("# andon run {flag}\n{yaml}"))
}

/// The scenario as the run's flags change it (`--dialect`, `--transport`), and its text
/// as run.
fn with_flags(
    opts: &RunOptions,
    scenario: &mut Scenario,
    text: String,
) -> Result<String, RunError> {
    let text = match &opts.erp_dialect {
        Some(b) => with_erp_dialect(scenario, b)?,
        None => text,
    };
    Ok(match opts.transport {
        Some(t) => {
            scenario.transport = Some(t);
            as_run(
                scenario,
                &format!("--transport {t}: every plant's events go over it"),
            )?
        }
        None => text,
    })
}

/// Stage 1: reads the scenario (with `andon load`'s overrides), the master data and the
/// manifest, refusing what is wrong before anything starts, and makes the run directory.
pub(super) fn prepare(opts: &RunOptions) -> Result<Prepared, RunError> {
    let text = std::fs::read_to_string(&opts.scenario).map_err(|source| {
        RunError::Scenario(ScenarioError::Io {
            file: opts.scenario.display().to_string(),
            source,
        })
    })?;
    let mut scenario = Scenario::load(&opts.scenario)?;
    if let Some(overrides) = &opts.load {
        overrides
            .apply_to(&mut scenario)
            .map_err(|source| RunError::Load {
                file: opts.scenario.display().to_string(),
                source,
            })?;
    }
    let text = with_flags(opts, &mut scenario, text)?;
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
    dir.prepare().map_err(dir_err)?;
    dir.write(SCENARIO_FILE, &text).map_err(dir_err)?;
    // Run directories become CI artifacts: no client secret or password in them.
    dir.write(MANIFEST_FILE, crate::sut::redact::redact(&manifest.text).0)
        .map_err(dir_err)?;
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
    write_record(&dir, &record)?;
    Ok(Prepared {
        scenario,
        master,
        manifest,
        dir,
        record,
    })
}
