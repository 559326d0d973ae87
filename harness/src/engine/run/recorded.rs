//! A recorded run again: `andon check` re-judges its directory ([`recheck`]), `andon
//! replay` re-drives it ([`replay_options`]); `run.json` read back ([`read_record`]).

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{
    MANIFEST_FILE, RUN_FILE, RunError, RunOptions, RunOutcome, RunRecord, SCENARIO_FILE, exit_of,
};
use crate::check::{self, LoadError, RunData};
use crate::engine::runtime::RuntimeKind;
use crate::load::report::LoadReport;
use crate::report::{self, Exit, RunFigures, RunMeta, RunReport};

/// The `run.json` of a run directory; `None` when there is none.
pub fn read_record(dir: &Path) -> Result<Option<RunRecord>, RunError> {
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
    // The report's figures need no verdict: drawn beside the checkers, on the core they
    // leave idle whenever one checker is left running.
    let (verdicts, figures) = std::thread::scope(|s| {
        let figures = s.spawn(|| RunFigures::of(&data, meta.started, meta.ended));
        let verdicts = check::run_all(&data);
        let figures = figures
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (verdicts, figures)
    });
    if !matches!(meta.exit, Exit::Error(_)) {
        meta.exit = exit_of(&data.expect, &verdicts);
    }
    let mut report = RunReport::from_figures(meta, &data, verdicts, figures);
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
        runtime: RuntimeKind::InProcess,
        // A load run is re-driven as the same load.
        load: record.load_overrides.clone(),
        // The recorded scenario is the one that ran (with any `--dialect` applied).
        erp_dialect: None,
        // And with any `--transport` applied.
        transport: None,
    })
}
