//! Malformed, mistyped, oversized and contract-breaking requests: always a 4xx problem,
//! never a 5xx, never a change of state. Also: the history records every request with its
//! validation result, idempotency key and traceparent.

use andon_simulators::SimConfig;
use andon_simulators::history::{Entry, RequestEntry};
use axum::body::Body;
use axum::http::{Method, header};
use serde_json::json;

use crate::helpers::*;

const PATH: &str = "/api/v1/material-documents";

fn raw(path: &str, content_type: &str, body: impl Into<Body>) -> axum::http::Request<Body> {
    base(Method::POST, path)
        .header(header::CONTENT_TYPE, content_type)
        .body(body.into())
        .expect("request")
}

#[tokio::test]
async fn malformed_json_is_400_invalid_request_naming_line_and_column() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .send(raw(
            PATH,
            "application/json",
            "{\n  \"posting_date\": \"2026-11-02\",\n  \"items\": [\n",
        ))
        .await;
    sim.assert_rejected(
        &before,
        &r,
        400,
        "invalid-request",
        "Malformed JSON at line 4 column 0",
    );
    let r = sim
        .send(raw(
            PATH,
            "application/json",
            "{\"posting_date\": 2026-11-02}",
        ))
        .await;
    sim.assert_rejected(&before, &r, 400, "invalid-request", "at line 1 column");
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let body = serde_json::to_vec(&consume_r1(1.0)).expect("json");
    let r = sim.send(raw(PATH, "text/plain", body.clone())).await;
    sim.assert_rejected(
        &before,
        &r,
        415,
        "unsupported-media-type",
        "Content-Type must be application/json, got \"text/plain\"",
    );
    let no_type = base(Method::POST, PATH)
        .body(Body::from(body.clone()))
        .expect("request");
    let r = sim.send(no_type).await;
    sim.assert_rejected(&before, &r, 415, "unsupported-media-type", "got \"\"");
    // Parameters and +json suffixes are fine.
    sim.send(raw(PATH, "application/json; charset=utf-8", body))
        .await
        .assert_status(201);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let sim = Sim::with_config(SimConfig {
        body_limit: 512,
        ..SimConfig::default()
    });
    let before = sim.snapshot();
    let mut body = consume_r1(1.0);
    body["header_text"] = json!("x".repeat(2_000));
    let r = sim.post_movement(&body).await;
    sim.assert_rejected(
        &before,
        &r,
        413,
        "payload-too-large",
        "exceeds the limit of 512 bytes",
    );
    // A small one passes.
    sim.post_movement(&consume_r1(1.0)).await.assert_status(201);
}

#[tokio::test]
async fn an_unknown_field_is_400_invalid_request_with_its_pointer() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let mut body = consume_r1(1.0);
    body["items"][0]["colour"] = json!("red");
    let r = sim.post_movement(&body).await;
    let problem = sim.assert_rejected(&before, &r, 400, "invalid-request", "colour");
    let pointers: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    assert!(pointers.contains(&"/items/0"), "{problem}");
    let mut body = confirmation(ORDER, "0010", 1.0, false);
    body["shift"] = json!("early");
    let r = sim.post_confirmation(&body).await;
    sim.assert_rejected(&before, &r, 400, "invalid-request", "shift");
}

#[tokio::test]
async fn contract_violations_are_400_with_json_pointers() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let cases = [
        ("/items/0/quantity/value", {
            let mut b = consume_r1(1.0);
            b["items"][0]["quantity"]["value"] = json!(-1);
            b
        }),
        ("/items/0/quantity/value", {
            let mut b = consume_r1(1.0);
            b["items"][0]["quantity"]["value"] = json!(0);
            b
        }),
        ("/items/0/quantity/value", {
            let mut b = consume_r1(1.0);
            b["items"][0]["quantity"]["value"] = json!(1.0001);
            b
        }),
        ("/items/0/batch", {
            let mut b = consume_r1(1.0);
            b["items"][0]["batch"] = json!("r1");
            b
        }),
        ("/items", {
            let mut b = consume_r1(1.0);
            b["items"] = json!([]);
            b
        }),
        ("/posting_date", {
            let mut b = consume_r1(1.0);
            b["posting_date"] = json!("02.11.2026");
            b
        }),
        ("", {
            let mut b = consume_r1(1.0);
            b.as_object_mut().expect("object").remove("source");
            b
        }),
        ("/items/0", {
            let mut b = consume_r1(1.0);
            b["items"][0]
                .as_object_mut()
                .expect("object")
                .remove("order");
            b
        }),
    ];
    for (pointer, body) in cases {
        let r = sim.post_movement(&body).await;
        let problem = sim.assert_rejected(
            &before,
            &r,
            400,
            "invalid-request",
            "does not match api/GoodsMovementRequest",
        );
        let pointers: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["pointer"].as_str())
            .collect();
        assert!(
            pointers.contains(&pointer),
            "expected {pointer:?} in {problem}"
        );
    }
}

