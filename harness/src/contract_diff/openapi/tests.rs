//! One test per OpenAPI rule, each on a small document edited in one place.

use std::path::Path;

use crate::contract_diff::{Document, Rule, Severity, diff};

/// Two operations sharing the `Order` schema (so a change in it shows at both), a closed
/// request schema, an enum behind a reference, a recursive schema.
const BASE: &str = r#"
openapi: 3.1.0
info: {title: orders, version: '2408'}
security: [{bearer: []}]
paths:
  /orders:
    post:
      description: Create an order.
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: '#/components/schemas/OrderIn'}
      responses:
        '201':
          description: created
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Order'}
        '400': {description: bad}
  /orders/{id}:
    get:
      parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      - {name: view, in: query, schema: {type: string, enum: [short, full]}}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/Order'}
components:
  schemas:
    OrderIn:
      type: object
      additionalProperties: false
      required: [plant, quantity]
      properties:
        plant: {type: string}
        quantity: {type: integer}
        note: {type: string}
        kind: {type: string, enum: [standard, rush]}
    Order:
      type: object
      required: [id, status]
      properties:
        id: {type: string}
        status: {$ref: '#/components/schemas/Status'}
        note: {type: string}
        lines: {type: array, items: {$ref: '#/components/schemas/Line'}}
    Status: {type: string, enum: [open, closed]}
    Line:
      type: object
      required: [material]
      properties:
        material: {type: string}
        parent: {$ref: '#/components/schemas/Line'}
"#;

/// `BASE` with each `(from, to)` replaced (each `from` must occur).
fn edit(edits: &[(&str, &str)]) -> String {
    let mut doc = BASE.to_string();
    for (from, to) in edits {
        assert!(doc.contains(from), "no {from:?} in the document");
        doc = doc.replacen(from, to, 1);
    }
    doc
}

/// The changes from `old` to `new` as (rule, operation, pointer).
fn changes(old: &str, new: &str) -> Vec<(Rule, String, String)> {
    let old = Document::parse(Path::new("old.yaml"), old).expect("old");
    let new = Document::parse(Path::new("new.yaml"), new).expect("new");
    diff(&old, &new)
        .expect("diff")
        .changes()
        .iter()
        .map(|c| (c.rule, c.operation.clone(), c.pointer.clone()))
        .collect()
}

fn one(rule: Rule, op: &str, pointer: &str) -> (Rule, String, String) {
    (rule, op.to_string(), pointer.to_string())
}

const POST: &str = "POST /orders";
const GET: &str = "GET /orders/{id}";

#[test]
fn a_document_against_itself_has_no_changes_and_descriptions_are_ignored() {
    assert_eq!(changes(BASE, BASE), vec![]);
    let reworded = edit(&[
        ("Create an order.", "Create one production order."),
        ("description: created", "description: the order, created"),
        (
            "plant: {type: string}",
            "plant: {type: string, description: 'plant code'}",
        ),
    ]);
    assert_eq!(changes(BASE, &reworded), vec![]);
}

#[test]
fn an_operation_removed_is_breaking_and_one_added_compatible() {
    let new = edit(&[("  /orders/{id}:\n    get:", "  /orders/{id}:\n    delete:")]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::OperationRemoved, GET, ""),
            one(Rule::OperationAdded, "DELETE /orders/{id}", ""),
        ]
    );
    assert_eq!(Rule::OperationRemoved.severity(), Severity::Breaking);
    assert_eq!(Rule::OperationAdded.severity(), Severity::Compatible);
}

#[test]
fn a_path_placeholder_renamed_is_no_change() {
    let new = edit(&[
        ("/orders/{id}:", "/orders/{order}:"),
        ("{name: id, in: path", "{name: order, in: path"),
    ]);
    assert_eq!(changes(BASE, &new), vec![]);
}

#[test]
fn request_fields_newly_required_or_made_required_are_breaking() {
    let made = edit(&[(
        "required: [plant, quantity]",
        "required: [plant, quantity, note]",
    )]);
    assert_eq!(
        changes(BASE, &made),
        vec![one(Rule::InputFieldMadeRequired, POST, "/requestBody/note")]
    );
    let added = edit(&[
        (
            "required: [plant, quantity]",
            "required: [plant, quantity, due]",
        ),
        (
            "note: {type: string}\n        kind",
            "note: {type: string}\n        due: {type: string}\n        kind",
        ),
    ]);
    assert_eq!(
        changes(BASE, &added),
        vec![one(Rule::InputFieldNewlyRequired, POST, "/requestBody/due")]
    );
}

