//! The outermost layer: the body limit, and axum's 405 answered as problem+json.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::problem::ApiError;

use super::super::Shared;
use super::too_large;

/// Outermost layer: no body is read past the body limit, by any layer or route. A declared
/// length over it is answered 413 at once, unread; any other body is cut off at the limit,
/// so whoever reads it gets an error instead of memory.
pub(in crate::core) async fn limit_mw(
    State(s): State<Shared>,
    req: Request,
    next: Next,
) -> Response {
    let limit = s.core.with_config(|c| c.body_limit);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large(limit).into_response();
    }
    let (parts, body) = req.into_parts();
    let (method, path) = (parts.method.clone(), parts.uri.path().to_string());
    let body = Body::new(http_body_util::Limited::new(body, limit));
    let resp = next.run(Request::from_parts(parts, body)).await;
    if resp.status() != StatusCode::METHOD_NOT_ALLOWED {
        return resp;
    }
    // axum's 405 has an empty body: answer problem+json like every other error, with
    // the methods the path has.
    let allow = resp.headers().get(header::ALLOW).cloned();
    let mut out = ApiError::of(
        "method-not-allowed",
        format!("{path} does not take {method}"),
    )
    .into_response();
    if let Some(a) = allow {
        out.headers_mut().insert(header::ALLOW, a);
    }
    out
}
