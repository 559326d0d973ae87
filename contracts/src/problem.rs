//! RFC 9457 problem details, the error shape of every simulator.

use serde::{Deserialize, Serialize};

/// One field-level violation, located by JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldError {
    /// JSON pointer to the field (`/items/0/quantity`).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// `application/problem+json` body (RFC 9457) with andon's stable `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// `https://andon.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short human title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Message modelled on the real system's.
    pub detail: String,
    /// Stable machine code (`stock-deficit`).
    pub code: String,
    /// The request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Field-level violations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// Base of problem type URIs.
pub const PROBLEM_BASE: &str = "https://andon.dev/problems/";

impl Problem {
    /// A problem with a stable code.
    pub fn new(status: u16, code: &str, title: &str, detail: impl Into<String>) -> Self {
        Self {
            type_: format!("{PROBLEM_BASE}{code}"),
            title: title.to_string(),
            status,
            detail: detail.into(),
            code: code.to_string(),
            instance: None,
            errors: Vec::new(),
        }
    }

    /// Adds field errors.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// Sets the instance (request path).
    pub fn at(mut self, instance: impl Into<String>) -> Self {
        self.instance = Some(instance.into());
        self
    }
}
