//! Ordering: per-lot changes are applied in order; no stale overwrite (a release undone by
//! a late hold, an acceptance undone by an older status).
//!
//! The MES and WMS simulators apply every lot change they are told (as real systems do) and
//! mark it `stale` in the effect when its source sequence is lower than one already
//! applied to the lot. A stale `hold`, `release` or `lot_status` effect that changed the
//! lot — its availability, disposition or holds differ from what the previous effect on
//! that lot at that system left — is a stale overwrite: fail, with a witness naming the
//! lot, the sequence applied and the newer one it overwrote, and the call's trace id. A
//! stale change that changed nothing is harmless and only counted.
//!
//! A hold release that reached the MES or WMS before the hold it releases (the call was
//! answered `hold-not-found`, while the QMS had placed that hold with a lower sequence) is
//! the other face of applying in arrival order: the hold, applied after, then stays in
//! force for good. That fails too (`release_before_hold`).
//!
//! Exercised when some lot had at least two changes applied at one system and the order
//! was put to the test: a `reorder` or `duplicate` fault fired, or some lot's events
//! reached the SUT out of sequence order (from the delivery attempts). Otherwise unknown —
//! unless an overwrite was found, which fails whatever caused it.

use std::collections::BTreeMap;

use andon_contracts::{EventKind, Json, JsonRef, SourceRef, System};
use andon_simulators::history::{Entry, Outcome, Record, RequestEntry};

use super::common::{self, Events, FastMap, Witnesses, describe, sys};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The ordering checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ordering;

/// The checker's name in verdicts.
const NAME: &str = "ordering";

impl Checker for Ordering {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// A lot's state as an effect left it at the MES or WMS.
#[derive(Clone, PartialEq)]
struct State<'v> {
    /// Its status (`unrestricted`, `blocked`, …).
    status: Option<&'v str>,
    /// Whether it is available.
    available: Option<bool>,
    /// The holds in force.
    holds: Vec<&'v str>,
}

impl<'v> State<'v> {
    /// The state an effect's detail reports.
    fn of(detail: &'v Json) -> Self {
        let [status, available, holds] = detail.as_ref().pick(["status", "available", "holds"]);
        Self {
            status: status.and_then(JsonRef::as_str),
            available: available.and_then(JsonRef::as_bool),
            holds: holds
                .and_then(JsonRef::items)
                .map(|a| a.into_iter().filter_map(JsonRef::as_str).collect())
                .unwrap_or_default(),
        }
    }

    /// In words: `available, unrestricted, holds []`.
    fn text(&self) -> String {
        format!(
            "{}, {}, holds [{}]",
            match self.available {
                Some(true) => "available",
                Some(false) => "not available",
                None => "availability unknown",
            },
            self.status.unwrap_or("?").replace('_', " "),
            self.holds.join(", ")
        )
    }
}

/// What the ordering checker found so far.
#[derive(Default)]
struct Findings<'r> {
    /// The lot's state after the last change applied, per system and lot key.
    last: FastMap<(System, &'r str), State<'r>>,
    /// Changes applied per system and lot key.
    changes: FastMap<(System, &'r str), u64>,
    /// The witnesses.
    w: Witnesses,
    /// Lot changes applied at the MES and WMS.
    applied: u64,
    /// Of those, the stale ones.
    stale: u64,
    /// Of those, the ones that changed the lot.
    overwrites: u64,
    /// `reorder` and `duplicate` faults fired, by kind.
    fired: BTreeMap<&'r str, u64>,
    /// Deliveries of lot events with a lower sequence than one delivered before.
    out_of_order: u64,
    /// The highest sequence delivered per (source, subject).
    highest: FastMap<(&'r str, &'r str), u64>,
    /// Hold releases that reached the MES or WMS before their hold.
    early_releases: u64,
}

/// (QMS source, hold id) → sequence of the `lot.hold_placed` that placed it.
fn holds_placed<'r>(events: &Events<'r>) -> FastMap<(&'r str, &'r str), u64> {
    events
        .iter()
        .filter(|e| e.kind == Some(EventKind::LotHoldPlaced))
        .filter_map(|e| {
            let id = e.event.data.str("hold_id")?;
            Some(((e.event.source.as_str(), id), e.event.sequence))
        })
        .collect()
}

