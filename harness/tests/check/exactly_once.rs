use andon::check::exactly_once::ExactlyOnce;
use andon::check::{Checker, Status};
use andon_contracts::System::{Erp, Mes, Qms, Wms};
use serde_json::{Value, json};

use crate::helpers::*;

#[test]
fn a_consumption_posted_once_passes() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2000.0, "G")),
    );
    h.at(500).gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("judged"), 1);
    assert_eq!(v.count("expected_effects"), 1);
    assert!(v.witnesses.is_empty());
}

#[test]
fn a_lost_consumption_fails_naming_the_event_and_what_the_sut_did() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.at(30_000)
        .ok_request(Erp, "GET", "/api/v1/materials/{material}", &ev);
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("lost"), 1);
    let w = &v.witnesses[0];
    assert_eq!(w.event.as_ref(), Some(&ev.r));
    assert_eq!(w.system, Some(Erp));
    assert_eq!(
        w.expected,
        "one ERP goods movement 261 for material.consumed of RM-1 batch R1 (order 1000001, plant 1000)"
    );
    assert!(
        w.happened.starts_with("none 30.0 s after it was intended"),
        "{}",
        w.happened
    );
    assert!(
        w.happened.contains("GET /api/v1/materials/{material}"),
        "{}",
        w.happened
    );
    assert_eq!(w.trace_id.as_deref(), Some(ev.trace.as_str()));
}

/// Two consumptions that land, so that one rejection is a minority of the run.
fn two_that_land(h: &mut H) {
    for (order, batch) in [("1000002", "R2"), ("1000003", "R3")] {
        let ev = h.acked(
            Mes,
            "material.consumed",
            order,
            consumed(order, "RM-1", batch, q(1.0, "KG")),
        );
        h.gm(&ev, "261", "RM-1", batch, 1.0, "KG");
    }
}

/// The 261 the flow derives from `consumed("1000001", "RM-1", "R1", q(2.0, "KG"))`, with
/// its posting date.
fn goods_issue(posting_date: &str) -> Value {
    json!({ "posting_date": posting_date, "items": [{ "movement_type": "261", "plant": "1000",
        "storage_location": "0001", "material": "RM-1", "batch": "R1",
        "quantity": { "value": 2.0, "unit": "KG" }, "order": "1000001" }] })
}

/// A consumption of 2 KG of RM-1 batch R1 whose 261, dated `posting_date`, the ERP
/// answered 422 `code`.
fn rejected_issue(h: &mut H, code: &str, posting_date: &str) {
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    let i = h.rejected(Erp, "/api/v1/material-documents", &ev, code);
    h.with_body(i, goods_issue(posting_date));
}

#[test]
fn a_consumption_the_erp_rejected_is_counted_rejected_not_lost() {
    let mut h = H::new();
    two_that_land(&mut h);
    rejected_issue(&mut h, "stock-deficit", "2026-11-02");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("rejected"), 1);
    assert_eq!(v.count("lost"), 0);
}

#[test]
fn a_rejection_of_a_call_with_a_wrong_field_is_the_middlewares_fault() {
    let mut h = H::new();
    two_that_land(&mut h);
    // The middleware stamped its own date; the ERP rightly refused the closed period.
    rejected_issue(&mut h, "period-closed", "2026-12-06");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("lost"), 1);
    assert_eq!(v.count("rejected"), 0);
    assert_eq!(v.count("rejected_not_excused"), 1);
    let w = &v.witnesses[0].happened;
    assert!(
        w.contains("posting_date: sent 2026-12-06, expected 2026-11-02"),
        "{w}"
    );
}

#[test]
fn a_rejection_for_a_reason_the_flow_does_not_list_is_the_middlewares_fault() {
    let mut h = H::new();
    two_that_land(&mut h);
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    // Reusing a key for another payload is the middleware's mistake, never the ERP's.
    let i = h.rejected(
        Erp,
        "/api/v1/material-documents",
        &ev,
        "idempotency-key-reuse",
    );
    h.with_body(i, goods_issue("2026-11-02"));
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("lost"), 1);
}

