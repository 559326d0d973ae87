//! Called-system faults applied and cleared through the admin API.

use std::time::Duration;

use andon_simulators::history::{Entry, Outcome};
use andon_simulators::server::ResetConnection;
use serde_json::json;

use crate::helpers::*;

const PATH: &str = "/api/v1/material-documents";

#[tokio::test]
async fn unavailable_answers_503_with_retry_after_until_cleared() {
    let sim = Sim::start();
    let id = sim
        .apply_fault(json!({"kind": "unavailable", "retry_after": "7s"}))
        .await;
    let before = sim.snapshot();
    let body = consume_r1(1.0);
    let r = sim.post_keyed(PATH, &body, "k").await;
    sim.assert_rejected(&before, &r, 503, "service-unavailable", "retry after 7s");
    assert_eq!(r.header("retry-after"), Some("7"));
    sim.get("/api/v1/stock")
        .await
        .assert_problem(503, "service-unavailable", "maintenance");
    // The admin API is not affected.
    sim.get("/_andon/health").await.assert_status(200);
    sim.clear_fault(&id).await;
    // The refused request did not use up its key.
    let r = sim.post_keyed(PATH, &body, "k").await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(sim.r1_unrestricted(), 99_000);
}

#[tokio::test]
async fn throttle_answers_429_after_the_limit() {
    let sim = Sim::start();
    let id = sim
        .apply_fault(json!({"kind": "throttle", "limit": 2, "per": "60s"}))
        .await;
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
    sim.get("/api/v1/stock").await.assert_status(200);
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(1.0)).await;
    sim.assert_rejected(&before, &r, 429, "too-many-requests", "Rate limit");
    let after: u64 = r
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&after), "{after}");
    sim.clear_fault(&id).await;
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 98_000);
}

#[tokio::test]
async fn reject_answers_422_period_closed_with_the_sap_message() {
    let sim = Sim::start();
    let id = sim.apply_fault(json!({"kind": "reject"})).await;
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "period-closed",
        "Posting only possible in periods 2026/11 and 2026/10 in company code 1000",
    );
    sim.clear_fault(&id).await;
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
}

#[tokio::test]
async fn a_path_filter_limits_a_fault_to_one_endpoint() {
    let sim = Sim::start();
    sim.apply_fault(json!({"kind": "reject", "code": "order-status", "detail": "Order locked", "path": "/api/v1/confirmations"}))
        .await;
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
    let before = sim.snapshot();
    let r = sim
        .post_confirmation(&confirmation(ORDER, "0010", 1.0, false))
        .await;
    sim.assert_rejected(&before, &r, 422, "order-status", "Order locked");
}

#[tokio::test]
async fn commit_then_reset_commits_the_effect_as_indeterminate_and_drops_the_answer() {
    let sim = Sim::start();
    let id = sim.apply_fault(json!({"kind": "commit_then_reset"})).await;
    let body = consume_r1(4.0);
    let r = sim.post_keyed(PATH, &body, "lost").await;
    assert!(
        r.extensions.get::<ResetConnection>().is_some(),
        "the answer must be dropped"
    );
    assert_eq!(sim.r1_unrestricted(), 96_000, "the posting is committed");
    let effects = sim.effects("erp.goods_movement");
    assert_eq!(effects.len(), 1);
    let Entry::Effect {
        outcome,
        traceparent,
        key,
        ..
    } = &effects[0].entry
    else {
        unreachable!()
    };
    assert_eq!(*outcome, Outcome::Info);
    assert_eq!(traceparent.as_deref(), Some(TRACEPARENT));
    assert_eq!(key, "261:1000:RM-1:R1");
    sim.clear_fault(&id).await;
    // The SUT's retry with the same key gets the committed answer, not a second posting.
    let retry = sim.post_keyed(PATH, &body, "lost").await;
    let doc = retry.assert_status(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(doc["items"][0]["quantity_base"]["value"], 4.0);
    assert_eq!(sim.effects("erp.goods_movement").len(), 1);
    assert_eq!(sim.r1_unrestricted(), 96_000);
}

#[tokio::test]
async fn reset_drops_the_connection_before_processing() {
    let sim = Sim::start();
    let id = sim.apply_fault(json!({"kind": "reset"})).await;
    let before = sim.snapshot();
    let r = sim.post_movement(&consume_r1(1.0)).await;
    assert!(r.extensions.get::<ResetConnection>().is_some());
    assert_eq!(sim.snapshot(), before);
    sim.clear_fault(&id).await;
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
}

#[tokio::test]
async fn hang_holds_the_request_until_the_fault_is_cleared_then_resets() {
    let sim = Sim::start();
    let id = sim.apply_fault(json!({"kind": "hang"})).await;
    let before = sim.snapshot();
    let body = consume_r1(1.0);
    let hung = sim.post_movement(&body);
    let clear = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.clear_fault(&id).await;
    };
    let (r, ()) =
        tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(hung, clear) })
            .await
            .expect("the hung request ends when the fault is cleared");
    assert!(r.extensions.get::<ResetConnection>().is_some());
    assert_eq!(sim.snapshot(), before);
}

