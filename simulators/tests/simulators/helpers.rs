//! Test helpers: a small fixed plant, an ERP behind `oneshot`, request builders, replies
//! checked against the contract, and state snapshots to prove that a rejection changed
//! nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use andon_contracts::api::{Confirmation, MaterialDocument, QualityNotification};
use andon_contracts::objects::{OrderComponent, OrderOperation, OrderStatus, ProductionOrder};
use andon_contracts::{
    MaterialId, OperationId, OrderId, PlantId, Quantity, StorageLocation, System, Unit,
};
use andon_simulators::erp::{self, Erp, ErpState, StockKey};
use andon_simulators::history::Entry;
use andon_simulators::{Core, History, MasterData, SimConfig};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::NaiveDate;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The plant every test runs against: plant 1000 (and 2000, the receiving plant of 301),
/// a raw material in KG with grams as alternative unit, a finished good in pieces with
/// boxes of 12 that needs inspection on receipt, 100 KG of raw material batch R1.
pub const FIXTURE: &str = r#"
open_periods: ["2026/11", "2026/10"]
plants:
  - plant: "1000"
    company_code: "1000"
    storage_locations: ["0001"]
  - plant: "2000"
    company_code: "1000"
    storage_locations: ["0001"]
materials:
  - material: RM-1
    description: Raw material
    base_unit: KG
    alternative_units:
      - {unit: G, numerator: 1, denominator: 1000}
    batch_managed: true
    inspection_required: false
    plants: ["1000", "2000"]
  - material: FG-1
    description: Finished good
    base_unit: PC
    alternative_units:
      - {unit: BOX, numerator: 12, denominator: 1}
    batch_managed: true
    inspection_required: true
    plants: ["1000"]
stock:
  - plant: "1000"
    storage_location: "0001"
    material: RM-1
    batch: R1
    stock_type: unrestricted
    quantity: {value: 100, unit: KG}
"#;

/// A released order for 100 PC of FG-1 with operations 0010 and 0020.
pub const ORDER: &str = "100000001";
/// An order still in status Created (CRTD).
pub const ORDER_CREATED: &str = "100000002";
/// An order flagged for deletion.
pub const ORDER_CANCELLED: &str = "100000003";
/// A date in the open period 2026/11.
pub const TODAY: &str = "2026-11-02";

/// The fixture's master data.
pub fn master() -> MasterData {
    MasterData::parse(FIXTURE, "fixture.yaml").expect("the fixture parses")
}

fn order(id: &str, status: OrderStatus) -> ProductionOrder {
    let u = |s: &str| Unit::parse(s).expect("unit");
    let op = |o: &str| OrderOperation {
        operation: OperationId::parse(o).expect("operation"),
        work_center: "LINE-1".into(),
        description: "Fill".into(),
    };
    ProductionOrder {
        order: OrderId::parse(id).expect("order"),
        order_type: "PP01".into(),
        plant: PlantId::parse("1000").expect("plant"),
        material: MaterialId::parse("FG-1").expect("material"),
        planned_quantity: Quantity::from_milli(100_000, u("PC")),
        storage_location: StorageLocation::parse("0001").expect("sloc"),
        status,
        production_hold: false,
        basic_start: NaiveDate::from_ymd_opt(2026, 11, 2).expect("date"),
        basic_finish: NaiveDate::from_ymd_opt(2026, 11, 3).expect("date"),
        operations: vec![op("0010"), op("0020")],
        components: vec![OrderComponent {
            reservation_item: "0001".into(),
            material: MaterialId::parse("RM-1").expect("material"),
            quantity: Quantity::from_milli(50_000, u("KG")),
            storage_location: StorageLocation::parse("0001").expect("sloc"),
        }],
        confirmed_yield: None,
        confirmed_scrap: None,
    }
}

/// The fixture's production orders: released, created, cancelled.
pub fn orders() -> Vec<ProductionOrder> {
    vec![
        order(ORDER, OrderStatus::Released),
        order(ORDER_CREATED, OrderStatus::Created),
        order(ORDER_CANCELLED, OrderStatus::Cancelled),
    ]
}

