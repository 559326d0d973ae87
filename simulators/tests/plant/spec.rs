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

/// Every operation of each S/4HANA release's OpenAPI document is served under a plant's
/// base URL (not "Resource not found for segment", not 405, never a 5xx), and the plant
/// serves that document.
#[tokio::test]
async fn every_documented_s4hana_operation_is_served_in_each_release() {
    for release in ["2408", "2502"] {
        let mut config = andon_simulators::SimConfig::default();
        config.dialects.insert(
            andon_contracts::PlantId::parse("1000").expect("plant"),
            format!("s4hana@{release}").parse().expect("binding"),
        );
        let s = crate::helpers::sim_with(System::Erp, config, crate::helpers::master());
        let (status, doc) = send(&s, "GET", "/plant/1000/openapi.json").await;
        assert_eq!(status, StatusCode::OK, "{release}");
        let bundled = andon_contracts::dialects::s4hana::openapi_json(release).expect("doc");
        assert_eq!(
            doc, bundled,
            "{release}: the plant serves its release's document"
        );
        let fetch = s
            .router
            .clone()
            .oneshot(
                Request::get("/plant/1000/sap/opu/odata/sap/API_PRODUCT_SRV/")
                    .header("x-csrf-token", "Fetch")
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("answer");
        let token = fetch.headers()["x-csrf-token"].clone();
        let cookie = fetch.headers()["set-cookie"]
            .to_str()
            .expect("cookie")
            .split(';')
            .next()
            .expect("cookie")
            .to_string();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let mut uri = format!("/plant/1000{path}");
            while let (Some(a), Some(b)) = (uri.find('{'), uri.find('}')) {
                uri.replace_range(a..=b, "1");
            }
            for method in ["get", "post", "patch", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let m = method.to_uppercase();
                let resp = s
                    .router
                    .clone()
                    .oneshot(
                        Request::builder()
                            .method(m.as_str())
                            .uri(uri.replace('\'', "%27"))
                            .header("content-type", "application/json")
                            .header("x-csrf-token", token.clone())
                            .header("cookie", &cookie)
                            .body(Body::from("{}"))
                            .expect("request"),
                    )
                    .await
                    .expect("answer");
                let status = resp.status();
                let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
                    .await
                    .expect("body");
                let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let message = body["error"]["message"]["value"].as_str().unwrap_or("");
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED
                        && !message.starts_with("Resource not found for segment")
                        && !message.contains("does not take POST")
                        && !status.is_server_error(),
                    "{release}: {m} {path} is documented but not served: {status} {body}"
                );
            }
        }
    }
}

/// Every operation of each Business Central release's OpenAPI document is served under a
/// plant's base URL (not `BadRequest_ResourceNotFound`, not 405, never a 5xx), and the plant
/// serves that document.
#[tokio::test]
async fn every_documented_business_central_operation_is_served_in_each_release() {
    let plant = andon_contracts::PlantId::parse("1000").expect("plant");
    let company = andon_simulators::erp::bc::entities::company_id(&plant);
    for release in ["24", "25"] {
        let mut config = andon_simulators::SimConfig::default();
        config.dialects.insert(
            plant.clone(),
            format!("business-central@{release}")
                .parse()
                .expect("binding"),
        );
        let s = crate::helpers::sim_with(System::Erp, config, crate::helpers::master());
        let (status, doc) = send(&s, "GET", "/plant/1000/openapi.json").await;
        assert_eq!(status, StatusCode::OK, "{release}");
        let bundled =
            andon_contracts::dialects::business_central::openapi_json(release).expect("doc");
        assert_eq!(
            doc, bundled,
            "{release}: the plant serves its release's document"
        );
        for (path, item) in doc["paths"].as_object().expect("paths") {
            let mut uri = format!("/plant/1000{}", path.replace("{company}", &company));
            while let (Some(a), Some(b)) = (uri.find('{'), uri.find('}')) {
                uri.replace_range(a..=b, "1");
            }
            for method in ["get", "post", "patch", "delete"] {
                if item.get(method).is_none() {
                    continue;
                }
                let m = method.to_uppercase();
                let (status, body) = send(&s, &m, &uri.replace('\'', "%27")).await;
                let code = body["error"]["code"].as_str().unwrap_or("");
                assert!(
                    status != StatusCode::METHOD_NOT_ALLOWED
                        && code != "BadRequest_ResourceNotFound"
                        && !status.is_server_error(),
                    "{release}: {m} {path} is documented but not served: {status} {body}"
                );
            }
        }
    }
}
