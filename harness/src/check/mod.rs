//! Checkers: each reads a run's history and the simulators' final state and says
//! `pass`, `fail` (with counts and a bounded list of minimal witnesses in plain language)
//! or `unknown` (the property could not be exercised). Unknown is never reported as pass.
//!
//! One file per checker, all behind [`Checker`]. [`RunData`] is everything a checker may
//! read; it is loaded from a run directory, so `andon check RUN_DIR` re-runs every checker
//! without re-running the scenario.
//!
//! Layout: [`exactly_once`], [`reconciliation`], [`sla`], [`contract`], [`mapping`],
//! [`safety`] and [`ordering`] — one checker each, its semantics documented at the top of its file;
//! `common` — the history's indexes (from [`crate::history`]), expected effects and the
//! legitimacy of rejections from the flows as data, the witness collector and wording;
//! [`synthetic`] — a fabricated
//! consistent run of any size for tests and benchmarks. [`all`] and [`run_all`] pick and
//! run the checkers a scenario's [`Expect`] turns on.

pub mod contract;
pub mod exactly_once;
pub mod mapping;
pub mod ordering;
pub mod reconciliation;
pub mod safety;
pub mod sla;
pub mod synthetic;

pub(crate) mod common;

use std::collections::BTreeMap;

use andon_contracts::{SourceRef, System};
use serde::{Deserialize, Serialize};

pub use crate::history::expect::{CheckName, Expect, Phase, Reconcile, SafetyExpect, SlaBudget};
/// The run directory, from the history module (kept under this path for the checkers).
pub use crate::history::rundir;
pub use crate::history::{LoadError, RunData};

/// Most witnesses a verdict lists.
pub const MAX_WITNESSES: usize = 20;

/// The outcome of one checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The property held and was exercised.
    Pass,
    /// The property was violated.
    Fail,
    /// The property could not be exercised; `reason` says why.
    Unknown,
}

impl Status {
    /// `pass`, `fail` or `unknown`, as in verdict.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unknown => "unknown",
        }
    }
}

/// A minimal counter-example, in plain language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Witness {
    /// The source event it is about.
    pub event: Option<SourceRef>,
    /// The system where it should have landed (or where it happened).
    pub system: Option<System>,
    /// What was expected.
    pub expected: String,
    /// What happened.
    pub happened: String,
    /// W3C trace id (32 hex) to find it in the SUT's logs.
    pub trace_id: Option<String>,
}

/// What one checker concluded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// Checker name (`exactly_once`, `reconciliation`, `sla`, `contract`, `safety`, `ordering`).
    pub checker: String,
    /// Pass, fail or unknown.
    pub status: Status,
    /// Counts (`events`, `lost`, `duplicated`, …).
    pub counts: BTreeMap<String, u64>,
    /// At most [`MAX_WITNESSES`] witnesses.
    pub witnesses: Vec<Witness>,
    /// Why unknown, or a one-line summary.
    pub reason: Option<String>,
    /// Checker-specific details (SLA percentiles per route and phase, …).
    pub details: serde_json::Value,
}

/// What a run's verdicts come to, by the one rule `andon run`, `check`, `load`, `test`
/// and the reports share:
/// * **fail** when any checker failed;
/// * **inconclusive** when a checker the scenario requires ([`Expect::required`]) is
///   unknown (for exactly-once: no acknowledged event had an effect to land, or most
///   ended in a business rejection; for SLA: a budget's route had no sample), or when no
///   checker could judge anything — never a pass;
/// * **pass** otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    /// Every required checker judged and none failed.
    Pass,
    /// A checker failed.
    Fail,
    /// Not judged enough to pass; why.
    Inconclusive(String),
}

