//! Plain-language wording of witnesses (events, systems, durations, times) and the
//! bounded witness collector; the dead letters a SUT reports, indexed.

use std::collections::BTreeMap;

use andon_contracts::{EventKind, System};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::*;
use crate::check::{MAX_WITNESSES, Witness};

/// A plain-language description of an event (`material.consumed of RM-1000-02 batch R1021
/// (order 1000001, plant 1000)`).
pub(crate) fn describe(ev: &Ev<'_>) -> String {
    use EventKind as K;
    let f = |n: &str| ev.field(n).unwrap_or("?");
    let plant = ev.event.plant.as_str();
    let Some(kind) = ev.kind else {
        return format!("{} about {}", ev.event.type_, ev.event.subject);
    };
    let name = kind.name();
    match kind {
        K::MaterialConsumed | K::MaterialProduced => format!(
            "{name} of {} batch {} (order {}, plant {plant})",
            f("material"),
            f("batch"),
            f("order")
        ),
        K::UsageDecisionMade => format!(
            "{name} {} of {} batch {} (plant {plant})",
            f("code"),
            f("material"),
            f("batch")
        ),
        K::LotHoldPlaced | K::LotHoldReleased => format!(
            "{name} {} on {} batch {} (plant {plant})",
            f("hold_id"),
            f("material"),
            f("batch")
        ),
        K::ShipmentConfirmed => format!("{name} of delivery {} (plant {plant})", f("delivery")),
        K::ProductionOrderReleased | K::ProductionOrderChanged | K::ProductionOrderCancelled => {
            format!("{name} of order {} (plant {plant})", f("order"))
        }
        K::MaterialChanged => format!("{name} of {}", f("material")),
        K::OperationConfirmed => format!(
            "{name} of order {} operation {} (plant {plant})",
            f("order"),
            f("operation")
        ),
        K::NonconformanceCreated => format!(
            "{name} {} on {} (plant {plant})",
            f("nonconformance"),
            f("material")
        ),
        _ => format!("{name} about {} (plant {plant})", ev.event.subject),
    }
}

/// Upper-case system name (`ERP`).
pub(crate) fn sys(s: System) -> String {
    s.as_str().to_ascii_uppercase()
}

/// A duration in microseconds, readable (`12.3 s`, `850 ms`, `40 µs`).
pub(crate) fn fmt_us(us: i64) -> String {
    let a = us.unsigned_abs();
    let sign = if us < 0 { "-" } else { "" };
    if a >= 120_000_000 {
        format!("{sign}{:.1} min", a as f64 / 6e7)
    } else if a >= 1_000_000 {
        format!("{sign}{:.1} s", a as f64 / 1e6)
    } else if a >= 1_000 {
        format!("{sign}{:.1} ms", a as f64 / 1e3)
    } else {
        format!("{sign}{a} µs")
    }
}

/// A wall-clock time of the run (`12:00:01.234`).
pub(crate) fn fmt_time(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S%.3f").to_string()
}

/// Collects witnesses per category, keeping at most [`MAX_WITNESSES`] of each, the earliest
/// by an order key (the record index). `finish` picks the earliest of every category first
/// (so that every kind of failure is shown), then fills up with the earliest of the rest.
#[derive(Default)]
pub(crate) struct Witnesses {
    per: BTreeMap<&'static str, Vec<(usize, Witness)>>,
}

impl Witnesses {
    /// Whether a witness of `category` at `order` would be kept.
    pub fn wants(&self, category: &'static str, order: usize) -> bool {
        self.per
            .get(category)
            .is_none_or(|v| v.len() < MAX_WITNESSES || v.last().is_some_and(|l| order < l.0))
    }

    /// Adds a witness, built only when it would be kept.
    pub fn push(&mut self, category: &'static str, order: usize, w: impl FnOnce() -> Witness) {
        if !self.wants(category, order) {
            return;
        }
        let v = self.per.entry(category).or_default();
        let at = v.partition_point(|(o, _)| *o <= order);
        v.insert(at, (order, w()));
        v.truncate(MAX_WITNESSES);
    }

    /// At most [`MAX_WITNESSES`], in order.
    pub fn finish(self) -> Vec<Witness> {
        let mut chosen: Vec<(usize, &'static str, Witness)> = Vec::new();
        let mut rest: Vec<(usize, &'static str, Witness)> = Vec::new();
        for (cat, v) in self.per {
            for (i, (o, w)) in v.into_iter().enumerate() {
                if i == 0 {
                    chosen.push((o, cat, w));
                } else {
                    rest.push((o, cat, w));
                }
            }
        }
        chosen.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        chosen.truncate(MAX_WITNESSES);
        rest.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let room = MAX_WITNESSES - chosen.len();
        chosen.extend(rest.into_iter().take(room));
        chosen.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        chosen.into_iter().map(|(_, _, w)| w).collect()
    }
}

/// Every string anywhere in a JSON value.
pub(crate) fn strings<'v>(v: &'v Value, out: &mut FastSet<&'v str>) {
    match v {
        Value::String(s) => {
            out.insert(s.as_str());
        }
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.insert(k.as_str());
            strings(x, out);
        }),
        _ => {}
    }
}

/// Dead letters indexed for "does it mention this event": every dead letter whose JSON
/// holds the event's `id` and `source` as strings anywhere.
pub(crate) struct DeadLetters<'v> {
    letters: Vec<FastSet<&'v str>>,
    by_string: FastMap<&'v str, Vec<usize>>,
}

impl<'v> DeadLetters<'v> {
    /// Indexes the dead letters.
    pub fn build(letters: &'v [Value]) -> Self {
        let mut sets = Vec::with_capacity(letters.len());
        let mut by_string: FastMap<&'v str, Vec<usize>> = FastMap::default();
        for (i, l) in letters.iter().enumerate() {
            let mut s = FastSet::default();
            strings(l, &mut s);
            for x in &s {
                by_string.entry(*x).or_default().push(i);
            }
            sets.push(s);
        }
        Self {
            letters: sets,
            by_string,
        }
    }

    /// Whether some dead letter holds the string `s` (a trace id, for an event notified
    /// without an id).
    pub fn holds(&self, s: &str) -> bool {
        self.by_string.contains_key(s)
    }

    /// Whether some dead letter names the event.
    pub fn mentions(&self, k: Key<'_>) -> bool {
        self.by_string
            .get(k.1)
            .is_some_and(|ls| ls.iter().any(|&i| self.letters[i].contains(k.0)))
    }
}