#[test]
fn an_optional_request_field_added_or_a_required_one_made_optional_is_compatible() {
    let new = edit(&[
        ("required: [plant, quantity]", "required: [plant]"),
        (
            "note: {type: string}\n        kind",
            "note: {type: string}\n        due: {type: string}\n        kind",
        ),
    ]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::InputOptionalFieldAdded, POST, "/requestBody/due"),
            one(Rule::InputFieldMadeOptional, POST, "/requestBody/quantity"),
        ]
    );
}

#[test]
fn a_request_field_removed_breaks_only_a_closed_schema() {
    let closed = edit(&[("        note: {type: string}\n        kind", "        kind")]);
    assert_eq!(
        changes(BASE, &closed),
        vec![one(
            Rule::InputFieldRemovedClosed,
            POST,
            "/requestBody/note"
        )]
    );
    let open_base = edit(&[(
        "      additionalProperties: false\n      required: [plant, quantity]",
        "      required: [plant, quantity]",
    )]);
    let open_new = open_base.replacen(
        "        note: {type: string}\n        kind",
        "        kind",
        1,
    );
    assert_eq!(
        changes(&open_base, &open_new),
        vec![one(Rule::InputFieldRemoved, POST, "/requestBody/note")]
    );
    assert_eq!(
        changes(&open_base, BASE),
        vec![one(Rule::InputSchemaClosed, POST, "/requestBody")]
    );
}

#[test]
fn a_request_type_changed_is_breaking_and_widened_compatible() {
    let changed = edit(&[("quantity: {type: integer}", "quantity: {type: string}")]);
    assert_eq!(
        changes(BASE, &changed),
        vec![one(Rule::InputTypeChanged, POST, "/requestBody/quantity")]
    );
    let widened = edit(&[(
        "quantity: {type: integer}",
        "quantity: {type: [number, 'null']}",
    )]);
    assert_eq!(
        changes(BASE, &widened),
        vec![one(Rule::InputTypeWidened, POST, "/requestBody/quantity")]
    );
}

#[test]
fn request_enum_values_removed_are_breaking_and_added_compatible() {
    let new = edit(&[("enum: [standard, rush]", "enum: [standard, express]")]);
    let d = changes(BASE, &new);
    assert_eq!(
        d,
        vec![
            one(Rule::InputEnumValuesRemoved, POST, "/requestBody/kind"),
            one(Rule::InputEnumValuesAdded, POST, "/requestBody/kind"),
        ]
    );
    let query = edit(&[("enum: [short, full]", "enum: [short]")]);
    assert_eq!(
        changes(BASE, &query),
        vec![one(
            Rule::InputEnumValuesRemoved,
            GET,
            "/parameters/query/view"
        )]
    );
}

#[test]
fn a_response_field_removed_or_made_optional_breaks_every_operation_using_the_schema() {
    let removed = edit(&[
        ("required: [id, status]", "required: [status]"),
        ("        id: {type: string}\n", ""),
    ]);
    assert_eq!(
        changes(BASE, &removed),
        vec![
            one(Rule::OutputFieldRemoved, GET, "/responses/200/id"),
            one(Rule::OutputFieldRemoved, POST, "/responses/201/id"),
        ]
    );
    let optional = edit(&[("required: [id, status]", "required: [id]")]);
    assert_eq!(
        changes(BASE, &optional),
        vec![
            one(Rule::OutputFieldMadeOptional, GET, "/responses/200/status"),
            one(Rule::OutputFieldMadeOptional, POST, "/responses/201/status"),
        ]
    );
    let optional_gone = edit(&[(
        "        note: {type: string}\n        lines",
        "        lines",
    )]);
    assert_eq!(
        changes(BASE, &optional_gone),
        vec![
            one(Rule::OutputOptionalFieldRemoved, GET, "/responses/200/note"),
            one(
                Rule::OutputOptionalFieldRemoved,
                POST,
                "/responses/201/note"
            ),
        ]
    );
}

