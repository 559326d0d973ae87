//! # andon-reference-middleware
//!
//! The reference SUT of andon: a correct integration service between the ERP, MES, QMS
//! and WMS simulators, configured only through the wiring contract (`sut.toml`), with a
//! durable SQLite inbox/outbox, events taken in over HTTP webhooks and, with `BROKER_URL`,
//! from an MQTT 5 broker — and twenty-eight named defects that make it behave like the
//! broken integrations manufacturers actually run (`--defect NAME`, `--list-defects`).
//!
//! Layout:
//! * [`config`] — arguments and environment of the wiring contract, and the [`Config`]
//!   struct with its defaults.
//! * [`ingress`] — HTTP handlers: CloudEvents ingress per system, `/health`,
//!   `/dead-letters`, `/stats`.
//! * [`mqtt`] — the MQTT 5 consumer: a persistent session, shared subscriptions at QoS 1,
//!   each message acknowledged only after its event is stored.
//! * [`store`] — SQLite (WAL) on a dedicated thread: inbox, outbox, dead letters; an event
//!   and its commands are committed together.
//! * [`flows`] — pure mapping from a source event to the commands that realise it, and the
//!   body builders that need a look-up.
//! * [`lots`] (in `store`) — per-lot resequencing of quality events and the hold
//!   bookkeeping, in the same SQLite transactions as the store.
//! * [`delivery`] — per-target workers: ordering per aggregate, retries with backoff and
//!   jitter, `Retry-After` pauses, tokens, dead letters.
//! * [`dialect`] — which API each plant's ERP speaks (`ERP_DIALECTS`).
//! * [`s4hana`] — the plants whose ERP is SAP S/4HANA: SAP business events read back, ERP
//!   calls translated to OData V2, CSRF sessions, repeatable requests.
//! * [`bc`] — the plants whose ERP is Microsoft Dynamics 365 Business Central: webhook
//!   subscriptions kept alive by the system's clock, notifications read back, ERP calls
//!   translated to journal-line inserts, deduplicated by document number with a read-back.
//! * [`defects`] — the named defects; the correct path asks about them at a few points
//!   marked `DEFECT:`.
//! * [`server`] — the router, `serve` on a given listener, and [`run`].
//!
//! ```no_run
//! use andon_contracts::System;
//! use andon_reference_middleware::{Config, Defect, run};
//!
//! # async fn demo() -> Result<(), andon_reference_middleware::Error> {
//! let config = Config::new("/tmp/andon-sut")
//!     .target(System::Erp, "http://127.0.0.1:7001")
//!     .target(System::Mes, "http://127.0.0.1:7002")
//!     .defect(Defect::LateHold);
//! run(config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```

pub mod bc;
pub mod command;
pub mod config;
pub mod defects;
pub mod delivery;
pub mod dialect;
pub mod fields;
pub mod flows;
pub mod ingress;
pub mod mqtt;
pub mod s4hana;
pub mod server;
pub mod store;

pub use store::lots;

pub use bc::Release as BcRelease;
pub use config::{Args, BrokerUrl, Config, Credentials, LeaseConfig, MqttConfig};
pub use defects::{Defect, Defects};
pub use dialect::{ErpDialect, ErpDialects};
pub use s4hana::Release;
pub use server::{Error, router, run, run_on, serve, shutdown_signal};
