//! The correct middleware under the faults of the called and the emitting systems.

use std::collections::BTreeMap;
use std::time::Duration;

use andon_contracts::System;
use andon_reference_middleware::Credentials;
use andon_simulators::faults::{Dur, FaultKind, FaultSpec};
use serde_json::json;

use crate::helpers::{Mw, Plant, dead_lettered, eventually, retries_before_retry_after};
use crate::scenarios::{
    confirmations_rejected, duplicates, erp_throttled, erp_unavailable, mes_lot,
    reordered_hold_and_release, run_orders, wms_lot,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_have_no_second_effect() {
    let (plant, mw) = duplicates(&[]).await;
    assert!(
        mw.stats().await["duplicates"].as_u64().unwrap() > 5,
        "duplicates were delivered"
    );
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(plant.lost_effects(&Default::default()), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erp_downtime_is_ridden_out_and_everything_lands_once() {
    let (plant, mw) = erp_unavailable(&[]).await;
    let unavailable = plant.requests().iter().filter(|r| r.status == 503).count();
    assert!(unavailable > 0, "the ERP was unavailable for a while");
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(
        plant.lost_effects(&dead_lettered(&mw.dead_letters().await)),
        vec![]
    );
    assert!(mw.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_erp_is_not_retried_before_retry_after() {
    let (plant, _mw) = erp_throttled(&[]).await;
    let reqs = plant.requests();
    assert!(reqs.iter().any(|r| r.status == 429), "the ERP throttled");
    assert_eq!(retries_before_retry_after(&reqs), vec![]);
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(plant.lost_effects(&Default::default()), vec![]);
}

async fn transport_fault(kind: FaultKind, for_ms: u64) -> Plant {
    let plant = Plant::start().await;
    let mw = Mw::start(&plant).await;
    assert_eq!(plant.step(System::Erp, 1), 1);
    plant.settle(&mw.url).await;
    let mut spec = FaultSpec::new(kind);
    spec.duration = Some(Dur(Duration::from_millis(for_ms)));
    plant.fault(System::Erp, spec);
    plant.step(System::Mes, 300);
    plant.settle(&mw.url).await;
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(plant.lost_effects(&Default::default()), vec![]);
    plant
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_erp_times_out_and_is_retried() {
    let plant = transport_fault(FaultKind::Hang, 2500).await;
    assert!(
        plant
            .requests()
            .iter()
            .any(|r| r.fault.as_deref() == Some("hang"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_and_resets_are_retried() {
    let plant = transport_fault(FaultKind::Refuse, 800).await;
    assert!(!plant.effects_named("erp.confirmation").is_empty());
    let plant = transport_fault(FaultKind::Reset, 800).await;
    assert!(
        plant
            .requests()
            .iter()
            .any(|r| r.fault.as_deref() == Some("reset"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_is_settled_by_the_replayed_answer() {
    let plant = Plant::start().await;
    let mw = Mw::start(&plant).await;
    let mut spec = FaultSpec::new(FaultKind::CommitThenReset);
    spec.path = Some("/api/v1/material-documents".into());
    spec.probability = Some(0.5);
    plant.fault(System::Erp, spec);
    run_orders(&plant, &mw.url, 2).await;
    plant.settle(&mw.url).await;
    let reqs = plant.requests();
    assert!(
        reqs.iter().any(|r| r.replayed),
        "a retry got the replayed answer"
    );
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(plant.lost_effects(&Default::default()), vec![]);
    // Exactly one material document item per consumption and output event.
    let mut per_source: BTreeMap<String, usize> = BTreeMap::new();
    for e in plant.effects_named("erp.goods_movement") {
        *per_source.entry(e.sources[0].id.clone()).or_default() += 1;
    }
    assert!(per_source.values().all(|n| *n == 1), "{per_source:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_renewed() {
    let plant = Plant::with(|c| c.auth.enabled = true).await;
    let mw = Mw::start_with(&plant, |mut c| {
        c.credentials = Some(Credentials {
            client_id: "andon".into(),
            client_secret: "andon-secret".into(),
        });
        c
    })
    .await;
    assert_eq!(plant.step(System::Erp, 1), 1);
    plant.settle(&mw.url).await;
    plant.step(System::Mes, 8);
    plant.settle(&mw.url).await;
    assert!(
        plant.requests().iter().any(|r| r.system == System::Erp),
        "the ERP token is in use"
    );
    plant.fault_kind(System::Erp, FaultKind::TokenExpiry);
    plant.step(System::Mes, 300);
    plant.settle(&mw.url).await;
    let reqs = plant.requests();
    let statuses: BTreeMap<(System, u16), usize> = reqs.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry((r.system, r.status)).or_default() += 1;
        m
    });
    assert!(
        reqs.iter().any(|r| r.status == 401),
        "the old token was refused: {statuses:?}"
    );
    assert!(
        reqs.iter()
            .filter(|r| r.system == System::Erp)
            .any(|r| r.status == 201),
        "then accepted again"
    );
    assert_eq!(plant.doubled_effects(), vec![]);
    assert_eq!(plant.lost_effects(&Default::default()), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_rejection_is_dead_lettered_and_not_retried() {
    let (plant, mw) = confirmations_rejected(&[]).await;
    let dl = mw.dead_letters().await;
    let confirmations: Vec<_> = plant
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/confirmations")
        .collect();
    assert!(!confirmations.is_empty());
    assert_eq!(
        dl.len(),
        confirmations.len(),
        "one dead letter per rejected confirmation: {dl:#?}"
    );
    for d in &dl {
        assert_eq!(d["reason"], "period-closed");
        assert_eq!(d["status"], 422);
        assert_eq!(d["target"], "erp");
        assert_eq!(d["call"], "POST /api/v1/confirmations");
        assert_eq!(d["source_event"]["type"], "andon.operation.confirmed.v1");
        assert_eq!(d["problem"]["code"], "period-closed");
    }
    let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
    for r in &confirmations {
        *per_key.entry(r.key.clone().unwrap()).or_default() += 1;
    }
    assert!(
        per_key.values().all(|n| *n == 1),
        "a rejection is never retried: {per_key:?}"
    );
    assert!(
        confirmations
            .iter()
            .all(|r| r.problem.as_deref() == Some("period-closed"))
    );
    assert!(plant.effects_named("erp.confirmation").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_event_is_refused_and_listed() {
    let plant = Plant::start().await;
    let mw = Mw::start(&plant).await;
    let src = plant.emit_poison(
        System::Mes,
        "material.consumed",
        json!({"order": "1000001", "plant": "1000", "storage_location": "0001", "material": "RM-1000-02",
               "batch": "R1022", "quantity": {"value": -5, "unit": "KG"}, "reservation_item": "0001",
               "posting_date": "2026-11-02"}),
    );
    plant.settle(&mw.url).await;
    let dl = mw.dead_letters().await;
    assert_eq!(dl.len(), 1, "{dl:#?}");
    assert_eq!(dl[0]["reason"], "rejected-at-ingress");
    assert_eq!(dl[0]["status"], 400);
    assert_eq!(dl[0]["source_event"]["id"], src.id.as_str());
    assert_eq!(dl[0]["source_event"]["type"], "andon.material.consumed.v1");
    assert!(plant.requests().is_empty(), "a poison event causes no call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_that_overtakes_its_hold_is_applied_after_it() {
    let (plant, mw) = reordered_hold_and_release(&[]).await;
    // The emitter really delivered the release first.
    let emitted = plant.emitted();
    let order: Vec<String> = plant.history.with_records(|rs| {
        rs.iter()
            .filter_map(|r| match &r.entry {
                andon_simulators::history::Entry::Delivery { event, .. } => {
                    Some(emitted[event].type_.clone())
                }
                _ => None,
            })
            .collect()
    });
    assert_eq!(
        order,
        vec!["andon.lot.hold_released.v1", "andon.lot.hold_placed.v1"]
    );
    let (material, batch) = crate::helpers::kg_raw_lot();
    for lot in [
        wms_lot(&plant, material, batch).unwrap(),
        mes_lot(&plant, material, batch).unwrap(),
    ] {
        assert_eq!(lot["holds"], json!([]), "{lot}");
        assert_eq!(lot["available"], true, "{lot}");
        assert_eq!(lot["last_sequence"], 2, "{lot}");
    }
    let stale: Vec<_> = plant
        .effects()
        .into_iter()
        .filter(|e| e.detail["stale"] == true)
        .collect();
    assert!(stale.is_empty(), "no stale status change: {stale:?}");
    let moves: Vec<_> = plant
        .effects_named("erp.goods_movement")
        .iter()
        .map(|e| e.detail["movement_type"].clone())
        .collect();
    assert_eq!(
        moves,
        vec![json!("344"), json!("343")],
        "blocked by the hold, unblocked by its release"
    );
    assert!(mw.dead_letters().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_ready_only_while_running() {
    let plant = Plant::start().await;
    let mw = Mw::start(&plant).await;
    let url = mw.url.clone();
    let r = reqwest::get(format!("{url}/health")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    mw.stop().await;
    assert!(
        eventually(Duration::from_secs(5), || std::net::TcpStream::connect(
            url.trim_start_matches("http://")
        )
        .is_err())
        .await,
        "stopped"
    );
}