/// ERP state over the fixture with its orders released (no HTTP).
pub fn erp_state() -> (MasterData, ErpState) {
    let md = master();
    let mut st = ErpState::new(&md);
    for o in orders() {
        st.release_order(o);
    }
    (md, st)
}

/// An ERP simulator over the fixture, driven through its router with `oneshot`.
pub struct Sim {
    /// The ERP (its state is `erp.state`).
    pub erp: Arc<Erp>,
    /// Its router.
    pub router: Router,
    /// Its history.
    pub history: History,
}

impl Sim {
    /// An ERP with default settings. Must run inside a tokio runtime.
    pub fn start() -> Self {
        Self::with_config(SimConfig::default())
    }

    /// An ERP with these settings.
    pub fn with_config(config: SimConfig) -> Self {
        let history = History::new();
        let core = Core::new(System::Erp, config, master(), history.clone());
        let erp = Erp::new(core);
        {
            let mut st = erp.state.lock().expect("state lock");
            for o in orders() {
                st.release_order(o);
            }
        }
        let router = erp::router(erp.clone());
        Self {
            erp,
            router,
            history,
        }
    }

    /// Sends a request; checks every problem body against `api/Problem` and every 2xx
    /// JSON body of the contract API against its response schema.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        send_to(&self.router, req).await
    }

    /// `POST` a JSON body (with a `traceparent`, without `Idempotency-Key`).
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(json_request(Method::POST, path, body, None))
            .await
    }

    /// `POST` a JSON body with an `Idempotency-Key`.
    pub async fn post_keyed(&self, path: &str, body: &Value, key: &str) -> Reply {
        self.send(json_request(Method::POST, path, body, Some(key)))
            .await
    }

    /// `POST /api/v1/material-documents`.
    pub async fn post_movement(&self, body: &Value) -> Reply {
        self.post("/api/v1/material-documents", body).await
    }

    /// `POST /api/v1/confirmations`.
    pub async fn post_confirmation(&self, body: &Value) -> Reply {
        self.post("/api/v1/confirmations", body).await
    }

    /// `GET` a path.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(
            base(Method::GET, path)
                .body(Body::empty())
                .expect("request"),
        )
        .await
    }

    /// `PUT /_andon/config`.
    pub async fn config(&self, patch: Value) -> Value {
        let r = self
            .send(json_request(Method::PUT, "/_andon/config", &patch, None))
            .await;
        r.assert_status(200)
    }

    /// `POST /_andon/faults`; returns the fault id.
    pub async fn apply_fault(&self, spec: Value) -> String {
        let r = self
            .send(json_request(Method::POST, "/_andon/faults", &spec, None))
            .await;
        let body = r.assert_status(201);
        body["id"].as_str().expect("fault id").to_string()
    }

    /// `DELETE /_andon/faults/{id}`.
    pub async fn clear_fault(&self, id: &str) {
        let r = self
            .send(
                base(Method::DELETE, &format!("/_andon/faults/{id}"))
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::NO_CONTENT,
            "clearing {id}: {}",
            r.text()
        );
    }

    /// Stock of RM-1 or FG-1 batch `batch` in plant `plant` through `GET /api/v1/stock`:
    /// stock type → quantity in the base unit.
    pub async fn stock_of(
        &self,
        plant: &str,
        material: &str,
        batch: &str,
    ) -> BTreeMap<String, f64> {
        let r = self
            .get(&format!(
                "/api/v1/stock?plant={plant}&material={material}&batch={batch}"
            ))
            .await;
        let body = r.assert_status(200);
        body["stock"]
            .as_array()
            .expect("stock rows")
            .iter()
            .map(|row| {
                (
                    row["stock_type"].as_str().expect("stock type").to_string(),
                    row["quantity"]["value"].as_f64().expect("quantity"),
                )
            })
            .collect()
    }

    /// Unrestricted stock of RM-1 batch R1 in plant 1000, in KG, read from the state.
    pub fn r1_unrestricted(&self) -> i64 {
        self.erp.state.lock().expect("state lock").balance(&key(
            "1000",
            "RM-1",
            "R1",
            andon_contracts::StockType::Unrestricted,
        ))
    }

    /// Everything a rejection must leave unchanged.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.erp.state.lock().expect("state lock");
        Snapshot {
            stock: st.stock.clone(),
            orders: st
                .orders
                .values()
                .map(|o| serde_json::to_value(o).expect("order record serialises"))
                .collect(),
            documents: st.documents.clone(),
            confirmations: st.confirmations.clone(),
            groups: st.groups.clone(),
            notifications: st.notifications.clone(),
            effects: self.effects("").len(),
        }
    }

    /// Effects recorded in the history whose name starts with `prefix`.
    pub fn effects(&self, prefix: &str) -> Vec<andon_simulators::history::Record> {
        self.history
            .snapshot()
            .into_iter()
            .filter(
                |r| matches!(&r.entry, Entry::Effect { effect, .. } if effect.starts_with(prefix)),
            )
            .collect()
    }

    /// Request records of the history.
    pub fn requests(&self) -> Vec<andon_simulators::history::Record> {
        self.history
            .snapshot()
            .into_iter()
            .filter(|r| matches!(r.entry, Entry::Request(_)))
            .collect()
    }

    /// Asserts a problem answer and that the state (stock, orders, documents,
    /// confirmations, notifications, effects) is exactly `before`.
    #[track_caller]
    pub fn assert_rejected(
        &self,
        before: &Snapshot,
        reply: &Reply,
        status: u16,
        code: &str,
        detail: &str,
    ) -> Value {
        let body = reply.assert_problem(status, code, detail);
        let after = self.snapshot();
        assert!(
            after == *before,
            "a {status} {code} changed the state:\nbefore {before:#?}\nafter {after:#?}"
        );
        body
    }
}

