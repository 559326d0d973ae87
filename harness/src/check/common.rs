//! What the checkers share: the history's indexes ([`crate::history::index`], re-exported
//! here), the expected effects and the
//! legitimacy of rejections from the flows of `contracts/flows.yaml`, a bounded witness
//! collector, and plain-language wording.

use std::collections::BTreeMap;

use andon_contracts::flows;
use andon_contracts::{EventKind, Json, JsonRef, Material, Quantity, System};
use andon_simulators::MasterData;
use andon_simulators::history::{Entry, Record};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{MAX_WITNESSES, RunData, Witness};

pub(crate) use crate::history::index::*;

/// A business rejection (422) of a call realising a source event.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    /// The system that answered.
    pub system: System,
    /// The `request` record.
    pub idx: usize,
    /// Whether it excuses a missing effect: andon's own fault answered it, or the call was
    /// right field by field and the flow lists its problem code (`contracts/flows.yaml`).
    pub legit: bool,
    /// Why it does not excuse (the wrong fields, or the code the flow does not list).
    pub why: Option<String>,
}

/// Calls answered 422 (a business rejection) per source event they realise — attributed
/// as in [`requests_by_event`] — each judged against the event's flow.
pub(crate) fn rejections_by_event<'a>(
    records: &'a [Record],
    events: &Events<'a>,
    materials: &Materials<'_>,
) -> FastMap<Key<'a>, Vec<Rejection>> {
    let mut traces: Option<FastMap<&'a str, Key<'a>>> = None;
    let mut out: FastMap<Key<'a>, Vec<Rejection>> = FastMap::default();
    for (idx, r) in records.iter().enumerate() {
        let Entry::Request {
            route,
            sources,
            traceparent,
            status: 422,
            ..
        } = &r.entry
        else {
            continue;
        };
        if !route.starts_with("/api/") {
            continue;
        }
        let mut keys: Vec<Key<'a>> = Vec::new();
        if sources.is_empty() {
            let Some(t) = traceparent.as_deref().and_then(trace_id) else {
                continue;
            };
            let traces = traces.get_or_insert_with(|| events.by_trace());
            if let Some(k) = traces.get(t) {
                keys.push(*k);
            }
        } else {
            keys.extend(sources.iter().map(key));
        }
        for k in keys {
            let (legit, why) = match events.map.get(&k) {
                Some(ev) => judge_rejection(r, ev, materials),
                None => (false, Some("it names no emitted event".into())),
            };
            out.entry(k).or_default().push(Rejection {
                system: r.system,
                idx,
                legit,
                why,
            });
        }
    }
    out
}

/// Whether a 422 answer to a call for `ev` is the target's legitimate answer to a right
/// call (see [`Rejection::legit`]), and if not, why.
fn judge_rejection(r: &Record, ev: &Ev<'_>, materials: &Materials<'_>) -> (bool, Option<String>) {
    let Entry::Request {
        method,
        path,
        route,
        body,
        problem,
        fault,
        ..
    } = &r.entry
    else {
        return (false, None);
    };
    if !reached_system(fault.as_deref()) {
        // andon's own fault answered (a `reject` fault): the target's decision, not the
        // middleware's doing.
        return (true, None);
    }
    let code = problem.as_deref().unwrap_or("");
    let Some(flow) = ev.kind.and_then(|k| flows::flows().get(k)) else {
        return (false, Some(format!("{} needs no call", ev.event.type_)));
    };
    let Some(body) = body else {
        // Not recorded (a history of an older andon): judged by the code alone.
        let listed = flow.calls.iter().any(|c| {
            c.to == r.system
                && c.method == *method
                && c.route == *route
                && c.may_be_rejected_with(code)
        });
        return (
            listed,
            (!listed).then(|| format!("the flow does not list {code}")),
        );
    };
    let sent = body.to_value();
    let j = judge_call(
        flow,
        ev,
        materials,
        flows::Sent {
            to: r.system,
            method,
            route,
            path,
            body: Some(&sent),
        },
    );
    match j.call {
        None => (
            false,
            Some(format!(
                "the flow of {} makes no {method} {route}",
                ev.event.type_
            )),
        ),
        Some(_) if j.applies == flows::Applies::No => (
            false,
            Some(format!(
                "the flow of this event makes {method} {route} only under a condition that does not hold"
            )),
        ),
        Some(_) if !j.mismatches.is_empty() => (false, Some(mismatch_text(&j.mismatches))),
        Some(call) if !call.may_be_rejected_with(code) => (
            false,
            Some(format!(
                "a right {method} {route} is not rejected with {code} (the flow lists {})",
                if call.rejections.is_empty() {
                    "no rejection".to_string()
                } else {
                    call.rejections.join(", ")
                }
            )),
        ),
        Some(_) => (true, None),
    }
}

