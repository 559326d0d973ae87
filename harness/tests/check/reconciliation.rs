use andon::check::reconciliation::Reconciliation;
use andon::check::{Checker, Reconcile, Status};
use andon_contracts::System::{Erp, Mes, Qms, Wms};

use crate::helpers::*;

/// 2 KG of RM-1 consumed (reported in grams), 10 FG-1 produced into inspection, accepted,
/// 3 shipped.
fn activity(h: &mut H) {
    let c = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2000.0, "G")),
    );
    h.gm(&c, "261", "RM-1", "R1", 2.0, "KG");
    let p = h.acked(
        Mes,
        "material.produced",
        "1000001",
        produced("1000001", "FG-1", "P1", q(10.0, "PC")),
    );
    h.gm(&p, "101", "FG-1", "P1", 10.0, "PC");
    let d = h.acked(
        Qms,
        "usage_decision.made",
        "FG-1/P1",
        decision("FG-1", "P1", q(10.0, "PC"), "A"),
    );
    h.gm(&d, "321", "FG-1", "P1", 10.0, "PC");
    let s = h.acked(
        Wms,
        "shipment.confirmed",
        "80000001",
        shipment("80000001", &[("FG-1", "P1", 3.0, "PC")]),
    );
    h.gm(&s, "601", "FG-1", "P1", 3.0, "PC");
}

#[test]
fn erp_stock_that_follows_the_activity_passes() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::Inventory];
    activity(&mut h);
    h.stock(&[
        ("RM-1", "R1", "unrestricted", 98.0, "KG"),
        ("FG-1", "P1", "unrestricted", 7.0, "PC"),
    ]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("inventory_mismatched"), 0);
    assert_eq!(v.count("inventory_events"), 4);
}

#[test]
fn a_wrong_balance_fails_with_expected_and_found() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::Inventory];
    activity(&mut h);
    h.stock(&[
        ("RM-1", "R1", "unrestricted", 99.998, "KG"),
        ("FG-1", "P1", "unrestricted", 7.0, "PC"),
    ]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("inventory_mismatched"), 1);
    let w = &v.witnesses[0];
    assert!(
        w.expected.starts_with(
            "98 KG unrestricted stock of RM-1 batch R1 in plant 1000 storage location 0001"
        ),
        "{}",
        w.expected
    );
    assert!(
        w.expected.contains("material.consumed of RM-1 batch R1"),
        "{}",
        w.expected
    );
    assert_eq!(w.happened, "ERP shows 99.998 KG");
    assert_eq!(w.system, Some(Erp));
}

#[test]
fn a_difference_from_a_rejected_posting_is_explained() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::Inventory];
    let c = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.rejected(Erp, "/api/v1/material-documents", &c, "period-closed");
    h.stock(&[("RM-1", "R1", "unrestricted", 100.0, "KG")]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("inventory_explained"), 1);
    assert_eq!(
        v.details["inventory_explained"].as_array().unwrap().len(),
        1
    );
}

#[test]
fn a_hold_in_force_at_the_end_moves_the_lot_to_blocked() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::Inventory];
    let p = h.acked(
        Mes,
        "material.produced",
        "1000001",
        produced("1000001", "FG-2", "P1", q(10.0, "PC")),
    );
    h.gm(&p, "101", "FG-2", "P1", 10.0, "PC");
    h.acked(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    h.stock(&[
        ("RM-1", "R1", "unrestricted", 100.0, "KG"),
        ("FG-2", "P1", "unrestricted", 10.0, "PC"),
    ]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Fail);
    assert!(v.witnesses.iter().any(|w| {
        w.expected
            .starts_with("10 PC blocked stock of FG-2 batch P1")
    }));
    h.stock(&[
        ("RM-1", "R1", "unrestricted", 100.0, "KG"),
        ("FG-2", "P1", "blocked", 10.0, "PC"),
    ]);
    assert_status(&Reconciliation.check(&h.run()), Status::Pass);
}

#[test]
fn no_stock_moving_activity_is_unknown() {
    let mut h = H::new();
    h.stock(&[("RM-1", "R1", "unrestricted", 100.0, "KG")]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Unknown);
    let reason = v.reason.unwrap();
    assert!(reason.contains("no stock-moving activity"), "{reason}");
    assert!(
        reason.contains("no lot in the MES or WMS snapshot"),
        "{reason}"
    );
}

#[test]
fn lot_status_agrees_with_the_quality_events() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::LotStatus];
    h.acked(
        Qms,
        "usage_decision.made",
        "FG-1/P1",
        decision("FG-1", "P1", q(10.0, "PC"), "A"),
    );
    h.acked(
        Qms,
        "usage_decision.made",
        "FG-1/P2",
        decision("FG-1", "P2", q(10.0, "PC"), "R"),
    );
    h.acked(Qms, "lot.hold_placed", "FG-2/P3", hold("H1", "FG-2", "P3"));
    h.lots(
        Wms,
        &[
            ("FG-1", "P1", "unrestricted", &[]),
            ("FG-1", "P2", "blocked", &[]),
            ("FG-2", "P3", "unrestricted", &["H1"]),
            ("FG-1", "P4", "quality_inspection", &[]),
        ],
    );
    h.lots(Mes, &[("FG-2", "P3", "unrestricted", &["H1"])]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("lots_compared"), 5);
}

#[test]
fn a_lot_available_despite_a_hold_fails() {
    let mut h = H::new();
    h.expect.reconcile = vec![Reconcile::LotStatus];
    let ev = h.acked(Qms, "lot.hold_placed", "FG-2/P3", hold("H1", "FG-2", "P3"));
    h.lots(Wms, &[("FG-2", "P3", "unrestricted", &[])]);
    let v = Reconciliation.check(&h.run());
    assert_status(&v, Status::Fail);
    let w = &v.witnesses[0];
    assert_eq!(w.system, Some(Wms));
    assert_eq!(w.event.as_ref(), Some(&ev.r));
    assert!(w.expected.contains("not available"), "{}", w.expected);
    assert!(
        w.happened.starts_with("WMS shows it available"),
        "{}",
        w.happened
    );
}
