//! Exactly-once: every acknowledged source event has exactly one business effect where it
//! must land (the flows of `contracts/flows.yaml`), counted from the `effect` records whose
//! `sources` contain the event.
//!
//! Semantics, in the order they are applied:
//! * **poison** events must have no effect; any effect referencing one is `unexpected`.
//! * an event every delivery of which was rejected (4xx) and none acknowledged owes
//!   nothing; an effect for it is `unexpected` (the SUT said it would not take it).
//! * an event never acknowledged (only failed or timed-out attempts) owes nothing, but its
//!   effects still count for duplicates: the SUT must be idempotent whether it answered or
//!   not.
//! * for an acknowledged event, each required effect missing is `lost`, unless the SUT's
//!   call to that system realising the event was answered 422 (a business rejection) and
//!   the rejection is legitimate — andon's own `reject` fault gave it, or the call was right
//!   in every field the flow names and the flow lists its problem code for that call — then
//!   it is `rejected`, which does not fail (the safety checker judges whether the rejection
//!   was dead-lettered). A rejection of a wrong call, or for a reason the flow does not
//!   list, is the SUT's fault: the effect is `lost` (also counted `rejected_not_excused`,
//!   the witness says which field was wrong). A call carries the event when its body
//!   references it, or, for answers a fault gave (which record no body), when it carries
//!   its trace id.
//! * more than one effect of one expected kind is `duplicated`. Goods movements are told
//!   apart by movement type, material and batch (a 601 per shipment item); a reversal
//!   (`reversal_of` set) referencing the event takes one back (`reversed`).
//! * `qms.inspection_lot` is required only when the produced material needs inspection, as
//!   the material master stood when the event was emitted (`material.changed` events
//!   included); when a later change flipped the flag, one lot or none are both right.
//! * ERP 344 for a hold or usage decision and ERP 343 for a release are allowed, not
//!   required (only when there was unrestricted stock to move) and not counted.
//! * lot events (`usage_decision.made`, `lot.hold_*`) acknowledged after a later event of
//!   the same lot are `superseded`: a correct SUT may rightly apply nothing for them (a late
//!   hold must not overwrite a newer release), so their effects are at most once.
//! * an effect with no sources, or whose sources name no emitted event, is `unattributed`;
//!   one that fits no expected effect of the events it names is `unexpected`.
//! * effects with outcome `info` (the SUT never saw the answer) count as effects and are
//!   reported as `indeterminate`.
//!
//! Fail on any lost, duplicated, unexpected or unattributed effect; unknown when no
//! acknowledged event had expected effects, or when most of them (more than half) ended in
//! a business rejection (the flows were hardly exercised: a run that rejects most postings
//! is no pass); pass otherwise.

use std::collections::BTreeMap;

use andon_contracts::System;
use andon_simulators::history::{Entry, Outcome, Record};
use serde_json::json;

use super::common::{
    self, DeliveryState, Ev, Events, FastMap, FastSet, Key, Materials, Need, Slot, Witnesses,
    describe, fmt_time, fmt_us, micros, sys,
};
use super::{Checker, RunData, Status, Verdict, Witness};

/// The exactly-once checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactlyOnce;

const NAME: &str = "exactly_once";

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

#[derive(Default, Clone, Copy)]
struct KindCounts {
    events: u64,
    lost: u64,
    duplicated: u64,
    rejected: u64,
}

struct Group<'a> {
    slot: Slot<'a>,
    wanted: i64,
    found: i64,
    /// The first effects found (enough for a witness).
    effects: [usize; 4],
}

impl Group<'_> {
    fn effects(&self) -> &[usize] {
        &self.effects[..(self.found.max(0) as usize).min(4)]
    }
}

/// Lot events acknowledged after a later event (higher sequence) of the same lot.
fn superseded<'a>(events: &Events<'a>, dels: &[DeliveryState]) -> FastSet<Key<'a>> {
    use andon_contracts::EventKind as K;
    type Arrival<'a> = (chrono::DateTime<chrono::Utc>, u64, Key<'a>);
    let mut groups: FastMap<(&str, &str), Vec<Arrival<'a>>> = FastMap::default();
    for ev in events.iter() {
        if ev.poison
            || !matches!(
                ev.kind,
                Some(
                    K::UsageDecisionMade
                        | K::LotHoldPlaced
                        | K::LotHoldReleased
                        | K::InspectionResultRecorded
                )
            )
        {
            continue;
        }
        if let Some(at) = dels[ev.n].acked_at {
            groups
                .entry((ev.event.source.as_str(), ev.event.subject.as_str()))
                .or_default()
                .push((at, ev.event.sequence, ev.key()));
        }
    }
    let mut out = FastSet::default();
    for (_, mut g) in groups {
        g.sort_by_key(|x| (x.0, x.1));
        let mut max = 0;
        for (_, seq, k) in g {
            if seq < max {
                out.insert(k);
            }
            max = max.max(seq);
        }
    }
    out
}

