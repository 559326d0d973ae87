use andon_contracts::System;
use serde_json::{Value, json};

use crate::helpers::*;

/// A work order for the first finished good of the generated plant.
pub fn work_order(md: &andon_simulators::MasterData, order: &str) -> serde_json::Value {
    let bom = &md.boms[0];
    let routing = md
        .routings
        .iter()
        .find(|r| r.material == bom.material)
        .unwrap();
    let comps: Vec<_> = bom
        .components
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let q = c.quantity.clone();
            json!({ "reservation_item": format!("{:04}", i + 1), "material": c.material, "quantity": { "value": q.value() * 100.0, "unit": q.unit }, "storage_location": "0001" })
        })
        .collect();
    with_source(json!({
        "order": order, "plant": "1000", "material": bom.material,
        "planned_quantity": { "value": 100, "unit": md.material_in(&bom.material, &bom.plant).unwrap().base_unit },
        "storage_location": "0001", "operations": routing.operations, "components": comps,
    }))
}

#[tokio::test]
async fn a_downloaded_work_order_is_executed_in_order() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    let (s, body) = call(
        &mes,
        "POST",
        "/api/v1/work-orders",
        Some(work_order(&md, "1000001")),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["status"], "downloaded");
    mes.behaviour.step(1000);
    let events = emitted(&mes.core.history.snapshot());
    let kinds: Vec<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"operation.started"));
    assert_eq!(kinds.last(), Some(&"operation.completed"));
    let consumed = kinds
        .iter()
        .position(|k| *k == "material.consumed")
        .expect("consumption");
    let produced = kinds
        .iter()
        .position(|k| *k == "material.produced")
        .expect("output");
    assert!(consumed < produced);
    let finals: Vec<_> = events
        .iter()
        .filter(|(k, d)| k == "operation.confirmed" && d["final"] == true)
        .collect();
    assert_eq!(
        finals.len(),
        md.routings
            .iter()
            .find(|r| r.material == md.boms[0].material)
            .unwrap()
            .operations
            .len()
    );
    let (_, wo) = call(&mes, "GET", "/api/v1/work-orders/1000001", None).await;
    assert_eq!(wo["status"], "completed");
}

#[tokio::test]
async fn total_yield_and_scrap_equal_the_planned_quantity() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    call(
        &mes,
        "POST",
        "/api/v1/work-orders",
        Some(work_order(&md, "1000002")),
    )
    .await;
    mes.behaviour.step(1000);
    let events = emitted(&mes.core.history.snapshot());
    let last_op = md
        .routings
        .iter()
        .find(|r| r.material == md.boms[0].material)
        .unwrap()
        .operations
        .last()
        .unwrap()
        .operation
        .to_string();
    let sum = |field: &str| -> f64 {
        events
            .iter()
            .filter(|(k, d)| k == "operation.confirmed" && d["operation"] == last_op.as_str())
            .map(|(_, d)| d[field]["value"].as_f64().unwrap())
            .sum()
    };
    assert!((sum("yield") + sum("scrap") - 100.0).abs() < 1e-9);
    let produced: f64 = events
        .iter()
        .filter(|(k, _)| k == "material.produced")
        .map(|(_, d)| d["quantity"]["value"].as_f64().unwrap())
        .sum();
    assert!((produced - sum("yield")).abs() < 1e-9);
}

#[tokio::test]
async fn a_second_download_of_the_same_order_is_refused() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    assert_eq!(
        call(
            &mes,
            "POST",
            "/api/v1/work-orders",
            Some(work_order(&md, "1000003"))
        )
        .await
        .0,
        201
    );
    let (s, p) = call(
        &mes,
        "POST",
        "/api/v1/work-orders",
        Some(work_order(&md, "1000003")),
    )
    .await;
    assert_eq!(
        (s.as_u16(), p["code"].as_str()),
        (409, Some("work-order-exists"))
    );
    assert_eq!(
        effects(&mes.core.history.snapshot(), "mes.work_order").len(),
        1
    );
}

