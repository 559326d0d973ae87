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
//! * a Business Central plant notifies no one of a change before the middleware's first
//!   subscription there: an order released then never reaches the MES, so the MES effects
//!   of its later changes and cancellation are not owed (`never_notified`).
//!
//! Fail on any lost, duplicated, unexpected or unattributed effect; unknown when no
//! acknowledged event had expected effects, or when most of them (more than half) ended in
//! a business rejection (the flows were hardly exercised: a run that rejects most postings
//! is no pass); pass otherwise.

mod index;
mod judge;
mod witness;

use std::collections::BTreeMap;

use serde_json::json;

use super::common::{Ev, Witnesses};
use super::{Checker, RunData, Status, Verdict};
use index::Index;
use judge::Scratch;

/// The exactly-once checker.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExactlyOnce;

/// The checker's name in verdicts.
const NAME: &str = "exactly_once";

impl Checker for ExactlyOnce {
    fn name(&self) -> &'static str {
        NAME
    }

    fn check(&self, run: &RunData) -> Verdict {
        check(run)
    }
}

/// The counts of one event kind, for the details.
#[derive(Default, Clone, Copy)]
struct KindCounts {
    /// Events of the kind (poison left out).
    events: u64,
    /// Effects lost.
    lost: u64,
    /// Effects duplicated.
    duplicated: u64,
    /// Effects a legitimate business rejection excused.
    rejected: u64,
}

/// What the checker found so far: the counts, per kind too, the witnesses, and which
/// effects were accounted for.
struct Tally {
    /// Counts by name.
    counts: BTreeMap<&'static str, u64>,
    /// Counts per event kind.
    by_kind: BTreeMap<&'static str, KindCounts>,
    /// The witnesses.
    w: Witnesses,
    /// Per record: an effect matched to an expected effect (or a reversal).
    matched: Vec<bool>,
    /// Per record: an effect of an event the SUT rejected at delivery.
    owed_to_rejected: Vec<bool>,
    /// Acknowledged events with required effects.
    judged: u64,
}

/// Judges every event's effects, then every effect, and builds the verdict.
fn check(run: &RunData) -> Verdict {
    let ix = Index::build(run);
    let n = ix.records.len();
    let mut t = Tally {
        counts: BTreeMap::new(),
        by_kind: BTreeMap::new(),
        w: Witnesses::default(),
        matched: vec![false; n],
        owed_to_rejected: vec![false; n],
        judged: 0,
    };
    let mut scratch = Scratch::default();
    for ev in ix.events.iter() {
        t.event(&ix, ev, &mut scratch);
    }
    // Every effect: indeterminate, unattributed, unexpected.
    for (i, r) in ix.records.iter().enumerate() {
        t.effect(&ix, i, r);
    }
    t.verdict()
}

impl Tally {
    /// Adds `n` to a count.
    fn add(&mut self, k: &'static str, n: u64) {
        *self.counts.entry(k).or_default() += n;
    }

    /// A count (0 when absent).
    fn get(&self, k: &str) -> u64 {
        self.counts.get(k).copied().unwrap_or(0)
    }

    /// The counts of an event's kind.
    fn kind(&mut self, ev: &Ev<'_>) -> &mut KindCounts {
        self.by_kind
            .entry(ev.kind.map(|k| k.name()).unwrap_or("unknown"))
            .or_default()
    }

    /// The verdict: fail on any lost, duplicated, unexpected or unattributed effect;
    /// unknown when nothing was judged or most judged events were rejected; pass
    /// otherwise.
    fn verdict(mut self) -> Verdict {
        let bad = ["lost", "duplicated", "unexpected", "unattributed"]
            .iter()
            .map(|k| self.get(k))
            .sum::<u64>();
        let judged = self.judged;
        self.counts.insert("judged", judged);
        let (status, reason) = if bad > 0 {
            (
                Status::Fail,
                format!(
                    "{} lost, {} duplicated, {} unexpected, {} unattributed effects over {judged} acknowledged events",
                    self.get("lost"),
                    self.get("duplicated"),
                    self.get("unexpected"),
                    self.get("unattributed"),
                ),
            )
        } else if judged > 0 && self.get("rejected_events") * 2 > judged {
            (
                Status::Unknown,
                format!(
                    "most acknowledged events ({} of {judged}) ended in a business rejection by the target: the flows were hardly exercised, and a run that rejects most postings is no pass",
                    self.get("rejected_events")
                ),
            )
        } else if judged == 0 {
            (
                Status::Unknown,
                format!(
                    "no acknowledged event had an effect to land ({} events emitted, {} acknowledged)",
                    self.get("events"),
                    self.get("acknowledged")
                ),
            )
        } else {
            (
                Status::Pass,
                format!(
                    "{judged} acknowledged events, each effect landed once ({} rejected by the target, {} indeterminate)",
                    self.get("rejected"),
                    self.get("indeterminate")
                ),
            )
        };
        let mut v = Verdict::new(NAME, status);
        for k in COUNTS {
            v.counts.insert(k.to_string(), self.get(k));
        }
        v.witnesses = self.w.finish();
        v.reason = Some(reason);
        v.details = json!({
            "by_kind": self.by_kind.iter().map(|(k, c)| (k.to_string(), json!({
                "events": c.events, "lost": c.lost, "duplicated": c.duplicated, "rejected": c.rejected,
            }))).collect::<serde_json::Map<_, _>>(),
        });
        v
    }
}

/// The counts every verdict carries.
const COUNTS: [&str; 18] = [
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
    "never_notified",
    "reversed",
    "superseded",
    "poison",
    "not_acknowledged",
];
