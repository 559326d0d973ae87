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

use andon_contracts::{EventKind, Json, System};
use andon_simulators::history::{Entry, Record, RequestEntry};
use chrono::{DateTime, Utc};

use super::common::{
    self, DeadLetters, Ev, Events, FastMap, FastSet, Key, Witnesses, describe, fmt_time, fmt_us,
    micros, sys,
};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The safety checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Safety;

/// The checker's name in verdicts.
const NAME: &str = "safety";

impl Checker for Safety {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// A lot: plant, material, batch.
type LotKey<'a> = (&'a str, &'a str, &'a str);

/// A hold the QMS placed on a lot.
struct Hold<'a> {
    /// Its hold id.
    id: &'a str,
    /// When it was placed (the event's intended time).
    placed: DateTime<Utc>,
    /// When it was released, if it was.
    released: Option<DateTime<Utc>>,
    /// The record index of the placing event.
    event: usize,
}

/// A usage decision the QMS made on a lot.
struct Decision {
    /// When (the event's intended time).
    at: DateTime<Utc>,
    /// Whether the lot was rejected (valuation R).
    rejected: bool,
    /// The record index of the event.
    event: usize,
}

/// What blocked a lot when it was used: what (`hold H1`), since when, and the record index
/// of the event that blocked it.
type Block = (String, DateTime<Utc>, usize);

/// The QMS's holds and decisions per lot, and the shipments, from the events.
struct Lots<'a> {
    /// Holds per lot, in emission order.
    holds: BTreeMap<LotKey<'a>, Vec<Hold<'a>>>,
    /// Usage decisions per lot, in emission order.
    decisions: BTreeMap<LotKey<'a>, Vec<Decision>>,
    /// Shipment events by (plant, delivery).
    shipments: FastMap<(&'a str, &'a str), &'a Ev<'a>>,
    /// Holds placed.
    n_holds: u64,
    /// Lots rejected by a usage decision.
    n_rejected_lots: u64,
}

impl<'a> Lots<'a> {
    /// Indexes the non-poison holds, releases, usage decisions and shipments.
    fn build(events: &'a Events<'a>) -> Self {
        let mut lots = Lots {
            holds: BTreeMap::new(),
            decisions: BTreeMap::new(),
            shipments: FastMap::default(),
            n_holds: 0,
            n_rejected_lots: 0,
        };
        for ev in events.iter() {
            if !ev.poison {
                lots.add(ev);
            }
        }
        lots
    }

    /// Notes one event.
    fn add(&mut self, ev: &'a Ev<'a>) {
        match ev.kind {
            Some(EventKind::LotHoldPlaced) => {
                if let (Some(lot), Some(id)) = (ev.lot(), ev.field("hold_id")) {
                    self.n_holds += 1;
                    self.holds.entry(lot).or_default().push(Hold {
                        id,
                        placed: ev.intended_at,
                        released: None,
                        event: ev.idx,
                    });
                }
            }
            Some(EventKind::LotHoldReleased) => {
                if let (Some(lot), Some(id)) = (ev.lot(), ev.field("hold_id"))
                    && let Some(h) = self
                        .holds
                        .get_mut(&lot)
                        .and_then(|hs| hs.iter_mut().find(|h| h.id == id && h.released.is_none()))
                {
                    h.released = Some(ev.intended_at);
                }
            }
            Some(EventKind::UsageDecisionMade) => {
                if let Some(lot) = ev.lot() {
                    let rejected = ev.field("valuation") == Some("R");
                    self.n_rejected_lots += u64::from(rejected);
                    self.decisions.entry(lot).or_default().push(Decision {
                        at: ev.intended_at,
                        rejected,
                        event: ev.idx,
                    });
                }
            }
            Some(EventKind::ShipmentConfirmed) => {
                if let Some(d) = ev.field("delivery") {
                    self.shipments.insert((ev.event.plant.as_str(), d), ev);
                }
            }
            _ => {}
        }
    }

    /// Whether no lot was ever held or rejected (then no use can be unsafe).
    fn nothing_blocked(&self) -> bool {
        self.holds.is_empty() && self.decisions.values().flatten().all(|d| !d.rejected)
    }

    /// Why a use at `t` of `lot` is unsafe, if it is.
    fn blocked(
        &self,
        lot: &LotKey<'_>,
        t: DateTime<Utc>,
        grace: chrono::Duration,
    ) -> Option<Block> {
        let limit = t - grace;
        if let Some(h) = self.holds.get(lot).and_then(|hs| {
            hs.iter()
                .find(|h| h.placed <= limit && h.released.is_none_or(|r| r > t))
        }) {
            return Some((format!("hold {}", h.id), h.placed, h.event));
        }
        let last = self
            .decisions
            .get(lot)
            .and_then(|ds| ds.iter().rev().find(|d| d.at <= limit))?;
        last.rejected.then(|| {
            (
                "usage decision R (rejected)".to_string(),
                last.at,
                last.event,
            )
        })
    }
}