/// What the SUT's calls referencing the event came to, for a lost effect.
fn calls_text(records: &[Record], reqs: Option<&Vec<usize>>, target: System) -> String {
    let Some(reqs) = reqs else {
        return "the SUT made no call referencing it".into();
    };
    let last = reqs.iter().rev().find(|&&i| records[i].system == target);
    let Some(&i) = last else {
        return format!("the SUT made no call to {} referencing it", sys(target));
    };
    let Entry::Request {
        method,
        route,
        status,
        problem,
        fault,
        ..
    } = &records[i].entry
    else {
        return String::new();
    };
    let answer = if *status == 0 {
        "got no answer".to_string()
    } else {
        let p = problem
            .as_deref()
            .map(|p| format!(" {p}"))
            .unwrap_or_default();
        format!("was answered {status}{p}")
    };
    let f = fault
        .as_deref()
        .map(|f| format!(" (fault {f})"))
        .unwrap_or_default();
    format!(
        "the SUT's last call to {} referencing it, {method} {route} at {}, {answer}{f}",
        sys(target),
        fmt_time(records[i].at)
    )
}

fn effect_text(r: &Record) -> String {
    match &r.entry {
        Entry::Effect {
            effect,
            key,
            detail,
            ..
        } => {
            let doc = common::field(detail, "material_document")
                .map(|d| format!(" (document {d})"))
                .unwrap_or_default();
            format!("{effect} {key}{doc} at {}", fmt_time(r.at))
        }
        _ => String::new(),
    }
}

