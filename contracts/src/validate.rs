//! JSON Schema (2020-12) validation of payloads against the embedded contract files.
//!
//! Every file under `contracts/schemas` is embedded at build time and addressed by its
//! *kind*: the path under `schemas/` without `.schema.json` (`cloudevent`, `common`,
//! `events/material.consumed`, `api/GoodsMovementRequest`, `objects/Material`). All files
//! are registered in one offline [`jsonschema::Registry`] under their `$id`
//! (`https://andon.dev/schemas/<kind>.schema.json`), so cross-file `$ref`s resolve without
//! touching the network or the file system. Each validator is compiled once, on first use
//! (or all at once with [`precompile`]); validating a valid payload allocates nothing.
//!
//! ```
//! use andon_contracts::validate::validate;
//! use serde_json::json;
//!
//! let bad = json!({"posting_date": "2026-11-22", "items": []});
//! let violations = validate("api/GoodsMovementRequest", &bad).unwrap_err();
//! assert!(violations.0.iter().any(|v| v.pointer == "/items"));
//! ```

use std::fmt;
use std::sync::{LazyLock, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, ValidationError, Validator};
use serde_json::Value;

use crate::events::System;

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the instance (`/items/0/quantity`; empty for the whole document).
    pub pointer: String,
    /// What was expected.
    pub message: String,
}

/// All violations of one payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{}: {}",
                if v.pointer.is_empty() {
                    "/"
                } else {
                    &v.pointer
                },
                v.message
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

impl Violations {
    fn one(pointer: &str, message: impl Into<String>) -> Self {
        Self(vec![Violation {
            pointer: pointer.to_string(),
            message: message.into(),
        }])
    }
}

/// An embedded schema that could not be parsed or compiled: a defect of the contract files,
/// never of a payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schema {kind} is broken: {message}")]
pub struct SchemaError {
    /// The kind whose schema is broken.
    pub kind: &'static str,
    /// Why.
    pub message: String,
}

/// The base of every schema `$id`.
pub const SCHEMA_BASE: &str = "https://andon.dev/schemas/";

/// At most this many violations are reported for one payload; the rest are summarised.
pub const MAX_VIOLATIONS: usize = 50;

macro_rules! schema {
    ($kind:literal) => {
        (
            $kind,
            include_str!(concat!("../schemas/", $kind, ".schema.json")),
        )
    };
}

/// Every schema file, by kind, sorted by kind (a unit test checks it against the directory).
static SCHEMA_FILES: &[(&str, &str)] = &[
    schema!("api/Confirmation"),
    schema!("api/ConfirmationRequest"),
    schema!("api/GoodsMovementRequest"),
    schema!("api/HoldReleaseRequest"),
    schema!("api/HoldRequest"),
    schema!("api/InspectionLotRequest"),
    schema!("api/LotStatusUpdate"),
    schema!("api/MaterialDocument"),
    schema!("api/MaterialMasterUpdate"),
    schema!("api/Problem"),
    schema!("api/ProductionOrderList"),
    schema!("api/QualityNotification"),
    schema!("api/QualityNotificationRequest"),
    schema!("api/Receipt"),
    schema!("api/ReceiptRequest"),
    schema!("api/ReversalRequest"),
    schema!("api/StockList"),
    schema!("api/TokenResponse"),
    schema!("api/WorkOrder"),
    schema!("api/WorkOrderCancellation"),
    schema!("api/WorkOrderDownload"),
    schema!("cloudevent"),
    schema!("common"),
    schema!("events/inspection_result.recorded"),
    schema!("events/inventory.adjusted"),
    schema!("events/inventory.transferred"),
    schema!("events/lot.hold_placed"),
    schema!("events/lot.hold_released"),
    schema!("events/material.changed"),
    schema!("events/material.consumed"),
    schema!("events/material.produced"),
    schema!("events/nonconformance.created"),
    schema!("events/operation.completed"),
    schema!("events/operation.confirmed"),
    schema!("events/operation.started"),
    schema!("events/production_order.cancelled"),
    schema!("events/production_order.changed"),
    schema!("events/production_order.released"),
    schema!("events/scrap.reported"),
    schema!("events/shipment.confirmed"),
    schema!("events/usage_decision.made"),
    schema!("objects/Batch"),
    schema!("objects/Confirmation"),
    schema!("objects/GoodsMovement"),
    schema!("objects/InspectionLot"),
    schema!("objects/LotStatus"),
    schema!("objects/Material"),
    schema!("objects/Nonconformance"),
    schema!("objects/Plant"),
    schema!("objects/ProductionOrder"),
    schema!("objects/QualityHold"),
    schema!("objects/Shipment"),
    schema!("objects/StockRow"),
];