#[tokio::test]
async fn a_non_numeric_year_in_the_path_is_a_400_problem() {
    let sim = Sim::start();
    let before = sim.snapshot();
    let r = sim
        .post(
            "/api/v1/material-documents/twenty/4900000000/reversal",
            &json!({"posting_date": TODAY, "source": source()}),
        )
        .await;
    sim.assert_rejected(&before, &r, 400, "invalid-request", "twenty");
    let r = sim
        .get("/api/v1/material-documents/twenty/4900000000")
        .await;
    r.assert_problem(400, "invalid-request", "twenty");
}

#[tokio::test]
async fn an_unknown_route_is_a_404_problem() {
    let sim = Sim::start();
    sim.get("/api/v1/nothing").await.assert_problem(
        404,
        "not-found",
        "No route for GET /api/v1/nothing",
    );
}

#[tokio::test]
async fn a_wrong_method_is_a_405_problem() {
    let sim = Sim::start();
    let r = sim
        .send(
            base(Method::DELETE, "/api/v1/material-documents")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(r.status.as_u16(), 405, "{}", r.text());
}

#[tokio::test]
async fn no_bad_input_is_answered_with_a_5xx() {
    let sim = Sim::with_config(SimConfig {
        body_limit: 4096,
        ..SimConfig::default()
    });
    let before = sim.snapshot();
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"".to_vec()),
        ("application/json", b"null".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"\"text\"".to_vec()),
        ("application/json", vec![0xff, 0xfe, 0x00]),
        (
            "application/json",
            b"{\"posting_date\":\"2026-11-02\",\"items\":[{}],\"source\":{}}".to_vec(),
        ),
        ("application/json", "{\"a\":".repeat(300).into_bytes()),
        ("application/json", vec![b' '; 10_000]),
        ("application/xml", b"<a/>".to_vec()),
        ("application/problem+json", b"{}".to_vec()),
    ];
    for path in [
        "/api/v1/material-documents",
        "/api/v1/confirmations",
        "/api/v1/quality-notifications",
        "/api/v1/material-documents/2026/4900000000/reversal",
    ] {
        for (ct, body) in &bodies {
            let r = sim.send(raw(path, ct, body.clone())).await;
            assert!(
                r.status.is_client_error(),
                "{path} {ct} {:?}: {} {}",
                String::from_utf8_lossy(body),
                r.status,
                r.text()
            );
            assert_eq!(
                r.content_type(),
                "application/problem+json",
                "{path}: {}",
                r.text()
            );
        }
    }
    assert_eq!(sim.snapshot(), before);
}

