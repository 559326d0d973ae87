//! The ERP's Business Central dialect over HTTP: the company and its production orders read
//! back, journal lines that post on the business core (and again when posted again: there
//! is no idempotency key), read-back by document number, Business Central's error body,
//! release 25's required fields, webhook subscriptions with the validation handshake and
//! renewal with `If-Match`, isolated `$batch` all or nothing.

use andon_contracts::PlantId;
use andon_simulators::SimConfig;
use andon_simulators::erp::bc::entities::company_id;
use andon_simulators::history::{Entry, RequestEntry};
use axum::body::Body;
use axum::http::{Method, Request, header};
use serde_json::{Value, json};

use super::helpers::{ORDER, Reply, Sim, TRACEPARENT};

fn sim(release: &str) -> Sim {
    let mut c = SimConfig::default();
    c.dialects.insert(
        PlantId::parse("1000").unwrap(),
        format!("business-central@{release}").parse().unwrap(),
    );
    Sim::with_config(c)
}

fn company() -> String {
    company_id(&PlantId::parse("1000").unwrap())
}

fn mfg(set: &str) -> String {
    format!(
        "/plant/1000/api/andon/manufacturing/v1.0/companies({})/{set}",
        company()
    )
}

fn std_api(set: &str) -> String {
    format!("/plant/1000/api/v2.0/companies({})/{set}", company())
}

async fn call(
    s: &Sim,
    method: Method,
    path: &str,
    body: Option<&Value>,
    if_match: Option<&str>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("traceparent", TRACEPARENT)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(m) = if_match {
        b = b.header(header::IF_MATCH, m);
    }
    let body = body.map_or_else(Body::empty, |v| Body::from(v.to_string()));
    s.send(b.body(body).unwrap()).await
}

fn consumption(doc: &str, qty: f64) -> Value {
    json!({"documentNumber": doc, "entryType": "Consumption", "itemNumber": "RM-1",
        "locationCode": "0001", "lotNumber": "R1", "quantity": qty, "unitOfMeasureCode": "KG",
        "postingDate": "2026-11-02", "orderNumber": ORDER})
}

#[tokio::test]
async fn the_company_and_its_orders_read_back_with_routing_and_components() {
    let s = sim("25");
    let r = call(
        &s,
        Method::GET,
        "/plant/1000/api/v2.0/companies",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["value"][0]["id"], company());
    assert!(r.headers[header::DATE].to_str().unwrap().ends_with("GMT"));
    let path = format!(
        "{}?$filter=number eq '{ORDER}'&$expand=routingLines,components",
        mfg("productionOrders")
    );
    let r = call(&s, Method::GET, &path.replace(' ', "%20"), None, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let o = &r.json()["value"][0];
    assert_eq!(o["number"], ORDER);
    assert_eq!(o["status"], "Released");
    assert_eq!(o["routingLines"][0]["operationNumber"], "0010");
    assert!(o["@odata.etag"].as_str().unwrap().starts_with("W/"));
    let id = o["id"].as_str().unwrap();
    let r = call(
        &s,
        Method::GET,
        &format!("{}({id})", mfg("productionOrders")),
        None,
        None,
    )
    .await;
    assert_eq!(r.json()["number"], ORDER);
    let r = call(
        &s,
        Method::GET,
        "/plant/2000/api/v2.0/companies",
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404, "plant 2000 speaks andon: {}", r.text());
}

#[tokio::test]
async fn a_consumption_line_posts_on_the_core_every_time_it_is_sent() {
    let s = sim("25");
    for _ in 0..2 {
        let r = call(
            &s,
            Method::POST,
            &mfg("itemJournalLines"),
            Some(&consumption("WO1-261", 2.5)),
            None,
        )
        .await;
        assert_eq!(r.status, 201, "{}", r.text());
        assert!(r.json()["entryNumber"].as_u64().is_some());
    }
    let effects = s.effects("erp.goods_movement");
    assert_eq!(
        effects.len(),
        2,
        "no idempotency key: the same line posts twice"
    );
    let path = format!(
        "{}?$filter=documentNumber eq 'WO1-261'",
        std_api("itemLedgerEntries")
    );
    let r = call(&s, Method::GET, &path.replace(' ', "%20"), None, None).await;
    let rows = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["entryType"].as_str(), rows[0]["quantity"].as_f64()),
        (Some("Consumption"), Some(-2.5))
    );
    let call = s
        .history
        .snapshot()
        .into_iter()
        .find_map(|r| match r.entry {
            Entry::Request(req) => match *req {
                RequestEntry {
                    route,
                    dialect: Some(d),
                    valid,
                    ..
                } if route.ends_with("itemJournalLines") => Some((d, valid)),
                _ => None,
            },
            _ => None,
        });
    let (d, valid) = call.expect("the call recorded with its dialect");
    assert_eq!(
        (d.dialect.as_str(), valid),
        ("business-central@25", Some(true))
    );
    assert_eq!(
        d.native_route.as_deref(),
        Some("/api/v1/material-documents")
    );
    assert_eq!(
        d.native_body.unwrap().to_value()["items"][0]["movement_type"],
        "261"
    );
}

