//! # andon-simulators
//!
//! Stateful simulators of the systems around a manufacturing-integration middleware:
//! ERP, MES, QMS and WMS. Each is `router(state) -> Router` plus [`serve`], so the same
//! code runs under `oneshot` in unit tests, on port 0 in-process, and in a container.
//!
//! Layout:
//! * [`core`] — what every simulator shares: settings, the middleware stack (faults,
//!   history and contract validation, authentication, idempotency), the admin API.
//! * [`erp`], [`mes`], [`qms`], [`wms`] — one module per system: state, rules, routes and
//!   its seeded plant activity.
//! * [`faults`] — fault kinds as data and the registry that applies them.
//! * [`emitter`] — at-least-once CloudEvents delivery with backoff and a bounded buffer.
//! * [`idempotency`] — `Idempotency-Key` semantics (IETF httpapi draft).
//! * [`auth`] — optional OAuth 2.0 client credentials with plant-scoped tokens.
//! * [`history`] — the append-only journal checkers read.
//! * [`masterdata`] — plants, materials, BOMs, routings, initial stock (YAML or seeded).
//! * [`clock`] — business time (`time_scale`).
//! * [`server`] — serving on a given listener with connection-level faults.
//! * [`stub`] — any OpenAPI document's examples served as a validating stub (wiremock).
//! * [`problem`] — problem+json errors.

pub mod auth;
pub mod clock;
pub mod core;
pub mod emitter;
pub mod erp;
pub mod faults;
pub mod history;
pub mod idempotency;
pub mod lot_api;
pub mod lots;
pub mod masterdata;
pub mod mes;
pub mod problem;
pub mod qms;
pub mod server;
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
