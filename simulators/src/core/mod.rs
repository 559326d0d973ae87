//! What every simulator shares: the [`Core`] (history, faults, idempotency, tokens, master
//! data, clock, emitter), the [`Behaviour`] hooks each system supplies, and [`assemble`],
//! which puts a system's routes behind the shared middleware next to the admin API.
//!
//! Its parts:
//! * [`config`] — settings ([`SimConfig`]) and run-time switches ([`ConfigPatch`]).
//! * [`extract`] — what handlers take from a request ([`Ctx`], [`JsonBody`], [`decode`]).
//! * [`middleware`] — the layers every request passes: body limit, faults, history and
//!   contract validation, authentication, idempotency.
//! * [`admin`] — the admin API under `/_andon/`.
//! * [`conformance`] — per-endpoint conformance of the requests seen.
//! * [`schemas`] — which request body schema each operation takes, from the OpenAPI document.
//! * [`activity`] — stepping a system's seeded plant activity.

pub mod activity;
mod admin;
pub mod config;
pub mod conformance;
pub mod extract;
mod middleware;
pub mod schemas;

use std::sync::{Arc, RwLock};

use andon_contracts::{FieldError, PlantId, SourceRef, System};
use axum::Router;
use axum::extract::Request;
use axum::middleware as mw;
use axum::routing::post;
use chrono::Utc;
use serde::Deserialize;

use crate::auth::Auth;
use crate::clock::Clock;
use crate::emitter::Emitter;
use crate::faults::Faults;
use crate::history::{Entry, History, Outcome};
use crate::idempotency::IdempotencyStore;
use crate::masterdata::MasterData;
use crate::problem::ApiError;

pub use activity::{PlannedEvent, Tick};
pub use admin::Health;
pub use config::{ActivityConfig, ConfigPatch, ConfigPatchError, SimConfig, SystemSettings};
pub use conformance::{EndpointConformance, conformance_of};
pub use extract::{Ctx, JsonBody, RequestNote, decode};

/// Per-system hooks the shared admin API calls.
pub trait Behaviour: Send + Sync + 'static {
    /// The shared parts of this simulator.
    fn core(&self) -> &Core;
    /// A JSON snapshot of the system's state.
    fn snapshot(&self) -> serde_json::Value;
    /// Decides the next step of the system's seeded plant activity (see [`activity`]).
    fn next_events(&self) -> Tick;
    /// Generates up to `count` steps of plant activity; returns how many events were emitted.
    fn step(&self, count: usize) -> usize {
        activity::step(&self.core().emitter, count, || self.next_events())
    }
    /// Emits one event of this system now (`POST /_andon/events`).
    fn emit_event(&self, req: EmitRequest) -> Result<SourceRef, ApiError> {
        self.core().emit_checked(req)
    }
    /// The system's own state, whole, to continue from after a restart.
    fn save(&self) -> serde_json::Value;
    /// Continues from a state [`Behaviour::save`] wrote.
    fn restore(&self, saved: serde_json::Value) -> Result<(), crate::saved::StateError>;
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
        self.effect_json(ctx, effect, key, sources, detail.into());
    }

    /// [`Core::effect`] with its detail already JSON text (serialized straight from a typed
    /// value, without a `serde_json::Value` in between: the ERP's hot path).
    pub fn effect_json(
        &self,
        ctx: &Ctx,
        effect: &str,
        key: String,
        sources: Vec<SourceRef>,
        detail: andon_contracts::Json,
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
                detail,
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

/// Assembles a simulator's router: its API routes (`api`) behind the shared middleware,
/// the token endpoint, `/openapi.json`, and the admin API.
pub fn assemble(core: Core, behaviour: Arc<dyn Behaviour>, api: Router<()>) -> Router {
    use middleware::{auth, fault, idempotency, limit, record};
    let shared = Shared(Arc::new(SharedParts { core, behaviour }));
    let api = api
        .merge(
            Router::new()
                .route("/oauth/token", post(auth::token))
                .with_state(shared.clone()),
        )
        .route_layer(mw::from_fn(fault::slow_mw))
        .route_layer(mw::from_fn_with_state(
            shared.clone(),
            idempotency::idempotency_mw,
        ))
        .route_layer(mw::from_fn_with_state(shared.clone(), auth::auth_mw))
        .route_layer(mw::from_fn_with_state(shared.clone(), record::record_mw));
    api.merge(admin::routes(shared.clone()))
        .fallback(not_found)
        .layer(mw::from_fn_with_state(shared.clone(), fault::fault_mw))
        .layer(mw::from_fn_with_state(shared, limit::limit_mw))
}

/// What every layer and admin handler is given: the shared parts and the system's hooks,
/// behind one `Arc`. Each layer takes its own copy of the state for every request; a copy
/// of [`Core`] itself is a dozen reference counts, which under load cost more than some of
/// the layers' work.
#[derive(Clone)]
struct Shared(Arc<SharedParts>);

struct SharedParts {
    core: Core,
    behaviour: Arc<dyn Behaviour>,
}

impl std::ops::Deref for Shared {
    type Target = SharedParts;

    fn deref(&self) -> &SharedParts {
        &self.0
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    ))
}