/// Judges a call the SUT made for `ev` against the event's flow, with the material master
/// as it stood when the event was emitted.
pub(crate) fn judge_call(
    flow: &'static flows::Flow,
    ev: &Ev<'_>,
    materials: &Materials<'_>,
    sent: flows::Sent<'_>,
) -> flows::Judgement<'static> {
    let data = ev.event.data.to_value();
    let facts = EventFacts {
        materials,
        idx: ev.idx,
    };
    let expected = flow.expected(ev.event, &data, &facts);
    flows::judge(&expected, sent, &facts, ev.event.plant.as_str())
}

/// The wrong fields of a call, in words (`posting_date: sent 2026-12-06, expected
/// 2026-11-02 (the event's posting_date)`).
pub(crate) fn mismatch_text(m: &[flows::Mismatch]) -> String {
    m.iter()
        .map(|m| {
            let field = m.field.trim_start_matches('/').replace('/', ".");
            format!("{field}: sent {}, expected {}", m.sent, m.expected)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The material master as it stood when an event was emitted, for the flows' judge.
pub(crate) struct EventFacts<'m, 'a> {
    /// The material master over the run.
    pub materials: &'m Materials<'a>,
    /// The event's record index.
    pub idx: usize,
}

impl flows::Facts for EventFacts<'_, '_> {
    fn inspection_required(&self, material: &str, plant: &str) -> Option<bool> {
        match self.materials.inspection(material, plant, self.idx) {
            (now, false) => now,
            (_, true) => None,
        }
    }

    fn to_base(&self, material: &str, plant: &str, q: &Quantity) -> Option<i64> {
        self.materials
            .to_base(material, plant, self.idx, q)
            .map(|x| x.0)
    }
}

/// A quantity field (`{value, unit}`) of a JSON object.
pub(crate) fn quantity<'v>(v: impl Into<JsonRef<'v>>, name: &str) -> Option<Quantity> {
    v.into().get(name)?.decode().ok()
}

/// The material master as it stood at each point of the run: the master data the run
/// started with, changed by `material.changed` events (non-poison) in history order.
pub(crate) struct Materials<'a> {
    master: FastMap<&'a str, Vec<&'a Material>>,
    changes: FastMap<String, Vec<(usize, Material)>>,
}

impl<'a> Materials<'a> {
    /// Indexes master data and material changes.
    pub fn build(run: &'a RunData, events: &Events<'a>) -> Self {
        Self::from_parts(&run.master, events)
    }

    /// Indexes master data and material changes.
    pub fn from_parts(master: &'a MasterData, events: &Events<'a>) -> Self {
        let mut m: FastMap<&'a str, Vec<&'a Material>> = FastMap::default();
        for mat in &master.materials {
            m.entry(mat.material.as_str()).or_default().push(mat);
        }
        let mut changes: FastMap<String, Vec<(usize, Material)>> = FastMap::default();
        for ev in events.iter() {
            if ev.poison || ev.kind != Some(EventKind::MaterialChanged) {
                continue;
            }
            if let Ok(mat) = ev.event.data.decode::<Material>() {
                changes
                    .entry(mat.material.as_str().to_string())
                    .or_default()
                    .push((ev.idx, mat));
            }
        }
        Self { master: m, changes }
    }

    fn in_plant(m: &Material, plant: &str) -> bool {
        m.plants.is_empty() || m.plants.iter().any(|p| p.as_str() == plant)
    }

    /// The material as known just before record `idx` (`usize::MAX`: at the end).
    pub fn at(&self, material: &str, plant: &str, idx: usize) -> Option<&Material> {
        if let Some(ch) = self.changes.get(material)
            && let Some((_, m)) = ch
                .iter()
                .rev()
                .find(|(i, m)| *i < idx && Self::in_plant(m, plant))
        {
            return Some(m);
        }
        self.master
            .get(material)?
            .iter()
            .copied()
            .find(|m| Self::in_plant(m, plant))
    }

    /// Whether the material needs inspection as known before `idx`, and whether that
    /// changed afterwards (then a SUT may rightly have seen either).
    pub fn inspection(&self, material: &str, plant: &str, idx: usize) -> (Option<bool>, bool) {
        let now = self.at(material, plant, idx).map(|m| m.inspection_required);
        let flips = self.changes.get(material).is_some_and(|ch| {
            ch.iter()
                .any(|(i, m)| *i > idx && Some(m.inspection_required) != now)
        });
        (now, flips)
    }

    /// A quantity in thousandths of the material's base unit, and that unit.
    pub fn to_base(
        &self,
        material: &str,
        plant: &str,
        idx: usize,
        q: &Quantity,
    ) -> Option<(i64, String)> {
        let m = self.at(material, plant, idx)?;
        Some((m.to_base_milli(q)?, m.base_unit.as_str().to_string()))
    }
}

/// Whether an expected effect must land, may land, or is not judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Need {
    /// Exactly once.
    Required,
    /// At most once (the SUT could rightly have done it or not).
    AtMostOnce,
    /// Allowed, not judged (ERP 344/343 for holds: only when there was stock to move).
    Allowed,
}

