//! What every simulator shares: configuration, the middleware stack (faults, history and
//! contract validation, authentication, idempotency), the admin API under `/_andon/`, and
//! the extractors handlers use.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use andon_contracts::api::SourceRefs;
use andon_contracts::{FieldError, PlantId, SourceRef, System};
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header, request::Parts};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Form, Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::auth::{Auth, AuthConfig, Scope};
use crate::clock::Clock;
use crate::emitter::{Emitter, EmitterConfig, EmitterStats};
use crate::faults::{ApiFault, FaultSpec, Faults};
use crate::history::{Entry, History, Outcome, Record};
use crate::idempotency::{
    Begin, IDEMPOTENCY_KEY, IdempotencyStore, Replayed, StoredResponse, fingerprint,
};
use crate::masterdata::MasterData;
use crate::problem::{ApiError, ProblemCode, problem_response};
use crate::server::ResetConnection;

/// Settings of one simulator for a run. Defaults: seed 42, idempotency keys honoured,
/// authentication off, 1 MiB body limit, over-confirmation tolerance 10 %.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Seed for every generated value and chance decision.
    #[serde(default = "seed")]
    pub seed: u64,
    /// Whether `Idempotency-Key` is honoured (off: an ERP without repeatable requests).
    #[serde(default = "yes")]
    pub idempotency: bool,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Largest accepted request body in bytes.
    #[serde(default = "body_limit")]
    pub body_limit: usize,
    /// Over-confirmation tolerance in percent of the planned quantity (ERP).
    #[serde(default = "tolerance")]
    pub over_confirmation_tolerance_pct: u32,
    /// Event delivery.
    #[serde(default)]
    pub emitter: EmitterConfig,
    /// Business time runs this many times faster than wall time.
    #[serde(default = "scale")]
    pub time_scale: f64,
    /// Business start time.
    #[serde(default = "crate::clock::default_start")]
    pub start: DateTime<Utc>,
    /// Shape of the generated plant activity.
    #[serde(default)]
    pub activity: ActivityConfig,
}

/// Knobs of the seeded plant activity. Defaults: results 1 s after the inspection lot
/// opens, 90 % accepted, a hold on 5 % of QMS steps released 3–12 steps later, WMS
/// ships on 85 % of its steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityConfig {
    /// Wall time from opening an inspection lot to its result.
    #[serde(default = "result_delay")]
    pub result_delay: crate::faults::Dur,
    /// Share of inspection lots accepted.
    #[serde(default = "accept_rate")]
    pub accept_rate: f64,
    /// Chance per QMS step of placing a hold.
    #[serde(default = "hold_rate")]
    pub hold_rate: f64,
    /// Chance per WMS step of shipping (otherwise a bin transfer).
    #[serde(default = "ship_rate")]
    pub ship_rate: f64,
}

fn result_delay() -> crate::faults::Dur {
    crate::faults::Dur(std::time::Duration::from_secs(1))
}
fn accept_rate() -> f64 {
    0.9
}
fn hold_rate() -> f64 {
    0.05
}
fn ship_rate() -> f64 {
    0.85
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            result_delay: result_delay(),
            accept_rate: accept_rate(),
            hold_rate: hold_rate(),
            ship_rate: ship_rate(),
        }
    }
}

fn seed() -> u64 {
    42
}
fn yes() -> bool {
    true
}
fn body_limit() -> usize {
    1 << 20
}
fn tolerance() -> u32 {
    10
}
fn scale() -> f64 {
    1.0
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: seed(),
            idempotency: true,
            auth: AuthConfig::default(),
            body_limit: body_limit(),
            over_confirmation_tolerance_pct: tolerance(),
            emitter: EmitterConfig::default(),
            time_scale: scale(),
            start: crate::clock::default_start(),
            activity: ActivityConfig::default(),
        }
    }
}

/// Per-system hooks the shared admin API calls.
pub trait Behaviour: Send + Sync + 'static {
    /// A JSON snapshot of the system's state.
    fn snapshot(&self) -> serde_json::Value;
    /// Generates up to `count` steps of plant activity; returns how many events were emitted.
    fn step(&self, count: usize) -> usize;
    /// The schema kind of a request body for `method` on `route`, if it has one.
    fn request_schema(&self, method: &Method, route: &str) -> Option<&'static str>;
    /// Emits one event of this system now (`POST /_andon/events`).
    fn emit_event(&self, req: EmitRequest) -> Result<SourceRef, ApiError>;
    /// The system's own state, whole, to continue from after a restart.
    fn save(&self) -> serde_json::Value;
    /// Continues from a state [`Behaviour::save`] wrote.
    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::persist::StateError>;
}