#[tokio::test]
async fn a_stock_deficit_and_a_missing_unit_answer_business_central_errors() {
    let s = sim("25");
    let r = call(
        &s,
        Method::POST,
        &mfg("itemJournalLines"),
        Some(&consumption("D2", 500.0)),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let e = &r.json()["error"];
    assert!(!e["code"].as_str().unwrap().is_empty());
    assert!(e["message"].as_str().unwrap().contains("CorrelationId"));
    let mut body = consumption("D3", 1.0);
    body.as_object_mut().unwrap().remove("unitOfMeasureCode");
    let r = call(
        &s,
        Method::POST,
        &mfg("itemJournalLines"),
        Some(&body),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "release 25 requires the unit: {}", r.text());
    let s24 = sim("24");
    let r = call(
        &s24,
        Method::POST,
        &mfg("itemJournalLines"),
        Some(&body),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "release 24 defaults it: {}", r.text());
}

/// A subscriber on a local port: answers the handshake when `echo`, records notifications.
async fn subscriber(echo: bool) -> String {
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                let token = q.get("validationToken").cloned().unwrap_or_default();
                if echo { token } else { String::new() }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/hook")
}

#[tokio::test]
async fn a_subscription_is_validated_lives_three_days_and_is_renewed_with_its_etag() {
    let s = sim("25");
    let subs = "/plant/1000/api/v2.0/subscriptions";
    let resource = format!(
        "api/andon/manufacturing/v1.0/companies({})/productionOrders",
        company()
    );
    let bad = json!({"notificationUrl": subscriber(false).await, "resource": resource});
    let r = call(&s, Method::POST, subs, Some(&bad), None).await;
    assert_eq!(r.status, 400, "no echo, no subscription: {}", r.text());
    let good = json!({"notificationUrl": subscriber(true).await, "resource": resource, "clientState": "s3cret"});
    let r = call(&s, Method::POST, subs, Some(&good), None).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let sub = r.json();
    let expires =
        chrono::DateTime::parse_from_rfc3339(sub["expirationDateTime"].as_str().unwrap()).unwrap();
    let now = s.erp.core.clock.now();
    let left = expires.signed_duration_since(now);
    assert!(
        left > chrono::Duration::hours(71) && left <= chrono::Duration::hours(72),
        "{left}"
    );
    let one = format!("{subs}('{}')", sub["subscriptionId"].as_str().unwrap());
    let r = call(&s, Method::PATCH, &one, Some(&good), None).await;
    assert_eq!(r.status, 428, "{}", r.text());
    let r = call(&s, Method::PATCH, &one, Some(&good), Some("W/\"stale\"")).await;
    assert_eq!(r.status, 412, "{}", r.text());
    let r = call(
        &s,
        Method::PATCH,
        &one,
        Some(&good),
        sub["@odata.etag"].as_str(),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let notes: Vec<String> = s
        .history
        .snapshot()
        .into_iter()
        .filter_map(|r| match r.entry {
            Entry::Note { name, detail } if name == "bc.subscription" => {
                Some(detail.to_value()["op"].as_str().unwrap().to_string())
            }
            _ => None,
        })
        .collect();
    assert_eq!(notes, ["created", "renewed"]);
    let r = call(&s, Method::DELETE, &one, None, None).await;
    assert_eq!(r.status, 204);
    let r = call(&s, Method::GET, &one, None, None).await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn an_isolated_batch_with_a_failing_line_posts_nothing() {
    let s = sim("25");
    let batch = json!({"requests": [
        {"id": "1", "method": "POST", "url": format!("companies({})/itemJournalLines", company()), "body": consumption("B1", 1.0)},
        {"id": "2", "method": "POST", "url": format!("companies({})/itemJournalLines", company()), "body": consumption("B2", 900.0)},
    ]});
    let path = "/plant/1000/api/andon/manufacturing/v1.0/$batch";
    let mut b = Request::post(path)
        .header("traceparent", TRACEPARENT)
        .header(header::CONTENT_TYPE, "application/json");
    b = b.header("isolation", "snapshot");
    let r = s.send(b.body(Body::from(batch.to_string())).unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let statuses: Vec<u64> = r.json()["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [400, 400]);
    assert!(s.effects("erp.goods_movement").is_empty());
    let r = call(&s, Method::POST, path, Some(&batch), None).await;
    let statuses: Vec<u64> = r.json()["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [201, 400],
        "without isolation each line stands alone"
    );
    assert_eq!(s.effects("erp.goods_movement").len(), 1);
}
