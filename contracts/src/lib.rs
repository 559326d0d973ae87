//! # andon-contracts
//!
//! The integration contract between a middleware under test and andon's simulated
//! ERP, MES, QMS and WMS, as Rust types and as a validator over the contract files
//! (`contracts/schemas`, `contracts/openapi`, `contracts/asyncapi`).
//!
//! Layout:
//! * [`ids`] — identifier newtypes (plant, material, batch, order…), checked on the way in.
//! * [`quantity`] — quantities with a unit, held as exact thousandths.
//! * [`objects`] — canonical business objects (material, production order, stock, lots).
//! * [`events`] — the event catalog and the CloudEvents envelope.
//! * [`flows`] — which calls realise which source event, field by field
//!   (`contracts/flows.yaml`), and the judge that names every field a call got wrong.
//! * [`json`] — a JSON value kept as its text (event payloads, effect details).
//! * [`api`] — request and response bodies of the simulators' REST APIs.
//! * [`problem`] — RFC 9457 problem details.
//! * [`mod@validate`] — JSON Schema (2020-12) validation with JSON-pointer violations, over the
//!   contract files embedded at build time (it also serves the schemas, OpenAPI and AsyncAPI texts).

pub mod api;
pub mod bundle;
pub mod dialects;
pub mod events;
pub mod flows;
pub mod ids;
pub mod json;
pub mod objects;
pub mod problem;
pub mod quantity;
pub mod validate;

pub use events::{CloudEvent, EventData, EventKind, SourceRef, System};
pub use ids::{
    BatchId, IdError, MaterialId, MovementTypeCode, OperationId, OrderId, PlantId, StorageLocation,
    Unit,
};
pub use json::{Json, JsonRef};
pub use objects::{Material, OrderStatus, ProductionOrder, StockRow, StockType};
pub use problem::{FieldError, Problem};
pub use quantity::Quantity;
pub use validate::{Violation, Violations, validate};
