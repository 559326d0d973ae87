//! Every flow of DESIGN.md lands exactly once per source event, and every downstream
//! request carries an Idempotency-Key, a traceparent continuing the source's trace and the
//! source reference.

use std::collections::BTreeSet;

use andon_contracts::System;
use serde_json::json;

use crate::helpers::{Mw, PLANT, Plant, dead_lettered, trace_id};
use crate::scenarios::grams_consumed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flow_lands_exactly_once_with_key_trace_and_source() {
    let plant = Plant::with(|c| c.activity.hold_rate = 0.3).await;
    let mw = Mw::start(&plant).await;

    // Master data and order changes, by hand, before MES starts executing.
    let material = plant.sim(System::Erp).core.master().materials[0].clone();
    plant.emit(
        System::Erp,
        "material.changed",
        serde_json::to_value(&material).unwrap(),
    );
    assert_eq!(plant.step(System::Erp, 10), 10);
    plant.settle(&mw.url).await;
    let orders = plant.snapshot(System::Erp)["orders"]
        .as_array()
        .unwrap()
        .clone();
    let mut changed = orders[orders.len() - 1].clone();
    changed
        .as_object_mut()
        .unwrap()
        .retain(|k, _| k != "confirmed_yield" && k != "confirmed_scrap");
    changed["change_reason"] = json!("Planned quantity increased");
    plant.emit(System::Erp, "production_order.changed", changed);
    let cancelled = orders[orders.len() - 2]["order"].clone();
    plant.emit(
        System::Erp,
        "production_order.cancelled",
        json!({"order": cancelled, "plant": PLANT, "reason": "Customer order withdrawn"}),
    );
    plant.settle(&mw.url).await;

    // Execution, quality, warehouse, and the holds' releases.
    plant.step(System::Mes, 600);
    plant.settle(&mw.url).await;
    plant.step(System::Qms, 40);
    plant.settle(&mw.url).await;
    plant.step(System::Wms, 15);
    plant.settle(&mw.url).await;
    plant.step(System::Qms, 40);
    plant.settle(&mw.url).await;

    let dl = mw.dead_letters().await;
    let doubled = plant.doubled_effects();
    assert!(doubled.is_empty(), "effects realised twice: {doubled:#?}");
    let lost = plant.lost_effects(&dead_lettered(&dl));
    assert!(
        lost.is_empty(),
        "acknowledged events without their effect: {lost:#?}"
    );
    let reasons: BTreeSet<&str> = dl.iter().filter_map(|d| d["reason"].as_str()).collect();
    assert!(
        reasons.is_empty(),
        "the happy path has no business rejection: {dl:#?}"
    );

    for name in [
        "mes.work_order",
        "mes.work_order_changed",
        "mes.work_order_cancelled",
        "mes.material",
        "qms.material",
        "wms.material",
        "erp.confirmation",
        "erp.goods_movement",
        "erp.quality_notification",
        "qms.inspection_lot",
        "wms.receipt",
        "mes.lot_status",
        "wms.lot_status",
        "mes.hold",
        "wms.hold",
        "mes.release",
        "wms.release",
    ] {
        assert!(
            !plant.effects_named(name).is_empty(),
            "the flow to {name} was exercised"
        );
    }
    let movements: BTreeSet<String> = plant
        .effects_named("erp.goods_movement")
        .iter()
        .filter_map(|e| e.detail["movement_type"].as_str().map(str::to_string))
        .collect();
    for mt in ["101", "261", "321", "343", "344", "601"] {
        assert!(
            movements.contains(mt),
            "movement {mt} posted: {movements:?}"
        );
    }

    let emitted = plant.emitted();
    let requests = plant.requests();
    assert!(
        requests.len() > 100,
        "enough traffic to judge: {}",
        requests.len()
    );
    for r in &requests {
        let tp = r
            .traceparent
            .as_deref()
            .unwrap_or_else(|| panic!("{} {} without traceparent", r.method, r.path));
        if r.method == "GET" {
            continue;
        }
        assert!(
            r.key.as_deref().is_some_and(|k| k.len() == 32),
            "{} {} without Idempotency-Key",
            r.method,
            r.path
        );
        assert_eq!(
            r.valid,
            Some(true),
            "{} {} breaks the contract",
            r.method,
            r.path
        );
        assert_eq!(
            r.sources.len(),
            1,
            "{} {} names its source event",
            r.method,
            r.path
        );
        let source = emitted
            .get(&r.sources[0])
            .unwrap_or_else(|| panic!("{:?} was emitted", r.sources[0]));
        assert_eq!(
            trace_id(tp),
            trace_id(&source.traceparent),
            "{} {} continues the trace",
            r.method,
            r.path
        );
        assert_ne!(tp, source.traceparent, "a new span id");
    }
    mw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumption_reported_in_grams_is_posted_in_kilograms() {
    let posted = grams_consumed(&[]).await;
    assert_eq!(posted["movement_type"], "261");
    assert_eq!(posted["quantity"], json!({"value": 0.5, "unit": "KG"}));
    assert_eq!(posted["quantity_base"], json!({"value": 0.5, "unit": "KG"}));
}
