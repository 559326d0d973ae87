//! Which JSON Schema a request body is checked against, derived from the system's OpenAPI
//! document (`contracts/openapi/<system>.yaml`): every operation whose `requestBody` has an
//! `application/json` schema referring to a contract schema file
//! (`../schemas/api/ReceiptRequest.schema.json`) maps its method and route template
//! (`POST /api/v1/receipts`) to that schema's kind (`api/ReceiptRequest`), the name
//! [`andon_contracts::validate`] knows it by. The documents are read once, on first use.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use andon_contracts::System;
use axum::http::Method;
use serde_json::Value;

/// Request body schema kinds by `(METHOD, route template)`, for one system.
pub type SchemaTable = BTreeMap<(String, String), &'static str>;

/// Why a system's OpenAPI document does not give a request schema table (a defect of the
/// contract files, which a test rules out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaTableError {
    /// The document is not YAML, or has no `paths` mapping.
    #[error("the {system} OpenAPI document cannot be read: {message}")]
    Unreadable {
        /// The system.
        system: System,
        /// Why.
        message: String,
    },
    /// A JSON request body whose schema is not a reference to a contract schema file.
    #[error("{system} {method} {route}: the request body schema {schema} is not a contract schema")]
    UnknownSchema {
        /// The system.
        system: System,
        /// Upper-case method.
        method: String,
        /// Route template.
        route: String,
        /// What the document says the schema is.
        schema: String,
    },
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

static TABLES: LazyLock<[Result<SchemaTable, SchemaTableError>; 4]> =
    LazyLock::new(|| System::ALL.map(derive));

/// The request schema table of `system`, as derived from its OpenAPI document.
pub fn table(system: System) -> Result<&'static SchemaTable, &'static SchemaTableError> {
    let i = System::ALL
        .iter()
        .position(|s| *s == system)
        .unwrap_or_default();
    TABLES[i].as_ref()
}

/// The schema kind of a request body for `method` on `route` (a route template, as axum
/// matched it) of `system`, if the operation takes a JSON body.
pub fn request_schema(system: System, method: &Method, route: &str) -> Option<&'static str> {
    let table = table(system).ok()?;
    table
        .iter()
        .find(|((m, r), _)| m == method.as_str() && r == route)
        .map(|(_, kind)| *kind)
}

/// Reads the request schema table out of `system`'s OpenAPI document.
pub fn derive(system: System) -> Result<SchemaTable, SchemaTableError> {
    let unreadable = |message: String| SchemaTableError::Unreadable { system, message };
    let doc: Value = serde_norway::from_str(andon_contracts::validate::openapi(system))
        .map_err(|e| unreadable(e.to_string()))?;
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| unreadable("no paths mapping".into()))?;
    let mut table = SchemaTable::new();
    for (route, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            let Some(schema) = json_body_schema(&doc, op) else {
                continue;
            };
            let method = method.to_ascii_uppercase();
            let kind = kind_of(schema).ok_or_else(|| SchemaTableError::UnknownSchema {
                system,
                method: method.clone(),
                route: route.clone(),
                schema: schema.to_string(),
            })?;
            table.insert((method, route.clone()), kind);
        }
    }
    Ok(table)
}

/// The schema of an operation's JSON request body, if it has one (a `requestBody` given as
/// a local `$ref` is followed).
fn json_body_schema<'a>(doc: &'a Value, op: &'a Value) -> Option<&'a Value> {
    let mut body = op.get("requestBody")?;
    if let Some(r) = body.get("$ref").and_then(Value::as_str) {
        body = doc.pointer(r.strip_prefix('#')?)?;
    }
    let content = body.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| {
            let essence = media.split(';').next().unwrap_or("").trim();
            essence == "application/json" || essence.ends_with("+json")
        })
        .and_then(|(_, m)| m.get("schema"))
}

