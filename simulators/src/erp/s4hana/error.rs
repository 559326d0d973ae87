//! SAP Gateway's error answer: `{"error": {"code", "message": {"lang", "value"},
//! "innererror": {…, "errordetails": […]}}}`, with the status and SAP message of each of
//! andon's business rules read from `contracts/dialects/s4hana/errors.yaml`.

use andon_contracts::dialects::s4hana::error_of;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::problem::{ApiError, ProblemCode};

/// An error answer of the S/4HANA dialect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SapError {
    /// HTTP status.
    pub status: u16,
    /// SAP message class and number (`M7/021`).
    pub code: &'static str,
    /// andon's problem code it stands for (recorded in the history).
    pub problem: String,
    /// The message.
    pub message: String,
    /// Application component.
    pub component: &'static str,
    /// The property the message is about (`/to_MaterialDocumentItem/0/EntryUnitISOCode`).
    pub target: String,
}

impl SapError {
    /// The SAP answer to andon's problem `code` with `message`.
    pub fn of(code: &str, message: impl Into<String>) -> Self {
        let row = error_of(code);
        Self {
            status: row.map_or(400, |r| r.status),
            code: row.map_or("/IWBEP/CM_MGW_RT/000", |r| r.code.as_str()),
            problem: code.to_string(),
            message: message.into(),
            component: row.map_or("OPU-GW-COR", |r| r.component.as_str()),
            target: String::new(),
        }
    }

    /// 400: the request does not match the service's metadata.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::of("invalid-request", message)
    }

    /// 404: no such resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::of("not-found", message)
    }

    /// The same error about `target` (a property path).
    pub fn at(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// The JSON body, as SAP Gateway writes it for `service`.
    pub fn body(&self, service: &str) -> serde_json::Value {
        let now = chrono::Utc::now();
        json!({
            "error": {
                "code": self.code,
                "message": {"lang": "en", "value": self.message},
                "innererror": {
                    "application": {
                        "component_id": self.component,
                        "service_namespace": "/SAP/",
                        "service_id": service,
                        "service_version": "0001"
                    },
                    "transactionid": format!("{:032X}", now.timestamp_nanos_opt().unwrap_or(0)),
                    "timestamp": format!("{}.{:07}", now.format("%Y%m%d%H%M%S"), now.timestamp_subsec_nanos() / 100),
                    "Error_Resolution": {
                        "SAP_Transaction": "For backend administrators: use ADT feed reader \"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG",
                        "SAP_Note": "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)"
                    },
                    "errordetails": [{
                        "code": self.code,
                        "message": self.message,
                        "propertyref": self.target,
                        "severity": "error",
                        "target": self.target,
                        "transition": false
                    }]
                }
            }
        })
    }

    /// The answer for `service`: the status, the JSON body, and andon's problem code for the
    /// history.
    pub fn response(&self, service: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut resp = (status, axum::Json(self.body(service))).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        resp.extensions_mut()
            .insert(ProblemCode(self.problem.clone()));
        resp
    }
}

impl From<ApiError> for SapError {
    fn from(e: ApiError) -> Self {
        Self::of(&e.0.code, e.0.detail.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stock_deficit_answers_as_sap_does() {
        let e = SapError::from(ApiError::of("stock-deficit", "Deficit of 5 PC"));
        assert_eq!((e.status, e.code), (400, "M7/021"));
        let b = e.body("API_MATERIAL_DOCUMENT_SRV");
        assert_eq!(b["error"]["code"], "M7/021");
        assert_eq!(b["error"]["message"]["value"], "Deficit of 5 PC");
        assert_eq!(
            b["error"]["innererror"]["errordetails"][0]["severity"],
            "error"
        );
    }

    #[test]
    fn a_code_not_in_the_table_is_a_gateway_error() {
        let e = SapError::of("no-such-code", "x");
        assert_eq!((e.status, e.code), (400, "/IWBEP/CM_MGW_RT/000"));
    }
}