/// `POST /_andon/events`: emit one event of this system now.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitRequest {
    /// Event kind (`material.consumed`).
    pub kind: String,
    /// Plant.
    pub plant: PlantId,
    /// Aggregate (default: derived from the data).
    #[serde(default)]
    pub subject: Option<String>,
    /// The event's data.
    pub data: serde_json::Value,
    /// Send it even if it breaks the contract (a poison message); the text says why.
    #[serde(default)]
    pub poison: Option<String>,
}

/// Shared parts of one simulator.
#[derive(Clone)]
pub struct Core {
    /// Which system this is.
    pub system: System,
    /// Settings.
    pub config: Arc<RwLock<SimConfig>>,
    /// The history it appends to.
    pub history: History,
    /// Faults in force.
    pub faults: Faults,
    /// Idempotency keys seen.
    pub idempotency: IdempotencyStore,
    /// Tokens.
    pub auth: Auth,
    /// Master data as this system knows it.
    pub master: Arc<RwLock<MasterData>>,
    /// Business time.
    pub clock: Clock,
    /// Outbound events.
    pub emitter: Emitter,
    /// The bearer token the admin API (`/_andon/*` but `/_andon/health`) requires, when set.
    pub admin_token: Arc<RwLock<Option<String>>>,
}

impl Core {
    /// Builds the shared parts and starts the emitter.
    pub fn new(system: System, config: SimConfig, master: MasterData, history: History) -> Self {
        let faults = Faults::new(system, history.clone(), config.seed);
        let clock = Clock::new(config.start, config.time_scale);
        let emitter = Emitter::start(
            system,
            history.clone(),
            faults.clone(),
            clock,
            config.emitter.clone(),
            config.seed,
        );
        Self {
            system,
            auth: Auth::new(config.auth.clone()),
            config: Arc::new(RwLock::new(config)),
            history,
            faults,
            idempotency: IdempotencyStore::new(),
            master: Arc::new(RwLock::new(master)),
            clock,
            emitter,
            admin_token: Arc::default(),
        }
    }

    /// Requires `token` on the admin API (`None`: the admin API is open, as it is on
    /// loopback).
    pub fn set_admin_token(&self, token: Option<String>) {
        *self.admin_token.write().unwrap_or_else(|e| e.into_inner()) =
            token.filter(|t| !t.is_empty());
    }

    /// A copy of the settings.
    pub fn config(&self) -> SimConfig {
        self.with_config(SimConfig::clone)
    }

