//! The admin API under `/_andon/`: health, state, history, faults, configuration, ingress,
//! events on demand, activity steps, conformance, and the guard that asks for the admin
//! token.

use andon_contracts::System;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::emitter::EmitterStats;
use crate::faults::FaultSpec;
use crate::problem::ApiError;

use super::middleware::header_str;
use super::{ConfigPatch, EmitRequest, Shared};

/// The admin routes, behind the admin token but for `/_andon/health` and `/openapi.json`.
pub(super) fn routes(shared: Shared) -> Router {
    Router::new()
        .route("/_andon/state", get(state_snapshot))
        .route("/_andon/history", get(history))
        .route(
            "/_andon/faults",
            get(list_faults).post(set_fault).delete(clear_faults),
        )
        .route("/_andon/faults/{id}", delete(clear_fault))
        .route("/_andon/config", get(get_config).put(put_config))
        .route("/_andon/ingress", put(put_ingress))
        .route("/_andon/events", post(emit_event))
        .route("/_andon/activity/step", post(step))
        .route("/_andon/conformance", get(super::conformance::conformance))
        .route_layer(middleware::from_fn_with_state(shared.clone(), admin_mw))
        .route("/_andon/health", get(health))
        .route("/openapi.json", get(openapi))
        .with_state(shared)
}

/// The admin API's guard: with an admin token set, every admin route but `/_andon/health`
/// (and `/openapi.json`, the public contract) needs `Authorization: Bearer <admin token>`.
async fn admin_mw(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let want = s
        .core
        .admin_token
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let Some(want) = want else {
        return next.run(req).await;
    };
    let given = header_str(&req, header::AUTHORIZATION.as_str());
    let given = given.as_deref().and_then(|h| h.strip_prefix("Bearer "));
    if given.is_some_and(|g| same(g.as_bytes(), want.as_bytes())) {
        return next.run(req).await;
    }
    ApiError::of(
        "admin-unauthorized",
        "The admin API needs the admin token: Authorization: Bearer <ANDON_ADMIN_TOKEN>",
    )
    .into_response()
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn health(State(s): State<Shared>) -> Json<Health> {
    Json(Health {
        system: s.core.system,
        status: "ok".into(),
        emitter: s.core.emitter.stats(),
        history: s.core.history.len(),
        activity: s.core.history.activity(),
        faults: s.core.faults.active().into_iter().map(|f| f.id).collect(),
        ingress: s.core.emitter.ingress(),
        business_time: s.core.clock.now(),
    })
}

/// `GET /_andon/health`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// System.
    pub system: System,
    /// Always `ok` when it answers.
    pub status: String,
    /// Emitter counters (`pending` is the buffer depth).
    pub emitter: EmitterStats,
    /// History length.
    pub history: usize,
    /// History records that are not idle reads (what settling watches).
    #[serde(default)]
    pub activity: usize,
    /// Faults in force.
    pub faults: Vec<String>,
    /// Ingress URL.
    pub ingress: Option<String>,
    /// Business time now.
    pub business_time: DateTime<Utc>,
}

async fn state_snapshot(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(s.behaviour.snapshot())
}

#[derive(Deserialize)]
struct HistoryQuery {
    #[serde(default)]
    after: u64,
    #[serde(default = "page")]
    limit: usize,
}

fn page() -> usize {
    10_000
}