#[test]
fn a_run_whose_events_mostly_end_in_rejections_is_no_pass() {
    let mut h = H::new();
    for (order, batch) in [("1000001", "R1"), ("1000002", "R2"), ("1000003", "R3")] {
        let ev = h.acked(
            Mes,
            "material.consumed",
            order,
            consumed(order, "RM-1", batch, q(2.0, "KG")),
        );
        h.rejected(Erp, "/api/v1/material-documents", &ev, "stock-deficit");
    }
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert_eq!(v.count("rejected_events"), 3);
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("most acknowledged events")
    );
}

#[test]
fn a_rejection_by_a_fault_is_matched_by_trace_id() {
    let mut h = H::new();
    two_that_land(&mut h);
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    // A `reject` fault answers before the body is read: the record has no sources.
    let tp = format!("00-{}-00000000000000aa-01", ev.trace);
    let i = h.request(
        Erp,
        "POST",
        "/api/v1/material-documents",
        &[],
        422,
        Some("period-closed"),
        Some("k"),
        Some(&tp),
    );
    if let Some(andon_simulators::history::RequestEntry { fault, .. }) =
        h.records[i].entry.request_mut()
    {
        *fault = Some("reject".into());
    }
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("rejected"), 1);
}

#[test]
fn a_second_posting_for_one_event_is_a_duplicate() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    h.at(5_000).gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("duplicated"), 1);
    assert!(
        v.witnesses[0].happened.starts_with("2 of them"),
        "{}",
        v.witnesses[0].happened
    );
}

#[test]
fn a_reversed_duplicate_nets_out() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    let i = h.gm(&ev, "262", "RM-1", "R1", 2.0, "KG");
    if let andon_simulators::history::Entry::Effect { detail, .. } = &mut h.records[i].entry {
        let mut d = detail.to_value();
        d["reversal_of"] = json!({ "material_document": "4900000002", "year": 2026, "item": 1 });
        *detail = d.into();
    }
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("reversed"), 1);
}

#[test]
fn shipments_need_one_601_per_item() {
    let mut h = H::new();
    let ev = h.acked(
        Wms,
        "shipment.confirmed",
        "80000001",
        shipment(
            "80000001",
            &[("FG-2", "P1", 3.0, "PC"), ("FG-2", "P2", 4.0, "PC")],
        ),
    );
    h.gm(&ev, "601", "FG-2", "P1", 3.0, "PC");
    h.gm(&ev, "601", "FG-2", "P2", 4.0, "PC");
    assert_status(&ExactlyOnce.check(&h.run()), Status::Pass);
    h.gm(&ev, "601", "FG-2", "P1", 3.0, "PC");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("duplicated"), 1);
    assert!(
        v.witnesses[0]
            .expected
            .starts_with("one ERP goods movement 601 of FG-2 batch P1")
    );
}

#[test]
fn output_needs_an_inspection_lot_only_when_the_material_needs_inspection() {
    let mut h = H::new();
    let plain = h.acked(
        Mes,
        "material.produced",
        "1000001",
        produced("1000001", "FG-2", "P1", q(10.0, "PC")),
    );
    h.gm(&plain, "101", "FG-2", "P1", 10.0, "PC");
    h.lands(Wms, "wms.receipt", "1000/FG-2/P1", &plain, json!({}));
    let inspected = h.acked(
        Mes,
        "material.produced",
        "1000002",
        produced("1000002", "FG-1", "P2", q(10.0, "PC")),
    );
    h.gm(&inspected, "101", "FG-1", "P2", 10.0, "PC");
    h.lands(Wms, "wms.receipt", "1000/FG-1/P2", &inspected, json!({}));
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("lost"), 1);
    assert_eq!(v.witnesses[0].system, Some(Qms));
    assert_eq!(v.witnesses[0].event.as_ref(), Some(&inspected.r));
    h.lands(
        Qms,
        "qms.inspection_lot",
        "1000/FG-1/P2",
        &inspected,
        json!({}),
    );
    assert_status(&ExactlyOnce.check(&h.run()), Status::Pass);
}

