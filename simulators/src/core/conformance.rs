//! Per-endpoint conformance of the requests a simulator saw: how many, how many valid, the
//! first violation, missing idempotency keys and trace context.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use crate::history::{Record, RequestEntry};

use super::Shared;

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
        let Some(RequestEntry {
            method,
            route,
            valid,
            violations,
            idempotency_key,
            traceparent,
            fault,
            ..
        }) = r.entry.request()
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

pub(super) async fn conformance(
    State(s): State<Shared>,
) -> Json<BTreeMap<String, EndpointConformance>> {
    Json(s.core.history.with_records(conformance_of))
}
