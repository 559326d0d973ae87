//! Errors of the simulators' APIs, answered as RFC 9457 problem+json.

use andon_contracts::{FieldError, Problem};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The content type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A request's `Content-Type` as written (empty when absent or not text) and its essence:
/// the media type without parameters, in lower case (`application/json`).
pub fn content_type(headers: &axum::http::HeaderMap) -> (&str, String) {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (ct, essence)
}

/// An API error: a problem with a stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .0.status, .0.code, .0.detail)]
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// A problem of a code of `contracts/problems.yaml` (its status and title from there).
    pub fn of(code: &str, detail: impl Into<String>) -> Self {
        Self(Box::new(Problem::of(code, detail)))
    }

    /// 400 `invalid-request` with field errors.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> Self {
        Self(Box::new(
            Problem::of("invalid-request", detail).with_errors(errors),
        ))
    }

    /// 422 `unknown-master-data`.
    pub fn unknown_master_data(detail: impl Into<String>) -> Self {
        Self::of("unknown-master-data", detail)
    }

    /// 404 `not-found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::of("not-found", detail)
    }

    /// 403 `plant-scope`.
    pub fn plant_scope(plant: &str) -> Self {
        Self::of(
            "plant-scope",
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

#[cfg(test)]
mod catalog_tests {
    /// Every `"code"` the simulators' sources answer with (`ApiError::of`, `Problem::of`)
    /// is in `contracts/problems.yaml`, and every code there is answered somewhere: the
    /// catalog the docs render is the simulators' own list.
    #[test]
    fn every_code_the_simulators_answer_is_catalogued_and_every_catalogued_code_is_answered() {
        fn walk(dir: &std::path::Path, out: &mut String) {
            for e in std::fs::read_dir(dir).expect("src") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push_str(&std::fs::read_to_string(&p).expect("source"));
                }
            }
        }
        let mut src = String::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut src,
        );
        let re = regex::Regex::new(r#"(?:ApiError|Problem)::of\(\s*"([a-z-]+)""#).expect("re");
        let used: std::collections::BTreeSet<String> =
            re.captures_iter(&src).map(|c| c[1].to_string()).collect();
        let catalogued: std::collections::BTreeSet<String> = andon_contracts::problem::catalog()
            .iter()
            .map(|d| d.code.clone())
            .collect();
        let missing: Vec<&String> = used.difference(&catalogued).collect();
        assert!(
            missing.is_empty(),
            "answered but not catalogued: {missing:?}"
        );
        for code in &catalogued {
            assert!(
                used.contains(code) || src.contains(&format!("\"{code}\"")),
                "catalogued but never answered: {code}"
            );
        }
    }
}