/// The one verdict rule (see [`Overall`]).
pub fn overall(expect: &Expect, verdicts: &[Verdict]) -> Overall {
    if verdicts.iter().any(|v| v.status == Status::Fail) {
        return Overall::Fail;
    }
    let unjudged: Vec<String> = verdicts
        .iter()
        .filter(|v| {
            v.status == Status::Unknown && expect.required.iter().any(|c| c.as_str() == v.checker)
        })
        .map(|v| {
            format!(
                "{} could not be judged ({})",
                v.checker,
                v.reason.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    if !unjudged.is_empty() {
        return Overall::Inconclusive(unjudged.join("; "));
    }
    if verdicts.iter().all(|v| v.status == Status::Unknown) {
        return Overall::Inconclusive("no checker could judge anything".into());
    }
    Overall::Pass
}

/// One property checked over a run.
pub trait Checker: Send + Sync {
    /// Name in reports (`exactly_once`).
    fn name(&self) -> &'static str;
    /// Judges the run.
    fn check(&self, run: &RunData) -> Verdict;
}

impl Verdict {
    /// A verdict of `checker` with `status` and nothing else yet.
    pub fn new(checker: &str, status: Status) -> Self {
        Self {
            checker: checker.to_string(),
            status,
            counts: BTreeMap::new(),
            witnesses: Vec::new(),
            reason: None,
            details: serde_json::Value::Null,
        }
    }

    /// An unknown verdict of `checker`, saying why.
    pub fn unknown(checker: &str, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::new(checker, Status::Unknown)
        }
    }

    /// A count by name (0 when absent).
    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }
}

/// The checkers `expect` turns on, in report order. SLA and safety always run (latencies
/// are reported even without budgets; safety cannot be switched off).
pub fn all(expect: &Expect) -> Vec<Box<dyn Checker>> {
    let mut out: Vec<Box<dyn Checker>> = Vec::new();
    if expect.exactly_once {
        out.push(Box::new(exactly_once::ExactlyOnce));
    }
    if !expect.reconcile.is_empty() {
        out.push(Box::new(reconciliation::Reconciliation));
    }
    out.push(Box::new(sla::Sla));
    if expect.contract {
        out.push(Box::new(contract::Contract));
    }
    if expect.mapping {
        out.push(Box::new(mapping::Mapping));
    }
    out.push(Box::new(safety::Safety));
    if expect.ordering {
        out.push(Box::new(ordering::Ordering));
    }
    out
}

/// Runs every checker `run.expect` turns on (two at a time) and returns their verdicts in
/// report order.
pub fn run_all(run: &RunData) -> Vec<Verdict> {
    let checkers = all(&run.expect);
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 2);
    if threads == 1 {
        return checkers.iter().map(|c| c.check(run)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<Option<Verdict>> = vec![None; checkers.len()];
    let results = std::sync::Mutex::new(&mut out);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(c) = checkers.get(i) else { break };
                    let v = c.check(run);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(v);
                }
            });
        }
    });
    out.into_iter()
        .zip(&checkers)
        .map(|(v, c)| v.unwrap_or_else(|| Verdict::unknown(c.name(), "the checker did not finish")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(checker: &str, status: Status) -> Verdict {
        Verdict::new(checker, status)
    }

    fn expect(yaml: &str) -> Expect {
        serde_norway::from_str(yaml).expect("expect block")
    }

    #[test]
    fn what_the_expect_block_names_is_required_and_the_rest_only_runs() {
        let e = expect("ordering: true\nreconcile: [inventory]\n");
        assert_eq!(
            e.required,
            [
                CheckName::ExactlyOnce,
                CheckName::Reconciliation,
                CheckName::Ordering
            ]
        );
        assert!(e.contract && e.mapping && e.ordering);
        let e = expect("exactly_once: false\nordering: false\n");
        assert!(e.required.is_empty() && !e.ordering);
        let e = expect("required: [safety]\n");
        assert_eq!(e.required, [CheckName::Safety]);
        // expect.json round-trips, `required` included.
        let again: Expect =
            serde_json::from_str(&serde_json::to_string(&e).unwrap()).expect("round trip");
        assert_eq!(again, e);
        assert!(serde_norway::from_str::<Expect>("odering: true\n").is_err());
    }

    #[test]
    fn unknown_is_never_a_pass() {
        let e = expect("ordering: true\n");
        let pass = [v("exactly_once", Status::Pass), v("ordering", Status::Pass)];
        assert_eq!(overall(&e, &pass), Overall::Pass);
        // A required checker unknown: inconclusive, whatever else passed.
        let unk = [
            v("exactly_once", Status::Pass),
            v("ordering", Status::Unknown),
        ];
        assert!(
            matches!(overall(&e, &unk), Overall::Inconclusive(why) if why.contains("ordering"))
        );
        // Not required: reported, not held against the run.
        let e2 = expect("{}");
        assert_eq!(overall(&e2, &unk), Overall::Pass);
        // Nothing judged at all: inconclusive even when nothing is required.
        let none = [v("exactly_once", Status::Unknown)];
        let e3 = expect("exactly_once: false\n");
        assert!(matches!(overall(&e3, &none), Overall::Inconclusive(_)));
        assert!(matches!(overall(&e3, &[]), Overall::Inconclusive(_)));
        // A failure wins over everything.
        let fail = [
            v("exactly_once", Status::Unknown),
            v("ordering", Status::Fail),
        ];
        assert_eq!(overall(&e, &fail), Overall::Fail);
    }
}
