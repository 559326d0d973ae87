//! `POST /events/erp/bc/{plant}`: where a Business Central system notifies the middleware.
//!
//! * With `?validationToken=T` (the handshake of a subscription being created or renewed):
//!   200 `text/plain` with body `T`.
//! * Otherwise a webhook body `{"value": [notification, …]}`: each notification must carry
//!   the `clientState` of a subscription the middleware made (else 403, nothing stored);
//!   each becomes an inbox entry ([`crate::bc::event`]) keyed by its change, stored with the
//!   commands it implies before the answer: 202, or 200 when every one was a redelivery.
//!   The notification's `traceparent` is the trace its calls continue.

use std::collections::{BTreeSet, HashMap};

use andon_contracts::{CloudEvent, PlantId, System};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{AppState, Refusal, problem, record_refusal};
use crate::bc::{self, Webhook};
use crate::store::{self, now_ms};

/// `POST /events/erp/bc/{plant}`.
pub async fn notify(
    State(app): State<AppState>,
    Path(plant): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let plant = match PlantId::parse(plant.as_str()) {
        Ok(p) if app.delivery.dialects().bc(&p).is_some() => p,
        _ => {
            return problem(
                404,
                "not-found",
                "Not found",
                format!("Plant {plant:?} does not speak Business Central (ERP_DIALECTS)"),
                vec![],
            );
        }
    };
    if let Some(token) = query.get("validationToken") {
        tracing::debug!(%plant, "subscription handshake");
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            token.clone(),
        )
            .into_response();
    }
    let events = match read(&app, &plant, &headers, &body) {
        Ok(e) => e,
        Err(refusal) => {
            tracing::warn!(%plant, code = refusal.code, detail = %refusal.detail, "notification refused");
            record_refusal(&app.store, System::Erp, &refusal).await;
            return problem(
                refusal.status,
                refusal.code,
                refusal.title,
                refusal.detail,
                refusal.errors,
            );
        }
    };
    // DEFECT: ack-before-persist — acknowledged now, stored later.
    if let Some(wb) = &app.write_behind {
        events.into_iter().for_each(|e| wb.push(e));
        return (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response();
    }
    store_all(&app, events).await
}

/// The inbox entries of a webhook body from `plant`'s system.
fn read(
    app: &AppState,
    plant: &PlantId,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<CloudEvent>, Box<Refusal>> {
    let refuse = |status, code, title, detail: String| {
        let mut r = Refusal::new(status, code, title, detail);
        r.source = Some(bc::source(plant));
        Box::new(r)
    };
    let hook: Webhook = serde_json::from_slice(body).map_err(|e| {
        refuse(
            400,
            "invalid-notification",
            "Invalid notification",
            format!("Not a webhook body {{\"value\": [...]}}: {e}"),
        )
    })?;
    if let Some(n) = hook
        .value
        .iter()
        .find(|n| !app.delivery.bc_accepts(plant, n.client_state.as_deref()))
    {
        return Err(refuse(
            403,
            "unknown-client-state",
            "Unknown client state",
            format!(
                "The notification of subscription {:?} does not carry the secret of a subscription this middleware made",
                n.subscription_id
            ),
        ));
    }
    let traceparent = trace_of(headers);
    hook.value
        .iter()
        .map(|n| {
            bc::event(plant, n, &traceparent)
                .map_err(|e| refuse(400, "invalid-notification", "Invalid notification", e))
        })
        .collect()
}

/// The notification's `traceparent`, or a new trace when it has none (or a broken one).
fn trace_of(headers: &HeaderMap) -> String {
    let given = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|tp| is_traceparent(tp));
    match given {
        Some(tp) => tp.to_string(),
        None => format!(
            "00-{:032x}-{:016x}-01",
            rand::random::<u128>().max(1),
            rand::random::<u64>().max(1)
        ),
    }
}

/// Whether `tp` is a W3C `traceparent` of version 00 with a non-zero trace id.
pub fn is_traceparent(tp: &str) -> bool {
    let parts: Vec<&str> = tp.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && parts[1].bytes().any(|b| b != b'0')
        && hex(parts[2], 16)
        && hex(parts[3], 2)
}

/// Stores every entry with its commands, then answers: 202, or 200 when all were stored
/// before (redeliveries); 503 when the store failed (the system delivers again).
async fn store_all(app: &AppState, events: Vec<CloudEvent>) -> Response {
    let mut targets = BTreeSet::new();
    let mut fresh = 0usize;
    for event in events {
        match app
            .store
            .call(move |c, p| store::ingest(c, p, &event, now_ms()))
            .await
        {
            Ok(i) => {
                targets.extend(i.targets);
                fresh += usize::from(!i.duplicate);
            }
            Err(e) => {
                app.delivery.wake(&targets);
                tracing::error!(error = %e, "storing a notification failed");
                let mut r = problem(
                    503,
                    "store-unavailable",
                    "Store unavailable",
                    "The notification could not be stored; retry later",
                    vec![],
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                return r;
            }
        }
    }
    app.delivery.wake(&targets);
    if fresh == 0 {
        (StatusCode::OK, Json(json!({"status": "duplicate"}))).into_response()
    } else {
        (StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_checked() {
        assert!(is_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        assert!(!is_traceparent("garbage"));
        let mut h = HeaderMap::new();
        assert!(is_traceparent(&trace_of(&h)), "a new trace");
        h.insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        assert_eq!(
            trace_of(&h),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
    }
}
