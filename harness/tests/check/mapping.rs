use andon::check::mapping::Mapping;
use andon::check::{Checker, Status};
use andon_contracts::System::{Erp, Mes, Qms, Wms};
use serde_json::{Value, json};

use crate::helpers::*;

const GM: &str = "/api/v1/material-documents";

fn issue(order: &str, batch: &str, qty: Value, posting_date: &str, sloc: &str) -> Value {
    json!({ "posting_date": posting_date, "items": [{ "movement_type": "261", "plant": "1000",
        "storage_location": sloc, "material": "RM-1", "batch": batch, "quantity": qty,
        "order": order }] })
}

/// A consumption of 2500 G and the SUT's 261 with `body`, answered `status`.
fn one_call(body: Value, status: u16, problem: Option<&str>) -> H {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(2500.0, "G")),
    );
    let tp = format!("00-{}-00000000000000aa-01", ev.trace);
    let i = h.request(
        Erp,
        "POST",
        GM,
        &[&ev],
        status,
        problem,
        Some("k"),
        Some(&tp),
    );
    h.with_body(i, body);
    h
}

#[test]
fn a_call_carrying_what_its_event_implies_passes_in_the_base_unit_or_the_entry_unit() {
    for qty in [q(2.5, "KG"), q(2500.0, "G")] {
        let h = one_call(issue("1000001", "R1", qty, "2026-11-02", "0001"), 201, None);
        let v = Mapping.check(&h.run());
        assert_status(&v, Status::Pass);
        assert_eq!(v.count("calls"), 1);
    }
}

#[test]
fn every_wrong_field_is_named_with_what_was_sent_and_what_was_right() {
    // The middleware's own date, a fixed storage location, and 2500 labelled KG.
    let h = one_call(
        issue("1000001", "R1", q(2500.0, "KG"), "2026-12-06", "0002"),
        422,
        Some("period-closed"),
    );
    let v = Mapping.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("wrong_calls"), 1);
    assert_eq!(v.count("wrong_fields"), 3);
    let w = &v.witnesses[0];
    assert!(
        w.happened.contains("answered 422 period-closed"),
        "{}",
        w.happened
    );
    for part in [
        "posting_date: sent 2026-12-06, expected 2026-11-02 (the event's posting_date)",
        "items.0.storage_location: sent 0002, expected 0001",
        "items.0.quantity: sent 2500 KG, expected 2500 G",
    ] {
        assert!(w.happened.contains(part), "{part:?} in {}", w.happened);
    }
    assert_eq!(
        v.details["wrong_fields_by_name"],
        json!({"items.quantity": 1, "items.storage_location": 1, "posting_date": 1})
    );
}

#[test]
fn a_by_product_booked_as_the_main_receipt_is_a_wrong_movement_type() {
    let mut h = H::new();
    let data = json!({ "order": "1000001", "plant": "1000", "storage_location": "0001",
        "material": "FG-2", "batch": "Y1", "quantity": q(5.0, "PC"), "posting_date": "2026-11-02",
        "manufacture_date": "2026-11-02", "genealogy": [], "by_product": true });
    let ev = h.acked(Mes, "material.produced", "1000001", data);
    let i = h.ok_request(Erp, "POST", GM, &ev);
    h.with_body(
        i,
        json!({ "posting_date": "2026-11-02", "items": [{ "movement_type": "101", "plant": "1000",
            "storage_location": "0001", "material": "FG-2", "batch": "Y1",
            "quantity": q(5.0, "PC"), "order": "1000001" }] }),
    );
    let v = Mapping.check(&h.run());
    assert_status(&v, Status::Fail);
    assert!(
        v.witnesses[0]
            .happened
            .contains("items.0.movement_type: sent 101, expected 531"),
        "{}",
        v.witnesses[0].happened
    );
}

#[test]
fn a_call_the_flow_does_not_make_is_unexpected() {
    let mut h = H::new();
    // FG-2 needs no inspection: no inspection lot belongs to its receipt's flow.
    let data = json!({ "order": "1000001", "plant": "1000", "storage_location": "0001",
        "material": "FG-2", "batch": "P1", "quantity": q(5.0, "PC"), "posting_date": "2026-11-02",
        "manufacture_date": "2026-11-02", "genealogy": [], "by_product": false });
    let ev = h.acked(Mes, "material.produced", "1000001", data);
    let i = h.ok_request(Qms, "POST", "/api/v1/inspection-lots", &ev);
    h.with_body(
        i,
        json!({ "origin": "04", "plant": "1000", "storage_location": "0001", "material": "FG-2",
            "batch": "P1", "quantity": q(5.0, "PC") }),
    );
    // And a receipt sent to the WMS for a consumption.
    let c = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    let j = h.ok_request(Wms, "POST", "/api/v1/receipts", &c);
    h.with_body(
        j,
        json!({ "plant": "1000", "storage_location": "0001", "material": "RM-1", "batch": "R1",
            "quantity": q(1.0, "KG") }),
    );
    let v = Mapping.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("unexpected_calls"), 2);
}

#[test]
fn lookups_reversals_fault_answers_and_replays_are_not_judged() {
    let mut h = H::new();
    let ev = h.acked(
        Mes,
        "material.consumed",
        "1000001",
        consumed("1000001", "RM-1", "R1", q(1.0, "KG")),
    );
    let tp = format!("00-{}-00000000000000aa-01", ev.trace);
    h.request(Erp, "GET", "/api/v1/stock", &[], 200, None, None, Some(&tp));
    let r = h.request(
        Erp,
        "POST",
        "/api/v1/material-documents/{year}/{number}/reversal",
        &[&ev],
        201,
        None,
        Some("k"),
        Some(&tp),
    );
    h.with_body(r, json!({ "posting_date": "2030-01-01" }));
    assert_status(&Mapping.check(&h.run()), Status::Unknown);
}

#[test]
fn lot_calls_are_judged_by_their_path_and_the_event_sequence() {
    let mut h = H::new();
    let ev = h.acked(Qms, "lot.hold_placed", "FG-1/B1", hold("H1", "FG-1", "B1"));
    let route = "/api/v1/lots/{plant}/{material}/{batch}/holds";
    for (system, path, seq) in [
        (Mes, "/api/v1/lots/1000/FG-1/B1/holds", 1),
        (Wms, "/api/v1/lots/1000/FG-1/B2/holds", 7),
    ] {
        let i = h.ok_request(system, "POST", route, &ev);
        if let Some(andon_simulators::history::RequestEntry { path: p, .. }) =
            h.records[i].entry.request_mut()
        {
            *p = path.to_string();
        }
        h.with_body(
            i,
            json!({ "hold_id": "H1", "reason_code": "QH01", "sequence": seq }),
        );
    }
    let v = Mapping.check(&h.run());
    assert_status(&v, Status::Fail);
    assert_eq!(v.count("wrong_calls"), 1);
    let w = &v.witnesses[0].happened;
    assert!(w.contains("path:batch: sent B2, expected B1"), "{w}");
    assert!(w.contains("sequence: sent 7, expected 1"), "{w}");
}