#[tokio::test]
async fn the_history_records_each_request_with_validation_key_and_traceparent() {
    let sim = Sim::start();
    sim.post_keyed(PATH, &consume_r1(1.0), "key-ok")
        .await
        .assert_status(201);
    let mut bad = consume_r1(1.0);
    bad["items"][0]["colour"] = json!("red");
    sim.post_keyed(PATH, &bad, "key-bad")
        .await
        .assert_status(400);
    sim.send(raw(PATH, "text/plain", "x"))
        .await
        .assert_status(415);
    sim.get("/api/v1/stock").await.assert_status(200);
    let requests = sim.requests();
    assert_eq!(requests.len(), 4, "{requests:#?}");
    let fields: Vec<_> = requests
        .iter()
        .map(|r| match r.entry.request() {
            Some(RequestEntry {
                method,
                route,
                idempotency_key,
                traceparent,
                valid,
                violations,
                status,
                problem,
                ..
            }) => (
                method.clone(),
                route.clone(),
                idempotency_key.clone(),
                traceparent.clone(),
                *valid,
                violations.clone(),
                *status,
                problem.clone(),
            ),
            _ => unreachable!(),
        })
        .collect();
    let tp = Some(TRACEPARENT.to_string());
    assert_eq!(
        (
            &fields[0].0,
            fields[0].1.as_str(),
            fields[0].2.as_deref(),
            &fields[0].3,
            fields[0].4,
            fields[0].6,
            &fields[0].7
        ),
        (
            &"POST".to_string(),
            PATH,
            Some("key-ok"),
            &tp,
            Some(true),
            201,
            &None
        )
    );
    assert_eq!(
        (
            fields[1].2.as_deref(),
            &fields[1].3,
            fields[1].4,
            fields[1].6,
            fields[1].7.as_deref()
        ),
        (
            Some("key-bad"),
            &tp,
            Some(false),
            400,
            Some("invalid-request")
        )
    );
    assert!(
        fields[1].5.iter().any(|v| v.starts_with("/items/0")),
        "{:?}",
        fields[1].5
    );
    assert_eq!(
        (fields[2].4, fields[2].6, fields[2].7.as_deref()),
        (Some(false), 415, Some("unsupported-media-type"))
    );
    assert_eq!(
        (fields[3].0.as_str(), fields[3].4, fields[3].6),
        ("GET", None, 200)
    );
    // The effect carries the request's traceparent and source.
    let effects = sim.effects("erp.goods_movement");
    let Entry::Effect {
        traceparent,
        sources,
        ..
    } = &effects[0].entry
    else {
        unreachable!()
    };
    assert_eq!(traceparent.as_deref(), Some(TRACEPARENT));
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].source, "/andon/mes/1000");
    // The admin API's view of the same history.
    let history = sim.get("/_andon/history").await.assert_status(200);
    let first = history
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["record"] == "request")
        .expect("a request record");
    assert_eq!(first["idempotency_key"], "key-ok");
    assert_eq!(first["traceparent"], TRACEPARENT);
    assert_eq!(first["valid"], true);
    let conformance = sim.get("/_andon/conformance").await.assert_status(200);
    let c = &conformance["POST /api/v1/material-documents"];
    assert_eq!(
        (
            c["seen"].as_u64(),
            c["valid"].as_u64(),
            c["violations"].as_u64()
        ),
        (Some(3), Some(1), Some(2))
    );
}

#[tokio::test]
async fn no_layer_reads_a_body_past_the_limit_whatever_the_route_method_or_key() {
    let sim = Sim::start();
    let big = vec![b'x'; (1 << 20) + 1];
    // POST with a key: the idempotency layer reads the body first; it is cut off.
    let req = base(Method::POST, "/api/v1/material-documents")
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", "big-1")
        .body(Body::from(big.clone()))
        .expect("request");
    sim.send(req)
        .await
        .assert_problem(413, "payload-too-large", "limit");
    // A declared length over the limit is answered before anything is read.
    let req = base(Method::PUT, "/api/v1/material-documents")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, (50u64 << 20).to_string())
        .header("idempotency-key", "big-2")
        .body(Body::from(big))
        .expect("request");
    sim.send(req)
        .await
        .assert_problem(413, "payload-too-large", "limit");
}

#[tokio::test]
async fn a_method_the_route_lacks_is_405_problem_json_with_allow_whatever_its_key() {
    let sim = Sim::start();
    let body = consume_r1(1.0);
    sim.post_keyed("/api/v1/material-documents", &body, "k-405")
        .await
        .assert_status(201);
    let req = json_request(
        Method::PUT,
        "/api/v1/material-documents",
        &body,
        Some("k-405"),
    );
    let r = sim.send(req).await;
    r.assert_problem(405, "method-not-allowed", "does not take PUT");
    assert_eq!(r.header("allow"), Some("POST"), "{:?}", r.headers);
}