fn check(run: &RunData) -> Verdict {
    let records = &run.records;
    let events = Events::build(records);
    let materials = Materials::build(run, &events);
    let dels = common::deliveries(records, &events);
    let effects = common::effects_by_event(records, &events);
    let rejections = common::rejections_by_event(records, &events, &materials);
    // Every call per event, for the witnesses of lost effects only.
    let requests: std::cell::OnceCell<FastMap<Key<'_>, Vec<usize>>> = std::cell::OnceCell::new();
    let superseded = superseded(&events, &dels);
    let end = records.last().map(|r| r.at);

    let mut counts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut by_kind: BTreeMap<&'static str, KindCounts> = BTreeMap::new();
    let mut w = Witnesses::default();
    let mut matched = vec![false; records.len()];
    let mut owed_to_rejected = vec![false; records.len()];
    let mut judged = 0u64;
    let mut slots: Vec<Slot<'_>> = Vec::new();
    let mut groups: Vec<Group<'_>> = Vec::new();
    let add = |c: &mut BTreeMap<&'static str, u64>, k: &'static str, n: u64| {
        *c.entry(k).or_default() += n;
    };

    for ev in events.iter() {
        let k = ev.key();
        if ev.poison {
            add(&mut counts, "poison", 1);
            continue;
        }
        add(&mut counts, "events", 1);
        let d = dels[ev.n];
        if d.acked() {
            add(&mut counts, "acknowledged", 1);
        }
        let kc = by_kind
            .entry(ev.kind.map(|k| k.name()).unwrap_or("unknown"))
            .or_default();
        kc.events += 1;
        let effs = effects.get(ev.n);
        if d.rejected && !d.acked() {
            // The SUT rejected the event: every effect for it is unexpected.
            for &i in effs {
                owed_to_rejected[i as usize] = true;
            }
            continue;
        }
        common::expected_into(ev, &materials, &mut slots);
        if superseded.contains(&k) {
            add(&mut counts, "superseded", 1);
            for s in &mut slots {
                if s.need == Need::Required {
                    s.need = Need::AtMostOnce;
                }
            }
        }
        groups.clear();
        for s in slots.drain(..) {
            match groups.iter_mut().find(|g| g.slot == s) {
                Some(g) => g.wanted += 1,
                None => groups.push(Group {
                    slot: s,
                    wanted: 1,
                    found: 0,
                    effects: [0; 4],
                }),
            }
        }
        for &i in effs {
            let i = i as usize;
            let r = &records[i];
            let Entry::Effect { effect, detail, .. } = &r.entry else {
                continue;
            };
            if effect == "erp.goods_movement" {
                let gm = common::GoodsMovement::of(detail);
                if gm.reversal
                    && let Some(orig) = common::reverses(gm.movement)
                    && let Some(g) = groups.iter_mut().find(|g| {
                        g.slot.movement == Some(orig) && g.slot.item_matches(&gm) && g.found > 0
                    })
                {
                    g.found -= 1;
                    matched[i] = true;
                    add(&mut counts, "reversed", 1);
                    continue;
                }
            }
            if let Some(g) = groups
                .iter_mut()
                .find(|g| g.slot.matches(r.system, effect, detail))
            {
                if let Some(e) = g.effects.get_mut(g.found.max(0) as usize) {
                    *e = i;
                }
                g.found += 1;
                matched[i] = true;
            }
        }
        let required: i64 = groups
            .iter()
            .filter(|g| g.slot.need == Need::Required)
            .map(|g| g.wanted)
            .sum();
        if d.acked() && required > 0 {
            judged += 1;
            add(&mut counts, "expected_effects", required as u64);
        } else if required > 0 {
            add(&mut counts, "not_acknowledged", 1);
        }
        let mut event_rejected = false;
        for g in &groups {
            if g.slot.need == Need::Allowed {
                continue;
            }
            let missing = g.wanted - g.found;
            if missing > 0 && g.slot.need == Need::Required && d.acked() {
                let at_target = rejections
                    .get(&k)
                    .map(|r| {
                        r.iter()
                            .filter(|x| x.system == g.slot.system)
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                if at_target.iter().any(|x| x.legit) {
                    add(&mut counts, "rejected", missing as u64);
                    kc.rejected += missing as u64;
                    event_rejected = true;
                } else {
                    add(&mut counts, "lost", missing as u64);
                    kc.lost += missing as u64;
                    let not_excused = at_target.iter().find_map(|x| x.why.clone());
                    if not_excused.is_some() {
                        add(&mut counts, "rejected_not_excused", missing as u64);
                    }
                    w.push("lost", ev.idx, || {
                        let reqs = requests
                            .get_or_init(|| common::requests_by_event(records, &events))
                            .get(&k);
                        let mut wit = lost_witness(records, ev, g, reqs, end);
                        if let Some(why) = &not_excused {
                            wit.happened.push_str(&format!(
                                "; the rejection is the middleware's fault, not the target's: {why}"
                            ));
                        }
                        wit
                    });
                }
            }
            let extra = g.found - g.wanted;
            if extra > 0 {
                add(&mut counts, "duplicated", extra as u64);
                kc.duplicated += extra as u64;
                let order = g
                    .effects()
                    .get(g.wanted as usize)
                    .copied()
                    .unwrap_or(ev.idx);
                w.push("duplicated", order, || Witness {
                    event: Some(ev.source_ref()),
                    system: Some(g.slot.system),
                    expected: format!("{} for {}", g.slot.phrase(), describe(ev)),
                    happened: format!(
                        "{} of them: {}",
                        g.found,
                        g.effects()
                            .iter()
                            .map(|&i| effect_text(&records[i]))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    trace_id: ev.trace(),
                });
            }
        }
        if event_rejected && d.acked() {
            add(&mut counts, "rejected_events", 1);
        }
    }

    // Every effect: indeterminate, unattributed, unexpected.
    for (i, r) in records.iter().enumerate() {
        let Entry::Effect {
            sources,
            outcome,
            traceparent,
            ..
        } = &r.entry
        else {
            continue;
        };
        add(&mut counts, "effects", 1);
        if *outcome == Outcome::Info {
            add(&mut counts, "indeterminate", 1);
        }
        if matched[i] {
            continue;
        }
        let named: Vec<&Ev<'_>> = sources.iter().filter_map(|s| events.get(s)).collect();
        if named.is_empty() {
            add(&mut counts, "unattributed", 1);
            w.push("unattributed", i, || Witness {
                event: sources.first().cloned(),
                system: Some(r.system),
                expected: "every effect to reference the source event it realises".into(),
                happened: format!(
                    "{} recorded {} {}",
                    sys(r.system),
                    effect_text(r),
                    if sources.is_empty() {
                        "with no source reference".to_string()
                    } else {
                        format!(
                            "referencing {} that was never emitted",
                            sources
                                .iter()
                                .map(|s| format!("{} {}", s.source, s.id))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                ),
                trace_id: traceparent
                    .as_deref()
                    .and_then(common::trace_id)
                    .map(str::to_string),
            });
            continue;
        }
        add(&mut counts, "unexpected", 1);
        let ev = named
            .iter()
            .find(|e| e.poison)
            .or_else(|| named.first())
            .copied();
        if let Some(ev) = ev {
            let why = if ev.poison {
                format!("no effect for the poison event {}", describe(ev))
            } else if owed_to_rejected[i] {
                format!(
                    "no effect for {}, which the SUT rejected when it was delivered",
                    describe(ev)
                )
            } else {
                format!(
                    "only the effects the flows table names for {}",
                    describe(ev)
                )
            };
            w.push("unexpected", i, || Witness {
                event: Some(ev.source_ref()),
                system: Some(r.system),
                expected: why,
                happened: format!("{} recorded {}", sys(r.system), effect_text(r)),
                trace_id: ev.trace(),
            });
        }
    }

    let bad = ["lost", "duplicated", "unexpected", "unattributed"]
        .iter()
        .map(|k| counts.get(k).copied().unwrap_or(0))
        .sum::<u64>();
    counts.insert("judged", judged);
    let events_n = counts.get("events").copied().unwrap_or(0);
    let acked_n = counts.get("acknowledged").copied().unwrap_or(0);
    let (status, reason) = if bad > 0 {
        (
            Status::Fail,
            format!(
                "{} lost, {} duplicated, {} unexpected, {} unattributed effects over {judged} acknowledged events",
                counts.get("lost").copied().unwrap_or(0),
                counts.get("duplicated").copied().unwrap_or(0),
                counts.get("unexpected").copied().unwrap_or(0),
                counts.get("unattributed").copied().unwrap_or(0),
            ),
        )
    } else if judged > 0 && counts.get("rejected_events").copied().unwrap_or(0) * 2 > judged {
        (
            Status::Unknown,
            format!(
                "most acknowledged events ({} of {judged}) ended in a business rejection by the target: the flows were hardly exercised, and a run that rejects most postings is no pass",
                counts.get("rejected_events").copied().unwrap_or(0)
            ),
        )
    } else if judged == 0 {
        (
            Status::Unknown,
            format!(
                "no acknowledged event had an effect to land ({events_n} events emitted, {acked_n} acknowledged)"
            ),
        )
    } else {
        (
            Status::Pass,
            format!(
                "{judged} acknowledged events, each effect landed once ({} rejected by the target, {} indeterminate)",
                counts.get("rejected").copied().unwrap_or(0),
                counts.get("indeterminate").copied().unwrap_or(0)
            ),
        )
    };
    let mut v = Verdict::new(NAME, status);
    for k in [
        "events",
        "acknowledged",
        "judged",
        "expected_effects",
        "effects",
        "lost",
        "rejected",
        "rejected_events",
        "rejected_not_excused",
        "duplicated",
        "unexpected",
        "unattributed",
        "indeterminate",
        "reversed",
        "superseded",
        "poison",
        "not_acknowledged",
    ] {
        v.counts
            .insert(k.to_string(), counts.get(k).copied().unwrap_or(0));
    }
    v.witnesses = w.finish();
    v.reason = Some(reason);
    v.details = json!({
        "by_kind": by_kind.iter().map(|(k, c)| (k.to_string(), json!({
            "events": c.events, "lost": c.lost, "duplicated": c.duplicated, "rejected": c.rejected,
        }))).collect::<serde_json::Map<_, _>>(),
    });
    v
}

fn lost_witness(
    records: &[Record],
    ev: &Ev<'_>,
    g: &Group<'_>,
    reqs: Option<&Vec<usize>>,
    end: Option<chrono::DateTime<chrono::Utc>>,
) -> Witness {
    let age = end
        .map(|e| {
            format!(
                " {} after it was intended",
                fmt_us(micros(ev.intended_at, e).max(0))
            )
        })
        .unwrap_or_default();
    let found = if g.found > 0 {
        format!("{} of {}", g.found, g.wanted)
    } else {
        "none".into()
    };
    Witness {
        event: Some(ev.source_ref()),
        system: Some(g.slot.system),
        expected: format!("{} for {}", g.slot.phrase(), describe(ev)),
        happened: format!("{found}{age}; {}", calls_text(records, reqs, g.slot.system)),
        trace_id: ev.trace(),
    }
}
