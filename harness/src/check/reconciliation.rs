//! Reconciliation: after settling, the ERP's stock and every system's lot status agree
//! with what the plant really did.
//!
//! **Inventory.** The expected ERP stock per (plant, storage location, material, batch,
//! stock type) is the master data's initial stock plus the true activity — the non-poison
//! events the plant emitted, in history order, in thousandths of the base unit
//! (`Material::to_base_milli`, with the material master as it stood at the event):
//! * `material.consumed`: − unrestricted;
//! * `material.produced`: + quality inspection when the material needs inspection, else
//!   unrestricted;
//! * `usage_decision.made`: the decided quantity from quality inspection to unrestricted
//!   (A) or blocked (R);
//! * `shipment.confirmed`: − unrestricted per item;
//! * finally every lot with a hold still in force (placed and not released) has its
//!   unrestricted stock in blocked.
//!
//! The ERP snapshot's `stock` rows are compared key by key. A difference that disappears
//! when the events whose ERP call was legitimately rejected (422 for a reason the flow
//! lists, on a call right in every field; see the exactly-once checker) are left out (a hold
//! rejected at ERP is then not in force there, a rejected release leaves it in force) is
//! `explained`: listed, not failing (the safety checker judges whether such rejections
//! were dead-lettered). A rejection of a wrong call explains nothing.
//!
//! **Lot status.** For each lot the MES and WMS snapshots know, `available` and `status`
//! must agree with the truth from the QMS events: the last usage decision (A →
//! unrestricted, R → blocked; none → quality inspection when the material needs
//! inspection, else unrestricted) and the holds in force; available ⇔ unrestricted and no
//! hold. A lot one of whose QMS events was answered 422 by that system is `explained`.
//! ERP's side of lot status is its stock by stock type, judged by the inventory part.
//!
//! Status: fail if a part fails; unknown if every part that ran is unknown (no
//! stock-moving activity; no lot in the MES or WMS snapshot; no snapshot); pass otherwise.

use std::collections::{BTreeMap, BTreeSet};

use andon_contracts::objects::{LotStatus, StockRow, StockType};
use andon_contracts::quantity::format_milli;
use andon_contracts::{EventKind, System};
use serde::Deserialize;
use serde_json::json;

use super::common::{self, Ev, Events, FastMap, FastSet, Key, Materials, Witnesses, describe, sys};
use super::{Checker, Reconcile, RunData, Status, Verdict, Witness};

/// The reconciliation checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reconciliation;

const NAME: &str = "reconciliation";

impl Checker for Reconciliation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

type StockKey<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, StockType);
type LotKey<'a> = (&'a str, &'a str, &'a str);

#[derive(Default)]
struct Ledger<'a> {
    qty: FastMap<StockKey<'a>, i64>,
}

impl<'a> Ledger<'a> {
    fn add(&mut self, k: StockKey<'a>, d: i64) {
        *self.qty.entry(k).or_default() += d;
    }

    fn get(&self, k: &StockKey<'a>) -> i64 {
        self.qty.get(k).copied().unwrap_or(0)
    }

    /// Moves the unrestricted stock of every lot in `held` (every storage location) to
    /// blocked.
    fn block(&mut self, held: &FastSet<LotKey<'_>>) {
        if held.is_empty() {
            return;
        }
        let keys: Vec<StockKey<'a>> = self
            .qty
            .iter()
            .filter(|(k, q)| {
                k.4 == StockType::Unrestricted
                    && **q != 0
                    && k.3.is_some_and(|b| held.contains(&(k.0, k.2, b)))
            })
            .map(|(k, _)| *k)
            .collect();
        for k in keys {
            let q = self.qty.insert(k, 0).unwrap_or(0);
            self.add((k.0, k.1, k.2, k.3, StockType::Blocked), q);
        }
    }
}

