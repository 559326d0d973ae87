//! The reconciliation checker's lot-status part: each lot the MES and WMS know against the
//! truth from the QMS events.

use andon_contracts::System;
use andon_contracts::objects::{LotStatus, StockType};
use serde::Deserialize;

use super::truth::{LotKey, Truth};
use super::{Index, Part, label};
use crate::check::common::{Ev, Witnesses, describe, sys};
use crate::check::{Status, Verdict, Witness};

/// What a lot should show: its status, the holds in force, and whether it is available.
struct Expected<'a> {
    /// The status the last usage decision (or none) implies.
    status: StockType,
    /// The holds in force.
    holds: Vec<&'a str>,
    /// Unrestricted and no hold.
    available: bool,
}

/// The lots' counts so far.
#[derive(Default)]
struct Counts {
    /// Lots compared.
    compared: u64,
    /// Lots that disagree unexplained.
    mismatched: u64,
    /// Lots whose disagreement a rejected call explains.
    explained: u64,
}

/// Compares every lot in the MES and WMS snapshots with the truth; counts into `v`,
/// witnesses into `w`.
pub(super) fn lot_status(ix: &Index<'_>, v: &mut Verdict, w: &mut Witnesses) -> Part {
    let mut c = Counts::default();
    let mut order = 0usize;
    for system in [System::Mes, System::Wms] {
        let Some(lots) = ix.run.snapshots.get(&system).and_then(|s| s.get("lots")) else {
            continue;
        };
        let Some(lots) = lots.as_array() else {
            continue;
        };
        for l in lots {
            let Ok(found) = LotStatus::deserialize(l) else {
                continue;
            };
            c.compared += 1;
            order += 1;
            judge_lot(ix, system, &found, order, &mut c, w);
        }
    }
    let Counts {
        compared,
        mismatched,
        explained,
    } = c;
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

/// What the truth says a lot should show.
fn expected<'a>(ix: &Index<'_>, t: &Truth<'a>, lot: &LotKey<'_>) -> Expected<'a> {
    let holds: Vec<&str> = t
        .holds
        .get(lot)
        .map(|h| h.keys().copied().collect())
        .unwrap_or_default();
    let status = match t.decisions.get(lot) {
        Some(("R", _)) => StockType::Blocked,
        Some(_) => StockType::Unrestricted,
        None => {
            if ix
                .materials
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
    Expected {
        status,
        holds,
        available,
    }
}

/// Judges one lot `system` shows (the `order`-th compared): agreeing, explained by a
/// legitimately rejected call of one of its QMS events to that system, or mismatched
/// (witnessed).
fn judge_lot(
    ix: &Index<'_>,
    system: System,
    found: &LotStatus,
    order: usize,
    c: &mut Counts,
    w: &mut Witnesses,
) {
    let t = &ix.truth;
    let lot = (
        found.plant.as_str(),
        found.material.as_str(),
        found.batch.as_str(),
    );
    let want = expected(ix, t, &lot);
    if found.available == want.available && found.status == want.status {
        return;
    }
    let lot_events = t.lot_events.get(&lot);
    let is_explained = lot_events.is_some_and(|ks| {
        ks.iter().any(|k| {
            ix.rejections
                .get(k)
                .is_some_and(|r| r.iter().any(|x| x.system == system && x.legit))
        })
    });
    if is_explained {
        c.explained += 1;
        return;
    }
    c.mismatched += 1;
    let last = lot_events
        .and_then(|ks| ks.last())
        .and_then(|k| ix.events.map.get(k));
    w.push("lot_status", order, || {
        lot_witness(system, &lot, &want, found, last)
    });
}

/// `available` or `not available`.
fn availability(available: bool) -> &'static str {
    if available {
        "available"
    } else {
        "not available"
    }
}

/// The witness of a lot `system` shows otherwise than the truth.
fn lot_witness(
    system: System,
    lot: &LotKey<'_>,
    want: &Expected<'_>,
    found: &LotStatus,
    last: Option<&Ev<'_>>,
) -> Witness {
    Witness {
        event: last.map(|e| e.source_ref()),
        system: Some(system),
        expected: format!(
            "lot {} batch {} in plant {} {} ({}, {})",
            lot.1,
            lot.2,
            lot.0,
            availability(want.available),
            label(want.status),
            if want.holds.is_empty() {
                "no hold in force".to_string()
            } else {
                format!("holds {} in force", want.holds.join(", "))
            }
        ),
        happened: format!(
            "{} shows it {} ({}, holds [{}]){}",
            sys(system),
            availability(found.available),
            label(found.status),
            found.holds.join(", "),
            last.map(|e| format!("; the lot's last quality event was {}", describe(e)))
                .unwrap_or_default()
        ),
        trace_id: last.and_then(|e| e.trace()),
    }
}