/// One effect a source event implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Slot<'a> {
    /// Where it lands.
    pub system: System,
    /// Effect name in the history.
    pub effect: &'static str,
    /// Movement type, for goods movements.
    pub movement: Option<&'a str>,
    /// Material and batch, for goods movements.
    pub item: Option<(&'a str, Option<&'a str>)>,
    /// Must it land?
    pub need: Need,
}

impl Slot<'_> {
    /// Whether an effect record fills this slot.
    pub fn matches(&self, system: System, effect: &str, detail: &Json) -> bool {
        if self.system != system || self.effect != effect {
            return false;
        }
        let Some(mvt) = self.movement else {
            return true;
        };
        let gm = GoodsMovement::of(detail);
        gm.movement == mvt && !gm.reversal && self.item_matches(&gm)
    }

    /// Whether a goods movement names this slot's material and batch.
    pub fn item_matches(&self, gm: &GoodsMovement<'_>) -> bool {
        self.item
            .is_none_or(|(m, b)| gm.material == m && (b.is_none() || gm.batch == b))
    }

    /// Plain-language name of the effect (`one ERP goods movement 261`).
    pub fn phrase(&self) -> String {
        let sys = self.system.as_str().to_ascii_uppercase();
        let what = match (
            self.effect
                .split_once('.')
                .map(|x| x.1)
                .unwrap_or(self.effect),
            self.movement,
        ) {
            ("goods_movement", Some(m)) => format!("goods movement {m}"),
            ("work_order", _) => "work order download".into(),
            ("work_order_changed", _) => "work order change".into(),
            ("work_order_cancelled", _) => "work order cancellation".into(),
            ("material", _) => "material master update".into(),
            ("confirmation", _) => "operation confirmation".into(),
            ("quality_notification", _) => "quality notification".into(),
            ("receipt", _) => "goods receipt".into(),
            ("inspection_lot", _) => "inspection lot".into(),
            ("lot_status", _) => "lot status update".into(),
            ("hold", _) => "lot hold".into(),
            ("release", _) => "hold release".into(),
            (other, _) => other.replace('_', " "),
        };
        let item = match self.item {
            Some((m, Some(b))) if self.movement == Some("601") => format!(" of {m} batch {b}"),
            _ => String::new(),
        };
        format!("one {sys} {what}{item}")
    }
}

/// The fields of an `erp.goods_movement` effect the checkers read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GoodsMovement<'v> {
    pub movement: &'v str,
    pub material: &'v str,
    pub batch: Option<&'v str>,
    pub reversal: bool,
}

