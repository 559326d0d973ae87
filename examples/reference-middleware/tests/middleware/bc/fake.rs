//! A small fake of a plant's Business Central system (the design in `notes/bc-design.md`,
//! only what the middleware calls) and a fake MES/QMS/WMS that records what it is sent.
//! Every answer of the fake ERP carries a `Date` of its own business clock, which the test
//! moves at will.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const CID: &str = "5d115c9c-44e3-ef11-9345-6045bde9ca09";
pub const ORDER_ID: &str = "8f1c1f43-2a5c-4a6b-9d0e-0a1b2c3d4e5f";
pub const ITEM_ID: &str = "1b2c3d4e-0000-4a6b-9d0e-0a1b2c3d4e5f";
pub const PLANT: &str = "1000";

/// One request a fake was sent.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Below the plant base for the ERP (`api/v2.0/companies`), the full path otherwise.
    pub path: String,
    /// Percent-decoded.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Value,
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A subscription of the fake.
#[derive(Debug, Clone)]
pub struct Sub {
    pub id: String,
    pub etag: u32,
    pub resource: String,
    pub url: String,
    pub client_state: String,
    pub expires: DateTime<Utc>,
}

impl Sub {
    pub fn etag(&self) -> String {
        format!("W/\"JzE{};\"", self.etag)
    }

    fn json(&self, now: DateTime<Utc>) -> Value {
        json!({"@odata.etag": self.etag(), "subscriptionId": self.id, "notificationUrl": self.url,
               "resource": self.resource, "userId": "00000000-0000-0000-0000-000000000001",
               "lastModifiedDateTime": now.to_rfc3339(), "clientState": self.client_state,
               "expirationDateTime": self.expires.to_rfc3339()})
    }
}