#[tokio::test]
async fn a_fault_with_a_duration_clears_itself() {
    let sim = Sim::start();
    sim.apply_fault(json!({"kind": "unavailable", "for": "100ms"}))
        .await;
    sim.get("/api/v1/stock")
        .await
        .assert_problem(503, "service-unavailable", "");
    tokio::time::sleep(Duration::from_millis(400)).await;
    sim.get("/api/v1/stock").await.assert_status(200);
    let faults = sim.get("/_andon/faults").await.assert_status(200);
    assert_eq!(faults, json!([]));
}

#[tokio::test]
async fn bad_fault_specs_are_refused() {
    let sim = Sim::start();
    let post = |spec: serde_json::Value| {
        let sim = &sim;
        async move {
            sim.send(json_request(
                axum::http::Method::POST,
                "/_andon/faults",
                &spec,
                None,
            ))
            .await
        }
    };
    post(json!({"kind": "meteor"}))
        .await
        .assert_problem(400, "invalid-request", "Bad fault");
    post(json!({"kind": "throttle", "limit": 0}))
        .await
        .assert_problem(422, "invalid-fault", "at least 1");
    post(json!({"kind": "reset", "probability": 2.0}))
        .await
        .assert_problem(422, "invalid-fault", "between 0 and 1");
    // A duration too large for a clock is refused, not a dropped connection.
    post(json!({"kind": "unavailable", "for": 1e20}))
        .await
        .assert_problem(400, "invalid-request", "out of range");
    post(json!({"kind": "unavailable", "for": "18446744073709551000s"}))
        .await
        .assert_problem(400, "invalid-request", "30 days");
    sim.apply_fault(json!({"kind": "reset", "id": "mine"}))
        .await;
    post(json!({"kind": "reset", "id": "mine"}))
        .await
        .assert_problem(422, "invalid-fault", "already in force");
    sim.send(
        axum::http::Request::delete("/_andon/faults/nope")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .assert_problem(404, "not-found", "No fault \"nope\" is in force");
}

#[tokio::test]
async fn every_fault_applied_and_cleared_appears_in_the_history() {
    let sim = Sim::start();
    let a = sim.apply_fault(json!({"kind": "unavailable"})).await;
    let b = sim
        .apply_fault(json!({"kind": "reject", "path": "/api/v1/confirmations"}))
        .await;
    sim.get("/api/v1/stock")
        .await
        .assert_problem(503, "service-unavailable", "");
    sim.clear_fault(&a).await;
    let c = sim
        .apply_fault(json!({"kind": "throttle", "limit": 5}))
        .await;
    let cleared = sim
        .send(
            axum::http::Request::delete("/_andon/faults")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .assert_status(200);
    assert_eq!(cleared["cleared"], 2);
    let history = sim.get("/_andon/history").await.assert_status(200);
    let faults = fault_records(&history);
    let has = |id: &str, action: &str, kind: &str| {
        faults
            .iter()
            .any(|(i, a, k)| i == id && a == action && k == kind)
    };
    for (id, kind) in [(&a, "unavailable"), (&b, "reject"), (&c, "throttle")] {
        assert!(has(id, "applied", kind), "{id} applied missing: {faults:?}");
        assert!(has(id, "cleared", kind), "{id} cleared missing: {faults:?}");
    }
    assert!(has(&a, "fired", "unavailable"), "{faults:?}");
    // The faulted request itself is recorded with the fault that answered it.
    let faulted = history
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["record"] == "request" && r["fault"] == "unavailable")
        .expect("faulted request recorded");
    assert_eq!(faulted["status"], 503);
    assert_eq!(faulted["problem"], "service-unavailable");
}
