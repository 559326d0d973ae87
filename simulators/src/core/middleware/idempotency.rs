//! The idempotency layer: replays, refuses or claims state-changing requests that carry an
//! `Idempotency-Key` (see [`crate::idempotency`]).

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::idempotency::{Begin, IDEMPOTENCY_KEY, StoredResponse, fingerprint};

use super::super::Shared;
use super::{header_str, too_large};

/// Idempotency layer: replays, refuses or claims keyed state-changing requests.
pub(in crate::core) async fn idempotency_mw(
    State(s): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let changing = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let key = header_str(&req, IDEMPOTENCY_KEY);
    let (true, Some(key), true) = (changing, key, s.core.with_config(|c| c.idempotency)) else {
        return next.run(req).await;
    };
    if req.uri().path().starts_with("/oauth/") {
        return next.run(req).await;
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    // Only a route that takes this method takes a key: another method is a 405, whatever
    // key it carries.
    if crate::core::schemas::request_schema(s.core.system, req.method(), &route).is_none() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    // Bounded by the outermost layer: an error here is a body over the limit.
    let limit = s.core.with_config(|c| c.body_limit);
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit).into_response();
    };
    let fp = fingerprint(parts.method.as_str(), parts.uri.path(), &bytes);
    match s.core.idempotency.begin(&route, &key, fp) {
        Begin::Replay(stored) => stored.replay(),
        Begin::Refuse(e) => e.into_response(),
        Begin::Proceed(claim) => {
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let (rparts, rbody) = resp.into_parts();
            let rbytes = axum::body::to_bytes(rbody, usize::MAX)
                .await
                .unwrap_or_default();
            let mut headers = axum::http::HeaderMap::new();
            for h in [
                header::CONTENT_TYPE,
                header::LOCATION,
                header::WWW_AUTHENTICATE,
            ] {
                if let Some(v) = rparts.headers.get(&h) {
                    headers.insert(h, v.clone());
                }
            }
            claim.complete(StoredResponse {
                status: rparts.status,
                headers,
                body: rbytes.clone(),
            });
            Response::from_parts(rparts, Body::from(rbytes))
        }
    }
}
