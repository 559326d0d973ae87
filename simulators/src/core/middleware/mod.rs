//! The layers every request to a simulator's API passes, outermost first: [`limit`] (body
//! limit, 405 as problem+json), [`fault`] (API faults in force), [`record`] (history and
//! contract validation), [`auth`] (bearer tokens and the token endpoint) and
//! [`idempotency`] (`Idempotency-Key`); the `slow` fault's delay is served innermost.

pub(super) mod auth;
pub(super) mod fault;
pub(super) mod idempotency;
pub(super) mod limit;
pub(super) mod record;

use axum::extract::Request;

use crate::problem::ApiError;

pub(in crate::core) fn too_large(limit: usize) -> ApiError {
    ApiError::of(
        "payload-too-large",
        format!("The body exceeds the limit of {limit} bytes"),
    )
}

pub(in crate::core) fn header_str(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}
