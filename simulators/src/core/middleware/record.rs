//! The history and contract layer: checks a request body's content type, size and schema
//! against the contract, and records the request and its answer in the history.

use std::sync::Arc;
use std::time::Instant;

use andon_contracts::{FieldError, SourceRef};
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::history::{Entry, RequestEntry};
use crate::idempotency::{IDEMPOTENCY_KEY, Replayed};
use crate::problem::{ApiError, ProblemCode};

use super::super::Shared;
use super::super::extract::{AnswerLost, ClientGone, ParsedBody, RequestNote};
use super::{header_str, too_large};

/// History and contract layer: checks content type, size and schema of the body, records
/// the request and its answer.
pub(in crate::core) async fn record_mw(
    State(s): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let seen = Seen::of(&req);
    let schema = crate::core::schemas::request_schema(s.core.system, &seen.method, &seen.route);
    let limit = s.core.with_config(|c| c.body_limit);
    let mut check = BodyCheck::default();
    let (parts, body) = req.into_parts();
    let resp = match check.run(schema, parts, body, limit).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    s.core
        .history
        .append(s.core.system, seen.entry(check, &resp, started));
    resp
}

/// What the history keeps of a request before it is passed on.
struct Seen {
    method: axum::http::Method,
    path: String,
    route: String,
    idempotency_key: Option<String>,
    traceparent: Option<String>,
    if_match: Option<String>,
    answer_lost: bool,
    client_gone: Option<ClientGone>,
}

impl Seen {
    /// Method, path, route template, idempotency key and trace context of `req`, and
    /// whether the fault layer marked its answer as lost or its client as possibly gone.
    fn of(req: &Request) -> Self {
        let path = req.uri().path().to_string();
        Self {
            method: req.method().clone(),
            route: req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_string())
                .unwrap_or_else(|| path.clone()),
            path,
            idempotency_key: header_str(req, IDEMPOTENCY_KEY),
            traceparent: header_str(req, "traceparent"),
            if_match: header_str(req, "if-match"),
            answer_lost: req.extensions().get::<AnswerLost>().is_some(),
            client_gone: req.extensions().get::<ClientGone>().cloned(),
        }
    }

    /// The history record of the request with what its body check found and the answer
    /// `resp`, timed from `started`.
    fn entry(self, check: BodyCheck, resp: &Response, started: Instant) -> Entry {
        let note = resp.extensions().get::<RequestNote>().cloned();
        let fault = if let Some(f) = note.as_ref().and_then(|n| n.fault.clone()) {
            Some(f)
        } else if self.answer_lost {
            Some("commit_then_reset".to_string())
        } else if self.client_gone.is_some_and(|g| g.is_set()) {
            // The client gave up on a slow request the system then finished.
            Some("slow".to_string())
        } else {
            None
        };
        let (route, key, body, valid, violations, dialect) = match note {
            Some(n) => (
                n.route,
                n.key,
                n.body,
                n.valid,
                n.violations,
                Some(Box::new(n.dialect)),
            ),
            None => (
                self.route,
                self.idempotency_key,
                check.body,
                check.valid,
                check.violations,
                None,
            ),
        };
        Entry::Request(Box::new(RequestEntry {
            method: self.method.to_string(),
            path: self.path,
            route,
            idempotency_key: key,
            traceparent: self.traceparent,
            if_match: self.if_match,
            sources: check.sources,
            body,
            valid,
            violations,
            status: resp.status().as_u16(),
            content_type: resp
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            problem: resp.extensions().get::<ProblemCode>().map(|p| p.0.clone()),
            replayed: resp.extensions().get::<Replayed>().is_some(),
            fault,
            retry_after_s: None,
            latency_us: started.elapsed().as_micros() as u64,
            dialect,
        }))
    }
}

/// What the contract check found in a request body, for the history.
#[derive(Default)]
struct BodyCheck {
    /// Source events the body references.
    sources: Vec<SourceRef>,
    /// The body as sent, once it is read as JSON.
    body: Option<andon_contracts::Json>,
    /// Whether it matched the contract (`None`: no body expected).
    valid: Option<bool>,
    /// What did not match.
    violations: Vec<String>,
}

