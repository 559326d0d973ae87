//! The contract files checked against each other and against the Rust types: golden
//! examples, schemas, OpenAPI and AsyncAPI documents.

mod helpers;

use std::collections::{BTreeMap, BTreeSet};

use andon_contracts::api::{GoodsMovementItem, GoodsMovementRequest, SourceRefs};
use andon_contracts::events::MaterialConsumed;
use andon_contracts::validate::{asyncapi, kinds, openapi, schema};
use andon_contracts::{
    BatchId, EventKind, MaterialId, MovementTypeCode, OrderId, PlantId, Quantity, SourceRef,
    StorageLocation, System, Unit, validate,
};
use chrono::NaiveDate;
use helpers::{examples, json_eq, kind_of_ref, refs, resolve, root, round_trip, yaml};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Every request and response type of `api.rs`, plus the problem body.
const API_TYPES: &[&str] = &[
    "ConfirmationRequest",
    "Confirmation",
    "GoodsMovementRequest",
    "MaterialDocument",
    "ReversalRequest",
    "QualityNotificationRequest",
    "QualityNotification",
    "StockList",
    "ProductionOrderList",
    "WorkOrderDownload",
    "WorkOrder",
    "WorkOrderCancellation",
    "MaterialMasterUpdate",
    "HoldRequest",
    "HoldReleaseRequest",
    "LotStatusUpdate",
    "InspectionLotRequest",
    "Receipt",
    "ReceiptRequest",
    "TokenResponse",
    "Problem",
];

/// The API bodies that change state: they must name their source event(s).
const STATE_CHANGING: &[&str] = &[
    "ConfirmationRequest",
    "GoodsMovementRequest",
    "ReversalRequest",
    "QualityNotificationRequest",
    "WorkOrderDownload",
    "WorkOrderCancellation",
    "MaterialMasterUpdate",
    "HoldRequest",
    "HoldReleaseRequest",
    "LotStatusUpdate",
    "InspectionLotRequest",
    "ReceiptRequest",
];

const OBJECTS: &[&str] = &[
    "Material",
    "ProductionOrder",
    "StockRow",
    "LotStatus",
    "InspectionLot",
    "Plant",
    "Batch",
    "GoodsMovement",
    "Confirmation",
    "QualityHold",
    "Nonconformance",
    "Shipment",
];

fn valid_kinds() -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for e in examples("valid") {
        *counts.entry(e.kind).or_insert(0) += 1;
    }
    counts
}

// ------------------------------------------------------------------ golden examples