/// A use of a lot: a MES consumption or a WMS pick.
struct Use<'a> {
    /// The lot used.
    lot: LotKey<'a>,
    /// When.
    t: DateTime<Utc>,
    /// The MES or the WMS.
    system: System,
    /// The consumption event, or the shipment the pick was for.
    event: Option<&'a Ev<'a>>,
    /// The note of a pick.
    note: Option<&'a Json>,
}

impl<'a> Use<'a> {
    /// The use a record is, if it is one.
    fn of(r: &'a Record, events: &'a Events<'a>, lots: &Lots<'a>) -> Option<Self> {
        match &r.entry {
            Entry::EventEmitted {
                event,
                poison: None,
                ..
            } if event.type_ == "andon.material.consumed.v1" => {
                let ev = events
                    .map
                    .get(&(event.source.as_str(), event.id.as_str()))?;
                Some(Self {
                    lot: ev.lot()?,
                    t: ev.intended_at,
                    system: System::Mes,
                    event: Some(ev),
                    note: None,
                })
            }
            Entry::Note { name, detail } if name == "wms.pick" => {
                let (Some(p), Some(m), Some(b)) = (
                    common::field(detail, "plant"),
                    common::field(detail, "material"),
                    common::field(detail, "batch"),
                ) else {
                    return None;
                };
                let delivery = common::field(detail, "delivery").unwrap_or("?");
                Some(Self {
                    lot: (p, m, b),
                    t: r.at,
                    system: System::Wms,
                    event: lots.shipments.get(&(p, delivery)).copied(),
                    note: Some(detail),
                })
            }
            _ => None,
        }
    }

    /// What the use was, in words.
    fn what(&self) -> String {
        match (self.note, self.event) {
            (Some(d), _) => format!(
                "WMS picked {} of it for delivery {}",
                common::quantity(d, "quantity")
                    .map(|q| q.to_string())
                    .unwrap_or_default(),
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
        }
    }
}

/// What the held-lot part found.
#[derive(Default)]
struct Uses {
    /// Consumptions and picks.
    uses: u64,
    /// Consumptions of a held or rejected lot.
    unsafe_consumed: u64,
    /// Picks of a held or rejected lot.
    unsafe_picked: u64,
}

/// What the rejected-postings part found.
#[derive(Default)]
struct Rejections {
    /// Rejected calls judged (one per event and system).
    rejections: u64,
    /// Of those, named in a dead letter.
    dead_lettered: u64,
    /// Of those, whose effect landed later.
    recovered: u64,
    /// Of those, neither.
    vanished: u64,
    /// 422 answers to `/api/` calls that named no known source event.
    unattributed: u64,
}

/// Judges both parts and builds the verdict.
fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let grace =
        chrono::Duration::from_std(run.expect.safety.hold_grace.0).unwrap_or(chrono::Duration::MAX);
    let lots = Lots::build(&events);
    let mut w = Witnesses::default();
    let uses = held_lots_used(records, &events, &lots, grace, &mut w);
    let rejections = rejected_postings(run, &events, &mut w);
    verdict(run, &lots, &uses, &rejections, w)
}

/// The event a record index emitted, if it emitted one.
fn event_at<'e, 'a>(records: &[Record], events: &'e Events<'a>, idx: usize) -> Option<&'e Ev<'a>> {
    match &records.get(idx)?.entry {
        Entry::EventEmitted { event, .. } => {
            events.map.get(&(event.source.as_str(), event.id.as_str()))
        }
        _ => None,
    }
}

/// Every consumption and pick, judged against the holds and decisions in force.
fn held_lots_used<'a>(
    records: &'a [Record],
    events: &'a Events<'a>,
    lots: &Lots<'a>,
    grace: chrono::Duration,
    w: &mut Witnesses,
) -> Uses {
    let mut out = Uses::default();
    let nothing_blocked = lots.nothing_blocked();
    for (i, r) in records.iter().enumerate() {
        let Some(u) = Use::of(r, events, lots) else {
            continue;
        };
        out.uses += 1;
        if nothing_blocked {
            continue;
        }
        let Some(block) = lots.blocked(&u.lot, u.t, grace) else {
            continue;
        };
        if u.system == System::Mes {
            out.unsafe_consumed += 1;
        } else {
            out.unsafe_picked += 1;
        }
        let cause_ev = event_at(records, events, block.2);
        w.push("held_lot_used", i, || {
            held_witness(&u, &block, cause_ev, grace)
        });
    }
    out
}

/// The witness of a use of a lot while `block` was in force.
fn held_witness(
    u: &Use<'_>,
    block: &Block,
    cause_ev: Option<&Ev<'_>>,
    grace: chrono::Duration,
) -> Witness {
    let (why, since, _) = block;
    let (lot, t) = (u.lot, u.t);
    Witness {
        event: u.event.map(|e| e.source_ref()),
        system: Some(u.system),
        expected: format!(
            "no use of {} batch {} in plant {} while {why} (since {}) is in force, after {} of grace",
            lot.1,
            lot.2,
            lot.0,
            fmt_time(*since),
            fmt_us(grace.num_microseconds().unwrap_or(i64::MAX))
        ),
        happened: format!(
            "{} at {}, {} after {}",
            u.what(),
            fmt_time(t),
            fmt_us(micros(*since, t)),
            cause_ev.map(describe).unwrap_or_else(|| why.clone())
        ),
        trace_id: cause_ev.and_then(|e| e.trace()),
    }
}