#[test]
fn a_response_field_added_is_compatible_and_a_type_change_or_null_breaking() {
    let added = edit(&[(
        "        lines: {type",
        "        due: {type: string}\n        lines: {type",
    )]);
    assert_eq!(
        changes(BASE, &added),
        vec![
            one(Rule::OutputFieldAdded, GET, "/responses/200/due"),
            one(Rule::OutputFieldAdded, POST, "/responses/201/due"),
        ]
    );
    let nullable = edit(&[(
        "        id: {type: string}",
        "        id: {type: [string, 'null']}",
    )]);
    assert_eq!(
        changes(BASE, &nullable)[0],
        one(Rule::OutputTypeChanged, GET, "/responses/200/id")
    );
}

#[test]
fn a_response_enum_value_added_is_a_note_unless_the_schema_is_closed() {
    let open = edit(&[("enum: [open, closed]", "enum: [open, closed, held]")]);
    let d = changes(BASE, &open);
    assert_eq!(
        d,
        vec![
            one(Rule::OutputEnumValuesAdded, GET, "/responses/200/status"),
            one(Rule::OutputEnumValuesAdded, POST, "/responses/201/status"),
        ]
    );
    assert_eq!(Rule::OutputEnumValuesAdded.severity(), Severity::Compatible);
    let closed_base = edit(&[(
        "      required: [id, status]",
        "      additionalProperties: false\n      required: [id, status]",
    )]);
    let closed_new = closed_base.replacen("enum: [open, closed]", "enum: [open, closed, held]", 1);
    assert_eq!(
        changes(&closed_base, &closed_new),
        vec![
            one(
                Rule::OutputEnumValuesAddedClosed,
                GET,
                "/responses/200/status"
            ),
            one(
                Rule::OutputEnumValuesAddedClosed,
                POST,
                "/responses/201/status"
            ),
        ]
    );
}

#[test]
fn a_change_inside_a_recursive_schema_is_reported_once_per_path() {
    let new = edit(&[("material: {type: string}", "material: {type: integer}")]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(
                Rule::OutputTypeChanged,
                GET,
                "/responses/200/lines/[]/material"
            ),
            one(
                Rule::OutputTypeChanged,
                POST,
                "/responses/201/lines/[]/material"
            ),
        ]
    );
}

#[test]
fn a_success_status_removed_is_breaking_and_an_error_status_removed_compatible() {
    let new = edit(&[
        ("'201':", "'200':"),
        ("        '400': {description: bad}\n", ""),
    ]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::SuccessStatusRemoved, POST, "/responses/201"),
            one(Rule::StatusAdded, POST, "/responses/200"),
            one(Rule::StatusRemoved, POST, "/responses/400"),
        ]
    );
}

#[test]
fn a_parameter_newly_required_is_breaking_and_an_optional_one_added_compatible() {
    let made = edit(&[(
        "{name: view, in: query,",
        "{name: view, in: query, required: true,",
    )]);
    assert_eq!(
        changes(BASE, &made),
        vec![one(
            Rule::ParameterNewlyRequired,
            GET,
            "/parameters/query/view"
        )]
    );
    let header = edit(&[(
        "      - {name: view",
        "      - {name: X-Plant, in: header, required: true, schema: {type: string}}\n      - {name: page, in: query, schema: {type: integer}}\n      - {name: view",
    )]);
    assert_eq!(
        changes(BASE, &header),
        vec![
            one(
                Rule::ParameterNewlyRequired,
                GET,
                "/parameters/header/X-Plant"
            ),
            one(Rule::ParameterAdded, GET, "/parameters/query/page"),
        ]
    );
    assert_eq!(
        changes(&header, BASE),
        vec![
            one(Rule::ParameterRemoved, GET, "/parameters/header/X-Plant"),
            one(Rule::ParameterRemoved, GET, "/parameters/query/page"),
        ]
    );
}

