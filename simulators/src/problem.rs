//! Errors of the simulators' APIs, answered as RFC 9457 problem+json.

use andon_contracts::{FieldError, Problem};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An API error: a problem with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .0.status, .0.code, .0.detail)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// A problem with status, code, title and detail.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem::new(status, code, title, detail)))
    }

    /// 400 `invalid-request` with field errors.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self(Box::new(
            Problem::new(400, "invalid-request", "Invalid request", detail).with_errors(errors),
        ))
    }

    /// 422 `unknown-master-data`.
    pub fn unknown_master_data(detail: impl Into<String>) -> Self {
        Self::new(422, "unknown-master-data", "Unknown master data", detail)
    }

    /// 404 `not-found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, "not-found", "Not found", detail)
    }

    /// 403 `plant-scope`.
    pub fn plant_scope(plant: &str) -> Self {
        Self::new(
            403,
            "plant-scope",
            "Plant outside token scope",
            format!("The access token is not authorised for plant {plant}"),
        )
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.0.status
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self(Box::new(p))
    }
}

/// Builds a problem+json response.
pub fn problem_response(p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(p).unwrap_or_default();
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if p.status == 401 {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"andon\""),
        );
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = problem_response(&self.0);
        resp.extensions_mut()
            .insert(ProblemCode(self.0.code.clone()));
        resp
    }
}

/// Marks a response with the problem code it carries (read by the history layer).
#[derive(Debug, Clone)]
pub struct ProblemCode(pub String);
