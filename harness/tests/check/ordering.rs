use andon::check::ordering::Ordering;
use andon::check::{Checker, Status};
use andon_contracts::System::{Erp, Qms, Wms};

use crate::helpers::*;

#[test]
fn a_late_hold_that_blocks_a_released_lot_again_fails() {
    let mut h = H::new();
    let placed = h.emit(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    let released = h.emit(
        Qms,
        "lot.hold_released",
        "FG-2/P1",
        release("H1", "FG-2", "P1"),
    );
    h.deliver(&released, 202);
    h.deliver(&placed, 202);
    h.lot_effect(
        Wms,
        "lot_status",
        ("FG-2", "P1"),
        &released,
        2,
        0,
        "unrestricted",
        &[],
    );
    let i = h.lot_effect(
        Wms,
        "hold",
        ("FG-2", "P1"),
        &placed,
        1,
        2,
        "unrestricted",
        &["H1"],
    );
    let v = Ordering.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("stale_overwrites"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.system, Some(Wms));
    assert_eq!(w.event.as_ref(), Some(&placed.r));
    assert_eq!(w.trace_id.as_deref(), Some(placed.trace.as_str()));
    assert!(
        w.expected
            .contains("lot FG-2 batch P1 in plant 1000 at WMS"),
        "{}",
        w.expected
    );
    assert!(
        w.happened
            .contains("sequence 1 was applied after sequence 2"),
        "{}",
        w.happened
    );
    assert!(w.happened.contains("from available"), "{}", w.happened);
    assert_eq!(i, h.records.len() - 1);
}

#[test]
fn a_stale_change_that_changes_nothing_is_harmless() {
    let mut h = H::new();
    let a = h.emit(
        Qms,
        "usage_decision.made",
        "FG-2/P1",
        decision("FG-2", "P1", q(1.0, "PC"), "A"),
    );
    let b = h.emit(
        Qms,
        "usage_decision.made",
        "FG-2/P1",
        decision("FG-2", "P1", q(1.0, "PC"), "A"),
    );
    h.deliver(&b, 202);
    h.deliver(&a, 202);
    h.lot_effect(
        Wms,
        "lot_status",
        ("FG-2", "P1"),
        &b,
        2,
        0,
        "unrestricted",
        &[],
    );
    h.lot_effect(
        Wms,
        "lot_status",
        ("FG-2", "P1"),
        &a,
        1,
        2,
        "unrestricted",
        &[],
    );
    let v = Ordering.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("stale_changes"), 1);
    assert_eq!(v.count("out_of_order_deliveries"), 1);
}

#[test]
fn order_never_tested_is_unknown() {
    let mut h = H::new();
    let placed = h.acked(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    let released = h.acked(
        Qms,
        "lot.hold_released",
        "FG-2/P1",
        release("H1", "FG-2", "P1"),
    );
    h.lot_effect(
        Wms,
        "hold",
        ("FG-2", "P1"),
        &placed,
        1,
        0,
        "unrestricted",
        &["H1"],
    );
    h.lot_effect(
        Wms,
        "release",
        ("FG-2", "P1"),
        &released,
        2,
        1,
        "unrestricted",
        &[],
    );
    let v = Ordering.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("never put to the test")
    );
    // A reorder fault that fired puts it to the test.
    h.fault(Qms, "qms-reorder-1", "fired", "reorder");
    assert_status(&Ordering.check(&h.run()), Status::Pass);
    let _ = Erp;
}

#[test]
fn fewer_than_two_changes_is_unknown() {
    let mut h = H::new();
    h.fault(Qms, "qms-duplicate-1", "fired", "duplicate");
    let placed = h.acked(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    h.lot_effect(
        Wms,
        "hold",
        ("FG-2", "P1"),
        &placed,
        1,
        0,
        "unrestricted",
        &["H1"],
    );
    let v = Ordering.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert!(v.reason.as_deref().unwrap().contains("two status changes"));
}

#[test]
fn a_release_that_reaches_the_wms_before_its_hold_fails() {
    let mut h = H::new();
    let placed = h.emit(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    let released = h.emit(
        Qms,
        "lot.hold_released",
        "FG-2/P1",
        release("H1", "FG-2", "P1"),
    );
    h.deliver(&released, 202);
    h.deliver(&placed, 202);
    h.rejected(
        Wms,
        "/api/v1/lots/1000/FG-2/P1/holds/H1/release",
        &released,
        "hold-not-found",
    );
    h.lot_effect(
        Wms,
        "hold",
        ("FG-2", "P1"),
        &placed,
        1,
        0,
        "unrestricted",
        &["H1"],
    );
    let v = Ordering.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("release_before_hold"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.event.as_ref(), Some(&released.r));
    assert!(
        w.happened.contains("answered hold-not-found"),
        "{}",
        w.happened
    );
}

#[test]
fn a_release_of_a_hold_never_placed_is_not_an_ordering_fault() {
    let mut h = H::new();
    let released = h.emit(
        Qms,
        "lot.hold_released",
        "FG-2/P1",
        release("H9", "FG-2", "P1"),
    );
    h.deliver(&released, 202);
    h.rejected(
        Wms,
        "/api/v1/lots/1000/FG-2/P1/holds/H9/release",
        &released,
        "hold-not-found",
    );
    let v = Ordering.check(&h.run());
    assert_eq!(v.count("release_before_hold"), 0);
    assert_ne!(v.status, Status::Fail, "{v:?}");
}
