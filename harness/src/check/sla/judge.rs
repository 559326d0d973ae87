//! The SLA checker's judgement: the latency histograms of every route, and each budget
//! against them.

use std::collections::BTreeMap;

use andon_simulators::faults::Dur;
use hdrhistogram::Histogram;
use serde_json::{Value, json};

use super::index::{RouteData, Sample};
use super::witness::Exceeded;
use crate::check::common::{Events, Witnesses, fmt_us};
use crate::check::{Phase, SlaBudget};

/// An empty latency histogram.
pub(super) fn hist() -> Histogram<u64> {
    // 1 µs to one day, 3 significant digits; longer latencies saturate at a day.
    Histogram::<u64>::new_with_bounds(1, 86_400_000_000, 3)
        .expect("the bounds and precision are valid")
}

/// A histogram's count and percentiles, as reported.
pub(super) fn stats(h: &Histogram<u64>) -> Value {
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

/// The histograms of every route (all samples, then each phase), the routes' details for
/// the report, and the number of samples.
pub(super) struct Latencies<'r> {
    /// Histograms per route name: all, then one per [`Phase::ALL`].
    pub(super) hists: BTreeMap<&'r str, [Histogram<u64>; 4]>,
    /// Per route: the stats of each histogram and `no_effect`.
    pub(super) details: serde_json::Map<String, Value>,
    /// Samples over all routes.
    pub(super) total: u64,
}

impl<'r> Latencies<'r> {
    /// Records every route's samples.
    pub(super) fn build(routes: &'r BTreeMap<String, RouteData<'_>>) -> Self {
        let mut out = Self {
            hists: BTreeMap::new(),
            details: serde_json::Map::new(),
            total: 0,
        };
        for (name, rd) in routes {
            let mut h = [hist(), hist(), hist(), hist()];
            for s in &rd.samples {
                h[0].saturating_record(s.us);
                h[1 + Phase::ALL.iter().position(|p| *p == s.phase).unwrap_or(0)]
                    .saturating_record(s.us);
            }
            out.total += rd.samples.len() as u64;
            let mut d = serde_json::Map::new();
            d.insert("all".into(), stats(&h[0]));
            for (i, p) in Phase::ALL.iter().enumerate() {
                d.insert(p.as_str().into(), stats(&h[i + 1]));
            }
            d.insert("no_effect".into(), json!(rd.no_effect));
            out.details.insert(name.clone(), Value::Object(d));
            out.hists.insert(name.as_str(), h);
        }
        out
    }
}

/// What the budgets came to.
#[derive(Default)]
pub(super) struct Budgets {
    /// Budgets exceeded.
    pub(super) failed: u64,
    /// Budgets without a sample.
    pub(super) unknown: u64,
    /// Per budget and metric, for the report.
    pub(super) details: Vec<Value>,
    /// Why each unknown budget is unknown.
    pub(super) unknown_reasons: Vec<String>,
    /// The slowest events of the exceeded budgets.
    pub(super) w: Witnesses,
}

impl Budgets {
    /// Judges budget number `bi` against its route's samples (and lower bounds) in its
    /// phase.
    pub(super) fn judge(
        &mut self,
        bi: usize,
        b: &SlaBudget,
        routes: &BTreeMap<String, RouteData<'_>>,
        lat: &Latencies<'_>,
        events: &Events<'_>,
    ) {
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
        let judged = lat.hists.get(b.route.as_str()).map(|h| {
            let mut h = h[slot].clone();
            for s in &censored {
                h.saturating_record(s.us);
            }
            h
        });
        let Some(h) = judged.as_ref().filter(|h| !h.is_empty()) else {
            self.unknown += 1;
            self.unknown_reasons
                .push(format!("no sample on route {:?}{phase_text}", b.route));
            self.details.push(json!({ "route": b.route, "phase": b.phase, "status": "unknown", "reason": "no sample" }));
            return;
        };
        let mut over = Vec::new();
        for (metric, budget, value) in metrics(b, h) {
            let ok = value <= budget;
            self.details.push(json!({
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
            return;
        }
        self.failed += 1;
        let exceeded = Exceeded {
            bi,
            b,
            phase_text: &phase_text,
            summary: over.join(", "),
            judged: h.len(),
            censored: &censored,
        };
        self.slowest(&exceeded, &routes[&b.route], events);
    }

    /// Witnesses the three slowest events of an exceeded budget.
    pub(super) fn slowest(&mut self, x: &Exceeded<'_>, rd: &RouteData<'_>, events: &Events<'_>) {
        let b = x.b;
        let mut slow: Vec<&Sample> = rd
            .samples
            .iter()
            .filter(|s| b.phase.is_none_or(|p| p == s.phase))
            .chain(x.censored.iter().copied())
            .collect();
        slow.sort_by(|a, b| b.us.cmp(&a.us).then(a.order.cmp(&b.order)));
        for (rank, s) in slow.iter().take(3).enumerate() {
            let Some(ev) = events.map.get(&s.event) else {
                continue;
            };
            self.w.push("budget", x.bi * 10 + rank, || x.witness(s, ev));
        }
    }
}

/// Each metric the budget sets: its name, the budget and the value, in microseconds.
pub(super) fn metrics(b: &SlaBudget, h: &Histogram<u64>) -> Vec<(&'static str, u64, u64)> {
    let us = |d: &Dur| d.0.as_micros().min(u128::from(u64::MAX)) as u64;
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