/// The truth about the plant, from its events.
struct Truth<'a> {
    all: Ledger<'a>,
    without_rejected: Ledger<'a>,
    /// Source events touching each stock key: how many, and the last one.
    touched: FastMap<StockKey<'a>, (u64, Key<'a>)>,
    /// Holds in force per lot (hold id → placing event).
    holds: BTreeMap<LotKey<'a>, BTreeMap<&'a str, Key<'a>>>,
    holds_without_rejected: BTreeMap<LotKey<'a>, BTreeSet<&'a str>>,
    /// Last usage decision per lot.
    decisions: BTreeMap<LotKey<'a>, (&'a str, usize)>,
    /// QMS events per lot (for explanations).
    lot_events: BTreeMap<LotKey<'a>, Vec<Key<'a>>>,
    moving_events: u64,
    unconvertible: u64,
}

fn stock_key<'a>(
    plant: &'a str,
    sloc: &'a str,
    material: &'a str,
    batch: Option<&'a str>,
    st: StockType,
) -> StockKey<'a> {
    (plant, sloc, material, batch, st)
}

fn deltas<'a>(ev: &Ev<'a>, materials: &Materials<'_>) -> Option<Vec<(StockKey<'a>, i64)>> {
    use EventKind as K;
    let d: andon_contracts::JsonRef<'a> = ev.event.data.as_ref();
    let f = |n: &str| common::field(d, n);
    let base = |material: &str, plant: &str, q: Option<andon_contracts::Quantity>| {
        q.and_then(|q| materials.to_base(material, plant, ev.idx, &q).map(|x| x.0))
    };
    Some(match ev.kind? {
        K::MaterialConsumed => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            vec![(stock_key(p, s, m, f("batch"), StockType::Unrestricted), -q)]
        }
        K::MaterialProduced => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            let st = if materials.inspection(m, p, ev.idx).0.unwrap_or(false) {
                StockType::QualityInspection
            } else {
                StockType::Unrestricted
            };
            vec![(stock_key(p, s, m, f("batch"), st), q)]
        }
        K::UsageDecisionMade => {
            let (p, s, m) = (f("plant")?, f("storage_location")?, f("material")?);
            let q = base(m, p, common::quantity(d, "quantity"))?;
            let to = if f("valuation") == Some("R") {
                StockType::Blocked
            } else {
                StockType::Unrestricted
            };
            vec![
                (
                    stock_key(p, s, m, f("batch"), StockType::QualityInspection),
                    -q,
                ),
                (stock_key(p, s, m, f("batch"), to), q),
            ]
        }
        K::ShipmentConfirmed => {
            let p = f("plant")?;
            let mut out = Vec::new();
            for it in d.get("items")?.items()? {
                let (s, m) = (
                    common::field(it, "storage_location")?,
                    common::field(it, "material")?,
                );
                let q = base(m, p, common::quantity(it, "quantity"))?;
                out.push((
                    stock_key(p, s, m, common::field(it, "batch"), StockType::Unrestricted),
                    -q,
                ));
            }
            out
        }
        _ => return Some(Vec::new()),
    })
}

/// Events whose call to `system` was answered 422.
fn rejected_at<'a>(
    rejections: &FastMap<Key<'a>, Vec<common::Rejection>>,
    system: System,
) -> FastSet<Key<'a>> {
    rejections
        .iter()
        .filter(|(_, r)| r.iter().any(|x| x.system == system && x.legit))
        .map(|(k, _)| *k)
        .collect()
}