impl<'v> GoodsMovement<'v> {
    /// Reads the detail of an `erp.goods_movement` effect.
    pub fn of(detail: &'v Json) -> Self {
        let [movement, material, batch, reversal] =
            detail
                .as_ref()
                .pick(["movement_type", "material", "batch", "reversal_of"]);
        Self {
            movement: movement.and_then(JsonRef::as_str).unwrap_or(""),
            material: material.and_then(JsonRef::as_str).unwrap_or(""),
            batch: batch.and_then(JsonRef::as_str),
            reversal: reversal.is_some_and(|v| !v.is_null()),
        }
    }
}

/// The movement type a reversal movement type undoes.
pub(crate) fn reverses(movement: &str) -> Option<&'static str> {
    Some(match movement {
        "102" => "101",
        "262" => "261",
        "532" => "531",
        "322" => "321",
        "349" => "350",
        "343" => "344",
        "344" => "343",
        "552" => "551",
        "554" => "553",
        "602" => "601",
        "302" => "301",
        _ => return None,
    })
}

/// The effects an event implies (`contracts/flows.yaml`).
pub(crate) fn expected<'a>(ev: &Ev<'a>, materials: &Materials<'_>) -> Vec<Slot<'a>> {
    let mut out = Vec::new();
    expected_into(ev, materials, &mut out);
    out
}

/// [`expected`] into a buffer the caller reuses (cleared first): one slot per call of the
/// event's flow that applies (per element for calls made `each` element), read in place.
pub(crate) fn expected_into<'a>(ev: &Ev<'a>, materials: &Materials<'_>, out: &mut Vec<Slot<'a>>) {
    out.clear();
    let Some(flow) = ev.kind.and_then(|k| flows::flows().get(k)) else {
        return;
    };
    let d: JsonRef<'a> = ev.event.data.as_ref();
    let facts = EventFacts {
        materials,
        idx: ev.idx,
    };
    for call in &flow.calls {
        let need = match (call.need, call.applies_in(d, &facts)) {
            (_, flows::Applies::No) => continue,
            (flows::Need::Required, flows::Applies::Yes) => Need::Required,
            (flows::Need::Required, flows::Applies::Maybe) => Need::AtMostOnce,
            (flows::Need::Allowed, _) => Need::Allowed,
        };
        for el in call.elements(d) {
            let text = |name: &str| call.element_field(name).and_then(|e| e.text_in(d, el));
            out.push(Slot {
                system: call.to,
                effect: call.effect.as_str(),
                movement: text("movement_type"),
                item: text("material").map(|m| (m, text("batch"))),
                need,
            });
        }
    }
}

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

    /// Whether some dead letter names the event.
    pub fn mentions(&self, k: Key<'_>) -> bool {
        self.by_string
            .get(k.1)
            .is_some_and(|ls| ls.iter().any(|&i| self.letters[i].contains(k.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_ids_are_checked() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        assert_eq!(trace_id(tp), Some("0af7651916cd43dd8448eb211c80319c"));
        assert_eq!(
            trace_id("00-0000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(
            trace_id("00-00000000000000000000000000000000-b7ad6b7169203331-01"),
            None
        );
        assert_eq!(trace_id("garbage"), None);
        assert_eq!(
            trace_id("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01"),
            None
        );
    }

    #[test]
    fn witnesses_keep_the_earliest_of_every_category() {
        let w = |s: &str| Witness {
            event: None,
            system: None,
            expected: s.into(),
            happened: s.into(),
            trace_id: None,
        };
        let mut c = Witnesses::default();
        for i in (0..50).rev() {
            c.push("a", i, || w(&format!("a{i}")));
        }
        c.push("b", 100, || w("b100"));
        let out = c.finish();
        assert_eq!(out.len(), MAX_WITNESSES);
        assert_eq!(out[0].expected, "a0");
        assert_eq!(out.last().unwrap().expected, "b100");
        assert_eq!(
            out[MAX_WITNESSES - 2].expected,
            format!("a{}", MAX_WITNESSES - 2)
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(fmt_us(12_300_000), "12.3 s");
        assert_eq!(fmt_us(850_000), "850.0 ms");
        assert_eq!(fmt_us(40), "40 µs");
    }
}
