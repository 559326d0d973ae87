//! Reporters: what a run leaves behind for people and for CI.
//!
//! Every reporter renders the same [`RunReport`] (derived once from the history by
//! [`RunReport::from_run`]) into one file of the run directory:
//!
//! * [`verdict`] — `verdict.json`: the run, every verdict, the timeline, latency
//!   percentiles per route and throughput, for machines;
//! * [`junit`] — `junit.xml`: one test suite per scenario, one test case per checker
//!   (unknown is `skipped`, never a pass), for CI;
//! * [`html`] — `report.html`: one self-contained page (inline CSS and SVG, no script, no
//!   network) with the fault timeline, throughput, latency per route and witnesses.
//!
//! Helpers: [`route`] names routes (shared with the SLA checker), [`latency`] computes
//! percentiles, [`svg`] and [`charts`] draw, [`escape`] escapes text for XML and HTML.
//!
//! Output is a pure function of the report: the same run renders to the same bytes,
//! which the golden tests in `tests/report/` hold.

use std::path::{Path, PathBuf};

pub mod charts;
pub mod dialects;
pub mod escape;
mod figures;
pub mod html;
pub mod junit;
mod model;
pub mod route;
pub mod svg;
pub mod verdict;

pub use figures::RunFigures;
pub use model::{Exit, FaultSpan, RunMeta, RunReport, SutAction, ThroughputPoint, Timeline};
pub use route::route_name;

/// Latency percentiles, from the history module (kept under this path for the reports).
pub use crate::history::latency;
pub use crate::history::latency::fmt_us;

/// Renders a [`RunReport`] into one file of the run directory.
pub trait Reporter {
    /// Short name (`junit`).
    fn name(&self) -> &'static str;
    /// The file it writes in the run directory (`junit.xml`).
    fn file_name(&self) -> &'static str;
    /// The file's contents.
    fn render(&self, report: &RunReport) -> Result<String, ReportError>;
}

/// Why a report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report directory could not be created.
    #[error("cannot create the report directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A report file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `verdict.json` could not be encoded.
    #[error("cannot encode the verdict as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Every reporter, in the order [`write_all`] runs them.
pub fn reporters() -> Vec<Box<dyn Reporter>> {
    vec![
        Box::new(verdict::VerdictJson),
        Box::new(junit::Junit),
        Box::new(html::Html),
    ]
}

/// Renders every reporter into `dir` (created if missing); returns the files written.
///
/// Each file is written under a temporary name and renamed, so a reader never sees half
/// a report.
pub fn write_all(dir: &Path, report: &RunReport) -> Result<Vec<PathBuf>, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError::CreateDir {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut written = Vec::new();
    for reporter in reporters() {
        let text = reporter.render(report)?;
        let path = dir.join(reporter.file_name());
        let tmp = dir.join(format!(".{}.tmp", reporter.file_name()));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| ReportError::Write {
                path: path.clone(),
                source,
            })?;
        tracing::debug!(reporter = reporter.name(), path = %path.display(), "report written");
        written.push(path);
    }
    Ok(written)
}