#[test]
fn a_request_body_made_optional_or_a_media_type_removed() {
    let optional = edit(&[(
        "      requestBody:\n        required: true",
        "      requestBody:\n        required: false",
    )]);
    assert_eq!(
        changes(BASE, &optional),
        vec![one(Rule::RequestBodyRelaxed, POST, "/requestBody")]
    );
    assert_eq!(
        changes(&optional, BASE),
        vec![one(Rule::RequestBodyNewlyRequired, POST, "/requestBody")]
    );
    let csv = edit(&[(
        "          application/json:\n            schema: {$ref: '#/components/schemas/OrderIn'}",
        "          text/csv:\n            schema: {type: string}",
    )]);
    assert_eq!(
        changes(BASE, &csv),
        vec![
            one(Rule::MediaTypeRemoved, POST, "/requestBody"),
            one(Rule::MediaTypeAdded, POST, "/requestBody(text/csv)"),
        ]
    );
}

#[test]
fn a_security_requirement_added_is_breaking() {
    let anonymous = edit(&[("    get:\n", "    get:\n      security: []\n")]);
    assert_eq!(
        changes(&anonymous, BASE),
        vec![one(Rule::SecurityRequirementAdded, GET, "/security")]
    );
    assert_eq!(
        changes(BASE, &anonymous),
        vec![one(Rule::SecurityRelaxed, GET, "/security")]
    );
    let scoped = edit(&[(
        "security: [{bearer: []}]",
        "security: [{bearer: [], apiKey: []}]",
    )]);
    assert_eq!(
        changes(BASE, &scoped),
        vec![
            one(Rule::SecurityRequirementAdded, GET, "/security"),
            one(Rule::SecurityRequirementAdded, POST, "/security"),
        ]
    );
}

#[test]
fn openapi_30_and_31_compare_and_a_30_nullable_is_a_type() {
    let v30 = r#"
openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /a:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  n: {type: integer, nullable: true, minimum: 0, exclusiveMinimum: true}
"#;
    let v31 = v30.replace("openapi: 3.0.3", "openapi: 3.1.0").replace(
        "{type: integer, nullable: true, minimum: 0, exclusiveMinimum: true}",
        "{type: [integer, 'null'], exclusiveMinimum: 0}",
    );
    assert_eq!(changes(v30, &v31), vec![]);
    let not_null = v30.replace(", nullable: true", "");
    assert_eq!(
        changes(&not_null, v30),
        vec![one(Rule::OutputTypeChanged, "GET /a", "/responses/200/n")]
    );
}

#[test]
fn a_type_stated_where_properties_or_items_implied_it_is_no_change() {
    let new = edit(&[
        ("    OrderIn:\n      type: object\n", "    OrderIn:\n"),
        ("lines: {type: array, items:", "lines: {items:"),
    ]);
    assert_eq!(changes(BASE, &new), vec![]);
}

#[test]
fn a_default_response_removed_is_compatible() {
    let new = edit(&[(
        "        '400': {description: bad}",
        "        default: {description: any error}",
    )]);
    assert_eq!(
        changes(BASE, &new),
        vec![
            one(Rule::StatusRemoved, POST, "/responses/400"),
            one(Rule::StatusAdded, POST, "/responses/default"),
        ]
    );
}

#[test]
fn a_31_ref_with_sibling_keywords_counts_them() {
    let doc = |required: &str| {
        format!(
            "openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema:\n              $ref: '#/components/schemas/Base'\n              required: [{required}]\n      responses:\n        '204': {{description: done}}\ncomponents:\n  schemas:\n    Base:\n      type: object\n      properties:\n        a: {{type: string}}\n        b: {{type: string}}\n"
        )
    };
    assert_eq!(
        changes(&doc("a"), &doc("a, b")),
        vec![one(
            Rule::InputFieldMadeRequired,
            "POST /a",
            "/requestBody/b"
        )]
    );
}

#[test]
fn structural_errors_name_the_file_and_place() {
    let broken = BASE.replace("info: {title: orders, version: '2408'}", "info: 7");
    let old = Document::parse(Path::new("old.yaml"), BASE).expect("old");
    let new = Document::parse(Path::new("new.yaml"), &broken).expect("parses as YAML");
    let e = diff(&old, &new)
        .expect_err("info is no mapping")
        .to_string();
    assert!(e.starts_with("new.yaml: at info: "), "{e}");
    let dangling = BASE.replace(
        "'#/components/schemas/Status'",
        "'#/components/schemas/Nope'",
    );
    let new = Document::parse(Path::new("new.yaml"), &dangling).expect("parses");
    let e = diff(&old, &new).expect_err("dangling").to_string();
    assert!(e.contains("$ref '#/components/schemas/Nope'"), "{e}");
}