    /// Reads the settings without copying them (the request path asks for one field).
    pub fn with_config<R>(&self, f: impl FnOnce(&SimConfig) -> R) -> R {
        f(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the master data.
    pub fn master(&self) -> std::sync::RwLockReadGuard<'_, MasterData> {
        self.master.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a committed business effect.
    pub fn effect(
        &self,
        ctx: &Ctx,
        effect: &str,
        key: String,
        sources: Vec<SourceRef>,
        detail: serde_json::Value,
    ) {
        self.history.append(
            self.system,
            Entry::Effect {
                effect: effect.to_string(),
                key,
                sources,
                traceparent: ctx.traceparent.clone(),
                outcome: if ctx.answer_lost {
                    Outcome::Info
                } else {
                    Outcome::Ok
                },
                detail: detail.into(),
            },
        );
    }

    /// Emits an event asked for through the admin API: the kind must be one this system
    /// emits, and the data must match its schema unless the event is declared poison.
    pub fn emit_checked(&self, req: EmitRequest) -> Result<SourceRef, ApiError> {
        let kind = andon_contracts::EventKind::parse(&req.kind).ok_or_else(|| {
            ApiError::invalid(format!("Unknown event kind {:?}", req.kind), vec![])
        })?;
        if !kind.emitters().contains(&self.system) {
            return Err(ApiError::of(
                "not-emitted-here",
                format!("{} does not emit {kind}", self.system),
            ));
        }
        if self.master().plant(&req.plant).is_none() {
            return Err(ApiError::unknown_master_data(format!(
                "Plant {} is not defined",
                req.plant
            )));
        }
        if req.poison.is_none() {
            andon_contracts::validate(&format!("events/{}", kind.name()), &req.data).map_err(
                |v| {
                    ApiError::invalid(
                        format!("The data does not match {kind}: {v}"),
                        v.0.into_iter()
                            .map(|x| FieldError {
                                pointer: x.pointer,
                                message: x.message,
                            })
                            .collect(),
                    )
                },
            )?;
        }
        let subject = req
            .subject
            .clone()
            .unwrap_or_else(|| subject_of(kind, &req.data));
        self.emitter
            .emit(kind, &req.plant, &subject, req.data, Utc::now(), req.poison)
            .map_err(|e| ApiError::of("buffer-full", e.to_string()))
    }

    /// Records a note.
    pub fn note(&self, name: &str, detail: serde_json::Value) {
        self.history.append(
            self.system,
            Entry::Note {
                name: name.into(),
                detail: detail.into(),
            },
        );
    }
}

/// The aggregate an event is about: the order, `material/batch`, the nonconformance or the
/// delivery.
pub fn subject_of(kind: andon_contracts::EventKind, data: &serde_json::Value) -> String {
    use andon_contracts::EventKind as K;
    let field = |f: &str| {
        data.get(f)
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string()
    };
    match kind {
        K::MaterialChanged => field("material"),
        K::InspectionResultRecorded
        | K::UsageDecisionMade
        | K::LotHoldPlaced
        | K::LotHoldReleased
        | K::InventoryTransferred
        | K::InventoryAdjusted => format!("{}/{}", field("material"), field("batch")),
        K::NonconformanceCreated => field("nonconformance"),
        K::ShipmentConfirmed => field("delivery"),
        _ => field("order"),
    }
}

/// What a handler knows about the request beyond its body.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `traceparent` header.
    pub traceparent: Option<String>,
    /// Plants the token covers.
    pub scope: Scope,
    /// The answer will be lost (`commit_then_reset`): effects are indeterminate.
    pub answer_lost: bool,
}

/// Marks a request whose answer the fault layer will drop after processing.
#[derive(Debug, Clone, Copy)]
struct AnswerLost;

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            traceparent: parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            scope: parts
                .extensions
                .get::<Scope>()
                .cloned()
                .unwrap_or(Scope::Any),
            answer_lost: parts.extensions.get::<AnswerLost>().is_some()
                || parts
                    .extensions
                    .get::<ClientGone>()
                    .is_some_and(ClientGone::is_set),
        })
    }
}

/// A JSON body already checked against the contract by the history layer, decoded into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|e| ApiError::invalid(format!("could not read the body: {e}"), vec![]))?;
        decode(&bytes).map(JsonBody)
    }
}

/// Decodes JSON into `T`, as a 400 problem naming the line and column on failure.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .or_else(|e| {
            // JSON Schema counts `24.0` as the integer 24, and the schema check let it through:
            // the body decodes as the schema read it, or not at all.
            let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| e)?;
            integral(&mut v);
            serde_json::from_value(v)
        })
        .map_err(|e| {
            ApiError::invalid(
                format!("The body does not match the contract: {e}"),
                vec![FieldError {
                    pointer: String::new(),
                    message: e.to_string(),
                }],
            )
        })
}

/// Turns every number with no fraction (`24.0`) into an integer, as JSON Schema reads it.
fn integral(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                && n.is_f64()
            {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral),
        _ => {}
    }
}

/// Assembles a simulator's router: its API routes (`api`) behind the shared middleware,
/// the token endpoint, `/openapi.json`, and the admin API.
pub fn assemble(core: Core, behaviour: Arc<dyn Behaviour>, api: Router<()>) -> Router {
    let shared = Shared {
        core: core.clone(),
        behaviour: behaviour.clone(),
    };
    let api = api
        .merge(
            Router::new()
                .route("/oauth/token", post(token))
                .with_state(shared.clone()),
        )
        .route_layer(middleware::from_fn(slow_mw))
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            idempotency_mw,
        ))
        .route_layer(middleware::from_fn_with_state(shared.clone(), auth_mw))
        .route_layer(middleware::from_fn_with_state(shared.clone(), record_mw));
    let admin = Router::new()
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
        .route("/_andon/conformance", get(conformance))
        .route_layer(middleware::from_fn_with_state(shared.clone(), admin_mw))
        .route("/_andon/health", get(health))
        .route("/openapi.json", get(openapi))
        .with_state(shared.clone());
    api.merge(admin)
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), fault_mw))
        .layer(middleware::from_fn_with_state(shared, limit_mw))
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

