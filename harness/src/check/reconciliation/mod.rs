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

mod inventory;
mod lot_status;
mod truth;

use andon_contracts::System;
use andon_contracts::objects::StockType;

use super::common::{self, Events, FastMap, FastSet, Key, Materials, Witnesses};
use super::{Checker, Reconcile, RunData, Status, Verdict};
use truth::Truth;

/// The reconciliation checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reconciliation;

/// The checker's name in verdicts.
const NAME: &str = "reconciliation";

impl Checker for Reconciliation {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// What both parts read, built once: the events, the material master, the rejections
/// and the truth about the plant.
struct Index<'a> {
    /// The run.
    run: &'a RunData,
    /// The emitted events.
    events: Events<'a>,
    /// The material master as it stood at each event.
    materials: Materials<'a>,
    /// The business rejections (422) per event.
    rejections: FastMap<Key<'a>, Vec<common::Rejection>>,
    /// The events whose ERP call was legitimately rejected.
    rejected_erp: FastSet<Key<'a>>,
    /// The truth about the plant, from its events.
    truth: Truth<'a>,
}

impl<'a> Index<'a> {
    /// Indexes the run.
    fn build(run: &'a RunData) -> Self {
        let events = Events::build(&run.records);
        let materials = Materials::build(run, &events);
        let rejections = common::rejections_by_event(&run.records, &events, &materials);
        let rejected_erp = rejected_at(&rejections, System::Erp);
        let truth = truth::truth(run, &events, &materials, &rejected_erp);
        Self {
            run,
            events,
            materials,
            rejections,
            rejected_erp,
            truth,
        }
    }
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

/// What one part (inventory, lot status) concluded.
struct Part {
    /// Its status.
    status: Status,
    /// Why, in a sentence.
    reason: String,
}

/// Runs the parts `expect.reconcile` asks for and combines them.
fn check(run: &RunData) -> Verdict {
    let ix = Index::build(run);
    let mut v = Verdict::new(NAME, Status::Unknown);
    let mut w = Witnesses::default();
    let mut parts: Vec<Part> = Vec::new();
    let mut details = serde_json::Map::new();
    if run.expect.reconcile.contains(&Reconcile::Inventory) {
        parts.push(inventory::inventory(&ix, &mut v, &mut w, &mut details));
    }
    if run.expect.reconcile.contains(&Reconcile::LotStatus) {
        parts.push(lot_status::lot_status(&ix, &mut v, &mut w));
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

/// A stock type in words (`quality-inspection`).
fn label(st: StockType) -> &'static str {
    match st {
        StockType::Unrestricted => "unrestricted",
        StockType::QualityInspection => "quality-inspection",
        StockType::Blocked => "blocked",
    }
}
