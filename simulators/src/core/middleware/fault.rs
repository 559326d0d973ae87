//! The fault layer: answers instead of the system while an API fault is in force
//! (`unavailable`, `throttle`, `reject`, `reset`, `hang`, `slow`, `commit_then_reset`), and
//! the innermost layer that serves a `slow` fault's delay.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::faults::{ApiFault, FaultKind};
use crate::history::{Entry, RequestEntry};
use crate::idempotency::IDEMPOTENCY_KEY;
use crate::problem::problem_response;
use crate::server::ResetConnection;

use super::super::extract::{AnswerLost, ClientGone};
use super::super::{Core, Shared};
use super::header_str;

/// Whether `path` is a Business Central plant's API (`/plant/{p}/api/…`), whose inserts
/// answer a `reject` fault themselves, each operation of a `$batch` on its own.
fn is_bc_path(path: &str) -> bool {
    path.starts_with("/plant/") && path.contains("/api/")
}

/// Whether `path` is part of the contract (the API, a vendor dialect's services under a
/// plant's base URL, and the token endpoint), where faults act.
fn is_contract_path(path: &str) -> bool {
    path.starts_with("/api/")
        || path.starts_with("/oauth/")
        || (path.starts_with("/plant/")
            && (path.contains("/sap/opu/odata/") || path.contains("/api/")))
}

/// Fault layer: answers instead of the system while an API fault is in force.
pub(in crate::core) async fn fault_mw(
    State(s): State<Shared>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path().to_string();
    if !is_contract_path(&path) {
        return next.run(req).await;
    }
    let method = req.method().to_string();
    let bc = is_bc_path(&path);
    let takes = |k: &FaultKind| !(bc && matches!(k, FaultKind::Reject { .. }));
    let Some((id, decision)) = s.core.faults.decide_api_where(&method, &path, takes) else {
        return next.run(req).await;
    };
    let faulted = Faulted {
        core: &s.core,
        started: Instant::now(),
        idempotency_key: header_str(&req, IDEMPOTENCY_KEY),
        traceparent: header_str(&req, "traceparent"),
        method,
        path,
    };
    match decision {
        ApiFault::Unavailable(after) => unavailable(faulted, after),
        ApiFault::Throttled(after) => throttled(faulted, after),
        ApiFault::Reject {
            status,
            code,
            detail,
        } => {
            faulted.record(status, Some(&code), "reject", None);
            let detail = detail.unwrap_or_else(|| reject_detail(&s.core, &code));
            problem_response(&andon_contracts::Problem::new(
                status, &code, "Rejected", detail,
            ))
        }
        ApiFault::Reset => {
            faulted.record(0, None, "reset", None);
            reset()
        }
        ApiFault::Hang => {
            faulted.record(0, None, "hang", None);
            hang(&s.core, &id).await
        }
        ApiFault::Slow(delay) => slow(req, next, delay).await,
        ApiFault::CommitThenReset => {
            req.extensions_mut().insert(AnswerLost);
            let _ = next.run(req).await;
            reset()
        }
    }
}

/// A request a fault answers instead of the system: what its history record needs.
struct Faulted<'a> {
    core: &'a Core,
    started: Instant,
    idempotency_key: Option<String>,
    traceparent: Option<String>,
    method: String,
    path: String,
}

impl Faulted<'_> {
    /// Records the request as answered by the fault `kind` with `status` (0: no answer),
    /// the problem code and `Retry-After` seconds, if any.
    fn record(self, status: u16, problem: Option<&str>, kind: &str, retry_after: Option<u64>) {
        self.core.history.append(
            self.core.system,
            Entry::Request(Box::new(RequestEntry {
                method: self.method,
                route: self.path.clone(),
                path: self.path,
                idempotency_key: self.idempotency_key,
                traceparent: self.traceparent,
                if_match: None,
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
                latency_us: self.started.elapsed().as_micros() as u64,
                dialect: None,
            })),
        );
    }
}

/// `unavailable`: 503 `service-unavailable` (the system is in maintenance) with
/// `Retry-After`.
fn unavailable(faulted: Faulted<'_>, after: std::time::Duration) -> Response {
    let system = faulted.core.system;
    let path = faulted.path.clone();
    faulted.record(
        503,
        Some("service-unavailable"),
        "unavailable",
        Some(retry_after_secs(after)),
    );
    let detail = format!(
        "The {system} system is in maintenance; retry after {}s",
        after.as_secs()
    );
    let mut r =
        vendor_answer(&path, 503, "Internal_ServiceUnavailable", &detail).unwrap_or_else(|| {
            problem_response(&andon_contracts::Problem::of(
                "service-unavailable",
                detail.clone(),
            ))
        });
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(after)),
    );
    r
}

/// A fault's answer on a Business Central plant's API (`/plant/{p}/api/…`), in Business
/// Central's error form (`{"error": {"code", "message"}}`) rather than problem+json.
fn vendor_answer(path: &str, status: u16, code: &str, message: &str) -> Option<Response> {
    let bc = is_bc_path(path);
    let status = StatusCode::from_u16(status).ok()?;
    bc.then(|| {
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        (status, axum::Json(body)).into_response()
    })
}

/// `throttle` beyond its limit: 429 `too-many-requests` with `Retry-After` (the time left
/// in the window).
fn throttled(faulted: Faulted<'_>, after: std::time::Duration) -> Response {
    let path = faulted.path.clone();
    faulted.record(
        429,
        Some("too-many-requests"),
        "throttle",
        Some(retry_after_secs(after)),
    );
    let detail = "Rate limit for this client exceeded; retry later";
    let mut r =
        vendor_answer(&path, 429, "Application_TooManyRequests", detail).unwrap_or_else(|| {
            problem_response(&andon_contracts::Problem::of("too-many-requests", detail))
        });
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(retry_after_secs(after)),
    );
    r
}

/// `hang`: holds the request until the fault `id` is cleared (or the registry is gone),
/// then drops the connection.
async fn hang(core: &Core, id: &str) -> Response {
    let mut changes = core.faults.changes();
    while core.faults.is_active(id) {
        if changes.changed().await.is_err() {
            break;
        }
    }
    reset()
}

/// `slow`: the request goes on with its delay marked for the innermost layer, on a task of
/// its own that the client's disconnect does not cancel.
async fn slow(mut req: Request, next: Next, delay: std::time::Duration) -> Response {
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

/// Added latency of a `slow` fault, served by the innermost layer.
#[derive(Debug, Clone, Copy)]
struct SlowBy(std::time::Duration);

/// Innermost layer: sleeps for a `slow` fault just before the handler runs.
pub(in crate::core) async fn slow_mw(req: Request, next: Next) -> Response {
    if let Some(SlowBy(d)) = req.extensions().get::<SlowBy>().copied() {
        tokio::time::sleep(d).await;
    }
    next.run(req).await
}

/// `Retry-After` in whole seconds, rounded up so a client that obeys it is not early.
fn retry_after_secs(after: std::time::Duration) -> u64 {
    (after.as_secs_f64().ceil() as u64).max(1)
}

/// The detail of a `reject` fault's problem when the fault names none: for
/// `period-closed`, the open periods and company code as an ERP words it.
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

/// An answer that makes the server drop the connection instead of sending it.
fn reset() -> Response {
    let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
    r.extensions_mut().insert(ResetConnection);
    r
}
