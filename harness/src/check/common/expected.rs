//! The effects a source event owes, read in place from the event's JSON and the flows of
//! `contracts/flows.yaml`: the slots to fill, the materials and goods movements they name.

use andon_contracts::flows;
use andon_contracts::{EventKind, Json, JsonRef, Material, Quantity, System};
use andon_simulators::MasterData;

use super::*;
use crate::check::RunData;

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