const KIND_COUNT: usize = SCHEMA_FILES.len();

/// The parsed schemas, in the order of [`SCHEMA_FILES`].
static PARSED: LazyLock<Vec<Result<Value, String>>> = LazyLock::new(|| {
    SCHEMA_FILES
        .iter()
        .map(|(_, text)| serde_json::from_str(text).map_err(|e| e.to_string()))
        .collect()
});

/// One registry holding every schema under its `$id`.
static REGISTRY: LazyLock<Result<Registry<'static>, String>> = LazyLock::new(|| {
    let parsed: &'static [Result<Value, String>] = &PARSED;
    let mut resources = Vec::with_capacity(KIND_COUNT);
    for ((kind, _), schema) in SCHEMA_FILES.iter().zip(parsed) {
        let schema = schema.as_ref().map_err(|e| format!("{kind}: {e}"))?;
        resources.push((schema_id(kind), schema));
    }
    Registry::new()
        .draft(Draft::Draft202012)
        .extend(resources)
        .and_then(|builder| builder.prepare())
        .map_err(|e| e.to_string())
});

/// The compiled validators, in the order of [`SCHEMA_FILES`], each compiled on first use.
static VALIDATORS: [OnceLock<Result<Validator, String>>; KIND_COUNT] =
    [const { OnceLock::new() }; KIND_COUNT];

fn schema_id(kind: &str) -> String {
    format!("{SCHEMA_BASE}{kind}.schema.json")
}

fn index_of(kind: &str) -> Option<usize> {
    SCHEMA_FILES.binary_search_by(|(k, _)| (*k).cmp(kind)).ok()
}

fn compile(index: usize) -> Result<Validator, String> {
    let registry = REGISTRY.as_ref().map_err(Clone::clone)?;
    let schema = PARSED[index].as_ref().map_err(Clone::clone)?;
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(registry)
        .should_validate_formats(true)
        .offline()
        .build(schema)
        .map_err(|e| e.to_string())
}

fn validator(index: usize) -> Result<&'static Validator, SchemaError> {
    VALIDATORS[index]
        .get_or_init(|| compile(index))
        .as_ref()
        .map_err(|message| SchemaError {
            kind: SCHEMA_FILES[index].0,
            message: message.clone(),
        })
}

/// Every kind [`validate`] knows, sorted (`api/…`, `cloudevent`, `common`, `events/…`, `objects/…`).
pub fn kinds() -> impl Iterator<Item = &'static str> {
    SCHEMA_FILES.iter().map(|(kind, _)| *kind)
}

/// The parsed schema of `kind`, as embedded (for the simulators to serve), or `None` for an
/// unknown kind.
pub fn schema(kind: &str) -> Option<&'static Value> {
    let parsed: &'static [Result<Value, String>] = &PARSED;
    parsed.get(index_of(kind)?)?.as_ref().ok()
}

/// The text of a schema file, as embedded, or `None` for an unknown kind.
pub fn schema_text(kind: &str) -> Option<&'static str> {
    index_of(kind).map(|i| SCHEMA_FILES[i].1)
}

/// The `$id` of the schema of `kind` (`https://andon.dev/schemas/<kind>.schema.json`), or
/// `None` for an unknown kind.
pub fn schema_uri(kind: &str) -> Option<String> {
    index_of(kind).map(|_| schema_id(kind))
}

/// The OpenAPI 3.1 document (YAML) of a simulator's REST API, as embedded.
pub fn openapi(system: System) -> &'static str {
    match system {
        System::Erp => include_str!("../openapi/erp.yaml"),
        System::Mes => include_str!("../openapi/mes.yaml"),
        System::Qms => include_str!("../openapi/qms.yaml"),
        System::Wms => include_str!("../openapi/wms.yaml"),
    }
}

/// The AsyncAPI 3.0 document (YAML) of the event channels into the SUT, as embedded.
pub fn asyncapi() -> &'static str {
    include_str!("../asyncapi/andon.yaml")
}

