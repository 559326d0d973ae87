//! The history and contract layer: checks a request body's content type, size and schema
//! against the contract, and records the request and its answer in the history.

use std::time::Instant;

use andon_contracts::FieldError;
use andon_contracts::api::SourceRefs;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::history::Entry;
use crate::idempotency::{IDEMPOTENCY_KEY, Replayed};
use crate::problem::{ApiError, ProblemCode};

use super::super::Shared;
use super::super::extract::{AnswerLost, ClientGone};
use super::{header_str, too_large};

/// History and contract layer: checks content type, size and schema of the body, records
/// the request and its answer.
pub(in crate::core) async fn record_mw(
    State(s): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
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
    let schema = crate::core::schemas::request_schema(s.core.system, &method, &route);
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
