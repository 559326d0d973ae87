//! The SLA checker's index: the faults' times in force, the phases of the run, and the
//! latency samples of every route.

use std::collections::BTreeMap;

use andon_contracts::System;
use andon_simulators::history::Entry;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::check::common::{self, Events, FastMap, Materials, Need, micros};
use crate::check::{Phase, RunData};

use common::sys_idx as idx;

/// A fault's time in force.
pub(super) struct Interval {
    /// The fault's id.
    pub(super) id: String,
    /// Its kind.
    pub(super) kind: String,
    /// When it was applied.
    pub(super) from: DateTime<Utc>,
    /// When it was cleared (`None`: never).
    pub(super) to: Option<DateTime<Utc>>,
}

/// One latency sample of a route (or a lower bound for an event without the effect).
pub(super) struct Sample<'a> {
    /// Microseconds from the intended send to the effect.
    pub(super) us: u64,
    /// The phase of the run at the intended send.
    pub(super) phase: Phase,
    /// The event.
    pub(super) event: common::Key<'a>,
    /// The record index of the event (the witnesses' order).
    pub(super) order: usize,
    /// When the effect landed (for a lower bound: the end of the history).
    pub(super) effect_at: DateTime<Utc>,
}

/// What one route gathered.
#[derive(Default)]
pub(super) struct RouteData<'a> {
    /// The latencies of the effects that landed.
    pub(super) samples: Vec<Sample<'a>>,
    /// Acknowledged events whose required effect never landed.
    pub(super) no_effect: u64,
    /// Events without the effect by the end: latency at least `us` (`effect_at` = the end).
    pub(super) censored: Vec<Sample<'a>>,
}

/// Every fault's time in force, from the history's fault records.
pub(super) fn intervals(run: &RunData) -> Vec<Interval> {
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

/// A span of time: from, to.
pub(super) type Span = (DateTime<Utc>, DateTime<Utc>);

/// The first effect of one event at each system ([`idx`]).
pub(super) type Firsts = [Option<DateTime<Utc>>; 4];

/// What the SLA checker reads from the history, built once.
pub(super) struct Index<'a> {
    /// The emitted events.
    pub(super) events: Events<'a>,
    /// The material master as it stood at each event.
    pub(super) materials: Materials<'a>,
    /// The business rejections (422) per event: no lower bound for those.
    pub(super) rejections: FastMap<common::Key<'a>, Vec<common::Rejection>>,
    /// The deliveries per event number.
    pub(super) dels: Vec<common::DeliveryState>,
    /// The first effect per event number and target system.
    pub(super) first: Vec<Firsts>,
    /// The time of the last record.
    pub(super) history_end: Option<DateTime<Utc>>,
}

impl<'a> Index<'a> {
    /// Indexes the run.
    pub(super) fn build(run: &'a RunData) -> Self {
        let records = &run.records;
        let events = Events::build(records);
        let history_end = records.last().map(|r| r.at);
        // A business rejection (422) is not a slow effect: no lower bound for it.
        let materials = Materials::build(run, &events);
        let rejections = common::rejections_by_event(records, &events, &materials);
        let dels = common::deliveries(records, &events);
        // First effect per event and target system.
        let first = common::first_effects(records, &events);
        Self {
            events,
            materials,
            rejections,
            dels,
            first,
            history_end,
        }
    }
}

/// The phase of the run at any moment: the faults in force, and the recovery after each
/// healed one.
pub(super) struct Phases<'f> {
    /// The faults.
    pub(super) faults: &'f [Interval],
    /// From each heal to when every event emitted before it had all its effects.
    pub(super) recovery: Vec<Span>,
}

impl<'f> Phases<'f> {
    /// The recovery spans, and each fault's details for the report (with its
    /// `time_to_drain_us`).
    pub(super) fn build(ix: &Index<'_>, faults: &'f [Interval]) -> (Self, Vec<Value>) {
        let (done, prefix_max) = completions(ix);
        let mut recovery: Vec<Span> = Vec::new();
        let mut fault_details = Vec::new();
        for f in faults {
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
        (Self { faults, recovery }, fault_details)
    }

    /// The phase at `t`.
    pub(super) fn of(&self, t: DateTime<Utc>) -> Phase {
        if self
            .faults
            .iter()
            .any(|f| f.from <= t && f.to.is_none_or(|e| t < e))
        {
            Phase::DuringFault
        } else if self.recovery.iter().any(|(h, e)| *h <= t && t <= *e) {
            Phase::Recovery
        } else {
            Phase::Steady
        }
    }
}

/// The realised events' (intended time, time of their last first effect), sorted, and the
/// running maximum of the latter.
pub(super) fn completions(ix: &Index<'_>) -> (Vec<Span>, Vec<DateTime<Utc>>) {
    let mut done: Vec<Span> = ix
        .events
        .iter()
        .filter(|e| !e.poison)
        .filter_map(|e| {
            let last = ix.first[e.n].iter().flatten().max()?;
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
    (done, prefix_max)
}

/// A route: source system, event kind, target system.
pub(super) type RouteKey = (System, andon_contracts::EventKind, System);

/// The samples and lower bounds of every route, by route name.
pub(super) fn routes<'a>(ix: &Index<'a>, phases: &Phases<'_>) -> BTreeMap<String, RouteData<'a>> {
    let mut by_route: FastMap<RouteKey, RouteData<'a>> = FastMap::default();
    for ev in ix.events.iter() {
        if ev.poison {
            continue;
        }
        let Some(kind) = ev.kind else { continue };
        let f = Some(&ix.first[ev.n]).filter(|f| f.iter().any(Option::is_some));
        let phase = phases.of(ev.intended_at);
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
        if ix.dels[ev.n].acked() {
            missing_effects(ix, ev, kind, f, phase, &mut by_route);
        }
    }
    by_route
        .into_iter()
        .map(|((from, kind, to), d)| (common::route(from, kind, to), d))
        .collect()
}

/// Counts the required effects of an acknowledged event that never landed, each with a
/// lower bound (to the end of the history) unless the target rejected the call.
pub(super) fn missing_effects<'a>(
    ix: &Index<'a>,
    ev: &common::Ev<'a>,
    kind: andon_contracts::EventKind,
    f: Option<&Firsts>,
    phase: Phase,
    by_route: &mut FastMap<RouteKey, RouteData<'a>>,
) {
    for s in common::expected(ev, &ix.materials) {
        if s.need == Need::Required && f.is_none_or(|f| f[idx(s.system)].is_none()) {
            let rd = by_route.entry((ev.system, kind, s.system)).or_default();
            rd.no_effect += 1;
            let rejected = ix
                .rejections
                .get(&ev.key())
                .is_some_and(|r| r.iter().any(|x| x.system == s.system));
            if let Some(end) = ix.history_end.filter(|_| !rejected) {
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
