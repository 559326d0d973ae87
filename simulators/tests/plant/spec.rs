//! The served contract and the servers agree: every operation of each simulator's
//! `/openapi.json` is a route of that simulator (not a 404 "No route", not a 405), and the
//! document served is the bundled one, with no reference leaving it.

use andon_contracts::System;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

use crate::helpers::sim;

async fn send(s: &andon_simulators::Simulator, method: &str, uri: &str) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    let body = if matches!(method, "POST" | "PUT") {
        req = req.header("content-type", "application/json");
        Body::from("{}")
    } else {
        Body::empty()
    };
    let resp = s
        .router
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("answer");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_documented_operation_is_a_route_of_its_simulator() {
    for system in System::ALL {
        let s = sim(system);
        let (status, doc) = send(&s, "GET", "/openapi.json").await;
        assert_eq!(status, StatusCode::OK, "{system}");
        assert_eq!(
            doc,
            andon_contracts::bundle::bundled_openapi(system).expect("bundles"),
            "{system}: /openapi.json is the bundled document"
        );
        let paths = doc["paths"].as_object().expect("paths");
        assert!(!paths.is_empty());
        for (path, item) in paths {
            // Placeholders filled with values of the right shape; the object need not exist.
            let uri = path
                .replace("{plant}", "1000")
                .replace("{year}", "2026")
                .replace("{number}", "4900000001")
                .replace(['{', '}'], "");
            for method in ["get", "post", "put", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let m = method.to_uppercase();
                let (status, body) = send(&s, &m, &uri).await;
                assert_ne!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{system}: {m} {path} is documented but not served"
                );
                let no_route = status == StatusCode::NOT_FOUND
                    && body["detail"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("No route"));
                assert!(
                    !no_route,
                    "{system}: {m} {path} is documented but not served"
                );
                assert!(
                    !status.is_server_error(),
                    "{system}: {m} {path} answered {status}: {body}"
                );
            }
        }
    }
}