#[test]
fn every_valid_example_validates() {
    let all = examples("valid");
    assert!(all.len() >= 60, "only {} valid examples", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|e| {
            validate(&e.kind, &e.json)
                .err()
                .map(|v| format!("{}: {v}", e.label()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_examples_round_trip_through_the_rust_types() {
    let mut typed = 0;
    let mut failures = Vec::new();
    for e in examples("valid") {
        let Some(result) = round_trip(&e.kind, &e.json) else {
            continue;
        };
        typed += 1;
        match result {
            Err(err) => failures.push(format!("{}: does not deserialize: {err}", e.label())),
            Ok(back) => {
                if !json_eq(&back, &e.json) {
                    failures.push(format!("{}: re-serializes as {back}", e.label()));
                } else if let Err(v) = validate(&e.kind, &back) {
                    failures.push(format!("{}: re-serialized form is invalid: {v}", e.label()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(typed >= 60, "only {typed} examples have a Rust type");
}

#[test]
fn every_invalid_example_fails_at_its_declared_pointer() {
    let all = examples("invalid");
    assert!(all.len() >= 25, "only {} invalid examples", all.len());
    let mut failures = Vec::new();
    for e in all {
        let mut json = e.json.clone();
        let map = json.as_object_mut().expect("invalid examples are objects");
        let why = map.remove("$why");
        let expected = map.remove("$violation");
        let (Some(Value::String(why)), Some(Value::String(expected))) = (why, expected) else {
            failures.push(format!("{}: needs string $why and $violation", e.label()));
            continue;
        };
        assert!(!why.trim().is_empty(), "{}: empty $why", e.label());
        match validate(&e.kind, &json) {
            Ok(()) => failures.push(format!("{}: validates, but {why}", e.label())),
            Err(violations) => {
                let hit = violations.0.iter().any(|v| {
                    v.pointer == expected
                        || (!expected.is_empty() && v.pointer.starts_with(&format!("{expected}/")))
                });
                if !hit {
                    failures.push(format!(
                        "{}: expected a violation at {expected:?}, got {violations}",
                        e.label()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn example_directories_name_known_kinds() {
    let known: BTreeSet<&str> = kinds().collect();
    for which in ["valid", "invalid"] {
        for e in examples(which) {
            assert!(
                known.contains(e.kind.as_str()),
                "{} is not a validator kind",
                e.path.display()
            );
        }
    }
}

#[test]
fn every_event_kind_has_a_schema_and_a_valid_example() {
    let counts = valid_kinds();
    for kind in EventKind::ALL {
        let k = format!("events/{}", kind.name());
        assert!(schema(&k).is_some(), "no schema for {k}");
        assert!(counts.contains_key(&k), "no valid example for {k}");
    }
    let event_schemas = kinds().filter(|k| k.starts_with("events/")).count();
    assert_eq!(
        event_schemas,
        EventKind::ALL.len(),
        "an event schema is not in the catalog"
    );
    assert!(counts.get("cloudevent").copied().unwrap_or(0) >= 5);
}

#[test]
fn every_api_type_has_a_schema_and_a_valid_example() {
    let counts = valid_kinds();
    for name in API_TYPES {
        let k = format!("api/{name}");
        assert!(schema(&k).is_some(), "no schema for {k}");
        assert!(counts.contains_key(&k), "no valid example for {k}");
    }
    let api_schemas = kinds().filter(|k| k.starts_with("api/")).count();
    assert_eq!(
        api_schemas,
        API_TYPES.len(),
        "an API schema has no Rust type"
    );
}

#[test]
fn every_object_has_a_schema_and_a_valid_example() {
    let counts = valid_kinds();
    for name in OBJECTS {
        let k = format!("objects/{name}");
        assert!(schema(&k).is_some(), "no schema for {k}");
        assert!(counts.contains_key(&k), "no valid example for {k}");
    }
}

#[test]
fn state_changing_bodies_require_a_source_reference() {
    for name in STATE_CHANGING {
        let kind = format!("api/{name}");
        let example = examples("valid")
            .into_iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("no example for {kind}"));
        let mut json = example.json.clone();
        let map = json.as_object_mut().unwrap();
        map.remove("source");
        map.remove("sources");
        let err = validate(&kind, &json).expect_err(&kind);
        assert!(err.0.iter().any(|v| v.pointer.is_empty()), "{kind}: {err}");
    }
}

// ------------------------------------------------------------------ OpenAPI

fn openapi_doc(system: System) -> Value {
    yaml(&root().join("openapi").join(format!("{system}.yaml")))
}

/// `(method, path)` of every operation, as in the README tables.
fn expected_operations(system: System) -> BTreeSet<(String, String)> {
    let lots = [
        ("get", "/api/v1/lots/{plant}/{material}/{batch}"),
        ("post", "/api/v1/lots/{plant}/{material}/{batch}/holds"),
        (
            "post",
            "/api/v1/lots/{plant}/{material}/{batch}/holds/{hold_id}/release",
        ),
        ("put", "/api/v1/lots/{plant}/{material}/{batch}/status"),
    ];
    let ops: Vec<(&str, &str)> = match system {
        System::Erp => vec![
            ("post", "/api/v1/confirmations"),
            ("post", "/api/v1/material-documents"),
            (
                "post",
                "/api/v1/material-documents/{year}/{number}/reversal",
            ),
            ("post", "/api/v1/quality-notifications"),
            ("get", "/api/v1/stock"),
            ("get", "/api/v1/production-orders/{order}"),
            ("get", "/api/v1/production-orders"),
            ("get", "/api/v1/materials/{material}"),
            ("get", "/api/v1/material-documents/{year}/{number}"),
        ],
        System::Mes => [
            ("post", "/api/v1/work-orders"),
            ("put", "/api/v1/work-orders/{order}"),
            ("get", "/api/v1/work-orders/{order}"),
            ("post", "/api/v1/work-orders/{order}/cancellation"),
            ("put", "/api/v1/materials/{material}"),
            ("get", "/api/v1/materials/{material}"),
        ]
        .into_iter()
        .chain(lots)
        .collect(),
        System::Qms => vec![
            ("post", "/api/v1/inspection-lots"),
            ("get", "/api/v1/inspection-lots/{lot}"),
            ("put", "/api/v1/materials/{material}"),
            ("get", "/api/v1/materials/{material}"),
        ],
        System::Wms => [
            ("post", "/api/v1/receipts"),
            ("put", "/api/v1/materials/{material}"),
            ("get", "/api/v1/materials/{material}"),
        ]
        .into_iter()
        .chain(lots)
        .collect(),
    };
    ops.into_iter()
        .chain([("post", "/oauth/token")])
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect()
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Follows a local `#/components/...` reference.
fn deref(doc: &Value, v: &Value) -> Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) if r.starts_with('#') => doc
            .pointer(&r[1..])
            .cloned()
            .unwrap_or_else(|| panic!("{r} does not resolve")),
        _ => v.clone(),
    }
}

#[test]
fn openapi_documents_are_embedded_as_on_disk() {
    for system in System::ALL {
        let on_disk =
            std::fs::read_to_string(root().join("openapi").join(format!("{system}.yaml"))).unwrap();
        assert_eq!(openapi(system), on_disk, "{system}");
    }
    let on_disk = std::fs::read_to_string(root().join("asyncapi/andon.yaml")).unwrap();
    assert_eq!(asyncapi(), on_disk);
}

#[test]
fn openapi_documents_parse_and_every_ref_resolves() {
    let dir = root().join("openapi");
    for system in System::ALL {
        let doc = openapi_doc(system);
        assert_eq!(doc["openapi"], json!("3.1.0"), "{system}");
        let all = refs(&doc);
        assert!(all.len() > 50, "{system}: only {} refs", all.len());
        for (at, r) in all {
            if let Err(e) = resolve(&doc, &dir, &r) {
                panic!("{system}.yaml {at}: {e}");
            }
        }
    }
}

#[test]
fn openapi_paths_are_those_of_the_readme() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        let actual: BTreeSet<(String, String)> = operations(&doc)
            .into_iter()
            .map(|(m, p, _)| (m, p))
            .collect();
        assert_eq!(actual, expected_operations(system), "{system}");
    }
}

#[test]
fn openapi_path_parameters_and_tags_are_declared() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        let tags: BTreeSet<&str> = doc["tags"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for (method, path, op) in operations(&doc) {
            let label = format!("{system} {method} {path}");
            let in_template: BTreeSet<String> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_string)
                .collect();
            let declared: BTreeSet<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| deref(&doc, p))
                        .filter(|p| p["in"] == json!("path"))
                        .map(|p| {
                            assert_eq!(p["required"], json!(true), "{label}: path parameter");
                            p["name"].as_str().unwrap().to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(declared, in_template, "{label}");
            for tag in op["tags"].as_array().unwrap() {
                assert!(tags.contains(tag.as_str().unwrap()), "{label}: tag {tag}");
            }
        }
    }
}

#[test]
fn openapi_info_names_the_modelled_standard_and_its_simplifications() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        let description = doc["info"]["description"].as_str().unwrap();
        assert!(description.contains("SAP"), "{system}");
        assert!(description.contains("ISA-95"), "{system}");
        assert!(description.contains("andon simplifies"), "{system}");
    }
}

#[test]
fn openapi_state_changing_calls_take_idempotency_key_traceparent_and_problem_answers() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        for (method, path, op) in operations(&doc) {
            let label = format!("{system} {method} {path}");
            assert!(op["operationId"].is_string(), "{label}: operationId");
            let Some(example_count) = op["requestBody"]["content"].as_object().map(|c| {
                c.values()
                    .map(|m| m["examples"].as_object().map_or(0, |e| e.len()))
                    .sum::<usize>()
            }) else {
                assert_eq!(method, "get", "{label}: no request body");
                continue;
            };
            assert!(example_count >= 1, "{label}: no request example");
            if path == "/oauth/token" {
                continue;
            }
            let params: Vec<Value> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| deref(&doc, p))
                .collect();
            for header in ["Idempotency-Key", "traceparent"] {
                let p = params
                    .iter()
                    .find(|p| p["name"] == json!(header) && p["in"] == json!("header"))
                    .unwrap_or_else(|| panic!("{label}: no {header} header"));
                assert_eq!(p["required"], json!(true), "{label}: {header} not required");
            }
            let body_ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{label}: body is not a schema file"));
            let body_kind = kind_of_ref(body_ref).unwrap();
            let body_schema = schema(&body_kind).unwrap();
            assert_eq!(
                body_schema["$ref"],
                json!("../common.schema.json#/$defs/source_refs_required"),
                "{label}: {body_kind} does not require a source reference"
            );
            for status in ["400", "401", "403", "409", "413", "415", "422"] {
                let response = deref(&doc, &op["responses"][status]);
                let problem = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert!(
                    problem
                        .as_str()
                        .is_some_and(|r| r.ends_with("api/Problem.schema.json")),
                    "{label}: {status} is not problem+json"
                );
            }
        }
    }
}

#[test]
fn openapi_success_responses_have_examples() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        for (method, path, op) in operations(&doc) {
            let responses = op["responses"].as_object().unwrap();
            let success: Vec<&Value> = responses
                .iter()
                .filter(|(code, _)| code.starts_with('2'))
                .map(|(_, r)| r)
                .collect();
            assert_eq!(success.len(), 1, "{system} {method} {path}");
            let examples = success[0]["content"]["application/json"]["examples"]
                .as_object()
                .map_or(0, |e| e.len());
            assert!(
                examples >= 1,
                "{system} {method} {path}: no response example"
            );
        }
    }
}

/// Every `examples` next to a `schema` that references a schema file.
fn media_examples(doc: &Value) -> Vec<(String, String, Value)> {
    fn walk(v: &Value, at: &str, out: &mut Vec<(String, String, Value)>) {
        let Value::Object(map) = v else {
            if let Value::Array(items) = v {
                for (i, w) in items.iter().enumerate() {
                    walk(w, &format!("{at}/{i}"), out);
                }
            }
            return;
        };
        let schema_kind = map
            .get("schema")
            .and_then(|s| s["$ref"].as_str())
            .and_then(kind_of_ref);
        if let (Some(kind), Some(Value::Object(examples))) = (schema_kind, map.get("examples")) {
            for (name, example) in examples {
                out.push((
                    format!("{at}/examples/{name}"),
                    kind.clone(),
                    example["value"].clone(),
                ));
            }
        }
        for (k, w) in map {
            walk(w, &format!("{at}/{k}"), out);
        }
    }
    let mut out = Vec::new();
    walk(doc, "", &mut out);
    out
}

#[test]
fn openapi_examples_validate_against_their_schemas() {
    for system in System::ALL {
        let doc = openapi_doc(system);
        let all = media_examples(&doc);
        assert!(all.len() >= 10, "{system}: only {} examples", all.len());
        for (at, kind, value) in all {
            if let Err(v) = validate(&kind, &value) {
                panic!("{system}.yaml {at} ({kind}): {v}");
            }
        }
    }
}

// ------------------------------------------------------------------ AsyncAPI

#[test]
fn asyncapi_parses_and_every_ref_resolves() {
    let dir = root().join("asyncapi");
    let doc = yaml(&dir.join("andon.yaml"));
    assert_eq!(doc["asyncapi"], json!("3.0.0"));
    for (at, r) in refs(&doc) {
        if let Err(e) = resolve(&doc, &dir, &r) {
            panic!("andon.yaml {at}: {e}");
        }
    }
}

#[test]
fn asyncapi_has_a_channel_per_system_carrying_what_it_emits() {
    let doc = yaml(&root().join("asyncapi/andon.yaml"));
    for system in System::ALL {
        let channel = &doc["channels"][system.as_str()];
        assert_eq!(channel["address"], json!(format!("/events/{system}")));
        let messages: BTreeSet<&str> = channel["messages"]
            .as_object()
            .unwrap_or_else(|| panic!("no channel {system}"))
            .keys()
            .map(String::as_str)
            .collect();
        let emitted: BTreeSet<&str> = EventKind::ALL
            .iter()
            .filter(|k| k.emitters().contains(&system))
            .map(|k| k.name())
            .collect();
        assert_eq!(messages, emitted, "{system}");
        let op = &doc["operations"][format!("{system}SendEvents")];
        assert_eq!(op["action"], json!("send"), "{system}");
        assert_eq!(op["channel"]["$ref"], json!(format!("#/channels/{system}")));
        assert_eq!(op["messages"].as_array().unwrap().len(), emitted.len());
    }
}

#[test]
fn asyncapi_message_examples_are_valid_cloudevents_of_their_type() {
    let doc = yaml(&root().join("asyncapi/andon.yaml"));
    let messages = doc["components"]["messages"].as_object().unwrap();
    assert_eq!(messages.len(), EventKind::ALL.len());
    for kind in EventKind::ALL {
        let message = &messages[kind.name()];
        let payload_refs: Vec<&str> = message["payload"]["allOf"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["$ref"].as_str())
            .collect();
        assert_eq!(
            payload_refs,
            ["../schemas/cloudevent.schema.json"],
            "{kind}"
        );
        assert_eq!(
            message["payload"]["allOf"][1]["properties"]["data"]["$ref"],
            json!(format!("../schemas/events/{}.schema.json", kind.name()))
        );
        let examples = message["examples"].as_array().unwrap();
        assert!(!examples.is_empty(), "{kind}");
        for example in examples {
            let payload = &example["payload"];
            assert_eq!(payload["type"], json!(kind.type_name()), "{kind}");
            if let Err(v) = validate("cloudevent", payload) {
                panic!("{kind}: {v}");
            }
        }
    }
}

// ------------------------------------------------------------------ properties

fn id<T: std::fmt::Debug>(
    pattern: &'static str,
    parse: fn(String) -> Result<T, andon_contracts::IdError>,
) -> impl Strategy<Value = T> {
    pattern.prop_map(move |s| parse(s).expect("strategy yields valid identifiers"))
}

fn quantity() -> impl Strategy<Value = Quantity> {
    (
        1i64..1_000_000_000_000,
        prop::sample::select(vec!["KG", "G", "L", "PC", "EA", "BOX", "M"]),
    )
        .prop_map(|(milli, unit)| Quantity::from_milli(milli, Unit::parse(unit).unwrap()))
}

fn source_ref() -> impl Strategy<Value = SourceRef> {
    (
        prop::sample::select(vec!["erp", "mes", "qms", "wms"]),
        "[A-Z0-9]{4}",
        "[a-f0-9-]{1,36}",
    )
        .prop_map(|(system, plant, id)| SourceRef {
            source: format!("/andon/{system}/{plant}"),
            id,
        })
}

fn goods_movement() -> impl Strategy<Value = GoodsMovementRequest> {
    let item = (
        id("[0-9]{3}", MovementTypeCode::parse),
        id("[A-Z0-9_./-]{1,40}", MaterialId::parse),
        id("[A-Z0-9]{4}", PlantId::parse),
        id("[A-Z0-9]{4}", StorageLocation::parse),
        prop::option::of(id("[A-Z0-9]{1,10}", BatchId::parse)),
        quantity(),
        id("[A-Z0-9]{1,12}", OrderId::parse),
    )
        .prop_map(
            |(movement_type, material, plant, storage_location, batch, quantity, order)| {
                // Plant-to-plant transfers (301, 302) name the receiving plant.
                let receiving_plant =
                    matches!(movement_type.as_str(), "301" | "302").then(|| plant.clone());
                GoodsMovementItem {
                    movement_type,
                    material,
                    plant,
                    storage_location,
                    batch,
                    quantity,
                    order: Some(order),
                    reason_code: None,
                    reversal_of: None,
                    receiving_plant,
                    receiving_storage_location: None,
                }
            },
        );
    (
        prop::collection::vec(item, 1..4),
        0u32..3650,
        source_ref(),
        prop::collection::vec(source_ref(), 0..3),
    )
        .prop_map(|(items, day, source, sources)| GoodsMovementRequest {
            posting_date: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap()
                + chrono::Days::new(u64::from(day)),
            header_text: None,
            items,
            refs: SourceRefs {
                source: Some(source),
                sources,
            },
        })
}

fn receipt_with(field: &str, value: Value) -> Value {
    let mut body = json!({
        "plant": "1000", "storage_location": "0002", "material": "FG-1000-01",
        "batch": "B000123", "quantity": {"value": 480, "unit": "PC"}, "order": "100000001",
        "source": {"source": "/andon/mes/1000", "id": "e-1"}
    });
    match field.split_once('/') {
        Some((outer, inner)) => body[outer][inner] = value,
        None => body[field] = value,
    }
    body
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_goods_movements_validate_and_round_trip(request in goods_movement()) {
        let json = serde_json::to_value(&request).unwrap();
        if let Err(v) = validate("api/GoodsMovementRequest", &json) {
            return Err(TestCaseError::fail(format!("{v}\n{json}")));
        }
        let text = serde_json::to_string(&json).unwrap();
        let back: GoodsMovementRequest = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn random_consumptions_validate_and_round_trip(
        order in id("[A-Z0-9]{1,12}", OrderId::parse),
        plant in id("[A-Z0-9]{4}", PlantId::parse),
        material in id("[A-Z0-9_./-]{1,40}", MaterialId::parse),
        batch in id("[A-Z0-9]{1,10}", BatchId::parse),
        quantity in quantity(),
    ) {
        let event = MaterialConsumed {
            order, plant, material, batch, quantity,
            storage_location: StorageLocation::parse("0001").unwrap(),
            reservation_item: "0001".into(),
            posting_date: NaiveDate::from_ymd_opt(2026, 11, 22).unwrap(),
        };
        let json = serde_json::to_value(&event).unwrap();
        prop_assert!(validate("events/material.consumed", &json).is_ok(), "{}", json);
        let back: MaterialConsumed = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back, event);
    }

    #[test]
    fn schema_and_newtypes_agree_on_identifiers(s in prop_oneof![
        "[A-Z0-9]{4}",
        "[A-Z0-9]{1,12}",
        "[A-Z0-9_./-]{1,41}",
        "[A-Z]{1,4}",
        "[A-Za-z0-9_./ -]{0,13}",
        "\\PC{0,6}",
    ]) {
        let cases: [(&str, bool); 4] = [
            ("plant", PlantId::parse(s.clone()).is_ok()),
            ("storage_location", StorageLocation::parse(s.clone()).is_ok()),
            ("material", MaterialId::parse(s.clone()).is_ok()),
            ("batch", BatchId::parse(s.clone()).is_ok()),
        ];
        for (field, rust_ok) in cases {
            let result = validate("api/ReceiptRequest", &receipt_with(field, json!(s)));
            prop_assert_eq!(result.is_ok(), rust_ok, "{} {:?}: {:?}", field, s, result);
            if let Err(v) = result {
                prop_assert!(v.0.iter().all(|v| v.pointer == format!("/{field}")), "{}", v);
            }
        }
        let order_ok = OrderId::parse(s.clone()).is_ok();
        prop_assert_eq!(validate("api/ReceiptRequest", &receipt_with("order", json!(s))).is_ok(), order_ok);
        let unit_ok = Unit::parse(s.clone()).is_ok();
        prop_assert_eq!(validate("api/ReceiptRequest", &receipt_with("quantity/unit", json!(s))).is_ok(), unit_ok);
    }

    #[test]
    fn schema_and_quantity_agree_on_values(
        digits in 1u32..17,
        raw in any::<u64>(),
        decimals in 0u32..7,
        negative in prop::bool::weighted(0.1),
    ) {
        let n = (raw % 10u64.pow(digits)) as f64;
        let value = if negative { -n } else { n } / 10f64.powi(decimals as i32);
        let rust_ok = Quantity::new(value, Unit::parse("PC").unwrap()).is_ok_and(|q| !q.is_zero());
        let result = validate("api/ReceiptRequest", &receipt_with("quantity/value", json!(value)));
        prop_assert_eq!(result.is_ok(), rust_ok, "{}: {:?}", value, result);
    }
}
