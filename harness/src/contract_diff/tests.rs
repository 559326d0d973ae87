//! The comparison as a whole: the project's own contracts against themselves, references
//! into files beside a document, documents of different kinds, and generated documents
//! (which never make it panic and never differ from themselves).

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

fn contracts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contracts")
}

#[test]
fn every_contract_of_the_project_compares_equal_to_itself() {
    let mut files: Vec<PathBuf> = ["erp", "mes", "qms", "wms"]
        .iter()
        .map(|s| contracts().join(format!("openapi/{s}.yaml")))
        .collect();
    files.push(contracts().join("asyncapi/andon.yaml"));
    for f in files {
        let d = diff_files(&f, &f).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.changes(), &[], "{}", f.display());
        assert_eq!(d.summary(), "0 breaking, 0 compatible changes");
    }
}

/// A fresh directory under the system's temporary one.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("andon-contract-diff-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("schemas")).expect("scratch dir");
    dir
}

#[test]
fn a_change_in_a_schema_file_beside_the_document_is_found_at_the_field() {
    let api = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200':\n          description: ok\n          content:\n            application/json:\n              schema: {$ref: 'schemas/a.json'}\n";
    let mut dirs = Vec::new();
    for (name, kind) in [("old", "string"), ("new", "integer")] {
        let dir = scratch(name);
        std::fs::write(dir.join("api.yaml"), api).expect("write");
        let schema = json!({"type": "object", "required": ["q"], "properties": {
            "q": {"$ref": "#/$defs/qty"}}, "$defs": {"qty": {"type": kind}}});
        std::fs::write(dir.join("schemas/a.json"), schema.to_string()).expect("write");
        dirs.push(dir);
    }
    let d = diff_files(&dirs[0].join("api.yaml"), &dirs[1].join("api.yaml")).expect("diff");
    let found: Vec<_> = d
        .changes()
        .iter()
        .map(|c| (c.rule, c.pointer.as_str()))
        .collect();
    assert_eq!(found, vec![(Rule::OutputTypeChanged, "/responses/200/q")]);
    std::fs::write(dirs[1].join("schemas/a.json"), "{\"type\": ").expect("write");
    let e = diff_files(&dirs[0].join("api.yaml"), &dirs[1].join("api.yaml"))
        .expect_err("broken schema file")
        .to_string();
    assert!(e.contains("a.json:1:"), "{e}");
    for d in dirs {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn documents_of_different_kinds_do_not_compare() {
    let openapi = Document::parse(Path::new("o.yaml"), "openapi: 3.0.0\n").expect("o");
    let asyncapi = Document::parse(Path::new("a.yaml"), "asyncapi: 3.0.0\n").expect("a");
    let e = diff(&openapi, &asyncapi).expect_err("kinds").to_string();
    assert_eq!(
        e,
        "o.yaml is OpenAPI 3.0 but a.yaml is AsyncAPI 3: only documents of one kind compare"
    );
    let e = diff_files(Path::new("no/such.yaml"), Path::new("x.yaml")).expect_err("missing");
    assert!(
        e.to_string().starts_with("no/such.yaml: cannot read: "),
        "{e}"
    );
}

/// A small schema: a scalar with an optional enum, a reference to a component (which may
/// lead back to itself), an array, or an object with properties, some required, maybe
/// closed.
fn schema() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": ["integer", "null"]})),
        Just(json!({"type": "string", "enum": ["a", "b"]})),
        Just(json!({"const": 3})),
        (0..3usize).prop_map(|i| json!({"$ref": format!("#/components/schemas/S{i}")})),
        Just(json!(true)),
    ];
    scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|i| json!({"type": "array", "items": i})),
            (
                proptest::collection::btree_map("[a-c]{1,2}", inner.clone(), 0..4),
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(props, closed, req)| {
                    let required: Vec<&String> = props.keys().filter(|_| req).collect();
                    json!({"type": "object", "properties": props, "required": required,
                           "additionalProperties": !closed})
                }),
            proptest::collection::vec(inner.clone(), 1..3).prop_map(|v| json!({"allOf": v})),
            proptest::collection::vec(inner, 1..3).prop_map(|v| json!({"oneOf": v})),
        ]
    })
}

/// A small OpenAPI 3.0 or 3.1 document, or an AsyncAPI 3 one, made of such schemas.
fn document() -> impl Strategy<Value = Value> {
    let components = proptest::collection::vec(schema(), 3);
    let ops =
        proptest::collection::btree_map("/[a-c]{1,2}", (schema(), schema(), any::<bool>()), 0..3);
    (any::<u8>(), components, ops).prop_map(|(kind, comps, ops)| {
        let schemas: serde_json::Map<String, Value> = comps
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("S{i}"), s))
            .collect();
        if kind % 3 == 2 {
            let channels: serde_json::Map<String, Value> = ops
                .iter()
                .map(|(p, (a, _, _))| (p.clone(), json!({"address": p, "messages": {"m": {"payload": a}}})))
                .collect();
            return json!({"asyncapi": "3.0.0", "info": {"title": "t", "version": "1"},
                          "channels": channels, "components": {"schemas": schemas}});
        }
        let paths: serde_json::Map<String, Value> = ops
            .into_iter()
            .map(|(p, (req, resp, required))| {
                let op = json!({
                    "requestBody": {"required": required, "content": {"application/json": {"schema": req}}},
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": resp}}}}
                });
                (p, json!({"post": op}))
            })
            .collect();
        let version = if kind % 3 == 0 { "3.0.3" } else { "3.1.0" };
        json!({"openapi": version, "info": {"title": "t", "version": "1"},
               "paths": paths, "components": {"schemas": schemas}})
    })
}

fn parsed(v: &Value, name: &str) -> Option<Document> {
    let yaml = serde_norway::to_string(v).ok()?;
    Document::parse(Path::new(name), &yaml).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn a_generated_document_has_no_changes_against_itself(doc in document()) {
        let d = parsed(&doc, "d.yaml").expect("a generated document parses");
        let diff = diff(&d, &d).expect("a generated document compares");
        prop_assert_eq!(diff.changes(), &[]);
    }

    #[test]
    fn two_generated_documents_compare_without_panicking(a in document(), b in document()) {
        if let (Some(a), Some(b)) = (parsed(&a, "a.yaml"), parsed(&b, "b.yaml"))
            && let Ok(d) = diff(&a, &b)
        {
            prop_assert_eq!(d.is_breaking(), d.breaking().count() > 0);
            let _ = (d.to_text(), d.to_json(), d.to_markdown());
        }
    }
}