impl BodyCheck {
    /// Checks the body against the contract schema `kind` of the route, if it has one:
    /// content type, size (at most `limit` bytes), JSON syntax, then the schema. Returns the
    /// request to pass on (the body read into memory), or the problem to answer.
    async fn run(
        &mut self,
        kind: Option<&'static str>,
        parts: Parts,
        body: Body,
        limit: usize,
    ) -> Result<Request, ApiError> {
        let Some(kind) = kind else {
            return Ok(Request::from_parts(parts, body));
        };
        self.content_type(&parts)?;
        let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
            self.valid = Some(false);
            self.violations
                .push(format!("body larger than {limit} bytes"));
            too_large(limit)
        })?;
        let json = self.json(&bytes)?;
        self.schema(kind, &json)?;
        self.valid = Some(true);
        let mut req = Request::from_parts(parts, Body::from(bytes));
        req.extensions_mut().insert(ParsedBody(Arc::new(json)));
        Ok(req)
    }

    /// The content type must be JSON (`application/json` or `…+json`).
    fn content_type(&mut self, parts: &Parts) -> Result<(), ApiError> {
        let (ct, essence) = crate::problem::content_type(&parts.headers);
        if essence != "application/json" && !essence.ends_with("+json") {
            self.valid = Some(false);
            self.violations.push(format!(
                "content-type: expected application/json, got {ct:?}"
            ));
            return Err(ApiError::of(
                "unsupported-media-type",
                format!("Content-Type must be application/json, got {ct:?}"),
            ));
        }
        Ok(())
    }

    /// The body read as JSON; malformed JSON is a problem naming line and column.
    fn json(&mut self, bytes: &[u8]) -> Result<serde_json::Value, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| {
            self.valid = Some(false);
            self.violations.push(format!("/: malformed JSON: {e}"));
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
        })
    }

    /// Notes the body and the source events it references, then validates it against the
    /// contract schema `kind`; every violation is listed.
    fn schema(&mut self, kind: &'static str, json: &serde_json::Value) -> Result<(), ApiError> {
        if let Some(refs) = source_refs(json) {
            self.sources = refs;
        }
        self.body = Some(andon_contracts::Json::new(json));
        let Err(v) = andon_contracts::validate(kind, json) else {
            return Ok(());
        };
        self.valid = Some(false);
        self.violations =
            v.0.iter()
                .map(|x| format!("{}: {}", x.pointer, x.message))
                .collect();
        Err(ApiError::invalid(
            format!("The body does not match {kind}: {v}"),
            v.0.into_iter()
                .map(|x| FieldError {
                    pointer: x.pointer,
                    message: x.message,
                })
                .collect(),
        ))
    }
}

/// The source references of a body: `source`, then `sources`; none when the body is not an
/// object or either field is not what the contract says.
fn source_refs(json: &serde_json::Value) -> Option<Vec<SourceRef>> {
    let body = json.as_object()?;
    let one = match body.get("source") {
        Some(v) => Option::<SourceRef>::deserialize(v).ok()?,
        None => None,
    };
    let many = match body.get("sources") {
        Some(v) => Vec::<SourceRef>::deserialize(v).ok()?,
        None => Vec::new(),
    };
    Some(one.into_iter().chain(many).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use andon_contracts::api::SourceRefs;
    use proptest::prelude::*;
    use serde_json::json;

    /// What the history noted before: the body read as `SourceRefs` with every other field
    /// ignored.
    fn as_before(json: &serde_json::Value) -> Option<Vec<SourceRef>> {
        #[derive(Deserialize)]
        struct Only {
            #[serde(flatten)]
            refs: SourceRefs,
        }
        Only::deserialize(json).ok().map(|o| o.refs.all())
    }

    #[test]
    fn source_refs_reads_source_then_sources() {
        let r = |s: &str, id: &str| SourceRef {
            source: s.into(),
            id: id.into(),
        };
        let body = json!({"qty": 1, "source": {"source": "/a", "id": "1"},
                          "sources": [{"source": "/b", "id": "2"}]});
        assert_eq!(source_refs(&body), Some(vec![r("/a", "1"), r("/b", "2")]));
        assert_eq!(source_refs(&json!({"qty": 1})), Some(vec![]));
        assert_eq!(source_refs(&json!({"sources": 3})), None);
        assert_eq!(source_refs(&json!([1])), None);
    }

    fn field() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            Just(json!(null)),
            Just(json!(7)),
            Just(json!({"source": "/andon/mes/1000", "id": "e1"})),
            Just(json!({"source": "/andon/mes/1000"})),
            Just(json!([{"source": "/andon/qms/1000", "id": "e2"}])),
            Just(json!([])),
            Just(json!(["x"])),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(19),
            ..ProptestConfig::default()
        })]
        #[test]
        fn source_refs_notes_what_the_typed_read_did(
            source in proptest::option::of(field()),
            sources in proptest::option::of(field()),
        ) {
            let mut body = serde_json::Map::new();
            body.insert("plant".into(), json!("1000"));
            if let Some(v) = source { body.insert("source".into(), v); }
            if let Some(v) = sources { body.insert("sources".into(), v); }
            let body = serde_json::Value::Object(body);
            prop_assert_eq!(source_refs(&body), as_before(&body));
        }
    }
}
