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

use std::collections::BTreeMap;

use andon_contracts::System;
use andon_simulators::history::Entry;
use chrono::{DateTime, Utc};
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::common::{
    self, Events, FastMap, Materials, Need, Witnesses, describe, fmt_time, fmt_us, micros, sys,
};
use super::{Checker, Phase, RunData, SlaBudget, Status, Verdict, Witness};

/// The SLA checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sla;

const NAME: &str = "sla";

impl Checker for Sla {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

use common::sys_idx as idx;

/// A fault's time in force.
struct Interval {
    id: String,
    kind: String,
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
}

struct Sample<'a> {
    us: u64,
    phase: Phase,
    event: common::Key<'a>,
    order: usize,
    effect_at: DateTime<Utc>,
}

#[derive(Default)]
struct RouteData<'a> {
    samples: Vec<Sample<'a>>,
    no_effect: u64,
    /// Events without the effect by the end: latency at least `us` (`effect_at` = the end).
    censored: Vec<Sample<'a>>,
}

fn hist() -> Histogram<u64> {
    // 1 µs to one day, 3 significant digits; longer latencies saturate at a day.
    Histogram::<u64>::new_with_bounds(1, 86_400_000_000, 3)
        .expect("the bounds and precision are valid")
}

fn stats(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "count": h.len(),
        "p50_us": h.value_at_quantile(0.5),
        "p95_us": h.value_at_quantile(0.95),
        "p99_us": h.value_at_quantile(0.99),
        "max_us": h.max(),
    })
}

fn intervals(run: &RunData) -> Vec<Interval> {
    let mut open: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out: Vec<Interval> = Vec::new();
    for r in &run.records {
        let Entry::Fault {
            id, action, kind, ..
        } = &r.entry
        else {
            continue;
        };
        match action.as_str() {
            "applied" => {
                open.entry(id.as_str()).or_default().push(out.len());
                out.push(Interval {
                    id: id.clone(),
                    kind: kind.clone(),
                    from: r.at,
                    to: None,
                });
            }
            "cleared" => {
                if let Some(i) = open.get_mut(id.as_str()).and_then(Vec::pop) {
                    out[i].to = Some(r.at);
                }
            }
            _ => {}
        }
    }
    out
}

fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let history_end = records.last().map(|r| r.at);
    // A business rejection (422) is not a slow effect: no lower bound for it.
    let materials = Materials::build(run, &events);
    let rejections = common::rejections_by_event(records, &events, &materials);
    let dels = common::deliveries(records, &events);

    // First effect per event and target system.
    let first = common::first_effects(records, &events);

    let faults = intervals(run);
    // Completion time (all first effects) of the realised events, by intended time.
    let mut done: Vec<(DateTime<Utc>, DateTime<Utc>)> = events
        .iter()
        .filter(|e| !e.poison)
        .filter_map(|e| {
            let last = first[e.n].iter().flatten().max()?;
            Some((e.intended_at, *last))
        })
        .collect();
    done.sort();
    let mut prefix_max: Vec<DateTime<Utc>> = Vec::with_capacity(done.len());
    for (i, (_, d)) in done.iter().enumerate() {
        let m = if i == 0 {
            *d
        } else {
            prefix_max[i - 1].max(*d)
        };
        prefix_max.push(m);
    }
    let mut recovery: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut fault_details = Vec::new();
    for f in &faults {
        let mut ttd = Value::Null;
        if let Some(h) = f.to {
            let n = done.partition_point(|(i, _)| *i < h);
            let end = if n == 0 { h } else { prefix_max[n - 1].max(h) };
            ttd = json!(micros(h, end));
            if end > h {
                recovery.push((h, end));
            }
        }
        fault_details.push(json!({
            "id": f.id, "kind": f.kind, "applied": f.from, "cleared": f.to, "time_to_drain_us": ttd,
        }));
    }
    let phase_of = |t: DateTime<Utc>| {
        if faults
            .iter()
            .any(|f| f.from <= t && f.to.is_none_or(|e| t < e))
        {
            Phase::DuringFault
        } else if recovery.iter().any(|(h, e)| *h <= t && t <= *e) {
            Phase::Recovery
        } else {
            Phase::Steady
        }
    };

    let mut by_route: FastMap<(System, andon_contracts::EventKind, System), RouteData<'_>> =
        FastMap::default();
    for ev in events.iter() {
        if ev.poison {
            continue;
        }
        let Some(kind) = ev.kind else { continue };
        let f = Some(&first[ev.n]).filter(|f| f.iter().any(Option::is_some));
        let phase = phase_of(ev.intended_at);
        if let Some(f) = f {
            for target in System::ALL {
                if let Some(at) = f[idx(target)] {
                    by_route
                        .entry((ev.system, kind, target))
                        .or_default()
                        .samples
                        .push(Sample {
                            us: micros(ev.intended_at, at).max(0) as u64,
                            phase,
                            event: ev.key(),
                            order: ev.idx,
                            effect_at: at,
                        });
                }
            }
        }
        if dels[ev.n].acked() {
            for s in common::expected(ev, &materials) {
                if s.need == Need::Required && f.is_none_or(|f| f[idx(s.system)].is_none()) {
                    let rd = by_route.entry((ev.system, kind, s.system)).or_default();
                    rd.no_effect += 1;
                    let rejected = rejections
                        .get(&ev.key())
                        .is_some_and(|r| r.iter().any(|x| x.system == s.system));
                    if let Some(end) = history_end.filter(|_| !rejected) {
                        rd.censored.push(Sample {
                            us: micros(ev.intended_at, end).max(0) as u64,
                            phase,
                            event: ev.key(),
                            order: ev.idx,
                            effect_at: end,
                        });
                    }
                }
            }
        }
    }

    let routes: BTreeMap<String, RouteData<'_>> = by_route
        .into_iter()
        .map(|((from, kind, to), d)| (common::route(from, kind, to), d))
        .collect();
    // Histograms per route: all, then each phase.
    let mut hists: BTreeMap<&str, [Histogram<u64>; 4]> = BTreeMap::new();
    let mut route_details = serde_json::Map::new();
    let mut total = 0u64;
    for (name, rd) in &routes {
        let mut h = [hist(), hist(), hist(), hist()];
        for s in &rd.samples {
            h[0].saturating_record(s.us);
            h[1 + Phase::ALL.iter().position(|p| *p == s.phase).unwrap_or(0)]
                .saturating_record(s.us);
        }
        total += rd.samples.len() as u64;
        let mut d = serde_json::Map::new();
        d.insert("all".into(), stats(&h[0]));
        for (i, p) in Phase::ALL.iter().enumerate() {
            d.insert(p.as_str().into(), stats(&h[i + 1]));
        }
        d.insert("no_effect".into(), json!(rd.no_effect));
        route_details.insert(name.clone(), Value::Object(d));
        hists.insert(name.as_str(), h);
    }

    let mut w = Witnesses::default();
    let (mut failed, mut unknown) = (0u64, 0u64);
    let mut budget_details = Vec::new();
    let mut unknown_reasons = Vec::new();
    for (bi, b) in run.expect.sla.iter().enumerate() {
        let slot = b
            .phase
            .and_then(|p| Phase::ALL.iter().position(|x| *x == p))
            .map(|i| i + 1)
            .unwrap_or(0);
        let phase_text = b
            .phase
            .map(|p| format!(" ({})", p.as_str()))
            .unwrap_or_default();
        // The samples, and a lower bound for each event still without its effect.
        let censored: Vec<&Sample> = routes
            .get(&b.route)
            .map(|rd| {
                rd.censored
                    .iter()
                    .filter(|s| b.phase.is_none_or(|p| p == s.phase))
                    .collect()
            })
            .unwrap_or_default();
        let judged = hists.get(b.route.as_str()).map(|h| {
            let mut h = h[slot].clone();
            for s in &censored {
                h.saturating_record(s.us);
            }
            h
        });
        let Some(h) = judged.as_ref().filter(|h| !h.is_empty()) else {
            unknown += 1;
            unknown_reasons.push(format!("no sample on route {:?}{phase_text}", b.route));
            budget_details.push(json!({ "route": b.route, "phase": b.phase, "status": "unknown", "reason": "no sample" }));
            continue;
        };
        let mut over = Vec::new();
        for (metric, budget, value) in metrics(b, h) {
            let ok = value <= budget;
            budget_details.push(json!({
                "route": b.route, "phase": b.phase, "metric": metric, "budget_us": budget, "value_us": value,
                "status": if ok { "pass" } else { "fail" },
            }));
            if !ok {
                over.push(format!(
                    "{metric} was {} (budget {})",
                    fmt_us(value as i64),
                    fmt_us(budget as i64)
                ));
            }
        }
        if over.is_empty() {
            continue;
        }
        failed += 1;
        let rd = &routes[&b.route];
        let mut slow: Vec<&Sample> = rd
            .samples
            .iter()
            .filter(|s| b.phase.is_none_or(|p| p == s.phase))
            .chain(censored.iter().copied())
            .collect();
        slow.sort_by(|a, b| b.us.cmp(&a.us).then(a.order.cmp(&b.order)));
        let summary = over.join(", ");
        for (rank, s) in slow.iter().take(3).enumerate() {
            let Some(ev) = events.map.get(&s.event) else {
                continue;
            };
            let target = b.route.rsplit(' ').next().and_then(System::parse);
            w.push("budget", bi * 10 + rank, || Witness {
                event: Some(ev.source_ref()),
                system: target,
                expected: format!(
                    "route {}{phase_text} within its budget ({})",
                    b.route,
                    budget_text(b)
                ),
                happened: format!(
                    "{summary} over {} events ({} without an effect by the end); {} took {}{} (intended at {}, {} at {} at {}, {})",
                    h.len(),
                    censored.len(),
                    describe(ev),
                    if censored.iter().any(|c| c.event == s.event) { "at least " } else { "" },
                    fmt_us(s.us as i64),
                    fmt_time(ev.intended_at),
                    if censored.iter().any(|c| c.event == s.event) { "still no effect" } else { "first effect" },
                    target.map(sys).unwrap_or_default(),
                    fmt_time(s.effect_at),
                    s.phase.as_str().replace('_', " ")
                ),
                trace_id: ev.trace(),
            });
        }
    }

    let budgets = run.expect.sla.len() as u64;
    let (status, reason) = if failed > 0 {
        (
            Status::Fail,
            format!("{failed} of {budgets} SLA budgets exceeded"),
        )
    } else if unknown > 0 {
        (
            Status::Unknown,
            format!(
                "{unknown} of {budgets} SLA budgets could not be judged: {}",
                unknown_reasons.join("; ")
            ),
        )
    } else if budgets > 0 {
        (
            Status::Pass,
            format!("{budgets} SLA budgets held over {total} latency samples"),
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
    v.counts.insert("budgets".into(), budgets);
    v.counts.insert("budgets_failed".into(), failed);
    v.counts.insert("budgets_unknown".into(), unknown);
    v.counts.insert("faults".into(), faults.len() as u64);
    v.witnesses = w.finish();
    v.details = json!({
        "unit": "microseconds",
        "routes": route_details,
        "faults": fault_details,
        "budgets": budget_details,
    });
    v
}

fn metrics(b: &SlaBudget, h: &Histogram<u64>) -> Vec<(&'static str, u64, u64)> {
    let us = |d: &super::Dur| d.0.as_micros().min(u128::from(u64::MAX)) as u64;
    let mut out = Vec::new();
    if let Some(d) = &b.p50 {
        out.push(("p50", us(d), h.value_at_quantile(0.5)));
    }
    if let Some(d) = &b.p95 {
        out.push(("p95", us(d), h.value_at_quantile(0.95)));
    }
    if let Some(d) = &b.p99 {
        out.push(("p99", us(d), h.value_at_quantile(0.99)));
    }
    if let Some(d) = &b.max {
        out.push(("max", us(d), h.max()));
    }
    out
}

fn budget_text(b: &SlaBudget) -> String {
    let mut parts = Vec::new();
    for (n, d) in [
        ("p50", &b.p50),
        ("p95", &b.p95),
        ("p99", &b.p99),
        ("max", &b.max),
    ] {
        if let Some(d) = d {
            parts.push(format!("{n} ≤ {}", fmt_us(d.0.as_micros() as i64)));
        }
    }
    parts.join(", ")
}
