use andon_contracts::System;
use andon_simulators::history::{Entry, Record};
use andon_simulators::masterdata::{PlantSpec, Profile};
use andon_simulators::{History, MasterData, SimConfig, Simulator};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

pub fn master() -> MasterData {
    MasterData::generate(
        7,
        &[PlantSpec {
            id: andon_contracts::PlantId::parse("1000").unwrap(),
            lines: 2,
            materials: 4,
            profile: Profile::Discrete,
        }],
    )
}

pub fn sim(system: System) -> Simulator {
    sim_with(system, SimConfig::default(), master())
}

pub fn sim_with(system: System, config: SimConfig, md: MasterData) -> Simulator {
    Simulator::new(system, config, md, History::new())
}

pub async fn call(
    sim: &Simulator,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(
            body.map(|b| Body::from(b.to_string()))
                .unwrap_or_else(Body::empty),
        )
        .unwrap();
    let resp = sim.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if let Some(kind) = response_schema(method, uri, status) {
        andon_contracts::validate(kind, &v).unwrap_or_else(|e| {
            panic!("{method} {uri} answered {status} breaking {kind}: {e}\n{v}")
        });
    }
    (status, v)
}

/// The contract schema of an answer of the MES, QMS and WMS APIs.
fn response_schema(method: &str, uri: &str, status: StatusCode) -> Option<&'static str> {
    if status.is_client_error() || status.is_server_error() {
        return Some("api/Problem");
    }
    let path = uri.split('?').next().unwrap_or(uri);
    let parts: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    Some(match (method, parts.as_slice()) {
        ("POST", ["work-orders"])
        | ("GET" | "PUT", ["work-orders", _])
        | ("POST", ["work-orders", _, "cancellation"]) => "api/WorkOrder",
        (_, ["lots", ..]) => "objects/LotStatus",
        (_, ["materials", _]) => "objects/Material",
        (_, ["inspection-lots", ..]) => "objects/InspectionLot",
        ("POST", ["receipts"]) => "api/Receipt",
        _ => return None,
    })
}

pub fn source() -> Value {
    serde_json::json!({ "source": { "source": "/andon/erp/1000", "id": uuid::Uuid::new_v4().to_string() } })
}

pub fn with_source(mut v: Value) -> Value {
    v.as_object_mut()
        .unwrap()
        .extend(source().as_object().unwrap().clone());
    v
}

/// Events emitted so far, as (kind name, data).
pub fn emitted(records: &[Record]) -> Vec<(String, Value)> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::EventEmitted { event, .. } => Some((
                event
                    .kind()
                    .map(|k| k.name().to_string())
                    .unwrap_or_default(),
                event.data.to_value(),
            )),
            _ => None,
        })
        .collect()
}

pub fn effects(records: &[Record], name: &str) -> Vec<Value> {
    records
        .iter()
        .filter_map(|r| match &r.entry {
            Entry::Effect { effect, detail, .. } if effect == name => Some(detail.to_value()),
            _ => None,
        })
        .collect()
}