fn truth<'a>(
    run: &'a RunData,
    events: &Events<'a>,
    materials: &Materials<'_>,
    rejected_erp: &FastSet<Key<'a>>,
) -> Truth<'a> {
    use EventKind as K;
    let mut t = Truth {
        all: Ledger::default(),
        without_rejected: Ledger::default(),
        touched: FastMap::default(),
        holds: BTreeMap::new(),
        holds_without_rejected: BTreeMap::new(),
        decisions: BTreeMap::new(),
        lot_events: BTreeMap::new(),
        moving_events: 0,
        unconvertible: 0,
    };
    for s in &run.master.stock {
        let Some(m) = materials.at(s.material.as_str(), s.plant.as_str(), 0) else {
            continue;
        };
        let Some(q) = m.to_base_milli(&s.quantity) else {
            continue;
        };
        let k = stock_key(
            s.plant.as_str(),
            s.storage_location.as_str(),
            s.material.as_str(),
            s.batch.as_ref().map(|b| b.as_str()),
            s.stock_type,
        );
        t.all.add(k, q);
        t.without_rejected.add(k, q);
    }
    for ev in events.iter() {
        if ev.poison {
            continue;
        }
        let k = ev.key();
        let rejected = rejected_erp.contains(&k);
        if let Some(K::LotHoldPlaced | K::LotHoldReleased | K::UsageDecisionMade) = ev.kind
            && let Some(lot) = ev.lot()
        {
            t.lot_events.entry(lot).or_default().push(k);
            let hold = ev.field("hold_id").unwrap_or("");
            match ev.kind {
                Some(K::LotHoldPlaced) => {
                    t.holds.entry(lot).or_default().insert(hold, k);
                    if !rejected {
                        t.holds_without_rejected
                            .entry(lot)
                            .or_default()
                            .insert(hold);
                    }
                }
                Some(K::LotHoldReleased) => {
                    if let Some(h) = t.holds.get_mut(&lot) {
                        h.remove(hold);
                    }
                    if !rejected && let Some(h) = t.holds_without_rejected.get_mut(&lot) {
                        h.remove(hold);
                    }
                }
                _ => {
                    t.decisions
                        .insert(lot, (ev.field("valuation").unwrap_or("A"), ev.idx));
                }
            }
        }
        let Some(ds) = deltas(ev, materials) else {
            t.unconvertible += 1;
            continue;
        };
        if ds.is_empty() {
            continue;
        }
        t.moving_events += 1;
        for (sk, q) in ds {
            t.all.add(sk, q);
            if !rejected {
                t.without_rejected.add(sk, q);
            }
            let e = t.touched.entry(sk).or_insert((0, k));
            e.0 += 1;
            e.1 = k;
        }
    }
    let held: FastSet<LotKey<'a>> = t
        .holds
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(l, _)| *l)
        .collect();
    t.all.block(&held);
    let held: FastSet<LotKey<'a>> = t
        .holds_without_rejected
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(l, _)| *l)
        .collect();
    t.without_rejected.block(&held);
    t
}

struct Part {
    status: Status,
    reason: String,
}

fn check(run: &RunData) -> Verdict {
    let events = Events::build(&run.records);
    let materials = Materials::build(run, &events);
    let rejections = common::rejections_by_event(&run.records, &events, &materials);
    let rejected_erp = rejected_at(&rejections, System::Erp);
    let t = truth(run, &events, &materials, &rejected_erp);

    let mut v = Verdict::new(NAME, Status::Unknown);
    let mut w = Witnesses::default();
    let mut parts: Vec<Part> = Vec::new();
    let mut details = serde_json::Map::new();
    if run.expect.reconcile.contains(&Reconcile::Inventory) {
        parts.push(inventory(
            run,
            &events,
            &materials,
            &t,
            &rejected_erp,
            &mut v,
            &mut w,
            &mut details,
        ));
    }
    if run.expect.reconcile.contains(&Reconcile::LotStatus) {
        parts.push(lot_status(
            run,
            &events,
            &materials,
            &rejections,
            &t,
            &mut v,
            &mut w,
        ));
    }
    let status = if parts.iter().any(|p| p.status == Status::Fail) {
        Status::Fail
    } else if parts.iter().any(|p| p.status == Status::Pass) {
        Status::Pass
    } else {
        Status::Unknown
    };
    v.status = status;
    v.reason = Some(
        parts
            .iter()
            .map(|p| p.reason.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    );
    v.witnesses = w.finish();
    v.details = serde_json::Value::Object(details);
    v
}

fn label(st: StockType) -> &'static str {
    match st {
        StockType::Unrestricted => "unrestricted",
        StockType::QualityInspection => "quality-inspection",
        StockType::Blocked => "blocked",
    }
}