#[tokio::test]
async fn mes_never_consumes_a_lot_it_was_told_is_held() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    let comp = md.boms[0].components[0].material.clone();
    let batches: Vec<_> = md
        .stock
        .iter()
        .filter(|s| s.material == comp)
        .map(|s| s.batch.clone().unwrap())
        .collect();
    for (i, b) in batches.iter().enumerate() {
        let (s, _) = call(
            &mes,
            "POST",
            &format!("/api/v1/lots/1000/{comp}/{b}/holds"),
            Some(with_source(
                json!({ "hold_id": format!("H{i}"), "reason_code": "QH01", "sequence": 1 }),
            )),
        )
        .await;
        assert_eq!(s, 200);
    }
    call(
        &mes,
        "POST",
        "/api/v1/work-orders",
        Some(work_order(&md, "1000004")),
    )
    .await;
    mes.behaviour.step(1000);
    let h = mes.core.history.snapshot();
    assert!(
        !emitted(&h)
            .iter()
            .any(|(k, d)| k == "material.consumed" && d["material"] == comp.as_str())
    );
    assert!(h.iter().any(|r| matches!(&r.entry, andon_simulators::history::Entry::Note { name, .. } if name == "mes.no_available_batch")));
}

#[tokio::test]
async fn a_cancelled_work_order_stops() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    call(
        &mes,
        "POST",
        "/api/v1/work-orders",
        Some(work_order(&md, "1000005")),
    )
    .await;
    let (s, wo) = call(
        &mes,
        "POST",
        "/api/v1/work-orders/1000005/cancellation",
        Some(with_source(json!({ "reason": "withdrawn" }))),
    )
    .await;
    assert_eq!(
        (s.as_u16(), wo["status"].as_str()),
        (200, Some("cancelled"))
    );
    assert_eq!(mes.behaviour.step(10), 0);
}

#[tokio::test]
async fn unknown_master_data_in_a_work_order_is_422_and_nothing_is_stored() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    let mut wo = work_order(&md, "1000006");
    wo["material"] = json!("NOPE");
    let (s, p) = call(&mes, "POST", "/api/v1/work-orders", Some(wo)).await;
    assert_eq!(
        (s.as_u16(), p["code"].as_str()),
        (422, Some("unknown-master-data"))
    );
    assert_eq!(
        call(&mes, "GET", "/api/v1/work-orders/1000006", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn material_master_replication_is_applied() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    let mut m = serde_json::to_value(&md.materials[0]).unwrap();
    m["description"] = json!("Changed in ERP");
    let id = md.materials[0].material.to_string();
    let (s, _) = call(
        &mes,
        "PUT",
        &format!("/api/v1/materials/{id}"),
        Some(with_source(m)),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        call(&mes, "GET", &format!("/api/v1/materials/{id}"), None)
            .await
            .1["description"],
        "Changed in ERP"
    );
}

#[tokio::test]
async fn output_is_received_where_the_order_says_and_by_products_come_back_as_raw_material() {
    let mes = sim(System::Mes);
    let md = mes.core.master().clone();
    // Many orders whose output goes to the finished-goods store 0002.
    for n in 0..40 {
        let mut wo = work_order(&md, &format!("10000{n:02}"));
        wo["storage_location"] = json!("0002");
        let (s, body) = call(&mes, "POST", "/api/v1/work-orders", Some(wo)).await;
        assert_eq!(s, 201, "{body}");
    }
    mes.behaviour.step(20_000);
    let produced: Vec<Value> = emitted(&mes.core.history.snapshot())
        .into_iter()
        .filter(|(k, _)| k == "material.produced")
        .map(|(_, d)| d)
        .collect();
    let (by, main): (Vec<&Value>, Vec<&Value>) =
        produced.iter().partition(|d| d["by_product"] == true);
    assert!(!main.is_empty() && !by.is_empty(), "{produced:#?}");
    assert!(main.iter().all(|d| d["storage_location"] == "0002"
        && d["material"] == json!(md.boms[0].material)));
    // A by-product is the first component's material, back into the components' store.
    let first = &md.boms[0].components[0].material;
    assert!(
        by.iter()
            .all(|d| d["material"] == json!(first) && d["storage_location"] == "0001")
    );
}