/// Outermost layer: no body is read past the body limit, by any layer or route. A declared
/// length over it is answered 413 at once, unread; any other body is cut off at the limit,
/// so whoever reads it gets an error instead of memory.
async fn limit_mw(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let limit = s.core.with_config(|c| c.body_limit);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit).into_response();
    }
    let (parts, body) = req.into_parts();
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let resp = next.run(Request::from_parts(parts, body)).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    // axum's 405 has an empty body: answer problem+json like every other error, with
    // the methods the path has.
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = ApiError::of(
        "method-not-allowed",
        format!("{path} does not take {method}"),
    )
    .into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}

fn too_large(limit: usize) -> ApiError {
    ApiError::of(
        "payload-too-large",
        format!("The body exceeds the limit of {limit} bytes"),
    )
}

#[derive(Clone)]
struct Shared {
    core: Core,
    behaviour: Arc<dyn Behaviour>,
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    ))
}

fn is_contract_path(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/oauth/")
}

/// Fault layer: answers instead of the system while an API fault is in force.
async fn fault_mw(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if !is_contract_path(&path) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let Some((id, decision)) = s.core.faults.decide_api(&method, &path) else {
        return next.run(req).await;
    };
    let started = Instant::now();
    let idempotency_key = header_str(&req, IDEMPOTENCY_KEY);
    let traceparent = header_str(&req, "traceparent");
    let faulted = |status: u16, problem: Option<&str>, kind: &str, retry_after: Option<u64>| {
        s.core.history.append(
            s.core.system,
            Entry::Request {
                method: method.clone(),
                path: path.clone(),
                route: path.clone(),
                idempotency_key: idempotency_key.clone(),
                traceparent: traceparent.clone(),
                sources: Vec::new(),
                body: None,
                valid: None,
                violations: Vec::new(),
                status,
                content_type: problem.map(|_| crate::problem::PROBLEM_JSON.to_string()),
                problem: problem.map(str::to_string),
                replayed: false,
                fault: Some(kind.to_string()),
                retry_after_s: retry_after,
                latency_us: started.elapsed().as_micros() as u64,
            },
        );
    };
    match decision {
        ApiFault::Unavailable(after) => {
            faulted(
                503,
                Some("service-unavailable"),
                "unavailable",
                Some(retry_after_secs(after)),
            );
            let mut r = problem_response(&andon_contracts::Problem::of(
                "service-unavailable",
                format!(
                    "The {} system is in maintenance; retry after {}s",
                    s.core.system,
                    after.as_secs()
                ),
            ));
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
            r
        }
        ApiFault::Throttled(after) => {
            faulted(
                429,
                Some("too-many-requests"),
                "throttle",
                Some(retry_after_secs(after)),
            );
            let mut r = problem_response(&andon_contracts::Problem::of(
                "too-many-requests",
                "Rate limit for this client exceeded; retry later",
            ));
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(after)),
            );
            r
        }
        ApiFault::Reject {
            status,
            code,
            detail,
        } => {
            faulted(status, Some(&code), "reject", None);
            let detail = detail.unwrap_or_else(|| reject_detail(&s.core, &code));
            problem_response(&andon_contracts::Problem::new(
                status, &code, "Rejected", detail,
            ))
        }
        ApiFault::Reset => {
            faulted(0, None, "reset", None);
            reset()
        }
        ApiFault::Hang => {
            faulted(0, None, "hang", None);
            let mut changes = s.core.faults.changes();
            while s.core.faults.is_active(&id) {
                if changes.changed().await.is_err() {
                    break;
                }
            }
            reset()
        }
        ApiFault::Slow(delay) => {
            // The delay is served innermost, after the idempotency key is claimed, so a
            // slow request is in flight for a concurrent retry as on a real system. Like a
            // real ERP, the system finishes the work when the client has given up: the
            // request runs on a task of its own that the client's disconnect does not
            // cancel, and its effects are then indeterminate (the answer never arrived).
            let gone = ClientGone::default();
            req.extensions_mut().insert(SlowBy(delay));
            req.extensions_mut().insert(gone.clone());
            let mut guard = gone.guard();
            let task = tokio::spawn(next.run(req));
            let resp = task
                .await
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
            guard.disarm();
            resp
        }
        ApiFault::CommitThenReset => {
            req.extensions_mut().insert(AnswerLost);
            let _ = next.run(req).await;
            reset()
        }
    }
}