#[allow(clippy::too_many_arguments)]
fn inventory(
    run: &RunData,
    events: &Events<'_>,
    materials: &Materials<'_>,
    t: &Truth<'_>,
    rejected_erp: &FastSet<Key<'_>>,
    v: &mut Verdict,
    w: &mut Witnesses,
    details: &mut serde_json::Map<String, serde_json::Value>,
) -> Part {
    let held_at_end = t.holds.values().filter(|h| !h.is_empty()).count() as u64;
    v.counts.insert("inventory_events".into(), t.moving_events);
    v.counts
        .insert("inventory_unconvertible".into(), t.unconvertible);
    if t.moving_events == 0 && held_at_end == 0 {
        return Part {
            status: Status::Unknown,
            reason: "inventory unknown: the run had no stock-moving activity".into(),
        };
    }
    let Some(rows) = run.snapshots.get(&System::Erp).and_then(|s| s.get("stock")) else {
        return Part {
            status: Status::Unknown,
            reason: "inventory unknown: no ERP stock snapshot".into(),
        };
    };
    let rows: Vec<StockRow> = match Vec::<StockRow>::deserialize(rows) {
        Ok(r) => r,
        Err(e) => {
            return Part {
                status: Status::Unknown,
                reason: format!("inventory unknown: the ERP stock snapshot is unreadable: {e}"),
            };
        }
    };
    let mut found: FastMap<StockKey, i64> = FastMap::default();
    for r in &rows {
        *found
            .entry(stock_key(
                r.plant.as_str(),
                r.storage_location.as_str(),
                r.material.as_str(),
                r.batch.as_ref().map(|b| b.as_str()),
                r.stock_type,
            ))
            .or_default() += r.quantity.milli;
    }
    let mut keys: FastSet<StockKey<'_>> = found.keys().copied().collect();
    keys.extend(t.all.qty.iter().filter(|(_, q)| **q != 0).map(|(k, _)| *k));
    keys.extend(
        t.without_rejected
            .qty
            .iter()
            .filter(|(_, q)| **q != 0)
            .map(|(k, _)| *k),
    );
    // Only the differing balances are looked at closely, in a fixed order.
    let mut differing: Vec<StockKey<'_>> = keys
        .iter()
        .filter(|k| found.get(*k).copied().unwrap_or(0) != t.all.get(k))
        .copied()
        .collect();
    differing.sort_unstable();
    let (mut mismatched, mut explained) = (0u64, 0u64);
    let mut explained_list = Vec::new();
    for (n, k) in differing.iter().enumerate() {
        let f = found.get(k).copied().unwrap_or(0);
        let a = t.all.get(k);
        let unit = materials
            .at(k.2, k.0, usize::MAX)
            .map(|m| m.base_unit.as_str().to_string())
            .unwrap_or_default();
        let what = format!(
            "{} stock of {} batch {} in plant {} storage location {}",
            label(k.4),
            k.2,
            k.3.unwrap_or("-"),
            k.0,
            k.1
        );
        if f == t.without_rejected.get(k) {
            explained += 1;
            if explained_list.len() < 50 {
                explained_list.push(json!({
                    "stock": what, "expected": format_milli(a), "found": format_milli(f), "unit": unit,
                    "source_events": t.touched.get(k).map(|x| x.0).unwrap_or(0),
                }));
            }
            continue;
        }
        mismatched += 1;
        let touch = t.touched.get(k).copied();
        let last = touch.and_then(|(_, k)| events.map.get(&k));
        w.push("inventory", n, || {
            let source = match (touch, last) {
                (Some((c, _)), Some(ev)) => format!(
                    " (initial stock and {c} source event{}, the last {}{})",
                    if c == 1 { "" } else { "s" },
                    describe(ev),
                    if rejected_erp.contains(&ev.key()) {
                        ", whose ERP call was rejected"
                    } else {
                        ""
                    }
                ),
                _ => " (initial stock, no source event touched it)".into(),
            };
            Witness {
                event: last.map(|e| e.source_ref()),
                system: Some(System::Erp),
                expected: format!("{} {unit} {what}{source}", format_milli(a)),
                happened: format!("ERP shows {} {unit}", format_milli(f)),
                trace_id: last.and_then(|e| e.trace()),
            }
        });
    }
    v.counts.insert("inventory_keys".into(), keys.len() as u64);
    v.counts.insert("inventory_mismatched".into(), mismatched);
    v.counts.insert("inventory_explained".into(), explained);
    details.insert("inventory_explained".into(), json!(explained_list));
    if mismatched > 0 {
        Part {
            status: Status::Fail,
            reason: format!(
                "inventory: {mismatched} of {} stock balances differ from the plant's activity ({explained} explained by rejected postings)",
                keys.len()
            ),
        }
    } else {
        Part {
            status: Status::Pass,
            reason: format!(
                "inventory: {} stock balances agree ({explained} differences explained by rejected postings)",
                keys.len()
            ),
        }
    }
}