#[test]
fn a_material_change_decides_whether_an_inspection_lot_is_owed() {
    let mut h = H::new();
    let change = h.acked(
        Erp,
        "material.changed",
        "FG-2",
        json!({ "material": "FG-2", "base_unit": "PC", "inspection_required": true, "plants": ["1000"] }),
    );
    for s in [Mes, Qms, Wms] {
        h.lands(s, &format!("{s}.material"), "FG-2", &change, json!({}));
    }
    let ev = h.acked(
        Mes,
        "material.produced",
        "1000001",
        produced("1000001", "FG-2", "P1", q(10.0, "PC")),
    );
    h.gm(&ev, "101", "FG-2", "P1", 10.0, "PC");
    h.lands(Wms, "wms.receipt", "1000/FG-2/P1", &ev, json!({}));
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.witnesses[0].system, Some(Qms));
}

#[test]
fn effects_of_poison_events_are_unexpected() {
    let mut h = H::new();
    let ok = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.gm(&ok, "261", "RM-1", "R1", 2.0, "KG");
    let bad = h.emit_poison(
        Mes,
        "material.consumed",
        "1000002",
        consumed("1000002", "RM-X", "R1", q(2.0, "KG")),
    );
    h.deliver(&bad, 202);
    h.gm(&bad, "261", "RM-X", "R1", 2.0, "KG");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unexpected"), 1);
    assert_eq!(v.count("poison"), 1);
    assert!(
        v.witnesses[0]
            .expected
            .starts_with("no effect for the poison event")
    );
}

#[test]
fn effects_for_an_event_the_sut_rejected_are_unexpected() {
    let mut h = H::new();
    let ev = h.emit(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.deliver(&ev, 400);
    h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unexpected"), 1);
}

#[test]
fn effects_without_sources_are_unattributed() {
    let mut h = H::new();
    let ok = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.gm(&ok, "261", "RM-1", "R1", 2.0, "KG");
    h.effect(
        Erp,
        "erp.goods_movement",
        "261:1000:RM-1:R1",
        &[],
        gm_detail("261", "RM-1", "R1", 1.0, "KG"),
    );
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unattributed"), 1);
    assert_eq!(
        v.witnesses[0].expected,
        "every effect to reference the source event it realises"
    );
}

#[test]
fn indeterminate_effects_count_as_effects() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    let i = h.gm(&ev, "261", "RM-1", "R1", 2.0, "KG");
    if let andon_simulators::history::Entry::Effect { outcome, .. } = &mut h.records[i].entry {
        *outcome = andon_simulators::history::Outcome::Info;
    }
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("indeterminate"), 1);
}

#[test]
fn a_late_lot_event_superseded_by_a_newer_one_owes_nothing() {
    let mut h = H::new();
    two_that_land(&mut h);
    let placed = h.emit(Qms, "lot.hold_placed", "FG-2/P1", hold("H1", "FG-2", "P1"));
    let released = h.emit(
        Qms,
        "lot.hold_released",
        "FG-2/P1",
        release("H1", "FG-2", "P1"),
    );
    // Reordered: the release arrives first; the late hold is stale and applies nothing.
    h.at(100).deliver(&released, 202);
    h.at(200).deliver(&placed, 202);
    h.rejected(
        Mes,
        "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
        &released,
        "hold-not-found",
    );
    h.rejected(
        Wms,
        "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
        &released,
        "hold-not-found",
    );
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Pass);
    assert_eq!(v.count("superseded"), 1);
    assert_eq!(v.count("rejected"), 2);
}

#[test]
fn nothing_acknowledged_is_unknown() {
    let mut h = H::new();
    assert_status(&ExactlyOnce.check(&h.run()), Status::Unknown);
    let ev = h.emit(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2.0, "KG")),
    );
    h.deliver(&ev, 503);
    let v = ExactlyOnce.check(&h.run());
    assert_status(&v, Status::Unknown);
    assert!(
        v.reason
            .as_deref()
            .unwrap()
            .contains("no acknowledged event"),
        "{:?}",
        v.reason
    );
    assert_eq!(v.count("not_acknowledged"), 1);
}