/// Sends `req` to `router`, checking the answer against the contract.
pub async fn send_to(router: &Router, req: Request<Body>) -> Reply {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let (parts, body) = resp.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    let reply = Reply {
        status: parts.status,
        headers: parts.headers,
        extensions: parts.extensions,
        body,
    };
    reply.check_contract(&method, &path);
    reply
}

/// What the ERP answered.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Response extensions (`ResetConnection`).
    pub extensions: axum::http::Extensions,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The content type.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// Asserts the status; returns the JSON body (or `null` when empty).
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }

    /// Asserts a problem+json answer with this status, code and a fragment of its detail.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str, detail: &str) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.text()
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(body["status"], status, "{body}");
        assert_eq!(
            body["type"],
            format!("https://andon.dev/problems/{code}"),
            "{body}"
        );
        let text = body["detail"].as_str().unwrap_or_default();
        assert!(
            text.contains(detail),
            "detail {text:?} does not contain {detail:?}"
        );
        body
    }

    fn check_contract(&self, method: &Method, path: &str) {
        let ct = self.content_type().to_string();
        if ct.starts_with("application/problem+json") {
            let body = self.json();
            if let Err(v) = andon_contracts::validate("api/Problem", &body) {
                panic!("problem answer of {method} {path} breaks api/Problem: {v}\n{body}");
            }
            assert_eq!(
                body["status"],
                self.status.as_u16(),
                "problem status differs from HTTP status: {body}"
            );
            return;
        }
        if !self.status.is_success() || !ct.starts_with("application/json") {
            return;
        }
        let Some(kind) = response_kind(method, path) else {
            return;
        };
        let body = self.json();
        if let Err(v) = andon_contracts::validate(kind, &body) {
            panic!("answer of {method} {path} breaks {kind}: {v}\n{body}");
        }
    }
}

/// The schema kind of a 2xx answer of the ERP's contract API.
pub fn response_kind(method: &Method, path: &str) -> Option<&'static str> {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let kind = match (method.as_str(), segs.as_slice()) {
        ("POST", ["oauth", "token"]) => "api/TokenResponse",
        ("POST", ["api", "v1", "confirmations"]) => "api/Confirmation",
        ("POST", ["api", "v1", "material-documents"]) => "api/MaterialDocument",
        ("POST", ["api", "v1", "material-documents", _, _, "reversal"]) => "api/MaterialDocument",
        ("GET", ["api", "v1", "material-documents", _, _]) => "api/MaterialDocument",
        ("POST", ["api", "v1", "quality-notifications"]) => "api/QualityNotification",
        ("GET", ["api", "v1", "stock"]) => "api/StockList",
        ("GET", ["api", "v1", "production-orders"]) => "api/ProductionOrderList",
        ("GET", ["api", "v1", "production-orders", _]) => "objects/ProductionOrder",
        ("GET", ["api", "v1", "materials", _]) => "objects/Material",
        ("GET" | "POST" | "PUT", ["api", ..] | ["oauth", ..]) => {
            panic!("no response schema known for {method} {path}")
        }
        _ => return None,
    };
    Some(kind)
}

