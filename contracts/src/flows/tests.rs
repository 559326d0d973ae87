//! Tests of the flows: the embedded file, evaluation and the judge.

use serde_json::json;

use super::*;
use crate::events::CloudEvent;
use crate::quantity::Quantity;

struct NoFacts;
impl Facts for NoFacts {
    fn inspection_required(&self, _: &str, _: &str) -> Option<bool> {
        Some(true)
    }
    fn to_base(&self, _: &str, _: &str, q: &Quantity) -> Option<i64> {
        match q.unit.as_str() {
            "KG" => Some(q.milli),
            "G" => Some(q.milli / 1000),
            _ => None,
        }
    }
}

fn event(kind: &str, data: Value) -> CloudEvent {
    serde_json::from_value(json!({
        "specversion": "1.0", "id": "e1", "source": "/andon/mes/1000",
        "type": format!("andon.{kind}.v1"), "subject": "100000001",
        "time": "2026-11-02T07:30:00Z", "datacontenttype": "application/json",
        "plant": "1000", "sequence": 3,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "data": data
    }))
    .unwrap()
}

/// Judges `body` as a POST to `route` at `to`.
fn post<'f>(
    exp: &[Expected<'f>],
    to: System,
    route: &str,
    path: &str,
    body: &Value,
) -> Judgement<'f> {
    judge(
        exp,
        Sent {
            to,
            method: "POST",
            route,
            path,
            body: Some(body),
        },
        &NoFacts,
        "1000",
    )
}

fn consumed() -> (CloudEvent, Value) {
    let data = json!({"order": "100000001", "plant": "1000", "storage_location": "0001",
        "material": "RM-1", "batch": "R1", "quantity": {"value": 2500, "unit": "G"},
        "reservation_item": "0001", "posting_date": "2026-11-02"});
    (event("material.consumed", data.clone()), data)
}

fn movement(posting_date: &str, qty: Value, sloc: &str, mvt: &str) -> Value {
    json!({"posting_date": posting_date, "items": [{"movement_type": mvt, "plant": "1000",
        "storage_location": sloc, "material": "RM-1", "batch": "R1", "quantity": qty,
        "order": "100000001"}], "source": {"source": "/andon/mes/1000", "id": "e1"}})
}

fn judge_movement(body: &Value) -> Vec<Mismatch> {
    let (ev, data) = consumed();
    let flow = flows().get(EventKind::MaterialConsumed).unwrap();
    let exp = flow.expected(&ev, &data, &NoFacts);
    let j = post(
        &exp,
        System::Erp,
        "/api/v1/material-documents",
        "/api/v1/material-documents",
        body,
    );
    assert!(j.call.is_some());
    j.mismatches
}

#[test]
fn the_embedded_flows_parse_and_cover_every_event_kind_once() {
    let f = flows();
    assert_eq!(f.flows.len(), EventKind::ALL.len());
    for flow in &f.flows {
        let mut from = flow.from.clone();
        from.sort();
        let mut emitters = flow.event.emitters().to_vec();
        emitters.sort();
        assert_eq!(from, emitters, "{}: `from` names the emitters", flow.event);
    }
}

#[test]
fn a_right_call_has_no_mismatch_whatever_unit_it_converts_to() {
    assert!(
        judge_movement(&movement(
            "2026-11-02",
            json!({"value": 2.5, "unit": "KG"}),
            "0001",
            "261"
        ))
        .is_empty()
    );
    assert!(
        judge_movement(&movement(
            "2026-11-02",
            json!({"value": 2500, "unit": "G"}),
            "0001",
            "261"
        ))
        .is_empty()
    );
}

#[test]
fn every_wrong_field_is_named_with_what_was_expected() {
    let m = judge_movement(&movement(
        "2026-12-06",
        json!({"value": 2500, "unit": "KG"}),
        "0002",
        "261",
    ));
    let mut fields: Vec<&str> = m.iter().map(|m| m.field.as_str()).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "/items/0/quantity",
            "/items/0/storage_location",
            "/posting_date"
        ],
        "{m:?}"
    );
    let date = m.iter().find(|m| m.field == "/posting_date").unwrap();
    assert_eq!(date.expected, "2026-11-02 (the event's posting_date)");
    assert_eq!(date.sent, "2026-12-06");
}