/// An order released, then cancelled; the middleware's cancellation answered 404 by the
/// MES (it never had the work order). With `unnotified`, the release came before the
/// middleware's first Business Central subscription in the plant.
fn cancellation_of_an_order_the_mes_never_had(unnotified: bool) -> andon::check::Verdict {
    let mut h = H::new();
    let order = json!({"order": "1000001", "plant": "1000", "material": "FG-1",
        "planned_quantity": q(10.0, "PC"), "storage_location": "0001",
        "operations": [], "components": []});
    let released = h.emit(Erp, "production_order.released", "1000001", order);
    if unnotified {
        h.note(
            Erp,
            "bc.unnotified",
            json!({"event": released.r, "plant": "1000", "sets": ["productionOrders"]}),
        );
    }
    h.at(100).note(
        Erp,
        "bc.subscription",
        json!({"op": "created", "plant": "1000", "set": "productionOrders"}),
    );
    let cancelled = h.at(2_000).acked(
        Erp,
        "production_order.cancelled",
        "1000001",
        json!({"order": "1000001", "plant": "1000", "reason": "Customer order withdrawn"}),
    );
    let tp = format!("00-{}-00000000000000aa-01", cancelled.trace);
    h.at(2_100).request(
        Mes,
        "POST",
        "/api/v1/work-orders/{order}/cancellation",
        &[&cancelled],
        404,
        Some("not-found"),
        None,
        Some(&tp),
    );
    ExactlyOnce.check(&h.run())
}

#[test]
fn an_order_released_before_the_middleware_subscribed_owes_no_cancellation() {
    let v = cancellation_of_an_order_the_mes_never_had(true);
    assert_eq!(v.count("lost"), 0, "{v:?}");
    assert_eq!(v.count("never_notified"), 1, "{v:?}");
    assert_ne!(v.status, Status::Fail, "{v:?}");
}

#[test]
fn a_cancellation_the_mes_refuses_for_want_of_a_notified_work_order_is_lost() {
    let v = cancellation_of_an_order_the_mes_never_had(false);
    assert_eq!(v.count("lost"), 1, "{v:?}");
    assert_eq!(v.count("never_notified"), 0, "{v:?}");
    assert_status(&v, Status::Fail);
}

/// An order cancelled in plant 1000, whose ERP speaks `dialect`; the middleware's
/// cancellation, carrying the vendor's wording as the reason, refused 422
/// `work-order-status` by the MES.
fn cancellation_refused_on_a_plant_speaking(dialect: &str) -> andon::check::Verdict {
    let mut h = H::new();
    h.note(Erp, "dialects", json!({"1000": dialect}));
    let cancelled = h.at(1_000).acked(
        Erp,
        "production_order.cancelled",
        "1000001",
        json!({"order": "1000001", "plant": "1000", "reason": "Customer order withdrawn"}),
    );
    let i = h.at(1_100).rejected(
        Mes,
        "/api/v1/work-orders/{order}/cancellation",
        &cancelled,
        "work-order-status",
    );
    h.with_body(
        i,
        json!({"reason": "Production order cancelled in Business Central"}),
    );
    h.with_path(i, "/api/v1/work-orders/1000001/cancellation");
    ExactlyOnce.check(&h.run())
}

#[test]
fn a_vendor_that_names_no_cancellation_reason_does_not_make_a_refusal_the_middlewares() {
    let v = cancellation_refused_on_a_plant_speaking("business-central@25");
    assert_eq!((v.count("lost"), v.count("rejected")), (0, 1), "{v:?}");
    let v = cancellation_refused_on_a_plant_speaking("andon");
    assert_eq!(v.count("rejected_not_excused"), 1, "{v:?}");
    assert_status(&v, Status::Fail);
}