/// The kind of a schema given as a reference to a contract file
/// (`../schemas/api/ReceiptRequest.schema.json` → `api/ReceiptRequest`), as the validator
/// names it; `None` for anything else.
fn kind_of(schema: &Value) -> Option<&'static str> {
    let r = schema.get("$ref")?.as_str()?;
    let (_, rest) = r.split_once("schemas/")?;
    let kind = rest.strip_suffix(".schema.json")?;
    andon_contracts::validate::kinds().find(|k| *k == kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request schemas as the simulators stated them by hand before they were derived
    /// from the documents.
    fn stated(system: System) -> Vec<(&'static str, &'static str, &'static str)> {
        const MATERIAL: (&str, &str, &str) = (
            "PUT",
            "/api/v1/materials/{material}",
            "api/MaterialMasterUpdate",
        );
        const LOTS: [(&str, &str, &str); 3] = [
            (
                "POST",
                "/api/v1/lots/{plant}/{material}/{batch}/holds",
                "api/HoldRequest",
            ),
            (
                "POST",
                "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
                "api/HoldReleaseRequest",
            ),
            (
                "PUT",
                "/api/v1/lots/{plant}/{material}/{batch}/status",
                "api/LotStatusUpdate",
            ),
        ];
        match system {
            System::Erp => vec![
                ("POST", "/api/v1/confirmations", "api/ConfirmationRequest"),
                (
                    "POST",
                    "/api/v1/material-documents",
                    "api/GoodsMovementRequest",
                ),
                (
                    "POST",
                    "/api/v1/material-documents/{year}/{number}/reversal",
                    "api/ReversalRequest",
                ),
                (
                    "POST",
                    "/api/v1/quality-notifications",
                    "api/QualityNotificationRequest",
                ),
            ],
            System::Mes => [
                ("POST", "/api/v1/work-orders", "api/WorkOrderDownload"),
                (
                    "PUT",
                    "/api/v1/work-orders/{order}",
                    "api/WorkOrderDownload",
                ),
                (
                    "POST",
                    "/api/v1/work-orders/{order}/cancellation",
                    "api/WorkOrderCancellation",
                ),
                MATERIAL,
            ]
            .into_iter()
            .chain(LOTS)
            .collect(),
            System::Qms => vec![
                (
                    "POST",
                    "/api/v1/inspection-lots",
                    "api/InspectionLotRequest",
                ),
                MATERIAL,
            ],
            System::Wms => [("POST", "/api/v1/receipts", "api/ReceiptRequest"), MATERIAL]
                .into_iter()
                .chain(LOTS)
                .collect(),
        }
    }

    #[test]
    fn the_derived_tables_are_what_the_simulators_stated_by_hand() {
        for system in System::ALL {
            let expected: SchemaTable = stated(system)
                .into_iter()
                .map(|(m, r, k)| ((m.to_string(), r.to_string()), k))
                .collect();
            assert_eq!(table(system), Ok(&expected), "{system}");
        }
    }

    #[test]
    fn every_json_request_body_in_the_documents_is_a_schema_the_validator_knows() {
        for system in System::ALL {
            let doc: Value =
                serde_norway::from_str(andon_contracts::validate::openapi(system)).unwrap();
            let table = table(system).unwrap();
            let mut bodies = 0;
            for (route, item) in doc["paths"].as_object().unwrap() {
                for method in METHODS {
                    let Some(op) = item.get(method) else {
                        continue;
                    };
                    if json_body_schema(&doc, op).is_none() {
                        continue;
                    }
                    bodies += 1;
                    let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                    let kind = request_schema(system, &m, route)
                        .unwrap_or_else(|| panic!("{system} {method} {route} has no schema"));
                    // Known to the validator: it answers about the payload, not the kind.
                    assert!(andon_contracts::validate::schema(kind).is_some(), "{kind}");
                    if let Err(v) = andon_contracts::validate(kind, &serde_json::json!({})) {
                        assert!(
                            !v.to_string().contains("unknown schema kind"),
                            "{kind}: {v}"
                        );
                    }
                }
            }
            assert_eq!(bodies, table.len(), "{system}");
        }
    }

    #[test]
    fn a_body_that_is_not_json_takes_no_schema() {
        for system in System::ALL {
            assert_eq!(
                request_schema(system, &Method::POST, "/oauth/token"),
                None,
                "{system}"
            );
            assert_eq!(
                request_schema(system, &Method::GET, "/api/v1/materials/{material}"),
                None
            );
        }
    }
}
