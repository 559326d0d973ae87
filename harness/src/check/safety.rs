//! Safety: no held or blocked lot is consumed or shipped, and no rejected posting vanishes.
//!
//! **Held or blocked lots used.** A use is a MES `material.consumed` event (at its intended
//! time) or a WMS `wms.pick` note (at the time it was recorded). It is unsafe when, at its
//! time `t`, the QMS had placed a hold on the lot at `t_h ≤ t − hold_grace` (the hold
//! event's intended time) and not released it before `t`, or had rejected the lot (usage
//! decision R) at or before `t − hold_grace` with no later acceptance. The grace
//! (`expect.safety.hold_grace`, default 60 s) is the time a hold may take to reach the MES
//! and WMS. Exercised when the run had a hold or a rejected lot.
//!
//! **Rejected postings that vanished.** Every call answered 422 by a simulator realises
//! source events (those its body references, or — for answers a fault gave, which record
//! no body — the event whose trace id it carries). Such an event must be visible in the
//! SUT's dead letters (its `source` and `id` anywhere in one dead letter's JSON) unless its
//! effect at that system landed after all (the SUT corrected and retried). Judged only
//! when the SUT has the dead-letter capability (`dead_letters` is `Some`); without it this
//! part is unknown.
//!
//! Status (a documented choice): fail when either part found a violation; otherwise pass
//! when at least one part was judged — the reason then says which part could not be; and
//! unknown when nothing could be judged (no hold, no rejected lot, and no rejection or no
//! dead-letter capability to judge the rejections with).

use std::collections::BTreeMap;

use andon_contracts::{EventKind, System};
use andon_simulators::history::Entry;
use chrono::{DateTime, Utc};

use super::common::{
    self, DeadLetters, Ev, Events, FastMap, FastSet, Key, Witnesses, describe, fmt_time, fmt_us,
    micros, sys,
};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The safety checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Safety;

const NAME: &str = "safety";

impl Checker for Safety {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

type LotKey<'a> = (&'a str, &'a str, &'a str);

struct Hold<'a> {
    id: &'a str,
    placed: DateTime<Utc>,
    released: Option<DateTime<Utc>>,
    event: usize,
}

struct Decision {
    at: DateTime<Utc>,
    rejected: bool,
    event: usize,
}

fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let grace =
        chrono::Duration::from_std(run.expect.safety.hold_grace.0).unwrap_or(chrono::Duration::MAX);
    let mut holds: BTreeMap<LotKey<'_>, Vec<Hold<'_>>> = BTreeMap::new();
    let mut decisions: BTreeMap<LotKey<'_>, Vec<Decision>> = BTreeMap::new();
    let mut shipments: FastMap<(&str, &str), &Ev<'_>> = FastMap::default();
    let (mut n_holds, mut n_rejected_lots) = (0u64, 0u64);
    for ev in events.iter() {
        if ev.poison {
            continue;
        }
        match ev.kind {
            Some(EventKind::LotHoldPlaced) => {
                if let (Some(lot), Some(id)) = (ev.lot(), ev.field("hold_id")) {
                    n_holds += 1;
                    holds.entry(lot).or_default().push(Hold {
                        id,
                        placed: ev.intended_at,
                        released: None,
                        event: ev.idx,
                    });
                }
            }
            Some(EventKind::LotHoldReleased) => {
                if let (Some(lot), Some(id)) = (ev.lot(), ev.field("hold_id"))
                    && let Some(h) = holds
                        .get_mut(&lot)
                        .and_then(|hs| hs.iter_mut().find(|h| h.id == id && h.released.is_none()))
                {
                    h.released = Some(ev.intended_at);
                }
            }
            Some(EventKind::UsageDecisionMade) => {
                if let Some(lot) = ev.lot() {
                    let rejected = ev.field("valuation") == Some("R");
                    n_rejected_lots += u64::from(rejected);
                    decisions.entry(lot).or_default().push(Decision {
                        at: ev.intended_at,
                        rejected,
                        event: ev.idx,
                    });
                }
            }
            Some(EventKind::ShipmentConfirmed) => {
                if let Some(d) = ev.field("delivery") {
                    shipments.insert((ev.event.plant.as_str(), d), ev);
                }
            }
            _ => {}
        }
    }

    let mut w = Witnesses::default();
    let (mut uses, mut unsafe_consumed, mut unsafe_picked) = (0u64, 0u64, 0u64);
    // Why a use at `t` of `lot` is unsafe, if it is: (what blocked it, since when, the event).
    let blocked = |lot: &LotKey<'_>, t: DateTime<Utc>| -> Option<(String, DateTime<Utc>, usize)> {
        let limit = t - grace;
        if let Some(h) = holds.get(lot).and_then(|hs| {
            hs.iter()
                .find(|h| h.placed <= limit && h.released.is_none_or(|r| r > t))
        }) {
            return Some((format!("hold {}", h.id), h.placed, h.event));
        }
        let last = decisions
            .get(lot)
            .and_then(|ds| ds.iter().rev().find(|d| d.at <= limit))?;
        last.rejected.then(|| {
            (
                "usage decision R (rejected)".to_string(),
                last.at,
                last.event,
            )
        })
    };
    let cause_of = |idx: usize| -> Option<&Ev<'_>> {
        match &records.get(idx)?.entry {
            Entry::EventEmitted { event, .. } => {
                events.map.get(&(event.source.as_str(), event.id.as_str()))
            }
            _ => None,
        }
    };
    let nothing_blocked = holds.is_empty() && decisions.values().flatten().all(|d| !d.rejected);
    for (i, r) in records.iter().enumerate() {
        // (lot, time, system, the event of the use, the note of a pick)
        let (lot, t, system, use_event, note): (
            LotKey<'_>,
            DateTime<Utc>,
            System,
            Option<&Ev<'_>>,
            Option<&andon_contracts::Json>,
        ) = match &r.entry {
            Entry::EventEmitted {
                event,
                poison: None,
                ..
            } if event.type_ == "andon.material.consumed.v1" => {
                let Some(ev) = events.map.get(&(event.source.as_str(), event.id.as_str())) else {
                    continue;
                };
                let Some(lot) = ev.lot() else { continue };
                (lot, ev.intended_at, System::Mes, Some(ev), None)
            }
            Entry::Note { name, detail } if name == "wms.pick" => {
                let (Some(p), Some(m), Some(b)) = (
                    common::field(detail, "plant"),
                    common::field(detail, "material"),
                    common::field(detail, "batch"),
                ) else {
                    continue;
                };
                let delivery = common::field(detail, "delivery").unwrap_or("?");
                (
                    (p, m, b),
                    r.at,
                    System::Wms,
                    shipments.get(&(p, delivery)).copied(),
                    Some(detail),
                )
            }
            _ => continue,
        };
        uses += 1;
        if nothing_blocked {
            continue;
        }
        let Some((why, since, cause)) = blocked(&lot, t) else {
            continue;
        };
        if system == System::Mes {
            unsafe_consumed += 1;
        } else {
            unsafe_picked += 1;
        }
        let cause_ev = cause_of(cause);
        w.push("held_lot_used", i, || {
            let what = match (note, use_event) {
                (Some(d), _) => format!(
                    "WMS picked {} of it for delivery {}",
                    common::quantity(d, "quantity").map(|q| q.to_string()).unwrap_or_default(),
                    common::field(d, "delivery").unwrap_or("?")
                ),
                (None, Some(ev)) => format!(
                    "MES consumed {} of it for order {}",
                    common::quantity(&ev.event.data, "quantity")
                        .map(|q| q.to_string())
                        .unwrap_or_default(),
                    ev.field("order").unwrap_or("?")
                ),
                _ => String::new(),
            };
            Witness {
                event: use_event.map(|e| e.source_ref()),
                system: Some(system),
                expected: format!(
                    "no use of {} batch {} in plant {} while {why} (since {}) is in force, after {} of grace",
                    lot.1,
                    lot.2,
                    lot.0,
                    fmt_time(since),
                    fmt_us(grace.num_microseconds().unwrap_or(i64::MAX))
                ),
                happened: format!(
                    "{what} at {}, {} after {}",
                    fmt_time(t),
                    fmt_us(micros(since, t)),
                    cause_ev.map(describe).unwrap_or_else(|| why.clone())
                ),
                trace_id: cause_ev.and_then(|e| e.trace()),
            }
        });
    }

    // Rejected postings.
    let materials = common::Materials::build(run, &events);
    let rejected = common::rejections_by_event(records, &events, &materials);
    // Effects at each system after a rejection, for the rejected events only.
    let mut landed: FastMap<(Key<'_>, System), usize> = FastMap::default();
    if !rejected.is_empty() {
        for (i, r) in records.iter().enumerate() {
            if let Entry::Effect { sources, .. } = &r.entry {
                for src in sources {
                    let k = common::key(src);
                    if rejected.contains_key(&k) {
                        landed.insert((k, r.system), i);
                    }
                }
            }
        }
    }
    let dl = run.dead_letters.as_deref().map(DeadLetters::build);
    let (mut rejections, mut dead_lettered, mut recovered, mut vanished) = (0u64, 0u64, 0u64, 0u64);
    let mut attributed: FastSet<usize> = FastSet::default();
    for k in &events.order {
        let Some(rs) = rejected.get(k) else { continue };
        let mut judged: Vec<System> = Vec::new();
        for &common::Rejection {
            system, idx: ri, ..
        } in rs
        {
            attributed.insert(ri);
            if judged.contains(&system) {
                continue;
            }
            judged.push(system);
            rejections += 1;
            if landed.get(&(*k, system)).is_some_and(|&e| e > ri) {
                recovered += 1;
                continue;
            }
            let Some(dl) = &dl else { continue };
            if dl.mentions(*k) {
                dead_lettered += 1;
                continue;
            }
            vanished += 1;
            let Some(ev) = events.map.get(k) else {
                continue;
            };
            let (call, problem) = match &records[ri].entry {
                Entry::Request {
                    method,
                    route,
                    problem,
                    ..
                } => (
                    format!("{method} {route}"),
                    problem.clone().unwrap_or_default(),
                ),
                _ => (String::new(), String::new()),
            };
            w.push("rejection_vanished", ri, || Witness {
                event: Some(ev.source_ref()),
                system: Some(system),
                expected: format!(
                    "{} in the SUT's dead letters after {} rejected its call",
                    describe(ev),
                    sys(system)
                ),
                happened: format!(
                    "{call} was answered 422 {problem} at {}; no dead letter names the event and nothing landed at {} later",
                    fmt_time(records[ri].at),
                    sys(system)
                ),
                trace_id: ev.trace(),
            });
        }
    }
    let mut unattributed = 0u64;
    for (i, r) in records.iter().enumerate() {
        if let Entry::Request {
            status: 422, route, ..
        } = &r.entry
            && route.starts_with("/api/")
            && !attributed.contains(&i)
        {
            unattributed += 1;
        }
    }

    let unsafe_uses = unsafe_consumed + unsafe_picked;
    let held_exercised = n_holds + n_rejected_lots > 0;
    let rejections_judged = rejections > 0 && dl.is_some();
    let mut notes = Vec::new();
    if !held_exercised {
        notes.push("no hold was placed and no lot rejected".to_string());
    } else {
        notes.push(format!(
            "{uses} consumptions and picks checked against {n_holds} holds and {n_rejected_lots} rejected lots, {unsafe_uses} unsafe"
        ));
    }
    if rejections == 0 {
        notes.push("no call was rejected (422)".to_string());
    } else if dl.is_none() {
        notes.push(format!(
            "{rejections} rejected calls could not be judged: the SUT lacks the dead-letter capability (unknown)"
        ));
    } else {
        notes.push(format!(
            "{rejections} rejected calls: {dead_lettered} dead-lettered, {recovered} landed later, {vanished} vanished"
        ));
    }
    if unattributed > 0 {
        notes.push(format!(
            "{unattributed} rejections named no known source event"
        ));
    }
    let status = if unsafe_uses > 0 || vanished > 0 {
        Status::Fail
    } else if held_exercised || rejections_judged {
        Status::Pass
    } else {
        Status::Unknown
    };
    let mut v = Verdict::new(NAME, status);
    v.reason = Some(notes.join("; "));
    for (k, n) in [
        ("holds", n_holds),
        ("rejected_lots", n_rejected_lots),
        ("uses", uses),
        ("unsafe_consumptions", unsafe_consumed),
        ("unsafe_picks", unsafe_picked),
        ("rejections", rejections),
        ("rejections_unattributed", unattributed),
        ("dead_lettered", dead_lettered),
        ("recovered", recovered),
        ("vanished", vanished),
    ] {
        v.counts.insert(k.to_string(), n);
    }
    v.witnesses = w.finish();
    v.details = serde_json::json!({
        "hold_grace_us": run.expect.safety.hold_grace.0.as_micros() as u64,
        "dead_letters": run.dead_letters.as_ref().map(|d| d.len()),
    });
    v
}