/// Added latency of a `slow` fault, served by the innermost layer.
#[derive(Debug, Clone, Copy)]
struct SlowBy(std::time::Duration);

/// Set once the client of a slow request has gone (its connection dropped the answer's
/// future) while the system still works on the request.
#[derive(Debug, Clone, Default)]
struct ClientGone(Arc<std::sync::atomic::AtomicBool>);

impl ClientGone {
    fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A guard that sets the flag when dropped before [`GoneGuard::disarm`].
    fn guard(&self) -> GoneGuard {
        GoneGuard(Some(self.clone()))
    }
}

/// Sets [`ClientGone`] on drop unless disarmed (the answer was handed to the client).
struct GoneGuard(Option<ClientGone>);

impl GoneGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GoneGuard {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// Innermost layer: sleeps for a `slow` fault just before the handler runs.
async fn slow_mw(req: Request, next: Next) -> Response {
    if let Some(SlowBy(d)) = req.extensions().get::<SlowBy>().copied() {
        tokio::time::sleep(d).await;
    }
    next.run(req).await
}

/// `Retry-After` in whole seconds, rounded up so a client that obeys it is not early.
fn retry_after_secs(after: std::time::Duration) -> u64 {
    (after.as_secs_f64().ceil() as u64).max(1)
}

fn reject_detail(core: &Core, code: &str) -> String {
    match code {
        "period-closed" => {
            let md = core.master();
            let company = md
                .plants
                .first()
                .map(|p| p.company_code.clone())
                .unwrap_or_default();
            format!(
                "Posting only possible in periods {} in company code {company}",
                md.open_periods.join(" and ")
            )
        }
        other => format!("The request was rejected ({other})"),
    }
}

fn reset() -> Response {
    let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    r.extensions_mut().insert(ResetConnection);
    r
}

fn header_str(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// History and contract layer: checks content type, size and schema of the body, records
/// the request and its answer.
async fn record_mw(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let idempotency_key = header_str(&req, IDEMPOTENCY_KEY);
    let traceparent = header_str(&req, "traceparent");
    let answer_lost = req.extensions().get::<AnswerLost>().is_some();
    let client_gone = req.extensions().get::<ClientGone>().cloned();
    let schema = s.behaviour.request_schema(&method, &route);
    let limit = s.core.with_config(|c| c.body_limit);

    let mut sources = Vec::new();
    let mut sent_body = None;
    let mut valid = None;
    let mut violations = Vec::new();
    let (parts, body) = req.into_parts();
    let outcome: Result<Request, ApiError> = async {
        let Some(kind) = schema else {
            return Ok(Request::from_parts(parts, body));
        };
        let ct = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            valid = Some(false);
            violations.push(format!(
                "content-type: expected application/json, got {ct:?}"
            ));
            return Err(ApiError::of(
                "unsupported-media-type",
                format!("Content-Type must be application/json, got {ct:?}"),
            ));
        }
        let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            valid = Some(false);
            violations.push(format!("body larger than {limit} bytes"));
            too_large(limit)
        })?;
        let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
            valid = Some(false);
            violations.push(format!("/: malformed JSON: {e}"));
            ApiError::invalid(
                format!(
                    "Malformed JSON at line {} column {}: {e}",
                    e.line(),
                    e.column()
                ),
                vec![FieldError {
                    pointer: String::new(),
                    message: e.to_string(),
                }],
            )
        })?;
        if let Ok(refs) = SourceRefsOnly::deserialize(&json) {
            sources = refs.refs.all();
        }
        sent_body = Some(andon_contracts::Json::new(&json));
        if let Err(v) = andon_contracts::validate(kind, &json) {
            valid = Some(false);
            violations =
                v.0.iter()
                    .map(|x| format!("{}: {}", x.pointer, x.message))
                    .collect();
            return Err(ApiError::invalid(
                format!("The body does not match {kind}: {v}"),
                v.0.into_iter()
                    .map(|x| FieldError {
                        pointer: x.pointer,
                        message: x.message,
                    })
                    .collect(),
            ));
        }
        valid = Some(true);
        Ok(Request::from_parts(parts, Body::from(bytes)))
    }
    .await;
    let resp = match outcome {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let problem = resp.extensions().get::<ProblemCode>().map(|p| p.0.clone());
    let replayed = resp.extensions().get::<Replayed>().is_some();
    s.core.history.append(
        s.core.system,
        Entry::Request {
            method: method.to_string(),
            path,
            route,
            idempotency_key,
            traceparent,
            sources,
            body: sent_body,
            valid,
            violations,
            status,
            content_type,
            problem,
            replayed,
            fault: if answer_lost {
                Some("commit_then_reset".to_string())
            } else if client_gone.is_some_and(|g| g.is_set()) {
                // The client gave up on a slow request the system then finished.
                Some("slow".to_string())
            } else {
                None
            },
            retry_after_s: None,
            latency_us: started.elapsed().as_micros() as u64,
        },
    );
    resp
}

