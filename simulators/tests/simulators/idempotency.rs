//! `Idempotency-Key` over HTTP: replays, key reuse, replayed errors, the switch that turns
//! keys off, and requests in flight.

use std::time::Duration;

use andon_simulators::history::RequestEntry;
use andon_simulators::idempotency::{Begin, fingerprint};
use axum::http::Method;
use serde_json::json;

use crate::helpers::*;

const PATH: &str = "/api/v1/material-documents";

#[tokio::test]
async fn the_same_key_and_payload_replays_the_first_answer_with_one_effect() {
    let sim = Sim::start();
    let body = consume_r1(5.0);
    let first = sim.post_keyed(PATH, &body, "key-1").await;
    first.assert_status(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = sim.post_keyed(PATH, &body, "key-1").await;
    assert_eq!(second.status, first.status);
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    assert_eq!(second.content_type(), "application/json");
    assert_eq!(sim.effects("erp.goods_movement").len(), 1);
    assert_eq!(sim.r1_unrestricted(), 95_000);
    assert_eq!(sim.snapshot().documents.len(), 1);
    // The history marks the replay.
    let replayed: Vec<bool> = sim
        .requests()
        .iter()
        .filter_map(|r| match r.entry.request() {
            Some(RequestEntry {
                route, replayed, ..
            }) if route == PATH => Some(*replayed),
            _ => None,
        })
        .collect();
    assert_eq!(replayed, [false, true]);
}

#[tokio::test]
async fn key_order_and_whitespace_do_not_make_another_payload() {
    let sim = Sim::start();
    let body = consume_r1(5.0);
    sim.post_keyed(PATH, &body, "k").await.assert_status(201);
    let pretty = serde_json::to_vec_pretty(&body).expect("json");
    let req = base(Method::POST, PATH)
        .header("content-type", "application/json")
        .header("idempotency-key", "k")
        .body(axum::body::Body::from(pretty))
        .expect("request");
    let r = sim.send(req).await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(sim.effects("erp.goods_movement").len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_payload_is_422_idempotency_key_reuse() {
    let sim = Sim::start();
    sim.post_keyed(PATH, &consume_r1(5.0), "key-1")
        .await
        .assert_status(201);
    let before = sim.snapshot();
    let r = sim.post_keyed(PATH, &consume_r1(6.0), "key-1").await;
    sim.assert_rejected(
        &before,
        &r,
        422,
        "idempotency-key-reuse",
        "Idempotency-Key \"key-1\" was already used with a different payload",
    );
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn keys_are_scoped_per_endpoint() {
    let sim = Sim::start();
    sim.post_keyed(PATH, &consume_r1(5.0), "shared")
        .await
        .assert_status(201);
    let r = sim
        .post_keyed(
            "/api/v1/confirmations",
            &confirmation(ORDER, "0010", 1.0, false),
            "shared",
        )
        .await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn an_error_answer_is_replayed_even_after_the_stock_arrives() {
    let sim = Sim::start();
    let body = consume_r1(150.0);
    let first = sim.post_keyed(PATH, &body, "short").await;
    first.assert_problem(422, "stock-deficit", "Deficit of SL Unrestricted-use 50 KG");
    // 100 KG more arrive (a 262 return without key).
    sim.post_movement(&movement(vec![for_order(item(
        "262", "RM-1", "R1", 100.0, "KG",
    ))]))
    .await
    .assert_status(201);
    let before = sim.snapshot();
    let again = sim.post_keyed(PATH, &body, "short").await;
    sim.assert_rejected(
        &before,
        &again,
        422,
        "stock-deficit",
        "Deficit of SL Unrestricted-use 50 KG",
    );
    assert_eq!(again.body, first.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // A new key posts.
    sim.post_keyed(PATH, &body, "short-2")
        .await
        .assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 50_000);
}

#[tokio::test]
async fn with_idempotency_off_the_same_key_posts_twice() {
    let sim = Sim::start();
    let cfg = sim.config(json!({"idempotency": false})).await;
    assert_eq!(cfg["idempotency"], false);
    let body = consume_r1(5.0);
    let a = sim
        .post_keyed(PATH, &body, "key-1")
        .await
        .assert_status(201);
    let b = sim
        .post_keyed(PATH, &body, "key-1")
        .await
        .assert_status(201);
    assert_ne!(a["material_document"], b["material_document"]);
    assert_eq!(sim.effects("erp.goods_movement").len(), 2);
    assert_eq!(sim.r1_unrestricted(), 90_000);
}

#[tokio::test]
async fn a_request_whose_key_is_in_flight_is_409_idempotency_in_flight() {
    let sim = Sim::start();
    let body = consume_r1(5.0);
    let bytes = serde_json::to_vec(&body).expect("json");
    // Another request with the same key and payload is being processed.
    let Begin::Proceed(claim) =
        sim.erp
            .core
            .idempotency
            .begin(PATH, "busy", fingerprint("POST", PATH, &bytes))
    else {
        panic!("the key is fresh")
    };
    let before = sim.snapshot();
    let r = sim.post_keyed(PATH, &body, "busy").await;
    sim.assert_rejected(
        &before,
        &r,
        409,
        "idempotency-in-flight",
        "Idempotency-Key \"busy\" is still being processed",
    );
    // Once the first gives up without an answer, a retry is processed.
    drop(claim);
    sim.post_keyed(PATH, &body, "busy").await.assert_status(201);
}

/// Two requests with one key sent together while the ERP is slow: the second must see the
/// first in flight (409) rather than wait and replay.
///
/// A `slow` fault is served after the key is claimed, so a concurrent retry sees it in flight.
#[tokio::test]
async fn a_slow_request_keeps_its_key_in_flight_for_a_concurrent_retry() {
    let sim = Sim::start();
    sim.apply_fault(json!({"kind": "slow", "median": "500ms", "p99": "500ms"}))
        .await;
    let body = consume_r1(5.0);
    let one = sim.post_keyed(PATH, &body, "slow");
    let two = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        sim.post_keyed(PATH, &body, "slow").await
    };
    let (a, b) = tokio::join!(one, two);
    a.assert_status(201);
    b.assert_problem(409, "idempotency-in-flight", "is still being processed");
    assert_eq!(sim.effects("erp.goods_movement").len(), 1);
    assert_eq!(sim.r1_unrestricted(), 95_000);
}

#[tokio::test]
async fn without_a_key_every_post_is_a_new_posting() {
    let sim = Sim::start();
    let body = consume_r1(5.0);
    sim.post_movement(&body).await.assert_status(201);
    sim.post_movement(&body).await.assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 90_000);
}