/// Every event rejected (422) by a system, judged against the dead letters and the
/// effects that landed later; and the rejections that named no known event.
fn rejected_postings<'a>(run: &'a RunData, events: &Events<'a>, w: &mut Witnesses) -> Rejections {
    let records = &run.records;
    let materials = common::Materials::build(run, events);
    let rejected = common::rejections_by_event(records, events, &materials);
    let landed = landed_after(records, &rejected);
    let dl = run.dead_letters.as_deref().map(DeadLetters::build);
    // An event its plant's system notified without an id (Business Central) is named by its
    // trace id.
    let bc = crate::history::trace::business_central_plants(records);
    let trace_of_idless = |k: &Key<'_>| {
        events
            .map
            .get(k)
            .filter(|ev| {
                ev.event.source.starts_with("/andon/erp/") && bc.contains(ev.event.plant.as_str())
            })
            .and_then(|ev| ev.trace())
    };
    let mut out = Rejections::default();
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
            out.rejections += 1;
            if landed.get(&(*k, system)).is_some_and(|&e| e > ri) {
                out.recovered += 1;
                continue;
            }
            let Some(dl) = &dl else { continue };
            if dl.mentions(*k) || trace_of_idless(k).is_some_and(|t| dl.holds(&t)) {
                out.dead_lettered += 1;
                continue;
            }
            out.vanished += 1;
            if let Some(ev) = events.map.get(k) {
                w.push("rejection_vanished", ri, || {
                    vanished_witness(records, ev, system, ri)
                });
            }
        }
    }
    out.unattributed = unattributed(records, &attributed);
    out
}

/// The last effect at each system of each rejected event (its record index).
fn landed_after<'a>(
    records: &'a [Record],
    rejected: &FastMap<Key<'a>, Vec<common::Rejection>>,
) -> FastMap<(Key<'a>, System), usize> {
    let mut landed: FastMap<(Key<'a>, System), usize> = FastMap::default();
    if rejected.is_empty() {
        return landed;
    }
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
    landed
}

/// The witness of a rejected call (record `ri`) whose event vanished.
fn vanished_witness(records: &[Record], ev: &Ev<'_>, system: System, ri: usize) -> Witness {
    let (call, problem) = match records[ri].entry.request() {
        Some(RequestEntry {
            method,
            route,
            problem,
            ..
        }) => (
            format!("{method} {route}"),
            problem.clone().unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    };
    Witness {
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
    }
}

/// 422 answers to `/api/` calls not attributed to a known source event.
fn unattributed(records: &[Record], attributed: &FastSet<usize>) -> u64 {
    let mut n = 0u64;
    for (i, r) in records.iter().enumerate() {
        if let Some(RequestEntry {
            status: 422, route, ..
        }) = r.entry.request()
            && route.starts_with("/api/")
            && !attributed.contains(&i)
        {
            n += 1;
        }
    }
    n
}

/// The verdict of both parts (see the module's documentation for the status).
fn verdict(run: &RunData, lots: &Lots<'_>, u: &Uses, rj: &Rejections, w: Witnesses) -> Verdict {
    let (n_holds, n_rejected_lots) = (lots.n_holds, lots.n_rejected_lots);
    let dl = run.dead_letters.as_ref();
    let unsafe_uses = u.unsafe_consumed + u.unsafe_picked;
    let held_exercised = n_holds + n_rejected_lots > 0;
    let rejections_judged = rj.rejections > 0 && dl.is_some();
    let mut notes = Vec::new();
    if !held_exercised {
        notes.push("no hold was placed and no lot rejected".to_string());
    } else {
        notes.push(format!(
            "{} consumptions and picks checked against {n_holds} holds and {n_rejected_lots} rejected lots, {unsafe_uses} unsafe",
            u.uses
        ));
    }
    if rj.rejections == 0 {
        notes.push("no call was rejected (422)".to_string());
    } else if dl.is_none() {
        notes.push(format!(
            "{} rejected calls could not be judged: the SUT lacks the dead-letter capability (unknown)",
            rj.rejections
        ));
    } else {
        notes.push(format!(
            "{} rejected calls: {} dead-lettered, {} landed later, {} vanished",
            rj.rejections, rj.dead_lettered, rj.recovered, rj.vanished
        ));
    }
    if rj.unattributed > 0 {
        notes.push(format!(
            "{} rejections named no known source event",
            rj.unattributed
        ));
    }
    let status = if unsafe_uses > 0 || rj.vanished > 0 {
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
        ("uses", u.uses),
        ("unsafe_consumptions", u.unsafe_consumed),
        ("unsafe_picks", u.unsafe_picked),
        ("rejections", rj.rejections),
        ("rejections_unattributed", rj.unattributed),
        ("dead_lettered", rj.dead_lettered),
        ("recovered", rj.recovered),
        ("vanished", rj.vanished),
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