/// A request builder with a `traceparent`.
pub fn base(method: Method, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header("traceparent", TRACEPARENT)
}

/// The `traceparent` every helper request carries.
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A JSON request, optionally with an `Idempotency-Key`.
pub fn json_request(method: Method, path: &str, body: &Value, key: Option<&str>) -> Request<Body> {
    let mut b = base(method, path).header(header::CONTENT_TYPE, "application/json");
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    b.body(Body::from(serde_json::to_vec(body).expect("json")))
        .expect("request")
}

static NEXT_EVENT: AtomicU64 = AtomicU64::new(1);

/// A fresh source reference.
pub fn source() -> Value {
    json!({"source": "/andon/mes/1000", "id": format!("evt-{}", NEXT_EVENT.fetch_add(1, Ordering::Relaxed))})
}

/// A goods movement item in plant 1000, storage location 0001.
pub fn item(movement_type: &str, material: &str, batch: &str, value: f64, unit: &str) -> Value {
    json!({
        "movement_type": movement_type,
        "material": material,
        "plant": "1000",
        "storage_location": "0001",
        "batch": batch,
        "quantity": {"value": value, "unit": unit},
    })
}

/// The item with `order` set to the released order.
pub fn for_order(mut item: Value) -> Value {
    item["order"] = json!(ORDER);
    item
}

/// A goods movement posted today with these items and a fresh source.
pub fn movement(items: Vec<Value>) -> Value {
    json!({"posting_date": TODAY, "items": items, "source": source()})
}

/// `261` of `kg` KG of RM-1 batch R1 to the released order.
pub fn consume_r1(kg: f64) -> Value {
    movement(vec![for_order(item("261", "RM-1", "R1", kg, "KG"))])
}

/// A confirmation of `yield_pc` PC on `operation` of `order`.
pub fn confirmation(order: &str, operation: &str, yield_pc: f64, final_: bool) -> Value {
    json!({
        "order": order,
        "operation": operation,
        "plant": "1000",
        "yield": {"value": yield_pc, "unit": "PC"},
        "scrap": {"value": 0, "unit": "PC"},
        "final": final_,
        "posting_date": TODAY,
        "work_center": "LINE-1",
        "source": source(),
    })
}

/// Key of a balance in storage location 0001.
pub fn key(
    plant: &str,
    material: &str,
    batch: &str,
    stock_type: andon_contracts::StockType,
) -> StockKey {
    StockKey {
        plant: PlantId::parse(plant).expect("plant"),
        storage_location: StorageLocation::parse("0001").expect("sloc"),
        material: MaterialId::parse(material).expect("material"),
        batch: Some(andon_contracts::BatchId::parse(batch).expect("batch")),
        stock_type,
    }
}

/// Everything a rejected request must leave unchanged.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    /// Every balance, zeros included.
    pub stock: BTreeMap<StockKey, i64>,
    /// Order records (status, confirmed and delivered quantities) as JSON.
    pub orders: Vec<Value>,
    /// Material documents.
    pub documents: BTreeMap<(i32, String), MaterialDocument>,
    /// Confirmations.
    pub confirmations: Vec<Confirmation>,
    /// Confirmation groups.
    pub groups: HashMap<(OrderId, String), String>,
    /// Quality notifications.
    pub notifications: Vec<QualityNotification>,
    /// Number of effects in the history.
    pub effects: usize,
}

/// Records of kind `fault` in a `GET /_andon/history` answer: (id, action, kind).
pub fn fault_records(history: &Value) -> Vec<(String, String, String)> {
    history
        .as_array()
        .expect("history is an array")
        .iter()
        .filter(|r| r["record"] == "fault")
        .map(|r| {
            (
                r["id"].as_str().unwrap_or_default().to_string(),
                r["action"].as_str().unwrap_or_default().to_string(),
                r["kind"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
