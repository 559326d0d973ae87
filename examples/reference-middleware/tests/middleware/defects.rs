//! One test per named defect: each runs the scenario that exposes it and shows the
//! behaviour the correct middleware does not have (the correct middleware passes the same
//! scenario in `resilience`, `flows` or `restart`).

use std::time::Duration;

use andon_contracts::System;
use andon_reference_middleware::Defect;
use serde_json::json;

use crate::helpers::{
    Mw, Plant, dead_lettered, eventually, kg_raw_lot, retries_before_retry_after,
};
use crate::scenarios::{
    confirmations_rejected, duplicates, erp_throttled, erp_unavailable, grams_consumed,
    hold_placed, kill_during_delivery, kill_right_after_ack, reordered_hold_and_release,
    run_orders, wms_lot,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_idempotency_key_sends_requests_without_the_header() {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, &[Defect::NoIdempotencyKey]).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let changing: Vec<_> = plant
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(!changing.is_empty());
    assert!(
        changing.iter().all(|r| r.key.is_none()),
        "no request carries a key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_dedup_turns_duplicates_into_double_effects() {
    let (plant, _mw) = duplicates(&[Defect::NoDedup]).await;
    let doubled = plant.doubled_effects();
    // Doubled confirmations mostly bounce off the over-confirmation tolerance; postings do not.
    assert!(
        doubled.iter().any(|(_, e, _, _)| e == "erp.goods_movement"),
        "{doubled:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_on_5xx_loses_what_failed_once() {
    let (plant, mw) = erp_unavailable(&[Defect::DropOn5xx]).await;
    assert!(mw.stats().await["dropped"].as_u64().unwrap() > 0);
    let lost = plant.lost_effects(&dead_lettered(&mw.dead_letters().await));
    assert!(!lost.is_empty(), "events acknowledged but never posted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_outbox_loses_the_queue_on_restart() {
    let after = kill_during_delivery(&[Defect::MemoryOutbox]).await;
    assert!(
        !after.lost.is_empty(),
        "the pending commands died with the process: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_before_persist_loses_events_acknowledged_just_before_a_kill() {
    let kept = kill_right_after_ack(&[Defect::AckBeforePersist]).await;
    // Never written behind (`WRITE_BEHIND_FLUSH` is an hour here): all of it is lost.
    assert_eq!(kept, 0, "acknowledged events were lost: {kept} of 20 kept");
}

async fn hold_on_raw_lot(defects: &[Defect]) -> (Plant, Mw) {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, defects).await;
    let (material, batch) = kg_raw_lot();
    plant.emit(
        System::Qms,
        "lot.hold_placed",
        hold_placed("H7001", material, batch),
    );
    (plant, mw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hold_to_wms_leaves_the_wms_picking_a_held_lot() {
    let (plant, mw) = hold_on_raw_lot(&[Defect::NoHoldToWms]).await;
    plant.settle(&mw.url).await;
    assert_eq!(
        plant.effects_named("mes.hold").len(),
        1,
        "the MES still gets it"
    );
    assert!(
        plant.effects_named("wms.hold").is_empty(),
        "the WMS never hears of the hold"
    );
    let (material, batch) = kg_raw_lot();
    assert!(wms_lot(&plant, material, batch).is_none_or(|l| l["holds"] == json!([])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_hold_misses_the_propagation_window() {
    let window = Duration::from_secs(3);
    let (correct, _a) = hold_on_raw_lot(&[]).await;
    assert!(
        eventually(window, || correct.effects_named("wms.hold").len() == 1).await,
        "the correct middleware propagates the hold within {window:?}"
    );
    let (late, _b) = hold_on_raw_lot(&[Defect::LateHold]).await;
    assert!(
        !eventually(window, || !late.effects_named("wms.hold").is_empty()).await,
        "the hold reached the WMS within {window:?}"
    );
    assert!(late.effects_named("mes.hold").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ignore_retry_after_hammers_a_throttled_erp() {
    let (plant, _mw) = erp_throttled(&[Defect::IgnoreRetryAfter]).await;
    let early = retries_before_retry_after(&plant.requests());
    assert!(!early.is_empty(), "retries came before Retry-After elapsed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reorder_status_lets_a_late_hold_overwrite_the_release() {
    let (plant, mw) = reordered_hold_and_release(&[Defect::ReorderStatus]).await;
    let (material, batch) = kg_raw_lot();
    let lot = wms_lot(&plant, material, batch).expect("the WMS knows the lot");
    assert_eq!(
        lot["holds"],
        json!(["H9001"]),
        "the released hold is in force again: {lot}"
    );
    assert_eq!(lot["available"], false);
    let dl = mw.dead_letters().await;
    assert!(
        dl.iter().any(|d| d["reason"] == "hold-not-found"),
        "the early release was refused: {dl:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swallow_rejections_leaves_no_dead_letter() {
    let (plant, mw) = confirmations_rejected(&[Defect::SwallowRejections]).await;
    assert!(
        plant.requests().iter().any(|r| r.status == 422),
        "the ERP rejected"
    );
    assert!(mw.dead_letters().await.is_empty(), "but nothing is listed");
    assert!(mw.stats().await["dropped"].as_u64().unwrap() > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_traceparent_breaks_the_trace() {
    let plant = Plant::start().await;
    let mw = Mw::with_defects(&plant, &[Defect::NoTraceparent]).await;
    run_orders(&plant, &mw.url, 1).await;
    plant.settle(&mw.url).await;
    let reqs = plant.requests();
    assert!(!reqs.is_empty());
    assert!(
        reqs.iter().all(|r| r.traceparent.is_none()),
        "no request continues the trace"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_uom_posts_grams_as_kilograms() {
    let posted = grams_consumed(&[Defect::WrongUom]).await;
    assert_eq!(posted["quantity"], json!({"value": 500.0, "unit": "KG"}));
    assert_eq!(
        posted["quantity_base"],
        json!({"value": 500.0, "unit": "KG"}),
        "a thousand times too much"
    );
}