async fn history(
    State(s): State<Shared>,
    Query(q): Query<HistoryQuery>,
    headers: axum::http::HeaderMap,
) -> Response {
    let records = s.core.history.since(q.after, q.limit);
    let ndjson = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("ndjson") || a.contains("jsonl"));
    if ndjson {
        let mut out = Vec::new();
        for r in &records {
            let _ = serde_json::to_writer(&mut out, r);
            out.push(b'\n');
        }
        ([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response()
    } else {
        Json(records).into_response()
    }
}

async fn list_faults(State(s): State<Shared>) -> Json<Vec<crate::faults::ActiveFault>> {
    Json(s.core.faults.active())
}

async fn set_fault(State(s): State<Shared>, body: Bytes) -> Response {
    let spec: FaultSpec = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => {
            return ApiError::invalid(format!("Bad fault: {e}"), vec![]).into_response();
        }
    };
    if spec.kind == crate::faults::FaultKind::Refuse && spec.duration.is_none() {
        return ApiError::of(
            "refuse-needs-duration",
            "refuse closes the port this admin API listens on: give it a `for` so it can end",
        )
        .into_response();
    }
    if spec.kind == crate::faults::FaultKind::TokenExpiry && !s.core.auth.enabled() {
        return ApiError::of("auth-disabled", "token_expiry needs authentication on for this run (PUT /_andon/config {\"auth\": true})",
        )
        .into_response();
    }
    match s.core.faults.add(spec) {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(e) => ApiError::of("invalid-fault", e.to_string()).into_response(),
    }
}

async fn clear_faults(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "cleared": s.core.faults.clear_all() }))
}

async fn clear_fault(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if s.core.faults.clear(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        ApiError::not_found(format!("No fault {id:?} is in force")).into_response()
    }
}

async fn get_config(State(s): State<Shared>) -> Json<serde_json::Value> {
    let c = s.core.config();
    Json(serde_json::json!({
        "system": s.core.system,
        "seed": c.seed,
        "idempotency": c.idempotency,
        "auth": s.core.auth.enabled(),
        "body_limit": c.body_limit,
        "over_confirmation_tolerance_pct": c.over_confirmation_tolerance_pct,
        "open_periods": s.core.master().open_periods.clone(),
        "time_scale": c.time_scale,
    }))
}

async fn put_config(State(s): State<Shared>, body: Bytes) -> Response {
    let patch: ConfigPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return ApiError::invalid(format!("Bad config: {e}"), vec![]).into_response(),
    };
    if let Err(e) = patch.apply(&s.core) {
        return ApiError::invalid(e.to_string(), vec![]).into_response();
    }
    s.core.note(
        "config_changed",
        serde_json::to_value(&patch).unwrap_or_default(),
    );
    get_config(State(s)).await.into_response()
}

/// `PUT /_andon/ingress`: `{"url": …}` for every plant, and optionally `{"plants":
/// {"2000": …}}` for plants whose events go elsewhere (a broker, say).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressBody {
    url: Option<String>,
    #[serde(default)]
    plants: Option<std::collections::BTreeMap<andon_contracts::PlantId, String>>,
}

async fn put_ingress(State(s): State<Shared>, body: Bytes) -> Response {
    let b = match serde_json::from_slice::<IngressBody>(&body) {
        Ok(b) => b,
        Err(e) => {
            return ApiError::invalid(format!("Bad ingress: {e}"), vec![]).into_response();
        }
    };
    let urls = b.url.iter().chain(b.plants.iter().flat_map(|p| p.values()));
    for u in urls {
        if let Err(why) = crate::emitter::verify_ingress(u) {
            return ApiError::invalid(why.to_string(), vec![]).into_response();
        }
    }
    match b.plants {
        Some(plants) => s.core.emitter.set_routes(crate::emitter::Routes {
            default: b.url,
            plants,
        }),
        None => s.core.emitter.set_ingress(b.url),
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn emit_event(State(s): State<Shared>, body: Bytes) -> Response {
    let req: EmitRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::invalid(format!("Bad event request: {e}"), vec![]).into_response();
        }
    };
    match s.behaviour.emit_event(req) {
        Ok(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

async fn step(State(s): State<Shared>, body: Bytes) -> Response {
    let req: StepBody = if body.is_empty() {
        StepBody { count: 1 }
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return ApiError::invalid(format!("Bad step request: {e}"), vec![]).into_response();
            }
        }
    };
    let emitted = s.behaviour.step(req.count);
    Json(serde_json::json!({ "emitted": emitted })).into_response()
}

async fn openapi(State(s): State<Shared>) -> Response {
    // One self-contained document: every schema it refers to inside it.
    match andon_contracts::bundle::bundled_openapi(s.core.system) {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError::of("contract-unreadable", e).into_response(),
    }
}