#[derive(Deserialize)]
struct SourceRefsOnly {
    #[serde(flatten)]
    refs: SourceRefs,
}

/// Authentication layer: checks the bearer token and puts the plant scope in the request.
async fn auth_mw(State(s): State<Shared>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await;
    }
    let header = header_str(&req, "authorization");
    match s
        .core
        .auth
        .check(header.as_deref(), s.core.faults.tokens_valid_after())
    {
        Ok(scope) => {
            req.extensions_mut().insert(scope);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Idempotency layer: replays, refuses or claims keyed state-changing requests.
async fn idempotency_mw(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let changing = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = header_str(&req, IDEMPOTENCY_KEY);
    let (true, Some(key), true) = (changing, key, s.core.with_config(|c| c.idempotency)) else {
        return next.run(req).await;
    };
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    // Only a route that takes this method takes a key: another method is a 405, whatever
    // key it carries.
    if s.behaviour.request_schema(req.method(), &route).is_none() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Bounded by the outermost layer: an error here is a body over the limit.
    let limit = s.core.with_config(|c| c.body_limit);
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit).into_response();
    };
    let fp = fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
    match s.core.idempotency.begin(&route, &key, fp) {
        Begin::Replay(stored) => stored.replay(),
        Begin::Refuse(e) => e.into_response(),
        Begin::Proceed(claim) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (rparts, rbody) = resp.into_parts();
            let rbytes = axum::body::to_bytes(rbody, usize::MAX)
                .await
                .unwrap_or_default();
            let mut headers = axum::http::HeaderMap::new();
            for h in [
                header::CONTENT_TYPE,
                header::LOCATION,
                header::WWW_AUTHENTICATE,
            ] {
                if let Some(v) = rparts.headers.get(&h) {
                    headers.insert(h, v.clone());
                }
            }
            claim.complete(StoredResponse {
                status: rparts.status,
                headers,
                body: rbytes.clone(),
            });
            Response::from_parts(rparts, Body::from(rbytes))
        }
    }
}

