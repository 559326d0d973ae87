use andon_contracts::System;
use serde_json::json;

use crate::helpers::*;

fn inspected(md: &andon_simulators::MasterData) -> (String, String) {
    let m = md
        .materials
        .iter()
        .find(|m| m.inspection_required)
        .expect("an inspected material");
    (m.material.to_string(), m.base_unit.to_string())
}

#[tokio::test]
async fn a_receipt_of_an_inspected_material_is_not_available_until_accepted() {
    let wms = sim(System::Wms);
    let md = wms.core.master().clone();
    let (mat, unit) = inspected(&md);
    let (s, r) = call(&wms, "POST", "/api/v1/receipts", Some(with_source(json!({
        "plant": "1000", "storage_location": "0001", "material": mat, "batch": "P10000001", "quantity": { "value": 24, "unit": unit }, "order": "1000001"
    })))).await;
    assert_eq!((s.as_u16(), r["available"].as_bool()), (201, Some(false)));
    assert_eq!(
        wms.behaviour.step(5),
        0,
        "nothing available to ship or move yet is fine"
    );
    let (s, lot) = call(
        &wms,
        "PUT",
        &format!("/api/v1/lots/1000/{mat}/P10000001/status"),
        Some(with_source(
            json!({ "status": "unrestricted", "sequence": 2 }),
        )),
    )
    .await;
    assert_eq!((s.as_u16(), lot["available"].as_bool()), (200, Some(true)));
}

#[tokio::test]
async fn held_lots_are_not_shipped_and_released_lots_are() {
    let cfg = andon_simulators::SimConfig {
        activity: andon_simulators::core::ActivityConfig {
            ship_rate: 1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let wms = sim_with(System::Wms, cfg, master());
    let md = wms.core.master().clone();
    let m = md
        .materials
        .iter()
        .find(|m| !m.inspection_required && m.material.as_str().starts_with("FG"))
        .cloned()
        .unwrap_or_else(|| md.materials[0].clone());
    call(&wms, "POST", "/api/v1/receipts", Some(with_source(json!({
        "plant": "1000", "storage_location": "0001", "material": m.material, "batch": "P1", "quantity": { "value": 10, "unit": m.base_unit }
    })))).await;
    call(
        &wms,
        "PUT",
        &format!("/api/v1/lots/1000/{}/P1/status", m.material),
        Some(with_source(
            json!({ "status": "unrestricted", "sequence": 1 }),
        )),
    )
    .await;
    call(
        &wms,
        "POST",
        &format!("/api/v1/lots/1000/{}/P1/holds", m.material),
        Some(with_source(
            json!({ "hold_id": "H1", "reason_code": "QH01", "sequence": 2 }),
        )),
    )
    .await;
    assert_eq!(wms.behaviour.step(5), 0);
    let (s, _) = call(
        &wms,
        "POST",
        &format!("/api/v1/lots/1000/{}/P1/holds/H1/release", m.material),
        Some(with_source(json!({ "sequence": 3 }))),
    )
    .await;
    assert_eq!(s, 200);
    assert!(wms.behaviour.step(1) == 1);
    let shipped = emitted(&wms.core.history.snapshot());
    assert_eq!(shipped[0].0, "shipment.confirmed");
}

#[tokio::test]
async fn a_late_hold_is_applied_and_marked_stale() {
    let wms = sim(System::Wms);
    let md = wms.core.master().clone();
    let m = md.materials[0].material.clone();
    let base = format!("/api/v1/lots/1000/{m}/B9");
    call(
        &wms,
        "POST",
        &format!("{base}/holds"),
        Some(with_source(
            json!({ "hold_id": "H1", "reason_code": "QH01", "sequence": 1 }),
        )),
    )
    .await;
    call(
        &wms,
        "POST",
        &format!("{base}/holds/H1/release"),
        Some(with_source(json!({ "sequence": 2 }))),
    )
    .await;
    let (s, lot) = call(
        &wms,
        "POST",
        &format!("{base}/holds"),
        Some(with_source(
            json!({ "hold_id": "H1", "reason_code": "QH01", "sequence": 1 }),
        )),
    )
    .await;
    assert_eq!((s.as_u16(), lot["available"].as_bool()), (200, Some(false)));
    let holds = effects(&wms.core.history.snapshot(), "wms.hold");
    assert_eq!(
        holds
            .iter()
            .map(|d| d["stale"].as_bool().unwrap())
            .collect::<Vec<_>>(),
        vec![false, true]
    );
}

#[tokio::test]
async fn releasing_a_hold_that_is_not_in_force_is_422() {
    let wms = sim(System::Wms);
    let m = wms.core.master().materials[0].material.clone();
    let (s, p) = call(
        &wms,
        "POST",
        &format!("/api/v1/lots/1000/{m}/B1/holds/H7/release"),
        Some(with_source(json!({ "sequence": 1 }))),
    )
    .await;
    assert_eq!(
        (s.as_u16(), p["code"].as_str()),
        (422, Some("hold-not-found"))
    );
}

#[tokio::test]
async fn a_receipt_in_an_unknown_unit_is_422_uom_conversion() {
    let wms = sim(System::Wms);
    let m = wms.core.master().materials[0].material.clone();
    let (s, p) = call(&wms, "POST", "/api/v1/receipts", Some(with_source(json!({
        "plant": "1000", "storage_location": "0001", "material": m, "batch": "B1", "quantity": { "value": 1, "unit": "LB" }
    })))).await;
    assert_eq!(
        (s.as_u16(), p["code"].as_str()),
        (422, Some("uom-conversion"))
    );
}
