//! What handlers take from a request: [`Ctx`] (trace context, token scope, whether the
//! answer will be lost), [`JsonBody`] and [`decode`], and the markers the fault layer leaves
//! in a request for the layers and handlers inside it.

use std::sync::Arc;

use andon_contracts::FieldError;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::auth::Scope;
use crate::problem::ApiError;

/// What a handler knows about the request beyond its body.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// `traceparent` header.
    pub traceparent: Option<String>,
    /// Plants the token covers.
    pub scope: Scope,
    /// The answer will be lost (`commit_then_reset`): effects are indeterminate.
    pub answer_lost: bool,
}

/// Marks a request whose answer the fault layer will drop after processing.
#[derive(Debug, Clone, Copy)]
pub(super) struct AnswerLost;

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ctx {
            traceparent: parts
                .headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            scope: parts
                .extensions
                .get::<Scope>()
                .cloned()
                .unwrap_or(Scope::Any),
            answer_lost: parts.extensions.get::<AnswerLost>().is_some()
                || parts
                    .extensions
                    .get::<ClientGone>()
                    .is_some_and(ClientGone::is_set),
        })
    }
}

/// A JSON body already checked against the contract by the history layer, decoded into `T`.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ParsedBody(json)) = req.extensions().get::<ParsedBody>() {
            return decode_value(json).map(JsonBody);
        }
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX)
            .await
            .map_err(|e| ApiError::invalid(format!("could not read the body: {e}"), vec![]))?;
        decode(&bytes).map(JsonBody)
    }
}

/// The body as the contract layer parsed and validated it (a route with a request schema):
/// the handler decodes this value instead of reading the text a second time.
#[derive(Debug, Clone)]
pub(super) struct ParsedBody(pub(super) Arc<serde_json::Value>);

/// Decodes JSON into `T`, as a 400 problem naming the line and column on failure.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .or_else(|e| {
            // JSON Schema counts `24.0` as the integer 24, and the schema check let it through:
            // the body decodes as the schema read it, or not at all.
            let mut v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| e)?;
            integral(&mut v);
            serde_json::from_value(v)
        })
        .map_err(not_the_contract)
}

/// Decodes an already parsed body into `T`, as [`decode`] does its text.
fn decode_value<T: DeserializeOwned>(json: &serde_json::Value) -> Result<T, ApiError> {
    T::deserialize(json)
        .or_else(|_| {
            let mut v = json.clone();
            integral(&mut v);
            serde_json::from_value(v)
        })
        .map_err(not_the_contract)
}

fn not_the_contract(e: serde_json::Error) -> ApiError {
    ApiError::invalid(
        format!("The body does not match the contract: {e}"),
        vec![FieldError {
            pointer: String::new(),
            message: e.to_string(),
        }],
    )
}

/// Turns every number with no fraction (`24.0`) into an integer, as JSON Schema reads it.
fn integral(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                && n.is_f64()
            {
                *v = serde_json::Value::from(f as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(integral),
        serde_json::Value::Object(o) => o.values_mut().for_each(integral),
        _ => {}
    }
}

/// Set once the client of a slow request has gone (its connection dropped the answer's
/// future) while the system still works on the request.
#[derive(Debug, Clone, Default)]
pub(super) struct ClientGone(Arc<std::sync::atomic::AtomicBool>);

impl ClientGone {
    pub(super) fn is_set(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A guard that sets the flag when dropped before [`GoneGuard::disarm`].
    pub(super) fn guard(&self) -> GoneGuard {
        GoneGuard(Some(self.clone()))
    }
}

/// Sets [`ClientGone`] on drop unless disarmed (the answer was handed to the client).
pub(super) struct GoneGuard(Option<ClientGone>);

impl GoneGuard {
    pub(super) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GoneGuard {
    fn drop(&mut self) {
        if let Some(g) = self.0.take() {
            g.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod decode_tests {
    use super::decode;

    #[derive(Debug, serde::Deserialize)]
    struct Ratio {
        numerator: u32,
        share: f64,
    }

    #[test]
    fn a_whole_number_written_with_a_fraction_decodes_as_the_schema_read_it() {
        let r: Ratio = decode(br#"{"numerator": 24.0, "share": 2}"#).expect("24.0 is 24");
        assert_eq!((r.numerator, r.share), (24, 2.0));
        let e = decode::<Ratio>(br#"{"numerator": 24.5, "share": 1}"#).unwrap_err();
        assert_eq!(e.status(), 400);
    }
}

/// What a dialect's handler tells the history layer about a call it read itself (a vendor
/// dialect checks its own bodies): put in the answer's extensions, it replaces what the
/// layer would record from the route and headers.
#[derive(Debug, Clone)]
pub struct RequestNote {
    /// The operation, as the dialect's contract names it
    /// (`POST /sap/opu/odata/sap/API_MATERIAL_DOCUMENT_SRV/A_MaterialDocumentHeader`: the
    /// route without the method).
    pub route: String,
    /// The dialect's idempotency key (`RequestID`), if the call carried one.
    pub key: Option<String>,
    /// The body as sent (JSON).
    pub body: Option<andon_contracts::Json>,
    /// Whether the body kept the dialect's contract (`None`: no body expected).
    pub valid: Option<bool>,
    /// What did not (`pointer: message`).
    pub violations: Vec<String>,
    /// The fault that answered instead of the system (a dialect's own `reject`), if any.
    pub fault: Option<String>,
    /// The dialect and what the call meant in andon's API.
    pub dialect: crate::history::DialectCall,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Item {
        qty: i64,
        unit: String,
    }

    #[test]
    fn a_parsed_body_decodes_as_its_text_does() {
        for body in [
            json!({"qty": 24, "unit": "KG"}),
            json!({"qty": 24.0, "unit": "KG"}),
        ] {
            let from_text: Item = decode(body.to_string().as_bytes()).unwrap();
            let from_value: Item = decode_value(&body).unwrap();
            assert_eq!(from_text, from_value);
        }
        let wrong = json!({"qty": 24.5, "unit": "KG"});
        let e = decode_value::<Item>(&wrong).unwrap_err();
        assert!(
            format!("{e:?}").contains("does not match the contract"),
            "{e:?}"
        );
        assert!(decode::<Item>(wrong.to_string().as_bytes()).is_err());
    }
}