/// Reads the history once: releases answered `hold-not-found`, the faults that reorder,
/// the order of lot events' deliveries, and every lot change applied.
fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let placed = holds_placed(&events);
    let mut found = Findings::default();
    for (i, r) in records.iter().enumerate() {
        match &r.entry {
            Entry::Request(_) => found.release_before_hold(i, r, &events, &placed),
            Entry::Fault { action, kind, .. }
                if action == "fired" && (kind == "reorder" || kind == "duplicate") =>
            {
                *found.fired.entry(kind.as_str()).or_default() += 1;
            }
            Entry::Delivery {
                event,
                status,
                puback,
                outcome,
                ..
            } if status.is_some() || puback.is_some() || *outcome == Outcome::Info => {
                found.delivery(event, &events);
            }
            Entry::Effect { .. } => found.lot_change(i, r, &events),
            _ => {}
        }
    }
    found.verdict()
}

impl<'r> Findings<'r> {
    /// Counts and witnesses a hold release the MES or WMS answered `hold-not-found` while
    /// the QMS had placed that hold with a lower sequence.
    fn release_before_hold(
        &mut self,
        i: usize,
        r: &Record,
        events: &Events<'r>,
        placed: &FastMap<(&'r str, &'r str), u64>,
    ) {
        let Some(RequestEntry {
            problem: Some(problem),
            sources,
            traceparent,
            path,
            ..
        }) = r.entry.request()
        else {
            return;
        };
        if problem != "hold-not-found" || !matches!(r.system, System::Mes | System::Wms) {
            return;
        }
        let Some(ev) = sources.first().and_then(|s| events.get(s)) else {
            return;
        };
        if ev.kind != Some(EventKind::LotHoldReleased) {
            return;
        }
        let Some(hold) = ev.event.data.str("hold_id") else {
            return;
        };
        let Some(placed_seq) = placed.get(&(ev.event.source.as_str(), hold)) else {
            return;
        };
        if *placed_seq >= ev.event.sequence {
            return;
        }
        self.early_releases += 1;
        self.w.push("release_before_hold", i, || Witness {
            event: Some(ev.source_ref()),
            system: Some(r.system),
            expected: format!(
                "hold {hold} placed (sequence {placed_seq}) before its release (sequence {}) at {}",
                ev.event.sequence,
                sys(r.system)
            ),
            happened: format!(
                "the release reached {} first ({path} answered hold-not-found): {}",
                sys(r.system),
                describe(ev)
            ),
            trace_id: traceparent
                .as_deref()
                .and_then(common::trace_id)
                .map(str::to_string)
                .or_else(|| ev.trace()),
        });
    }

    /// Notes the delivery of a lot event, counting it when a higher sequence of the same
    /// lot was delivered before.
    fn delivery(&mut self, event: &SourceRef, events: &Events<'r>) {
        let Some(ev) = events.get(event) else {
            return;
        };
        if !matches!(
            ev.kind,
            Some(
                EventKind::UsageDecisionMade
                    | EventKind::LotHoldPlaced
                    | EventKind::LotHoldReleased
                    | EventKind::InspectionResultRecorded
            )
        ) {
            return;
        }
        let h = self
            .highest
            .entry((ev.event.source.as_str(), ev.event.subject.as_str()))
            .or_insert(0);
        if ev.event.sequence < *h {
            self.out_of_order += 1;
        }
        *h = (*h).max(ev.event.sequence);
    }

