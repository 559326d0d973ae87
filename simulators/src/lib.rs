//! # andon-simulators
//!
//! Stateful simulators of the systems around a manufacturing-integration middleware:
//! ERP, MES, QMS and WMS. Each is `router(state) -> Router` plus [`serve`], so the same
//! code runs under `oneshot` in unit tests, on port 0 in-process, and in a container.
//!
//! Layout:
//! * [`core`] — what every simulator shares: the [`Core`], the [`Behaviour`] hooks and
//!   [`core::assemble`]; settings and run-time switches (`core::config`), request
//!   extractors (`core::extract`), the middleware stack (`core::middleware`: body limit,
//!   faults, history and contract validation, authentication, idempotency), the admin API
//!   (`core::admin`), per-endpoint conformance (`core::conformance`), request schemas
//!   derived from the OpenAPI documents (`core::schemas`) and the shared activity step
//!   (`core::activity`).
//! * [`erp`], [`mes`], [`qms`], [`wms`] — one module per system: state, rules, routes and
//!   its seeded plant activity (`erp::state` with its goods movements and movement-type
//!   table; `mes::script`, a work order's events).
//! * [`lot_api`], [`lots`] — lot holds, status and material master replication shared by
//!   MES, QMS and WMS.
//! * [`dialect`] — which API each plant speaks ([`dialect::Binding`]: `andon`, `s4hana@2502`,
//!   `business-central@25`); the vendor dialects live with their system (`erp::s4hana`).
//! * [`faults`] — fault kinds as data (`faults::spec`) and the registry that applies them.
//! * [`emitter`] — at-least-once CloudEvents delivery with backoff and a bounded buffer
//!   (`emitter::delivery`: the lanes' tasks; `emitter::event`: an event's id, sequence and
//!   trace context, and the poison copy of a payload).
//! * [`idempotency`] — `Idempotency-Key` semantics (IETF httpapi draft).
//! * [`auth`] — optional OAuth 2.0 client credentials with plant-scoped tokens.
//! * [`history`] — the append-only journal checkers read.
//! * [`masterdata`] — plants, materials, BOMs, routings, initial stock (YAML or seeded:
//!   `masterdata::generate`).
//! * [`clock`] — business time (`time_scale`).
//! * [`saved`] — what every part of a saved state shares: format version, errors, serde of
//!   maps with non-string keys.
//! * [`persist`] — a simulator's state saved and continued from (a container stopped and
//!   started again keeps its books).
//! * [`server`] — serving on a given listener with connection-level faults.
//! * [`stub`] — any OpenAPI document's examples served as a validating stub (wiremock):
//!   the document read (`stub::document`), requests checked (`stub::check`).
//! * [`problem`] — problem+json errors.
//! * [`standalone`] — one simulator as a process: the command line and the life of
//!   `andon-simulator SYSTEM` (this crate's binary, the simulator containers' entrypoint)
//!   and `andon simulator SYSTEM`: settings, master data, saved state, `ready`, the stop.
//! * [`memory`] — how a process that runs simulators takes memory from the kernel.
//!
//! Modules depend on each other without cycles (the `layout` test of the harness checks
//! every crate of the workspace):
//! `saved`, `problem`, `clock`, `history` at the bottom; `persist` above `core`, which it
//! saves; the systems above `core`; `standalone` at the top.

pub mod auth;
pub mod clock;
pub mod core;
pub mod dialect;
pub mod emitter;
pub mod erp;
pub mod faults;
pub mod history;
mod http1;
pub mod idempotency;
pub mod lot_api;
pub mod lots;
pub mod masterdata;
pub mod memory;
pub mod mes;
pub mod oneshot;
pub mod persist;
pub mod problem;
pub mod qms;
pub mod saved;
pub mod server;
pub mod standalone;
pub mod stub;
pub mod wms;

use std::future::Future;
use std::sync::Arc;

