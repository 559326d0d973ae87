//! The reconciliation checker's inventory part: the ERP's stock balances against the
//! plant's true activity.

use andon_contracts::System;
use andon_contracts::objects::StockRow;
use andon_contracts::quantity::format_milli;
use serde::Deserialize;
use serde_json::json;

use super::truth::{StockKey, stock_key};
use super::{Index, Part, label};
use crate::check::common::{Ev, FastMap, FastSet, Witnesses, describe};
use crate::check::{RunData, Status, Verdict, Witness};

/// Most explained differences listed in the details.
const MAX_EXPLAINED: usize = 50;

/// Compares every ERP stock balance with the truth; counts into `v`, witnesses into `w`,
/// the explained differences into `details`.
pub(super) fn inventory(
    ix: &Index<'_>,
    v: &mut Verdict,
    w: &mut Witnesses,
    details: &mut serde_json::Map<String, serde_json::Value>,
) -> Part {
    let t = &ix.truth;
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
    let rows = match erp_stock(ix.run) {
        Ok(rows) => rows,
        Err(part) => return part,
    };
    let found = balances(&rows);
    let keys = all_keys(ix, &found);
    // Only the differing balances are looked at closely, in a fixed order.
    let mut differing: Vec<StockKey<'_>> = keys
        .iter()
        .filter(|k| found.get(*k).copied().unwrap_or(0) != t.all.get(k))
        .copied()
        .collect();
    differing.sort_unstable();
    let mut c = Comparison::default();
    for (n, k) in differing.iter().enumerate() {
        c.balance(ix, n, k, found.get(k).copied().unwrap_or(0), w);
    }
    let Comparison {
        mismatched,
        explained,
        explained_list,
    } = c;
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

/// The ERP snapshot's stock rows, or the unknown part saying why there are none.
fn erp_stock(run: &RunData) -> Result<Vec<StockRow>, Part> {
    let Some(rows) = run.snapshots.get(&System::Erp).and_then(|s| s.get("stock")) else {
        return Err(Part {
            status: Status::Unknown,
            reason: "inventory unknown: no ERP stock snapshot".into(),
        });
    };
    Vec::<StockRow>::deserialize(rows).map_err(|e| Part {
        status: Status::Unknown,
        reason: format!("inventory unknown: the ERP stock snapshot is unreadable: {e}"),
    })
}

/// The ERP's balance per stock key, in thousandths of the base unit.
fn balances(rows: &[StockRow]) -> FastMap<StockKey<'_>, i64> {
    let mut found: FastMap<StockKey, i64> = FastMap::default();
    for r in rows {
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
    found
}

/// Every stock key the ERP shows or the truth (either ledger) has a balance for.
fn all_keys<'k>(ix: &Index<'k>, found: &FastMap<StockKey<'k>, i64>) -> FastSet<StockKey<'k>> {
    let t = &ix.truth;
    let mut keys: FastSet<StockKey<'_>> = found.keys().copied().collect();
    keys.extend(t.all.qty.iter().filter(|(_, q)| **q != 0).map(|(k, _)| *k));
    keys.extend(
        t.without_rejected
            .qty
            .iter()
            .filter(|(_, q)| **q != 0)
            .map(|(k, _)| *k),
    );
    keys
}

/// The differing balances so far: mismatched, or explained by rejected postings.
#[derive(Default)]
struct Comparison {
    /// Balances that differ unexplained.
    mismatched: u64,
    /// Balances whose difference the rejected postings explain.
    explained: u64,
    /// The first [`MAX_EXPLAINED`] explained differences, for the details.
    explained_list: Vec<serde_json::Value>,
}

impl Comparison {
    /// Judges the `n`-th differing balance `k`, where the ERP shows `f`.
    fn balance(&mut self, ix: &Index<'_>, n: usize, k: &StockKey<'_>, f: i64, w: &mut Witnesses) {
        let t = &ix.truth;
        let a = t.all.get(k);
        let unit = ix
            .materials
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
            self.explained += 1;
            if self.explained_list.len() < MAX_EXPLAINED {
                self.explained_list.push(json!({
                    "stock": what, "expected": format_milli(a), "found": format_milli(f), "unit": unit,
                    "source_events": t.touched.get(k).map(|x| x.0).unwrap_or(0),
                }));
            }
            return;
        }
        self.mismatched += 1;
        let touch = t.touched.get(k).copied();
        let last = touch.and_then(|(_, k)| ix.events.map.get(&k));
        w.push("inventory", n, || {
            let source = source_text(ix, touch.map(|x| x.0), last);
            Witness {
                event: last.map(|e| e.source_ref()),
                system: Some(System::Erp),
                expected: format!("{} {unit} {what}{source}", format_milli(a)),
                happened: format!("ERP shows {} {unit}", format_milli(f)),
                trace_id: last.and_then(|e| e.trace()),
            }
        });
    }
}

/// Where an expected balance comes from: the initial stock and how many source events,
/// the last of them named.
fn source_text(ix: &Index<'_>, touched: Option<u64>, last: Option<&Ev<'_>>) -> String {
    match (touched, last) {
        (Some(c), Some(ev)) => format!(
            " (initial stock and {c} source event{}, the last {}{})",
            if c == 1 { "" } else { "s" },
            describe(ev),
            if ix.rejected_erp.contains(&ev.key()) {
                ", whose ERP call was rejected"
            } else {
                ""
            }
        ),
        _ => " (initial stock, no source event touched it)".into(),
    }
}
