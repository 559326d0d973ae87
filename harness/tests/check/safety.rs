use andon::check::safety::Safety;
use andon::check::{Checker, Status};
use andon_contracts::System::{Erp, Mes, Qms, Wms};
use serde_json::json;

use crate::helpers::*;

fn pick(h: &mut H, delivery: &str, batch: &str) {
    h.note(
        Wms,
        "wms.pick",
        json!({ "delivery": delivery, "plant": "1000", "material": "RM-1", "batch": batch,
                "quantity": { "value": 1.0, "unit": "KG" }, "holds": [] }),
    );
}

#[test]
fn consuming_a_lot_held_longer_than_the_grace_fails() {
    let mut h = H::new();
    let held = h.acked(Qms, "lot.hold_placed", "RM-1/R1", hold("H1", "RM-1", "R1"));
    h.at(30_000);
    h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    // Within the 60 s grace: not yet unsafe.
    assert_status(&Safety.check(&h.run()), Status::Pass);
    h.at(90_000);
    let late = h.acked(
        Mes,
        "material.consumed",
        "1000002",
        consumed("1000002", "RM-1", "R1", q(1.0, "KG")),
    );
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unsafe_consumptions"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.event.as_ref(), Some(&late.r));
    assert_eq!(w.system, Some(Mes));
    assert_eq!(w.trace_id.as_deref(), Some(held.trace.as_str()));
    assert!(w.expected.contains("while hold H1"), "{}", w.expected);
    assert!(
        w.happened
            .starts_with("MES consumed 1 KG of it for order 1000002 at 06:01:30.000, 90.0 s after"),
        "{}",
        w.happened
    );
}

#[test]
fn using_a_lot_after_its_release_is_safe() {
    let mut h = H::new();
    h.acked(Qms, "lot.hold_placed", "RM-1/R1", hold("H1", "RM-1", "R1"));
    h.at(80_000).acked(
        Qms,
        "lot.hold_released",
        "RM-1/R1",
        release("H1", "RM-1", "R1"),
    );
    h.at(90_000);
    pick(&mut h, "80000001", "R1");
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("uses"), 1);
}

#[test]
fn picking_a_rejected_lot_fails() {
    let mut h = H::new();
    h.acked(
        Qms,
        "usage_decision.made",
        "RM-1/R1",
        decision("RM-1", "R1", q(1.0, "KG"), "R"),
    );
    h.at(120_000);
    pick(&mut h, "80000001", "R1");
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unsafe_picks"), 1);
    assert!(
        v.witnesses[0]
            .happened
            .starts_with("WMS picked 1 KG of it for delivery 80000001")
    );
}

#[test]
fn a_rejected_posting_must_be_dead_lettered() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    h.rejected(Erp, "/api/v1/material-documents", &ev, "period-closed");
    h.dead_letters = Some(vec![
        json!({ "source_event": { "source": ev.r.source, "id": ev.r.id }, "status": 422 }),
    ]);
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("dead_lettered"), 1);

    h.dead_letters = Some(vec![]);
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("vanished"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.event.as_ref(), Some(&ev.r));
    assert_eq!(w.system, Some(Erp));
    assert!(
        w.happened.contains("answered 422 period-closed"),
        "{}",
        w.happened
    );
}

#[test]
fn a_rejection_followed_by_a_successful_retry_did_not_vanish() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    h.rejected(Erp, "/api/v1/material-documents", &ev, "stock-deficit");
    h.gm(&ev, "261", "RM-1", "R1", 1.0, "KG");
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("recovered"), 1);
}

#[test]
fn without_the_dead_letter_capability_rejections_are_unknown() {
    let mut h = H::new();
    h.dead_letters = None;
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    h.rejected(Erp, "/api/v1/material-documents", &ev, "period-closed");
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("lacks the dead-letter capability")
    );
    // With holds exercised, the verdict is pass and the reason names the unknown part.
    h.acked(Qms, "lot.hold_placed", "RM-1/R2", hold("H1", "RM-1", "R2"));
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Pass);
    assert!(
        v.reason.as_deref().unwrap().contains("(unknown)"),
        "{:?}",
        v.reason
    );
}

#[test]
fn no_holds_and_no_rejections_is_unknown() {
    let mut h = H::new();
    h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    let v = Safety.check(&h.run());
    assert_status(&v, Status::Unknown);
}