/// Compiles every validator now rather than on first use (call it at start-up to keep the
/// first request fast). Fails with the first broken schema.
pub fn precompile() -> Result<(), SchemaError> {
    (0..KIND_COUNT).try_for_each(|i| validator(i).map(|_| ()))
}

/// Validates `json` against the schema named `kind`
/// (`cloudevent`, `events/material.consumed`, `api/GoodsMovementRequest`, `objects/Material`).
///
/// Violations carry the JSON pointer of the offending instance location. An unknown kind is
/// one violation at `""` listing the known kinds.
pub fn validate(kind: &str, json: &Value) -> Result<(), Violations> {
    let Some(index) = index_of(kind) else {
        let known: Vec<&str> = kinds().collect();
        return Err(Violations::one(
            "",
            format!(
                "unknown schema kind {kind:?}; known kinds: {}",
                known.join(", ")
            ),
        ));
    };
    let validator = validator(index).map_err(|e| Violations::one("", e.to_string()))?;
    if validator.is_valid(json) {
        return Ok(());
    }
    let mut violations = Vec::new();
    let mut more = 0usize;
    for error in validator.iter_errors(json) {
        if violations.len() < MAX_VIOLATIONS {
            violations.push(Violation {
                pointer: error.instance_path().as_str().to_string(),
                message: message(&error),
            });
        } else {
            more += 1;
        }
    }
    if more > 0 {
        violations.push(Violation {
            pointer: String::new(),
            message: format!("{more} further violations not listed"),
        });
    }
    if violations.is_empty() {
        // `is_valid` and `iter_errors` disagree: report rather than accept.
        violations.push(Violation {
            pointer: String::new(),
            message: format!("does not match schema {kind}"),
        });
    }
    Err(Violations(violations))
}

/// A readable message: values are quoted when short, alternatives are spelled out.
fn message(error: &ValidationError<'_>) -> String {
    match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let alternatives: Vec<String> = context
                .iter()
                .map(|errors| {
                    let parts: Vec<String> = errors.iter().map(message).collect();
                    parts.join(" and ")
                })
                .collect();
            format!(
                "matches none of the allowed alternatives: ({})",
                alternatives.join(") or (")
            )
        }
        ValidationErrorKind::Not { schema } => {
            let shown = if is_short(error.instance()) {
                error.instance().to_string()
            } else {
                "the value".to_string()
            };
            format!("{shown} is not allowed: it must not match {schema}")
        }
        _ if is_short(error.instance()) => error.to_string(),
        _ => error.masked_with("the value").to_string(),
    }
}