/// The state of the fake ERP.
#[derive(Debug)]
pub struct Bc {
    pub now: DateTime<Utc>,
    pub seen: Vec<Seen>,
    pub subs: Vec<Sub>,
    pub created: usize,
    pub item_ledger: Vec<Value>,
    pub capacity_ledger: Vec<Value>,
    /// The next journal-line insert is posted, but its answer comes too late.
    pub lose_next_post: bool,
    /// The next `PATCH` is refused 412 (the subscription changed meanwhile).
    pub refuse_next_patch: bool,
    /// The next insert is refused with this status and error code (nothing posted; a 429
    /// says `Retry-After: 1`).
    pub refuse_next_post: Option<(u16, &'static str)>,
}

pub type Shared = Arc<Mutex<Bc>>;

/// A running fake: its URL and state.
pub struct Fake {
    pub url: String,
    pub state: Shared,
}

impl Fake {
    pub fn with<T>(&self, f: impl FnOnce(&mut Bc) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn seen(&self, method: &str, path_contains: &str) -> Vec<Seen> {
        self.with(|b| {
            b.seen
                .iter()
                .filter(|s| s.method == method && s.path.contains(path_contains))
                .cloned()
                .collect()
        })
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn error(status: StatusCode, code: &str, message: &str) -> (StatusCode, Value) {
    (
        status,
        json!({"error": {"code": code, "message": format!("{message}  CorrelationId:  00000000-0000-0000-0000-000000000000.")}}),
    )
}

/// The handshake: the subscriber must echo the token.
async fn handshake(url: &str) -> bool {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let Ok(answer) = reqwest::Client::new()
        .post(format!("{url}?validationToken={token}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
    else {
        return false;
    };
    let plain = answer
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/plain"));
    answer.status() == 200 && plain && answer.text().await.ok().as_deref() == Some(&token)
}

fn order() -> Value {
    json!({"@odata.etag": "W/\"JzE7Jw==\"", "id": ORDER_ID, "number": "100000001", "status": "Released",
           "cancelled": false, "itemNumber": "FG-1000-01", "description": "Housing", "quantity": 480,
           "unitOfMeasureCode": "PC", "locationCode": "0002", "startingDate": "2026-11-02",
           "endingDate": "2026-11-04", "finishedQuantity": 0, "lastModifiedDateTime": "2026-11-02T06:10:00Z",
           "routingLines": [{"operationNumber": "0010", "workCenterNumber": "LINE-01", "description": "Mould", "finishedQuantity": 0}],
           "components": [{"lineNumber": "0001", "itemNumber": "RM-1000-02", "quantity": 12.5, "unitOfMeasureCode": "KG",
                           "locationCode": "0001", "consumedQuantity": 0}]})
}

fn item() -> Value {
    json!({"@odata.etag": "W/\"JzE7Jw==\"", "id": ITEM_ID, "number": "RM-1000-02", "displayName": "Resin",
           "baseUnitOfMeasureCode": "KG", "lotTracked": true, "inspectionRequired": false,
           "lastModifiedDateTime": "2026-11-02T06:10:00Z",
           "unitsOfMeasure": [{"code": "KG", "qtyPerUnitOfMeasure": 1}, {"code": "G", "qtyPerUnitOfMeasure": 0.001}]})
}

/// The value of `field eq 'X'` in a decoded `$filter`.
fn eq<'a>(query: &'a str, field: &str) -> Option<&'a str> {
    let at = query.find(&format!("{field} eq '"))? + field.len() + 5;
    let rest = &query[at..];
    Some(&rest[..rest.find('\'')?])
}

async fn subscriptions(
    state: &Shared,
    method: &Method,
    rest: &str,
    headers: &HeaderMap,
    body: &Value,
) -> (StatusCode, Value) {
    let now = state.lock().unwrap().now;
    if rest == "subscriptions" && method == Method::POST {
        let url = body["notificationUrl"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !handshake(&url).await {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "The subscription could not be validated.",
            );
        }
        let mut b = state.lock().unwrap();
        b.created += 1;
        let sub = Sub {
            id: format!("sub-{}", b.created),
            etag: 1,
            resource: body["resource"].as_str().unwrap_or_default().to_string(),
            url,
            client_state: body["clientState"].as_str().unwrap_or_default().to_string(),
            expires: now + TimeDelta::days(3),
        };
        b.subs.push(sub.clone());
        return (StatusCode::CREATED, sub.json(now));
    }
    let id = rest
        .strip_prefix("subscriptions('")
        .and_then(|r| r.strip_suffix("')"))
        .unwrap_or_default()
        .to_string();
    let Some(sub) = state
        .lock()
        .unwrap()
        .subs
        .iter()
        .find(|s| s.id == id)
        .cloned()
    else {
        return error(
            StatusCode::NOT_FOUND,
            "BadRequest_NotFound",
            "The subscription does not exist.",
        );
    };
    if method == Method::GET {
        return (StatusCode::OK, sub.json(now));
    }
    let Some(if_match) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) else {
        return error(
            StatusCode::PRECONDITION_REQUIRED,
            "Request_PreconditionRequired",
            "If-Match is required.",
        );
    };
    {
        let mut b = state.lock().unwrap();
        let stale =
            std::mem::take(&mut b.refuse_next_patch) || (if_match != "*" && if_match != sub.etag());
        if stale {
            if let Some(s) = b.subs.iter_mut().find(|s| s.id == id) {
                s.etag += 1;
            }
            return error(
                StatusCode::PRECONDITION_FAILED,
                "Request_EntityChanged",
                "Another user has already changed the record.",
            );
        }
    }
    let url = body["notificationUrl"]
        .as_str()
        .unwrap_or(&sub.url)
        .to_string();
    if !handshake(&url).await {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "The subscription could not be validated.",
        );
    }
    let mut b = state.lock().unwrap();
    let s = b.subs.iter_mut().find(|s| s.id == id).expect("still there");
    s.etag += 1;
    s.url = url;
    s.expires = now + TimeDelta::days(3);
    (StatusCode::OK, s.json(now))
}

async fn post_line(state: &Shared, set: &str, body: &Value) -> (StatusCode, Value) {
    let lose = {
        let mut b = state.lock().unwrap();
        if let Some((status, code)) = b.refuse_next_post.take() {
            let status = StatusCode::from_u16(status).unwrap();
            return error(status, code, "Refused by the test.");
        }
        let entry = json!({"entryNumber": b.item_ledger.len() + b.capacity_ledger.len() + 1,
                           "documentNumber": body["documentNumber"], "line": body});
        match set {
            "itemJournalLines" => b.item_ledger.push(entry),
            "outputJournalLines" => b.capacity_ledger.push(entry),
            _ => {}
        }
        std::mem::take(&mut b.lose_next_post)
    };
    if lose {
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    (
        StatusCode::CREATED,
        json!({"documentNumber": body["documentNumber"], "entryNumber": 1}),
    )
}

async fn route(
    state: &Shared,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &Value,
) -> (StatusCode, Value) {
    let custom = format!("api/andon/manufacturing/v1.0/companies({CID})/");
    let standard = format!("api/v2.0/companies({CID})/");
    if path == "api/v2.0/companies" {
        return (
            StatusCode::OK,
            json!({"value": [{"id": CID, "systemVersion": "24.0", "name": "PLANT 1000",
                                                  "displayName": "PLANT 1000", "businessProfileId": ""}]}),
        );
    }
    if let Some(rest) = path.strip_prefix("api/v2.0/")
        && rest.starts_with("subscriptions")
    {
        return subscriptions(state, method, rest, headers, body).await;
    }
    if let Some(set) = path.strip_prefix(&custom)
        && method == Method::POST
    {
        return post_line(state, set, body).await;
    }
    let ledger = |which: &str| {
        let b = state.lock().unwrap();
        let rows = if which == "item" {
            &b.item_ledger
        } else {
            &b.capacity_ledger
        };
        let doc = eq(query, "documentNumber").unwrap_or_default();
        let found: Vec<Value> = rows
            .iter()
            .filter(|r| r["documentNumber"] == doc)
            .cloned()
            .collect();
        (StatusCode::OK, json!({"value": found}))
    };
    match path {
        p if p == format!("{standard}itemLedgerEntries") => ledger("item"),
        p if p == format!("{custom}capacityLedgerEntries") => ledger("capacity"),
        p if p == format!("{custom}productionOrders({ORDER_ID})")
            && query.contains("$expand=routingLines,components") =>
        {
            (StatusCode::OK, order())
        }
        p if p == format!("{custom}manufacturingItems({ITEM_ID})")
            && query.contains("$expand=unitsOfMeasure") =>
        {
            (StatusCode::OK, item())
        }
        p if p == format!("{custom}manufacturingItems")
            && query.contains("$expand=unitsOfMeasure") =>
        {
            let mut i = item();
            i["number"] = json!(eq(query, "number").unwrap_or_default());
            (StatusCode::OK, json!({"value": [i]}))
        }
        p if p == format!("{custom}lotInventories") => {
            let (m, l) = (
                eq(query, "itemNumber").unwrap_or_default(),
                eq(query, "lotNumber").unwrap_or_default(),
            );
            let row = |status: &str, q: u32| {
                json!({"itemNumber": m, "locationCode": "0002", "lotNumber": l,
                                                    "inventoryStatus": status, "quantity": q, "unitOfMeasureCode": "PC"})
            };
            (
                StatusCode::OK,
                json!({"value": [row("Unrestricted", 7), row("QualityInspection", 3)]}),
            )
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "BadRequest_NotFound",
            "No such resource.",
        ),
    }
}

async fn erp(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri
        .path()
        .strip_prefix(&format!("/plant/{PLANT}/"))
        .unwrap_or(uri.path())
        .to_string();
    let query = decode(uri.query().unwrap_or_default());
    // Recorded when it arrives (an answer may come much later); its status when answered.
    let at = {
        let mut b = state.lock().unwrap();
        b.seen.push(Seen {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: headers.clone(),
            body: body.clone(),
            status: 0,
        });
        b.seen.len() - 1
    };
    let (status, answer) = route(&state, &method, &path, &query, &headers, &body).await;
    let mut b = state.lock().unwrap();
    let date = b.now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
    b.seen[at].status = status.as_u16();
    let mut r = (status, axum::Json(answer)).into_response();
    r.headers_mut()
        .insert(header::DATE, HeaderValue::from_str(&date).unwrap());
    if status == StatusCode::TOO_MANY_REQUESTS {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    r
}

async fn other(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let status = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    state.lock().unwrap().seen.push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: String::new(),
        headers,
        body,
        status: status.as_u16(),
    });
    (status, axum::Json(json!({}))).into_response()
}

async fn serve(state: Shared, router: Router<Shared>) -> Fake {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router.with_state(state.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Fake { url, state }
}

fn state() -> Shared {
    Arc::new(Mutex::new(Bc {
        now: "2026-11-02T06:00:00Z".parse().unwrap(),
        seen: Vec::new(),
        subs: Vec::new(),
        created: 0,
        item_ledger: Vec::new(),
        capacity_ledger: Vec::new(),
        lose_next_post: false,
        refuse_next_patch: false,
        refuse_next_post: None,
    }))
}

/// The fake ERP of plant 1000, its clock at 2026-11-02 06:00 business time.
pub async fn bc() -> Fake {
    serve(state(), Router::new().fallback(erp)).await
}

/// A fake MES (QMS, WMS) recording every call, answering 201 / 200.
pub async fn recorder() -> Fake {
    serve(state(), Router::new().fallback(other)).await
}
