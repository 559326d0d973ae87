//! The ERP's S/4HANA dialect over HTTP: the CSRF protocol, a deep insert posting a goods
//! movement on the business core, SAP's error body for a stock deficit, repeatable requests,
//! release 2502's changes, reads with `$expand` and `$filter`, `$batch` change sets all or
//! nothing, and plants that speak another dialect.

use andon_contracts::PlantId;
use andon_simulators::SimConfig;
use andon_simulators::history::{Entry, RequestEntry};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::NaiveDate;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::helpers::{ORDER, Sim};

const MD: &str = "/plant/1000/sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV";
const PO: &str = "/plant/1000/sap/opu/odata/sap/API_PRODUCTION_ORDER_2_SRV";

fn sim(release: &str) -> Sim {
    let mut c = SimConfig::default();
    c.dialects.insert(
        PlantId::parse("1000").unwrap(),
        format!("s4hana@{release}").parse().unwrap(),
    );
    Sim::with_config(c)
}

/// `/Date(ms)/` of 2026-11-02 (in the fixture's open period).
fn posting_date() -> String {
    andon_simulators::erp::s4hana::odata::date(NaiveDate::from_ymd_opt(2026, 11, 2).unwrap())
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

async fn send(s: &Sim, req: Request<Body>) -> Answer {
    let resp = s.router.clone().oneshot(req).await.expect("answer");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// A session: the CSRF token and its cookie, fetched as a client does.
struct Session {
    token: String,
    cookie: String,
}

async fn session(s: &Sim) -> Session {
    let a = send(
        s,
        Request::get(format!("{PO}/"))
            .header("x-csrf-token", "Fetch")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let token = a.headers["x-csrf-token"].to_str().unwrap().to_string();
    let cookie = a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    Session { token, cookie }
}

fn post(path: &str, s: &Session, body: &Value, request_id: Option<&str>) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-csrf-token", &s.token)
        .header(header::COOKIE, &s.cookie)
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
    if let Some(id) = request_id {
        b = b
            .header("RequestID", id)
            .header("RepeatabilityCreation", "Mon, 02 Nov 2026 08:00:00 GMT");
    }
    b.body(Body::from(body.to_string())).unwrap()
}

fn issue(kg: &str, unit: (&str, &str)) -> Value {
    let mut item = json!({"Material": "RM-1", "Plant": "1000", "StorageLocation": "0001",
        "Batch": "R1", "GoodsMovementType": "261", "QuantityInEntryUnit": kg, "ManufacturingOrder": ORDER});
    item[unit.0] = json!(unit.1);
    json!({"GoodsMovementCode": "03", "PostingDate": posting_date(), "to_MaterialDocumentItem": {"results": [item]}})
}

fn documents(s: &Sim) -> usize {
    s.erp.state.lock().unwrap().documents.len()
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_as_sap_gateway_does() {
    let s = sim("2408");
    let no_session = Session {
        token: "x".into(),
        cookie: "SAP_SESSIONID_ANDON_100=none".into(),
    };
    let a = send(
        &s,
        post(
            &format!("{MD}/A_MaterialDocumentHeader"),
            &no_session,
            &issue("1", ("EntryUnit", "KG")),
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(a.text, "CSRF token validation failed");
    assert_eq!(a.headers["x-csrf-token"], "Required");
    assert_eq!(documents(&s), 0);
}

#[tokio::test]
async fn a_deep_insert_posts_the_goods_movement_on_the_core_and_records_it_canonically() {
    let s = sim("2408");
    let ses = session(&s).await;
    let a = send(
        &s,
        post(
            &format!("{MD}/A_MaterialDocumentHeader"),
            &ses,
            &issue("2.5", ("EntryUnit", "KG")),
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let d = &a.body["d"];
    assert_eq!(d["GoodsMovementCode"], "03");
    assert_eq!(
        d["to_MaterialDocumentItem"]["results"][0]["QuantityInBaseUnit"],
        "2.500"
    );
    assert_eq!(documents(&s), 1);
    let records = s.history.snapshot();
    let effect = records.iter().find_map(|r| match &r.entry {
        Entry::Effect {
            effect,
            key,
            traceparent,
            ..
        } if effect == "erp.goods_movement" => Some((key.clone(), traceparent.clone())),
        _ => None,
    });
    let (key, tp) = effect.expect("a goods movement effect");
    assert_eq!(key, "261:1000:RM-1:R1");
    assert!(tp.unwrap().contains("0af7651916cd43dd8448eb211c80319c"));
    let call = records.iter().find_map(|r| match r.entry.request() {
        Some(RequestEntry {
            route,
            dialect: Some(d),
            valid,
            ..
        }) if route.ends_with("A_MaterialDocumentHeader") => Some((d.clone(), *valid)),
        _ => None,
    });
    let (dialect, valid) = call.expect("the call recorded with its dialect");
    assert_eq!(
        (dialect.dialect.as_str(), valid),
        ("s4hana@2408", Some(true))
    );
    assert_eq!(
        dialect.native_route.as_deref(),
        Some("/api/v1/material-documents")
    );
    let native = dialect.native_body.unwrap().to_value();
    assert_eq!(native["items"][0]["movement_type"], "261");
}

#[tokio::test]
async fn a_stock_deficit_answers_sap_s_error_body() {
    let s = sim("2408");
    let ses = session(&s).await;
    let a = send(
        &s,
        post(
            &format!("{MD}/A_MaterialDocumentHeader"),
            &ses,
            &issue("500", ("EntryUnit", "KG")),
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(a.body["error"]["code"], "M7/021");
    assert!(
        a.body["error"]["message"]["value"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert_eq!(
        a.body["error"]["innererror"]["errordetails"][0]["code"],
        "M7/021"
    );
    assert_eq!(documents(&s), 0);
}

#[tokio::test]
async fn a_repeated_request_id_books_once_and_answers_the_stored_result() {
    let s = sim("2408");
    let ses = session(&s).await;
    let id = "6f1c2b3a4d5e6f708192a3b4c5d6e7f8";
    let path = format!("{MD}/A_MaterialDocumentHeader");
    let first = send(
        &s,
        post(&path, &ses, &issue("1", ("EntryUnit", "KG")), Some(id)),
    )
    .await;
    let again = send(
        &s,
        post(&path, &ses, &issue("1", ("EntryUnit", "KG")), Some(id)),
    )
    .await;
    assert_eq!(
        (first.status, again.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_eq!(
        first.body["d"]["MaterialDocument"],
        again.body["d"]["MaterialDocument"]
    );
    assert_eq!(again.headers["repeatabilityresult"], "accepted");
    assert_eq!(documents(&s), 1);
    let other = send(
        &s,
        post(&path, &ses, &issue("2", ("EntryUnit", "KG")), Some(id)),
    )
    .await;
    assert_eq!(other.status, 422, "{}", other.text);
    assert_eq!(other.headers["repeatabilityresult"], "rejected");
    let without_creation = Request::post(&path)
        .header("RequestID", "a1")
        .header("x-csrf-token", &ses.token)
        .header(header::COOKIE, &ses.cookie)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(issue("1", ("EntryUnit", "KG")).to_string()))
        .unwrap();
    assert_eq!(send(&s, without_creation).await.status, 400);
}

#[tokio::test]
async fn release_2502_asks_for_the_iso_unit_and_if_match_on_cancel() {
    let s = sim("2502");
    let ses = session(&s).await;
    let path = format!("{MD}/A_MaterialDocumentHeader");
    let old = send(
        &s,
        post(&path, &ses, &issue("1", ("EntryUnit", "KG")), None),
    )
    .await;
    assert_eq!(old.status, 400, "{}", old.text);
    assert!(
        old.body["error"]["message"]["value"]
            .as_str()
            .unwrap()
            .contains("EntryUnitISOCode")
    );
    let new = send(
        &s,
        post(&path, &ses, &issue("1", ("EntryUnitISOCode", "KGM")), None),
    )
    .await;
    assert_eq!(new.status, 201, "{}", new.text);
    let number = new.body["d"]["MaterialDocument"]
        .as_str()
        .unwrap()
        .to_string();
    let cancel = format!(
        "{MD}/Cancel?MaterialDocumentYear='2026'&MaterialDocument='{number}'&PostingDate=datetime'2026-11-02T00:00:00'"
    );
    let a = send(&s, post(&cancel, &ses, &json!({}), None)).await;
    assert_eq!(a.status, 428, "{}", a.text);
    let read = send(
        &s,
        Request::get(format!(
            "{MD}/A_MaterialDocumentHeader(MaterialDocumentYear='2026',MaterialDocument='{number}')"
        ))
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    let etag = read.headers[header::ETAG].to_str().unwrap().to_string();
    let mut req = post(&cancel, &ses, &json!({}), None);
    req.headers_mut()
        .insert(header::IF_MATCH, etag.parse().unwrap());
    let a = send(&s, req).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(documents(&s), 2);
}

#[tokio::test]
async fn reads_expand_filter_and_serve_metadata() {
    let s = sim("2408");
    let a = send(
        &s,
        Request::get(format!(
            "{PO}/A_ProductionOrder_2('{ORDER}')?$expand=to_ProductionOrderComponent"
        ))
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["d"]["TotalQuantity"], "100.000");
    assert_eq!(
        a.body["d"]["to_ProductionOrderComponent"]["results"][0]["Material"],
        "RM-1"
    );
    assert!(a.headers.contains_key(header::ETAG));
    let stock = "/plant/1000/sap/opu/odata/sap/API_MATERIAL_STOCK_SRV/A_MatlStkInAcctMod?$filter=Material%20eq%20'RM-1'%20and%20Batch%20eq%20'R1'&$inlinecount=allpages";
    let a = send(&s, Request::get(stock).body(Body::empty()).unwrap()).await;
    assert_eq!(a.body["d"]["__count"], "1", "{}", a.text);
    assert_eq!(
        a.body["d"]["results"][0]["MatlWrhsStkQtyInMatlBaseUnit"],
        "100.000"
    );
    assert_eq!(a.body["d"]["results"][0]["InventoryStockType"], "01");
    let a = send(
        &s,
        Request::get(format!("{MD}/$metadata"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.headers[header::CONTENT_TYPE], "application/xml");
    assert!(a.text.contains("A_MaterialDocumentHeader"));
}

#[tokio::test]
async fn a_change_set_with_a_failing_operation_books_nothing() {
    let s = sim("2408");
    let ses = session(&s).await;
    let part = |body: &Value| {
        format!(
            "--cs\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nPOST A_MaterialDocumentHeader HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}\r\n"
        )
    };
    let batch = format!(
        "--b\r\nContent-Type: multipart/mixed; boundary=cs\r\n\r\n{}{}--cs--\r\n--b--\r\n",
        part(&issue("1", ("EntryUnit", "KG"))),
        part(&issue("500", ("EntryUnit", "KG")))
    );
    let mut req = post(&format!("{MD}/$batch"), &ses, &json!({}), None);
    *req.body_mut() = Body::from(batch.clone());
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "multipart/mixed; boundary=b".parse().unwrap(),
    );
    let a = send(&s, req).await;
    assert_eq!(a.status, 202, "{}", a.text);
    assert!(
        a.text.contains("HTTP/1.1 400") && a.text.contains("M7/021"),
        "{}",
        a.text
    );
    assert_eq!(documents(&s), 0, "the first operation was rolled back");
    let ok = batch.replace("\"500\"", "\"2\"");
    let mut req = post(&format!("{MD}/$batch"), &ses, &json!({}), None);
    *req.body_mut() = Body::from(ok);
    req.headers_mut().insert(
        header::CONTENT_TYPE,
        "multipart/mixed; boundary=b".parse().unwrap(),
    );
    let a = send(&s, req).await;
    assert_eq!(a.text.matches("HTTP/1.1 201").count(), 2, "{}", a.text);
    assert_eq!(documents(&s), 2);
}

#[tokio::test]
async fn a_plant_that_speaks_andon_has_no_s4hana_system() {
    let s = sim("2408");
    let a = send(
        &s,
        Request::get("/plant/2000/sap/opu/odata/sap/API_PRODUCT_SRV/A_Product('RM-1')")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 404);
    assert_eq!(a.body["error"]["code"], "/IWBEP/CM_MGW_RT/020");
}

#[tokio::test]
async fn a_quality_notification_is_created_and_read_back() {
    let s = sim("2502");
    let ses = session(&s).await;
    let qn = "/plant/1000/sap/opu/odata/sap/API_QUALITYNOTIFICATION_SRV/A_QualityNotification";
    let body = json!({"NotificationType": "Q3", "NotificationText": "Cracked housing", "Material": "RM-1",
        "Plant": "1000", "Batch": "R1", "DefectCode": "CRACK", "ExternalReference": "NC-42"});
    let a = send(&s, post(qn, &ses, &body, None)).await;
    assert_eq!(a.status, 201, "{}", a.text);
    let id = a.body["d"]["QualityNotification"]
        .as_str()
        .unwrap()
        .to_string();
    let read = send(
        &s,
        Request::get(format!("{qn}('{id}')"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        read.body["d"]["ExternalReference"], "NC-42",
        "{}",
        read.text
    );
    assert_eq!(read.body["d"]["DefectCode"], "CRACK");
    let effect = s.history.snapshot().into_iter().any(|r| {
        matches!(&r.entry,
        Entry::Effect { effect, key, .. } if effect == "erp.quality_notification" && key == "NC-42")
    });
    assert!(effect, "the effect is recorded canonically");
    let mut bad = body.clone();
    bad["Priority"] = json!("1");
    let a = send(&s, post(qn, &ses, &bad, None)).await;
    assert_eq!(a.status, 400);
    assert!(
        a.body["error"]["message"]["value"]
            .as_str()
            .unwrap()
            .contains("Property 'Priority' is invalid")
    );
}

#[tokio::test]
async fn faults_act_on_the_dialect_s_services() {
    let s = sim("2408");
    let ses = session(&s).await;
    s.apply_fault(json!({"kind": "unavailable", "retry_after": "2s", "path": "/plant/1000/sap/"}))
        .await;
    let a = send(
        &s,
        post(
            &format!("{MD}/A_MaterialDocumentHeader"),
            &ses,
            &issue("1", ("EntryUnit", "KG")),
            None,
        ),
    )
    .await;
    assert_eq!(a.status, 503, "{}", a.text);
    assert_eq!(a.headers[header::RETRY_AFTER], "2");
    assert_eq!(documents(&s), 0);
}

#[tokio::test]
async fn a_confirmation_is_booked_and_cancelled_once() {
    let s = sim("2408");
    let ses = session(&s).await;
    let conf = "/plant/1000/sap/opu/odata/sap/API_PROD_ORDER_CONFIRMATION_2_SRV";
    let body = json!({"OrderID": ORDER, "OrderOperation": "0010", "ConfirmationUnit": "PC",
        "ConfirmationYieldQuantity": "10", "PostingDate": posting_date()});
    let a = send(
        &s,
        post(&format!("{conf}/ProdnOrdConf2"), &ses, &body, None),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let (g, n) = (
        a.body["d"]["ConfirmationGroup"]
            .as_str()
            .unwrap()
            .to_string(),
        a.body["d"]["ConfirmationCount"]
            .as_str()
            .unwrap()
            .to_string(),
    );
    let cancel =
        format!("{conf}/CancelProdnOrdConf?ConfirmationGroup='{g}'&ConfirmationCount='{n}'");
    let a = send(&s, post(&cancel, &ses, &json!({}), None)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.body["d"]["IsReversal"], true);
    assert_eq!(a.body["d"]["ConfirmationYieldQuantity"], "10.000");
    let again = send(&s, post(&cancel, &ses, &json!({}), None)).await;
    assert_eq!(again.status, 400, "{}", again.text);
    let read = send(
        &s,
        Request::get(format!(
            "{conf}/ProdnOrdConf2(ConfirmationGroup='{g}',ConfirmationCount='{n}')"
        ))
        .body(Body::empty())
        .unwrap(),
    )
    .await;
    assert_eq!(read.body["d"]["IsReversed"], true, "{}", read.text);
    let order = s
        .erp
        .state
        .lock()
        .unwrap()
        .orders
        .values()
        .find(|r| r.order.order.as_str() == ORDER)
        .unwrap()
        .confirmed_yield
        .clone();
    assert_eq!(order.get("0010").copied(), Some(0));
}