fn is_short(value: &Value) -> bool {
    match value {
        Value::Object(_) | Value::Array(_) => false,
        Value::String(s) => s.len() <= 80,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn files_on_disk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files_on_disk(&path, base, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push(rel);
            }
        }
    }

    #[test]
    fn table_lists_every_schema_file_sorted() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let mut on_disk = Vec::new();
        files_on_disk(&base, &base, &mut on_disk);
        on_disk.sort();
        let mut listed: Vec<String> = kinds().map(|k| format!("{k}.schema.json")).collect();
        let sorted = listed.windows(2).all(|w| w[0] < w[1]);
        assert!(
            sorted,
            "SCHEMA_FILES must be sorted by kind for binary search"
        );
        listed.sort();
        assert_eq!(listed, on_disk, "SCHEMA_FILES and contracts/schemas differ");
    }

    #[test]
    fn every_schema_declares_its_id_and_dialect() {
        for kind in kinds() {
            let schema = schema(kind).unwrap_or_else(|| panic!("{kind} does not parse"));
            assert_eq!(schema["$id"], json!(schema_id(kind)), "{kind}");
            assert_eq!(
                schema["$schema"],
                json!("https://json-schema.org/draft/2020-12/schema"),
                "{kind}"
            );
        }
    }

    #[test]
    fn every_schema_compiles_offline() {
        precompile().unwrap();
    }

    #[test]
    fn unknown_kind_lists_known_kinds() {
        let err = validate("api/Nope", &json!({})).unwrap_err();
        assert_eq!(err.0.len(), 1);
        assert_eq!(err.0[0].pointer, "");
        assert!(
            err.0[0].message.contains("api/GoodsMovementRequest"),
            "{err}"
        );
        assert!(err.0[0].message.contains("cloudevent"), "{err}");
    }

    #[test]
    fn cross_file_refs_report_instance_pointers() {
        let body = json!({
            "posting_date": "2026-11-22",
            "items": [{"movement_type": "261", "material": "FG-1000-01", "plant": "100",
                       "storage_location": "0001", "batch": "B000123", "order": "100000001",
                       "quantity": {"value": -1, "unit": "KG"}}],
            "source": {"source": "/andon/mes/1000", "id": "e-1"}
        });
        let err = validate("api/GoodsMovementRequest", &body).unwrap_err();
        let pointers: Vec<&str> = err.0.iter().map(|v| v.pointer.as_str()).collect();
        assert!(pointers.contains(&"/items/0/plant"), "{err}");
        assert!(pointers.contains(&"/items/0/quantity/value"), "{err}");
    }

    #[test]
    fn missing_source_reference_names_both_alternatives() {
        let body = json!({"posting_date": "2026-11-22"});
        let err = validate("api/ReversalRequest", &body).unwrap_err();
        let v = err.0.iter().find(|v| v.pointer.is_empty()).unwrap();
        assert!(v.message.contains("\"source\""), "{err}");
        assert!(v.message.contains("\"sources\""), "{err}");
    }

    #[test]
    fn three_decimals_pass_and_four_fail() {
        let q = |value: f64| {
            json!({"order": "100000001", "operation": "0010", "plant": "1000",
                   "work_center": "LINE-01", "yield": {"value": value, "unit": "KG"},
                   "scrap": {"value": 0, "unit": "KG"}, "rework": {"value": 0, "unit": "KG"},
                   "final": false, "posting_date": "2026-11-22"})
        };
        for ok in [0.0, 0.001, 0.3, 12.345, 1000.001, 123_456_789.999] {
            validate("events/operation.confirmed", &q(ok)).unwrap();
        }
        for bad in [0.0001, 12.3456, 1000.0004] {
            let err = validate("events/operation.confirmed", &q(bad)).unwrap_err();
            assert_eq!(err.0[0].pointer, "/yield/value", "{bad}: {err}");
        }
    }

    #[test]
    fn cloudevent_data_follows_its_type() {
        let event = json!({
            "specversion": "1.0", "id": "e-1", "source": "/andon/qms/1000",
            "type": "andon.lot.hold_released.v1", "subject": "FG-1000-01/B000123",
            "time": "2026-11-22T06:14:00Z", "datacontenttype": "application/json",
            "plant": "1000", "sequence": 2,
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "data": {"hold_id": "HOLD-1", "plant": "1000", "material": "FG-1000-01",
                     "batch": "B000123", "released_at": "not a time"}
        });
        let err = validate("cloudevent", &event).unwrap_err();
        assert!(
            err.0.iter().any(|v| v.pointer == "/data/released_at"),
            "{err}"
        );
    }

    #[test]
    fn large_payloads_report_a_bounded_list() {
        let items: Vec<Value> = (0..200).map(|_| json!({"movement_type": "x"})).collect();
        let body = json!({"posting_date": "2026-11-22", "items": items,
                          "source": {"source": "/andon/mes/1000", "id": "e-1"}});
        let err = validate("api/GoodsMovementRequest", &body).unwrap_err();
        assert_eq!(err.0.len(), MAX_VIOLATIONS + 1);
        assert!(err.0[MAX_VIOLATIONS].message.contains("further violations"));
    }

    #[test]
    fn messages_do_not_echo_whole_documents() {
        let err = validate("objects/Material", &json!([1, 2, 3])).unwrap_err();
        assert!(!err.0[0].message.contains("[1,2,3]"), "{err}");
    }

    #[test]
    fn embedded_documents_are_served() {
        for system in System::ALL {
            assert!(openapi(system).starts_with("openapi: 3.1"), "{system}");
        }
        assert!(asyncapi().starts_with("asyncapi: 3.0"));
        assert_eq!(
            schema_uri("cloudevent").as_deref(),
            Some("https://andon.dev/schemas/cloudevent.schema.json")
        );
        assert!(schema_text("common").is_some());
    }

    #[test]
    fn violations_display_root_as_slash() {
        let v = Violations(vec![
            Violation {
                pointer: String::new(),
                message: "a".into(),
            },
            Violation {
                pointer: "/x".into(),
                message: "b".into(),
            },
        ]);
        assert_eq!(v.to_string(), "/: a; /x: b");
    }
}
