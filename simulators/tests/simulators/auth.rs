//! Optional OAuth 2.0 client credentials with plant-scoped bearer tokens.

use axum::body::Body;
use axum::http::{Method, header};
use serde_json::{Value, json};

use crate::helpers::*;

const PATH: &str = "/api/v1/material-documents";

async fn token(sim: &Sim, form: &str) -> Reply {
    let req = base(Method::POST, "/oauth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .expect("request");
    sim.send(req).await
}

async fn access_token(sim: &Sim, scope: &str) -> String {
    let body = token(
        sim,
        &format!(
            "grant_type=client_credentials&client_id=andon&client_secret=andon-secret&scope={scope}"
        ),
    )
    .await
    .assert_status(200);
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().expect("token").to_string()
}

async fn post_with(sim: &Sim, token: Option<&str>, body: &Value) -> Reply {
    let mut b = base(Method::POST, PATH).header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    sim.send(
        b.body(Body::from(serde_json::to_vec(body).expect("json")))
            .expect("request"),
    )
    .await
}

async fn get_with(sim: &Sim, token: &str, path: &str) -> Reply {
    sim.send(
        base(Method::GET, path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

async fn with_auth() -> Sim {
    let sim = Sim::start();
    let cfg = sim.config(json!({"auth": true})).await;
    assert_eq!(cfg["auth"], true);
    sim
}

#[tokio::test]
async fn without_a_token_the_api_answers_401_with_www_authenticate_bearer() {
    let sim = with_auth().await;
    let before = sim.snapshot();
    let r = post_with(&sim, None, &consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        401,
        "unauthorized",
        "A bearer token is required",
    );
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer")),
        "{:?}",
        r.headers
    );
    let r = sim.get("/api/v1/stock").await;
    r.assert_problem(401, "unauthorized", "bearer token");
    let r = post_with(&sim, Some("made-up"), &consume_r1(1.0)).await;
    sim.assert_rejected(&before, &r, 401, "unauthorized", "Unknown access token");
    assert!(r.header("www-authenticate").is_some());
}

#[tokio::test]
async fn the_admin_api_needs_no_token() {
    let sim = with_auth().await;
    sim.get("/_andon/health").await.assert_status(200);
}

#[tokio::test]
async fn a_token_scoped_to_the_plant_works() {
    let sim = with_auth().await;
    let t = access_token(&sim, "plant:1000").await;
    post_with(&sim, Some(&t), &consume_r1(1.0))
        .await
        .assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 99_000);
    let stock = get_with(&sim, &t, "/api/v1/stock?plant=1000")
        .await
        .assert_status(200);
    assert_eq!(stock["stock"][0]["quantity"]["value"], 99.0);
}

#[tokio::test]
async fn a_token_of_another_plant_is_403_plant_scope() {
    let sim = with_auth().await;
    let t = access_token(&sim, "plant:2000").await;
    let before = sim.snapshot();
    let r = post_with(&sim, Some(&t), &consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        403,
        "plant-scope",
        "not authorised for plant 1000",
    );
    get_with(&sim, &t, "/api/v1/stock?plant=1000")
        .await
        .assert_problem(403, "plant-scope", "plant 1000");
    get_with(&sim, &t, &format!("/api/v1/production-orders/{ORDER}"))
        .await
        .assert_problem(403, "plant-scope", "plant 1000");
    let mut req = json_request(
        Method::POST,
        "/api/v1/confirmations",
        &confirmation(ORDER, "0010", 1.0, false),
        None,
    );
    req.headers_mut().insert(
        header::AUTHORIZATION,
        format!("Bearer {t}").parse().expect("header"),
    );
    let r = sim.send(req).await;
    sim.assert_rejected(&before, &r, 403, "plant-scope", "plant 1000");
    // Unfiltered lists only show the token's plants.
    let stock = get_with(&sim, &t, "/api/v1/stock").await.assert_status(200);
    assert_eq!(stock["stock"], json!([]));
    let orders = get_with(&sim, &t, "/api/v1/production-orders")
        .await
        .assert_status(200);
    assert_eq!(orders["orders"], json!([]));
}

#[tokio::test]
async fn a_403_is_not_stored_under_the_idempotency_key() {
    let sim = with_auth().await;
    let other = access_token(&sim, "plant:2000").await;
    let body = consume_r1(1.0);
    let send = |t: String| {
        let body = body.clone();
        let sim = &sim;
        async move {
            let req = base(Method::POST, PATH)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {t}"))
                .header("idempotency-key", "k")
                .body(Body::from(serde_json::to_vec(&body).expect("json")))
                .expect("request");
            sim.send(req).await
        }
    };
    send(other).await.assert_problem(403, "plant-scope", "");
    let mine = access_token(&sim, "plant:1000").await;
    let r = send(mine).await;
    r.assert_status(201);
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn token_expiry_answers_401_until_a_new_token_is_fetched() {
    let sim = with_auth().await;
    let old = access_token(&sim, "plant:1000").await;
    post_with(&sim, Some(&old), &consume_r1(1.0))
        .await
        .assert_status(201);
    let id = sim.apply_fault(json!({"kind": "token_expiry"})).await;
    let before = sim.snapshot();
    let r = post_with(&sim, Some(&old), &consume_r1(1.0)).await;
    sim.assert_rejected(
        &before,
        &r,
        401,
        "unauthorized",
        "The access token has expired",
    );
    assert!(r.header("www-authenticate").is_some());
    let again = post_with(&sim, Some(&old), &consume_r1(1.0)).await;
    again.assert_problem(401, "unauthorized", "expired");
    let new = access_token(&sim, "plant:1000").await;
    post_with(&sim, Some(&new), &consume_r1(1.0))
        .await
        .assert_status(201);
    assert_eq!(sim.r1_unrestricted(), 98_000);
    sim.clear_fault(&id).await;
}

#[tokio::test]
async fn token_expiry_is_refused_while_authentication_is_off() {
    let sim = Sim::start();
    let r = sim
        .send(json_request(
            Method::POST,
            "/_andon/faults",
            &json!({"kind": "token_expiry"}),
            None,
        ))
        .await;
    r.assert_problem(422, "auth-disabled", "needs authentication on");
}

#[tokio::test]
async fn bad_token_requests_are_refused() {
    let sim = with_auth().await;
    token(
        &sim,
        "grant_type=password&client_id=andon&client_secret=andon-secret",
    )
    .await
    .assert_problem(
        400,
        "invalid-request",
        "grant_type must be client_credentials",
    );
    token(
        &sim,
        "grant_type=client_credentials&client_id=andon&client_secret=guess",
    )
    .await
    .assert_problem(401, "invalid-client", "Client authentication failed");
    token(
        &sim,
        "grant_type=client_credentials&client_id=andon&client_secret=andon-secret&scope=plant:10",
    )
    .await
    .assert_problem(400, "invalid-request", "must be plant:<4 characters>");
    let json_body = sim
        .send(json_request(
            Method::POST,
            "/oauth/token",
            &json!({"grant_type": "client_credentials"}),
            None,
        ))
        .await;
    json_body.assert_problem(400, "invalid-request", "application/x-www-form-urlencoded");
}

#[tokio::test]
async fn with_an_admin_token_the_admin_api_needs_it_but_health_and_the_contract_do_not() {
    let sim = Sim::start();
    sim.erp.core.set_admin_token(Some("s3cret".into()));
    let put = |token: Option<&str>| {
        let mut b =
            base(Method::PUT, "/_andon/config").header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        b.body(Body::from(r#"{"auth": false}"#)).expect("request")
    };
    sim.send(put(None))
        .await
        .assert_problem(401, "admin-unauthorized", "admin token");
    sim.send(put(Some("wrong")))
        .await
        .assert_problem(401, "admin-unauthorized", "admin token");
    sim.get("/_andon/history")
        .await
        .assert_problem(401, "admin-unauthorized", "admin token");
    sim.send(put(Some("s3cret"))).await.assert_status(200);
    sim.get("/_andon/health").await.assert_status(200);
    sim.get("/openapi.json").await.assert_status(200);
    // Without a token (loopback), the admin API is open as before.
    sim.erp.core.set_admin_token(None);
    sim.get("/_andon/history").await.assert_status(200);
}