#[test]
fn a_by_product_is_expected_as_531_and_a_101_is_named_wrong() {
    let data = json!({"order": "1", "plant": "1000", "storage_location": "0001", "material": "BP-1",
        "batch": "P1", "quantity": {"value": 5, "unit": "KG"}, "posting_date": "2026-11-02",
        "manufacture_date": "2026-11-02", "genealogy": [], "by_product": true});
    let ev = event("material.produced", data.clone());
    let flow = flows().get(EventKind::MaterialProduced).unwrap();
    let exp = flow.expected(&ev, &data, &NoFacts);
    assert_eq!(exp[0].movement().unwrap().0, "531");
    let body = json!({"posting_date": "2026-11-02", "items": [{"movement_type": "101", "plant": "1000",
        "storage_location": "0001", "material": "BP-1", "batch": "P1", "quantity": {"value": 5, "unit": "KG"}, "order": "1"}]});
    let j = post(
        &exp,
        System::Erp,
        "/api/v1/material-documents",
        "/api/v1/material-documents",
        &body,
    );
    assert_eq!(j.mismatches.len(), 1, "{:?}", j.mismatches);
    assert_eq!(j.mismatches[0].field, "/items/0/movement_type");
    assert!(j.mismatches[0].expected.starts_with("531"));
}

#[test]
fn a_shipment_may_post_its_items_in_one_document_or_one_each() {
    let data = json!({"delivery": "80001", "plant": "1000", "shipped_at": "2026-11-02T10:00:00Z", "items": [
        {"item": "000010", "material": "FG-1", "batch": "B1", "storage_location": "0001", "quantity": {"value": 1, "unit": "KG"}},
        {"item": "000020", "material": "FG-2", "batch": "B2", "storage_location": "0002", "quantity": {"value": 2, "unit": "KG"}}]});
    let ev = event("shipment.confirmed", data.clone());
    let exp = flows()
        .get(EventKind::ShipmentConfirmed)
        .unwrap()
        .expected(&ev, &data, &NoFacts);
    assert_eq!(exp.len(), 2);
    let item = |m: &str, b: &str, s: &str, q: i64| {
        json!({"movement_type": "601", "plant": "1000", "storage_location": s,
        "material": m, "batch": b, "quantity": {"value": q, "unit": "KG"}})
    };
    let sent = |items: Vec<Value>| json!({"posting_date": "2026-11-02", "items": items});
    let route = "/api/v1/material-documents";
    for body in [
        sent(vec![
            item("FG-1", "B1", "0001", 1),
            item("FG-2", "B2", "0002", 2),
        ]),
        sent(vec![item("FG-2", "B2", "0002", 2)]),
    ] {
        let j = post(&exp, System::Erp, route, route, &body);
        assert!(j.is_right(), "{:?}", j.mismatches);
    }
    let body = sent(vec![item("FG-2", "B2", "0001", 2)]);
    let j = post(&exp, System::Erp, route, route, &body);
    assert_eq!(j.mismatches.len(), 1);
}

#[test]
fn path_parameters_are_judged_and_percent_decoded() {
    let data = json!({"hold_id": "H1", "plant": "1000", "material": "FG/1", "batch": "B1", "scope": "batch",
        "reason_code": "X", "placed_at": "2026-11-02T08:00:00Z"});
    let ev = event("lot.hold_placed", data.clone());
    let exp = flows()
        .get(EventKind::LotHoldPlaced)
        .unwrap()
        .expected(&ev, &data, &NoFacts);
    let body = json!({"hold_id": "H1", "reason_code": "X", "sequence": 3});
    let route = "/api/v1/lots/{plant}/{material}/{batch}/holds";
    let ok = post(
        &exp,
        System::Wms,
        route,
        "/api/v1/lots/1000/FG%2F1/B1/holds",
        &body,
    );
    assert!(ok.is_right(), "{:?}", ok.mismatches);
    let wrong = post(
        &exp,
        System::Wms,
        route,
        "/api/v1/lots/2000/FG%2F1/B1/holds",
        &body,
    );
    assert_eq!(wrong.mismatches[0].field, "path:plant");
}

#[test]
fn a_call_the_flow_does_not_make_has_no_call() {
    let (ev, data) = consumed();
    let exp = flows()
        .get(EventKind::MaterialConsumed)
        .unwrap()
        .expected(&ev, &data, &NoFacts);
    let route = "/api/v1/receipts";
    let j = judge(
        &exp,
        Sent {
            to: System::Wms,
            method: "POST",
            route,
            path: route,
            body: None,
        },
        &NoFacts,
        "1000",
    );
    assert!(j.call.is_none() && !j.is_right());
}

#[test]
fn bad_documents_are_refused_with_where() {
    let e = Flows::parse("version: 1\nflows: []\n").unwrap_err();
    assert!(e.message.contains("has 0 flows"), "{e}");
    let e = Flows::parse("version: 1\nflows: [{event: nope, from: erp, summary: x, calls: []}]\n")
        .unwrap_err();
    assert_eq!(e.at, "flows[0]");
}
