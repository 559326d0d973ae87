//! Scenarios shared by the tests of the correct middleware and the tests of its defects:
//! the same plant activity and faults, run against a middleware with the given defects.

use std::time::Duration;

use andon_contracts::System;
use andon_reference_middleware::Defect;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use serde_json::{Value, json};

use crate::helpers::{
    ChildMw, Mw, PLANT, Plant, TempDir, kg_raw_lot, post_event, released_order, started_event,
    throttle,
};

/// Releases `orders` orders and runs MES until their scripts are done (without settling).
pub async fn run_orders(plant: &Plant, mw: &str, orders: usize) {
    assert_eq!(plant.step(System::Erp, orders), orders);
    plant.settle(mw).await;
    assert!(
        plant.step(System::Mes, 500) > 0,
        "MES executes the downloaded orders"
    );
}

/// MES activity with every event delivered twice.
pub async fn duplicates(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    plant.fault_kind(System::Mes, FaultKind::Duplicate);
    run_orders(&plant, &mw.url, 2).await;
    plant.settle(&mw.url).await;
    (plant, mw)
}

/// MES activity while the ERP is in maintenance (503 + Retry-After 1 s) for 1.5 s.
pub async fn erp_unavailable(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    assert_eq!(plant.step(System::Erp, 2), 2);
    plant.settle(&mw.url).await;
    let mut spec = FaultSpec::new(FaultKind::Unavailable {
        retry_after: Dur(Duration::from_secs(1)),
    });
    spec.duration = Some(Dur(Duration::from_millis(1500)));
    plant.fault(System::Erp, spec);
    plant.step(System::Mes, 500);
    plant.settle(&mw.url).await;
    (plant, mw)
}

/// MES activity while the ERP allows 4 requests per second (for 3 s).
pub async fn erp_throttled(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    assert_eq!(plant.step(System::Erp, 2), 2);
    plant.settle(&mw.url).await;
    let mut spec = throttle(4);
    spec.duration = Some(Dur(Duration::from_secs(3)));
    plant.fault(System::Erp, spec);
    plant.step(System::Mes, 500);
    plant.settle(&mw.url).await;
    (plant, mw)
}

/// MES activity while the ERP rejects every confirmation (422 `period-closed`).
pub async fn confirmations_rejected(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    let mut spec = FaultSpec::new(FaultKind::Reject {
        code: "period-closed".into(),
        status: 422,
        detail: None,
    });
    spec.path = Some("/api/v1/confirmations".into());
    plant.fault(System::Erp, spec);
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    (plant, mw)
}

/// A hold and its release on a raw-material lot, delivered release first (QMS `reorder`).
pub async fn reordered_hold_and_release(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    let (material, batch) = kg_raw_lot();
    // Buffer both events (partition), then let them out with reordering on.
    let partition = plant.fault_kind(System::Qms, FaultKind::Partition);
    plant.emit(
        System::Qms,
        "lot.hold_placed",
        hold_placed("H9001", material, batch),
    );
    plant.emit(
        System::Qms,
        "lot.hold_released",
        hold_released("H9001", material, batch),
    );
    plant.fault_kind(System::Qms, FaultKind::Reorder { window: 3 });
    plant.clear(System::Qms, &partition);
    plant.settle(&mw.url).await;
    (plant, mw)
}

/// `lot.hold_placed` data for a lot of plant 1000.
pub fn hold_placed(hold: &str, material: &str, batch: &str) -> Value {
    json!({"hold_id": hold, "plant": PLANT, "material": material, "batch": batch, "scope": "batch",
           "reason_code": "QH01", "placed_at": "2026-11-02T06:30:00Z"})
}

/// `lot.hold_released` data.
pub fn hold_released(hold: &str, material: &str, batch: &str) -> Value {
    json!({"hold_id": hold, "plant": PLANT, "material": material, "batch": batch,
           "released_at": "2026-11-02T06:40:00Z"})
}

/// The WMS's view of a lot in its snapshot.
pub fn wms_lot(plant: &Plant, material: &str, batch: &str) -> Option<Value> {
    plant.snapshot(System::Wms)["lots"]
        .as_array()?
        .iter()
        .find(|l| l["material"] == material && l["batch"] == batch)
        .cloned()
}

/// The MES's view of a lot.
pub fn mes_lot(plant: &Plant, material: &str, batch: &str) -> Option<Value> {
    plant.snapshot(System::Mes)["lots"]
        .as_array()?
        .iter()
        .find(|l| l["material"] == material && l["batch"] == batch)
        .cloned()
}

