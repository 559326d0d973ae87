//! Integration tests of the simulators, driven through their routers with `oneshot`.
//!
//! Layout:
//! * `helpers` — the fixture plant, an ERP under test, request builders, contract checks.
//! * `erp_rules` — every business rule of the ERP and the stock effect of each movement type.
//! * `idempotency` — `Idempotency-Key` replays, reuse, in-flight requests, the off switch.
//! * `auth` — bearer tokens, plant scope, token expiry.
//! * `faults_http` — called-system faults through the admin API, and their history.
//! * `bad_input` — malformed and contract-breaking requests; the request history.
//! * `erp_props` — properties over random postings, and concurrent postings.

mod auth;
mod bad_input;
mod bc;
mod erp_props;
mod erp_rules;
mod faults_http;
mod helpers;
mod idempotency;
mod limits;
mod s4hana;
mod scope;