fn lot_status(
    run: &RunData,
    events: &Events<'_>,
    materials: &Materials<'_>,
    rejections: &FastMap<Key<'_>, Vec<common::Rejection>>,
    t: &Truth<'_>,
    v: &mut Verdict,
    w: &mut Witnesses,
) -> Part {
    let (mut compared, mut mismatched, mut explained) = (0u64, 0u64, 0u64);
    let mut order = 0usize;
    for system in [System::Mes, System::Wms] {
        let Some(lots) = run.snapshots.get(&system).and_then(|s| s.get("lots")) else {
            continue;
        };
        let Some(lots) = lots.as_array() else {
            continue;
        };
        for l in lots {
            let Ok(found) = LotStatus::deserialize(l) else {
                continue;
            };
            compared += 1;
            order += 1;
            let lot = (
                found.plant.as_str(),
                found.material.as_str(),
                found.batch.as_str(),
            );
            let holds: Vec<&str> = t
                .holds
                .get(&lot)
                .map(|h| h.keys().copied().collect())
                .unwrap_or_default();
            let status = match t.decisions.get(&lot) {
                Some(("R", _)) => StockType::Blocked,
                Some(_) => StockType::Unrestricted,
                None => {
                    if materials
                        .inspection(lot.1, lot.0, usize::MAX)
                        .0
                        .unwrap_or(false)
                    {
                        StockType::QualityInspection
                    } else {
                        StockType::Unrestricted
                    }
                }
            };
            let available = status == StockType::Unrestricted && holds.is_empty();
            if found.available == available && found.status == status {
                continue;
            }
            let lot_events = t.lot_events.get(&lot);
            let is_explained = lot_events.is_some_and(|ks| {
                ks.iter().any(|k| {
                    rejections
                        .get(k)
                        .is_some_and(|r| r.iter().any(|x| x.system == system && x.legit))
                })
            });
            if is_explained {
                explained += 1;
                continue;
            }
            mismatched += 1;
            let last = lot_events
                .and_then(|ks| ks.last())
                .and_then(|k| events.map.get(k));
            w.push("lot_status", order, || Witness {
                event: last.map(|e| e.source_ref()),
                system: Some(system),
                expected: format!(
                    "lot {} batch {} in plant {} {} ({}, {})",
                    lot.1,
                    lot.2,
                    lot.0,
                    if available {
                        "available"
                    } else {
                        "not available"
                    },
                    label(status),
                    if holds.is_empty() {
                        "no hold in force".to_string()
                    } else {
                        format!("holds {} in force", holds.join(", "))
                    }
                ),
                happened: format!(
                    "{} shows it {} ({}, holds [{}]){}",
                    sys(system),
                    if found.available {
                        "available"
                    } else {
                        "not available"
                    },
                    label(found.status),
                    found.holds.join(", "),
                    last.map(|e| format!("; the lot's last quality event was {}", describe(e)))
                        .unwrap_or_default()
                ),
                trace_id: last.and_then(|e| e.trace()),
            });
        }
    }
    v.counts.insert("lots_compared".into(), compared);
    v.counts.insert("lots_mismatched".into(), mismatched);
    v.counts.insert("lots_explained".into(), explained);
    if compared == 0 {
        Part {
            status: Status::Unknown,
            reason: "lot status unknown: no lot in the MES or WMS snapshot".into(),
        }
    } else if mismatched > 0 {
        Part {
            status: Status::Fail,
            reason: format!(
                "lot status: {mismatched} of {compared} lots in MES/WMS disagree with the quality events ({explained} explained by rejected calls)"
            ),
        }
    } else {
        Part {
            status: Status::Pass,
            reason: format!(
                "lot status: {compared} lots in MES/WMS agree with the quality events ({explained} explained by rejected calls)"
            ),
        }
    }
}