    /// Notes a lot change applied at the MES or WMS; a stale one that changed the lot is
    /// counted and witnessed as a stale overwrite.
    fn lot_change(&mut self, i: usize, r: &'r Record, events: &Events<'_>) {
        let Entry::Effect {
            effect,
            key,
            sources,
            traceparent,
            detail,
            ..
        } = &r.entry
        else {
            return;
        };
        let Some((s, what)) = effect.split_once('.') else {
            return;
        };
        if !matches!(s, "mes" | "wms") || !matches!(what, "hold" | "release" | "lot_status") {
            return;
        }
        self.applied += 1;
        let lot = (r.system, key.as_str());
        *self.changes.entry(lot).or_default() += 1;
        let now = State::of(detail);
        let before = self.last.insert(lot, now.clone());
        if !detail
            .get("stale")
            .and_then(JsonRef::as_bool)
            .unwrap_or(false)
        {
            return;
        }
        self.stale += 1;
        let Some(before) = before else { return };
        if before == now {
            return;
        }
        self.overwrites += 1;
        let [seq, prev] = detail
            .as_ref()
            .pick(["sequence", "previous_sequence"])
            .map(|v| v.and_then(JsonRef::as_u64).unwrap_or(0));
        let ev = sources.first().and_then(|s| events.get(s));
        let mut parts = key.splitn(3, '/');
        let (p, m, b) = (
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
        );
        self.w.push("stale_overwrite", i, || Witness {
            event: sources.first().cloned(),
            system: Some(r.system),
            expected: format!(
                "changes to lot {m} batch {b} in plant {p} at {} applied in sequence order: nothing older than sequence {prev} after it",
                sys(r.system)
            ),
            happened: format!(
                "a stale {} with sequence {seq} was applied after sequence {prev}{} and changed the lot from {} to {}",
                what.replace('_', " "),
                ev.map(|e| format!(" ({})", describe(e))).unwrap_or_default(),
                before.text(),
                now.text()
            ),
            trace_id: traceparent
                .as_deref()
                .and_then(common::trace_id)
                .map(str::to_string)
                .or_else(|| ev.and_then(|e| e.trace())),
        });
    }

    /// The verdict: fail on a stale overwrite or a release before its hold; unknown when
    /// no lot had two changes at one system or order was never put to the test; pass
    /// otherwise.
    fn verdict(self) -> Verdict {
        let Self {
            changes,
            w,
            applied,
            stale,
            overwrites,
            fired,
            out_of_order,
            early_releases,
            ..
        } = self;
        let busy_lots = changes.values().filter(|n| **n >= 2).count() as u64;
        let fired_n: u64 = fired.values().sum();
        let tested = fired_n > 0 || out_of_order > 0;
        let (status, reason) = if overwrites > 0 || early_releases > 0 {
            (
                Status::Fail,
                format!(
                    "{overwrites} stale overwrites of lot status ({stale} stale changes applied), \
                     {early_releases} hold releases applied before their hold"
                ),
            )
        } else if busy_lots == 0 {
            (
                Status::Unknown,
                "no lot had two status changes applied at one system".to_string(),
            )
        } else if !tested {
            (
                Status::Unknown,
                "order was never put to the test: no reorder or duplicate fault fired and no lot's events reached the SUT out of order".to_string(),
            )
        } else {
            (
                Status::Pass,
                format!(
                    "{applied} lot changes on {busy_lots} lots with several changes, no stale overwrite ({out_of_order} out-of-order deliveries, {fired_n} reorder/duplicate faults fired)"
                ),
            )
        };
        let mut v = Verdict::new(NAME, status);
        v.reason = Some(reason);
        for (k, n) in [
            ("lot_changes", applied),
            ("lots_with_several_changes", busy_lots),
            ("stale_changes", stale),
            ("stale_overwrites", overwrites),
            ("release_before_hold", early_releases),
            ("out_of_order_deliveries", out_of_order),
            ("reorder_fired", fired.get("reorder").copied().unwrap_or(0)),
            (
                "duplicate_fired",
                fired.get("duplicate").copied().unwrap_or(0),
            ),
        ] {
            v.counts.insert(k.to_string(), n);
        }
        v.witnesses = w.finish();
        v
    }
}
