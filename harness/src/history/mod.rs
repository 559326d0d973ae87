//! The run's record, at the bottom of the pipeline: what every later stage reads and
//! nothing earlier depends on. It imports no other module of the crate.
//!
//! Layout: [`rundir`] — the run directory, made for a run, written and read back
//! (`history_line` is its fast reader of one history line); [`expect`] — what a scenario
//! expects (`expect.json`): checkers on, SLA budgets, reconciliations, safety, which
//! checkers the verdict requires; [`index`] — indexes over the history keyed by source
//! event, shared by the checkers, the load measures and the reports; [`latency`] —
//! percentiles and [`LatencySummary`]; [`trace`] — the source event of a vendor dialect's
//! call, by the trace it continues; [`RunData`] — everything a checker may read;
//! [`LoadStats`] — what the load driver did (`run.json`).

pub mod expect;
mod history_line;
pub mod index;
pub mod latency;
pub mod rundir;
pub mod trace;

use std::collections::BTreeMap;

use andon_contracts::System;
use andon_simulators::MasterData;
use andon_simulators::history::Record;

pub use expect::Expect;
pub use latency::LatencySummary;
pub use rundir::{LoadError, RunDir};

/// Everything a checker may read about a finished run.
#[derive(Debug, Clone)]
pub struct RunData {
    /// The history, in file order.
    pub records: Vec<Record>,
    /// Final `GET /_andon/state` of each simulator.
    pub snapshots: BTreeMap<System, serde_json::Value>,
    /// Master data the run started with.
    pub master: MasterData,
    /// The scenario's expectations.
    pub expect: Expect,
    /// The SUT's dead letters at the end; `None` when it lacks the capability.
    pub dead_letters: Option<Vec<serde_json::Value>>,
}

/// What the load driver did (recorded in `run.json`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoadStats {
    /// Steps scheduled.
    pub scheduled: u64,
    /// Steps that started later than 100 ms after their scheduled time.
    pub late: u64,
    /// Worst lateness in milliseconds.
    pub max_lateness_ms: u64,
    /// Events the steps emitted.
    pub emitted: u64,
}