/// 500 G of a KG raw material consumed against a released order; returns the goods
/// movement the ERP posted for it.
pub async fn grams_consumed(defects: &[Defect]) -> Value {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    let order = released_order(&plant, &mw.url).await;
    let (material, batch) = kg_raw_lot();
    let src = plant.emit(
        System::Mes,
        "material.consumed",
        json!({"order": order, "plant": PLANT, "storage_location": "0001", "material": material, "batch": batch,
               "quantity": {"value": 500, "unit": "G"}, "reservation_item": "0001", "posting_date": "2026-11-02"}),
    );
    plant.settle(&mw.url).await;
    let posted: Vec<_> = plant
        .effects_named("erp.goods_movement")
        .into_iter()
        .filter(|e| e.sources.contains(&src))
        .collect();
    assert_eq!(posted.len(), 1, "one 261 for the consumption: {posted:?}");
    posted[0].detail.clone()
}

/// What a kill -9 left behind after the restart settled.
#[derive(Debug)]
pub struct AfterKill {
    /// Acknowledged events without their effect (and no dead letter).
    pub lost: Vec<String>,
    /// Effects realised twice.
    pub doubled: Vec<String>,
    /// Outbox rows pending when the process was killed.
    pub pending_at_kill: u64,
}

/// MES activity while the ERP answers slowly and sometimes loses its answers; the
/// middleware process is killed with SIGKILL while delivering and restarted on the same
/// data directory.
pub async fn kill_during_delivery(defects: &[Defect]) -> AfterKill {
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let first = ChildMw::spawn(&plant, dir.path(), defects).await;
    assert_eq!(plant.step(System::Erp, 3), 3);
    plant.settle(&first.url).await;
    let mut slow = FaultSpec::new(FaultKind::Slow {
        median: Dur(Duration::from_millis(60)),
        p99: None,
    });
    slow.path = Some("/api/v1/".into());
    let slow = plant.fault(System::Erp, slow);
    let mut ambiguous = FaultSpec::new(FaultKind::CommitThenReset);
    ambiguous.path = Some("/api/v1/material-documents".into());
    ambiguous.probability = Some(0.3);
    let ambiguous = plant.fault(System::Erp, ambiguous);
    plant.step(System::Mes, 500);
    // Kill once the ERP has some postings and more are pending.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let pending_at_kill = loop {
        let stats = first.stats().await;
        let pending = stats["pending"].as_u64().unwrap_or(0);
        if !plant.effects_named("erp.goods_movement").is_empty() && pending > 5 {
            break pending;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never caught the middleware delivering: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    first.kill9().await;
    let second = ChildMw::spawn(&plant, dir.path(), defects).await;
    plant.settle(&second.url).await;
    plant.clear(System::Erp, &slow);
    plant.clear(System::Erp, &ambiguous);
    plant.settle(&second.url).await;
    let dl = crate::helpers::dead_letters_of(&second.url).await;
    let lost = plant
        .lost_effects(&crate::helpers::dead_lettered(&dl))
        .into_iter()
        .map(|(k, t, e)| format!("{t} {} → {e}", k.id))
        .collect();
    let doubled = plant
        .doubled_effects()
        .into_iter()
        .map(|(k, e, key, n)| format!("{} {e} {key} ×{n}", k.id))
        .collect();
    second.kill9().await;
    AfterKill {
        lost,
        doubled,
        pending_at_kill,
    }
}

/// Twenty events posted straight to the ingress, the process killed the moment the last
/// one is acknowledged, and restarted: how many the inbox holds.
pub async fn kill_right_after_ack(defects: &[Defect]) -> u64 {
    let plant = Plant::start().await;
    let dir = TempDir::new();
    let first = ChildMw::spawn(&plant, dir.path(), defects).await;
    let client = reqwest::Client::new();
    for i in 1..=20 {
        let status = post_event(
            &client,
            &first.url,
            System::Mes,
            &started_event(&format!("ack-{i}"), i),
        )
        .await;
        assert_eq!(status, 202, "event {i} acknowledged");
    }
    first.kill9().await;
    let second = ChildMw::spawn(&plant, dir.path(), defects).await;
    let inbox = second.stats().await["inbox"].as_u64().expect("inbox count");
    second.kill9().await;
    inbox
}