use andon_contracts::System;
use axum::Router;
use tokio::net::TcpListener;

pub use crate::core::{Behaviour, Core, SimConfig};
pub use crate::history::History;
pub use crate::masterdata::MasterData;

/// One simulator: its shared parts, its behaviour and its router.
#[derive(Clone)]
pub struct Simulator {
    /// Shared parts (history, faults, emitter…).
    pub core: Core,
    /// System-specific hooks.
    pub behaviour: Arc<dyn Behaviour>,
    /// The router to serve.
    pub router: Router,
}

impl Simulator {
    /// Builds the simulator of `system`. Must be called inside a tokio runtime (the
    /// emitter starts its delivery tasks).
    pub fn new(system: System, config: SimConfig, master: MasterData, history: History) -> Self {
        let core = Core::new(system, config, master, history);
        match system {
            System::Erp => {
                let s = erp::Erp::new(core.clone());
                Self {
                    core,
                    behaviour: s.clone(),
                    router: erp::router(s),
                }
            }
            System::Mes => {
                let s = mes::Mes::new(core.clone());
                Self {
                    core,
                    behaviour: s.clone(),
                    router: mes::router(s),
                }
            }
            System::Qms => {
                let s = qms::Qms::new(core.clone());
                Self {
                    core,
                    behaviour: s.clone(),
                    router: qms::router(s),
                }
            }
            System::Wms => {
                let s = wms::Wms::new(core.clone());
                Self {
                    core,
                    behaviour: s.clone(),
                    router: wms::router(s),
                }
            }
        }
    }

    /// Saves everything the simulator keeps across a restart (see [`persist`]). Deliveries in
    /// flight are settled first, within the delivery timeout; delivery goes on afterwards.
    pub async fn save_state(&self) -> Result<Vec<u8>, persist::StateError> {
        let emitter = self.core.emitter.save().await;
        let mut config = self.core.config();
        // The ingress may have been set through the admin API since the start.
        config.emitter.ingress = self.core.emitter.ingress();
        let saved = persist::SavedState {
            format: persist::FORMAT,
            system: self.core.system,
            saved_at: chrono::Utc::now(),
            business_time: self.core.clock.now(),
            config,
            master: self.core.master().clone(),
            history: self.core.history.snapshot(),
            idempotency: self.core.idempotency.save(),
            emitter,
            behaviour: self.behaviour.save(),
        };
        Ok(serde_json::to_vec(&saved)?)
    }

    /// Continues the simulator of `system` from `bytes` that [`Simulator::save_state`]
    /// wrote. Business time goes on from the save as if the simulator had kept running.
    pub fn restore(system: System, bytes: &[u8]) -> Result<Self, persist::StateError> {
        let saved = persist::SavedState::parse(system, bytes)?;
        let mut config = saved.config;
        let down = (chrono::Utc::now() - saved.saved_at).max(chrono::Duration::zero());
        let scale = if config.time_scale.is_finite() && config.time_scale > 0.0 {
            config.time_scale
        } else {
            1.0
        };
        config.start = saved.business_time
            + chrono::Duration::milliseconds((down.num_milliseconds() as f64 * scale) as i64);
        let sim = Self::new(
            system,
            config,
            saved.master,
            History::from_records(saved.history),
        );
        sim.core
            .idempotency
            .restore(saved.idempotency)
            .map_err(|source| persist::StateError::Idempotency { system, source })?;
        sim.behaviour.restore(saved.behaviour)?;
        sim.core.emitter.restore(saved.emitter);
        Ok(sim)
    }

    /// Requires `token` on the admin API (see [`core::Core::set_admin_token`]).
    pub fn set_admin_token(&self, token: Option<String>) {
        self.core.set_admin_token(token);
    }

    /// Serves the simulator on `listener` until `shutdown` resolves.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        server::serve(
            listener,
            self.router.clone(),
            self.core.faults.refusing(),
            shutdown,
        )
        .await
    }
}