async fn token(
    State(s): State<Shared>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return ApiError::invalid(
            "The token request must be application/x-www-form-urlencoded",
            vec![],
        )
        .into_response();
    };
    let plants = s.core.master().plant_ids();
    match s.core.auth.issue(&form, &plants) {
        Ok(t) => Json(t).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn health(State(s): State<Shared>) -> Json<Health> {
    Json(Health {
        system: s.core.system,
        status: "ok".into(),
        emitter: s.core.emitter.stats(),
        history: s.core.history.len(),
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
    match s.core.faults.apply(spec) {
        Ok(id) => (StatusCode::CREATED, Json(serde_json::json!({ "id": id }))).into_response(),
        Err(e) => ApiError::of("invalid-fault", e).into_response(),
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

/// `PUT /_andon/config`: run-time switches.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    /// Honour idempotency keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<bool>,
    /// Require tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<bool>,
    /// Open posting periods (`2026/11`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_periods: Option<Vec<String>>,
    /// Over-confirmation tolerance in percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_confirmation_tolerance_pct: Option<u32>,
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
    if let Some(periods) = &patch.open_periods {
        if let Some(bad) = periods
            .iter()
            .find(|p| crate::masterdata::parse_period(p).is_none())
        {
            return ApiError::invalid(format!("open period {bad:?} must be YYYY/MM"), vec![])
                .into_response();
        }
        s.core
            .master
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .open_periods = periods.clone();
    }
    if let Ok(mut c) = s.core.config.write() {
        if let Some(i) = patch.idempotency {
            c.idempotency = i;
        }
        if let Some(t) = patch.over_confirmation_tolerance_pct {
            c.over_confirmation_tolerance_pct = t;
        }
    }
    if let Some(a) = patch.auth {
        s.core.auth.set_enabled(a);
    }
    s.core.note(
        "config_changed",
        serde_json::to_value(&patch).unwrap_or_default(),
    );
    get_config(State(s)).await.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IngressBody {
    url: Option<String>,
}

async fn put_ingress(State(s): State<Shared>, body: Bytes) -> Response {
    match serde_json::from_slice::<IngressBody>(&body) {
        Ok(b) => {
            if let Some(u) = &b.url
                && let Err(why) = crate::emitter::check_ingress(u)
            {
                return ApiError::invalid(why, vec![]).into_response();
            }
            s.core.emitter.set_ingress(b.url);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => ApiError::invalid(format!("Bad ingress: {e}"), vec![]).into_response(),
    }
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

/// Per-endpoint conformance: requests seen, valid, violations with the first witness.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct EndpointConformance {
    /// Requests seen.
    pub seen: u64,
    /// Requests whose body validated (or had none to validate).
    pub valid: u64,
    /// Requests that broke the contract.
    pub violations: u64,
    /// State-changing requests without an `Idempotency-Key`.
    pub missing_idempotency_key: u64,
    /// Requests without a `traceparent`.
    pub missing_traceparent: u64,
    /// The first violation seen.
    pub first_witness: Option<String>,
}

/// Summarises the requests in `records` per endpoint (`POST /api/v1/…`).
pub fn conformance_of(records: &[Record]) -> BTreeMap<String, EndpointConformance> {
    let mut out: BTreeMap<String, EndpointConformance> = BTreeMap::new();
    for r in records {
        let Entry::Request {
            method,
            route,
            valid,
            violations,
            idempotency_key,
            traceparent,
            fault,
            ..
        } = &r.entry
        else {
            continue;
        };
        // Answers a fault gave instead of the system say nothing about the SUT's requests.
        if fault.as_deref().is_some_and(|f| f != "commit_then_reset") {
            continue;
        }
        let c = out.entry(format!("{method} {route}")).or_default();
        c.seen += 1;
        if *valid == Some(false) {
            c.violations += 1;
            if c.first_witness.is_none() {
                c.first_witness = violations.first().cloned();
            }
        } else {
            c.valid += 1;
        }
        if matches!(method.as_str(), "POST" | "PUT")
            && idempotency_key.is_none()
            && route.starts_with("/api/")
        {
            c.missing_idempotency_key += 1;
        }
        if traceparent.is_none() {
            c.missing_traceparent += 1;
        }
    }
    out
}

async fn conformance(State(s): State<Shared>) -> Json<BTreeMap<String, EndpointConformance>> {
    Json(s.core.history.with_records(conformance_of))
}

async fn openapi(State(s): State<Shared>) -> Response {
    // One self-contained document: every schema it refers to inside it.
    match andon_contracts::bundle::bundled_openapi(s.core.system) {
        Ok(v) => Json(v).into_response(),
        Err(e) => ApiError::of("contract-unreadable", e).into_response(),
    }
}

#[cfg(test)]
mod decode_tests {
    use super::decode;

    #[derive(Debug, serde::Deserialize)]
    struct Ratio {
        numerator: u32,
        share: f64,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_decodes_as_the_schema_read_it() {
        let r: Ratio = decode(br#"{"numerator": 24.0, "share": 2}"#).expect("24.0 is 24");
        assert_eq!((r.numerator, r.share), (24, 2.0));
        let e = decode::<Ratio>(br#"{"numerator": 24.5, "share": 1}"#).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}
