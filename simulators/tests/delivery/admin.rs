//! Delivery driven through a simulator's admin API (`PUT /_andon/ingress`,
//! `POST /_andon/events`, `GET /_andon/health`) with `oneshot` on its router.

use andon_contracts::System;
use andon_simulators::masterdata::{PlantSpec, Profile};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::helpers::*;

fn mes() -> Simulator {
    init_tracing();
    let master = MasterData::generate(
        1,
        &[PlantSpec {
            id: plant(PLANT),
            lines: 1,
            materials: 2,
            profile: Profile::Discrete,
        }],
    );
    let config = SimConfig {
        emitter: fast(None),
        ..SimConfig::default()
    };
    Simulator::new(System::Mes, config, master, History::new())
}

async fn call(
    sim: &Simulator,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder().method(method).uri(path);
    let req = match body {
        Some(b) => req
            .header("content-type", "application/json")
            .body(Body::from(serde_json::to_vec(&b).expect("json"))),
        None => req.body(Body::empty()),
    }
    .expect("request");
    let resp = sim.router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json answer")
    };
    (status, json)
}

/// Polls `GET /_andon/health` until `cond` holds, at most [`PATIENCE`].
async fn health_until(sim: &Simulator, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (status, health) = call(sim, Method::GET, "/_andon/health", None).await;
        assert_eq!(status, StatusCode::OK);
        if cond(&health) {
            return health;
        }
        assert!(Instant::now() < deadline, "waited for {what}: {health}");
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(50),
            sim.core.history.changed(),
        )
        .await;
    }
}

#[tokio::test]
async fn an_event_posted_to_the_admin_api_reaches_the_ingress_as_a_valid_cloudevent() {
    let sut = accepting_sut().await;
    let sim = mes();
    let (status, _) = call(
        &sim,
        Method::PUT,
        "/_andon/ingress",
        Some(json!({"url": ingress_of(&sut)})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, key) = call(
        &sim,
        Method::POST,
        "/_andon/events",
        Some(json!({"kind": "material.consumed", "plant": PLANT, "data": consumed("100000001")})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["source"], "/andon/mes/1000");

    let health = health_until(&sim, "the event delivered", |h| {
        h["emitter"]["delivered"] == 1 && h["emitter"]["pending"] == 0
    })
    .await;
    assert_eq!(health["ingress"], ingress_of(&sut));

    let requests = sut.received_requests().await.expect("recording");
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(
        req.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/cloudevents+json")
    );
    let body: Value = serde_json::from_slice(&req.body).expect("json");
    andon_contracts::validate("cloudevent", &body).unwrap_or_else(|v| panic!("{v}\n{body}"));
    assert_eq!(body["id"], key["id"]);
    assert_eq!(body["type"], "andon.material.consumed.v1");
    assert_eq!(body["subject"], "100000001", "the subject is the order");
    assert_eq!(body["sequence"], 1);
    assert_eq!(body["plant"], PLANT);
    assert_eq!(
        req.headers.get("traceparent").and_then(|v| v.to_str().ok()),
        body["traceparent"].as_str(),
        "the traceparent header matches the extension"
    );
}

#[tokio::test]
async fn without_an_ingress_events_buffer_and_the_health_shows_them_pending() {
    let sim = mes();
    for _ in 0..2 {
        let (status, body) = call(
            &sim,
            Method::POST,
            "/_andon/events",
            Some(
                json!({"kind": "material.consumed", "plant": PLANT, "data": consumed("100000001")}),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let health = health_until(&sim, "two pending events", |h| h["emitter"]["pending"] == 2).await;
    assert_eq!(health["ingress"], Value::Null);
    assert_eq!(health["emitter"]["attempts"], 0);

    // A bad URL is refused and changes nothing.
    let (status, problem) = call(
        &sim,
        Method::PUT,
        "/_andon/ingress",
        Some(json!({"url": "not a url"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(sim.core.emitter.ingress(), None);
    // The simulators deliver over plain HTTP: TLS is the SUT's proxy's business.
    let (status, problem) = call(
        &sim,
        Method::PUT,
        "/_andon/ingress",
        Some(json!({"url": "https://sut.example/events"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert!(problem.to_string().contains("plain http only"), "{problem}");
    assert_eq!(sim.core.emitter.ingress(), None);

    let sut = accepting_sut().await;
    let (status, _) = call(
        &sim,
        Method::PUT,
        "/_andon/ingress",
        Some(json!({"url": ingress_of(&sut)})),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    health_until(&sim, "both delivered", |h| {
        h["emitter"]["delivered"] == 2 && h["emitter"]["pending"] == 0
    })
    .await;
    let got = received(&sut).await;
    assert_eq!(
        got.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[tokio::test]
async fn an_event_that_breaks_its_schema_is_refused_unless_declared_poison() {
    let sim = mes();
    let mut data = consumed("100000001");
    data["quantity"]["value"] = json!(-1);
    let (status, problem) = call(
        &sim,
        Method::POST,
        "/_andon/events",
        Some(json!({"kind": "material.consumed", "plant": PLANT, "data": data.clone()})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    assert_eq!(problem["code"], "invalid-request");
    assert_eq!(sim.core.emitter.stats().emitted, 0);

    let (status, _) = call(
        &sim,
        Method::POST,
        "/_andon/events",
        Some(json!({"kind": "material.consumed", "plant": PLANT, "data": data, "poison": "negative quantity"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(sim.core.emitter.stats().emitted, 1);
}
