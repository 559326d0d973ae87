//! SLA: propagation latency per route, from the source event's intended send time
//! (`intended_at`) to the first effect realising it at the target system (the effect
//! record's `at`, wall time, never scaled).
//!
//! * Routes are named `<system>.<short> -> <target>` (DESIGN.md): `mes.consumed -> erp`,
//!   `qms.hold -> wms`; the target is the system that recorded the effect.
//! * Latencies go into HDR histograms (microseconds, 3 significant digits); p50, p95, p99
//!   and max are reported per route, overall and per phase of the sample's intended time:
//!   `steady` (no fault in force), `during_fault` (some fault applied and not yet cleared,
//!   from the history's fault records; a fault never cleared lasts to the end), and
//!   `recovery` (after a fault was cleared, until every event emitted before the heal had
//!   all its effects — that span is the fault's `time_to_drain`).
//! * Each budget of `expect.sla` is compared with its route's samples, all phases together
//!   unless the budget names a `phase`. An acknowledged event whose required effect never
//!   landed counts for its budget with a lower bound, the time from its intended send to
//!   the end of the history (a hold that reaches the WMS after the run is no faster than
//!   that; a call the target rejected with 422 gives no bound). A budget over the limit fails, with witnesses naming the slowest events; a
//!   budget whose route (and phase) has no sample and no such event is unknown.
//! * No budget: pass, reporting the latencies only — unknown when there was no sample at
//!   all. Events that never got an effect are the exactly-once checker's business; they
//!   are counted here per route as `no_effect` for information.

mod index;
mod judge;
mod witness;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{Checker, RunData, Status, Verdict};
use index::{Index, Phases, RouteData, intervals, routes};
use judge::{Budgets, Latencies};

/// The SLA checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sla;

/// The checker's name in verdicts.
const NAME: &str = "sla";

impl Checker for Sla {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// Judges the run: latencies per route and phase, and each budget against them.
fn check(run: &RunData) -> Verdict {
    let ix = Index::build(run);
    let faults = intervals(run);
    let (phases, fault_details) = Phases::build(&ix, &faults);
    let routes = routes(&ix, &phases);
    let lat = Latencies::build(&routes);
    let mut budgets = Budgets::default();
    for (bi, b) in run.expect.sla.iter().enumerate() {
        budgets.judge(bi, b, &routes, &lat, &ix.events);
    }
    verdict(run, &routes, lat, budgets, faults.len(), fault_details)
}

/// The verdict: fail when a budget was exceeded, unknown when one had no sample (or, with
/// no budget, when there was no sample at all), pass otherwise.
fn verdict(
    run: &RunData,
    routes: &BTreeMap<String, RouteData<'_>>,
    lat: Latencies<'_>,
    budgets: Budgets,
    faults: usize,
    fault_details: Vec<Value>,
) -> Verdict {
    let Budgets {
        failed,
        unknown,
        details: budget_details,
        unknown_reasons,
        w,
    } = budgets;
    let total = lat.total;
    let n_budgets = run.expect.sla.len() as u64;
    let (status, reason) = if failed > 0 {
        (
            Status::Fail,
            format!("{failed} of {n_budgets} SLA budgets exceeded"),
        )
    } else if unknown > 0 {
        (
            Status::Unknown,
            format!(
                "{unknown} of {n_budgets} SLA budgets could not be judged: {}",
                unknown_reasons.join("; ")
            ),
        )
    } else if n_budgets > 0 {
        (
            Status::Pass,
            format!("{n_budgets} SLA budgets held over {total} latency samples"),
        )
    } else if total == 0 {
        (
            Status::Unknown,
            "no latency sample: no source event had an effect".to_string(),
        )
    } else {
        (
            Status::Pass,
            format!(
                "no SLA budget; {total} latency samples over {} routes reported",
                routes.len()
            ),
        )
    };
    let mut v = Verdict::new(NAME, status);
    v.reason = Some(reason);
    v.counts.insert("samples".into(), total);
    v.counts.insert("routes".into(), routes.len() as u64);
    v.counts.insert("budgets".into(), n_budgets);
    v.counts.insert("budgets_failed".into(), failed);
    v.counts.insert("budgets_unknown".into(), unknown);
    v.counts.insert("faults".into(), faults as u64);
    v.witnesses = w.finish();
    v.details = json!({
        "unit": "microseconds",
        "routes": lat.details,
        "faults": fault_details,
        "budgets": budget_details,
    });
    v
}
