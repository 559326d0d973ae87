//! Business Central's error answer: `{"error": {"code", "message"}}` with the status, the code
//! and the wording of each of andon's business rules read from
//! `contracts/dialects/business-central/errors.yaml` (per release where they differ).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::problem::{ApiError, ProblemCode};

/// An error answer of the Business Central dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BcError {
    /// HTTP status.
    pub status: u16,
    /// Business Central's error code (`Internal_RecordNotFound`).
    pub code: String,
    /// andon's problem code it stands for (recorded in the history).
    pub problem: String,
    /// The message.
    pub message: String,
    /// `Retry-After` seconds (429).
    pub retry_after: Option<u64>,
}

impl BcError {
    /// Business Central's answer at `release` to andon's problem `problem` with `message`.
    pub fn of(problem: &str, message: impl Into<String>, release: &str) -> Self {
        Self::case(problem, None, message, release)
    }

    /// The answer to a `case` of `problem` (`invalid-request`: `required`, …). The table's
    /// message when it needs nothing filled in, else `message`.
    pub fn case(
        problem: &str,
        case: Option<&str>,
        message: impl Into<String>,
        release: &str,
    ) -> Self {
        let (status, code, template) = super::contract::error_code(problem, case, release);
        let message = message.into();
        Self {
            status,
            code,
            problem: problem.to_string(),
            message: if template.is_empty()
                || template.contains('{')
                || !message.is_empty() && problem == "invalid-request"
            {
                message
            } else {
                template
            },
            retry_after: None,
        }
    }

    /// 400: the request does not match the entity or the API.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::of("invalid-request", message, "")
    }

    /// 404: no such resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::of("not-found", message, "")
    }

    /// 405: the resource does not take the method.
    pub fn method(message: impl Into<String>) -> Self {
        Self::of("method-not-allowed", message, "")
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after.max(1)),
            ..Self::of("too-many-requests", message, "")
        }
    }

    /// The JSON body, as Business Central writes it.
    pub fn body(&self) -> serde_json::Value {
        let correlation = uuid::Uuid::new_v4();
        json!({ "error": {
            "code": self.code,
            "message": format!("{}  CorrelationId:  {correlation}.", self.message),
        }})
    }

    /// The HTTP answer.
    pub fn response(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp.extensions_mut()
            .insert(ProblemCode(self.problem.clone()));
        resp
    }

    /// The same error as it reads at `release` (a business rule's code can differ).
    pub fn at_release(self, release: &str) -> Self {
        if self.problem == "invalid-request" || self.retry_after.is_some() {
            return self;
        }
        let (status, code, _) = super::contract::error_code(&self.problem, None, release);
        Self {
            status,
            code,
            ..self
        }
    }
}

impl From<ApiError> for BcError {
    fn from(e: ApiError) -> Self {
        Self::of(&e.0.code, e.0.detail.clone(), "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_business_rule_answers_with_its_code_and_a_correlation_id() {
        let e = BcError::of("stock-deficit", "You have insufficient quantity", "24");
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "Application_DialogException")
        );
        let e = e.at_release("25");
        assert_eq!(e.code, "Application_InsufficientInventory");
        let body = e.body();
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(msg.starts_with("You have insufficient quantity  CorrelationId:  "));
        assert!(!body["error"]["code"].as_str().unwrap().is_empty());
    }

    #[test]
    fn too_many_requests_carry_retry_after() {
        let r = BcError::too_many("Too many requests", 7).response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "7");
    }
}
