//! Plant scope on every route of the ERP: a token scoped to another plant reads nothing of
//! plant 1000 and changes nothing there. The table must name every path and method of the
//! ERP's OpenAPI document, so a new route without a scope check fails here.

use axum::body::Body;
use axum::http::{Method, header};
use serde_json::{Value, json};

use crate::helpers::*;

async fn token(sim: &Sim, scope: &str) -> String {
    let req = base(Method::POST, "/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=client_credentials&client_id=andon&client_secret=andon-secret&scope={scope}"
        )))
        .expect("request");
    let body = sim.send(req).await.assert_status(200);
    body["access_token"].as_str().expect("token").to_string()
}

async fn call(sim: &Sim, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut b = base(method, path).header(header::AUTHORIZATION, format!("Bearer {token}"));
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    sim.send(b.body(body).expect("request")).await
}

fn example(kind: &str, name: &str) -> Value {
    let file = format!(
        "{}/../contracts/examples/valid/{kind}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).expect("example")).expect("JSON")
}

/// Every (method, path) of the ERP's OpenAPI document but the token endpoint.
fn documented_routes() -> Vec<(String, String)> {
    let doc: Value = serde_norway::from_str(andon_contracts::validate::openapi(
        andon_contracts::System::Erp,
    ))
    .expect("the ERP's OpenAPI document");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() && path != "/oauth/token" {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn a_token_for_another_plant_reaches_nothing_of_plant_1000_on_any_route() {
    let sim = Sim::start();
    sim.config(json!({"auth": true})).await;
    let mine = token(&sim, "plant:1000").await;
    let other = token(&sim, "plant:2000").await;
    // A document of plant 1000, posted by its own plant.
    let doc = call(
        &sim,
        &mine,
        Method::POST,
        "/api/v1/material-documents",
        Some(consume_r1(1.0)),
    )
    .await
    .assert_status(201);
    let (year, number) = (
        doc["year"].as_i64().expect("year"),
        doc["material_document"]
            .as_str()
            .expect("number")
            .to_string(),
    );
    let before = sim.snapshot();
    let document = format!("/api/v1/material-documents/{year}/{number}");
    let reversal = format!("{document}/reversal");
    let order = format!("/api/v1/production-orders/{ORDER}");
    // (method, documented path, the request, what plant 2000 must get).
    let table: Vec<(Method, &str, String, Option<Value>, &str)> = vec![
        (
            Method::POST,
            "/api/v1/confirmations",
            "/api/v1/confirmations".into(),
            Some(confirmation(ORDER, "0010", 1.0, false)),
            "refused",
        ),
        (
            Method::POST,
            "/api/v1/material-documents",
            "/api/v1/material-documents".into(),
            Some(consume_r1(1.0)),
            "refused",
        ),
        (
            Method::GET,
            "/api/v1/material-documents/{year}/{number}",
            document.clone(),
            None,
            "refused",
        ),
        (
            Method::POST,
            "/api/v1/material-documents/{year}/{number}/reversal",
            reversal,
            Some(example("api__ReversalRequest", "basic")),
            "refused",
        ),
        (
            Method::POST,
            "/api/v1/quality-notifications",
            "/api/v1/quality-notifications".into(),
            Some(example("api__QualityNotificationRequest", "from-mes")),
            "refused",
        ),
        (
            Method::GET,
            "/api/v1/stock",
            "/api/v1/stock".into(),
            None,
            "empty",
        ),
        (
            Method::GET,
            "/api/v1/stock",
            "/api/v1/stock?plant=1000".into(),
            None,
            "refused",
        ),
        (
            Method::GET,
            "/api/v1/production-orders",
            "/api/v1/production-orders".into(),
            None,
            "empty",
        ),
        (
            Method::GET,
            "/api/v1/production-orders/{order}",
            order,
            None,
            "refused",
        ),
        (
            Method::GET,
            "/api/v1/materials/{material}",
            "/api/v1/materials/FG-1".into(),
            None,
            "refused",
        ),
        (
            Method::GET,
            "/api/v1/materials/{material}",
            "/api/v1/materials/FG-1?plant=1000".into(),
            None,
            "refused",
        ),
    ];
    let covered: std::collections::BTreeSet<(String, String)> = table
        .iter()
        .map(|(m, p, ..)| (m.to_string(), p.to_string()))
        .collect();
    for route in documented_routes() {
        assert!(
            covered.contains(&route),
            "{} {} has no row in the plant-scope table",
            route.0,
            route.1
        );
    }
    for (method, _, uri, body, want) in table {
        let r = call(&sim, &other, method.clone(), &uri, body).await;
        match want {
            "refused" => {
                r.assert_problem(403, "plant-scope", "1000");
            }
            _ => {
                let v = r.assert_status(200);
                let text = v.to_string();
                assert!(
                    !text.contains("\"1000\""),
                    "{method} {uri} shows plant 1000 to a plant-2000 token: {text}"
                );
            }
        }
    }
    // Nothing of plant 1000 changed.
    assert_eq!(sim.snapshot(), before);
    // Its own plant still reads it.
    call(&sim, &mine, Method::GET, &document, None)
        .await
        .assert_status(200);
}
