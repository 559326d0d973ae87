//! The exactly-once checker's judgement: per event, the effects it owes against those that
//! landed; per effect, whether some event owed it.

use andon_contracts::System;
use andon_contracts::events::EventKind;
use andon_simulators::history::{Entry, Outcome, Record};

use super::Tally;
use super::index::{Group, Index};
use super::witness::{effect_text, lost_witness, unattributed_witness};
use crate::check::Witness;
use crate::check::common::{self, Ev, Need, Slot, describe, sys};

/// Scratch vectors reused from event to event.
#[derive(Default)]
pub(super) struct Scratch<'a> {
    /// The expected effects of the event.
    slots: Vec<Slot<'a>>,
    /// The same, grouped by kind.
    groups: Vec<Group<'a>>,
}

impl Tally {
    /// Judges one event: what it owes, the effects that landed for it, and what is lost or
    /// duplicated.
    pub(super) fn event<'a>(&mut self, ix: &Index<'a>, ev: &Ev<'a>, scratch: &mut Scratch<'a>) {
        if ev.poison {
            self.add("poison", 1);
            return;
        }
        self.add("events", 1);
        let d = ix.dels[ev.n];
        if d.acked() {
            self.add("acknowledged", 1);
        }
        self.kind(ev).events += 1;
        let effs = ix.effects.get(ev.n);
        if d.rejected && !d.acked() {
            // The SUT rejected the event: every effect for it is unexpected.
            for &i in effs {
                self.owed_to_rejected[i as usize] = true;
            }
            return;
        }
        self.group(ix, ev, scratch);
        let groups = &mut scratch.groups;
        self.match_effects(ix.records, effs, groups);
        let required: i64 = groups
            .iter()
            .filter(|g| g.slot.need == Need::Required)
            .map(|g| g.wanted)
            .sum();
        if d.acked() && required > 0 {
            self.judged += 1;
            self.add("expected_effects", required as u64);
        } else if required > 0 {
            self.add("not_acknowledged", 1);
        }
        let mut event_rejected = false;
        for g in groups.iter() {
            if g.slot.need == Need::Allowed {
                continue;
            }
            let missing = g.wanted - g.found;
            if missing > 0 && g.slot.need == Need::Required && d.acked() {
                event_rejected |= self.missing(ix, ev, g, missing as u64);
            }
            let extra = g.found - g.wanted;
            if extra > 0 {
                self.duplicated(ix.records, ev, g, extra as u64);
            }
        }
        if event_rejected && d.acked() {
            self.add("rejected_events", 1);
        }
    }

    /// The effects the event owes, grouped by kind into `scratch.groups` (at most once
    /// when the event was superseded).
    fn group<'a>(&mut self, ix: &Index<'a>, ev: &Ev<'a>, scratch: &mut Scratch<'a>) {
        let Scratch { slots, groups } = scratch;
        common::expected_into(ev, &ix.materials, slots);
        if ix.superseded.contains(&ev.key()) {
            self.add("superseded", 1);
            for s in slots.iter_mut() {
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
    }

    /// Matches the effects referencing the event to its groups; a reversal takes one
    /// back.
    fn match_effects(&mut self, records: &[Record], effs: &[u32], groups: &mut [Group<'_>]) {
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
                    self.matched[i] = true;
                    self.add("reversed", 1);
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
                self.matched[i] = true;
            }
        }
    }

    /// Counts `missing` effects of an acknowledged event as never notified (MES effects of
    /// an order whose release its Business Central plant notified to no one), rejected (a
    /// legitimate rejection at the target excuses them) or lost, and witnesses the lost
    /// ones; whether they were rejected.
    fn missing<'a>(&mut self, ix: &Index<'a>, ev: &Ev<'a>, g: &Group<'_>, missing: u64) -> bool {
        let k = ev.key();
        if g.slot.system == System::Mes
            && matches!(
                ev.kind,
                Some(EventKind::ProductionOrderChanged | EventKind::ProductionOrderCancelled)
            )
            && ix
                .never_notified
                .contains(&(ev.event.source.as_str(), ev.event.subject.as_str()))
        {
            // The MES never had the work order: its release came before the middleware
            // could hear of it (Business Central notifies no one of it).
            self.add("never_notified", missing);
            return false;
        }
        let at_target = ix
            .rejections
            .get(&k)
            .map(|r| {
                r.iter()
                    .filter(|x| x.system == g.slot.system)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if at_target.iter().any(|x| x.legit) {
            self.add("rejected", missing);
            self.kind(ev).rejected += missing;
            return true;
        }
        self.add("lost", missing);
        self.kind(ev).lost += missing;
        let not_excused = at_target.iter().find_map(|x| x.why.clone());
        if not_excused.is_some() {
            self.add("rejected_not_excused", missing);
        }
        self.w.push("lost", ev.idx, || {
            let mut wit = lost_witness(ix.records, ev, g, ix.requests(&k), ix.end);
            if let Some(why) = &not_excused {
                wit.happened.push_str(&format!(
                    "; the rejection is the middleware's fault, not the target's: {why}"
                ));
            }
            wit
        });
        false
    }

    /// Counts and witnesses `extra` effects of one kind beyond those wanted.
    fn duplicated(&mut self, records: &[Record], ev: &Ev<'_>, g: &Group<'_>, extra: u64) {
        self.add("duplicated", extra);
        self.kind(ev).duplicated += extra;
        let order = g
            .effects()
            .get(g.wanted as usize)
            .copied()
            .unwrap_or(ev.idx);
        self.w.push("duplicated", order, || Witness {
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

    /// Judges one record, if it is an effect: indeterminate, and — when no event's
    /// expected effect took it — unattributed or unexpected.
    pub(super) fn effect(&mut self, ix: &Index<'_>, i: usize, r: &Record) {
        let Entry::Effect {
            sources,
            outcome,
            traceparent,
            ..
        } = &r.entry
        else {
            return;
        };
        self.add("effects", 1);
        if *outcome == Outcome::Info {
            self.add("indeterminate", 1);
        }
        if self.matched[i] {
            return;
        }
        let named: Vec<&Ev<'_>> = sources.iter().filter_map(|s| ix.events.get(s)).collect();
        if named.is_empty() {
            self.add("unattributed", 1);
            self.w.push("unattributed", i, || {
                unattributed_witness(r, sources, traceparent.as_deref())
            });
            return;
        }
        self.add("unexpected", 1);
        let ev = named
            .iter()
            .find(|e| e.poison)
            .or_else(|| named.first())
            .copied();
        if let Some(ev) = ev {
            let why = if ev.poison {
                format!("no effect for the poison event {}", describe(ev))
            } else if self.owed_to_rejected[i] {
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
            self.w.push("unexpected", i, || Witness {
                event: Some(ev.source_ref()),
                system: Some(r.system),
                expected: why,
                happened: format!("{} recorded {}", sys(r.system), effect_text(r)),
                trace_id: ev.trace(),
            });
        }
    }
}
